"""Rolling-origin evaluation: forecasts from many cutoffs of every series, scored beside naive
and seasonal naive, from one loaded dataset and one batched pass through the model.

An *origin* is a number of observed points of a series; the forecast from it covers the points
``[origin, origin + horizon)``, which the data holds, so it can be scored. Window 0 is the last
horizon of every series, window k starts ``k x stride`` points earlier.

``evaluate`` scores a trained model on a file; ``backtest`` first trains on each series up to its
oldest origin (once, or once per window with ``refit``) and then scores the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd
import torch

from grucast import checkpoint
from grucast.config import machine, settings, validate
from grucast.config.settings import Config
from grucast.data.freq import time_at
from grucast.data.panel import Panel, build_panel
from grucast.data.schema import Table
from grucast.data.table import load_table, load_table_like
from grucast.data.write import frame_writer
from grucast.errors import ConfigError, DataError
from grucast.evaluation import scoring
from grucast.features import layout
from grucast.models.network import members
from grucast.ops import paths, publish
from grucast.training.defaults import resolve, training_windows
from grucast.training.loop import Callback
from grucast.training.runtime import select_device, set_threads
from grucast.workflows.fit import fit_table
from grucast.workflows.forecasting import forecast, forecast_columns, id_columns, load_model
from grucast.workflows.summary import DataSummary, summarize

MODELS = scoring.MODELS


@dataclass
class Origins:
    series: np.ndarray  # [W] panel series index
    origin: np.ndarray  # [W] observed points before the forecast
    window: np.ndarray  # [W] 0 for the last horizon, k for k strides earlier


def origins(lengths: np.ndarray, horizon: int, windows: int, stride: int, min_history: int) -> Origins:
    """Every (series, window) whose forecast lies inside the series and has min_history points
    before it; vectorised, no loop over series."""
    n = len(lengths)
    w = np.tile(np.arange(windows), n)
    s = np.repeat(np.arange(n), windows)
    o = lengths[s] - horizon - w * stride
    ok = o >= min_history
    return Origins(series=s[ok], origin=o[ok].astype(np.int64), window=w[ok])


@dataclass
class EvaluationResult:
    overall: dict[str, dict[str, float]]  # model -> metric -> value, pooled over every window
    per_series: pd.DataFrame  # one row per series and model
    forecasts: pd.DataFrame  # one row per window and step: actual, forecast, baselines
    windows: int
    series: int
    horizon: int
    season: int
    stride: int
    skipped: list[str]  # series too short for any window
    data: DataSummary
    trainings: int = 0  # models trained (backtest)
    train_seconds: float = 0.0
    seconds: float = 0.0
    intervals: dict[str, Any] = field(default_factory=dict)
    config: Optional[Config] = None
    skill: float = float("nan")  # the GRU's over seasonal naive, 1 - GRU / baseline, as in validation
    skill_metric: str = "mase"
    comparison: Optional[Any] = None  # --cell gru,lstm: evaluation.compare.Comparison

    def to_dict(self) -> dict[str, Any]:
        extra = {"comparison": self.comparison.to_dict()} if self.comparison is not None else {}
        return {
            "windows": self.windows,
            "series": self.series,
            "horizon": self.horizon,
            "season": self.season,
            "stride": self.stride,
            "skipped": self.skipped,
            "metrics": self.overall,
            "skill": self.skill,
            "skill_metric": self.skill_metric,
            "trainings": self.trainings,
            "train_seconds": round(self.train_seconds, 3),
            "seconds": round(self.seconds, 3),
            **extra,
        }


def _oldest(org: Origins, n: int) -> np.ndarray:
    """[n] every series' oldest origin, -1 for a series without one."""
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, org.series, org.origin)
    return np.where(first == np.iinfo(np.int64).max, -1, first)


def _checked(windows: int, stride: Optional[int], horizon: int) -> int:
    if windows < 1:
        raise ConfigError(f"--windows must be at least 1, got {windows}")
    stride = horizon if stride is None else stride
    if stride < 1:
        raise ConfigError(f"--stride must be at least 1, got {stride}")
    return stride


def _room(longest: int, horizon: int, stride: int, need: int) -> int:
    """How many windows of horizon steps, stride apart, the newest ending at the end, fit in a
    series of longest points with need points before each (Python integers: no overflow)."""
    return 0 if longest - horizon < need else (longest - horizon - need) // stride + 1


def _fits(windows: int, stride: int, explicit_stride: bool, horizon: int, lengths: np.ndarray, need: int,
          why: str, quantiles: int) -> int:
    """--windows and --stride against the data, before any window is laid out: ConfigError when
    more windows are asked for than the longest series has room for (saying how many fit), when
    an explicit stride is longer than the longest series, or when the forecasts of every window
    would not fit in this machine's memory. Returns the room; where it is 0 (no window fits at
    all) the caller says so, before laying out any window."""
    longest = int(lengths.max()) if len(lengths) else 0
    if explicit_stride and stride > longest:
        raise ConfigError(f"--stride {stride:,} is longer than the longest series ({longest:,} points): use a "
                          f"stride of at most {longest:,}")
    room = _room(longest, horizon, stride, need)
    if 1 <= room < windows:
        raise ConfigError(
            f"--windows {windows:,}: the longest series ({longest:,} points) has room for at most {room:,} window(s) of "
            f"{horizon} steps, {stride} apart, each after {why}; use --windows {room:,} or fewer"
            + (" or a smaller --stride" if stride > 1 else "")
        )
    if room >= 1:
        per = np.clip((lengths.astype(np.int64) - horizon - need) // stride + 1, 0, windows)
        rows = int(per.sum()) * horizon
        machine.check_memory(f"scoring {int(per.sum()):,} windows of {horizon} steps", rows * 16 * (12 + 2 * quantiles),
                                "use fewer --windows or a larger --stride")
    return room


def _need(input_size: Optional[int], season: int, train: int = 0) -> tuple[int, str]:
    """The points a backtest window needs before it, and why, quoting the limit that applies."""
    need = max(input_size or 1, season, train)
    if input_size is None or need > input_size:
        if need == season:
            return need, f"{need} points of history (a season, for the seasonal baseline)"
        if need == train:
            return need, f"{need} points (the least a model trains on: 1 + horizon + val_size)"
    return need, f"input_size {need} points of history"


def _forecast(ckpt: checkpoint.Checkpoint, model: torch.nn.Module, panel: Panel, org: Origins,
              device: torch.device) -> np.ndarray:
    """Forecasts [W, H] (or calibrated quantiles [W, H, Q]) from every origin, in batches."""
    cfg, spec = ckpt.config, ckpt.features
    data = layout.build(panel, spec, cfg.model.scaler, device)
    L = cfg.model.input_size
    starts = data.offsets[org.series] + data.pad + org.origin - L
    return forecast(ckpt, model, data, starts)


def _score(table: Table, panel: Panel, cfg: Config, org: Origins, f: np.ndarray) -> tuple[scoring.Scores, pd.DataFrame]:
    """The GRU and the baselines scored over the windows, pooled and per series
    (evaluation.scoring, as validation scores them), and the forecast frame."""
    H = cfg.model.horizon
    quantiles = settings.output_quantiles(cfg.model)
    windows = scoring.Windows(
        values=panel.values, offsets=panel.offsets, observed=panel.observed,
        targets=panel.offsets[org.series] + org.origin,  # panel index of every first forecast point
        series=org.series,
        in_sample=np.maximum(_oldest(org, panel.n_series), 0),  # every series' points before its oldest origin
        season=cfg.data.season, horizon=H,
    )
    point = f[..., quantiles.index(0.5)] if quantiles else f
    scores = scoring.score(windows, point, f if quantiles else None, quantiles, settings.interval_levels(cfg.model),
                           ids=panel.ids)
    return scores, _frame(table, panel, cfg, org, f, scores)


def _frame(table: Table, panel: Panel, cfg: Config, org: Origins, f: np.ndarray,
           scores: scoring.Scores) -> pd.DataFrame:
    """One row per window and step: its series, cutoff, time, window, actual, the GRU's
    forecast (and interval columns) and the baselines'."""
    H = cfg.model.horizon
    ids = np.repeat(panel.ids[org.series], H)
    columns = id_columns(table, table.schema, ids)
    time_col = table.schema.time_col
    k = org.origin[:, None] + np.arange(H)
    columns["cutoff"] = np.repeat(np.asarray(_times(panel, org.series, org.origin - 1)), H)
    columns[time_col] = _times(panel, np.repeat(org.series, H), k.ravel())
    columns["window"] = np.repeat(org.window, H)
    columns["actual"] = scores.y.ravel()
    columns.update(forecast_columns(cfg, f))
    columns["naive"] = scores.forecasts["naive"].ravel()
    columns["seasonal_naive"] = scores.forecasts["seasonal_naive"].ravel()
    return pd.DataFrame(columns)


def _times(panel: Panel, series: np.ndarray, k: np.ndarray):
    out = time_at(panel.freq, panel.start[series], k)
    return np.asarray(out) if panel.freq.kind == "int" else out


# manifest(result) -> the manifest of each written file, from its path, size and sha256
Manifest = Callable[["EvaluationResult"], Callable[[dict[str, Any]], dict[str, Any]]]


def write_outputs(result: EvaluationResult, out_path: Optional[Path], metrics_path: Optional[Path],
           manifest: Optional[Manifest], before_publish: Optional[Callable[[EvaluationResult], None]]) -> None:
    """Publish the forecasts and the metrics together (ops.publish): both visible with their
    manifests, or neither. manifest(result) gives the function from a file's identity to its manifest;
    before_publish(result) runs last before anything becomes visible."""
    frames = []
    if out_path is not None:
        frames.append((Path(out_path), result.forecasts))
    if metrics_path is not None:
        pooled = [{"series": "(all)", "model": name, "windows": result.windows, **scores}
                  for name, scores in result.overall.items()]
        if result.comparison is not None:  # every run's pooled rows, as its per-series rows
            pooled = [{"series": "(all)", "cell": run.cell, "seed": run.seed, "model": name, "windows": result.windows,
                       **scores} for run in result.comparison.runs
                      for name, scores in {"gru": run.metrics, **_baselines(result.overall)}.items()]
        frames.append((Path(metrics_path), pd.concat([pd.DataFrame(pooled), result.per_series], ignore_index=True)))

    described = None if manifest is None or not frames else manifest(result)
    staged = [publish.Staged(path, frame_writer(frame, path), manifest=described)
              for path, frame in frames]
    if before_publish is not None:
        before_publish(result)
    publish.publish(staged)


def _baselines(overall: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {k: v for k, v in overall.items() if k in ("naive", "seasonal_naive")}


def evaluate(model_path: Path, data_path: Path, windows: int = 1, stride: Optional[int] = None,
             device: str = "auto", threads: Optional[int] = None, out_path: Optional[Path] = None,
             metrics_path: Optional[Path] = None, manifest: Optional[Manifest] = None,
             before_publish: Optional[Callable[["EvaluationResult"], None]] = None) -> EvaluationResult:
    """Score a trained model on a file from the last `windows` origins of every series.
    out_path, metrics_path: files to write (with a manifest from manifest(result) beside each)."""
    started = time.perf_counter()
    machine.check_threads("--threads", threads)  # before anything is read
    paths.run_paths(model=model_path, data=data_path, output=out_path, metrics=metrics_path, lock=False)
    ckpt = checkpoint.load(Path(model_path))
    cfg = ckpt.config
    H = cfg.model.horizon
    explicit_stride = stride is not None
    stride = _checked(windows, stride, H)
    table = load_table_like(Path(data_path), ckpt.schema, cfg.data)
    panel = build_panel(table, cfg.data.fill, freq=ckpt.freq)
    need = max(cfg.model.input_size - ckpt.features.pad, cfg.data.season)
    room = _fits(windows, stride, explicit_stride, H, panel.lengths, need, f"{need} points of history",
                 len(settings.output_quantiles(cfg.model)))
    org = origins(panel.lengths, H, windows, stride, need) if room else None
    if org is None or len(org.series) == 0:
        raise DataError(
            f"no series of {Path(data_path).name} is long enough to evaluate: a window needs {need} points of history "
            f"and {H} to score, and the longest series has {int(panel.lengths.max())}"
        )
    set_threads(threads)
    dev = select_device(device)
    f = _forecast(ckpt, load_model(ckpt, dev, str(model_path)), panel, org, dev)
    result = scored(table, panel, cfg, org, f, stride)
    result.seconds = time.perf_counter() - started
    write_outputs(result, out_path, metrics_path, manifest, before_publish)
    return result


def scored(table: Table, panel: Panel, cfg: Config, org: Origins, f: np.ndarray, stride: int) -> EvaluationResult:
    """The result of forecasts f from the origins org: scored beside the baselines, pooled and
    per series, with the forecast frame."""
    scores, frame = _score(table, panel, cfg, org, f)
    used = np.unique(org.series)
    return EvaluationResult(
        overall=scores.overall, per_series=pd.DataFrame(scores.per_series), forecasts=frame,
        windows=int(len(org.series)), series=int(len(used)), horizon=cfg.model.horizon, season=cfg.data.season,
        stride=stride, skipped=[str(i) for i in np.delete(panel.ids, used)] + list(panel.dropped),
        data=summarize(table, panel), config=cfg, skill=scores.skill, skill_metric=scores.skill_metric,
    )


def _truncate(table: Table, panel: Panel, cut: np.ndarray) -> Table:
    """The table with every series cut before its point cut[i] (all of it where cut is -1)."""
    frame = table.frame
    codes = pd.Index(panel.ids).get_indexer(frame["series_id"])
    limit = _times(panel, np.arange(panel.n_series), np.maximum(cut, 0))
    if panel.freq.kind == "int":
        t, lim = frame["time"].to_numpy(dtype=np.int64), np.asarray(limit, dtype=np.int64)
    else:
        t = pd.DatetimeIndex(frame["time"]).as_unit("ns")
        lim = pd.DatetimeIndex(limit).as_unit("ns")
        if t.tz is not None:
            t, lim = t.tz_convert("UTC"), lim.tz_convert("UTC")
        elif lim.tz is not None:
            lim = lim.tz_convert("UTC").tz_localize(None)
        t, lim = t.asi8, lim.asi8
    keep = (codes < 0) | (cut[np.maximum(codes, 0)] < 0) | (t < lim[np.maximum(codes, 0)])
    return Table(frame=frame[keep].reset_index(drop=True), schema=table.schema, path=table.path,
                 notes=table.notes, parts=table.parts)


def backtest(data_path: Path, cfg: Config, windows: int = 3, stride: Optional[int] = None, refit: bool = False,
             callback: Optional[Callback] = None, out_path: Optional[Path] = None,
             metrics_path: Optional[Path] = None, manifest: Optional[Manifest] = None,
             config_path: Optional[Path] = None,
             before_publish: Optional[Callable[["EvaluationResult"], None]] = None) -> EvaluationResult:
    """Train on every series up to its oldest origin (or up to each origin with refit) and
    score forecasts from `windows` origins per series, the newest ending at the series' end."""
    started = time.perf_counter()
    paths.run_paths(data=data_path, config=config_path, output=out_path, metrics=metrics_path, lock=False)
    plan = plan_backtest(Path(data_path), cfg, windows, stride, refit)
    set_threads(plan.cfg.training.threads)
    run = fit_forecast(plan, plan.cfg, select_device(plan.cfg.training.device), callback)
    result = scored(plan.table, plan.full, run.cfg, plan.org, run.f, plan.stride)
    result.trainings, result.train_seconds = len(plan.rounds), run.train_seconds
    result.seconds = time.perf_counter() - started
    write_outputs(result, out_path, metrics_path, manifest, before_publish)
    return result


@dataclass
class Plan:
    """What every training of a backtest shares: the data, the settings resolved on what the
    first training sees, the scored windows and the training rounds (None: one training)."""

    table: Table
    full: Panel
    cfg: Config
    org: Origins
    stride: int
    rounds: list[Optional[int]]
    training_windows: int  # of the first training


def plan_backtest(data_path: Path, cfg: Config, windows: int, stride: Optional[int], refit: bool) -> Plan:
    """The data read and checked against the windows asked for (DataError or ConfigError when
    they do not fit), the settings resolved, and the windows laid out."""
    table = load_table(data_path, cfg.data)
    full = build_panel(table, fill=None)
    first = resolve(cfg, full.freq, full.lengths)[0]  # checks the settings against the whole series
    H = first.model.horizon
    explicit_stride = stride is not None
    stride = _checked(windows, stride, H)
    # Before the training data is cut at the oldest origin: the oldest window needs the history
    # its scoring reads and, before it, enough points to train on.
    need, why = _need(cfg.model.input_size, first.data.season, 1 + H + first.training.val_size)
    if _fits(windows, stride, explicit_stride, H, full.lengths, need, why,
             len(settings.output_quantiles(first.model))) == 0:
        raise DataError(
            f"no series of {data_path.name} is long enough to backtest {windows} window(s) of {H} steps: "
            f"each needs {why}, and the longest series has {int(full.lengths.max())} in all"
        )
    # The defaults that depend on the data (input_size) follow what the first training sees.
    seen = full.lengths - H - (windows - 1) * stride
    cfg, _ = resolve(validate.replace(cfg, model={"horizon": H}), full.freq, seen)
    full.fill(cfg.data.fill)
    # Every scored window has input_size points of history (and a season for the baseline).
    need, why = _need(cfg.model.input_size, cfg.data.season)
    org = origins(full.lengths, H, windows, stride, need)
    if len(org.series) == 0:
        raise DataError(
            f"no series of {data_path.name} is long enough to backtest {windows} window(s) of {H} steps: "
            f"each needs {why}, and the longest series has {int(full.lengths.max())} in all"
        )
    rounds = sorted(set(org.window.tolist()), reverse=True) if refit else [None]
    return Plan(table, full, cfg, org, stride, rounds, training_windows(cfg, np.maximum(seen, 0)))


@dataclass
class Fitted:
    """The forecasts of every scored window from the network(s) a backtest trained, and what
    it took."""

    f: np.ndarray
    cfg: Config  # the last training's
    train_seconds: float  # every training, start to end
    epochs: float  # trained, over every training and ensemble member
    step_seconds: float  # the time of those epochs' training steps
    forecast_seconds: float
    parameters: int  # of one network


def fit_forecast(plan: Plan, cfg: Config, dev: torch.device, callback: Optional[Callback]) -> Fitted:
    """Train with cfg on every series up to its oldest origin (once, or once per round) and
    forecast the windows of each round."""
    org, full = plan.org, plan.full
    f, train_seconds, forecast_seconds, epochs, steps, last_cfg, parameters = None, 0.0, 0.0, 0.0, 0.0, cfg, 0
    for w in plan.rounds:
        chosen = org.window == w if w is not None else np.ones(len(org.series), dtype=bool)
        cut = _oldest(_subset(org, chosen), full.n_series)  # -1: a series outside the test keeps all its points
        t0 = time.perf_counter()
        ckpt, trained = fit_table(_truncate(plan.table, full, cut), cfg, callback)
        train_seconds += time.perf_counter() - t0
        epochs, steps = epochs + trained.fit.epochs, steps + trained.fit.train_seconds
        t0 = time.perf_counter()
        model = load_model(ckpt, dev)
        fw = _forecast(ckpt, model, full, _subset(org, chosen), dev)
        forecast_seconds += time.perf_counter() - t0
        parameters = sum(p.numel() for p in members(model)[0].parameters())
        if f is None:
            f = np.zeros((len(org.series), *fw.shape[1:]), dtype=np.float64)
        f[chosen] = fw
        last_cfg = trained.config
    return Fitted(f, last_cfg, train_seconds, epochs, steps, forecast_seconds, parameters)


def _subset(org: Origins, chosen: np.ndarray) -> Origins:
    return Origins(series=org.series[chosen], origin=org.origin[chosen], window=org.window[chosen])
