"""The network: a GRU encoder over the input window and a direct multi-horizon head.

Tensors in, tensors out, on the scaled values; no I/O and nothing from the rest of grucast but
its config. The GRU reads the last ``input_size`` steps; a reset gate decides how much of the
past state to forget, an update gate how much new information to take in. Its final state feeds
a head that emits all ``horizon`` steps at once (no step-by-step feedback, so no error
accumulation), plus a linear map straight from the input window that carries level and
seasonal shape through even before the GRU has learned them.
"""

from __future__ import annotations

import torch
from torch import nn

from grucast.config import ModelConfig


class GRUForecaster(nn.Module):
    def __init__(self, cfg: ModelConfig, n_features: int = 1):
        super().__init__()
        if cfg.horizon is None or cfg.input_size is None:
            raise ValueError("ModelConfig must be resolved (horizon and input_size set)")
        self.input_size = cfg.input_size
        self.horizon = cfg.horizon
        self.gru = nn.GRU(
            input_size=n_features,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Sequential(
            nn.Linear(cfg.hidden_size, cfg.hidden_size),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden_size, cfg.horizon),
        )
        self.skip = nn.Linear(cfg.input_size, cfg.horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, L, F] scaled inputs (feature 0 is the target) -> [B, H] scaled forecasts."""
        out, _ = self.gru(x)  # [B, L, F] -> [B, L, hidden]
        last = out[:, -1]  # [B, hidden]: the state after the whole window
        return self.head(last) + self.skip(x[:, :, 0])  # [B, H] + [B, L] @ [L, H] -> [B, H]
