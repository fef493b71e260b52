"""One self-describing checkpoint file, safe to load from an untrusted source.

The file is ``torch.save`` of plain containers and tensors, loaded with ``weights_only=True``
(no code from the file ever runs) and always onto the CPU first. It holds everything needed to
rebuild the model and prepare new data exactly as in training.
"""

from __future__ import annotations

import dataclasses
import numbers
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from grucast import __version__
from grucast.config.settings import Config, interval_levels, output_quantiles
from grucast.config.validate import from_dict
from grucast.data.freq import Freq
from grucast.data.schema import Schema
from grucast.errors import CheckpointError, ConfigError
from grucast.features.spec import FeatureSpec
from grucast.ops import preflight, publish

MAGIC = "grucast-checkpoint"
FORMAT_VERSION = 4  # 4: model.cell (gru or lstm); 3: model.ensemble; 2: feature layout (covariates, calendar, mask); 1: a plain model


@dataclass
class Checkpoint:
    config: Config  # fully resolved: horizon, input_size, season and val_size are set
    schema: Schema
    freq: Freq
    state_dict: dict[str, torch.Tensor]
    features: FeatureSpec = field(default_factory=FeatureSpec)
    calibration: dict[str, Any] = field(default_factory=dict)  # conformal shifts of a quantile model
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # training data summary
    resume: dict[str, Any] = field(default_factory=dict)  # an interrupted run's state (train --resume)
    grucast_version: str = __version__
    torch_version: str = torch.__version__
    format_version: int = FORMAT_VERSION


def card(ckpt: Checkpoint) -> dict[str, Any]:
    """What a forecast file's manifest records of the checkpoint that made it, so that
    `grucast monitor` can read the data, place the forecasts on its grid and set the realized
    errors beside the validation ones long after the checkpoint was replaced: the data's
    layout and reading settings, the frequency, season and horizon, the cell and the intervals,
    and the validation metrics (Checkpoint.metrics)."""
    cfg = ckpt.config
    return _plain({
        "schema": ckpt.schema.to_dict(),
        "reading": {"fill": cfg.data.fill, "sep": cfg.data.sep, "duplicates": cfg.data.duplicates},
        "freq": ckpt.freq.to_dict(),
        "season": cfg.data.season,
        "horizon": cfg.model.horizon,
        "cell": cfg.model.cell,
        "intervals": list(interval_levels(cfg.model)),
        "validation": ckpt.metrics,
    })


def writer(ckpt: Checkpoint) -> Callable[[Path], None]:
    """write(tmp) for the checkpoint file: the payload is built here, so whatever can fail in
    it fails before anything is written (ops.publish makes the file visible)."""
    payload = _plain({
        "format": MAGIC,
        "format_version": FORMAT_VERSION,
        "grucast_version": ckpt.grucast_version,
        "torch_version": ckpt.torch_version,
        "config": ckpt.config.to_dict(),
        "schema": ckpt.schema.to_dict(),
        "freq": ckpt.freq.to_dict(),
        "features": ckpt.features.to_dict(),
        "calibration": ckpt.calibration,
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in ckpt.state_dict.items()},
        "history": ckpt.history,
        "metrics": ckpt.metrics,
        "info": ckpt.info,
        **({"resume": ckpt.resume} if ckpt.resume else {}),
    })

    def write(tmp: Path) -> None:
        # Through a file object, so the archive inside is named 'archive' and not after the
        # temporary file: the same training gives the same bytes.
        with open(tmp, "wb") as f:
            torch.save(payload, f)

    return write


def save(ckpt: Checkpoint, path: Path, announce: bool = True) -> None:
    """Write a checkpoint file atomically, with no manifest (api.train publishes one with its
    checkpoint); announce: see ops.publish.publish."""
    publish.publish([publish.Staged(Path(path), writer(ckpt), sidecar=False)], announce=announce)


def _plain(obj: Any) -> Any:
    """Only containers, tensors and builtin scalars, so weights_only loading accepts the file.
    Every container and string is a fresh object: pickle writes an object seen twice as a
    reference, so shared objects (a config read back from a file shares its strings) would
    change the bytes of the same content; fresh ones make equal content give equal files."""
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, str):
        return obj.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
    if isinstance(obj, dict):
        return {_plain(str(k)): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    return _plain(str(obj))


def load(path: Path) -> Checkpoint:
    path = Path(path)
    preflight.sniff_checkpoint(path)  # a folder, a device, an absurd size: refused before reading
    damaged = f"{path} is not a grucast checkpoint (damaged, truncated or another kind of file)"
    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
            if unpacked > preflight.MAX_CHECKPOINT_BYTES:  # a small file that inflates to gigabytes
                raise CheckpointError(
                    f"{path} unpacks to {unpacked / 2**30:.1f} GiB, far more than any grucast checkpoint "
                    f"(at most {preflight.MAX_CHECKPOINT_BYTES >> 30} GiB); it is not a checkpoint"
                )
            bad = z.testzip()  # torch.load does not check the archive's CRC-32s; this does
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        raise CheckpointError(damaged) from None
    if bad is not None:
        raise CheckpointError(f"{path} is damaged: the checksum of its part '{bad}' does not match (a disk or copy error?)")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} holds Python objects besides weights and plain values; grucast never runs code from a "
            "checkpoint, so it refuses this file (grucast's own checkpoints hold none)"
        ) from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} cannot be read as a grucast checkpoint ({first[:200]})") from None
    if not isinstance(raw, dict) or raw.get("format") != MAGIC:
        raise CheckpointError(f"{path} is not a grucast checkpoint (no grucast header)")
    version = raw.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path} has no valid format version")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer grucast ({raw.get('grucast_version')}, checkpoint format {version}); "
            f"this is grucast {__version__}, which reads format {FORMAT_VERSION}: upgrade grucast"
        )
    try:
        config = from_dict(raw["config"], source=f"the config stored in {path}")
        if config.model.ensemble is None:  # written before ensembles (format 2 and older): one network
            config = dataclasses.replace(config, model=dataclasses.replace(config.model, ensemble=1))
        ckpt = Checkpoint(
            config=config,
            schema=Schema.from_dict(raw["schema"]),
            freq=Freq.from_dict(raw["freq"]),
            state_dict=dict(raw["state_dict"]),
            features=FeatureSpec.from_dict(raw.get("features")),
            calibration=dict(raw.get("calibration") or {}),
            history=list(raw.get("history", [])),
            metrics=dict(raw.get("metrics", {})),
            info=dict(raw.get("info", {})),
            resume=dict(raw.get("resume") or {}),
            grucast_version=str(raw.get("grucast_version")),
            torch_version=str(raw.get("torch_version")),
            format_version=version,
        )
        _check(ckpt)
        return ckpt
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        reason = str(e).strip().rstrip(".")
        author = str(raw.get("grucast_version"))
        if isinstance(e, ConfigError) and "unknown setting" in reason and author != __version__:
            raise CheckpointError(
                f"{path} was written by grucast {author}, which has settings this grucast {__version__} does not "
                f"know ({reason}): use grucast {author} or newer"
            ) from None
        raise CheckpointError(f"{path} is an incomplete or damaged grucast checkpoint ({reason})") from None


def _check_freq(freq: Freq) -> None:
    """ValueError unless pandas knows the frequency and the time zone, and the frequency moves
    time forward (what predict needs to lay out the horizon)."""
    import pandas as pd

    if not isinstance(freq.name, str) or not freq.name:
        raise ValueError("the frequency is missing")
    try:
        offset = freq.offset
        start = pd.Timestamp("2000-01-01", tz=freq.tz)
        later = start + offset
        freq.season()
    except Exception as e:  # pandas raises ValueError, TypeError, KeyError and its own kinds here
        raise ValueError(f"the frequency {freq.name!r}" + (f" in time zone {freq.tz!r}" if freq.tz else "")
                         + f" is unknown ({type(e).__name__})") from None
    if not later > start:
        raise ValueError(f"the frequency {freq.name!r} does not move time forward")


def _check(ckpt: Checkpoint) -> None:
    """What predict relies on, checked once here (ValueError when it does not hold)."""
    c = ckpt.config
    for name in ("horizon", "input_size"):
        if getattr(c.model, name) is None:
            raise ValueError(f"model.{name} is not set")
    if c.data.season is None or c.training.val_size is None:
        raise ValueError("the data settings are not resolved")
    s = ckpt.schema
    need = {"long": (s.id_col, s.target), "single": (s.target,), "wide": ("-",)}.get(s.format)
    if need is None or not all(need) or not s.time_col or s.time_kind not in ("datetime", "int"):
        raise ValueError(f"the data schema does not describe a {s.format!r} file")
    if ckpt.freq.kind == "datetime":
        _check_freq(ckpt.freq)
    elif ckpt.freq.kind != "int" or ckpt.freq.step <= 0:
        raise ValueError("the frequency is not valid")
    if not all(isinstance(v, torch.Tensor) for v in ckpt.state_dict.values()):
        raise ValueError("the weights are not all tensors")
    bad = [k for k, v in ckpt.state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"{len(bad)} weight tensor(s) hold NaN or infinite values ({', '.join(bad[:3])}); "
                         "such a model forecasts nothing")
    f = ckpt.features
    for name in f.past + f.future + f.static_num:
        if name not in f.loc or name not in f.scale or not f.scale[name] > 0:
            raise ValueError(f"the scaling of covariate '{name}' is missing")
    for name in f.static_cat:
        if name not in f.categories:
            raise ValueError(f"the categories of static covariate '{name}' are missing")
    if f.pad < 0 or f.pad >= c.model.input_size:
        raise ValueError("the padding is not valid")
    if ckpt.calibration:
        q = len(output_quantiles(c.model))
        shape = np.shape(ckpt.calibration.get("shifts"))
        if shape != (c.model.horizon, q):
            raise ValueError(f"the calibration has shape {shape}, not ({c.model.horizon}, {q})")
