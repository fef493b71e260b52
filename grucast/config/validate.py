"""Every check of a user setting, once, at the boundary: types, ranges, choices, and unknown
keys with the nearest valid one; `replace` re-validates a changed Config.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Optional

from grucast.config.flags import label
from grucast.config.names import closest, hint, nearest_setting, suggest
from grucast.config.settings import (
    ANCHORS,
    CELLS,
    DUPLICATES,
    FILLS,
    FORMATS,
    KERNELS,
    LOSSES,
    PRECISIONS,
    SCALERS,
    SCHEDULES,
    SECTIONS,
    Config,
    DataConfig,
    ModelConfig,
    TrainConfig,
    targets,
)
from grucast.errors import ConfigError


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _check_type(where: str, value: Any, annotation: Any) -> Any:
    """Return value converted to the field's type, or raise ConfigError."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        annotation = args[0]
    if value is None:
        raise ConfigError(f"{where} must be set (got nothing)")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{label(where)} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, str):
            value = _number(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{label(where)} must be a whole number, got {value!r}")
    if annotation is float:
        if isinstance(value, str):
            value = _number(value)  # YAML 1.1 reads 1e-3 (no dot) as text
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _finite(where, value)
        raise ConfigError(f"{label(where)} must be a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{label(where)} must be text, got {value!r}")
    if typing.get_origin(annotation) is tuple:  # a list: column names, or numbers
        item = typing.get_args(annotation)[0]
        if isinstance(value, str):
            value = [v for v in (v.strip() for v in value.split(",")) if v]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if item is str and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(v.strip() for v in value if v.strip())
        if item is float and isinstance(value, (list, tuple)):
            out = []
            for v in value:
                v = _number(v) if isinstance(v, str) else v
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ConfigError(f"{label(where)} must be a list of numbers, got {value!r}")
                out.append(_finite(where, v))
            return tuple(out)
        kind = "column names" if item is str else "numbers"
        raise ConfigError(f"{label(where)} must be a list of {kind}, got {value!r}")
    raise TypeError(f"unsupported config annotation {annotation!r}")  # a bug, not a user error


def _finite(where: str, value: float) -> float:
    """A float setting as a float; NaN, infinity and numbers beyond a float are no setting."""
    try:
        out = float(value)
    except OverflowError:  # an int with more than 308 digits
        out = math.inf
    if not math.isfinite(out):
        raise ConfigError(f"{label(where)} must be a finite number, got {_show(value)}")
    return out


def _show(value: Any) -> str:
    """A number as a message shows it: 1,000,000 rather than 1000000; others as repr, shortened."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _choice(where: str, value: Optional[str], choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ConfigError(f"{label(where)} must be one of {', '.join(choices)}; got '{value}'.{suggest(value, choices)}")


def _positive(where: str, value: Optional[float], allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{label(where)} must be {'zero or more' if allow_zero else 'positive'}, got {value}")


# Absolute caps on the settings no data or machine bounds by itself; far beyond any sensible value,
# they turn an absurd one into a clear line before any work. Settings measured in time steps
# (horizon, input_size, min_input, val_size, season) are bounded by the data instead
# (training.defaults.resolve), and the network's size also by this machine's memory
# (training.defaults.resolve, training.defaults.memory_estimate).
MAX_HIDDEN = 16_384  # GRU units: 3 x 16,384^2 x 2 weights per layer is about 6 GB already


MAX_LAYERS = 64


MAX_ENSEMBLE = 1_000


MAX_EMBEDDING = 16_384


MAX_COUNT = 1_000_000_000  # epochs, max_steps, batch_size, patience, eval_every


MAX_SEED = 2**63 - 1  # torch seeds are 64-bit; below 2**63 they also fit every signed integer


MAX_LEARNING_RATE = 10.0  # AdamW steps of this size diverge at once; float32 overflows from about 1e38


def _at_most(where: str, value: Optional[int], cap: int, why: str = "") -> None:
    if value is not None and value > cap:
        raise ConfigError(f"{label(where)} must be at most {cap:,}{why}, got {_show(value)}")


def _validate(cfg: Config) -> None:
    """Every check that a section's types do not make: choices, ranges, caps and settings that
    contradict each other. The sections are checked in this order, so that of several wrong
    settings the same one is always reported."""
    m, t = cfg.model, cfg.training
    _validate_data(cfg.data)
    _validate_model(m)
    _validate_training(t, ensemble=m.ensemble or 1)
    if m.cell == "lstm" and t.kernel == "fused":
        raise ConfigError(f"{label('training.kernel')} fused is grucast's GRU kernel, and {label('model.cell')} is "
                          "lstm: use --kernel auto or reference")
    if m.horizon is not None and t.val_size is not None and t.val_size < m.horizon:
        raise ConfigError(
            f"training.val_size ({t.val_size}) must be at least the horizon ({m.horizon}) "
            "so that one validation window fits"
        )


def _validate_data(d: DataConfig) -> None:
    _choice("data.format", d.format, FORMATS)
    _choice("data.fill", d.fill, FILLS)
    _choice("data.duplicates", d.duplicates, DUPLICATES)
    if d.sep is not None and d.sep not in ("tab", "\\t") and len(d.sep) != 1:
        raise ConfigError(f"{label('data.sep')} must be one character (or 'tab'), got {d.sep!r}")
    _positive("data.season", d.season)
    seen: dict[str, str] = {}
    for kind in ("future_covariates", "past_covariates", "static_covariates"):
        for col in getattr(d, kind):
            if col in seen:
                where = "twice in " + label(f"data.{kind}") if seen[col] == kind else (
                    f"in both {label(f'data.{seen[col]}')} and {label(f'data.{kind}')}")
                raise ConfigError(f"column '{col}' is named {where}; a covariate has one kind")
            seen[col] = kind
        for target in targets(d):
            if target in getattr(d, kind):
                raise ConfigError(f"column '{target}' is the target and cannot also be a covariate")


def _validate_model(m: ModelConfig) -> None:
    _positive("model.series_embedding", m.series_embedding, allow_zero=True)
    _check_quantiles(m)
    _positive("model.min_input", m.min_input)
    if m.min_input is not None and m.input_size is not None and m.min_input > m.input_size:
        raise ConfigError(f"{label('model.min_input')} ({m.min_input}) cannot exceed input_size ({m.input_size})")
    _positive("model.horizon", m.horizon)
    _positive("model.input_size", m.input_size)
    _positive("model.hidden_size", m.hidden_size)
    _positive("model.num_layers", m.num_layers)
    _positive("model.ensemble", m.ensemble)
    _at_most("model.hidden_size", m.hidden_size, MAX_HIDDEN)
    _at_most("model.num_layers", m.num_layers, MAX_LAYERS)
    _at_most("model.ensemble", m.ensemble, MAX_ENSEMBLE)
    _at_most("model.series_embedding", m.series_embedding, MAX_EMBEDDING)
    if not 0.0 <= m.dropout < 1.0:
        raise ConfigError(f"{label('model.dropout')} must be in [0, 1), got {m.dropout}")
    _choice("model.scaler", m.scaler, SCALERS)
    _choice("model.anchor", m.anchor, ANCHORS)
    if m.cell is not None and "," in m.cell:
        raise ConfigError(f"{label('model.cell')} {m.cell}: several cells are compared by grucast backtest "
                          f"(--cell {m.cell}); a model has one cell, {' or '.join(CELLS)}")
    _choice("model.cell", m.cell, CELLS)


def _check_quantiles(m: ModelConfig) -> None:
    """Quantiles strictly between 0 and 1, and intervals whose bounds, rounded as
    output_quantiles rounds them, are two distinct quantiles strictly between 0 and 1."""
    for q in m.quantiles:
        if not 0.0 < q < 1.0:
            raise ConfigError(f"{label('model.quantiles')} must be between 0 and 1 (exclusive), got {q:g}")
    for level in m.intervals:
        if not 0.0 < level < 100.0:
            raise ConfigError(f"{label('model.intervals')} must be percentages between 0 and 100, got {level:g}")
        low = round((100.0 - level) / 200.0, 6)  # its lower bound, as output_quantiles rounds it
        if low <= 0.0:  # the bounds would be the quantiles 0 and 1
            raise ConfigError(f"{label('model.intervals')} must be at most 99.9998 (bounds at the quantiles "
                              f"0.000001 and 0.999999), got {level!r}")
        if low >= 0.5:  # both bounds would be the median
            raise ConfigError(f"{label('model.intervals')} must be at least 0.0002 (bounds at the quantiles "
                              f"0.499999 and 0.500001), got {level!r}")
    if m.quantiles and not m.intervals and set(m.quantiles) == {0.5}:
        raise ConfigError(f"{label('model.quantiles')} 0.5 alone is the median, which the point forecast already is: "
                          "add other quantiles (e.g. 0.1,0.5,0.9) or leave --quantiles out")


def _validate_training(t: TrainConfig, ensemble: int) -> None:
    """The training section; ensemble (the model's number of networks) bounds the seed."""
    _positive("training.epochs", t.epochs)
    _positive("training.max_steps", t.max_steps)
    _positive("training.batch_size", t.batch_size)
    _positive("training.learning_rate", t.learning_rate)
    if t.learning_rate is not None and t.learning_rate > MAX_LEARNING_RATE:
        raise ConfigError(f"{label('training.learning_rate')} must be at most {MAX_LEARNING_RATE:g}, got {t.learning_rate:g}")
    _positive("training.weight_decay", t.weight_decay, allow_zero=True)
    if t.learning_rate is not None and t.weight_decay * t.learning_rate >= 1.0:
        # AdamW multiplies every weight by 1 - learning_rate x weight_decay at each step.
        raise ConfigError(
            f"{label('training.weight_decay')} times the learning rate must be below 1 (AdamW scales the weights by "
            f"1 - learning_rate x weight_decay every step), got {t.weight_decay:g} x {t.learning_rate:g}; at this "
            f"learning rate weight_decay must be below {1.0 / t.learning_rate:g}"
        )
    _choice("training.loss", t.loss, LOSSES)
    _choice("training.lr_schedule", t.lr_schedule, SCHEDULES)
    _choice("training.precision", t.precision, PRECISIONS)
    _positive("training.patience", t.patience)
    _positive("training.eval_every", t.eval_every)
    _positive("training.val_size", t.val_size)
    _positive("training.grad_clip", t.grad_clip, allow_zero=True)
    _positive("training.seed", t.seed, allow_zero=True)
    _positive("training.threads", t.threads)
    for name in ("epochs", "max_steps", "batch_size", "patience", "eval_every"):
        _at_most(f"training.{name}", getattr(t, name), MAX_COUNT)
    _at_most("training.seed", t.seed, MAX_SEED - (ensemble - 1),
             f" with ensemble {ensemble} (network k is seeded with seed + k, below 2**63)" if ensemble > 1 else
             " (torch takes seeds below 2**63)")
    check_device("training.device", t.device)
    _choice("training.kernel", t.kernel, KERNELS)


def check_device(where: str, spec: str) -> None:
    if not (spec in ("auto", "cpu", "cuda") or (spec.startswith("cuda:") and spec[5:].isascii() and spec[5:].isdigit())):
        raise ConfigError(f"{label(where)} must be auto, cpu, cuda or cuda:N; got '{spec}'")


def _unknown_key(section: str, key: Any) -> ConfigError:
    return ConfigError(f"unknown setting '{section}.{key}'.{hint(nearest_setting(section, str(key)))}")


def _section(name: str, cls: type, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise _unknown_key(name, key)
        if (name, key) == ("data", "target") and isinstance(value, (list, tuple)) and value \
                and all(isinstance(v, str) for v in value):
            value = ",".join(value)  # several targets as a list (YAML, Python): what --target a,b names
        kwargs[key] = _check_type(f"{name}.{key}", value, hints[key])
    return cls(**kwargs)


def _section_values(name: Any, values: Any, source: str) -> dict[str, Any]:
    """The settings of section `name`; ConfigError when it is no section (with the section, or
    the full path of the setting, meant) or not a mapping."""
    if name not in SECTIONS:
        owner = nearest_setting(None, str(name), close=False)  # a setting written as a section
        if owner is None and closest(str(name), SECTIONS)[1] is None:
            owner = nearest_setting(None, str(name))  # a misspelt one, unless a section is close
        if owner:
            raise ConfigError(
                f"unknown section '{name}' in {source}: settings go under data, model or training. "
                f"Did you mean '{owner}'?"
            )
        raise ConfigError(f"unknown section '{name}' in {source}.{suggest(str(name), SECTIONS)}")
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"section '{name}' in {source} must be a mapping of settings")
    return values


def check_keys(raw: dict[str, Any], source: str = "config") -> None:
    """ConfigError for an unknown section or key (with the nearest valid one), as from_dict
    gives it, without checking any value."""
    for name, values in raw.items():
        names = {f.name for f in dataclasses.fields(SECTIONS[name])} if name in SECTIONS else set()
        for key in _section_values(name, values, source):
            if key not in names:
                raise _unknown_key(name, key)


def from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Build and validate a Config from nested dicts (as read from YAML)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must be a mapping with sections {', '.join(SECTIONS)}")
    sections = {}
    for name, values in raw.items():
        values = _section_values(name, values, source)
        sections[name] = _section(name, SECTIONS[name], values)
    cfg = Config(**sections)
    _validate(cfg)
    return cfg


@dataclasses.dataclass(frozen=True)
class SetValue:
    """A value of --set (config.files.parse_sets): config.files.load checks `given` on its own,
    as a config file's values are, even when a flag overrides it, then applies `value`."""

    given: Any  # the value --set gave
    item: str  # the --set text, section.key=value, as messages name it
    value: Any  # the value that applies: given, or the flag's that overrides it


def merge(*overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Overrides combined; a later non-None value wins (a --set value it overrides is kept to be
    checked, in a SetValue)."""
    out: dict[str, dict[str, Any]] = {}
    for o in overrides:
        for section, values in o.items():
            for key, value in values.items():
                if value is not None:
                    earlier = out.get(section, {}).get(key)
                    if isinstance(earlier, SetValue) and not isinstance(value, SetValue):
                        value = dataclasses.replace(earlier, value=value)
                    out.setdefault(section, {})[key] = value
    return out


def replace(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of cfg with some fields of some sections replaced, validated again."""
    new = {name: dataclasses.replace(getattr(cfg, name), **values) for name, values in sections.items()}
    out = dataclasses.replace(cfg, **new)
    _validate(out)
    return out
