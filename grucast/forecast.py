"""Batched inference: many windows of many series through the model at once."""

from __future__ import annotations

import numpy as np
import torch

from grucast import scaling
from grucast.windows import gather


def predict_windows(
    model: torch.nn.Module,
    values: torch.Tensor,
    starts: np.ndarray,
    input_size: int,
    scaler: str,
    batch_size: int = 4096,
) -> np.ndarray:
    """[W, horizon] forecasts on the original scale for windows whose inputs start at starts.

    values is the panel's float32 array already on the model's device; the batches are one
    gather each, so there is no Python loop per window or per series.
    """
    model.eval()
    device = values.device
    out = []
    with torch.inference_mode():
        for i in range(0, len(starts), batch_size):
            s = torch.as_tensor(starts[i:i + batch_size], dtype=torch.long, device=device)
            x = gather(values, s, input_size)  # [B, L]
            loc, scale = scaling.fit(x, scaler)  # [B, 1] each
            z = model(scaling.apply(x, loc, scale).unsqueeze(-1))  # [B, L, 1] -> [B, H]
            out.append(scaling.invert(z, loc, scale).float().cpu().numpy())
    if not out:
        return np.zeros((0, getattr(model, "horizon", 0)), dtype=np.float32)
    return np.concatenate(out)
