"""What the CLI shows: rich tables and progress on a terminal, plain lines or JSON otherwise.

stdout carries the product (metrics, forecasts, JSON); stderr carries progress, notes and
errors. No colour or progress bars when stderr is not a terminal or NO_COLOR is set.

Text from outside (ids, column names, paths, flag values, library messages) reaches the terminal
as written: never read as rich markup or emoji codes, and with its control characters shown as
escapes (clean), so that data cannot restyle, clear or overwrite what is shown. Styles here are
rich Text / Style objects, never markup strings.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import TYPE_CHECKING, Any, Iterable, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from grucast.cli.terminal import UNSAFE_BUT_NEWLINE as _UNSAFE_BUT_NEWLINE
from grucast.cli.terminal import clean
from grucast.cli.terminal import no_color as _no_color
from grucast.data.write import text_times
from grucast.errors import preview
from grucast.ops.manifest import json_ready

if TYPE_CHECKING:  # annotations only: rendering a torch-free command (monitor, check) must not import torch
    from grucast.training.loop import EvalRecord, FitResult
    from grucast.workflows.backtest import EvaluationResult
    from grucast.workflows.check import CheckResult
    from grucast.workflows.fit import TrainResult
    from grucast.workflows.predict import PredictResult
    from grucast.workflows.summary import DataSummary

MAX_TABLE_ROWS = 200


class SafeConsole(Console):
    """A rich Console for text from outside: strings it prints (also table cells and titles)
    are never markup or emoji codes, whatever print is told, and control characters in anything
    it writes are shown as escapes (clean, newlines kept) before rich lays them out; rich itself
    would drop CR, BS, BEL, VT and FF silently and pass ESC through."""

    def render_str(self, text: str, *, style: Any = "", justify: Any = None, overflow: Any = None,
                   emoji: Optional[bool] = None, markup: Optional[bool] = None,
                   highlight: Optional[bool] = None, highlighter: Any = None) -> Text:
        return super().render_str(clean(text, newlines=True), style=style, justify=justify, overflow=overflow,
                                  emoji=False, markup=False, highlight=highlight, highlighter=highlighter)

    def render(self, renderable: Any, options: Any = None) -> Iterable[Segment]:
        # The last net, for Text objects built from raw text: what rich writes itself (cursor
        # moves of a progress bar, styles) is a control segment or a style, never segment text.
        for segment in super().render(renderable, options):
            if not segment.control and _UNSAFE_BUT_NEWLINE.search(segment.text):
                segment = Segment(clean(segment.text, newlines=True), segment.style, segment.control)
            yield segment


def _say(console: Console, text: str, newlines: bool = False) -> None:
    """Print one line (or block) built from text from outside, on any console: never markup."""
    console.print(Text(clean(text, newlines=newlines)))


# Output that is not a terminal (a log file, a pipe) is not wrapped by anyone: tables get room
# rather than cut numbers short at rich's default 80 columns.
LOG_WIDTH = 160


def stdout_console() -> Console:
    width = None if sys.stdout.isatty() or "COLUMNS" in os.environ else LOG_WIDTH
    return SafeConsole(markup=False, emoji=False, highlight=False, no_color=_no_color(), soft_wrap=True, width=width)


def stderr_console() -> Console:
    return SafeConsole(stderr=True, markup=False, emoji=False, highlight=False, no_color=_no_color(), soft_wrap=True)


def warning(console: Console, message: str, label: str = "Warning") -> None:
    """'Warning: ...' (yellow on a terminal); the message is shown as written, never as markup,
    with its control characters escaped."""
    console.print(Text.assemble((f"{clean(label)}: ", "yellow"), clean(message)))


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
    """What was read, as lines safe for a terminal (clean)."""
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
    return [clean(line) for line in lines]


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
            _say(self.console, message)

    def on_member(self, member: int, n_members: int, seed: int) -> None:
        if not self.quiet:
            _say(self.console, f"Ensemble network {member + 1} of {n_members} (seed {seed})")

    def on_start(self, total_steps: int, steps_per_epoch: int, windows_per_epoch: int) -> None:
        if self.quiet:
            return
        _say(
            self.console,
            f"Training on {windows_per_epoch:,} windows per epoch in {steps_per_epoch:,} "
            f"{'batch' if steps_per_epoch == 1 else 'batches'} (one optimizer step each), "
            f"at most {total_steps:,} steps"
        )
        if self.live:
            self.progress = Progress(
                TextColumn("train", style="bold", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}", markup=False),
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
        if r.step == 0:  # the anchored start, scored before any training step
            return f"start (the baseline, before training): val loss {r.val_loss:.4f}{mark}"
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
                status=f"epoch {r.epoch:.2f} · train {r.train_loss:.4f} · val {r.val_loss:.4f} · {r.windows_per_s:,.0f} w/s"
                if r.step else f"start · val {r.val_loss:.4f}",
            )
            _say(self.progress.console, self._line(r))
        else:
            _say(self.console, self._line(r))

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
        _say(
            self.console,
            f"Stopped after {result.steps:,} steps ({result.epochs:g} epochs, {why[result.stop_reason]}) in "
            f"{result.train_seconds:.1f}s, {result.windows_per_s:,.0f} windows/s; best validation loss "
            f"{result.best_val_loss:.4f} at step {result.best_step:,}"
        )


def metrics_table(result: TrainResult) -> Table:
    m = result.metrics
    t = Table(title=_title(f"Validation: last {result.config.training.val_size} steps of "
                           f"{plural(m.get('series', 0), 'series', 'series')} "
                           f"({plural(m.get('windows', 0), 'window', 'windows')})"),
              title_justify="left")
    t.add_column(_cell("model"))
    for name in ("MAE", "RMSE", "sMAPE", "MASE"):
        t.add_column(_cell(name), justify="right")
    n = result.config.model.ensemble or 1
    cell = result.config.model.cell.upper()  # the cell trained; the metric keys stay "gru" (README: Commands)
    gru = f"{cell} (mean of {n} networks)" if n > 1 else cell
    for label, key in ((gru, "gru"), (f"seasonal naive (m={m.get('season')})", "seasonal_naive")):
        s = m.get(key, {})
        t.add_row(*map(_cell, (label, _num(s.get("mae")), _num(s.get("rmse")), _num(s.get("smape"), 3),
                               _num(s.get("mase"), 3))))
    return t


def _title(text: str) -> Text:
    """A table title as rich shows a str title (style table.title), but never markup."""
    return Text(clean(text), style="table.title")


def info_report(doc: dict[str, Any], console: Console) -> None:
    """grucast info: a checkpoint's metadata, the essentials first, then the whole config."""
    import yaml

    f, t, c, s = doc["file"], doc["training"], doc["config"], doc["schema"]
    m = c["model"]
    _say(console, f"Checkpoint {f['path']}: {f['bytes']:,} bytes, sha256 {f['sha256']}")
    _say(console, f"Written by grucast {doc['versions']['grucast']} with torch {doc['versions']['torch']} "
                  f"(checkpoint format {doc['format_version']})")
    cols = ", ".join(f"{k} '{v}'" for k, v in (("time", s.get("time_col")), ("id", s.get("id_col")),
                                               ("target", s.get("target"))) if v)
    _say(console, f"Data: {s.get('format')} file, {cols}; frequency {doc['frequency']}")
    if t:
        period = f", from {t['first_time']} to {t['last_time']}" if "first_time" in t else ""
        _say(console, f"Trained on {t.get('data_file')}: {t.get('n_series', 0):,} series, {t.get('n_points', 0):,} points"
                      f"{period}; {t.get('train_windows', 0):,} training windows per epoch, {t.get('steps', 0):,} steps "
                      f"(best at {t.get('best_step', 0):,})")
        if t.get("data_sha256"):
            _say(console, f"Training data sha256 {t['data_sha256']}")
    cov = "; ".join(f"{k}: {', '.join(v)}" for k, v in doc["covariates"].items() if v) or "none"
    kind = f"quantiles {', '.join(f'{q:g}' for q in doc['quantiles'])}" + (" (calibrated)" if doc["calibrated"] else "") \
        if doc["quantiles"] else "point forecasts"
    ens = f" (ensemble of {m['ensemble']})" if (m.get("ensemble") or 1) > 1 else ""
    _say(console, f"Model: input {m['input_size']} steps, horizon {m['horizon']}, {m.get('cell', 'gru').upper()} "
                  f"{m['num_layers']} x {m['hidden_size']}{ens}, "
                  f"{doc['parameters']:,} parameters; {kind}; covariates {cov}")
    v = doc["metrics"]
    if v.get("windows"):
        line = ", ".join(f"{name} {v[key]['mase']:.3f}" for name, key in ((m.get("cell", "gru").upper(), "gru"),
                                                                          ("seasonal naive", "seasonal_naive"),
                                                                          ("naive", "naive")) if key in v)
        _say(console, f"Validation MASE ({v['windows']:,} windows): {line}")
    _say(console, "Config:\n" + yaml.safe_dump(c, sort_keys=False).rstrip(), newlines=True)


# Points between the coverages of the two calibration folds above which the training summary
# warns, when both folds hold enough windows for their coverages to mean something.
FOLD_GAP, FOLD_WINDOWS = 10.0, 30


def train_summary(result: TrainResult, console: Console) -> None:
    console.print(metrics_table(result))
    m = result.metrics
    skill = m.get("skill")
    if skill is not None and math.isfinite(skill):
        verdict = "better" if skill > 0 else "worse"
        _say(
            console,
            f"{result.config.model.cell.upper()} skill over seasonal naive: {skill:+.1%} ({m.get('skill_metric', 'mase').upper()}; "
            f"{verdict} than the baseline)"
        )
    how = m.get("intervals_estimate", "two halves of the series, each calibrated on the other")
    for level, c in m.get("intervals", {}).items():
        _say(
            console,
            f"{level}% interval coverage on the validation windows: {_num(c['raw'], 1)}% as trained, "
            f"{_num(c['calibrated'], 1)}% after conformal calibration ({how})"
        )
        if _fold_warning(level, c):
            warning(console, _fold_warning(level, c))
    _say(console, f"Saved model to {result.checkpoint_path}")


def train_warnings(result: TrainResult) -> list[str]:
    """The warnings of the training summary alone (for -q, which shows no summary)."""
    found = (_fold_warning(level, c) for level, c in result.metrics.get("intervals", {}).items())
    return [w for w in found if w]


def _fold_warning(level: str, c: dict[str, Any]) -> Optional[str]:
    a, b = c.get("folds", (None, None))
    if a is not None and b is not None and abs(a - b) > FOLD_GAP and min(c["fold_windows"]) >= FOLD_WINDOWS:
        return (f"the {level}% intervals cover {a:.1f}% of one fold and {b:.1f}% of the other, each calibrated on "
                "the other: the validation windows are too few or too unlike each other to calibrate this horizon "
                "well, so expect coverage away from nominal; a longer --val-size (more horizons held out) helps")
    return None


# ---------------------------------------------------------------- predict


def forecast_title(result: PredictResult) -> Text:
    return Text(f"Forecast: {result.horizon} steps for {plural(result.n_forecast, 'series', 'series')}")


def forecast_table(result: PredictResult) -> Table:
    f = text_times(result.forecasts.head(MAX_TABLE_ROWS))
    t = Table()
    for c in f.columns:
        t.add_column(_cell(c), justify="right" if c == "forecast" else "left")
    for row in f.itertuples(index=False):
        t.add_row(*[_cell(v) for v in row])
    return t


def _cell(v: Any) -> Text:
    """A table cell or header: numbers short, text as written (clean), never markup."""
    if isinstance(v, float):
        return Text(f"{v:g}" if abs(v) < 1e6 else f"{v:.6g}")
    return Text(clean(v))


def forecast_json(result: PredictResult) -> str:
    records = text_times(result.forecasts).to_dict(orient="records")
    return dumps({"horizon": result.horizon, "series": result.n_forecast, "fallback": result.fallback,
                  "forecasts": records})


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


# ---------------------------------------------------------------- check


def check_report(result: CheckResult, console: Console) -> None:
    if result.data is not None:
        for line in data_lines(result.data, result.config.data.fill if result.config else "interpolate"):
            _say(console, line)
        ln = result.lengths
        _say(console, f"Series lengths: min {ln['min']:,}, median {ln['median']:,.0f}, max {ln['max']:,}")
    if result.config is not None:
        c = result.config
        _say(
            console,
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
        _say(console, f"Covariate '{name}': {c['kind']}{extra}")
    if result.future_covered is not None and not result.future_not_covered:
        _say(console, f"Future covariates cover the forecast horizon of all {result.future_covered:,} series")
    for w in result.warnings:
        warning(console, w)
    for p in result.problems:
        _say(console, f"Problem: {p}")
    _say(console, "OK: this file can be trained on" if result.ok else "Not trainable: fix the problem(s) above")


# ---------------------------------------------------------------- evaluate / backtest


def evaluation_report(result: EvaluationResult, console: Console) -> None:
    if result.comparison is not None:
        comparison_report(result, console)
        return
    t = Table(title=_title(f"{plural(result.windows, 'window', 'windows')} of {result.horizon} steps from "
                           f"{plural(result.series, 'series', 'series')} (stride {result.stride})"
                           + (f"; {plural(result.trainings, 'model', 'models')} trained in {result.train_seconds:.0f}s"
                              if result.trainings else "")),
              title_justify="left")
    t.add_column(_cell("model"), no_wrap=True)
    cols = (("MAE", "mae", 4), ("RMSE", "rmse", 4), ("sMAPE", "smape", 3), ("MASE", "mase", 3),
            ("RMSSE", "rmsse", 3), ("WAPE %", "wape", 2), ("bias", "bias", 4))
    for name, _, _ in cols:
        t.add_column(_cell(name), justify="right")
    cell = result.config.model.cell.upper() if result.config is not None else "GRU"
    labels = {"gru": cell, "naive": "naive", "seasonal_naive": f"seasonal naive (m={result.season})"}
    for key, label in labels.items():
        s = result.overall.get(key, {})
        t.add_row(*map(_cell, (label, *[_num(s.get(k), d) for _, k, d in cols])))
    console.print(t)
    gru = result.overall.get("gru", {})
    for key in sorted(k for k in gru if k.startswith("coverage_")):
        level = key[len("coverage_"):]
        _say(console, f"{level}% intervals: coverage {_num(gru[key], 1)}%, mean width {_num(gru.get('width_' + level))}, "
                      f"MSIS {_num(gru.get('msis_' + level), 3)}")
    if "wql" in gru:
        _say(console, f"Weighted quantile loss {_num(gru['wql'])}")
    if result.skipped:
        warning(console, f"{len(result.skipped)} series too short for a window: {preview(result.skipped)}", "Note")


def comparison_report(result: EvaluationResult, console: Console) -> None:
    """backtest --cell gru,lstm: the cells side by side (mean over the seeds, lowest-highest
    below it), the seasonal naive beside them (and the naive where it scores lower), costs, and
    the verdict."""
    c = result.comparison
    summary, seeds = c.summary(), len(c.seeds)
    each = f"{seeds} seeds each ({', '.join(map(str, c.seeds))})" if seeds > 1 else f"one seed each ({c.seeds[0]})"
    t = Table(title=_title(f"{' against '.join(x.upper() for x in c.cells)}: {plural(result.windows, 'window', 'windows')} "
                           f"of {result.horizon} steps from {plural(result.series, 'series', 'series')} (stride "
                           f"{result.stride}), {each}"), title_justify="left")
    t.add_column(_cell(""), no_wrap=True)
    for cell in c.cells:
        t.add_column(_cell(cell.upper()), justify="right")
    # The seasonal naive, and the naive (last value) too where it scores lower: the verdict
    # then names it as the baseline to beat, and the table shows it.
    baselines = [("seasonal_naive", f"seasonal naive (m={result.season})")]
    seasonal, last = (result.overall.get(k, {}).get("mase") for k in ("seasonal_naive", "naive"))
    if result.season != 1 and last is not None and (seasonal is None or last < seasonal):
        baselines.append(("naive", "naive"))
    for _, title in baselines:
        t.add_column(_cell(title), justify="right")
    for label, key, d in (("MASE", "mase", 3), ("sMAPE", "smape", 3), ("MAE", "mae", 4)):
        spread = [f" ({_num(summary[x]['lowest'].get(key), d)}-{_num(summary[x]['highest'].get(key), d)})"
                  if seeds > 1 else "" for x in c.cells]
        t.add_row(_cell(label), *[_num(summary[x]["metrics"].get(key), d) + sp for x, sp in zip(c.cells, spread)],
                  *[_num(result.overall.get(b, {}).get(key), d) for b, _ in baselines])
    blank = [""] * len(baselines)
    t.add_row("parameters", *[f"{summary[x]['parameters']:,}" for x in c.cells], *blank)
    t.add_row("training, per epoch", *[f"{summary[x]['seconds_per_epoch']:.2f}s" for x in c.cells], *blank)
    t.add_row("training, in all", *[f"{summary[x]['train_seconds']:.1f}s" for x in c.cells], *blank)
    t.add_row("forecasting", *[f"{summary[x]['forecast_seconds']:.2f}s" for x in c.cells], *blank)
    console.print(t)
    _say(console, "Metrics: means over the seeds, lowest-highest in brackets. Times: per run, medians over the seeds, "
                  "on this machine.")
    _say(console, f"Verdict: {c.verdict.text}")
    if result.skipped:
        warning(console, f"{len(result.skipped)} series too short for a window: {preview(result.skipped)}", "Note")


def gates_report(doc: dict[str, Any], console: Console) -> None:
    """grucast gates: every layer's gates and memory, the attribution by lag, and the advice."""
    L = doc["input_size"]
    keep, other = {"gru": ("update", "reset"), "lstm": ("forget", "input")}[doc["cell"]]
    _say(console, f"Gates of {doc['model']} ({doc['gates_of']}) over {doc['windows']:,} recent windows of "
                  f"{doc['series']:,} series in {os.path.basename(doc['data']['path'])}; input {L} steps, horizon {doc['horizon']}")
    table = Table()
    heads = ("update gate z (keep)", "reset gate r") if keep == "update" else ("forget gate f (keep)", "input gate i")
    for name in ("layer", *heads, "slow units", "fast units", "half-life", "90 % gone"):
        table.add_column(name, justify="left" if name == "layer" else "right")
    for i, g in enumerate(doc["layers"]):
        table.add_row(str(i + 1), f"{g[keep + '_gate_mean']:.3f} ± {g[keep + '_gate_spread']:.3f}",
                      f"{g[other + '_gate_mean']:.3f} ± {g[other + '_gate_spread']:.3f}", f"{g['slow_units']:.0%}",
                      f"{g['fast_units']:.0%}", _steps(g["memory_half_life"], L), _steps(g["memory_90"], L))
    console.print(table)
    g = "z" if keep == "update" else "f"
    _say(console, f"Slow units keep their state (mean {g} at least 0.9), fast ones overwrite it about every step (at "
                  f"most 0.5); half-life and 90 % gone: steps until that much of the state at a step is replaced, "
                  f"on the product of {g}.")
    curve = doc["layers"][-1]["survival"]
    marks = sorted({k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, L) if k <= L})
    _say(console, "State surviving from k steps back (last layer): " + ", ".join(f"{k}: {curve[k]:.0%}" for k in marks))
    attr = doc["attribution"]
    top = sorted(attr, key=lambda k: -attr[k])[:6]
    _say(console, "Forecast attribution by lag (mean |d forecast / d input|, sums to 100 %): largest at "
                  + ", ".join(f"lag {k} {attr[k]:.1%}" for k in top))
    verdict = {"shorter": f"a shorter input window should do: --input-size {doc['suggested_input_size']}",
               "longer": f"a longer input window may help: try --input-size {doc['suggested_input_size']}",
               "keep": f"the input window of {L} steps fits"}[doc["advice"]]
    saving = doc.get("training_time_saved")
    if saving is not None and saving > 0:
        verdict += f" (the {doc['cell'].upper()}'s training pass takes {saving:.0%} less time at that length, measured here)"
    elif saving is not None:  # a busy machine: the timing says nothing
        verdict += f" (the {doc['cell'].upper()}'s training pass measured no faster at that length here: a busy machine?)"
    _say(console, f"Advice: {verdict}, because " + "; ".join(doc["reasons"]) + ".")


def _steps(k: Optional[int], L: int) -> str:
    return f"{k} steps" if k is not None else f"> {L} steps"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def monitor_report(doc: dict[str, Any], console: Console) -> None:
    """grucast monitor: what this run added to the history, what it left out, and per checkpoint
    of the last origins the realized scores beside the baselines' and the validation's."""
    w = doc["window"]
    _say(console, f"Scored {_n(doc['files'], 'forecast file')}: {doc['added']:,} rows added to {doc['history']}, "
                  f"{doc['duplicates']:,} already there; {doc['pending']['rows']:,} rows of "
                  f"{doc['pending']['forecasts']:,} forecasts await their actuals"
                  + (f", {doc['missing']:,} fall in gaps of the data" if doc["missing"] else ""))
    for s in doc["skipped"]:
        what = f"{len(s['series'])} series of {s['file']} ({preview(s['series'])})" if s["series"] else s["file"]
        warning(console, f"skipped {what}: {s['reason']}", "Note")
    if not w.get("origins"):
        _say(console, "The history holds no scored forecast yet.")
        for g in doc["gates"]:
            _say(console, f"{'Passed' if g['passed'] else 'FAILED'}: {g['text']}")
        return
    _say(console, f"Last {_n(w['origins'], 'origin')} ({w['first']}" + (f" to {w['last']}):" if w["origins"] > 1 else "):"))
    for c in doc["checkpoints"]:
        name = f"{c['checkpoint']} ({str(c['sha256'])[:12]}){', current' if c['current'] else ''}"
        if not c.get("rows"):
            _say(console, f"{name}: no forecast with actuals yet")
            continue
        _say(console, f"{name}: {c['forecasts']:,} forecasts of {c['series']:,} series ({c['complete']:,} complete, "
                      f"{c['partial']:,} partial), {c['rows']:,} steps scored")
        table = Table()
        for col in ("", "MAE", "sMAPE", "MASE"):
            table.add_column(col, justify="left" if not col else "right")
        m = c["metrics"]
        for key, label in (("model", (c.get("cell") or "gru").upper()), ("seasonal_naive", "seasonal naive"),
                           ("naive", "naive")):
            table.add_row(label, *(f"{m[key][x]:.4g}" for x in ("mae", "smape", "mase")))
        v, r = c.get("validation") or {}, c.get("ratio") or {}
        if v:
            table.add_row("validation", *(f"{v[x]:.4g}" if v.get(x) is not None else "-" for x in ("mae", "smape", "mase")))
            table.add_row("realized / validation", *(f"{r[x]:.2f}x" if r.get(x) is not None else "-"
                                                     for x in ("mae", "smape", "mase")))
        console.print(table)
        _say(console, f"Skill over seasonal naive ({c['skill_metric'].upper()}): {c['skill']:+.1%}"
                      + (f", at validation {v['skill']:+.1%}" if v.get("skill") is not None else ""))
        for level, i in c["intervals"].items():
            at_val = (v.get("intervals") or {}).get(level, {}).get("coverage")
            _say(console, f"{level}% interval: covered {i['coverage']:.1f}% of the actuals (nominal {level}%"
                          + (f", validation {at_val:.1f}%" if at_val is not None else "") + f"), mean width {i['width']:.4g}")
        steps = c["by_step"]
        if steps:
            picks = sorted({steps[0]["step"], steps[len(steps) // 2]["step"], steps[-1]["step"]})
            by = {s["step"]: s for s in steps}
            _say(console, "MAE by horizon step: " + ", ".join(f"step {k} {by[k]['mae']:.4g}" for k in picks))
        if c["worst"]:
            _say(console, "Worst series (MASE): " + ", ".join(f"{x['series']} {x['mase']:.3g}" for x in c["worst"]))
    for g in doc["gates"]:
        _say(console, f"{'Passed' if g['passed'] else 'FAILED'}: {g['text']}")
