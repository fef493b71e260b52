"""`monitor`: score past forecasts against the actuals that have since arrived in the data,
keep the scored rows in a history folder (ops.history), summarize them per checkpoint beside its
validation metrics, and check drift gates.

forecast files (each with its predict manifest: origins, checkpoint, card) -> the data, read as
the checkpoint read it -> every row placed on the data's grid -> actual and baselines at its
origin (evaluation.monitoring) -> rows not recorded yet -> a new history part -> the summary of
the last N origins -> gates. Nothing here imports torch, except to read an old manifest's
checkpoint.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from grucast.config.settings import DataConfig
from grucast.data.freq import Freq, time_at
from grucast.data.panel import Panel, build_panel
from grucast.data.read import read_source
from grucast.data.schema import Schema
from grucast.data.table import load_table_like
from grucast.errors import ConfigError, DataError, GrucastError, QualityGateError, preview
from grucast.evaluation import monitoring
from grucast.ops import history as store
from grucast.ops import locks, publish
from grucast.ops.gates import BASELINES
from grucast.ops.manifest import read_predict_manifest
from grucast.ops.paths import file_identity, manifest_path

FORECAST_SUFFIXES = (".csv", ".parquet", ".pq", ".json")
LAST = 30  # origins in the summary and the gates by default


@dataclass
class Skip:
    """Forecasts left out, and why: a whole file, or some series of one."""

    file: str
    reason: str
    series: list[str] = field(default_factory=list)
    rows: int = 0

    def text(self) -> str:
        if self.series:
            return f"{len(self.series)} series of {self.file} ({preview(self.series)}): {self.reason}"
        return f"{self.file}: {self.reason}"


@dataclass
class Forecast:
    """One forecast file with what its manifest says."""

    path: Path
    identity: dict[str, Any]
    manifest: dict[str, Any]
    card: dict[str, Any]
    newest: Optional[int] = None  # its newest origin on the data's clock (int64), once its rows were placed

    @property
    def checkpoint(self) -> dict[str, Any]:
        return self.manifest.get("checkpoint") or {}

    @property
    def made(self) -> str:
        return str(self.manifest.get("finished_at") or "")


@dataclass
class MonitorResult:
    history: Path
    files: int = 0  # forecast files read
    added: int = 0  # rows newly recorded
    duplicates: int = 0  # rows already in the history (or twice among the files)
    pending: int = 0  # rows whose time is after the data's end
    pending_forecasts: int = 0  # forecasts (series, origin) with such rows
    missing: int = 0  # rows whose time falls in a gap of the data: not scored
    waiting: list[pd.DataFrame] = field(default_factory=list)  # pending rows per file, counted once in the end
    skipped: list[Skip] = field(default_factory=list)
    last: int = LAST
    window: dict[str, Any] = field(default_factory=dict)  # origins, first, last
    checkpoints: list[dict[str, Any]] = field(default_factory=list)  # summary per checkpoint, current first
    gates: list[dict[str, Any]] = field(default_factory=list)  # gate, passed, text
    advice: str = ""  # what to do when a gate failed: retrain, and the worst series
    seconds: float = 0.0

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [g for g in self.gates if not g["passed"]]

    def gate_error(self) -> Optional[QualityGateError]:
        """The error a cron job exits 5 with when a drift gate failed; None when all passed."""
        if not self.failed:
            return None
        model = any(g.get("retrain", True) for g in self.failed)  # not only a gate that cannot be checked
        advice = self.advice if model else "check the gate's settings against the model"
        return QualityGateError("drift gate failed: " + "; ".join(g["text"] for g in self.failed) + f"; {advice}")

    def to_dict(self) -> dict[str, Any]:
        return {"history": str(self.history), "files": self.files, "added": self.added,
                "duplicates": self.duplicates, "pending": {"rows": self.pending, "forecasts": self.pending_forecasts},
                "missing": self.missing,
                "skipped": [{"file": s.file, "reason": s.reason, "series": s.series, "rows": s.rows}
                            for s in self.skipped],
                "last": self.last, "window": self.window, "checkpoints": self.checkpoints, "gates": self.gates,
                "advice": self.advice if self.failed else None,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Gates:
    """The drift gates: each None when not asked for."""

    fail_if_worse_than: Optional[str] = None  # naive | seasonal-naive
    max_degradation: Optional[float] = None  # percent above validation MASE
    min_coverage: Optional[dict[str, float]] = None  # level text ('*': every level) -> percent

    @classmethod
    def parse(cls, fail_if_worse_than: Optional[str] = None, max_degradation: Optional[str] = None,
              min_coverage: Optional[str] = None) -> "Gates":
        if fail_if_worse_than is not None and fail_if_worse_than not in BASELINES:
            raise ConfigError(f"--fail-if-worse-than takes {' or '.join(BASELINES)}, got '{fail_if_worse_than}'")
        try:
            degradation = None if max_degradation is None else monitoring.parse_percent(max_degradation, "--max-degradation")
            coverage = None if min_coverage is None else monitoring.parse_coverage(min_coverage)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return cls(fail_if_worse_than, degradation, coverage)


# ---------------------------------------------------------------- monitor


def monitor(data_path: Path, forecast_paths: Sequence[Path], history_path: Path, last: int = LAST,
            gates: Optional[Gates] = None, *, fail_if_worse_than: Optional[str] = None,
            max_degradation: Optional[str] = None, min_coverage: Optional[str] = None,
            wait: bool = False) -> MonitorResult:
    """Score the forecasts of forecast_paths (files, or folders of them) against data_path,
    add the rows not recorded yet to the history folder, and summarize the last `last` origins
    of the history per checkpoint with the gates' verdicts (MonitorResult.failed, .gate_error()).
    The gates are a Gates or the CLI's texts ('seasonal-naive', '25%', '80=70'). The history is
    published whatever the gates say: a failed gate is about the model, and the rows it failed
    on are kept. The history is locked (HISTORY.lock beside it: LockedError while another run
    holds it, or wait) from reading its index to publishing the new part."""
    gates = gates if gates is not None else Gates.parse(fail_if_worse_than, max_degradation, min_coverage)
    if last < 1:
        raise ConfigError(f"--last takes 1 or more origins, got {last}")
    store.check_folder(Path(history_path), store.input_roles(Path(data_path), forecast_paths))
    with locks.lock(Path(history_path), wait):
        return _monitor(Path(data_path), forecast_paths, Path(history_path), last, gates)


def _monitor(data_path: Path, forecast_paths: Sequence[Path], history_path: Path, last: int,
             gates: Gates) -> MonitorResult:
    started = time.perf_counter()
    result = MonitorResult(history=Path(history_path), last=last)
    forecasts = _forecasts(_expand(forecast_paths, Path(history_path)), result.skipped)
    if not forecasts:
        reasons = "; ".join(s.text() for s in result.skipped[:2])
        raise DataError(f"none of the forecast files could be scored ({reasons})" if reasons
                        else "no forecast files were given (FORECAST: files written by grucast predict, or folders of them)")
    rows, cards, freq = _scored(Path(data_path), forecasts, result)
    result.files = sum(f.newest is not None for f in forecasts)  # the files placed on the data's grid
    if result.waiting:  # a forecast in two files (a copy, a folder and its file) waits once
        waiting = pd.concat(result.waiting, ignore_index=True).drop_duplicates()
        result.pending, result.pending_forecasts = len(waiting), len(waiting[["checkpoint", "s", "o"]].drop_duplicates())
    result.waiting = []
    if not result.files:  # before anything is written: a nightly job that scores nothing must fail
        reasons = "; ".join(s.text() for s in result.skipped[:2])
        raise DataError(f"none of the forecast files could be scored ({reasons})")
    h = store.open_history(Path(history_path), freq.kind, freq.tz)
    new = _unrecorded(h, rows, result)
    window = _window(h, new, last)  # read before anything is written: a damaged part fails the run here
    staged = store.staged_append(h, new, {"data": file_identity(Path(data_path))}, cards)
    _summarize(h, result, forecasts, window, gates)
    if staged:
        store.make_folder(h.folder)
        publish.publish(staged)
    result.added = len(new)
    result.seconds = time.perf_counter() - started
    return result


def _window(h: store.History, new: pd.DataFrame, last: int) -> tuple[list[str], pd.DataFrame]:
    """The last origins of the history with this run's rows in it, and their rows: those the
    history holds and the new ones."""
    texts = {store.time_text(o, h.time_kind, h.tz): o for o in new["origin"].unique()} if len(new) else {}
    origins = h.origins(more=list(texts))[-last:]
    old = store.read_parts(h, set(origins), columns=SUMMARY_COLUMNS + h.bound_columns())
    mine = new[new["origin"].isin([texts[t] for t in origins if t in texts])] if texts else new.iloc[:0]
    frames = [f for f in (old, mine) if len(f)]
    rows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames[0] if frames else old)
    return origins, rows


def _expand(paths: Sequence[Path], history: Path) -> list[Path]:
    """Files as given; of a folder, its forecast files (by suffix, manifests aside), by name. A
    file named twice (or through a folder too) is read once; the history folder is never read."""
    out, seen = [], set()
    for path in map(Path, paths):
        if path.is_dir():
            if os.path.abspath(path) == os.path.abspath(history):
                continue
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in FORECAST_SUFFIXES
                           and not p.name.endswith(".manifest.json") and not p.name.startswith("."))
        elif path.exists():
            found = [path]
        else:
            raise DataError(f"forecast file {path} does not exist")
        for p in found:
            st = os.stat(p)
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                out.append(p)
    return out


def _forecasts(paths: list[Path], skipped: list[Skip]) -> list[Forecast]:
    """The files whose manifest says what they are; the others skipped, with the reason."""
    out = []
    for path in paths:
        why, forecast = _forecast(path)
        if forecast is None:
            skipped.append(Skip(str(path), why))
        else:
            out.append(forecast)
    return out


def _forecast(path: Path) -> tuple[str, Optional[Forecast]]:
    why, manifest = read_predict_manifest(path)
    if manifest is None:
        return why, None
    identity = file_identity(path)
    if manifest["output"].get("sha256") != identity["sha256"]:
        return (f"its manifest {manifest_path(path).name} describes another file (sha256 differs): the forecasts "
                "were changed after grucast predict wrote them"), None
    card = manifest.get("model") or _old_card(manifest)
    if not card:
        ckpt = (manifest.get("checkpoint") or {}).get("path")
        return (f"its manifest (grucast {(manifest.get('versions') or {}).get('grucast', '?')}) does not describe the "
                f"model, and checkpoint {ckpt} is gone or was replaced since: forecast again with this grucast"), None
    return "", Forecast(path, identity, manifest, card)


def _old_card(manifest: dict[str, Any]) -> dict[str, Any]:
    """The card of a manifest written before predict recorded it: from the checkpoint it
    names, when that file is still there unchanged; {} otherwise."""
    named = manifest.get("checkpoint") or {}
    path = Path(str(named.get("path", "")))
    if not named.get("sha256") or not path.is_file() or file_identity(path)["sha256"] != named["sha256"]:
        return {}
    from grucast import checkpoint  # imports torch: only for such old manifests

    try:
        return checkpoint.card(checkpoint.load(path))
    except GrucastError:  # a damaged or foreign checkpoint: the file is skipped, with the others scored
        return {}


# ---------------------------------------------------------------- scoring the files


def _scored(data_path: Path, forecasts: list[Forecast], result: MonitorResult
            ) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], Freq]:
    """Every forecast row with an actual, as history rows; the cards by checkpoint sha256; the
    data's frequency. The data is read once per layout the files' checkpoints name."""
    panels: dict[str, tuple[Panel, dict, dict, dict]] = {}  # layout -> panel, ids, pairs, sums by season
    frames, cards, freq = [], {}, None
    scored_at = pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")
    for f in forecasts:
        layout_key = json.dumps([f.card["schema"], f.card["reading"], f.card["freq"]], sort_keys=True)
        if layout_key not in panels:
            panels[layout_key] = (*_panel(data_path, f.card), {})
        panel, index_of, pairs, sums = panels[layout_key]
        if freq is not None and (freq.kind, freq.tz) != (panel.freq.kind, panel.freq.tz):
            result.skipped.append(Skip(str(f.path), "its timestamps are of another kind than the other files'"))
            continue
        freq = panel.freq
        frame = _file_rows(f, panel, index_of, pairs, sums, result)
        if frame is None:
            continue
        sha = f.checkpoint.get("sha256") or ""
        cards[sha] = {"path": f.checkpoint.get("path"), "card": f.card}
        frames.append(frame.assign(checkpoint_sha256=sha, checkpoint=str(f.checkpoint.get("path")),
                                   forecast_file=str(f.path), forecast_sha256=f.identity["sha256"],
                                   forecast_made=f.made, scored_at=scored_at))
    if freq is None:
        raise DataError("none of the forecast files could be scored: " + "; ".join(s.text() for s in result.skipped[:2]))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=store.HISTORY_COLUMNS)
    return rows, cards, freq


def _panel(data_path: Path, card: dict[str, Any]) -> tuple[Panel, dict[str, int], dict[str, str]]:
    """The data as the checkpoint read it, on its grid (gaps filled by its policy, observed
    kept); the panel index of every series by its id; and with several targets, the id of the
    series a forecast row names by its id and target (PAIR-joined)."""
    schema = Schema.from_dict(card["schema"])
    reading = card["reading"]
    cfg = DataConfig(fill=reading["fill"], sep=reading.get("sep"), duplicates=reading.get("duplicates", "error"))
    table = load_table_like(Path(data_path), schema, cfg)
    panel = build_panel(table, cfg.fill, freq=Freq.from_dict(card["freq"]))
    index_of = {str(i): k for k, i in enumerate(panel.ids)}  # one entry per series
    pairs = {f"{p[0] or ''}{PAIR}{p[1]}": s for s, p in table.parts.items()}
    return panel, index_of, pairs


PAIR = "\x1f"  # joins a forecast row's id and target into the key of its series (a character no id holds)


def _file_rows(f: Forecast, panel: Panel, index_of: dict[str, int], pairs: dict[str, str],
               sums: dict[int, np.ndarray], result: MonitorResult) -> Optional[pd.DataFrame]:
    """The rows of one forecast file, scored where their actual arrived; None when the file is
    skipped (its reason added to result.skipped)."""
    schema = Schema.from_dict(f.card["schema"])
    try:
        frame, _, _, _ = read_source(f.path, None)
    except DataError as e:
        result.skipped.append(Skip(str(f.path), f"cannot be read: {e}"))
        return None
    names, why = _series_names(frame, schema, panel, pairs)
    if names is None:
        result.skipped.append(Skip(str(f.path), why))
        return None
    origins = {str(k): v for k, v in f.manifest["origins"].items()}
    no_origin = sorted(set(np.unique(names)) - set(origins))
    if no_origin:
        result.skipped.append(Skip(str(f.path), f"its manifest gives no origin for series {preview(no_origin)}"))
        return None
    if frame.empty:
        return frame.iloc[:0]
    try:
        t = store.to_int_times(frame[schema.time_col], panel.freq.kind).to_numpy()
        parsed = store.to_int_times(pd.Series(list(origins.values()), dtype=object), panel.freq.kind)
        origin = pd.Series(names).map(dict(zip(origins, parsed.to_numpy()))).to_numpy(dtype=np.int64)
    except (ValueError, TypeError, OverflowError):
        result.skipped.append(Skip(str(f.path), f"its times in column '{schema.time_col}' (or its manifest's origins) "
                                                f"are not {'integer steps' if panel.freq.kind == 'int' else 'datetimes'}"))
        return None
    series = pd.Series(names).map(index_of).fillna(-1).to_numpy(dtype=np.int64)
    keep = _placeable(f, names, series, result)
    pos, origin_pos = grid_positions(panel, series, t), grid_positions(panel, series, origin)
    if pos is None or origin_pos is None:
        result.skipped.append(Skip(str(f.path), f"its times are off the grid of the data ({panel.freq.describe()})"))
        return None
    step = pos - origin_pos
    bad = keep & ((step < 1) | (step > int(f.card["horizon"])))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        why = ("not after its origin {o}: not a forecast of that origin, and it would be scored on data the model saw"
               if step[i] < 1 else f"more than the horizon ({f.card['horizon']} steps) after its origin {{o}}: not a "
               "forecast this checkpoint makes")
        result.skipped.append(Skip(str(f.path), (
            f"row {i + 2} (series {names[i]}, {frame[schema.time_col].iloc[i]}) is " + why.format(o=origins[names[i]]))))
        return None
    keep &= _with_history(f, names, series, origin_pos, panel, int(f.card["season"] or 1), result)
    if keep.any():  # a file with rows placed on the grid: it counts as scored, and may name the current checkpoint
        f.newest = int(origin.max())
    return _rows(f, frame, names, series, t, origin, origin_pos, pos, step, keep, panel, sums, result)


def _series_names(frame: pd.DataFrame, schema: Schema, panel: Panel, pairs: dict[str, str]):
    """Every row's series as the manifest's origins name it (the panel's id), or (None, why)."""
    id_col = schema.output_id_col
    needed = [c for c in (id_col, schema.time_col, "forecast") if c is not None]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        return None, f"it has no column {', '.join(repr(c) for c in missing)}: not a forecast of this checkpoint"
    if len(schema.targets) > 1:
        target_col = "target" if "target" not in (id_col, schema.time_col) else "target_column"
        ids = frame[id_col].astype(str) if id_col else pd.Series("", index=frame.index)
        if target_col not in frame.columns:
            return None, f"it has no column '{target_col}': not a forecast of this checkpoint"
        keys = ids + PAIR + frame[target_col].astype(str)
        return keys.map(pairs).fillna(keys).to_numpy(dtype=object), None
    if id_col is None:
        return np.full(len(frame), str(panel.ids[0]) if len(panel.ids) else "", dtype=object), None
    return frame[id_col].astype(str).to_numpy(dtype=object), None


def _placeable(f: Forecast, names: np.ndarray, series: np.ndarray, result: MonitorResult) -> np.ndarray:
    keep = series >= 0
    if not keep.all():
        absent = sorted(set(names[~keep]))
        result.skipped.append(Skip(str(f.path), "not in DATA", absent, int((~keep).sum())))
    return keep


def grid_positions(panel: Panel, series: np.ndarray, t: np.ndarray) -> Optional[np.ndarray]:
    """Grid position of every time t (int64: UTC nanoseconds, or integer steps) in its series,
    negative before the series' first point, -1 for series -1; None when a time is off the grid."""
    start = panel.start[np.maximum(series, 0)]
    step = panel.freq.step if panel.freq.kind == "int" else panel.freq.fixed_nanos()
    if step is not None:
        pos, rem = np.divmod(np.asarray(t, dtype=np.int64) - start, step)
        return None if (rem[series >= 0] != 0).any() else np.where(series >= 0, pos, -1)
    pos = np.full(len(t), -1, dtype=np.int64)  # calendar frequencies (months, business days): a grid per series
    for s in np.unique(series[series >= 0]):
        at = series == s
        first = time_at(panel.freq, panel.start[s], 0)[0]
        stamps = pd.DatetimeIndex(pd.to_datetime(t[at], unit="ns"))
        if panel.freq.tz:
            stamps = stamps.tz_localize("UTC").tz_convert(panel.freq.tz)
        lo, hi = min(first, stamps.min()), max(first, stamps.max())
        grid = pd.date_range(lo, hi, freq=panel.freq.offset)  # from before the series when a time is
        p, zero = grid.get_indexer(stamps), grid.get_indexer([first])[0]
        if (p < 0).any() or zero < 0:
            return None
        pos[at] = p - zero
    return pos


def _with_history(f: Forecast, names: np.ndarray, series: np.ndarray, origin_pos: np.ndarray, panel: Panel,
                  season: int, result: MonitorResult) -> np.ndarray:
    """Rows whose origin the data still holds with a season of history before it."""
    lengths = np.diff(panel.offsets)[np.maximum(series, 0)]
    placed = series >= 0
    after_end = placed & (origin_pos >= lengths)
    short = placed & ~after_end & ~monitoring.has_history(origin_pos, season)
    for mask, reason in (
        (after_end, "DATA ends before the forecast's origin: is DATA older than the forecast?"),
        (short, f"DATA no longer holds the origin and the season ({season} steps) before it that the baselines and "
                "the MASE scale need: keep more history in DATA"),
    ):
        if mask.any():
            result.skipped.append(Skip(str(f.path), reason, sorted(set(names[mask])),
                                       int(mask.sum())))
    return placed & ~after_end & ~short


def _rows(f: Forecast, frame: pd.DataFrame, names: np.ndarray, series: np.ndarray, t: np.ndarray, origin: np.ndarray,
          origin_pos: np.ndarray, pos: np.ndarray, step: np.ndarray, keep: np.ndarray, panel: Panel,
          sums: dict[int, np.ndarray], result: MonitorResult) -> pd.DataFrame:
    """History rows of the kept rows whose actual arrived; pending and missing counted."""
    k = np.flatnonzero(keep)
    season = int(f.card["season"] or 1)
    if season not in sums:  # once per panel and season, whatever the number of files
        sums[season] = monitoring.seasonal_sums(panel.values, panel.offsets, season)
    s = monitoring.score_rows(panel.values, panel.observed, panel.offsets, series[k], origin_pos[k], pos[k],
                              season, sums[season])
    names_k = names[k]
    result.waiting.append(pd.DataFrame({"checkpoint": f.checkpoint.get("sha256") or "", "s": names_k[s.pending],
                                        "o": origin[k][s.pending], "step": step[k][s.pending]}))
    arrived = np.isfinite(s.actual)
    result.missing += int((~s.pending & ~arrived).sum())
    out = {"series_id": names_k, "origin": origin[k], "step": step[k], "timestamp": t[k], "actual": s.actual,
           "forecast": frame["forecast"].to_numpy(dtype=np.float64)[k], "naive": s.naive,
           "seasonal_naive": s.seasonal_naive, "scale": s.scale,
           "method": frame["method"].astype(str).to_numpy()[k] if "method" in frame else "gru"}
    for level in f.card.get("intervals") or ():
        for side in ("lo", "hi"):
            col = f"{side}-{level:g}"
            if col in frame:
                out[col] = frame[col].to_numpy(dtype=np.float64)[k]
    return pd.DataFrame(out)[arrived].reset_index(drop=True)


# ---------------------------------------------------------------- the history


def _unrecorded(h: store.History, rows: pd.DataFrame, result: MonitorResult) -> pd.DataFrame:
    """The rows not in the history yet, each once (the first file's, when files overlap)."""
    if rows.empty:
        return rows
    first = rows.drop_duplicates(store.KEY, keep="first")
    result.duplicates += len(rows) - len(first)
    origins = {store.time_text(o, h.time_kind, h.tz) for o in first["origin"].unique()}
    known = store.read_parts(h, origins, columns=store.KEY)
    if known.empty:
        return first.reset_index(drop=True)
    seen = first[store.KEY].merge(known.drop_duplicates(), on=store.KEY, how="left", indicator=True)["_merge"] == "both"
    result.duplicates += int(seen.sum())
    return first[~seen.to_numpy()].reset_index(drop=True)


# ---------------------------------------------------------------- summary and gates


def _summarize(h: store.History, result: MonitorResult, forecasts: list[Forecast],
               window: tuple[list[str], pd.DataFrame], gates: Gates) -> None:
    """Scores of the window's origins per checkpoint, the current one first, and the gates on it."""
    origins, rows = window
    result.window = {"origins": len(origins), "first": origins[0] if origins else None,
                     "last": origins[-1] if origins else None}
    current = _current(forecasts, rows)
    order = sorted(rows["checkpoint_sha256"].unique().tolist(), key=lambda k: (k != current, k))
    if current not in order:
        order.insert(0, current)
    for sha in order:
        known = h.checkpoints.get(sha, {})
        card = known.get("card", {})
        levels = [f"{x:g}" for x in card.get("intervals") or ()]
        mine = rows[rows["checkpoint_sha256"] == sha]
        entry: dict[str, Any] = {"checkpoint": known.get("path"), "sha256": sha, "current": sha == current,
                                 "cell": card.get("cell")}
        if len(mine):
            entry.update(monitoring.summary(mine, int(card.get("horizon") or mine["step"].max()), levels))
            validation = monitoring.validation_of(card)
            entry["validation"] = validation
            entry["ratio"] = monitoring.ratios(entry, validation) if validation else {}
        else:
            entry.update({"rows": 0, "forecasts": 0})
        result.checkpoints.append(entry)
    result.gates = _gates(result.checkpoints[0], gates, result.last)
    worst = ", ".join(w["series"] for w in result.checkpoints[0].get("worst", [])[:3])
    result.advice = "retrain the model (grucast train)" + (f", and look first at series {worst} (worst MASE)" if worst else "")


SUMMARY_COLUMNS = ["series_id", "origin", "step", "actual", "forecast", "naive", "seasonal_naive", "scale",
                   "checkpoint_sha256", "forecast_made"]


def _current(forecasts: list[Forecast], rows: pd.DataFrame) -> str:
    """The checkpoint of the newest forecast read (by origin, then by when predict made it):
    the model in production; of the newest row of the window when no file could be placed."""
    placed = [f for f in forecasts if f.newest is not None]
    if placed:
        return max(placed, key=lambda f: (f.newest, f.made)).checkpoint.get("sha256") or ""
    if rows.empty:
        return ""
    return str(rows.sort_values(["origin", "forecast_made"]).iloc[-1]["checkpoint_sha256"])


def _gates(entry: dict[str, Any], gates: Gates, last: int) -> list[dict[str, Any]]:
    """The verdict of every gate asked for, on the current checkpoint's rows."""
    out: list[dict[str, Any]] = []
    asked = gates.fail_if_worse_than or gates.max_degradation is not None or gates.min_coverage
    if not asked:
        return out
    name = f"{entry.get('checkpoint')} ({str(entry.get('sha256'))[:12]})"
    if not entry.get("rows"):
        out.append({"gate": "all", "passed": True,
                    "text": f"no forecast of checkpoint {name} has actuals yet: the gates wait for them"})
        return out
    over = f"over the last {entry['origins']} origins ({entry['rows']:,} scored steps)"
    m = entry["metrics"]
    if gates.fail_if_worse_than:
        key = BASELINES[gates.fail_if_worse_than]
        metric = "mase" if np.isfinite(m["model"]["mase"]) and np.isfinite(m[key]["mase"]) else "mae"
        g, b = m["model"][metric], m[key][metric]
        passed = bool(g <= b)
        out.append({"gate": "fail_if_worse_than", "passed": passed, "text": (
            f"checkpoint {name} {'beat' if passed else 'lost to'} {gates.fail_if_worse_than} {over}: "
            f"{metric.upper()} {g:.4g} against {b:.4g}")})
    if gates.max_degradation is not None:
        v = (entry.get("validation") or {}).get("mase")
        g = m["model"]["mase"]
        if v is None or not np.isfinite(g) or not v > 0:
            out.append({"gate": "max_degradation", "passed": False, "retrain": False, "text": (
                f"--max-degradation cannot be checked for checkpoint {name}: its validation MASE or the realized one "
                "is unknown (a checkpoint without validation windows, or series without a seasonal scale)")})
        else:
            rise = 100.0 * (g / v - 1.0)
            passed = bool(rise <= gates.max_degradation)
            out.append({"gate": "max_degradation", "passed": passed, "text": (
                f"checkpoint {name} realized MASE {g:.4g} {over}, {rise:+.1f}% against its validation MASE {v:.4g} "
                f"(at most +{gates.max_degradation:g}%)")})
    intervals = entry.get("intervals") or {}
    for level in sorted(set(gates.min_coverage or ()) - {"*"} - set(intervals), key=float):
        out.append({"gate": f"min_coverage_{level}", "passed": False, "retrain": False, "text": (
            f"--min-coverage names a {level}% interval, and checkpoint {name} forecasts "
            f"{'intervals of ' + ', '.join(x + '%' for x in intervals) if intervals else 'no interval'}")})
    if gates.min_coverage and "*" in gates.min_coverage and not intervals:
        out.append({"gate": "min_coverage", "passed": False, "retrain": False,
                    "text": f"--min-coverage: checkpoint {name} forecasts no interval (train it with --intervals)"})
    for level, info in intervals.items() if gates.min_coverage else ():
        floor = gates.min_coverage.get(level, gates.min_coverage.get("*"))
        if floor is None:
            continue
        c = info["coverage"]
        passed = bool(np.isfinite(c) and c >= floor)
        out.append({"gate": f"min_coverage_{level}", "passed": passed, "text": (
            f"checkpoint {name} {level}% interval covered {c:.1f}% of the actuals {over} (at least {floor:g}%)")})
    return out
