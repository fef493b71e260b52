"""The layout every window reads from.

Every series sits at ``offsets[i]`` as ``pad`` padding points, its ``n_i`` points and, for
forecasting, ``ext`` points of the forecast horizon. A window starting at layout index ``s``
reads its input from ``[s, s + L)`` and its horizon from ``[s + L, s + L + H)`` of every
per-point array, so a batch is still one gather.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from grucast.data.panel import Panel
from grucast.errors import DataError
from grucast.features import scaling
from grucast.features.calendar import calendar_table
from grucast.features.spec import FeatureSpec, category_codes, static_column
from grucast.features.windows import gather, ranges


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
    spread: Optional[torch.Tensor] = None  # [n] float32: the series' scale, for scaler 'last'

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
        s = torch.searchsorted(self.bounds, starts, right=True) - 1  # the series of every window
        if self.scaler == "last":
            loc, scale = scaling.last(x, self.spread[s], m)
        else:
            loc, scale = scaling.fit(x, self.scaler, m)
        inputs: dict[str, torch.Tensor] = {"x": scaling.apply(x, loc, scale)}
        if m is not None:
            inputs["x"] = inputs["x"] * m  # unobserved inputs sit at the window's level
            inputs["mask"] = m
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


def build(panel: Panel, spec: FeatureSpec, scaler: Optional[str], device, ext: int = 0,
          future: Optional[np.ndarray] = None) -> WindowData:
    """The layout of a panel (with ext horizon points per series and their future block for
    forecasting) as tensors on device; scaler None (a config not resolved) is standard."""
    scaler = scaler or "standard"
    n, pad = panel.n_series, spec.pad
    lengths = panel.lengths.astype(np.int64)
    offsets = layout_offsets(lengths, pad, ext)
    per = np.diff(offsets)
    T = int(offsets[-1])
    dest = ranges(offsets[:-1] + pad, lengths)  # layout index of every panel point
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
            tail = ranges(offsets[:-1] + pad + lengths, np.full(n, ext))
            f = future if future is not None else np.zeros((n, ext, len(spec.future)), dtype=np.float32)
            for j, name in enumerate(spec.future):
                covs[tail, len(spec.past) + j] = ((f[:, :, j] - spec.loc[name]) / spec.scale[name]).ravel()
    if spec.calendar:
        calendar, shift = calendar_table(panel, spec.calendar, offsets, pad, per)
    static_num = static_cat = ids = None
    if spec.static_num:
        cols = []
        for name in spec.static_num:
            v = static_column(panel, name)
            try:
                v = v.astype(np.float64)
            except (TypeError, ValueError):
                raise DataError(f"static covariate '{name}' holds text, but the model was trained on numbers") from None
            cols.append((v - spec.loc[name]) / spec.scale[name])
        static_num = torch.as_tensor(np.stack(cols, axis=1), dtype=torch.float32, device=device)
    if spec.static_cat:
        codes = np.stack([category_codes(spec.categories[name], static_column(panel, name)) for name in spec.static_cat], axis=1)
        static_cat = torch.as_tensor(codes, device=device)
    if spec.ids:
        ids = torch.as_tensor(category_codes(spec.ids, panel.ids), device=device)
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
        spread=_spread(panel.values, observed, panel.offsets, scaler, device, spec.series_scale, panel.ids),
    )


def rescaled(data: WindowData, panel: Panel, spec: FeatureSpec, scaler: str) -> WindowData:
    """The layout of the same panel with another scaler (spec holding its series scales): the
    per-point arrays are shared, not built again."""
    observed = panel.observed if panel.observed is not None else np.ones(len(panel.values), dtype=bool)
    return dataclasses.replace(data, scaler=scaler, spread=_spread(
        panel.values, observed, panel.offsets, scaler, data.values.device, spec.series_scale, panel.ids))


def _spread(values: np.ndarray, observed: np.ndarray, offsets: np.ndarray, scaler: str, device,
            stored: Optional[dict[str, float]] = None, ids: Optional[np.ndarray] = None) -> Optional[torch.Tensor]:
    """Scaler 'last': every series' scale, the one stored for its id in training, else (a series
    the model has not seen, or no ids) its spread over all of its points here; None for the
    other scalers."""
    if scaler != "last":
        return None
    offsets = np.asarray(offsets, dtype=np.int64)
    own = scaling.series_spread(np.asarray(values), observed, offsets, np.diff(offsets))
    if stored and ids is not None:
        known = np.array([stored.get(str(i), np.nan) for i in ids], dtype=np.float64)
        own = np.where(np.isnan(known), own, known)
    return torch.as_tensor(own, dtype=torch.float32, device=device)


def plain(values: np.ndarray, offsets: np.ndarray, scaler: Optional[str], device="cpu") -> WindowData:
    """The layout of bare series (no covariates, mask or padding): values [T], offsets [n + 1];
    scaler None is standard."""
    scaler = scaler or "standard"
    lengths = np.diff(offsets).astype(np.int64)
    spread = _spread(values, np.ones(len(values), dtype=bool), offsets, scaler, device)
    return WindowData(
        offsets=np.asarray(offsets, dtype=np.int64), lengths=lengths, pad=0, ext=0,
        values=torch.as_tensor(values, dtype=torch.float32, device=device),
        observed=torch.ones(len(values), dtype=torch.float32, device=device),
        covs=None, bounds=torch.as_tensor(np.asarray(offsets, dtype=np.int64), device=device),
        static_num=None, static_cat=None, ids=None, known_ahead=[], mask=False, scaler=scaler, spread=spread,
    )
