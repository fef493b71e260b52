"""Inputs refused from their first bytes, before torch or pandas is imported: a data file that
is plainly not data, a checkpoint of absurd size or not a zip archive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from grucast import files
from grucast.data import sniff
from grucast.errors import CheckpointError, DataError

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
    files.data_input(path, label, DataError)
    if path.is_dir():  # a Parquet dataset: data.dataset checks every file's signature
        return
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
    st = files.regular_file(path, label, CheckpointError, "checkpoint file", missing="checkpoint")
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
