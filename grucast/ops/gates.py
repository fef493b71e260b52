"""The gates an unattended run passes: input fresh enough (--max-age), a model better than a
baseline (--fail-if-worse-than); shards are data.shards'. The errors carry the
exit codes of grucast.errors.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np
import pandas as pd

from grucast.errors import ConfigError, QualityGateError, StaleDataError

BASELINES = {"naive": "naive", "seasonal-naive": "seasonal_naive"}


# ---------------------------------------------------------------- staleness


_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600,
          "d": 86400, "day": 86400, "w": 604800, "week": 604800}


def parse_age(text: str) -> pd.Timedelta:
    """A positive duration: number-unit pairs such as 2d, 36h, 90min, 1w or 1d12h (units s, min,
    h, d, w, also spelled out), or anything pandas.Timedelta reads ('1 days 02:00:00', 'P2D');
    at most the 292 years a nanosecond clock spans."""
    import re

    spec = text.strip().lower()
    pairs = re.findall(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)", spec)
    age = None
    try:
        if pairs and re.fullmatch(r"(\s*[0-9]+(?:\.[0-9]+)?\s*[a-z]+)+", spec):
            units = [_UNITS.get(u[:-1] if len(u) > 2 and u.endswith("s") else u) for _, u in pairs]
            if all(units):
                age = pd.Timedelta(seconds=sum(float(n) * u for (n, _), u in zip(pairs, units)))
        if age is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    age = pd.Timedelta(text.strip())
            except (ValueError, TypeError):
                raise ConfigError(f"--max-age takes a duration such as 2d, 36h or 90min, got '{text}'") from None
        if not pd.isna(age):
            age = age.as_unit("ns")
    except (OverflowError, ValueError):  # beyond the nanosecond range (OutOfBoundsTimedelta)
        raise ConfigError(f"--max-age {text} is too long: at most {pd.Timedelta.max.days:,} days") from None
    if pd.isna(age) or age <= pd.Timedelta(0):
        raise ConfigError(f"--max-age must be a positive duration, got '{text}'")
    return age


def parse_as_of(text: Optional[str]) -> Optional[pd.Timestamp]:
    """The --as-of time as written: naive (local time) or with its UTC offset or zone."""
    if text is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            when = pd.Timestamp(text.strip())
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"--as-of takes a date or time such as 2024-06-01 or '2024-06-01 06:00', got '{text}'") from None
    if pd.isna(when):
        raise ConfigError(f"--as-of takes a date or time, got '{text}'")
    try:
        when = when.as_unit("ns")  # the unit of the data's times: a difference cannot overflow
    except (OverflowError, ValueError):
        raise ConfigError(f"--as-of {text} is outside the years {pd.Timestamp.min.year + 1} to "
                          f"{pd.Timestamp.max.year - 1} that grucast handles") from None
    return when


def _aware(t: pd.Timestamp) -> pd.Timestamp:
    """A time as an aware one: a naive time is wall-clock time of this machine's zone (TZ),
    with the UTC offset in force at that time (summer or winter), whatever zone data has."""
    if t.tz is not None:
        return t
    import datetime as dt

    micro = t.floor("us")  # datetime holds microseconds; an age is not measured finer
    naive = dt.datetime(micro.year, micro.month, micro.day, micro.hour, micro.minute, micro.second, micro.microsecond)
    try:
        local = naive.astimezone()
    except (OverflowError, OSError, ValueError):  # beyond what the C library's clock functions take
        local = naive.replace(tzinfo=dt.datetime.now().astimezone().tzinfo)
    return pd.Timestamp(local) + (t - micro)


def _wall(t: pd.Timestamp, like: pd.Timestamp) -> pd.Timestamp:
    """An aware time shown the way like is: in like's zone, or as local wall-clock time when
    like is naive."""
    if like.tz is not None:
        return t.tz_convert(like.tz)
    import datetime as dt

    seconds, rest = divmod(t.value, 10**9)
    try:
        wall = dt.datetime.fromtimestamp(seconds)
    except (OverflowError, OSError, ValueError):  # beyond what the C library's clock functions take
        wall = t.tz_convert(dt.datetime.now().astimezone().tzinfo).tz_localize(None).floor("s").to_pydatetime()
    return pd.Timestamp(wall) + pd.Timedelta(rest, "ns")


def check_fresh(newest: pd.Timestamp, max_age: pd.Timedelta, as_of: Optional[pd.Timestamp], source: str) -> None:
    """StaleDataError when the newest observation is older than max_age at as_of (now when
    None); DataError when it is later than as_of, which is a wrong clock, feed or time zone,
    not fresh data. A naive time, in the data or in --as-of, is local time (this machine's zone)
    throughout, and an aware one is the instant it names: the verdict depends on the instants,
    not on how they are written."""
    from grucast.errors import DataError

    given = as_of is not None
    now = _aware(as_of) if given else pd.Timestamp.now(tz="UTC")
    age = now - _aware(newest)
    when = _wall(now, newest)
    local = " local time" if newest.tz is None else ""
    measured = f"--as-of {when.isoformat(sep=' ', timespec='seconds')}{local}" if given else (
        f"now ({when.isoformat(sep=' ', timespec='seconds')}{local})")
    if age < pd.Timedelta(0):
        raise DataError(
            f"the newest observation in {source} ({newest.isoformat(sep=' ')}) is {_duration(-age)} after {measured}: "
            "data from the future; check the time zone of the time column"
            + (" and of --as-of" if given else " and this machine's clock (TZ)") + "; nothing was written"
        )
    if age > max_age:
        raise StaleDataError(
            f"stale input: the newest observation in {source} is {newest.isoformat(sep=' ')}, {_duration(age)} before "
            f"{when.isoformat(sep=' ', timespec='seconds')}, and --max-age allows {_duration(max_age)}; nothing was written"
        )


def _duration(d: pd.Timedelta) -> str:
    seconds = d.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


# ---------------------------------------------------------------- quality gate


def check_baseline(name: Optional[str]) -> None:
    if name is not None and name not in BASELINES:
        raise ConfigError(f"--fail-if-worse-than takes {' or '.join(BASELINES)}, got '{name}'")


def quality_gate(metrics: dict[str, Any], baseline: Optional[str]) -> Optional[str]:
    """None when there is no gate; a line saying by how much the model beats the baseline; or
    QualityGateError when it does not (on the validation windows, by MASE, or MAE where MASE is
    undefined)."""
    check_baseline(baseline)
    if baseline is None:
        return None
    key = BASELINES[baseline]
    if not metrics.get("windows"):
        raise QualityGateError(f"the quality gate against {baseline} cannot be checked: no validation window has a full season of history")
    gru, base = metrics["gru"], metrics[key]
    name = "mase" if np.isfinite(gru.get("mase", np.nan)) and np.isfinite(base.get("mase", np.nan)) else "mae"
    g, b = float(gru[name]), float(base[name])
    diff = 100.0 * (g / b - 1.0) if b > 0 else float("inf") if g > 0 else 0.0
    text = f"validation {name.upper()} {g:.4g} against {baseline} {b:.4g} ({diff:+.1f} %)"
    if not g <= b:
        raise QualityGateError(f"quality gate failed: {text}; the previous checkpoint was kept")
    return f"quality gate passed: {text}"
