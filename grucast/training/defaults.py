"""Settings that depend on the data: season, horizon, input_size, network size and ensemble
chosen from the frequency and the series lengths, checked against them and against memory.
"""

from __future__ import annotations

import numpy as np

from grucast.config import flags, machine, settings, validate
from grucast.config.settings import Config
from grucast.data.freq import Freq
from grucast.errors import ConfigError
from grucast.features import calendar as features_calendar

# ---------------------------------------------------------------- settings that depend on the data


MAX_DEFAULT_INPUT = 336


def default_input_size(horizon: int, season: int, intraday: bool) -> int:
    """Two horizons at least. Intraday data (and integer steps) also gets a week of its daily
    cycle (7 x season, at most 336 steps); other data at least one full season."""
    if intraday:
        return max(2 * horizon, min(7 * season, MAX_DEFAULT_INPUT))
    return max(2 * horizon, season)


# Below this many training windows (one long series, a few dozen short ones) the default
# network is halved and learns three times slower: with 64 units at 3e-3 such data overfits
# after about one epoch (ETTh1 h = 96, one series, 8,209 windows: test MSE 0.065 vs 0.057).
# M4 Hourly (about 180,000 windows), where the large defaults were tuned, is far above it.
SMALL_DATA_WINDOWS = 10_000


# Below it, three networks from consecutive seeds are trained and their forecasts averaged:
# ETTh1 h = 96 test MSE 0.0573 for the mean forecast of seeds 0-2 against 0.0572 / 0.0580 /
# 0.0601 alone (mean 0.0584). Such data trains in about a minute per network on two cores.
SMALL_DATA_ENSEMBLE = 3


def default_size(windows: int) -> tuple[int, float, int]:
    """GRU width, learning rate and ensemble size for a training set of this many windows
    (a short series' padded windows included, see resolve)."""
    return (32, 1e-3, SMALL_DATA_ENSEMBLE) if windows < SMALL_DATA_WINDOWS else (64, 3e-3, 1)


def resolve(cfg: Config, freq: Freq, lengths: np.ndarray) -> tuple[Config, list[str]]:
    """Fill the settings left open (season, horizon, input_size, val_size, hidden_size,
    learning_rate, ensemble, loss) from the data's frequency and series lengths; returns the
    resolved config and a note for each value chosen.

    Settings counted in time steps are checked against the longest series here, before anything
    is laid out, and the memory training needs against this machine's (train.memory_estimate):
    an absurd value is one clear line, not an allocation that fails or a numpy overflow."""
    from grucast.training.loop import memory_estimate

    notes = []
    longest = int(np.max(lengths)) if len(lengths) else 0
    season = cfg.data.season
    if season is None:
        season = freq.season()
        if season is None:
            raise ConfigError("the time column holds integer steps, so the season cannot be inferred: pass --season M (1 for none)")
        notes.append(f"season {season} (from the frequency)")
    elif season > longest:
        raise ConfigError(
            f"{flags.label('data.season')} is {season:,}, but the longest series has {longest:,} points: the "
            f"seasonal baseline compares every value with the one a season earlier, so the season can be at most "
            f"{longest:,}; pass a smaller --season (1 for none)"
        )
    horizon = cfg.model.horizon
    if horizon is None:
        horizon = freq.default_horizon(season)
        if horizon is None:
            raise ConfigError(
                f"pass --horizon: integer steps with season {season} give no natural number of steps to forecast"
            )
        notes.append(f"horizon {horizon} (default for this frequency)")
    val_size = cfg.training.val_size if cfg.training.val_size is not None else horizon
    if val_size < horizon:
        raise ConfigError(f"training.val_size ({val_size}) must be at least the horizon ({horizon})")
    # A training window holds at least one observed input point, the horizon and the held-out
    # val_size (at least one horizon) after it: the bound no input_size or min_input can lift.
    if 1 + 2 * horizon > longest:
        what = (f"{flags.label('model.horizon')} {horizon:,}" if cfg.model.horizon is not None
                else f"the default horizon of this frequency ({horizon:,} steps)")
        most = (f"the horizon can be at most {(longest - 1) // 2:,}; pass a smaller --horizon" if longest >= 3
                else "a series needs at least 3 points")
        raise ConfigError(
            f"every series is too short for {what}: the longest has {longest:,} points, and a training window needs "
            f"at least min_input + horizon + val_size = 1 + {horizon:,} + {val_size:,} = {1 + horizon + val_size:,} "
            f"(val_size is the horizon or more); {most}"
        )
    if 1 + horizon + val_size > longest:
        raise ConfigError(
            f"{flags.label('training.val_size')} {val_size:,} is too large for the data: the longest series has "
            f"{longest:,} points, and a training window needs at least min_input + horizon + val_size = 1 + "
            f"{horizon:,} + {val_size:,} = {1 + horizon + val_size:,}; with horizon {horizon:,}, val_size can be at "
            f"most {longest - 1 - horizon:,}"
        )
    input_size = cfg.model.input_size
    if input_size is None:
        input_size = default_input_size(horizon, season, intraday=freq.intraday())
        # A default must not make most series unusable: shorten it until half of the series
        # have a horizon's worth of training windows, but never below one horizon.
        fits = int(np.median(lengths)) - val_size - 2 * horizon + 1
        if fits < input_size and fits >= horizon:
            input_size = fits
            notes.append(f"input_size {input_size} (default, shortened to fit half of the series)")
        else:
            notes.append(f"input_size {input_size} (default for horizon {horizon}, season {season})")
    # Training windows as make_spec lays them out: a series too short for a full window is
    # padded on the left down to min_input observed points.
    min_input = cfg.model.min_input or max(1, input_size // 4)
    if cfg.model.input_size is not None and input_size > longest and min_input + horizon + val_size > longest:
        # Every series would be padded up to input_size: refuse before laying that padding out.
        raise ConfigError(too_short(min_input, horizon, val_size, longest) + "; use a smaller --input-size or --horizon")
    full = lengths >= input_size + horizon + val_size
    per = np.where(full, lengths - input_size, np.maximum(lengths - min_input, 0)) - horizon - val_size + 1
    windows = int(np.maximum(per, 0).sum())
    hidden_size, learning_rate, ensemble = cfg.model.hidden_size, cfg.training.learning_rate, cfg.model.ensemble
    if hidden_size is None or learning_rate is None or ensemble is None:
        size, rate, members = default_size(windows)
        chosen = []
        if hidden_size is None:
            hidden_size = size
            chosen.append(f"hidden_size {size}")
        if learning_rate is None:
            learning_rate = rate
            chosen.append(f"learning_rate {rate:g}")
        if ensemble is None:
            ensemble = members
            chosen.append(f"ensemble {members}")
        side = "below" if windows < SMALL_DATA_WINDOWS else "at or above"
        notes.append(f"{', '.join(chosen)} (default for {windows:,} training windows, {side} {SMALL_DATA_WINDOWS:,})")
    resolved = validate.replace(
        cfg,
        data={"season": season},
        model={"horizon": horizon, "input_size": input_size, "hidden_size": hidden_size, "ensemble": ensemble},
        training={"val_size": val_size, "learning_rate": learning_rate,
                  "loss": settings.train_loss(cfg.model, cfg.training)},
    )
    d = resolved.data
    calendar = 2 * len(features_calendar.calendar_names(freq)) if d.calendar else 0  # a sine and a cosine per cycle
    inputs = 1 + len(d.past_covariates) + len(d.future_covariates) + calendar  # the mask, covariates, calendar
    parts = memory_estimate(resolved, int(np.sum(lengths)), len(lengths), windows, inputs)
    fmt = machine.format_bytes
    machine.check_memory(
        f"training (weights {fmt(parts['weights'])}, one batch {fmt(parts['activations'])}, data {fmt(parts['data'])})",
        sum(parts.values()),
        {"weights": "use a smaller --hidden-size, --num-layers or --ensemble",
         "activations": "use a smaller --batch-size, --input-size or --hidden-size",
         "data": "use a smaller --input-size (every short series is padded up to it) or a larger --min-input"}[
            max(parts, key=parts.get)],
    )
    return resolved, notes


# ---------------------------------------------------------------- train


def too_short(min_input: int, H: int, V: int, longest: int) -> str:
    """Short series are padded (see features.make_spec), so the bound is min_input, not input_size."""
    return (
        f"every series is too short to train on: a series needs at least min_input + horizon + val_size = "
        f"{min_input} + {H} + {V} = {min_input + H + V} points, and the longest has {longest}"
    )
