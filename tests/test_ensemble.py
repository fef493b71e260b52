"""Ensembles of networks from consecutive seeds: what they forecast, how they train and resume."""

from __future__ import annotations

import io
import json
import signal

import numpy as np
import pandas as pd
import pytest
import torch

from grucast import checkpoint
from grucast.config import files
from grucast.errors import Interrupted
from grucast.features.layout import plain
from grucast.features.windows import split_windows
from grucast.models.network import build
from grucast.ops import signals
from grucast.training.loop import fit
from grucast.workflows import train

from conftest import TINY, cli, sine_panel

SHAPE = ["--horizon", "6", "--input-size", "24"]
SMALL = TINY[:-2]  # the tiny model without its "--ensemble 1"


def forecasts(model, data, *extra) -> pd.DataFrame:
    r = cli("predict", model, data, "--format", "csv", *extra)
    assert r.exit_code == 0, r.stderr
    return pd.read_csv(io.StringIO(r.stdout))


def test_an_ensemble_forecasts_the_mean_of_the_networks_trained_alone(long_csv, tmp_path):
    """--ensemble 2 --seed 5 trains exactly the networks of --seed 5 and --seed 6 and averages them."""
    for name, flags in (("a", ["--seed", "5", "--ensemble", "1"]), ("b", ["--seed", "6", "--ensemble", "1"]),
                        ("e", ["--seed", "5", "--ensemble", "2"])):
        r = cli("train", long_csv, "-o", tmp_path / f"{name}.pt", *SMALL, *SHAPE, *flags, "--json", "-q")
        assert r.exit_code == 0, r.stderr
        if name == "e":
            doc = json.loads(r.stdout)
    a, b, e = (forecasts(tmp_path / f"{n}.pt", long_csv) for n in "abe")
    assert not np.allclose(a.forecast, b.forecast, rtol=1e-3)  # two different networks
    np.testing.assert_allclose(e.forecast, (a.forecast + b.forecast) / 2, rtol=1e-5, atol=1e-4)
    assert list(e.columns) == list(a.columns) and (e.timestamp == a.timestamp).all()

    t = doc["training"]
    assert [m["seed"] for m in t["members"]] == [5, 6]
    assert t["steps"] == sum(m["steps"] for m in t["members"]) == 2 * 2 * int(np.ceil(3 * 199 / 64))
    assert {r["member"] for r in t["history"]} == {0, 1}
    assert doc["config"]["model"]["ensemble"] == 2
    r = cli("info", tmp_path / "e.pt")
    assert "GRU 1 x 8 (ensemble of 2)" in r.stdout


def test_quantile_ensembles_keep_ordered_calibrated_intervals(long_csv, tmp_path):
    r = cli("train", long_csv, "-o", tmp_path / "q.pt", *SMALL, *SHAPE, "--ensemble", "3", "--intervals", "80,95", "-q")
    assert r.exit_code == 0, r.stderr
    f = forecasts(tmp_path / "q.pt", long_csv)
    assert (f["lo-95"] <= f["lo-80"]).all() and (f["lo-80"] <= f.forecast).all()
    assert (f.forecast <= f["hi-80"]).all() and (f["hi-80"] <= f["hi-95"]).all()
    assert checkpoint.load(tmp_path / "q.pt").calibration["windows"] > 0


def test_small_data_gets_three_networks_by_default(long_csv, tmp_path):
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *SMALL, *SHAPE, "--max-steps", "2")
    assert r.exit_code == 0, r.stderr
    assert "learning_rate 0.001, ensemble 3 (default for 615 training windows, below 10,000)" in r.stderr
    assert "Ensemble network 3 of 3 (seed 2)" in r.stderr
    assert "GRU (mean of 3 networks)" in r.stdout  # the validation table scores the ensemble
    assert checkpoint.load(tmp_path / "m.pt").config.model.ensemble == 3


class StopInMember:
    """Asks for a stop, as SIGTERM would, after step k of ensemble network `member`."""

    def __init__(self, member: int, k: int):
        self.member, self.k, self.current, self.stop = member, k, 0, signals.StopRequest()

    def on_member(self, member, n_members, seed):
        self.current = member

    def on_start(self, total_steps, steps_per_epoch, windows_per_epoch):
        pass

    def on_step(self, step):
        if self.current == self.member and step == self.k:
            self.stop.signum = signal.SIGTERM

    def on_eval(self, record):
        pass

    def on_end(self, result):
        pass


@pytest.mark.parametrize("member", [0, 1, 2])
def test_an_ensemble_interrupted_in_any_network_resumes_to_the_same_checkpoint(tmp_path, member):
    data, out = tmp_path / "d.csv", tmp_path / "m.pt"
    sine_panel().to_csv(data, index=False)
    cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8, "ensemble": 3},
                                 "training": {"epochs": 2, "batch_size": 64}})
    cb = StopInMember(member, 4)
    with pytest.raises(Interrupted):
        train.train(data, out, cfg, callback=cb, stop=cb.stop)
    saved = train.resume_path(out)
    assert checkpoint.load(saved).resume["fit"]["member"] == member
    train.train(data, out, cfg, resume_from=saved)
    train.train(data, tmp_path / "straight.pt", cfg)
    assert out.read_bytes() == (tmp_path / "straight.pt").read_bytes()
    assert not saved.exists()



def fit_ensemble(cfg, spoil=(), **kwargs):
    """An ensemble of cfg fitted by the training loop itself on a small sine panel: the model and
    the result. spoil: networks whose initial weights are disturbed first."""
    t = np.arange(120)
    values = np.concatenate([(i + 1) * 50 + (i + 1) * 10 * np.sin(2 * np.pi * t / 12 + i) for i in range(3)])
    offsets = np.arange(4, dtype=np.int64) * 120
    train_starts, val_starts = split_windows(offsets, 24, 6, 6)
    model = build(cfg.model, seed=cfg.training.seed)
    with torch.no_grad():
        for k in spoil:
            for p in model.members[k].parameters():
                p.add_(0.5)
    return model, fit(model, plain(values.astype(np.float32), offsets, "standard"), train_starts, val_starts, cfg,
                      **kwargs)


def test_an_ensemble_snapshot_adds_the_finished_networks_to_the_one_in_training():
    # 3 series x 85 windows: 4 steps per epoch, 8 per network.
    cfg = files.load(None, {"data": {"season": 12}, "model": {"horizon": 6, "input_size": 24, "hidden_size": 8,
                                                              "num_layers": 1, "ensemble": 3},
                            "training": {"val_size": 6, "batch_size": 64, "epochs": 2, "learning_rate": 3e-3}})
    straight, result = fit_ensemble(cfg)
    cb = StopInMember(1, 3)
    with pytest.raises(Interrupted) as e:
        fit_ensemble(cfg, callback=cb, stop=cb.stop)
    snap = e.value.state
    assert list(snap)[-3:] == ["member", "members_done", "results_done"] and snap["member"] == 1
    assert snap["step"] == 3 and len(snap["results_done"]) == 1 and snap["results_done"][0]["seed"] == 0
    done = snap["members_done"]
    assert len(done) == 1 and all(torch.equal(done[0][k], v) for k, v in straight.members[0].state_dict().items())

    # The snapshot holds the weights of the finished network and of the one in training; the
    # networks still to train start from their seeds, as the interrupted run would have.
    resumed, again = fit_ensemble(cfg, spoil=(0, 1), resume=snap)
    a, b = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [m["seed"] for m in again.members] == [0, 1, 2]
    assert (again.steps, again.best_val_loss, again.stop_reason) == (result.steps, result.best_val_loss,
                                                                       result.stop_reason)

def test_a_checkpoint_from_before_ensembles_is_one_network(long_csv, tmp_path):
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, *SHAPE, "-q")
    assert r.exit_code == 0, r.stderr
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    del raw["config"]["model"]["ensemble"]
    raw["format_version"] = 2
    torch.save(raw, tmp_path / "old.pt")
    assert checkpoint.load(tmp_path / "old.pt").config.model.ensemble == 1
    pd.testing.assert_frame_equal(forecasts(tmp_path / "old.pt", long_csv), forecasts(tmp_path / "m.pt", long_csv))


def test_ensemble_size_must_be_positive(long_csv, tmp_path):
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *SMALL, *SHAPE, "--ensemble", "0")
    assert r.exit_code == 1 and "model.ensemble (--ensemble) must be positive, got 0" in r.stderr
    assert not (tmp_path / "m.pt").exists()
