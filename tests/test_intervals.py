"""Quantile forecasts, prediction intervals and their conformal calibration."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from grucast import checkpoint
from grucast.config import files, settings
from grucast.evaluation import calibration
from grucast.models.network import GRUForecaster

from conftest import TINY, cli, sine_panel


def test_quantiles_never_cross_whatever_the_weights():
    cfg = files.load(None, {"model": {"horizon": 5, "input_size": 12, "hidden_size": 8, "quantiles": "0.05,0.3,0.7",
                                       "intervals": "50"}})
    assert settings.output_quantiles(cfg.model) == (0.05, 0.25, 0.3, 0.5, 0.7, 0.75)
    torch.manual_seed(0)
    model = GRUForecaster(cfg.model)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=3.0)  # wild weights: ordering must not depend on training
    out = model(torch.randn(64, 12))
    assert out.shape == (64, 5, 6)
    assert (out.diff(dim=-1) >= 0).all()


def test_interval_levels_from_quantiles():
    m = files.load(None, {"model": {"quantiles": "0.1,0.9,0.3"}}).model
    assert settings.interval_levels(m) == (80.0,)
    assert settings.interval_levels(files.load(None, {"model": {"intervals": [95, 80]}}).model) == (80.0, 95.0)


def test_calibration_shifts_move_quantiles_to_their_nominal_coverage():
    rng = np.random.default_rng(0)
    W, H = 2000, 3
    y = rng.normal(0, 2.0, (W, H))  # true 10%/90% quantiles at -/+ 2.563
    f = np.stack([np.full((W, H), -1.0), np.zeros((W, H)), np.full((W, H), 1.0)], axis=-1)  # too narrow
    scale = np.ones(W)
    shifts = calibration.fit_shifts(y, f, scale, (0.1, 0.5, 0.9))
    assert shifts[:, 1].tolist() == [0, 0, 0]  # the median (point forecast) is never moved
    assert shifts[:, 0] == pytest.approx(-1.563, abs=0.15) and shifts[:, 2] == pytest.approx(1.563, abs=0.15)
    cal = calibration.apply(f, scale, shifts)
    inside = (y >= cal[..., 0]) & (y <= cal[..., 2])
    assert inside.mean() == pytest.approx(0.8, abs=0.01)
    report = calibration.calibrate(y, f, scale, np.arange(W) % 7, np.arange(W), (0.1, 0.5, 0.9), (80.0,))
    assert report["coverage"]["80"]["raw"] == pytest.approx(100 * 0.383, abs=2)
    assert report["coverage"]["80"]["calibrated"] == pytest.approx(80, abs=2)  # cross-fitted, held out


def test_calibration_scales_with_each_window():
    # Two series of very different levels: shifts are in units of each window's own scale.
    y = np.array([[12.0], [1200.0]] * 40)
    f = np.tile(np.array([[[9.0, 10.0, 11.0]], [[900.0, 1000.0, 1100.0]]]), (40, 1, 1))
    scale = np.array([1.0, 100.0] * 40)
    cal = calibration.apply(f, scale, calibration.fit_shifts(y, f, scale, (0.1, 0.5, 0.9)))
    assert cal[0, 0, 2] == pytest.approx(12.0) and cal[1, 0, 2] == pytest.approx(1200.0)


def test_intervals_end_to_end(tmp_path):
    sine_panel(n_series=6, length=200).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", "--horizon", "6", "--input-size", "24", "--intervals", "80,95", *TINY,
            "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out["metrics"]["intervals"]) == {"80", "95"}
    assert {"raw", "calibrated"} <= set(out["metrics"]["intervals"]["80"])
    ckpt = checkpoint.load(tmp_path / "m.pt")
    assert np.shape(ckpt.calibration["shifts"]) == (6, 5)  # horizon x (0.025, 0.1, 0.5, 0.9, 0.975)
    p = cli("predict", "m.pt", "d.csv", "-o", "f.csv")
    assert p.exit_code == 0, p.stderr
    f = pd.read_csv(tmp_path / "f.csv")
    assert list(f.columns) == ["series_id", "timestamp", "forecast", "lo-80", "hi-80", "lo-95", "hi-95", "method"]
    assert (f["lo-95"] <= f["lo-80"]).all() and (f["lo-80"] <= f["forecast"]).all()
    assert (f["forecast"] <= f["hi-80"]).all() and (f["hi-80"] <= f["hi-95"]).all()
    assert (f["hi-80"] - f["lo-80"] > 0).all()


def test_asked_quantiles_get_their_own_columns(tmp_path):
    sine_panel(n_series=2, length=120).to_csv(tmp_path / "d.csv", index=False)
    assert cli("train", "d.csv", "-o", "m.pt", "--horizon", "6", "--input-size", "24", "--quantiles", "0.1,0.9",
               *TINY).exit_code == 0
    f = pd.read_csv(tmp_path / "f.csv") if cli("predict", "m.pt", "d.csv", "-o", "f.csv").exit_code == 0 else None
    assert list(f.columns) == ["series_id", "timestamp", "forecast", "lo-80", "hi-80", "q0.1", "q0.9", "method"]
    assert (f["q0.1"] == f["lo-80"]).all()


@pytest.mark.parametrize("flag, value, message", [
    ("--quantiles", "0.1,1.5", "model.quantiles (--quantiles) must be between 0 and 1 (exclusive), got 1.5"),
    ("--intervals", "80,100", "model.intervals (--intervals) must be percentages between 0 and 100, got 100"),
    ("--intervals", "eighty", "model.intervals (--intervals) must be a list of numbers, got ['eighty']"),
])
def test_bad_quantiles_and_intervals_are_named(tmp_path, flag, value, message):
    sine_panel(n_series=1, length=100).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", flag, value)
    assert r.exit_code == 1 and r.stderr.strip() == f"Error: {message}"


def test_few_series_are_split_in_time_so_no_target_is_in_both_folds():
    starts, H = np.arange(100), 10  # one series, 100 windows of 10 steps: targets 0 ... 109
    fold, how = calibration.folds(np.zeros(100, dtype=int), starts, H)
    assert "first half of the validation span" in how
    assert (starts[fold == 0] + H - 1).max() < starts[fold == 1].min()  # no target shared
    assert ((fold == 0).sum(), (fold == 1).sum(), (fold == -1).sum()) == (45, 46, 9)
    fold, how = calibration.folds(np.arange(3), np.array([0, 50, 100]), H)  # one window per series
    assert fold.tolist() == [0, 1, 0] and "halves of the series" in how
    fold, how = calibration.folds(np.arange(12) % 12, np.arange(12) * 50, H)  # a panel: by series
    assert fold.tolist() == [0, 1] * 6
    fold, how = calibration.folds(np.zeros(1, dtype=int), np.zeros(1, dtype=int), H)
    assert fold.tolist() == [-1] and how.startswith("in-sample")


def test_the_coverage_estimate_shows_a_calibration_that_does_not_carry_over_in_time():
    """One series whose noise triples half-way: shifts fitted on all windows cover 80 % of them
    in-sample, but each half calibrated on the other misses badly, and the estimate says so."""
    rng = np.random.default_rng(1)
    W, H = 400, 4
    sd = np.where(np.arange(W) < W // 2, 1.0, 3.0)[:, None]
    y = rng.normal(0, 1, (W, H)) * sd
    f = np.stack([np.full((W, H), -1.0), np.zeros((W, H)), np.full((W, H), 1.0)], axis=-1)
    shifts = calibration.fit_shifts(y, f, np.ones(W), (0.1, 0.5, 0.9))
    cal = calibration.apply(f, np.ones(W), shifts)
    assert np.mean((y >= cal[..., 0]) & (y <= cal[..., 2])) == pytest.approx(0.8, abs=0.01)  # in-sample
    report = calibration.calibrate(y, f, np.ones(W), np.zeros(W, dtype=int), np.arange(W), (0.1, 0.5, 0.9), (80.0,))
    assert report["coverage"]["80"]["calibrated"] < 72
    assert report["estimate"].startswith("the first half of the validation span")


def test_training_warns_when_the_calibration_does_not_carry_over_in_time(tmp_path):
    """One series, calm until the middle of its validation span and then three times noisier:
    the two halves of the span disagree about the interval width, and training says so."""
    n, rng = 700, np.random.default_rng(0)
    t = np.arange(n)
    noise = rng.normal(0, 1, n) * np.where(t < 600, 0.5, 3.0)
    y = 20 + 5 * np.sin(2 * np.pi * t / 24) + noise
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="h"), "value": y}).to_csv("d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", "--horizon", "6", "--input-size", "24", "--val-size", "200",
            "--intervals", "80", *TINY)
    assert r.exit_code == 0, r.stderr
    out = r.stdout + r.stderr
    assert "(the first half of the validation span calibrated on the second, and back)" in out
    assert "Warning: the 80% intervals cover" in out and "each calibrated on the other" in out
    folds = checkpoint.load(tmp_path / "m.pt").metrics["intervals"]["80"]["folds"]
    assert abs(folds[0] - folds[1]) > 10


def test_the_held_out_forecasts_are_the_ones_the_coverage_estimate_scores():
    """Validation scores the GRU's intervals on the cross-fitted quantiles calibrate_held_out
    returns: their coverage is the report's calibrated coverage, and the median is not moved."""
    from grucast.evaluation import metrics

    rng = np.random.default_rng(2)
    W, H = 300, 3
    y = rng.normal(0, 2.0, (W, H))
    f = np.stack([np.full((W, H), -1.0), np.zeros((W, H)), np.full((W, H), 1.0)], axis=-1)
    series, starts = np.arange(W) % 12, np.arange(W)
    report, held_out, keep = calibration.calibrate_held_out(y, f, np.ones(W), series, starts, (0.1, 0.5, 0.9), (80.0,))
    assert report == calibration.calibrate(y, f, np.ones(W), series, starts, (0.1, 0.5, 0.9), (80.0,))
    assert keep.all() and (held_out[..., 1] == 0).all()
    scores = metrics.interval_scores(y[keep], held_out[keep], (0.1, 0.5, 0.9), (80.0,), np.ones(keep.sum()))
    assert scores["coverage_80"] == report["coverage"]["80"]["calibrated"]
    _, held_out, keep = calibration.calibrate_held_out(y[:5], f[:5], np.ones(5), np.zeros(5, dtype=int),
                                                       np.array([0, 1, 2, 10, 20]), (0.1, 0.5, 0.9), (80.0,))
    assert not keep.all() and np.isnan(held_out[~keep]).all() and not np.isnan(held_out[keep]).any()
