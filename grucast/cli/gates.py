"""`grucast gates`: what a trained model's GRU does with its input window (workflows.gates)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from grucast.cli.app import app, setup_logging
from grucast.cli.options import MODEL_ARG, SETTINGS, Settings, settings_flags
from grucast.cli.running import Stdin, user_errors


@app.command()
@settings_flags("gates")
def gates(
    model: Path = MODEL_ARG,
    data: Path = typer.Argument(..., metavar="DATA", help="File with the model's columns (its training data, or newer); '-' reads it from stdin."),
    windows: Optional[int] = typer.Option(None, "--windows", help="Recent windows per series, one step apart, each with its horizon in DATA (default: 1,024 in all, spread over the series)."),
    member: Optional[int] = typer.Option(None, "--member", help="Of an ensemble, read member K alone (0 first); default: the gates averaged over the members, the attribution of their mean forecast."),
    settings: Settings = SETTINGS,  # --device, --threads (grucast.config.flags)
    json_out: bool = typer.Option(False, "--json", help="Print the report as one JSON document on stdout."),
) -> None:
    """Open the GRU up: run MODEL over the most recent windows of DATA, record its update and
    reset gates at every step, and report per layer how much of its state survives from k steps
    back, which lags the forecast uses (attribution by lag), and whether --input-size could be
    shorter or should be longer, with the numbers behind the advice."""
    setup_logging()
    stdin = Stdin()

    def preflight() -> None:
        from grucast.ops import preflight as ops_preflight

        nonlocal model, data
        model, data = stdin.take(model, "MODEL"), stdin.take(data, "DATA")
        ops_preflight.sniff_checkpoint(model)

    with user_errors(preflight=preflight, stdin=stdin):
        from grucast import api
        from grucast.cli import render
        from grucast.cli.running import Shown

        result = api.gates(model, data, windows=windows, member=member, device=settings["training.device"] or "auto",
                           threads=settings["training.threads"])
        shown = Shown(stdin)
        if json_out:
            shown.json(result.to_dict())
        else:
            shown.add(render.stdout_console(), lambda out: render.gates_report(result.to_dict(), out))
        shown.flush()
