"""Which windows exist, and the batched gather that turns a list of them into tensors.

A window is one integer: the index in ``Panel.values`` of its first input point. Its input is
``values[start : start + input_size]`` and its target the next ``horizon`` points. Windows never
cross two series and are never materialised: a batch is one fancy-indexing gather.
"""

from __future__ import annotations

import numpy as np


def ranges(first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(first[i], first[i] + counts[i]) over i, without a Python loop."""
    counts = np.maximum(counts, 0).astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    base = np.repeat(first.astype(np.int64) - np.cumsum(counts) + counts, counts)
    return base + np.arange(total, dtype=np.int64)


def split_windows(offsets: np.ndarray, input_size: int, horizon: int, val_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation window starts, chronologically split per series.

    The last ``val_size`` points of every series are validation: a validation window's target
    lies entirely inside them while its input may reach back into the training part. A training
    window's input and target both end before the validation part starts.
    """
    lengths = np.diff(offsets)
    n_train = lengths - val_size
    train = ranges(offsets[:-1], n_train - input_size - horizon + 1)
    # Validation target start e (relative to the series) runs over [max(n - val_size, L), n - H].
    first_end = np.maximum(lengths - val_size, input_size)
    val = ranges(offsets[:-1] + first_end - input_size, lengths - horizon - first_end + 1)
    return train, val


def series_of(offsets: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Which series each window start belongs to."""
    return np.searchsorted(offsets, starts, side="right") - 1


def gather(values, starts, length: int):
    """[B, length] rows values[s : s + length] for each start s; works on numpy and torch."""
    if hasattr(values, "new_tensor"):  # torch
        import torch

        idx = starts.reshape(-1, 1) + torch.arange(length, device=starts.device)
        return values[idx]
    return values[np.asarray(starts).reshape(-1, 1) + np.arange(length)]
