"""grucast check: the data doctor's report and exit codes."""

import json

import numpy as np
import pandas as pd

from conftest import cli, sine_panel


def check(*args):
    return cli("check", *args)


def test_a_good_file_exits_0_and_says_what_training_would_do(long_csv):
    r = check(long_csv, "--horizon", "12", "--input-size", "24")
    assert r.exit_code == 0, r.stdout
    assert "3 series, 720 points, frequency 'h'" in r.stdout
    assert "Series lengths: min 240, median 240, max 240" in r.stdout
    assert "579 training windows per epoch" in r.stdout  # 3 x (240 - 12 - 24 - 12 + 1)
    assert r.stdout.strip().endswith("OK: this file can be trained on")


def test_findings_are_listed_and_counted(tmp_path):
    df = sine_panel(n_series=2, length=100)
    df = df.drop(index=[5, 6, 7])  # three missing hours in s0
    df.loc[20, "value"] = np.nan  # one empty value
    flat = pd.DataFrame({"series_id": "flat", "timestamp": pd.date_range("2024-01-01", periods=100, freq="h"), "value": 5.0})
    tiny = pd.DataFrame({"series_id": "tiny", "timestamp": pd.date_range("2024-01-01", periods=5, freq="h"), "value": 1.0 + np.arange(5)})
    pd.concat([df, flat, tiny]).to_csv(tmp_path / "d.csv", index=False)
    r = check(tmp_path / "d.csv", "--horizon", "6", "--input-size", "24", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["ok"] and out["gaps"] == 3 and out["empty_values"] == 1
    assert out["constant_series"] == ["flat"]
    # Gaps and a short series turn on the mask and left padding, down to min_input = 24 // 4.
    assert out["min_input"] == 6
    assert out["series_without_training_window"] == ["tiny"] and out["series_too_short_to_forecast"] == ["tiny"]
    assert out["lengths"] == {"min": 5, "median": 100.0, "max": 100}


def test_unusable_files_exit_1_with_the_reason(tmp_path):
    (tmp_path / "dup.csv").write_text("timestamp,value\n2024-01-01,1\n2024-01-01,2\n")
    r = check(tmp_path / "dup.csv")
    assert r.exit_code == 1 and "Problem: 1 duplicate timestamp(s) within a series" in r.stdout
    assert "Not trainable" in r.stdout

    sine_panel(n_series=2, length=29).to_csv(tmp_path / "short.csv", index=False)
    r = check(tmp_path / "short.csv", "--horizon", "12", "--input-size", "24", "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["problems"] == [
        "every series is too short to train on: a series needs at least min_input + horizon + val_size = "
        "6 + 12 + 12 = 30 points, and the longest has 29"
    ]
    assert not any("padded" in w for w in json.loads(r.stdout)["warnings"])  # none is long enough to pad

    df = sine_panel(n_series=1, length=100).drop(index=[50])
    df.to_csv(tmp_path / "gap.csv", index=False)
    r = check(tmp_path / "gap.csv", "--fill", "error", "--horizon", "6", "--input-size", "12")
    assert r.exit_code == 1 and "1 missing grid point(s) and 0 empty value(s), and --fill error refuses them" in r.stdout


def test_a_missing_file_is_reported_as_a_problem(tmp_path):
    r = check(tmp_path / "nope.csv")
    assert r.exit_code == 1 and "file not found" in r.stdout
