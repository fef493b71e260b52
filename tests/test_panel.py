"""The Panel: grids, frequencies, gap filling and future timestamps."""

import numpy as np
import pandas as pd
import pytest

from grucast.config.settings import DataConfig
from grucast.data.panel import build_panel
from grucast.data.table import load_table
from grucast.errors import DataError


def panel_from(tmp_path, df, fill="interpolate", **cfg):
    p = tmp_path / "d.csv"
    df.to_csv(p, index=False)
    return build_panel(load_table(p, DataConfig(**cfg)), fill)


@pytest.mark.parametrize(
    "freq, name, season",
    [("h", "h", 24), ("30min", "30min", 48), ("D", "D", 7), ("W-SUN", "W-SUN", 52), ("MS", "MS", 12), ("QS-JAN", "QS-JAN", 4)],
)
def test_frequency_is_inferred(tmp_path, freq, name, season):
    df = pd.DataFrame({"timestamp": pd.date_range("2021-01-03", periods=40, freq=freq), "value": np.arange(40.0)})
    p = panel_from(tmp_path, df)
    assert p.freq.name == name and p.freq.season() == season
    assert p.n_filled == 0 and p.values.dtype == np.float32 and p.values.flags["C_CONTIGUOUS"]


def test_integer_steps(tmp_path):
    df = pd.DataFrame({"step": [10, 15, 20, 30], "value": [1.0, 2.0, 3.0, 5.0]})
    p = panel_from(tmp_path, df)
    assert p.freq.kind == "int" and p.freq.step == 5 and p.freq.season() is None
    assert p.values.tolist() == [1, 2, 3, 4, 5]  # the gap at 25 interpolated
    assert list(p.times_after(np.array([0]), 2)) == [35, 40]


def gappy():
    ts = pd.date_range("2024-01-01", periods=6, freq="h").delete([2, 3])
    return pd.DataFrame({"series_id": ["a"] * 4 + ["b"] * 3,
                         "timestamp": list(ts) + list(pd.date_range("2024-01-01", periods=3, freq="h")),
                         "value": [1.0, 2.0, 5.0, 6.0, 7.0, None, 9.0]})


@pytest.mark.parametrize("fill, a, b", [
    ("interpolate", [1, 2, 3, 4, 5, 6], [7, 8, 9]),
    ("ffill", [1, 2, 2, 2, 5, 6], [7, 7, 9]),
    ("zero", [1, 2, 0, 0, 5, 6], [7, 0, 9]),
])
def test_gaps_are_filled_by_policy_and_counted(tmp_path, fill, a, b):
    p = panel_from(tmp_path, gappy(), fill=fill)
    assert p.series(0).tolist() == a and p.series(1).tolist() == b
    assert p.n_filled == 3  # two missing rows in a, one empty value in b


def test_fill_error_names_the_first_gap(tmp_path):
    with pytest.raises(DataError) as e:
        panel_from(tmp_path, gappy(), fill="error")
    assert str(e.value) == (
        "series 'a' has a gap at 2024-01-01 02:00:00 (3 missing point(s) in all); "
        "pass --fill interpolate, ffill or zero to fill gaps"
    )


def test_empty_values_at_the_ends_are_trimmed_not_filled(tmp_path):
    df = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=5, freq="D"), "value": [None, 1, 2, 3, None]})
    p = panel_from(tmp_path, df)
    assert p.series(0).tolist() == [1, 2, 3] and p.n_filled == 0
    assert str(p.times_after(np.array([0]), 1)[0]) == "2024-01-05 00:00:00"


def test_a_gap_never_leaks_across_series(tmp_path):
    df = pd.DataFrame({"series_id": ["a", "a", "b", "b", "b"], "timestamp": [0, 1, 0, 2, 3], "value": [1.0, 2.0, 100.0, 300.0, 400.0]})
    p = panel_from(tmp_path, df)
    assert p.series(0).tolist() == [1, 2]
    assert p.series(1).tolist() == [100, 200, 300, 400]


def test_series_order_follows_the_file(tmp_path):
    df = pd.DataFrame({"series_id": ["z", "z", "a", "a"], "timestamp": [1, 2, 1, 2], "value": [1.0, 2, 3, 4]})
    assert list(panel_from(tmp_path, df).ids) == ["z", "a"]


def test_off_grid_timestamp_is_an_error(tmp_path):
    ts = list(pd.date_range("2024-01-01", periods=10, freq="h")) + [pd.Timestamp("2024-01-01 10:30")]
    df = pd.DataFrame({"timestamp": ts, "value": np.arange(11.0)})
    with pytest.raises(DataError, match=r"timestamp 2024-01-01 10:30:00 of series 'series' \(line 12\) is off the regular grid"):
        panel_from(tmp_path, df)


def test_time_zone_is_kept(tmp_path):
    ts = pd.date_range("2024-03-30", periods=48, freq="h", tz="Europe/Berlin")  # spans a DST change
    df = pd.DataFrame({"timestamp": ts, "value": np.arange(48.0)})
    p = panel_from(tmp_path, df)
    assert p.n_filled == 0 and len(p.values) == 48
    nxt = p.times_after(np.array([0]), 2)
    assert nxt[0] == ts[-1] + pd.Timedelta("1h") and nxt.tz is not None


def test_monthly_future_times(tmp_path):
    df = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=12, freq="MS"), "value": np.arange(12.0)})
    p = panel_from(tmp_path, df)
    assert [str(t.date()) for t in p.times_after(np.array([0]), 3)] == ["2021-01-01", "2021-02-01", "2021-03-01"]


def test_daily_data_with_gaps_is_still_daily(tmp_path):
    ts = pd.date_range("2024-01-01", periods=30, freq="D")
    keep = [i for i in range(30) if i % 3 != 2]  # every third day missing: no gap-free run of three
    df = pd.DataFrame({"timestamp": ts[keep], "value": np.arange(30.0)[keep]})
    p = panel_from(tmp_path, df)
    assert p.freq.name == "D" and p.n_filled == 9
