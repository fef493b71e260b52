"""The data package's shared vocabulary: Schema (which columns of the user's file hold the time,
the ids, the targets and the covariates; stored in the checkpoint so that ``predict`` reads new
files exactly as ``train`` did), Table (a file's tidy observations: one row per observation with
``series_id`` (str), ``time`` (datetime64 or int64), ``y`` (float64, NaN where the file has an
empty value), ``line`` (the file line, for messages) and one column per covariate, named with the
COV or STATIC prefix), the id of a file's only series, and preview() for messages listing names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd

SINGLE_SERIES_ID = "series"  # the id given to the one series of a file with no id column


COV = "cov:"  # tidy-frame prefix of past and future covariate columns


STATIC = "static:"  # tidy-frame prefix of static covariate columns


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
    shard: Optional[tuple[int, int]] = None  # (i, n): only the series of shard i of n were read (--shard-data)
    # With a shard: every series' place in the whole file, whose order the gathered panel takes:
    # (target, first line) for a long file, (0, column) for a wide one.
    places: dict[str, tuple[int, int]] = field(default_factory=dict)
    stand_in: bool = False  # a shard of no series: the file's first row stands in, for its columns
