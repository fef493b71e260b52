"""The real commands on real files: what a user sees and what lands on disk."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from grucast.evaluation import metrics

from conftest import TINY, cli, shard_sorted, sine_panel


def train_ok(data, model, *extra):
    r = cli("train", data, "-o", model, *TINY, *extra)
    assert r.exit_code == 0, r.stderr
    return r


def test_train_then_predict_long_csv(long_csv, tmp_path):
    r = train_ok(long_csv, tmp_path / "m.pt", "--horizon", "12", "--input-size", "36")
    assert (tmp_path / "m.pt").is_file()
    assert "long format, time column 'timestamp', id column 'series_id', target 'value'" in r.stderr
    assert "3 series, 720 points, frequency 'h'" in r.stderr
    assert "Chose season 24 (from the frequency)" in r.stderr
    assert "GRU" in r.stdout and "seasonal naive (m=24)" in r.stdout and "MASE" in r.stdout
    assert "\x1b[" not in r.stderr  # no colour or progress codes when stderr is not a terminal

    p = cli("predict", tmp_path / "m.pt", long_csv, "-o", tmp_path / "f.csv")
    assert p.exit_code == 0, p.stderr
    assert "Wrote 36 forecasts for 3 series" in p.stderr
    f = pd.read_csv(tmp_path / "f.csv", parse_dates=["timestamp"])
    assert list(f.columns) == ["series_id", "timestamp", "forecast", "method"]
    data = pd.read_csv(long_csv, parse_dates=["timestamp"])
    for sid, g in f.groupby("series_id"):
        last = data[data.series_id == sid].timestamp.max()
        assert list(g.timestamp) == list(pd.date_range(last + pd.Timedelta("1h"), periods=12, freq="h"))
        level = data[data.series_id == sid].value.tail(24).mean()
        assert np.isfinite(g.forecast).all()
        assert abs(g.forecast.mean() - level) < 0.5 * level  # the scale of each series comes back


def test_forecasts_are_accurate_on_a_clean_seasonal_series(tmp_path):
    df = sine_panel(n_series=4, length=420, seed=1)
    cut = df.groupby("series_id").head(396)
    truth = df.groupby("series_id").tail(24)
    cut.to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", "--horizon", "24", "--input-size", "48",
            "--hidden-size", "16", "--num-layers", "1", "--epochs", "15", "--ensemble", "1", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["metrics"]["gru"]["mase"] < 1.5
    p = cli("predict", tmp_path / "m.pt", tmp_path / "d.csv", "--format", "csv")
    f = pd.read_csv(__import__("io").StringIO(p.stdout))
    truth = shard_sorted(truth)  # the order predict writes
    assert (f.series_id.to_numpy() == truth.series_id.to_numpy()).all()
    err = np.abs(f.forecast.to_numpy() - truth.value.to_numpy())
    level = truth.groupby("series_id").value.transform("mean").to_numpy()
    assert np.mean(err / level) < 0.1  # within 10% of each series' level on average


def test_json_output_of_train(long_csv, tmp_path):
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, "--horizon", "12", "--input-size", "24", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    # 3 series of 240 points; the last 12 are validation: 240 - 12 - 24 - 12 + 1 windows each.
    assert out["windows"] == {"train_per_epoch": 3 * 193, "validation": 3}
    assert out["training"]["steps"] == 2 * int(np.ceil(3 * 193 / 64))
    assert out["training"]["windows_per_s"] > 0 and out["training"]["train_seconds"] > 0
    assert list(out["metrics"]["gru"]) == metrics.names([], quantiles=False)  # one registry for every report
    assert {"mae", "rmse", "smape", "mase"} <= set(out["metrics"]["gru"])
    assert out["config"]["model"]["input_size"] == 24 and out["config"]["data"]["season"] == 24


def test_single_series_and_wide_files(tmp_path):
    ts = pd.date_range("2024-01-01", periods=200, freq="D")
    y = 100 + 10 * np.sin(2 * np.pi * np.arange(200) / 7)
    pd.DataFrame({"date": ts, "sales": y}).to_csv(tmp_path / "one.csv", index=False)
    train_ok(tmp_path / "one.csv", tmp_path / "one.pt")
    p = cli("predict", tmp_path / "one.pt", tmp_path / "one.csv", "--format", "csv")
    f = pd.read_csv(__import__("io").StringIO(p.stdout))
    assert list(f.columns) == ["date", "forecast", "method"] and len(f) == 14  # daily default horizon
    assert f.date.iloc[0] == "2024-07-19"

    pd.DataFrame({"date": ts, "north": y, "south": 2 * y}).to_csv(tmp_path / "wide.csv", index=False)
    r = train_ok(tmp_path / "wide.csv", tmp_path / "wide.pt", "--horizon", "7")
    assert "wide format" in r.stderr
    p = cli("predict", tmp_path / "wide.pt", tmp_path / "wide.csv", "--format", "json")
    out = json.loads(p.stdout)
    assert out["series"] == 2 and {r["series_id"] for r in out["forecasts"]} == {"north", "south"}
    assert len(out["forecasts"]) == 14


def test_predict_table_is_the_default_output(long_csv, tmp_path):
    train_ok(long_csv, tmp_path / "m.pt", "--horizon", "4", "--input-size", "24")
    p = cli("predict", tmp_path / "m.pt", long_csv)
    assert p.exit_code == 0
    assert "Forecast: 4 steps for 3 series" in p.stdout and "s2" in p.stdout


def test_config_file_and_flags(long_csv, tmp_path):
    (tmp_path / "c.yaml").write_text("model:\n  horizon: 6\n  input_size: 30\n  hidden_size: 4\ntraining:\n  epochs: 1\n")
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", "--config", tmp_path / "c.yaml", "--input-size", "20", "-v", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["config"]["model"]["horizon"] == 6 and out["config"]["model"]["input_size"] == 20
    assert out["config"]["model"]["hidden_size"] == 4
    assert "Resolved config:" in r.stderr and "input_size: 20" in r.stderr


def test_a_series_too_short_for_the_network_gets_a_marked_naive_forecast(tmp_path):
    """Every series gets a forecast: one shorter than the network reads gets the naive one
    (its last value), says so in the method column, on stderr with -q and in the manifest,
    and exits 0."""
    df = sine_panel(n_series=2, length=200)
    tiny = pd.DataFrame({"series_id": "tiny", "timestamp": pd.date_range("2024-01-01", periods=5, freq="h"),
                         "value": [3.0, 4.0, 2.0, 5.0, 7.5]})
    pd.concat([df, tiny]).to_csv(tmp_path / "d.csv", index=False)
    train_ok(tmp_path / "d.csv", tmp_path / "m.pt", "--horizon", "6", "--input-size", "24")
    p = cli("predict", tmp_path / "m.pt", tmp_path / "d.csv", "-o", tmp_path / "f.csv", "-q", "--manifest")
    assert p.exit_code == 0, p.stderr
    assert "1 series shorter than the 6 points the model needs got a naive forecast instead (method column): tiny" in p.stderr
    f = pd.read_csv(tmp_path / "f.csv")
    assert set(f.series_id) == {"s0", "s1", "tiny"} and len(f) == 3 * 6
    t = f[f.series_id == "tiny"]
    assert (t.method == "naive").all() and (t.forecast == 7.5).all()
    assert list(t.timestamp) == [str(x) for x in pd.date_range("2024-01-01 05:00", periods=6, freq="h")]
    assert (f[f.series_id != "tiny"].method == "gru").all()
    manifest = json.loads((tmp_path / "f.csv.manifest.json").read_text())
    assert manifest["series_fallback"] == {"tiny": "naive"} and manifest["series_forecast"] == 3
    j = cli("predict", tmp_path / "m.pt", tmp_path / "d.csv", "--format", "json")
    assert json.loads(j.stdout)["fallback"] == {"tiny": "naive"}


def test_a_short_series_with_two_seasons_gets_seasonal_naive_with_normal_intervals(tmp_path):
    """A quantile model's fallback: seasonal naive when the series holds two seasons, and
    intervals from the series' own in-sample seasonal errors, wider one season further out."""
    df = sine_panel(n_series=2, length=300)
    rng = np.random.default_rng(1)
    short = 50.0 + 10 * np.sin(2 * np.pi * np.arange(54) / 24) + rng.normal(0, 1, 54)
    pd.concat([df, pd.DataFrame({"series_id": "short", "value": np.round(short, 4),
                                 "timestamp": pd.date_range("2024-03-01", periods=54, freq="h")})]
              ).to_csv(tmp_path / "d.csv", index=False)
    train_ok(tmp_path / "d.csv", tmp_path / "m.pt", "--horizon", "30", "--input-size", "120", "--min-input", "60",
             "--intervals", "80")
    p = cli("predict", tmp_path / "m.pt", tmp_path / "d.csv", "-o", tmp_path / "f.csv")
    assert p.exit_code == 0, p.stderr
    assert "got a seasonal naive forecast instead" in p.stderr
    t = pd.read_csv(tmp_path / "f.csv").query("series_id == 'short'")
    x = np.round(short, 4)
    assert (t.method == "seasonal_naive").all() and len(t) == 30
    np.testing.assert_allclose(t.forecast, x[54 - 24 + np.arange(30) % 24], rtol=1e-6)
    sigma = np.sqrt(np.mean((x[24:] - x[:-24]) ** 2))
    width = np.where(np.arange(30) < 24, 1.0, np.sqrt(2.0)) * sigma * 1.2815516
    np.testing.assert_allclose(t["hi-80"] - t.forecast, width, rtol=1e-4)
    np.testing.assert_allclose(t.forecast - t["lo-80"], width, rtol=1e-4)


def test_sample_data_trains_and_predicts(sample_csv, tmp_path):
    r = cli("train", sample_csv, "-o", tmp_path / "m.pt", "--season", "24", "--horizon", "48", *TINY, "--max-steps", "5")
    assert r.exit_code == 0, r.stderr
    assert "6 series, 4,980 points, frequency integer steps of 1" in r.stderr
    p = cli("predict", tmp_path / "m.pt", sample_csv, "--format", "csv")
    f = pd.read_csv(__import__("io").StringIO(p.stdout))
    assert len(f) == 6 * 48 and f.groupby("series_id").step.min().to_dict()["H1"] == 700


# ---- user errors: one line, exit 1, nothing written


def one_error_line(r, code=1):
    assert r.exit_code == code, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.mark.parametrize(
    "content, args, message",
    [
        (None, [], "Error: file not found: missing.csv"),
        ("", [], "Error: data.csv is empty"),
        ("timestamp,value\n", [], "Error: data.csv has a header but no data rows"),
        ("timestamp,value\n2024-01-01,1\n2024-01-02,x\n", [], "Error: non-numeric value 'x' in column 'value' at line 3"),
        ("timestamp,value\n2024-01-01,1\nnever,2\n", [], "Error: unparsable timestamp 'never' in column 'timestamp' at line 3 (integer steps are allowed too)"),
        ("timestamp,value\n2024-01-01,1\n2024-01-01,2\n", [], "Error: 1 duplicate timestamp(s) within a series: 2024-01-01 00:00:00 (lines 2 and 3); if the file holds several series in long format, pass --id-col; else pass --duplicates mean, sum, last or first to aggregate them"),
        ("timestamp,value\n2024-01-01,1\n", ["--target", "sales"], "Error: target column 'sales' is not in data.csv; its columns are 'timestamp', 'value'"),
        ("timestamp,value\n2024-01-01,1\n2024-01-02,2\n", ["--horizon", "0"], "Error: model.horizon (--horizon) must be positive, got 0"),
        ("timestamp,value\n2024-01-01,1\n2024-01-02,2\n", ["--input-size", "-4"], "Error: model.input_size (--input-size) must be positive, got -4"),
        ("step,value\n1,1\n2,2\n3,3\n", ["--horizon", "2"], "Error: the time column holds integer steps, so the season cannot be inferred: pass --season M (1 for none)"),
    ],
)
def test_train_user_errors(tmp_path, content, args, message):
    data = tmp_path / ("missing.csv" if content is None else "data.csv")
    if content is not None:
        data.write_text(content)
    r = cli("train", data.name, "-o", "m.pt", *args)
    assert one_error_line(r) == message
    assert not (tmp_path / "m.pt").exists()


def test_every_series_too_short(tmp_path):
    # Shorter series than input_size + horizon + val_size are padded on the left, down to
    # min_input (a quarter of input_size by default) observed input points.
    sine_panel(n_series=2, length=29).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", "--horizon", "12", "--input-size", "24")
    assert one_error_line(r) == (
        "Error: every series is too short to train on: a series needs at least min_input + horizon + val_size = "
        "6 + 12 + 12 = 30 points, and the longest has 29; use a smaller --input-size or --horizon"
    )
    assert not (tmp_path / "m.pt").exists()


def test_bad_checkpoint_and_bad_predict_data_leave_old_output_intact(long_csv, tmp_path):
    train_ok(long_csv, tmp_path / "m.pt", "--horizon", "6", "--input-size", "24")
    assert cli("predict", tmp_path / "m.pt", long_csv, "-o", "f.csv").exit_code == 0
    before = (tmp_path / "f.csv").read_bytes()
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not really a zip")
    r = cli("predict", "junk.pt", long_csv, "-o", "f.csv")
    assert one_error_line(r, code=3).startswith("Error: junk.pt is not a grucast checkpoint")
    (tmp_path / "bad.csv").write_text("series_id,timestamp,value\na,2024-01-01,1\na,2024-01-02,oops\n")
    r = cli("predict", "m.pt", "bad.csv", "-o", "f.csv")
    assert one_error_line(r) == "Error: non-numeric value 'oops' in column 'value' at line 3"
    assert (tmp_path / "f.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary files


def test_predict_with_other_frequency_is_refused(long_csv, tmp_path):
    train_ok(long_csv, tmp_path / "m.pt", "--horizon", "6", "--input-size", "24")
    sine_panel(n_series=1, length=60, freq="D").to_csv(tmp_path / "daily.csv", index=False)
    r = cli("predict", "m.pt", "daily.csv")
    assert one_error_line(r) == "Error: daily.csv has 'D' between timestamps, but the model was trained on 'h'"


def test_bad_flags_exit_2(long_csv):
    r = cli("train", long_csv, "-o", "m.pt", "--no-such-flag")
    assert r.exit_code == 2 and "No such option" in r.stderr
    r = cli("train", long_csv)  # -o is required
    assert r.exit_code == 2
    r = cli("predict", "m.pt", long_csv, "--format", "xml")
    assert r.exit_code == 2


def test_python_dash_m_and_version():
    r = subprocess.run([sys.executable, "-m", "grucast", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("grucast ")
    r = subprocess.run([sys.executable, "-m", "grucast", "train", "--help"], capture_output=True, text=True)
    text = " ".join(r.stdout.split())
    assert r.returncode == 0 and "Usage: grucast train [OPTIONS]" in text
    assert "--input-size" in text and "an epoch is one pass over every training window" in text


def test_output_format_follows_the_extension(long_csv, tmp_path):
    train_ok(long_csv, tmp_path / "m.pt", "--horizon", "3", "--input-size", "24")
    assert cli("predict", "m.pt", long_csv, "-o", "f.json").exit_code == 0
    records = json.loads((tmp_path / "f.json").read_text())
    assert len(records) == 9 and records[0]["timestamp"] == "2024-01-11 00:00:00"
    assert [r["series_id"] for r in records[::3]] == ["s1", "s0", "s2"]  # shard order: by the CRC-32 of the id
    assert cli("predict", "m.pt", long_csv, "-o", "f.parquet").exit_code == 0
    pq = pd.read_parquet(tmp_path / "f.parquet")
    csv_out = cli("predict", "m.pt", long_csv, "--format", "csv").stdout
    assert pq.forecast.tolist() == pd.read_csv(__import__("io").StringIO(csv_out)).forecast.tolist()


def test_stored_config_names_the_detected_columns(long_csv, tmp_path):
    r = cli("train", long_csv, "-o", "m.pt", *TINY, "--horizon", "3", "--input-size", "24", "--json")
    data = json.loads(r.stdout)["config"]["data"]
    assert (data["time_col"], data["id_col"], data["target"], data["format"]) == ("timestamp", "series_id", "value", "long")


def test_checkpoint_path_problems_are_caught_before_training(long_csv, tmp_path):
    r = cli("train", long_csv, "-o", tmp_path / "no" / "such" / "m.pt", *TINY)
    assert one_error_line(r) == f"Error: cannot write -o {tmp_path / 'no' / 'such' / 'm.pt'}: folder {tmp_path / 'no' / 'such'} does not exist"
    (tmp_path / "dir.pt").mkdir()
    r = cli("train", long_csv, "-o", tmp_path / "dir.pt", *TINY)
    assert one_error_line(r) == f"Error: -o {tmp_path / 'dir.pt'} is a folder; give a file name"


def test_help_lists_the_commands_in_the_order_of_a_workflow():
    r = cli("--help")
    listed = [line.split()[0] for line in r.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == ["train", "predict", "check", "info", "evaluate", "backtest", "gates", "monitor", "plot"]
