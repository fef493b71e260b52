"""The fused CPU GRU kernel against PyTorch's nn.GRU (the reference): same outputs and gradients
to float32 rounding, same forecasts through the CLI, and clear errors when it cannot be had."""

from __future__ import annotations

import ast
import inspect
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from grucast.errors import ConfigError
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
        out = kernels.run_rnn(gru, x, kernel)
        (out * w).sum().backward()
        return out.detach(), [x.grad.clone()] + [p.grad.clone() for p in gru.parameters()]

    ref_out, ref_grads = run("reference")
    out, grads = run("fused")
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)
    with torch.inference_mode():  # the forecasting path: no saved gates
        torch.testing.assert_close(kernels.run_rnn(gru, x.detach(), "fused"), ref_out, rtol=1e-5, atol=1e-6)


def test_fused_kernel_leaves_torch_thread_count_alone(fused):
    """A batch too small to split runs on the calling thread; the kernel's one-thread setting for
    its slices must not stay behind and leave every later op single-threaded."""
    gru = nn.GRU(2, 8, num_layers=2, batch_first=True)
    before = torch.get_num_threads()
    for batch in (3, 300):
        kernels.run_rnn(gru, torch.randn(batch, 5, 2), "fused").sum().backward()
        assert torch.get_num_threads() == before


def test_fused_kernel_saturated_gates_stay_finite(fused):
    """Inputs far out on the sigmoid and tanh tails (|pre-activation| in the hundreds)."""
    torch.manual_seed(1)
    gru = nn.GRU(3, 16, batch_first=True)
    x = 200 * torch.randn(8, 20, 3)
    out = kernels.run_rnn(gru, x, "fused")
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, gru(x)[0], rtol=1e-5, atol=1e-6)


def test_dropout_between_layers_trains_with_the_fused_kernel(fused):
    torch.manual_seed(2)
    gru = nn.GRU(2, 8, num_layers=2, dropout=0.5, batch_first=True)
    x = torch.randn(4, 10, 2)
    a = kernels.run_rnn(gru, x, "fused")
    b = kernels.run_rnn(gru, x, "fused")
    assert not torch.equal(a, b)  # dropout drew different masks
    a.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in gru.parameters())
    gru.eval()  # no dropout: exactly the reference again
    torch.testing.assert_close(kernels.run_rnn(gru, x, "fused"), gru(x)[0], rtol=1e-5, atol=1e-6)


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


def test_a_stale_build_lock_is_removed_and_a_fresh_one_kept(tmp_path):
    """A build killed half-way leaves torch's lock file, on which every later run would wait forever."""
    lock = tmp_path / "k" / "lock"
    lock.parent.mkdir()
    lock.touch()
    kernels._clear_stale_lock(lock.parent)
    assert lock.exists()  # a build may be running
    old = time.time() - kernels.STALE_LOCK_S - 60
    os.utime(lock, (old, old))
    kernels._clear_stale_lock(lock.parent)
    assert not lock.exists()


# The build goes through torch's public API only, so a torch release that renames a private helper
# cannot break it. These tests run against whatever torch is installed: a CI job per supported torch
# version (pip install "torch==2.2.*" ...; pytest tests/test_kernels.py) checks each of them.

def test_the_build_directory_is_torch_extensions_dir_else_torchs_default(tmp_path, monkeypatch):
    from torch.utils.cpp_extension import get_default_build_root

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    assert kernels.build_directory("k") == tmp_path / "ext" / "k"
    python = f"py{sys.version_info.major}{sys.version_info.minor}{getattr(sys, 'abiflags', '')}"
    for hip, cuda, tag in ((None, None, "cpu"), (None, "12.1", "cu121"), ("6.0", None, "rocm60"), ("6.0", "12.1", "rocm60")):
        monkeypatch.setattr(torch.version, "hip", hip)
        monkeypatch.setattr(torch.version, "cuda", cuda)
        for unset in ("delenv", "empty"):  # an empty TORCH_EXTENSIONS_DIR is no folder (not the working one)
            if unset == "delenv":
                monkeypatch.delenv("TORCH_EXTENSIONS_DIR")
            else:
                monkeypatch.setenv("TORCH_EXTENSIONS_DIR", "")
            assert kernels.build_directory("k") == Path(get_default_build_root()) / f"{python}_{tag}" / "k"
    assert str(kernels.build_directory("k")).startswith(str(Path(tmp_path).resolve()))  # under HOME's cache


def test_the_build_directory_is_the_one_torch_would_pick(tmp_path, monkeypatch):
    """Where the installed torch still has its private helper, both rules agree, so the cache a
    grucast that called the helper built is found again (not built a second time)."""
    import torch.utils.cpp_extension as ext

    helper = getattr(ext, "_get_build_directory", None)
    if helper is None:
        pytest.skip("this torch has no _get_build_directory to compare with")
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    assert kernels.build_directory("k") == Path(helper("k", verbose=False))
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    assert kernels.build_directory("k") == Path(helper("k", verbose=False))


def test_the_build_passes_its_folder_to_torch_and_announces_only_a_real_build(tmp_path, monkeypatch):
    import torch.utils.cpp_extension as ext

    calls = []
    monkeypatch.setattr(ext, "load", lambda **kw: calls.append(kw))
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    monkeypatch.delenv("GRUCAST_KERNEL_BUILD", raising=False)
    said = []
    monkeypatch.setattr(kernels, "_loaded", {})
    assert kernels.load(said.append) is not None, kernels.reason()
    folder = Path(calls[0]["build_directory"])
    assert folder.parent == tmp_path / "ext" and folder.is_dir() and folder.name == calls[0]["name"]
    assert calls[0]["sources"] == [str(kernels.SOURCE)] and said == [
        "Building the fused CPU GRU kernel (once per machine and torch version, about 20 s)"]
    (folder / f"{folder.name}.so").touch()  # a build from an earlier run: loaded, not announced
    monkeypatch.setattr(kernels, "_loaded", {})
    said.clear()
    kernels.load(said.append)
    assert said == [] and len(calls) == 2 and calls[1] == calls[0]


def test_a_build_folder_that_cannot_be_made_falls_back_with_the_reason(tmp_path, monkeypatch, long_csv):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "file"))
    monkeypatch.delenv("GRUCAST_KERNEL_BUILD", raising=False)
    monkeypatch.setattr(kernels, "_loaded", {})
    assert kernels.load() is None
    assert kernels.reason().startswith("it could not be built here (") and "file" in kernels.reason()
    assert kernels.select("auto", torch.device("cpu")) == "reference"
    with pytest.raises(ConfigError, match=r"^--kernel fused: the fused GRU kernel is not available: it could not be "
                                          r"built here \("):
        kernels.select("fused", torch.device("cpu"))


def _torch_names(tree: ast.AST) -> set[str]:
    """The names a module binds to torch or to something imported from it."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "torch")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            names.update(a.asname or a.name for a in node.names)
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))  # __version__ is public


def test_the_kernel_module_uses_no_private_torch_names():
    tree = ast.parse(Path(kernels.__file__).read_text())
    torch_names = _torch_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names
                      if a.name.split(".")[0] == "torch" and any(map(_private, a.name.split(".")))]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            found += [f"{node.module}.{a.name}" for a in node.names
                      if any(map(_private, node.module.split("."))) or _private(a.name)]
        elif isinstance(node, ast.Attribute):
            chain, root = [node.attr], node.value
            while isinstance(root, ast.Attribute):
                chain.append(root.attr)
                root = root.value
            if isinstance(root, ast.Name) and root.id in torch_names and any(map(_private, chain)):
                found.append(".".join([root.id] + chain[::-1]))
    assert torch_names >= {"torch", "nn", "build"}  # the walk sees the imports it should
    assert found == []


def test_the_public_torch_api_the_kernel_relies_on_exists():
    """Checked against the installed torch: the arguments kernels.py passes to
    torch.utils.cpp_extension.load (read from its source) and the other public names it uses."""
    import torch.utils.cpp_extension as ext

    tree = ast.parse(Path(kernels.__file__).read_text())
    passed = {k.arg for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "build"
              for k in node.keywords}
    assert {"name", "sources", "extra_cflags", "build_directory", "verbose", "is_python_module"} <= passed
    assert passed <= set(inspect.signature(ext.load).parameters)
    assert "load" in ext.__all__ and "get_default_build_root" in ext.__all__
    assert isinstance(ext.get_default_build_root(), str)
    assert isinstance(torch.backends.cpu.get_cpu_capability(), str)
    assert all(hasattr(torch.version, v) for v in ("cuda", "hip"))
    assert callable(torch.ops.load_library)  # what load(is_python_module=False) registers the ops with
    assert hasattr(torch, "is_autocast_enabled") and issubclass(kernels._Layer, torch.autograd.Function)
