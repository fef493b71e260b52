"""Publishing outputs last: every output and its manifest go to temporary files first (all
that can fail: the content, the manifest, disk space, fsync), then are renamed into place in an
order in which a manifest never names a file that is not there, with rollback on any failure.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from grucast.ops.paths import file_identity, folder_of, io_error, manifest_path

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


def _step(name: str) -> None:
    """A point of publish() where the disk can fail: a seam the tests use to inject ENOSPC."""


def _temp(path: Path, tag: str = "tmp") -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{tag}", dir=folder_of(path))
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
            raise io_error(e, path) from None
        _commit(steps)
        for listener in list(_listeners) if announce else []:
            listener([Path(i.path) for i in items])
        for folder in {folder_of(Path(i.path)) for i in items}:
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
        raise io_error(e, final) from None
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
