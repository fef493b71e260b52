"""Training on a loaded table: panel, resolved settings, features, fit, validation scores and
calibration, and the checkpoint (not yet saved).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from grucast import checkpoint
from grucast.config import settings, validate
from grucast.config.settings import Config
from grucast.data.panel import Panel, build_panel
from grucast.data.schema import Schema, Table
from grucast.errors import DataError, Interrupted
from grucast.evaluation import scoring
from grucast.evaluation.calibration import calibrate_held_out
from grucast.features import layout
from grucast.features import spec as features_spec
from grucast.features.layout import WindowData
from grucast.features.windows import series_of, split_windows
from grucast.models import kernels
from grucast.models import network as model_mod
from grucast.models.inference import predict_windows
from grucast.training import distributed, partition
from grucast.training.defaults import choose_anchor, resolve, too_short
from grucast.training.linear import fit_linear
from grucast.training.loop import Callback, FitResult, fit
from grucast.training.partition import Partition, WindowMap
from grucast.training.runtime import select_device, set_threads
from grucast.workflows.forecasting import load_weights
from grucast.workflows.summary import DataSummary, panel_time_text, summarize


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
                        cfg: Config, part: Optional[Partition] = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The GRU, seasonal naive and naive scored on the validation windows (evaluation.scoring,
    as evaluate scores them), on the original scale, over the targets that were observed; for a
    quantile model also the conformal calibration of its quantiles on those windows (else an
    empty dict), whose cross-fitted quantiles the GRU's interval metrics score. part: the
    windows of every rank's series of a partitioned panel, scored together."""
    w = _held_out(model, panel, data, val_starts, cfg, part)
    quantiles, levels = settings.output_quantiles(cfg.model), settings.interval_levels(cfg.model)
    calibration: dict[str, Any] = {}
    f, fqs, held = w["f"], None, None
    if quantiles and len(f):
        calibration, fqs, held = calibrate_held_out(w["y"], f, w["window_scale"], w["series"], w["targets"],
                                                    quantiles, levels)
        f = f[..., quantiles.index(0.5)]
    ok = w["ok"]  # seasonal naive needs a full season of history before each target start
    if not ok.any():
        return {"windows": 0}, calibration
    s = scoring.score_arrays(w["y"][ok], {"gru": f[ok], "naive": w["naive"][ok], "seasonal_naive": w["seasonal_naive"][ok]},
                             w["scale"][ok], w["scale2"][ok], None if fqs is None else fqs[ok], quantiles, levels,
                             held=None if held is None else held[ok])
    out = {
        "windows": int(ok.sum()),
        "series": int(len(np.unique(w["series"][ok]))),
        "season": cfg.data.season,
        "gru": s.overall["gru"],
        "seasonal_naive": s.overall["seasonal_naive"],
        "naive": s.overall["naive"],
        "skill": s.skill,
        "skill_metric": s.skill_metric,
    }
    if calibration:
        out["intervals"] = calibration["coverage"]
        out["intervals_estimate"] = calibration["estimate"]
    return out, calibration


def _held_out(model: torch.nn.Module, panel: Panel, data: WindowData, val_starts: np.ndarray, cfg: Config,
              part: Optional[Partition]) -> dict[str, np.ndarray]:
    """Every validation window's series, target start (a panel position), actuals, forecasts
    (float64) and input scale; whether it has a season of history ("ok") and, where it has, the
    baselines' forecasts and the scales of MASE and RMSSE (scoring.window_arrays). With part,
    the windows of every rank, as one process lists them."""
    L, H, m = cfg.model.input_size, cfg.model.horizon, cfg.data.season
    targets = data.to_panel(val_starts + L)  # in the panel's own indexing
    series = series_of(panel.offsets, targets)
    f, window_scale = predict_windows(model, data, val_starts, L, with_scale=True)
    ok = scoring.has_history(panel.offsets, targets, series, m)
    windows = scoring.Windows(values=panel.values, offsets=panel.offsets, observed=panel.observed, targets=targets[ok],
                              series=series[ok], in_sample=panel.lengths - cfg.training.val_size, season=m, horizon=H)
    _, base, scale, scale2 = scoring.window_arrays(windows)
    w = {"series": series, "targets": targets, "y": scoring.actuals(panel.values, panel.observed, targets, H),
         "f": f.astype(np.float64), "window_scale": window_scale.astype(np.float64), "ok": ok}
    for name, v in {**base, "scale": scale, "scale2": scale2}.items():
        w[name] = np.full((len(ok),) + v.shape[1:], np.nan)
        w[name][ok] = v
    if part is None:
        return w
    w["series"] = part.mine[series]
    w["targets"] = layout.layout_offsets(part.lengths, 0)[w["series"]] + (targets - panel.offsets[series])
    every = part.gather(w)
    w = {k: np.concatenate([p[k] for p in every]) for k in w}
    order = np.argsort(w["targets"], kind="stable")  # one process's order: by series, then by time
    return {k: v[order] for k, v in w.items()}


def _anchor(model: torch.nn.Module, cfg: Config, data: WindowData, train_starts: np.ndarray,
            alpha: Optional[float], part: Optional[Partition] = None) -> None:
    """Start every network at the baseline cfg.model.anchor names (choose_anchor picked it and,
    for smoothing, its alpha); the linear one is fitted on the training windows here (of every
    rank, with part). fit then scores that start before the first step (check_start), in a
    resumed run too."""
    m = cfg.model
    linear = None
    if m.anchor == "linear":
        linear = fit_linear(data, train_starts, m.input_size, m.horizon, None if part is None else part.world)
    model_mod.anchor(model, cfg.data.season if m.anchor == "seasonal_naive" else 1, alpha, linear)


def fit_table(table: Table, cfg: Config, callback: Optional[Callback] = None,
              on_ready: Optional[Any] = None, base: Optional[checkpoint.Checkpoint] = None,
              resume: Optional[dict[str, Any]] = None, stop: Optional[Any] = None,
              keep_rows: bool = True) -> tuple[checkpoint.Checkpoint, TrainResult]:
    """Train on the series of a loaded table: the checkpoint (not yet saved) and the result.
    With base, its frequency, feature layout (covariate scaling, categories, series ids) and
    weights are the starting point; with resume, the interrupted fit goes on. keep_rows=False
    lets go of the table's rows once the panel holds them (10 M rows: about 380 MB less while
    training); the table is then only good for its schema, path and notes. A table of one
    shard (--shard-data, under torchrun) is trained on partitioned: every rank keeps its own
    series (training.partition)."""
    started = time.perf_counter()
    distributed.check_batch(cfg.training.batch_size, distributed.from_env())  # before the ranks meet: no rank waits
    panel, n_rows, part = _panel(table, cfg, base, keep_rows)
    # Left open, the start and scaling may go to the linear rival after training (_rival); a run
    # interrupted before that check does it when resumed.
    open_start = (base is None and resume is None and cfg.model.anchor is None and cfg.model.scaler is None) or \
        bool(resume and resume.get("rival_pending"))
    cfg, notes = resolve(cfg, panel.freq, panel.lengths if part is None else part.lengths)
    panel, n_rows, part, shared = _share(table, panel, n_rows, part, cfg)
    # Gaps are filled knowing where validation starts, so no held-out value shapes a training target.
    panel.fill(cfg.data.fill, holdout=cfg.training.val_size)
    schema = table.schema
    cfg = _detected(cfg, schema)
    cfg, anchor_notes, alpha = choose_anchor(cfg, panel.values, panel.offsets, part) if base is None else (cfg, [], None)
    notes = notes + shared + anchor_notes
    L, H, V = cfg.model.input_size, cfg.model.horizon, cfg.training.val_size
    if base is not None:
        spec, warnings = base.features, []
    else:
        spec, warnings = features_spec.make_spec(panel, cfg, schema.past_cols, schema.future_cols, schema.static_cols,
                                                 V, part)
    if spec.mask:
        cfg = validate.replace(cfg, model={"min_input": L - spec.pad})
    summary = _summary(table, panel, warnings, n_rows, part)
    set_threads(cfg.training.threads)
    world, device = distributed.setup(select_device(cfg.training.device))
    across = distributed.members_note(cfg.model.ensemble, world, partitioned=part is not None)
    notes = notes + ([across] if across else [])
    kernel = kernels.select(cfg.training.kernel, device, cfg.training.precision,
                            notify=getattr(callback, "on_note", None), cell=cfg.model.cell)
    if cfg.training.kernel == "auto":
        notes = notes + [kernel_note(kernel, device, cfg.training.precision, cfg.model.cell)]
    data = layout.build(panel, spec, cfg.model.scaler, device)
    run = _Run(table, panel, device, kernel, *split_windows(data.offsets, L, H, V), callback, stop, world, part=part)
    short = run.windows_of(data, spec, cfg)
    if on_ready is not None:
        on_ready(summary, cfg, notes)
    model = run.network(cfg, spec)
    anchored = (base is None or resume is not None) and cfg.model.anchor not in (None, "none")
    if base is not None:
        load_weights(model, base.state_dict, "the starting checkpoint")
    elif anchored:
        _anchor(model, cfg, data, run.train_starts, alpha, part)
    rival_pending = open_start and cfg.model.anchor == "none"
    result, scores, calibration = run.train(model, cfg, spec, data, resume, anchored, rival_pending)
    if rival_pending:
        cfg, spec, model, result, scores, calibration, rival_notes = _rival(
            run, cfg, spec, model, data, result, scores, calibration)
        notes = notes + rival_notes
    ckpt = checkpoint.Checkpoint(
        config=cfg, schema=table.schema, freq=panel.freq, features=spec, calibration=calibration,
        state_dict=result.state_dict,
        history=[{"epoch": r.epoch, "step": r.step, "train_loss": r.train_loss, "val_loss": r.val_loss,
                  "lr": r.lr, "best": r.best, "member": r.member} for r in result.history],
        metrics=scores,
        info={**run.info(), "best_step": result.best_step, "steps": result.steps,
              **({"processes": world.size} if world.active else {})},  # torchrun: equal to one process's up to rounding
    )
    return ckpt, TrainResult(
        checkpoint_path=None, config=cfg, config_notes=notes, data=summary, short_series=short,
        train_windows=run.windows()[0], val_windows=run.windows()[1], device=str(device), kernel=kernel,
        fit=result, metrics=scores, seconds=time.perf_counter() - started,
    )


def _panel(table: Table, cfg: Config, base: Optional[checkpoint.Checkpoint],
           keep_rows: bool) -> tuple[Panel, int, Optional[Partition]]:
    """The table's panel, the rows it was built from and, for a table of one shard, the
    Partition of the whole panel over the ranks (this rank's panel put in its order)."""
    panel = build_panel(table, fill=None, freq=base.freq if base else None)
    n_rows = len(table.frame)
    if not keep_rows:  # before the ranks meet, which may gather the panels of every rank for a while
        table.frame = table.frame.iloc[:0].copy()  # a copy: a slice would keep the rows alive
    if table.shard is None:
        return panel, n_rows, None
    world, _ = distributed.setup(select_device(cfg.training.device))
    panel, part = partition.split(panel, table.places, n_rows, world)
    return panel, n_rows, part


def _share(table: Table, panel: Panel, n_rows: int, part: Optional[Partition],
           cfg: Config) -> tuple[Panel, int, Optional[Partition], list[str]]:
    """--shard-data: keep the panel partitioned when every rank holds a series long enough for
    a training window without padding (each then takes part in every step), else gather the
    whole panel on every rank; and the defaults line that says which."""
    if part is None:
        return panel, n_rows, None, []
    n, need = part.world.size, cfg.model.input_size + cfg.model.horizon + cfg.training.val_size
    if part.holds_full_series(need):
        return panel, n_rows, part, [f"data partitioned over {n} processes (--shard-data: each holds the series of "
                                     f"its shard, {len(part.mine)} of {part.n_series})"]
    panel, n_rows = distributed.gather_panel(panel, table.places, n_rows, part.world)
    return panel, n_rows, None, [f"data gathered on each of {n} processes (--shard-data, but a process holds no "
                                 f"series of {need} points or more to train on alone)"]


def _summary(table: Table, panel: Panel, warnings: list[str], n_rows: int, part: Optional[Partition]) -> DataSummary:
    """The data summary; of the whole panel with part."""
    summary = summarize(table, panel, warnings, n_rows)
    if part is None:
        return summary
    counts = part.sum([panel.n_filled] + [panel.cov_filled.get(c, 0) for c in panel.cov_names])
    summary.n_series, summary.n_points, summary.n_rows = part.n_series, int(part.lengths.sum()), part.rows
    summary.n_filled, summary.dropped = int(counts[0]), part.dropped
    summary.covariates_filled = {c: int(k) for c, k in zip(panel.cov_names, counts[1:]) if k}
    return summary


@dataclass
class _Run:
    """What every network of one fit_table call is trained and scored with."""

    table: Table
    panel: Panel
    device: torch.device
    kernel: str
    train_starts: np.ndarray
    val_starts: np.ndarray
    callback: Optional[Callback]
    stop: Optional[Any]
    world: distributed.World = distributed.SINGLE  # the ranks under torchrun
    part: Optional[Partition] = None  # the panel is this rank's share of the whole (--shard-data)
    whole: Optional[WindowMap] = None  # then the windows of the whole panel
    facts: dict[str, Any] = field(default_factory=dict)  # what the checkpoint records about the data (_info)

    def windows(self) -> tuple[int, int]:
        """Training and validation windows of the whole panel."""
        if self.whole is None:
            return int(len(self.train_starts)), int(len(self.val_starts))
        return self.whole.windows, self.whole.val_windows

    def windows_of(self, data: WindowData, spec: features_spec.FeatureSpec, cfg: Config) -> list[str]:
        """Check that the whole panel has a training window, and note what the checkpoint records
        of the data now (no rank may wait on another once training starts); the ids of the
        series too short for a training window."""
        L, H, V = cfg.model.input_size, cfg.model.horizon, cfg.training.val_size
        if self.part is not None:
            self.whole = WindowMap.of(self.part, spec.pad, data.offsets, L, H, V)
        lengths, ids = (self.panel.lengths, self.panel.ids) if self.part is None else (self.part.lengths, self.part.ids)
        if self.windows()[0] == 0:
            raise DataError(too_short(L - spec.pad, H, V, int(lengths.max())) + "; use a smaller --input-size or --horizon")
        self.facts = _info(self.table, self.panel, *self.windows(), self.part)
        return [str(i) for i in ids[lengths + spec.pad < L + H + V]]

    def network(self, cfg: Config, spec: features_spec.FeatureSpec) -> torch.nn.Module:
        model = model_mod.build(cfg.model, spec.sizes(cfg.model.series_embedding), cfg.training.seed).to(self.device)
        model_mod.set_kernel(model, self.kernel)
        return model

    def info(self) -> dict[str, Any]:
        return dict(self.facts)

    def train(self, model: torch.nn.Module, cfg: Config, spec: features_spec.FeatureSpec, data: WindowData,
              resume: Optional[dict[str, Any]], check_start: bool,
              rival_pending: bool = False) -> tuple[FitResult, dict[str, Any], dict[str, Any]]:
        """fit, then the validation scores and calibration of the trained network. Interrupted
        carries the weights as they stand (an ensemble's finished members, the current one, the
        rest untrained) for `grucast info`; the run goes on from the state in resume, which says
        whether the linear rival is still to be tried after this training (rival_pending)."""
        try:
            result = fit(model, data, self.train_starts, self.val_starts, cfg, self.callback, stop=self.stop,
                         resume=resume, check_start=check_start, world=self.world, whole=self.whole)
        except Interrupted as e:
            e.state["rival_pending"] = rival_pending
            e.checkpoint = checkpoint.Checkpoint(config=cfg, schema=self.table.schema, freq=self.panel.freq,
                                                 features=spec, state_dict=model.state_dict(), info=self.info(),
                                                 resume={"fit": e.state})
            raise
        scores, calibration = _validation_metrics(model, self.panel, data, self.val_starts, cfg, self.part)
        return result, scores, calibration


def _rival(run: _Run, cfg: Config, spec: features_spec.FeatureSpec, model: torch.nn.Module, data: WindowData,
           result: FitResult, scores: dict[str, Any], calibration: dict[str, Any]) -> tuple:
    """The linear rival of a network started at random: the least-squares map from the input
    window to the horizon on NLinear's normalisation (scaler 'last', the linear anchor), fitted
    in closed form on the training windows and scored on the validation windows as the trained
    network was, on the same layout rescaled (layout.rescaled). Where it errs less there, the
    networks are trained again from it (anchored, start checked, so they keep it unless training
    beats it) and replace the first ones. Returns
    (cfg, spec, model, result, scores, calibration, notes), the first ones where the rival loses."""
    if not scores.get("windows"):
        return cfg, spec, model, result, scores, calibration, []
    key = scores["skill_metric"]
    rival_cfg = validate.replace(cfg, model={"anchor": "linear", "scaler": "last"})
    rival_spec = dataclasses.replace(spec, series_scale=features_spec.training_spreads(
        run.panel, cfg.training.val_size, run.part))
    rival_data = layout.rescaled(data, run.panel, rival_spec, "last")
    rival = run.network(rival_cfg, rival_spec)
    _anchor(rival, rival_cfg, rival_data, run.train_starts, None, run.part)
    linear = _validation_metrics(rival, run.panel, rival_data, run.val_starts, rival_cfg, run.part)[0]["gru"][key]
    trained = scores["gru"][key]
    said = f"validation {key.upper()} {linear:#.4g} against the trained network's {trained:#.4g}"  # the stored note
    wins = linear < trained
    note = (f"anchor linear, scaler last (default: the least-squares linear map's {said}; "
            "the networks were trained again from it)" if wins else
            f"anchor none kept (default: the least-squares linear map's {said})")
    if run.callback is not None and hasattr(run.callback, "on_note"):  # said plainly on the terminal
        run.callback.on_note(
            f"A linear least-squares forecast beat the trained network on the validation windows ({key.upper()} {linear:#.4g} "
            f"against {trained:#.4g}): training again from it (anchor linear, scaler last)" if wins else
            f"Kept the trained network: on the validation windows it scores {key.upper()} {trained:#.4g}, a linear "
            f"least-squares forecast {linear:#.4g} (this check runs by default; --anchor none skips it)")
    if not wins:
        return cfg, spec, model, result, scores, calibration, [note]
    result, scores, calibration = run.train(rival, rival_cfg, rival_spec, rival_data, None, True)
    return rival_cfg, rival_spec, rival, result, scores, calibration, [note]


def _detected(cfg: Config, schema: Schema) -> Config:
    """The config with what was detected in the file, so the stored config says it."""
    return validate.replace(cfg, data={
        "time_col": schema.time_col, "id_col": schema.id_col, "target": schema.target,
        "format": schema.format if schema.format in ("long", "wide") else cfg.data.format,
    })


def _info(table: Table, panel: Panel, train_windows: int, val_windows: int,
          part: Optional[Partition] = None) -> dict[str, Any]:
    """What the checkpoint records about the data it was trained on (all of it, with part)."""
    first, last = panel.first_times().min(), panel.last_times().max()
    if part is not None:
        first, last = partition.first_last(part, first, last)
    return {
        "data_file": table.path.name,
        "n_series": panel.n_series if part is None else part.n_series,
        "n_points": int(panel.offsets[-1]) if part is None else int(part.lengths.sum()),
        "first_time": panel_time_text(panel, first),
        "last_time": panel_time_text(panel, last),
        "train_windows": train_windows,
        "val_windows": val_windows,
    }


def kernel_note(kernel: str, device: torch.device, precision: str, cell: str = "gru") -> str:
    """The defaults line for --kernel auto: which kernel, and why."""
    if cell == "lstm":
        return "kernel reference (nn.LSTM; grucast's fused kernel is a GRU's)"
    if kernel == "fused":
        return "kernel fused (default on the CPU: grucast's GRU kernel; --kernel reference for nn.GRU)"
    if device.type != "cpu":
        why = f"default on {device.type}: cuDNN"
    elif precision != "fp32":
        why = f"default with --precision {precision}"
    else:
        why = kernels.reason()
    return f"kernel reference (nn.GRU; {why})"
