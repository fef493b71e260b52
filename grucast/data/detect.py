"""Which column of a raw frame is the time, the series id, the target(s) and each covariate, and
so whether the file is long, wide or a single series: detected from the column names (the name
lists below) and values, or checked when the user names them (one role per column, every named
column present, a named target holding numbers). The result is a Schema and the notes that tell
the user what was found.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from grucast.config.settings import DataConfig
from grucast.data.parse import file_lines
from grucast.data.schema import Schema
from grucast.errors import DataError, preview

# Column names (compared in lower case) that say what a column holds.
TIME_NAMES = ("timestamp", "ds", "date", "datetime", "date_time", "time", "ts", "period", "step", "t")


ID_NAMES = ("series_id", "unique_id", "id", "series", "item_id", "ts_id", "key")


TARGET_NAMES = ("target", "y", "value", "values")


def need_column(df: pd.DataFrame, col: str, what: str, path: Path) -> str:
    """col, when the frame has it; else a DataError naming the file's columns."""
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


def is_label_column(s: pd.Series) -> bool:
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
        need_column(df, col, "covariate", path)
    if covariates:
        _refuse_covariate_roles(df, cfg, path, covariates)
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


def _refuse_covariate_roles(df: pd.DataFrame, cfg: DataConfig, path: Path, covariates: tuple[str, ...]) -> None:
    """What the file would say without the covariate flags: a covariate that is the time, the id
    or the detected target is a mistake to name, not a reason to pick another column."""
    try:
        plain, _ = _detect(df, cfg, path)
    except DataError:
        return
    for col in covariates:
        role = {plain.time_col: "time", plain.id_col: "id"}.get(col)
        if role:
            raise DataError(f"column '{col}' cannot be both a covariate and the {role} column")
        if cfg.target is None and col in plain.targets:
            raise DataError(
                f"column '{col}' is named as a covariate but is the column grucast would forecast; "
                "pass --target to say which column to forecast"
            )


def _check_roles(cfg: DataConfig) -> None:
    """Settings that give one column two roles: the time, the id, a target, a covariate."""
    if cfg.target is not None and not cfg.target.replace(",", "").strip():
        raise DataError(f"--target {cfg.target!r} names no column; give the column(s) to forecast")
    targets = _target_names(cfg.target)
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
    names = _target_names(spec)
    for name in names:
        need_column(df, name, "target", path)
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
    """The schema of a frame whose covariate columns are gone: the time column first, then a
    series id (long format); without one, the target(s) of a single series or, failing that,
    every other column as a series (wide format)."""
    chosen = _target_names(cfg.target)
    cols = list(df.columns)
    notes: list[str] = []
    time_col = _time_column(df, cfg, path, chosen, notes)
    rest = [c for c in cols if c != time_col]
    if not rest:
        raise DataError(f"{path.name} has only the time column '{time_col}' and no values")
    id_col = _id_column(df, cfg, path, time_col, rest, chosen, notes)
    if id_col is not None:
        return _long_schema(df, cfg, path, time_col, id_col, [c for c in rest if c != id_col], notes)
    single = _single_schema(df, cfg, path, time_col, rest, notes)
    if single is not None:
        return single
    return _wide_schema(df, cfg, time_col, rest, notes)


def _target_names(spec: Optional[str]) -> list[str]:
    """The columns a --target setting names: 'a, b' is two; None names none."""
    return [t.strip() for t in (spec or "").split(",") if t.strip()]


def _columns_text(df: pd.DataFrame) -> str:
    return ", ".join(f"'{c}'" for c in df.columns)


def _time_column(df: pd.DataFrame, cfg: DataConfig, path: Path, chosen: list[str], notes: list[str]) -> str:
    """The time column: the one named so, else the one column whose values read as datetimes."""
    if cfg.time_col is not None:
        return need_column(df, cfg.time_col, "time", path)
    cols = list(df.columns)
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
            raise DataError(
                f"could not tell which column holds the time (columns: {_columns_text(df)}); pass --time-col"
            )
        time_col = found[0]
    notes.append(f"time column '{time_col}'")
    return time_col


def _id_column(df: pd.DataFrame, cfg: DataConfig, path: Path, time_col: str, rest: list[str], chosen: list[str],
               notes: list[str]) -> Optional[str]:
    """The series id column among the columns but the time: the one named so, else the one
    column of labels that is no target; None for a single series or a wide file."""
    if cfg.id_col is not None:
        if cfg.format == "wide":
            raise DataError("--id-col is for long format; a wide file has one column per series")
        id_col = need_column(df, cfg.id_col, "id", path)
        if id_col == time_col:
            raise DataError(f"column '{id_col}' cannot be both the time and the id column")
        return id_col
    if cfg.format == "wide":
        return None
    named = [c for c in _named(rest, ID_NAMES) if c not in chosen]
    text_cols = [
        c for c in rest
        if c not in chosen and c.lower() not in TARGET_NAMES and is_label_column(df[c])
    ]
    id_col = None
    if len(named) == 1:
        id_col = named[0]
    elif len(named) > 1:
        raise DataError(f"several columns could hold the series id ({', '.join(named)}); pass --id-col")
    elif len(text_cols) == 1:
        id_col = text_cols[0]
    if id_col is not None:
        notes.append(f"id column '{id_col}'")
    elif cfg.format == "long":
        raise DataError(f"long format needs a series id column (columns: {_columns_text(df)}); pass --id-col")
    return id_col


def _long_schema(df: pd.DataFrame, cfg: DataConfig, path: Path, time_col: str, id_col: str, rest: list[str],
                 notes: list[str]) -> tuple[Schema, list[str]]:
    """A long file: the target(s) among the columns but the time and the id."""
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
    _note_ignored(rest, target.split(","), notes)
    return Schema("long", time_col, id_col=id_col, target=target), ["long format"] + notes


def _single_schema(df: pd.DataFrame, cfg: DataConfig, path: Path, time_col: str, rest: list[str],
                   notes: list[str]) -> Optional[tuple[Schema, list[str]]]:
    """A file without ids whose target(s) are named, the only other column, or the one column
    named as a target; None when it is a wide file."""
    if cfg.target is not None:
        if cfg.format == "wide":
            raise DataError("--target picks one series column; with --format wide every column but the time is a series")
        target = _need_targets(df, cfg.target, path)
        _note_ignored(rest, target.split(","), notes)
        return Schema("single", time_col, target=target), ["single series" if "," not in target else "one file"] + notes
    if len(rest) == 1 and cfg.format != "wide":
        notes.append(f"target '{rest[0]}'")
        return Schema("single", time_col, target=rest[0]), ["single series"] + notes
    named = _named(rest, TARGET_NAMES)
    if len(named) == 1 and cfg.format != "wide":
        ignored = [c for c in rest if c != named[0]]
        notes += [f"target '{named[0]}'", f"ignoring columns {', '.join(ignored)}"]
        return Schema("single", time_col, target=named[0]), ["single series"] + notes
    return None


def _wide_schema(df: pd.DataFrame, cfg: DataConfig, time_col: str, rest: list[str],
                 notes: list[str]) -> tuple[Schema, list[str]]:
    """A wide file: every column but the time is a series, so none may hold labels."""
    for col in rest:
        if is_label_column(df[col]):
            first, line = _first_text(df[col])
            raise DataError(
                f"column '{col}' holds text ('{first}' at line {line}), but read as a wide file every column but the "
                f"time '{time_col}' is a series of numbers; if it names the series, pass --id-col {col}"
                + (" instead of --format wide" if cfg.format == "wide" else "")
            )
    notes.append(f"{len(rest)} series columns ({preview(rest, 4)})")
    return Schema("wide", time_col, series_cols=tuple(rest)), ["wide format"] + notes


def _note_ignored(rest: list[str], targets: list[str], notes: list[str]) -> None:
    ignored = [c for c in rest if c not in targets]
    if ignored:
        notes.append(f"ignoring columns {', '.join(ignored)}")


def _all_text(s: pd.Series) -> bool:
    """Labels, not numbers with a few placeholders: no value of the column reads as a number."""
    if not is_label_column(s):
        return False
    text = s.dropna().astype(str).str.strip().head(200)
    return bool(pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce").isna().all())


def _first_text(s: pd.Series) -> tuple[str, int]:
    """The first value of a column that is not a number, and its line."""
    text = s.dropna().astype(str).str.strip()
    bad = pd.to_numeric(text, errors="coerce").isna()
    i = int(np.flatnonzero(bad.to_numpy())[0]) if bad.any() else 0
    return text.iloc[i], int(file_lines(text.index[i:i + 1])[0])
