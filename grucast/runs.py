"""What an unattended run needs besides the forecast itself: a lock per output, a manifest
beside it, a staleness guard on the input, shards of the series, and the quality gate of a new
model. Nothing here prints; the errors carry the exit codes of grucast.errors."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import pandas as pd

from grucast import __version__
from grucast.errors import ConfigError, LockedError, QualityGateError, StaleDataError
from grucast.io import atomic_write

try:  # POSIX; elsewhere outputs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

BASELINES = {"naive": "naive", "seasonal-naive": "seasonal_naive"}


# ---------------------------------------------------------------- staleness


_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600,
          "d": 86400, "day": 86400, "w": 604800, "week": 604800}


def parse_age(text: str) -> pd.Timedelta:
    """A positive duration: number-unit pairs such as 2d, 36h, 90min, 1w or 1d12h (units s, min,
    h, d, w, also spelled out), or anything pandas.Timedelta reads ('1 days 02:00:00', 'P2D')."""
    import re

    spec = text.strip().lower()
    pairs = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", spec)
    age = None
    if pairs and re.fullmatch(r"(\s*\d+(?:\.\d+)?\s*[a-z]+)+", spec):
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
    if pd.isna(age) or age <= pd.Timedelta(0):
        raise ConfigError(f"--max-age must be a positive duration, got '{text}'")
    return age


def parse_as_of(text: Optional[str]) -> Optional[pd.Timestamp]:
    if text is None:
        return None
    try:
        when = pd.Timestamp(text.strip())
    except (ValueError, TypeError):
        raise ConfigError(f"--as-of takes a date or time such as 2024-06-01 or '2024-06-01 06:00', got '{text}'") from None
    if pd.isna(when):
        raise ConfigError(f"--as-of takes a date or time, got '{text}'")
    return when


def check_fresh(newest: pd.Timestamp, max_age: pd.Timedelta, as_of: Optional[pd.Timestamp], source: str) -> None:
    """StaleDataError when the newest observation is older than max_age at as_of (now when
    None). Naive times are compared with the local clock, aware ones in their own zone."""
    if as_of is None:
        as_of = pd.Timestamp.now(tz=newest.tz) if newest.tz is not None else pd.Timestamp.now()
    elif newest.tz is not None and as_of.tz is None:
        as_of = as_of.tz_localize(newest.tz)
    elif newest.tz is None and as_of.tz is not None:
        as_of = as_of.tz_convert(None)
    age = as_of - newest
    if age > max_age:
        raise StaleDataError(
            f"stale input: the newest observation in {source} is {newest.isoformat(sep=' ')}, {_duration(age)} before "
            f"{as_of.isoformat(sep=' ', timespec='seconds')}, and --max-age allows {_duration(max_age)}; nothing was written"
        )


def _duration(d: pd.Timedelta) -> str:
    seconds = d.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


# ---------------------------------------------------------------- shards


def parse_shard(text: Optional[str]) -> Optional[tuple[int, int]]:
    """'i/n' with 1 <= i <= n: the i-th of n shards."""
    if text is None:
        return None
    parts = text.split("/")
    try:
        i, n = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--shard takes i/n, for example 1/4, got '{text}'") from None
    if not 1 <= i <= n:
        raise ConfigError(f"--shard i/n needs 1 <= i <= n, got '{text}'")
    return i, n


def in_shard(ids: np.ndarray, shard: Optional[tuple[int, int]]) -> np.ndarray:
    """Which series belong to shard i of n: by CRC-32 of the id's text, so the split depends on
    nothing but the ids (not their order, the file, the machine or the Python version)."""
    if shard is None:
        return np.ones(len(ids), dtype=bool)
    i, n = shard
    codes = np.fromiter((zlib.crc32(str(x).encode("utf-8")) for x in ids), dtype=np.uint64, count=len(ids))
    return codes % n == i - 1


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


# ---------------------------------------------------------------- locks


def lock_path(output: Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".lock")


@contextmanager
def output_lock(output: Optional[Path], wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on OUTPUT.lock while a run writes OUTPUT. A second run exits with
    LockedError (or waits with wait=True). The lock is the kernel's (flock), so a crash or SIGKILL
    releases it too; a normal exit also removes the file. A .lock file left by a killed run holds
    no lock and is simply taken over."""
    if output is None or fcntl is None:
        yield
        return
    path = lock_path(output)
    if not path.parent.is_dir():
        yield  # the output check reports the missing folder
        return
    fd = _acquire(path, output, wait)
    try:
        yield
    finally:
        try:
            path.unlink()  # before closing, so a waiting run re-checks and takes a fresh file
        except OSError:
            pass
        os.close(fd)  # closing releases the flock


def _acquire(path: Path, output: Path, wait: bool) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise LockedError(
                    f"another grucast run (pid {holder}) is writing {output} and holds {path.name}; "
                    "try again later, or pass --wait"
                ) from None
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file the previous holder removed while this run waited
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            return fd
        os.close(fd)


@contextmanager
def output_locks(outputs: list[Optional[Path]], wait: bool = False) -> Iterator[None]:
    """Locks for several outputs, taken in a fixed order so two runs cannot deadlock."""
    paths = sorted({Path(p).resolve() for p in outputs if p is not None})
    if not paths:
        yield
        return
    with output_lock(paths[0], wait), output_locks(paths[1:], wait):
        yield


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
        if path is not None:
            try:
                self.file = open(path, "a", encoding="utf-8")
            except OSError as e:
                raise ConfigError(f"cannot open --log-file {path}: {e.strerror}") from None

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
        for out in (self.file, self.stream):
            if out is not None:
                out.write(line + "\n")
                out.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


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


def file_identity(path: Path) -> dict[str, Any]:
    """Path, size in bytes and SHA-256 of a file."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def manifest_path(output: Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".manifest.json")


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


def write_manifest(output: Path, doc: dict[str, Any]) -> Path:
    """OUTPUT.manifest.json, atomically, after the output itself (whose sha256 it records)."""
    path = manifest_path(output)
    text = json.dumps(json_ready(doc), indent=1, allow_nan=False)

    def write(tmp: Path) -> None:
        tmp.write_text(text + "\n")

    atomic_write(path, write)
    return path


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


def train_manifest(result: Any, data_path: Path) -> dict[str, Any]:
    """What a training run read, wrote and measured (result: api.TrainResult)."""
    fit = result.fit
    return manifest(
        "train",
        input={**(result.data_file or file_identity(data_path)), "observations": result.data.n_rows,
               "series": result.data.n_series},
        output={**file_identity(result.checkpoint_path), "kind": "checkpoint"},
        config=result.config.to_dict(),
        training={"steps": fit.steps, "epochs": fit.epochs, "best_step": fit.best_step, "stop_reason": fit.stop_reason,
                  "train_windows": result.train_windows, "windows_per_s": round(fit.windows_per_s, 1),
                  "device": result.device},
        metrics=result.metrics,
        quality_gate=result.gate,
        seconds={"total": round(result.seconds, 3), "training_loop": round(fit.train_seconds, 3)},
    )


def predict_manifest(result: Any, model_path: Path, data_path: Path, future_path: Optional[Path],
                     shard: Optional[tuple[int, int]], max_age: Optional[str], as_of: Optional[pd.Timestamp]) -> dict[str, Any]:
    """What a forecast was made from and where it starts (result: api.PredictResult)."""
    fields: dict[str, Any] = {
        "input": {**file_identity(data_path), "observations": result.data.n_rows, "series": result.data.n_series},
        "checkpoint": file_identity(model_path),
        "output": {**file_identity(result.output_path), "kind": "forecasts", "rows": len(result.forecasts)},
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
    return manifest("predict", **fields)


def evaluation_manifests(command: str, result: Any, data_path: Path, model_path: Optional[Path],
                         outputs: list[Optional[Path]]) -> None:
    """A manifest beside each file evaluate or backtest wrote (result: backtest.EvaluationResult)."""
    common: dict[str, Any] = {
        "input": {**file_identity(data_path), "observations": result.data.n_rows, "series": result.data.n_series},
        "windows": result.windows, "stride": result.stride, "horizon": result.horizon,
        "series_scored": result.series, "series_skipped": result.skipped,
        "metrics": result.overall, "seconds": {"total": round(result.seconds, 3), "training": round(result.train_seconds, 3)},
    }
    if model_path is not None:
        common["checkpoint"] = file_identity(model_path)
    for path in outputs:
        if path is not None:
            write_manifest(path, manifest(command, output=file_identity(path), **common))
