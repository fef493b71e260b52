"""Reading a CSV or Parquet file into a raw frame (after the checks of data.sniff), with the file
line of every row kept for messages; or taking a caller's DataFrame as that raw frame
(read_source), so that frames and files go through the same detection and parsing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd

from grucast.data import dataset, shards
from grucast.data.schema import Schema
from grucast.data.sniff import MAX_COLUMNS, Layout, csv_layout, one_line, refuse_duplicates
from grucast.errors import DataError
from grucast.files import data_input

# ---------------------------------------------------------------- reading


_BLANK = "\x00unnamed "  # placeholder of a column without a name until it is dropped or refused


def _csv_options(layout: Layout) -> dict:
    opts = dict(sep=layout.sep, skipinitialspace=True, skip_blank_lines=False, index_col=False)
    if layout.names is not None:
        names = [n if n else f"{_BLANK}{i}" for i, n in enumerate(layout.names)]
        opts.update(header=0, names=names, skiprows=layout.skip)
    return opts


def _read_csv(path: Path, layout: Layout, columns: Optional[list[str]] = None) -> pd.DataFrame:
    # Blank lines are read as empty rows and then dropped, so that row i is line i + 2 of the
    # file (+ the blank lines before the header) and error messages point at the right line.
    import warnings

    with warnings.catch_warnings():
        # More fields in the first row than the header has names: pandas would make the first
        # column the index (shifting every value one column) or drop the extra fields.
        warnings.filterwarnings("error", message="Length of header", category=pd.errors.ParserWarning)
        try:
            wanted = None if columns is None else set(columns)
            usecols = None if wanted is None else (lambda c: str(c).strip() in wanted)
            df = pd.read_csv(path, **_csv_options(layout), usecols=usecols)
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


def read_with_layout(path: Path, sep: Optional[str], columns: Optional[list[str]] = None
                     ) -> tuple[pd.DataFrame, Optional[Layout], list[str]]:
    """The raw table of a CSV or Parquet file (by extension) or a Parquet folder, its CSV layout
    (None for Parquet) and notes on columns left out; only the named columns when columns are
    given (a wide file's shard). Without sep, a comma is tried first, then ';', tab and '|' when
    a comma gives one column whose name holds one of them."""
    data_input(path, "DATA", DataError)
    layout = None
    try:
        if dataset.is_parquet(path):
            df = _parquet(lambda: dataset.read(path, columns=columns), path)
        else:
            layout = csv_layout(path, sep)
            df = _read_csv(path, layout, columns)
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


def _parquet(read, path: Path):
    """read(), pyarrow's errors on a damaged file as one DataError line."""
    try:
        return read()
    except (DataError, MemoryError):
        raise
    except Exception as e:  # pyarrow.ArrowInvalid and friends
        raise DataError(f"{path} is not a readable Parquet file: {one_line(e)}") from None


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


# ---------------------------------------------------------------- a caller's DataFrame


FRAME = "the DataFrame"  # what messages call a DataFrame given instead of a file


FUTURE_FRAME = "the future DataFrame"


Source = Union[str, Path, pd.DataFrame]  # what the readers of data.table take


# pandas 3 copies on write: a shallow copy is a scratch copy whose changes never reach the caller's frame.
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


def read_source(source: Source, sep: Optional[str], name: str = FRAME
                ) -> tuple[pd.DataFrame, Optional[Layout], list[str], Path]:
    """read_with_layout for a file; for a DataFrame, the raw frame read_frame makes of it, no
    layout, and name as the path messages show ('the DataFrame')."""
    if isinstance(source, pd.DataFrame):
        df, notes = read_frame(source, name)
        return df, None, notes, Path(name)
    path = Path(source)
    df, layout, notes = read_with_layout(path, sep)
    return df, layout, notes, path


def read_frame(frame: pd.DataFrame, name: str = FRAME) -> tuple[pd.DataFrame, list[str]]:
    """A caller's DataFrame as the raw frame of a file: a scratch copy (the caller's frame is
    never changed) with text column names, stripped; a named index (a DatetimeIndex named
    'timestamp', the levels of a MultiIndex) turned into columns, as for Parquet; rows with no
    value at all left out, as blank lines are. Row i is line i + 2 in messages: its line in
    the CSV file frame.to_csv(index=False) writes."""
    if isinstance(frame.columns, pd.MultiIndex):
        raise DataError(f"{name} has columns of several levels (a MultiIndex); give every column one name "
                        "(for example frame.columns = ['_'.join(map(str, c)) for c in frame.columns])")
    if len(frame.columns) > MAX_COLUMNS:
        raise DataError(f"{name} has {len(frame.columns):,} columns; grucast reads at most {MAX_COLUMNS:,}")
    df = frame.copy(deep=not _COPY_ON_WRITE)
    df.columns = [str(c).strip() for c in df.columns]
    refuse_duplicates(Path(name), list(df.columns))
    if any(n is not None for n in df.index.names):
        names = [str(n).strip() for n in df.index.names if n is not None]
        clash = [n for n in names if n in df.columns]
        if clash:
            raise DataError(f"the index '{clash[0]}' of {name} is also one of its columns; drop one of them "
                            "(frame.reset_index(drop=True) drops the index)")
        df = df.reset_index()
        df.columns = [str(c).strip() for c in df.columns]
    elif isinstance(df.index, (pd.DatetimeIndex, pd.PeriodIndex)):
        raise DataError(f"{name} has its timestamps in an index without a name; name it "
                        "(frame.index.name = 'timestamp') or make it a column (frame.reset_index())")
    if len(df.columns) == 0:
        raise DataError(f"{name} has no columns")
    df = df.reset_index(drop=True)
    notes = _unnamed(df, Path(name), pandas_names=True)  # 'Unnamed: 0': pandas read a column without a name
    blank = df.isna().all(axis=1).to_numpy()
    if blank.any():
        df = df[~blank]  # the index keeps every other row's position, so lines stay right
    if len(df) == 0:
        raise DataError(f"{name} has no rows" if len(blank) == 0 else f"{name} has no values (every row is empty)")
    return df, notes


def ids_as_written(df: pd.DataFrame, schema: Schema, path: Path, layout: Optional[Layout]) -> pd.DataFrame:
    """Series ids exactly as the file writes them: '007' stays '007', not the number 7."""
    if schema.format != "long" or layout is None or not pd.api.types.is_numeric_dtype(df[schema.id_col]):
        return df
    opts = _csv_options(layout)
    ids = pd.read_csv(path, **opts, usecols=[schema.id_col], dtype=str)[schema.id_col]
    ids.index = ids.index + (layout.skip if layout.names is not None else 0)
    df = df.copy()
    df[schema.id_col] = ids.loc[df.index]
    return df


# ---------------------------------------------------------------- one shard of the series


CHUNK_ROWS = 1_000_000  # rows parsed at once when a process reads only its shard of a CSV file


def head_rows(path: Path, sep: Optional[str], rows: int = 10_000) -> pd.DataFrame:
    """The first rows of a CSV or Parquet file (or dataset) as read_with_layout reads them, to
    find its columns' roles before the whole of it is read in shards."""
    data_input(path, "DATA", DataError)
    if dataset.is_parquet(path):
        df, layout = _parquet(lambda: dataset.read(path, rows=rows), path), None
    else:
        layout = csv_layout(path, sep)
        df = pd.read_csv(path, **_csv_options(layout), nrows=rows)
        df = df[df.notna().any(axis=1)]
        df.columns = [str(c).strip() for c in df.columns]
    _unnamed(df, path, pandas_names=layout is not None and layout.names is None)  # as read_with_layout leaves them out
    if len(df) == 0:
        raise DataError(f"{path} has a header but no data rows")
    return df


def read_shard(path: Path, sep: Optional[str], id_col: str, shard: tuple[int, int], empty_ok: bool = False,
               suffixes: Optional[list[str]] = None) -> tuple[pd.DataFrame, Optional[Layout], list[str]]:
    """read_with_layout for the rows of one shard of a long file's series (data.shards, by the
    CRC-32 of the id's text; rows without an id go to shard 1, which refuses them). A CSV file is
    parsed in chunks of CHUNK_ROWS rows, each cut to its shard before the next is read; of
    Parquet, only the row groups that hold ids of the shard are read (data.dataset). Row
    numbers, and so the file lines in messages, are those of the whole file. A shard without
    rows is an error unless empty_ok. suffixes: a row belongs to the shard when its id with any
    of them does (the series 'id/target' of a model of several targets)."""
    data_input(path, "DATA", DataError)
    layout, notes = None, []
    if dataset.is_parquet(path):
        df, stats = _parquet(lambda: dataset.read_shard(path, id_col, shard, suffixes=suffixes), path)
        notes = [f"shard {shard[0]} of {shard[1]} read from {stats.read:,} of {stats.row_groups:,} Parquet row groups"]
    else:
        layout = csv_layout(path, sep)
        df = _csv_shard(path, layout, id_col, shard, suffixes)
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0 and not empty_ok:
        raise DataError(f"{path}: this process's shard {shard[0]} of {shard[1]} holds none of its series; "
                        "use fewer processes than series")
    return df, layout, notes


def _csv_shard(path: Path, layout: Layout, id_col: str, shard: tuple[int, int], suffixes: Optional[list[str]]
               ) -> pd.DataFrame:
    try:
        opts = {**_csv_options(layout), "dtype": {id_col: str}, "chunksize": CHUNK_ROWS}
        parts = []
        with pd.read_csv(path, **opts) as reader:
            for chunk in reader:
                chunk = chunk[chunk.notna().any(axis=1)]
                chunk.columns = [str(c).strip() for c in chunk.columns]
                parts.append(chunk[shards.rows(chunk[id_col], shard, suffixes)])
        df = pd.concat(parts) if parts else pd.DataFrame()
    except pd.errors.ParserError as e:
        raise DataError(f"{path} is not a readable CSV file: {one_line(e)}") from None
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path}: {one_line(e)}") from None
    if layout.skip:
        df.index = df.index + layout.skip
    return df
