"""`grucast monitor`: score past forecasts against the actuals that arrived since, keep them in a
history folder, and gate on drift (workflows.monitor)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from grucast.cli.app import app, setup_logging
from grucast.cli.options import QUIET_OPT, WAIT_OPT
from grucast.cli.running import Shown, user_errors


@app.command()
def monitor(
    data: Path = typer.Argument(..., metavar="DATA", help="The data as it stands now, with the actuals that arrived since the forecasts were made (the file predict read, grown)."),
    forecasts: list[Path] = typer.Argument(..., metavar="FORECAST...", help="Forecast files written by grucast predict (each with its manifest), or folders of them."),
    history: Path = typer.Option(..., "--history", help="Folder that keeps the scored rows: each run adds one part file (Parquet, or CSV without pyarrow) and updates its index; a row is never recorded twice."),
    last: int = typer.Option(30, "--last", help="Summarize and gate on the last N origins of the history."),
    fail_if_worse_than: Optional[str] = typer.Option(None, "--fail-if-worse-than", metavar="naive|seasonal-naive", help="Exit 5 when the current checkpoint's MASE over the last origins is worse than this baseline's on the same rows."),
    max_degradation: Optional[str] = typer.Option(None, "--max-degradation", metavar="PERCENT", help="Exit 5 when the current checkpoint's realized MASE exceeds its validation MASE by more than this, e.g. 25%."),
    min_coverage: Optional[str] = typer.Option(None, "--min-coverage", metavar="PERCENT|LEVEL=PERCENT,...", help="Exit 5 when an interval's realized coverage falls below this: 70% for every interval, or 80=70,95=90 per level."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON document on stdout."),
    wait: bool = WAIT_OPT,
    quiet: bool = QUIET_OPT,
) -> None:
    """Watch forecasts come true: join every forecast row with the actual that has since arrived
    in DATA, score it beside the naive and seasonal naive forecasts made at the same origin,
    add the rows not recorded yet to --history, and summarize the last origins per checkpoint
    beside its validation metrics; the gates exit 5 when the model drifted."""
    setup_logging()
    failure = None

    def preflight() -> None:
        from grucast.ops import history as store

        store.check_folder(history, store.input_roles(data, forecasts))

    with user_errors(preflight=preflight):
        from grucast.workflows.monitor import Gates
        from grucast.workflows.monitor import monitor as run_monitor  # not through grucast.api: no torch

        gates = Gates.parse(fail_if_worse_than, max_degradation, min_coverage)
        result = run_monitor(data, forecasts, history, last=last, gates=gates, wait=wait)  # it locks the history
        from grucast.cli import render

        shown = Shown()
        if json_out:
            shown.json(result.to_dict())
        elif not quiet:
            shown.add(render.stdout_console(), lambda out: render.monitor_report(result.to_dict(), out))
        elif result.skipped:
            for s in result.skipped:
                shown.add(render.stderr_console(), lambda out, s=s: render.warning(out, f"skipped {s.text()}", "Note"))
        shown.flush()
        failure = result.gate_error()
    if failure is not None:  # after the history was written: still exit 5, as the gate promises
        with user_errors():
            raise failure
