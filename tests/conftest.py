"""Shared fixtures: small deterministic data files and a tiny model configuration."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from torch.utils.cpp_extension import get_default_build_root

# The fused GRU kernel is built once into torch's extension cache under the user's home. Tests
# move HOME to a fresh folder, so they name that cache explicitly; else every test process (the
# CLI run as a subprocess) would build the kernel again.
os.environ.setdefault("TORCH_EXTENSIONS_DIR", get_default_build_root())


def _share_the_cores() -> None:
    """Under pytest-xdist (-n auto, see pyproject.toml) every test process gets its share of the
    cores, for torch here and for the processes the tests start: two processes of two threads on
    two cores would take turns and run slower than one."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return
    import torch

    from grucast.config.machine import usable_cpus

    threads = max(1, usable_cpus() // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


_share_the_cores()

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "m4_hourly.csv"

# A model small enough to train in a second or two on a CPU.
TINY = ["--hidden-size", "8", "--num-layers", "1", "--epochs", "2", "--batch-size", "64", "--ensemble", "1"]


def cli(*args):
    """Run the grucast command in-process, as a user would type it; arguments may be paths."""
    from typer.testing import CliRunner

    from grucast.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


def write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    """A data file with exactly this text."""
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    """Every test runs in its own empty folder, away from the user's files and settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NO_COLOR", raising=False)
    for name in ("GRUCAST_DEVICE", "GRUCAST_THREADS", "GRUCAST_LOG_FILE", "GRUCAST_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)  # a developer's own settings must not change the tests


def sine_panel(n_series: int = 3, length: int = 240, freq: str = "h", start: str = "2024-01-01",
               seed: int = 0, season: int = 24) -> pd.DataFrame:
    """Long frame series_id, timestamp, value: daily sine plus trend plus noise, different levels."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        t = np.arange(length)
        level = 10.0 * (i + 1) ** 2
        y = level * (1 + 0.3 * np.sin(2 * np.pi * t / season + i) + 0.001 * t) + rng.normal(0, 0.02 * level, length)
        ts = pd.date_range(start, periods=length, freq=freq)
        frames.append(pd.DataFrame({"series_id": f"s{i}", "timestamp": ts, "value": np.round(y, 4)}))
    return pd.concat(frames, ignore_index=True)


def shard_sorted(frame: pd.DataFrame, id_col: str = "series_id") -> pd.DataFrame:
    """A forecast frame's rows in the order predict writes them: series in shard order (by the
    CRC-32 of the id, data.shards), each series' rows as they were."""
    from grucast.data import shards

    ids = frame[id_col].astype(str)
    first = pd.unique(ids)
    rank = pd.Series(np.argsort(shards.order(first)), index=first)
    return frame.iloc[np.argsort(rank[ids].to_numpy(), kind="stable")].reset_index(drop=True)


@pytest.fixture
def long_csv(tmp_path) -> Path:
    path = tmp_path / "long.csv"
    sine_panel().to_csv(path, index=False)
    return path


@pytest.fixture
def sample_csv() -> Path:
    return SAMPLE


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder of files that build(folder) makes once per test run and every test process
    shares (pytest-xdist's workers each run a module's fixtures of their own: a model trained in
    a fixture would be trained once per worker). The first worker builds it under a lock; the
    others wait and read it. Tests must not change it."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"shared-{name}"
    with open(root.with_name(root.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        if not (root / ".built").exists():
            root.mkdir(exist_ok=True)
            build(root)
            (root / ".built").touch()
    return root
