"""Files a careless or hostile user may hand over: each is refused with one exact line (or read
right), never a traceback, never silently misread."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from grucast.config.settings import DataConfig
from grucast.data.panel import build_panel
from grucast.data.schema import Schema
from grucast.data.table import load_future, load_table, load_table_like
from grucast.errors import DataError

from conftest import TINY, cli, sine_panel

CSV = b"date,sales\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n"


def refused(path: Path, cfg: DataConfig = DataConfig()) -> str:
    with pytest.raises(DataError) as e:
        load_table(path, cfg)
    return str(e.value)


def put(tmp_path: Path, name: str, data) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def one_error_line(r) -> str:
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


# ---------------------------------------------------------------- files that are not CSV text


def _zip(members: dict) -> bytes:
    """A zip archive of members, the same bytes whenever it is made: its bytes name the tests
    (parametrize ids), and pytest-xdist needs every test process to collect the same names."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return b.getvalue()


@pytest.mark.parametrize("name, data, message", [
    ("b.csv", bytes(range(256)) * 4, "{p} holds NUL bytes (in line 1): it is a binary file, not CSV text"),
    ("b.csv", gzip.compress(CSV, mtime=0), "{p} is not CSV text: it is gzip-compressed; name it b.csv.gz or decompress it"),
    ("b.csv", _zip({"a.csv": CSV}), "{p} is not CSV text: it is a zip archive or an Excel workbook; export the sheet as CSV"),
    ("b.csv", b"\x89PNG\r\n\x1a\n" + bytes(40), "{p} is not CSV text: it is a PNG image"),
    ("b.csv", b"\x00" * 100, "{p} holds only NUL bytes, no text"),
    ("b.csv", CSV.decode().encode("utf-16"), "{p} is UTF-16 text; save it as UTF-8 (CSV UTF-8)"),
    ("b.csv", CSV.decode().encode("utf-16-le"), "{p} is UTF-16 text; save it as UTF-8 (CSV UTF-8)"),
    ("b.csv", "date,größe\n2024-01-01,1\n".encode("latin-1"), "{p} is not UTF-8 text (byte 0xf6 in line 1); save it as UTF-8"),
    ("b.csv", "date,sales\n2024-01-01,1\n2024-01-02,é\n".encode("latin-1"), "{p} is not UTF-8 text (byte 0xe9 in line 3); save it as UTF-8"),
    ("b.csv", b"sales\n1\n2\n", "b.csv has a single column ('sales'); a time series needs a time column and a column of "
                               "values (if the file separates its fields otherwise, pass --sep)"),
    ("b.csv", b"date,sales\n", "{p} has a header but no data rows"),
    ("b.csv", b"date,sales", "{p} has a header but no data rows"),
    ("b.csv", b"\n \n\n", "{p} is empty (it has only blank lines)"),
    ("b.csv", b"date,,sales\n2024-01-01,5,1\n2024-01-02,6,2\n", "column 2 of {p} has no name in the header; name it (or "
                                                               "remove it) so that it can be used"),
    ("b.csv", b",a,b\n2024-01-01,1,2\n2024-01-02,3,4\n", "column 1 of {p} has no name in the header; name it (or remove "
                                                         "it) so that it can be used"),
    ("b.csv", b'date,"sales\n2024-01-01,1\n', "the header (line 1) of {p} opens a quote it does not close"),
    ("b.csv.zip", _zip({"a.csv": CSV, "b.csv": CSV}), "{p} is a zip archive of 2 files; grucast reads a zip holding one CSV file"),
    ("b.parquet", CSV, "{p} is not a Parquet file (it looks like CSV text; name it b.csv)"),
    ("b.parquet", bytes(range(256)), "{p} is not a Parquet file (no Parquet signature)"),
    ("b.parquet", b"", "{p} is not a Parquet file (no Parquet signature)"),
])
def test_a_file_that_is_not_csv_text_is_one_clear_line(tmp_path, name, data, message):
    p = put(tmp_path, name, data)
    assert refused(p) == message.format(p=p)


def test_a_parquet_file_named_csv_and_a_cut_parquet_file(tmp_path):
    pytest.importorskip("pyarrow")
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=3), "sales": [1.0, 2, 3]}).to_parquet(tmp_path / "r.parquet")
    real = (tmp_path / "r.parquet").read_bytes()
    p = put(tmp_path, "r.csv", real)
    assert refused(p) == f"{p} is not CSV text: it is a Parquet file; name it r.parquet"
    cut = put(tmp_path, "cut.parquet", real[:200])
    assert refused(cut).startswith(f"{cut} is not a readable Parquet file: ")


def test_compressed_csv_files_named_so_are_read(tmp_path):
    for name, data in [("d.csv.gz", gzip.compress(CSV, mtime=0)), ("d.zip", _zip({"d.csv": CSV}))]:
        assert load_table(put(tmp_path, name, data), DataConfig()).frame["y"].tolist() == [1.0, 2.0, 3.0]


def test_a_pipe_or_device_is_not_read(tmp_path):
    fifo = tmp_path / "p.csv"
    os.mkfifo(fifo)
    assert refused(fifo) == (f"DATA {fifo} is a FIFO (named pipe), not a regular file; grucast reads a data file more "
                             "than once (to check, read and hash it) and never from a device: copy it to a file first")
    link = tmp_path / "z.csv"
    link.symlink_to("/dev/zero")
    assert refused(link).startswith(f"DATA {link} is a character device, not a regular file")


def test_an_endless_first_line_is_refused_without_reading_it_all(tmp_path):
    # A 100 MB one-line file, scaled down: anything over 16 MiB without a line break is no header.
    p = tmp_path / "long.csv"
    with open(p, "wb") as f:
        f.write(b"1," * (9 << 20))  # 18 MiB
    assert refused(p) == f"line 1 of {p} is over 16 MiB long; it is not a CSV header"
    wide = put(tmp_path, "wide.csv", ",".join(f"c{i}" for i in range(100_001)) + "\n1\n")
    assert refused(wide) == (f"{wide} has 100,001 columns in its header (line 1); grucast reads at most 100,000: write "
                             "that many series in long format (id, time, value)")


def test_a_row_with_more_fields_than_the_header_is_never_shifted(tmp_path):
    # pandas would take the first column for an index and shift every value one column left.
    p = put(tmp_path, "d.csv", "step,value\n1,10,99\n2,20,99\n")
    assert refused(p) == f"line 2 of {p} has more fields than the header (line 1) has column names (2); give every column a name"
    q = put(tmp_path, "e.csv", "step,value\n1,10\n\n2,20,99\n")
    assert refused(q) == f"line 4 of {q} has 3 fields, but the header has 2 columns"


def test_unnamed_columns_that_carry_nothing_are_left_out_with_a_note(tmp_path):
    p = put(tmp_path, "d.csv", ",date,sales,\n0,2024-01-01,1,\n1,2024-01-02,2,\n2,2024-01-03,3,\n")
    t = load_table(p, DataConfig())
    assert t.schema.format == "single" and t.frame["y"].tolist() == [1.0, 2.0, 3.0]
    assert t.notes[-2:] == ["ignoring the first column (no name; row numbers)", "ignoring column 4 (no name, no values)"]


def test_blank_lines_before_the_header_keep_line_numbers_right(tmp_path):
    p = put(tmp_path, "d.csv", "\r\n\r\ndate,sales\r\n2024-01-01,1\r\n\r\n2024-01-02,x\r\n")
    assert refused(p) == "non-numeric value 'x' in column 'sales' at line 6"


def test_a_separator_inside_a_quoted_name_does_not_win(tmp_path):
    p = put(tmp_path, "d.csv", '"date"|"a;b"\n2024-01-01|1\n2024-01-02|2\n')
    t = load_table(p, DataConfig())
    assert t.schema.target == "a;b" and t.frame["y"].tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- duplicate column names


@pytest.mark.parametrize("text, where", [
    ("date,A,A\n2024-01-01,1,2\n2024-01-02,3,4\n", "columns 2 and 3"),  # wide
    ("date,A,B, A\n2024-01-01,1,2,3\n2024-01-02,3,4,5\n", "columns 2 and 4"),  # spaces do not make a new name
    ("A,date,v,A\nx,2024-01-01,1,y\nx,2024-01-02,2,y\n", "columns 1 and 4"),  # long
    ("date;A;A;A\n2024-01-01;1;2;3\n", "columns 2, 3 and 4"),
])
def test_duplicate_column_names_are_refused(tmp_path, text, where):
    p = put(tmp_path, "w.csv", text)
    assert refused(p) == f"duplicate column name 'A' in the header of {p} ({where}); give every column its own name"


def test_duplicate_parquet_columns_are_refused(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table([pa.array(["2024-01-01", "2024-01-02"]), pa.array([1, 2]), pa.array([3, 4])], names=["date", "A", "A"])
    pq.write_table(table, tmp_path / "w.parquet")
    p = tmp_path / "w.parquet"
    assert refused(p) == f"duplicate column name 'A' in the header of {p} (columns 2 and 3); give every column its own name"


def test_a_genuine_column_named_like_a_pandas_duplicate_is_read(tmp_path):
    t = load_table(put(tmp_path, "w.csv", "date,A,A.1\n2024-01-01,1,2\n2024-01-02,3,4\n"), DataConfig())
    assert t.schema.series_cols == ("A", "A.1")
    assert t.frame.groupby("series_id")["y"].sum().to_dict() == {"A": 4.0, "A.1": 6.0}


def test_a_duplicate_column_is_one_error_line_on_the_command_line(tmp_path):
    p = put(tmp_path, "w.csv", "date,A,A\n" + "".join(f"2024-01-{d:02d},{d},{d}\n" for d in range(1, 29)))
    r = cli("train", p, "-o", tmp_path / "m.pt", *TINY)
    assert one_error_line(r) == f"Error: duplicate column name 'A' in the header of {p} (columns 2 and 3); give every column its own name"
    assert not (tmp_path / "m.pt").exists()


# ---------------------------------------------------------------- times and values


def test_naive_and_utc_offset_times_in_one_column_are_refused(tmp_path):
    p = put(tmp_path, "z.csv", "timestamp,value\n2024-01-01 00:00,1\n2024-01-01 01:00+00:00,2\n2024-01-01T02:00Z,3\n")
    assert refused(p) == ("column 'timestamp' mixes times with a UTC offset ('2024-01-01 01:00+00:00' at line 3) and "
                          "times without one ('2024-01-01 00:00' at line 2); write every time with its offset, or none")
    q = put(tmp_path, "d.csv", "date,value\n2024-03-30 00:00+01:00,1\n2024-03-31 00:00+02:00,2\n2024-04-01,3\n")
    assert refused(q).startswith("column 'date' mixes times with a UTC offset ('2024-03-30 00:00+01:00' at line 2)")
    same = put(tmp_path, "u.csv", "timestamp,value\n2024-01-01 00:00Z,1\n2024-01-01 01:00+00:00,2\n")
    assert str(load_table(same, DataConfig()).frame["time"].dt.tz) == "UTC"


def test_a_too_large_value_names_the_real_limit(tmp_path):
    p = put(tmp_path, "d.csv", "date,sales\n2024-01-01,1\n2024-01-02,1e33\n")
    assert refused(p) == ("value 1e+33 in column 'sales' at line 3 is too large: grucast reads values up to ±3.4e+32 "
                          "(float32, with room for arithmetic); rescale the column")
    ok = put(tmp_path, "ok.csv", "date,sales\n2024-01-01,1\n2024-01-02,3e32\n")
    assert load_table(ok, DataConfig()).frame["y"].iloc[1] == 3e32


def test_integer_steps_beyond_2_53_are_refused(tmp_path):
    p = put(tmp_path, "d.csv", "step,v\n0,1\n10000000000000000000,2\n")
    assert refused(p) == ("time column 'step' holds the step 10000000000000000000 at line 3, beyond ±9,007,199,254,740,992 "
                          "(2^53); use smaller integer steps or datetimes")


def test_a_grid_far_larger_than_the_data_is_refused_before_it_is_allocated(tmp_path):
    # one mistyped year on minute data would ask for a hundred million points
    rows = "".join(f"2024-01-01 00:{m:02d},{m}\n" for m in range(50)) + "2224-01-01 00:00,1\n"
    p = put(tmp_path, "d.csv", "timestamp,v\n" + rows)
    with pytest.raises(DataError) as e:
        build_panel(load_table(p, DataConfig()), "interpolate")
    assert str(e.value) == (
        "the series of d.csv would need 105,189,121 points on a grid of 'min' for 51 rows (series 'series' alone spans "
        "2024-01-01 00:00:00 to 2224-01-01 00:00:00); look for a mistyped timestamp, or aggregate the data to a coarser frequency"
    )
    wide = put(tmp_path, "y.csv", "date,v\n1700-01-01,1\n1700-01-02,2\n2200-01-01,3\n")
    with pytest.raises(DataError, match=r"^timestamps of y.csv span more than 292 years \(1700-01-01 00:00:00 to "
                                        r"2200-01-01 00:00:00\), which grucast cannot place on one grid; look for a mistyped year$"):
        build_panel(load_table(wide, DataConfig()), "interpolate")


# ---------------------------------------------------------------- one column, two roles

LONG = "series_id,timestamp,value,price\n" + "".join(f"{s},2024-01-0{d},{d},{d * 2}\n" for s in "ab" for d in range(1, 6))


@pytest.mark.parametrize("settings, message", [
    (dict(target="timestamp"), "--target names 'timestamp', which is the time column; pass --target with the column(s) "
                               "to forecast (or --time-col, if the time is in another column)"),
    (dict(target="value,timestamp", id_col="series_id"), "--target names 'timestamp', which is the time column; pass "
     "--target with the column(s) to forecast (or --time-col, if the time is in another column)"),
    (dict(target="series_id"), "--target names 'series_id', which holds text ('a' at line 2), not numbers to forecast; "
                               "pass --target with a column of numbers (a column of labels is a series id: --id-col)"),
    (dict(target="series_id", id_col="series_id"), "column 'series_id' cannot be both the id column and the target; "
                                                   "give every column one role"),
    (dict(time_col="value", target="value"), "column 'value' cannot be both the time column and the target; give every "
                                             "column one role"),
    (dict(id_col="timestamp", time_col="timestamp"), "column 'timestamp' cannot be both the time column and the id "
                                                     "column; give every column one role"),
    (dict(id_col="timestamp"), "column 'timestamp' cannot be both the time and the id column"),
    (dict(target="price", future_covariates=("price",)), "column 'price' cannot be both the target and a future "
                                                         "covariate; give every column one role"),
    (dict(id_col="series_id", static_covariates=("series_id",)), "column 'series_id' cannot be both the id column and "
                                                                 "a static covariate; give every column one role"),
    (dict(past_covariates=("timestamp",)), "column 'timestamp' cannot be both a covariate and the time column"),
    (dict(future_covariates=("price", "price")), "column 'price' is named twice as a future covariate"),
    (dict(target=" , "), "--target ' , ' names no column; give the column(s) to forecast"),
    (dict(format="wide"), "column 'series_id' holds text ('a' at line 2), but read as a wide file every column but "
                          "the time 'timestamp' is a series of numbers; if it names the series, pass --id-col series_id "
                          "instead of --format wide"),
])
def test_a_column_given_two_roles_is_named(tmp_path, settings, message):
    assert refused(put(tmp_path, "d.csv", LONG), DataConfig(**settings)) == message


def test_target_naming_the_time_column_on_the_command_line(tmp_path):
    p = put(tmp_path, "d.csv", LONG)
    r = cli("train", p, "-o", tmp_path / "m.pt", *TINY, "--target", "timestamp")
    assert one_error_line(r) == ("Error: --target names 'timestamp', which is the time column; pass --target with the "
                                 "column(s) to forecast (or --time-col, if the time is in another column)")


# ---------------------------------------------------------------- a model's columns missing from new data


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny model trained once on a long file of series_id, timestamp, value."""
    folder = tmp_path_factory.mktemp("model")
    sine_panel(n_series=2, length=120).to_csv(folder / "d.csv", index=False)
    r = cli("train", folder / "d.csv", "-o", folder / "m.pt", *TINY, "--epochs", "1", "--horizon", "4",
            "--input-size", "12", "--max-steps", "3", "--no-manifest", "-q")
    assert r.exit_code == 0, r.output
    return folder / "m.pt"


def renamed_id(tmp_path) -> Path:
    p = tmp_path / "new.csv"
    sine_panel(n_series=2, length=120).rename(columns={"series_id": "store"}).to_csv(p, index=False)
    return p


@pytest.mark.parametrize("command", [
    lambda m, d, out: ["predict", m, d, "-o", out / "f.csv"],
    lambda m, d, out: ["evaluate", m, d],
    lambda m, d, out: ["train", d, "-o", out / "m2.pt", "--init-from", m, "--epochs", "1", "--max-steps", "2"],
], ids=["predict", "evaluate", "init-from"])
def test_a_renamed_id_column_names_what_the_model_needs(tmp_path, model, command):
    r = cli(*command(model, renamed_id(tmp_path), tmp_path))
    assert one_error_line(r) == (
        "Error: id column 'series_id' is not in new.csv; its columns are 'store', 'timestamp', 'value'; the model was "
        "trained on a long file of columns 'series_id', 'timestamp', 'value'"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv"]  # nothing written


LONG_SCHEMA = Schema("long", "timestamp", id_col="series_id", target="value", future_cols=("promo",))
SINGLE_SCHEMA = Schema("single", "timestamp", target="value")
WIDE_SCHEMA = Schema("wide", "timestamp", series_cols=("s0", "s1"))


@pytest.mark.parametrize("schema, frame, message", [
    (LONG_SCHEMA, lambda df: df.assign(promo=0).drop(columns="timestamp"),
     "time column 'timestamp' is not in x.csv; its columns are 'series_id', 'value', 'promo'; the model was trained on a "
     "long file of columns 'series_id', 'timestamp', 'value', 'promo'"),
    (LONG_SCHEMA, lambda df: df,
     "future covariate column 'promo' is not in x.csv; its columns are 'series_id', 'timestamp', 'value'; the model was "
     "trained on a long file of columns 'series_id', 'timestamp', 'value', 'promo'"),
    (SINGLE_SCHEMA, lambda df: df.pivot(index="timestamp", columns="series_id", values="value").reset_index(),
     "target column 'value' is not in x.csv; its columns are 'timestamp', 's0', 's1'; the model was trained on a single "
     "series in columns 'timestamp', 'value'"),
    (WIDE_SCHEMA, lambda df: df,
     "column 'series_id' of x.csv holds text ('s0'), but the model was trained on a wide file, where every column but "
     "the time 'timestamp' is a series of numbers"),
    (WIDE_SCHEMA, lambda df: df[["timestamp"]].drop_duplicates().assign(x=1).rename(columns={"timestamp": "when"}),
     "time column 'timestamp' is not in x.csv; its columns are 'when', 'x'; the model was trained on a wide file: time "
     "column 'timestamp' and one column per series"),
])
def test_a_file_unlike_the_models_data_is_one_line(tmp_path, schema, frame, message):
    p = tmp_path / "x.csv"
    frame(sine_panel(n_series=2, length=10)).to_csv(p, index=False)
    with pytest.raises(DataError) as e:
        load_table_like(p, schema, DataConfig())
    assert str(e.value) == message


def test_a_long_file_for_a_single_series_model_says_so(tmp_path):
    p = tmp_path / "x.csv"
    sine_panel(n_series=2, length=3).to_csv(p, index=False)
    with pytest.raises(DataError) as e:
        load_table_like(p, SINGLE_SCHEMA, DataConfig())
    assert str(e.value).endswith("the model was trained on a single series: if the file holds several, train a model "
                                 "on it in long format; else pass --duplicates mean, sum, last or first to aggregate them")


def test_a_future_file_without_the_id_column(tmp_path):
    p = tmp_path / "f.csv"
    pd.DataFrame({"timestamp": ["2024-01-01"], "promo": [1]}).to_csv(p, index=False)
    with pytest.raises(DataError) as e:
        load_future(p, LONG_SCHEMA, DataConfig())
    assert str(e.value) == "id column 'series_id' is not in f.csv; its columns are 'timestamp', 'promo'"


def test_a_parquet_file_whose_time_is_its_index_is_read(tmp_path):
    pytest.importorskip("pyarrow")
    index = pd.DatetimeIndex(pd.date_range("2024-01-01", periods=3), name="date")
    pd.DataFrame({"sales": [1.0, 2.0, 3.0]}, index=index).to_parquet(tmp_path / "d.parquet")
    t = load_table(tmp_path / "d.parquet", DataConfig())
    assert (t.schema.time_col, t.schema.target) == ("date", "sales") and t.frame["y"].tolist() == [1.0, 2.0, 3.0]
