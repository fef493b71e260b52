"""Per-window scaling from the input part of each window, and its exact inverse.

Every window is scaled by statistics of its own input (never its target), so one global model
serves series of very different levels, and nothing from the future leaks into the scale.
"""

from __future__ import annotations

from typing import Optional

import torch

METHODS = ("standard", "robust", "none")


def fit(x: torch.Tensor, method: str, mask: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(loc, scale), each [B, 1], from inputs x [B, L], counting only points where mask [B, L]
    is 1 when given. scale is never zero: a flat window gets a scale from its level, so
    constant series pass through unchanged in shape."""
    if method == "none":
        ones = x.new_ones(x.shape[0], 1)
        return torch.zeros_like(ones), ones
    if mask is not None:
        n = mask.sum(dim=1, keepdim=True).clamp_min(1.0)
        if method == "standard":
            loc = (x * mask).sum(dim=1, keepdim=True) / n
            spread = ((((x - loc) * mask) ** 2).sum(dim=1, keepdim=True) / n).sqrt()
        elif method == "robust":
            loc = torch.where(mask > 0, x, torch.nan).nanmedian(dim=1, keepdim=True).values.nan_to_num(0.0)
            spread = ((x - loc).abs() * mask).sum(dim=1, keepdim=True) / n
        else:
            raise ValueError(f"unknown scaling method {method!r}")
    elif method == "standard":
        loc = x.mean(dim=1, keepdim=True)
        spread = x.std(dim=1, keepdim=True, unbiased=False)
    elif method == "robust":
        loc = x.median(dim=1, keepdim=True).values
        spread = (x - loc).abs().mean(dim=1, keepdim=True)
    else:
        raise ValueError(f"unknown scaling method {method!r}")
    floor = 1e-4 * (loc.abs() + 1.0)
    scale = torch.where(spread > floor, spread, loc.abs() + 1.0)
    return loc, scale


def apply(x: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (x - loc) / scale


def invert(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return z * scale + loc
