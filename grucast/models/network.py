"""The network: a GRU encoder over the input window and a direct multi-horizon head.

Tensors in, tensors out, on the scaled values; no I/O and nothing from the rest of grucast but
its config. The GRU reads the last ``input_size`` steps; a reset gate decides how much of the
past state to forget, an update gate how much new information to take in. Its final state feeds
a head that emits all ``horizon`` steps at once (no step-by-step feedback, so no error
accumulation), plus a linear map straight from the input window that carries level and
seasonal shape through even before the GRU has learned them.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from grucast.config.settings import ModelConfig, output_quantiles
from grucast.features.spec import Sizes
from grucast.models.kernels import run_rnn


class GRUForecaster(nn.Module):
    def __init__(self, cfg: ModelConfig, sizes: Optional[Sizes] = None):
        super().__init__()
        if cfg.horizon is None or cfg.input_size is None or cfg.hidden_size is None:
            raise ValueError("ModelConfig must be resolved (horizon, input_size and hidden_size set): see training.defaults.resolve")
        z = sizes or Sizes()
        self.input_size = cfg.input_size
        self.horizon = cfg.horizon
        self.quantiles = output_quantiles(cfg)
        self.n_out = max(1, len(self.quantiles))  # outputs per horizon step
        self.median = self.quantiles.index(0.5) if self.quantiles else 0
        self.cell = getattr(cfg, "cell", "gru") or "gru"
        recurrent = dict(input_size=1 + int(z.mask) + z.covariates + z.static_dim, hidden_size=cfg.hidden_size,
                         num_layers=cfg.num_layers, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, batch_first=True)
        # The encoder: self.gru, or self.lstm for model.cell lstm (the weights' names in a checkpoint).
        if self.cell == "lstm":
            self.lstm = nn.LSTM(**recurrent)
        else:
            self.gru = nn.GRU(**recurrent)
        self.kernel = "reference"  # what runs self.gru: see kernels.select and set_kernel
        self.head = nn.Sequential(
            nn.Linear(cfg.hidden_size, cfg.hidden_size),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden_size, cfg.horizon * self.n_out),
        )
        self.skip = nn.Linear(cfg.input_size, cfg.horizon)
        self.embeddings = nn.ModuleList(nn.Embedding(n, dim) for n, dim in z.embeddings)
        self.id_embedding = nn.Embedding(z.n_ids, z.id_dim) if z.n_ids else None
        # With inputs known over the horizon (future covariates, calendar) or per series, a
        # small decoder reads, at every horizon step, a context from the GRU state next to that
        # step's known values, and adds its output to the head's.
        self.n_ahead = z.ahead
        dec_in = z.ahead + z.static_dim
        if dec_in:
            self.context_size = min(16, cfg.hidden_size)
            self.context = nn.Linear(cfg.hidden_size, cfg.horizon * self.context_size)
            self.decoder = nn.Sequential(
                nn.Linear(self.context_size + dec_in, cfg.hidden_size),
                nn.ReLU(),
                nn.Dropout(cfg.dropout),
                nn.Linear(cfg.hidden_size, self.n_out),
            )
        else:
            self.decoder = None

    def _static(self, inputs: dict[str, torch.Tensor]) -> Optional[torch.Tensor]:
        parts = []
        if "static" in inputs:
            parts.append(inputs["static"])
        for j, emb in enumerate(self.embeddings):
            parts.append(emb(inputs["cat"][:, j]))
        if self.id_embedding is not None:
            sid = inputs["sid"]
            if self.training:  # teach code 0 (a series not seen in training) an average series
                draw = inputs.get("sid_draw")  # drawn for the global batch when ranks share it (training.loop)
                draw = torch.rand(sid.shape, device=sid.device) if draw is None else draw
                sid = torch.where(draw < 0.1, torch.zeros_like(sid), sid)
            parts.append(self.id_embedding(sid))
        return torch.cat(parts, dim=1) if parts else None

    @property
    def rnn(self) -> nn.Module:
        """The recurrent encoder, whichever the cell."""
        return self.lstm if self.cell == "lstm" else self.gru

    def encoder_input(self, x: torch.Tensor, inputs: dict[str, torch.Tensor],
                      static: Optional[torch.Tensor] = None) -> torch.Tensor:
        """[B, L, F] what the GRU reads at every step of the window: the scaled target x [B, L],
        its mask, the covariates and the static inputs (static: _static's, when already made)."""
        if static is None:
            static = self._static(inputs)
        steps = [x.unsqueeze(-1)]  # [B, L, 1]
        if "mask" in inputs:
            steps.append(inputs["mask"].unsqueeze(-1))
        if "covs" in inputs:
            steps.append(inputs["covs"])
        if static is not None:
            steps.append(static.unsqueeze(1).expand(-1, x.shape[1], -1))
        return torch.cat(steps, dim=-1) if len(steps) > 1 else steps[0]

    def forward(self, x, inputs: Optional[dict[str, torch.Tensor]] = None) -> torch.Tensor:
        """Scaled forecasts from the scaled target x [B, L] (or [B, L, 1]) and the other inputs
        of the window: mask [B, L], covs [B, L, C], ahead [B, H, A], static [B, S], cat [B, K],
        sid [B] (see features.WindowData.batch). [B, H] for a point model; [B, H, Q] quantiles
        that never cross for a quantile model."""
        if x.dim() == 3:
            x = x[..., 0]
        inputs = inputs or {}
        static = self._static(inputs)
        enc = self.encoder_input(x, inputs, static)
        out = run_rnn(self.rnn, enc, self.kernel)  # [B, L, hidden]
        last = out[:, -1]  # [B, hidden]: the state after the whole window
        y = self.head(last).view(-1, self.horizon, self.n_out)  # [B, H, Q]
        if self.decoder is not None:
            ctx = self.context(last).view(-1, self.horizon, self.context_size)  # [B, H, k]
            parts = [ctx]
            if self.n_ahead:
                parts.append(inputs["ahead"])
            if static is not None:
                parts.append(static.unsqueeze(1).expand(-1, self.horizon, -1))
            y = y + self.decoder(torch.cat(parts, dim=-1))  # [B, H, Q]
        skip = self.skip(x)  # [B, L] @ [L, H] -> [B, H]: level and shape of the input carried through
        if self.n_out == 1:
            return y[..., 0] + skip
        # Quantiles: the median, and softplus steps away from it on both sides, so they never cross.
        m = self.median
        mid = y[..., m:m + 1] + skip.unsqueeze(-1)  # [B, H, 1]
        up = mid + torch.cumsum(nn.functional.softplus(y[..., m + 1:]), dim=-1)
        down = mid - torch.cumsum(nn.functional.softplus(y[..., :m]).flip(-1), dim=-1).flip(-1)
        return torch.cat([down, mid, up], dim=-1)


class Ensemble(nn.Module):
    """Networks of one config trained from different seeds; the forecast is their mean. For a
    quantile model every quantile is averaged, and a mean of sorted vectors is sorted, so the
    quantiles still never cross."""

    def __init__(self, members: list[GRUForecaster]):
        super().__init__()
        self.members = nn.ModuleList(members)
        first = members[0]
        self.input_size, self.horizon = first.input_size, first.horizon
        self.quantiles, self.n_out, self.median = first.quantiles, first.n_out, first.median

    def forward(self, x, inputs: Optional[dict[str, torch.Tensor]] = None) -> torch.Tensor:
        out = self.members[0](x, inputs)
        for member in self.members[1:]:
            out = out + member(x, inputs)
        return out / len(self.members)


def members(model: nn.Module) -> list[nn.Module]:
    """The separately trained networks of a model: an ensemble's members, else the model itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


def build(cfg: ModelConfig, sizes: Optional[Sizes] = None, seed: int = 0) -> nn.Module:
    """The network a config describes, its initial weights drawn from seed: one GRUForecaster,
    or an Ensemble of cfg.ensemble of them, member k drawn from seed + k (so member k starts
    exactly where a single model trained with seed + k starts)."""
    nets = []
    for k in range(cfg.ensemble or 1):
        torch.manual_seed(seed + k)
        nets.append(GRUForecaster(cfg, sizes))
    return nets[0] if len(nets) == 1 else Ensemble(nets)


@torch.no_grad()
def anchor(model: nn.Module, lag: int = 1, alpha: Optional[float] = None,
           linear: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> nn.Module:
    """Start every network of the model at a baseline forecast: its skip map repeats the input
    `lag` steps before each horizon step (lag 1: naive, the last value; the season: seasonal
    naive), or with alpha forecasts simple exponential smoothing's level (weight
    alpha x (1 - alpha)^j on the value j steps back, scaled to sum to 1 over the window), and the
    head and decoder start at zero, so the untrained network forecasts exactly that baseline and
    training learns the correction to it. With linear, (weight [H, L], bias [H]), the skip map is
    that linear model (training.linear.fit_linear). On a few short series, where the
    network sees little data before early stopping, a short training then stays near a sound
    forecast instead of near the input window's mean."""
    for net in members(model):
        L, H = net.input_size, net.horizon
        if not 1 <= lag <= L:
            raise ValueError(f"anchor lag {lag} outside the input window of {L} steps")
        net.skip.weight.zero_()
        net.skip.bias.zero_()
        if linear is not None:
            net.skip.weight.copy_(linear[0])
            net.skip.bias.copy_(linear[1])
        elif alpha is not None:
            w = alpha * (1.0 - alpha) ** torch.arange(L - 1, -1, -1, dtype=torch.float64)  # oldest first
            net.skip.weight[:] = (w / w.sum()).to(net.skip.weight.dtype)
        else:
            steps = torch.arange(H)
            net.skip.weight[steps, L - lag + steps % lag] = 1.0
        for last in (net.head[-1], None if net.decoder is None else net.decoder[-1]):
            if last is not None:
                last.weight.zero_()
                last.bias.zero_()
    return model


def set_kernel(model: nn.Module, kernel: str) -> nn.Module:
    """Run the model's recurrent layers with kernel ("fused" or "reference", as kernels.select
    returns for the model's cell); the weights and so the checkpoint are the same either way."""
    for net in members(model):
        net.kernel = kernel
    return model
