"""What the CLI shows: rich tables and progress on a terminal, plain lines or JSON otherwise.

stdout carries the product (metrics, forecasts, JSON); stderr carries progress, notes and
errors. No colour or progress bars when stderr is not a terminal or NO_COLOR is set.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from grucast.api import CheckResult, DataSummary, PredictResult, TrainResult
from grucast.backtest import EvaluationResult
from grucast.io import preview, text_times
from grucast.runs import json_ready
from grucast.train import EvalRecord, FitResult

MAX_TABLE_ROWS = 200


def _no_color() -> bool:
    """NO_COLOR set to anything but the empty string (no-color.org)."""
    return bool(os.environ.get("NO_COLOR"))


# Output that is not a terminal (a log file, a pipe) is not wrapped by anyone: tables get room
# rather than cut numbers short at rich's default 80 columns.
LOG_WIDTH = 160


def stdout_console() -> Console:
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else LOG_WIDTH
    return Console(highlight=False, no_color=_no_color(), soft_wrap=True, width=width)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, no_color=_no_color(), soft_wrap=True)


def warning(console: Console, message: str, label: str = "Warning") -> None:
    """'Warning: ...' (yellow on a terminal); the message is shown as written, never as markup."""
    console.print(Text.assemble((f"{label}: ", "yellow"), message))


def error_line(message: str) -> None:
    """One line 'Error: ...' on stderr, red on a terminal."""
    message = " ".join(str(message).split())
    if sys.stderr.isatty() and not _no_color():
        sys.stderr.write(f"\x1b[31mError: {message}\x1b[0m\n")
    else:
        sys.stderr.write(f"Error: {message}\n")
    sys.stderr.flush()


def dumps(obj: Any) -> str:
    return json.dumps(json_ready(obj), indent=2, allow_nan=False)


def _num(x: Optional[float], digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    a = abs(x)
    if a != 0 and (a >= 1e6 or a < 1e-3):
        return f"{x:.{digits - 1}e}"
    return f"{x:,.{digits}f}" if a < 100 else f"{x:,.2f}"


# ---------------------------------------------------------------- train


def data_lines(summary: DataSummary, fill: str) -> list[str]:
    s = summary
    lines = [f"Read {s.path}" + (": " + ", ".join(s.notes) if s.notes else " with the checkpoint's columns")]
    lines.append(
        f"{s.n_series:,} series, {s.n_points:,} points, frequency {s.freq.describe()}; "
        f"{s.n_filled:,} missing point(s) filled ({fill})"
    )
    if s.covariates_filled:
        filled = ", ".join(f"{k} {v:,}" for k, v in s.covariates_filled.items())
        lines.append(f"Filled empty covariate values forward: {filled}")
    if s.dropped:
        lines.append(f"Skipped {len(s.dropped)} series with no values: {preview(s.dropped)}")
    return lines


class TrainDisplay:
    """The training callback: a rich progress bar on a terminal (without NO_COLOR), one plain
    line per validation check otherwise, nothing when quiet."""

    def __init__(self, console: Console, quiet: bool = False, live: Optional[bool] = None):
        self.console = console
        self.quiet = quiet
        # No bar (nor colour) when stderr is not a terminal or NO_COLOR is set: logs stay plain lines.
        self.live = (console.is_terminal and not quiet and not _no_color()) if live is None else live
        self.progress: Optional[Progress] = None
        self.task = None
        self.last: Optional[EvalRecord] = None

    def on_note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)

    def on_member(self, member: int, n_members: int, seed: int) -> None:
        if not self.quiet:
            self.console.print(f"Ensemble network {member + 1} of {n_members} (seed {seed})")

    def on_start(self, total_steps: int, steps_per_epoch: int, windows_per_epoch: int) -> None:
        if self.quiet:
            return
        self.console.print(
            f"Training on {windows_per_epoch:,} windows per epoch ({steps_per_epoch:,} steps of the batch), "
            f"at most {total_steps:,} steps"
        )
        if self.live:
            self.progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=total_steps, status="")

    def on_step(self, step: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step)

    def _line(self, r: EvalRecord) -> str:
        mark = " *" if r.best else ""
        return (
            f"epoch {r.epoch:g} step {r.step}: train loss {r.train_loss:.4f}, val loss {r.val_loss:.4f}{mark}, "
            f"{r.windows_per_s:,.0f} windows/s"
        )

    def on_eval(self, r: EvalRecord) -> None:
        self.last = r
        if self.quiet:
            return
        if self.progress is not None:
            self.progress.update(
                self.task,
                status=f"epoch {r.epoch:.2f} · train {r.train_loss:.4f} · val {r.val_loss:.4f} · {r.windows_per_s:,.0f} w/s",
            )
            self.progress.console.print(self._line(r))
        else:
            self.console.print(self._line(r))

    def close(self) -> None:
        """Stop the progress bar (also when training ends with an error or a signal)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_end(self, result: FitResult) -> None:
        self.close()
        if self.quiet:
            return
        why = {"epochs": "all epochs done", "max_steps": "step budget reached", "early_stopping": "early stopping"}
        self.console.print(
            f"Stopped after {result.steps:,} steps ({result.epochs:g} epochs, {why[result.stop_reason]}) in "
            f"{result.train_seconds:.1f}s, {result.windows_per_s:,.0f} windows/s; best validation loss "
            f"{result.best_val_loss:.4f} at step {result.best_step:,}"
        )


def metrics_table(result: TrainResult) -> Table:
    m = result.metrics
    t = Table(title=f"Validation: last {result.config.training.val_size} steps of "
              f"{plural(m.get('series', 0), 'series', 'series')} ({plural(m.get('windows', 0), 'window', 'windows')})",
              title_justify="left")
    t.add_column("model")
    for name in ("MAE", "RMSE", "sMAPE", "MASE"):
        t.add_column(name, justify="right")
    n = result.config.model.ensemble or 1
    gru = f"GRU (mean of {n} networks)" if n > 1 else "GRU"
    for label, key in ((gru, "gru"), (f"seasonal naive (m={m.get('season')})", "seasonal_naive")):
        s = m.get(key, {})
        t.add_row(label, _num(s.get("mae")), _num(s.get("rmse")), _num(s.get("smape"), 3), _num(s.get("mase"), 3))
    return t


def info_report(doc: dict[str, Any], console: Console) -> None:
    """grucast info: a checkpoint's metadata, the essentials first, then the whole config."""
    import yaml

    f, t, c, s = doc["file"], doc["training"], doc["config"], doc["schema"]
    m = c["model"]
    console.print(f"Checkpoint {f['path']}: {f['bytes']:,} bytes, sha256 {f['sha256']}")
    console.print(f"Written by grucast {doc['versions']['grucast']} with torch {doc['versions']['torch']} "
                  f"(checkpoint format {doc['format_version']})")
    cols = ", ".join(f"{k} '{v}'" for k, v in (("time", s.get("time_col")), ("id", s.get("id_col")),
                                               ("target", s.get("target"))) if v)
    console.print(f"Data: {s.get('format')} file, {cols}; frequency {doc['frequency']}")
    if t:
        period = f", from {t['first_time']} to {t['last_time']}" if "first_time" in t else ""
        console.print(f"Trained on {t.get('data_file')}: {t.get('n_series', 0):,} series, {t.get('n_points', 0):,} points"
                      f"{period}; {t.get('train_windows', 0):,} training windows per epoch, {t.get('steps', 0):,} steps "
                      f"(best at {t.get('best_step', 0):,})")
        if t.get("data_sha256"):
            console.print(f"Training data sha256 {t['data_sha256']}")
    cov = "; ".join(f"{k}: {', '.join(v)}" for k, v in doc["covariates"].items() if v) or "none"
    kind = f"quantiles {', '.join(f'{q:g}' for q in doc['quantiles'])}" + (" (calibrated)" if doc["calibrated"] else "") \
        if doc["quantiles"] else "point forecasts"
    ens = f" (ensemble of {m['ensemble']})" if (m.get("ensemble") or 1) > 1 else ""
    console.print(f"Model: input {m['input_size']} steps, horizon {m['horizon']}, GRU {m['num_layers']} x {m['hidden_size']}{ens}, "
                  f"{doc['parameters']:,} parameters; {kind}; covariates {cov}")
    v = doc["metrics"]
    if v.get("windows"):
        line = ", ".join(f"{name} {v[key]['mase']:.3f}" for name, key in (("GRU", "gru"), ("seasonal naive", "seasonal_naive"),
                                                                          ("naive", "naive")) if key in v)
        console.print(f"Validation MASE ({v['windows']:,} windows): {line}")
    console.print("Config:\n" + yaml.safe_dump(c, sort_keys=False).rstrip())


# Points between the coverages of the two calibration folds above which the training summary
# warns, when both folds hold enough windows for their coverages to mean something.
FOLD_GAP, FOLD_WINDOWS = 10.0, 30


def train_summary(result: TrainResult, console: Console) -> None:
    console.print(metrics_table(result))
    m = result.metrics
    skill = m.get("skill")
    if skill is not None and math.isfinite(skill):
        verdict = "better" if skill > 0 else "worse"
        console.print(
            f"GRU skill over seasonal naive: {skill:+.1%} ({m.get('skill_metric', 'mase').upper()}; "
            f"{verdict} than the baseline)"
        )
    how = m.get("intervals_estimate", "two halves of the series, each calibrated on the other")
    for level, c in m.get("intervals", {}).items():
        console.print(
            f"{level}% interval coverage on the validation windows: {_num(c['raw'], 1)}% as trained, "
            f"{_num(c['calibrated'], 1)}% after conformal calibration ({how})"
        )
        a, b = c.get("folds", (None, None))
        if a is not None and b is not None and abs(a - b) > FOLD_GAP and min(c["fold_windows"]) >= FOLD_WINDOWS:
            warning(console, f"the {level}% intervals cover {a:.1f}% of one fold and {b:.1f}% of the other, each "
                    "calibrated on the other: "
                    "the validation windows are too few or too unlike each other to calibrate this horizon well, so "
                    "expect coverage away from nominal; a longer --val-size (more horizons held out) helps")
    console.print(f"Saved model to {result.checkpoint_path}")


# ---------------------------------------------------------------- predict


def forecast_title(result: PredictResult) -> str:
    return f"Forecast: {result.horizon} steps for {plural(result.n_forecast, 'series', 'series')}"


def forecast_table(result: PredictResult) -> Table:
    f = text_times(result.forecasts.head(MAX_TABLE_ROWS))
    t = Table()
    for c in f.columns:
        t.add_column(str(c), justify="right" if c == "forecast" else "left")
    for row in f.itertuples(index=False):
        t.add_row(*[_cell(v) for v in row])
    return t


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}" if abs(v) < 1e6 else f"{v:.6g}"
    return str(v)


def forecast_json(result: PredictResult) -> str:
    records = text_times(result.forecasts).to_dict(orient="records")
    return dumps({"horizon": result.horizon, "series": result.n_forecast, "skipped": result.skipped,
                  "forecasts": records})


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


# ---------------------------------------------------------------- check


def check_report(result: CheckResult, console: Console) -> None:
    if result.data is not None:
        for line in data_lines(result.data, result.config.data.fill if result.config else "interpolate"):
            console.print(line)
        ln = result.lengths
        console.print(f"Series lengths: min {ln['min']:,}, median {ln['median']:,.0f}, max {ln['max']:,}")
    if result.config is not None:
        c = result.config
        console.print(
            f"Windows: input_size {c.model.input_size}, horizon {c.model.horizon}, val_size {c.training.val_size}, "
            f"season {c.data.season}: {result.train_windows:,} training windows per epoch"
            + (f" (chose {', '.join(result.config_notes)})" if result.config_notes else "")
        )
    for name, c in result.covariates.items():
        extra = ""
        if c["kind"] == "static":
            extra = f", {c['categories']} categories" if c["type"] == "category" else ", numeric"
        elif c.get("filled"):
            extra = f", {c['filled']:,} empty values filled"
        console.print(f"Covariate '{name}': {c['kind']}{extra}")
    if result.future_covered is not None and not result.future_not_covered:
        console.print(f"Future covariates cover the forecast horizon of all {result.future_covered:,} series")
    for w in result.warnings:
        warning(console, w)
    for p in result.problems:
        console.print(f"Problem: {p}")
    console.print("OK: this file can be trained on" if result.ok else "Not trainable: fix the problem(s) above")


# ---------------------------------------------------------------- evaluate / backtest


def evaluation_report(result: EvaluationResult, console: Console) -> None:
    t = Table(title=f"{plural(result.windows, 'window', 'windows')} of {result.horizon} steps from "
              f"{plural(result.series, 'series', 'series')} (stride {result.stride})"
              + (f"; {plural(result.trainings, 'model', 'models')} trained in {result.train_seconds:.0f}s"
                 if result.trainings else ""),
              title_justify="left")
    t.add_column("model", no_wrap=True)
    cols = (("MAE", "mae", 4), ("RMSE", "rmse", 4), ("sMAPE", "smape", 3), ("MASE", "mase", 3),
            ("RMSSE", "rmsse", 3), ("WAPE %", "wape", 2), ("bias", "bias", 4))
    for name, _, _ in cols:
        t.add_column(name, justify="right")
    labels = {"gru": "GRU", "naive": "naive", "seasonal_naive": f"seasonal naive (m={result.season})"}
    for key, label in labels.items():
        s = result.overall.get(key, {})
        t.add_row(label, *[_num(s.get(k), d) for _, k, d in cols])
    console.print(t)
    gru = result.overall.get("gru", {})
    for key in sorted(k for k in gru if k.startswith("coverage_")):
        level = key[len("coverage_"):]
        console.print(f"{level}% intervals: coverage {_num(gru[key], 1)}%, mean width {_num(gru.get('width_' + level))}, "
                      f"MSIS {_num(gru.get('msis_' + level), 3)}")
    if "wql" in gru:
        console.print(f"Weighted quantile loss {_num(gru['wql'])}")
    if result.skipped:
        warning(console, f"{len(result.skipped)} series too short for a window: {preview(result.skipped)}", "Note")
