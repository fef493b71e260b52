"""Conformal calibration of quantile forecasts on held-out windows.

A quantile model's q-forecasts should have a share q of actuals below them. On held-out windows
the residuals ``(y - f_q) / scale`` (scale: the window's own input scale, so series of every
level count alike) give, for every horizon step and quantile, the shift that makes that share
exactly q there; the shifts are stored in the checkpoint and applied to new forecasts, and the
quantiles are sorted again so they never cross. The median, the point forecast, is not moved.

The coverage reported after calibration is estimated on windows the shifts were not fitted on
(see folds): by series for a panel, by time for one or a few long series, where it also shows
how well a calibration carries over from one stretch of time to the next.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grucast.evaluation import metrics

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


MIN_SERIES_FOLDS = 10  # fewer series than this: the honest estimate splits each series' windows in time


def folds(series: np.ndarray, starts: np.ndarray, horizon: int) -> tuple[np.ndarray, str]:
    """Two folds of the held-out windows for an honest coverage estimate, each calibrated on the
    other: [W] of 0, 1 or -1 (left out), and how they were drawn. With many series, by series
    (odd and even). With few, by time within every series: the windows whose targets lie wholly
    in the first half of the series' held-out span against those wholly in the second half, so
    no target is in both; by series again when the span is too short for that (one window per
    series). A single series with a single window: all -1, the estimate is in-sample."""
    n_series = len(np.unique(series))
    if n_series >= MIN_SERIES_FOLDS:
        return (series % 2).astype(np.int64), "two halves of the series, each calibrated on the other"
    first = np.full(series.max() + 1, np.iinfo(np.int64).max)
    last = np.full(series.max() + 1, np.iinfo(np.int64).min)
    np.minimum.at(first, series, starts)
    np.maximum.at(last, series, starts + horizon)
    middle = (first[series] + last[series]) // 2
    fold = np.where(starts + horizon <= middle, 0, np.where(starts >= middle, 1, -1))
    if (fold == 0).any() and (fold == 1).any():
        return fold, "the first half of the validation span calibrated on the second, and back"
    if n_series >= 2:
        return (series % 2).astype(np.int64), "two halves of the series, each calibrated on the other"
    return np.full(len(series), -1), "in-sample: too few validation windows to hold any out"


def calibrate(y: np.ndarray, f: np.ndarray, scale: np.ndarray, series: np.ndarray, starts: np.ndarray,
              quantiles: tuple[float, ...], levels: tuple[float, ...]) -> dict[str, Any]:
    """Shifts from all held-out windows (target start positions `starts`, one series each), and
    an honest estimate of the coverage they give, from two folds each calibrated on the other
    (see folds). Returns the calibration for the checkpoint."""
    return calibrate_held_out(y, f, scale, series, starts, quantiles, levels)[0]


def calibrate_held_out(y: np.ndarray, f: np.ndarray, scale: np.ndarray, series: np.ndarray, starts: np.ndarray,
                       quantiles: tuple[float, ...], levels: tuple[float, ...]
                       ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """calibrate, and the cross-fitted forecasts its coverage estimate scores: [W, H, Q] every
    window's quantiles calibrated on the other fold (on all windows when the estimate is
    in-sample), and [W] which windows hold one (False: in neither fold, NaN forecasts)."""
    horizon = f.shape[1]
    shifts = fit_shifts(y, f, scale, quantiles)
    fold, how = folds(series, starts, horizon)
    if (fold < 0).all():
        held_out, keep = apply(f, scale, shifts), np.ones(len(y), dtype=bool)
    else:
        keep = fold >= 0
        held_out = np.full_like(f, np.nan)
        for k in (0, 1):
            part, other = fold == k, fold == 1 - k
            held_out[part] = apply(f[part], scale[part], fit_shifts(y[other], f[other], scale[other], quantiles))
    report = {}
    for level in levels:
        lo_q, hi_q = metrics.level_quantiles(level)
        lo, hi = quantiles.index(lo_q), quantiles.index(hi_q)
        report[f"{level:g}"] = {
            "raw": metrics.coverage(y, f[..., lo], f[..., hi]),
            "calibrated": metrics.coverage(y[keep], held_out[keep][..., lo], held_out[keep][..., hi]),
        }
        if not (fold < 0).all():  # each fold's coverage: far apart, the calibration does not carry over
            report[f"{level:g}"]["folds"] = [metrics.coverage(y[fold == k], held_out[fold == k][..., lo],
                                                              held_out[fold == k][..., hi]) for k in (0, 1)]
            report[f"{level:g}"]["fold_windows"] = [int((fold == k).sum()) for k in (0, 1)]
    calibration = {
        "quantiles": list(quantiles),
        "shifts": shifts.tolist(),
        "windows": int(len(y)),
        "coverage": report,  # percent on the held-out windows, before and after (cross-fitted)
        "estimate": how,
    }
    return calibration, held_out, keep
