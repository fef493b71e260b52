"""`predict`: forecasts horizon steps after the last observation of every series in a file."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from grucast import checkpoint
from grucast.features import future, layout
from grucast.features import spec as features_spec
from grucast.ops import gates, paths, publish

pass
from grucast.data.panel import Panel, build_panel
from grucast.data.schema import preview
from grucast.data.table import load_future, load_table_like, merge_future
from grucast.data.write import frame_writer
from grucast.errors import ConfigError, DataError
from grucast.training.runtime import select_device, set_threads
from grucast.workflows.forecasting import forecast, forecast_columns, id_columns, load_model
from grucast.workflows.summary import DataSummary, panel_time_text, summarize

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
    paths.run_paths(model=model_path, data=data_path, future=future_path, output=out_path, lock=False)
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
        gates.check_fresh(panel.last_times().max(), max_age, as_of, Path(data_path).name)
    summary = summarize(table, panel)
    L, H = cfg.model.input_size, cfg.model.horizon
    if shard is not None:
        panel = panel.select(np.flatnonzero(gates.in_shard(panel.ids, shard)))
        if panel.n_series == 0:
            raise DataError(f"shard {shard[0]}/{shard[1]} holds none of the {summary.n_series} series in {Path(data_path).name}")
    panel = panel.tail(L)  # the forecast reads only the last L points: no features for older ones
    min_input = L - spec.pad  # observed points a series needs: input_size, or less for a padded model
    set_threads(threads)
    dev = select_device(device)
    block = future.future_block(panel, spec, H, source) if spec.future else None
    data = layout.build(panel, spec, cfg.model.scaler, dev, ext=H, future=block)
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
    origins = {str(i): panel_time_text(panel, t) for i, t in zip(panel.ids[ok], panel.last_times(ok))}
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
        staged.append(publish.Staged(Path(out_path), frame_writer(frame, Path(out_path)), manifest=described))
    if before_publish is not None:
        before_publish(result)
    publish.publish(staged)
    return result


def _unseen(panel: Panel, spec: features_spec.FeatureSpec, ok: np.ndarray) -> list[str]:
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
