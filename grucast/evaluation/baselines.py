"""Reference forecasts computed from the history alone: naive and seasonal naive, for scoring,
and as the declared fallback for series too short for the network.
"""

from __future__ import annotations

from statistics import NormalDist

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


NAIVE, SEASONAL_NAIVE = "naive", "seasonal_naive"


def fallback(values: np.ndarray, offsets: np.ndarray, season: int, horizon: int,
             quantiles: tuple[float, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts after the end of every series (values [T] in series laid end to end at
    offsets [n + 1]) from its own history alone, and the method of each: seasonal naive for a
    series of at least two seasons (season > 1), else naive.

    Returns ([n, horizon], or [n, horizon, Q] with quantiles, the median being the point
    forecast) and [n] method names. The quantiles are those of a normal around it whose spread
    is the series' own in-sample error of the method, growing with the step as a random walk's
    does (sqrt of the number of seasons ahead: Hyndman & Athanasopoulos, FPP3 5.5); NaN for a
    series too short to show one error."""
    values = np.asarray(values, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    m = np.where((season > 1) & (lengths >= 2 * season), season, 1)  # [n]
    methods = np.where(m > 1, SEASONAL_NAIVE, NAIVE)
    h = np.arange(horizon)
    f = values[offsets[1:, None] - m[:, None] + h[None, :] % m[:, None]]  # [n, H]
    if not quantiles:
        return f, methods
    # In-sample errors x_t - x_{t-m} of every point with m points before it in its series.
    series = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(len(values))
    has = pos - offsets[series] >= m[series]
    err = values[pos[has]] - values[pos[has] - m[series[has]]]
    count = np.bincount(series[has], minlength=len(lengths))
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.sqrt(np.bincount(series[has], weights=err ** 2, minlength=len(lengths)) / count)  # NaN: no error
    steps = np.sqrt(h[None, :] // m[:, None] + 1.0)  # [n, H]
    z = np.array([NormalDist().inv_cdf(q) for q in quantiles])  # [Q]
    spread = (sigma[:, None] * steps)[..., None] * z  # [n, H, Q]
    spread[..., z == 0] = 0.0  # the median is the point forecast, even without an error to scale by
    return f[..., None] + spread, methods
