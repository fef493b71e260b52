"""The paths of a run: every input and output resolved (following links, comparing device and
inode) before anything is done. Refuses an output that is an input, two outputs that are one
file, and outputs that are not regular files or new paths (links, folders, devices, FIFOs).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from grucast import files
from grucast.errors import ConfigError, PathError

# ---------------------------------------------------------------- paths of a run


@dataclass(frozen=True)
class Role:
    """One file of a run: the flag or argument that names it and its path."""

    label: str  # 'DATA', '-o', '--metrics', 'the lock of -o', ...
    path: Optional[Path]


def lock_path(output: Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".lock")


def manifest_path(output: Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".manifest.json")


def outputs_of(label: str, path: Optional[Path], manifest: bool = True, lock: bool = True) -> list[Role]:
    """An output and the files that go with it: its manifest (written, or a stale one removed)
    and its lock."""
    if path is None:
        return []
    _file_name(label, Path(path))
    roles = [Role(label, Path(path))]
    if manifest:
        roles.append(Role(f"the manifest of {label}", manifest_path(path)))
    if lock:
        roles.append(Role(f"the lock of {label}", lock_path(path)))
    return roles




def _file_name(label: str, path: Path) -> None:
    """PathError for an output name that names no file: '', '.', '/', a folder ('x/'), stdout
    ('-', which only predict -o takes) or what looks like a flag ('-q' given as the value of -o)."""
    text = str(path)
    if not path.name or text.endswith(os.sep) or path.name in (".", ".."):
        raise PathError(f"{label} {text or repr(text)} is a folder, not a file name; give a file name")
    if text == "-":
        raise PathError(f"{label} - (stdout) is only for forecasts (-o of predict, evaluate and backtest); give a file name")
    if text.startswith("-"):
        raise PathError(f"{label} {text} looks like a flag, not a file name; for a file whose name starts with "
                        f"'-', write ./{text}")


def inode_key(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def folder_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def not_our_lock(path: Path, why: str) -> PathError:
    return PathError(f"the lock file {path} {why}; grucast's lock is a plain file of its own: remove it and run again")


def lstat_or_none(path: Path, what: str) -> Optional[os.stat_result]:
    """The lstat of a path, None when there is nothing; PathError when it cannot be looked at."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise PathError(f"cannot use {what} {path}: {e.strerror}") from None


def check_paths(inputs: Sequence[Role], outputs: Sequence[Role], appended: Sequence[Role] = (),
                may_share: Sequence[tuple[str, str]] = ()) -> None:
    """PathError (exit 1) before any work when a run's outputs would damage its inputs or each
    other, or cannot be written.

    inputs: files the run reads (a missing one is left to its reader's message). outputs: files
    replaced whole (forecasts, checkpoints, manifests, locks, resume state). appended: files
    only appended to (the event log): they may be devices or FIFOs, never an input or an output.
    may_share: (input label, output label) pairs that may be one file by design (train --resume
    reads the state it replaces)."""
    seen, folders = _identities(inputs)
    claimed: dict[Any, Role] = {}  # output identity -> the output that claims it
    for role in list(outputs) + list(appended):
        if role.path is None:
            continue
        _outside(role, folders)
        key = _check_output(role, role in appended, seen, set(may_share))
        for alias in (key, _name_key(Path(role.path))):
            other = claimed.get(alias)
            if other is not None and other.label != role.label:
                raise PathError(f"{other.label} and {role.label} name the same file ({role.path}); "
                                "give each its own name")
            claimed[alias] = role
        _check_writable(role, Path(role.path))


def _identities(inputs: Sequence[Role]) -> tuple[dict[tuple[int, int], Role], list[tuple[str, Role]]]:
    """The inputs by device and inode (following links), with the files of an input folder (a
    Parquet dataset, whose files may be links to files elsewhere); and the input folders with
    the folders they reach through links, by real path. A missing or unreadable input is left
    out: its reader says so."""
    seen: dict[tuple[int, int], Role] = {}
    folders: list[tuple[str, Role]] = []
    for role in inputs:
        if role.path is None:
            continue
        try:
            seen.setdefault(inode_key(os.stat(role.path)), role)
            if os.path.isdir(role.path):
                found, reached = files.walk_dataset(Path(role.path), PathError)
                folders += [(real, role) for real in reached]
                for p in found:
                    seen.setdefault(inode_key(os.stat(p)), Role(f"a file of {role.label}", p))
        except (OSError, PathError):
            pass
    return seen, folders


def _outside(role: Role, folders: list[tuple[str, Role]]) -> None:
    """PathError for an output inside an input folder: the next run would read it as data."""
    where = os.path.realpath(folder_of(Path(role.path)))
    for real, source in folders:
        if where == real or where.startswith(real.rstrip(os.sep) + os.sep):
            raise PathError(f"{role.label} {role.path} is inside {source.label} {source.path}: grucast never writes "
                            "into one of its own inputs (the folder's files are all read as data); choose another "
                            "folder")


def _check_log(role: Role, path: Path) -> None:
    """An existing log file that grucast appends to must be a text log: not a binary file (a
    checkpoint, a Parquet file) and not an output of an earlier run (one with a manifest)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise PathError(f"cannot use {role.label} {path}: {e.strerror}") from None
    if head.startswith((b"PK\x03\x04", b"PAR1")) or b"\x00" in head:
        raise PathError(f"{role.label} {path} is a binary file, not a log; grucast only appends to text logs")
    if os.path.lexists(manifest_path(path)):
        raise PathError(f"{role.label} {path} is the output of an earlier run (it has {manifest_path(path).name}); "
                        "choose another log file")


def _name_key(path: Path) -> tuple[int, int, str]:
    """A path by its folder's device and inode and its name: one file under any spelling of the
    folder (links, '..', bind mounts)."""
    return (*inode_key(os.stat(folder_of(path))), path.name)


def _check_output(role: Role, appended: bool, inputs: dict[tuple[int, int], Role],
                  allowed: set[tuple[str, str]]) -> Any:
    """The identity of one output (its inode, or its folder and name when it does not exist
    yet), or PathError when it is an input, a link, a folder or a device."""
    path = Path(role.path)
    if appended and str(role.path) == "-":
        raise PathError(f"{role.label} - is not a file name; for the events on stderr, pass --log-format json "
                        f"without {role.label}")
    st = lstat_or_none(path, role.label)
    if st is None:
        folder = folder_of(path)
        if not folder.is_dir():
            raise PathError(f"cannot write {role.label} {path}: folder {folder} does not exist")
        return _name_key(path)
    if role.label.startswith("the lock of") and not stat.S_ISREG(st.st_mode):
        raise not_our_lock(path, "is " + (f"a symbolic link (to {os.readlink(path)})" if stat.S_ISLNK(st.st_mode)
                                       else files.kind(st.st_mode)))
    if stat.S_ISLNK(st.st_mode):
        raise PathError(
            f"{role.label} {path} is a symbolic link (to {os.readlink(path)}); grucast replaces its outputs "
            "whole and never writes through a link it did not make: give the real path, or remove the link"
        )
    if stat.S_ISDIR(st.st_mode):
        raise PathError(f"{role.label} {path} is a folder; give a file name")
    if not appended and not stat.S_ISREG(st.st_mode):
        raise PathError(
            f"{role.label} {path} is {files.kind(st.st_mode)}, not a regular file; grucast writes an output by "
            "replacing the file, which would replace it: give a file name"
        )
    source = inputs.get(inode_key(st))
    if source is not None and (source.label, role.label) not in allowed:
        same = os.path.abspath(source.path) == os.path.abspath(path)
        raise PathError(
            f"{role.label} {path} " + (f"is {source.label}" if same else f"is the same file as {source.label} {source.path}")
            + ": grucast never writes over one of its own inputs; choose another output name"
        )
    if appended and stat.S_ISREG(st.st_mode):
        _check_log(role, path)
    return inode_key(st)


def resume_path(output: Path) -> Path:
    """Where an interrupted training of OUTPUT keeps its state: OUTPUT.resume beside it."""
    output = Path(output)
    return output.with_name(output.name + ".resume")


def run_paths(*, data: Optional[Path] = None, model: Optional[Path] = None, future: Optional[Path] = None,
              config: Optional[Path] = None, init_from: Optional[Path] = None, resume: Optional[Path] = None,
              output: Optional[Path] = None, metrics: Optional[Path] = None, log_file: Optional[Path] = None,
              train: bool = False, lock: bool = True) -> None:
    """check_paths for a command's files, named by the flags that give them. train: -o is a
    checkpoint, with its resume state beside it (which --resume may read by design)."""
    if init_from is not None and resume is not None:
        raise ConfigError("--init-from and --resume exclude each other: --resume already continues from its own weights")
    inputs = [Role("DATA", data), Role("MODEL", model), Role("--future", future), Role("--config", config),
              Role("--init-from", init_from), Role("--resume", resume)]
    outputs = outputs_of("-o", output, lock=lock) + outputs_of("--metrics", metrics, lock=lock)
    if train and output is not None:
        outputs.append(Role("the resume state of -o", resume_path(output)))
    check_paths(inputs, outputs, appended=[Role("--log-file", log_file)],
                may_share=[("--resume", "the resume state of -o")])
    _check_std_streams(inputs)


def _check_std_streams(inputs: Sequence[Role]) -> None:
    """PathError when stdout or stderr is redirected onto an input (`>> data.csv`), as cat
    refuses 'input file is output file'."""
    keys, _ = _identities(inputs)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        role = keys.get(inode_key(st)) if stat.S_ISREG(st.st_mode) else None
        if role is not None:
            raise PathError(f"{name} is redirected to {role.label} {role.path}: grucast never writes over one of its "
                            "own inputs; redirect it elsewhere")


# What publish adds to a name for its temporary files: '.NAME.' + 8 random characters + '.tmp'.
_TEMP_EXTRA = 14


def _check_writable(role: Role, path: Path) -> None:
    folder = folder_of(path)
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # pragma: no cover - no statvfs
        read_only = False
    if read_only:
        raise PathError(f"cannot write {role.label} {path}: folder {folder} is on a read-only file system")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PathError(f"cannot write {role.label} {path}: folder {folder} is not writable (permission denied)")
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no pathconf
        longest = 255
    if len(os.fsencode(path.name)) + _TEMP_EXTRA > longest:
        raise PathError(f"{role.label} {path.name[:40]}... is too long a file name here ({len(os.fsencode(path.name))} "
                        f"bytes; grucast's temporary files need at most {longest - _TEMP_EXTRA})")


def file_identity(path: Path, name: Optional[Path] = None) -> dict[str, Any]:
    """Path (name, when given: a temporary file's final name), size in bytes and SHA-256. Of a
    folder (a Parquet dataset): the bytes of all its files (files.dataset_files), their number,
    and the SHA-256 of the list of their paths relative to it and their own SHA-256, so that a
    file added, removed, renamed or changed changes it."""
    if os.path.isdir(path):
        listing, size = hashlib.sha256(), 0
        found = files.dataset_files(Path(path), PathError)
        for p in found:
            one = file_identity(p)
            listing.update(f"{p.relative_to(path).as_posix()}\0{one['sha256']}\n".encode())
            size += one["bytes"]
        return {"path": str(name if name is not None else path), "bytes": size, "sha256": listing.hexdigest(),
                "files": len(found)}
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"path": str(name if name is not None else path), "bytes": size, "sha256": digest.hexdigest()}


# Failures of the machine rather than of grucast, in words: one Error line, not a traceback.
IO_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
             errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
             errno.EPERM: "operation not permitted", errno.EIO: "an input/output error",
             errno.EMFILE: "too many open files", errno.ENFILE: "too many open files"}


def io_error(e: OSError, where: Optional[Path]) -> PathError:
    """The one line for a write that failed at where (the output, its manifest or its lock)."""
    what = IO_ERRORS.get(e.errno, e.strerror or str(e))
    return PathError(f"cannot write {where or e.filename or 'an output'}: {what}; earlier outputs were left as they were")
