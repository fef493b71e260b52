"""`grucast evaluate` (a trained model on held-out windows) and `grucast backtest` (refit and
score over rolling origins).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from grucast.cli.app import app, setup_logging
from grucast.cli.options import (
    CONFIG_OPT,
    DUPLICATES_OPT,
    FILL_OPT,
    FORECASTS_OUT_OPT,
    FORMAT_OPT,
    FUTURE_COLS_OPT,
    HORIZON_OPT,
    ID_COL_OPT,
    INPUT_SIZE_OPT,
    MANIFEST_OPT,
    METRICS_OUT_OPT,
    PAST_COLS_OPT,
    SEASON_OPT,
    SEP_OPT,
    STATIC_COLS_OPT,
    STRIDE_OPT,
    TARGET_OPT,
    TIME_COL_OPT,
    WAIT_OPT,
    WINDOWS_OPT,
    DataFormat,
    Duplicates,
    Fill,
    _data_overrides,
)
from grucast.cli.running import Shown, show_evaluation, user_errors


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
    setup_logging(False, quiet)

    def preflight() -> None:
        from grucast.ops import paths
        from grucast.ops import preflight as ops_preflight

        paths.run_paths(model=model, data=data, output=output, metrics=metrics_out)
        ops_preflight.sniff_checkpoint(model)
        ops_preflight.sniff_data(data)

    with user_errors(preflight=preflight):
        from grucast import api
        from grucast.ops import locks
        from grucast.ops import manifest as ops_manifest

        shown = Shown()

        def described(result):
            return ops_manifest.evaluation_manifest("evaluate", result, data, model)

        with locks.locks([output, metrics_out], wait):
            api.evaluate(model, data, windows=1 if windows is None else windows, stride=stride, device=device,
                              threads=threads, out_path=output, metrics_path=metrics_out,
                              manifest=described if manifest else None,
                              before_publish=lambda result: show_evaluation(result, json_out, shown))
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
    setup_logging(False, quiet)

    def preflight() -> None:
        from grucast.ops import paths
        from grucast.ops import preflight as ops_preflight

        paths.run_paths(data=data, config=config, output=output, metrics=metrics_out)
        ops_preflight.sniff_data(data)

    with user_errors(preflight=preflight):
        from grucast.config import files, validate

        overrides = validate.merge(
            files.parse_sets(sets),
            {"data": _data_overrides(data_format, time_col, id_col, target, fill, duplicates, sep, season,
                                     future_cols, past_cols, static_cols),
             "model": {"horizon": horizon, "input_size": input_size}},
        )
        cfg = files.load(config, overrides)
        from grucast import api
        from grucast.cli import render
        from grucast.ops import locks
        from grucast.ops import manifest as ops_manifest

        shown = Shown()

        def described(result):
            return ops_manifest.evaluation_manifest("backtest", result, data, None)

        display = render.TrainDisplay(render.stderr_console(), quiet=quiet)
        try:
            with locks.locks([output, metrics_out], wait):
                api.backtest(data, cfg, windows=3 if windows is None else windows, stride=stride, refit=refit,
                                  callback=display, out_path=output, metrics_path=metrics_out,
                                  manifest=described if manifest else None, config_path=config,
                                  before_publish=lambda result: show_evaluation(result, json_out, shown))
        finally:
            display.close()
        shown.flush()
