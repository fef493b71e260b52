"""What every reader (data, config, checkpoints, the run's paths) checks of an input path before
opening it: that it is a regular file. Standard library only, below everything else.

regular_file refuses a missing path, a folder, a device or a FIFO (a link to /dev/zero would
never end) with a one-line error of the caller's kind.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket", stat.S_IFLNK: "a symbolic link"}


def kind(mode: int) -> str:
    """What a file of this mode is, in words ('a FIFO (named pipe)')."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def regular_file(path: Path, label: str, error: type, what: str, missing: str = "file") -> os.stat_result:
    """The stat of an input that must be a regular file (what: 'data file'), or a one-line
    error of that kind ('{missing} not found: PATH' when there is none)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{missing} not found: {path}") from None
    except OSError as e:
        raise error(f"cannot read {label} {path}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path} is a folder, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(
            f"{label} {path} is {kind(st.st_mode)}, not a regular file; grucast reads a {what} more than once "
            "(to check, read and hash it) and never from a device: copy it to a file first"
        )
    return st
