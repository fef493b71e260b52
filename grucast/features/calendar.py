"""Calendar features: the cycles a frequency has (hour of day, day of week, ...) as sine/cosine."""

from __future__ import annotations

import numpy as np
import pandas as pd

from grucast.data.freq import Freq, time_at
from grucast.data.panel import Panel

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


def calendar_table(panel: Panel, names: tuple[str, ...], offsets: np.ndarray, pad: int,
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
