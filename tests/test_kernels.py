"""The fused CPU GRU kernel against PyTorch's nn.GRU (the reference): same outputs and gradients
to float32 rounding, same forecasts through the CLI, and clear errors when it cannot be had."""

from __future__ import annotations

import io
import json
import os
import time

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from grucast.models import kernels

from conftest import TINY, cli

SHAPE = ["--horizon", "6", "--input-size", "24"]


@pytest.fixture(scope="module")
def fused():
    """The kernel, built (or loaded from the cache) once for this module; a failed build fails
    these tests rather than skipping them, unless building is switched off on purpose."""
    if os.environ.get("GRUCAST_KERNEL_BUILD") == "0":
        pytest.skip("GRUCAST_KERNEL_BUILD=0")
    assert kernels.load() is not None, kernels.reason()


@pytest.mark.parametrize("layers,hidden,batch,steps,width",
                         [(1, 8, 5, 7, 1), (2, 32, 64, 48, 9), (3, 17, 3, 30, 4), (2, 4, 1, 1, 2)])
def test_fused_kernel_matches_nn_gru_forward_and_gradients(fused, layers, hidden, batch, steps, width):
    torch.manual_seed(0)
    gru = nn.GRU(width, hidden, num_layers=layers, batch_first=True)
    x = torch.randn(batch, steps, width, requires_grad=True)
    w = torch.randn(batch, steps, hidden)  # weights every step's output, so every path back is checked

    def run(kernel):
        gru.zero_grad()
        x.grad = None
        out = kernels.run_gru(gru, x, kernel)
        (out * w).sum().backward()
        return out.detach(), [x.grad.clone()] + [p.grad.clone() for p in gru.parameters()]

    ref_out, ref_grads = run("reference")
    out, grads = run("fused")
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)
    with torch.inference_mode():  # the forecasting path: no saved gates
        torch.testing.assert_close(kernels.run_gru(gru, x.detach(), "fused"), ref_out, rtol=1e-5, atol=1e-6)


def test_fused_kernel_leaves_torch_thread_count_alone(fused):
    """A batch too small to split runs on the calling thread; the kernel's one-thread setting for
    its slices must not stay behind and leave every later op single-threaded."""
    gru = nn.GRU(2, 8, num_layers=2, batch_first=True)
    before = torch.get_num_threads()
    for batch in (3, 300):
        kernels.run_gru(gru, torch.randn(batch, 5, 2), "fused").sum().backward()
        assert torch.get_num_threads() == before


def test_fused_kernel_saturated_gates_stay_finite(fused):
    """Inputs far out on the sigmoid and tanh tails (|pre-activation| in the hundreds)."""
    torch.manual_seed(1)
    gru = nn.GRU(3, 16, batch_first=True)
    x = 200 * torch.randn(8, 20, 3)
    out = kernels.run_gru(gru, x, "fused")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, gru(x)[0], rtol=1e-5, atol=1e-6)


def test_dropout_between_layers_trains_with_the_fused_kernel(fused):
    torch.manual_seed(2)
    gru = nn.GRU(2, 8, num_layers=2, dropout=0.5, batch_first=True)
    x = torch.randn(4, 10, 2)
    a = kernels.run_gru(gru, x, "fused")
    b = kernels.run_gru(gru, x, "fused")
    assert not torch.equal(a, b)  # dropout drew different masks
    a.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in gru.parameters())
    gru.eval()  # no dropout: exactly the reference again
    torch.testing.assert_close(kernels.run_gru(gru, x, "fused"), gru(x)[0], rtol=1e-5, atol=1e-6)


def forecasts(model, data, *extra) -> pd.DataFrame:
    r = cli("predict", model, data, "--format", "csv", *extra)
    assert r.exit_code == 0, r.stderr
    return pd.read_csv(io.StringIO(r.stdout))


def test_training_with_either_kernel_gives_the_same_forecasts(fused, long_csv, tmp_path):
    """The same seed trained with the fused kernel and with nn.GRU: the runs differ only by
    float32 rounding, so after a short training the forecasts agree closely; and one checkpoint
    forecasts the same with either kernel."""
    docs = {}
    for kernel in ("fused", "reference"):
        r = cli("train", long_csv, "-o", tmp_path / f"{kernel}.pt", *TINY, *SHAPE, "--num-layers", "2",
                "--kernel", kernel, "--json", "-q")
        assert r.exit_code == 0, r.stderr
        docs[kernel] = json.loads(r.stdout)
    assert docs["fused"]["training"]["kernel"] == "fused"
    assert docs["reference"]["training"]["kernel"] == "reference"
    f, r = forecasts(tmp_path / "fused.pt", long_csv), forecasts(tmp_path / "reference.pt", long_csv)
    np.testing.assert_allclose(f.forecast, r.forecast, rtol=1e-3)
    assert docs["fused"]["training"]["best_val_loss"] == pytest.approx(docs["reference"]["training"]["best_val_loss"], rel=1e-3)
    same = forecasts(tmp_path / "fused.pt", long_csv, "--kernel", "reference")
    np.testing.assert_allclose(same.forecast, f.forecast, rtol=1e-5)


def test_auto_picks_the_fused_kernel_on_the_cpu_and_says_so(fused, long_csv, tmp_path):
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, *SHAPE, "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    assert "kernel fused (default on the CPU" in r.stderr


def test_auto_falls_back_to_nn_gru_when_the_kernel_cannot_be_built(long_csv, tmp_path, monkeypatch):
    monkeypatch.setattr(kernels, "_loaded", {"error": "it could not be built here (no compiler)"})
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, *SHAPE, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["training"]["kernel"] == "reference"
    assert "kernel reference (nn.GRU; it could not be built here (no compiler))" in r.stderr
    assert forecasts(tmp_path / "m.pt", long_csv).forecast.notna().all()


def test_asking_for_the_fused_kernel_where_it_cannot_run_is_a_clear_error(long_csv, tmp_path, monkeypatch):
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, *SHAPE, "--kernel", "fused", "--precision", "bf16")
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines() == [
        "Error: --kernel fused runs float32 on the CPU only, and --precision is bf16; use --kernel auto"]
    monkeypatch.setattr(kernels, "_loaded", {"error": "it could not be built here (no compiler)"})
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, *SHAPE, "--kernel", "fused")
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines() == [
        "Error: --kernel fused: the fused GRU kernel is not available: it could not be built here (no compiler); "
        "use --kernel auto"]
    assert not (tmp_path / "m.pt").exists()
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, *SHAPE, "--kernel", "fast")
    assert r.exit_code == 2  # not a kernel: a usage error
    (tmp_path / "c.yaml").write_text("training:\n  kernel: fast\n")
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, *SHAPE, "--config", tmp_path / "c.yaml")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: training.kernel") and "fast" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.pt").exists()


def test_predict_with_an_unavailable_fused_kernel_writes_nothing(long_csv, tmp_path, monkeypatch):
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, *SHAPE, "--kernel", "reference")
    assert r.exit_code == 0, r.stderr
    monkeypatch.setattr(kernels, "_loaded", {"error": "it could not be built here (no compiler)"})
    r = cli("predict", tmp_path / "m.pt", long_csv, "-o", tmp_path / "f.csv", "--kernel", "fused")
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines() == [
        "Error: --kernel fused: the fused GRU kernel is not available: it could not be built here (no compiler); "
        "use --kernel auto"]
    assert not (tmp_path / "f.csv").exists()
    r = cli("predict", tmp_path / "m.pt", long_csv, "-o", tmp_path / "f.csv")  # auto: nn.GRU, with a warning
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "f.csv").exists()


def test_auto_with_bf16_keeps_nn_gru_and_says_why(long_csv, tmp_path):
    r = cli("train", long_csv, "-o", tmp_path / "m.pt", *TINY, *SHAPE, "--precision", "bf16", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["training"]["kernel"] == "reference"
    assert "kernel reference (nn.GRU; default with --precision bf16)" in r.stderr


def test_gpus_keep_cudnn():
    """auto on a GPU is nn.GRU (cuDNN), and fused there is an error; no GPU needed to check the choice."""
    from grucast.workflows.fit import kernel_note

    assert kernels.select("auto", torch.device("cuda")) == "reference"
    assert kernel_note("reference", torch.device("cuda"), "fp32") == "kernel reference (nn.GRU; default on cuda: cuDNN)"
    with pytest.raises(Exception, match="runs float32 on the CPU only, and the device is cuda"):
        kernels.select("fused", torch.device("cuda"))


def test_a_stale_build_lock_is_removed_and_a_fresh_one_kept(tmp_path, monkeypatch):
    """A build killed half-way leaves torch's lock file, on which every later run would wait forever."""
    import torch.utils.cpp_extension as ext

    monkeypatch.setattr(ext, "_get_build_directory", lambda name, verbose: str(tmp_path / name))
    lock = tmp_path / "k" / "lock"
    lock.parent.mkdir()
    lock.touch()
    kernels._clear_stale_lock("k")
    assert lock.exists()  # a build may be running
    old = time.time() - kernels.STALE_LOCK_S - 60
    os.utime(lock, (old, old))
    kernels._clear_stale_lock("k")
    assert not lock.exists()
