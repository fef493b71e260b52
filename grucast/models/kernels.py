"""Which code runs the GRU recurrence: grucast's fused CPU kernel, or PyTorch's nn.GRU.

On a CPU, nn.GRU runs every time step as several small ATen operations, each recorded by
autograd; on a few cores that per-operation overhead, not arithmetic, is most of a training
step. The fused kernel (csrc/gru_cpu.cpp) does a step as one matrix product and one vectorised
loop over the gates, forward and backward through time, and leaves everything that does not
depend on the previous step to large matrix products: the input projection of all steps at
once before the loop, the input and weight gradients after the backward loop. It uses the nn.GRU module's own
weights, so checkpoints are the same whichever kernel trained them, and it matches nn.GRU to
float32 rounding (tests/test_kernels.py).

- auto: the fused kernel for float32 on the CPU when it can be built; nn.GRU otherwise (GPUs
  keep cuDNN; bf16 autocast keeps nn.GRU).
- fused: the fused kernel, or a ConfigError saying why not.
- reference: nn.GRU everywhere.

The kernel is compiled on first use with torch.utils.cpp_extension.load (a C++ compiler and
ninja are needed; about 20 s on 2 cores) into torch's extension cache (build_directory():
TORCH_EXTENSIONS_DIR, else ~/.cache/torch_extensions/py311_cpu or the like), once per machine,
torch version and kernel source; later runs load it in a few milliseconds. If it cannot be
built, auto falls back to nn.GRU and says why once. Only torch's public API is used here (no
name starting with '_'; tests/test_kernels.py checks it), so a torch release that renames its
private helpers cannot break the build.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from grucast.config.settings import KERNELS
from grucast.errors import ConfigError

SOURCE = Path(__file__).parent / "csrc" / "gru_cpu.cpp"
STALE_LOCK_S = 600.0  # a build lock older than this was left by a killed process

log = logging.getLogger(__name__)
_loaded: dict[str, Any] = {}  # "ops" once built and loaded, or "error": why not


def _flags() -> tuple[str, list[str]]:
    """The build's name suffix and compiler flags for this CPU: AVX2 + FMA where torch itself
    runs AVX2 or better code, else the compiler's baseline. The suffix keeps builds for different
    CPUs apart in a shared cache (a home directory shared by several machines)."""
    # -fopenmp: at::parallel_for splits the batch over torch's own OpenMP threads (the soname
    # libgomp.so.1 resolves to the runtime torch has already loaded, so there is one thread pool).
    flags = ["-O3", "-fopenmp", "-fno-math-errno", "-fno-trapping-math"]
    cap = torch.backends.cpu.get_cpu_capability()
    if cap in ("AVX2", "AVX512"):
        return "avx2", flags + ["-mavx2", "-mfma"]
    return "base", flags


def build_directory(name: str) -> Path:
    """The folder the kernel called name is built in: TORCH_EXTENSIONS_DIR/name when that is set,
    else <torch's default build root>/py<X><Y><abiflags>_<rocmNNN|cuNNN|cpu>/name, e.g.
    ~/.cache/torch_extensions/py311_cpu/name. That is the folder torch's load() picks by itself
    (its rule in torch 2.13; older releases, 2.2 among them, call a ROCm build 'cpu' and leave
    out abiflags, so there a ROCm or free-threaded Python builds once more, in a folder of its
    own). It is computed here and passed to load() because torch's own helper is private and
    may change in any release."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or None  # empty: unset (not the working folder)
    if root is None:
        from torch.utils.cpp_extension import get_default_build_root  # public: in its __all__

        if torch.version.hip is not None:
            accelerator = "rocm" + torch.version.hip.replace(".", "")
        elif torch.version.cuda is not None:
            accelerator = "cu" + torch.version.cuda.replace(".", "")
        else:
            accelerator = "cpu"
        python = f"py{sys.version_info.major}{sys.version_info.minor}{getattr(sys, 'abiflags', '')}"
        root = os.path.join(get_default_build_root(), f"{python}_{accelerator}")
    return Path(root) / name


def _clear_stale_lock(folder: Path) -> None:
    """torch waits forever on the lock file of a build whose process was killed; a nightly job
    must not hang on one, so a lock older than STALE_LOCK_S is removed."""
    try:
        lock = folder / "lock"
        if lock.exists() and time.time() - lock.stat().st_mtime > STALE_LOCK_S:
            lock.unlink()
            log.warning("removed a stale build lock %s", lock)
    except Exception as e:  # only a best effort: the build below reports real problems
        log.debug("could not check the build lock: %s", e)


def _find_ninja() -> None:
    """torch builds with the ninja on PATH; a cron job that runs a virtualenv's grucast without
    activating it has the venv's ninja (a dependency) off PATH, so put it there."""
    if shutil.which("ninja") is None:
        try:
            import ninja  # the PyPI package: its binary sits in the package
        except ImportError:
            return
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


def load(notify: Optional[Callable[[str], None]] = None) -> Any:
    """torch.ops.grucast_gru, building the kernel first if this machine has no build of it;
    None when it cannot be built or loaded (the reason is in reason())."""
    if "ops" in _loaded or "error" in _loaded:
        return _loaded.get("ops")
    if os.environ.get("GRUCAST_KERNEL_BUILD", "1") == "0":
        _loaded["error"] = "building it is switched off (GRUCAST_KERNEL_BUILD=0)"
        return None
    try:
        from torch.utils.cpp_extension import load as build

        _find_ninja()

        tag, flags = _flags()
        version = "".join(c if c.isalnum() else "_" for c in torch.__version__)
        name = f"grucast_gru_{tag}_torch{version}"  # a build per CPU kind and torch version
        folder = build_directory(name)
        folder.mkdir(parents=True, exist_ok=True)  # torch's lock file goes in it before anything else
        _clear_stale_lock(folder)
        if notify is not None and not any(folder.glob("*.so")):
            notify("Building the fused CPU GRU kernel (once per machine and torch version, about 20 s)")
        started = time.perf_counter()
        # torch prints build chatter and compiler warnings; stdout stays clean for --json.
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            build(name=name, sources=[str(SOURCE)], extra_cflags=flags, extra_ldflags=["-fopenmp"],
                  build_directory=str(folder), is_python_module=False, verbose=False)
        log.info("fused GRU kernel %s ready in %.1f s", name, time.perf_counter() - started)
        _loaded["ops"] = torch.ops.grucast_gru
    except Exception as e:  # no compiler, no ninja, a read-only cache, a failed build...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        _loaded["error"] = f"it could not be built here ({type(e).__name__}: {first[:300]})"
    return _loaded.get("ops")


def reason() -> str:
    """Why the fused kernel is not available ('' when it is or was not tried)."""
    return str(_loaded.get("error", ""))


def select(kind: str, device: torch.device, precision: str = "fp32",
           notify: Optional[Callable[[str], None]] = None, cell: str = "gru") -> str:
    """The kernel a run will use, "fused" or "reference", for the asked kind on device and the
    model's cell; builds the fused kernel when it is needed (never for an LSTM, which nn.LSTM
    runs). Raises ConfigError when "fused" cannot be had."""
    if kind not in KERNELS:
        raise ConfigError(f"--kernel must be one of {', '.join(KERNELS)}; got '{kind}'")
    if cell != "gru" and kind == "fused":
        raise ConfigError(f"--kernel fused is grucast's GRU kernel, and the model's cell is {cell}: use --kernel auto "
                          "or reference")
    if kind == "reference" or cell != "gru":
        return "reference"
    if device.type != "cpu" or precision != "fp32":
        if kind == "fused":
            why = f"the device is {device}" if device.type != "cpu" else f"--precision is {precision}"
            raise ConfigError(f"--kernel fused runs float32 on the CPU only, and {why}; use --kernel auto")
        return "reference"
    if load(notify) is None:
        if kind == "fused":
            raise ConfigError(f"--kernel fused: the fused GRU kernel is not available: {reason()}; use --kernel auto")
        log.warning("using nn.GRU: the fused GRU kernel is not available: %s", reason())
        return "reference"
    return "fused"


class _Layer(torch.autograd.Function):
    """One layer: x [T, B, F] (time-major) -> hs [T, B, H], with the input projection inside."""

    @staticmethod
    def forward(ctx, x, w_ih, b_ih, w_hh, b_hh, h0):
        hs, saved = _loaded["ops"].forward(x, w_ih, b_ih, w_hh, b_hh, h0, True)
        ctx.save_for_backward(x, hs, h0, w_ih, w_hh, saved)
        return hs

    @staticmethod
    def backward(ctx, dhs):
        x, hs, h0, w_ih, w_hh, saved = ctx.saved_tensors
        need_dx = ctx.needs_input_grad[0]
        dx, dw_ih, db_ih, dw_hh, db_hh, dh0 = _loaded["ops"].backward(dhs.contiguous(), x, hs, h0, w_ih, w_hh,
                                                                      saved, need_dx)
        return dx if need_dx else None, dw_ih, db_ih, dw_hh, db_hh, dh0


def _autocast_cpu() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def usable(x: torch.Tensor) -> bool:
    """Whether the fused kernel can run on x now (float32 on the CPU, no autocast)."""
    return x.device.type == "cpu" and x.dtype == torch.float32 and "ops" in _loaded and not _autocast_cpu()


def fused_gru(gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """nn.GRU's output [B, T, H] for a batch-first input x [B, T, F] from a zero state, computed
    by the fused kernel with gru's own weights. Dropout between layers as nn.GRU applies it
    (its random draws differ)."""
    B = x.shape[0]
    inp = x.transpose(0, 1).contiguous()  # time-major: each step's rows are contiguous
    grad = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in gru.parameters()))
    for layer in range(gru.num_layers):
        w_ih, w_hh, b_ih, b_hh = (getattr(gru, f"{n}_l{layer}").contiguous()
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        h0 = x.new_zeros(B, w_hh.shape[1])
        if grad:
            inp = _Layer.apply(inp, w_ih, b_ih, w_hh, b_hh, h0)
        else:
            inp = _loaded["ops"].forward(inp, w_ih, b_ih, w_hh, b_hh, h0, False)[0]
        if layer < gru.num_layers - 1 and gru.dropout > 0 and gru.training:
            inp = nn.functional.dropout(inp, gru.dropout, training=True)
    return inp.transpose(0, 1)


def run_rnn(rnn: nn.Module, x: torch.Tensor, kernel: str) -> torch.Tensor:
    """The output [B, T, H] of rnn (an nn.GRU, or an nn.LSTM, which runs as it is) over x
    [B, T, F] by the kernel select() chose."""
    if (kernel == "fused" and isinstance(rnn, nn.GRU) and usable(x) and not rnn.bidirectional and rnn.batch_first
            and rnn.bias):
        return fused_gru(rnn, x)
    return rnn(x)[0]
