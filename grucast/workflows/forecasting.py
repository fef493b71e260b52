"""What predict, evaluate and backtest share: a checkpoint's network ready for inference, its
(calibrated) forecasts, and the columns of a forecast file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grucast import checkpoint
from grucast.config import settings
from grucast.config.settings import Config
from grucast.data.schema import Schema, Table
from grucast.errors import CheckpointError
from grucast.evaluation import metrics
from grucast.evaluation.calibration import apply as calibrated
from grucast.features.layout import WindowData
from grucast.models import kernels
from grucast.models import network as model_mod
from grucast.models.inference import predict_windows


def id_columns(table: Table, schema: Schema, ids: np.ndarray) -> dict[str, Any]:
    """The output columns that name the series of every row: the id column as in the input
    (none for a single series), and with several targets a 'target' column."""
    columns: dict[str, Any] = {}
    id_col = schema.output_id_col
    if table.parts:
        pairs = [table.parts[str(i)] for i in ids]
        if id_col is not None:
            columns[id_col] = np.array([p[0] for p in pairs], dtype=object)
        name = "target" if "target" not in (id_col, schema.time_col) else "target_column"
        columns[name] = np.array([p[1] for p in pairs], dtype=object)
    elif id_col is not None:
        columns[id_col] = np.asarray(ids, dtype=object)
    return columns


def forecast_columns(cfg: Config, f: np.ndarray) -> dict[str, np.ndarray]:
    """'forecast' (the median of a quantile model) and, for a quantile model, lo-/hi- columns
    of every interval and a q column for every quantile asked for; f is [W, H] or [W, H, Q]."""
    quantiles = settings.output_quantiles(cfg.model)
    if not quantiles:
        return {"forecast": _round_float32(f.ravel())}
    columns = {"forecast": _round_float32(f[..., quantiles.index(0.5)].ravel())}
    for level in settings.interval_levels(cfg.model):
        lo, hi = metrics.level_quantiles(level)
        columns[f"lo-{level:g}"] = _round_float32(f[..., quantiles.index(lo)].ravel())
        columns[f"hi-{level:g}"] = _round_float32(f[..., quantiles.index(hi)].ravel())
    for q in cfg.model.quantiles:
        columns[f"q{q:g}"] = _round_float32(f[..., quantiles.index(q)].ravel())
    return columns


def forecast(ckpt: checkpoint.Checkpoint, model: torch.nn.Module, data: WindowData, starts: np.ndarray) -> np.ndarray:
    """Forecasts [W, H] of a checkpoint's model for windows whose inputs start at the layout
    indices starts; a quantile model's [W, H, Q] with the checkpoint's calibration applied."""
    f, scale = predict_windows(model, data, starts, ckpt.config.model.input_size, with_scale=True)
    f = f.astype(np.float64)
    if ckpt.calibration:
        f = calibrated(f, scale.astype(np.float64), np.asarray(ckpt.calibration["shifts"]))
    return f


def load_model(ckpt: checkpoint.Checkpoint, device: torch.device, source: str = "the checkpoint",
               kernel: str = "auto") -> torch.nn.Module:
    """The network (or ensemble) of a checkpoint with its weights, on device, ready for
    inference, its GRUs run by kernel (see kernels.select)."""
    model = model_mod.build(ckpt.config.model, ckpt.features.sizes(ckpt.config.model.series_embedding))
    load_weights(model, ckpt.state_dict, source)
    return model_mod.set_kernel(model.to(device), kernels.select(kernel, device, cell=ckpt.config.model.cell))


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{source} holds weights that do not fit its own config ({str(e).splitlines()[0]})") from None


def _round_float32(a: np.ndarray) -> np.ndarray:
    """float32 results as the shortest decimals that read back to the same float32, so files
    show 12.5 rather than 12.5000000001."""
    return np.asarray(a, dtype=np.float32).astype(str).astype(np.float64)
