"""What the network reads besides the target and how new data is prepared for it: the
FeatureSpec, made from the training panel and stored in the checkpoint (covariate scaling,
category vocabularies, series ids), and the Sizes the network is built from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from grucast.data.panel import Panel
from grucast.errors import DataError
from grucast.features import scaling
from grucast.features.calendar import calendar_names


@dataclass(frozen=True)
class Sizes:
    """The widths of what the network reads besides the target: the feature layout as models.network
    builds its layers from it (FeatureSpec.sizes)."""

    mask: bool = False  # a 0/1 channel of observed inputs
    covariates: int = 0  # per-step covariate columns over the input window
    ahead: int = 0  # of those, the ones also known over the horizon
    static: int = 0  # numeric static covariates
    embeddings: tuple[tuple[int, int], ...] = ()  # (categories + 1, size) per categorical static
    n_ids: int = 0  # series ids + 1 for the series embedding; 0 for none
    id_dim: int = 0

    @property
    def static_dim(self) -> int:
        return self.static + sum(d for _, d in self.embeddings) + self.id_dim



def _embedding_size(cardinality: int) -> int:
    return int(min(16, max(2, round(1.6 * cardinality ** 0.56))))


@dataclass
class FeatureSpec:
    """What the network reads and how new data is prepared for it; stored in the checkpoint."""

    mask: bool = False  # a 0/1 channel marks observed inputs (on when the data has gaps or short series)
    pad: int = 0  # left padding of every series, so short series give windows
    past: tuple[str, ...] = ()
    future: tuple[str, ...] = ()
    calendar: tuple[str, ...] = ()
    static_num: tuple[str, ...] = ()
    static_cat: tuple[str, ...] = ()
    categories: dict[str, list[str]] = field(default_factory=dict)  # vocabulary; code 0 is unseen
    ids: tuple[str, ...] = ()  # training series ids, for the series embedding; code 0 is unseen
    loc: dict[str, float] = field(default_factory=dict)  # covariate scaling from training data
    scale: dict[str, float] = field(default_factory=dict)
    # Scaler 'last': every training series' spread over its training part, by id.
    series_scale: dict[str, float] = field(default_factory=dict)

    @property
    def n_covariates(self) -> int:
        """Per-step covariate columns of the layout: past, future, calendar sine/cosine."""
        return len(self.past) + len(self.future) + 2 * len(self.calendar)

    @property
    def known_ahead(self) -> list[int]:
        """Layout columns the network also sees over the horizon: future and calendar."""
        return list(range(len(self.past), self.n_covariates))

    @property
    def plain(self) -> bool:
        return not (self.mask or self.n_covariates or self.static_num or self.static_cat or self.ids)

    def sizes(self, series_embedding: int) -> Sizes:
        """The input sizes the network is built from."""
        return Sizes(
            mask=self.mask,
            covariates=self.n_covariates,
            ahead=len(self.known_ahead),
            static=len(self.static_num),
            embeddings=tuple((len(self.categories[c]) + 1, _embedding_size(len(self.categories[c])))
                             for c in self.static_cat),
            n_ids=len(self.ids) + 1 if self.ids else 0,
            id_dim=series_embedding if self.ids else 0,
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Optional[dict]) -> "FeatureSpec":
        if not d:
            return cls()
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name in d:
                v = d[f.name]
                kw[f.name] = tuple(str(x) for x in v) if isinstance(v, list) and f.name not in ("categories",) else v
        spec = cls(**kw)
        spec.mask, spec.pad = bool(spec.mask), int(spec.pad)
        spec.categories = {str(k): [str(x) for x in v] for k, v in spec.categories.items()}
        spec.loc = {str(k): float(v) for k, v in spec.loc.items()}
        spec.scale = {str(k): float(v) for k, v in spec.scale.items()}
        spec.series_scale = {str(k): float(v) for k, v in spec.series_scale.items()}
        return spec


def default_min_input(input_size: int, horizon: int) -> int:
    """Observed input points a padded window needs when --min-input is not set: a quarter of
    the input window, but at most two horizons, so a long default window (336 steps of weekly
    data forecasting 13) does not shut the short series out of training and forecasting."""
    return max(1, min(input_size // 4, 2 * horizon))


def make_spec(panel: Panel, cfg, past: tuple[str, ...], future: tuple[str, ...], static: tuple[str, ...],
              holdout: int, part=None) -> tuple[FeatureSpec, list[str]]:
    """The feature layout for training on a panel: which inputs exist and their scaling from
    the training part (the last holdout points of every series excluded). Returns warnings.
    part (training.partition.Partition): the panel is this rank's share of one partitioned
    over the ranks; every statistic is then that of the whole panel."""
    L, H = cfg.model.input_size, cfg.model.horizon
    min_input = cfg.model.min_input or default_min_input(L, H)
    short = (panel.lengths if part is None else part.lengths) < L + H + holdout
    gaps = panel.observed is not None and not panel.observed.all()
    if part is not None:
        gaps = bool(part.sum(float(gaps)) > 0)
    mask = bool(gaps or short.any())
    spec = FeatureSpec(mask=mask, pad=L - min_input if mask else 0, past=past, future=future)
    if cfg.data.calendar:
        spec.calendar = calendar_names(panel.freq)
    warnings: list[str] = []
    if panel.covs is not None:
        k = np.arange(len(panel.values)) - np.repeat(panel.offsets[:-1], panel.lengths)
        in_train = k < np.repeat(panel.lengths - holdout, panel.lengths)
        rows = panel.covs[in_train] if in_train.any() else panel.covs
        if part is not None:  # a rank with no training row has none to add (the whole panel has some)
            rows = panel.covs[in_train]
        for j, name in enumerate(panel.cov_names):
            col = rows[:, j].astype(np.float64)
            loc, sd = (float(np.mean(col)), float(np.std(col))) if part is None else part.moments(col)
            if not sd > 1e-12 * max(1.0, abs(loc)):
                warnings.append(f"covariate '{name}' is constant in the training data, so it cannot inform the forecasts")
                sd = 1.0
            spec.loc[name], spec.scale[name] = loc, sd
    for name in static:
        v = panel.static[name] if part is None else part.series(panel.static[name])
        if v.dtype == object:
            spec.static_cat += (name,)
            spec.categories[name] = sorted(set(v.tolist()))
        else:
            spec.static_num += (name,)
            sd = float(np.std(v))
            if not sd > 0:
                warnings.append(f"static covariate '{name}' has the same value for every series")
                sd = 1.0
            spec.loc[name], spec.scale[name] = float(np.mean(v)), sd
    if cfg.model.series_embedding:
        spec.ids = tuple(str(i) for i in (panel.ids if part is None else part.ids))
    if cfg.model.scaler == "last":
        spec.series_scale = training_spreads(panel, holdout, part)
    return spec, warnings


def training_spreads(panel: Panel, holdout: int, part=None) -> dict[str, float]:
    """Scaler 'last': every series' standard deviation over its training part (the last holdout
    points left out), by id; of every rank's series with part (make_spec)."""
    observed = panel.observed if panel.observed is not None else np.ones(len(panel.values), dtype=bool)
    spread = scaling.series_spread(panel.values, observed, panel.offsets, panel.lengths - holdout)
    if part is not None:
        return {str(i): float(v) for i, v in zip(part.ids, part.series(spread))}
    return {str(i): float(v) for i, v in zip(panel.ids, spread)}


def category_codes(vocabulary, values: np.ndarray) -> np.ndarray:
    """Embedding index of every value: 1 + its place in the vocabulary, 0 for one never seen."""
    return pd.Index(list(vocabulary)).get_indexer(np.asarray(values).astype(str)).astype(np.int64) + 1


def static_column(panel: Panel, name: str) -> np.ndarray:
    if name not in panel.static:
        raise DataError(f"the data has no static covariate column '{name}', which the model was trained with")
    return panel.static[name]
