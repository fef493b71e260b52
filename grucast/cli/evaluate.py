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
    FORECASTS_OUT_OPT,
    MANIFEST_OPT,
    METRICS_OUT_OPT,
    MODEL_ARG,
    QUIET_OPT,
    SETTINGS,
    STRIDE_OPT,
    WAIT_OPT,
    WINDOWS_OPT,
    Settings,
    settings_flags,
)
from grucast.cli.running import Shown, Stdin, show_evaluation, user_errors

JSON_HELP = "Print the pooled metrics as one JSON document on stdout."


def _stdout_output(output: Optional[Path], json_out: bool) -> tuple[Optional[Path], bool]:
    """-o -: no file, the forecasts as CSV on stdout (as predict -o - does); (output, csv)."""
    if output is None or str(output) != "-":
        return output, False
    if json_out:
        from grucast.errors import ConfigError

        raise ConfigError("-o - and --json would both write to stdout; give -o a file name, or leave --json out")
    return None, True


@app.command()
@settings_flags("evaluate")
def evaluate(
    model: Path = MODEL_ARG,
    data: Path = typer.Argument(..., metavar="DATA", help="File with the model's columns, reaching past its training period; '-' reads it from stdin."),
    windows: Optional[int] = WINDOWS_OPT,
    stride: Optional[int] = STRIDE_OPT,
    output: Optional[Path] = FORECASTS_OUT_OPT,
    metrics_out: Optional[Path] = METRICS_OUT_OPT,
    settings: Settings = SETTINGS,  # --device, --threads (grucast.config.flags)
    wait: bool = WAIT_OPT,
    manifest: bool = MANIFEST_OPT,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = QUIET_OPT,
) -> None:
    """Score a trained model on DATA: forecast the last horizon of every series (or --windows
    origins, --stride apart) from the history before it, beside naive and seasonal naive."""
    def run(inputs, output, manifest_of, before_publish) -> None:
        from grucast import api

        api.evaluate(inputs["model"], inputs["data"], windows=1 if windows is None else windows, stride=stride,
                     device=settings["training.device"] or "auto", threads=settings["training.threads"],
                     out_path=output, metrics_path=metrics_out, manifest=manifest_of, before_publish=before_publish)

    _scoring("evaluate", {"model": model, "data": data}, output, metrics_out, json_out, quiet, wait, manifest, run)


@app.command(name="backtest")
@settings_flags("backtest")
def backtest_cmd(
    data: Path = typer.Argument(..., metavar="DATA", help="CSV or Parquet file (or a folder of Parquet files), as for train; '-' reads it from stdin."),
    config: Optional[Path] = CONFIG_OPT,
    windows: Optional[int] = WINDOWS_OPT,
    stride: Optional[int] = STRIDE_OPT,
    refit: bool = typer.Option(False, "--refit", help="Train a model for every window (on the data before its origin) instead of once before the oldest."),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="With --cell gru,lstm: runs per cell, seed, seed + ensemble, ... (default 3 below 10,000 training windows, else 1)."),
    settings: Settings = SETTINGS,  # every settings flag of train (grucast.config.flags), and --set
    output: Optional[Path] = FORECASTS_OUT_OPT,
    metrics_out: Optional[Path] = METRICS_OUT_OPT,
    wait: bool = WAIT_OPT,
    manifest: bool = MANIFEST_OPT,
    json_out: bool = typer.Option(False, "--json", help=JSON_HELP),
    quiet: bool = QUIET_OPT,
) -> None:
    """Rolling-origin evaluation: train on every series up to its oldest origin (or before each
    origin with --refit), forecast --windows origins per series, --stride apart, and score the
    GRU beside naive and seasonal naive, per series and pooled. Settings as for train (--config,
    --set section.key=value, the flags)."""
    cells = _cells(settings)

    def run(inputs, output, manifest_of, before_publish) -> None:
        from grucast.config import files

        given = settings if cells is None else Settings({**settings.values, "model.cell": None}, settings.sets,
                                                       settings.from_env)
        cfg = files.load(inputs["config"], given.overrides())  # before torch: a bad setting fails at once
        from grucast import api
        from grucast.cli import render

        display = render.TrainDisplay(render.stderr_console(), quiet=quiet)
        common = dict(windows=3 if windows is None else windows, stride=stride, refit=refit, callback=display,
                      out_path=output, metrics_path=metrics_out, manifest=manifest_of, config_path=inputs["config"],
                      before_publish=before_publish)
        try:
            if cells is None:
                api.backtest(inputs["data"], cfg, **common)
            else:
                api.compare_cells(inputs["data"], cfg, cells, seeds=seeds, **common)
        finally:
            display.close()

    if cells is None and seeds is not None:
        with user_errors():
            from grucast.errors import ConfigError

            raise ConfigError("--seeds sets the runs of a comparison of cells: use it with --cell gru,lstm")

    _scoring("backtest", {"data": data, "config": config}, output, metrics_out, json_out, quiet, wait, manifest, run)


def _cells(settings: Settings) -> Optional[list[str]]:
    """--cell gru,lstm (a comparison): the cells, checked; None for one cell."""
    text = settings["model.cell"]
    if text is None or "," not in text:
        return None
    with user_errors():
        from grucast.workflows.compare import cells_of

        return cells_of(text)


def _scoring(command: str, inputs: dict[str, Optional[Path]], output: Optional[Path], metrics_out: Optional[Path],
             json_out: bool, quiet: bool, wait: bool, manifest: bool, run) -> None:
    """What evaluate and backtest share around run(inputs, output, manifest_of, before_publish):
    '-' for an input, -o - as CSV on stdout, the paths and the inputs' first bytes checked before
    torch is imported, both outputs locked, the manifest and the report."""
    setup_logging()
    stdin = Stdin()
    labels = {"model": "MODEL", "data": "DATA", "config": "--config"}
    csv = False

    def preflight() -> None:
        from grucast.ops import paths
        from grucast.ops import preflight as ops_preflight

        nonlocal output, csv
        for role, path in inputs.items():
            inputs[role] = stdin.take(path, labels[role])
        output, csv = _stdout_output(output, json_out)
        paths.run_paths(**inputs, output=output, metrics=metrics_out)
        if "model" in inputs:
            ops_preflight.sniff_checkpoint(inputs["model"])
        ops_preflight.sniff_data(inputs["data"])

    with user_errors(preflight=preflight, stdin=stdin):
        from grucast.ops import locks
        from grucast.ops import manifest as ops_manifest

        shown = Shown(stdin)
        report = not quiet or (output is None and metrics_out is None and not csv)  # then the report is the result

        def described(result):
            made = ops_manifest.evaluation_manifest(command, result, inputs["data"], inputs.get("model"))
            return lambda identity: stdin.plain(made(identity))

        with locks.locks([output, metrics_out], wait):
            run(inputs, output, described if manifest else None,
                lambda result: show_evaluation(result, json_out, shown, report, csv))
        shown.flush()
