"""Raw columns into typed values: ids and timestamps as distinct texts, each stripped and parsed
once; timestamps in one format for the whole column (UTC offsets, YYYYMMDD integers, or integer
steps); numbers as files write them (decimal commas, thousands separators, true/false flags of
covariates); static covariates as numbers or categories. Every failure names the value and its
line in the file (file_lines).
"""

from __future__ import annotations

import re
from typing import Optional

import numpy as np
import pandas as pd

from grucast.errors import DataError


def file_lines(index: pd.Index) -> np.ndarray:
    """The file line of every row of a raw frame: data.read keeps row i as line i + 2 of a CSV
    (line 1 is the header; blank lines and lines before the header counted in the index)."""
    return np.asarray(index, dtype=np.int64) + 2


def distinct_text(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(codes, text): the stripped text of every distinct value of a column and each row's
    code into it, -1 where the value is missing or blank. Millions of rows of ids or timestamps
    hold a few thousand distinct values, so they are stripped, checked and parsed once each."""
    codes, distinct = pd.factorize(s)
    raw = pd.Series(distinct)
    text = (raw if isinstance(raw.dtype, pd.StringDtype) else raw.astype(str)).str.strip()
    merged, text = pd.factorize(text)  # values that differ only in spaces are one value
    merged[(text == "")[merged]] = -1
    if len(merged):
        codes = np.where(codes >= 0, merged[np.maximum(codes, 0)], -1)
    return codes, pd.Series(text)


def parse_time(s: pd.Series, col: str, expected_kind: Optional[str]) -> tuple[pd.Series, str]:
    lines = file_lines(s.index)
    missing = s.isna().to_numpy().copy()
    distinct = None
    if pd.api.types.is_string_dtype(s) or s.dtype == object:
        codes, distinct = distinct_text(s)
        missing |= codes < 0
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(f"missing timestamp in column '{col}' at line {lines[i]}")
    if pd.api.types.is_bool_dtype(s):
        raise DataError(f"column '{col}' holds true/false values, not timestamps")
    if pd.api.types.is_numeric_dtype(s):
        dates = _yyyymmdd(s) if expected_kind != "int" else None
        if dates is not None:
            return dates, "datetime"
        if expected_kind == "datetime":
            raise DataError(f"column '{col}' holds integer steps, but the model was trained on datetimes")
        v = s.to_numpy()
        if pd.api.types.is_float_dtype(s):
            frac = np.flatnonzero(v != np.round(v))
            if len(frac):
                i = int(frac[0])
                raise DataError(
                    f"time column '{col}' holds a fractional number {float(v[i])!r} at line {lines[i]}; "
                    "use integer steps or datetimes"
                )
        if len(v) and max(abs(float(v.min())), abs(float(v.max()))) > _MAX_STEP:  # no temporaries per row
            i = int(np.flatnonzero(np.abs(v.astype(np.float64)) > _MAX_STEP)[0])
            raise DataError(
                f"time column '{col}' holds the step {v[i]} at line {lines[i]}, beyond ±{_MAX_STEP:,} (2^53); "
                "use smaller integer steps or datetimes"
            )
        return pd.Series(v.astype(np.int64), index=s.index), "int"
    if pd.api.types.is_datetime64_any_dtype(s):
        parsed = s
    else:
        if distinct is None:
            codes, distinct = distinct_text(s)
        parsed = _parse_datetimes(codes, distinct, s.index, col, lines, expected_kind)
    if expected_kind == "int":
        raise DataError(f"column '{col}' holds datetimes, but the model was trained on integer time steps")
    return parsed, "datetime"


_MAX_STEP = 2 ** 53  # integer time steps beyond are not exact as floats, and their spans overflow


def _changing_offsets(text: pd.Series, kwargs: dict) -> pd.Series:
    """Stamps whose UTC offset changes (daylight saving) cannot share one fixed zone. Dates at
    local midnight are kept as the dates they are (a day is a day, whatever the offset);
    anything finer is converted to UTC, where the steps are regular again."""
    wall = pd.to_datetime(text.str.replace(r"\s*(Z|[+-]\d\d:?\d\d)$", "", regex=True), errors="coerce", **kwargs)
    if not wall.isna().any() and (wall == wall.dt.normalize()).all():
        return wall
    return pd.to_datetime(text, errors="coerce", utc=True, **kwargs)


# A time of day followed by a UTC offset or Z: 10:00+01:00, 10:00:00.5-0500, T10:00Z.
_ZONED = re.compile(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d\d(?::?\d\d)?)$", re.IGNORECASE)


def _refuse_mixed_zones(codes: np.ndarray, distinct: pd.Series, col: str, lines: np.ndarray) -> None:
    """Times with a UTC offset and times without one in one column: pandas would read the
    naive ones as UTC, which is a guess (they may be local time). Refused, naming one of each."""
    zoned = distinct.astype(str).str.strip().str.contains(_ZONED).to_numpy()
    if zoned.all() or not zoned.any():
        return
    first_row = pd.Series(np.arange(len(codes))).groupby(codes).first()  # distinct code -> first row
    at = lambda k: int(lines[first_row[k]])  # noqa: E731
    z, n = int(np.flatnonzero(zoned)[0]), int(np.flatnonzero(~zoned)[0])
    raise DataError(
        f"column '{col}' mixes times with a UTC offset ('{distinct.iloc[z]}' at line {at(z)}) and times without "
        f"one ('{distinct.iloc[n]}' at line {at(n)}); write every time with its offset, or none"
    )


def _yyyymmdd(s: pd.Series) -> Optional[pd.Series]:
    """Whole numbers that are all dates written as yyyymmdd (20240125), as datetimes; else None.
    Read as integer steps, the jump from 20240131 to 20240201 would be 70 filled points."""
    v = s.to_numpy()
    if not pd.api.types.is_integer_dtype(s) or len(v) == 0 or v.min() < 1000_01_01 or v.max() > 2999_12_31:
        return None
    parsed = pd.to_datetime(pd.Series(v, index=s.index).astype(str), format="%Y%m%d", errors="coerce")
    return parsed if not parsed.isna().any() else None


def _parse_datetimes(codes: np.ndarray, distinct: pd.Series, index: pd.Index, col: str, lines: np.ndarray,
                     expected_kind: Optional[str]) -> pd.Series:
    """Every value in one format: the one pandas infers from the first value, else ISO 8601,
    else day-first. Never a per-value guess, which would read 01/02 and 13/02 in two different
    orders and scramble the series."""
    import warnings

    # A panel repeats the same stamps in every series: each distinct text is parsed once (in
    # order of first appearance, so the format is still inferred from the first value).
    best = None
    for kwargs in ({}, {"format": "ISO8601"}, {"dayfirst": True}):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    once = pd.to_datetime(distinct, errors="coerce", **kwargs)
                except ValueError as e:
                    if "timezone" not in str(e).lower():
                        raise
                    once = None
                if once is None or once.dtype == object:
                    # Several zones or offsets: pandas 3 raises, pandas 2 returns the times as objects.
                    _refuse_mixed_zones(codes, distinct, col, lines)
                    once = _changing_offsets(distinct, kwargs)
        except (ValueError, TypeError, OverflowError):
            continue
        parsed = pd.Series(once.array.take(codes), index=index)
        if not parsed.isna().any():
            return parsed
        if best is None:
            best = parsed
    _refuse_mixed_zones(codes, distinct, col, lines)
    bad = np.flatnonzero(best.isna().to_numpy()) if best is not None else np.array([0])
    i = int(bad[0])
    hint = " (integer steps are allowed too)" if expected_kind is None else ""
    raise DataError(f"unparsable timestamp '{distinct.iloc[codes[i]]}' in column '{col}' at line {lines[i]}{hint}")


_FLOAT32_MAX = float(np.finfo(np.float32).max) / 1e6  # room for arithmetic on the values


_US_NUMBER = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"  # 1,234.5


_EU_NUMBER = r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d*)?$"  # 1.234,5 or 12,5


def parse_values(s: pd.Series, col: str, decimal_comma: bool = False, flags: bool = False) -> np.ndarray:
    """Numbers of a value column. Text that is a number with a thousands separator (1,234.5),
    or with a decimal comma in a ';'-separated file (1.234,5), is read as that number. With
    flags (covariates), true/false values are read as 1/0."""
    if pd.api.types.is_bool_dtype(s) or (flags and s.dtype == object and s.dropna().map(type).eq(bool).all()
                                         and s.notna().any()):
        if flags:
            return s.map({True: 1.0, False: 0.0}).to_numpy(dtype=np.float64, na_value=np.nan)
        raise DataError(f"column '{col}' holds true/false values, not numbers")
    if flags and not pd.api.types.is_numeric_dtype(s):
        low = s.astype(str).str.strip().str.lower()
        if s.notna().any() and low[s.notna()].isin(["true", "false"]).all():
            return low.map({"true": 1.0, "false": 0.0}).where(s.notna()).to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        text = s.astype(str).str.strip()
        v = pd.to_numeric(text.where(s.notna(), None), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan).copy()
        failed = np.isnan(v) & s.notna().to_numpy() & (text != "").to_numpy() & (text.str.lower() != "nan").to_numpy()
        if failed.any():
            t = text[failed]
            if decimal_comma:
                # A decimal comma anywhere means the whole column is written that way: 2.000 is 2000.
                failed = s.notna().to_numpy() & (text != "").to_numpy() & (text.str.lower() != "nan").to_numpy()
                t = text[failed]
                fixed = t.where(t.str.match(_EU_NUMBER)).str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
            else:
                fixed = t.where(t.str.match(_US_NUMBER)).str.replace(",", "", regex=False)
            v[failed] = pd.to_numeric(fixed, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.flatnonzero(failed & np.isnan(v))
            if len(bad):
                i = int(bad[0])
                raise DataError(f"non-numeric value '{text.iloc[i]}' in column '{col}' at line {file_lines(s.index)[i]}")
    inf = np.flatnonzero(np.isinf(v))
    if len(inf):
        i = int(inf[0])
        raise DataError(f"infinite value in column '{col}' at line {file_lines(s.index)[i]}")
    huge = np.flatnonzero(np.abs(v) > _FLOAT32_MAX)
    if len(huge):
        i = int(huge[0])
        raise DataError(f"value {v[i]:g} in column '{col}' at line {file_lines(s.index)[i]} is too large: grucast "
                        f"reads values up to ±{_FLOAT32_MAX:.1e} (float32, with room for arithmetic); rescale the column")
    return v


def static_values(s: pd.Series, col: str, decimal_comma: bool) -> pd.Series:
    """A static covariate: numbers when every value reads as one, else categories (text)."""
    try:
        return pd.Series(parse_values(s, col, decimal_comma, flags=True), index=s.index)
    except DataError:
        text = s.astype(str).str.strip()
        return text.where(s.notna() & (text != ""), None).astype(object)
