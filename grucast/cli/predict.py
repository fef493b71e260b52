"""`grucast predict`: forecasts from a checkpoint, to a file or stdout."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import typer

from grucast.cli.app import app, setup_logging
from grucast.cli.options import (
    LOG_FILE_OPT,
    LOG_FORMAT_OPT,
    MANIFEST_OPT,
    MODEL_ARG,
    QUIET_OPT,
    SETTINGS,
    WAIT_OPT,
    LogFormat,
    OutputFormat,
    Settings,
    settings_flags,
)
from grucast.cli.running import Shown, Stdin, log_broken, rank_zero, user_errors, world_size


@app.command()
@settings_flags("predict")
def predict(
    model: Path = MODEL_ARG,
    data: Path = typer.Argument(..., metavar="DATA", help="CSV or Parquet file (or a folder of Parquet files) with the same columns as the training data; '-' reads it from stdin."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the forecasts here, atomically: CSV, or Parquet for .parquet, JSON records for .json; -o - prints CSV on stdout."),
    future: Optional[Path] = typer.Option(None, "--future", help="File of future covariates over the horizon (id, time and the model's future columns), instead of rows after the history in DATA."),
    output_format: Optional[OutputFormat] = typer.Option(None, "--format", help="What to print on stdout: table (default without -o), csv or json."),
    settings: Settings = SETTINGS,  # --device, --threads, --kernel (grucast.config.flags)
    max_age: Optional[str] = typer.Option(None, "--max-age", help="Staleness guard, e.g. 2d or 36h: exit 4 and write nothing when the newest observation in DATA is older than this (relative to now, or --as-of)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="The time --max-age is measured from (default: now), e.g. 2024-06-01T06:00."),
    shard: Optional[str] = typer.Option(None, "--shard", metavar="I/N", help="Forecast only shard I of N (1 <= I <= N): the series whose id hashes (CRC-32) to it. Rows come in this hash order, so the CSV outputs of shards 1..N concatenate (headers dropped) to the unsharded file."),
    shard_data: bool = typer.Option(False, "--shard-data", help="With --shard or under torchrun: read only the rows of the shard's series (of a wide file its columns, of Parquet the row groups holding them), so no process holds the whole file; the summary, --max-age and the too-short check are then of those series."),
    wait: bool = WAIT_OPT,
    manifest: bool = MANIFEST_OPT,
    log_file: Optional[Path] = LOG_FILE_OPT,
    log_format: LogFormat = LOG_FORMAT_OPT,
    quiet: bool = QUIET_OPT,
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Debug logs."),
) -> None:
    """Forecast the horizon after the last observation of every series in DATA."""
    setup_logging(verbose)
    if output is not None and str(output) == "-":  # -o -: the forecasts as CSV on stdout
        output, output_format = None, output_format or OutputFormat.csv

    stdin = Stdin()
    names = {"model": str(model), "data": str(data)}  # as given: '-' for stdin
    if not rank_zero():  # under torchrun: rank 0 locks, logs, prints and writes; the others forecast their shard
        quiet, log_file, log_format, wait, manifest = True, None, LogFormat.text, False, False

    def preflight() -> None:
        from grucast.ops import paths

        nonlocal model, data, future
        if world_size() > 1 and "-" in (str(model), str(data), str(future)):
            from grucast.errors import ConfigError

            raise ConfigError("under torchrun every process reads MODEL, DATA and --future: give files, not '-' (stdin)")
        model, data, future = stdin.take(model, "MODEL"), stdin.take(data, "DATA"), stdin.take(future, "--future")
        paths.run_paths(model=model, data=data, future=future, output=output, log_file=log_file)

    def sniff() -> None:
        from grucast.ops import preflight as ops_preflight

        ops_preflight.sniff_checkpoint(model)
        ops_preflight.sniff_data(data)
        ops_preflight.sniff_data(future, "--future")

    with user_errors("predict", log_file, log_format, preflight, sniff, stdin) as log, ExitStack() as held:
        warn = log.stream is None  # series left out are warnings, shown with -q too, unless the log is stderr
        quiet = quiet or log.stream is not None  # from here: no chatter (-q, or the event log is stderr)
        from grucast.config import machine
        from grucast.errors import ConfigError
        from grucast.ops import gates, locks
        from grucast.ops import manifest as ops_manifest

        log.emit("started", argv=sys.argv[1:], **names, output=str(output) if output else None)

        device, threads, kernel = (settings[f"training.{k}"] for k in ("device", "threads", "kernel"))
        machine.check_threads("--threads", threads)
        age = gates.parse_age(max_age) if max_age is not None else None
        when = gates.parse_as_of(as_of)
        if when is not None and age is None:
            raise ConfigError("--as-of only applies with --max-age")
        from grucast.data import shards

        part = shards.parse(shard)
        shards.refuse_under_torchrun(part, world_size())  # as the library does, but before torch is imported
        if rank_zero():
            held.enter_context(locks.lock(output, wait))  # a second run exits 75 before torch is imported
        from grucast import api
        from grucast.cli import render

        shown = Shown(stdin)

        def described(result, identity):
            return stdin.plain(ops_manifest.predict_manifest(result, identity, model, data, future, shard=part,
                                                             max_age=max_age, as_of=when,
                                                             shard_data=shard_data and (part is not None or world_size() > 1)))

        result = api.predict(model, data, out_path=output, device=device or "auto", threads=threads, future_path=future,
                             max_age=age, as_of=when, shard=part, kernel=kernel or "auto", shard_data=shard_data,
                             manifest=described if manifest else None,
                             before_publish=lambda result: _show(result, shown, output, output_format, quiet, warn))
        for message in _left_out(result):
            log.emit("warning", level="warning", message=message)
        log.emit("finished", output=str(output) if output else None, series=result.n_forecast,
                 fallback=len(result.fallback), rows=len(result.forecasts), seconds=result.seconds, exit_code=0)
        log_broken(log, render.stderr_console(), log.stream is not None)  # a warning: shown with -q too
        shown.flush()


def _left_out(result) -> list[str]:
    """What a user must hear even with -q: series that got no forecast, or not the model's."""
    from grucast.errors import preview

    lines = []
    if result.data.dropped:
        lines.append(f"Skipped {len(result.data.dropped)} series with no values to forecast from: "
                     f"{preview(result.data.dropped)}")
    if result.fallback:
        how = " or ".join(sorted({m.replace("_", " ") for m in result.fallback.values()}))
        lines.append(f"{len(result.fallback)} series shorter than the {result.min_input} points the model needs got a "
                     f"{how} forecast instead (method column): {preview(list(result.fallback))}")
    return lines


def _show(result, shown: Shown, output: Optional[Path], output_format: Optional[OutputFormat], quiet: bool,
          warn: bool = True) -> None:
    """before_publish: what predict shows, rendered before the forecasts are published. quiet:
    no chatter on stderr (-q, or the event log is stderr); warn: series left out, and notes on
    series the model never saw, on stderr (with -q too: a cron job must not lose series without
    a trace; not when the event log is stderr, which carries them as warning events). The
    forecasts asked for on stdout come all the same."""
    from grucast.cli import render

    err = render.stderr_console()
    if warn:
        for line in _left_out(result):
            shown.line(err, line)
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
        shown.csv(result.forecasts)
    elif fmt == "json":
        shown.parts.append((sys.stdout, render.forecast_json(result) + "\n"))
    if output is not None and not quiet:
        shown.line(err, f"Wrote {len(result.forecasts):,} forecasts for {result.n_forecast:,} series to {output}")
