"""What every command shares while it runs: user errors turned into one line and an exit code,
SIGTERM, the event log, and reports rendered before outputs are published and shown after.
"""

from __future__ import annotations

import os
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


@contextmanager  # ~100 lines: every way a run can end, in one try statement around the yield
def user_errors(command: Optional[str] = None, log_file: Optional[Path] = None,
                log_format: str = "text", preflight: Optional[Callable[[], None]] = None,
                sniff: Optional[Callable[[], None]] = None, stdin: Optional["Stdin"] = None) -> Iterator[Any]:
    """User mistakes end in one 'Error: ...' line and the error's exit code; bugs keep their
    traceback. SIGINT and SIGTERM end in 130 and 143; a full disk, a read-only folder or
    exhausted memory in 1. preflight() (the run's paths: ops.paths.run_paths) and sniff() (its input
    files' first bytes) run first, before the log is opened and before torch is imported, so a
    bad input fails in a fraction of a second; a failed sniff is logged, a failed path check
    is not (the log itself may be the path at fault).
    With a command name, yields its event log (--log-file / --log-format, ops.events.EventLog; opened
    here, so a log that cannot be opened is a user error too): a failure is also an event, and
    when the log is stderr itself, the only line. stdin: the run's Stdin ('-' for an input), whose
    temporary file messages name by its name alone ('stdin.csv'), and which goes when the run ends."""
    import signal

    from grucast.cli.terminal import error_line as plain_error_line
    from grucast.cli.terminal import shorten
    from grucast.errors import GrucastError
    from grucast.ops import paths, publish

    published: list[Path] = []  # outputs made visible: from then on, the run has done its work

    def error_line(message: str, code: int) -> None:
        message = shorten(stdin.named(message) if stdin is not None else message)
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
            if str(e):  # empty: another rank of a torchrun job says it (workflows.train)
                error_line(str(e), e.exit_code)
            raise typer.Exit(code=e.exit_code) from None
        except KeyboardInterrupt:
            if rank_zero():  # the other ranks of a torchrun job: the launcher ends them when one fails
                error_line("interrupted (SIGINT); outputs were left as they were", 130)
            raise typer.Exit(code=130) from None
        except Terminated:
            if rank_zero():
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
            if stdin is not None:
                stdin.close()


class Shown:
    """What a command shows after its outputs are published, rendered before (the before_publish
    of grucast.api's functions): a report that fails to render fails the run with nothing written, and
    after the publish only finished text is written out. With stdin ('-' for an input), text
    names its temporary file 'stdin.csv' and JSON names it '-'."""

    def __init__(self, stdin: Optional["Stdin"] = None) -> None:
        self.parts: list[tuple[Any, str]] = []
        self.stdin = stdin

    def add(self, console: Any, show: Callable[[Any], None]) -> None:
        with console.capture() as capture:
            show(console)
        text = capture.get()
        self.parts.append((console.file, self.stdin.named(text) if self.stdin is not None else text))

    def line(self, console: Any, text: str) -> None:
        from rich.text import Text

        from grucast.cli.terminal import clean

        self.add(console, lambda c: c.print(Text(clean(text))))

    def json(self, doc: Any) -> None:
        """A JSON document on stdout: the product of --json."""
        from grucast.cli import render

        self.parts.append((sys.stdout, render.dumps(self.stdin.plain(doc) if self.stdin is not None else doc) + "\n"))

    def csv(self, frame: Any) -> None:
        """A frame as CSV on stdout (-o -): exact for a pipe; on a terminal, control characters escaped."""
        from grucast.cli.terminal import clean
        from grucast.data.write import to_csv

        text = to_csv(frame)
        self.parts.append((sys.stdout, clean(text, newlines=True) if sys.stdout.isatty() else text))

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


def show_evaluation(result, json_out: bool, shown: Shown, report: bool = True, csv: bool = False) -> None:
    """What evaluate and backtest show: the forecasts as CSV on stdout (csv: -o -), the pooled
    metrics as JSON (--json) or as a report, on stdout, or on stderr when stdout carries the CSV;
    report False (-q) leaves the report out."""
    from grucast.cli import render

    if csv:
        shown.csv(result.forecasts)
    if json_out:
        shown.json(result.to_dict())
    elif report:
        console = render.stderr_console() if csv else render.stdout_console()
        shown.add(console, lambda out: render.evaluation_report(result, out))


class Stdin:
    """'-' for an input file: stdin copied, once, into a private temporary file (in a folder of
    its own from mkdtemp, the file mode 0600), removed when the command ends. Readers get a
    real file, as they need: grucast reads an input more than once (to sniff, read and hash it).
    The file is named for what it holds, so that messages read naturally: stdin.csv, or
    stdin.parquet when the bytes start with Parquet's magic PAR1; stdin.pt for MODEL."""

    NAMES = (("MODEL", "stdin.pt"), ("--config", "stdin.yaml"))

    def __init__(self) -> None:
        self.folder: Optional[str] = None
        self.path: Optional[Path] = None
        self.label: Optional[str] = None

    def take(self, path: Optional[Path], label: str) -> Optional[Path]:
        """path, or for '-' the temporary file holding stdin; PathError for a second '-' in one
        command, and for stdin on a terminal (a run would wait for typing)."""
        import os
        import shutil
        import tempfile

        from grucast.errors import PathError

        if path is None or str(path) != "-":
            return path
        if self.label is not None:
            raise PathError(f"{self.label} and {label} are both '-', but stdin can be read only once; give one of "
                            "them as a file")
        self.label = label
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None or sys.stdin.isatty():
            raise PathError(f"{label} - reads stdin, but stdin is {'a terminal' if stream else 'closed'}; pipe the "
                            f"file in (cat FILE | grucast ...) or name it")
        head = stream.read(4)
        name = dict(self.NAMES).get(label) or ("stdin.parquet" if head == b"PAR1" else "stdin.csv")
        self.folder = tempfile.mkdtemp(prefix="grucast-stdin-")
        self.path = Path(self.folder) / name
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            shutil.copyfileobj(stream, f, 1 << 20)
        return self.path

    def named(self, text: str) -> str:
        """Text with the temporary file's path as its name alone: 'stdin.csv is empty'."""
        return text.replace(str(self.path), self.path.name) if self.path is not None else text

    def plain(self, doc: Any) -> Any:
        """A JSON-ready document (a manifest, --json) with the temporary file named '-', as on
        the command line."""
        if isinstance(doc, dict):
            return {k: self.plain(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [self.plain(v) for v in doc]
        return "-" if self.path is not None and doc == str(self.path) else doc

    def close(self) -> None:
        import shutil

        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _env_number(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, str(default)).strip() or default)
    except ValueError:
        return default  # training.distributed.from_env refuses it once the run gets there


def rank() -> int:
    """This process's rank in a torchrun job (RANK), 0 without torchrun; read from the
    environment without importing torch (training.distributed checks the values)."""
    return _env_number("RANK", 0)


def rank_zero() -> bool:
    """Not one of the other ranks of a torchrun job: rank 0 locks, logs, prints and writes."""
    return rank() == 0


def world_size() -> int:
    """The number of processes of the torchrun job this one is part of (WORLD_SIZE), 1 without
    torchrun."""
    return max(1, _env_number("WORLD_SIZE", 1))
