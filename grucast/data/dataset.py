"""Parquet, one file or a dataset: a folder of Parquet files as Spark, Dask, pyarrow's
write_dataset or pandas' to_parquet(partition_cols=...) write them, hive-style (folders named
column=value, whose value is a column of every row below; read as text, as written) or not.
A dataset is read as one table: its files in the order of their paths (files.dataset_files),
each file's rows in order, so row i counts as line i + 2 in messages, as in one Parquet file.

With a shard (train --shard-data), a process reads only the row groups that hold ids of its
shard (data.shards). It learns a row group's ids from the folder names (a dataset partitioned
by the id), else from the row group's statistics when they show one id (a file sorted by id,
written a series or a few per row group), else by reading the id column alone; every other
column is read only for the row groups that hold ids of its shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import unquote

import numpy as np
import pandas as pd

from grucast import files
from grucast.data import shards
from grucast.data.sniff import MAX_COLUMNS, one_line, parquet_head, refuse_duplicates
from grucast.errors import DataError

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # Hive's folder name for a missing partition value
_INDEX = "__index_level_"  # pandas' column for an index without a name: row numbers, not data


@dataclass
class Part:
    """One Parquet file of the data."""

    path: Path
    keys: dict[str, Optional[str]]  # hive-style columns from its folders' names
    meta: Any  # pyarrow.parquet.FileMetaData: row groups, their statistics (no open file)
    columns: list[str]  # its own columns, pandas' row-number column left out

    @property
    def row_groups(self) -> int:
        return self.meta.num_row_groups

    def rows(self, group: int) -> int:
        return self.meta.row_group(group).num_rows

    def read(self, groups: Optional[list[int]], columns: Optional[list[str]]) -> Any:
        """Some row groups (all: None) of some columns (all: None) as an Arrow table, a pandas
        index column with them. The file is open only meanwhile: a dataset of thousands of
        files must not hold thousands of them open."""
        f = _pq().ParquetFile(self.path, metadata=self.meta)  # the footer parsed once, in parts()
        try:
            if groups is None:
                return f.read(columns=columns, use_pandas_metadata=True)
            if len(groups) == 1:
                return f.read_row_group(groups[0], columns=columns, use_pandas_metadata=True)
            return f.read_row_groups(groups, columns=columns, use_pandas_metadata=True)
        finally:
            f.close()


@dataclass
class Read:
    """What a shard's reading read, for messages and tests."""

    row_groups: int = 0  # in the data
    read: int = 0  # read whole (every column), because they hold ids of the shard


def _pq():
    try:
        import pyarrow.parquet as pq
    except ImportError:  # an install without the parquet extra
        raise DataError("reading Parquet needs pyarrow: pip install 'grucast[parquet]'") from None
    return pq


def is_parquet(path: Path) -> bool:
    """A Parquet file by its name, or a folder (read as a Parquet dataset)."""
    path = Path(path)
    return path.suffix.lower() in (".parquet", ".pq") or path.is_dir()


def _keys(folder: Path, path: Path) -> dict[str, Optional[str]]:
    keys: dict[str, Optional[str]] = {}
    for name in path.relative_to(folder).parts[:-1]:
        if "=" in name:
            key, value = name.split("=", 1)
            value = unquote(value)
            keys[key.strip()] = None if value == HIVE_NULL else value
    return keys


def _signature(path: Path, where: Optional[str]) -> None:
    """parquet_head, saying for a file of a folder (where) that every file there is read."""
    if where is None:
        return parquet_head(path)
    try:
        parquet_head(path)
    except DataError:
        raise DataError(f"{where} is not a Parquet file; grucast reads every file of a folder (but names starting "
                        "with '.' or '_') as part of one Parquet dataset") from None


def parts(path: Path) -> tuple[list[Part], list[str]]:
    """The Parquet files of a file or folder and the data's columns (the first file's, then the
    folder names' keys); DataError for a file that is not Parquet or whose columns differ."""
    path = Path(path)
    folder = path.is_dir()
    found: list[Part] = []
    names: Optional[list[str]] = None
    for p in files.dataset_files(path, DataError) if folder else [path]:
        where = f"{p.relative_to(path)} in {path}" if folder else str(p)
        _signature(p, where if folder else None)
        try:
            meta = _pq().read_metadata(p)
            names_here = meta.schema.to_arrow_schema().names
        except DataError:
            raise
        except Exception as e:  # pyarrow.ArrowInvalid and friends: a damaged file
            raise DataError(f"{where} is not a readable Parquet file: {one_line(e)}") from None
        columns = [str(n) for n in names_here if not str(n).startswith(_INDEX)]
        refuse_duplicates(p, columns)
        keys = _keys(path, p) if folder else {}
        clash = sorted(set(keys) & set(columns))
        if clash:
            raise DataError(f"column '{clash[0]}' of {where} is also in its folder's name ({clash[0]}=...); "
                            "a dataset partitioned by a column leaves it out of the files")
        here = columns + sorted(keys)
        if names is None:
            names, first = here, where
        elif sorted(here) != sorted(names):
            raise DataError(f"{where} has the columns {', '.join(here)}, but {first} has {', '.join(names)}; "
                            "every file of one dataset needs the same columns")
        found.append(Part(p, keys, meta, columns))
    assert names is not None
    if len(names) > MAX_COLUMNS:
        raise DataError(f"{path} has {len(names):,} columns; grucast reads at most {MAX_COLUMNS:,}")
    return found, names


def _arrow(part: Part, groups: Optional[list[int]], names: list[str]) -> Any:
    """A file's rows (of some row groups, or all) as an Arrow table: its columns among names
    (a pandas index column comes along), then its folder names' columns."""
    import pyarrow as pa

    wanted = set(names)
    own = [c for c in part.columns if c in wanted]
    table = part.read(groups, None if len(own) == len(part.columns) else own)
    for key, value in part.keys.items():
        if key in wanted:
            column = pa.nulls(table.num_rows, pa.string()) if value is None else pa.repeat(value, table.num_rows)
            table = table.append_column(key, column)
    return table


def _frame(tables: list, index: Any, names: list[str]) -> pd.DataFrame:
    """Arrow tables of the data's rows as one raw frame of the columns names, in that order,
    row i of the data at index i (index: the index, or the first row's number). Put together as
    Arrow, which copies nothing, then made a frame once."""
    import pyarrow as pa

    try:
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise DataError(f"the files of the data give a column types that do not go together ({one_line(e)}); "
                        "write every file with the same column types") from None
    df = table.to_pandas()
    del table
    if any(n is not None for n in df.index.names):  # a named index (a DatetimeIndex pandas wrote) is data
        df = df.reset_index()
    df.columns = [str(c).strip() for c in df.columns]
    df.index = pd.RangeIndex(index, index + len(df)) if isinstance(index, int) else index
    return df[[n.strip() for n in names]]


def read(path: Path, rows: Optional[int] = None, columns: Optional[list[str]] = None) -> pd.DataFrame:
    """The raw frame of a Parquet file or dataset (its first rows with rows; only the named
    columns, each read alone, with columns)."""
    found, names = parts(path)
    if columns is not None:
        wanted = set(columns)
        names = [c for c in names if c.strip() in wanted]
    tables, first = [], 0
    for part in found:
        if rows is not None:  # the first row group(s) are enough
            for g in range(part.row_groups):
                tables.append(_arrow(part, [g], names))
                first += part.rows(g)
                if first >= rows:
                    return _frame(tables, 0, names).head(rows)
            continue
        tables.append(_arrow(part, None, names))
        first += tables[-1].num_rows
    return _frame(tables, 0, names) if tables else pd.DataFrame(columns=[n.strip() for n in names])


def _group_ids(part: Part, group: int, id_col: str) -> pd.Series:
    """The ids of one row group: from the folder's name, from its statistics when they show one
    id, else its id column read alone."""
    if id_col in part.keys:
        return pd.Series([part.keys[id_col]], dtype=object)
    meta = part.meta.row_group(group)
    leaf = next((meta.column(j) for j in range(meta.num_columns) if meta.column(j).path_in_schema == id_col), None)
    stats = leaf.statistics if leaf is not None else None
    if stats is not None and stats.has_min_max and stats.min == stats.max and stats.has_null_count and \
            stats.null_count == 0 and getattr(stats, "is_min_exact", True) and getattr(stats, "is_max_exact", True):
        return pd.Series([stats.min], dtype=object)  # one id, and no row without one (those go to shard 1)
    return part.read([group], [id_col]).column(id_col).to_pandas()


def read_shard(path: Path, id_col: str, shard: tuple[int, int], batch_rows: int = 1_000_000,
               suffixes: Optional[list[str]] = None) -> tuple[pd.DataFrame, Read]:
    """The rows of a Parquet file or dataset whose id is in shard, each at its row number in
    the whole data, reading whole only the row groups that hold some of them (about batch_rows
    rows at a time); suffixes as for data.shards.rows."""
    found, names = parts(path)
    raw = next((n for n in names if n.strip() == id_col), None)  # the name as the file writes it
    if raw is None:
        raise DataError(f"id column '{id_col}' is not in {path}; its columns are {', '.join(names)}")
    id_col = raw
    import pyarrow as pa

    tables, index, first, stats = [], [], 0, Read()
    for part in found:
        wanted: list[tuple[int, int, int]] = []  # (row group, its first row, its rows)
        for g in range(part.row_groups):
            stats.row_groups += 1
            n = part.rows(g)
            if n and shards.rows(_group_ids(part, g, id_col), shard, suffixes).any():
                wanted.append((g, first, n))
            first += n
        stats.read += len(wanted)
        for batch in _batches(wanted, batch_rows):
            table = _arrow(part, [g for g, _, _ in batch], names)
            keep = shards.rows(table.column(id_col).to_pandas(), shard, suffixes)
            tables.append(table.filter(pa.array(keep)))
            index.append(np.concatenate([np.arange(f, f + n) for _, f, n in batch])[keep])
    if not tables:
        return pd.DataFrame(columns=[n.strip() for n in names]), stats
    return _frame(tables, pd.Index(np.concatenate(index)), names), stats


def _batches(groups: list[tuple[int, int, int]], rows: int) -> list[list[tuple[int, int, int]]]:
    """The row groups cut into runs of about `rows` rows (one group at least)."""
    out: list[list[tuple[int, int, int]]] = []
    size = 0
    for g in groups:
        if not out or size + g[2] > rows:
            out.append([])
            size = 0
        out[-1].append(g)
        size += g[2]
    return out
