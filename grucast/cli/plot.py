"""`grucast plot`: forecasts, backtests, training and monitoring as PNG or SVG files
(workflows.plot; matplotlib, an optional extra, imported only here)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from grucast.cli.app import app, setup_logging
from grucast.cli.options import MANIFEST_OPT, QUIET_OPT
from grucast.cli.running import Shown, user_errors


@app.command()
def plot(
    inputs: list[Path] = typer.Argument(..., metavar="INPUT...", help="MODEL DATA (a forecast), FORECAST DATA (a forecast file of predict), BACKTEST (the -o file of evaluate or backtest), MODEL (training curves), or HISTORY (a monitor history folder)."),
    output: Path = typer.Option(..., "-o", "--output", help="The picture: .png or .svg, written atomically with its manifest."),
    kind: Optional[str] = typer.Option(None, "--kind", help="forecast, backtest, training, monitor or gates (MODEL DATA); default: from the inputs."),
    series: Optional[str] = typer.Option(None, "--series", metavar="ID,...", help="Draw these series (comma-separated)."),
    top: Optional[int] = typer.Option(None, "--top", help="Draw the N largest series (a backtest: the N worst); default all up to 12, else the 12 first so ranked."),
    tail: Optional[int] = typer.Option(None, "--tail", help="Steps of history before the forecast (default: 3 seasons, at least 2 horizons); of a monitoring plot, the last N origins (default 120)."),
    future: Optional[Path] = typer.Option(None, "--future", help="Future covariates over the horizon, as for predict (MODEL DATA)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write a self-contained HTML report (the picture and what it shows) that a cron job can mail or publish."),
    manifest: bool = MANIFEST_OPT,
    json_out: bool = typer.Option(False, "--json", help="Print what was drawn as one JSON document on stdout."),
    quiet: bool = QUIET_OPT,
) -> None:
    """See it: draw a forecast (history tail, forecast, intervals, origin), a backtest (actuals
    against forecasts, baselines dashed, error by horizon step), training curves, or a
    monitoring history, one panel per series in a grid for many series."""
    setup_logging()

    with user_errors():
        from grucast.ops import manifest as ops_manifest
        from grucast.workflows.plot import Choice
        from grucast.workflows.plot import plot as run_plot

        chosen = [s.strip() for s in series.split(",") if s.strip()] if series else None
        choice = Choice(series=chosen, top=top, tail=tail)

        def described(result, identity):
            return ops_manifest.json_ready(ops_manifest.manifest(
                "plot", inputs=[str(p) for p in inputs], output=identity, kind=result.kind, series=result.series,
                of=result.of))

        shown = Shown()
        result = run_plot(inputs, output, kind=kind, choice=choice, report_path=report, future_path=future,
                          manifest=described if manifest else None)
        from grucast.cli import render

        if json_out:
            shown.json(result.to_dict())
        elif not quiet:
            shown.add(render.stderr_console(), lambda out: render._say(out, f"Wrote {result.output}"
                      + (f" and {result.report}" if result.report else "") + ": " + "; ".join(result.lines)))
        shown.flush()
