"""Hardware set-up for a command: which device, how many CPU threads, which seed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from grucast.config.machine import check_threads
from grucast.config.validate import check_device
from grucast.errors import ConfigError

if TYPE_CHECKING:  # torch is imported when a device is chosen, not when this module is
    import torch


def select_device(spec: str) -> "torch.device":
    """auto picks the first GPU when there is one; asking for a GPU that is not there is an error."""
    import torch

    check_device("--device", spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"device '{spec}' was asked for, but CUDA is not available here; use --device cpu or auto")
    if spec.startswith("cuda:") and int(spec[5:]) >= torch.cuda.device_count():  # before torch reads the index
        raise ConfigError(f"device '{spec}' does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    return torch.device(spec)


def set_threads(threads: Optional[int]) -> None:
    """torch's CPU threads; ConfigError for a number this machine cannot run, checked before
    torch tries to start them (100,000 threads exhaust the memory)."""
    if threads is not None:
        check_threads("--threads", threads)
        import torch

        torch.set_num_threads(threads)
