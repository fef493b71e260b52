"""Reading files: layouts, detection, and one test per bad-input error."""

from pathlib import Path

import pandas as pd
import pytest

from grucast.config.settings import DataConfig
from grucast.data.table import load_table
from grucast.errors import DataError
from grucast.ops.publish import Staged, publish

from conftest import sine_panel, write


def test_long_format_is_detected(long_csv):
    t = load_table(long_csv, DataConfig())
    assert t.schema.format == "long"
    assert (t.schema.time_col, t.schema.id_col, t.schema.target) == ("timestamp", "series_id", "value")
    assert t.schema.time_kind == "datetime"
    assert t.frame["series_id"].nunique() == 3 and len(t.frame) == 720
    assert "long format" in t.notes and "id column 'series_id'" in t.notes


def test_single_series_is_detected(tmp_path):
    p = write(tmp_path, "date,sales\n2024-01-01,3\n2024-01-02,4\n2024-01-03,5\n")
    t = load_table(p, DataConfig())
    assert t.schema.format == "single" and t.schema.target == "sales" and t.schema.time_col == "date"
    assert t.frame["y"].tolist() == [3.0, 4.0, 5.0]


def test_wide_format_is_detected(tmp_path):
    p = write(tmp_path, "when,north,south\n2024-01-01,1,10\n2024-01-02,2,20\n")
    t = load_table(p, DataConfig())
    assert t.schema.format == "wide" and t.schema.series_cols == ("north", "south")
    g = t.frame.groupby("series_id")["y"].sum()
    assert g["north"] == 3 and g["south"] == 30


def test_explicit_columns_win_over_detection(tmp_path):
    p = write(tmp_path, "store,t,units,price\na,1,5,9\na,2,6,9\nb,1,7,9\nb,2,8,9\n")
    with pytest.raises(DataError, match=r"several columns could be the target \(units, price\); pass --target"):
        load_table(p, DataConfig())
    t = load_table(p, DataConfig(time_col="t", id_col="store", target="units"))
    assert t.schema.time_kind == "int" and t.frame["y"].tolist() == [5, 6, 7, 8]


def test_forced_wide_format(tmp_path):
    p = write(tmp_path, "timestamp,value,other\n2024-01-01,1,2\n2024-01-02,2,3\n")
    assert load_table(p, DataConfig()).schema.format == "single"  # 'value' names the target
    assert load_table(p, DataConfig(format="wide")).schema.series_cols == ("value", "other")


def test_unsorted_rows_and_integer_steps(tmp_path):
    p = write(tmp_path, "series_id,step,value\nb,2,5\na,1,1\nb,1,4\na,2,2\n")
    t = load_table(p, DataConfig())
    assert t.schema.time_kind == "int"
    assert sorted(t.frame["series_id"].unique()) == ["a", "b"]


# ---- one test per user error: the exact message


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"^file not found: .*nope.csv$"):
        load_table(tmp_path / "nope.csv", DataConfig())


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"d.csv is empty$"):
        load_table(write(tmp_path, ""), DataConfig())


def test_header_only(tmp_path):
    with pytest.raises(DataError, match=r"has a header but no data rows"):
        load_table(write(tmp_path, "timestamp,value\n"), DataConfig())


def test_missing_column_lists_the_columns(long_csv):
    with pytest.raises(DataError) as e:
        load_table(long_csv, DataConfig(target="sales"))
    assert str(e.value) == "target column 'sales' is not in long.csv; its columns are 'series_id', 'timestamp', 'value'"


def test_non_numeric_target_names_line_and_value(tmp_path):
    p = write(tmp_path, "timestamp,value\n2024-01-01,1\n2024-01-02,2\n2024-01-03,abc\n")
    with pytest.raises(DataError) as e:
        load_table(p, DataConfig())
    assert str(e.value) == "non-numeric value 'abc' in column 'value' at line 4"


def test_unparsable_timestamp(tmp_path):
    p = write(tmp_path, "timestamp,value\n2024-01-01,1\nyesterday,2\n")
    with pytest.raises(DataError) as e:
        load_table(p, DataConfig())
    assert str(e.value) == "unparsable timestamp 'yesterday' in column 'timestamp' at line 3 (integer steps are allowed too)"


def test_missing_timestamp(tmp_path):
    p = write(tmp_path, "timestamp,value\n2024-01-01,1\n,2\n")
    with pytest.raises(DataError, match=r"^missing timestamp in column 'timestamp' at line 3$"):
        load_table(p, DataConfig())


def test_fractional_integer_time(tmp_path):
    p = write(tmp_path, "step,value\n1,1\n1.5,2\n")
    with pytest.raises(DataError, match=r"fractional number 1.5 at line 3"):
        load_table(p, DataConfig())


def test_duplicate_timestamps_within_a_series(tmp_path):
    p = write(tmp_path, "series_id,timestamp,value\na,2024-01-01,1\na,2024-01-02,2\nb,2024-01-01,3\na,2024-01-01,4\n")
    with pytest.raises(DataError) as e:
        load_table(p, DataConfig())
    assert str(e.value) == (
        "1 duplicate timestamp(s) within a series: series 'a' 2024-01-01 00:00:00 (lines 2 and 5); "
        "pass --duplicates mean, sum, last or first to aggregate them"
    )


def test_no_time_column_found(tmp_path):
    p = write(tmp_path, "a,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match=r"could not tell which column holds the time \(columns: 'a', 'b'\); pass --time-col"):
        load_table(p, DataConfig())


def test_empty_series_id(tmp_path):
    p = write(tmp_path, "series_id,timestamp,value\na,2024-01-01,1\n,2024-01-02,2\n")
    with pytest.raises(DataError, match=r"^empty series id in column 'series_id' at line 3$"):
        load_table(p, DataConfig())


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    df = sine_panel(n_series=2, length=30)
    df.to_parquet(tmp_path / "d.parquet")
    t = load_table(tmp_path / "d.parquet", DataConfig())
    assert t.schema.format == "long" and len(t.frame) == 60


def test_publishing_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def broken(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        publish([Staged(target, broken)])
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left behind
    publish([Staged(target, lambda tmp: Path(tmp).write_text("new\n"))])
    assert target.read_text() == "new\n"


def test_day_first_dates_are_read_day_first_throughout(tmp_path):
    # 01/02/2022 must not be read as January 2nd while 13/02/2022 is read as February 13th.
    ts = pd.date_range("2022-01-01", periods=60, freq="D")
    p = write(tmp_path, "date,sales\n" + "".join(f"{t:%d/%m/%Y},{i}\n" for i, t in enumerate(ts)))
    t = load_table(p, DataConfig())
    assert list(t.frame["time"]) == list(ts)


def test_semicolon_separated_file(tmp_path):
    p = write(tmp_path, "date;sales\n2024-01-01;1\n2024-01-02;2\n")
    t = load_table(p, DataConfig())
    assert t.schema.target == "sales" and t.frame["y"].tolist() == [1.0, 2.0]


def test_integer_data_for_a_datetime_model_is_named(tmp_path):
    from grucast.data.schema import Schema
    from grucast.data.table import load_table_like

    p = write(tmp_path, "date,sales\n0,1\n1,2\n")
    with pytest.raises(DataError, match=r"^column 'date' holds integer steps, but the model was trained on datetimes$"):
        load_table_like(p, Schema("single", "date", target="sales", time_kind="datetime"), DataConfig())


@pytest.mark.parametrize("policy, expected", [("mean", 2.5), ("sum", 5.0), ("first", 1.0), ("last", 4.0)])
def test_duplicates_can_be_aggregated(tmp_path, policy, expected):
    p = write(tmp_path, "series_id,timestamp,value\na,2024-01-01,1\na,2024-01-02,2\nb,2024-01-01,3\na,2024-01-01,4\n")
    t = load_table(p, DataConfig(duplicates=policy))
    a = t.frame[t.frame.series_id == "a"].set_index("time")["y"]
    assert a[pd.Timestamp("2024-01-01")] == expected and a[pd.Timestamp("2024-01-02")] == 2.0
    assert len(t.frame) == 3 and f"1 duplicate timestamp(s) aggregated by {policy}" in t.notes


def test_thousands_separators_and_decimal_commas(tmp_path):
    p = write(tmp_path, 'date,sales\n2024-01-01,"1,234.5"\n2024-01-02,17\n2024-01-03,"-2,000"\n')
    assert load_table(p, DataConfig()).frame["y"].tolist() == [1234.5, 17.0, -2000.0]
    q = write(tmp_path, "date;sales\n2024-01-01;1.234,5\n2024-01-02;12,25\n2024-01-03;7\n", name="eu.csv")
    t = load_table(q, DataConfig())
    assert t.frame["y"].tolist() == [1234.5, 12.25, 7.0] and "separator ';'" in t.notes


def test_explicit_separator(tmp_path):
    p = write(tmp_path, "date\tsales\n2024-01-01\t3\n2024-01-02\t4\n", name="d.tsv")
    assert load_table(p, DataConfig(sep="tab")).frame["y"].tolist() == [3.0, 4.0]
    with pytest.raises(DataError, match=r"^d.tsv has a single column \('date\tsales'\); a time series needs a time "
                                        r"column and a column of values \(if the file separates its fields otherwise, pass --sep\)$"):
        load_table(p, DataConfig(sep="|"))
