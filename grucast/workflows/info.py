"""`info`: a checkpoint's own description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grucast import checkpoint
from grucast.config import settings
from grucast.ops import paths

# ---------------------------------------------------------------- info


def info(model_path: Path) -> dict[str, Any]:
    """A checkpoint's own description: file identity, versions, config, data schema and
    frequency, covariates, training period and size, validation metrics."""
    ckpt = checkpoint.load(Path(model_path))
    return {"file": paths.file_identity(Path(model_path)), **describe(ckpt)}


def describe(ckpt: checkpoint.Checkpoint) -> dict[str, Any]:
    """info() without the file: what a checkpoint, saved or not, says about itself."""
    f = ckpt.features
    return {
        "format_version": ckpt.format_version,
        "versions": {"grucast": ckpt.grucast_version, "torch": ckpt.torch_version},
        "parameters": int(sum(v.numel() for v in ckpt.state_dict.values())),
        "schema": ckpt.schema.to_dict(),
        "frequency": ckpt.freq.describe(),
        "frequency_spec": ckpt.freq.to_dict(),
        "covariates": {"past": list(f.past), "future": list(f.future), "static": list(f.static_num) + list(f.static_cat),
                       "calendar": list(f.calendar)},
        "quantiles": list(settings.output_quantiles(ckpt.config.model)),
        "calibrated": bool(ckpt.calibration),
        "training": ckpt.info,
        "metrics": ckpt.metrics,
        "config": ckpt.config.to_dict(),
    }
