"""Point-forecast accuracy, pure numpy. Arrays are [windows, horizon] on the original scale.

Definitions follow the M4 competition: sMAPE = mean(200 |y - f| / (|y| + |f|)) with 0/0 taken as
0; MASE = mean |y - f| divided by the in-sample mean absolute seasonal difference of the series,
averaged over windows. MAE and RMSE pool every point.
"""

from __future__ import annotations

import numpy as np


def _mean(a: np.ndarray) -> float:
    """Mean over the known points: a target that was never observed (NaN) is not scored."""
    a = np.asarray(a, dtype=np.float64)
    ok = ~np.isnan(a)
    return float(a[ok].mean()) if ok.any() else float("nan")


def mae(y: np.ndarray, f: np.ndarray) -> float:
    return _mean(np.abs(y - f))


def rmse(y: np.ndarray, f: np.ndarray) -> float:
    return float(np.sqrt(_mean((y - f) ** 2)))


def smape(y: np.ndarray, f: np.ndarray) -> float:
    num = 2.0 * np.abs(y - f)
    den = np.abs(y) + np.abs(f)
    out = np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)
    out[np.isnan(num)] = np.nan
    return 100.0 * _mean(out)


def mase(y: np.ndarray, f: np.ndarray, scale: np.ndarray) -> float:
    """Mean over windows of MAE / scale; windows whose scale is zero or unknown are left out
    (NaN when none is left)."""
    scale = np.asarray(scale, dtype=np.float64)
    ok = np.isfinite(scale) & (scale > 0)
    if not ok.any():
        return float("nan")
    err = np.abs(y[ok] - f[ok])
    seen = ~np.isnan(err)
    per = np.where(seen, err, 0.0).sum(axis=1) / np.maximum(seen.sum(axis=1), 1) / scale[ok]
    return _mean(np.where(seen.any(axis=1), per, np.nan))


def seasonal_scale(values: np.ndarray, offsets: np.ndarray, ends: np.ndarray, season: int) -> np.ndarray:
    """Per series, mean |x[t] - x[t - season]| over its first ends[i] points (the in-sample part
    used by MASE); NaN where fewer than season + 1 points exist."""
    values = np.asarray(values, dtype=np.float64)
    n = len(offsets) - 1
    lengths = np.diff(offsets)
    t = np.arange(len(values))
    series = np.searchsorted(offsets, t, side="right") - 1
    rel = t - offsets[series]
    use = (rel >= season) & (rel < np.asarray(ends)[series])
    d = np.abs(values[t[use]] - values[t[use] - season])
    total = np.bincount(series[use], weights=d, minlength=n)
    count = np.bincount(series[use], minlength=n)
    out = np.full(n, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    out[lengths == 0] = np.nan
    return out


def point_scores(y: np.ndarray, f: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    return {"mae": mae(y, f), "rmse": rmse(y, f), "smape": smape(y, f), "mase": mase(y, f, scale)}
