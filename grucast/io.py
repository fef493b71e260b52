"""Files in: read CSV/Parquet time series (long, wide or single) into one tidy frame (after the
checks of grucast.sniff). Outputs are written by grucast.writers and published by grucast.guards.

The tidy frame has one row per observation and the columns ``series_id`` (str), ``time``
(datetime64 or int64), ``y`` (float64, NaN where the file has an empty value) and ``line`` (the
line of the file the row came from, for error messages). :class:`Schema` records which columns of
the file these came from, so that ``predict`` reads new files exactly as ``train`` did.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from grucast.config import DataConfig
from grucast.errors import DataError
from grucast.sniff import MAX_COLUMNS, Layout, csv_layout, one_line, parquet_head, refuse_duplicates, regular_file

TIME_NAMES = ("timestamp", "ds", "date", "datetime", "date_time", "time", "ts", "period", "step", "t")
ID_NAMES = ("series_id", "unique_id", "id", "series", "item_id", "ts_id", "key")
TARGET_NAMES = ("target", "y", "value", "values")
SINGLE_SERIES_ID = "series"  # the id given to the one series of a file with no id column


@dataclass(frozen=True)
class Schema:
    """Where the series live in the user's file; stored in the checkpoint."""

    format: str  # long | wide | single
    time_col: str
    id_col: Optional[str] = None  # long only
    target: Optional[str] = None  # long and single
    series_cols: tuple[str, ...] = ()  # wide only
    time_kind: str = "datetime"  # datetime | int
    future_cols: tuple[str, ...] = ()  # covariates known ahead
    past_cols: tuple[str, ...] = ()  # covariates observed with the target
    static_cols: tuple[str, ...] = ()  # covariates constant per series

    @property
    def targets(self) -> list[str]:
        """The target columns: 'a,b,c' names three, each a series of its own per id."""
        return [t for t in (self.target or "").split(",") if t]

    @property
    def output_id_col(self) -> Optional[str]:
        """The id column name of written forecasts (None: a single series has no id column)."""
        if self.format == "long":
            return self.id_col
        if self.format == "wide":
            return "series_id" if self.time_col != "series_id" else "series"
        return None

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "time_col": self.time_col,
            "id_col": self.id_col,
            "target": self.target,
            "series_cols": list(self.series_cols),
            "time_kind": self.time_kind,
            "future_cols": list(self.future_cols),
            "past_cols": list(self.past_cols),
            "static_cols": list(self.static_cols),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Schema":
        return cls(
            format=d["format"],
            time_col=d["time_col"],
            id_col=d.get("id_col"),
            target=d.get("target"),
            series_cols=tuple(d.get("series_cols") or ()),
            time_kind=d.get("time_kind", "datetime"),
            future_cols=tuple(d.get("future_cols") or ()),
            past_cols=tuple(d.get("past_cols") or ()),
            static_cols=tuple(d.get("static_cols") or ()),
        )


@dataclass
class Table:
    """The tidy observations of one file and how they were found."""

    frame: pd.DataFrame
    schema: Schema
    path: Path
    notes: list[str] = field(default_factory=list)  # what was detected, for the user
    # With several targets, every series is one (id, target) pair: series_id -> (id, target).
    parts: dict[str, tuple[Optional[str], str]] = field(default_factory=dict)


# ---------------------------------------------------------------- reading


_BLANK = "\x00unnamed "  # placeholder of a column without a name until it is dropped or refused


def _csv_options(layout: Layout) -> dict:
    opts = dict(sep=layout.sep, skipinitialspace=True, skip_blank_lines=False, index_col=False)
    if layout.names is not None:
        names = [n if n else f"{_BLANK}{i}" for i, n in enumerate(layout.names)]
        opts.update(header=0, names=names, skiprows=layout.skip)
    return opts


def _read_csv(path: Path, layout: Layout) -> pd.DataFrame:
    # Blank lines are read as empty rows and then dropped, so that row i is line i + 2 of the
    # file (+ the blank lines before the header) and error messages point at the right line.
    import warnings

    with warnings.catch_warnings():
        # More fields in the first row than the header has names: pandas would make the first
        # column the index (shifting every value one column) or drop the extra fields.
        warnings.filterwarnings("error", message="Length of header", category=pd.errors.ParserWarning)
        try:
            df = pd.read_csv(path, **_csv_options(layout))
        except pd.errors.ParserWarning:
            n = f" ({len(layout.names)})" if layout.names is not None else ""
            raise DataError(
                f"line {layout.skip + 2} of {path} has more fields than the header (line {layout.skip + 1}) has "
                f"column names{n}; give every column a name"
            ) from None
    if layout.skip:
        df.index = df.index + layout.skip
    return df[df.notna().any(axis=1)]


_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_file(path: Path, sep: Optional[str] = None) -> tuple[pd.DataFrame, str]:
    """The raw table of a CSV or Parquet file (by extension) and the separator used, with clear
    errors. Without sep, a comma is tried first, then ';', tab and '|' when a comma gives one
    column whose name holds one of them."""
    df, layout, _ = _read(Path(path), sep)
    return df, layout.sep if layout else ""


def _read(path: Path, sep: Optional[str]) -> tuple[pd.DataFrame, Optional[Layout], list[str]]:
    """read_file, with the CSV layout (None for Parquet) and notes on columns left out."""
    regular_file(path, "DATA", DataError, "data file")
    suffix = path.suffix.lower()
    layout = None
    try:
        if suffix in (".parquet", ".pq"):
            df = _read_parquet(path)
        else:
            layout = csv_layout(path, sep)
            df = _read_csv(path, layout)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except pd.errors.ParserError as e:
        m = _FIELDS.search(str(e))
        if m:
            raise DataError(
                f"line {m.group(2)} of {path} has {m.group(3)} fields, but the header has {m.group(1)} columns"
            ) from None
        raise DataError(f"{path} is not a readable CSV file: {one_line(e)}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; save it as UTF-8 (CSV UTF-8)") from None
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{path} ({path.stat().st_size:,} bytes) is too large to read into this machine's memory") from None
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path}: {one_line(e)}") from None
    df.columns = [str(c).strip() for c in df.columns]
    refuse_duplicates(path, list(df.columns))
    notes = _unnamed(df, path, pandas_names=layout is not None and layout.names is None)
    if len(df) == 0:
        raise DataError(f"{path} has a header but no data rows")
    return df, layout, notes


def _read_parquet(path: Path) -> pd.DataFrame:
    parquet_head(path)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading Parquet needs pyarrow: pip install 'grucast[parquet]'") from None
    try:
        names = pq.read_schema(path).names
    except Exception as e:  # pyarrow.ArrowInvalid and friends: a damaged file
        raise DataError(f"{path} is not a readable Parquet file: {one_line(e)}") from None
    refuse_duplicates(path, [str(n) for n in names])
    if len(names) > MAX_COLUMNS:
        raise DataError(f"{path} has {len(names):,} columns; grucast reads at most {MAX_COLUMNS:,}")
    try:
        df = pd.read_parquet(path)
    except MemoryError:
        raise
    except Exception as e:
        raise DataError(f"{path} is not a readable Parquet file: {one_line(e)}") from None
    # A named index (a DatetimeIndex written by pandas) is a column of the data; a bare row
    # number is not.
    if any(n is not None for n in df.index.names):
        df = df.reset_index()
    return df.reset_index(drop=True)


def _unnamed(df: pd.DataFrame, path: Path, pandas_names: bool) -> list[str]:
    """Columns without a name in the header: an empty one (a trailing separator on every line)
    or a first column of row numbers (pandas' to_csv writes one) are left out with a note; any
    other is refused, because nothing could name it in a setting or a forecast."""
    notes = []
    for i, col in enumerate(list(df.columns)):
        blank = not col or col.startswith(_BLANK) or (pandas_names and col == f"Unnamed: {i}")
        if not blank:
            continue
        s = df[col]
        if s.isna().all():
            notes.append(f"ignoring column {i + 1} (no name, no values)")
        elif i == 0 and _row_numbers(s):
            notes.append("ignoring the first column (no name; row numbers)")
        else:
            raise DataError(
                f"column {i + 1} of {path} has no name in the header; name it (or remove it) so that it can be used"
            )
        del df[col]
    return notes


def _row_numbers(s: pd.Series) -> bool:
    """0, 1, 2, ... (or from 1) down the rows, blank lines skipped."""
    if not pd.api.types.is_integer_dtype(s) or len(s) == 0:
        return False
    v = s.to_numpy()
    return int(v[0]) in (0, 1) and bool((np.diff(v) == np.diff(np.asarray(s.index))).all())


def _lines(index: pd.Index) -> np.ndarray:
    # Row i of the frame is line i + 2 of a CSV (line 1 is the header).
    return np.asarray(index, dtype=np.int64) + 2


def _need(df: pd.DataFrame, col: str, what: str, path: Path) -> str:
    if col not in df.columns:
        cols = ", ".join(f"'{c}'" for c in df.columns)
        raise DataError(f"{what} column '{col}' is not in {path.name}; its columns are {cols}")
    return col


def _named(cols: list[str], names: tuple[str, ...]) -> list[str]:
    return [c for c in cols if c.lower() in names]


def _looks_like_time(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    sample = s.dropna().astype(str).head(20)
    if sample.empty:
        return False
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    except (ValueError, TypeError):
        return False
    return bool(parsed.notna().all())


def _is_label_column(s: pd.Series) -> bool:
    """Text that is not mostly numbers or datetimes: a candidate series id."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or _looks_like_time(s):
        return False
    sample = s.dropna().astype(str).str.strip().head(200)
    as_number = sample.str.replace(",", "", regex=False).str.replace(".", "", regex=False)  # 1,234.5 / 1.234,5
    return bool(pd.to_numeric(as_number, errors="coerce").isna().mean() > 0.5)


def detect_schema(df: pd.DataFrame, cfg: DataConfig, path: Path) -> tuple[Schema, list[str]]:
    """Which columns hold time, series id, target and covariates; explicit settings win over
    detection, and a column named as a covariate is never taken for anything else."""
    _check_roles(cfg)
    if len(df.columns) == 1:
        raise DataError(
            f"{path.name} has a single column ('{df.columns[0]}'); a time series needs a time column and a column "
            "of values (if the file separates its fields otherwise, pass --sep)"
        )
    covariates = cfg.future_covariates + cfg.past_covariates + cfg.static_covariates
    for col in covariates:
        _need(df, col, "covariate", path)
    if covariates:
        # What the file would say without the covariate flags: a covariate that is the time, the
        # id or the detected target is a mistake to name, not a reason to pick another column.
        try:
            plain, _ = _detect(df, cfg, path)
        except DataError:
            plain = None
        if plain is not None:
            for col in covariates:
                role = {plain.time_col: "time", plain.id_col: "id"}.get(col)
                if role:
                    raise DataError(f"column '{col}' cannot be both a covariate and the {role} column")
                if cfg.target is None and col in plain.targets:
                    raise DataError(
                        f"column '{col}' is named as a covariate but is the column grucast would forecast; "
                        "pass --target to say which column to forecast"
                    )
    schema, notes = _detect(df.drop(columns=list(covariates)), cfg, path)
    if covariates:
        if schema.format == "wide":
            raise DataError(
                "covariates need a long file (id, time, target, covariates) or a single series; in a wide file "
                "every column but the time is a series: pass --id-col, or --target for a single series"
            )
        for col in covariates:
            if col in (schema.time_col, schema.id_col):
                raise DataError(f"column '{col}' cannot be both a covariate and the {'time' if col == schema.time_col else 'id'} column")
        schema = dataclasses.replace(schema, future_cols=cfg.future_covariates, past_cols=cfg.past_covariates,
                                     static_cols=cfg.static_covariates)
        kinds = [(cfg.future_covariates, "future"), (cfg.past_covariates, "past"), (cfg.static_covariates, "static")]
        notes += [f"{kind} covariates {', '.join(cols)}" for cols, kind in kinds if cols]
    return schema, notes


def _check_roles(cfg: DataConfig) -> None:
    """Settings that give one column two roles: the time, the id, a target, a covariate."""
    if cfg.target is not None and not cfg.target.replace(",", "").strip():
        raise DataError(f"--target {cfg.target!r} names no column; give the column(s) to forecast")
    targets = [t.strip() for t in (cfg.target or "").split(",") if t.strip()]
    if len(set(targets)) < len(targets):
        raise DataError(f"--target names a column twice: {cfg.target}")
    roles: list[tuple[str, str]] = []
    if cfg.time_col is not None:
        roles.append((cfg.time_col, "the time column"))
    if cfg.id_col is not None:
        roles.append((cfg.id_col, "the id column"))
    roles += [(t, "the target") for t in targets]
    for cols, kind in ((cfg.future_covariates, "future"), (cfg.past_covariates, "past"), (cfg.static_covariates, "static")):
        roles += [(c, f"a {kind} covariate") for c in cols]
    seen: dict[str, str] = {}
    for col, role in roles:
        if col in seen:
            if seen[col] == role:
                raise DataError(f"column '{col}' is named twice as {role}")
            raise DataError(f"column '{col}' cannot be both {seen[col]} and {role}; give every column one role")
        seen[col] = role


def _need_targets(df: pd.DataFrame, spec: str, path: Path) -> str:
    """The target column(s) a user named, each checked: 'a,b' is two."""
    names = [t.strip() for t in spec.split(",") if t.strip()]
    for name in names:
        _need(df, name, "target", path)
        if _all_text(df[name]):
            first, line = _first_text(df[name])
            raise DataError(
                f"--target names '{name}', which holds text ('{first}' at line {line}), not numbers to forecast; "
                "pass --target with a column of numbers (a column of labels is a series id: --id-col)"
            )
    if len(set(names)) < len(names):
        raise DataError(f"--target names a column twice: {spec}")
    return ",".join(names)


def _detect(df: pd.DataFrame, cfg: DataConfig, path: Path) -> tuple[Schema, list[str]]:
    chosen = [t.strip() for t in (cfg.target or "").split(",") if t.strip()]
    cols = list(df.columns)
    notes: list[str] = []
    cols_text = ", ".join(f"'{c}'" for c in cols)

    if cfg.time_col is not None:
        time_col = _need(df, cfg.time_col, "time", path)
    else:
        named = _named(cols, TIME_NAMES)
        if len(named) == 1 and named[0] in chosen:
            raise DataError(
                f"--target names '{named[0]}', which is the time column; pass --target with the column(s) to "
                "forecast (or --time-col, if the time is in another column)"
            )
        if len(named) == 1:
            time_col = named[0]
        elif len(named) > 1:
            raise DataError(f"several columns could hold the time ({', '.join(named)}); pass --time-col")
        else:
            found = [c for c in cols if c not in chosen and _looks_like_time(df[c])]
            if len(found) != 1:
                raise DataError(f"could not tell which column holds the time (columns: {cols_text}); pass --time-col")
            time_col = found[0]
        notes.append(f"time column '{time_col}'")
    rest = [c for c in cols if c != time_col]
    if not rest:
        raise DataError(f"{path.name} has only the time column '{time_col}' and no values")

    id_col = None
    if cfg.id_col is not None:
        if cfg.format == "wide":
            raise DataError("--id-col is for long format; a wide file has one column per series")
        id_col = _need(df, cfg.id_col, "id", path)
        if id_col == time_col:
            raise DataError(f"column '{id_col}' cannot be both the time and the id column")
    elif cfg.format != "wide":
        named = [c for c in _named(rest, ID_NAMES) if c not in chosen]
        text_cols = [
            c for c in rest
            if c not in chosen and c.lower() not in TARGET_NAMES and _is_label_column(df[c])
        ]
        if len(named) == 1:
            id_col = named[0]
        elif len(named) > 1:
            raise DataError(f"several columns could hold the series id ({', '.join(named)}); pass --id-col")
        elif len(text_cols) == 1:
            id_col = text_cols[0]
        if id_col is not None:
            notes.append(f"id column '{id_col}'")
        elif cfg.format == "long":
            raise DataError(f"long format needs a series id column (columns: {cols_text}); pass --id-col")

    if id_col is not None:
        rest = [c for c in rest if c != id_col]
        if cfg.target is not None:
            target = _need_targets(df, cfg.target, path)
        else:
            named = _named(rest, TARGET_NAMES)
            if len(named) == 1:
                target = named[0]
            elif len(rest) == 1:
                target = rest[0]
            elif not rest:
                raise DataError(f"{path.name} has no value column besides '{time_col}' and '{id_col}'")
            else:
                raise DataError(
                    f"several columns could be the target ({', '.join(rest)}); pass --target"
                )
            notes.append(f"target '{target}'")
        ignored = [c for c in rest if c not in target.split(",")]
        if ignored:
            notes.append(f"ignoring columns {', '.join(ignored)}")
        return Schema("long", time_col, id_col=id_col, target=target), ["long format"] + notes

    if cfg.target is not None:
        if cfg.format == "wide":
            raise DataError("--target picks one series column; with --format wide every column but the time is a series")
        target = _need_targets(df, cfg.target, path)
        ignored = [c for c in rest if c not in target.split(",")]
        if ignored:
            notes.append(f"ignoring columns {', '.join(ignored)}")
        return Schema("single", time_col, target=target), ["single series" if "," not in target else "one file"] + notes
    if len(rest) == 1 and cfg.format != "wide":
        notes.append(f"target '{rest[0]}'")
        return Schema("single", time_col, target=rest[0]), ["single series"] + notes
    named = _named(rest, TARGET_NAMES)
    if len(named) == 1 and cfg.format != "wide":
        ignored = [c for c in rest if c != named[0]]
        notes += [f"target '{named[0]}'", f"ignoring columns {', '.join(ignored)}"]
        return Schema("single", time_col, target=named[0]), ["single series"] + notes
    for col in rest:
        if _is_label_column(df[col]):
            first, line = _first_text(df[col])
            raise DataError(
                f"column '{col}' holds text ('{first}' at line {line}), but read as a wide file every column but the "
                f"time '{time_col}' is a series of numbers; if it names the series, pass --id-col {col}"
                + (" instead of --format wide" if cfg.format == "wide" else "")
            )
    notes.append(f"{len(rest)} series columns ({preview(rest, 4)})")
    return Schema("wide", time_col, series_cols=tuple(rest)), ["wide format"] + notes


def _all_text(s: pd.Series) -> bool:
    """Labels, not numbers with a few placeholders: no value of the column reads as a number."""
    if not _is_label_column(s):
        return False
    text = s.dropna().astype(str).str.strip().head(200)
    return bool(pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce").isna().all())


def _first_text(s: pd.Series) -> tuple[str, int]:
    """The first value of a column that is not a number, and its line."""
    text = s.dropna().astype(str).str.strip()
    bad = pd.to_numeric(text, errors="coerce").isna()
    i = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
    return text.iloc[i], int(_lines(text.index[i:i + 1])[0])


def preview(items: list[str], n: int = 5) -> str:
    """The first n names, and how many more."""
    shown = ", ".join(str(x) for x in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _distinct_text(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
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


def _parse_time(s: pd.Series, col: str, expected_kind: Optional[str]) -> tuple[pd.Series, str]:
    lines = _lines(s.index)
    missing = s.isna().to_numpy().copy()
    distinct = None
    if pd.api.types.is_string_dtype(s) or s.dtype == object:
        codes, distinct = _distinct_text(s)
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
            codes, distinct = _distinct_text(s)
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


def _parse_values(s: pd.Series, col: str, decimal_comma: bool = False, flags: bool = False) -> np.ndarray:
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
                raise DataError(f"non-numeric value '{text.iloc[i]}' in column '{col}' at line {_lines(s.index)[i]}")
    inf = np.flatnonzero(np.isinf(v))
    if len(inf):
        i = int(inf[0])
        raise DataError(f"infinite value in column '{col}' at line {_lines(s.index)[i]}")
    huge = np.flatnonzero(np.abs(v) > _FLOAT32_MAX)
    if len(huge):
        i = int(huge[0])
        raise DataError(f"value {v[i]:g} in column '{col}' at line {_lines(s.index)[i]} is too large: grucast "
                        f"reads values up to ±{_FLOAT32_MAX:.1e} (float32, with room for arithmetic); rescale the column")
    return v


def to_table(df: pd.DataFrame, schema: Schema, path: Path, notes: Optional[list[str]] = None,
             expected_kind: Optional[str] = None, duplicates: str = "error", sep: str = ",") -> Table:
    """Turn a raw frame into tidy observations, checking every value. Duplicate timestamps
    within a series are an error, or aggregated by the duplicates policy (mean, sum, last,
    first)."""
    decimal_comma = sep == ";"
    for col in [schema.time_col, schema.id_col, *schema.targets, *schema.series_cols]:
        if col is not None:
            _need(df, col, "time" if col == schema.time_col else "expected", path)
    for cols, kind in ((schema.future_cols, "future"), (schema.past_cols, "past"), (schema.static_cols, "static")):
        for col in cols:
            _need(df, col, f"{kind} covariate", path)
    time, kind = _parse_time(df[schema.time_col], schema.time_col, expected_kind)
    schema = dataclasses.replace(schema, time_kind=kind)
    # The raw frame is the caller's scratch copy: a column parsed is dropped at once, so its
    # text (the largest part of a big file) is freed before the tidy frame is built.
    lines = _lines(df.index)
    del df[schema.time_col]
    if schema.format == "long":
        codes, distinct = _distinct_text(df[schema.id_col])
        if (codes < 0).any():
            i = int(np.flatnonzero(codes < 0)[0])
            raise DataError(f"empty series id in column '{schema.id_col}' at line {lines[i]}")
        # Built from the distinct ids, never through a Python string per row (ten million of
        # them cost half a gigabyte on the way into pandas' string storage).
        ids = distinct.array.take(codes)
        if schema.id_col not in schema.targets:
            del df[schema.id_col]
    else:
        ids = np.full(len(df), SINGLE_SERIES_ID, dtype=object)
    parts: dict[str, tuple[Optional[str], str]] = {}
    targets = schema.targets
    if schema.format in ("long", "single") and len(targets) == 1:
        frame = pd.DataFrame({
            "series_id": ids,
            "time": time.to_numpy(),
            "y": _parse_values(df[schema.target], schema.target, decimal_comma),
            "line": lines,
        })
    elif schema.format in ("long", "single"):
        # Several targets: every (id, target) pair is a series of the one global model.
        n = len(df)
        names = [ids + "/" + t if schema.format == "long" else np.full(n, t, dtype=object) for t in targets]
        for t, col in zip(targets, names):
            for key, orig in zip(pd.unique(col), pd.unique(ids)):
                parts[key] = (orig if schema.format == "long" else None, t)
        frame = pd.DataFrame({
            "series_id": np.concatenate(names),
            "time": np.tile(time.to_numpy(), len(targets)),
            "y": np.concatenate([_parse_values(df[t], t, decimal_comma) for t in targets]),
            "line": np.tile(lines, len(targets)),
        })
    else:
        n = len(df)
        columns = [_parse_values(df[c], c, decimal_comma) for c in schema.series_cols]
        frame = pd.DataFrame({
            "series_id": np.repeat(np.array(schema.series_cols, dtype=object), n),
            "time": np.tile(time.to_numpy(), len(columns)),
            "y": np.concatenate(columns),
            "line": np.tile(lines, len(columns)),
        })
    copies = len(frame) // max(len(df), 1)  # one per target
    for col in schema.past_cols + schema.future_cols:
        frame[COV + col] = np.tile(_parse_values(df[col], col, decimal_comma, flags=True), copies)
    for col in schema.static_cols:
        frame[STATIC + col] = np.tile(_static_values(df[col], col, decimal_comma).to_numpy(), copies)
    notes = list(notes or [])
    frame = _duplicates(frame, schema, duplicates, notes, like_model=expected_kind is not None)
    return Table(frame=frame, schema=schema, path=Path(path), notes=notes, parts=parts)


COV = "cov:"  # tidy-frame prefix of past and future covariate columns
STATIC = "static:"  # tidy-frame prefix of static covariate columns


def _static_values(s: pd.Series, col: str, decimal_comma: bool) -> pd.Series:
    """A static covariate: numbers when every value reads as one, else categories (text)."""
    try:
        return pd.Series(_parse_values(s, col, decimal_comma, flags=True), index=s.index)
    except DataError:
        text = s.astype(str).str.strip()
        return text.where(s.notna() & (text != ""), None).astype(object)


def _duplicates(frame: pd.DataFrame, schema: Schema, policy: str, notes: list[str],
                like_model: bool = False) -> pd.DataFrame:
    # One int64 key per row, sorted: hashing (id text, timestamp) pairs of millions of rows
    # would cost gigabytes, and the usual answer (no duplicates) needs no more than this.
    times = frame["time"]
    t = times.array.asi8 if hasattr(times.array, "asi8") else times.to_numpy()
    t_codes, t_distinct = pd.factorize(t)
    key = pd.factorize(frame["series_id"])[0].astype(np.int64, copy=False)
    key *= len(t_distinct)
    key += t_codes
    del t_codes
    ordered = np.sort(key)
    if not (ordered[1:] == ordered[:-1]).any():
        return frame
    del ordered
    dup = pd.Series(key).duplicated(keep=False).to_numpy()
    if policy != "error":
        keys = frame.loc[dup, ["series_id", "time"]].drop_duplicates()
        agg = {"mean": "mean", "sum": lambda y: y.sum(min_count=1), "last": "last", "first": "first"}[policy]
        grouped = frame.groupby(["series_id", "time"], sort=False)
        # Covariates of repeated rows: averaged for mean and sum (a sum of flags is no flag).
        cov_agg = {"mean": "mean", "sum": "mean", "last": "last", "first": "first"}[policy]
        extra = {c: (c, cov_agg if c.startswith(COV) else "first") for c in frame.columns if c.startswith((COV, STATIC))}
        out = grouped.agg(y=("y", agg), line=("line", "min"), **extra).reset_index()
        notes.append(f"{len(keys):,} duplicate timestamp(s) aggregated by {policy}")
        return out.sort_values("line", kind="stable").reset_index(drop=True)
    d = frame[dup].sort_values(["series_id", "time", "line"], kind="stable")
    examples = []
    for (sid, t), g in d.groupby(["series_id", "time"], sort=False):
        lines = " and ".join(str(x) for x in g["line"].head(3))
        who = f"series '{sid}' " if schema.format != "single" else ""
        examples.append(f"{who}{_fmt_time(t)} (lines {lines})")
        if len(examples) == 3:
            break
    n = int(d.groupby(["series_id", "time"]).ngroups)
    hint = "pass --duplicates mean, sum, last or first to aggregate them"
    if schema.format == "single" and like_model:
        hint = (f"the model was trained on a single series: if the file holds several, train a model on it in "
                f"long format; else {hint}")
    elif schema.format != "long" and not like_model:
        hint = f"if the file holds several series in long format, pass --id-col; else {hint}"
    raise DataError(f"{n} duplicate timestamp(s) within a series: " + "; ".join(examples) + "; " + hint)


def _fmt_time(t) -> str:
    if isinstance(t, pd.Timestamp):
        return t.isoformat(sep=" ")
    return str(t)


def _ids_as_written(df: pd.DataFrame, schema: Schema, path: Path, layout: Optional[Layout]) -> pd.DataFrame:
    """Series ids exactly as the file writes them: '007' stays '007', not the number 7."""
    if schema.format != "long" or layout is None or not pd.api.types.is_numeric_dtype(df[schema.id_col]):
        return df
    opts = _csv_options(layout)
    ids = pd.read_csv(path, **opts, usecols=[schema.id_col], dtype=str)[schema.id_col]
    ids.index = ids.index + (layout.skip if layout.names is not None else 0)
    df = df.copy()
    df[schema.id_col] = ids.loc[df.index]
    return df


def load_table(path: Path, cfg: DataConfig) -> Table:
    """Read a file and find its series, detecting what the settings leave open."""
    df, layout, read_notes = _read(Path(path), cfg.sep)
    schema, notes = detect_schema(df, cfg, Path(path))
    df = _ids_as_written(df, schema, Path(path), layout)
    sep = layout.sep if layout else ""
    if sep not in (",", ""):
        notes.append(f"separator {sep!r}")
    return to_table(df, schema, Path(path), notes + read_notes, duplicates=cfg.duplicates, sep=sep)


def _trained_on(schema: Schema) -> str:
    """The layout a model reads, for messages about a file that does not have it."""
    quoted = lambda cols: ", ".join(f"'{c}'" for c in cols)  # noqa: E731
    covs = list(schema.future_cols + schema.past_cols + schema.static_cols)
    if schema.format == "long":
        return f"a long file of columns {quoted([schema.id_col, schema.time_col, *schema.targets, *covs])}"
    if schema.format == "wide":
        return f"a wide file: time column '{schema.time_col}' and one column per series"
    return f"a single series in columns {quoted([schema.time_col, *schema.targets, *covs])}"


def _need_trained(df: pd.DataFrame, schema: Schema, path: Path, future: bool = False) -> None:
    """Every column the model reads, or one line naming the missing one and the file's columns.
    A future file needs no target and no past or static covariates."""
    wanted = [(schema.time_col, "time"), (schema.id_col, "id")]
    if not future:
        wanted += [(t, "target") for t in schema.targets]
        wanted += [(c, "past covariate") for c in schema.past_cols]
        wanted += [(c, "static covariate") for c in schema.static_cols]
    wanted += [(c, "future covariate") for c in schema.future_cols]
    for col, role in wanted:
        if col is not None and col not in df.columns:
            cols = ", ".join(f"'{c}'" for c in df.columns)
            raise DataError(
                f"{role} column '{col}' is not in {path.name}; its columns are {cols}"
                + ("" if future else f"; the model was trained on {_trained_on(schema)}")
            )


def load_table_like(path: Path, schema: Schema, cfg: DataConfig) -> Table:
    """Read a new file with the columns a model was trained on (no detection), with the
    reading settings it was trained with."""
    path = Path(path)
    df, layout, _ = _read(path, cfg.sep)
    _need_trained(df, schema, path)
    if schema.format == "wide":
        # A wide file may carry other series than the training file: forecast all of them.
        present = tuple(c for c in df.columns if c != schema.time_col)
        if not present:
            raise DataError(f"{path.name} has only the time column '{schema.time_col}' and no series")
        for col in present:
            if _is_label_column(df[col]):
                first = df[col].dropna().astype(str).iloc[0]
                raise DataError(
                    f"column '{col}' of {path.name} holds text ('{first}'), but the model was trained on a wide "
                    f"file, where every column but the time '{schema.time_col}' is a series of numbers"
                )
        schema = dataclasses.replace(schema, series_cols=present)
    df = _ids_as_written(df, schema, path, layout)
    return to_table(df, schema, path, expected_kind=schema.time_kind, duplicates=cfg.duplicates,
                    sep=layout.sep if layout else "")


def load_future(path: Path, schema: Schema, cfg: DataConfig) -> Table:
    """A file of future covariates over the forecast horizon: the id and time columns and the
    model's future covariates; the target and the other covariates may be left out."""
    path = Path(path)
    df, layout, _ = _read(path, cfg.sep)
    _need_trained(df, schema, path, future=True)
    df = df.copy()
    for target in schema.targets:
        if target not in df.columns:
            df[target] = np.nan
    future_schema = dataclasses.replace(schema, past_cols=(), static_cols=())
    df = _ids_as_written(df, future_schema, path, layout)
    return to_table(df, future_schema, path, expected_kind=schema.time_kind, duplicates="error",
                    sep=layout.sep if layout else "")


def merge_future(table: Table, future: Table) -> Table:
    """The observations of table with the rows of future added; a row of future replaces a row
    of table at the same series and time only where that row's target is empty."""
    f, g = table.frame, future.frame
    key = ["series_id", "time"]
    observed = f.dropna(subset=["y"]).set_index(key).index
    clash = g.set_index(key).index.isin(observed) & g["y"].isna().to_numpy()
    g = g[~clash]  # the history wins where both have the time
    replaced = f.set_index(key).index.isin(g.set_index(key).index) & f["y"].isna().to_numpy()
    f = f[~replaced]
    if g.empty:
        return table
    g = g.copy()
    for c in f.columns:
        if c not in g.columns:
            g[c] = np.nan
    frame = pd.concat([f, g[f.columns]], ignore_index=True)
    return Table(frame=frame, schema=table.schema, path=table.path, notes=table.notes)
