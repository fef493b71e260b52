"""Batched inference: many windows of many series through the model at once."""

from __future__ import annotations

import numpy as np
import torch

from grucast import scaling
from grucast.features import WindowData


def predict_windows(
    model: torch.nn.Module,
    data: WindowData,
    starts: np.ndarray,
    input_size: int,
    batch_size: int = 4096,
    with_scale: bool = False,
):
    """[W, horizon] forecasts (or [W, horizon, Q] quantiles) on the original scale for windows
    whose inputs start at the layout indices starts; with_scale also returns every window's
    input scale [W]. The batches are one gather each, so there is no Python loop per window or
    per series."""
    model.eval()
    device = data.values.device
    H = getattr(model, "horizon", 0)
    out, scales = [], []
    with torch.inference_mode():
        for i in range(0, len(starts), batch_size):
            s = torch.as_tensor(starts[i:i + batch_size], dtype=torch.long, device=device)
            inputs, (loc, scale, _) = data.batch(s, input_size, H, target=False)
            z = model(inputs["x"], inputs)  # [B, H] or [B, H, Q]
            if z.dim() == 3:
                loc, scale = loc.unsqueeze(-1), scale.unsqueeze(-1)
            out.append(scaling.invert(z, loc, scale).float().cpu().numpy())
            scales.append(scale.reshape(-1).float().cpu().numpy())
    if not out:
        q = len(getattr(model, "quantiles", ()))
        f = np.zeros((0, H, q) if q else (0, H), dtype=np.float32)
        return (f, np.zeros(0, dtype=np.float32)) if with_scale else f
    f = np.concatenate(out)
    return (f, np.concatenate(scales)) if with_scale else f
