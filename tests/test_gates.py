"""`grucast gates`: the gates recorded step by step are nn.GRU's, and on series whose true memory
is known the attribution finds it and the advice points the right way (models.gates,
workflows.gates)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from grucast.models import gates, kernels

from conftest import cli, sine_panel


def test_the_recording_pass_is_nn_gru_and_the_fused_kernel():
    torch.manual_seed(0)
    gru = torch.nn.GRU(input_size=5, hidden_size=7, num_layers=2, batch_first=True)
    x = torch.randn(9, 30, 5)
    out, layers = gates.record(gru, x)
    with torch.no_grad():
        torch.testing.assert_close(out, gru(x)[0], rtol=0, atol=1e-5)
        if kernels.select("fused", torch.device("cpu")) == "fused":
            torch.testing.assert_close(out, kernels.run_rnn(gru, x, "fused"), rtol=0, atol=1e-5)
    assert len(layers) == 2 and layers[0]["update"].shape == (9, 30, 7) and layers[1]["reset"].shape == (9, 30, 7)
    # the survival curve is the product of the update gates over the last k steps
    z = layers[1]["update"].double()
    stats = gates.layer_gates(layers[1])
    assert stats.survival[0] == 1.0 and np.all(np.diff(stats.survival) <= 1e-12)
    np.testing.assert_allclose(stats.survival[3], float(z[:, -3:].prod(dim=1).mean()), rtol=1e-9)
    assert stats.update_mean == pytest.approx(float(z.mean()))
    # added up a batch at a time, the same statistics
    sums = gates.GateSums()
    sums.add({k: v[:4] for k, v in layers[1].items()})
    sums.add({k: v[4:] for k, v in layers[1].items()})
    np.testing.assert_allclose(sums.result().survival, stats.survival, rtol=1e-12)
    assert sums.result().update_spread == pytest.approx(stats.update_spread)


def lagged(k: int, n_series: int = 6, length: int = 400, seed: int = 0) -> pd.DataFrame:
    """Series whose value is 0.95 x the value exactly k steps back plus noise: their memory is k."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        y = np.zeros(length)
        y[:k] = rng.normal(0, 1, k)
        for t in range(k, length):
            y[t] = 0.95 * y[t - k] + rng.normal(0, 0.3)
        frames.append(pd.DataFrame({"series_id": f"s{i}", "value": np.round(y + 10, 4),
                                    "timestamp": pd.date_range("2024-01-01", periods=length, freq="h")}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("k, verdict, shortest, longest", [(6, "shorter", 12, 36), (44, "longer", 96, 96)])
def test_the_attribution_finds_the_true_lag_and_the_advice_points_the_right_way(tmp_path, monkeypatch, k, verdict,
                                                                                 shortest, longest):
    """Horizon 4: the forecast of step h needs the value k - h + 1 steps back, so the lags k - 3
    .. k carry it (and, less, their multiples: the series repeats every k steps). The linear start
    (fitted by least squares) holds that map from the first step."""
    lagged(k).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", "--input-size", "48", "--horizon", "4",
            "--hidden-size", "8", "--max-steps", "5", "--anchor", "linear", "--season", "1", "--ensemble", "1", "-q")
    assert r.exit_code == 0, r.stderr
    r = cli("gates", tmp_path / "m.pt", tmp_path / "d.csv", "--json", "--windows", "40")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    attr = np.array([doc["attribution"][str(lag)] for lag in range(1, 49)])
    assert attr.sum() == pytest.approx(1.0, abs=1e-4)
    assert k - 3 <= int(np.argmax(attr)) + 1 <= k
    assert attr[k - 4:k].min() > 4 / 48 and attr[k - 4:k].sum() > 0.4  # each four times an even share
    suggested = doc["suggested_input_size"]
    assert doc["advice"] == verdict and shortest <= suggested <= longest, doc["reasons"]
    assert doc["windows"] == 6 * 40 and doc["series"] == 6
    layer = doc["layers"][0]
    assert {"update_gate_mean", "reset_gate_mean", "memory_half_life", "memory_90", "survival"} <= set(layer)
    assert doc["memory_half_life"] == layer["memory_half_life"] and len(layer["survival"]) == 49
    if verdict == "shorter":  # a timing, taken here: its sign depends on how busy the machine is
        assert isinstance(doc["training_time_saved"], float) and doc["training_time_saved"] < 1
    else:
        assert doc["training_time_saved"] is None
    r = cli("gates", tmp_path / "m.pt", tmp_path / "d.csv", "--windows", "40")
    assert r.exit_code == 0 and f"--input-size {suggested}" in r.stdout, r.stdout
    if verdict == "shorter":  # a timing that came out negative (a busy machine) is not shown as a saving
        from grucast.workflows import gates as gates_flow

        monkeypatch.setattr(gates_flow, "_saving", lambda *a: -0.3)
        r = cli("gates", tmp_path / "m.pt", tmp_path / "d.csv", "--windows", "40")
        assert "measured no faster" in r.stdout and "-30%" not in r.stdout, r.stdout


def test_gates_of_an_ensemble_quantile_model_with_covariates(tmp_path):
    """Every kind of model: the gates of an ensemble are averaged over its members (or read from
    one with --member), the attribution is of its (median) forecast."""
    df = sine_panel(n_series=3, length=200)
    df["temp"] = np.round(np.sin(np.arange(len(df)) / 5.0), 3)
    df["region"] = df["series_id"].map({"s0": "north", "s1": "south", "s2": "north"})
    df.to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", "--input-size", "24", "--horizon", "6",
            "--hidden-size", "8", "--num-layers", "2", "--max-steps", "5", "--ensemble", "2", "--intervals", "80",
            "--past-cols", "temp", "--static-cols", "region", "-q")
    assert r.exit_code == 0, r.stderr
    both = json.loads(cli("gates", tmp_path / "m.pt", tmp_path / "d.csv", "--json").stdout)
    one = json.loads(cli("gates", tmp_path / "m.pt", tmp_path / "d.csv", "--json", "--member", "1").stdout)
    assert both["gates_of"] == "averaged over the members" and one["gates_of"] == "member 1"
    assert len(both["layers"]) == 2 and len(both["per_member"]) == 2
    mean = np.mean([m[1]["update_gate_mean"] for m in both["per_member"]])
    assert both["layers"][1]["update_gate_mean"] == pytest.approx(mean)
    assert one["layers"][1]["update_gate_mean"] == pytest.approx(both["per_member"][1][1]["update_gate_mean"])
    assert sum(both["attribution"].values()) == pytest.approx(1.0, abs=1e-4)
    assert both["windows"] == 3 * 171  # 1,024 spread over 3 series, as many as 200 points give: 200 - 24 - 6 + 1


def test_the_recording_pass_of_an_lstm_is_nn_lstm_with_the_forget_gate_as_its_keep_gate():
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(input_size=4, hidden_size=6, num_layers=2, batch_first=True)
    x = torch.randn(5, 20, 4)
    out, layers = gates.record(lstm, x)
    with torch.no_grad():
        torch.testing.assert_close(out, lstm(x)[0], rtol=0, atol=1e-5)
    assert list(layers[0]) == ["forget", "input"]
    f = layers[1]["forget"].double()
    stats = gates.layer_gates(layers[1])
    np.testing.assert_allclose(stats.survival[5], float(f[:, -5:].prod(dim=1).mean()), rtol=1e-9)
    assert set(stats.to_dict("lstm")) >= {"forget_gate_mean", "input_gate_mean", "memory_half_life"}


@pytest.mark.parametrize("old_share, verdict", [(2.1, "keep"), (3.5, "longer")])
def test_a_longer_window_needs_an_old_lag_used_three_times_an_even_share(old_share, verdict):
    """An old lag used at twice an even share (as a skip map near its random start gave lag 48 of
    the exchange rates) keeps the window; one used at 3.5 times asks for a longer one."""
    L = 48
    attr = np.full(L, 1.0)
    attr[L - 1] = old_share * (L - 1) / (L - old_share)  # lag 48 holds old_share / L of the total
    attr /= attr.sum()
    assert attr[-1] * L == pytest.approx(old_share)
    top = gates.layer_gates({"update": torch.full((4, L, 3), 0.5), "reset": torch.full((4, L, 3), 0.5)})
    advice = gates.advise(L, attr, top, season=1, horizon=4)
    assert advice.verdict == verdict and advice.suggested == (2 * L if verdict == "longer" else L), advice.reasons
    assert (verdict == "keep") == any("asks for: the most is 2.1 times" in r for r in advice.reasons)
