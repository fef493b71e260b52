"""The guards around a run's files: what a run reads is never what it writes, its lock cannot be
turned into a weapon, and its outputs become visible last, together with their manifests.

Standard library only: the CLI runs these checks before torch or pandas is imported, so a bad
path or a file that is plainly not data fails in a fraction of a second.

- :func:`check_paths` resolves every input and output of a run (following links, comparing
  device and inode) and refuses an output that is an input, two outputs that are one file, and
  outputs that are not regular files or new paths (links, folders, devices, FIFOs). A file that
  is only appended to (the event log) may be a device or a FIFO.
- :func:`lock` takes OUTPUT.lock without following links and without truncating anything that
  is not a lock file of its own.
- :func:`publish` writes every output and its manifest to temporary files first (everything that
  can fail: the content, the manifest, disk space for both, fsync), then renames them into place
  in an order in which a manifest never names a file that is not there, and rolls back on any
  failure in between.
- :func:`sniff_data` (grucast.sniff, the checks io reads every file through) and
  :func:`sniff_checkpoint` refuse files that cannot be what they claim to be (missing, empty, a
  folder, a device, binary, not UTF-8, a checkpoint of absurd size) from their first bytes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from grucast import sniff
from grucast.errors import CheckpointError, ConfigError, DataError, LockedError, PathError

try:  # POSIX; elsewhere outputs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

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


_kind = sniff.kind


def _file_name(label: str, path: Path) -> None:
    """PathError for an output name that names no file: '', '.', '/', a folder ('x/'), stdout
    ('-', which only predict -o takes) or what looks like a flag ('-q' given as the value of -o)."""
    text = str(path)
    if not path.name or text.endswith(os.sep) or path.name in (".", ".."):
        raise PathError(f"{label} {text or repr(text)} is a folder, not a file name; give a file name")
    if text == "-":
        raise PathError(f"{label} - (stdout) is only for the forecasts of predict; give a file name")
    if text.startswith("-"):
        raise PathError(f"{label} {text} looks like a flag, not a file name; for a file whose name starts with "
                        f"'-', write ./{text}")


def _key(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_paths(inputs: Sequence[Role], outputs: Sequence[Role], appended: Sequence[Role] = (),
                may_share: Sequence[tuple[str, str]] = ()) -> None:
    """PathError (exit 1) before any work when a run's outputs would damage its inputs or each
    other, or cannot be written.

    inputs: files the run reads (a missing one is left to its reader's message). outputs: files
    replaced whole (forecasts, checkpoints, manifests, locks, resume state). appended: files
    only appended to (the event log): they may be devices or FIFOs, never an input or an output.
    may_share: (input label, output label) pairs that may be one file by design (train --resume
    reads the state it replaces)."""
    seen = _identities(inputs)
    claimed: dict[Any, Role] = {}  # output identity -> the output that claims it
    for role in list(outputs) + list(appended):
        if role.path is None:
            continue
        key = _check_output(role, role in appended, seen, set(may_share))
        for alias in (key, _name_key(Path(role.path))):
            other = claimed.get(alias)
            if other is not None and other.label != role.label:
                raise PathError(f"{other.label} and {role.label} name the same file ({role.path}); "
                                "give each its own name")
            claimed[alias] = role
        _check_writable(role, Path(role.path))


def _identities(inputs: Sequence[Role]) -> dict[tuple[int, int], Role]:
    """The inputs by device and inode (following links); a missing or unreadable one is left
    out: its reader says so."""
    seen: dict[tuple[int, int], Role] = {}
    for role in inputs:
        if role.path is not None:
            try:
                seen.setdefault(_key(os.stat(role.path)), role)
            except OSError:
                pass
    return seen


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
    return (*_key(os.stat(_folder(path))), path.name)


def _check_output(role: Role, appended: bool, inputs: dict[tuple[int, int], Role],
                  allowed: set[tuple[str, str]]) -> Any:
    """The identity of one output (its inode, or its folder and name when it does not exist
    yet), or PathError when it is an input, a link, a folder or a device."""
    path = Path(role.path)
    st = _lstat(path, role.label)
    if st is None:
        folder = _folder(path)
        if not folder.is_dir():
            raise PathError(f"cannot write {role.label} {path}: folder {folder} does not exist")
        return _name_key(path)
    if role.label.startswith("the lock of") and not stat.S_ISREG(st.st_mode):
        raise _not_ours(path, "is " + (f"a symbolic link (to {os.readlink(path)})" if stat.S_ISLNK(st.st_mode)
                                       else _kind(st.st_mode)))
    if stat.S_ISLNK(st.st_mode):
        raise PathError(
            f"{role.label} {path} is a symbolic link (to {os.readlink(path)}); grucast replaces its outputs "
            "whole and never writes through a link it did not make: give the real path, or remove the link"
        )
    if stat.S_ISDIR(st.st_mode):
        raise PathError(f"{role.label} {path} is a folder; give a file name")
    if not appended and not stat.S_ISREG(st.st_mode):
        raise PathError(
            f"{role.label} {path} is {_kind(st.st_mode)}, not a regular file; grucast writes an output by "
            "replacing the file, which would replace it: give a file name"
        )
    source = inputs.get(_key(st))
    if source is not None and (source.label, role.label) not in allowed:
        same = os.path.abspath(source.path) == os.path.abspath(path)
        raise PathError(
            f"{role.label} {path} " + (f"is {source.label}" if same else f"is the same file as {source.label} {source.path}")
            + ": grucast never writes over one of its own inputs; choose another output name"
        )
    if appended and stat.S_ISREG(st.st_mode):
        _check_log(role, path)
    return _key(st)


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
    keys = _identities(inputs)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        role = keys.get(_key(st)) if stat.S_ISREG(st.st_mode) else None
        if role is not None:
            raise PathError(f"{name} is redirected to {role.label} {role.path}: grucast never writes over one of its "
                            "own inputs; redirect it elsewhere")


# What publish adds to a name for its temporary files: '.NAME.' + 8 random characters + '.tmp'.
_TEMP_EXTRA = 14


def _check_writable(role: Role, path: Path) -> None:
    folder = _folder(path)
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


# ---------------------------------------------------------------- inputs, from their first bytes

# Far larger than any checkpoint could be: 64 units and one layer is ~100 KB; an embedding of a
# million series ids at 64 dimensions is ~300 MB.
MAX_CHECKPOINT_BYTES = 4 << 30


def sniff_data(path: Optional[Path], label: str = "DATA") -> None:
    """DataError for a data file that plainly is not one (sniff: missing, a folder or device,
    empty, binary or not UTF-8, a header without rows), from its bytes alone: the separator
    may come from a config file or a checkpoint not read yet, so the header's names are the
    reader's to check (io reads every file through sniff.csv_layout with the real one)."""
    if path is None:
        return
    path = Path(path)
    sniff.regular_file(path, label, DataError, "data file")
    if path.suffix.lower() in (".parquet", ".pq"):
        sniff.parquet_head(path)
    else:
        sniff.csv_layout(path, None, header=False)


def sniff_checkpoint(path: Optional[Path], label: str = "MODEL") -> None:
    """CheckpointError (exit 3) for a file that cannot be a checkpoint, before reading it into
    memory: missing, a folder, a device or FIFO (a link to /dev/zero would never end), absurdly
    large, or not a zip archive (torch.save's format)."""
    if path is None:
        return
    path = Path(path)
    st = sniff.regular_file(path, label, CheckpointError, "checkpoint file", missing="checkpoint")
    if st.st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"{path} is {st.st_size / 2**30:.1f} GiB, far larger than any grucast checkpoint could be "
            f"(at most {MAX_CHECKPOINT_BYTES >> 30} GiB); it is not a checkpoint"
        )
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise CheckpointError(f"cannot read {label} {path}: {e.strerror}") from None
    if not head.startswith(b"PK\x03\x04"):
        raise CheckpointError(f"{path} is not a grucast checkpoint (damaged, truncated or another kind of file)")


# ---------------------------------------------------------------- locks


@contextmanager
def lock(output: Optional[Path], wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on OUTPUT.lock while a run writes OUTPUT. A second run exits with
    LockedError (75), or waits with wait=True. The lock is the kernel's (flock), so a crash or
    SIGKILL releases it too; a normal exit also removes the file. A .lock file left by a killed
    run holds no lock and is taken over; a lock path that is a link, a folder, a device or a
    file with other names (hard links) is refused, never opened for writing."""
    if output is None or fcntl is None:
        yield
        return
    path = lock_path(output)
    if not _folder(path).is_dir():
        yield  # the output check reports the missing folder
        return
    fd = _acquire(path, Path(output), wait)
    try:
        yield
    finally:
        try:
            if _key(os.lstat(path)) == _key(os.fstat(fd)):
                path.unlink()  # before closing, so a waiting run re-checks and takes a fresh file
        except OSError:
            pass
        os.close(fd)  # closing releases the flock


@contextmanager
def locks(outputs: Sequence[Optional[Path]], wait: bool = False) -> Iterator[None]:
    """Locks for several outputs, taken in a fixed order so two runs cannot deadlock."""
    paths = sorted({Path(os.path.abspath(p)) for p in outputs if p is not None})
    if not paths:
        yield
        return
    with lock(paths[0], wait), locks(paths[1:], wait):
        yield


def _not_ours(path: Path, why: str) -> PathError:
    return PathError(f"the lock file {path} {why}; grucast's lock is a plain file of its own: remove it and run again")


def _lstat(path: Path, what: str) -> Optional[os.stat_result]:
    """The lstat of a path, None when there is nothing; PathError when it cannot be looked at."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise PathError(f"cannot use {what} {path}: {e.strerror}") from None


def _open_lock(path: Path) -> int:
    st = _lstat(path, "the lock file")
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise _not_ours(path, f"is a symbolic link (to {os.readlink(path)})")
        if not stat.S_ISREG(st.st_mode):
            raise _not_ours(path, f"is {_kind(st.st_mode)}")
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _not_ours(path, "is a symbolic link") from None
        if e.errno == errno.EISDIR:
            raise _not_ours(path, "is a folder") from None
        raise PathError(f"cannot create the lock file {path}: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise _not_ours(path, "is " + (_kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else
                                       f"a file with {st.st_nlink} names (hard links)"))
    held = os.pread(fd, 64, 0)
    if st.st_size > 32 or not held.strip().isdigit() and held.strip():
        os.close(fd)
        raise _not_ours(path, "holds something other than a process id")
    return fd


def _acquire(path: Path, output: Path, wait: bool) -> int:
    while True:
        fd = _open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                holder = holder if holder.isdigit() else "?"
                raise LockedError(
                    f"another grucast run (pid {holder}) is writing {output} and holds {path.name}; "
                    "try again later, or pass --wait"
                ) from None
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = _key(os.fstat(fd)) == _key(os.lstat(path))
        except FileNotFoundError:
            same = False
        if same:  # not a file the previous holder removed while this run waited
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            except OSError as e:  # a full disk: no lock file left behind
                try:
                    path.unlink()
                except OSError:
                    pass
                os.close(fd)
                raise _io_error(e, path) from None
            return fd
        os.close(fd)


# ---------------------------------------------------------------- publishing outputs


@dataclass
class Staged:
    """An output to publish: write(tmp) fills a temporary file beside path. manifest(identity)
    gives the JSON-ready manifest document, from the output's path, size and sha256; None
    writes none (and removes a stale one when sidecar: a manifest never describes another
    file). sidecar=False: this output has no manifest slot (a resume state)."""

    path: Path
    write: Callable[[Path], None]
    manifest: Optional[Callable[[dict[str, Any]], dict[str, Any]]] = None
    sidecar: bool = True


def file_identity(path: Path, name: Optional[Path] = None) -> dict[str, Any]:
    """Path (name, when given: a temporary file's final name), size in bytes and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"path": str(name if name is not None else path), "bytes": size, "sha256": digest.hexdigest()}


def _step(name: str) -> None:
    """A point of publish() where the disk can fail: a seam the tests use to inject ENOSPC."""


def _temp(path: Path, tag: str = "tmp") -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{tag}", dir=_folder(path))
    os.close(fd)
    return Path(name)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _mode_like(tmp: Path, path: Path) -> None:
    try:
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
    except OSError:
        pass


def publish(items: Sequence[Staged], announce: bool = True) -> list[dict[str, Any]]:
    """Write every item and its manifest to temporary files beside them, then make them visible.

    Everything that can fail (the writer, the manifest's content, disk space, fsync) happens
    before the first rename. Then, per item: the old manifest is moved aside, the output renamed
    into place, the new manifest renamed into place; so a reader sees (old output, old manifest),
    (either output, no manifest) or (new output, new manifest), never a manifest that names
    another file. A failure in between puts every earlier file back. OSError (a full disk, a
    read-only folder) becomes a PathError naming the file. announce: tell the on_commit
    listeners (not for the state an interrupted run leaves, which is no result). Returns the
    outputs' identities."""
    temps: list[Path] = []
    steps: list[tuple[Path, Optional[Path]]] = []  # (final path, new content or None: remove)
    identities = []
    path = None
    try:
        try:
            for item in items:
                path = Path(item.path)
                tmp = _temp(path)
                temps.append(tmp)
                _step("write")
                item.write(tmp)
                _step("fsync")
                _fsync(tmp)
                _mode_like(tmp, path)
                identity = file_identity(tmp, name=path)
                identities.append(identity)
                mpath = manifest_path(path)
                if item.manifest is not None:
                    text = json.dumps(item.manifest(identity), indent=1, allow_nan=False) + "\n"
                    mtmp = _temp(mpath)
                    temps.append(mtmp)
                    _step("manifest")
                    mtmp.write_text(text, encoding="utf-8")
                    _fsync(mtmp)
                    _mode_like(mtmp, mpath)
                if item.sidecar:
                    steps.append((mpath, None))  # the old manifest goes first
                steps.append((path, tmp))
                if item.manifest is not None:
                    steps.append((mpath, mtmp))
        except OSError as e:
            raise _io_error(e, path) from None
        _commit(steps)
        for listener in list(_listeners) if announce else []:
            listener([Path(i.path) for i in items])
        for folder in {_folder(Path(i.path)) for i in items}:
            _fsync_folder(folder)
        return identities
    finally:
        for t in temps:
            try:
                t.unlink()
            except OSError:
                pass


_listeners: list[Callable[[list[Path]], None]] = []


@contextmanager
def on_commit(listener: Callable[[list[Path]], None]) -> Iterator[None]:
    """Call listener(paths) whenever publish has made outputs visible, while this is active: the
    CLI learns the moment after which a failure (a late signal, a closed stdout) no longer
    leaves the earlier outputs as they were."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _commit(steps: list[tuple[Path, Optional[Path]]]) -> None:
    done: list[tuple[Path, Optional[Path]]] = []  # (final path, backup of what was there, or None)
    final = None
    try:
        for final, new in steps:
            backup = None
            if os.path.lexists(final):
                backup = _temp(final, "old")
                os.unlink(backup)
                if new is None:
                    _step("rename")
                    os.rename(final, backup)  # a stale manifest: moved aside, restored on failure
                else:
                    try:
                        os.link(final, backup)  # the old file stays visible until the rename
                    except OSError:  # no hard links here: the old file moves aside instead
                        os.rename(final, backup)
            done.append((final, backup))
            if new is not None:
                _step("rename")
                os.replace(new, final)
    except OSError as e:
        _roll_back(done)
        raise _io_error(e, final) from None
    except BaseException:
        _roll_back(done)
        raise
    for _, backup in done:
        if backup is not None:
            try:
                os.unlink(backup)
            except OSError:
                pass


def _roll_back(done: list[tuple[Path, Optional[Path]]]) -> None:
    for final, backup in reversed(done):
        try:
            if backup is not None:
                if os.path.lexists(final) and os.path.samestat(os.lstat(final), os.lstat(backup)):
                    os.unlink(backup)  # still the old file (a hard link): rename would do nothing
                else:
                    os.replace(backup, final)
            elif os.path.lexists(final):
                os.unlink(final)
        except OSError:
            pass  # best effort: the error that stopped the commit is the one to report


# Failures of the machine rather than of grucast, in words: one Error line, not a traceback.
IO_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
             errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
             errno.EPERM: "operation not permitted", errno.EIO: "an input/output error",
             errno.EMFILE: "too many open files", errno.ENFILE: "too many open files"}


def _io_error(e: OSError, where: Optional[Path]) -> PathError:
    """The one line for a write that failed at where (the output, its manifest or its lock)."""
    what = IO_ERRORS.get(e.errno, e.strerror or str(e))
    return PathError(f"cannot write {where or e.filename or 'an output'}: {what}; earlier outputs were left as they were")

