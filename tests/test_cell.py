"""--cell lstm: the same network with nn.LSTM as its encoder trains, saves, loads, predicts,
resumes, backtests and opens up (gates) like a GRU; a checkpoint says which cell it holds."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from grucast import checkpoint

from conftest import cli, sine_panel

SMALL = ["--horizon", "6", "--input-size", "24", "--hidden-size", "8", "--batch-size", "64", "--ensemble", "1"]


@pytest.fixture
def data(tmp_path):
    sine_panel(n_series=3, length=240).to_csv(tmp_path / "d.csv", index=False)
    return tmp_path / "d.csv"


def test_an_lstm_trains_predicts_backtests_and_opens_up_like_a_gru(tmp_path, data):
    r = cli("train", data, "-o", tmp_path / "m.pt", *SMALL, "--max-steps", "40", "--cell", "lstm")
    assert r.exit_code == 0, r.stderr
    assert "kernel reference (nn.LSTM; grucast's fused kernel is a GRU's)" in r.stderr
    assert "LSTM skill over seasonal naive" in r.stdout + r.stderr
    ckpt = checkpoint.load(tmp_path / "m.pt")
    assert ckpt.config.model.cell == "lstm" and ckpt.format_version == checkpoint.FORMAT_VERSION
    assert any(k.startswith("lstm.weight_hh_l0") for k in ckpt.state_dict) and not any(k.startswith("gru.") for k in ckpt.state_dict)
    assert ckpt.state_dict["lstm.weight_hh_l0"].shape == (4 * 8, 8)  # four gates
    r = cli("predict", tmp_path / "m.pt", data, "-o", tmp_path / "f.csv")
    assert r.exit_code == 0, r.stderr
    f = pd.read_csv(tmp_path / "f.csv")
    assert len(f) == 18 and np.isfinite(f["forecast"]).all() and (f["method"] == "gru").all()  # the stable column value
    info = cli("info", tmp_path / "m.pt")
    assert "LSTM 1 x 8" in info.stdout
    r = cli("backtest", data, *SMALL, "--max-steps", "20", "--cell", "lstm", "--windows", "1", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["gru"]["mase"] > 0
    doc = json.loads(cli("gates", tmp_path / "m.pt", data, "--json", "--windows", "10").stdout)
    assert doc["cell"] == "lstm" and "forget_gate_mean" in doc["layers"][0] and doc["memory_90"] is not None


def test_a_stopped_lstm_run_resumes_to_the_straight_run(tmp_path, data):
    from grucast.config import files
    from grucast.errors import Interrupted
    from grucast.ops import signals
    from grucast.workflows import train as workflows_train

    cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8, "ensemble": 1, "cell": "lstm"},
                            "training": {"max_steps": 30, "batch_size": 64}})
    stop = signals.StopRequest()

    class StopAtTen:
        def on_start(self, *a): pass
        def on_step(self, step):
            if step == 10:
                stop.signum = 15
        def on_eval(self, record): pass
        def on_end(self, result): pass

    with pytest.raises(Interrupted):
        workflows_train.train(data, tmp_path / "m.pt", cfg, callback=StopAtTen(), stop=stop)
    r = cli("train", data, "-o", tmp_path / "m.pt", "--resume", tmp_path / "m.pt.resume", "-q")
    assert r.exit_code == 0, r.stderr
    workflows_train.train(data, tmp_path / "straight.pt", cfg)
    a, b = checkpoint.load(tmp_path / "straight.pt"), checkpoint.load(tmp_path / "m.pt")
    assert a.config.model.cell == b.config.model.cell == "lstm"
    for name, w in a.state_dict.items():
        assert torch.equal(b.state_dict[name], w), name


def test_the_fused_kernel_is_refused_for_an_lstm(tmp_path, data):
    r = cli("train", data, "-o", tmp_path / "m.pt", *SMALL, "--cell", "lstm", "--kernel", "fused")
    assert r.exit_code == 1 and "fused is grucast's GRU kernel" in r.stderr
    assert not (tmp_path / "m.pt").exists()
    # predict: an LSTM model with --kernel fused is one error line too, not nn.LSTM in silence
    assert cli("train", data, "-o", tmp_path / "m.pt", *SMALL, "--max-steps", "2", "--cell", "lstm").exit_code == 0
    r = cli("predict", tmp_path / "m.pt", data, "-o", tmp_path / "f.csv", "--kernel", "fused")
    assert r.exit_code == 1 and "fused is grucast's GRU kernel, and the model's cell is lstm" in r.stderr, r.stderr
    assert not (tmp_path / "f.csv").exists()
