"""NLinear's normalisation (scaler 'last') and the linear rival a network started at random must
beat on the validation windows (workflows.fit._rival)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from grucast import checkpoint
from grucast.config import files
from grucast.data.freq import Freq
from grucast.data.panel import build_panel
from grucast.data.table import load_table
from grucast.features import layout, scaling
from grucast.features.layout import plain
from grucast.features.windows import split_windows
from grucast.training.defaults import resolve


def test_series_spread_is_the_spread_of_the_observed_training_part():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(1e6, 3.0, 50), rng.normal(0.0, 1.0, 30), [7.0]])
    observed = np.ones(len(values), dtype=bool)
    observed[[3, 60]] = False
    offsets = np.array([0, 50, 80, 81])
    got = scaling.series_spread(values, observed, offsets, np.array([40, 100, 1]))
    first = values[:40][observed[:40]]
    second = values[50:80][observed[50:80]]
    np.testing.assert_allclose(got, [first.std(), second.std(), 0.0], rtol=1e-9)


def test_scaler_last_centres_every_window_on_its_last_observed_input():
    values = np.r_[np.arange(40.0), 100 + 5 * np.arange(30.0)].astype(np.float32)
    offsets = np.array([0, 40, 70])
    data = plain(values, offsets, "last")
    starts = torch.tensor([0, 10, 40, 45])
    inputs, (loc, scale, (y, _)) = data.batch(starts, 8, 2)
    np.testing.assert_allclose(loc.ravel(), [7, 17, 135, 160])
    # one scale per series, its spread over all its points here: the windows of a series share it
    np.testing.assert_allclose(scale.ravel(), np.repeat([values[:40].std(), values[40:].std()], 2), rtol=1e-5)
    assert torch.all(inputs["x"][:, -1] == 0)
    # a masked window: the last input that was observed is the location
    x = torch.tensor([[1.0, 2.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    loc, _ = scaling.last(x, torch.tensor([2.0, 2.0]), mask)
    assert loc.ravel().tolist() == [3.0, 0.0]


def test_the_scaler_is_standard_unless_the_linear_anchor_asks_for_last():
    lengths = np.array([3000])
    for given, expected in [({}, "standard"), ({"anchor": "linear"}, "last"),
                            ({"anchor": "linear", "scaler": "robust"}, "robust"), ({"scaler": "last"}, "last")]:
        cfg, _ = resolve(files.load(None, {"model": given}), Freq("datetime", "h"), lengths)
        assert cfg.model.scaler == expected, given


def _drifting(n_series: int = 3, length: int = 700, seed: int = 0) -> pd.DataFrame:
    """Smooth AR(1) noise around slowly drifting levels: series a linear map forecasts well."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        e = rng.normal(0, 1, length)
        ar = np.zeros(length)
        for t in range(1, length):
            ar[t] = 0.95 * ar[t - 1] + e[t]
        y = 100 * (i + 1) + np.cumsum(rng.normal(0, 0.3, length)) + ar
        frames.append(pd.DataFrame({"series_id": f"s{i}", "timestamp": pd.date_range("2024-01-01", periods=length, freq="h"),
                                    "value": np.round(y, 4)}))
    return pd.concat(frames, ignore_index=True)


def _train(tmp_path, frame: pd.DataFrame, *flags: str) -> tuple[dict, str]:
    """`grucast train --json` on frame with a tiny network: the report and what went to stderr."""
    from conftest import cli

    frame.to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", "--horizon", "12", "--input-size", "48",
            "--ensemble", "1", "--json", *flags)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout), r.stderr


def _verdict(note: str) -> tuple[float, float]:
    """(the linear map's, the trained network's) validation MASE, as the rival's note gives them."""
    figures = note.split("MASE ")[1].split(";")[0].rstrip(")")
    linear, trained = figures.split(" against the trained network's ")
    return float(linear), float(trained)


def test_a_network_that_loses_to_the_linear_map_is_trained_again_from_it(tmp_path):
    from conftest import cli

    frame = _drifting()
    report, stderr = _train(tmp_path, frame, "--hidden-size", "4", "--max-steps", "3")
    note = report["defaults_chosen"][-1]
    assert note.startswith("anchor linear, scaler last (default: the least-squares linear map's validation MASE")
    assert "beat the trained network on the validation windows (MASE " in stderr  # said on the terminal as it happens
    assert "training again from it (anchor linear, scaler last)" in stderr
    assert report["config"]["model"]["anchor"] == "linear" and report["config"]["model"]["scaler"] == "last"
    assert report["training"]["history"][0]["step"] == 0  # the anchored start was scored
    linear, first = _verdict(note)
    assert linear < first and report["metrics"]["gru"]["mase"] <= first
    # every training series' scale is stored: its spread over the training part
    ckpt = checkpoint.load(tmp_path / "m.pt")
    assert set(ckpt.features.series_scale) == {"s0", "s1", "s2"}
    s0 = frame[frame.series_id == "s0"].value.to_numpy()[:-12]
    assert ckpt.features.series_scale["s0"] == pytest.approx(s0.std(), rel=1e-6)
    # and new data is scaled with the stored scales, however much history it holds; a series the
    # model has not seen, by its own spread
    new = frame[frame.series_id == "s1"].assign(series_id="new", value=lambda d: d.value * 3)
    pd.concat([frame.groupby("series_id").tail(60), new]).to_csv(tmp_path / "more.csv", index=False)
    panel = build_panel(load_table(tmp_path / "more.csv", ckpt.config.data), fill=None)
    spread = layout.build(panel, ckpt.features, "last", "cpu").spread.numpy()
    expected = [ckpt.features.series_scale.get(str(i), new.value.std(ddof=0)) for i in panel.ids]
    np.testing.assert_allclose(spread, expected, rtol=1e-5)
    full = cli("predict", tmp_path / "m.pt", tmp_path / "d.csv", "--format", "csv")
    assert full.exit_code == 0 and len(full.stdout.splitlines()) == 1 + 3 * 12, full.stderr
    more = cli("predict", tmp_path / "m.pt", tmp_path / "more.csv", "--format", "csv")
    assert more.exit_code == 0, more.stderr
    got = pd.read_csv(pd.io.common.StringIO(more.stdout))
    assert got.series_id.nunique() == 4 and np.isfinite(got.forecast).all()
    assert got[got.series_id == "new"].forecast.mean() > 2.5 * got[got.series_id == "s1"].forecast.mean()


@pytest.mark.parametrize("given", [["--anchor", "none"], ["--set", "model.scaler=standard"]])
def test_a_start_or_scaler_the_user_set_is_not_second_guessed(tmp_path, given):
    report, _ = _train(tmp_path, _drifting(), "--hidden-size", "4", "--max-steps", "3", *given)
    assert not any("linear map" in n for n in report["defaults_chosen"])
    assert report["config"]["model"]["anchor"] == "none" and report["config"]["model"]["scaler"] == "standard"


def test_the_network_is_kept_where_it_beats_the_linear_map(tmp_path, monkeypatch):
    """A linear map no better than the last value (its fit replaced by zeros) loses to a trained
    network on a daily cycle, and the first network is kept, as trained."""
    import grucast.workflows.fit as fit_mod

    from conftest import sine_panel

    monkeypatch.setattr(fit_mod, "fit_linear", lambda data, starts, L, H, world=None: (torch.zeros(H, L), torch.zeros(H)))
    report, stderr = _train(tmp_path, sine_panel(n_series=3, length=600), "--hidden-size", "16", "--max-steps", "150")
    note = report["defaults_chosen"][-1]
    assert note.startswith("anchor none kept (default: the least-squares linear map's validation MASE")
    linear, trained = _verdict(note)
    assert (f"Kept the trained network: on the validation windows it scores MASE {trained:#.4g}, a linear "
            f"least-squares forecast {linear:#.4g}") in " ".join(stderr.split())
    assert trained < linear and report["metrics"]["gru"]["mase"] == pytest.approx(trained, rel=1e-3)
    assert report["config"]["model"]["scaler"] == "standard" and checkpoint.load(tmp_path / "m.pt").features.series_scale == {}


def test_series_scales_survive_the_checkpoint(tmp_path):
    from grucast.features.spec import FeatureSpec

    spec = FeatureSpec(series_scale={"a": 1.5, "007": 2.0})
    assert FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))).series_scale == {"a": 1.5, "007": 2.0}


def test_the_linear_anchor_with_scaler_last_fits_the_raw_least_squares_map():
    """On scaler 'last' the fitted map is linear in the raw window: inputs less their last value,
    one scale per series; the least-squares fit on a noiseless AR(2) recovers its recursion."""
    from grucast.training.linear import fit_linear

    y = np.zeros(600)
    y[:2] = [1.0, 1.2]
    for t in range(2, 600):
        y[t] = 1.5 * y[t - 1] - 0.6 * y[t - 2] + 0.1 * np.sin(t / 50)
    data = plain(y.astype(np.float32), np.array([0, 600]), "last")
    starts, _ = split_windows(np.array([0, 600]), 10, 1, 1)
    weight, bias = fit_linear(data, starts, 10, 1)
    inputs, (loc, scale, (target, _)) = data.batch(torch.as_tensor(starts), 10, 1)
    err = (inputs["x"] @ weight.T + bias - target) * scale
    assert float(err.abs().max()) < 0.02 * float(np.std(y))


class _StopIn:
    """A training callback that asks for a stop, as SIGTERM would, after step k of the run-th
    training of one fit_table call (1: the first networks, 2: those the linear rival retrains)."""

    def __init__(self, run: int, k: int):
        from grucast.ops import signals

        self.run, self.k, self.started, self.stop = run, k, 0, signals.StopRequest()

    def on_start(self, total_steps, steps_per_epoch, windows_per_epoch):
        self.started += 1

    def on_step(self, step):
        if self.started == self.run and step == self.k:
            self.stop.signum = 15

    def on_eval(self, record):
        pass

    def on_end(self, result):
        pass


@pytest.mark.parametrize("run", [1, 2], ids=["before-the-rival", "while-the-rival-trains"])
def test_a_run_interrupted_around_the_rival_resumes_to_the_uninterrupted_checkpoint(tmp_path, run):
    from grucast.errors import Interrupted
    from grucast.workflows import train

    data, out = tmp_path / "d.csv", tmp_path / "m.pt"
    _drifting().to_csv(data, index=False)
    cfg = files.load(None, {"model": {"horizon": 12, "input_size": 48, "hidden_size": 4, "ensemble": 1},
                            "training": {"max_steps": 4}})
    cb = _StopIn(run, 2)
    with pytest.raises(Interrupted):
        train.train(data, out, cfg, callback=cb, stop=cb.stop)
    resumed = train.train(data, out, cfg, resume_from=train.resume_path(out))
    straight = train.train(data, tmp_path / "straight.pt", cfg)
    assert straight.config.model.scaler == "last"  # the rival won, so both trainings ran
    assert resumed.config.model.scaler == "last"
    assert out.read_bytes() == (tmp_path / "straight.pt").read_bytes()
