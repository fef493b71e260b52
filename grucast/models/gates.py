"""What a trained GRU does with its input window: its gates, how much of its state survives to
the end of the window, and which lags its forecast uses.

A GRU step (PyTorch's order of the gates, r, z, n):

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      reset: how much of the old state the candidate reads
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)      update: how much of the old state is kept
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   the candidate state
    h' = (1 - z) * n + z * h

so z near 1 keeps a unit's state and z near 0 overwrites it. What of the state at k steps
before the end still stands at the end, along the keep path, is the product of z over those k
steps: averaged over units and windows, that is the survival curve. An LSTM's cell state keeps
its forget gate f of itself each step (c' = f c + i g), so f is read as z is, beside its input
gate i. Tensors in, numbers out; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

SLOW, FAST = 0.9, 0.5  # a unit whose mean keep gate is at least SLOW keeps its state; at most FAST, overwrites it


NAMES = {"gru": ("update", "reset"), "lstm": ("forget", "input")}  # (the keep gate, the other) of each cell


def record(rnn: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """The output [B, T, hidden] of rnn (an nn.GRU or nn.LSTM, batch first, one direction) over
    x [B, T, F], worked out step by step as PyTorch defines the cell, and every layer's gates,
    each [B, T, hidden]: {"update": z, "reset": r} of a GRU, {"forget": f, "input": i} of an LSTM
    (NAMES: the first keeps the state). Without grad; no dropout between layers (eval)."""
    step = _lstm_step if isinstance(rnn, nn.LSTM) else _gru_step
    keep, other = NAMES["lstm" if isinstance(rnn, nn.LSTM) else "gru"]
    out = x
    layers = []
    with torch.no_grad():
        for layer in range(rnn.num_layers):
            w_hh, b_hh = getattr(rnn, f"weight_hh_l{layer}"), getattr(rnn, f"bias_hh_l{layer}")
            given = torch.nn.functional.linear(out, getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"bias_ih_l{layer}"))
            state = (x.new_zeros(x.shape[0], rnn.hidden_size), x.new_zeros(x.shape[0], rnn.hidden_size))
            states, keeps, others = [], [], []
            for t in range(x.shape[1]):
                state, k, o = step(given[:, t], torch.nn.functional.linear(state[0], w_hh, b_hh), state)
                states.append(state[0])
                keeps.append(k)
                others.append(o)
            out = torch.stack(states, dim=1)
            layers.append({keep: torch.stack(keeps, dim=1), other: torch.stack(others, dim=1)})
    return out, layers


def _gru_step(given: torch.Tensor, hidden: torch.Tensor, state: tuple) -> tuple[tuple, torch.Tensor, torch.Tensor]:
    """One GRU step from the input's and the state's parts of the gates: (h, unused), z, r."""
    i_r, i_z, i_n = given.chunk(3, dim=1)
    h_r, h_z, h_n = hidden.chunk(3, dim=1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return ((1 - z) * n + z * state[0], state[1]), z, r


def _lstm_step(given: torch.Tensor, hidden: torch.Tensor, state: tuple) -> tuple[tuple, torch.Tensor, torch.Tensor]:
    """One LSTM step (gates i, f, g, o in PyTorch's order): (h, c), f, i. The cell state c keeps
    f of itself each step, so f plays the GRU's z."""
    i, f, g, o = (given + hidden).chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * state[1] + i * g
    return (o * torch.tanh(c), c), f, i


def first_below(curve: np.ndarray, level: float) -> Optional[int]:
    """The first k where curve[k] is at most level; None when it never is."""
    below = np.flatnonzero(curve <= level)
    return int(below[0]) if len(below) else None


@dataclass
class LayerGates:
    """One layer's gates over the windows: a GRU's update (keep) and reset gates, or an LSTM's
    forget (keep) and input gates."""

    update_mean: float
    update_spread: float  # standard deviation over units, steps and windows
    reset_mean: float
    reset_spread: float
    slow_units: float  # share of units whose mean update gate is at least SLOW (slow memory)
    fast_units: float  # at most FAST (overwritten about every step)
    # [T + 1] the share of the state at k steps before the end of the window that still stands at
    # its end, k = 0 .. T (1 at k = 0): the product of the update gates over the last k steps,
    # averaged over units and windows.
    survival: np.ndarray
    half_life: Optional[int]  # steps until half the state is gone; None: longer than the window
    gone_90: Optional[int]  # steps until 90 % is gone

    def to_dict(self, cell: str = "gru") -> dict[str, Any]:
        keep, other = NAMES[cell]
        return {f"{keep}_gate_mean": self.update_mean, f"{keep}_gate_spread": self.update_spread,
                f"{other}_gate_mean": self.reset_mean, f"{other}_gate_spread": self.reset_spread,
                "slow_units": self.slow_units, "fast_units": self.fast_units,
                "memory_half_life": self.half_life, "memory_90": self.gone_90,
                "survival": [round(float(v), 6) for v in self.survival]}


class GateSums:
    """One layer's recorded gates added up over batches of windows (record() a batch at a time,
    so memory stays that of one batch), then their statistics (result())."""

    def __init__(self) -> None:
        self.n = 0  # windows
        self.sums: dict[str, Any] = {}

    def add(self, gates: dict[str, torch.Tensor]) -> None:
        """One batch's gates of the layer (record()'s: the keep gate first)."""
        z, r = (v.double() for v in gates.values())
        tail = torch.flip(torch.cumprod(torch.flip(z, [1]), dim=1), [1])  # [B, T, hidden]: prod z[t:]
        parts = {"z": z.sum(), "z2": (z * z).sum(), "r": r.sum(), "r2": (r * r).sum(),
                 "unit_z": z.sum(dim=(0, 1)), "tail": tail.mean(dim=2).sum(dim=0), "cells": z[..., 0].numel()}
        for k, v in parts.items():
            self.sums[k] = self.sums.get(k, 0) + v
        self.n += z.shape[0]

    def result(self) -> LayerGates:
        s, hidden = self.sums, len(self.sums["unit_z"])
        cells = s["cells"] * hidden  # gate values of each kind

        def spread(total, squares) -> float:
            mean = float(total) / cells
            return float(np.sqrt(max(float(squares) / cells - mean * mean, 0.0)))

        per_unit = s["unit_z"] / s["cells"]
        curve = np.r_[1.0, (s["tail"] / self.n).flip(0).numpy()]  # k = 0 .. T
        return LayerGates(
            update_mean=float(s["z"]) / cells, update_spread=spread(s["z"], s["z2"]),
            reset_mean=float(s["r"]) / cells, reset_spread=spread(s["r"], s["r2"]),
            slow_units=float((per_unit >= SLOW).double().mean()), fast_units=float((per_unit <= FAST).double().mean()),
            survival=curve, half_life=first_below(curve, 0.5), gone_90=first_below(curve, 0.1),
        )


def layer_gates(gates: dict[str, torch.Tensor]) -> LayerGates:
    """The statistics of one layer's recorded gates (record()) over one batch of windows."""
    sums = GateSums()
    sums.add(gates)
    return sums.result()


def mean_gates(layers: list[LayerGates]) -> LayerGates:
    """The same layer of several networks (an ensemble's members), averaged: the gates' means and
    spreads, unit shares and survival curve, and the half-lives read from the mean curve."""
    avg = lambda name: float(np.mean([getattr(g, name) for g in layers]))  # noqa: E731
    curve = np.mean([g.survival for g in layers], axis=0)
    return LayerGates(update_mean=avg("update_mean"), update_spread=avg("update_spread"), reset_mean=avg("reset_mean"),
                      reset_spread=avg("reset_spread"), slow_units=avg("slow_units"), fast_units=avg("fast_units"),
                      survival=curve, half_life=first_below(curve, 0.5), gone_90=first_below(curve, 0.1))


def lag_gradients(model: nn.Module, inputs: dict[str, torch.Tensor], median: Optional[int] = None) -> np.ndarray:
    """[L] the absolute derivatives of the forecast with respect to the (scaled) input at lag
    k = 1 .. L (lag 1: the window's last point), added up over the horizon steps and the windows
    of inputs (data.batch's); of the median for a quantile model (median: its index). Divided by
    their sum, the attribution by lag."""
    x = inputs["x"].detach().clone().requires_grad_(True)
    model.eval()
    with torch.enable_grad():
        out = model(x, inputs)
        if out.dim() == 3:
            out = out[..., median if median is not None else out.shape[-1] // 2]
        total = torch.zeros(x.shape[1], dtype=torch.float64)
        for h in range(out.shape[1]):
            (g,) = torch.autograd.grad(out[:, h].sum(), x, retain_graph=h + 1 < out.shape[1])
            total += g.abs().double().sum(dim=0).cpu()
    return total.flip(0).numpy()  # lag 1 first


@dataclass
class Advice:
    """What the gates and the attribution say of the input window's length."""

    input_size: int
    suggested: int
    verdict: str  # "shorter", "longer" or "keep"
    reasons: list[str] = field(default_factory=list)
    saving: Optional[float] = None  # measured share of the time of a training step saved at suggested


USED = 2.0  # a lag the forecast uses strongly: its attribution is at least this many times an even share (1 / L)
OLDEST = 0.1  # the oldest tenth of the lags
TAIL = 0.1  # a shorter window may leave out lags that hold at most this share of the attribution together
# A longer window doubles the training time, so it needs more: a lag in the oldest tenth used at
# least this many times an even share. On the daily exchange rates (the defaults: anchor none,
# whose skip map stays near its random start) lag 48 of 48 held 2.06 times an even share, and the
# window of 96 it asked for made the test MAE 1.8 % worse and training 2.1 times as long.
LONGER = 3.0


def reach(attr: np.ndarray) -> int:
    """The oldest lag the forecast uses strongly (USED); 0 when none stands out."""
    used = np.flatnonzero(attr >= USED / len(attr))
    return int(used[-1]) + 1 if len(used) else 0


def covered(attr: np.ndarray) -> int:
    """The fewest lags, from lag 1 back, that hold all but TAIL of the attribution."""
    return int(np.searchsorted(np.cumsum(attr), 1.0 - TAIL - 1e-9) + 1)


def advise(input_size: int, attr: np.ndarray, top: LayerGates, season: int, horizon: int) -> Advice:
    """Longer when a lag in the oldest tenth of the window is used at LONGER times an even share
    or more: twice the window. Shorter when the lags that hold all but a tenth of the
    attribution, twice the reach, the steps until 90 % of the top layer's state is gone and the
    horizon all fit in three quarters of the window: the longest of them, rounded up to whole
    seasons (one season at least, when it fits in the window). Else keep it. Many old lags that
    each matter little can matter together (a level read from the whole window): they keep the
    window."""
    L = input_size
    far, most, gone = reach(attr), covered(attr), top.gone_90
    why = [f"lags 1 to {most} hold {1 - TAIL:.0%} of the attribution",
           f"the oldest lag the forecast uses strongly (at least {USED:g} times an even share of {1 / L:.3f}) "
           f"is {far}" if far else "no lag stands out in the attribution",
           (f"90 % of the state is gone after {gone} steps" if gone is not None else
            f"more than 10 % of the state survives the whole window of {L} steps"),
           f"the oldest tenth of the lags holds {float(attr[int(np.ceil(L * (1 - OLDEST))):].sum()):.1%} of the attribution"]
    if far > (1 - OLDEST) * L:
        old = float(attr[np.arange(1, L + 1) > (1 - OLDEST) * L].max())
        if old >= LONGER / L:
            return Advice(L, 2 * L, "longer", why)
        why.append(f"no lag in the oldest tenth is used at {LONGER:g} times an even share, which a longer window "
                   f"(twice the training time) asks for: the most is {old * L:.1f} times")
    need = max(most, 2 * far, gone or L, horizon)
    if 1 < season <= L:
        need = max(season, -(-need // season) * season)
    if need <= 0.75 * L:
        return Advice(L, int(need), "shorter", why)
    return Advice(L, L, "keep", why)
