"""Settings chosen from the data when the user leaves them open."""

import numpy as np
import pytest

from grucast.config import files, validate
from grucast.data.freq import Freq
from grucast.errors import ConfigError
from grucast.training.defaults import anchor_errors, choose_anchor, memory_estimate, resolve


def test_hourly_defaults_look_back_a_week():
    cfg, notes = resolve(files.load(), Freq("datetime", "h"), np.array([1000, 2000]))
    assert (cfg.data.season, cfg.model.horizon, cfg.model.input_size, cfg.training.val_size) == (24, 24, 168, 24)
    assert notes == ["season 24 (from the frequency)", "horizon 24 (default for this frequency)",
                     "input_size 168 (default for horizon 24, season 24)",
                     "hidden_size 32, learning_rate 0.001, ensemble 3 (default for 2,570 training windows, below 10,000)",
                     "anchor none (default at or above 1,000 training windows: a random start)"]


@pytest.mark.parametrize("name, season, horizon, input_size", [
    ("D", 7, 14, 28), ("W-SUN", 52, 13, 52), ("MS", 12, 18, 36), ("QS-JAN", 4, 8, 16), ("YS-JAN", 1, 6, 12),
    ("15min", 96, 96, 336),
])
def test_defaults_per_frequency(name, season, horizon, input_size):
    cfg, _ = resolve(files.load(), Freq("datetime", name), np.array([5000]))
    assert (cfg.data.season, cfg.model.horizon, cfg.model.input_size) == (season, horizon, input_size)


def test_default_input_size_shrinks_to_fit_short_series():
    cfg, notes = resolve(files.load(), Freq("datetime", "h"), np.array([150, 150, 3000]))
    assert cfg.model.input_size == 150 - 24 - 2 * 24 + 1
    assert notes[-3] == "input_size 79 (default, shortened to fit half of the series)"


def test_explicit_settings_are_kept():
    cfg, notes = resolve(files.load(None, {"model": {"horizon": 5, "input_size": 9, "hidden_size": 8, "ensemble": 2},
                                            "data": {"season": 3}, "training": {"learning_rate": 0.01}}),
                         Freq("datetime", "h"), np.array([40]))
    assert (cfg.data.season, cfg.model.horizon, cfg.model.input_size) == (3, 5, 9) and notes == []
    assert (cfg.model.hidden_size, cfg.training.learning_rate, cfg.model.ensemble) == (8, 0.01, 2)


def test_width_learning_rate_and_ensemble_follow_the_amount_of_data():
    """One long series (ETTh1-like: 8,209 windows) gets the small network, three of them;
    M4 Hourly's size (414 series of 700+ points) one large one. A value the user sets is never
    overridden."""
    hourly = Freq("datetime", "h")
    small = files.load(None, {"model": {"horizon": 96, "input_size": 336}, "training": {"val_size": 2880}})
    cfg, notes = resolve(small, hourly, np.array([11520]))
    assert (cfg.model.hidden_size, cfg.training.learning_rate, cfg.model.ensemble) == (32, 1e-3, 3)
    assert notes[-2:] == ["hidden_size 32, learning_rate 0.001, ensemble 3 (default for 8,209 training windows, below 10,000)",
                          "anchor none (default at or above 1,000 training windows: a random start)"]
    m4 = files.load(None, {"model": {"horizon": 48}})
    cfg, notes = resolve(m4, hourly, np.full(414, 700))
    assert (cfg.model.hidden_size, cfg.training.learning_rate, cfg.model.ensemble) == (64, 3e-3, 1)
    assert notes[-2].endswith("ensemble 1 (default for 180,918 training windows, at or above 10,000)")
    assert cfg.model.anchor == "none"  # a random start from 1,000 windows on; below, chosen from the values
    assert resolve(small, hourly, np.array([11520]))[0].model.anchor == "none"
    assert resolve(small, hourly, np.array([3500]))[0].model.anchor is None  # 3500 - 336 - 96 - 2880 + 1 = 189
    assert resolve(validate.replace(m4, model={"anchor": "naive"}), hourly, np.full(414, 700))[0].model.anchor == "naive"
    cfg, notes = resolve(validate.replace(small, training={"learning_rate": 0.01}, model={"ensemble": 1}), hourly,
                         np.array([11520]))
    assert (cfg.model.hidden_size, cfg.training.learning_rate, cfg.model.ensemble) == (32, 0.01, 1)
    assert notes[-2] == "hidden_size 32 (default for 8,209 training windows, below 10,000)"


def test_integer_steps_need_a_season():
    with pytest.raises(ConfigError, match="integer steps, so the season cannot be inferred: pass --season"):
        resolve(files.load(), Freq("int", step=1), np.array([100]))
    cfg, _ = resolve(files.load(None, {"data": {"season": 24}, "model": {"horizon": 48}}), Freq("int"), np.array([900]))
    assert cfg.model.input_size == 168  # integer steps with a daily season of 24 look back a week
    cfg, _ = resolve(files.load(None, {"data": {"season": 52}, "model": {"horizon": 13}}), Freq("int"), np.array([900]))
    assert cfg.model.input_size == 104  # ... with a yearly season of 52 weeks, two years


def test_short_series_count_with_their_padded_windows():
    """10,000 series of 100 hourly points are a lot of data even though none holds a full
    168-step window: each gives the padded windows make_spec lays out (down to 42 observed
    points), so the large defaults apply."""
    cfg, notes = resolve(files.load(None, {"model": {"input_size": 168}}), Freq("datetime", "h"), np.full(10_000, 100))
    assert (cfg.model.hidden_size, cfg.model.ensemble) == (64, 1)
    assert notes[-2] == ("hidden_size 64, learning_rate 0.003, ensemble 1 (default for 110,000 training windows, "
                         "at or above 10,000)")


def test_settings_longer_than_every_series_are_one_clear_line():
    hourly, lengths = Freq("datetime", "h"), np.array([100, 150])
    with pytest.raises(ConfigError) as e:
        resolve(files.load(None, {"data": {"season": 200}}), hourly, lengths)
    assert str(e.value) == ("data.season (--season) is 200, but the longest series has 150 points: the seasonal "
                            "baseline compares every value with the one a season earlier, so the season can be at "
                            "most 150; pass a smaller --season (1 for none)")
    with pytest.raises(ConfigError) as e:
        resolve(files.load(None, {"model": {"horizon": 5, "input_size": 500, "min_input": 145}}), hourly, lengths)
    assert str(e.value) == ("every series is too short to train on: a series needs at least min_input + horizon + "
                            "val_size = 145 + 5 + 5 = 155 points, and the longest has 150; use a smaller "
                            "--input-size or --horizon")


def test_the_memory_estimate_grows_with_the_ensemble_and_never_overflows():
    cfg, _ = resolve(files.load(None, {"model": {"horizon": 6, "input_size": 24, "ensemble": 1}}),
                     Freq("datetime", "h"), np.array([500]))
    one = memory_estimate(cfg, 500, 1, 465, 1)
    three = memory_estimate(validate.replace(cfg, model={"ensemble": 3}), 500, 1, 465, 1)
    assert three["weights"] == 3 * one["weights"] and three["data"] == one["data"]
    huge = memory_estimate(cfg, 10**20, 10**12, 465, 1)  # Python integers: no int64 wrapping round
    assert huge["data"] > 2**64 and isinstance(huge["data"], int)


def _anchor_of(series: list[np.ndarray], season: int, **model) -> tuple[str, list[str], object]:
    cfg = files.load(None, {"data": {"season": season},
                            "model": {"horizon": 6, "input_size": 24, **model}, "training": {"val_size": 6}})
    offsets = np.r_[0, np.cumsum([len(x) for x in series])]
    cfg, notes, alpha = choose_anchor(cfg, np.concatenate(series), offsets)
    return cfg.model.anchor, notes, alpha


def test_the_anchor_is_the_baseline_that_errs_less_on_the_training_part():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    seasonal = [10 + 5 * np.sin(2 * np.pi * t / 12 + k) + rng.normal(0, 0.2, 200) for k in range(3)]
    walks = [50 + np.cumsum(rng.normal(0, 1, 200)) for _ in range(3)]
    noisy = [20 + rng.normal(0, 1, 200) for _ in range(3)]  # a level in noise: smoothing beats the last value
    anchor, notes, alpha = _anchor_of(seasonal, 12)
    assert anchor == "seasonal_naive" and alpha is None
    assert notes[0].startswith("anchor seasonal_naive (default: its 6-step error on the training data is 0.")
    assert _anchor_of(walks, 12)[0] == "naive"
    anchor, notes, alpha = _anchor_of(noisy, 1)
    assert anchor == "smoothing" and alpha == 0.3  # the steadiest of SMOOTHING_ALPHAS for pure noise
    assert notes == [notes[0]] and notes[0].startswith("anchor smoothing with alpha 0.3 (default: its 6-step error on the "
                                                       "training data is 0.") and notes[0].endswith("of naive's; no season)")
    anchor, notes, _ = _anchor_of(walks, 52)
    assert anchor == "naive" and notes[0].endswith("of smoothing's; the season, 52, is longer than the input window, 24)")
    assert _anchor_of([np.arange(20.0)], 12)[1] == [
        "anchor naive (default: the series are too short to compare it with the other baselines)"]
    assert _anchor_of(seasonal, 12, anchor="none") == ("none", [], None)  # set: kept, no note
    anchor, notes, alpha = _anchor_of(noisy, 1, anchor="smoothing")  # set: kept, its alpha from the data
    assert (anchor, alpha) == ("smoothing", 0.3) and notes == ["smoothing alpha 0.3 (the best on the training data)"]


def test_smoothing_must_beat_the_other_baselines_by_a_margin():
    """Smoothing's alpha is picked on the same errors it is compared on, so within
    SMOOTHING_MARGIN of naive the simpler naive is kept (a random walk: smoothing can only lag)."""
    from grucast.training.defaults import SMOOTHING_MARGIN

    rng = np.random.default_rng(3)
    walks = [100 + np.cumsum(rng.normal(0, 1, 300)) for _ in range(4)]
    offsets = np.r_[0, np.cumsum([len(x) for x in walks])]
    errors = anchor_errors(np.concatenate(walks), offsets, None, 6, 6)
    assert set(errors) == {"naive", 0.3, 0.5, 0.7}
    assert min(errors[a] for a in (0.3, 0.5, 0.7)) > SMOOTHING_MARGIN * errors["naive"]
    assert _anchor_of(walks, 1)[0] == "naive"


def test_the_anchor_choice_never_reads_the_held_out_points():
    """The last val_size points of every series never enter the choice: changing them changes
    neither error, whatever they become."""
    rng = np.random.default_rng(1)
    series = [10 + 5 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 0.1, n) for n in (120, 90)]
    offsets = np.r_[0, np.cumsum([len(x) for x in series])]
    before = anchor_errors(np.concatenate(series), offsets, 12, 6, 6)
    for x in series:
        x[-6:] = rng.normal(0, 1000, 6)
    assert anchor_errors(np.concatenate(series), offsets, 12, 6, 6) == before
