"""GRU against LSTM on synthetic series built so that a recurrent state must do the work: a search
for data on which one cell clearly wins (issue 17).

    python benchmarks/cells_synthetic.py [--families counter,integrator,delay,two-lags]
        [--data-seeds 0,1] [--hidden 2,8,32] [--steps 300,1500] [--batch-size N] [--lr X]
    python benchmarks/cells_synthetic.py --families balanced --data-seeds 0,1,2,3,4 --hidden 32
        --steps 1000 [--batch-size 64]

Every family is 8 series of 800 hourly points. In the first four, made from a random covariate
with noise of 0.01, the target is a function of the covariate's past that the skip map (linear
in the target's own window) cannot give, so the GRU or LSTM state has to:

- counter: events (covariate `inc`, p 0.8) counted since the last reset (`reset`, p 1 / 7.2);
  the target is 1 once 6 events are counted, else 0. Both known ahead (--future-cols), window 24.
- integrator: the square of a running sum of +-1 steps (`s`) that resets (p 0.05), / 10;
  future covariates, window 24.
- delay: the covariate `x` (N(0, 1)) 5 steps back; past covariate only, window 12.
- two-lags: x 1 step back plus x 3 steps back; past covariate only, window 8.

The fifth has no covariate: the network must count the series' own steps.

- balanced: runs of +1 for n steps followed by exactly n steps of -1, n drawn from 2..24 for
  every pair of runs, with noise of 0.05. Once the -1 run starts, when it ends is known only by
  counting how long the +1 run lasted. Window 64 (room for the longest pair), horizon 12,
  origins 3 steps apart, no calendar features.

Each (family, data seed, hidden size, steps) is one `grucast backtest DATA --cell gru,lstm
--seeds 3` (100 origins a series, --season 1, no early stopping before the budget, ensembles of
1): printed, every run's MASE per cell, the naive forecast's, and the
verdict (`clear` when every run of one cell scored below every run of the other). About 7 s a
line on 2 CPU cores with the defaults' 48 lines (6 minutes); 22 to 45 s a line for balanced at
1,000 steps. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from _cli import grucast

FAMILIES = {  # name: the flags that read it (covariates, window, horizon, stride)
    "counter": ["--future-cols", "inc,reset", "--input-size", "24", "--horizon", "1"],
    "integrator": ["--future-cols", "s,reset", "--input-size", "24", "--horizon", "1"],
    "delay": ["--past-cols", "x", "--input-size", "12", "--horizon", "1"],
    "two-lags": ["--past-cols", "x", "--input-size", "8", "--horizon", "1"],
    "balanced": ["--input-size", "64", "--horizon", "12", "--stride", "3", "--no-calendar"],
}


def resetting(steps: np.ndarray, reset: np.ndarray) -> np.ndarray:
    """The running sum of steps, back to 0 at every reset."""
    out, total = np.zeros(len(steps)), 0.0
    for t, (step, r) in enumerate(zip(steps, reset)):
        total = 0.0 if r else total + step
        out[t] = total
    return out


def balanced_runs(rng: np.random.Generator, length: int, longest: int = 24) -> np.ndarray:
    """+1 for n steps, then -1 for exactly n steps, n from 2..longest anew for every pair."""
    n = rng.integers(2, longest + 1, size=length // 4 + 1)  # pairs of at least 4 steps cover length
    signs = np.tile([1.0, -1.0], len(n))
    return np.repeat(signs, np.repeat(n, 2))[:length]


def family(name: str, seed: int, n: int = 8, length: int = 800) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        if name == "balanced":
            y, cov = balanced_runs(rng, length) + rng.normal(0, 0.05, length), {}
        elif name == "counter":
            inc, reset = (rng.random(length) < 0.8).astype(int), (rng.random(length) < 1 / 7.2).astype(int)
            y, cov = (resetting(inc, reset) >= 6).astype(float), {"inc": inc, "reset": reset}
        elif name == "integrator":
            s, reset = rng.choice([-1, 1], length), (rng.random(length) < 0.05).astype(int)
            y, cov = resetting(s, reset) ** 2 / 10, {"s": s, "reset": reset}
        else:
            x = rng.normal(0, 1, length)
            y = np.roll(x, 5) if name == "delay" else np.roll(x, 1) + np.roll(x, 3)
            cov = {"x": np.round(x, 4)}
        if name != "balanced":
            y = y + rng.normal(0, 0.01, length)
        frames.append(pd.DataFrame({"series_id": f"s{i}", "value": np.round(y, 4), **cov,
                                    "timestamp": pd.date_range("2024-01-01", periods=length, freq="h")}))
    return pd.concat(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--data-seeds", default="0,1")
    ap.add_argument("--hidden", default="2,8,32")
    ap.add_argument("--steps", default="300,1500")
    ap.add_argument("--batch-size", help="windows per step (default: grucast's, 256)")
    ap.add_argument("--lr", help="learning rate (default: grucast's, 0.001 on data this small)")
    a = ap.parse_args()
    batch = (["--batch-size", a.batch_size] if a.batch_size else []) + (["--lr", a.lr] if a.lr else [])
    clear = {"gru": 0, "lstm": 0}
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.families.split(","):
            flags = FAMILIES[name]
            for seed in [int(s) for s in a.data_seeds.split(",")]:
                data = Path(tmp) / f"{name}-{seed}.csv"
                family(name, seed).to_csv(data, index=False)
                for hidden in a.hidden.split(","):
                    for steps in a.steps.split(","):
                        out, secs = grucast("backtest", str(data), *flags, "--cell", "gru,lstm", "--seeds", "3",
                                            "--windows", "100", "--ensemble", "1",
                                            "--hidden-size", hidden, "--season", "1", *batch,
                                            "--max-steps", steps, "--patience", steps, "--json", "-q")
                        doc = json.loads(out)
                        c = doc["comparison"]
                        mase = {cell: [r["metrics"]["mase"] for r in c["runs"] if r["cell"] == cell]
                                for cell in ("gru", "lstm")}
                        v = c["verdict"]
                        total += 1
                        if v["beyond_spread"]:
                            clear[v["better"]] += 1
                        runs = "  ".join(f"{cell} " + " ".join(f"{m:.3f}" for m in ms) for cell, ms in mase.items())
                        print(f"{name:10s} data {seed} hidden {hidden:>2s} steps {steps:>4s}: {runs}  naive "
                              f"{doc['metrics']['naive']['mase']:.3f}  {v['better']} lower"
                              f"{', clear' if v['beyond_spread'] else ''} ({secs:.0f} s)", flush=True)
    print(f"clear wins: GRU {clear['gru']}, LSTM {clear['lstm']}, of {total} comparisons")


if __name__ == "__main__":
    main()
