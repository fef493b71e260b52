"""What every command shares while it runs: user errors turned into one line and an exit code,
SIGTERM, the event log, and reports rendered before outputs are published and shown after.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every half-written file is cleaned up on
    the way out."""


def _on_sigterm(signum, frame):  # pragma: no cover - exercised through a subprocess
    raise Terminated()


@contextmanager
def user_errors(command: Optional[str] = None, log_file: Optional[Path] = None,
                 log_format: str = "text", preflight: Optional[Callable[[], None]] = None,
                 sniff: Optional[Callable[[], None]] = None) -> Iterator[Any]:
    """User mistakes end in one 'Error: ...' line and the error's exit code; bugs keep their
    traceback. SIGINT and SIGTERM end in 130 and 143; a full disk, a read-only folder or
    exhausted memory in 1. preflight() (the run's paths: guards.run_paths) and sniff() (its input
    files' first bytes) run first, before the log is opened and before torch is imported, so a
    bad input fails in a fraction of a second; a failed sniff is logged, a failed path check
    is not (the log itself may be the path at fault).
    With a command name, yields its event log (--log-file / --log-format, runs.EventLog; opened
    here, so a log that cannot be opened is a user error too): a failure is also an event, and
    when the log is stderr itself, the only line."""
    import signal

    from grucast.cli.terminal import error_line as plain_error_line
    from grucast.cli.terminal import shorten
    from grucast.errors import GrucastError
    from grucast.ops import paths, publish

    published: list[Path] = []  # outputs made visible: from then on, the run has done its work

    def error_line(message: str, code: int) -> None:
        message = shorten(message)
        if published:
            # After the commit nothing can undo the outputs: exit 0, and say what went wrong.
            names = ", ".join(str(p) for p in published)
            message = f"{message.split('; outputs were left')[0]} after the outputs were written ({names}); they are complete"
            try:
                if log is not None:
                    log.emit("note", message=message)
                plain_error_line(message, "Warning", "33")
            except OSError:
                pass
            raise typer.Exit(code=0)
        if log is not None:
            log.emit("failed", level="error", message=message, exit_code=code)
        if log is None or log.stream is None:
            plain_error_line(message)

    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (a test runner's worker): leave signals alone
        previous = None
    log = None
    with publish.on_commit(published.extend):
        try:
            if preflight is not None:
                preflight()
            try:
                if sniff is not None:
                    sniff()
            except GrucastError:
                fmt = log_format.value if isinstance(log_format, Enum) else log_format
                if command is not None and (log_file is not None or fmt == "json"):  # a log watcher must see it
                    log = _event_log(command, log_file, log_format)
                    log.emit("started", argv=sys.argv[1:])
                raise
            if command is not None:
                log = _event_log(command, log_file, log_format)
            yield log
        except GrucastError as e:
            error_line(str(e), e.exit_code)
            raise typer.Exit(code=e.exit_code) from None
        except KeyboardInterrupt:
            error_line("interrupted (SIGINT); outputs were left as they were", 130)
            raise typer.Exit(code=130) from None
        except Terminated:
            error_line("terminated (SIGTERM); outputs were left as they were", 143)
            raise typer.Exit(code=143) from None
        except BrokenPipeError:
            # A reader like `head` closed the pipe before the command finished: stop quietly, with
            # the status a shell gives a process killed by SIGPIPE, since the work is not done (0
            # when the outputs were already written).
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.dup2(devnull, sys.stderr.fileno())
            raise typer.Exit(code=0 if published else 141) from None
        except MemoryError:
            error_line("out of memory: the data or the settings need more memory than this machine has; use fewer "
                       "series, a smaller --batch-size, --input-size or --windows; outputs were left as they were", 1)
            raise typer.Exit(code=1) from None
        except OSError as e:
            if e.errno not in paths.IO_ERRORS:
                raise  # anything else is a bug: keep its traceback
            where = e.filename or "stdout or stderr"
            error_line(f"cannot use {where}: {paths.IO_ERRORS[e.errno]}; outputs were left as they were", 1)
            raise typer.Exit(code=1) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if log is not None:
                log.close()


class Shown:
    """What a command shows after its outputs are published, rendered before (api's
    before_publish): a report that fails to render fails the run with nothing written, and
    after the publish only finished text is written out."""

    def __init__(self) -> None:
        self.parts: list[tuple[Any, str]] = []

    def add(self, console: Any, show: Callable[[Any], None]) -> None:
        with console.capture() as capture:
            show(console)
        self.parts.append((console.file, capture.get()))

    def line(self, console: Any, text: str) -> None:
        from rich.text import Text

        from grucast.cli.terminal import clean

        self.add(console, lambda c: c.print(Text(clean(text))))

    def flush(self) -> None:
        for stream, text in self.parts:
            stream.write(text)
            stream.flush()
        self.parts = []


def _event_log(command: str, log_file: Optional[Path], log_format: str):
    """--log-file / --log-format: events to the file, or, for json without a file, to stderr
    in place of the human-readable lines."""
    from grucast.ops import events

    fmt = log_format.value if isinstance(log_format, Enum) else log_format
    stream = sys.stderr if fmt == "json" and log_file is None else None
    return events.EventLog(command, log_file, fmt, stream)


def log_broken(log, err, quiet: bool) -> None:
    """A log file that stopped taking lines (a full disk) is a warning, not a failure."""
    if log is not None and log.broken and not quiet:
        from grucast.cli import render

        render.warning(err, log.broken)


def show_evaluation(result, json_out: bool, shown: Shown) -> None:
    from grucast.cli import render

    if json_out:
        shown.parts.append((sys.stdout, render.dumps(result.to_dict()) + "\n"))
    else:
        shown.add(render.stdout_console(), lambda out: render.evaluation_report(result, out))
