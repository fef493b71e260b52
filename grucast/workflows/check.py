"""`check`: the loading code of train run on a file, reporting what training would find."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from grucast.config.settings import Config
from grucast.data.panel import Panel, build_panel
from grucast.data.schema import Schema
from grucast.data.table import load_table
from grucast.errors import ConfigError, DataError, preview
from grucast.features import future, layout
from grucast.features import spec as features_spec
from grucast.features.spec import FeatureSpec
from grucast.features.windows import split_windows
from grucast.training.defaults import resolve, too_short
from grucast.workflows.summary import DataSummary, summarize

# ---------------------------------------------------------------- check


@dataclass
class CheckResult:
    """What `grucast check` found: can this file be trained on, and what would happen to it."""

    ok: bool
    problems: list[str]  # reasons it cannot be trained on
    warnings: list[str]  # things that will be handled, but the user should know
    data: Optional[DataSummary] = None
    config: Optional[Config] = None
    config_notes: list[str] = field(default_factory=list)
    lengths: dict[str, float] = field(default_factory=dict)
    gaps: int = 0  # grid points missing from the file
    empty: int = 0  # values present but empty
    constant: list[str] = field(default_factory=list)
    no_training_window: list[str] = field(default_factory=list)
    too_short_to_forecast: list[str] = field(default_factory=list)
    train_windows: int = 0
    min_input: Optional[int] = None  # observed input points a window needs (input_size unless padded)
    covariates: dict[str, dict[str, Any]] = field(default_factory=dict)
    future_covered: Optional[int] = None  # series whose future covariates cover the horizon
    future_not_covered: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "warnings": self.warnings,
            "data": self.data.to_dict() if self.data else None,
            "config": self.config.to_dict() if self.config else None,
            "defaults_chosen": self.config_notes,
            "lengths": self.lengths,
            "gaps": self.gaps,
            "empty_values": self.empty,
            "constant_series": self.constant,
            "series_without_training_window": self.no_training_window,
            "series_too_short_to_forecast": self.too_short_to_forecast,
            "train_windows": self.train_windows,
            "min_input": self.min_input,
            "covariates": self.covariates,
            "future_covered": self.future_covered,
            "future_not_covered": self.future_not_covered,
        }


def check(data_path: Path, cfg: Config) -> CheckResult:
    """Run the same loading code as train on a file and report what it finds, without training.
    A user error in the file is reported as a problem, not raised."""
    try:
        table = load_table(Path(data_path), cfg.data)
        fill = cfg.data.fill if cfg.data.fill != "error" else "interpolate"  # count gaps rather than stop at one
        panel = build_panel(table, fill)  # windows and lengths do not depend on how gaps are filled
    except (DataError, ConfigError) as e:
        return CheckResult(ok=False, problems=[str(e)], warnings=[])
    summary = summarize(table, panel)
    lengths = panel.lengths
    stats = {"min": int(lengths.min()), "median": float(np.median(lengths)), "max": int(lengths.max())}
    gaps, empty = panel.n_filled - panel.n_empty, panel.n_empty
    result = CheckResult(ok=True, problems=[], warnings=[], data=summary, lengths=stats, gaps=gaps, empty=empty)
    _grid_findings(result, panel, cfg)
    try:
        resolved, notes = resolve(cfg, panel.freq, lengths)
    except ConfigError as e:
        result.ok = False
        result.problems.append(str(e))
        return result
    result.config, result.config_notes = resolved, notes
    L, H, V = resolved.model.input_size, resolved.model.horizon, resolved.training.val_size
    schema = table.schema
    spec, cov_warnings = features_spec.make_spec(panel, resolved, schema.past_cols, schema.future_cols, schema.static_cols, V)
    result.warnings += cov_warnings
    min_input = L - spec.pad
    result.min_input = min_input
    _window_findings(result, panel, spec, L, H, V)
    _covariate_findings(result, panel, spec, schema, H)
    result.ok = not result.problems
    return result


def _grid_findings(result: CheckResult, panel: Panel, cfg: Config) -> None:
    """Series with no values, gaps and empty values, constant series."""
    gaps, empty, lengths = result.gaps, result.empty, panel.lengths
    if panel.dropped:
        result.warnings.append(f"{len(panel.dropped)} series have no values and are skipped: {preview(panel.dropped)}")
    if panel.n_filled:
        if cfg.data.fill == "error":
            result.problems.append(
                f"{gaps:,} missing grid point(s) and {empty:,} empty value(s), and --fill error refuses them"
            )
        else:
            result.warnings.append(
                f"{gaps:,} missing grid point(s) and {empty:,} empty value(s) will be filled ({cfg.data.fill})"
            )
    # A series is constant when every value equals its first: scaling passes it through, but
    # there is nothing to learn from it.
    first = panel.values[panel.offsets[:-1]]
    same = np.repeat(first, lengths) == panel.values
    constant = np.bincount(np.repeat(np.arange(panel.n_series), lengths), weights=~same, minlength=panel.n_series) == 0
    result.constant = [str(i) for i in panel.ids[constant]]
    if result.constant:
        result.warnings.append(f"{len(result.constant)} constant series: {preview(result.constant)}")


def _window_findings(result: CheckResult, panel: Panel, spec: FeatureSpec, L: int, H: int, V: int) -> None:
    """Training windows, and the series too short for one, padded, or too short to forecast."""
    lengths, min_input = panel.lengths, result.min_input
    train_starts, _ = split_windows(layout.layout_offsets(lengths, spec.pad), L, H, V)
    result.train_windows = int(len(train_starts))
    result.no_training_window = [str(i) for i in panel.ids[lengths < min_input + H + V]]
    result.too_short_to_forecast = [str(i) for i in panel.ids[lengths < min_input]]
    if result.train_windows == 0:
        result.problems.append(too_short(min_input, H, V, int(lengths.max())))
    elif result.no_training_window:
        result.warnings.append(
            f"{len(result.no_training_window)} series shorter than {min_input + H + V} points give no training window: "
            f"{preview(result.no_training_window)}"
        )
    padded = int(((lengths < L + H + V) & (lengths >= min_input + H + V)).sum()) if spec.mask else 0
    if padded:
        result.warnings.append(
            f"{padded} series shorter than input_size + horizon + val_size = {L + H + V} points are padded on the "
            f"left (down to min_input {min_input})"
        )
    if result.too_short_to_forecast:
        result.warnings.append(
            f"{len(result.too_short_to_forecast)} series shorter than {min_input} points are too short for the "
            f"network and will get a naive (or seasonal naive) forecast: "
            f"{preview(result.too_short_to_forecast)}"
        )


def _covariate_findings(result: CheckResult, panel: Panel, spec: FeatureSpec, schema: Schema, H: int) -> None:
    """Each covariate's kind and filled values; whether future covariates cover the horizon."""
    for name in schema.past_cols + schema.future_cols + schema.static_cols:
        kind = "future" if name in schema.future_cols else ("past" if name in schema.past_cols else "static")
        entry: dict[str, Any] = {"kind": kind}
        if kind == "static":
            entry["type"] = "category" if name in spec.static_cat else "number"
            if name in spec.static_cat:
                entry["categories"] = len(spec.categories[name])
        else:
            entry["filled"] = int(panel.cov_filled.get(name, 0))
        result.covariates[name] = entry
    if panel.cov_filled:
        result.warnings.append(
            "empty covariate values will be filled forward: "
            + ", ".join(f"{k} {v:,}" for k, v in panel.cov_filled.items())
        )
    if schema.future_cols:
        result.future_not_covered = future.coverage(panel, schema.future_cols, H)
        covered = panel.n_series - len(result.future_not_covered)
        result.future_covered = covered
        if result.future_not_covered:
            result.warnings.append(
                f"future covariates cover the {H}-step horizon after the history for {covered} of {panel.n_series} "
                f"series; predict needs them for every series it forecasts (rows with an empty target, or --future FILE); "
                f"missing: {preview(result.future_not_covered, 3)}"
            )
