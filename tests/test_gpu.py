"""The CUDA path. Skipped cleanly on machines without a GPU (CI has none)."""

import pandas as pd
import pytest
import torch

from grucast.config import files
from grucast.workflows import predict, train

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_train_and_predict_on_cuda(long_csv, tmp_path):
    cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8, "num_layers": 1},
                             "training": {"epochs": 1, "device": "cuda"}})
    result = train.train(long_csv, tmp_path / "m.pt", cfg)
    assert result.device.startswith("cuda")
    on_gpu = predict.predict(tmp_path / "m.pt", long_csv, device="cuda").forecasts
    on_cpu = predict.predict(tmp_path / "m.pt", long_csv, device="cpu").forecasts
    pd.testing.assert_frame_equal(on_gpu, on_cpu, check_exact=False, rtol=1e-3)


def test_auto_device_picks_what_is_there():
    from grucast.training.runtime import select_device

    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error():
    from grucast.errors import ConfigError
    from grucast.training.runtime import select_device

    with pytest.raises(ConfigError, match="CUDA is not available here; use --device cpu or auto"):
        select_device("cuda")


@cuda
def test_covariate_model_on_cuda_matches_cpu(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    ts = pd.date_range("2024-01-01", periods=200, freq="h")
    frames = []
    for i in range(4):
        promo = (rng.random(200) < 0.2).astype(float)
        y = 10 * (1 + promo) + rng.normal(0, 0.1, 200)
        y[50:53] = np.nan  # a gap: mask channel on
        frames.append(pd.DataFrame({"series_id": f"s{i}", "timestamp": ts, "value": y, "promo": promo,
                                    "region": "ab"[i % 2]}))
    df = pd.concat(frames)
    df.loc[df.groupby("series_id").cumcount() >= 188, "value"] = np.nan  # the last 12 hours: the future block
    df.to_csv(tmp_path / "d.csv", index=False)
    cfg = files.load(None, {"data": {"future_covariates": ["promo"], "static_covariates": ["region"]},
                             "model": {"horizon": 12, "input_size": 48, "hidden_size": 8, "series_embedding": 2},
                             "training": {"max_steps": 20, "device": "cuda"}})
    result = train.train(tmp_path / "d.csv", tmp_path / "m.pt", cfg)
    assert result.device.startswith("cuda")
    on_gpu = predict.predict(tmp_path / "m.pt", tmp_path / "d.csv", device="cuda").forecasts
    on_cpu = predict.predict(tmp_path / "m.pt", tmp_path / "d.csv", device="cpu").forecasts
    assert len(on_gpu) == 4 * 12
    pd.testing.assert_frame_equal(on_gpu, on_cpu, check_exact=False, rtol=1e-3)


@cuda
def test_bf16_training_on_cuda_learns_as_well_as_float32(tmp_path):
    """--precision bf16 trains in bf16 autocast; its validation loss stays within 10 % of a
    float32 run with the same seed, and forecasts come out as usual."""
    from conftest import sine_panel

    sine_panel(n_series=8, length=400).to_csv(tmp_path / "d.csv", index=False)
    base = {"model": {"horizon": 6, "input_size": 24, "hidden_size": 16, "num_layers": 1},
            "training": {"epochs": 5, "device": "cuda", "seed": 0}}
    runs = {}
    for precision in ("fp32", "bf16"):
        cfg = files.load(None, {**base, "training": {**base["training"], "precision": precision}})
        runs[precision] = train.train(tmp_path / "d.csv", tmp_path / f"{precision}.pt", cfg).fit.best_val_loss
    assert torch.cuda.is_bf16_supported()
    assert runs["bf16"] <= 1.1 * runs["fp32"], runs
    f = predict.predict(tmp_path / "bf16.pt", tmp_path / "d.csv", device="cuda").forecasts
    assert f["forecast"].dtype == "float64" and f["forecast"].notna().all()
