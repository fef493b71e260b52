"""`grucast check` (what train would make of a file, without training) and `grucast info` (a
checkpoint's own description).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from grucast.cli.app import app, setup_logging
from grucast.cli.options import CONFIG_OPT, MODEL_ARG, SETTINGS, Settings, settings_flags
from grucast.cli.running import Stdin, user_errors


@app.command()
@settings_flags("check")
def check(
    data: Path = typer.Argument(..., metavar="DATA", help="CSV or Parquet file (or a folder of Parquet files) to examine; '-' reads it from stdin."),
    config: Optional[Path] = CONFIG_OPT,
    settings: Settings = SETTINGS,  # the data and window flags of train (grucast.config.flags), and --set
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON document on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing when DATA can be trained on (the exit code says it); else the problems, on stderr."),
) -> None:
    """Examine DATA with the same loading code as train, without training: columns, frequency,
    series lengths, gaps, duplicates, constant and too-short series. Exit 0 when it can be
    trained on, 1 when it cannot (with the reasons)."""
    setup_logging()
    stdin = Stdin()

    def preflight() -> None:  # a bad data file is a problem in check's report, not an error
        from grucast.ops import paths

        nonlocal data, config
        data, config = stdin.take(data, "DATA"), stdin.take(config, "--config")
        paths.run_paths(data=data, config=config)

    with user_errors(preflight=preflight, stdin=stdin):
        from grucast.config import files

        cfg = files.load(config, settings.overrides())
        from grucast import api
        from grucast.cli import render
        from grucast.cli.running import Shown

        result = api.check(data, cfg)
        shown = Shown(stdin)
        if json_out:
            shown.json(result.to_dict())
        elif not quiet:
            shown.add(render.stdout_console(), lambda out: render.check_report(result, out))
        else:  # -q: the warnings and problems alone, on stderr
            err = render.stderr_console()
            for w in result.warnings:
                shown.add(err, lambda c, w=w: render.warning(c, w))
            for p in result.problems:
                shown.line(err, f"Problem: {p}")
        shown.flush()
        if not result.ok:
            raise typer.Exit(code=1)


@app.command()
def info(
    model: Path = MODEL_ARG,
    json_out: bool = typer.Option(False, "--json", help="Print it as one JSON document on stdout."),
) -> None:
    """Print a checkpoint's own metadata: versions, data schema and frequency, covariates,
    training period and size, validation metrics and the full config. Exit 3 when it cannot
    be read."""
    setup_logging()
    stdin = Stdin()

    def preflight() -> None:
        from grucast.ops import preflight as ops_preflight

        nonlocal model
        model = stdin.take(model, "MODEL")
        ops_preflight.sniff_checkpoint(model)

    with user_errors(preflight=preflight, stdin=stdin):
        from grucast import api
        from grucast.cli import render
        from grucast.cli.running import Shown

        doc = api.info(model)
        shown = Shown(stdin)
        if json_out:
            shown.json(doc)
        else:
            shown.add(render.stdout_console(), lambda out: render.info_report(doc, out))
        shown.flush()
