"""Batched inference: many windows of many series through the model at once."""

from __future__ import annotations

import numpy as np
import torch

from grucast.features import scaling
from grucast.features.layout import WindowData

# Every forward pass has exactly this many rows (the last batch is padded): matrix kernels pick
# their code path, and so their rounding, by the number of rows, so a window's forecast would
# otherwise depend on how many others share its batch. With a fixed size it does not: a shard
# of the series gets exactly the numbers the whole file gets (tested in test_cron.py).
BATCH = 512


def predict_windows(
    model: torch.nn.Module,
    data: WindowData,
    starts: np.ndarray,
    input_size: int,
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
        for i in range(0, len(starts), BATCH):
            chunk = np.asarray(starts[i:i + BATCH])
            n = len(chunk)
            if n < BATCH:
                chunk = np.concatenate([chunk, np.repeat(chunk[:1], BATCH - n)])
            s = torch.as_tensor(chunk, dtype=torch.long, device=device)
            inputs, (loc, scale, _) = data.batch(s, input_size, H, target=False)
            z = model(inputs["x"], inputs)[:n]  # [n, H] or [n, H, Q]
            loc, scale = loc[:n], scale[:n]
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
