"""Everything the network reads besides the target: covariates, calendar features, the mask of
observed values and left padding, laid out so that a window is still one index.

The layout puts every series at ``offsets[i]`` as ``pad`` padding points, its ``n_i`` points
and, for forecasting, ``ext`` points of the forecast horizon. A window starting at layout index
``s`` reads its input from ``[s, s + L)`` and its horizon from ``[s + L, s + L + H)`` of every
per-point array, so a batch is still one gather. Covariates are scaled with statistics of the
training data, which the :class:`FeatureSpec` carries into the checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch

from grucast import scaling
from grucast.errors import DataError
from grucast.model import Sizes
from grucast.panel import Freq, Panel, time_at, time_text
from grucast.windows import _ranges, gather

# Calendar features: name -> (period, phase of each stamp); each becomes a sine and a cosine.
_CALENDAR = {
    "minute_of_hour": lambda t: t.minute / 60.0,
    "hour_of_day": lambda t: (t.hour + t.minute / 60.0) / 24.0,
    "day_of_week": lambda t: t.day_of_week / 7.0,
    "day_of_month": lambda t: (t.day - 1) / t.days_in_month,
    "day_of_year": lambda t: (t.day_of_year - 1) / (365.0 + t.is_leap_year),
}


def calendar_names(freq: Freq) -> tuple[str, ...]:
    """The calendar cycles longer than one step of the data: hour of day for hourly data, day
    of week and of year for daily data, the time of year for monthly data, none for yearly."""
    if freq.kind != "datetime":
        return ()
    base = pd.Timestamp("2001-01-01")
    step = (base + freq.offset) - base  # months and quarters by their first length
    names = []
    if step < pd.Timedelta("1h"):
        names.append("minute_of_hour")
    if step < pd.Timedelta("1D"):
        names.append("hour_of_day")
    if step < pd.Timedelta("7D"):
        names.append("day_of_week")
    if step <= pd.Timedelta("1D"):
        names.append("day_of_month")
    if step < pd.Timedelta("365D"):
        names.append("day_of_year")
    return tuple(names)


def calendar_values(names: tuple[str, ...], stamps: pd.DatetimeIndex) -> np.ndarray:
    """[N, 2 x len(names)] sine and cosine of each cycle's phase, in local time."""
    out = np.empty((len(stamps), 2 * len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        phase = 2 * np.pi * np.asarray(_CALENDAR[name](stamps), dtype=np.float64)
        out[:, 2 * j] = np.sin(phase)
        out[:, 2 * j + 1] = np.cos(phase)
    return out


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
        return spec


def make_spec(panel: Panel, cfg, past: tuple[str, ...], future: tuple[str, ...], static: tuple[str, ...],
              holdout: int) -> tuple[FeatureSpec, list[str]]:
    """The feature layout for training on a panel: which inputs exist and their scaling from
    the training part (the last holdout points of every series excluded). Returns warnings."""
    L, H = cfg.model.input_size, cfg.model.horizon
    min_input = cfg.model.min_input or max(1, L // 4)
    short = panel.lengths < L + H + holdout
    gaps = panel.observed is not None and not panel.observed.all()
    mask = bool(gaps or short.any())
    spec = FeatureSpec(mask=mask, pad=L - min_input if mask else 0, past=past, future=future)
    if cfg.data.calendar:
        spec.calendar = calendar_names(panel.freq)
    warnings: list[str] = []
    if panel.covs is not None:
        k = np.arange(len(panel.values)) - np.repeat(panel.offsets[:-1], panel.lengths)
        in_train = k < np.repeat(panel.lengths - holdout, panel.lengths)
        rows = panel.covs[in_train] if in_train.any() else panel.covs
        for j, name in enumerate(panel.cov_names):
            col = rows[:, j].astype(np.float64)
            loc, sd = float(np.mean(col)), float(np.std(col))
            if not sd > 1e-12 * max(1.0, abs(loc)):
                warnings.append(f"covariate '{name}' is constant in the training data, so it cannot inform the forecasts")
                sd = 1.0
            spec.loc[name], spec.scale[name] = loc, sd
    for name in static:
        v = panel.static[name]
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
        spec.ids = tuple(str(i) for i in panel.ids)
    return spec, warnings


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


def future_block(panel: Panel, spec: FeatureSpec, horizon: int, source: str) -> np.ndarray:
    """[n, horizon, F] future covariates over every series' forecast horizon, from the rows
    after its last observed target; a missing one is an error naming the series and time."""
    names = spec.future
    block = _future_values(panel, names, horizon)
    missing = np.isnan(block)
    if missing.any():
        i, k, j = (int(x[0]) for x in np.nonzero(missing))
        n_bad = int(missing.any(axis=(1, 2)).sum())
        raise DataError(
            f"series '{panel.ids[i]}' has no value of future covariate '{names[j]}' at {_when(panel, i, k)}, the "
            f"forecast step {k + 1} of {horizon} ({n_bad} series lack future values); the model needs them over the "
            f"whole horizon: add rows after the last observed target (target empty) to {source}, or pass --future FILE"
        )
    return block


@dataclass
class WindowData:
    """Per-point arrays of the layout, as tensors on one device, and the batch gather."""

    offsets: np.ndarray  # [n + 1] layout offsets
    lengths: np.ndarray  # [n] observed points of every series (without pad and ext)
    pad: int
    ext: int
    values: torch.Tensor  # [T] float32 target, 0 where not observed
    observed: torch.Tensor  # [T] float32 0/1
    covs: Optional[torch.Tensor]  # [T, C] scaled past and future covariates
    bounds: torch.Tensor  # [n + 1] int64 layout offsets on the device: the series of a window
    static_num: Optional[torch.Tensor]  # [n, S]
    static_cat: Optional[torch.Tensor]  # [n, K] int64 codes
    ids: Optional[torch.Tensor]  # [n] int64 codes
    known_ahead: list[int]
    mask: bool
    scaler: str
    # Calendar features: rows of a table, row = layout index + the series' shift. Series on one
    # grid share the rows of their common timestamps (10,000 hourly series over the same 1,000
    # hours need 1,000 rows, not 10 million); otherwise one row per layout point, shift 0.
    calendar: Optional[torch.Tensor] = None  # [G, 2 x cycles] float32 sine and cosine
    calendar_shift: Optional[torch.Tensor] = None  # [n] int64

    def starts(self, panel_pos: np.ndarray) -> np.ndarray:
        """Layout index of panel positions (same series layout)."""
        panel_offsets = np.r_[0, np.cumsum(self.lengths)]
        s = np.searchsorted(panel_offsets, panel_pos, side="right") - 1
        return self.offsets[s] + self.pad + (panel_pos - panel_offsets[s])

    def to_panel(self, pos: np.ndarray) -> np.ndarray:
        """Panel index of layout positions that hold observed-range points."""
        panel_offsets = np.r_[0, np.cumsum(self.lengths)]
        s = np.searchsorted(self.offsets, pos, side="right") - 1
        return panel_offsets[s] + (pos - self.offsets[s] - self.pad)

    def last_starts(self, input_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Series with enough history to forecast (input_size less the padding) and the start
        of their last input window."""
        ok = np.flatnonzero(self.lengths >= input_size - self.pad)
        return ok, self.offsets[ok] + self.pad + self.lengths[ok] - input_size

    def batch(self, starts: torch.Tensor, L: int, H: int, target: bool = True) -> tuple[dict, tuple]:
        """The network's inputs for windows starting at starts, scaled by their input, with
        (loc, scale) and, for training, the scaled target and its mask."""
        span = L + H if target else L
        w = gather(self.values, starts, span)
        x = w[:, :L]
        obs = gather(self.observed, starts, span) if self.mask else None
        m = obs[:, :L] if obs is not None else None
        loc, scale = scaling.fit(x, self.scaler, m)
        inputs: dict[str, torch.Tensor] = {"x": scaling.apply(x, loc, scale)}
        if m is not None:
            inputs["x"] = inputs["x"] * m  # unobserved inputs sit at the window's level
            inputs["mask"] = m
        s = torch.searchsorted(self.bounds, starts, right=True) - 1  # the series of every window
        if self.covs is not None or self.calendar is not None:
            pos = starts.reshape(-1, 1) + torch.arange(L + H, device=starts.device)  # [B, L + H]
            parts = [] if self.covs is None else [self.covs[pos]]
            if self.calendar is not None:
                parts.append(self.calendar[pos + self.calendar_shift[s].unsqueeze(1)])
            c = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)  # [B, L + H, C]: past, future, calendar
            inputs["covs"] = c[:, :L]
            if self.known_ahead:
                inputs["ahead"] = c[:, L:, self.known_ahead]
        if self.static_num is not None:
            inputs["static"] = self.static_num[s]
        if self.static_cat is not None:
            inputs["cat"] = self.static_cat[s]
        if self.ids is not None:
            inputs["sid"] = self.ids[s]
        out = None
        if target:
            y = scaling.apply(w[:, L:], loc, scale)
            out = (y, obs[:, L:] if obs is not None else None)
        return inputs, (loc, scale, out)


def layout_offsets(lengths: np.ndarray, pad: int, ext: int = 0) -> np.ndarray:
    """[n + 1] layout offsets of series of these lengths behind pad points and before ext."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64) + pad + ext, out=offsets[1:])
    return offsets


def build(panel: Panel, spec: FeatureSpec, scaler: str, device, ext: int = 0,
          future: Optional[np.ndarray] = None) -> WindowData:
    """The layout of a panel (with ext horizon points per series and their future block for
    forecasting) as tensors on device."""
    n, pad = panel.n_series, spec.pad
    lengths = panel.lengths.astype(np.int64)
    offsets = layout_offsets(lengths, pad, ext)
    per = np.diff(offsets)
    T = int(offsets[-1])
    dest = _ranges(offsets[:-1] + pad, lengths)  # layout index of every panel point
    observed = panel.observed if panel.observed is not None else np.ones(len(panel.values), dtype=bool)
    values = np.zeros(T, dtype=np.float32)
    values[dest] = np.where(observed, panel.values, 0.0) if spec.mask else panel.values
    obs = np.zeros(T, dtype=np.float32)
    obs[dest] = observed
    covs = calendar = shift = None
    n_cov = len(spec.past) + len(spec.future)
    if n_cov:
        covs = np.zeros((T, n_cov), dtype=np.float32)
        for j, name in enumerate(spec.past + spec.future):
            if panel.covs is None or name not in panel.cov_names:
                raise DataError(f"the data has no covariate column '{name}', which the model was trained with")
            col = panel.covs[:, panel.cov_names.index(name)]
            covs[dest, j] = (col - spec.loc[name]) / spec.scale[name]
        if ext and spec.future:
            tail = _ranges(offsets[:-1] + pad + lengths, np.full(n, ext))
            f = future if future is not None else np.zeros((n, ext, len(spec.future)), dtype=np.float32)
            for j, name in enumerate(spec.future):
                covs[tail, len(spec.past) + j] = ((f[:, :, j] - spec.loc[name]) / spec.scale[name]).ravel()
    if spec.calendar:
        calendar, shift = _calendar(panel, spec.calendar, offsets, pad, per)
    static_num = static_cat = ids = None
    if spec.static_num:
        cols = []
        for name in spec.static_num:
            v = _static(panel, name)
            try:
                v = v.astype(np.float64)
            except (TypeError, ValueError):
                raise DataError(f"static covariate '{name}' holds text, but the model was trained on numbers") from None
            cols.append((v - spec.loc[name]) / spec.scale[name])
        static_num = torch.as_tensor(np.stack(cols, axis=1), dtype=torch.float32, device=device)
    if spec.static_cat:
        codes = np.stack([_codes(spec.categories[name], _static(panel, name)) for name in spec.static_cat], axis=1)
        static_cat = torch.as_tensor(codes, device=device)
    if spec.ids:
        ids = torch.as_tensor(_codes(spec.ids, panel.ids), device=device)
    return WindowData(
        offsets=offsets, lengths=lengths, pad=pad, ext=ext,
        values=torch.from_numpy(values).to(device),
        observed=torch.from_numpy(obs).to(device),
        covs=torch.from_numpy(covs).to(device) if covs is not None else None,
        bounds=torch.from_numpy(offsets).to(device),
        static_num=static_num, static_cat=static_cat, ids=ids,
        known_ahead=spec.known_ahead, mask=spec.mask, scaler=scaler,
        calendar=torch.from_numpy(calendar).to(device) if calendar is not None else None,
        calendar_shift=torch.from_numpy(shift).to(device) if shift is not None else None,
    )


def _calendar(panel: Panel, names: tuple[str, ...], offsets: np.ndarray, pad: int,
              per: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The calendar table and every series' shift into it (see WindowData.calendar). With a
    fixed step and series whose starts lie on one common grid, a row per grid step from the
    earliest layout point to the latest; else (months, series off each other's grid, or a grid
    longer than the layout) a row per layout point."""
    n, T = panel.n_series, int(offsets[-1])
    step = panel.freq.fixed_nanos()
    if step is not None and n:
        base = int(panel.start.min()) - pad * step  # the time of the earliest layout point
        rel = panel.start.astype(np.int64) - base
        if not (rel % step).any():
            # layout point p of series i (grid step k = p - offsets[i] - pad) is row rel_i / step + k
            shift = rel // step - pad - offsets[:-1]
            rows = int((shift + offsets[1:]).max())
            if rows <= T:
                stamps = time_at(panel.freq, np.full(rows, base, dtype=np.int64), np.arange(rows, dtype=np.int64))
                return calendar_values(names, stamps), shift.astype(np.int64)
    series = np.repeat(np.arange(n, dtype=np.int64), per)
    k = np.arange(T, dtype=np.int64) - offsets[series] - pad  # grid step of every layout point
    return calendar_values(names, _stamps(panel, series, k)), np.zeros(n, dtype=np.int64)


def _codes(vocabulary, values: np.ndarray) -> np.ndarray:
    """Embedding index of every value: 1 + its place in the vocabulary, 0 for one never seen."""
    return pd.Index(list(vocabulary)).get_indexer(np.asarray(values).astype(str)).astype(np.int64) + 1


def _static(panel: Panel, name: str) -> np.ndarray:
    if name not in panel.static:
        raise DataError(f"the data has no static covariate column '{name}', which the model was trained with")
    return panel.static[name]


def _stamps(panel: Panel, series: np.ndarray, k: np.ndarray) -> pd.DatetimeIndex:
    """Local timestamps of grid step k of the given series (k may be negative or past the end)."""
    freq = panel.freq
    if freq.fixed_nanos() is not None:
        return time_at(freq, panel.start[series], k)
    # Calendar steps (months, business days): one date_range per series.
    parts = []
    bounds = np.flatnonzero(np.r_[True, series[1:] != series[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        first = time_at(freq, panel.start[series[a]], k[a])[0]
        parts.append(pd.date_range(first, periods=b - a, freq=freq.offset))
    return parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]


def plain(values: np.ndarray, offsets: np.ndarray, scaler: str, device="cpu") -> WindowData:
    """The layout of bare series (no covariates, mask or padding): values [T], offsets [n + 1]."""
    lengths = np.diff(offsets).astype(np.int64)
    return WindowData(
        offsets=np.asarray(offsets, dtype=np.int64), lengths=lengths, pad=0, ext=0,
        values=torch.as_tensor(values, dtype=torch.float32, device=device),
        observed=torch.ones(len(values), dtype=torch.float32, device=device),
        covs=None, bounds=torch.as_tensor(np.asarray(offsets, dtype=np.int64), device=device),
        static_num=None, static_cat=None, ids=None, known_ahead=[], mask=False, scaler=scaler,
    )
