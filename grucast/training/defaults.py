"""Settings that depend on the data: season, horizon, input_size, network size and ensemble
chosen from the frequency and the series lengths, checked against them and against memory.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pandas as pd

from grucast.config import flags, machine, settings, validate
from grucast.config.settings import Config, output_quantiles
from grucast.data.freq import Freq
from grucast.errors import ConfigError
from grucast.features import calendar as features_calendar
from grucast.features import windows
from grucast.features.spec import default_min_input

# ---------------------------------------------------------------- settings that depend on the data


MAX_DEFAULT_INPUT = 336

# Integer steps carry no calendar: a season up to this long is taken for a daily cycle (24 hours,
# 48 half-hours), a longer one for a yearly one (52 weeks, ...).
LONGEST_DAILY_SEASON = 48


def default_input_size(horizon: int, season: int, intraday: bool, integer: bool = False) -> int:
    """Two horizons at least. Intraday data (and integer steps with a daily-looking season) also
    gets a week of its daily cycle (7 x season, at most 336 steps); integer steps with a longer
    season two seasons (M4 Weekly: 104 scored OWA 0.733 against 0.742 for 336, seed 0, in a third
    of the time); other data at least one full season."""
    if integer and season > LONGEST_DAILY_SEASON:
        return max(2 * horizon, 2 * season)
    if intraday:
        return max(2 * horizon, min(7 * season, MAX_DEFAULT_INPUT))
    return max(2 * horizon, season)


# Below this many training windows (one long series, a few dozen short ones) the default
# network is halved and learns three times slower: the large defaults, tuned on M4 Hourly (far
# above it), overfit such data after about one epoch. Measured on ETTh1 and M4 slices: see
# benchmarks/README.md, 'Width and learning rate sized to the data'.
SMALL_DATA_WINDOWS = 10_000


# Below this many (fewer than four batches of 256 per epoch) every network starts at the better of
# naive and seasonal naive instead of at random (model.anchor; choose_anchor).
ANCHOR_WINDOWS = 1_000


# Below it, three networks from consecutive seeds are trained and their forecasts averaged: on
# such data one network's score depends on its seed, and the mean forecast did as well as the
# best of the three; small data trains fast enough to afford it. See benchmarks/README.md,
# 'Ensembles on small data'.
SMALL_DATA_ENSEMBLE = 3


def default_size(windows: int) -> tuple[int, float, int]:
    """GRU width, learning rate and ensemble size for a training set of this many windows
    (a short series' padded windows included, see resolve)."""
    return (32, 1e-3, SMALL_DATA_ENSEMBLE) if windows < SMALL_DATA_WINDOWS else (64, 3e-3, 1)


def resolve(cfg: Config, freq: Freq, lengths: np.ndarray) -> tuple[Config, list[str]]:
    """Fill the settings left open (season, horizon, input_size, val_size, hidden_size,
    learning_rate, ensemble, loss; anchor 'none' from ANCHOR_WINDOWS training windows on, while
    below choose_anchor picks it from the values; scaler 'last' for the linear anchor, NLinear's
    normalisation, else 'standard') from the data's frequency and series lengths; returns the
    resolved config and a note for each value chosen.

    Settings counted in time steps are checked against the longest series here, before anything
    is laid out, and the memory training needs against this machine's (memory_estimate): an
    absurd value is one clear line, not an allocation that fails or a numpy overflow."""
    notes: list[str] = []
    longest = int(np.max(lengths)) if len(lengths) else 0
    season = _season(cfg, freq, longest, notes)
    horizon, val_size = _horizon(cfg, freq, season, longest, notes)
    input_size = _input_size(cfg, freq, lengths, season, horizon, val_size, notes)
    windows = _training_windows(cfg, lengths, input_size, horizon, val_size, longest)
    hidden_size, learning_rate, ensemble, anchor = _sizes(cfg, windows, notes)
    resolved = validate.replace(
        cfg,
        data={"season": season},
        model={"horizon": horizon, "input_size": input_size, "hidden_size": hidden_size, "ensemble": ensemble,
               "anchor": anchor, "scaler": cfg.model.scaler or ("last" if anchor == "linear" else "standard")},
        training={"val_size": val_size, "learning_rate": learning_rate,
                  "loss": settings.train_loss(cfg.model, cfg.training)},
    )
    _check_memory(resolved, freq, lengths, windows)
    return resolved, notes


def _season(cfg: Config, freq: Freq, longest: int, notes: list[str]) -> int:
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
    return season


def _horizon(cfg: Config, freq: Freq, season: int, longest: int, notes: list[str]) -> tuple[int, int]:
    """(horizon, val_size), checked against the longest series."""
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
    return horizon, val_size


def _input_size(cfg: Config, freq: Freq, lengths: np.ndarray, season: int, horizon: int, val_size: int,
                notes: list[str]) -> int:
    input_size = cfg.model.input_size
    if input_size is not None:
        return input_size
    input_size = default_input_size(horizon, season, intraday=freq.intraday(), integer=freq.kind == "int")
    # A default must not make most series unusable: shorten it until half of the series
    # have a horizon's worth of training windows, but never below one horizon.
    fits = int(np.median(lengths)) - val_size - 2 * horizon + 1
    if fits < input_size and fits >= horizon:
        input_size = fits
        notes.append(f"input_size {input_size} (default, shortened to fit half of the series)")
    else:
        notes.append(f"input_size {input_size} (default for horizon {horizon}, season {season})")
    return input_size


def training_windows(cfg: Config, lengths: np.ndarray) -> int:
    """The training windows of series of these lengths under a resolved config."""
    m = cfg.model
    return _training_windows(cfg, lengths, m.input_size, m.horizon, cfg.training.val_size, int(np.max(lengths, initial=0)))


def _training_windows(cfg: Config, lengths: np.ndarray, input_size: int, horizon: int, val_size: int,
                      longest: int) -> int:
    """Training windows as make_spec lays them out: a series too short for a full window is
    padded on the left down to min_input observed points."""
    min_input = cfg.model.min_input or default_min_input(input_size, horizon)
    if cfg.model.input_size is not None and input_size > longest and min_input + horizon + val_size > longest:
        # Every series would be padded up to input_size: refuse before laying that padding out.
        raise ConfigError(too_short(min_input, horizon, val_size, longest) + "; use a smaller --input-size or --horizon")
    full = lengths >= input_size + horizon + val_size
    per = np.where(full, lengths - input_size, np.maximum(lengths - min_input, 0)) - horizon - val_size + 1
    return int(np.maximum(per, 0).sum())


def _sizes(cfg: Config, windows: int, notes: list[str]) -> tuple[int, float, int, Optional[str]]:
    """(hidden_size, learning_rate, ensemble, anchor): the ones set, the others from default_size;
    the anchor 'none' (a random start) from ANCHOR_WINDOWS on, else left for choose_anchor."""
    m = cfg.model
    hidden_size, learning_rate, ensemble, anchor = m.hidden_size, cfg.training.learning_rate, m.ensemble, m.anchor
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
    if chosen:
        side = "below" if windows < SMALL_DATA_WINDOWS else "at or above"
        notes.append(f"{', '.join(chosen)} (default for {windows:,} training windows, {side} {SMALL_DATA_WINDOWS:,})")
    if anchor is None and windows >= ANCHOR_WINDOWS:
        anchor = "none"
        notes.append(f"anchor none (default at or above {ANCHOR_WINDOWS:,} training windows: a random start)")
    return hidden_size, learning_rate, ensemble, anchor


def _check_memory(resolved: Config, freq: Freq, lengths: np.ndarray, windows: int) -> None:
    """ConfigError, naming the setting to change, when training would not fit in this machine."""
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


def memory_estimate(cfg: Config, n_points: int, n_series: int, windows: int, n_inputs: int) -> dict[str, int]:
    """Bytes a training run of a resolved config needs, roughly, by part: 'data', the layout of
    every series (value, mask and n_inputs features per point in float32, each series padded by
    input_size - min_input); 'weights', the networks with their gradients, AdamW moments, the
    copies fit keeps (best weights) and the saved checkpoint, 12 float32 copies in all (what wide
    networks were measured to take: see benchmarks/README.md, 'Memory estimate'); 'activations',
    what one batch keeps for the backward pass (the GRU's gates and states at every step of every
    layer). Python integers: an absurd setting gives an absurd estimate, never an overflow."""
    m, t = cfg.model, cfg.training
    L, H, h, layers = m.input_size, m.horizon, m.hidden_size, m.num_layers
    pad = max(L - (m.min_input or default_min_input(L, H)), 0)
    data = (n_points + n_series * pad) * 4 * (2 + n_inputs)
    q = max(len(output_quantiles(m)), 1)
    width = 1 + n_inputs + m.series_embedding
    params = sum(3 * ((width if k == 0 else h) * h + h * h + 2 * h) for k in range(layers)) + (h + 1) * H * q
    params += (n_series + 1) * m.series_embedding  # the table of series embeddings
    weights = (m.ensemble or 1) * params * 4 * 12  # 12 float32 copies of every weight (see the docstring)
    batch = min(t.batch_size, max(windows, 1))
    activations = batch * (L + H) * (8 * h * layers + 2 + n_inputs) * 4
    return {"data": data, "weights": weights, "activations": activations}


# ---------------------------------------------------------------- the anchor: where every network starts
#
# Below ANCHOR_WINDOWS every network starts at the better of naive and seasonal naive (see
# models.network.anchor): with fewer than four batches per epoch early stopping ends training
# after tens of steps, and a network that starts at random stays near the window's mean forecast,
# 2.3 times naive's error on 14 weekly series (392 windows). With more data it trains long enough
# to find its own way, and a start at the baseline cost: 2-4 % on panels of 1,320-9,184 windows,
# OWA 0.520 against 0.478 on M4 Hourly (seed 0). See README.md, Accuracy, 'Small and awkward data'.


ANCHOR_TARGETS = 4_000_000  # forecast points the anchor choice compares at most (origins thinned to fit)

# Simple exponential smoothing, the third baseline a network can start from: its level is a
# weighted mean of the input window, weight alpha x (1 - alpha)^j on the value j steps back, so it
# follows a noisy level more steadily than the last value. Its alpha is the best of these on the
# same training errors, so it must beat the other baselines by SMOOTHING_MARGIN to be chosen (on
# the 14 weekly ETT means it came within 0.1 % of naive and would have cost 13 % on their test part).
SMOOTHING_ALPHAS = (0.3, 0.5, 0.7)
SMOOTHING_MARGIN = 0.98


def choose_anchor(cfg: Config, values: np.ndarray, offsets: np.ndarray,
                  part=None) -> tuple[Config, list[str], Optional[float]]:
    """(config, notes, alpha): the config with model.anchor set when it was left open, its note,
    and the smoothing alpha when the anchor is smoothing. The anchor is the baseline whose
    horizon-step forecasts from the training part of the series (values laid end to end at
    offsets, the last val_size points of each held out) err least: naive, seasonal naive (when the
    season fits in the input window) or exponential smoothing (when it errs at most
    SMOOTHING_MARGIN of the better of the other two). Errors are scaled per series (by its mean
    absolute step) and averaged, so every series counts alike. part (training.partition): the
    values are this rank's series of a partitioned panel; the errors are the whole panel's."""
    m = cfg.model
    season, L, H, V = cfg.data.season or 1, m.input_size, m.horizon, cfg.training.val_size
    if m.anchor == "seasonal_naive" and not 1 < season <= L:
        raise ConfigError(
            f"{flags.label('model.anchor')} seasonal_naive repeats the last season of the input window, but the season "
            f"is {season} and input_size {L}: " + ("pass --season" if season <= 1 else "use an --input-size of at least "
                                                   f"{season}") + ", or --anchor naive"
        )
    if m.anchor not in (None, "smoothing"):
        return cfg, [], None  # set: kept (the linear anchor is fitted on the windows, see training.linear)
    fits = 1 < season <= L
    errors = anchor_errors(values, offsets, season if fits else None, H, V, part)
    known = bool(np.isfinite(errors["naive"]))  # False: no origin to compare the baselines on
    alpha = min(SMOOTHING_ALPHAS, key=lambda a: errors[a]) if known else 0.5
    if m.anchor == "smoothing":
        return cfg, [f"smoothing alpha {alpha} " + ("(the best on the training data)" if known else
                                                      "(the series are too short to choose it on the training data)")], alpha
    if not known:
        return validate.replace(cfg, model={"anchor": "naive"}), [
            "anchor naive (default: the series are too short to compare it with the other baselines)"], None
    plain = {k: errors[k] for k in ("naive", "seasonal_naive") if k in errors and np.isfinite(errors[k])}
    best = min(plain, key=plain.get)
    if errors[alpha] < SMOOTHING_MARGIN * plain[best]:
        ratio, other, best = errors[alpha] / plain[best], best, "smoothing"
    else:
        rest = {**{k: v for k, v in plain.items() if k != best}, "smoothing": errors[alpha]}
        other = min(rest, key=rest.get)
        ratio = plain[best] / rest[other]
    why = "" if fits else ("; no season" if season <= 1 else f"; the season, {season}, is longer than the input window, {L}")
    name = f"smoothing with alpha {alpha}" if best == "smoothing" else best
    note = f"anchor {name} (default: its {H}-step error on the training data is {ratio:.2f} of {other}'s{why})"
    return validate.replace(cfg, model={"anchor": best}), [note], alpha if best == "smoothing" else None


def anchor_errors(values: np.ndarray, offsets: np.ndarray, season: Optional[int], H: int, V: int,
                  part=None) -> dict:
    """Mean absolute error over the next H points from origins in the training part of every
    series, divided by the series' mean absolute step and averaged over the series with an
    origin, NaN when none has one: of naive ("naive"), of seasonal naive ("seasonal_naive", when
    season is given) and of exponential smoothing with each alpha of SMOOTHING_ALPHAS (keyed by
    alpha). Origins are index arithmetic (a season of history before each when it is given),
    thinned to an even stride when there would be more than ANCHOR_TARGETS forecast points.
    With part, of every rank's series (choose_anchor)."""
    values = np.asarray(values, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(offsets) - 1
    first = offsets[:-1] + (season or 1)  # the first origin with a season (a point) of history
    last = offsets[1:] - V - H  # the last whose horizon stays in the training part
    counts = np.maximum(last - first + 1, 0)
    total = int(counts.sum()) if part is None else int(part.sum(float(counts.sum())))
    stride = max(1, -(-total * H // ANCHOR_TARGETS))
    counts = -(-counts // stride)  # origins first, first + stride, ... up to last
    series = np.repeat(np.arange(n), counts)
    origins = first[series] + stride * windows.ranges(np.zeros(n, dtype=np.int64), counts)
    if not total:
        return {"naive": math.nan, **({"seasonal_naive": math.nan} if season else {}),
                **{a: math.nan for a in SMOOTHING_ALPHAS}}
    h = np.arange(H)
    y = values[origins[:, None] + h]  # [N, H]
    owner = np.repeat(np.arange(n), np.diff(offsets))  # the series of every point
    forecasts = {"naive": values[origins - 1][:, None]}
    if season:
        forecasts["seasonal_naive"] = values[origins[:, None] - season + h % season]
    for a in SMOOTHING_ALPHAS:  # the level after each point: causal, so held-out points never enter
        level = pd.Series(values).groupby(owner).ewm(alpha=a).mean().to_numpy()
        forecasts[a] = level[origins - 1][:, None]
    errors = {k: np.abs(y - f).mean(axis=1) for k, f in forecasts.items()}
    finite = np.logical_and.reduce([np.isfinite(e) for e in errors.values()])  # a gap left unfilled makes no error
    series = series[finite]
    train = np.arange(len(values)) - offsets[owner] < (np.diff(offsets) - V)[owner]  # not held out
    same = (owner[1:] == owner[:-1]) & train[1:]  # steps inside the training part of one series
    moves = np.bincount(owner[1:][same], weights=np.abs(np.diff(values))[same], minlength=n)
    scale = moves / np.maximum(np.bincount(owner[1:][same], minlength=n), 1)  # mean absolute step
    scale = np.where(scale > 0, scale, 1.0)[series]
    per = np.bincount(series, minlength=n)
    used = per > 0

    def means(err: np.ndarray) -> np.ndarray:
        return np.bincount(series, weights=err[finite] / scale, minlength=n)[used] / per[used]

    if part is None:
        return {k: float(means(e).mean()) for k, e in errors.items()}
    rows = np.full((n, len(errors)), np.nan)  # every series' mean error under each baseline, NaN: no origin
    rows[used] = np.stack([means(e) for e in errors.values()], axis=1)
    every = part.series(rows)
    every = every[~np.isnan(every).any(axis=1)]
    return {k: float(every[:, j].mean()) for j, k in enumerate(errors)}


# ---------------------------------------------------------------- train


def too_short(min_input: int, H: int, V: int, longest: int) -> str:
    """Short series are padded (see features.make_spec), so the bound is min_input, not input_size."""
    return (
        f"every series is too short to train on: a series needs at least min_input + horizon + val_size = "
        f"{min_input} + {H} + {V} = {min_input + H + V} points, and the longest has {longest}"
    )
