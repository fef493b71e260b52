"""grucast evaluate and grucast backtest: rolling origins, baselines and metrics files."""

import json

import numpy as np
import pandas as pd
import pytest

from grucast.config import settings
from grucast.data.panel import build_panel
from grucast.data.table import load_table
from grucast.evaluation import metrics
from grucast.workflows import backtest

from conftest import TINY, cli, sine_panel

SHAPE = ["--horizon", "6", "--input-size", "24"]


def test_origins_are_index_arithmetic():
    org = backtest.origins(np.array([10, 5]), horizon=2, windows=3, stride=2, min_history=3)
    assert org.series.tolist() == [0, 0, 0, 1]
    assert org.origin.tolist() == [8, 6, 4, 3]  # series 1: 3 only; 1 and -1 lack history
    assert org.window.tolist() == [0, 1, 2, 0]


@pytest.fixture
def trained(tmp_path):
    sine_panel(n_series=3, length=200).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", *SHAPE, *TINY, "--intervals", "80", "-q")
    assert r.exit_code == 0, r.stderr
    return tmp_path


def test_evaluate_writes_windows_and_metrics_that_agree(trained):
    r = cli("evaluate", "m.pt", "d.csv", "--windows", "2", "-o", "f.csv", "--metrics", "s.csv", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["windows"] == 6 and out["series"] == 3 and out["stride"] == 6
    f = pd.read_csv(trained / "f.csv", parse_dates=["timestamp", "cutoff"])
    assert len(f) == 3 * 2 * 6
    assert list(f.columns) == ["series_id", "cutoff", "timestamp", "window", "actual", "forecast", "lo-80", "hi-80",
                               "naive", "seasonal_naive"]
    data = pd.read_csv(trained / "d.csv", parse_dates=["timestamp"])
    merged = f.merge(data, on=["series_id", "timestamp"])
    assert np.allclose(merged["actual"], merged["value"])  # actuals are the data
    last = f[f.window == 0].groupby("series_id")["timestamp"].max()
    assert (last == data.groupby("series_id")["timestamp"].max()).all()  # window 0 ends at the series' end
    s0 = f[(f.series_id == "s0") & (f.window == 1)]
    assert (s0["cutoff"] == s0["timestamp"].min() - pd.Timedelta("1h")).all()
    assert (s0["naive"] == data.set_index(["series_id", "timestamp"]).loc[("s0", s0["cutoff"].iloc[0]), "value"]).all()
    lagged = data.assign(timestamp=data.timestamp + pd.Timedelta("24h"))
    m = s0.merge(lagged, on=["series_id", "timestamp"])
    assert np.allclose(m["seasonal_naive"], m["value"])  # the value one season (24 h) earlier
    s = pd.read_csv(trained / "s.csv")
    pooled = s[s.series == "(all)"].set_index("model")
    assert pooled.loc["gru", "mae"] == pytest.approx(np.mean(np.abs(f["actual"] - f["forecast"])), rel=1e-6)
    assert pooled.loc["naive", "smape"] == pytest.approx(metrics.smape(f["actual"].to_numpy(), f["naive"].to_numpy()))
    inside = ((f["actual"] >= f["lo-80"]) & (f["actual"] <= f["hi-80"])).mean()
    assert pooled.loc["gru", "coverage_80"] == pytest.approx(100 * inside)
    assert set(s.series) == {"(all)", "s0", "s1", "s2"} and set(s.model) == {"gru", "naive", "seasonal_naive"}


def test_evaluate_prints_a_table(trained):
    r = cli("evaluate", "m.pt", "d.csv")
    assert r.exit_code == 0, r.stderr
    assert "3 windows of 6 steps from 3 series (stride 6)" in r.stdout
    assert "80% intervals: coverage" in r.stdout and "seasonal naive (m=24)" in r.stdout


def test_evaluate_errors_are_one_line(trained):
    r = cli("evaluate", "m.pt", "d.csv", "--windows", "0")
    assert r.exit_code == 1 and r.stderr.strip() == "Error: --windows must be at least 1, got 0"
    r = cli("evaluate", "m.pt", "d.csv", "--windows", "100")
    assert r.exit_code == 1 and "room for at most 29 window(s)" in r.stderr  # refused before any work
    sine_panel(n_series=1, length=25).to_csv(trained / "short.csv", index=False)
    r = cli("evaluate", "m.pt", "short.csv")
    assert r.exit_code == 1 and r.stderr.startswith("Error: no series of short.csv is long enough to evaluate")


def test_backtest_trains_once_before_the_oldest_origin(tmp_path):
    sine_panel(n_series=3, length=200).to_csv(tmp_path / "d.csv", index=False)
    r = cli("backtest", "d.csv", *SHAPE, "--windows", "3", "--set", "training.epochs=10", "--set",
            "training.batch_size=32", "--set", "model.hidden_size=8", "-o", "f.csv", "--json", "-q")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["trainings"] == 1 and out["windows"] == 9
    assert out["metrics"]["gru"]["mase"] < out["metrics"]["naive"]["mase"]  # a sine is learnt
    f = pd.read_csv(tmp_path / "f.csv")
    assert sorted(f.window.unique()) == [0, 1, 2]


def test_backtest_refit_trains_once_per_window(tmp_path):
    sine_panel(n_series=2, length=150).to_csv(tmp_path / "d.csv", index=False)
    r = cli("backtest", "d.csv", *SHAPE, "--windows", "2", "--stride", "3", "--refit", "--set", "training.epochs=1",
            "--set", "model.hidden_size=8", "--json", "-q")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["trainings"] == 2 and out["windows"] == 4 and out["stride"] == 3


def test_truncate_cuts_every_series_before_its_origin(tmp_path):
    df = sine_panel(n_series=2, length=50)
    df["timestamp"] = df["timestamp"].dt.tz_localize("Europe/Paris")
    df.to_csv(tmp_path / "d.csv", index=False)
    table = load_table(tmp_path / "d.csv", settings.DataConfig())
    panel = build_panel(table, fill=None)
    cut = backtest._truncate(table, panel, np.array([40, -1]))
    counts = cut.frame.groupby("series_id").size()
    assert counts["s0"] == 40 and counts["s1"] == 50


def test_bad_set_is_named(tmp_path):
    sine_panel(n_series=1, length=100).to_csv(tmp_path / "d.csv", index=False)
    r = cli("backtest", "d.csv", "--set", "hidden_size=8")
    assert r.exit_code == 1
    assert r.stderr.strip() == ("Error: --set takes section.key=value (for example model.hidden_size=32), "
                                "got 'hidden_size=8'")
    r = cli("backtest", "d.csv", "--set", "model.hiden_size=8")
    assert r.exit_code == 1 and "Did you mean 'hidden_size'?" in r.stderr


def test_bad_windows_stride_and_outputs_fail_before_any_training(tmp_path):
    sine_panel(n_series=2, length=100).to_csv(tmp_path / "d.csv", index=False)
    r = cli("backtest", "d.csv", *SHAPE, "--stride", "0")
    assert r.exit_code == 1 and r.stderr.strip() == "Error: --stride must be at least 1, got 0"
    r = cli("backtest", "d.csv", *SHAPE, "--metrics", tmp_path / "no" / "m.csv")
    assert r.exit_code == 1
    assert r.stderr.strip() == f"Error: cannot write --metrics {tmp_path / 'no' / 'm.csv'}: folder {tmp_path / 'no'} does not exist"
    (tmp_path / "out").mkdir()
    r = cli("backtest", "d.csv", *SHAPE, "-o", "out")
    assert r.exit_code == 1 and r.stderr.strip() == "Error: -o out is a folder; give a file name"
    assert r.stdout == "" and "epoch" not in r.stderr  # refused before training started
    sine_panel(n_series=2, length=29).to_csv(tmp_path / "short.csv", index=False)
    r = cli("backtest", "short.csv", *SHAPE, "--windows", "2")
    assert r.exit_code == 1 and r.stderr.strip() == (
        "Error: no series of short.csv is long enough to backtest 2 window(s) of 6 steps: each needs input_size 24 "
        "points of history, and the longest series has 29 in all")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "out", "short.csv"]  # nothing half-written


def test_evaluate_refuses_an_unwritable_output_before_reading(trained):
    r = cli("evaluate", "m.pt", "d.csv", "-o", trained / "no" / "f.csv")
    assert r.exit_code == 1
    assert r.stderr.strip() == f"Error: cannot write -o {trained / 'no' / 'f.csv'}: folder {trained / 'no'} does not exist"


def test_validation_and_evaluate_agree_on_the_same_windows(tmp_path):
    """The validation windows of a training run are the last val_size points of every series:
    `evaluate --windows val_size - horizon + 1 --stride 1` scores the same windows, with the same
    in-sample scale (the points before them), and must give the same numbers for the GRU and
    both baselines, through the one scoring path."""
    sine_panel(n_series=3, length=200).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", *SHAPE, "--val-size", "12", *TINY, "--json", "-q")
    assert r.exit_code == 0, r.stderr
    val = json.loads(r.stdout)["metrics"]
    e = cli("evaluate", "m.pt", "d.csv", "--windows", "7", "--stride", "1", "--metrics", "s.csv", "--json")
    assert e.exit_code == 0, e.stderr
    ev = json.loads(e.stdout)
    assert val["windows"] == ev["windows"] == 3 * 7 and val["series"] == ev["series"] == 3
    for model in ("gru", "naive", "seasonal_naive"):
        assert list(val[model]) == list(ev["metrics"][model]) == metrics.names(quantiles=False)
        for key, value in val[model].items():
            assert ev["metrics"][model][key] == pytest.approx(value, rel=1e-6), (model, key)
    assert ev["skill_metric"] == val["skill_metric"] and ev["skill"] == pytest.approx(val["skill"], rel=1e-5)
    s = pd.read_csv(tmp_path / "s.csv")
    pooled = s[s.series == "(all)"].set_index("model")
    assert pooled.loc["seasonal_naive", "rmsse"] == pytest.approx(val["seasonal_naive"]["rmsse"])


def test_every_registered_metric_is_in_every_report(trained):
    """Validation (the checkpoint and train --json), evaluate's JSON and its metrics file hold
    every metric of the registry: all of them for a quantile model's GRU, the point metrics for
    the baselines."""
    from grucast import checkpoint

    gru, point = metrics.names([80]), metrics.names(quantiles=False)
    val = checkpoint.load(trained / "m.pt").metrics
    r = cli("evaluate", "m.pt", "d.csv", "--metrics", "s.csv", "--json")
    assert r.exit_code == 0, r.stderr
    ev = json.loads(r.stdout)["metrics"]
    for report in (val, ev):
        assert list(report["gru"]) == gru
        assert list(report["naive"]) == list(report["seasonal_naive"]) == point
    assert {"intervals", "intervals_estimate", "skill", "skill_metric"} <= set(val)  # validation keeps its own keys
    s = pd.read_csv(trained / "s.csv")
    assert list(s.columns) == ["series", "model", "windows", *gru]
    assert s[s.model != "gru"][[k for k in gru if k not in point]].isna().all().all()
