"""The network and the training loop on small real problems."""

import numpy as np
import pytest
import torch

from grucast.config import files
from grucast.features.layout import plain
from grucast.features.windows import split_windows
from grucast.models.network import GRUForecaster
from grucast.training.loop import fit


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
