"""Conformal calibration of quantile forecasts on held-out windows.

A quantile model's q-forecasts should have a share q of actuals below them. On held-out windows
the residuals ``(y - f_q) / scale`` (scale: the window's own input scale, so series of every
level count alike) give, for every horizon step and quantile, the shift that makes that share
exactly q there; the shifts are stored in the checkpoint and applied to new forecasts, and the
quantiles are sorted again so they never cross. The median, the point forecast, is not moved.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grucast import metrics

MIN_PER_STEP = 50  # fewer windows than this: one shift per quantile pooled over the horizon


def fit_shifts(y: np.ndarray, f: np.ndarray, scale: np.ndarray, quantiles: tuple[float, ...]) -> np.ndarray:
    """[H, Q] shifts in units of each window's scale, from actuals y [W, H] (NaN: unobserved),
    quantile forecasts f [W, H, Q] and window scales [W]."""
    r = (y[..., None] - f) / scale[:, None, None]  # [W, H, Q]
    shifts = np.zeros(f.shape[1:], dtype=np.float64)
    for j, q in enumerate(quantiles):
        if q == 0.5:
            continue
        res = r[..., j]
        if np.isnan(res).all():
            continue
        if len(res) >= MIN_PER_STEP:
            shifts[:, j] = np.nan_to_num(np.nanquantile(res, q, axis=0))
        else:
            shifts[:, j] = np.nanquantile(res, q)
    return shifts


def apply(f: np.ndarray, scale: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Calibrated quantile forecasts: f [W, H, Q] moved by shifts [H, Q] x scale [W], sorted."""
    out = f + shifts[None] * scale[:, None, None]
    return np.sort(out, axis=-1)


def calibrate(y: np.ndarray, f: np.ndarray, scale: np.ndarray, series: np.ndarray, quantiles: tuple[float, ...],
              levels: tuple[float, ...]) -> dict[str, Any]:
    """Shifts from all held-out windows, and an honest estimate of the coverage they give: two
    folds by series, each calibrated on the other. Returns the calibration for the checkpoint."""
    shifts = fit_shifts(y, f, scale, quantiles)
    fold = (series % 2).astype(bool)
    held_out = np.empty_like(f)
    for k in (False, True):
        part = fold == k
        if part.all() or not part.any():  # a single series: no second fold
            held_out = apply(f, scale, shifts)
            break
        held_out[part] = apply(f[part], scale[part], fit_shifts(y[~part], f[~part], scale[~part], quantiles))
    report = {}
    for level in levels:
        lo_q, hi_q = metrics.level_quantiles(level)
        lo, hi = quantiles.index(lo_q), quantiles.index(hi_q)
        report[f"{level:g}"] = {
            "raw": metrics.coverage(y, f[..., lo], f[..., hi]),
            "calibrated": metrics.coverage(y, held_out[..., lo], held_out[..., hi]),
        }
    return {
        "quantiles": list(quantiles),
        "shifts": shifts.tolist(),
        "windows": int(len(y)),
        "coverage": report,  # percent on the held-out windows, before and after (cross-fitted)
    }
