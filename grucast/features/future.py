"""Future covariates over the forecast horizon: which series have them, and the block predict
appends after each series' history.
"""

from __future__ import annotations

import numpy as np

from grucast.data.freq import time_text
from grucast.data.panel import Panel
from grucast.errors import DataError
from grucast.features.spec import FeatureSpec


def _future_values(panel: Panel, names: tuple[str, ...], horizon: int) -> np.ndarray:
    """[n, horizon, F] values of the named covariates over every series' forecast horizon, from
    the rows after its last observed target; NaN where the file has none."""
    block = np.full((panel.n_series, horizon, len(names)), np.nan, dtype=np.float32)
    if names and panel.after is not None:
        cols = [panel.cov_names.index(c) for c in names]
        series, pos, covs = panel.after
        k = pos - panel.lengths[series]
        inside = (k >= 0) & (k < horizon)
        block[series[inside], k[inside]] = covs[inside][:, cols]
    return block


def future_values(panel: Panel, names: tuple[str, ...], horizon: int) -> np.ndarray:
    """[n, horizon, F] the named future covariates over every series' horizon (NaN where the
    file has none): what the model reads there, for plots."""
    return _future_values(panel, names, horizon)


def _when(panel: Panel, i: int, k: int) -> str:
    return time_text(panel.freq, panel.start[i], panel.lengths[i] + k)


def coverage(panel: Panel, names: tuple[str, ...], horizon: int) -> list[str]:
    """For `check`: one line per series whose future covariates do not cover the horizon,
    naming the first missing step."""
    block = _future_values(panel, names, horizon)
    lines = []
    for i in np.flatnonzero(np.isnan(block).any(axis=(1, 2))):
        k, j = (int(x[0]) for x in np.nonzero(np.isnan(block[i])))
        lines.append(f"'{panel.ids[i]}' from {_when(panel, i, k)} ({names[j]})")
    return lines


def future_block(panel: Panel, spec: FeatureSpec, horizon: int, source: str, given: bool = False) -> np.ndarray:
    """[n, horizon, F] future covariates over every series' forecast horizon, from the rows
    after its last observed target; a missing one is an error naming the series and time and
    where to add it: source, the data file, or the future file given (--future)."""
    names = spec.future
    block = _future_values(panel, names, horizon)
    missing = np.isnan(block)
    if missing.any():
        i, k, j = (int(x[0]) for x in np.nonzero(missing))
        n_bad = int(missing.any(axis=(1, 2)).sum())
        raise DataError(
            f"series '{panel.ids[i]}' has no value of future covariate '{names[j]}' at {_when(panel, i, k)}, the "
            f"forecast step {k + 1} of {horizon} ({n_bad} series lack future values); the model needs them over the "
            + (f"whole horizon: add the missing rows to {source}" if given else
               f"whole horizon: add rows after the last observed target (target empty) to {source}, or pass --future FILE")
        )
    return block
