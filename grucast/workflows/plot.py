"""`plot`: what a person looks at before trusting a forecast, drawn from grucast's own files.

What is drawn follows from the inputs (or --kind):

    MODEL DATA        the forecast: the history tail, the forecast, its intervals, the origin
    FORECAST DATA     the same from a forecast file written by predict (its manifest names the origins)
    BACKTEST          the -o file of evaluate or backtest: actuals against forecasts, window by
                      window, the baselines dashed, and the error by horizon step
    MODEL             training: the loss curves (and learning rate) of every network, best step marked
    HISTORY           a monitor history folder: MASE per origin beside seasonal naive, coverage
    MODEL DATA --kind gates   grucast gates' effective memory and attribution by lag

The figures come from grucast.plot (matplotlib, an optional extra); they are published like
every output: atomically, with a manifest.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import pandas as pd

from grucast.data.freq import Freq, time_at
from grucast.data.panel import Panel, build_panel
from grucast.data.read import read_source
from grucast.data.schema import Schema
from grucast.errors import ConfigError, DataError, preview
from grucast.ops import history as store
from grucast.ops import paths, publish
from grucast.ops.manifest import read_predict_manifest
from grucast.ops.paths import manifest_path

KINDS = ("forecast", "backtest", "training", "monitor", "gates")
MONITOR_ORIGINS = 120  # origins a monitoring plot draws by default (--tail)
GRID = 12  # series drawn when none are chosen and the data holds more
MAX_PANELS = 100  # series in one picture at most (--top, --series): a readable grid, a bounded figure


@dataclass
class PlotResult:
    kind: str
    output: Path
    series: list[str] = field(default_factory=list)  # the series drawn, in panel order
    of: int = 0  # series there were to choose from
    lines: list[str] = field(default_factory=list)  # what the plot shows, in words (the report's text)
    report: Optional[Path] = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "output": str(self.output), "series": self.series, "of": self.of,
                "lines": self.lines, "report": str(self.report) if self.report else None,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Choice:
    """Which series to draw: by id, the top N, or (neither) all up to GRID."""

    series: Optional[list[str]] = None
    top: Optional[int] = None
    tail: Optional[int] = None  # history steps before the origin (forecast plots)


def kind_of(inputs: Sequence[Path], kind: Optional[str]) -> str:
    """The plot the inputs ask for (see the module's table), or ConfigError that says how to ask."""
    if kind is not None:
        if kind not in KINDS:
            raise ConfigError(f"--kind takes {', '.join(KINDS)}, got '{kind}'")
        return kind
    first = Path(inputs[0])
    if first.is_dir():
        if (first / store.INDEX).exists():
            return "monitor"
        raise ConfigError(f"{first} is a folder without {store.INDEX}: not a monitor history")
    if _is_checkpoint(first):
        return "forecast" if len(inputs) > 1 else "training"
    command = _manifest(first).get("command")
    if command == "predict":
        return "forecast"
    if command in ("evaluate", "backtest") or len(inputs) == 1:
        return "backtest"
    raise ConfigError(f"cannot tell what to plot from {first}: give MODEL DATA, FORECAST DATA, a backtest file, "
                      "MODEL or a monitor history (or --kind)")


def _is_checkpoint(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _manifest(path: Path) -> dict[str, Any]:
    """The manifest beside path, for telling what it is; {} when there is none or it is no JSON object."""
    try:
        m = json.loads(manifest_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return m if isinstance(m, dict) else {}


def plot(inputs: Sequence[Path], out_path: Path, kind: Optional[str] = None, choice: Choice = Choice(),
         report_path: Optional[Path] = None, future_path: Optional[Path] = None,
         manifest: Optional[Callable[[PlotResult, dict[str, Any]], dict[str, Any]]] = None,
         before_publish: Optional[Callable[[PlotResult], None]] = None) -> PlotResult:
    """Draw what the inputs ask for into out_path (.png or .svg), and the HTML report when
    asked; both published atomically, each with manifest(result, identity) beside it."""
    from grucast.plot import pyplot, save

    started = time.perf_counter()
    inputs = [Path(p) for p in inputs]
    fmt = save.format_of(out_path)
    if report_path is not None and Path(report_path).suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--report {report_path}: the report is an HTML file (.html)")
    kind = kind_of(inputs, kind)
    paths.check_paths([paths.Role("INPUT", p) for p in inputs] + [paths.Role("--future", future_path)],
                      paths.outputs_of("-o", Path(out_path), lock=False)
                      + paths.outputs_of("--report", None if report_path is None else Path(report_path), lock=False))
    pyplot()  # the missing extra is said before any work
    result = PlotResult(kind=kind, output=Path(out_path), report=Path(report_path) if report_path else None)
    fig = DRAW[kind](inputs, choice, result, future_path)
    data = save.figure_bytes(fig, fmt)
    staged = [publish.Staged(Path(out_path), save.writer(data),
                             manifest=None if manifest is None else (lambda identity: manifest(result, identity)))]
    if report_path is not None:
        png = data if fmt == "png" else save.figure_bytes(fig, "png")
        page = save.report(f"grucast plot: {result.lines[0] if result.lines else kind}", [(kind, png, result.lines)])
        staged.append(publish.Staged(Path(report_path), save.writer(page),
                                     manifest=None if manifest is None else (lambda identity: manifest(result, identity))))
    pyplot().close(fig)
    result.seconds = time.perf_counter() - started
    if before_publish is not None:
        before_publish(result)
    publish.publish(staged)
    return result


# ---------------------------------------------------------------- series and times


def choose(ids: list[str], sizes: dict[str, float], choice: Choice, result: PlotResult, rank: str) -> list[str]:
    """The series to draw: those named (each must exist), the top N by sizes (largest first,
    ties by id), or all when at most GRID, else the top GRID. rank names what sizes are."""
    result.of = len(ids)
    asked = len(set(choice.series)) if choice.series else choice.top
    if asked is not None and asked > MAX_PANELS:
        raise ConfigError(f"{'--series names' if choice.series else '--top asks for'} {asked:,} series; one picture "
                          f"draws {MAX_PANELS} at most: draw them in several pictures")
    if choice.series:
        missing = [s for s in choice.series if s not in set(ids)]
        if missing:
            import difflib

            near = difflib.get_close_matches(missing[0], ids, n=3)
            raise DataError(f"--series {missing[0]} is not a series of the data ({len(ids):,} series"
                            + (f"; close: {', '.join(near)}" if near else f": {preview(sorted(ids))}") + ")")
        return list(dict.fromkeys(choice.series))
    n = choice.top if choice.top is not None else (len(ids) if len(ids) <= GRID else GRID)
    if choice.top is not None and choice.top < 1:
        raise ConfigError(f"--top takes 1 or more series, got {choice.top}")
    ordered = sorted(ids, key=lambda s: (-sizes.get(s, -np.inf), s))
    chosen = ordered[:n]
    if len(chosen) < len(ids):
        result.lines.append(f"{len(chosen)} of {len(ids):,} series, the {rank} (--series or --top to choose others)")
    return chosen


def plain_times(freq: Freq, start: np.ndarray, k: np.ndarray):
    """Times for the x axis: integer steps, or datetimes as wall times (time zone dropped)."""
    t = time_at(freq, start, k)
    if freq.kind == "int":
        return np.asarray(t)
    return pd.DatetimeIndex(t).tz_localize(None) if pd.DatetimeIndex(t).tz is not None else pd.DatetimeIndex(t)


def _to_plain(col: pd.Series, freq: Freq) -> Any:
    """A forecast's times for the x axis: integer steps, or wall times as _wall gives them."""
    return pd.to_numeric(col).to_numpy() if freq.kind == "int" else _wall(col)


# ---------------------------------------------------------------- forecasts


def _forecast(inputs: list[Path], choice: Choice, result: PlotResult, future_path: Optional[Path]):
    from grucast.plot import figures

    if len(inputs) != 2:
        raise ConfigError("a forecast plot takes MODEL DATA, or FORECAST DATA (a file written by grucast predict)")
    source, data = inputs
    if _is_checkpoint(source):
        frame, card, origins, model = _predicted(source, data, future_path)
    else:
        frame, card, origins, model = _from_file(source)
    schema, freq = Schema.from_dict(card["schema"]), Freq.from_dict(card["freq"])
    panel = _panel(data, card, future_path)
    names = _row_names(frame, schema, panel)
    index = {str(i): k for k, i in enumerate(panel.ids)}
    season, horizon = int(card.get("season") or 1), int(card["horizon"])
    tail = choice.tail if choice.tail is not None else max(3 * season, 2 * horizon)
    if tail < 1:
        raise ConfigError(f"--tail takes 1 or more steps, got {tail}")
    lengths = np.diff(panel.offsets)
    sizes = {s: float(np.nanmean(np.abs(panel.values[panel.offsets[index[s]]:panel.offsets[index[s] + 1]][-tail:])))
             for s in dict.fromkeys(names) if s in index}
    chosen = choose(list(sizes), sizes, choice, result, "largest (mean absolute value)")
    frame = frame.assign(_name=names, time=_to_plain(frame[schema.time_col], freq))
    levels = [f"{x:g}" for x in card.get("intervals") or ()]
    ends = _origin_ends(panel, [index[s] for s in chosen], [origins.get(s) for s in chosen])
    views = []
    for s, end in zip(chosen, ends):
        k = index[s]
        n = int(lengths[k])
        steps = np.arange(max(0, end - tail), end)  # the history up to the forecast's origin
        after = np.arange(end, min(n, end + horizon))  # actuals that arrived since: a past forecast's truth
        t = plain_times(freq, np.full(len(steps), panel.start[k]), steps)
        f = frame[frame["_name"] == s]
        views.append(figures.SeriesView(s, t, _observed(panel, k, steps), f, origin=t[-1] if len(t) else None,
                                        future=_covariates(panel, schema, k, steps, horizon, t, f["time"]),
                                        actual_t=plain_times(freq, np.full(len(after), panel.start[k]), after),
                                        actual_y=_observed(panel, k, after)))
    result.series = chosen
    value = schema.target or "value"
    shown = min(tail, max(ends)) if ends else tail
    result.lines.insert(0, f"forecast of {model}: {len(chosen)} series, horizon {horizon}, last {shown} steps of history")
    return figures.forecast_figure(views, schema.time_col, value, model, levels)


def _observed(panel: Panel, k: int, steps: np.ndarray) -> np.ndarray:
    """Values of series k at the grid steps; NaN where the data had none (a filled gap is not data)."""
    y = panel.values[panel.offsets[k] + steps].astype(np.float64)
    if panel.observed is not None:
        y[~panel.observed[panel.offsets[k] + steps]] = np.nan
    return y


def _origin_ends(panel: Panel, series: list[int], origins: list[Optional[str]]) -> list[int]:
    """Per series, the grid position just after its forecast's origin (the manifest's), or its
    length when the origin is unknown or the data ends there; DataError when the data no longer
    holds the origin."""
    from grucast.workflows.monitor import grid_positions

    lengths = np.diff(panel.offsets)
    known = [i for i, o in enumerate(origins) if o is not None]
    ends = [int(lengths[k]) for k in series]
    if known:
        t = store.to_int_times(pd.Series([origins[i] for i in known], dtype=object), panel.freq.kind).to_numpy()
        pos = grid_positions(panel, np.array([series[i] for i in known]), t)
        if pos is None or (pos < 0).any() or (pos >= lengths[[series[i] for i in known]]).any():
            raise DataError("DATA does not hold the forecast's origins (it starts after them, or ends before them): "
                            "plot a forecast file against the data it was made from, or newer")
        for i, p in zip(known, pos):
            ends[i] = int(p) + 1
    return ends


def _predicted(model: Path, data: Path, future_path: Optional[Path]):
    from grucast import checkpoint
    from grucast.workflows.predict import forecast_data

    ckpt = checkpoint.load(model)
    r = forecast_data(ckpt, data, future_path, model_file=model)
    return r.forecasts, checkpoint.card(ckpt), r.origins, model.name


def _from_file(path: Path):
    why, m = read_predict_manifest(path)
    if m is None or not m.get("model"):
        why = why or f"its manifest {path.name}.manifest.json does not describe the model (grucast 0.3)"
        raise DataError(f"{path} cannot be plotted from its manifest: {why}; plot it from MODEL DATA instead")
    frame, _, _, _ = read_source(path, None)
    if frame.empty:
        raise DataError(f"{path} holds no forecast rows: nothing to plot")
    return frame, m["model"], m.get("origins", {}), Path(str((m.get("checkpoint") or {}).get("path", "the model"))).name


def _panel(data: Path, card: dict[str, Any], future_path: Optional[Path] = None) -> Panel:
    """The data as the checkpoint read it (with --future's rows, as predict merges them)."""
    from grucast.config.settings import DataConfig
    from grucast.data.table import load_future, load_table_like, merge_future

    reading = card["reading"]
    cfg = DataConfig(fill=reading["fill"], sep=reading.get("sep"), duplicates=reading.get("duplicates", "error"))
    schema = Schema.from_dict(card["schema"])
    table = load_table_like(Path(data), schema, cfg)
    if future_path is not None:
        table = merge_future(table, load_future(Path(future_path), schema, cfg))
    return build_panel(table, cfg.fill, freq=Freq.from_dict(card["freq"]))


def _covariates(panel: Panel, schema: Schema, k: int, steps: np.ndarray, horizon: int, t_history: Any,
                t_forecast: Any) -> dict[str, tuple[Any, np.ndarray]]:
    """Every future covariate of series k over the history tail and the horizon, for the panel
    beneath the forecast; {} for a model without them."""
    from grucast.features.future import future_values

    names = tuple(schema.future_cols)
    if not names or panel.covs is None:
        return {}
    ahead = future_values(panel, names, horizon)[k]  # [H, F]
    out = {}
    for j, name in enumerate(names):
        past = panel.covs[panel.offsets[k] + steps, panel.cov_names.index(name)].astype(np.float64)
        times = np.concatenate([np.asarray(t_history), np.asarray(t_forecast)])
        out[name] = (times, np.concatenate([past, ahead[:len(t_forecast), j].astype(np.float64)]))
    return out


def _row_names(frame: pd.DataFrame, schema: Schema, panel: Panel) -> list[str]:
    id_col = schema.output_id_col
    if len(schema.targets) > 1:
        target = "target" if "target" in frame else "target_column"
        ids = frame[id_col].astype(str) if id_col in frame else pd.Series([""] * len(frame))
        return [f"{i}/{t}" if id_col else str(t) for i, t in zip(ids, frame[target].astype(str))]
    if id_col is None or id_col not in frame:
        return [str(panel.ids[0])] * len(frame)
    return frame[id_col].astype(str).tolist()


# ---------------------------------------------------------------- backtests


BACKTEST_COLUMNS = ("cutoff", "window", "actual", "forecast", "naive", "seasonal_naive")


def _backtest(inputs: list[Path], choice: Choice, result: PlotResult, future_path: Optional[Path]):
    from grucast.plot import figures

    if len(inputs) != 1:
        raise ConfigError("a backtest plot takes one file: the -o output of grucast evaluate or backtest")
    path = inputs[0]
    frame, _, _, _ = read_source(path, None)
    missing = [c for c in BACKTEST_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path} is not an output of grucast evaluate or backtest: it has no column "
                        f"{', '.join(repr(c) for c in missing)}")
    if frame.empty:
        raise DataError(f"{path} holds no forecast rows: nothing to plot")
    cols = list(frame.columns)
    time_col = cols[cols.index("cutoff") + 1]
    id_cols = [c for c in cols[:cols.index("cutoff")] if c not in ("cell", "seed")]
    if "cell" in frame:  # a comparison of cells: the first run of the first cell
        first = frame[["cell", "seed"]].iloc[0]
        frame = frame[(frame["cell"] == first["cell"]) & (frame["seed"] == first["seed"])]
        result.lines.append(f"the {str(first['cell']).upper()} run of seed {first['seed']} (of a comparison of cells)")
    names = frame[id_cols].astype(str).agg("/".join, axis=1) if id_cols else pd.Series(["series"] * len(frame), index=frame.index)
    numeric = pd.api.types.is_numeric_dtype(frame[time_col])
    frame = frame.assign(_name=names.to_numpy(), time=frame[time_col].to_numpy() if numeric else _wall(frame[time_col]))
    frame["step"] = frame.groupby(["_name", "window"], sort=False).cumcount() + 1
    err = {c: (frame["actual"] - frame[c]).abs() for c in ("forecast", "naive", "seasonal_naive")}
    rel = (err["forecast"].groupby(frame["_name"]).mean() / err["seasonal_naive"].groupby(frame["_name"]).mean())
    chosen = choose(list(dict.fromkeys(frame["_name"])), rel.replace([np.inf], np.nan).fillna(-1).to_dict(), choice,
                    result, "worst (MAE over seasonal naive's)")
    by_step = pd.DataFrame({"step": frame["step"], **err}).groupby("step", as_index=False).mean()
    result.series = chosen
    title = f"Backtest in {path.name}: {frame['window'].nunique()} windows, {len(chosen)} series"
    result.lines.insert(0, title)
    value = "value"
    panels = [(s, frame[frame["_name"] == s]) for s in chosen]
    return figures.backtest_figure(panels, by_step, time_col, value, title)


def _wall(col: pd.Series) -> pd.DatetimeIndex:
    """Times as written (ISO text with or without an offset) as wall times: the offset, which
    may change within a file (daylight saving), is dropped, not converted to UTC."""
    text = col.astype(str).str.replace(r"(Z|[+-]\d\d:?\d\d)$", "", regex=True)
    return pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601"))


# ---------------------------------------------------------------- training, monitoring, gates


def _training(inputs: list[Path], choice: Choice, result: PlotResult, future_path: Optional[Path]):
    from grucast import checkpoint
    from grucast.plot import figures

    if len(inputs) != 1:
        raise ConfigError("a training plot takes one checkpoint: MODEL")
    _no_series(choice, "a training plot")
    ckpt = checkpoint.load(inputs[0])
    history = pd.DataFrame(ckpt.history)
    if history.empty:
        raise DataError(f"{inputs[0]} holds no training history (a checkpoint saved without validation checks)")
    if "member" not in history:
        history["member"] = 0
    best = ckpt.info.get("best_step")
    title = (f"Training of {inputs[0].name}: {ckpt.config.model.cell.upper()}, {history['member'].nunique()} "
             f"network(s), {int(history['step'].max()):,} steps" + (f", best at step {int(best):,}" if best is not None else ""))
    result.lines.insert(0, title)
    if "lr" not in history:
        result.lines.append("the checkpoint predates the learning rate in its history (grucast 0.3): losses alone")
    return figures.training_figure(history, title)


def _monitor(inputs: list[Path], choice: Choice, result: PlotResult, future_path: Optional[Path]):
    from grucast.plot import figures

    if len(inputs) != 1:
        raise ConfigError("a monitoring plot takes one history folder (grucast monitor --history)")
    _no_series(choice, "a monitoring plot (it draws the mean over the series)")
    folder = inputs[0]
    h = store.read_history(folder, label="HISTORY")
    every = h.origins()
    if not every:
        raise DataError(f"the history {folder} holds no scored forecast yet: nothing to plot")
    last = choice.tail if choice.tail is not None else MONITOR_ORIGINS
    if last < 1:
        raise ConfigError(f"--tail takes 1 or more origins, got {last}")
    origins = every[-last:]  # the parts of these alone are read: a year of history stays cheap to draw
    if len(origins) < len(every):
        result.lines.append(f"the last {len(origins)} of {len(every)} origins (--tail N for more)")
    rows = store.read_parts(h, set(origins), columns=["series_id", "origin", "actual", "forecast", "seasonal_naive",
                                                       "scale", "checkpoint_sha256"] + h.bound_columns())
    rows["model_err"] = (rows["actual"] - rows["forecast"]).abs() / rows["scale"]
    rows["base_err"] = (rows["actual"] - rows["seasonal_naive"]).abs() / rows["scale"]
    per = rows.groupby(["checkpoint_sha256", "series_id", "origin"], observed=True)[["model_err", "base_err"]].mean()
    per = per.groupby(level=[0, 2]).mean().reset_index()
    label = {k: f"{Path(str(v.get('path'))).name} ({k[:8]})" for k, v in h.checkpoints.items()}
    freq_kind = h.time_kind
    def as_time(o):  # wall times of the data's zone, as the forecast plots draw them
        if freq_kind == "int":
            return o
        t = pd.DatetimeIndex(pd.to_datetime(np.asarray(o, dtype=np.int64), unit="ns"))
        return t.tz_localize("UTC").tz_convert(h.tz).tz_localize(None) if h.tz else t
    per_origin = pd.DataFrame({"checkpoint": per["checkpoint_sha256"].astype(str).map(lambda k: label.get(k, k[:8])),
                               "origin": as_time(per["origin"]), "model": per["model_err"],
                               "seasonal_naive": per["base_err"]})
    cover = []
    for col in [c for c in rows.columns if c.startswith("lo-")]:
        level = col[3:]
        ok = rows[col].notna() & rows[f"hi-{level}"].notna()
        inside = ((rows["actual"] >= rows[col]) & (rows["actual"] <= rows[f"hi-{level}"]))[ok]
        c = (100 * inside.groupby(rows["origin"][ok]).mean()).reset_index(name="coverage")
        cover.append(c.assign(level=level, origin=as_time(c["origin"])))
    coverage = pd.concat(cover, ignore_index=True) if cover else pd.DataFrame()
    title = f"Monitoring of {folder.name}: {len(origins)} origins, {len(rows):,} scored steps"
    result.lines.insert(0, title)
    result.series = []
    return figures.monitor_figure(per_origin, coverage, title, "time" if freq_kind != "int" else "step")


def _no_series(choice: Choice, what: str) -> None:
    if choice.series or choice.top is not None:
        raise ConfigError(f"--series and --top choose the series of forecast and backtest plots, not of {what}")


def _gates(inputs: list[Path], choice: Choice, result: PlotResult, future_path: Optional[Path]):
    from grucast.plot import figures
    from grucast.workflows.gates import gates

    if len(inputs) != 2 or not _is_checkpoint(inputs[0]):
        raise ConfigError("a gates plot takes MODEL DATA (as grucast gates does)")
    doc = gates(inputs[0], inputs[1]).to_dict()
    title = (f"Gates of {inputs[0].name} ({doc['cell'].upper()}): advice {doc['advice']}"
             + (f", --input-size {doc['suggested_input_size']}" if doc["advice"] != "keep" else ""))
    result.lines.insert(0, title)
    result.lines += list(doc.get("reasons", []))
    return figures.gates_figure(doc, title)


DRAW: dict[str, Callable] = {"forecast": _forecast, "backtest": _backtest, "training": _training,
                             "monitor": _monitor, "gates": _gates}
