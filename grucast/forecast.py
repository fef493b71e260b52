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
) -> np.ndarray:
    """[W, horizon] forecasts on the original scale for windows whose inputs start at the
    layout indices starts. The batches are one gather each, so there is no Python loop per
    window or per series."""
    model.eval()
    device = data.values.device
    H = getattr(model, "horizon", 0)
    out = []
    with torch.inference_mode():
        for i in range(0, len(starts), batch_size):
            s = torch.as_tensor(starts[i:i + batch_size], dtype=torch.long, device=device)
            inputs, (loc, scale, _) = data.batch(s, input_size, H, target=False)
            z = model(inputs["x"], inputs)  # [B, H]
            out.append(scaling.invert(z, loc, scale).float().cpu().numpy())
    if not out:
        return np.zeros((0, H), dtype=np.float32)
    return np.concatenate(out)
