"""`grucast check` (what train would make of a file, without training) and `grucast info` (a
checkpoint's own description).
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
    FORMAT_OPT,
    FUTURE_COLS_OPT,
    HORIZON_OPT,
    ID_COL_OPT,
    INPUT_SIZE_OPT,
    MIN_INPUT_OPT,
    PAST_COLS_OPT,
    SEASON_OPT,
    SEP_OPT,
    STATIC_COLS_OPT,
    TARGET_OPT,
    TIME_COL_OPT,
    VAL_SIZE_OPT,
    DataFormat,
    Duplicates,
    Fill,
    _data_overrides,
)
from grucast.cli.running import user_errors


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
    setup_logging(False, False)

    def preflight() -> None:  # a bad data file is a problem in check's report, not an error
        from grucast.ops import paths

        paths.run_paths(data=data, config=config)

    with user_errors(preflight=preflight):
        from grucast.config import files

        overrides = {
            "data": _data_overrides(data_format, time_col, id_col, target, fill, duplicates, sep, season,
                                    future_cols, past_cols, static_cols),
            "model": {"horizon": horizon, "input_size": input_size, "min_input": min_input},
            "training": {"val_size": val_size},
        }
        cfg = files.load(config, overrides)
        from grucast import api
        from grucast.cli import render

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
    setup_logging(False, False)

    def preflight() -> None:
        from grucast.ops import preflight as ops_preflight

        ops_preflight.sniff_checkpoint(model)

    with user_errors(preflight=preflight):
        from grucast import api
        from grucast.cli import render

        doc = api.info(model)
        if json_out:
            typer.echo(render.dumps(doc))
        else:
            render.info_report(doc, render.stdout_console())
