"""Writers of result frames: CSV, Parquet (.parquet, .pq) or JSON records (.json), chosen by the
output's extension (frame_writer). A writer fills a temporary file; ops.publish makes it visible.
to_csv is the one CSV writer (text holding a lone CR is quoted) and text_times writes datetime
columns as CSV does, for JSON and the terminal.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Callable

import pandas as pd

from grucast.errors import DataError


def text_times(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with datetime columns as text, written as CSV writes them: dates alone when
    every time is midnight, else date and time, with the UTC offset for zoned times."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            idx = pd.DatetimeIndex(s)
            local = idx.tz_localize(None) if idx.tz is not None else idx
            fmt = "%Y-%m-%d" if idx.tz is None and (local == local.normalize()).all() else "%Y-%m-%d %H:%M:%S"
            text = pd.Series(idx.strftime(fmt + ("%z" if idx.tz is not None else "")), index=out.index)
            if idx.tz is not None:  # +0100 -> +01:00, as CSV writes it (%:z needs Python 3.12)
                text = text.str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
            out[col] = text
    return out


def frame_writer(frame: pd.DataFrame, path: Path) -> Callable[[Path], None]:
    """write(tmp) for a frame going to path: Parquet for .parquet/.pq, JSON records for .json,
    CSV otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        if importlib.util.find_spec("pyarrow") is None:  # checked before anything is written
            raise DataError("writing Parquet needs pyarrow: pip install 'grucast[parquet]'")

        def write(tmp: Path) -> None:
            frame.to_parquet(tmp, index=False)
    elif suffix == ".json":
        def write(tmp: Path) -> None:
            text_times(frame).to_json(tmp, orient="records", indent=1)
    else:
        def write(tmp: Path) -> None:
            to_csv(frame, tmp)
    return write


def to_csv(frame: pd.DataFrame, target=None):
    """frame.to_csv without the index (to target, or as text when None). Python's csv quotes a
    field holding its line terminator (\n) but not a lone CR, which CSV readers take for a line
    break: a frame with such text (ids) quotes all its text fields."""
    text_cols = [c for c in frame.columns if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])]
    has_cr = any(frame[c].astype(str).str.contains("\r", regex=False).any() for c in text_cols)
    return frame.to_csv(target, index=False, quoting=csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL)
