"""`predict`: forecasts horizon steps after the last observation of every series in a file.

predict() is the command on paths (check the paths, load the checkpoint, publish the forecast
file); forecast_data() is the work on a loaded checkpoint, which the Python API (workflows.model)
calls with DataFrames as well.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from grucast import checkpoint
from grucast.config import settings
from grucast.data import shards
from grucast.data.panel import Panel, build_panel
from grucast.data.read import Source
from grucast.data.schema import Table
from grucast.data.table import load_future, load_table_like, merge_future
from grucast.data.write import frame_writer
from grucast.errors import ConfigError, DataError, preview
from grucast.evaluation import baselines
from grucast.features import future, layout
from grucast.features import spec as features_spec
from grucast.ops import gates, paths, publish
from grucast.training import distributed
from grucast.training.runtime import select_device, set_threads
from grucast.workflows.forecasting import forecast, forecast_columns, id_columns, load_model
from grucast.workflows.summary import DataSummary, panel_time_text, summarize

# ---------------------------------------------------------------- predict


@dataclass
class PredictResult:
    forecasts: pd.DataFrame  # id column (not for a single series), time column, "forecast"
    fallback: dict[str, str]  # series too short for the network -> the baseline that forecast it
    horizon: int
    input_size: int
    data: DataSummary
    output_path: Optional[Path] = None
    seconds: float = 0.0
    min_input: Optional[int] = None  # the network forecasts series this long or longer (input_size unless padded)
    origins: dict[str, str] = field(default_factory=dict)  # series id -> time of its last observation
    unseen_ids: list[str] = field(default_factory=list)  # forecast series the series embedding never saw
    unseen_categories: dict[str, list[str]] = field(default_factory=dict)  # static covariate -> new values
    card: dict[str, Any] = field(default_factory=dict)  # the checkpoint's card (checkpoint.card), for the manifest

    @property
    def notes(self) -> list[str]:
        """What the user should know: series and categories the model never saw."""
        notes = []
        if self.unseen_ids:
            notes.append(f"{len(self.unseen_ids)} series not seen in training use the average series embedding: "
                         f"{preview(sorted(self.unseen_ids))}")
        for name, new in self.unseen_categories.items():
            notes.append(f"static covariate '{name}' has values not seen in training (treated as unknown): {preview(new)}")
        return notes

    @property
    def n_forecast(self) -> int:
        return len(self.forecasts) // self.horizon if self.horizon else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "series": self.n_forecast,
            "fallback": self.fallback,
            "no_values": self.data.dropped,
            "notes": self.notes,
            "output": str(self.output_path) if self.output_path else None,
        }


def predict(model_path: Path, data_path: Path, out_path: Optional[Path] = None, device: str = "auto",
            threads: Optional[int] = None, future_path: Optional[Path] = None,
            max_age: Optional[pd.Timedelta] = None, as_of: Optional[pd.Timestamp] = None,
            shard: Optional[tuple[int, int]] = None, kernel: str = "auto", shard_data: bool = False,
            manifest: Optional[Callable[[PredictResult, dict[str, Any]], dict[str, Any]]] = None,
            before_publish: Optional[Callable[[PredictResult], None]] = None) -> PredictResult:
    """Forecast horizon steps after the last observation of every series in a file. Future
    covariates over the horizon come from rows after each series' last observed target (in the
    same file, target empty) or from future_path.

    max_age: StaleDataError (nothing written) when the newest observation is older than this
    at as_of (now when None). shard (i, n): only the series of shard i of n (data.shards); the rows come in shard order.
    shard_data: with a shard (or under torchrun), read only the rows of its series (or, of a wide
    file, its columns; of Parquet, the row groups that hold them), and check only those.
    out_path is published with manifest(result, identity) beside it, after before_publish(result)
    (see train)."""
    started = time.perf_counter()
    paths.run_paths(model=model_path, data=data_path, future=future_path, output=out_path, lock=False)
    world = distributed.from_env()
    if world.active:  # under torchrun: every rank forecasts its shard, rank 0 writes them all
        shards.refuse_under_torchrun(shard, world.size)
        world, dev = distributed.setup(select_device(device))
        device, shard = str(dev), (world.rank + 1, world.size)
    ckpt = checkpoint.load(Path(model_path))
    result = forecast_data(ckpt, Path(data_path), None if future_path is None else Path(future_path),
                           model_file=Path(model_path), device=device, threads=threads, max_age=max_age,
                           as_of=as_of, shard=shard, kernel=kernel, shard_data=shard_data)
    if world.active:
        result = _gathered(result, world, summed=shard_data)
        if not world.main:
            return result  # its own shard's forecasts: rank 0 writes them with the others'
    result.output_path = Path(out_path) if out_path else None
    result.seconds = time.perf_counter() - started
    staged = []
    if out_path is not None:
        described = None if manifest is None else (lambda identity: manifest(result, identity))
        staged.append(publish.Staged(Path(out_path), frame_writer(result.forecasts, Path(out_path)), manifest=described))
    if before_publish is not None:
        before_publish(result)
    publish.publish(staged)
    return result


def forecast_data(ckpt: checkpoint.Checkpoint, data: Source, future_data: Optional[Source] = None, *,
                  model_file: Optional[Path] = None, future_label: str = "--future", device: str = "auto",
                  threads: Optional[int] = None, max_age: Optional[pd.Timedelta] = None,
                  as_of: Optional[pd.Timestamp] = None, shard: Optional[tuple[int, int]] = None,
                  kernel: str = "auto", shard_data: bool = False) -> PredictResult:
    """predict's work on a loaded checkpoint: data and future_data are paths or DataFrames.
    model_file names the checkpoint in messages ('the model' when None); future_label is what
    gives future_data ('--future', or 'future=' in Python). A shard without series gives a result
    without forecasts (rows: none), whose file has the header alone. shard_data: only the
    shard's rows of a file are read (data.table.load_table_like), and the data summary, the
    max_age check and the too-short check are of those."""
    started = time.perf_counter()
    cfg, spec = ckpt.config, ckpt.features
    model_name = model_file.name if model_file is not None else "the model"
    table = load_table_like(data, ckpt.schema, cfg.data, shard=shard if shard_data else None)
    name = table.path.name
    source = name
    if future_data is not None:
        if not spec.future:
            raise ConfigError(f"{future_label} gives future covariates, but {model_name} was trained without any")
        extra = load_future(future_data, ckpt.schema, cfg.data)
        table, source = merge_future(table, extra), extra.path.name
    if shard is not None and shard_data and not table.stand_in:
        # Only the shard's series: rows read for another target of one id, or --future rows, are not its.
        table = dataclasses.replace(table, frame=table.frame[shards.contains(table.frame["series_id"].to_numpy(), shard)])
    panel = build_panel(table, cfg.data.fill, freq=ckpt.freq)
    if max_age is not None and not table.stand_in:
        if panel.freq.kind != "datetime":
            raise ConfigError("--max-age needs datetime timestamps; this data has integer steps")
        gates.check_fresh(panel.last_times().max(), max_age, as_of, name)
    summary = summarize(table, panel)
    if table.stand_in:  # a shard of no series read none (but --future may name some of its series)
        summary = dataclasses.replace(summary, n_series=0, n_points=0, n_rows=0, n_filled=0,
                                      dropped=[d for d in summary.dropped if shards.contains([d], shard)[0]])
    L, H = cfg.model.input_size, cfg.model.horizon
    longest = int(panel.lengths.max())  # of the whole file: a shard of short series only is not an error
    if shard is not None:
        panel = panel.select(np.flatnonzero(shards.contains(panel.ids, shard)))
        if panel.n_series == 0:  # a shard may hold none: its file has the header alone, and shards still compose
            none = np.zeros(0, dtype=np.int64)
            q = settings.output_quantiles(cfg.model)
            frame = _forecast_frame(ckpt, table, panel, np.zeros(0, dtype=object),
                                    np.empty((0, H, len(q)) if q else (0, H)), none)
            return PredictResult(forecasts=frame, fallback={}, horizon=H, input_size=L, data=summary,
                                 min_input=L - spec.pad, seconds=time.perf_counter() - started,
                                 card=checkpoint.card(ckpt))
    panel = panel.tail(L)  # the forecast reads only the last L points: no features for older ones
    set_threads(threads)
    dev = select_device(device)
    block = future.future_block(panel, spec, H, source, given=future_data is not None) if spec.future else None
    data_layout = layout.build(panel, spec, cfg.model.scaler, dev, ext=H, future=block)
    ok, starts = data_layout.last_starts(L)
    min_input = L - spec.pad  # observed points a series needs: input_size, or less for a padded model
    if len(ok) == 0 and table.shard is None and (shard is None or longest < min_input):  # not known of a shard read alone
        raise DataError(
            f"every series in {name} is too short for the model: it needs the last {min_input} points, and the "
            f"longest series has {longest} (a shorter series gets a naive forecast, but not every "
            f"series: is this the right file?)"
        )
    if len(ok):
        model = load_model(ckpt, dev, str(model_file) if model_file is not None else model_name, kernel)
        f = forecast(ckpt, model, data_layout, starts)  # [n, H(, Q)]
    else:  # a shard of series too short for the network: all of them get the fallback
        q = settings.output_quantiles(cfg.model)
        f = np.empty((0, H, len(q)) if q else (0, H))
    f, methods = _with_fallback(ckpt, panel, ok, f)
    rows = shards.order(panel.ids)  # shard order: the files of --shard 1/n .. n/n concatenate to this one
    ids = panel.ids[rows]
    return PredictResult(
        origins={str(i): panel_time_text(panel, t) for i, t in zip(ids, panel.last_times(rows))},
        forecasts=_forecast_frame(ckpt, table, panel, methods, f, rows),
        fallback={str(i): str(m) for i, m in zip(ids, methods[rows]) if m != GRU},
        horizon=H,
        input_size=L,
        data=summary,
        seconds=time.perf_counter() - started,
        min_input=min_input,
        card=checkpoint.card(ckpt),
        **_unseen(panel, spec, rows[np.isin(rows, ok)]),
    )


GRU = "gru"  # the method column's value for the network's forecasts


def _with_fallback(ckpt: checkpoint.Checkpoint, panel: Panel, ok: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts of every series of the panel and the method of each: the network's f for the
    series ok, the declared baseline (evaluation.baselines.fallback) for the series too short
    for it, never a series left out."""
    n = panel.n_series
    methods = np.full(n, GRU, dtype=object)
    if len(ok) == n:
        return f, methods
    short = np.setdiff1d(np.arange(n), ok)
    few = panel.select(short)
    cfg = ckpt.config
    base, how = baselines.fallback(few.values, few.offsets, cfg.data.season or 1, cfg.model.horizon,
                                   settings.output_quantiles(cfg.model))
    out = np.empty((n, *f.shape[1:]), dtype=np.float64)
    out[ok], out[short], methods[short] = f, base, how
    return out, methods


def _forecast_frame(ckpt: checkpoint.Checkpoint, table: Table, panel: Panel, methods: np.ndarray,
                    f: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """The forecast file's rows, every series of the panel in the order rows (shard order,
    data.shards: by the CRC-32 of the id): its id column(s), the time column, the forecast columns and the method
    column (which model made the row: 'gru', or the baseline standing in for a series too short
    for the network); DataError when a network's forecast is not finite. A baseline's interval
    is empty where the series is too short to show an error."""
    H = ckpt.config.model.horizon
    net = methods == GRU
    finite = np.isfinite(f).all(axis=tuple(range(1, f.ndim))) | ~net
    if not finite.all():
        bad = [str(i) for i in panel.ids[~finite]]
        raise DataError(
            f"the model's forecasts are not finite (NaN or infinite) for {len(bad)} of {int(net.sum())} series: "
            f"{preview(bad)}; their values are probably far outside what it was trained on; nothing was written"
        )
    columns = id_columns(table, ckpt.schema, np.repeat(panel.ids[rows], H))
    columns[ckpt.schema.time_col] = panel.times_after(rows, H)
    columns.update(forecast_columns(ckpt.config, f[rows]))
    columns["method" if "method" not in columns else "forecast_method"] = np.repeat(methods[rows], H)
    return pd.DataFrame(columns)


def _unseen(panel: Panel, spec: features_spec.FeatureSpec, index: np.ndarray) -> dict[str, Any]:
    """Among the series index (those the network forecasts), the ids and the categories of
    static covariates the model never saw: they get its 'unseen' embedding (PredictResult.notes)."""
    ids: list[str] = []
    if spec.ids:
        known = set(spec.ids)
        ids = [str(i) for i in panel.ids[index] if str(i) not in known]
    categories = {}
    for name in spec.static_cat:
        new = sorted({str(v) for v in panel.static[name][index]} - set(spec.categories[name]))
        if new:
            categories[name] = new
    return {"unseen_ids": ids, "unseen_categories": categories}


def _gathered(result: PredictResult, world: distributed.World, summed: bool = False) -> PredictResult:
    """Rank 0: its result with every rank's forecasts added, in rank order, which is shard order
    (data.shards), so the rows are those of one process, in its order; summed: each rank read
    only its shard, so the data summary is their sum. Every other rank: its own result, once
    rank 0 has it."""
    import torch.distributed as dist

    mine = (result.forecasts, result.fallback, result.origins, result.unseen_ids, result.unseen_categories,
            result.data)
    parts: Optional[list] = [None] * world.size if world.main else None
    dist.gather_object(mine, parts, dst=0)
    distributed.finish(world)
    if not world.main:
        return result
    frames = [p[0] for p in parts if len(p[0])]
    result.forecasts = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    result.fallback = {k: v for p in parts for k, v in p[1].items()}
    result.origins = {k: v for p in parts for k, v in p[2].items()}
    result.unseen_ids = [i for p in parts for i in p[3]]
    names = {name for p in parts for name in p[4]}
    result.unseen_categories = {name: sorted({v for p in parts for v in p[4].get(name, ())}) for name in sorted(names)}
    if summed:
        read = [p[5] for p in parts]
        filled: dict[str, int] = {}
        for s in read:
            for k, v in s.covariates_filled.items():
                filled[k] = filled.get(k, 0) + v
        result.data = dataclasses.replace(
            result.data, n_series=sum(s.n_series for s in read), n_points=sum(s.n_points for s in read),
            n_rows=sum(s.n_rows for s in read), n_filled=sum(s.n_filled for s in read),
            dropped=[d for s in read for d in s.dropped], covariates_filled=filled)
    return result
