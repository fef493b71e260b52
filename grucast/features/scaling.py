"""Per-window scaling from the input part of each window, and its exact inverse.

Every window is scaled by statistics of its own input (never its target), so one global model
serves series of very different levels, and nothing from the future leaks into the scale.

'last' is NLinear's normalisation: the location is the window's last observed input value, and
the scale one number per series (series_spread: its standard deviation over the training part,
stored in the checkpoint), so a linear map of the input stays linear in the raw values, which a
per-window division would break, while series of different sizes still share one footing.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

WINDOW_METHODS = ("standard", "robust", "none")  # fit: from the window alone
METHODS = WINDOW_METHODS + ("last",)  # last: with the series' spread (last)


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
    return loc, _floored(loc, spread)


def last(x: torch.Tensor, spread: torch.Tensor, mask: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(loc, scale), each [B, 1], for method 'last': loc the last input of x [B, L] where mask
    [B, L] is 1 (0 when none is), scale the spread [B] of each window's series."""
    if mask is None:
        loc = x[:, -1:]
    else:
        steps = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=x.dtype)
        loc = x.gather(1, (mask * steps).argmax(dim=1, keepdim=True)) * mask.amax(dim=1, keepdim=True)
    return loc, _floored(loc, spread.reshape(-1, 1).to(x.dtype))


def _floored(loc: torch.Tensor, spread: torch.Tensor) -> torch.Tensor:
    """The spread where it is above a ten-thousandth of the level, else the level (plus one):
    a flat window or series keeps its shape instead of being divided by zero."""
    floor = 1e-4 * (loc.abs() + 1.0)
    return torch.where(spread > floor, spread, loc.abs() + 1.0)


def series_spread(values: np.ndarray, observed: np.ndarray, offsets: np.ndarray, upto: np.ndarray) -> np.ndarray:
    """[n] float64: the standard deviation (ddof 0) of every series' observed values among its
    first upto[i] points (all of them where upto[i] >= its length); 0 with none. values and
    observed are per point, series i at [offsets[i], offsets[i + 1])."""
    lengths = np.diff(offsets).astype(np.int64)
    seg = np.repeat(np.arange(len(lengths)), lengths)
    k = np.arange(len(values)) - np.repeat(offsets[:-1], lengths)
    w = (observed.astype(bool) & (k < np.repeat(np.asarray(upto), lengths))).astype(np.float64)
    v = np.where(w > 0, values, 0.0).astype(np.float64)
    count = np.maximum(np.bincount(seg, weights=w, minlength=len(lengths)), 1.0)
    mean = np.bincount(seg, weights=v, minlength=len(lengths)) / count
    d = (v - mean[seg]) * w
    return np.sqrt(np.bincount(seg, weights=d * d, minlength=len(lengths)) / count)


def apply(x: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (x - loc) / scale


def invert(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return z * scale + loc
