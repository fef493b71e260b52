"""Scoring forecasts against the actuals that arrived after them (`grucast monitor`): every
(series, origin, step) row gets its actual, the naive and seasonal naive forecasts made at the
same origin from the data's own history, and the MASE scale of that history; rows are then
summarized per checkpoint and checked against drift gates.

Everything here is arithmetic on arrays and frames: the files, the history folder and the exit
codes are the workflow's (workflows.monitor) and the ops' (ops.history).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from grucast.evaluation import metrics

MODELS = ("model", "naive", "seasonal_naive")
WORST = 5  # series listed as the worst of a checkpoint


@dataclass(frozen=True)
class Scored:
    """Per forecast row: its actual (NaN until it arrives, or where the data has a gap), the
    baselines made at its origin, the MASE scale of the history up to the origin, and whether
    its time is past the end of the data (pending)."""

    actual: np.ndarray
    naive: np.ndarray
    seasonal_naive: np.ndarray
    scale: np.ndarray
    pending: np.ndarray


def score_rows(values: np.ndarray, observed: Optional[np.ndarray], offsets: np.ndarray, series: np.ndarray,
               origin: np.ndarray, pos: np.ndarray, season: int, sums: Optional[np.ndarray] = None) -> Scored:
    """Rows of forecasts laid on the data's grid: series [R] index into the panel (values
    [total] filled, observed [total], offsets [n + 1]); origin [R] and pos [R] the grid
    positions of each row's origin and time (pos > origin). Every origin must have a season of
    history before it (origin >= season: the caller checks, see has_history): the naive
    forecast repeats the value at the origin, the seasonal naive the one a season before the
    row's time (as baselines.seasonal_naive), and the scale is the mean |x[t] - x[t - season]|
    over the history up to the origin (as metrics.seasonal_scale). sums: seasonal_sums of the
    panel, for callers that score several files of one panel (made here when None)."""
    values = np.asarray(values, dtype=np.float64)
    off = offsets[series]
    length = offsets[series + 1] - off
    step = pos - origin
    pending = pos >= length
    at = off + np.minimum(pos, length - 1)
    seen = ~pending if observed is None else ~pending & observed[at]
    actual = np.where(seen, values[at], np.nan)
    naive = values[off + origin]
    snaive = values[off + origin + 1 - season + (step - 1) % season]
    if sums is None:
        sums = seasonal_sums(values, offsets, season)
    count = origin - season + 1
    scale = np.full(len(series), np.nan)
    np.divide(sums[off + origin], count, out=scale, where=count > 0)
    return Scored(actual, naive, snaive, scale, pending)


def has_history(origin: np.ndarray, season: int) -> np.ndarray:
    """Whether a row's origin has what the baselines and the scale need: a season of history
    before it and one seasonal difference."""
    return np.asarray(origin) >= season


def seasonal_sums(values: np.ndarray, offsets: np.ndarray, season: int) -> np.ndarray:
    """[total] per point t, the sum of |x[u] - x[u - season]| over u in [season, t] of its
    series: the numerator of the MASE scale up to any origin (no loop over rows or series)."""
    values = np.asarray(values, dtype=np.float64)
    t = np.arange(len(values))
    first = np.repeat(offsets[:-1], np.diff(offsets))  # [total] offset of each point's series
    d = np.zeros(len(values))
    use = t - first >= season
    d[use] = np.abs(values[t[use]] - values[t[use] - season])
    # A sum restarted at every series (no cancellation against other, larger series' sums):
    # d is 0 for a series' first season points, so the sum up to the origin is the total.
    return pd.Series(d).groupby(first).cumsum().to_numpy()


# ---------------------------------------------------------------- the summary


WINDOW = ["checkpoint_sha256", "series_id", "origin"]  # one forecast: its rows are its horizon steps


def summary(rows: pd.DataFrame, horizon: int, levels: list[str]) -> dict[str, Any]:
    """The scores of scored rows (the history's columns; one checkpoint's, as a rule): MAE,
    sMAPE and MASE of the model and both baselines over the same rows, skill over seasonal
    naive, every interval's realized coverage and width, the error by horizon step and the
    worst series. A forecast (series, origin) counts as complete when all horizon steps are
    scored, partial otherwise; MASE is the mean over forecasts of MAE / scale, as in backtest."""
    y = rows["actual"].to_numpy(dtype=np.float64)
    scale = rows["scale"].to_numpy(dtype=np.float64)
    ok = np.isfinite(scale) & (scale > 0)
    windows = rows.groupby(WINDOW, sort=False).ngroup().to_numpy()
    n_windows = int(windows.max()) + 1 if len(windows) else 0
    per_window = np.bincount(windows, minlength=n_windows)
    out: dict[str, Any] = {
        "rows": int(len(rows)),
        "forecasts": n_windows,
        "complete": int((per_window >= horizon).sum()),
        "partial": int((per_window < horizon).sum()),
        "series": int(rows["series_id"].nunique()),
        "origins": int(rows["origin"].nunique()),
        "metrics": {},
    }
    for name in MODELS:
        f = rows["forecast" if name == "model" else name].to_numpy(dtype=np.float64)
        err = np.abs(y - f)
        out["metrics"][name] = {"mae": metrics.mae(y, f), "smape": metrics.smape(y, f),
                                "mase": _mase(err, scale, ok, windows, n_windows)}
    m, b = out["metrics"]["model"], out["metrics"]["seasonal_naive"]
    key = "mase" if np.isfinite(m["mase"]) and np.isfinite(b["mase"]) and b["mase"] > 0 else "mae"
    out["skill"] = 1.0 - m[key] / b[key] if b[key] > 0 else float("nan")
    out["skill_metric"] = key
    out["intervals"] = {level: _interval(rows, y, level) for level in levels}
    out["by_step"] = _by_step(rows, y, scale, ok)
    out["worst"] = _worst(rows, y, scale, ok, windows, n_windows)
    return out


def _window_mase(err: np.ndarray, scale: np.ndarray, ok: np.ndarray, windows: np.ndarray, n: int) -> np.ndarray:
    """[n] every forecast's MAE / scale: NaN for one without a usable scale."""
    total = np.bincount(windows, weights=err, minlength=n)
    count = np.bincount(windows, minlength=n)
    w_scale = np.full(n, np.nan)
    w_scale[windows[ok]] = scale[ok]
    out = np.full(n, np.nan)
    np.divide(total, count * w_scale, out=out, where=np.isfinite(w_scale) & (count > 0))
    return out


def _mase(err: np.ndarray, scale: np.ndarray, ok: np.ndarray, windows: np.ndarray, n: int) -> float:
    """Mean over forecasts of their MAE / scale (forecasts without a usable scale left out)."""
    per = _window_mase(err, scale, ok, windows, n)
    return float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")


def _interval(rows: pd.DataFrame, y: np.ndarray, level: str) -> dict[str, Any]:
    lo = rows.get(f"lo-{level}")
    hi = rows.get(f"hi-{level}")
    if lo is None or hi is None:
        return {"nominal": float(level), "coverage": float("nan"), "width": float("nan"), "rows": 0}
    lo, hi = lo.to_numpy(dtype=np.float64), hi.to_numpy(dtype=np.float64)
    has = np.isfinite(lo) & np.isfinite(hi)
    inside = (y[has] >= lo[has]) & (y[has] <= hi[has])
    return {"nominal": float(level), "coverage": 100.0 * float(inside.mean()) if has.any() else float("nan"),
            "width": float(np.mean(hi[has] - lo[has])) if has.any() else float("nan"), "rows": int(has.sum())}


def _by_step(rows: pd.DataFrame, y: np.ndarray, scale: np.ndarray, ok: np.ndarray) -> list[dict[str, Any]]:
    """MAE and scaled MAE (|error| / scale) of the model at every horizon step."""
    step = rows["step"].to_numpy(dtype=np.int64)
    err = np.abs(y - rows["forecast"].to_numpy(dtype=np.float64))
    out = []
    for s in np.unique(step):  # one entry per horizon step: at most the horizon, each vectorised
        at = step == s
        scaled = err[at & ok] / scale[at & ok]
        out.append({"step": int(s), "rows": int(at.sum()), "mae": float(err[at].mean()),
                    "scaled_mae": float(scaled.mean()) if len(scaled) else float("nan")})
    return out


def _worst(rows: pd.DataFrame, y: np.ndarray, scale: np.ndarray, ok: np.ndarray, windows: np.ndarray,
           n: int) -> list[dict[str, Any]]:
    """The series with the highest MASE (mean over their forecasts), worst first."""
    per = _window_mase(np.abs(y - rows["forecast"].to_numpy(dtype=np.float64)), scale, ok, windows, n)
    use = np.isfinite(per)
    if not use.any():
        return []
    first = np.full(n, -1)
    first[windows[::-1]] = np.arange(len(windows))[::-1]
    ids = rows["series_id"].iloc[first].astype(str).to_numpy()  # only the forecasts' first rows become text
    frame = pd.DataFrame({"series": ids[use], "mase": per[use]})
    per = frame.groupby("series", sort=True)["mase"].agg(["mean", "size"]).sort_values("mean", ascending=False, kind="stable")
    return [{"series": str(s), "mase": float(r["mean"]), "forecasts": int(r["size"])}
            for s, r in per.head(WORST).iterrows()]


# ---------------------------------------------------------------- validation and drift


def validation_of(card: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's validation figures in the summary's terms (model, seasonal naive, the
    intervals' coverage and width); {} when the card has none."""
    v = card.get("validation") or {}
    model = v.get(card.get("cell") or "gru") or v.get("gru") or {}
    if not model:
        return {}
    out = {"mae": model.get("mae"), "smape": model.get("smape"), "mase": model.get("mase"),
           "skill": v.get("skill"), "intervals": {}}
    for level in card.get("intervals") or ():
        name = f"{level:g}"
        out["intervals"][name] = {"coverage": model.get(f"coverage_{name}"), "width": model.get(f"width_{name}")}
    return out


def ratios(realized: dict[str, Any], validation: dict[str, Any]) -> dict[str, Optional[float]]:
    """Realized / validation for sMAPE and MASE, which are free of the series' scale: above 1 the
    model does worse than it did on its validation windows. (Not MAE: the realized rows may be
    other series than the validation's, and the ratio would compare their sizes.)"""
    out: dict[str, Optional[float]] = {}
    for key in ("smape", "mase"):
        r, v = realized["metrics"]["model"].get(key), validation.get(key)
        ok = r is not None and v is not None and np.isfinite(r) and np.isfinite(v) and v > 0
        out[key] = float(r / v) if ok else None
    return out


def parse_percent(text: str, flag: str) -> float:
    """'25%', '25' -> 25.0; ValueError with the flag's name otherwise."""
    raw = str(text).strip().rstrip("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{flag} takes a percentage such as 25%, got '{text}'") from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{flag} takes a percentage of 0 or more, such as 25%, got '{text}'")
    return value


def parse_coverage(text: str, flag: str = "--min-coverage") -> dict[str, float]:
    """'70' or '70%': every interval at least 70 % realized coverage; '80=70,95=90': per level.
    Returns level text ('*' for every level) -> percent."""
    out: dict[str, float] = {}
    for item in str(text).split(","):
        level, sep, value = item.strip().partition("=")
        if not sep:
            level, value = "*", level
        else:
            try:
                level = f"{float(level.rstrip('%')):g}"
            except ValueError:
                raise ValueError(f"{flag} takes a percentage, or LEVEL=PERCENT pairs such as 80=70,95=90; got "
                                 f"'{item.strip()}'") from None
        pct = parse_percent(value, flag)
        if pct > 100:
            raise ValueError(f"{flag} takes a coverage of 100% at most, got '{item.strip()}'")
        out[level] = pct
    return out
