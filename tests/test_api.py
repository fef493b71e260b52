"""The Python API on DataFrames: grucast.train, grucast.predict, grucast.load and Model. A frame
gives what the CSV file of that frame gives through the commands, bit for bit; bad frames and
settings fail with the commands' errors; the caller's frame is never changed; saving keeps the
CLI's guards."""

import errno
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
import torch

import grucast
from grucast import api
from grucast.config import files as config_files
from grucast.errors import CheckpointError, ConfigError, DataError, PathError
from grucast.ops import publish
from grucast.workflows import model as model_api

from conftest import ROOT, sine_panel

# conftest.TINY as keywords, and as the settings the CLI builds from those flags.
SMALL = dict(hidden_size=8, num_layers=1, epochs=2, batch_size=64, ensemble=1)
SMALL_CONFIG = {"model": {"hidden_size": 8, "num_layers": 1, "ensemble": 1}, "training": {"epochs": 2, "batch_size": 64}}


@pytest.fixture(scope="module")
def trained():
    """(frame, an untouched copy of it, the Model trained on the frame)."""
    df = sine_panel()
    before = df.copy(deep=True)
    return df, before, grucast.train(df, **SMALL)


def same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


# ---------------------------------------------------------------- the README's example


def test_the_readme_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    exec(compile(code, "README.md (Python API)", "exec"), {"__name__": "readme"})  # noqa: S102 - as a reader runs it
    assert grucast.load(tmp_path / "model.pt").horizon == 24


# ---------------------------------------------------------------- same results as the commands


def test_a_frame_forecasts_as_its_csv_file_does_through_the_commands_bit_for_bit(trained, tmp_path):
    df, _, model = trained
    df.to_csv(tmp_path / "long.csv", index=False)
    cfg = config_files.load(None, SMALL_CONFIG)
    api.train(tmp_path / "long.csv", tmp_path / "cli.pt", cfg)
    from_file = api.predict(tmp_path / "cli.pt", tmp_path / "long.csv").forecasts

    same_frame(model.predict(df), from_file)
    assert list(from_file.columns) == ["series_id", "timestamp", "forecast", "method"] and len(from_file) == 3 * model.horizon
    cli_weights = grucast.load(tmp_path / "cli.pt").checkpoint.state_dict
    assert all(torch.equal(v, cli_weights[k]) for k, v in model.checkpoint.state_dict.items())
    # A checkpoint path works as the model, and a saved model forecasts as it did before saving.
    same_frame(grucast.predict(tmp_path / "cli.pt", df), from_file)
    model.save(tmp_path / "py.pt")
    same_frame(grucast.load(tmp_path / "py.pt").predict(df), from_file)
    same_frame(grucast.predict(str(tmp_path / "py.pt"), tmp_path / "long.csv"), from_file)


def test_trained_on_a_file_it_saves_the_checkpoint_grucast_train_writes_and_never_over_that_file(tmp_path):
    sine_panel().to_csv(tmp_path / "long.csv", index=False)
    api.train(tmp_path / "long.csv", tmp_path / "cli.pt", config_files.load(None, SMALL_CONFIG))
    model = grucast.train(str(tmp_path / "long.csv"), **SMALL)
    assert model.save(tmp_path / "py.pt") == tmp_path / "py.pt"
    assert (tmp_path / "py.pt").read_bytes() == (tmp_path / "cli.pt").read_bytes()

    data = (tmp_path / "long.csv").read_bytes()
    with pytest.raises(PathError) as e:
        model.save(tmp_path / "long.csv")
    assert str(e.value) == (f"the output {tmp_path / 'long.csv'} is the training data: grucast never writes over one "
                            "of its own inputs; choose another output name")
    assert (tmp_path / "long.csv").read_bytes() == data


def test_a_wide_frame_with_a_named_time_index(tmp_path):
    wide = sine_panel(length=120).pivot(index="timestamp", columns="series_id", values="value")
    before = wide.copy(deep=True)
    model = grucast.train(wide, horizon=6, input_size=24, max_steps=5, **SMALL)
    f = model.predict(wide)
    assert list(f.columns) == ["series_id", "timestamp", "forecast", "method"] and sorted(f.series_id.unique()) == ["s0", "s1", "s2"]
    assert f.timestamp.min() == wide.index.max() + pd.Timedelta("1h")
    same_frame(wide, before)

    wide.index.name = None
    with pytest.raises(DataError) as e:
        grucast.train(wide, horizon=6, **SMALL)
    assert str(e.value) == ("the DataFrame has its timestamps in an index without a name; name it "
                            "(frame.index.name = 'timestamp') or make it a column (frame.reset_index())")


def test_future_covariates_from_frames_as_from_files(tmp_path):
    rng = np.random.default_rng(0)
    H, n = 6, 100
    frames = []
    for i in range(2):
        promo = (rng.random(n) < 0.3).astype(int)
        frames.append(pd.DataFrame({"series_id": f"s{i}", "timestamp": pd.date_range("2024-01-01", periods=n, freq="h"),
                                    "value": np.round(10.0 * (i + 1) * (1 + 2 * promo) + rng.normal(0, 0.5, n), 3),
                                    "promo": promo}))
    df = pd.concat(frames, ignore_index=True)
    history = df.groupby("series_id").head(n - H)
    future = df.groupby("series_id").tail(H).drop(columns="value")
    history.to_csv(tmp_path / "history.csv", index=False)
    future.to_csv(tmp_path / "future.csv", index=False)
    model = grucast.train(tmp_path / "history.csv", horizon=H, input_size=12, max_steps=10, future_cols="promo", **SMALL)
    model.save(tmp_path / "m.pt")

    from_files = api.predict(tmp_path / "m.pt", tmp_path / "history.csv", future_path=tmp_path / "future.csv").forecasts
    same_frame(model.predict(history, future=future), from_files)
    # The future rows in the frame itself, with the target empty, give the same.
    same_frame(model.predict(pd.concat([history, future])), from_files)

    plain = grucast.load(tmp_path / "m.pt")
    with pytest.raises(DataError, match="^future covariate column 'promo' is not in the future DataFrame; its columns"):
        plain.predict(history, future=future.drop(columns="promo"))


# ---------------------------------------------------------------- settings


def test_settings_are_the_config_keys_as_keywords_whatever_their_section(tmp_path):
    cfg = model_api.make_config(hidden_size=16, seed=3, time_col="t", lr=0.01, future_cols="a,b", past_cols=["c"])
    assert (cfg.model.hidden_size, cfg.training.seed, cfg.data.time_col) == (16, 3, "t")
    assert cfg.training.learning_rate == 0.01
    assert cfg.data.future_covariates == ("a", "b") and cfg.data.past_covariates == ("c",)
    # config= a YAML file, a dict of sections or a Config; the keywords win over it.
    (tmp_path / "c.yaml").write_text("model:\n  hidden_size: 32\n  num_layers: 2\n")
    for config in (tmp_path / "c.yaml", {"model": {"hidden_size": 32, "num_layers": 2}},
                   model_api.make_config(hidden_size=32, num_layers=2)):
        cfg = model_api.make_config(config, hidden_size=8)
        assert (cfg.model.hidden_size, cfg.model.num_layers) == (8, 2)


@pytest.mark.parametrize("settings,message", [
    ({"hiden_size": 8}, "unknown setting 'hiden_size'. Did you mean 'hidden_size'?"),
    ({"lookback": 48}, "unknown setting 'lookback'. Did you mean 'input_size'?"),
    ({"epoch": 3}, "unknown setting 'epoch'. Did you mean 'epochs'?"),
    ({"zzz": 1}, "unknown setting 'zzz'."),
    ({"lr": -1}, "training.learning_rate (--lr) must be positive, got -1.0"),
    ({"config": {"training": {"hidden_size": 8}}}, "unknown setting 'training.hidden_size'. Did you mean 'model.hidden_size'?"),
    ({"target": ["sales", 2]}, "data.target (--target) must be text, got ['sales', 2]"),
    ({"epochs": "many"}, "training.epochs (--epochs) must be a whole number, got 'many'"),
    ({"config": {"model": {"hiden_size": 8}}}, "unknown setting 'model.hiden_size'. Did you mean 'hidden_size'?"),
])
def test_an_unknown_or_bad_setting_is_a_config_error_before_the_data_is_read(settings, message):
    with pytest.raises(ConfigError) as e:
        grucast.train(pd.DataFrame(), **settings)  # an empty frame: the settings fail first
    assert str(e.value) == message


# ---------------------------------------------------------------- bad frames, untouched frames


def test_a_bad_frame_fails_with_the_files_message_naming_the_dataframe(tmp_path):
    df = sine_panel(length=60)
    df["value"] = df["value"].astype(object)
    df.loc[5, "value"] = "n/a?"
    df.to_csv(tmp_path / "d.csv", index=False)
    for settings in ({}, {"target": "sales"}, {"time_col": "when"}):
        with pytest.raises(DataError) as frame_error:
            grucast.train(df, **settings, **SMALL)
        with pytest.raises(DataError) as file_error:
            grucast.train(tmp_path / "d.csv", **settings, **SMALL)
        assert str(frame_error.value) == str(file_error.value).replace("d.csv", "the DataFrame")
    assert str(frame_error.value).startswith("time column 'when' is not in the DataFrame; its columns are")
    with pytest.raises(DataError, match=r"^non-numeric value 'n/a\?' in column 'value' at line 7$"):
        grucast.train(df, **SMALL)
    with pytest.raises(DataError, match="^the DataFrame has no rows$"):
        grucast.train(df.iloc[:0], **SMALL)
    with pytest.raises(TypeError, match="data must be a pandas DataFrame or the path of a CSV or Parquet file, got list"):
        grucast.train([1, 2, 3])


def test_the_callers_frame_is_never_changed(trained):
    df, before, model = trained
    same_frame(df, before)  # after training on it
    # Names with spaces, the time in a named index, a category id column: all rewritten on the
    # way in, none of it in the caller's frame.
    messy = before.rename(columns={"value": " value "}).set_index("timestamp")
    messy["series_id"] = messy["series_id"].astype("category")
    kept = messy.copy(deep=True)
    same_frame(model.predict(messy), model.predict(df))
    same_frame(messy, kept)
    assert list(messy.columns) == ["series_id", " value "] and messy.index.name == "timestamp"


# ---------------------------------------------------------------- load and save


def test_loading_a_bad_checkpoint_is_a_checkpoint_error(tmp_path):
    (tmp_path / "bad.pt").write_text("series_id,timestamp,value\n")
    with pytest.raises(CheckpointError) as e:
        grucast.load(tmp_path / "bad.pt")
    assert str(e.value) == f"{tmp_path / 'bad.pt'} is not a grucast checkpoint (damaged, truncated or another kind of file)"
    assert e.value.exit_code == 3
    with pytest.raises(CheckpointError, match="^checkpoint not found: "):
        grucast.predict(tmp_path / "missing.pt", sine_panel())


def test_a_model_knows_itself_and_refuses_a_future_it_was_not_trained_with(trained, tmp_path):
    df, _, model = trained
    assert model.metrics["windows"] > 0 and model.metrics == model.result.metrics
    assert model.config.model.hidden_size == 8 and model.input_size == model.config.model.input_size
    assert "long format" in model.notes and model.history
    assert model.info["training"]["data_file"] == "the DataFrame"
    assert repr(model) == f"<grucast.Model horizon=24 input_size={model.input_size} series=3 trained on the DataFrame>"
    with pytest.raises(ConfigError) as e:
        model.predict(df, future=df)
    assert str(e.value) == "future= gives future covariates, but the model was trained without any"


def test_save_is_atomic_and_keeps_the_clis_guards(trained, tmp_path, monkeypatch):
    _, _, model = trained
    path = tmp_path / "m.pt"
    model.save(path, manifest=True)
    manifest = json.loads((tmp_path / "m.pt.manifest.json").read_text())
    assert manifest["command"] == "train" and manifest["output"]["path"] == str(path)
    assert manifest["output"]["sha256"] and manifest["input"]["series"] == 3
    good = path.read_bytes()

    # A full disk while writing or renaming: the old file stays whole, no temporary file is left.
    for stage in ("write", "rename"):
        def full(name, stage=stage):
            if name == stage:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(publish, "_step", full)
        with pytest.raises(PathError, match="the disk is full"):
            model.save(path)
        monkeypatch.undo()
        assert path.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.manifest.json"]

    model.save(path)  # without a manifest: the stale one goes
    assert not (tmp_path / "m.pt.manifest.json").exists()

    loaded = grucast.load(path)
    with pytest.raises(PathError, match="^the output .*m.pt is the model's own file: grucast never writes over one"):
        loaded.save(path)
    with pytest.raises(ConfigError, match="^manifest=True describes a training run; a loaded model has none"):
        loaded.save(tmp_path / "copy.pt", manifest=True)
    (tmp_path / "link.pt").symlink_to(tmp_path / "elsewhere.pt")
    with pytest.raises(PathError, match="is a symbolic link"):
        model.save(tmp_path / "link.pt")
    with pytest.raises(PathError, match="folder .*nowhere does not exist"):
        model.save(tmp_path / "nowhere" / "m.pt")
    assert not (tmp_path / "elsewhere.pt").exists() and path.read_bytes() == good


# ---------------------------------------------------------------- the package


def test_the_api_is_at_the_top_of_the_package():
    assert grucast.train is model_api.train and grucast.predict is model_api.predict
    assert grucast.load is model_api.load and grucast.Model is model_api.Model
    assert {"train", "predict", "load", "Model"} <= set(dir(grucast))
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        _ = grucast.trian
    from grucast import api as facade  # submodules are still found

    assert facade.Model is grucast.Model


def test_several_targets_as_a_list_as_the_cli_takes_them():
    for target in (["sales", "v2"], ("sales", "v2"), "sales,v2"):
        assert model_api.make_config(target=target).data.target == "sales,v2"


def test_a_loaded_model_is_never_saved_over_a_file_that_is_not_a_checkpoint(trained, tmp_path):
    df, _, model = trained
    model.save(tmp_path / "m.pt")
    df.to_csv(tmp_path / "data.csv", index=False)
    before = (tmp_path / "data.csv").read_bytes()
    loaded = grucast.load(tmp_path / "m.pt")  # it no longer knows the path of its training data
    with pytest.raises(PathError, match="exists and is not a checkpoint"):
        loaded.save(tmp_path / "data.csv")
    assert (tmp_path / "data.csv").read_bytes() == before
    model.save(tmp_path / "old.pt")
    loaded.save(tmp_path / "old.pt")  # an earlier checkpoint is replaced
    assert grucast.load(tmp_path / "old.pt").predict(df).equals(model.predict(df))
