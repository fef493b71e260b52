"""What an unattended run needs besides the forecast itself: the manifest's content, a staleness
guard on the input, shards of the series, the quality gate of a new model, signals and the event
log. Locks and the publishing of outputs with their manifests are grucast.guards'. Nothing here
prints; the errors carry the exit codes of grucast.errors."""

from __future__ import annotations

import json
import os
import platform
import sys
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import pandas as pd

from grucast import __version__
from grucast.errors import ConfigError, QualityGateError, StaleDataError
from grucast.guards import file_identity

BASELINES = {"naive": "naive", "seasonal-naive": "seasonal_naive"}


# ---------------------------------------------------------------- staleness


_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600,
          "d": 86400, "day": 86400, "w": 604800, "week": 604800}


def parse_age(text: str) -> pd.Timedelta:
    """A positive duration: number-unit pairs such as 2d, 36h, 90min, 1w or 1d12h (units s, min,
    h, d, w, also spelled out), or anything pandas.Timedelta reads ('1 days 02:00:00', 'P2D');
    at most the 292 years a nanosecond clock spans."""
    import re

    spec = text.strip().lower()
    pairs = re.findall(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)", spec)
    age = None
    try:
        if pairs and re.fullmatch(r"(\s*[0-9]+(?:\.[0-9]+)?\s*[a-z]+)+", spec):
            units = [_UNITS.get(u[:-1] if len(u) > 2 and u.endswith("s") else u) for _, u in pairs]
            if all(units):
                age = pd.Timedelta(seconds=sum(float(n) * u for (n, _), u in zip(pairs, units)))
        if age is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    age = pd.Timedelta(text.strip())
            except (ValueError, TypeError):
                raise ConfigError(f"--max-age takes a duration such as 2d, 36h or 90min, got '{text}'") from None
        if not pd.isna(age):
            age = age.as_unit("ns")
    except (OverflowError, ValueError):  # beyond the nanosecond range (OutOfBoundsTimedelta)
        raise ConfigError(f"--max-age {text} is too long: at most {pd.Timedelta.max.days:,} days") from None
    if pd.isna(age) or age <= pd.Timedelta(0):
        raise ConfigError(f"--max-age must be a positive duration, got '{text}'")
    return age


def parse_as_of(text: Optional[str]) -> Optional[pd.Timestamp]:
    """The --as-of time as written: naive (local time) or with its UTC offset or zone."""
    if text is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            when = pd.Timestamp(text.strip())
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"--as-of takes a date or time such as 2024-06-01 or '2024-06-01 06:00', got '{text}'") from None
    if pd.isna(when):
        raise ConfigError(f"--as-of takes a date or time, got '{text}'")
    try:
        when = when.as_unit("ns")  # the unit of the data's times: a difference cannot overflow
    except (OverflowError, ValueError):
        raise ConfigError(f"--as-of {text} is outside the years {pd.Timestamp.min.year + 1} to "
                          f"{pd.Timestamp.max.year - 1} that grucast handles") from None
    return when


def _aware(t: pd.Timestamp) -> pd.Timestamp:
    """A time as an aware one: a naive time is wall-clock time of this machine's zone (TZ),
    with the UTC offset in force at that time (summer or winter), whatever zone data has."""
    if t.tz is not None:
        return t
    import datetime as dt

    micro = t.floor("us")  # datetime holds microseconds; an age is not measured finer
    naive = dt.datetime(micro.year, micro.month, micro.day, micro.hour, micro.minute, micro.second, micro.microsecond)
    try:
        local = naive.astimezone()
    except (OverflowError, OSError, ValueError):  # beyond what the C library's clock functions take
        local = naive.replace(tzinfo=dt.datetime.now().astimezone().tzinfo)
    return pd.Timestamp(local) + (t - micro)


def _wall(t: pd.Timestamp, like: pd.Timestamp) -> pd.Timestamp:
    """An aware time shown the way like is: in like's zone, or as local wall-clock time when
    like is naive."""
    if like.tz is not None:
        return t.tz_convert(like.tz)
    import datetime as dt

    seconds, rest = divmod(t.value, 10**9)
    try:
        wall = dt.datetime.fromtimestamp(seconds)
    except (OverflowError, OSError, ValueError):  # beyond what the C library's clock functions take
        wall = t.tz_convert(dt.datetime.now().astimezone().tzinfo).tz_localize(None).floor("s").to_pydatetime()
    return pd.Timestamp(wall) + pd.Timedelta(rest, "ns")


def check_fresh(newest: pd.Timestamp, max_age: pd.Timedelta, as_of: Optional[pd.Timestamp], source: str) -> None:
    """StaleDataError when the newest observation is older than max_age at as_of (now when
    None); DataError when it is later than as_of, which is a wrong clock, feed or time zone,
    not fresh data. A naive time, in the data or in --as-of, is local time (this machine's zone)
    throughout, and an aware one is the instant it names: the verdict depends on the instants,
    not on how they are written."""
    from grucast.errors import DataError

    given = as_of is not None
    now = _aware(as_of) if given else pd.Timestamp.now(tz="UTC")
    age = now - _aware(newest)
    when = _wall(now, newest)
    local = " local time" if newest.tz is None else ""
    measured = f"--as-of {when.isoformat(sep=' ', timespec='seconds')}{local}" if given else (
        f"now ({when.isoformat(sep=' ', timespec='seconds')}{local})")
    if age < pd.Timedelta(0):
        raise DataError(
            f"the newest observation in {source} ({newest.isoformat(sep=' ')}) is {_duration(-age)} after {measured}: "
            "data from the future; check the time zone of the time column"
            + (" and of --as-of" if given else " and this machine's clock (TZ)") + "; nothing was written"
        )
    if age > max_age:
        raise StaleDataError(
            f"stale input: the newest observation in {source} is {newest.isoformat(sep=' ')}, {_duration(age)} before "
            f"{when.isoformat(sep=' ', timespec='seconds')}, and --max-age allows {_duration(max_age)}; nothing was written"
        )


def _duration(d: pd.Timedelta) -> str:
    seconds = d.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


# ---------------------------------------------------------------- shards


MAX_SHARDS = 2**32  # shards are CRC-32 values modulo n: more than this leaves shards empty forever


def parse_shard(text: Optional[str]) -> Optional[tuple[int, int]]:
    """'i/n' with 1 <= i <= n <= 2**32: the i-th of n shards."""
    if text is None:
        return None
    parts = text.split("/")
    try:
        i, n = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--shard takes i/n, for example 1/4, got '{text}'") from None
    if not 1 <= i <= n:
        raise ConfigError(f"--shard i/n needs 1 <= i <= n, got '{text}'")
    if n > MAX_SHARDS:
        raise ConfigError(f"--shard i/n needs n at most {MAX_SHARDS:,} (series are split by a 32-bit hash), got '{text}'")
    return i, n


def in_shard(ids: np.ndarray, shard: Optional[tuple[int, int]]) -> np.ndarray:
    """Which series belong to shard i of n: by CRC-32 of the id's text, so the split depends on
    nothing but the ids (not their order, the file, the machine or the Python version)."""
    if shard is None:
        return np.ones(len(ids), dtype=bool)
    i, n = shard
    codes = np.fromiter((zlib.crc32(str(x).encode("utf-8")) for x in ids), dtype=np.uint64, count=len(ids))
    return codes % np.uint64(n) == np.uint64(i - 1)


# ---------------------------------------------------------------- quality gate


def check_baseline(name: Optional[str]) -> None:
    if name is not None and name not in BASELINES:
        raise ConfigError(f"--fail-if-worse-than takes {' or '.join(BASELINES)}, got '{name}'")


def quality_gate(metrics: dict[str, Any], baseline: Optional[str]) -> Optional[str]:
    """None when there is no gate; a line saying by how much the model beats the baseline; or
    QualityGateError when it does not (on the validation windows, by MASE, or MAE where MASE is
    undefined)."""
    check_baseline(baseline)
    if baseline is None:
        return None
    key = BASELINES[baseline]
    if not metrics.get("windows"):
        raise QualityGateError(f"the quality gate against {baseline} cannot be checked: no validation window has a full season of history")
    gru, base = metrics["gru"], metrics[key]
    name = "mase" if np.isfinite(gru.get("mase", np.nan)) and np.isfinite(base.get("mase", np.nan)) else "mae"
    g, b = float(gru[name]), float(base[name])
    diff = 100.0 * (g / b - 1.0) if b > 0 else float("inf") if g > 0 else 0.0
    text = f"validation {name.upper()} {g:.4g} against {baseline} {b:.4g} ({diff:+.1f} %)"
    if not g <= b:
        raise QualityGateError(f"quality gate failed: {text}; the previous checkpoint was kept")
    return f"quality gate passed: {text}"


# ---------------------------------------------------------------- signals


class StopRequest:
    """Set by SIGINT / SIGTERM while stop_on_signals() is active; train.fit polls it after
    every step, so the run ends at a step boundary with a state it can resume from."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """The first SIGINT or SIGTERM asks the training loop to stop after its current step; a
    second one goes to the handler that was there before (an immediate stop)."""
    import signal

    request = StopRequest()
    names = [signal.SIGINT, signal.SIGTERM]
    try:
        previous = {n: signal.getsignal(n) for n in names}

        def handler(signum, frame):
            if request.signum is None:
                request.signum = signum
            else:
                signal.signal(signum, previous[signum])
                signal.raise_signal(signum)

        for n in names:
            signal.signal(n, handler)
    except ValueError:  # not the main thread: no signal handling, no request ever
        yield request
        return
    try:
        yield request
    finally:
        for n in names:
            signal.signal(n, previous[n])


# ---------------------------------------------------------------- event log


class EventLog:
    """One line per event for log collectors: JSON objects (fmt 'json') or 'time LEVEL event
    key=value ...' text, appended to a file (flushed per event) and/or written to a stream."""

    def __init__(self, command: str, path: Optional[Path] = None, fmt: str = "text", stream: Any = None):
        if fmt not in ("text", "json"):
            raise ConfigError(f"--log-format takes text or json, got '{fmt}'")
        self.command, self.fmt, self.stream = command, fmt, stream
        self.file = None
        self.path = path
        self.broken: Optional[str] = None  # why the log file stopped taking lines (a full disk)
        if path is not None:
            self.file = _open_log(Path(path))

    @property
    def active(self) -> bool:
        return self.file is not None or self.stream is not None

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        if not self.active:
            return
        head = {"time": pd.Timestamp.now(tz="UTC").isoformat(timespec="milliseconds"), "level": level,
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
                self.close()

    def close(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            try:
                file.close()
            except OSError:
                pass


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


# ---------------------------------------------------------------- manifest


def versions() -> dict[str, str]:
    import torch

    return {"grucast": __version__, "torch": torch.__version__, "pandas": pd.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def manifest(command: str, **fields: Any) -> dict[str, Any]:
    """The common head of every manifest, then the command's own fields."""
    return {
        "command": command,
        "argv": list(sys.argv),
        "finished_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "host": platform.node(),
        "versions": versions(),
        "exit_status": 0,
        **fields,
    }


def json_ready(obj: Any) -> Any:
    """JSON-ready: NaN and infinities as null, numpy scalars as numbers, times as ISO text."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return str(obj)


def train_manifest(result: Any, output: dict[str, Any]) -> dict[str, Any]:
    """What a training run read, wrote and measured (result: api.TrainResult; output: the
    checkpoint's path, size and sha256)."""
    fit = result.fit
    return json_ready(manifest(
        "train",
        input={**result.data_file, "observations": result.data.n_rows, "series": result.data.n_series},
        output={**output, "kind": "checkpoint"},
        config=result.config.to_dict(),
        training={"steps": fit.steps, "epochs": fit.epochs, "best_step": fit.best_step, "stop_reason": fit.stop_reason,
                  "train_windows": result.train_windows, "windows_per_s": round(fit.windows_per_s, 1),
                  "device": result.device},
        metrics=result.metrics,
        quality_gate=result.gate,
        seconds={"total": round(result.seconds, 3), "training_loop": round(fit.train_seconds, 3)},
    ))


def predict_manifest(result: Any, output: dict[str, Any], model_path: Path, data_path: Path,
                     future_path: Optional[Path], shard: Optional[tuple[int, int]], max_age: Optional[str],
                     as_of: Optional[pd.Timestamp]) -> dict[str, Any]:
    """What a forecast was made from and where it starts (result: api.PredictResult; output:
    the forecast file's path, size and sha256)."""
    fields: dict[str, Any] = {
        "input": {**file_identity(data_path), "observations": result.data.n_rows, "series": result.data.n_series},
        "checkpoint": file_identity(model_path),
        "output": {**output, "kind": "forecasts", "rows": len(result.forecasts)},
        "horizon": result.horizon,
        "series_forecast": result.n_forecast,
        "series_skipped": result.skipped,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "max_age": max_age,
        "as_of": as_of.isoformat() if as_of is not None else None,
        "origins": result.origins,
        "seconds": {"total": round(result.seconds, 3)},
    }
    if future_path is not None:
        fields["future"] = file_identity(future_path)
    return json_ready(manifest("predict", **fields))


def evaluation_manifest(command: str, result: Any, data_path: Path,
                        model_path: Optional[Path]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The manifest of each file evaluate or backtest wrote, from that file's identity (result:
    backtest.EvaluationResult); the data and the checkpoint are hashed once for all of them."""
    fields: dict[str, Any] = {
        "input": {**file_identity(data_path), "observations": result.data.n_rows, "series": result.data.n_series},
        "windows": result.windows, "stride": result.stride, "horizon": result.horizon,
        "series_scored": result.series, "series_skipped": result.skipped,
        "metrics": result.overall, "seconds": {"total": round(result.seconds, 3), "training": round(result.train_seconds, 3)},
    }
    if model_path is not None:
        fields["checkpoint"] = file_identity(model_path)
    return lambda output: json_ready(manifest(command, output=output, **fields))
