"""GRU against LSTM (`grucast backtest --cell gru,lstm`): every cell backtested on the same
windows with several seeds, summed up side by side, and a verdict that says which forecasts
better and whether the difference is larger than the spread across seeds.

Free of torch: the runs come in as numbers (workflows.compare makes them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

METRIC = "mase"  # what the verdict compares: scale-free, pooled over every window


@dataclass
class CellRun:
    """One backtest of one cell with one seed."""

    cell: str
    seed: int
    metrics: dict[str, float]  # the network's pooled metrics (mase, smape, ...)
    parameters: int  # of one network (an ensemble holds that many per member)
    train_seconds: float  # every training of the backtest (several with --refit), ensemble members included
    epochs: float  # epochs trained over those trainings and members
    seconds_per_epoch: float  # the time of the training steps of an epoch (validation and set-up left out)
    forecast_seconds: float  # forecasting every window


@dataclass
class Verdict:
    better: str  # the cell with the lower mean metric
    other: str
    metric: str
    difference: float  # how much lower, as a share of the other's: 0.12 for 12 % lower
    beyond_spread: Optional[bool]  # every run of better beat every run of other; None with one seed each
    faster: str  # the cell whose backtest trained in less time (median over the seeds)
    speedup: float  # how many times as fast
    fewer_parameters: float  # the share fewer parameters the GRU holds than the LSTM (negative: more)
    text: str
    baseline: Optional[str] = None  # the baseline with the lowest metric on the same windows (naive, seasonal_naive)
    baseline_value: Optional[float] = None  # its metric
    beats_baseline: Optional[bool] = None  # the better cell's mean is below it; None without baselines


@dataclass
class Comparison:
    cells: list[str]
    seeds: list[int]
    runs: list[CellRun]
    verdict: Verdict

    def of(self, cell: str) -> list[CellRun]:
        return [r for r in self.runs if r.cell == cell]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per cell: the mean, lowest and highest of each pooled metric over the seeds, the
        parameters, and the times (medians: the first run of a process also pays for one-off
        costs, such as loading the fused kernel, seen at 3 s against 0.6 s)."""
        out: dict[str, dict[str, Any]] = {}
        for cell in self.cells:
            runs = self.of(cell)
            keys = [k for k in runs[0].metrics if all(k in r.metrics for r in runs)]
            values = {k: np.array([r.metrics[k] for r in runs], dtype=float) for k in keys}
            out[cell] = {
                "metrics": {k: float(v.mean()) for k, v in values.items()},
                "lowest": {k: float(v.min()) for k, v in values.items()},
                "highest": {k: float(v.max()) for k, v in values.items()},
                "parameters": runs[0].parameters,
                "train_seconds": float(np.median([r.train_seconds for r in runs])),
                "seconds_per_epoch": float(np.median([r.seconds_per_epoch for r in runs])),
                "forecast_seconds": float(np.median([r.forecast_seconds for r in runs])),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"cells": self.cells, "seeds": self.seeds, "metric": self.verdict.metric,
                "runs": [asdict(r) for r in self.runs],
                "summary": self.summary(), "verdict": asdict(self.verdict)}


def judge(runs: list[CellRun], cells: list[str], metric: str = METRIC,
          baselines: Optional[dict[str, float]] = None) -> Verdict:
    """The verdict on two cells' runs: which has the lower mean metric, by how much, and
    whether that holds beyond the spread across seeds: every run of the better cell scored
    below every run of the other (with 3 seeds each, two cells alike would do so by chance in
    one comparison in ten). With one seed each the spread is not measured and the verdict
    says so. baselines (name: metric on the same windows): when the better cell does not beat
    the best of them, the verdict says so, since then neither network is worth its training."""
    a, b = cells
    mean = {c: float(np.mean([r.metrics[metric] for r in runs if r.cell == c])) for c in cells}
    better, other = (a, b) if mean[a] <= mean[b] else (b, a)
    score = {c: [r.metrics[metric] for r in runs if r.cell == c] for c in cells}
    seeds = min(len(score[a]), len(score[b]))
    beyond = None if seeds < 2 else bool(max(score[better]) < min(score[other]))
    difference = 1.0 - mean[better] / mean[other] if mean[other] > 0 else 0.0
    train = {c: float(np.median([r.train_seconds for r in runs if r.cell == c])) for c in cells}
    faster, slower = (a, b) if train[a] <= train[b] else (b, a)
    speedup = train[slower] / train[faster] if train[faster] > 0 else float("nan")
    params = {r.cell: r.parameters for r in runs}
    fewer = 1.0 - params["gru"] / params["lstm"] if {"gru", "lstm"} <= set(params) and params["lstm"] else 0.0
    v = Verdict(better=better, other=other, metric=metric, difference=difference, beyond_spread=beyond,
                faster=faster, speedup=speedup, fewer_parameters=fewer, text="")
    known = {k: float(x) for k, x in (baselines or {}).items() if x is not None and np.isfinite(x)}
    if known:
        v.baseline = min(known, key=known.__getitem__)
        v.baseline_value = known[v.baseline]
        v.beats_baseline = mean[better] < v.baseline_value
    v.text = _text(v, mean, score, seeds)
    return v


def _text(v: Verdict, mean: dict[str, float], score: dict[str, list[float]], seeds: int) -> str:
    B, W, M = v.better.upper(), v.other.upper(), v.metric.upper()  # better, worse, metric
    each = f"mean of {seeds} seeds" if seeds > 1 else "one seed"
    if round(v.difference, 3) == 0:
        diff = f"the two {M}s are the same to 0.1% ({mean[v.better]:.3f} and {mean[v.other]:.3f}, {each})"
    else:
        diff = (f"the {B}'s {M} is {v.difference:.1%} lower than the {W}'s ({mean[v.better]:.3f} against "
                f"{mean[v.other]:.3f}, {each})")
    spread = ", ".join(f"{c.upper()} {min(s):.3f}-{max(s):.3f}" for c, s in score.items())
    if v.beyond_spread:
        head = f"The {B} forecasts better on this data: {diff}, beyond the spread across seeds ({spread})"
    elif v.beyond_spread is None:
        head = (f"Not settled: {diff}, with one seed each, so the spread across seeds is not measured (--seeds 3 "
                "measures it)")
    else:
        head = f"Neither cell is clearly better on this data: {diff}, within the spread across seeds ({spread})"
    if v.speedup < 1.1:
        cost = "both trained in about the same time"
    else:
        cost = f"the {v.faster.upper()} trained {v.speedup:.1f}x as fast"
    if v.fewer_parameters:
        cost += f", and the GRU has {abs(v.fewer_parameters):.0%} {'fewer' if v.fewer_parameters > 0 else 'more'} parameters"
    text = f"{head}; {cost}."
    if v.beats_baseline is False:
        name = {"naive": "the naive forecast (the last value)"}.get(v.baseline, f"the {v.baseline.replace('_', ' ')} forecast")
        text += (f" But neither cell beats {name} on these windows ({M} {v.baseline_value:.3f}): use it, or give the "
                 "networks more training or data.")
    return text
