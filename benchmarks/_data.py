"""Synthetic hourly panels for the speed and memory benchmarks (the values do not matter there,
only the shape of the file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def hourly_panel(path: Path, n: int, t: int, seed: int = 0) -> None:
    """A long CSV (series_id, timestamp, value) of n hourly series of t points from 2024-01-01:
    a level per series, a daily shape at a random phase, a weekend dip and noise. Written in
    blocks of 500 series, so the generator stays small even for ten million rows."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=t, freq="h")
    hour, weekend = ts.hour.to_numpy()[None, :], (ts.day_of_week.to_numpy() >= 5)[None, :]
    with open(path, "w") as f:
        f.write("series_id,timestamp,value\n")
        for first in range(0, n, 500):
            k = min(500, n - first)
            level = rng.lognormal(3, 0.7, size=(k, 1))
            phase = rng.integers(24, size=(k, 1))
            y = level * (1 + 0.3 * np.sin(2 * np.pi * (hour + phase) / 24) - 0.15 * weekend + rng.normal(0, 0.05, (k, t)))
            pd.DataFrame({
                "series_id": np.repeat([f"s{i:05d}" for i in range(first, first + k)], t),
                "timestamp": np.tile(ts, k),
                "value": np.round(y.ravel(), 3),
            }).to_csv(f, index=False, header=False)
