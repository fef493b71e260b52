"""Table -> Panel: every series on a regular time grid, stored as one contiguous float32 array.
Series ``i`` occupies ``values[offsets[i]:offsets[i + 1]]``; its first point is at ``start[i]``
and point ``k`` at ``start[i] + k * freq``. build_panel trims each series to its observed span,
infers (or checks) the frequency, refuses a grid far larger than the data, and places the
covariates and the static values beside the targets; Panel.fill fills the gaps by a stated policy
and counts them. Windows (features.windows) are index arithmetic over this one array.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from grucast.data.freq import Freq, grid_positions, infer_freq, same_freq, time_at, time_text
from grucast.data.schema import COV, STATIC, Table
from grucast.errors import DataError


@dataclass
class Panel:
    """Every series on its regular grid, as one contiguous float32 array with offsets."""

    ids: np.ndarray  # [n] object array of str, in order of first appearance in the file
    values: np.ndarray  # [total] float32, contiguous
    offsets: np.ndarray  # [n + 1] int64
    start: np.ndarray  # [n] int64: first time as UTC nanoseconds, or the first integer step
    freq: Freq
    n_filled: int = 0  # grid points that were missing or empty and got filled
    n_empty: int = 0  # of those, rows present in the file with an empty value
    dropped: list[str] = field(default_factory=list)  # series with no value at all
    observed: Optional[np.ndarray] = None  # [total] bool: the target is in the file (not filled)
    cov_names: tuple[str, ...] = ()  # past and future covariates, the columns of covs
    covs: Optional[np.ndarray] = None  # [total, C] float32 on the grid; NaN until filled
    # Rows after each series' last observed target (the future block of known covariates):
    # series index, grid position (>= the series' length) and covariates [m, C].
    after: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None
    static: dict[str, np.ndarray] = field(default_factory=dict)  # column -> [n] value per series
    cov_filled: dict[str, int] = field(default_factory=dict)  # covariate column -> points filled

    def fill(self, policy: str, holdout: int = 0) -> None:
        """Fill the missing points in place by the policy and count them. Interpolation never
        reads the last `holdout` points of a series into the part before them: a gap that ends
        inside the held-out part is filled forward from the past instead. Covariate gaps are
        filled forward (backward before a series' first value)."""
        if self.observed is None:
            self.observed = ~np.isnan(self.values)
        self.n_filled = _fill(self.values, self.offsets, self.ids, self.start, self.freq, policy, holdout)
        if self.covs is not None:
            self.cov_filled = _fill_covariates(self.covs, self.cov_names, self.offsets, self.ids, policy)

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def series(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def times_after(self, index: np.ndarray, steps: int) -> pd.Index:
        """Times of the points 1..steps after each listed series' last one, series by series
        (flat, length len(index) * steps): a DatetimeIndex (in the data's time zone) or int64."""
        index = np.asarray(index, dtype=np.int64)
        k = self.lengths[index][:, None] + np.arange(steps, dtype=np.int64)[None, :]
        start = self.start[index][:, None]
        out = time_at(self.freq, start, k)
        return pd.Index(out.ravel()) if self.freq.kind == "int" else out

    def tail(self, keep: int) -> "Panel":
        """The last `keep` points of every series (all of a shorter one). A forecast reads only
        the last input_size points, so predict builds its features over these instead of over
        every series' whole history."""
        cut = np.maximum(self.lengths - keep, 0)
        if not cut.any():
            return self
        return self._take(np.arange(self.n_series), cut, self.lengths - cut)

    def select(self, index: np.ndarray) -> "Panel":
        """The listed series only, in that order (predict --shard)."""
        index = np.asarray(index, dtype=np.int64)
        return self._take(index, np.zeros(len(index), dtype=np.int64), self.lengths[index])

    def _take(self, index: np.ndarray, skip: np.ndarray, count: np.ndarray) -> "Panel":
        """Series index[i] from its point skip[i] on, count[i] points, with everything that hangs
        on the points (observed mask, covariates, the rows after each series, the first time)
        and on the series (ids, static values)."""
        offsets = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
        points = np.repeat(self.offsets[index] + skip - offsets[:-1], count) + np.arange(offsets[-1], dtype=np.int64)
        if self.freq.kind == "int":
            start = self.start[index] + skip * self.freq.step
        else:
            first = pd.DatetimeIndex(time_at(self.freq, self.start[index], skip)).as_unit("ns")
            start = (first.tz_convert("UTC") if first.tz is not None else first).asi8.astype(np.int64)
        after = self.after
        if after is not None:
            series, pos, covs = after
            new = np.full(self.n_series, -1, dtype=np.int64)
            new[index] = np.arange(len(index))
            keep = new[series] >= 0
            after = (new[series[keep]], pos[keep] - skip[new[series[keep]]], covs[keep])
        return dataclasses.replace(
            self, ids=self.ids[index], values=self.values[points], offsets=offsets, start=start,
            observed=None if self.observed is None else self.observed[points],
            covs=None if self.covs is None else self.covs[points], after=after,
            static={k: v[index] for k, v in self.static.items()},
        )

    def first_times(self):
        """Time of every series' first point."""
        return time_at(self.freq, self.start, np.zeros(self.n_series, dtype=np.int64))

    def last_times(self, index: Optional[np.ndarray] = None):
        """Time of each listed series' last point (all series when index is None): the origin
        its forecast starts from."""
        index = np.arange(self.n_series) if index is None else np.asarray(index, dtype=np.int64)
        return time_at(self.freq, self.start[index], self.lengths[index] - 1)


def concat(panels: list[Panel]) -> Panel:
    """The series of several panels of one frequency and covariates, one panel after another:
    the shards of one file that several processes read (--shard-data), put back together."""
    first = panels[0]
    offsets = np.concatenate([[0], np.cumsum(np.concatenate([p.lengths for p in panels]))]).astype(np.int64)
    after = None
    if any(p.after is not None for p in panels):
        shift = np.cumsum([0] + [p.n_series for p in panels[:-1]])
        pieces = [(p.after[0] + k, p.after[1], p.after[2]) for p, k in zip(panels, shift) if p.after is not None]
        after = tuple(np.concatenate([piece[i] for piece in pieces]) for i in range(3))
    observed = None
    if any(p.observed is not None for p in panels):
        observed = np.concatenate([p.observed if p.observed is not None else np.ones(len(p.values), dtype=bool)
                                   for p in panels])
    return Panel(
        ids=np.concatenate([p.ids for p in panels]), values=np.concatenate([p.values for p in panels]),
        offsets=offsets, start=np.concatenate([p.start for p in panels]), freq=first.freq,
        n_filled=sum(p.n_filled for p in panels), n_empty=sum(p.n_empty for p in panels),
        dropped=[d for p in panels for d in p.dropped], observed=observed, cov_names=first.cov_names,
        covs=None if first.covs is None else np.concatenate([p.covs for p in panels]), after=after,
        static={k: np.concatenate([p.static[k] for p in panels]) for k in first.static},
    )


# ---------------------------------------------------------------- building


def build_panel(table: Table, fill: Optional[str], freq: Optional[Freq] = None) -> Panel:
    """Place every series of a tidy table on its grid; infer the frequency unless given. With
    fill None the missing points stay NaN for a later Panel.fill."""
    frame = table.frame
    cov_cols = [c for c in frame.columns if c.startswith(COV)]
    static_cols = [c for c in frame.columns if c.startswith(STATIC)]
    codes, uniques = pd.factorize(frame["series_id"], sort=False)
    y = frame["y"].to_numpy(dtype=np.float64)
    t, tz = _time_values(frame["time"], table)
    lines = frame["line"].to_numpy()
    cov = frame[cov_cols].to_numpy(dtype=np.float64) if cov_cols else np.zeros((len(frame), 0))

    # Files usually come sorted by series and time: then there is nothing to reorder (10 M rows:
    # five 80 MB copies fewer). Otherwise one array at a time, so the old one goes first.
    ordered = bool(np.all(codes[1:] >= codes[:-1]) and np.all((codes[1:] != codes[:-1]) | (t[1:] >= t[:-1])))
    order = None if ordered else np.lexsort((t, codes))
    if order is not None:
        codes = codes[order]
        y = y[order]
        t = t[order]
        lines = lines[order]
        cov = cov[order]

    has, keep, later = _observed_span(codes, y, t, len(uniques), bool(cov_cols), table)
    dropped = [str(uniques[i]) for i in np.flatnonzero(~has)]
    remap = np.cumsum(has) - 1  # code among all series -> index among those kept
    ids = np.asarray(uniques, dtype=object)[has]
    n = len(ids)
    rows = np.flatnonzero(keep | later)
    statics = _statics(frame, static_cols, codes[rows], order[rows] if order is not None else rows, remap, ids, n)
    after = (remap[codes[later]], t[later], lines[later], cov[later])
    if not keep.all():
        codes, y, t, lines, cov = codes[keep], y[keep], t[keep], lines[keep], cov[keep]
    codes = remap[codes]

    freq = _panel_freq(codes, t, tz, ids, freq, table)
    starts, pos, offsets = _grid(codes, t, freq, ids, lines, table)
    values = np.full(int(offsets[-1]), np.nan, dtype=np.float32)
    values[offsets[codes] + pos] = y
    panel = Panel(ids=ids, values=values, offsets=offsets, start=starts, freq=freq,
                  n_empty=int(np.isnan(y).sum()), dropped=dropped, static=statics)
    panel.observed = ~np.isnan(values)
    if cov_cols:
        _place_covariates(panel, cov_cols, cov, offsets[codes] + pos, after)
    if fill is not None:
        panel.fill(fill)
    return panel


def _time_values(time: pd.Series, table: Table) -> tuple[np.ndarray, Optional[str]]:
    """The time column as int64 (UTC nanoseconds, or the integer steps) and the time zone of
    datetimes; timestamps no int64 grid can hold are refused."""
    if table.schema.time_kind != "datetime":
        return time.to_numpy(dtype=np.int64), None
    tz = None
    dt = pd.DatetimeIndex(time)
    if dt.tz is not None:
        tz = str(dt.tz)
        dt = dt.tz_convert("UTC").tz_localize(None)
    try:
        t = dt.as_unit("ns").asi8
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise DataError(
            f"timestamps of {table.path.name} reach outside the years 1677-2262, which grucast cannot "
            "place on a grid; use integer steps instead"
        ) from None
    if len(t) and float(t.max()) - float(t.min()) >= 2.0 ** 63:  # differences would overflow int64
        raise DataError(
            f"timestamps of {table.path.name} span more than 292 years ({dt.min()} to {dt.max()}), which "
            "grucast cannot place on one grid; look for a mistyped year"
        )
    return t, tz


def _observed_span(codes: np.ndarray, y: np.ndarray, t: np.ndarray, n_all: int, future: bool,
                   table: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(has, keep, later) for rows sorted by series and time: which series have a value at all,
    the rows from each series' first to its last observed target (empty values at both ends
    are trimmed: a series starts and ends observed) and, with covariates (future), the rows
    after the last one, which carry covariates known ahead (the future block)."""
    valid = ~np.isnan(y)
    has = np.bincount(codes[valid], minlength=n_all) > 0
    if not has.any():
        raise DataError(f"{table.path.name} has no numeric values in its target column(s)")
    big = np.iinfo(np.int64).max
    first = np.full(n_all, big, dtype=np.int64)
    last = np.full(n_all, -big, dtype=np.int64)
    np.minimum.at(first, codes[valid], t[valid])
    np.maximum.at(last, codes[valid], t[valid])
    keep = has[codes] & (t >= first[codes]) & (t <= last[codes])
    later = has[codes] & (t > last[codes]) if future else np.zeros(len(t), dtype=bool)
    return has, keep, later


def _panel_freq(codes: np.ndarray, t: np.ndarray, tz: Optional[str], ids: np.ndarray, freq: Optional[Freq],
                table: Table) -> Freq:
    """The frequency inferred from the data, or the given one (a trained model's), which the
    data must have; the data's time zone is kept."""
    kind = table.schema.time_kind
    if freq is None:
        return infer_freq(codes, t, kind, tz, ids)
    # New data for a trained model: it must have the model's frequency.
    try:
        found = infer_freq(codes, t, kind, tz, ids)
    except DataError:
        found = None  # single points: nothing to compare
    if found is not None and not same_freq(found, freq):
        raise DataError(
            f"{table.path.name} has {found.describe()} between timestamps, but the model was trained "
            f"on {freq.describe()}"
        )
    if freq.kind == "datetime" and tz != freq.tz:
        freq = Freq(freq.kind, freq.name, freq.step, tz)
    return freq


def _grid(codes: np.ndarray, t: np.ndarray, freq: Freq, ids: np.ndarray, lines: np.ndarray,
          table: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, pos, offsets): every series' first time, every row's point on its series' grid
    and the series' bounds in the panel's one array, checked for size before it is allocated."""
    n = len(ids)
    starts = np.empty(n, dtype=np.int64)
    first_row = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    starts[codes[first_row]] = t[first_row]
    pos = grid_positions(codes, t, starts, freq, ids, lines)
    lengths = np.zeros(n, dtype=np.int64)
    np.maximum.at(lengths, codes, pos + 1)
    _check_grid(lengths, len(codes), starts, freq, ids, table)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return starts, pos, offsets


def _place_covariates(panel: Panel, cov_cols: list[str], cov: np.ndarray, points: np.ndarray,
                      after: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Past and future covariates onto the panel's grid (cov row i at point points[i]), and the
    rows after each series' last target (series index, time, line, covariates) as panel.after."""
    panel.cov_names = tuple(c[len(COV):] for c in cov_cols)
    panel.covs = np.full((len(panel.values), len(cov_cols)), np.nan, dtype=np.float32)
    panel.covs[points] = cov
    series, t, lines, covs = after
    pos = np.zeros(0, dtype=np.int64)
    if len(t):
        pos = grid_positions(series, t, panel.start, panel.freq, panel.ids, lines)
    panel.after = (series, pos, covs.astype(np.float32))


MAX_POINTS = 500_000_000  # grid points of all series: about 10 GB once features and windows are laid out


_SPARSE = 50  # grid points per row beyond which (and beyond 10 million) the grid is a mistake


def _check_grid(lengths: np.ndarray, rows: int, starts: np.ndarray, freq: Freq, ids, table: Table) -> None:
    """Refuse a grid far larger than the data before it is allocated: a date with a mistyped
    year, or stamps a nanosecond apart, would ask for billions of points to fill."""
    total = int(lengths.astype(np.float64).sum())  # no int64 overflow on absurd spans
    if total <= 10_000_000 or (total <= _SPARSE * rows and total <= MAX_POINTS):
        return
    i = int(np.argmax(lengths))
    first, last = time_text(freq, starts[i], 0), time_text(freq, starts[i], int(lengths[i]) - 1)
    raise DataError(
        f"the series of {table.path.name} would need {total:,} points on a grid of {freq.describe()} for {rows:,} "
        f"rows (series '{ids[i]}' alone spans {first} to {last}); look for a mistyped timestamp, or "
        "aggregate the data to a coarser frequency"
    )


def _statics(f: pd.DataFrame, cols: list[str], codes: np.ndarray, rows: np.ndarray, remap: np.ndarray,
             ids: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """One value per series for every static covariate; a series whose value changes, or that
    has none, is an error naming it."""
    out: dict[str, np.ndarray] = {}
    for col in cols:
        name = col[len(STATIC):]
        v = f[col].to_numpy()[rows]
        frame = pd.DataFrame({"s": remap[codes], "v": v})
        counts = frame.groupby("s")["v"].nunique(dropna=True).reindex(range(n), fill_value=0).to_numpy()
        bad = np.flatnonzero(counts > 1)
        if len(bad):
            vals = frame.loc[frame["s"] == bad[0], "v"].dropna().unique()[:3]
            raise DataError(
                f"static covariate '{name}' changes within series '{ids[bad[0]]}' ({', '.join(map(str, vals))}); "
                "a static covariate must be constant per series (a changing one is a past or future covariate)"
            )
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            raise DataError(f"static covariate '{name}' has no value for series '{ids[empty[0]]}'")
        firsts = frame.dropna(subset=["v"]).groupby("s")["v"].first().reindex(range(n))
        numeric = pd.api.types.is_float_dtype(f[col])
        out[name] = firsts.to_numpy(dtype=np.float64) if numeric else firsts.astype(str).to_numpy(dtype=object)
    return out


def _fill_covariates(covs: np.ndarray, names: tuple[str, ...], offsets: np.ndarray, ids, policy: str) -> dict[str, int]:
    """Fill covariate gaps in place: forward within a series, then backward for its first
    points. A series without any value of a covariate is an error."""
    if not np.isnan(covs).any():
        return {}
    n = len(offsets) - 1
    series = np.repeat(np.arange(n), np.diff(offsets))
    filled: dict[str, int] = {}
    for j, name in enumerate(names):
        col = covs[:, j]
        missing = np.isnan(col)
        if not missing.any():
            continue
        has = np.bincount(series[~missing], minlength=n) > 0
        if not has.all():
            raise DataError(f"covariate '{name}' has no value in series '{ids[np.flatnonzero(~has)[0]]}'")
        if policy == "error":
            i = int(np.flatnonzero(missing)[0])
            raise DataError(
                f"covariate '{name}' is empty in series '{ids[series[i]]}' ({int(missing.sum())} empty value(s) in all); "
                "pass --fill interpolate, ffill or zero to fill gaps"
            )
        s = pd.Series(col).groupby(series)
        covs[:, j] = s.ffill().groupby(series).bfill().to_numpy(dtype=np.float32)
        filled[name] = int(missing.sum())
    return filled


def _fill(values: np.ndarray, offsets: np.ndarray, ids, starts, freq: Freq, policy: str, holdout: int = 0) -> int:
    """Fill NaNs in place by the policy; every series starts and ends observed, so no fill
    reaches across two series."""
    missing = np.isnan(values)
    n = int(missing.sum())
    if n == 0:
        return 0
    idx = np.flatnonzero(missing)
    if policy == "error":
        i = int(idx[0])
        s = int(np.searchsorted(offsets, i, side="right") - 1)
        k = i - int(offsets[s])
        when = time_text(freq, starts[s], k)
        raise DataError(
            f"series '{ids[s]}' has a gap at {when} ({n} missing point(s) in all); "
            "pass --fill interpolate, ffill or zero to fill gaps"
        )
    everywhere = np.arange(len(values))
    prev = np.where(missing, 0, everywhere)
    np.maximum.accumulate(prev, out=prev)  # last observed point at or before each index
    if policy == "interpolate":
        nxt = np.where(missing, len(values), everywhere)
        nxt = np.minimum.accumulate(nxt[::-1])[::-1]  # next observed point at or after
        p, q = prev[idx], nxt[idx]
        w = (idx - p) / (q - p)
        filled = values[p] + w * (values[q] - values[p])
        if holdout > 0:
            boundary = offsets[1:][np.searchsorted(offsets, idx, side="right") - 1] - holdout
            crosses = (idx < boundary) & (q >= boundary)
            filled = np.where(crosses, values[p], filled)
        values[idx] = filled
    elif policy == "ffill":
        values[idx] = values[prev[idx]]
    elif policy == "zero":
        values[idx] = 0.0
    else:  # config validation makes this unreachable
        raise ValueError(f"unknown fill policy {policy!r}")
    return n
