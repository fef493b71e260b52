"""Checkpoints written by every past grucast still load and forecast what they forecast then.

tests/fixtures/checkpoints holds real files, each trained and run by the grucast of the commit
that wrote its format (README.md there says which commit and command); they are never
regenerated. A change that stops an old file loading, or changes what it forecasts, fails here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

import grucast
from grucast import checkpoint

from conftest import cli, shard_sorted

HERE = Path(__file__).parent / "fixtures" / "checkpoints"

# fixture: (format version, the data file it was trained on and predicts from)
FIXTURES = {
    "format1-first": (1, "data.csv"),  # the first release: 2 layers by default, unresolved data settings
    "format1": (1, "data.csv"),
    "format2-first": (2, "covariates.csv"),  # covariates, calendar, series embedding
    "format2": (2, "covariates.csv"),  # ... and an 80% interval (quantiles with a calibration)
    "format3-first": (3, "covariates.csv"),  # ... and an ensemble of 2
    "format3": (3, "covariates.csv"),
    "format4-first": (4, "covariates.csv"),  # ... with nn.LSTM (model.cell)
}


def copied(name: str, tmp_path: Path) -> tuple[Path, Path]:
    """The fixture's checkpoint and data, copied so that no run writes near the stored files."""
    data = FIXTURES[name][1]
    for f in (f"{name}.pt", data):
        shutil.copy(HERE / f, tmp_path / f)
    return tmp_path / f"{name}.pt", tmp_path / data


def test_every_format_has_a_fixture_and_every_fixture_a_test():
    assert {v for v, _ in FIXTURES.values()} == set(range(1, checkpoint.FORMAT_VERSION + 1)), (
        f"checkpoint format {checkpoint.FORMAT_VERSION} has no fixture: add one (tests/fixtures/checkpoints/README.md)")
    assert {p.stem for p in HERE.glob("*.pt")} == set(FIXTURES)
    readme = (HERE / "README.md").read_text()
    for name in FIXTURES:
        assert f"{name}.pt" in readme
        assert (HERE / f"{name}.pt").stat().st_size < 100_000  # fixtures stay small


@pytest.mark.parametrize("name", FIXTURES)
def test_every_past_format_loads(name, tmp_path):
    version = FIXTURES[name][0]
    ckpt, _ = copied(name, tmp_path)
    loaded = checkpoint.load(ckpt)
    assert loaded.format_version == version
    assert loaded.config.model.ensemble == (2 if version >= 3 else 1)  # format 1 and 2: one network
    r = cli("info", ckpt)
    assert r.exit_code == 0, r.stderr
    assert f"(checkpoint format {version})" in r.stdout
    r = cli("info", ckpt, "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["format_version"] == version and doc["versions"]["grucast"] == loaded.grucast_version


def stored(name: str) -> pd.DataFrame:
    """A fixture's forecast file, in today's row order, without its method column (files from
    before that column have none; every row of those after says gru)."""
    f = shard_sorted(pd.read_csv(HERE / f"{name}.forecast.csv"))  # written in file order before shard order
    if "method" in f:
        assert (f.pop("method") == "gru").all()
    return f


def written(path):
    """A forecast file as the fixtures were written, before the method column (every fixture
    series is long enough for its network, so every row must say gru)."""
    f = pd.read_csv(path)
    assert (f.pop("method") == "gru").all()
    return f


@pytest.mark.parametrize("name", FIXTURES)
def test_every_past_format_forecasts_what_its_version_forecast(name, tmp_path):
    """nn.GRU (--kernel reference), as every version that wrote a fixture ran it: the same
    numbers, written as float32 text then and now, to float32 rounding of the machine. On a
    CPU of another kind than the one that made the fixtures (an AVX-512 one), torch's CPU
    kernels rounded 1 value in 12 one float32 step apart (1.2e-07 relative at most, measured), so the bound is 1e-06
    relative: a few steps, where any change to the model or its features moves forecasts by
    orders of magnitude more."""
    ckpt, data = copied(name, tmp_path)
    r = cli("predict", ckpt, data, "-o", tmp_path / "f.csv", "--kernel", "reference", "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    pd.testing.assert_frame_equal(written(tmp_path / "f.csv"), stored(name), check_exact=False, rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", ["format1-first", "format2", "format3"])
def test_the_fused_kernel_forecasts_old_files_to_float32_rounding(name, tmp_path):
    """The default kernel on the CPU (the fused one where it builds) matches nn.GRU to float32
    rounding by design (tests/test_kernels.py), so an old file forecasts the same to that."""
    ckpt, data = copied(name, tmp_path)
    r = cli("predict", ckpt, data, "-o", tmp_path / "f.csv", "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    pd.testing.assert_frame_equal(written(tmp_path / "f.csv"), stored(name), check_exact=False, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", FIXTURES)
def test_every_past_format_can_be_fine_tuned(name, tmp_path):
    """train --init-from takes an old file's weights, schema and feature layout; the new file is
    of today's format and forecasts."""
    ckpt, data = copied(name, tmp_path)
    r = cli("train", data, "-o", tmp_path / "new.pt", "--init-from", ckpt, "--epochs", "1", "--device", "cpu", "-q")
    assert r.exit_code == 0, r.stderr
    new, old = checkpoint.load(tmp_path / "new.pt"), checkpoint.load(ckpt)
    assert new.format_version == checkpoint.FORMAT_VERSION
    assert new.features == old.features and new.state_dict.keys() == old.state_dict.keys()
    r = cli("predict", tmp_path / "new.pt", data, "-o", tmp_path / "f.csv", "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    assert written(tmp_path / "f.csv").shape == stored(name).shape


def test_a_checkpoint_from_a_future_format_is_refused(tmp_path):
    """As the catalogue's checkpoint.newer-format case, on a real file: exit 3, one line saying
    what to do, nothing written."""
    ckpt, data = copied("format3", tmp_path)
    raw = torch.load(ckpt, weights_only=True)
    raw.update(format_version=99, grucast_version="9.0")
    torch.save(raw, tmp_path / "future.pt")
    message = (f"Error: future.pt was written by a newer grucast (9.0, checkpoint format 99); this is grucast "
               f"{grucast.__version__}, which reads format {checkpoint.FORMAT_VERSION}: upgrade grucast")
    r = cli("predict", "future.pt", data.name, "-o", "f.csv")
    assert r.exit_code == 3
    assert r.stderr.strip().splitlines() == [message]
    assert not (tmp_path / "f.csv").exists()
    r = cli("info", "future.pt")
    assert r.exit_code == 3
    assert r.stderr.strip().splitlines() == [message]
