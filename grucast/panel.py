"""The Panel: every series on a regular time grid, stored as one contiguous float32 array.

Series ``i`` occupies ``values[offsets[i]:offsets[i + 1]]``; its first point is at ``start[i]``
and point ``k`` at ``start[i] + k * freq``. Gaps in the grid are filled by a stated policy and
counted. Windows (windows.py) are index arithmetic over this one array.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from grucast.errors import DataError
from grucast.io import COV, STATIC, Table

_DAY = pd.Timedelta("1D")


def _span(off) -> Optional[pd.Timedelta]:
    """The fixed length of an offset (hours, minutes, days), or None for calendar steps such as
    months. pandas 3.0 no longer converts a Day offset with pd.Timedelta(), so days are counted."""
    if off.__class__.__name__ == "Day":
        return off.n * _DAY
    try:
        return pd.Timedelta(off)
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Freq:
    """The spacing of the grid: a pandas frequency for datetimes, an integer step otherwise."""

    kind: str  # datetime | int
    name: Optional[str] = None  # pandas frequency string, datetimes only
    step: int = 1  # integer steps only
    tz: Optional[str] = None  # time zone of datetimes, kept in the output

    @property
    def offset(self):
        return to_offset(self.name)

    def fixed_nanos(self) -> Optional[int]:
        """The step in nanoseconds when it never varies (hours, minutes; days and weeks without a
        time zone); None for calendar steps such as months."""
        off = self.offset
        if off.__class__.__name__ in ("Hour", "Minute", "Second", "Milli", "Micro", "Nano"):
            return int(_span(off).value)
        if self.tz is None:
            if off.__class__.__name__ == "Day":
                return int(_span(off).value)
            if off.__class__.__name__ == "Week" and getattr(off, "weekday", None) is not None:
                return int(off.n * 7 * _DAY.value)
        return None

    def intraday(self) -> bool:
        """Steps shorter than a day, or integer steps (which may be anything)."""
        if self.kind == "int":
            return True
        td = _span(self.offset)
        return td is not None and td < _DAY

    def season(self) -> Optional[int]:
        """The natural seasonal period, or None when the data does not say (integer steps)."""
        if self.kind == "int":
            return None
        off = self.offset
        td = _span(off)
        if td is not None:
            if td < pd.Timedelta("10min"):
                hour = pd.Timedelta("1h")
                return int(hour / td) if hour % td == pd.Timedelta(0) else 1
            if td < _DAY:
                return int(_DAY / td) if _DAY % td == pd.Timedelta(0) else 1
            if td == _DAY:
                return 7
            return 52 if td == 7 * _DAY else 1
        code = off.rule_code.split("-")[0]
        per_year = None
        if code.startswith("W"):
            per_year = 52
        elif code in ("B", "C"):
            return 5 if off.n == 1 else 1
        elif code in ("SM", "SMS", "SME"):
            per_year = 24
        elif code in ("M", "MS", "ME", "BM", "BMS", "BME"):
            per_year = 12
        elif code.startswith("Q") or code.startswith("BQ"):
            per_year = 4
        if per_year and per_year % off.n == 0:
            return per_year // off.n
        return 1

    def default_horizon(self, season: Optional[int]) -> Optional[int]:
        """One day ahead for intraday data, M4's horizons for the rest; one season for integers."""
        if self.kind == "int":
            return season if season and season > 1 else None
        td = _span(self.offset)
        if td is not None and td < _DAY:
            return season
        if td == _DAY:
            return 14
        code = self.offset.rule_code.split("-")[0]
        if code in ("B", "C"):
            return 10
        if code.startswith("W") or td == 7 * _DAY:
            return 13
        if season == 12:
            return 18
        if season == 4:
            return 8
        return 6

    def describe(self) -> str:
        if self.kind == "int":
            return f"integer steps of {self.step}"
        return f"'{self.name}'" + (f" ({self.tz})" if self.tz else "")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "step": self.step, "tz": self.tz}

    @classmethod
    def from_dict(cls, d: dict) -> "Freq":
        return cls(kind=d["kind"], name=d.get("name"), step=int(d.get("step", 1)), tz=d.get("tz"))


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


def time_text(freq: Freq, start: int, k: int) -> str:
    """The time of grid point k of a series starting at start, as text for messages."""
    when = time_at(freq, np.asarray([start]), np.asarray([k]))
    return str(int(when[0])) if freq.kind == "int" else when[0].isoformat(sep=" ")


def time_at(freq: Freq, start: np.ndarray, k: np.ndarray):
    """The time of grid point k of a series starting at start (arrays broadcast together):
    an int64 array for integer steps, a flat DatetimeIndex otherwise."""
    start, k = np.broadcast_arrays(np.asarray(start, dtype=np.int64), np.asarray(k, dtype=np.int64))
    if freq.kind == "int":
        return start + k * freq.step
    nanos = freq.fixed_nanos()
    if nanos is not None:
        out = pd.DatetimeIndex((start + k * nanos).ravel()).as_unit("ns")
        return out.tz_localize("UTC").tz_convert(freq.tz) if freq.tz else out
    off = freq.offset
    stamps = []
    for s, j in zip(start.ravel(), k.ravel()):
        base = pd.Timestamp(int(s), tz="UTC").tz_convert(freq.tz) if freq.tz else pd.Timestamp(int(s))
        stamps.append(base + int(j) * off)
    return pd.DatetimeIndex(stamps)


# ---------------------------------------------------------------- building


def build_panel(table: Table, fill: Optional[str], freq: Optional[Freq] = None) -> Panel:
    """Place every series of a tidy table on its grid; infer the frequency unless given. With
    fill None the missing points stay NaN for a later Panel.fill."""
    f = table.frame
    cov_cols = [c for c in f.columns if c.startswith(COV)]
    static_cols = [c for c in f.columns if c.startswith(STATIC)]
    codes, uniques = pd.factorize(f["series_id"], sort=False)
    y = f["y"].to_numpy(dtype=np.float64)
    time = f["time"]
    tz = None
    if table.schema.time_kind == "datetime":
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
    else:
        t = time.to_numpy(dtype=np.int64)
    lines = f["line"].to_numpy()
    cov = f[cov_cols].to_numpy(dtype=np.float64) if cov_cols else np.zeros((len(f), 0))

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

    # Trim empty values at both ends of every series: a series starts and ends observed.
    valid = ~np.isnan(y)
    n_all = len(uniques)
    has = np.bincount(codes[valid], minlength=n_all) > 0
    dropped = [str(uniques[i]) for i in np.flatnonzero(~has)]
    if not has.any():
        raise DataError(f"{table.path.name} has no numeric values in its target column(s)")
    big = np.iinfo(np.int64).max
    first = np.full(n_all, big, dtype=np.int64)
    last = np.full(n_all, -big, dtype=np.int64)
    np.minimum.at(first, codes[valid], t[valid])
    np.maximum.at(last, codes[valid], t[valid])
    keep = has[codes] & (t >= first[codes]) & (t <= last[codes])
    # Rows after the last observed target carry covariates known ahead (the future block).
    later = has[codes] & (t > last[codes]) if cov_cols else np.zeros(len(t), dtype=bool)
    remap = np.cumsum(has) - 1
    ids = np.asarray(uniques, dtype=object)[has]
    n = len(ids)
    rows = np.flatnonzero(keep | later)
    statics = _statics(f, static_cols, codes[rows], order[rows] if order is not None else rows, remap, ids, n)
    a_codes, a_t, a_lines, a_cov = remap[codes[later]], t[later], lines[later], cov[later]
    if not keep.all():
        codes, y, t, lines, cov = codes[keep], y[keep], t[keep], lines[keep], cov[keep]
    codes = remap[codes]

    if freq is None:
        freq = _infer_freq(codes, t, table.schema.time_kind, tz, ids)
    else:
        # New data for a trained model: it must have the model's frequency.
        try:
            found = _infer_freq(codes, t, table.schema.time_kind, tz, ids)
        except DataError:
            found = None  # single points: nothing to compare
        if found is not None and not _same_freq(found, freq):
            raise DataError(
                f"{table.path.name} has {found.describe()} between timestamps, but the model was trained "
                f"on {freq.describe()}"
            )
        if freq.kind == "datetime" and tz != freq.tz:
            freq = Freq(freq.kind, freq.name, freq.step, tz)

    starts = np.empty(n, dtype=np.int64)
    first_row = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    starts[codes[first_row]] = t[first_row]
    pos = _positions(codes, t, starts, freq, ids, lines)
    lengths = np.zeros(n, dtype=np.int64)
    np.maximum.at(lengths, codes, pos + 1)
    _check_grid(lengths, len(codes), starts, freq, ids, table)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.full(int(offsets[-1]), np.nan, dtype=np.float32)
    values[offsets[codes] + pos] = y
    panel = Panel(ids=ids, values=values, offsets=offsets, start=starts, freq=freq,
                  n_empty=int(np.isnan(y).sum()), dropped=dropped, static=statics)
    panel.observed = ~np.isnan(values)
    if cov_cols:
        panel.cov_names = tuple(c[len(COV):] for c in cov_cols)
        panel.covs = np.full((len(values), len(cov_cols)), np.nan, dtype=np.float32)
        panel.covs[offsets[codes] + pos] = cov
        a_pos = _positions(a_codes, a_t, starts, freq, ids, a_lines) if len(a_t) else np.zeros(0, dtype=np.int64)
        panel.after = (a_codes, a_pos, a_cov.astype(np.float32))
    if fill is not None:
        panel.fill(fill)
    return panel


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


def _infer_freq(codes: np.ndarray, t: np.ndarray, kind: str, tz: Optional[str], ids: np.ndarray) -> Freq:
    same = codes[1:] == codes[:-1]
    diffs = (t[1:] - t[:-1])[same]
    diffs = diffs[diffs > 0]
    if len(diffs) == 0:
        raise DataError("cannot infer the frequency: every series has a single timestamp")
    vals, counts = np.unique(diffs, return_counts=True)
    mode = int(vals[np.argmax(counts)])
    if kind == "int":
        return Freq("int", step=mode)
    # pandas names calendar frequencies (months, quarters, business days) from a gap-free run;
    # try the longest series, then fall back to the most common spacing.
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
    sizes = np.diff(bounds)
    names: dict[str, int] = {}
    for i in np.argsort(-sizes)[:20]:
        if sizes[i] < 3:
            break
        idx = pd.DatetimeIndex(t[bounds[i]:bounds[i + 1]])
        if tz is not None:
            idx = idx.tz_localize("UTC").tz_convert(tz)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                name = pd.infer_freq(idx)
            except (TypeError, ValueError):
                name = None
        if name:
            names[name] = names.get(name, 0) + 1
    if names:
        name = _canonical(max(names, key=names.get))
    elif mode >= 28 * _DAY.value and (fit := _calendar_fit(t[bounds[np.argmax(sizes)]:bounds[np.argmax(sizes) + 1]], tz)):
        name = fit
    elif mode % _DAY.value == 0:
        days = mode // _DAY.value  # gaps hid the name: call whole days days, not 24h
        name = "D" if days == 1 else ("W" if days == 7 else f"{days}D")
    else:
        name = to_offset(pd.Timedelta(mode)).freqstr
    return Freq("datetime", name=name, tz=tz)


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _canonical(name: str) -> str:
    """One name per quarterly grid: QS-OCT and QS-JAN start the same quarters, and pandas
    versions disagree on which they infer: quarter starts are named by the year's first
    quarter (QS-JAN), quarter ends by its last (QE-DEC)."""
    head, _, month = name.partition("-")
    if head.lstrip("B").startswith("Q") and month in _MONTHS:
        first = _MONTHS.index(month) % 3
        return f"{head}-{_MONTHS[first if 'S' in head else 9 + first]}"
    return name


def _same_freq(a: Freq, b: Freq) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == "int":
        return a.step == b.step
    a, b = Freq(a.kind, _canonical(a.name)), Freq(b.kind, _canonical(b.name))  # the spacing, not the zone
    na, nb = a.fixed_nanos(), b.fixed_nanos()
    if na is not None and nb is not None:
        return na == nb
    return a.offset == b.offset


def _calendar_fit(t: np.ndarray, tz: Optional[str]) -> Optional[str]:
    """The calendar frequency (months, quarters, years) whose grid holds every stamp of a
    series that has gaps, which pandas cannot name on its own."""
    stamps = pd.DatetimeIndex(t)
    if tz is not None:
        stamps = stamps.tz_localize("UTC").tz_convert(tz)
    for name in ("MS", "ME", "QS-JAN", "QE-DEC", "YS-JAN", "YE-DEC"):
        grid = pd.date_range(stamps[0], stamps[-1], freq=name)
        if len(grid) and grid[0] == stamps[0] and grid.get_indexer(stamps).min() >= 0:
            return name
    return None


def _positions(codes, t, starts, freq: Freq, ids, lines) -> np.ndarray:
    """Grid position of every observation; an observation off the grid is an error."""
    if freq.kind == "int":
        step = freq.step
    else:
        step = freq.fixed_nanos()
    if step is not None:
        delta = t - starts[codes]
        pos, rem = np.divmod(delta, step)
        bad = np.flatnonzero(rem != 0)
        if len(bad):
            _off_grid(bad[0], codes, t, ids, lines, freq)
        return pos
    # Calendar frequencies: build each series' grid.
    pos = np.empty(len(t), dtype=np.int64)
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        stamps = pd.DatetimeIndex(t[a:b])
        if freq.tz is not None:
            stamps = stamps.tz_localize("UTC").tz_convert(freq.tz)
        grid = pd.date_range(stamps[0], stamps[-1], freq=freq.offset)
        p = grid.get_indexer(stamps)
        if (p < 0).any():
            _off_grid(a + int(np.flatnonzero(p < 0)[0]), codes, t, ids, lines, freq)
        pos[a:b] = p
    return pos


def _off_grid(i, codes, t, ids, lines, freq: Freq):
    when = str(t[i]) if freq.kind == "int" else time_at(freq, t[i], 0)[0].isoformat(sep=" ")
    raise DataError(
        f"timestamp {when} of series '{ids[codes[i]]}' (line {lines[i]}) is off the regular grid of "
        f"{freq.describe()}; the file mixes frequencies or has irregular timestamps"
    )


def _fill(values: np.ndarray, offsets: np.ndarray, ids, starts, freq: Freq, fill: str, holdout: int = 0) -> int:
    """Fill NaNs in place by the policy; every series starts and ends observed, so no fill
    reaches across two series."""
    missing = np.isnan(values)
    n = int(missing.sum())
    if n == 0:
        return 0
    idx = np.flatnonzero(missing)
    if fill == "error":
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
    if fill == "interpolate":
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
    elif fill == "ffill":
        values[idx] = values[prev[idx]]
    elif fill == "zero":
        values[idx] = 0.0
    else:  # config validation makes this unreachable
        raise ValueError(f"unknown fill policy {fill!r}")
    return n
