"""The spacing of a panel's grid and time arithmetic on it: Freq (a pandas frequency with its time
zone, or an integer step) with its natural season and default horizon; infer_freq (from the
timestamps, naming calendar frequencies such as months even where gaps hide them) and
same_freq; time_at and time_text (the time of grid point k of a series); grid_positions (every
observation's point on its series' grid, a timestamp off the grid refused).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from grucast.errors import DataError

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


def infer_freq(codes: np.ndarray, t: np.ndarray, kind: str, tz: Optional[str], ids: np.ndarray) -> Freq:
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


def same_freq(a: Freq, b: Freq) -> bool:
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


def grid_positions(codes, t, starts, freq: Freq, ids, lines) -> np.ndarray:
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
