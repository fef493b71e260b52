"""Typed settings for every command, filled from a YAML file and command-line flags.

Every check of a user setting happens here, once: the rest of the code trusts a :class:`Config`.
A YAML file has the sections ``data``, ``model`` and ``training``; flags fill the same fields and
win over the file. Unknown keys and bad values raise :class:`ConfigError` naming the key and,
for a misspelling, the nearest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from grucast.errors import ConfigError

FORMATS = ("auto", "long", "wide")
FILLS = ("interpolate", "ffill", "zero", "error")
DUPLICATES = ("error", "mean", "sum", "last", "first")
SCALERS = ("standard", "robust", "none")
LOSSES = ("mae", "mse", "huber", "pinball")  # pinball: the loss of every quantile model
SCHEDULES = ("cosine", "constant")
PRECISIONS = ("fp32", "bf16")
KERNELS = ("auto", "fused", "reference")


@dataclass(frozen=True)
class DataConfig:
    """How to read the input file: its layout, its columns and how to treat gaps."""

    format: str = "auto"  # auto | long | wide
    time_col: Optional[str] = None  # detected when None
    id_col: Optional[str] = None  # detected when None; long format only
    target: Optional[str] = None  # detected when None
    fill: str = "interpolate"  # how missing grid points are filled: interpolate | ffill | zero | error
    season: Optional[int] = None  # seasonal period for the baseline and MASE; inferred from datetimes
    sep: Optional[str] = None  # field separator of CSV files; ',' then ';', tab or '|' when None
    duplicates: str = "error"  # repeated timestamps within a series: error | mean | sum | last | first
    future_covariates: tuple[str, ...] = ()  # columns known ahead (promotions, weather forecasts)
    past_covariates: tuple[str, ...] = ()  # columns observed with the target, unknown ahead
    static_covariates: tuple[str, ...] = ()  # columns constant per series (region, store size)
    calendar: bool = True  # cyclic calendar features from datetime timestamps


@dataclass(frozen=True)
class ModelConfig:
    """The network: how far it looks back, how far it forecasts, and its size."""

    horizon: Optional[int] = None  # steps to forecast; a default per frequency when None
    input_size: Optional[int] = None  # steps the GRU reads; a default from horizon and season when None
    hidden_size: Optional[int] = None  # GRU units; 64, or 32 on small data (see api.default_size) when None
    num_layers: int = 1
    dropout: float = 0.0
    scaler: str = "standard"  # per-window scaling from the input part: standard | robust | none
    series_embedding: int = 0  # size of a learned embedding of the series id; 0 for none
    quantiles: tuple[float, ...] = ()  # quantiles to forecast besides the median; () for a point forecast
    intervals: tuple[float, ...] = ()  # central prediction intervals in percent, e.g. (80, 95)
    min_input: Optional[int] = None  # observed steps a padded input window needs; input_size // 4 when None
    ensemble: Optional[int] = None  # networks trained with seeds seed, seed+1, ..., forecasts averaged; 3 on small data, else 1, when None


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation: budget, early stopping, loss, reproducibility and hardware."""

    epochs: int = 50  # an epoch is one pass over every training window
    max_steps: int = 5000  # optimizer steps at most, whatever epochs says
    batch_size: int = 256
    learning_rate: Optional[float] = None  # 3e-3, or 1e-3 on small data (see api.default_size) when None
    lr_schedule: str = "cosine"  # cosine: decay to 5% of learning_rate over the step budget | constant
    weight_decay: float = 0.0
    loss: Optional[str] = None  # mae | mse | huber | pinball; when None: pinball for a quantile model, else mae
    patience: int = 5  # validation checks without improvement before stopping
    eval_every: int = 200  # steps between validation checks (and at the end of every epoch)
    val_size: Optional[int] = None  # last steps of every series held out; one horizon when None
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "fp32"  # training arithmetic: fp32 | bf16 (autocast; measured not to pay at the defaults)
    threads: Optional[int] = None  # CPU threads for torch; torch's default when None
    kernel: str = "auto"  # GRU kernel: auto (fused on the CPU in float32, else nn.GRU) | fused | reference (nn.GRU)


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain dicts with lists for tuples, ready for YAML or JSON."""
        return {
            name: {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(section).items()}
            for name, section in ((n, getattr(self, n)) for n in ("data", "model", "training"))
        }


def output_quantiles(m: ModelConfig) -> tuple[float, ...]:
    """The quantiles a model forecasts, sorted: () for a point model; else the asked ones, the
    bounds of every interval and the median (the point forecast)."""
    if not m.quantiles and not m.intervals:
        return ()
    qs = {0.5, *m.quantiles}
    for level in m.intervals:
        a = round((100.0 - level) / 200.0, 6)
        qs |= {a, round(1.0 - a, 6)}
    return tuple(sorted(qs))


def interval_levels(m: ModelConfig) -> tuple[float, ...]:
    """The central intervals a model reports: the asked ones, else those its quantiles bound
    symmetrically (0.1 and 0.9 bound 80 %)."""
    if m.intervals:
        return tuple(sorted(m.intervals))
    qs = set(output_quantiles(m))
    return tuple(sorted(round(100 * (1 - 2 * q), 4) for q in qs if q < 0.5 and round(1 - q, 6) in qs))


def targets(d: DataConfig) -> list[str]:
    """The target columns a user named: --target a,b,c names three."""
    if d.target is None:
        return []
    return [t.strip() for t in d.target.split(",") if t.strip()]


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "training": TrainConfig}

# Settings whose command-line flag is not --<key with dashes>; None: no flag (config file only).
FLAGS = {"training.learning_rate": "--lr", "data.format": "--format", "model.scaler": None,
         "training.weight_decay": None, "training.eval_every": None, "training.grad_clip": None,
         "training.lr_schedule": None, "data.future_covariates": "--future-cols",
         "data.past_covariates": "--past-cols", "data.static_covariates": "--static-cols",
         "data.calendar": "--no-calendar"}
# Names people reach for that mean a setting: suggested when they appear in a file.
ALIASES = {"lr": "learning_rate", "layers": "num_layers", "hidden": "hidden_size", "lookback": "input_size",
           "h": "horizon", "freq_season": "season", "id": "id_col", "time": "time_col", "y": "target"}


def _label(where: str) -> str:
    """'training.learning_rate (--lr)': the setting with the flag that sets it."""
    flag = FLAGS.get(where, "--" + where.split(".", 1)[-1].replace("_", "-"))
    return f"{where} ({flag})" if flag and "." in where else where


label = _label  # public: 'training.learning_rate (--lr)' for messages outside this module


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _suggest(name: str, valid: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


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
        raise ConfigError(f"{_label(where)} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, str):
            value = _number(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{_label(where)} must be a whole number, got {value!r}")
    if annotation is float:
        if isinstance(value, str):
            value = _number(value)  # YAML 1.1 reads 1e-3 (no dot) as text
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _finite(where, value)
        raise ConfigError(f"{_label(where)} must be a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{_label(where)} must be text, got {value!r}")
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
                    raise ConfigError(f"{_label(where)} must be a list of numbers, got {value!r}")
                out.append(_finite(where, v))
            return tuple(out)
        kind = "column names" if item is str else "numbers"
        raise ConfigError(f"{_label(where)} must be a list of {kind}, got {value!r}")
    raise TypeError(f"unsupported config annotation {annotation!r}")  # a bug, not a user error


def _finite(where: str, value: float) -> float:
    """A float setting as a float; NaN, infinity and numbers beyond a float are no setting."""
    try:
        out = float(value)
    except OverflowError:  # an int with more than 308 digits
        out = math.inf
    if not math.isfinite(out):
        raise ConfigError(f"{_label(where)} must be a finite number, got {_show(value)}")
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
        raise ConfigError(f"{_label(where)} must be one of {', '.join(choices)}; got '{value}'.{_suggest(value, choices)}")


def _positive(where: str, value: Optional[float], allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{_label(where)} must be {'zero or more' if allow_zero else 'positive'}, got {value}")


# Absolute caps on the settings no data or machine bounds by itself; far beyond any sensible value,
# they turn an absurd one into a clear line before any work. Settings measured in time steps
# (horizon, input_size, min_input, val_size, season) are bounded by the data instead (api.resolve),
# and the network's size also by this machine's memory (api.resolve, train.memory_estimate).
MAX_HIDDEN = 16_384  # GRU units: 3 x 16,384^2 x 2 weights per layer is about 6 GB already
MAX_LAYERS = 64
MAX_ENSEMBLE = 1_000
MAX_EMBEDDING = 16_384
MAX_COUNT = 1_000_000_000  # epochs, max_steps, batch_size, patience, eval_every
MAX_SEED = 2**63 - 1  # torch seeds are 64-bit; below 2**63 they also fit every signed integer
MAX_THREADS_PER_CPU = 4  # --threads: at most this many per CPU core of the machine
MAX_LEARNING_RATE = 10.0  # AdamW steps of this size diverge at once; float32 overflows from about 1e38


def _at_most(where: str, value: Optional[int], cap: int, why: str = "") -> None:
    if value is not None and value > cap:
        raise ConfigError(f"{_label(where)} must be at most {cap:,}{why}, got {_show(value)}")


def _validate(cfg: Config) -> None:
    d, m, t = cfg.data, cfg.model, cfg.training
    _choice("data.format", d.format, FORMATS)
    _choice("data.fill", d.fill, FILLS)
    _choice("data.duplicates", d.duplicates, DUPLICATES)
    if d.sep is not None and d.sep not in ("tab", "\\t") and len(d.sep) != 1:
        raise ConfigError(f"{_label('data.sep')} must be one character (or 'tab'), got {d.sep!r}")
    _positive("data.season", d.season)
    seen: dict[str, str] = {}
    for kind in ("future_covariates", "past_covariates", "static_covariates"):
        for col in getattr(d, kind):
            if col in seen:
                where = "twice in " + _label(f"data.{kind}") if seen[col] == kind else (
                    f"in both {_label(f'data.{seen[col]}')} and {_label(f'data.{kind}')}")
                raise ConfigError(f"column '{col}' is named {where}; a covariate has one kind")
            seen[col] = kind
        for target in targets(d):
            if target in getattr(d, kind):
                raise ConfigError(f"column '{target}' is the target and cannot also be a covariate")
    _positive("model.series_embedding", m.series_embedding, allow_zero=True)
    for q in m.quantiles:
        if not 0.0 < q < 1.0:
            raise ConfigError(f"{_label('model.quantiles')} must be between 0 and 1 (exclusive), got {q:g}")
    for level in m.intervals:
        if not 0.0 < level < 100.0:
            raise ConfigError(f"{_label('model.intervals')} must be percentages between 0 and 100, got {level:g}")
        low = round((100.0 - level) / 200.0, 6)  # its lower bound, as output_quantiles rounds it
        if low <= 0.0:  # the bounds would be the quantiles 0 and 1
            raise ConfigError(f"{_label('model.intervals')} must be at most 99.9998 (bounds at the quantiles "
                              f"0.000001 and 0.999999), got {level!r}")
        if low >= 0.5:  # both bounds would be the median
            raise ConfigError(f"{_label('model.intervals')} must be at least 0.0002 (bounds at the quantiles "
                              f"0.499999 and 0.500001), got {level!r}")
    if m.quantiles and not m.intervals and set(m.quantiles) == {0.5}:
        raise ConfigError(f"{_label('model.quantiles')} 0.5 alone is the median, which the point forecast already is: "
                          "add other quantiles (e.g. 0.1,0.5,0.9) or leave --quantiles out")
    _positive("model.min_input", m.min_input)
    if m.min_input is not None and m.input_size is not None and m.min_input > m.input_size:
        raise ConfigError(f"{_label('model.min_input')} ({m.min_input}) cannot exceed input_size ({m.input_size})")
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
        raise ConfigError(f"{_label('model.dropout')} must be in [0, 1), got {m.dropout}")
    _choice("model.scaler", m.scaler, SCALERS)
    _positive("training.epochs", t.epochs)
    _positive("training.max_steps", t.max_steps)
    _positive("training.batch_size", t.batch_size)
    _positive("training.learning_rate", t.learning_rate)
    if t.learning_rate is not None and t.learning_rate > MAX_LEARNING_RATE:
        raise ConfigError(f"{_label('training.learning_rate')} must be at most {MAX_LEARNING_RATE:g}, got {t.learning_rate:g}")
    _positive("training.weight_decay", t.weight_decay, allow_zero=True)
    if t.learning_rate is not None and t.weight_decay * t.learning_rate >= 1.0:
        # AdamW multiplies every weight by 1 - learning_rate x weight_decay at each step.
        raise ConfigError(
            f"{_label('training.weight_decay')} times the learning rate must be below 1 (AdamW scales the weights by "
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
    members = m.ensemble or 1
    _at_most("training.seed", t.seed, MAX_SEED - (members - 1),
             f" with ensemble {members} (network k is seeded with seed + k, below 2**63)" if members > 1 else
             " (torch takes seeds below 2**63)")
    check_device("training.device", t.device)
    _choice("training.kernel", t.kernel, KERNELS)
    if m.horizon is not None and t.val_size is not None and t.val_size < m.horizon:
        raise ConfigError(
            f"training.val_size ({t.val_size}) must be at least the horizon ({m.horizon}) "
            "so that one validation window fits"
        )


def check_device(where: str, spec: str) -> None:
    if not (spec in ("auto", "cpu", "cuda") or (spec.startswith("cuda:") and spec[5:].isascii() and spec[5:].isdigit())):
        raise ConfigError(f"{_label(where)} must be auto, cpu, cuda or cuda:N; got '{spec}'")


def train_loss(m: ModelConfig, t: TrainConfig) -> str:
    """The loss a model with these settings trains with: pinball for a quantile model (an old
    checkpoint's 'mae' there meant it too), else the one named, mae when none is. ConfigError
    for mse or huber with quantiles, and pinball without."""
    if m.quantiles or m.intervals:
        if t.loss in ("mse", "huber"):
            flag = "--quantiles" if m.quantiles else "--intervals"
            raise ConfigError(
                f"{_label('training.loss')} is {t.loss}, but a model with {flag} forecasts quantiles and trains "
                f"with the pinball loss: leave --loss out (or set it to pinball)"
            )
        return "pinball"
    if t.loss == "pinball":
        raise ConfigError(f"{_label('training.loss')} pinball is the loss of quantile models: give --quantiles or "
                          "--intervals too, or choose mae, mse or huber")
    return t.loss or "mae"


def cpu_count() -> int:
    return os.cpu_count() or 1


def max_threads() -> int:
    """The most CPU threads a run may ask for on this machine."""
    return MAX_THREADS_PER_CPU * cpu_count()


def check_threads(where: str, threads: Optional[int]) -> None:
    """ConfigError unless threads is None or a whole number from 1 to max_threads(): torch tries
    to start as many as asked and runs out of memory long before 100,000."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise ConfigError(f"{_label(where)} must be a whole number, got {threads!r}")
    if threads < 1:
        raise ConfigError(f"{_label(where)} must be positive, got {threads}")
    if threads > max_threads():
        n = cpu_count()
        raise ConfigError(
            f"{_label(where)} is {threads:,}, but this machine has {n} CPU core{'s' if n != 1 else ''} and grucast "
            f"runs at most {max_threads():,} threads ({MAX_THREADS_PER_CPU} per core): use --threads {n} or fewer, "
            "or leave it out for torch's default"
        )


def machine_memory() -> Optional[int]:
    """Bytes of physical memory of this machine; None where the system does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} bytes"


def check_memory(what: str, need: int, hint: str) -> None:
    """ConfigError when an estimate of the memory something needs exceeds this machine's
    physical memory: a clear line before the allocation rather than the OOM killer after it."""
    total = machine_memory()
    if total is not None and need > total:
        raise ConfigError(f"{what} would need about {format_bytes(need)} of memory, more than this machine's "
                          f"{format_bytes(total)}; {hint}")


def _section(name: str, cls: type, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            hint = f" Did you mean '{ALIASES[key]}'?" if ALIASES.get(key) in names else _suggest(str(key), names)
            raise ConfigError(f"unknown setting '{name}.{key}'.{hint}")
        kwargs[key] = _check_type(f"{name}.{key}", value, hints[key])
    return cls(**kwargs)


def from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Build and validate a Config from nested dicts (as read from YAML)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must be a mapping with sections {', '.join(SECTIONS)}")
    sections = {}
    for name, values in raw.items():
        if name not in SECTIONS:
            owner = [sec for sec, cls in SECTIONS.items() if name in {f.name for f in dataclasses.fields(cls)}]
            if owner:
                raise ConfigError(
                    f"unknown section '{name}' in {source}: settings go under data, model or training. "
                    f"Did you mean '{owner[0]}.{name}'?"
                )
            raise ConfigError(f"unknown section '{name}' in {source}.{_suggest(str(name), SECTIONS)}")
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"section '{name}' in {source} must be a mapping of settings")
        sections[name] = _section(name, SECTIONS[name], values)
    cfg = Config(**sections)
    _validate(cfg)
    return cfg


MAX_CONFIG_BYTES = 1 << 20  # a config is a few lines; a larger file is the wrong file


class _DuplicateKey(Exception):
    def __init__(self, where: str, first: int, second: int):
        super().__init__(where)
        self.where, self.first, self.second = where, first, second


_LOADER: Any = None


def _yaml_loader() -> Any:
    """yaml.SafeLoader that refuses a key given twice in one mapping (SafeLoader keeps the last
    silently). Made on first use: yaml is imported only when a config is read."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_document(self, node):
            self._paths = {}
            self._name_mappings(node, "")
            return super().construct_document(node)

        def _name_mappings(self, node, path):
            """Remember the dotted path (model, model.x) of every mapping, for messages."""
            if isinstance(node, yaml.MappingNode):
                if id(node) in self._paths:
                    return  # an alias: already named
                self._paths[id(node)] = path
                for key, value in node.value:
                    name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                    self._name_mappings(value, f"{path}.{name}" if path else str(name))
            elif isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    self._name_mappings(item, path)

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue  # '<<: *base' merges on purpose; its keys may be overridden
                    try:
                        key = self.construct_object(key_node, deep=True)
                        hash(key)
                    except (yaml.YAMLError, TypeError):
                        continue  # the constructor itself reports an unusable key
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        path = getattr(self, "_paths", {}).get(id(node), "")
                        raise _DuplicateKey(f"{path}.{key}" if path else str(key), seen[key], line)
                    seen[key] = line
            return super().construct_mapping(node, deep=deep)

    _LOADER = Loader
    return Loader


def _yaml(text: str) -> Any:
    """YAML text read safely (no Python objects), a key given twice raising _DuplicateKey."""
    import yaml

    return yaml.load(text, Loader=_yaml_loader())


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML config file; ConfigError (one line) when it is missing, a folder, not
    a regular file, unreadable, far too large, not valid YAML or gives a key twice."""
    import yaml

    from grucast.sniff import regular_file

    path = Path(path)
    st = regular_file(path, "--config", ConfigError, "config file", missing="config file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is {format_bytes(st.st_size)}, far larger than a grucast config can be "
                          f"(at most {format_bytes(MAX_CONFIG_BYTES)}): is it the right file?")
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise ConfigError(f"cannot read config file {path}: permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not valid YAML: it is not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    try:
        raw = _yaml(text)
    except _DuplicateKey as e:
        raise ConfigError(f"config file {path} gives {e.where} twice (lines {e.first} and {e.second}): keep one") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{at}") from None
    return raw if raw is not None else {}


def load(path: Optional[Path] = None, overrides: Optional[dict[str, dict[str, Any]]] = None) -> Config:
    """The config from an optional YAML file, with flag overrides (None values ignored) on top."""
    raw = read_yaml(path) if path is not None else {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must be a mapping with sections {', '.join(SECTIONS)}")
    if path is not None:
        from_dict(raw, source=str(path))  # a bad value in the file is an error even when a flag overrides it
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            if value is not None:
                merged.setdefault(section, {})
                if not isinstance(merged[section], dict):
                    merged[section] = {}
                merged[section][key] = value
    cfg = from_dict(merged, source=str(path) if path else "settings")
    check_threads("training.threads", cfg.training.threads)  # this machine's limit: not for stored configs
    train_loss(cfg.model, cfg.training)
    return cfg


def parse_sets(items: typing.Iterable[str]) -> dict[str, dict[str, Any]]:
    """Overrides from 'section.key=value' texts (values read as YAML: 3, 0.1, true, [a, b])."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not eq or not dot:
            raise ConfigError(f"--set takes section.key=value (for example model.hidden_size=32), got '{item}'")
        try:
            parsed = _yaml(value)
        except _DuplicateKey as e:
            raise ConfigError(f"--set {item}: the value gives {e.where} twice") from None
        except yaml.YAMLError:
            parsed = value
        if parsed is None:
            raise ConfigError(f"--set {key.strip()}= gives no value; write section.key=value")
        out.setdefault(section, {})[name] = parsed
    return out


def merge(*overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Overrides combined; a later non-None value wins."""
    out: dict[str, dict[str, Any]] = {}
    for o in overrides:
        for section, values in o.items():
            for key, value in values.items():
                if value is not None:
                    out.setdefault(section, {})[key] = value
    return out


def replace(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of cfg with some fields of some sections replaced, validated again."""
    new = {name: dataclasses.replace(getattr(cfg, name), **values) for name, values in sections.items()}
    out = dataclasses.replace(cfg, **new)
    _validate(out)
    return out
