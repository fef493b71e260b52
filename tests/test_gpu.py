"""The CUDA path. Skipped cleanly on machines without a GPU (CI has none)."""

import pandas as pd
import pytest
import torch

from grucast import api, config

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_train_and_predict_on_cuda(long_csv, tmp_path):
    cfg = config.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8, "num_layers": 1},
                             "training": {"epochs": 1, "device": "cuda"}})
    result = api.train(long_csv, tmp_path / "m.pt", cfg)
    assert result.device.startswith("cuda")
    on_gpu = api.predict(tmp_path / "m.pt", long_csv, device="cuda").forecasts
    on_cpu = api.predict(tmp_path / "m.pt", long_csv, device="cpu").forecasts
    pd.testing.assert_frame_equal(on_gpu, on_cpu, check_exact=False, rtol=1e-3)


def test_auto_device_picks_what_is_there():
    from grucast.runtime import select_device

    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without a GPU")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error():
    from grucast.errors import ConfigError
    from grucast.runtime import select_device

    with pytest.raises(ConfigError, match="CUDA is not available here; use --device cpu or auto"):
        select_device("cuda")
