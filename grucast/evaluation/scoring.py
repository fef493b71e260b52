"""Held-out forecasts scored in one place: the GRU beside naive and seasonal naive, against the
actuals, with every metric of the registry (metrics.REGISTRY) and the seasonal scales MASE,
RMSSE and MSIS divide by. Validation (workflows.fit: the checkpoint's metrics), evaluate and
backtest (workflows.backtest) all score here, so the same windows give the same numbers.

Arrays in, numbers out: the caller runs the model and hands over its forecasts (no torch here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from grucast.evaluation import baselines, metrics

MODELS = ("gru", "naive", "seasonal_naive")


@dataclass
class Windows:
    """Held-out windows of a panel, as positions in its values (every series end to end)."""

    values: np.ndarray  # [N] the panel's points
    offsets: np.ndarray  # [S + 1] where every series starts in values
    observed: Optional[np.ndarray]  # [N] False where a gap was filled (never scored); None: all observed
    targets: np.ndarray  # [W] index in values of every window's first target point
    series: np.ndarray  # [W] the series of every window
    in_sample: np.ndarray  # [S] every series' first points that its seasonal scale is computed on
    season: int
    horizon: int


@dataclass
class Scores:
    y: np.ndarray  # [W, H] actuals, NaN where never observed
    forecasts: dict[str, np.ndarray]  # model (MODELS) -> [W, H] point forecasts
    scale: np.ndarray  # [W] the window's series' mean absolute seasonal difference (MASE, MSIS)
    scale2: np.ndarray  # [W] its mean squared seasonal difference (RMSSE)
    overall: dict[str, dict[str, float]]  # model -> metric -> value, pooled over every window
    skill: float  # 1 - GRU / seasonal naive, by skill_metric
    skill_metric: str  # mase, or mae where MASE is undefined
    per_series: list[dict[str, Any]] = field(default_factory=list)  # series, model, windows, metrics


def actuals(values: np.ndarray, observed: Optional[np.ndarray], targets: np.ndarray, horizon: int) -> np.ndarray:
    """[W, horizon] the points from every target start on, as float64; NaN where a filled gap
    stands (a target that was never observed is not scored)."""
    idx = np.asarray(targets)[:, None] + np.arange(horizon)
    y = values[idx].astype(np.float64)  # index first: no float64 copy of every point
    if observed is not None:
        y[~observed[idx]] = np.nan
    return y


def has_history(offsets: np.ndarray, targets: np.ndarray, series: np.ndarray, season: int) -> np.ndarray:
    """[W] whether a full season of the window's own series lies before its target start: the
    seasonal naive forecast needs it, and score() takes only such windows."""
    return np.asarray(targets) - season >= np.asarray(offsets)[series]


def skill(gru: dict[str, float], base: dict[str, float]) -> tuple[float, str]:
    """The GRU's skill over a baseline, 1 - GRU / baseline: by MASE, or by MAE where MASE is
    undefined (no series with a seasonal scale); NaN when the baseline's error is zero."""
    key = "mase" if np.isfinite(gru["mase"]) and np.isfinite(base["mase"]) and base["mase"] > 0 else "mae"
    return (1.0 - gru[key] / base[key] if base[key] > 0 else float("nan")), key


def score(w: Windows, point: np.ndarray, fqs: Optional[np.ndarray] = None, quantiles=(), levels=(),
          held: Optional[np.ndarray] = None, ids: Optional[np.ndarray] = None) -> Scores:
    """The GRU's point forecasts point [W, H] (and, for a quantile model, its quantile forecasts
    fqs [W, H, Q] at quantiles, scored for every interval level), naive and seasonal naive,
    against the actuals of the windows w, each of which has a season of history (has_history).
    held [W]: the windows whose quantile forecasts are scored (default all; validation scores
    the cross-fitted calibrated quantiles, which some windows lack). ids [S]: also score every
    series on its own, rows labelled by its id."""
    if not has_history(w.offsets, w.targets, w.series, w.season).all():  # a caller's bug, not the user's
        raise ValueError("score() takes only windows with a season of history (see has_history)")
    y, base, scale, scale2 = window_arrays(w)
    return score_arrays(y, {"gru": point, **base}, scale, scale2, fqs, quantiles, levels, held,
                        series=w.series, ids=ids)


def window_arrays(w: Windows) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """What score() compares the GRU with, window by window: (the actuals [W, H], the naive and
    seasonal naive forecasts [W, H] by name, and the scales [W] of MASE and RMSSE)."""
    H, m = w.horizon, w.season
    y = actuals(w.values, w.observed, w.targets, H)
    base = {"naive": baselines.naive(w.values, w.targets, H),
            "seasonal_naive": baselines.seasonal_naive(w.values, w.targets, m, H)}
    scale = metrics.seasonal_scale(w.values, w.offsets, w.in_sample, m)[w.series]
    scale2 = metrics.seasonal_scale(w.values, w.offsets, w.in_sample, m, power=2)[w.series]
    return y, base, scale, scale2


def score_arrays(y: np.ndarray, forecasts: dict[str, np.ndarray], scale: np.ndarray, scale2: np.ndarray,
                 fqs: Optional[np.ndarray] = None, quantiles=(), levels=(), held: Optional[np.ndarray] = None,
                 series: Optional[np.ndarray] = None, ids: Optional[np.ndarray] = None) -> Scores:
    """score() on the arrays window_arrays gives, with the GRU's forecasts under "gru" (and
    series [W], every window's series, for the scores per series)."""

    def scores(name: str, rows: Optional[np.ndarray]) -> dict[str, float]:
        """Every metric of one model over the windows rows (None: all)."""
        sel = slice(None) if rows is None else rows
        out = metrics.point_scores(y[sel], forecasts[name][sel], scale[sel], scale2[sel])
        if name == "gru" and fqs is not None:
            if held is not None:
                sel = held if rows is None else rows & held
            out.update(metrics.interval_scores(y[sel], fqs[sel], quantiles, levels, scale[sel]))
        return out

    overall = {name: scores(name, None) for name in MODELS}
    value, key = skill(overall["gru"], overall["seasonal_naive"])
    per_series = []
    if ids is not None:
        for i in np.unique(series):  # a loop over series, each vectorised
            rows = series == i
            per_series += [{"series": str(ids[i]), "model": name, "windows": int(rows.sum()), **scores(name, rows)}
                           for name in MODELS]
    return Scores(y=y, forecasts=forecasts, scale=scale, scale2=scale2, overall=overall, skill=value,
                  skill_metric=key, per_series=per_series)
