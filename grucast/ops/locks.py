"""OUTPUT.lock: taken without following links and without truncating anything that is not a
lock file of its own; one run per output at a time.

On POSIX the lock is grucast's own flock on a file holding the holder's process id, rather than
the filelock package's: filelock takes 50-100 ms to import on the 2-core CI machine (this lock is
taken before torch is imported, on the path where a refused run exits in about 0.3 s), does not
record the holder (the exit-75 message names its pid), and takes a lock on a path that holds
someone else's data instead of refusing it. Where fcntl does not exist (Windows), filelock
(installed with torch) provides the lock.
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

from grucast import files
from grucast.errors import LockedError, PathError
from grucast.ops.paths import folder_of, inode_key, io_error, lock_path, lstat_or_none, not_our_lock

try:  # POSIX; elsewhere outputs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


# ---------------------------------------------------------------- locks


@contextmanager
def lock(output: Optional[Path], wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on OUTPUT.lock while a run writes OUTPUT. A second run exits with
    LockedError (75), or waits with wait=True. The lock is the kernel's (flock), so a crash or
    SIGKILL releases it too; a normal exit also removes the file. A .lock file left by a killed
    run holds no lock and is taken over; a lock path that is a link, a folder, a device or a
    file with other names (hard links) is refused, never opened for writing."""
    if output is None:
        yield
        return
    path = lock_path(output)
    if not folder_of(path).is_dir():
        yield  # the output check reports the missing folder
        return
    if fcntl is None:  # pragma: no cover - Windows
        with _portable_lock(path, Path(output), wait):
            yield
        return
    fd = _acquire(path, Path(output), wait)
    try:
        yield
    finally:
        try:
            if inode_key(os.lstat(path)) == inode_key(os.fstat(fd)):
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


@contextmanager
def _portable_lock(path: Path, output: Path, wait: bool) -> Iterator[None]:  # pragma: no cover - Windows
    import filelock

    try:
        with filelock.FileLock(str(path), timeout=-1 if wait else 0):
            yield
    except filelock.Timeout:
        raise LockedError(f"another grucast run is writing {output} and holds {path.name}; "
                          "try again later, or pass --wait") from None


def _open_lock(path: Path) -> int:
    st = lstat_or_none(path, "the lock file")
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise not_our_lock(path, f"is a symbolic link (to {os.readlink(path)})")
        if not stat.S_ISREG(st.st_mode):
            raise not_our_lock(path, f"is {files.kind(st.st_mode)}")
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise not_our_lock(path, "is a symbolic link") from None
        if e.errno == errno.EISDIR:
            raise not_our_lock(path, "is a folder") from None
        raise PathError(f"cannot create the lock file {path}: {e.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise not_our_lock(path, "is " + (files.kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else
                                       f"a file with {st.st_nlink} names (hard links)"))
    held = os.pread(fd, 64, 0)
    if st.st_size > 32 or not held.strip().isdigit() and held.strip():
        os.close(fd)
        raise not_our_lock(path, "holds something other than a process id")
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
            same = inode_key(os.fstat(fd)) == inode_key(os.lstat(path))
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
                raise io_error(e, path) from None
            return fd
        os.close(fd)
