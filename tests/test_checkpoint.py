"""Checkpoints: round trip, and a clear error for every kind of bad file."""

import zipfile

import pytest
import torch

import grucast
from grucast import checkpoint
from grucast.config import files
from grucast.errors import CheckpointError
from grucast.workflows import predict, train


@pytest.fixture
def trained(long_csv, tmp_path):
    cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8, "num_layers": 1},
                             "training": {"epochs": 1, "device": "cpu"}})
    train.train(long_csv, tmp_path / "m.pt", cfg)
    return tmp_path / "m.pt"


def test_round_trip_gives_identical_predictions(trained, long_csv, tmp_path):
    ck = checkpoint.load(trained)
    assert ck.config.model.horizon == 6 and ck.config.data.season == 24  # resolved values stored
    assert ck.schema.id_col == "series_id" and ck.freq.name == "h"
    assert ck.history and "gru" in ck.metrics and ck.torch_version == torch.__version__
    checkpoint.save(ck, tmp_path / "copy.pt")
    a = predict.predict(trained, long_csv).forecasts
    b = predict.predict(tmp_path / "copy.pt", long_csv).forecasts
    assert a.equals(b)


def test_missing(tmp_path):
    with pytest.raises(CheckpointError, match=r"^checkpoint not found: .*nope.pt$"):
        checkpoint.load(tmp_path / "nope.pt")


def test_truncated(trained, tmp_path):
    data = trained.read_bytes()
    bad = tmp_path / "cut.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="is not a grucast checkpoint \\(damaged, truncated or another kind of file\\)"):
        checkpoint.load(bad)


def test_foreign_file(tmp_path):
    p = tmp_path / "notes.pt"
    p.write_text("hello")
    with pytest.raises(CheckpointError, match="not a grucast checkpoint"):
        checkpoint.load(p)
    q = tmp_path / "state.pt"
    torch.save({"weight": torch.zeros(2)}, q)  # a plain PyTorch file
    with pytest.raises(CheckpointError, match=r"is not a grucast checkpoint \(no grucast header\)"):
        checkpoint.load(q)


def test_newer_format(trained, tmp_path):
    raw = torch.load(trained, weights_only=True)
    raw["format_version"] = checkpoint.FORMAT_VERSION + 1
    p = tmp_path / "future.pt"
    torch.save(raw, p)
    with pytest.raises(CheckpointError, match="written by a newer grucast .* upgrade grucast"):
        checkpoint.load(p)


def test_a_setting_from_a_newer_grucast_names_the_version(trained, tmp_path):
    raw = torch.load(trained, weights_only=True)
    raw["config"]["model"]["attention"] = True  # a setting this grucast does not have
    raw["grucast_version"] = "9.9.9"
    p = tmp_path / "newer.pt"
    torch.save(raw, p)
    with pytest.raises(CheckpointError) as e:
        checkpoint.load(p)
    assert str(e.value) == (f"{p} was written by grucast 9.9.9, which has settings this grucast {grucast.__version__} "
                            "does not know (unknown setting 'model.attention'): use grucast 9.9.9 or newer")
    raw["grucast_version"] = grucast.__version__  # same version: the file is damaged
    torch.save(raw, p)
    with pytest.raises(CheckpointError, match=r"incomplete or damaged grucast checkpoint \(unknown setting "
                                              r"'model.attention'\)$"):
        checkpoint.load(p)


def test_a_calibration_that_does_not_fit_the_model_is_damage(long_csv, tmp_path):
    cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 4, "intervals": [80]},
                             "training": {"epochs": 1}})
    train.train(long_csv, tmp_path / "q.pt", cfg)
    raw = torch.load(tmp_path / "q.pt", weights_only=True)
    raw["calibration"]["shifts"] = raw["calibration"]["shifts"][:2]  # 2 horizon steps instead of 6
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"incomplete or damaged grucast checkpoint \(the calibration has "
                                              r"shape \(2, 3\), not \(6, 3\)\)$"):
        checkpoint.load(tmp_path / "bad.pt")


class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch pwned",))


def test_loading_never_runs_code_from_the_file(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.MAGIC, "format_version": 1, "x": Evil()}, p)
    assert zipfile.is_zipfile(p)
    with pytest.raises(CheckpointError, match="grucast never runs code from a checkpoint, so it refuses this file"):
        checkpoint.load(p)
    assert not (tmp_path / "pwned").exists()


def test_same_data_and_seed_give_byte_identical_checkpoints(long_csv, tmp_path):
    cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8},
                             "training": {"epochs": 1, "device": "cpu", "seed": 5}})
    train.train(long_csv, tmp_path / "a.pt", cfg)
    train.train(long_csv, tmp_path / "b.pt", cfg)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    a = predict.predict(tmp_path / "a.pt", long_csv, device="cpu").forecasts
    b = predict.predict(tmp_path / "b.pt", long_csv, device="cpu").forecasts
    assert a.equals(b)
