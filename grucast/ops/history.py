"""The history of scored forecasts that `grucast monitor` keeps: a folder of part files, one
added per run that scored new rows, and an index beside them (INDEX) that names every part with
its sha256, the origins it holds and the checkpoints whose validation metrics the summary sets
beside the realized ones.

A run reads the index and only the parts whose origins it needs (those of the forecasts it
scores, to drop rows already recorded, and the last N of the summary), so its time does not
grow with the length of the history. A part and the new index are published together, the part
first (ops.publish): a reader of the index never meets a part that is not there, and a part
left by a crash between the two renames is not in the index, so it is never read and the next
run writes over it. Pandas and pyarrow read the folder as one table (`pd.read_parquet(folder)`),
skipping the index, whose name starts with '_'.

The rows (HISTORY_COLUMNS, and lo-L/hi-L for every interval level) are a stable format: FORMAT
counts its versions, and a history of a newer one is refused rather than misread.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from grucast import __version__
from grucast.data.write import to_csv
from grucast.errors import DataError, PathError
from grucast.ops import paths, publish

FORMAT = 1  # the history's row format and index layout
INDEX = "_grucast_history.json"
KEY = ["checkpoint_sha256", "series_id", "origin", "step"]  # a row is recorded once
HISTORY_COLUMNS = [
    "series_id", "origin", "step", "timestamp", "actual", "forecast", "naive", "seasonal_naive", "scale", "method",
    "checkpoint_sha256", "checkpoint", "forecast_file", "forecast_sha256", "forecast_made", "scored_at",
]
TIME_COLUMNS = ("origin", "timestamp")


@dataclass
class History:
    """A history folder as its index describes it."""

    folder: Path
    part_format: str  # parquet | csv
    time_kind: str  # datetime | int: how origin and timestamp are stored
    tz: Optional[str] = None  # of datetimes
    parts: list[dict[str, Any]] = field(default_factory=list)  # name, sha256, rows, origins (text), checkpoints
    checkpoints: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha256 -> path, card (checkpoint.card)
    runs: int = 0
    new: bool = False  # no index yet

    @property
    def index_path(self) -> Path:
        return self.folder / INDEX

    def origins(self, more: Sequence[str] = ()) -> list[str]:
        """Every origin the parts hold (and more), as text, oldest first (parsed at once, not
        one by one)."""
        texts = sorted({o for p in self.parts for o in p["origins"]} | set(more))
        if self.time_kind == "int":
            keys = np.array([int(t) for t in texts], dtype=np.int64)
        else:
            keys = to_int_times(pd.Series(texts, dtype=object), "datetime").to_numpy()
        return [texts[i] for i in np.argsort(keys, kind="stable")]

    def bound_columns(self) -> list[str]:
        """lo-L and hi-L of every interval level of the history's checkpoints, by level."""
        levels = sorted({float(x) for c in self.checkpoints.values() for x in (c.get("card") or {}).get("intervals") or ()})
        return [f"{side}-{level:g}" for level in levels for side in ("lo", "hi")]

    def to_dict(self) -> dict[str, Any]:
        return {"grucast_history": FORMAT, "written_by": __version__, "part_format": self.part_format,
                "time_kind": self.time_kind, "tz": self.tz, "runs": self.runs, "key": KEY,
                "checkpoints": self.checkpoints, "parts": self.parts}


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def open_history(folder: Path, time_kind: str, tz: Optional[str]) -> History:
    """The history in folder (created by the first publish when it does not exist). PathError
    for a link, a file or a folder that holds other files and no index; DataError for an index
    that is damaged, of a newer format, or of other timestamps than the data's."""
    h = read_history(folder, new_ok=True)
    if h is None:
        return History(Path(folder), "parquet" if parquet_available() else "csv", time_kind, tz, new=True)
    if (h.time_kind, h.tz) != (time_kind, tz):
        was = "integer steps" if h.time_kind == "int" else f"datetimes{' in ' + h.tz if h.tz else ''}"
        now = "integer steps" if time_kind == "int" else f"datetimes{' in ' + tz if tz else ''}"
        raise DataError(f"the history {folder} holds forecasts of {was}, and this data has {now}: "
                        "one history per feed; give another --history")
    return h


PART = re.compile(r"part-\d{6}\.(parquet|csv)")  # a part file's name: one left by a crashed first run is ours


def read_history(folder: Path, new_ok: bool = False, label: str = "--history") -> Optional[History]:
    """The history of folder as its index describes it; None for a new one (no folder, or one
    holding nothing but what a crashed first run left) when new_ok, else DataError. PathError for
    a link, a file or a folder of other files; DataError for a damaged index, a newer format,
    or Parquet parts without pyarrow."""
    folder = Path(folder)
    st = _folder_stat(folder, label)
    index = folder / INDEX
    if st is None or not os.path.lexists(index):
        if st is not None and any(not n.startswith(".") and not PART.fullmatch(n) for n in os.listdir(folder)):
            raise PathError(f"{label} {folder} holds files but no {INDEX}: it is not a grucast history, and "
                            "grucast does not write into a folder of other files; give a new or empty folder")
        if not new_ok:
            raise DataError(f"{label} {folder} holds no grucast history yet (no {INDEX}): run grucast monitor first")
        return None
    doc = _read_index(index)
    h = History(folder, doc["part_format"], doc["time_kind"], doc.get("tz"), list(doc["parts"]),
                dict(doc.get("checkpoints", {})), int(doc.get("runs", 0)))
    if h.part_format == "parquet" and not parquet_available():
        raise DataError(f"the history {folder} is kept in Parquet, which needs pyarrow: pip install 'grucast[parquet]'")
    return h


def _folder_stat(folder: Path, label: str) -> Optional[os.stat_result]:
    """The lstat of a history folder (None when there is none yet); PathError for a link or a file."""
    st = paths.lstat_or_none(folder, label)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise PathError(f"{label} {folder} is a link; grucast does not write through links it did not make: "
                        "give the folder itself")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise PathError(f"{label} {folder} is a file; --history names a folder, to which every run adds one part "
                        "file: give a new or empty folder, such as history/")
    return st


def _read_index(index: Path) -> dict[str, Any]:
    st = os.lstat(index)
    if not stat.S_ISREG(st.st_mode):
        raise PathError(f"{index} is not a regular file; grucast does not follow links it did not make")
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
        version = doc["grucast_history"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise DataError(f"{index} is damaged (not a grucast history index); restore it from a backup, or start "
                        "a new history folder") from None
    if not isinstance(version, int) or version > FORMAT:
        raise DataError(f"the history {index.parent} was written by grucast {doc.get('written_by', '?')} in history "
                        f"format {version}, and this grucast {__version__} reads format {FORMAT} at most: upgrade "
                        "grucast (pip install -U grucast)")
    try:
        for p in doc["parts"]:
            p["name"], p["origins"], p["rows"]  # noqa: B018  (the fields every reader needs)
        doc["part_format"], doc["time_kind"]  # noqa: B018
    except (KeyError, TypeError):
        raise DataError(f"{index} is damaged (a part without its name, origins or rows); restore it from a "
                        "backup, or start a new history folder") from None
    return doc


def read_parts(h: History, origins: set[str], columns: Optional[list[str]] = None) -> pd.DataFrame:
    """The rows of the parts that hold any of the origins (text, as in the index), those origins
    alone; origin and timestamp as int64 (UTC nanoseconds, or the integer steps). columns: only
    these (and the origin)."""
    frames = []
    wanted = None
    for p in h.parts:
        if not origins.intersection(p["origins"]):
            continue
        path = h.folder / p["name"]
        if not path.is_file() or path.is_symlink():
            raise DataError(f"the history {h.folder} is damaged: its index names {p['name']}, which is missing or "
                            "not a file; restore it from a backup, or start a new history folder")
        wanted_columns = None if columns is None else list(dict.fromkeys([*columns, "origin"]))
        one = p.get("checkpoints") or []
        constant = wanted_columns is not None and "checkpoint_sha256" in wanted_columns and len(one) == 1
        if constant:  # the index says which checkpoint made every row: no 64-character text per row to read
            wanted_columns.remove("checkpoint_sha256")
        frame = _read_part(h, path, wanted_columns, p.get("sha256"), p.get("bytes"))
        if constant:
            frame["checkpoint_sha256"] = pd.Categorical.from_codes(np.zeros(len(frame), dtype=np.int8), one)
        frame["origin"] = to_int_times(frame["origin"], h.time_kind)
        if not origins.issuperset(p["origins"]):  # a part that also holds origins not asked for
            if wanted is None:
                wanted = {int(o) if h.time_kind == "int" else int(pd.Timestamp(o).as_unit("ns").value) for o in origins}
            frame = frame[frame["origin"].isin(wanted)]
        frames.append(frame)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in (columns or HISTORY_COLUMNS)})
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    if "timestamp" in frame:
        frame["timestamp"] = to_int_times(frame["timestamp"], h.time_kind)
    return frame


def _read_part(h: History, path: Path, columns: Optional[list[str]], sha256: Optional[str],
               size: Optional[int]) -> pd.DataFrame:
    """One part, checked against the size and sha256 the index gives it (a part edited, cut
    short, grown or damaged on disk since it was written is refused, not scored from; one of
    another size before a byte is read); of columns, those it has (parts of models without
    intervals lack lo-/hi-)."""
    def changed(what: str) -> DataError:
        return DataError(f"the history part {path} is not the file monitor wrote: its {what} differs from the one in "
                         f"{INDEX} (edited, cut short or damaged on disk); restore it from a backup, or start a new "
                         "history folder")

    try:
        if isinstance(size, int) and os.stat(path).st_size != size:
            raise changed("size")
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"the history part {path} cannot be read ({e}); restore it from a backup") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise changed("sha256")
    try:
        if h.part_format == "parquet":
            if columns is not None:
                import pyarrow.parquet as pq

                names = set(pq.read_schema(io.BytesIO(data)).names)
                columns = [c for c in columns if c in names]
            return pd.read_parquet(io.BytesIO(data), columns=columns)
        present = None if columns is None else (lambda c: c in columns)
        return pd.read_csv(io.BytesIO(data), usecols=present, dtype={"series_id": str, "checkpoint_sha256": str})
    except (OSError, ValueError) as e:
        raise DataError(f"the history part {path} cannot be read ({e}); restore it from a backup") from None


def to_int_times(col: pd.Series, time_kind: str) -> pd.Series:
    """Times as int64: the integer steps, or UTC nanoseconds of datetimes (text or typed)."""
    if time_kind == "int":
        return col.astype("int64")
    t = pd.to_datetime(col, utc=True, format="ISO8601") if not pd.api.types.is_datetime64_any_dtype(col) else col
    t = pd.DatetimeIndex(t)
    if t.tz is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return pd.Series(t.as_unit("ns").asi8, index=col.index)


def from_int_times(t: Any, time_kind: str, tz: Optional[str]) -> Any:
    """The inverse of to_int_times, for writing: typed datetimes (in tz) or the integer steps."""
    if time_kind == "int":
        return pd.Series(t, dtype="int64")
    d = pd.DatetimeIndex(pd.to_datetime(t, unit="ns"))
    return d.tz_localize("UTC").tz_convert(tz) if tz else d


def time_text(t: int, time_kind: str, tz: Optional[str]) -> str:
    if time_kind == "int":
        return str(int(t))
    d = pd.Timestamp(int(t), unit="ns")
    return (d.tz_localize("UTC").tz_convert(tz) if tz else d).isoformat()


def staged_append(h: History, rows: pd.DataFrame, sources: dict[str, Any],
                  cards: dict[str, dict[str, Any]]) -> list[publish.Staged]:
    """What publishing rows (HISTORY_COLUMNS, origin and timestamp as int64) as a new part takes:
    the part, then the index naming it with its sha256 (ops.publish renames in this order); the
    index alone when only checkpoint cards are new; nothing when nothing is. cards: checkpoint
    sha256 -> its path and card (checkpoint.card), kept for the summaries of later runs."""
    new_cards = {k: v for k, v in cards.items() if k not in h.checkpoints}
    if rows.empty and not new_cards and not h.new:
        return []
    h.checkpoints.update(new_cards)
    staged = []
    if not rows.empty:
        names = {p["name"] for p in h.parts}
        number = len(h.parts) + 1
        while f"part-{number:06d}.{h.part_format}" in names:  # parts listed out of order: never reuse a name
            number += 1
        name = f"part-{number:06d}.{h.part_format}"
        out = rows.assign(**{c: from_int_times(rows[c].to_numpy(), h.time_kind, h.tz) for c in TIME_COLUMNS},
                          **{c: np.nan for c in h.bound_columns() if c not in rows})  # every part: every level's columns
        data = _part_bytes(out, h.part_format)  # in memory: one run's rows; hashed before anything is written
        h.parts.append({"name": name, "rows": int(len(rows)), "bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "origins": [time_text(o, h.time_kind, h.tz) for o in sorted(rows["origin"].unique())],
                        "checkpoints": sorted(rows["checkpoint_sha256"].unique().tolist()), **sources})
        staged.append(publish.Staged(h.folder / name, lambda tmp: tmp.write_bytes(data), sidecar=False))
    h.runs += 1
    text = json.dumps(h.to_dict(), indent=1, allow_nan=False) + "\n"
    staged.append(publish.Staged(h.index_path, lambda tmp: tmp.write_text(text, encoding="utf-8"), sidecar=False))
    return staged


def _part_bytes(frame: pd.DataFrame, part_format: str) -> bytes:
    if part_format == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return to_csv(frame).encode("utf-8")


def check_folder(folder: Path, inputs: Sequence[paths.Role]) -> None:
    """PathError before any work when --history is no folder grucast may add parts to: a link,
    a file (an input, say), inside an input folder, holding an input, or in a missing folder."""
    folder = Path(folder)
    st = _folder_stat(folder, "--history")
    real = os.path.realpath(folder)
    for role in inputs:
        if role.path is None:
            continue
        mine = os.path.realpath(role.path)
        if mine.startswith(real.rstrip(os.sep) + os.sep):
            raise PathError(f"{role.label} {role.path} is inside --history {folder}, whose files are monitor's own: "
                            "keep the data and the forecasts out of the history folder")
        if os.path.isdir(mine) and (real == mine or real.startswith(mine.rstrip(os.sep) + os.sep)):
            raise PathError(f"--history {folder} is inside {role.label} {role.path}: grucast never writes into one "
                            "of its own input folders; choose another folder")
    index = folder / INDEX
    outputs = [paths.Role("--history", folder) if st is None else paths.Role("the index of --history", index),
               paths.Role("the lock of --history", paths.lock_path(folder))]
    paths.check_paths(inputs, outputs)


def input_roles(data: Path, forecasts: Sequence[Path]) -> list[paths.Role]:
    """The inputs of a monitor run for the path checks: DATA, every FORECAST (a folder and the
    files in it)."""
    roles = [paths.Role("DATA", Path(data))]
    for f in map(Path, forecasts):
        roles.append(paths.Role("FORECAST", f))
        if f.is_dir():
            roles += [paths.Role("FORECAST", p) for p in sorted(f.iterdir()) if p.is_file()]
    return roles


def make_folder(folder: Path) -> None:
    """Create the history folder when it is new (its parent must exist), just before its first part is published."""
    try:
        os.mkdir(folder)
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise PathError(f"cannot make --history {folder}: folder {folder.parent} does not exist") from None
    except OSError as e:
        raise paths.io_error(e, Path(folder)) from None
