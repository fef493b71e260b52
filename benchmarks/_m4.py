"""M4 for the benchmark scripts: the official train / test files of one frequency, a slice of
their series, and the official scoring (sMAPE, MASE and OWA against Naive2)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd


def read_m4(folder: Path, frequency: str, H: int) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """(ids, training series without their NaN padding, [n, H] test values) of M4's
    `{frequency}-train.csv` and `{frequency}-test.csv`, which list the same ids in order."""
    train = pd.read_csv(folder / f"{frequency}-train.csv")
    test = pd.read_csv(folder / f"{frequency}-test.csv")
    ids = train.iloc[:, 0].astype(str).tolist()
    assert test.iloc[:, 0].astype(str).tolist() == ids
    series = [row[~np.isnan(row)] for row in train.iloc[:, 1:].to_numpy(float)]
    return ids, series, test.iloc[:, 1:H + 1].to_numpy(float)


def pick(spec: Optional[str], ids: list[str], series: list[np.ndarray], y: np.ndarray):
    """The series a --series START:STOP[:STEP] slice names (all of them for None)."""
    if not spec:
        return ids, series, y
    s = slice(*(int(x) if x else None for x in spec.split(":")))
    return ids[s], series[s], y[s]


def per_series(series: list[np.ndarray], y: np.ndarray, f: np.ndarray, m: int) -> np.ndarray:
    """Official M4 scoring, per series: [n, 2] of sMAPE and MASE, MASE's in-sample scale the
    mean absolute difference m steps apart."""
    smapes = np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f)), axis=1)
    scales = np.array([np.mean(np.abs(x[m:] - x[:-m])) for x in series])
    return np.stack([smapes, np.mean(np.abs(y - f), axis=1) / scales], axis=1)


def owa(scores: np.ndarray, naive2: tuple[float, float], mask=slice(None)) -> tuple[float, float, float]:
    """sMAPE, MASE and OWA (against Naive2's published sMAPE and MASE) of the series in mask."""
    s, m = (float(v) for v in scores[mask].mean(axis=0))
    return s, m, 0.5 * (s / naive2[0] + m / naive2[1])
