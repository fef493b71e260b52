"""The linear anchor: the least-squares map from a window's scaled input to its scaled targets.

Fitted in closed form over every training window, it is what a linear forecaster (NLinear,
DLinear) converges to, and the network's skip map can hold it exactly: a network anchored at it
starts as that linear model and learns a correction to it (models.network.anchor).
"""

from __future__ import annotations

import numpy as np
import torch

from grucast.features.layout import WindowData

RIDGE = 1e-3  # a ridge of this fraction of the mean input power: a unique solution when columns repeat
BATCH = 4096  # windows gathered at once while the normal equations are summed


def fit_linear(data: WindowData, starts: np.ndarray, L: int, H: int, world=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight [H, L], bias [H]) minimising the squared error of weight @ x + bias against the
    scaled targets y over the windows at starts, both scaled as the network sees them
    (data.batch); a window with an unobserved target is left out. The normal equations are
    summed in float64 one batch of windows at a time, so memory does not grow with their number.
    world (training.distributed.World): starts are this rank's windows of a panel partitioned
    over the ranks (training.partition); the sums are added up over the ranks."""
    device = data.values.device
    gram = torch.zeros(L + 1, L + 1, dtype=torch.float64, device=device)
    cross = torch.zeros(L + 1, H, dtype=torch.float64, device=device)
    with torch.no_grad():
        for i in range(0, len(starts), BATCH):
            s = torch.as_tensor(np.asarray(starts[i:i + BATCH]), dtype=torch.long, device=device)
            inputs, (_, _, (y, ym)) = data.batch(s, L, H)
            a = torch.cat([inputs["x"], torch.ones(len(s), 1, device=device)], dim=1).double()  # [B, L + 1]
            if ym is not None:
                full = ym.bool().all(dim=1)
                a, y = a[full], y[full]
            gram += a.T @ a
            cross += a.T @ y.double()
    if world is not None:
        gram, cross = world.sum(gram), world.sum(cross)
    ridge = RIDGE * float(torch.diagonal(gram)[:L].mean().clamp_min(1e-12))
    eye = torch.eye(L + 1, dtype=torch.float64, device=device)
    eye[L, L] = 0.0  # the bias is not shrunk
    solution = torch.linalg.solve(gram + ridge * eye, cross)  # [L + 1, H]
    return solution[:L].T.float().contiguous(), solution[L].float().contiguous()
