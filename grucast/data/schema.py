"""The tidy frame and its schema.

The tidy frame has one row per observation and the columns ``series_id`` (str), ``time``
(datetime64 or int64), ``y`` (float64, NaN where the file has an empty value) and ``line`` (the
line of the file the row came from, for error messages). :class:`Schema` records which columns of
the file these came from, so that ``predict`` reads new files exactly as ``train`` did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from grucast.errors import DataError

TIME_NAMES = ("timestamp", "ds", "date", "datetime", "date_time", "time", "ts", "period", "step", "t")


ID_NAMES = ("series_id", "unique_id", "id", "series", "item_id", "ts_id", "key")


TARGET_NAMES = ("target", "y", "value", "values")


SINGLE_SERIES_ID = "series"  # the id given to the one series of a file with no id column


@dataclass(frozen=True)
class Schema:
    """Where the series live in the user's file; stored in the checkpoint."""

    format: str  # long | wide | single
    time_col: str
    id_col: Optional[str] = None  # long only
    target: Optional[str] = None  # long and single
    series_cols: tuple[str, ...] = ()  # wide only
    time_kind: str = "datetime"  # datetime | int
    future_cols: tuple[str, ...] = ()  # covariates known ahead
    past_cols: tuple[str, ...] = ()  # covariates observed with the target
    static_cols: tuple[str, ...] = ()  # covariates constant per series

    @property
    def targets(self) -> list[str]:
        """The target columns: 'a,b,c' names three, each a series of its own per id."""
        return [t for t in (self.target or "").split(",") if t]

    @property
    def output_id_col(self) -> Optional[str]:
        """The id column name of written forecasts (None: a single series has no id column)."""
        if self.format == "long":
            return self.id_col
        if self.format == "wide":
            return "series_id" if self.time_col != "series_id" else "series"
        return None

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "time_col": self.time_col,
            "id_col": self.id_col,
            "target": self.target,
            "series_cols": list(self.series_cols),
            "time_kind": self.time_kind,
            "future_cols": list(self.future_cols),
            "past_cols": list(self.past_cols),
            "static_cols": list(self.static_cols),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Schema":
        return cls(
            format=d["format"],
            time_col=d["time_col"],
            id_col=d.get("id_col"),
            target=d.get("target"),
            series_cols=tuple(d.get("series_cols") or ()),
            time_kind=d.get("time_kind", "datetime"),
            future_cols=tuple(d.get("future_cols") or ()),
            past_cols=tuple(d.get("past_cols") or ()),
            static_cols=tuple(d.get("static_cols") or ()),
        )


@dataclass
class Table:
    """The tidy observations of one file and how they were found."""

    frame: pd.DataFrame
    schema: Schema
    path: Path
    notes: list[str] = field(default_factory=list)  # what was detected, for the user
    # With several targets, every series is one (id, target) pair: series_id -> (id, target).
    parts: dict[str, tuple[Optional[str], str]] = field(default_factory=dict)


def file_lines(index: pd.Index) -> np.ndarray:
    # Row i of the frame is line i + 2 of a CSV (line 1 is the header).
    return np.asarray(index, dtype=np.int64) + 2


def need_column(df: pd.DataFrame, col: str, what: str, path: Path) -> str:
    if col not in df.columns:
        cols = ", ".join(f"'{c}'" for c in df.columns)
        raise DataError(f"{what} column '{col}' is not in {path.name}; its columns are {cols}")
    return col


def preview(items: list[str], n: int = 5) -> str:
    """The first n names, and how many more."""
    shown = ", ".join(str(x) for x in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


COV = "cov:"  # tidy-frame prefix of past and future covariate columns


STATIC = "static:"  # tidy-frame prefix of static covariate columns
