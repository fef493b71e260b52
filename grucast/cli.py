"""The grucast command line: parses flags, builds the config, calls one library function per
command and renders its result. The only module that imports typer."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack, contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer

from grucast import __version__

HELP = """Forecast time-series files with a GRU network.

Exit codes (every failure prints one 'Error: ...' line on stderr and leaves earlier outputs as
they were): 0 success; 1 bad input data or settings; 2 bad usage (unknown flag, missing
argument); 3 checkpoint missing, damaged or incompatible; 4 input data stale (--max-age);
5 quality gate failed (--fail-if-worse-than); 75 output locked by another run (retry, or
--wait); 130 interrupted (SIGINT); 143 terminated (SIGTERM); 141 output pipe closed early.
"""

app = typer.Typer(
    help=HELP,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class DataFormat(str, Enum):
    auto = "auto"
    long = "long"
    wide = "wide"


class Fill(str, Enum):
    interpolate = "interpolate"
    ffill = "ffill"
    zero = "zero"
    error = "error"


class Duplicates(str, Enum):
    error = "error"
    mean = "mean"
    sum = "sum"
    last = "last"
    first = "first"


class Loss(str, Enum):
    mae = "mae"
    mse = "mse"
    huber = "huber"


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


class Kernel(str, Enum):
    auto = "auto"
    fused = "fused"
    reference = "reference"


KERNEL_HELP = ("What runs the GRU: auto (grucast's fused kernel on the CPU in float32, built once per machine; "
               "nn.GRU/cuDNN on a GPU), fused, or reference (PyTorch's nn.GRU).")


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


# Options shared by the commands that read a data file the way train does.
CONFIG_OPT = typer.Option(None, "--config", help="YAML file with data/model/training sections; flags win.")
FORMAT_OPT = typer.Option(None, "--format", help="Layout of the file (default: auto-detect).")
TIME_COL_OPT = typer.Option(None, "--time-col", help="Time column (detected when unambiguous).")
ID_COL_OPT = typer.Option(None, "--id-col", help="Series id column of a long file (detected when unambiguous).")
TARGET_OPT = typer.Option(None, "--target", help="Column to forecast (detected when unambiguous).")
FILL_OPT = typer.Option(None, "--fill", help="Gaps in the time grid: interpolate (default), ffill, zero or error.")
DUPLICATES_OPT = typer.Option(None, "--duplicates", help="Repeated timestamps in a series: error (default), or aggregate by mean, sum, last or first.")
SEP_OPT = typer.Option(None, "--sep", help="CSV field separator (default: ',', or ';', tab, '|' when the header shows one); 'tab' for a tab.")
HORIZON_OPT = typer.Option(None, "--horizon", help="Steps to forecast (default: one day for intraday data, else M4's horizon for the frequency).")
INPUT_SIZE_OPT = typer.Option(None, "--input-size", help="Steps the GRU reads (default: a week of intraday data, at least 2 x horizon).")
SEASON_OPT = typer.Option(None, "--season", help="Seasonal period for the baseline and MASE (inferred from datetimes; required for integer steps, 1 for none).")
FUTURE_COLS_OPT = typer.Option(None, "--future-cols", help="Covariate columns known ahead (comma-separated): read over the input window and the horizon; predict needs their values over the horizon.")
PAST_COLS_OPT = typer.Option(None, "--past-cols", help="Covariate columns observed with the target but unknown ahead (comma-separated): read over the input window only.")
STATIC_COLS_OPT = typer.Option(None, "--static-cols", help="Columns constant per series (comma-separated); text values are categories with learned embeddings.")
CALENDAR_OPT = typer.Option(None, "--calendar/--no-calendar", help="Cyclic calendar features (hour of day, day of week, ...) from datetime timestamps (default: on).")
MIN_INPUT_OPT = typer.Option(None, "--min-input", help="Observed steps a series needs in its input window when short series are padded (default: input_size // 4).")
VAL_SIZE_OPT = typer.Option(None, "--val-size", help="Last steps of every series held out for validation (default: one horizon).")
class LogFormat(str, Enum):
    text = "text"
    json = "json"


LOG_FILE_OPT = typer.Option(None, "--log-file", help="Append one line per event (start, data read, each validation check, outputs written, failure with its exit code) to this file: a text file, never a link, an input or an earlier output.")
LOG_FORMAT_OPT = typer.Option(LogFormat.text, "--log-format", help="text, or json: one JSON object per event (to --log-file, or to stderr in place of the usual lines).")
WAIT_OPT = typer.Option(False, "--wait", help="When another grucast run is writing the same output (it holds OUTPUT.lock), wait for it instead of exiting with 75.")
MANIFEST_OPT = typer.Option(True, "--manifest/--no-manifest", help="Write OUTPUT.manifest.json beside the output: command, versions, input and checkpoint sha256, origins, metrics, timings (default: on).")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"grucast {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


class _CleanFormatter(logging.Formatter):
    """Log records (which may quote paths and library messages) with control characters escaped."""

    def format(self, record: logging.LogRecord) -> str:
        from grucast.terminal import clean

        return clean(super().format(record), newlines=True)


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else (logging.ERROR if quiet else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_CleanFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every half-written file is cleaned up on
    the way out."""


def _on_sigterm(signum, frame):  # pragma: no cover - exercised through a subprocess
    raise Terminated()


@contextmanager
def _user_errors(command: Optional[str] = None, log_file: Optional[Path] = None,
                 log_format: str = "text", preflight: Optional[Callable[[], None]] = None,
                 sniff: Optional[Callable[[], None]] = None) -> Iterator[Any]:
    """User mistakes end in one 'Error: ...' line and the error's exit code; bugs keep their
    traceback. SIGINT and SIGTERM end in 130 and 143; a full disk, a read-only folder or
    exhausted memory in 1. preflight() (the run's paths: guards.run_paths) and sniff() (its input
    files' first bytes) run first, before the log is opened and before torch is imported, so a
    bad input fails in a fraction of a second; a failed sniff is logged, a failed path check
    is not (the log itself may be the path at fault).
    With a command name, yields its event log (--log-file / --log-format, runs.EventLog; opened
    here, so a log that cannot be opened is a user error too): a failure is also an event, and
    when the log is stderr itself, the only line."""
    import signal

    from grucast import guards
    from grucast.errors import GrucastError
    from grucast.terminal import error_line as plain_error_line
    from grucast.terminal import shorten

    published: list[Path] = []  # outputs made visible: from then on, the run has done its work

    def error_line(message: str, code: int) -> None:
        message = shorten(message)
        if published:
            # After the commit nothing can undo the outputs: exit 0, and say what went wrong.
            names = ", ".join(str(p) for p in published)
            message = f"{message.split('; outputs were left')[0]} after the outputs were written ({names}); they are complete"
            try:
                if log is not None:
                    log.emit("note", message=message)
                plain_error_line(message, "Warning", "33")
            except OSError:
                pass
            raise typer.Exit(code=0)
        if log is not None:
            log.emit("failed", level="error", message=message, exit_code=code)
        if log is None or log.stream is None:
            plain_error_line(message)

    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (a test runner's worker): leave signals alone
        previous = None
    log = None
    with guards.on_commit(published.extend):
        try:
            if preflight is not None:
                preflight()
            try:
                if sniff is not None:
                    sniff()
            except GrucastError:
                fmt = log_format.value if isinstance(log_format, Enum) else log_format
                if command is not None and (log_file is not None or fmt == "json"):  # a log watcher must see it
                    log = _event_log(command, log_file, log_format)
                    log.emit("started", argv=sys.argv[1:])
                raise
            if command is not None:
                log = _event_log(command, log_file, log_format)
            yield log
        except GrucastError as e:
            error_line(str(e), e.exit_code)
            raise typer.Exit(code=e.exit_code) from None
        except KeyboardInterrupt:
            error_line("interrupted (SIGINT); outputs were left as they were", 130)
            raise typer.Exit(code=130) from None
        except Terminated:
            error_line("terminated (SIGTERM); outputs were left as they were", 143)
            raise typer.Exit(code=143) from None
        except BrokenPipeError:
            # A reader like `head` closed the pipe before the command finished: stop quietly, with
            # the status a shell gives a process killed by SIGPIPE, since the work is not done (0
            # when the outputs were already written).
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.dup2(devnull, sys.stderr.fileno())
            raise typer.Exit(code=0 if published else 141) from None
        except MemoryError:
            error_line("out of memory: the data or the settings need more memory than this machine has; use fewer "
                       "series, a smaller --batch-size, --input-size or --windows; outputs were left as they were", 1)
            raise typer.Exit(code=1) from None
        except OSError as e:
            if e.errno not in guards.IO_ERRORS:
                raise  # anything else is a bug: keep its traceback
            where = e.filename or "stdout or stderr"
            error_line(f"cannot use {where}: {guards.IO_ERRORS[e.errno]}; outputs were left as they were", 1)
            raise typer.Exit(code=1) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if log is not None:
                log.close()


class Shown:
    """What a command shows after its outputs are published, rendered before (api's
    before_publish): a report that fails to render fails the run with nothing written, and
    after the publish only finished text is written out."""

    def __init__(self) -> None:
        self.parts: list[tuple[Any, str]] = []

    def add(self, console: Any, show: Callable[[Any], None]) -> None:
        with console.capture() as capture:
            show(console)
        self.parts.append((console.file, capture.get()))

    def line(self, console: Any, text: str) -> None:
        from rich.text import Text

        from grucast.terminal import clean

        self.add(console, lambda c: c.print(Text(clean(text))))

    def flush(self) -> None:
        for stream, text in self.parts:
            stream.write(text)
            stream.flush()
        self.parts = []


def _event_log(command: str, log_file: Optional[Path], log_format: str):
    """--log-file / --log-format: events to the file, or, for json without a file, to stderr
    in place of the human-readable lines."""
    from grucast import runs

    fmt = log_format.value if isinstance(log_format, Enum) else log_format
    stream = sys.stderr if fmt == "json" and log_file is None else None
    return runs.EventLog(command, log_file, fmt, stream)


def _data_overrides(data_format, time_col, id_col, target, fill, duplicates, sep, season,
                    future_cols=None, past_cols=None, static_cols=None, calendar=None) -> dict:
    return {
        "future_covariates": future_cols,
        "past_covariates": past_cols,
        "static_covariates": static_cols,
        "calendar": calendar,
        "format": data_format.value if data_format else None,
        "time_col": time_col,
        "id_col": id_col,
        "target": target,
        "fill": fill.value if fill else None,
        "duplicates": duplicates.value if duplicates else None,
        "sep": sep,
        "season": season,
    }


@app.command()
def train(
    data: Path = typer.Argument(..., metavar="DATA", help="CSV or Parquet file: long (id, time, target), single series, or wide."),
    output: Path = typer.Option(..., "-o", "--output", help="Checkpoint file to write (atomically)."),
    config: Optional[Path] = CONFIG_OPT,
    data_format: Optional[DataFormat] = FORMAT_OPT,
    time_col: Optional[str] = TIME_COL_OPT,
    id_col: Optional[str] = ID_COL_OPT,
    target: Optional[str] = TARGET_OPT,
    fill: Optional[Fill] = FILL_OPT,
    duplicates: Optional[Duplicates] = DUPLICATES_OPT,
    sep: Optional[str] = SEP_OPT,
    horizon: Optional[int] = HORIZON_OPT,
    input_size: Optional[int] = INPUT_SIZE_OPT,
    season: Optional[int] = SEASON_OPT,
    future_cols: Optional[str] = FUTURE_COLS_OPT,
    past_cols: Optional[str] = PAST_COLS_OPT,
    static_cols: Optional[str] = STATIC_COLS_OPT,
    calendar: Optional[bool] = CALENDAR_OPT,
    series_embedding: Optional[int] = typer.Option(None, "--series-embedding", help="Size of a learned embedding of the series id (default 0: none); series not seen in training get an average one."),
    min_input: Optional[int] = MIN_INPUT_OPT,
    quantiles: Optional[str] = typer.Option(None, "--quantiles", help="Quantiles to forecast, e.g. 0.1,0.5,0.9 (trained with the pinball loss, calibrated on the validation windows); predict writes a q0.1 ... column for each."),
    intervals: Optional[str] = typer.Option(None, "--intervals", help="Central prediction intervals in percent, e.g. 80,95: predict writes lo-80, hi-80, ... columns."),
    hidden_size: Optional[int] = typer.Option(None, "--hidden-size", help="GRU hidden units (default 64; 32 when the data gives fewer than 10,000 training windows)."),
    num_layers: Optional[int] = typer.Option(None, "--num-layers", help="GRU layers (default 1)."),
    ensemble: Optional[int] = typer.Option(None, "--ensemble", help="Networks trained with seeds seed, seed+1, ... whose forecasts are averaged (default 1; 3 when the data gives fewer than 10,000 training windows)."),
    dropout: Optional[float] = typer.Option(None, "--dropout", help="Dropout between GRU layers and in the head (default 0)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs at most; an epoch is one pass over every training window (default 50)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps at most, whatever --epochs says (default 5000)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Windows per optimizer step (default 256)."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", help="AdamW learning rate (default 0.003; 0.001 below 10,000 training windows), annealed by a cosine over the step budget."),
    loss: Optional[Loss] = typer.Option(None, "--loss", help="Training loss on scaled values (default mae)."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Validation checks without improvement before stopping (default 5)."),
    val_size: Optional[int] = VAL_SIZE_OPT,
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed; the same seed repeats a CPU run exactly (default 0)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (a GPU when there is one), cpu, cuda or cuda:N."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice)."),
    precision: Optional[Precision] = typer.Option(None, "--precision", help="Training arithmetic: fp32 (default) or bf16 autocast (pays on a GPU at large batches, e.g. 1,024; slower at the default 256 and on CPUs without bf16 units)."),
    kernel: Optional[Kernel] = typer.Option(None, "--kernel", help=KERNEL_HELP),
    init_from: Optional[Path] = typer.Option(None, "--init-from", metavar="MODEL", help="Fine-tune: start from this checkpoint's weights, data schema and model settings, on new data of the same shape (training settings come from the flags)."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="MODEL.resume", help="Continue an interrupted run (SIGINT/SIGTERM save it to OUTPUT.resume) on the same DATA, step for step; its settings are the saved ones."),
    fail_if_worse_than: Optional[str] = typer.Option(None, "--fail-if-worse-than", metavar="BASELINE", help="Quality gate: naive or seasonal-naive. When the new model's validation MASE is worse than the baseline's, exit 5 and keep the previous checkpoint."),
    wait: bool = WAIT_OPT,
    manifest: bool = MANIFEST_OPT,
    log_file: Optional[Path] = LOG_FILE_OPT,
    log_format: LogFormat = LOG_FORMAT_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON document on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only errors and results."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Print the resolved config and debug logs."),
) -> None:
    """Train a global GRU forecaster on every series of DATA and save it to -o MODEL.

    Default budget: at most 50 epochs or 5000 optimizer steps of 256 windows, whichever comes
    first, validating at the end of every epoch and every 200 steps, and stopping early after 5
    checks without improvement; the best weights are kept. This trains M4 Hourly (414 series,
    245,000 windows per epoch) in about 5 minutes on 2 CPU cores (13 with --kernel reference).
    """
    _setup_logging(verbose, quiet)

    def preflight() -> None:
        from grucast import guards

        guards.run_paths(data=data, config=config, init_from=init_from, resume=resume, output=output,
                         log_file=log_file, train=True)

    def sniff() -> None:
        from grucast import guards

        guards.sniff_data(data)
        guards.sniff_checkpoint(init_from, "--init-from")
        guards.sniff_checkpoint(resume, "--resume")

    with _user_errors("train", log_file, log_format, preflight, sniff) as log, ExitStack() as held:
        quiet = quiet or log.stream is not None
        from grucast import config as config_mod

        log.emit("started", argv=sys.argv[1:], data=str(data), output=str(output))

        overrides = {
            "data": _data_overrides(data_format, time_col, id_col, target, fill, duplicates, sep, season,
                                    future_cols, past_cols, static_cols, calendar),
            "model": {
                "horizon": horizon,
                "input_size": input_size,
                "series_embedding": series_embedding,
                "min_input": min_input,
                "quantiles": quantiles,
                "intervals": intervals,
                "hidden_size": hidden_size,
                "num_layers": num_layers,
                "dropout": dropout,
                "ensemble": ensemble,
            },
            "training": {
                "epochs": epochs,
                "max_steps": max_steps,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "loss": loss.value if loss else None,
                "patience": patience,
                "val_size": val_size,
                "seed": seed,
                "device": device,
                "threads": threads,
                "precision": precision.value if precision else None,
                "kernel": kernel.value if kernel else None,
            },
        }
        cfg = config_mod.load(config, overrides)  # settings and the data fail before torch is imported
        from grucast import guards

        held.enter_context(guards.lock(output, wait))  # a second run exits 75 before the heavy imports
        table = None
        if init_from is None and resume is None:  # those read DATA with the checkpoint's columns
            from grucast.io import load_table

            table = load_table(data, cfg.data)
        from grucast import api, render, runs
        from grucast.io import preview

        err = render.stderr_console()
        chatty = not quiet

        # The starting checkpoint fixes the network and the data layout (--resume: everything);
        # flags that would change them are named once that checkpoint has been read.
        fixed = ("data", "model", "training") if resume else ("data", "model") if init_from else ()
        ignored = [config_mod.label(f"{section}.{k}") for section in fixed for k, v in overrides[section].items()
                   if v is not None]

        def on_ready(summary, resolved, notes):
            log.emit("data_read", series=summary.n_series, points=summary.n_points, warnings=summary.warnings,
                     defaults_chosen=notes)
            if chatty:
                for line in render.data_lines(summary, resolved.data.fill):
                    err.print(line)
            if not quiet:
                if ignored:
                    render.warning(err, f"{'--resume' if resume else '--init-from'} keeps the settings of "
                                        f"{resume or init_from}; ignored: {', '.join(ignored)}")
                for line in summary.warnings:
                    render.warning(err, line)
                if notes:
                    err.print(render.clean("Chose " + ", ".join(notes)))
            if verbose:
                import yaml

                err.print("Resolved config:\n" + yaml.safe_dump(resolved.to_dict(), sort_keys=False).rstrip())

        shown = Shown()

        def before_publish(result) -> None:
            if result.gate and chatty:
                shown.line(err, result.gate[0].upper() + result.gate[1:])
            if result.short_series and chatty:
                c = result.config
                shown.line(err,
                    f"{len(result.short_series)} series too short for a training window (fewer than "
                    f"{(c.model.min_input or c.model.input_size) + c.model.horizon + c.training.val_size} points): "
                    f"{preview(result.short_series)}"
                )
            if json_out:
                text = render.dumps(result.to_dict())
                shown.parts.append((sys.stdout, text + "\n"))
            else:
                shown.add(render.stdout_console(), lambda out: render.train_summary(result, out))

        display = render.TrainDisplay(err, quiet=quiet)
        try:
            with runs.stop_on_signals() as stop:
                result = api.train(data, output, cfg, callback=runs.EvalEvents(log, display), on_ready=on_ready,
                                   fail_if_worse_than=fail_if_worse_than, init_from=init_from, resume_from=resume,
                                   stop=stop, manifest=runs.train_manifest if manifest else None,
                                   before_publish=before_publish, table=table)
        finally:
            display.close()
        log.emit("finished", checkpoint=str(output), metrics=result.metrics, quality_gate=result.gate,
                 seconds=result.seconds, exit_code=0)
        _log_broken(log, err, quiet)
        shown.flush()


def _log_broken(log, err, quiet: bool) -> None:
    """A log file that stopped taking lines (a full disk) is a warning, not a failure."""
    if log is not None and log.broken and not quiet:
        from grucast import render

        render.warning(err, log.broken)


@app.command()
def predict(
    model: Path = typer.Argument(..., metavar="MODEL", help="Checkpoint written by grucast train."),
    data: Path = typer.Argument(..., metavar="DATA", help="CSV or Parquet file with the same columns as the training data."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the forecasts here, atomically: CSV, or Parquet for .parquet, JSON records for .json."),
    future: Optional[Path] = typer.Option(None, "--future", help="File of future covariates over the horizon (id, time and the model's future columns), instead of rows after the history in DATA."),
    output_format: Optional[OutputFormat] = typer.Option(None, "--format", help="What to print on stdout: table (default without -o), csv or json."),
    device: str = typer.Option("auto", "--device", help="auto (a GPU when there is one), cpu, cuda or cuda:N."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
    kernel: Kernel = typer.Option(Kernel.auto, "--kernel", help=KERNEL_HELP),
    max_age: Optional[str] = typer.Option(None, "--max-age", help="Staleness guard, e.g. 2d or 36h: exit 4 and write nothing when the newest observation in DATA is older than this (relative to now, or --as-of)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The time --max-age is measured from (default: now), e.g. 2024-06-01T06:00."),
    shard: Optional[str] = typer.Option(None, "--shard", metavar="I/N", help="Forecast only shard I of N (1 <= I <= N): the series whose id hashes (CRC-32) to it. The N outputs together are exactly the unsharded forecast."),
    wait: bool = WAIT_OPT,
    manifest: bool = MANIFEST_OPT,
    log_file: Optional[Path] = LOG_FILE_OPT,
    log_format: LogFormat = LOG_FORMAT_OPT,
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only errors and results."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Debug logs."),
) -> None:
    """Forecast the horizon after the last observation of every series in DATA."""
    _setup_logging(verbose, quiet)
    if output is not None and str(output) == "-":  # -o -: the forecasts as CSV on stdout
        output, output_format = None, output_format or OutputFormat.csv

    def preflight() -> None:
        from grucast import guards

        guards.run_paths(model=model, data=data, future=future, output=output, log_file=log_file)

    def sniff() -> None:
        from grucast import guards

        guards.sniff_checkpoint(model)
        guards.sniff_data(data)
        guards.sniff_data(future, "--future")

    with _user_errors("predict", log_file, log_format, preflight, sniff) as log, ExitStack() as held:
        quiet = quiet or log.stream is not None
        from grucast import config as config_mod
        from grucast import guards, runs
        from grucast.errors import ConfigError
        from grucast.io import preview

        log.emit("started", argv=sys.argv[1:], model=str(model), data=str(data), output=str(output) if output else None)

        config_mod.check_threads("--threads", threads)
        age = runs.parse_age(max_age) if max_age is not None else None
        when = runs.parse_as_of(as_of)
        if when is not None and age is None:
            raise ConfigError("--as-of only applies with --max-age")
        part = runs.parse_shard(shard)
        held.enter_context(guards.lock(output, wait))  # a second run exits 75 before torch is imported
        from grucast import api, render

        err = render.stderr_console()
        shown = Shown()

        def described(result, identity):
            return runs.predict_manifest(result, identity, model, data, future, shard=part, max_age=max_age, as_of=when)

        def before_publish(result) -> None:
            if result.data.dropped and not quiet:
                shown.line(err, f"Skipped {len(result.data.dropped)} series with no values to forecast from: "
                                f"{preview(result.data.dropped)}")
            if result.skipped and not quiet:
                shown.line(err,
                    f"Skipped {len(result.skipped)} series shorter than the {result.min_input} points the model needs: "
                    f"{preview(result.skipped)}"
                )
            if not quiet:
                for line in result.notes:
                    shown.add(err, lambda c, line=line: render.warning(c, line, "Note"))
            fmt = output_format.value if output_format else (None if output else "table")
            if fmt == "table":
                out = render.stdout_console()
                shown.add(out, lambda c: (c.print(render.forecast_title(result)), c.print(render.forecast_table(result))))
                if len(result.forecasts) > render.MAX_TABLE_ROWS and not quiet:
                    shown.line(err, f"Showed {render.MAX_TABLE_ROWS} of {len(result.forecasts):,} rows; use -o FILE or "
                                    "--format csv for all")
            elif fmt == "csv":  # exact for a pipe; on a terminal, control characters escaped
                from grucast.writers import to_csv

                text = to_csv(result.forecasts)
                shown.parts.append((sys.stdout, render.clean(text, newlines=True) if sys.stdout.isatty() else text))
            elif fmt == "json":
                shown.parts.append((sys.stdout, render.forecast_json(result) + "\n"))
            if output is not None and not quiet:
                shown.line(err, f"Wrote {len(result.forecasts):,} forecasts for {result.n_forecast:,} series to {output}")

        result = api.predict(model, data, out_path=output, device=device, threads=threads, future_path=future,
                             max_age=age, as_of=when, shard=part, kernel=kernel.value,
                             manifest=described if manifest else None, before_publish=before_publish)
        log.emit("finished", output=str(output) if output else None, series=result.n_forecast,
                 skipped=len(result.skipped), rows=len(result.forecasts), seconds=result.seconds, exit_code=0)
        _log_broken(log, err, quiet)
        shown.flush()


@app.command()
def check(
    data: Path = typer.Argument(..., metavar="DATA", help="CSV or Parquet file to examine."),
    config: Optional[Path] = CONFIG_OPT,
    data_format: Optional[DataFormat] = FORMAT_OPT,
    time_col: Optional[str] = TIME_COL_OPT,
    id_col: Optional[str] = ID_COL_OPT,
    target: Optional[str] = TARGET_OPT,
    fill: Optional[Fill] = FILL_OPT,
    duplicates: Optional[Duplicates] = DUPLICATES_OPT,
    sep: Optional[str] = SEP_OPT,
    horizon: Optional[int] = HORIZON_OPT,
    input_size: Optional[int] = INPUT_SIZE_OPT,
    season: Optional[int] = SEASON_OPT,
    future_cols: Optional[str] = FUTURE_COLS_OPT,
    past_cols: Optional[str] = PAST_COLS_OPT,
    static_cols: Optional[str] = STATIC_COLS_OPT,
    min_input: Optional[int] = MIN_INPUT_OPT,
    val_size: Optional[int] = VAL_SIZE_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON document on stdout."),
) -> None:
    """Examine DATA with the same loading code as train, without training: columns, frequency,
    series lengths, gaps, duplicates, constant and too-short series. Exit 0 when it can be
    trained on, 1 when it cannot (with the reasons)."""
    _setup_logging(False, False)

    def preflight() -> None:  # a bad data file is a problem in check's report, not an error
        from grucast import guards

        guards.run_paths(data=data, config=config)

    with _user_errors(preflight=preflight):
        from grucast import config as config_mod

        overrides = {
            "data": _data_overrides(data_format, time_col, id_col, target, fill, duplicates, sep, season,
                                    future_cols, past_cols, static_cols),
            "model": {"horizon": horizon, "input_size": input_size, "min_input": min_input},
            "training": {"val_size": val_size},
        }
        cfg = config_mod.load(config, overrides)
        from grucast import api, render

        result = api.check(data, cfg)
        if json_out:
            typer.echo(render.dumps(result.to_dict()))
        else:
            render.check_report(result, render.stdout_console())
        if not result.ok:
            raise typer.Exit(code=1)


@app.command()
def info(
    model: Path = typer.Argument(..., metavar="MODEL", help="Checkpoint written by grucast train."),
    json_out: bool = typer.Option(False, "--json", help="Print it as one JSON document on stdout."),
) -> None:
    """Print a checkpoint's own metadata: versions, data schema and frequency, covariates,
    training period and size, validation metrics and the full config. Exit 3 when it cannot
    be read."""
    _setup_logging(False, False)

    def preflight() -> None:
        from grucast import guards

        guards.sniff_checkpoint(model)

    with _user_errors(preflight=preflight):
        from grucast import api, render

        doc = api.info(model)
        if json_out:
            typer.echo(render.dumps(doc))
        else:
            render.info_report(doc, render.stdout_console())


WINDOWS_OPT = typer.Option(None, "--windows", help="Forecast origins per series, the newest ending at the series' end (default: evaluate 1, backtest 3).")
STRIDE_OPT = typer.Option(None, "--stride", help="Steps between origins (default: one horizon, so windows do not overlap).")
FORECASTS_OUT_OPT = typer.Option(None, "-o", "--output", help="Write every window's forecasts, actuals and baselines here (CSV, .parquet or .json).")
METRICS_OUT_OPT = typer.Option(None, "--metrics", help="Write the metrics per series and pooled ('(all)') here (CSV, .parquet or .json).")


def _report(result, json_out: bool, shown: Shown) -> None:
    from grucast import render

    if json_out:
        shown.parts.append((sys.stdout, render.dumps(result.to_dict()) + "\n"))
    else:
        shown.add(render.stdout_console(), lambda out: render.evaluation_report(result, out))


@app.command()
def evaluate(
    model: Path = typer.Argument(..., metavar="MODEL", help="Checkpoint written by grucast train."),
    data: Path = typer.Argument(..., metavar="DATA", help="File with the model's columns, reaching past its training period."),
    windows: Optional[int] = WINDOWS_OPT,
    stride: Optional[int] = STRIDE_OPT,
    output: Optional[Path] = FORECASTS_OUT_OPT,
    metrics_out: Optional[Path] = METRICS_OUT_OPT,
    device: str = typer.Option("auto", "--device", help="auto (a GPU when there is one), cpu, cuda or cuda:N."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
    wait: bool = WAIT_OPT,
    manifest: bool = MANIFEST_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print the pooled metrics as one JSON document on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only errors and results."),
) -> None:
    """Score a trained model on DATA: forecast the last horizon of every series (or --windows
    origins, --stride apart) from the history before it, beside naive and seasonal naive."""
    _setup_logging(False, quiet)

    def preflight() -> None:
        from grucast import guards

        guards.run_paths(model=model, data=data, output=output, metrics=metrics_out)
        guards.sniff_checkpoint(model)
        guards.sniff_data(data)

    with _user_errors(preflight=preflight):
        from grucast import backtest, guards, runs

        shown = Shown()

        def described(result):
            return runs.evaluation_manifest("evaluate", result, data, model)

        with guards.locks([output, metrics_out], wait):
            backtest.evaluate(model, data, windows=1 if windows is None else windows, stride=stride, device=device,
                              threads=threads, out_path=output, metrics_path=metrics_out,
                              manifest=described if manifest else None,
                              before_publish=lambda result: _report(result, json_out, shown))
        shown.flush()


@app.command(name="backtest")
def backtest_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="CSV or Parquet file, as for train."),
    config: Optional[Path] = CONFIG_OPT,
    windows: Optional[int] = WINDOWS_OPT,
    stride: Optional[int] = STRIDE_OPT,
    refit: bool = typer.Option(False, "--refit", help="Train a model for every window (on the data before its origin) instead of once before the oldest."),
    data_format: Optional[DataFormat] = FORMAT_OPT,
    time_col: Optional[str] = TIME_COL_OPT,
    id_col: Optional[str] = ID_COL_OPT,
    target: Optional[str] = TARGET_OPT,
    fill: Optional[Fill] = FILL_OPT,
    duplicates: Optional[Duplicates] = DUPLICATES_OPT,
    sep: Optional[str] = SEP_OPT,
    horizon: Optional[int] = HORIZON_OPT,
    input_size: Optional[int] = INPUT_SIZE_OPT,
    season: Optional[int] = SEASON_OPT,
    future_cols: Optional[str] = FUTURE_COLS_OPT,
    past_cols: Optional[str] = PAST_COLS_OPT,
    static_cols: Optional[str] = STATIC_COLS_OPT,
    sets: list[str] = typer.Option([], "--set", help="Any other setting, as section.key=value (e.g. --set training.max_steps=500); repeatable."),
    output: Optional[Path] = FORECASTS_OUT_OPT,
    metrics_out: Optional[Path] = METRICS_OUT_OPT,
    wait: bool = WAIT_OPT,
    manifest: bool = MANIFEST_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print the pooled metrics as one JSON document on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only errors and results."),
) -> None:
    """Rolling-origin evaluation: train on every series up to its oldest origin (or before each
    origin with --refit), forecast --windows origins per series, --stride apart, and score the
    GRU beside naive and seasonal naive, per series and pooled. Settings as for train (--config,
    the data flags, --set section.key=value)."""
    _setup_logging(False, quiet)

    def preflight() -> None:
        from grucast import guards

        guards.run_paths(data=data, config=config, output=output, metrics=metrics_out)
        guards.sniff_data(data)

    with _user_errors(preflight=preflight):
        from grucast import config as config_mod

        overrides = config_mod.merge(
            config_mod.parse_sets(sets),
            {"data": _data_overrides(data_format, time_col, id_col, target, fill, duplicates, sep, season,
                                     future_cols, past_cols, static_cols),
             "model": {"horizon": horizon, "input_size": input_size}},
        )
        cfg = config_mod.load(config, overrides)
        from grucast import backtest, guards, render, runs

        shown = Shown()

        def described(result):
            return runs.evaluation_manifest("backtest", result, data, None)

        display = render.TrainDisplay(render.stderr_console(), quiet=quiet)
        try:
            with guards.locks([output, metrics_out], wait):
                backtest.backtest(data, cfg, windows=3 if windows is None else windows, stride=stride, refit=refit,
                                  callback=display, out_path=output, metrics_path=metrics_out,
                                  manifest=described if manifest else None, config_path=config,
                                  before_publish=lambda result: _report(result, json_out, shown))
        finally:
            display.close()
        shown.flush()
