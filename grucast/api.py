"""The library's front door: one function per command, each returning a result dataclass.

file -> table (io) -> panel -> windows -> model (fit) -> checkpoint / forecasts -> writers.
The CLI is a thin layer over these functions; they print nothing.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd
import torch

from grucast import baselines, checkpoint, features, guards, kernels, metrics, runs, sniff
from grucast import model as model_mod
from grucast import config as config_mod
from grucast.config import Config
from grucast.errors import CheckpointError, ConfigError, DataError, Interrupted
from grucast.calibration import apply as calibrated
from grucast.calibration import calibrate
from grucast.features import WindowData
from grucast.forecast import predict_windows
from grucast.io import Schema, Table, load_future, load_table, load_table_like, merge_future, preview
from grucast.panel import Freq, Panel, build_panel
from grucast.runtime import select_device, set_threads
from grucast.train import Callback, FitResult, fit_all
from grucast.windows import series_of, split_windows
from grucast.writers import frame_writer

# ---------------------------------------------------------------- settings that depend on the data


MAX_DEFAULT_INPUT = 336


def default_input_size(horizon: int, season: int, intraday: bool) -> int:
    """Two horizons at least. Intraday data (and integer steps) also gets a week of its daily
    cycle (7 x season, at most 336 steps); other data at least one full season."""
    if intraday:
        return max(2 * horizon, min(7 * season, MAX_DEFAULT_INPUT))
    return max(2 * horizon, season)


# Below this many training windows (one long series, a few dozen short ones) the default
# network is halved and learns three times slower: with 64 units at 3e-3 such data overfits
# after about one epoch (ETTh1 h = 96, one series, 8,209 windows: test MSE 0.065 vs 0.057).
# M4 Hourly (about 180,000 windows), where the large defaults were tuned, is far above it.
SMALL_DATA_WINDOWS = 10_000
# Below it, three networks from consecutive seeds are trained and their forecasts averaged:
# ETTh1 h = 96 test MSE 0.0573 for the mean forecast of seeds 0-2 against 0.0572 / 0.0580 /
# 0.0601 alone (mean 0.0584). Such data trains in about a minute per network on two cores.
SMALL_DATA_ENSEMBLE = 3


def default_size(windows: int) -> tuple[int, float, int]:
    """GRU width, learning rate and ensemble size for a training set of this many windows
    (a short series' padded windows included, see resolve)."""
    return (32, 1e-3, SMALL_DATA_ENSEMBLE) if windows < SMALL_DATA_WINDOWS else (64, 3e-3, 1)


def resolve(cfg: Config, freq: Freq, lengths: np.ndarray) -> tuple[Config, list[str]]:
    """Fill the settings left open (season, horizon, input_size, val_size, hidden_size,
    learning_rate, ensemble, loss) from the data's frequency and series lengths; returns the
    resolved config and a note for each value chosen.

    Settings counted in time steps are checked against the longest series here, before anything
    is laid out, and the memory training needs against this machine's (train.memory_estimate):
    an absurd value is one clear line, not an allocation that fails or a numpy overflow."""
    from grucast.train import memory_estimate

    notes = []
    longest = int(np.max(lengths)) if len(lengths) else 0
    season = cfg.data.season
    if season is None:
        season = freq.season()
        if season is None:
            raise ConfigError("the time column holds integer steps, so the season cannot be inferred: pass --season M (1 for none)")
        notes.append(f"season {season} (from the frequency)")
    elif season > longest:
        raise ConfigError(
            f"{config_mod.label('data.season')} is {season:,}, but the longest series has {longest:,} points: the "
            f"seasonal baseline compares every value with the one a season earlier, so the season can be at most "
            f"{longest:,}; pass a smaller --season (1 for none)"
        )
    horizon = cfg.model.horizon
    if horizon is None:
        horizon = freq.default_horizon(season)
        if horizon is None:
            raise ConfigError(
                f"pass --horizon: integer steps with season {season} give no natural number of steps to forecast"
            )
        notes.append(f"horizon {horizon} (default for this frequency)")
    val_size = cfg.training.val_size if cfg.training.val_size is not None else horizon
    if val_size < horizon:
        raise ConfigError(f"training.val_size ({val_size}) must be at least the horizon ({horizon})")
    # A training window holds at least one observed input point, the horizon and the held-out
    # val_size (at least one horizon) after it: the bound no input_size or min_input can lift.
    if 1 + 2 * horizon > longest:
        what = (f"{config_mod.label('model.horizon')} {horizon:,}" if cfg.model.horizon is not None
                else f"the default horizon of this frequency ({horizon:,} steps)")
        most = (f"the horizon can be at most {(longest - 1) // 2:,}; pass a smaller --horizon" if longest >= 3
                else "a series needs at least 3 points")
        raise ConfigError(
            f"every series is too short for {what}: the longest has {longest:,} points, and a training window needs "
            f"at least min_input + horizon + val_size = 1 + {horizon:,} + {val_size:,} = {1 + horizon + val_size:,} "
            f"(val_size is the horizon or more); {most}"
        )
    if 1 + horizon + val_size > longest:
        raise ConfigError(
            f"{config_mod.label('training.val_size')} {val_size:,} is too large for the data: the longest series has "
            f"{longest:,} points, and a training window needs at least min_input + horizon + val_size = 1 + "
            f"{horizon:,} + {val_size:,} = {1 + horizon + val_size:,}; with horizon {horizon:,}, val_size can be at "
            f"most {longest - 1 - horizon:,}"
        )
    input_size = cfg.model.input_size
    if input_size is None:
        input_size = default_input_size(horizon, season, intraday=freq.intraday())
        # A default must not make most series unusable: shorten it until half of the series
        # have a horizon's worth of training windows, but never below one horizon.
        fits = int(np.median(lengths)) - val_size - 2 * horizon + 1
        if fits < input_size and fits >= horizon:
            input_size = fits
            notes.append(f"input_size {input_size} (default, shortened to fit half of the series)")
        else:
            notes.append(f"input_size {input_size} (default for horizon {horizon}, season {season})")
    # Training windows as make_spec lays them out: a series too short for a full window is
    # padded on the left down to min_input observed points.
    min_input = cfg.model.min_input or max(1, input_size // 4)
    if cfg.model.input_size is not None and input_size > longest and min_input + horizon + val_size > longest:
        # Every series would be padded up to input_size: refuse before laying that padding out.
        raise ConfigError(too_short(min_input, horizon, val_size, longest) + "; use a smaller --input-size or --horizon")
    full = lengths >= input_size + horizon + val_size
    per = np.where(full, lengths - input_size, np.maximum(lengths - min_input, 0)) - horizon - val_size + 1
    windows = int(np.maximum(per, 0).sum())
    hidden_size, learning_rate, ensemble = cfg.model.hidden_size, cfg.training.learning_rate, cfg.model.ensemble
    if hidden_size is None or learning_rate is None or ensemble is None:
        size, rate, members = default_size(windows)
        chosen = []
        if hidden_size is None:
            hidden_size = size
            chosen.append(f"hidden_size {size}")
        if learning_rate is None:
            learning_rate = rate
            chosen.append(f"learning_rate {rate:g}")
        if ensemble is None:
            ensemble = members
            chosen.append(f"ensemble {members}")
        side = "below" if windows < SMALL_DATA_WINDOWS else "at or above"
        notes.append(f"{', '.join(chosen)} (default for {windows:,} training windows, {side} {SMALL_DATA_WINDOWS:,})")
    resolved = config_mod.replace(
        cfg,
        data={"season": season},
        model={"horizon": horizon, "input_size": input_size, "hidden_size": hidden_size, "ensemble": ensemble},
        training={"val_size": val_size, "learning_rate": learning_rate,
                  "loss": config_mod.train_loss(cfg.model, cfg.training)},
    )
    d = resolved.data
    calendar = 2 * len(features.calendar_names(freq)) if d.calendar else 0  # a sine and a cosine per cycle
    inputs = 1 + len(d.past_covariates) + len(d.future_covariates) + calendar  # the mask, covariates, calendar
    parts = memory_estimate(resolved, int(np.sum(lengths)), len(lengths), windows, inputs)
    fmt = config_mod.format_bytes
    config_mod.check_memory(
        f"training (weights {fmt(parts['weights'])}, one batch {fmt(parts['activations'])}, data {fmt(parts['data'])})",
        sum(parts.values()),
        {"weights": "use a smaller --hidden-size, --num-layers or --ensemble",
         "activations": "use a smaller --batch-size, --input-size or --hidden-size",
         "data": "use a smaller --input-size (every short series is padded up to it) or a larger --min-input"}[
            max(parts, key=parts.get)],
    )
    return resolved, notes


# ---------------------------------------------------------------- train


def too_short(min_input: int, H: int, V: int, longest: int) -> str:
    """Short series are padded (see features.make_spec), so the bound is min_input, not input_size."""
    return (
        f"every series is too short to train on: a series needs at least min_input + horizon + val_size = "
        f"{min_input} + {H} + {V} = {min_input + H + V} points, and the longest has {longest}"
    )


@dataclass
class DataSummary:
    path: str
    notes: list[str]  # what was detected
    schema: Schema
    freq: Freq
    n_series: int
    n_points: int
    n_rows: int  # observations read (rows of a long file; values of a wide one)
    n_filled: int
    dropped: list[str]  # series with no values at all
    warnings: list[str] = field(default_factory=list)  # about covariates
    covariates_filled: dict[str, int] = field(default_factory=dict)  # column -> empty values filled

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "detected": self.notes,
            "schema": self.schema.to_dict(),
            "frequency": self.freq.to_dict(),
            "n_series": self.n_series,
            "n_points": self.n_points,
            "n_rows": self.n_rows,
            "n_filled": self.n_filled,
            "dropped": self.dropped,
            "warnings": self.warnings,
            "covariates_filled": self.covariates_filled,
        }


def _time_text(panel: Panel, t: Any) -> str:
    return str(int(t)) if panel.freq.kind == "int" else pd.Timestamp(t).isoformat()


def _summary(table: Table, panel: Panel, warnings: Optional[list[str]] = None,
             n_rows: Optional[int] = None) -> DataSummary:
    return DataSummary(
        path=str(table.path),
        notes=table.notes,
        schema=table.schema,
        freq=panel.freq,
        n_series=panel.n_series,
        n_points=int(panel.offsets[-1]),
        n_rows=len(table.frame) if n_rows is None else n_rows,
        n_filled=panel.n_filled,
        dropped=panel.dropped,
        warnings=list(warnings or []),
        covariates_filled=dict(panel.cov_filled),
    )


@dataclass
class TrainResult:
    checkpoint_path: Optional[Path]
    config: Config  # resolved
    config_notes: list[str]
    data: DataSummary
    short_series: list[str]  # too short for a training window; still in validation when possible
    train_windows: int
    val_windows: int
    device: str
    fit: FitResult
    metrics: dict[str, Any]
    seconds: float
    kernel: str = "reference"  # what ran the GRU: fused (grucast's CPU kernel) or reference (nn.GRU)
    gate: Optional[str] = None  # the quality gate's verdict, when one was asked for
    data_file: dict[str, Any] = field(default_factory=dict)  # path, bytes and sha256 of the file read

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": str(self.checkpoint_path),
            "quality_gate": self.gate,
            "data": self.data.to_dict(),
            "config": self.config.to_dict(),
            "defaults_chosen": self.config_notes,
            "short_series": self.short_series,
            "windows": {"train_per_epoch": self.train_windows, "validation": self.val_windows},
            "device": self.device,
            "training": {
                "kernel": self.kernel,
                "steps": self.fit.steps,
                "epochs": self.fit.epochs,
                "best_step": self.fit.best_step,
                "best_val_loss": self.fit.best_val_loss,
                "stop_reason": self.fit.stop_reason,
                "train_seconds": round(self.fit.train_seconds, 3),
                "windows_per_s": round(self.fit.windows_per_s, 1),
                "history": [r.__dict__ for r in self.fit.history],
                "members": [{k: v for k, v in m.items() if k != "history"} for m in self.fit.members],
            },
            "metrics": self.metrics,
            "seconds": round(self.seconds, 3),
        }


def _validation_metrics(model: torch.nn.Module, panel: Panel, data: WindowData, val_starts: np.ndarray,
                        cfg: Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """GRU and seasonal naive on the validation windows, on the original scale, over the
    targets that were observed; for a quantile model also the conformal calibration of its
    quantiles on those windows (else an empty dict)."""
    L, H, m = cfg.model.input_size, cfg.model.horizon, cfg.data.season
    V = cfg.training.val_size
    target_starts = data.to_panel(val_starts + L)  # in the panel's own indexing
    series = series_of(panel.offsets, target_starts)
    idx = target_starts[:, None] + np.arange(H)
    y = panel.values[idx].astype(np.float64)  # index first: no float64 copy of every point
    if panel.observed is not None:
        y[~panel.observed[idx]] = np.nan  # filled gaps are not scored
    f, window_scale = predict_windows(model, data, val_starts, L, with_scale=True)
    f = f.astype(np.float64)
    quantiles = config_mod.output_quantiles(cfg.model)
    calibration: dict[str, Any] = {}
    if quantiles and len(f):
        calibration = calibrate(y, f, window_scale.astype(np.float64), series, target_starts, quantiles,
                                config_mod.interval_levels(cfg.model))
        f = f[..., quantiles.index(0.5)]
    # Seasonal naive needs a full season of history before each target start.
    has_history = target_starts - m >= panel.offsets[series]
    if not has_history.any():
        return {"windows": 0}, calibration
    series, target_starts = series[has_history], target_starts[has_history]
    y, f, starts = y[has_history], f[has_history], val_starts[has_history]
    sn = baselines.seasonal_naive(panel.values, target_starts, m, H)
    scale = metrics.seasonal_scale(panel.values, panel.offsets, panel.lengths - V, m)[series]
    gru = metrics.point_scores(y, f, scale)
    base = metrics.point_scores(y, sn, scale)
    naive = metrics.point_scores(y, baselines.naive(panel.values, target_starts, H), scale)
    key = "mase" if np.isfinite(gru["mase"]) and np.isfinite(base["mase"]) and base["mase"] > 0 else "mae"
    skill = 1.0 - gru[key] / base[key] if base[key] > 0 else float("nan")
    out = {
        "windows": int(len(starts)),
        "series": int(len(np.unique(series))),
        "season": m,
        "gru": gru,
        "seasonal_naive": base,
        "naive": naive,
        "skill": skill,
        "skill_metric": key,
    }
    if calibration:
        out["intervals"] = calibration["coverage"]
        out["intervals_estimate"] = calibration["estimate"]
    return out, calibration


def train(data_path: Path, out_path: Path, cfg: Config, callback: Optional[Callback] = None,
          on_ready: Optional[Any] = None, fail_if_worse_than: Optional[str] = None,
          init_from: Optional[Path] = None, resume_from: Optional[Path] = None, stop: Optional[Any] = None,
          manifest: Optional[Callable[[TrainResult, dict[str, Any]], dict[str, Any]]] = None,
          before_publish: Optional[Callable[[TrainResult], None]] = None, table: Optional[Table] = None) -> TrainResult:
    """Read a file, train a global GRU forecaster on all its series, score it on the held-out
    last part of every series and save a checkpoint atomically.

    on_ready(summary, resolved_config, notes) is called once the data is loaded and the
    settings are resolved, before training starts. With fail_if_worse_than ('naive' or
    'seasonal-naive') a model whose validation MASE is worse than that baseline's is not saved:
    QualityGateError (exit 5), and out_path keeps the previous checkpoint.

    init_from: start from that checkpoint's weights, data schema and model settings (the
    training settings are cfg's): fine-tuning on new data of the same shape.
    stop (runs.stop_on_signals): when it fires, the run so far is saved to resume_path(out_path)
    and Interrupted raised; resume_from= that file continues it on the same data file.

    The checkpoint is published with manifest(result, identity) beside it (guards.publish: both
    or neither); without manifest, a stale manifest beside out_path is removed. No output may be
    one of the inputs (guards.run_paths). before_publish(result) runs last before the checkpoint
    becomes visible (the CLI renders its report there): if it fails, nothing is written.
    table: data_path already read with cfg.data (io.load_table), so that a bad file fails
    before torch is imported; not with init_from or resume_from, which read it their own way."""
    started = time.perf_counter()
    out_path = Path(out_path)
    guards.run_paths(data=data_path, init_from=init_from, resume=resume_from, output=out_path, train=True, lock=False)
    sniff.regular_file(Path(data_path), "DATA", DataError, "data file")  # hashed below, before it is read
    runs.check_baseline(fail_if_worse_than)  # a bad name fails before training, not after
    base, state = None, None
    if resume_from is not None:
        base = checkpoint.load(Path(resume_from))
        if not base.resume:
            raise CheckpointError(f"{resume_from} is a finished model, not an interrupted run: use --init-from to fine-tune it")
        cfg, state = base.config, _restored(base.resume["fit"])
    elif init_from is not None:
        base = checkpoint.load(Path(init_from))
        cfg = config_mod.replace(cfg, data=dataclasses.asdict(base.config.data), model=dataclasses.asdict(base.config.model))
    source = guards.file_identity(Path(data_path))  # once: for the checkpoint, a resume and the manifest
    data_sha = source["sha256"]
    if state is not None and data_sha != base.resume.get("data_sha256"):  # before reading: other data may not even parse
        raise CheckpointError(
            f"{Path(data_path).name} is not the data file of the run saved in {resume_from} "
            f"({base.info.get('data_file')}): a run resumes on the same data, byte for byte"
        )
    if base is not None:
        table = load_table_like(Path(data_path), base.schema, cfg.data)
    elif table is None:
        table = load_table(Path(data_path), cfg.data)
    try:
        ckpt, result = fit_table(table, cfg, callback, on_ready, base=base, resume=state, stop=stop, keep_rows=False)
    except Interrupted as e:
        path = resume_path(out_path)
        e.checkpoint.resume["data_sha256"] = data_sha
        e.args = (f"training interrupted by {e.args[0]}; the run so far is saved in {path}: continue it with "
                  f"grucast train {data_path} -o {out_path} --resume {path}",)
        checkpoint.save(e.checkpoint, path, announce=False)  # the state to resume from: no result
        raise
    result.gate = runs.quality_gate(result.metrics, fail_if_worse_than)
    ckpt.info["data_sha256"] = data_sha
    result.data_file = source
    result.checkpoint_path = out_path
    result.seconds = time.perf_counter() - started
    described = None if manifest is None else (lambda identity: manifest(result, identity))
    staged = guards.Staged(out_path, checkpoint.writer(ckpt), manifest=described)
    if before_publish is not None:
        before_publish(result)
    guards.publish([staged])
    if resume_from is not None and Path(resume_from) == resume_path(out_path):
        try:
            Path(resume_from).unlink(missing_ok=True)  # finished: the saved run has served
        except OSError:
            pass  # a leftover state only offers a resume that is no longer needed
    return result


resume_path = guards.resume_path


def _restored(state: dict[str, Any]) -> dict[str, Any]:
    """A saved fit state as fit() takes it: the optimizer's per-parameter state is keyed by
    integers, which the checkpoint stores as text."""
    state = dict(state)
    opt = dict(state["optimizer"])
    opt["state"] = {int(k): v for k, v in opt["state"].items()}
    state["optimizer"] = opt
    return state


def fit_table(table: Table, cfg: Config, callback: Optional[Callback] = None,
              on_ready: Optional[Any] = None, base: Optional[checkpoint.Checkpoint] = None,
              resume: Optional[dict[str, Any]] = None, stop: Optional[Any] = None,
              keep_rows: bool = True) -> tuple[checkpoint.Checkpoint, TrainResult]:
    """Train on the series of a loaded table: the checkpoint (not yet saved) and the result.
    With base, its frequency, feature layout (covariate scaling, categories, series ids) and
    weights are the starting point; with resume, the interrupted fit goes on. keep_rows=False
    lets go of the table's rows once the panel holds them (10 M rows: about 380 MB less while
    training); the table is then only good for its schema, path and notes."""
    started = time.perf_counter()
    panel = build_panel(table, fill=None, freq=base.freq if base else None)
    n_rows = len(table.frame)
    if not keep_rows:
        table.frame = table.frame.iloc[:0].copy()  # a copy: a slice would keep the rows alive
    cfg, notes = resolve(cfg, panel.freq, panel.lengths)
    # Gaps are filled knowing where validation starts, so no held-out value shapes a training target.
    panel.fill(cfg.data.fill, holdout=cfg.training.val_size)
    schema = table.schema
    cfg = config_mod.replace(cfg, data={  # what was detected, so the stored config says it
        "time_col": schema.time_col, "id_col": schema.id_col, "target": schema.target,
        "format": schema.format if schema.format in ("long", "wide") else cfg.data.format,
    })
    L, H, V = cfg.model.input_size, cfg.model.horizon, cfg.training.val_size
    if base is not None:
        spec, warnings = base.features, []
    else:
        spec, warnings = features.make_spec(panel, cfg, schema.past_cols, schema.future_cols, schema.static_cols, V)
    if spec.mask:
        cfg = config_mod.replace(cfg, model={"min_input": L - spec.pad})
    summary = _summary(table, panel, warnings, n_rows)
    set_threads(cfg.training.threads)
    device = select_device(cfg.training.device)
    kernel = kernels.select(cfg.training.kernel, device, cfg.training.precision,
                            notify=getattr(callback, "on_note", None))
    if cfg.training.kernel == "auto":
        notes = notes + [kernel_note(kernel, device, cfg.training.precision)]
    data = features.build(panel, spec, cfg.model.scaler, device)
    train_starts, val_starts = split_windows(data.offsets, L, H, V)
    lengths = panel.lengths
    has_train = lengths + spec.pad >= L + H + V
    if len(train_starts) == 0:
        raise DataError(too_short(L - spec.pad, H, V, int(lengths.max())) + "; use a smaller --input-size or --horizon")
    short = [str(i) for i in panel.ids[~has_train]]
    if on_ready is not None:
        on_ready(summary, cfg, notes)

    model = model_mod.build(cfg.model, spec.sizes(cfg.model.series_embedding), cfg.training.seed).to(device)
    model_mod.set_kernel(model, kernel)
    if base is not None:
        _load_weights(model, base.state_dict, "the starting checkpoint")
    info = {
        "data_file": table.path.name,
        "n_series": panel.n_series,
        "n_points": int(panel.offsets[-1]),
        "first_time": _time_text(panel, panel.first_times().min()),
        "last_time": _time_text(panel, panel.last_times().max()),
        "train_windows": int(len(train_starts)),
        "val_windows": int(len(val_starts)),
    }
    try:
        result = fit_all(model, data, train_starts, val_starts, cfg, callback, stop=stop, resume=resume)
    except Interrupted as e:
        # The weights as they stand (an ensemble's finished members, the current one, the rest
        # untrained); the run goes on from the state in resume, these are for `grucast info`.
        e.checkpoint = checkpoint.Checkpoint(config=cfg, schema=table.schema, freq=panel.freq, features=spec,
                                             state_dict=model.state_dict(), info=info, resume={"fit": e.state})
        raise
    scores, calibration = _validation_metrics(model, panel, data, val_starts, cfg)

    ckpt = checkpoint.Checkpoint(
        config=cfg,
        schema=table.schema,
        freq=panel.freq,
        features=spec,
        calibration=calibration,
        state_dict=result.state_dict,
        history=[
            {"epoch": r.epoch, "step": r.step, "train_loss": r.train_loss, "val_loss": r.val_loss, "member": r.member}
            for r in result.history
        ],
        metrics=scores,
        info={**info, "best_step": result.best_step, "steps": result.steps},
    )
    return ckpt, TrainResult(
        checkpoint_path=None,
        config=cfg,
        config_notes=notes,
        data=summary,
        short_series=short,
        train_windows=int(len(train_starts)),
        val_windows=int(len(val_starts)),
        device=str(device),
        kernel=kernel,
        fit=result,
        metrics=scores,
        seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------- check


@dataclass
class CheckResult:
    """What `grucast check` found: can this file be trained on, and what would happen to it."""

    ok: bool
    problems: list[str]  # reasons it cannot be trained on
    warnings: list[str]  # things that will be handled, but the user should know
    data: Optional[DataSummary] = None
    config: Optional[Config] = None
    config_notes: list[str] = field(default_factory=list)
    lengths: dict[str, float] = field(default_factory=dict)
    gaps: int = 0  # grid points missing from the file
    empty: int = 0  # values present but empty
    constant: list[str] = field(default_factory=list)
    no_training_window: list[str] = field(default_factory=list)
    too_short_to_forecast: list[str] = field(default_factory=list)
    train_windows: int = 0
    min_input: Optional[int] = None  # observed input points a window needs (input_size unless padded)
    covariates: dict[str, dict[str, Any]] = field(default_factory=dict)
    future_covered: Optional[int] = None  # series whose future covariates cover the horizon
    future_not_covered: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "warnings": self.warnings,
            "data": self.data.to_dict() if self.data else None,
            "config": self.config.to_dict() if self.config else None,
            "defaults_chosen": self.config_notes,
            "lengths": self.lengths,
            "gaps": self.gaps,
            "empty_values": self.empty,
            "constant_series": self.constant,
            "series_without_training_window": self.no_training_window,
            "series_too_short_to_forecast": self.too_short_to_forecast,
            "train_windows": self.train_windows,
            "min_input": self.min_input,
            "covariates": self.covariates,
            "future_covered": self.future_covered,
            "future_not_covered": self.future_not_covered,
        }


def check(data_path: Path, cfg: Config) -> CheckResult:
    """Run the same loading code as train on a file and report what it finds, without training.
    A user error in the file is reported as a problem, not raised."""
    try:
        table = load_table(Path(data_path), cfg.data)
        fill = cfg.data.fill if cfg.data.fill != "error" else "interpolate"  # count gaps rather than stop at one
        panel = build_panel(table, fill)  # windows and lengths do not depend on how gaps are filled
    except (DataError, ConfigError) as e:
        return CheckResult(ok=False, problems=[str(e)], warnings=[])
    summary = _summary(table, panel)
    lengths = panel.lengths
    stats = {"min": int(lengths.min()), "median": float(np.median(lengths)), "max": int(lengths.max())}
    gaps, empty = panel.n_filled - panel.n_empty, panel.n_empty
    result = CheckResult(ok=True, problems=[], warnings=[], data=summary, lengths=stats, gaps=gaps, empty=empty)
    if panel.dropped:
        result.warnings.append(f"{len(panel.dropped)} series have no values and are skipped: {preview(panel.dropped)}")
    if panel.n_filled:
        if cfg.data.fill == "error":
            result.problems.append(
                f"{gaps:,} missing grid point(s) and {empty:,} empty value(s), and --fill error refuses them"
            )
        else:
            result.warnings.append(
                f"{gaps:,} missing grid point(s) and {empty:,} empty value(s) will be filled ({cfg.data.fill})"
            )
    # A series is constant when every value equals its first: scaling passes it through, but
    # there is nothing to learn from it.
    first = panel.values[panel.offsets[:-1]]
    same = np.repeat(first, lengths) == panel.values
    constant = np.bincount(np.repeat(np.arange(panel.n_series), lengths), weights=~same, minlength=panel.n_series) == 0
    result.constant = [str(i) for i in panel.ids[constant]]
    if result.constant:
        result.warnings.append(f"{len(result.constant)} constant series: {preview(result.constant)}")
    try:
        resolved, notes = resolve(cfg, panel.freq, lengths)
    except ConfigError as e:
        result.ok = False
        result.problems.append(str(e))
        return result
    result.config, result.config_notes = resolved, notes
    L, H, V = resolved.model.input_size, resolved.model.horizon, resolved.training.val_size
    schema = table.schema
    spec, cov_warnings = features.make_spec(panel, resolved, schema.past_cols, schema.future_cols, schema.static_cols, V)
    result.warnings += cov_warnings
    min_input = L - spec.pad
    result.min_input = min_input
    train_starts, _ = split_windows(features.layout_offsets(lengths, spec.pad), L, H, V)
    result.train_windows = int(len(train_starts))
    result.no_training_window = [str(i) for i in panel.ids[lengths < min_input + H + V]]
    result.too_short_to_forecast = [str(i) for i in panel.ids[lengths < min_input]]
    if result.train_windows == 0:
        result.problems.append(too_short(min_input, H, V, int(lengths.max())))
    elif result.no_training_window:
        result.warnings.append(
            f"{len(result.no_training_window)} series shorter than {min_input + H + V} points give no training window: "
            f"{preview(result.no_training_window)}"
        )
    padded = int(((lengths < L + H + V) & (lengths >= min_input + H + V)).sum()) if spec.mask else 0
    if padded:
        result.warnings.append(
            f"{padded} series shorter than input_size + horizon + val_size = {L + H + V} points are padded on the "
            f"left (down to min_input {min_input})"
        )
    if result.too_short_to_forecast:
        result.warnings.append(
            f"{len(result.too_short_to_forecast)} series shorter than {min_input} points cannot be forecast: "
            f"{preview(result.too_short_to_forecast)}"
        )
    for name in schema.past_cols + schema.future_cols + schema.static_cols:
        kind = "future" if name in schema.future_cols else ("past" if name in schema.past_cols else "static")
        entry: dict[str, Any] = {"kind": kind}
        if kind == "static":
            entry["type"] = "category" if name in spec.static_cat else "number"
            if name in spec.static_cat:
                entry["categories"] = len(spec.categories[name])
        else:
            entry["filled"] = int(panel.cov_filled.get(name, 0))
        result.covariates[name] = entry
    if panel.cov_filled:
        result.warnings.append(
            "empty covariate values will be filled forward: "
            + ", ".join(f"{k} {v:,}" for k, v in panel.cov_filled.items())
        )
    if schema.future_cols:
        result.future_not_covered = features.coverage(panel, schema.future_cols, H)
        covered = panel.n_series - len(result.future_not_covered)
        result.future_covered = covered
        if result.future_not_covered:
            result.warnings.append(
                f"future covariates cover the {H}-step horizon after the history for {covered} of {panel.n_series} "
                f"series; predict needs them for every series it forecasts (rows with an empty target, or --future FILE); "
                f"missing: {preview(result.future_not_covered, 3)}"
            )
    result.ok = not result.problems
    return result


# ---------------------------------------------------------------- info


def info(model_path: Path) -> dict[str, Any]:
    """A checkpoint's own description: file identity, versions, config, data schema and
    frequency, covariates, training period and size, validation metrics."""
    ckpt = checkpoint.load(Path(model_path))
    f = ckpt.features
    return {
        "file": guards.file_identity(Path(model_path)),
        "format_version": ckpt.format_version,
        "versions": {"grucast": ckpt.grucast_version, "torch": ckpt.torch_version},
        "parameters": int(sum(v.numel() for v in ckpt.state_dict.values())),
        "schema": ckpt.schema.to_dict(),
        "frequency": ckpt.freq.describe(),
        "frequency_spec": ckpt.freq.to_dict(),
        "covariates": {"past": list(f.past), "future": list(f.future), "static": list(f.static_num) + list(f.static_cat),
                       "calendar": list(f.calendar)},
        "quantiles": list(config_mod.output_quantiles(ckpt.config.model)),
        "calibrated": bool(ckpt.calibration),
        "training": ckpt.info,
        "metrics": ckpt.metrics,
        "config": ckpt.config.to_dict(),
    }


# ---------------------------------------------------------------- predict


@dataclass
class PredictResult:
    forecasts: pd.DataFrame  # id column (not for a single series), time column, "forecast"
    skipped: list[str]  # series too short for input_size
    horizon: int
    input_size: int
    data: DataSummary
    output_path: Optional[Path] = None
    seconds: float = 0.0
    min_input: Optional[int] = None  # a padded model forecasts series this long or longer
    notes: list[str] = field(default_factory=list)  # what the user should know (unseen categories)
    origins: dict[str, str] = field(default_factory=dict)  # series id -> time of its last observation

    @property
    def n_forecast(self) -> int:
        return len(self.forecasts) // self.horizon if self.horizon else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "series": self.n_forecast,
            "skipped": self.skipped,
            "no_values": self.data.dropped,
            "notes": self.notes,
            "output": str(self.output_path) if self.output_path else None,
        }


def id_columns(table: Table, schema: Schema, ids: np.ndarray) -> dict[str, Any]:
    """The output columns that name the series of every row: the id column as in the input
    (none for a single series), and with several targets a 'target' column."""
    columns: dict[str, Any] = {}
    id_col = schema.output_id_col
    if table.parts:
        pairs = [table.parts[str(i)] for i in ids]
        if id_col is not None:
            columns[id_col] = np.array([p[0] for p in pairs], dtype=object)
        name = "target" if "target" not in (id_col, schema.time_col) else "target_column"
        columns[name] = np.array([p[1] for p in pairs], dtype=object)
    elif id_col is not None:
        columns[id_col] = np.asarray(ids, dtype=object)
    return columns


def forecast_columns(cfg: Config, f: np.ndarray) -> dict[str, np.ndarray]:
    """'forecast' (the median of a quantile model) and, for a quantile model, lo-/hi- columns
    of every interval and a q column for every quantile asked for; f is [W, H] or [W, H, Q]."""
    quantiles = config_mod.output_quantiles(cfg.model)
    if not quantiles:
        return {"forecast": _round_float32(f.ravel())}
    columns = {"forecast": _round_float32(f[..., quantiles.index(0.5)].ravel())}
    for level in config_mod.interval_levels(cfg.model):
        lo, hi = metrics.level_quantiles(level)
        columns[f"lo-{level:g}"] = _round_float32(f[..., quantiles.index(lo)].ravel())
        columns[f"hi-{level:g}"] = _round_float32(f[..., quantiles.index(hi)].ravel())
    for q in cfg.model.quantiles:
        columns[f"q{q:g}"] = _round_float32(f[..., quantiles.index(q)].ravel())
    return columns


def forecast(ckpt: checkpoint.Checkpoint, model: torch.nn.Module, data: WindowData, starts: np.ndarray) -> np.ndarray:
    """Forecasts [W, H] of a checkpoint's model for windows whose inputs start at the layout
    indices starts; a quantile model's [W, H, Q] with the checkpoint's calibration applied."""
    f, scale = predict_windows(model, data, starts, ckpt.config.model.input_size, with_scale=True)
    f = f.astype(np.float64)
    if ckpt.calibration:
        f = calibrated(f, scale.astype(np.float64), np.asarray(ckpt.calibration["shifts"]))
    return f


def load_model(ckpt: checkpoint.Checkpoint, device: torch.device, source: str = "the checkpoint",
               kernel: str = "auto") -> torch.nn.Module:
    """The network (or ensemble) of a checkpoint with its weights, on device, ready for
    inference, its GRUs run by kernel (see kernels.select)."""
    model = model_mod.build(ckpt.config.model, ckpt.features.sizes(ckpt.config.model.series_embedding))
    _load_weights(model, ckpt.state_dict, source)
    return model_mod.set_kernel(model.to(device), kernels.select(kernel, device))


def kernel_note(kernel: str, device: torch.device, precision: str) -> str:
    """The defaults line for --kernel auto: which kernel, and why."""
    if kernel == "fused":
        return "kernel fused (default on the CPU: grucast's GRU kernel; --kernel reference for nn.GRU)"
    if device.type != "cpu":
        why = f"default on {device.type}: cuDNN"
    elif precision != "fp32":
        why = f"default with --precision {precision}"
    else:
        why = kernels.reason()
    return f"kernel reference (nn.GRU; {why})"


def _load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{source} holds weights that do not fit its own config ({str(e).splitlines()[0]})") from None


def _round_float32(a: np.ndarray) -> np.ndarray:
    """float32 results as the shortest decimals that read back to the same float32, so files
    show 12.5 rather than 12.5000000001."""
    return np.asarray(a, dtype=np.float32).astype(str).astype(np.float64)


def predict(model_path: Path, data_path: Path, out_path: Optional[Path] = None, device: str = "auto",
            threads: Optional[int] = None, future_path: Optional[Path] = None,
            max_age: Optional[pd.Timedelta] = None, as_of: Optional[pd.Timestamp] = None,
            shard: Optional[tuple[int, int]] = None, kernel: str = "auto",
            manifest: Optional[Callable[[PredictResult, dict[str, Any]], dict[str, Any]]] = None,
            before_publish: Optional[Callable[[PredictResult], None]] = None) -> PredictResult:
    """Forecast horizon steps after the last observation of every series in a file. Future
    covariates over the horizon come from rows after each series' last observed target (in the
    same file, target empty) or from future_path.

    max_age: StaleDataError (nothing written) when the newest observation is older than this
    at as_of (now when None). shard (i, n): only the series of shard i of n (runs.in_shard).
    out_path is published with manifest(result, identity) beside it, after before_publish(result)
    (see train)."""
    started = time.perf_counter()
    guards.run_paths(model=model_path, data=data_path, future=future_path, output=out_path, lock=False)
    ckpt = checkpoint.load(Path(model_path))
    cfg, spec = ckpt.config, ckpt.features
    table = load_table_like(Path(data_path), ckpt.schema, cfg.data)
    source = Path(data_path).name
    if future_path is not None:
        if not spec.future:
            raise ConfigError(f"--future gives future covariates, but {Path(model_path).name} was trained without any")
        table = merge_future(table, load_future(Path(future_path), ckpt.schema, cfg.data))
        source = f"{Path(future_path).name}"
    panel = build_panel(table, cfg.data.fill, freq=ckpt.freq)
    if max_age is not None:
        if panel.freq.kind != "datetime":
            raise ConfigError("--max-age needs datetime timestamps; this data has integer steps")
        runs.check_fresh(panel.last_times().max(), max_age, as_of, Path(data_path).name)
    summary = _summary(table, panel)
    L, H = cfg.model.input_size, cfg.model.horizon
    if shard is not None:
        panel = panel.select(np.flatnonzero(runs.in_shard(panel.ids, shard)))
        if panel.n_series == 0:
            raise DataError(f"shard {shard[0]}/{shard[1]} holds none of the {summary.n_series} series in {Path(data_path).name}")
    panel = panel.tail(L)  # the forecast reads only the last L points: no features for older ones
    min_input = L - spec.pad  # observed points a series needs: input_size, or less for a padded model
    set_threads(threads)
    dev = select_device(device)
    block = features.future_block(panel, spec, H, source) if spec.future else None
    data = features.build(panel, spec, cfg.model.scaler, dev, ext=H, future=block)
    ok, starts = data.last_starts(L)
    skipped = [str(i) for i in np.delete(panel.ids, ok)]
    if len(ok) == 0:
        raise DataError(
            f"every series in {Path(data_path).name} is too short to forecast: the model needs the last "
            f"{min_input} points, and the longest series has {int(panel.lengths.max())}"
        )
    notes = _unseen(panel, spec, ok)
    model = load_model(ckpt, dev, str(model_path), kernel)
    f = forecast(ckpt, model, data, starts)  # [S, H] or [S, H, Q]
    finite = np.isfinite(f).reshape(len(f), -1).all(axis=1)
    if not finite.all():
        bad = [str(i) for i in panel.ids[ok][~finite]]
        raise DataError(
            f"the model's forecasts are not finite (NaN or infinite) for {len(bad)} of {len(ok)} series: {preview(bad)}; "
            "their values are probably far outside what it was trained on; nothing was written"
        )
    columns = id_columns(table, ckpt.schema, np.repeat(panel.ids[ok], H))
    columns[ckpt.schema.time_col] = panel.times_after(ok, H)
    columns.update(forecast_columns(cfg, f))
    frame = pd.DataFrame(columns)
    origins = {str(i): _time_text(panel, t) for i, t in zip(panel.ids[ok], panel.last_times(ok))}
    result = PredictResult(
        origins=origins,
        forecasts=frame,
        skipped=skipped,
        horizon=H,
        input_size=L,
        data=summary,
        output_path=Path(out_path) if out_path else None,
        seconds=time.perf_counter() - started,
        min_input=min_input,
        notes=notes,
    )
    staged = []
    if out_path is not None:
        described = None if manifest is None else (lambda identity: manifest(result, identity))
        staged.append(guards.Staged(Path(out_path), frame_writer(frame, Path(out_path)), manifest=described))
    if before_publish is not None:
        before_publish(result)
    guards.publish(staged)
    return result


def _unseen(panel: Panel, spec: features.FeatureSpec, ok: np.ndarray) -> list[str]:
    """Notes on series ids and categories the model never saw: they get its 'unseen' embedding."""
    notes = []
    if spec.ids:
        known = set(spec.ids)
        new = [str(i) for i in panel.ids[ok] if str(i) not in known]
        if new:
            notes.append(f"{len(new)} series not seen in training use the average series embedding: {preview(new)}")
    for name in spec.static_cat:
        known = set(spec.categories[name])
        new = sorted({str(v) for v in panel.static[name][ok]} - known)
        if new:
            notes.append(f"static covariate '{name}' has values not seen in training (treated as unknown): {preview(new)}")
    return notes
