"""Training losses over the observed targets of a window: point losses (MAE, MSE, Huber) and the
pinball loss of a quantile model.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from grucast.config.settings import Config
from grucast.features.layout import WindowData
from grucast.training.distributed import SINGLE, World


class MaskedLoss(nn.Module):
    """A loss per target averaged over the targets that were observed: a gap filled in the data
    is never a training target. Subclasses say what the loss of one target is."""

    def each(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[B, H] loss of every target."""
        raise NotImplementedError

    def mean(self, f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.each(f, y).mean()

    def forward(self, f: torch.Tensor, y: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if mask is None:
            return self.mean(f, y)
        return (self.each(f, y) * mask).sum() / mask.sum().clamp_min(1.0)

    def total(self, f: torch.Tensor, y: torch.Tensor, mask: Optional[torch.Tensor]) -> tuple[float, float]:
        """(sum of losses, number of targets) for averaging over many batches."""
        each = self.each(f, y)
        if mask is None:
            return float(each.sum()), float(each.numel())
        return float((each * mask).sum()), float(mask.sum())


class PointLoss(MaskedLoss):
    """mae, mse or huber of point forecasts [B, H]."""

    def __init__(self, name: str):
        super().__init__()
        fn = {"mae": nn.L1Loss, "mse": nn.MSELoss,
              "huber": lambda reduction: nn.HuberLoss(reduction=reduction, delta=1.0)}[name]
        self._mean, self._each = fn(reduction="mean"), fn(reduction="none")

    def each(self, f, y):
        return self._each(f, y)

    def mean(self, f, y):
        return self._mean(f, y)  # torch's own reduction, as before masks existed: runs repeat bit for bit


class PinballLoss(MaskedLoss):
    """The pinball (quantile) loss of quantile forecasts [B, H, Q], averaged over quantiles."""

    def __init__(self, quantiles: tuple[float, ...]):
        super().__init__()
        self.register_buffer("q", torch.tensor(quantiles, dtype=torch.float32))

    def each(self, f, y):
        d = y.unsqueeze(-1) - f  # [B, H, Q]
        q = self.q.to(f.device)
        return torch.maximum(q * d, (q - 1.0) * d).mean(dim=-1)  # [B, H]


def loss_function(name: Optional[str], quantiles: tuple[float, ...] = ()) -> MaskedLoss:
    """The training loss: pinball over the quantiles of a quantile model (whatever an old
    checkpoint's config names: config.train_loss), else the named one, mae when None."""
    if quantiles:
        return PinballLoss(quantiles)
    if name == "pinball":
        raise ValueError("the pinball loss needs quantiles: see config.train_loss")  # a bug: validated before
    return PointLoss(name or "mae")


def evaluate_loss(model: nn.Module, data: WindowData, starts: torch.Tensor, cfg: Config, loss_fn: MaskedLoss,
                  batch_size: int = 512, world: World = SINGLE, own: bool = False) -> float:
    """Mean scaled loss over the observed targets of the given windows. Batches stay small:
    nn.GRU on the CPU holds the input projections of every step of a batch at once, so memory
    grows with the batch size and speed does not (see benchmarks/README.md, 'Performance').
    With several ranks (training.distributed) each scores its share of the windows and the sums
    are added up, so every rank gets the same loss; own: starts are this rank's windows already
    (a panel partitioned over the ranks, training.partition)."""
    model.eval()
    total, count = 0.0, 0.0
    starts = starts if own else world.share(starts)
    with torch.inference_mode():
        for i in range(0, len(starts), batch_size):
            inputs, (_, _, (y, ym)) = data.batch(starts[i:i + batch_size], cfg.model.input_size, cfg.model.horizon)
            a, b = loss_fn.total(model(inputs["x"], inputs), y, ym)
            total, count = total + a, count + b
    if world.active:
        total, count = world.sum(torch.tensor([total, count], dtype=torch.float64, device=data.values.device)).tolist()
    return total / max(count, 1.0)
