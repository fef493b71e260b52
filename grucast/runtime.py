"""Hardware set-up for a command: which device, how many CPU threads, which seed."""

from __future__ import annotations

from typing import Optional

import torch

from grucast.config import check_device
from grucast.errors import ConfigError


def select_device(spec: str) -> torch.device:
    """auto picks the first GPU when there is one; asking for a GPU that is not there is an error."""
    check_device("--device", spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"device '{spec}' was asked for, but CUDA is not available here; use --device cpu or auto")
    dev = torch.device(spec)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device '{spec}' does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    return dev


def set_threads(threads: Optional[int]) -> None:
    if threads is not None:
        torch.set_num_threads(threads)
