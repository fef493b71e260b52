"""What every reader (data, config, checkpoints, the run's paths) checks of an input path before
opening it: that it is a regular file. Standard library only, below everything else.

regular_file refuses a missing path, a folder, a device or a FIFO (a link to /dev/zero would
never end) with a one-line error of the caller's kind. data_input takes, as well, a folder that
is a Parquet dataset (dataset_files lists its files).
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


MAX_DATASET_FILES = 100_000  # a folder of more files is no dataset grucast can read in one run


def dataset_files(folder: Path, error: type) -> list[Path]:
    """The files of a Parquet dataset folder, in the order they are read: every regular file
    below it, by path relative to it (as text), except names starting with '.' or '_' (Spark's
    _SUCCESS and .crc files, _metadata) and what is inside such folders; links to files and to
    folders are followed (a folder reached twice, as a link loop would, is an error). A one-line
    error of the caller's kind when there is none."""
    found, _ = walk_dataset(folder, error)
    if not found:
        raise error(f"{folder} is a folder without data files; give a CSV or Parquet file, or a folder of Parquet "
                    "files (a Parquet dataset)")
    return found


def walk_dataset(folder: Path, error: type) -> tuple[list[Path], list[str]]:
    """(dataset_files' files, possibly none; the real paths of the folder and of every folder
    below it that is walked, those reached through links too: where no output may go)."""
    folder = Path(folder)
    found: list[Path] = []
    seen: dict[str, str] = {}  # real path of every folder walked -> how it was reached

    def unreadable(e: OSError) -> None:  # a folder left out would be data silently missing
        raise error(f"cannot read the folder {e.filename} of {folder}: {e.strerror}")

    for root, dirs, names in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            raise error(f"{folder} reaches the folder {real} twice ({seen[real]} and {root}, through a link); "
                        "its files would be read twice")
        seen[real] = root
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for name in names:
            if name.startswith((".", "_")):
                continue
            path = Path(root) / name
            try:
                if stat.S_ISREG(os.stat(path).st_mode):
                    found.append(path)
            except OSError:  # a dangling link
                continue
        if len(found) > MAX_DATASET_FILES:
            raise error(f"{folder} holds over {MAX_DATASET_FILES:,} files; grucast reads a folder of at most that many "
                        "as one Parquet dataset")
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix()), list(seen)


def data_input(path: Path, label: str, error: type) -> None:
    """A data input: a regular file, or a folder of files (a Parquet dataset, whose files the
    reader checks); else a one-line error of the caller's kind."""
    path = Path(path)
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            dataset_files(path, error)
            return
    except OSError:
        pass  # regular_file says what is wrong
    regular_file(path, label, error, "data file")
