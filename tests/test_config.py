import textwrap

import pytest

from grucast.config import files
from grucast.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_defaults_are_valid_and_unresolved():
    cfg = files.load()
    assert cfg.training.loss is None and cfg.data.fill == "interpolate"  # pinball or mae: see config.train_loss
    assert cfg.model.horizon is None and cfg.model.input_size is None
    assert cfg.model.hidden_size is None and cfg.training.learning_rate is None  # sized to the data


def test_yaml_fills_sections_and_flags_win(tmp_path):
    p = write(tmp_path, """
        data: {fill: ffill}
        model: {horizon: 12, hidden_size: 16}
        training: {epochs: 3, learning_rate: 0.01}
    """)
    cfg = files.load(p, {"model": {"hidden_size": 32, "horizon": None}, "training": {"seed": 7}})
    assert cfg.data.fill == "ffill"
    assert cfg.model.hidden_size == 32  # the flag wins
    assert cfg.model.horizon == 12  # an unset flag leaves the file's value
    assert cfg.training.epochs == 3 and cfg.training.learning_rate == 0.01 and cfg.training.seed == 7


def test_unknown_key_suggests_the_nearest(tmp_path):
    p = write(tmp_path, "model:\n  hiden_size: 8\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'model.hiden_size'. Did you mean 'hidden_size'\?"):
        files.load(p)


def test_unknown_section_suggests_the_nearest(tmp_path):
    p = write(tmp_path, "trainig:\n  epochs: 2\n")
    with pytest.raises(ConfigError, match=r"unknown section 'trainig'.*Did you mean 'training'\?"):
        files.load(p)


@pytest.mark.parametrize(
    "text, message",
    [
        ("model: {hidden_size: many}", "model.hidden_size (--hidden-size) must be a whole number, got 'many'"),
        ("model: {horizon: 0}", "model.horizon (--horizon) must be positive, got 0"),
        ("model: {input_size: -3}", "model.input_size (--input-size) must be positive, got -3"),
        ("training: {loss: mape}", "training.loss (--loss) must be one of mae, mse, huber, pinball; got 'mape'. Did you mean 'mae'?"),
        ("data: {fill: interp}", "data.fill (--fill) must be one of interpolate, ffill, zero, error; got 'interp'. Did you mean 'interpolate'?"),
        ("training: {device: gpu}", "training.device (--device) must be auto, cpu, cuda or cuda:N; got 'gpu'"),
        ("model: {dropout: 1.5}", "model.dropout (--dropout) must be in [0, 1), got 1.5"),
        ("training: {epochs: true}", "training.epochs (--epochs) must be a whole number, got True"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        files.load(write(tmp_path, text))
    assert str(e.value) == message


def test_yaml_is_loaded_safely(tmp_path):
    p = write(tmp_path, "model: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        files.load(p)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        files.load(tmp_path / "nope.yaml")


def test_val_size_must_hold_one_horizon():
    with pytest.raises(ConfigError, match=r"val_size \(5\) must be at least the horizon \(10\)"):
        files.load(None, {"model": {"horizon": 10}, "training": {"val_size": 5}})


def test_scientific_notation_in_yaml_is_a_number(tmp_path):
    # YAML 1.1 reads 1e-3 (no dot) as text; it is still the number a user meant.
    cfg = files.load(write(tmp_path, "training: {learning_rate: 1e-3, epochs: '4'}"))
    assert cfg.training.learning_rate == 0.001 and cfg.training.epochs == 4


def test_a_bad_value_in_the_file_is_an_error_even_when_a_flag_overrides_it(tmp_path):
    with pytest.raises(ConfigError, match="training.epochs \\(--epochs\\) must be a whole number, got 'two'"):
        files.load(write(tmp_path, "training: {epochs: two}"), {"training": {"epochs": 2}})


def test_flag_names_in_messages_and_aliases(tmp_path):
    with pytest.raises(ConfigError, match=r"^training.learning_rate \(--lr\) must be positive, got -1.0$"):
        files.load(None, {"training": {"learning_rate": -1.0}})
    with pytest.raises(ConfigError, match=r"unknown setting 'training.lr'. Did you mean 'learning_rate'\?"):
        files.load(write(tmp_path, "training: {lr: 0.01}"))
    with pytest.raises(ConfigError, match=r"settings go under data, model or training. Did you mean 'training.epochs'\?"):
        files.load(write(tmp_path, "epochs: 2"))


@pytest.mark.parametrize("text,message", [
    ("training: {hidden_size: 8}", "unknown setting 'training.hidden_size'. Did you mean 'model.hidden_size'?"),
    ("model: {lr: 0.1}", "unknown setting 'model.lr'. Did you mean 'training.learning_rate'?"),
    ("model: {learning_rate: 0.1}", "unknown setting 'model.learning_rate'. Did you mean 'training.learning_rate'?"),
    ("training: {lookback: 48}", "unknown setting 'training.lookback'. Did you mean 'model.input_size'?"),
    ("data: {hiden_size: 8}", "unknown setting 'data.hiden_size'. Did you mean 'model.hidden_size'?"),
    ("model: {lookback: 48}", "unknown setting 'model.lookback'. Did you mean 'input_size'?"),  # its own section: bare
    ("lr: 0.1", "unknown section 'lr' in {p}: settings go under data, model or training. "
                "Did you mean 'training.learning_rate'?"),
    ("hiden_size: 8", "unknown section 'hiden_size' in {p}: settings go under data, model or training. "
                      "Did you mean 'model.hidden_size'?"),
    ("modle: {horizon: 6}", "unknown section 'modle' in {p}. Did you mean 'model'?"),
])
def test_a_key_in_the_wrong_section_is_named_by_its_full_path(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        files.load(p)
    assert str(e.value) == message.format(p=p)


def test_set_values_are_checked_on_their_own_and_text_settings_keep_their_text():
    from grucast.config import validate

    sets = files.parse_sets(["model.horizon=0"])
    with pytest.raises(ConfigError) as e:  # a flag overriding it does not hide it, as for a config file
        files.load(None, validate.merge(sets, {"model": {"horizon": 24}}))
    assert str(e.value) == "--set model.horizon=0: model.horizon (--horizon) must be positive, got 0"
    cfg = files.load(None, validate.merge(files.parse_sets(["model.horizon=6"]), {"model": {"horizon": 24}}))
    assert cfg.model.horizon == 24
    with pytest.raises(ConfigError) as e:
        files.load(None, files.parse_sets(["model.horizon=6", "training.val_size=3"]))
    assert str(e.value) == ("--set model.horizon=6 --set training.val_size=3: training.val_size (3) must be at least "
                            "the horizon (6) so that one validation window fits")
    cfg = files.load(None, files.parse_sets(["data.id_col=007", "data.target=yes", "training.loss=mse",
                                             "model.horizon=007", "data.calendar=no"]))
    assert (cfg.data.id_col, cfg.data.target, cfg.training.loss) == ("007", "yes", "mse")
    assert (cfg.model.horizon, cfg.data.calendar) == (7, False)  # other settings still read as YAML
    cfg = files.load(None, files.parse_sets(["data.future_covariates=[a, b]"]))
    assert cfg.data.future_covariates == ("a", "b")
    with pytest.raises(ConfigError, match=r"^--set data.target= gives no value"):
        files.parse_sets(["data.target="])


def test_yaml_files_keep_yaml_for_text_settings(tmp_path):
    with pytest.raises(ConfigError, match=r"^data.id_col .*must be text, got 7$"):
        files.load(write(tmp_path, "data: {id_col: 007}"))


def test_several_targets_as_a_yaml_list_are_what_target_a_b_names(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  target: [sales, returns]\n")
    assert files.load(path).data.target == "sales,returns"
    path.write_text("data:\n  target: [sales, 3]\n")
    with pytest.raises(ConfigError, match="data.target"):
        files.load(path)
