"""File (or DataFrame) -> Table: read, detect or apply a schema, parse, refuse duplicates; also
the tables predict reads like the training file and the future rows merged onto them.

Every loader takes a path or a DataFrame (data.read.read_source): a DataFrame enters as the raw
frame a file gives, and messages call it 'the DataFrame' where they would name the file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from grucast.config.settings import DataConfig
from grucast.data.detect import detect_schema, is_label_column, need_column
from grucast.data.parse import distinct_text, file_lines, parse_time, parse_values, static_values
from grucast.data.read import FUTURE_FRAME, Source, head_rows, ids_as_written, read_shard, read_source
from grucast.data.schema import COV, SINGLE_SERIES_ID, STATIC, Schema, Table
from grucast.data.sniff import Layout
from grucast.errors import DataError


def to_table(df: pd.DataFrame, schema: Schema, path: Path, notes: Optional[list[str]] = None,
             expected_kind: Optional[str] = None, duplicates: str = "error", sep: str = ",") -> Table:
    """Turn a raw frame into tidy observations, checking every value. Duplicate timestamps
    within a series are an error, or aggregated by the duplicates policy (mean, sum, last,
    first)."""
    decimal_comma = sep == ";"
    for col in [schema.time_col, schema.id_col, *schema.targets, *schema.series_cols]:
        if col is not None:
            need_column(df, col, "time" if col == schema.time_col else "expected", path)
    for cols, kind in ((schema.future_cols, "future"), (schema.past_cols, "past"), (schema.static_cols, "static")):
        for col in cols:
            need_column(df, col, f"{kind} covariate", path)
    time, kind = parse_time(df[schema.time_col], schema.time_col, expected_kind)
    schema = dataclasses.replace(schema, time_kind=kind)
    # The raw frame is the caller's scratch copy: a column parsed is dropped at once, so its
    # text (the largest part of a big file) is freed before the tidy frame is built.
    lines = file_lines(df.index)
    del df[schema.time_col]
    if schema.format == "long":
        codes, distinct = distinct_text(df[schema.id_col])
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
            "y": parse_values(df[schema.target], schema.target, decimal_comma),
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
            "y": np.concatenate([parse_values(df[t], t, decimal_comma) for t in targets]),
            "line": np.tile(lines, len(targets)),
        })
    else:
        n = len(df)
        columns = [parse_values(df[c], c, decimal_comma) for c in schema.series_cols]
        frame = pd.DataFrame({
            "series_id": np.repeat(np.array(schema.series_cols, dtype=object), n),
            "time": np.tile(time.to_numpy(), len(columns)),
            "y": np.concatenate(columns),
            "line": np.tile(lines, len(columns)),
        })
    copies = len(frame) // max(len(df), 1)  # one per target
    for col in schema.past_cols + schema.future_cols:
        frame[COV + col] = np.tile(parse_values(df[col], col, decimal_comma, flags=True), copies)
    for col in schema.static_cols:
        frame[STATIC + col] = np.tile(static_values(df[col], col, decimal_comma).to_numpy(), copies)
    notes = list(notes or [])
    frame = _duplicates(frame, schema, duplicates, notes, like_model=expected_kind is not None)
    return Table(frame=frame, schema=schema, path=Path(path), notes=notes, parts=parts)


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


def load_table(source: Source, cfg: DataConfig, shard: Optional[tuple[int, int]] = None) -> Table:
    """Read a file (or take a DataFrame) and find its series, detecting what the settings leave
    open. shard (i, n): only the series of shard i of n (--shard-data: one process of a torchrun
    job each), read from a long CSV or Parquet file or a Parquet dataset; the columns' roles are
    found on its first rows and taken for the whole of it. The table remembers its shard (Table.shard)."""
    if shard is not None and shard[1] > 1 and not isinstance(source, pd.DataFrame):
        return _load_shard(Path(source), cfg, shard)
    df, layout, read_notes, path = read_source(source, cfg.sep)
    schema, notes = detect_schema(df, cfg, path)
    df = ids_as_written(df, schema, path, layout)
    sep = layout.sep if layout else ""
    if sep not in (",", ""):
        notes.append(f"separator {sep!r}")
    return to_table(df, schema, path, notes + read_notes, duplicates=cfg.duplicates, sep=sep)


def _load_shard(path: Path, cfg: DataConfig, shard: tuple[int, int]) -> Table:
    schema, detected = detect_schema(head_rows(path, cfg.sep), cfg, path)  # what detection found, said once
    if schema.format == "single":
        raise DataError(f"--shard-data splits a file's series over the processes; {path.name} is a single series: "
                        "leave it out")
    if schema.format == "wide":
        return _load_wide_shard(path, cfg, shard, schema, detected)
    fixed = dataclasses.replace(cfg, id_col=schema.id_col, time_col=schema.time_col, target=",".join(schema.targets),
                                format="long")
    df, layout, read_notes = read_shard(path, cfg.sep, schema.id_col, shard)
    schema, _ = detect_schema(df, fixed, path)
    notes = detected
    sep = layout.sep if layout else ""
    if sep not in (",", ""):
        notes.append(f"separator {sep!r}")
    table = to_table(df, schema, path, notes + read_notes, duplicates=cfg.duplicates, sep=sep)
    table.shard = shard
    table.places = _places(table)
    return table


def _places(table: Table) -> dict[str, tuple[int, int]]:
    """The series' order in the whole long file: by target (several: a's, then b's), then by
    the line each first appears on."""
    first = table.frame.groupby("series_id", sort=False)["line"].min()
    target = {k: table.schema.targets.index(t) for k, (_, t) in table.parts.items()}
    return {str(k): (target.get(k, 0), int(v)) for k, v in first.items()}


def _load_wide_shard(path: Path, cfg: DataConfig, shard: tuple[int, int], whole: Schema, notes: list[str]) -> Table:
    """A wide file's shard: the time column and the series columns of the shard, read alone
    (the columns of a CSV file parsed, of Parquet read, only for those)."""
    from grucast.data.read import read_with_layout

    places = _wide_places(path, whole.series_cols, shard, required=True)
    own = list(places)
    df, layout, _ = read_with_layout(path, cfg.sep, columns=[whole.time_col, *own])
    fixed = dataclasses.replace(cfg, time_col=whole.time_col, format="wide", target=None, id_col=None)
    schema, _ = detect_schema(df, fixed, path)
    sep = layout.sep if layout else ""
    notes = notes + ([f"separator {sep!r}"] if sep not in (",", "") else [])
    notes.append(f"shard {shard[0]} of {shard[1]} read from {len(own):,} of {len(whole.series_cols):,} series columns")
    table = to_table(df, schema, path, notes, duplicates=cfg.duplicates, sep=sep)
    table.schema = dataclasses.replace(table.schema, series_cols=whole.series_cols)  # the file's, as one process has
    table.shard, table.places = shard, places
    return table


def _wide_places(path: Path, columns, shard: tuple[int, int], required: bool) -> dict[str, tuple[int, int]]:
    """The series columns of a wide file that shard holds, each with its place in the file
    (Table.places: the series' order is the columns'); DataError when it holds none and one is
    required (training)."""
    from grucast.data.shards import contains

    places = {c: (0, i) for i, (c, mine) in enumerate(zip(columns, contains(list(columns), shard))) if mine}
    if not places and required:
        raise DataError(f"{path}: this process's shard {shard[0]} of {shard[1]} holds none of its {len(columns)} "
                        "series columns; use fewer processes than series")
    return places


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


def load_table_like(source: Source, schema: Schema, cfg: DataConfig, shard: Optional[tuple[int, int]] = None,
                    by_id: bool = False) -> Table:
    """Read a new file (or take a DataFrame) with the columns a model was trained on (no
    detection), with the reading settings it was trained with. shard (i, n): only the rows (a
    wide file: the columns) of the series of shard i of n are read from a file (Table.shard and
    Table.places set, as load_table sets them); a shard that holds none gives a table of no
    series, whose columns come from the file's first row (Table.stand_in). A model of several
    targets has a series 'id/target' each, and predict shards by that text: the rows of an id
    are read when any of its series is in the shard; by_id: when the id is (train's rule)."""
    sharded = shard is not None and shard[1] > 1 and not isinstance(source, pd.DataFrame) and schema.format != "single"
    if sharded:
        df, layout, path, own, columns = _read_shard_like(Path(source), schema, cfg, shard, by_id)
    else:
        df, layout, _, path = read_source(source, cfg.sep)
    _need_trained(df, schema, path)
    if schema.format == "wide":
        # A wide file may carry other series than the training file: forecast all of them.
        present = tuple(c for c in df.columns if c != schema.time_col)
        if not present:
            raise DataError(f"{path.name} has only the time column '{schema.time_col}' and no series")
        for col in present:
            if is_label_column(df[col]):
                first = df[col].dropna().astype(str).iloc[0]
                raise DataError(
                    f"column '{col}' of {path.name} holds text ('{first}'), but the model was trained on a wide "
                    f"file, where every column but the time '{schema.time_col}' is a series of numbers"
                )
        schema = dataclasses.replace(schema, series_cols=present)
    df = ids_as_written(df, schema, path, layout)
    table = to_table(df, schema, path, expected_kind=schema.time_kind, duplicates=cfg.duplicates,
                     sep=layout.sep if layout else "")
    if sharded:
        table.shard, table.stand_in = shard, not own
        table.places = _places(table) if schema.format == "long" else own
        if columns is not None:  # a wide file's: all of them, as one process reads them
            table.schema = dataclasses.replace(table.schema, series_cols=columns)
    return table


def _read_shard_like(path: Path, schema: Schema, cfg: DataConfig, shard: tuple[int, int], by_id: bool
                     ) -> tuple[pd.DataFrame, Optional[Layout], Path, Any, Optional[tuple[str, ...]]]:
    """The raw rows of shard's series for load_table_like, its layout, the path, what the shard
    holds (true when it holds series; of a wide file its series columns, each with its place in
    the file, for Table.places) and a wide file's series columns. by_id (training): a shard of
    no series is an error, as load_table's."""
    from grucast.data.read import read_with_layout

    head = head_rows(path, cfg.sep, rows=1)
    if schema.format == "long":
        need_column(head, schema.id_col, "id", path)
        # A model of several targets forecasts a series 'id/target' each, sharded by that text.
        suffixes = [f"/{t}" for t in schema.targets] if len(schema.targets) > 1 and not by_id else None
        df, layout, _ = read_shard(path, cfg.sep, schema.id_col, shard, empty_ok=not by_id, suffixes=suffixes)
        if len(df):
            return df, layout, path, True, None
        return head.astype({schema.id_col: str}), layout, path, False, None  # it stands in, for the columns
    present = [c for c in head.columns if c != schema.time_col]
    own = _wide_places(path, present, shard, required=by_id)
    df, layout, _ = read_with_layout(path, cfg.sep, columns=[schema.time_col, *(list(own) or present[:1])])
    return df, layout, path, own, tuple(present)


def load_future(source: Source, schema: Schema, cfg: DataConfig) -> Table:
    """A file (or DataFrame) of future covariates over the forecast horizon: the id and time
    columns and the model's future covariates; the target and the other covariates may be left
    out."""
    df, layout, _, path = read_source(source, cfg.sep, FUTURE_FRAME)
    _need_trained(df, schema, path, future=True)
    df = df.copy()
    for target in schema.targets:
        if target not in df.columns:
            df[target] = np.nan
    future_schema = dataclasses.replace(schema, past_cols=(), static_cols=())
    df = ids_as_written(df, future_schema, path, layout)
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
    return dataclasses.replace(table, frame=frame)  # its schema, notes, targets and shard kept
