"""Every number a user can type has a range: an absurd value (huge, zero, negative, NaN) is one
'Error:' line with the limit that applies, derived from the data or the machine where it can be,
before anything is allocated or written. Also: duplicate YAML keys, unreadable config paths,
the loss a quantile model really trains with, and staleness across time zones."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from grucast.config import files, machine, settings, validate
from grucast.data import shards
from grucast.errors import ConfigError, DataError, StaleDataError
from grucast.ops import gates
from grucast.training import losses, runtime

from conftest import TINY, cli, sine_panel

SHAPE = ["--horizon", "6", "--input-size", "24"]
QUICK = [*TINY, *SHAPE, "--max-steps", "2"]
BIG = 1_000_000_000


def error_line(r, code=1) -> str:
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.fixture
def data(tmp_path):
    sine_panel(n_series=2, length=120).to_csv(tmp_path / "d.csv", index=False)
    return tmp_path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny hourly model (horizon 6, input 24) and its 120-point data, trained once."""
    folder = tmp_path_factory.mktemp("model")
    sine_panel(n_series=2, length=120).to_csv(folder / "d.csv", index=False)
    r = cli("train", folder / "d.csv", "-o", folder / "m.pt", *QUICK, "-q")
    assert r.exit_code == 0, r.stderr
    return folder


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(machine, "cpu_count", lambda: 2)


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------- limits from the data


def test_a_huge_horizon_names_the_longest_series_and_what_fits(data):
    line = error_line(cli("train", "d.csv", "-o", "m.pt", *TINY, "--horizon", BIG))
    assert line == (
        "Error: every series is too short for model.horizon (--horizon) 1,000,000,000: the longest has 120 points, and "
        "a training window needs at least min_input + horizon + val_size = 1 + 1,000,000,000 + 1,000,000,000 = "
        "2,000,000,001 (val_size is the horizon or more); the horizon can be at most 59; pass a smaller --horizon")
    r = cli("check", "d.csv", "--horizon", BIG)
    assert r.exit_code == 1 and "the horizon can be at most 59" in r.stdout
    assert "the horizon can be at most 59" in error_line(cli("backtest", "d.csv", "--horizon", BIG))
    assert listing(data) == ["d.csv"]


def test_val_size_and_season_are_bounded_by_the_longest_series(data):
    assert error_line(cli("train", "d.csv", "-o", "m.pt", *QUICK, "--val-size", 10**21)) == (
        "Error: training.val_size (--val-size) 1,000,000,000,000,000,000,000 is too large for the data: the longest "
        "series has 120 points, and a training window needs at least min_input + horizon + val_size = 1 + 6 + "
        "1,000,000,000,000,000,000,000 = 1,000,000,000,000,000,000,007; with horizon 6, val_size can be at most 113")
    assert error_line(cli("train", "d.csv", "-o", "m.pt", *QUICK, "--season", 10**8)).startswith(
        "Error: data.season (--season) is 100,000,000, but the longest series has 120 points: the seasonal baseline "
        "compares every value with the one a season earlier, so the season can be at most 120")
    assert listing(data) == ["d.csv"]


def test_a_huge_input_size_fails_before_the_padding_is_laid_out(data, monkeypatch):
    # Short series are padded up to input_size: 10**9 points of padding per series would be
    # gigabytes. Refused before, with the message of too-short data or a memory estimate.
    line = error_line(cli("train", "d.csv", "-o", "m.pt", *TINY, "--horizon", "6", "--input-size", BIG,
                          "--min-input", str(10 ** 9 // 4)))
    assert line == ("Error: every series is too short to train on: a series needs at least min_input + horizon + "
                    "val_size = 250000000 + 6 + 6 = 250000012 points, and the longest has 120; use a smaller "
                    "--input-size or --horizon")
    monkeypatch.setattr(machine, "machine_memory", lambda: 64 << 30)
    line = error_line(cli("train", "d.csv", "-o", "m.pt", *TINY, "--horizon", "6", "--input-size", BIG,
                          "--min-input", "5"))
    assert line.startswith("Error: training (weights ") and "more than this machine's 64.0 GiB; use a smaller " \
        "--batch-size, --input-size or --hidden-size" in line
    assert listing(data) == ["d.csv"]


def test_training_that_needs_more_memory_than_the_machine_is_refused_with_the_estimate(data, monkeypatch):
    monkeypatch.setattr(machine, "machine_memory", lambda: 1 << 20)
    line = error_line(cli("train", "d.csv", "-o", "m.pt", *QUICK, "--hidden-size", "2048"))
    assert line.startswith("Error: training (weights ")
    assert line.endswith("more than this machine's 1.0 MiB; use a smaller --hidden-size, --num-layers or --ensemble")
    assert listing(data) == ["d.csv"]


# ---------------------------------------------------------------- evaluate and backtest windows


def test_evaluate_quotes_the_windows_that_fit_and_that_number_works(model, tmp_path):
    # 120 points, horizon 6, 24 points of history: origins 0, 6, ... up to 90 steps back.
    line = error_line(cli("evaluate", model / "m.pt", model / "d.csv", "--windows", BIG))
    assert line == ("Error: --windows 1,000,000,000: the longest series (120 points) has room for at most 16 window(s) "
                    "of 6 steps, 6 apart, each after 24 points of history; use --windows 16 or fewer or a smaller --stride")
    r = cli("evaluate", model / "m.pt", model / "d.csv", "--windows", "16", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["windows"] == 2 * 16
    assert "room for at most 16" in error_line(cli("evaluate", model / "m.pt", model / "d.csv", "--windows", "17"))
    assert error_line(cli("evaluate", model / "m.pt", model / "d.csv", "--stride", 10**20)) == (
        "Error: --stride 100,000,000,000,000,000,000 is longer than the longest series (120 points): use a stride of "
        "at most 120")
    # Where no window fits at all, that is the error, before a billion origins are laid out.
    sine_panel(n_series=1, length=25).to_csv(tmp_path / "short.csv", index=False)
    assert error_line(cli("evaluate", model / "m.pt", "short.csv", "--windows", BIG)) == (
        "Error: no series of short.csv is long enough to evaluate: a window needs 24 points of history and 6 to "
        "score, and the longest series has 25")


def test_evaluate_refuses_bad_threads(model, tmp_path, two_cores):
    m, d = model / "m.pt", model / "d.csv"
    assert error_line(cli("evaluate", m, d, "--threads", "0", "-o", "f.csv")) == "Error: --threads must be positive, got 0"
    assert error_line(cli("evaluate", m, d, "--threads", "100000", "-o", "f.csv")) == (
        "Error: --threads is 100,000, but this machine has 2 CPU cores and grucast runs at most 8 threads (4 per core): "
        "use --threads 2 or fewer, or leave it out for torch's default")
    assert listing(tmp_path) == []


def test_backtest_windows_are_checked_before_any_training(data):
    line = error_line(cli("backtest", "d.csv", *SHAPE, "--windows", BIG))
    assert line == ("Error: --windows 1,000,000,000: the longest series (120 points) has room for at most 16 window(s) "
                    "of 6 steps, 6 apart, each after input_size 24 points of history; use --windows 16 or fewer or a "
                    "smaller --stride")
    assert listing(data) == ["d.csv"]


def test_backtest_quotes_the_season_when_the_season_is_the_limit(tmp_path):
    # The baseline needs a season (48) of history, more than input_size (12): say so, not input_size.
    sine_panel(n_series=1, length=50).to_csv(tmp_path / "d.csv", index=False)
    line = error_line(cli("backtest", "d.csv", "--horizon", "6", "--input-size", "12", "--season", "48"))
    assert line == ("Error: no series of d.csv is long enough to backtest 3 window(s) of 6 steps: each needs 48 points "
                    "of history (a season, for the seasonal baseline), and the longest series has 50 in all")


# ---------------------------------------------------------------- limits from the machine and absolute caps


def test_threads_are_bounded_by_the_machine(data, two_cores):
    expected = ("is 100,000, but this machine has 2 CPU cores and grucast runs at most 8 threads (4 per core): use "
                "--threads 2 or fewer, or leave it out for torch's default")
    assert error_line(cli("train", "d.csv", "-o", "m.pt", *QUICK, "--threads", "100000")) == (
        f"Error: training.threads (--threads) {expected}")
    assert error_line(cli("backtest", "d.csv", *SHAPE, "--set", "training.threads=100000")) == (
        f"Error: training.threads (--threads) {expected}")
    with pytest.raises(ConfigError, match="^--threads is 9, but this machine has 2 CPU cores"):
        runtime.set_threads(9)  # predict, evaluate, backtest and a resumed run go through it
    assert listing(data) == ["d.csv"]


@pytest.mark.parametrize("flags, message", [
    (["--lr", "nan"], "training.learning_rate (--lr) must be a finite number, got nan"),
    (["--lr", "inf"], "training.learning_rate (--lr) must be a finite number, got inf"),
    (["--lr", "-0.1"], "training.learning_rate (--lr) must be positive, got -0.1"),
    (["--lr", "1e300"], "training.learning_rate (--lr) must be at most 10, got 1e+300"),
    (["--quantiles", "0.5"], "model.quantiles (--quantiles) 0.5 alone is the median, which the point forecast already "
                             "is: add other quantiles (e.g. 0.1,0.5,0.9) or leave --quantiles out"),
    (["--intervals", "1e-300"], "model.intervals (--intervals) must be at least 0.0002 (bounds at the quantiles "
                                "0.499999 and 0.500001), got 1e-300"),
    (["--dropout", "nan"], "model.dropout (--dropout) must be a finite number, got nan"),
    (["--quantiles", "0.1,nan"], "model.quantiles (--quantiles) must be a finite number, got nan"),
    (["--intervals", "inf"], "model.intervals (--intervals) must be a finite number, got inf"),
    (["--intervals", "99.99999"], "model.intervals (--intervals) must be at most 99.9998 (bounds at the quantiles "
                                  "0.000001 and 0.999999), got 99.99999"),
    (["--seed", str(2**63)], "training.seed (--seed) must be at most 9,223,372,036,854,775,807 (torch takes seeds "
                             "below 2**63), got 9,223,372,036,854,775,808"),
    (["--seed", str(2**63 - 2), "--ensemble", "3"], "training.seed (--seed) must be at most 9,223,372,036,854,775,805 "
     "with ensemble 3 (network k is seeded with seed + k, below 2**63), got 9,223,372,036,854,775,806"),
    (["--hidden-size", "1000000"], "model.hidden_size (--hidden-size) must be at most 16,384, got 1,000,000"),
    (["--num-layers", "1000"], "model.num_layers (--num-layers) must be at most 64, got 1,000"),
    (["--ensemble", "100000"], "model.ensemble (--ensemble) must be at most 1,000, got 100,000"),
    (["--series-embedding", "100000"], "model.series_embedding (--series-embedding) must be at most 16,384, got 100,000"),
    (["--batch-size", str(10**12)], "training.batch_size (--batch-size) must be at most 1,000,000,000, got "
                                    "1,000,000,000,000"),
    (["--epochs", str(10**12)], "training.epochs (--epochs) must be at most 1,000,000,000, got 1,000,000,000,000"),
])
def test_absurd_flags_are_one_line_and_nothing_is_written(data, flags, message):
    assert error_line(cli("train", "d.csv", "-o", "m.pt", *TINY, "--horizon", "6", *flags)) == f"Error: {message}"
    assert listing(data) == ["d.csv"]


@pytest.mark.parametrize("text, message", [
    ("training: {weight_decay: .nan}", "training.weight_decay must be a finite number, got nan"),
    ("training: {grad_clip: .inf}", "training.grad_clip must be a finite number, got inf"),
    ("training: {weight_decay: 1.0e+308, learning_rate: 0.001}", "training.weight_decay times the learning rate must "
     "be below 1 (AdamW scales the weights by 1 - learning_rate x weight_decay every step), got 1e+308 x 0.001; at "
     "this learning rate weight_decay must be below 1000"),
    ("training: {learning_rate: 1e999}", "training.learning_rate (--lr) must be a finite number, got inf"),
    ("model: {horizon: 1e400}", "model.horizon (--horizon) must be a whole number, got inf"),
    ("training: {eval_every: 10000000000}", "training.eval_every must be at most 1,000,000,000, got 10,000,000,000"),
    ("training: {patience: 0}", "training.patience (--patience) must be positive, got 0"),
])
def test_absurd_values_in_a_config_file(tmp_path, text, message):
    (tmp_path / "c.yaml").write_text(text + "\n")
    with pytest.raises(ConfigError) as e:
        files.load(tmp_path / "c.yaml")
    assert str(e.value) == message


def test_set_values_are_checked_like_flags(data):
    assert error_line(cli("backtest", "d.csv", "--set", "training.learning_rate=.nan")) == (
        "Error: --set training.learning_rate=.nan: training.learning_rate (--lr) must be a finite number, got nan")
    assert error_line(cli("backtest", "d.csv", "--set", "training.max_steps=")) == (
        "Error: --set training.max_steps= gives no value; write section.key=value")


def test_a_device_index_is_ascii_digits():
    with pytest.raises(ConfigError, match=r"must be auto, cpu, cuda or cuda:N; got 'cuda:²'"):
        runtime.select_device("cuda:²")


# ---------------------------------------------------------------- config files


def test_a_key_given_twice_in_a_config_file_is_an_error(data):
    (data / "c.yaml").write_text("model:\n  horizon: 6\n  horizon: 12\n")
    assert error_line(cli("train", "d.csv", "-o", "m.pt", "--config", "c.yaml")) == (
        "Error: config file c.yaml gives model.horizon twice (lines 2 and 3): keep one")
    (data / "s.yaml").write_text("model: {horizon: 6}\ntraining: {epochs: 1}\nmodel: {hidden_size: 4}\n")
    assert error_line(cli("check", "d.csv", "--config", "s.yaml")) == (
        "Error: config file s.yaml gives model twice (lines 1 and 3): keep one")
    assert listing(data) == ["c.yaml", "d.csv", "s.yaml"]


def test_yaml_merge_keys_may_still_be_overridden(tmp_path):
    (tmp_path / "c.yaml").write_text("model: &m {horizon: 6, hidden_size: 8}\ntraining: {epochs: 2}\n")
    assert files.load(tmp_path / "c.yaml").model.hidden_size == 8
    (tmp_path / "m.yaml").write_text("model:\n  <<: {horizon: 6}\n  horizon: 12\n")
    assert files.load(tmp_path / "m.yaml").model.horizon == 12


def test_a_config_path_that_is_a_folder_or_unreadable_says_so(data, monkeypatch):
    (data / "cfg").mkdir()
    assert error_line(cli("train", "d.csv", "-o", "m.pt", "--config", "cfg")) == (
        "Error: cfg is a folder, not a config file")
    (data / "c.yaml").write_text("model: {horizon: 6}\n")
    real = type(data).read_text

    def denied(self, *a, **kw):
        if self.name == "c.yaml":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **kw)

    monkeypatch.setattr(type(data), "read_text", denied)  # chmod 000 does not stop root, who runs the CI
    assert error_line(cli("train", "d.csv", "-o", "m.pt", "--config", "c.yaml")) == (
        "Error: cannot read config file c.yaml: permission denied")
    assert listing(data) == ["c.yaml", "cfg", "d.csv"]


# ---------------------------------------------------------------- the loss a quantile model trains with


def test_a_quantile_model_stores_the_pinball_loss_it_trained_with(data):
    r = cli("train", "d.csv", "-o", "q.pt", *QUICK, "--quantiles", "0.1,0.9", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["config"]["training"]["loss"] == "pinball"
    assert error_line(cli("train", "d.csv", "-o", "m.pt", *QUICK, "--intervals", "80", "--loss", "mse")) == (
        "Error: training.loss (--loss) is mse, but a model with --intervals forecasts quantiles and trains with the "
        "pinball loss: leave --loss out (or set it to pinball)")
    assert not (data / "m.pt").exists()


def test_the_loss_of_point_models_and_of_old_checkpoints():
    assert settings.train_loss(settings.ModelConfig(), settings.TrainConfig()) == "mae"
    assert settings.train_loss(settings.ModelConfig(), settings.TrainConfig(loss="huber")) == "huber"
    with pytest.raises(ConfigError, match=r"pinball is the loss of quantile models: give --quantiles or --intervals"):
        files.load(None, {"training": {"loss": "pinball"}})
    # Checkpoints written before: 'mae' (the old default) or even 'mse' beside quantiles still
    # load, and they were trained with the pinball loss, as they are now.
    old = validate.from_dict({"model": {"quantiles": [0.1, 0.9]}, "training": {"loss": "mse"}})
    assert isinstance(losses.loss_function(old.training.loss, settings.output_quantiles(old.model)), losses.PinballLoss)


# ---------------------------------------------------------------- staleness, time zones, shards


@pytest.fixture
def paris(monkeypatch):
    """This machine's local time is Paris (UTC+2 in June): naive times mean Paris time."""
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("newest", [pd.Timestamp("2024-06-01 08:00"), pd.Timestamp("2024-06-01 06:00", tz="UTC"),
                                    pd.Timestamp("2024-06-01 02:00", tz="America/New_York")])
def test_the_verdict_does_not_depend_on_how_the_same_instant_is_written(paris, newest):
    # The newest observation is 06:00 UTC (08:00 in Paris) written three ways; so is --as-of,
    # 3 hours later: stale for 2h, fresh for 4h, whichever way either is written.
    for as_of in ("2024-06-01 11:00", "2024-06-01T09:00Z", "2024-06-01T11:00+02:00", "2024-06-01T05:00-04:00"):
        when = gates.parse_as_of(as_of)
        gates.check_fresh(newest, gates.parse_age("4h"), when, "d.csv")
        with pytest.raises(StaleDataError, match=r"3\.0 hours before"):
            gates.check_fresh(newest, gates.parse_age("2h"), when, "d.csv")


def test_data_from_the_future_is_an_error_showing_both_times(paris):
    with pytest.raises(DataError) as e:
        gates.check_fresh(pd.Timestamp("2024-06-01 08:00"), gates.parse_age("2d"), gates.parse_as_of("2024-06-01T05:00Z"),
                         "d.csv")
    assert str(e.value) == (
        "the newest observation in d.csv (2024-06-01 08:00:00) is 1.0 hours after --as-of 2024-06-01 07:00:00 local "
        "time: data from the future; check the time zone of the time column and of --as-of; nothing was written")
    # Zoned data with a naive --as-of: the --as-of is Paris time, not the data's zone.
    with pytest.raises(DataError, match=r"is 2\.0 hours after --as-of 2024-06-01 04:00:00\+00:00"):
        gates.check_fresh(pd.Timestamp("2024-06-01 06:00", tz="UTC"), gates.parse_age("2d"),
                         gates.parse_as_of("2024-06-01 06:00"), "d.csv")
    with pytest.raises(DataError, match=r"after now \(.* local time\): data from the future; .*this machine's clock"):
        gates.check_fresh(pd.Timestamp.now() + pd.Timedelta("1h"), gates.parse_age("2d"), None, "d.csv")


def test_predict_refuses_data_from_the_future_and_writes_nothing(model, tmp_path):
    r = cli("predict", model / "m.pt", model / "d.csv", "-o", "f.csv", "--max-age", "2d", "--as-of", "2024-01-02")
    assert "from the future" in error_line(r)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("flag, text, message", [
    ("age", "999999999999999999999d", "--max-age 999999999999999999999d is too long: at most 106,751 days"),
    ("age", "-2d", "--max-age must be a positive duration, got '-2d'"),
    ("age", "nan", "--max-age must be a positive duration, got 'nan'"),
    ("as_of", "9999-12-31", "--as-of 9999-12-31 is outside the years 1678 to 2261 that grucast handles"),
    ("as_of", "-1", "--as-of -1 is outside the years 1678 to 2261 that grucast handles"),
    ("shard", "1/100000000000000000000", "--shard i/n needs n at most 4,294,967,296 (series are split by a 32-bit "
                                         "hash), got '1/100000000000000000000'"),
    ("shard", "2/1", "--shard i/n needs 1 <= i <= n, got '2/1'"),
])
def test_staleness_and_shard_values(flag, text, message):
    parse = {"age": gates.parse_age, "as_of": gates.parse_as_of, "shard": shards.parse}[flag]
    with pytest.raises(ConfigError) as e:
        parse(text)
    assert str(e.value) == message
