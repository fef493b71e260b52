"""The network and the training loop on small real problems."""

import math
import signal

import numpy as np
import pytest
import torch

from grucast.config import files
from grucast.errors import Interrupted
from grucast.features.layout import plain
from grucast.features.windows import split_windows
from grucast.models.network import GRUForecaster
from grucast.training.loop import LoopState, NullCallback, fit


def tiny_cfg(**training):
    return files.load(None, {
        "data": {"season": 12},
        "model": {"horizon": 6, "input_size": 24, "hidden_size": 16, "num_layers": 1},
        "training": {"val_size": 6, "batch_size": 64, "device": "cpu", "learning_rate": 3e-3, **training},
    })


def sine_values(n_series=4, length=300):
    t = np.arange(length)
    rows = [(i + 1) * 50 + (i + 1) * 10 * np.sin(2 * np.pi * t / 12 + i) for i in range(n_series)]
    values = np.concatenate(rows).astype(np.float32)
    offsets = np.arange(n_series + 1, dtype=np.int64) * length
    return values, offsets


def test_forward_shape_and_gradients():
    cfg = tiny_cfg()
    m = GRUForecaster(cfg.model)
    x = torch.randn(5, 24, 1, requires_grad=True)
    y = m(x)
    assert y.shape == (5, 6)
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_fewer_parameters_than_an_lstm_of_the_same_width():
    gru = torch.nn.GRU(1, 32, num_layers=2)
    lstm = torch.nn.LSTM(1, 32, num_layers=2)
    assert sum(p.numel() for p in gru.parameters()) < sum(p.numel() for p in lstm.parameters())


def run(cfg):
    values, offsets = sine_values()
    train, val = split_windows(offsets, cfg.model.input_size, cfg.model.horizon, cfg.training.val_size)
    torch.manual_seed(cfg.training.seed)
    model = GRUForecaster(cfg.model)
    result = fit(model, plain(values, offsets, cfg.model.scaler), train, val, cfg)
    return model, result


def test_training_learns_a_sine():
    model, result = run(tiny_cfg(epochs=8))
    first, best = result.history[0].val_loss, result.best_val_loss
    assert best < 0.5 * first  # validation loss at least halves on a clean sine
    assert result.steps == 8 * int(np.ceil(4 * (300 - 6 - 24 - 6 + 1) / 64))


def test_same_seed_same_weights_other_seed_other_weights():
    a, _ = run(tiny_cfg(epochs=1, seed=3))
    b, _ = run(tiny_cfg(epochs=1, seed=3))
    c, _ = run(tiny_cfg(epochs=1, seed=4))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_early_stopping_and_best_weights_are_kept():
    # A learning rate far too high makes validation worse quickly: training must stop early and
    # hand back the weights of the best check, not the last.
    model, result = run(tiny_cfg(epochs=50, learning_rate=3.0, patience=2, eval_every=5))
    assert result.stop_reason == "early_stopping"
    assert len(result.history) < 50
    best = [r for r in result.history if r.best][-1]
    assert best.val_loss == result.best_val_loss and best.step == result.best_step
    from grucast.training.losses import evaluate_loss, loss_function
    values, offsets = sine_values()
    _, val = split_windows(offsets, 24, 6, 6)
    cfg = tiny_cfg()
    again = evaluate_loss(model, plain(values, offsets, "standard"), torch.from_numpy(val), cfg, loss_function("mae"))
    assert again == pytest.approx(result.best_val_loss, rel=1e-5)


def test_max_steps_caps_the_budget():
    _, result = run(tiny_cfg(epochs=50, max_steps=7))
    assert result.steps == 7 and result.stop_reason == "max_steps"


def test_no_epoch_cap_by_default_and_the_schedule_spans_max_steps():
    """With few windows an epoch is a few steps: by default no epoch count ends training (and
    the cosine anneals over max_steps, not over 50 short epochs); --epochs still caps it."""
    values, offsets = sine_values(n_series=1, length=100)  # 65 windows: two steps per epoch
    cfg = tiny_cfg(max_steps=60, patience=1000)
    assert cfg.training.epochs is None
    train, val = split_windows(offsets, 24, 6, 6)
    result = fit(GRUForecaster(cfg.model), plain(values, offsets, "standard"), train, val, cfg)
    assert result.steps == 60 and result.epochs == 30 and result.stop_reason == "max_steps"
    assert result.history[-1].lr == pytest.approx(0.05 * cfg.training.learning_rate)  # the bottom at step 60
    capped = tiny_cfg(max_steps=60, patience=1000, epochs=25)
    result = fit(GRUForecaster(capped.model), plain(values, offsets, "standard"), train, val, capped)
    assert result.steps == 50 and result.stop_reason == "epochs"
    assert result.history[-1].lr == pytest.approx(0.05 * capped.training.learning_rate)  # over its 50 steps


def test_bf16_autocast_only_when_asked():
    from grucast.training.loop import mixed_precision

    assert files.load().training.precision == "fp32"
    assert not isinstance(mixed_precision("fp32", torch.device("cpu")), torch.autocast)
    assert isinstance(mixed_precision("bf16", torch.device("cpu")), torch.autocast)


def test_bf16_training_on_the_cpu_still_learns():
    model, result = run(tiny_cfg(epochs=3, precision="bf16"))
    first, best = result.history[0].val_loss, result.best_val_loss
    assert np.isfinite(best) and best < first
    assert all(p.dtype == torch.float32 for p in model.parameters())


# ---------------------------------------------------------------- the loop's state: interrupt and resume


class StopAfter(NullCallback):
    """Asks for a stop after step k, as SIGTERM would; it is its own stop request (signum)."""

    def __init__(self, k: int):
        self.k, self.signum = k, None

    def on_step(self, step):
        if step == self.k:
            self.signum = signal.SIGTERM


def same(a, b) -> bool:
    """Equal nested snapshots: tensors element for element, NaN equal to NaN."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return a == b or both_nan


def interrupted(cfg, k):
    """The snapshot of a run of cfg stopped after step k."""
    values, offsets = sine_values()
    train, val = split_windows(offsets, cfg.model.input_size, cfg.model.horizon, cfg.training.val_size)
    torch.manual_seed(cfg.training.seed)
    cb = StopAfter(k)
    with pytest.raises(Interrupted) as e:
        fit(GRUForecaster(cfg.model), plain(values, offsets, cfg.model.scaler), train, val, cfg, cb, stop=cb)
    assert e.value.step == k and e.value.exit_code == 143
    return e.value.state


# The keys of a resume snapshot, in order: MODEL.resume files written by earlier versions hold
# these, and must still resume.
SNAPSHOT_KEYS = ["windows", "total_steps", "epoch", "batch", "perm", "model", "optimizer", "schedule", "generator",
                 "torch_rng", "history", "best_loss", "best_step", "best_state", "bad_checks", "step", "seen",
                 "train_seconds", "run"]


# 1,060 windows, 17 steps per epoch, 34 in all: stopped inside the first epoch, at its end, and
# in the second with a cosine schedule and checks between epochs.
@pytest.mark.parametrize("k, training", [(5, {}), (17, {}), (23, {"lr_schedule": "cosine", "eval_every": 4})],
                         ids=["mid-epoch", "epoch-end", "cosine"])
def test_a_resumed_fit_gives_the_weights_of_an_uninterrupted_one(k, training):
    cfg = tiny_cfg(epochs=2, **training)
    straight_model, straight = run(cfg)
    snap = interrupted(cfg, k)
    assert list(snap) == SNAPSHOT_KEYS and snap["step"] == k
    assert (snap["epoch"], snap["batch"]) == divmod(k, 17) and (snap["perm"] is None) == (k % 17 == 0)

    values, offsets = sine_values()
    train, val = split_windows(offsets, 24, 6, 6)
    torch.manual_seed(99)  # other initial weights: the resumed run must take the snapshot's
    model = GRUForecaster(cfg.model)
    resumed = fit(model, plain(values, offsets, cfg.model.scaler), train, val, cfg, resume=snap)
    a, b = straight_model.state_dict(), model.state_dict()
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert (resumed.steps, resumed.best_step, resumed.best_val_loss, resumed.stop_reason, resumed.windows_seen) == (
        straight.steps, straight.best_step, straight.best_val_loss, straight.stop_reason, straight.windows_seen)
    strip = [(r.epoch, r.step, r.train_loss, r.val_loss, r.best, r.lr) for r in resumed.history]
    assert strip == [(r.epoch, r.step, r.train_loss, r.val_loss, r.best, r.lr) for r in straight.history]


def test_loop_state_round_trips_through_its_snapshot():
    cfg = tiny_cfg(epochs=2, lr_schedule="cosine", eval_every=3)
    snap = interrupted(cfg, 7)
    model = GRUForecaster(cfg.model)
    opt = torch.optim.AdamW(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0)
    gen = torch.Generator()
    state = LoopState.from_snapshot(snap, model, opt, sched, gen)
    assert (state.step, state.epoch, state.batch, state.windows, state.total_steps) == (7, 0, 7, 1060, 34)
    assert len(state.history) == 2 and state.history[-1].step == 6 and state.bad_checks == snap["bad_checks"]
    again = state.snapshot()
    assert list(again) == SNAPSHOT_KEYS
    assert same(again, snap)
    # The snapshot is a copy: training on does not change it.
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert same(again["model"], snap["model"])


def test_a_resume_of_another_budget_is_refused():
    cfg = tiny_cfg(epochs=2)
    snap = interrupted(cfg, 5)
    values, offsets = sine_values()
    train, val = split_windows(offsets, 24, 6, 6)
    with pytest.raises(ValueError, match="other training windows or another budget"):
        fit(GRUForecaster(cfg.model), plain(values, offsets, "standard"), train, val, tiny_cfg(epochs=3), resume=snap)


@pytest.mark.parametrize("lag", [1, 12])
def test_an_anchored_network_starts_at_its_baseline(lag):
    """models.network.anchor: before any training, every member of an ensemble, point or
    quantile, forecasts exactly the input `lag` steps before each horizon step (the median)."""
    from grucast.models.network import anchor, build

    x = torch.randn(5, 24)
    expected = x[:, 24 - lag + torch.arange(6) % lag]
    for model_cfg in ({"ensemble": 2}, {"intervals": (80,)}):
        cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8, **model_cfg}})
        model = anchor(build(cfg.model), lag)
        out = model(x)
        assert torch.equal(out if out.dim() == 2 else out[..., model.median], expected)


def test_training_from_the_anchor_with_no_learning_forecasts_the_baseline(tmp_path):
    """End to end: with a learning rate too small to move the weights, the forecast file holds
    the anchor's forecast (seasonal naive here, chosen from the data), and --anchor naive the last
    value; the choice is printed with the other defaults."""
    from conftest import cli, sine_panel

    sine_panel(n_series=3, length=200).to_csv(tmp_path / "d.csv", index=False)
    frame = sine_panel(n_series=3, length=200)
    for flags, expect in (((), "seasonal"), (("--anchor", "naive"), "naive")):
        r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", "--horizon", "6", "--input-size", "48",
                "--hidden-size", "4", "--lr", "1e-12", "--max-steps", "1", "--ensemble", "1", *flags)
        assert r.exit_code == 0, r.stderr
        assert ("anchor seasonal_naive (default: its 6-step error" in r.stderr) == (expect == "seasonal")
        p = cli("predict", tmp_path / "m.pt", tmp_path / "d.csv", "--format", "csv")
        f = __import__("pandas").read_csv(__import__("io").StringIO(p.stdout))
        for sid, got in f.groupby("series_id").forecast:
            y = frame[frame.series_id == sid].value.to_numpy()
            want = y[-24:][:6] if expect == "seasonal" else np.repeat(y[-1], 6)
            np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-5)


def test_an_anchored_start_that_training_only_worsens_is_kept(tmp_path):
    """The anchored start is validated before the first step: a learning rate so large that
    every step makes the forecast worse leaves the network at its start, and the forecast file
    holds the baseline (naive: the last value) exactly; the check is step 0 of the history."""
    from conftest import cli, sine_panel

    frame = sine_panel(n_series=3, length=200)
    frame.to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", "--horizon", "6", "--input-size", "48",
            "--hidden-size", "4", "--lr", "10", "--max-steps", "30", "--ensemble", "1", "--anchor", "naive",
            "--json")
    assert r.exit_code == 0, r.stderr
    report = __import__("json").loads(r.stdout)["training"]
    assert report["best_step"] == 0 and report["history"][0]["step"] == 0
    assert report["history"][0]["train_loss"] is None  # no training step before the check
    assert min(h["val_loss"] for h in report["history"][1:]) > report["history"][0]["val_loss"]
    p = cli("predict", tmp_path / "m.pt", tmp_path / "d.csv", "--format", "csv")
    f = __import__("pandas").read_csv(__import__("io").StringIO(p.stdout))
    for sid, got in f.groupby("series_id").forecast:
        np.testing.assert_allclose(got.to_numpy(), np.repeat(frame[frame.series_id == sid].value.iloc[-1], 6),
                                   rtol=1e-6)


def test_a_random_start_is_not_validated_before_training():
    values, offsets = sine_values()
    cfg = tiny_cfg(epochs=1)
    data = plain(values, offsets, "standard")
    tr, va = split_windows(offsets, 24, 6, 6)
    result = fit(GRUForecaster(cfg.model), data, tr, va, cfg)
    assert result.history[0].step > 0


def test_a_network_anchored_at_smoothing_forecasts_the_smoothed_level():
    """models.network.anchor with alpha: every horizon step starts at the exponentially weighted
    mean of the window, weight alpha x (1 - alpha)^j on the value j steps back."""
    from grucast.models.network import anchor, build

    x = torch.randn(5, 24, dtype=torch.float64)
    w = 0.5 * 0.5 ** torch.arange(23, -1, -1, dtype=torch.float64)
    expected = ((x * w).sum(1) / w.sum()).unsqueeze(1).expand(5, 6)
    cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8, "ensemble": 2}})
    out = anchor(build(cfg.model), alpha=0.5)(x.float())
    torch.testing.assert_close(out, expected.float(), rtol=1e-5, atol=1e-5)


def test_a_noisy_level_starts_at_smoothing_end_to_end(tmp_path):
    """Series that are a level in noise: the default anchor is smoothing (named with its alpha
    among the chosen defaults), and with no learning the forecast is pandas' exponentially
    weighted mean, at that alpha, of the input window's values."""
    import io

    import pandas as pd

    from conftest import cli

    rng = np.random.default_rng(5)
    frame = pd.concat([pd.DataFrame({"series_id": f"s{k}", "timestamp": pd.date_range("2024-01-01", periods=150, freq="D"),
                                     "value": 30 + 3 * k + rng.normal(0, 1, 150)}) for k in range(3)])
    frame.to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", "--horizon", "7", "--season", "1",
            "--hidden-size", "4", "--lr", "1e-12", "--max-steps", "1", "--ensemble", "1")
    assert r.exit_code == 0, r.stderr
    alpha = float(__import__("re").search(r"anchor smoothing with alpha ([0-9.]+) ", r.stderr).group(1))
    p = cli("predict", tmp_path / "m.pt", tmp_path / "d.csv", "--format", "csv")
    f = pd.read_csv(io.StringIO(p.stdout))
    L = __import__("grucast").load(tmp_path / "m.pt").input_size
    for sid, got in f.groupby("series_id").forecast:
        level = frame[frame.series_id == sid].value.iloc[-L:].ewm(alpha=alpha).mean().iloc[-1]
        np.testing.assert_allclose(got.to_numpy(), np.repeat(level, 7), rtol=1e-4)


def test_the_linear_anchor_is_the_least_squares_map_of_the_training_windows():
    """training.linear.fit_linear: the map from scaled inputs to scaled targets with the least
    squared error over the windows (numpy's least squares on the same windows agrees), and a
    network anchored at it forecasts exactly that map before any training."""
    from grucast.models.network import anchor, build
    from grucast.training.linear import fit_linear

    rng = np.random.default_rng(2)
    values = np.concatenate([np.cumsum(rng.normal(0, 1, 400)) + 50, 20 + np.sin(np.arange(300) / 3)
                             + rng.normal(0, 0.1, 300)]).astype(np.float32)
    offsets = np.array([0, 400, 700])
    data = plain(values, offsets, "standard")
    starts, _ = split_windows(offsets, 24, 6, 6)
    weight, bias = fit_linear(data, starts, 24, 6)
    inputs, (_, _, (y, _)) = data.batch(torch.as_tensor(starts), 24, 6)
    a, target = np.c_[inputs["x"].double().numpy(), np.ones(len(starts))], y.double().numpy()
    best = np.linalg.lstsq(a, target, rcond=None)[0]  # standard-scaled inputs sum to 0: compare errors, not weights
    lowest = np.mean((a @ best - target) ** 2)
    got = np.mean((inputs["x"].double().numpy() @ weight.T.double().numpy() + bias.double().numpy() - target) ** 2)
    assert lowest <= got <= 1.01 * lowest  # a ridge of 1e-3 costs a little
    assert got < 0.7 * np.mean((target - target.mean(0)) ** 2)  # better than the mean target
    cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8}})
    net = anchor(build(cfg.model), linear=(weight, bias))
    torch.testing.assert_close(net(inputs["x"]), inputs["x"] @ weight.T + bias, rtol=1e-5, atol=1e-5)


def test_anchor_linear_trains_end_to_end(tmp_path):
    from conftest import cli, sine_panel

    sine_panel(n_series=3, length=200).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", "--horizon", "6", "--input-size", "24",
            "--hidden-size", "4", "--max-steps", "10", "--anchor", "linear", "--json")
    assert r.exit_code == 0, r.stderr
    report = __import__("json").loads(r.stdout)
    assert report["config"]["model"]["anchor"] == "linear" and report["training"]["history"][0]["step"] == 0
    p = cli("predict", tmp_path / "m.pt", tmp_path / "d.csv", "--format", "csv")
    assert p.exit_code == 0 and len(p.stdout.splitlines()) == 19
