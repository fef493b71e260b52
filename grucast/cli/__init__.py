"""The command line: a thin layer over grucast.api. The only package that imports typer or rich.

app (the Typer application, the ``grucast`` entry point), options (every flag, from one table),
one module per command (train, predict, inspect: check and info, evaluate: evaluate and
backtest, gates, monitor, plot), running (what every command shares: user errors to exit codes, signals, the event
log), render (rich tables and reports) and terminal (plain-text safety for what data puts on a
terminal).
"""

from grucast.cli.app import app  # noqa: I001  (the command imports below keep their order)
# The order of these imports is the order of the commands in --help.
from grucast.cli import train, predict, inspect, evaluate, gates, monitor, plot  # noqa: E402, F401  (registers the commands)

__all__ = ["app"]
