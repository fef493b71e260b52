"""`grucast train`: read a file, train, publish the checkpoint with its manifest, print metrics."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import typer

from grucast.cli.app import app, setup_logging
from grucast.cli.options import (
    CALENDAR_OPT,
    CONFIG_OPT,
    DUPLICATES_OPT,
    FILL_OPT,
    FORMAT_OPT,
    FUTURE_COLS_OPT,
    HORIZON_OPT,
    ID_COL_OPT,
    INPUT_SIZE_OPT,
    KERNEL_HELP,
    LOG_FILE_OPT,
    LOG_FORMAT_OPT,
    MANIFEST_OPT,
    MIN_INPUT_OPT,
    PAST_COLS_OPT,
    SEASON_OPT,
    SEP_OPT,
    STATIC_COLS_OPT,
    TARGET_OPT,
    TIME_COL_OPT,
    VAL_SIZE_OPT,
    WAIT_OPT,
    DataFormat,
    Duplicates,
    Fill,
    Kernel,
    LogFormat,
    Loss,
    Precision,
    _data_overrides,
)
from grucast.cli.running import Shown, log_broken, user_errors


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
    setup_logging(verbose, quiet)

    def preflight() -> None:
        from grucast.ops import paths

        paths.run_paths(data=data, config=config, init_from=init_from, resume=resume, output=output,
                         log_file=log_file, train=True)

    def sniff() -> None:
        from grucast.ops import preflight as ops_preflight

        ops_preflight.sniff_data(data)
        ops_preflight.sniff_checkpoint(init_from, "--init-from")
        ops_preflight.sniff_checkpoint(resume, "--resume")

    with user_errors("train", log_file, log_format, preflight, sniff) as log, ExitStack() as held:
        quiet = quiet or log.stream is not None
        from grucast.config import files, flags

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
        cfg = files.load(config, overrides)  # settings and the data fail before torch is imported
        from grucast.ops import locks

        held.enter_context(locks.lock(output, wait))  # a second run exits 75 before the heavy imports
        table = None
        if init_from is None and resume is None:  # those read DATA with the checkpoint's columns
            from grucast.data.table import load_table

            table = load_table(data, cfg.data)
        from grucast import api
        from grucast.cli import render
        from grucast.data.schema import preview
        from grucast.ops import events, signals
        from grucast.ops import manifest as ops_manifest

        err = render.stderr_console()
        chatty = not quiet

        # The starting checkpoint fixes the network and the data layout (--resume: everything);
        # flags that would change them are named once that checkpoint has been read.
        fixed = ("data", "model", "training") if resume else ("data", "model") if init_from else ()
        ignored = [flags.label(f"{section}.{k}") for section in fixed for k, v in overrides[section].items()
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
            with signals.stop_on_signals() as stop:
                result = api.train(data, output, cfg, callback=events.EvalEvents(log, display), on_ready=on_ready,
                                   fail_if_worse_than=fail_if_worse_than, init_from=init_from, resume_from=resume,
                                   stop=stop, manifest=ops_manifest.train_manifest if manifest else None,
                                   before_publish=before_publish, table=table)
        finally:
            display.close()
        log.emit("finished", checkpoint=str(output), metrics=result.metrics, quality_gate=result.gate,
                 seconds=result.seconds, exit_code=0)
        log_broken(log, err, quiet)
        shown.flush()
