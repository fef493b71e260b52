"""Forecast accuracy, pure numpy. Arrays are [windows, horizon] on the original scale; a NaN
actual (a target that was never observed) is left out of every metric.

Point metrics follow the M4 competition: sMAPE = mean(200 |y - f| / (|y| + |f|)) with 0/0 taken
as 0; MASE = mean |y - f| divided by the in-sample mean absolute seasonal difference of the
series, averaged over windows; RMSSE (M5) the same with squares under a root. MAE, RMSE, MAPE,
WAPE and bias pool every point. Quantile metrics: pinball loss, the weighted quantile loss of
GluonTS, interval coverage and width, and M4's MSIS.

REGISTRY lists every metric that grucast reports, with its kind and the seasonal scale it reads;
point_scores, interval_scores and names (the keys of a report) are derived from it, and
evaluation.scoring applies them to the GRU and the baselines alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

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


def mape(y: np.ndarray, f: np.ndarray) -> float:
    """Mean absolute percentage error; NaN (refused) when an actual is zero, where it is undefined."""
    y, f = np.asarray(y, dtype=np.float64), np.asarray(f, dtype=np.float64)
    if np.any(y == 0):
        return float("nan")
    return 100.0 * _mean(np.abs(y - f) / np.abs(y))


def wape(y: np.ndarray, f: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |y - f| / sum |y|, in percent."""
    ok = ~np.isnan(y)
    total = np.abs(y[ok]).sum()
    return float(100.0 * np.abs(y[ok] - f[ok]).sum() / total) if total > 0 else float("nan")


def bias(y: np.ndarray, f: np.ndarray) -> float:
    """Mean of f - y: positive when the forecasts run high."""
    return _mean(f - y)


def rmsse(y: np.ndarray, f: np.ndarray, scale2: np.ndarray) -> float:
    """Root mean squared scaled error (M5): per window sqrt(mean (y - f)^2 / scale2), where scale2
    is the in-sample mean squared seasonal difference, averaged over windows."""
    scale2 = np.asarray(scale2, dtype=np.float64)
    ok = np.isfinite(scale2) & (scale2 > 0)
    if not ok.any():
        return float("nan")
    err = (y[ok] - f[ok]) ** 2
    seen = ~np.isnan(err)
    per = np.sqrt(np.where(seen, err, 0.0).sum(axis=1) / np.maximum(seen.sum(axis=1), 1) / scale2[ok])
    return _mean(np.where(seen.any(axis=1), per, np.nan))


def pinball(y: np.ndarray, fq: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss of the q-quantile forecasts fq."""
    d = y - fq
    return _mean(np.maximum(q * d, (q - 1.0) * d))


def weighted_quantile_loss(y: np.ndarray, fqs: np.ndarray, quantiles) -> float:
    """GluonTS's mean weighted quantile loss: over quantiles, 2 sum pinball_q / sum |y|.
    fqs is [..., Q]."""
    ok = ~np.isnan(y)
    total = np.abs(y[ok]).sum()
    if not total > 0:
        return float("nan")
    out = []
    for j, q in enumerate(quantiles):
        d = y[ok] - fqs[..., j][ok]
        out.append(2.0 * np.maximum(q * d, (q - 1.0) * d).sum() / total)
    return float(np.mean(out))


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of actuals inside [lo, hi], in percent."""
    ok = ~np.isnan(y)
    return float(100.0 * np.mean((y[ok] >= lo[ok]) & (y[ok] <= hi[ok]))) if ok.any() else float("nan")


def width(lo: np.ndarray, hi: np.ndarray, y: Optional[np.ndarray] = None) -> float:
    """Mean interval width (over the points with an actual when y is given)."""
    w = hi - lo
    return _mean(w if y is None else np.where(np.isnan(y), np.nan, w))


def msis(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, scale: np.ndarray, level: float) -> float:
    """Mean scaled interval score (M4) of intervals at level (e.g. 95): per window
    mean[(hi - lo) + 2/a (lo - y) 1(y < lo) + 2/a (y - hi) 1(y > hi)] / scale, a = 1 - level/100."""
    a = 1.0 - level / 100.0
    score = (hi - lo) + (2.0 / a) * np.maximum(lo - y, 0.0) + (2.0 / a) * np.maximum(y - hi, 0.0)
    return mase(score, np.zeros_like(score), scale)


def seasonal_scale(values: np.ndarray, offsets: np.ndarray, ends: np.ndarray, season: int,
                   power: int = 1) -> np.ndarray:
    """Per series, mean |x[t] - x[t - season]|^power over its first ends[i] points (the
    in-sample part used by MASE, power 1, and RMSSE, power 2); NaN where fewer than season + 1
    points exist. Computed on blocks of whole series of about a million points, so the
    temporaries stay small for any number of rows (the result does not depend on the blocks)."""
    offsets, ends = np.asarray(offsets, dtype=np.int64), np.asarray(ends)
    n = len(offsets) - 1
    if n == 0:
        return np.full(0, np.nan)
    cuts = np.unique(np.r_[0, np.searchsorted(offsets, np.arange(0, offsets[-1], SCALE_BLOCK), side="right") - 1])
    cuts = np.r_[cuts[cuts < n], n]
    return np.concatenate([
        _seasonal_scale(values[offsets[a]:offsets[b]], offsets[a:b + 1] - offsets[a], ends[a:b], season, power)
        for a, b in zip(cuts[:-1], cuts[1:])
    ])


SCALE_BLOCK = 1 << 20  # points per block of seasonal_scale


def _seasonal_scale(values: np.ndarray, offsets: np.ndarray, ends: np.ndarray, season: int, power: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    n = len(offsets) - 1
    lengths = np.diff(offsets)
    t = np.arange(len(values))
    series = np.searchsorted(offsets, t, side="right") - 1
    rel = t - offsets[series]
    use = (rel >= season) & (rel < np.asarray(ends)[series])
    d = np.abs(values[t[use]] - values[t[use] - season]) ** power
    total = np.bincount(series[use], weights=d, minlength=n)
    count = np.bincount(series[use], minlength=n)
    out = np.full(n, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    out[lengths == 0] = np.nan
    return out


@dataclass(frozen=True)
class Metric:
    """One entry of the registry. fn takes, by kind:
    point     fn(y, f, scale): a point forecast f [..., H];
    quantile  fn(y, fqs, quantiles, scale): quantile forecasts fqs [..., H, Q];
    interval  fn(y, lo, hi, scale, level): the central interval at level (80: 10 % to 90 %),
              reported once per level as name_<level> (coverage_80).
    scale says which seasonal scale fn reads (None for none): 1 the in-sample mean absolute
    seasonal difference (MASE, MSIS), 2 the mean squared one (RMSSE); see seasonal_scale."""

    name: str
    kind: str
    fn: Callable[..., float]
    scale: Optional[int] = None
    about: str = ""


def _mean_pinball(y: np.ndarray, fqs: np.ndarray, quantiles, scale=None) -> float:
    return float(np.mean([pinball(y, fqs[..., j], q) for j, q in enumerate(quantiles)]))


# Every score grucast reports, in the order of the report's columns. Validation (the checkpoint's
# metrics), evaluate and backtest all score through this table (evaluation.scoring), so a metric
# added here appears in all of them, for the GRU and the baselines alike (quantile and interval
# metrics only for a quantile model's GRU: the baselines give point forecasts).
REGISTRY: tuple[Metric, ...] = (
    Metric("mae", "point", lambda y, f, s: mae(y, f), about="mean absolute error"),
    Metric("rmse", "point", lambda y, f, s: rmse(y, f), about="root mean squared error"),
    Metric("smape", "point", lambda y, f, s: smape(y, f), about="symmetric MAPE (M4), percent"),
    Metric("mase", "point", mase, scale=1, about="mean absolute scaled error (M4)"),
    Metric("rmsse", "point", rmsse, scale=2, about="root mean squared scaled error (M5)"),
    Metric("mape", "point", lambda y, f, s: mape(y, f), about="mean absolute percentage error; NaN with a zero actual"),
    Metric("wape", "point", lambda y, f, s: wape(y, f), about="weighted absolute percentage error"),
    Metric("bias", "point", lambda y, f, s: bias(y, f), about="mean forecast minus actual"),
    Metric("wql", "quantile", lambda y, fqs, qs, s: weighted_quantile_loss(y, fqs, qs),
           about="weighted quantile loss (GluonTS)"),
    Metric("pinball", "quantile", _mean_pinball, about="pinball loss, mean over the quantiles"),
    Metric("coverage", "interval", lambda y, lo, hi, s, level: coverage(y, lo, hi),
           about="share of actuals inside the interval, percent"),
    Metric("width", "interval", lambda y, lo, hi, s, level: width(lo, hi, y), about="mean interval width"),
    Metric("msis", "interval", lambda y, lo, hi, s, level: msis(y, lo, hi, s, level), scale=1,
           about="mean scaled interval score (M4)"),
)


def registered(kind: str) -> tuple[Metric, ...]:
    return tuple(m for m in REGISTRY if m.kind == kind)


def names(levels=(), quantiles: bool = True) -> list[str]:
    """The keys a report holds for a model: every point metric and, for quantile forecasts with
    these interval levels, the quantile metrics and the interval metrics of every level."""
    out = [m.name for m in registered("point")]
    if quantiles:
        out += [m.name for m in registered("quantile")]
        out += [f"{m.name}_{level:g}" for level in levels for m in registered("interval")]
    return out


def _scale_of(metric: Metric, scales: dict[int, np.ndarray]) -> Optional[np.ndarray]:
    return None if metric.scale is None else scales[metric.scale]


def point_scores(y: np.ndarray, f: np.ndarray, scale: np.ndarray, scale2: np.ndarray) -> dict[str, float]:
    """Every point metric of forecasts f against actuals y ([W, H]); scale and scale2 [W] are the
    windows' seasonal scales of power 1 and 2."""
    scales = {1: scale, 2: scale2}
    return {m.name: m.fn(y, f, _scale_of(m, scales)) for m in registered("point")}


def interval_scores(y: np.ndarray, fqs: np.ndarray, quantiles, levels, scale: np.ndarray) -> dict[str, float]:
    """Quantile metrics of forecasts fqs [..., Q]: weighted quantile loss, mean pinball loss and,
    per interval level, coverage (percent), mean width and MSIS."""
    quantiles = [float(q) for q in quantiles]
    scales = {1: scale}
    out = {m.name: m.fn(y, fqs, quantiles, _scale_of(m, scales)) for m in registered("quantile")}
    for level in levels:
        lo_q, hi_q = level_quantiles(level)
        lo, hi = fqs[..., quantiles.index(lo_q)], fqs[..., quantiles.index(hi_q)]
        for m in registered("interval"):
            out[f"{m.name}_{level:g}"] = m.fn(y, lo, hi, _scale_of(m, scales), level)
    return out


def level_quantiles(level: float) -> tuple[float, float]:
    """The quantiles bounding a central interval: 80 -> (0.1, 0.9)."""
    a = (100.0 - level) / 200.0
    return round(a, 6), round(1.0 - a, 6)
