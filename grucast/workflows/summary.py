"""What was read: the data summary every command reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pandas as pd

from grucast.data.freq import Freq
from grucast.data.panel import Panel
from grucast.data.schema import Schema, Table


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


def panel_time_text(panel: Panel, t: Any) -> str:
    return str(int(t)) if panel.freq.kind == "int" else pd.Timestamp(t).isoformat()


def summarize(table: Table, panel: Panel, warnings: Optional[list[str]] = None,
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
