"""The Typer application: top-level help with the exit codes, --version, and logging set-up.
The commands register themselves on `app` from their own modules (see grucast.cli).
"""

from __future__ import annotations

import logging
import sys

import typer

from grucast import __version__

HELP = """Forecast time-series files with a GRU network.

Exit codes (every failure prints one 'Error: ...' line on stderr and leaves earlier outputs as
they were): 0 success; 1 bad input data or settings; 2 bad usage (unknown flag, missing
argument); 3 checkpoint missing, damaged or incompatible; 4 input data stale (--max-age);
5 quality or drift gate failed (train --fail-if-worse-than, monitor's gates); 75 output locked by another run (retry, or
--wait); 130 interrupted (SIGINT); 143 terminated (SIGTERM); 141 output pipe closed early.
"""


app = typer.Typer(
    help=HELP,
    add_completion=True,  # --install-completion / --show-completion (Typer's own, for bash, zsh, fish, PowerShell)
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
        from grucast.cli.terminal import clean

        return clean(super().format(record), newlines=True)


def setup_logging(verbose: bool = False) -> None:
    """Library logs on stderr: warnings and errors (with -q too: -q silences chatter, not
    warnings), and debug logs with -v. Events are the event log's (ops.events), not stderr's."""
    from grucast.ops.events import is_event

    level = logging.DEBUG if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.addFilter(lambda record: not is_event(record))
    handler.setFormatter(_CleanFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


