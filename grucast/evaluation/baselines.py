"""Reference forecasts computed from the history alone: naive and seasonal naive."""

from __future__ import annotations

import numpy as np


def seasonal_naive(values: np.ndarray, target_starts: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """[W, horizon]: each forecast repeats the last ``season`` values before its target start.

    The caller makes sure every target start has at least ``season`` points of history in its
    own series. season=1 gives the naive (last value) forecast.
    """
    h = np.arange(horizon)
    idx = np.asarray(target_starts, dtype=np.int64)[:, None] - season + (h % season)[None, :]
    return np.asarray(values, dtype=np.float64)[idx]


def naive(values: np.ndarray, target_starts: np.ndarray, horizon: int) -> np.ndarray:
    return seasonal_naive(values, target_starts, 1, horizon)
