"""`gates`: a trained model run over the most recent windows of a file, its GRU's gates
recorded (models.gates), and what they and the forecast's attribution by lag say of the input
window's length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from grucast import checkpoint
from grucast.config import machine
from grucast.data.panel import build_panel
from grucast.data.table import load_table_like
from grucast.errors import ConfigError, DataError
from grucast.features import layout
from grucast.models import gates as gates_mod
from grucast.models import kernels
from grucast.models.gates import Advice, GateSums, LayerGates
from grucast.models.network import members
from grucast.ops import paths
from grucast.training.runtime import select_device, set_threads
from grucast.workflows.forecasting import load_model
from grucast.workflows.summary import DataSummary, summarize

MAX_WINDOWS = 1024  # windows in all by default: spread over the series, the most recent of each
BATCH = 256  # windows recorded at once


@dataclass
class GatesResult:
    """What `grucast gates` reports."""

    model: str
    data: DataSummary
    windows: int
    series: int
    input_size: int
    horizon: int
    season: int
    cell: str  # gru or lstm: which gates (models.gates.NAMES)
    members: int  # networks of the model
    member: Optional[int]  # the one read (--member), or None: the gates averaged over every member
    layers: list[LayerGates]  # per GRU layer, first to last
    attribution: np.ndarray  # [L] by lag 1 .. L, summing to 1: of the model's forecast (the member's with member)
    advice: Advice
    seconds: float = 0.0
    per_member: list[list[LayerGates]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "data": self.data.to_dict(), "windows": self.windows, "series": self.series,
            "input_size": self.input_size, "horizon": self.horizon, "season": self.season, "cell": self.cell,
            "members": self.members, "gates_of": "averaged over the members" if self.member is None and self.members > 1
            else f"member {self.member if self.member is not None else 0}",
            "layers": [g.to_dict(self.cell) for g in self.layers],
            "memory_half_life": self.layers[-1].half_life, "memory_90": self.layers[-1].gone_90,
            "attribution": {str(k + 1): round(float(v), 6) for k, v in enumerate(self.attribution)},
            "suggested_input_size": self.advice.suggested, "advice": self.advice.verdict,
            "reasons": self.advice.reasons, "training_time_saved": self.advice.saving,
            "per_member": [[g.to_dict(self.cell) for g in m] for m in self.per_member] if self.members > 1 else [],
            "seconds": round(self.seconds, 3),
        }


def gates(model_path: Path, data_path: Path, windows: Optional[int] = None, member: Optional[int] = None,
          device: str = "auto", threads: Optional[int] = None) -> GatesResult:
    """Run the model of model_path over the most recent windows of every series of data_path
    (windows per series, default: MAX_WINDOWS spread over the series), each with its horizon in
    the data, record its GRU's gates, and advise on the input window's length."""
    started = time.perf_counter()
    machine.check_threads("--threads", threads)
    paths.run_paths(model=model_path, data=data_path, lock=False)
    ckpt = checkpoint.load(Path(model_path))
    cfg, spec = ckpt.config, ckpt.features
    L, H = cfg.model.input_size, cfg.model.horizon
    table = load_table_like(Path(data_path), ckpt.schema, cfg.data)
    panel = build_panel(table, cfg.data.fill, freq=ckpt.freq)
    summary = summarize(table, panel)
    if windows is not None and windows < 1:
        raise ConfigError(f"--windows must be at least 1, got {windows}")
    per = windows if windows is not None else max(1, -(-MAX_WINDOWS // panel.n_series))
    set_threads(threads)
    dev = select_device(device)
    data = layout.build(panel.tail(L + H + per - 1), spec, cfg.model.scaler, dev)
    starts, series = _recent(data, L, H, per)
    if len(starts) == 0:
        raise DataError(f"no series of {Path(data_path).name} is long enough: a window needs {L} points of input and "
                        f"{H} after them, and the longest series has {int(panel.lengths.max())}")
    model = load_model(ckpt, dev, str(model_path), "reference")
    nets = members(model)
    if member is not None and not 0 <= member < len(nets):
        raise ConfigError(f"--member {member}: {Path(model_path).name} has {len(nets)} member(s), numbered 0 to {len(nets) - 1}")
    read = nets if member is None else [nets[member]]
    per_member, grads = _record(read, model if member is None else nets[member], data, starts, L, H)
    layers = per_member[0] if len(per_member) == 1 else [gates_mod.mean_gates(list(g)) for g in zip(*per_member)]
    attr = grads / grads.sum() if grads.sum() > 0 else grads
    advice = gates_mod.advise(L, attr, layers[-1], cfg.data.season, H)
    if advice.verdict == "shorter":
        advice.saving = _saving(nets[0].rnn, L, advice.suggested, dev)
    return GatesResult(
        model=Path(model_path).name, data=summary, windows=int(len(starts)), series=int(len(np.unique(series))),
        input_size=L, horizon=H, season=cfg.data.season, cell=cfg.model.cell, members=len(nets), member=member, layers=layers,
        attribution=attr, advice=advice, seconds=time.perf_counter() - started,
        per_member=per_member if member is None else [],
    )


def _recent(data: layout.WindowData, L: int, H: int, per: int) -> tuple[np.ndarray, np.ndarray]:
    """Layout starts of the last `per` windows of every series (stride 1) whose input is wholly
    in the data and whose horizon ends by the series' last point, and their series."""
    first = data.offsets[:-1] + data.pad + data.lengths - L - H  # the last window's start
    count = np.clip(first - (data.offsets[:-1] + data.pad) + 1, 0, per)
    series = np.repeat(np.arange(len(count)), count)
    back = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    return first[series] - back, series


def _record(nets: list[torch.nn.Module], model: torch.nn.Module, data: layout.WindowData, starts: np.ndarray,
            L: int, H: int) -> tuple[list[list[LayerGates]], np.ndarray]:
    """Every net's gates per layer over the windows, and the model's lag gradients (lag_gradients)."""
    sums = [[GateSums() for _ in range(net.rnn.num_layers)] for net in nets]
    grads = np.zeros(L)
    median = model.quantiles.index(0.5) if model.quantiles else None
    for i in range(0, len(starts), BATCH):
        s = torch.as_tensor(starts[i:i + BATCH], dtype=torch.long, device=data.values.device)
        inputs, _ = data.batch(s, L, H, target=False)
        for net, layer_sums in zip(nets, sums):
            net.eval()
            with torch.no_grad():
                _, layers = gates_mod.record(net.rnn, net.encoder_input(inputs["x"], inputs))
            for acc, g in zip(layer_sums, layers):
                acc.add(g)
        grads += gates_mod.lag_gradients(model, inputs, median)
    return [[acc.result() for acc in layer_sums] for layer_sums in sums], grads


def _saving(rnn: torch.nn.Module, L: int, K: int, device: torch.device) -> float:
    """The share of the time of the recurrent encoder's forward and backward pass over a batch
    of BATCH windows saved with K input steps instead of L, measured here (after a first run, the
    best of five each, taken in turns), by the kernel training uses on this device (nn.LSTM for an
    LSTM). A timing: on a busy machine it may come out at or below 0."""
    kernel = kernels.select("auto", device, cell="gru" if isinstance(rnn, torch.nn.GRU) else "lstm")
    gru = rnn.train()

    def once(x: torch.Tensor) -> float:
        t0 = time.perf_counter()
        kernels.run_rnn(gru, x, kernel).sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    short, long = (torch.randn(BATCH, steps, gru.input_size, device=device) for steps in (K, L))
    once(short), once(long)  # the first run of a shape pays for allocations
    times = [(once(short), once(long)) for _ in range(5)]
    gru.zero_grad(set_to_none=True)
    return round(1.0 - min(t[0] for t in times) / min(t[1] for t in times), 3)
