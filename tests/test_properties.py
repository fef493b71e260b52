"""Property tests of the readers and the panel builder on generated messy files.

Whatever the file, reading it either raises a GrucastError (one line for the user) or gives a
table and a panel whose invariants hold: every kept row of the file is in the table once per
series column, ids are non-empty text, values are finite or empty, every observed value sits
on its series' regular grid, and reading is deterministic.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grucast.config.settings import DataConfig
from grucast.data.freq import time_at
from grucast.data.panel import build_panel
from grucast.data.table import load_table, load_table_like
from grucast.errors import GrucastError

# pandas reads these (stripped) as empty: a row of nothing else is a blank row
NA_TOKENS = {"", "nan", "NaN", "NA", "N/A", "null", "NULL", "None", "<NA>", "-nan", "n/a", "#N/A"}

TIME_NAMES = ["timestamp", "date", "ds", "time", "Datum", "", "t [s]", "[/]"]
ID_NAMES = ["series_id", "id", "store", "ünique", "", "[bold]x[/bold]", "A", "A.1"]
VALUE_NAMES = ["value", "y", "sales", "A", "A.1", "", "größe", "日本", "a;b", 'q"uote', "[/]"]
IDS = ["a", "b", "007", "7", "x y", " a ", "[/]", "[bold]x[/bold]", "ü", "日本", "a,b", "NA", "1.5", "-", 'q"x']
VALUES = ["", "nan", "abc", "1,234.5", "1.234,5", "inf", "-inf", "1e39", " 7 ", "NA", "-0", "12,5", "true",
          "1e-320", "٣", "9" * 30]
TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S+01:00", "%d/%m/%Y",
                "%m/%d/%Y %H:%M", "%Y%m%d", "int", "mixed"]
BAD_TIMES = ["", "yesterday", "2024-13-45", "1.5", "NaT", "31/02/2024", "99999999999999999999", "2024-01-01 00:00"]
STEPS = [timedelta(hours=1), timedelta(days=1), timedelta(minutes=30), timedelta(days=31), timedelta(seconds=1),
         timedelta(days=7)]


def rarely(draw, hostile: bool, one_in: int) -> bool:
    """A messy choice: now and then in a hostile file, never in a tame one."""
    return hostile and draw(st.integers(0, one_in - 1)) == 0


@st.composite
def numbers(draw, hostile: bool) -> str:
    if rarely(draw, hostile, 4):
        return draw(st.sampled_from(VALUES))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["", "nan", "NA", "1,234.5", " 3.5 "]))  # empty, or readable
    x = draw(st.floats(allow_nan=False, allow_infinity=False, width=32, min_value=-1e6, max_value=1e6))
    return draw(st.sampled_from(["{:g}", "{:.3f}", "{:.0f}", "{!r}"])).format(x)


@st.composite
def times(draw, n: int, hostile: bool) -> list[str]:
    """n timestamps of one random format (or several), with gaps, repeats, disorder and junk."""
    fmt = draw(st.sampled_from(TIME_FORMATS if hostile else TIME_FORMATS[:-1]))
    low, high = (datetime(1600, 1, 1), datetime(2300, 1, 1)) if hostile else (datetime(1900, 1, 1), datetime(2100, 1, 1))
    start = draw(st.datetimes(min_value=low, max_value=high))
    step = draw(st.sampled_from(STEPS))
    ks = sorted(draw(st.lists(st.integers(0, 3 * n), min_size=n, max_size=n, unique=True)))
    if draw(st.booleans()):
        ks = draw(st.permutations(ks))
    if n > 1 and draw(st.integers(0, 4)) == 0:
        ks[-1] = ks[0]  # a repeated timestamp
    int_step = draw(st.sampled_from([1, 5, 2 ** 60] if hostile else [1, 5]))
    out = []
    for k in ks:
        f = draw(st.sampled_from(TIME_FORMATS[:-2])) if fmt == "mixed" else fmt
        out.append(str(k * int_step) if f == "int" else (start + k * step).strftime(f))
    if rarely(draw, hostile, 4):
        out[draw(st.integers(0, n - 1))] = draw(st.sampled_from(BAD_TIMES))
    return out


def field(text: str, sep: str, quote: bool) -> str:
    if quote or sep in text or '"' in text or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


@st.composite
def messy_files(draw):
    """(bytes of a CSV file, the physical line of every data record, whether each is blank).
    Half the files are tame (names grucast recognises, readable values and times) and messy
    only in ways a reader must cope with; the others are hostile."""
    hostile = draw(st.booleans())
    layout = draw(st.sampled_from(["long", "wide", "single"]))
    sep = draw(st.sampled_from([",", ",", ";", "\t", "|"]))
    n_series = draw(st.integers(1, 3))
    length = draw(st.integers(1, 7))
    time_name = draw(st.sampled_from(TIME_NAMES if hostile else TIME_NAMES[:5]))
    if layout == "long":
        id_name = draw(st.sampled_from(ID_NAMES if hostile else ID_NAMES[:2]))
        header = [id_name, time_name, draw(st.sampled_from(VALUE_NAMES if hostile else VALUE_NAMES[:2]))]
        ids = draw(st.lists(st.sampled_from(IDS if hostile else IDS[:11]), min_size=n_series, max_size=n_series, unique=True))
        if not hostile:
            ids = ["x" + i for i in ids]  # text, whatever else it holds
        rows = []
        for sid in ids:
            for t in draw(times(length, hostile)):
                rows.append([sid, t, draw(numbers(hostile))])
        if draw(st.booleans()):
            rows = draw(st.permutations(rows))
    else:
        cols = 1 if layout == "single" else n_series
        pool = VALUE_NAMES if hostile else ["sales", "größe", "日本", "a;b", "[/]", "north", "x y"]
        names = draw(st.lists(st.sampled_from(pool), min_size=cols, max_size=cols, unique=not hostile))
        header = [time_name] + names
        rows = [[t] + [draw(numbers(hostile)) for _ in range(cols)] for t in draw(times(length, hostile))]
    if rarely(draw, hostile, 3):
        header.append(draw(st.sampled_from(["note", "", "extra", "price"])))  # an extra column
        for r in rows:
            r.append(draw(st.sampled_from(["", "x", "1", "NA"])))
    if rarely(draw, hostile, 8):
        rows[draw(st.integers(0, len(rows) - 1))].append("1")  # one field too many
    if draw(st.integers(0, 8)) == 0:
        rows.insert(draw(st.integers(0, len(rows))), [""] * len(header))  # a row of empty fields
    quote_all = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines_out: list[str] = [""] * draw(st.sampled_from([0, 0, 0, 1, 2]))  # blank lines before the header
    lines_out.append(sep.join(field(h, sep, quote_all) for h in header))
    record_lines, blank = [], []
    for r in rows:
        while draw(st.integers(0, 9)) == 0:
            lines_out.append("")  # a blank line
        lines_out.append(sep.join(field(x, sep, quote_all) for x in r))
        record_lines.append(len(lines_out))
        blank.append(all(x.strip() in NA_TOKENS for x in r))
    text = newline.join(lines_out) + (newline if draw(st.booleans()) else "")
    data = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    if rarely(draw, hostile, 10):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\x00" + data[at:]
    return data, record_lines, blank


def read(data: bytes, cfg: DataConfig):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "d.csv"
        p.write_bytes(data)
        first = load_table(p, cfg)
        again = load_table(p, cfg)
        like = load_table_like(p, first.schema, cfg)
    return first, again, like


def check_table(table, record_lines, blank) -> None:
    f = table.frame
    ids = f["series_id"]
    assert ids.map(lambda s: isinstance(s, str) and s.strip() != "").all()
    y = f["y"].to_numpy(dtype=np.float64)
    assert not np.isinf(y).any() and (np.abs(y[~np.isnan(y)]) < 3.5e32).all()
    kept = {line for line, b in zip(record_lines, blank) if not b}
    # every kept row of the file, once per series column or target; no row invented
    assert set(f["line"].tolist()) == kept
    width = len(table.schema.series_cols) or len(table.schema.targets)
    assert len(f) == len(kept) * width and (f.groupby("line")["series_id"].nunique() == width).all()
    assert not f.duplicated(["series_id", "time"]).any()


def check_panel(table, fill: str) -> None:
    panel = build_panel(table, fill)
    n = panel.n_series
    assert panel.values.dtype == np.float32 and np.isfinite(panel.values).all()
    assert panel.offsets[0] == 0 and panel.offsets[-1] == len(panel.values) and (panel.lengths >= 1).all()
    assert len(panel.ids) == n == len(set(panel.ids)) and all(isinstance(i, str) and i.strip() for i in panel.ids)
    assert set(panel.ids) | set(panel.dropped) == set(table.frame["series_id"])
    f = table.frame.dropna(subset=["y"])
    for i, sid in enumerate(panel.ids):
        k = np.arange(panel.lengths[i])
        grid = time_at(panel.freq, np.full(len(k), panel.start[i]), k)
        grid = np.asarray(grid) if panel.freq.kind == "int" else pd.DatetimeIndex(grid)
        assert (np.diff(grid.asi8 if hasattr(grid, "asi8") else grid) > 0).all()  # strictly increasing
        rows = f[f["series_id"] == sid]
        at = pd.Index(grid).get_indexer(pd.Index(rows["time"]))
        assert (at >= 0).all()  # every observation on the grid
        got = panel.series(i)[at]
        assert np.array_equal(got, rows["y"].to_numpy(dtype=np.float32))


FAST = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])


@FAST
@given(messy_files(), st.sampled_from(["error", "error", "mean", "last"]), st.sampled_from(["interpolate", "ffill", "zero"]))
def test_a_messy_file_is_read_or_refused_in_one_line(file, duplicates, fill):
    data, record_lines, blank = file
    cfg = DataConfig(duplicates=duplicates)
    try:
        table, again, like = read(data, cfg)
    except GrucastError as e:
        assert str(e) and "\n" not in str(e)
        return
    pd.testing.assert_frame_equal(table.frame, again.frame)  # deterministic
    assert table.notes == again.notes and table.schema == again.schema
    pd.testing.assert_frame_equal(table.frame, like.frame)  # a model's reading agrees with detection
    if duplicates == "error":
        check_table(table, record_lines, blank)
    try:
        check_panel(table, fill)
    except GrucastError as e:
        assert str(e) and "\n" not in str(e)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(st.binary(max_size=300), st.sampled_from(["d.csv", "d.parquet", "d.csv.gz", "d.tsv"]))
def test_arbitrary_bytes_never_crash_the_reader(data, name):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(data)
        try:
            table = load_table(p, DataConfig())
        except GrucastError as e:
            assert str(e) and "\n" not in str(e)
            return
        build_panel(table, "interpolate") if len(table.frame) > 1 else None


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_arbitrary_text_never_crashes_the_reader(text):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "d.csv"
        p.write_text(text, encoding="utf-8")
        try:
            table = load_table(p, DataConfig())
            build_panel(table, "interpolate")
        except GrucastError as e:
            assert str(e) and "\n" not in str(e)


@pytest.mark.parametrize("text", [
    "date,v\n2024-01-01,1\n2024-01-01,2\n",
    "id,date,v\na,2024-01-02,1\na,2024-01-01,2\nb,2024-01-01,3\n",
    "step,v\n3,1\n1,2\n2,\n",
])
def test_reading_twice_gives_identical_frames(tmp_path, text):
    p = tmp_path / "d.csv"
    p.write_text(text)
    cfg = DataConfig(duplicates="mean")
    pd.testing.assert_frame_equal(load_table(p, cfg).frame, load_table(p, cfg).frame)
