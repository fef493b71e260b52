"""The event log (--log-file): one JSON or text line per event, appended, opened without
following links or blocking on a FIFO; a full disk is a warning, not a failed run.

One logging path: an event is a record of the ``grucast.events`` logger, and while an event log
is open it is a handler on the ``grucast`` logger, so the library's own log records (a kernel
that fell back to nn.GRU, a stale build lock removed) become lines of the same log (event
``log``, with the logger's name and the message). The CLI's stderr handler leaves event records
out; with the log on stderr (--log-format json without --log-file) grucast's records go only
through the log, so stderr holds JSON lines alone.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from grucast.errors import ConfigError

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
EVENTS = logging.getLogger("grucast.events")


def is_event(record: logging.LogRecord) -> bool:
    """A record that EventLog.emit made (a filter for other handlers: events are the log's)."""
    return hasattr(record, "grucast_event")


# ---------------------------------------------------------------- event log


class EventLog:
    """One line per event for log collectors: JSON objects (fmt 'json') or 'time LEVEL event
    key=value ...' text, appended to a file (flushed per event) and/or written to a stream.
    Open from construction to close(): its handler takes the records of every grucast logger
    (INFO and up) meanwhile."""

    def __init__(self, command: str, path: Optional[Path] = None, fmt: str = "text", stream: Any = None):
        if fmt not in ("text", "json"):
            raise ConfigError(f"--log-format takes text or json, got '{fmt}'")
        self.command, self.fmt, self.stream = command, fmt, stream
        self.file = None
        self.path = path
        self.broken: Optional[str] = None  # why the log file stopped taking lines (a full disk)
        if path is not None:
            self.file = _open_log(Path(path))
        self._handler: Optional[_Handler] = None
        if self.active:
            self._attach()

    @property
    def active(self) -> bool:
        return self.file is not None or self.stream is not None

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        if self._handler is not None:
            EVENTS.log(LEVELS[level], event, extra={"grucast_event": event, "grucast_fields": fields})

    def write(self, record: logging.LogRecord) -> None:
        """A record as one line: an event with its fields, or a library record as event 'log'."""
        from grucast.ops.manifest import json_ready  # numpy and pandas: not before a run has started

        if is_event(record):
            event, fields = record.grucast_event, record.grucast_fields
        else:
            event, fields = "log", {"logger": record.name, "message": record.getMessage()}
        level = record.levelname.lower()
        head = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "level": level,
                "command": self.command, "event": event, "pid": os.getpid()}
        if self.fmt == "json":
            line = json.dumps(json_ready({**head, **fields}), allow_nan=False)
        else:
            rest = " ".join(f"{k}={json.dumps(json_ready(v), allow_nan=False)}" for k, v in fields.items())
            line = f"{head['time']} {level.upper()} {self.command}.{event} {rest}".rstrip()
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        if self.file is not None:
            try:
                self.file.write(line + "\n")
                self.file.flush()
            except OSError as e:  # the log is a side channel: losing it never fails the run
                self.broken = f"--log-file {self.path} stopped taking lines: {e.strerror}"
                self._close_file()

    def close(self) -> None:
        self._detach()
        self._close_file()

    def _attach(self) -> None:
        logger = logging.getLogger("grucast")
        self._handler = _Handler(self)
        self._saved = (logger.level, logger.propagate)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)  # the log takes INFO and up; stderr's handler keeps its own level
        if self.stream is not None:
            logger.propagate = False  # the log is stderr: one line per record, JSON only
        logger.addHandler(self._handler)

    def _detach(self) -> None:
        if self._handler is not None:
            logger = logging.getLogger("grucast")
            logger.removeHandler(self._handler)
            logger.setLevel(self._saved[0])
            logger.propagate = self._saved[1]
            self._handler = None

    def _close_file(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            try:
                file.close()
            except OSError:
                pass


class _Handler(logging.Handler):
    """Hands the records of the grucast loggers to an EventLog."""

    def __init__(self, log: EventLog):
        super().__init__(level=logging.DEBUG)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        if self.log.active:
            self.log.write(record)


def _open_log(path: Path) -> Any:
    """The log file, opened for appending without following a link (O_NOFOLLOW: a planted link
    is refused, never written through) and without waiting for a reader (O_NONBLOCK: a FIFO
    nobody reads is an error, not a hang)."""
    import errno

    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    for extra in ("O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC"):  # POSIX; elsewhere a plain append
        flags |= getattr(os, extra, 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(f"--log-file {path} is a symbolic link; grucast never writes through a link it did not "
                              "make: give the real path (or --log-format json without --log-file for stderr)") from None
        if e.errno == errno.ENXIO:
            raise ConfigError(f"--log-file {path} is a FIFO that nobody reads") from None
        raise ConfigError(f"cannot open --log-file {path}: {e.strerror}") from None
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)  # non-blocking only to open: a slow reader slows the run, loses no line
    return os.fdopen(fd, "a", encoding="utf-8")


class EvalEvents:
    """A training callback that logs every validation check and passes everything on."""

    def __init__(self, log: EventLog, inner: Any):
        self.log, self.inner = log, inner

    def on_note(self, message: str) -> None:
        self.log.emit("note", message=message)
        self.inner.on_note(message)

    def on_member(self, member: int, n_members: int, seed: int) -> None:
        self.log.emit("ensemble_member", member=member, members=n_members, seed=seed)
        self.inner.on_member(member, n_members, seed)

    def on_start(self, total_steps: int, steps_per_epoch: int, windows_per_epoch: int) -> None:
        self.log.emit("training_started", total_steps=total_steps, windows_per_epoch=windows_per_epoch)
        self.inner.on_start(total_steps, steps_per_epoch, windows_per_epoch)

    def on_step(self, step: int) -> None:
        self.inner.on_step(step)

    def on_eval(self, r: Any) -> None:
        self.log.emit("validation", step=r.step, epoch=r.epoch, train_loss=r.train_loss, val_loss=r.val_loss,
                      best=r.best, windows_per_s=r.windows_per_s, member=r.member)
        self.inner.on_eval(r)

    def on_end(self, result: Any) -> None:
        self.log.emit("training_finished", steps=result.steps, best_step=result.best_step,
                      stop_reason=result.stop_reason, train_seconds=result.train_seconds)
        self.inner.on_end(result)
