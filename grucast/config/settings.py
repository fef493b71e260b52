"""The typed settings: one dataclass per section (data, model, training), their choices, and
what follows from them (the quantiles a model outputs, the training loss). The rest of the code
trusts a Config: every value has been checked in grucast.config.validate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from grucast.config.flags import label
from grucast.errors import ConfigError

FORMATS = ("auto", "long", "wide")


FILLS = ("interpolate", "ffill", "zero", "error")


DUPLICATES = ("error", "mean", "sum", "last", "first")


SCALERS = ("standard", "robust", "last", "none")
CELLS = ("gru", "lstm")  # the recurrent cell of the encoder (models.network)
ANCHORS = ("naive", "seasonal_naive", "smoothing", "linear", "none")  # the forecast a network starts from (training.defaults.choose_anchor)


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
    hidden_size: Optional[int] = None  # GRU units; 64, or 32 on small data (training.defaults.default_size) when None
    num_layers: int = 1
    dropout: float = 0.0
    scaler: Optional[str] = None  # standard | robust | last | none; None: standard, or last with the linear anchor where that wins (workflows.fit)
    series_embedding: int = 0  # size of a learned embedding of the series id; 0 for none
    quantiles: tuple[float, ...] = ()  # quantiles to forecast besides the median; () for a point forecast
    intervals: tuple[float, ...] = ()  # central prediction intervals in percent, e.g. (80, 95)
    min_input: Optional[int] = None  # observed steps a padded input window needs; None: input_size // 4, at most 2 x horizon
    anchor: Optional[str] = None  # naive | seasonal_naive | smoothing | linear | none: the forecast the network starts from; from the data when None
    ensemble: Optional[int] = None  # networks trained with seeds seed, seed+1, ..., forecasts averaged; 3 on small data, else 1, when None
    cell: str = "gru"  # gru | lstm: the recurrent cell (checkpoints before it was a setting are GRUs)


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation: budget, early stopping, loss, reproducibility and hardware."""

    # An epoch is one pass over every training window; None: no cap, max_steps and early stopping
    # end training (with 50, trend-seasonal monthly series of 1,300 windows stopped on the cap,
    # still improving, at 0.743 MASE against 0.683 without: README.md, Accuracy, "Small and awkward data").
    epochs: Optional[int] = None
    max_steps: int = 5000  # optimizer steps at most, whatever epochs says
    batch_size: int = 256
    learning_rate: Optional[float] = None  # 3e-3, or 1e-3 on small data (training.defaults.default_size) when None
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


def train_loss(m: ModelConfig, t: TrainConfig) -> str:
    """The loss a model with these settings trains with: pinball for a quantile model (an old
    checkpoint's 'mae' there meant it too), else the one named, mae when none is. ConfigError
    for mse or huber with quantiles, and pinball without."""
    if m.quantiles or m.intervals:
        if t.loss in ("mse", "huber"):
            flag = "--quantiles" if m.quantiles else "--intervals"
            raise ConfigError(
                f"{label('training.loss')} is {t.loss}, but a model with {flag} forecasts quantiles and trains "
                f"with the pinball loss: leave --loss out (or set it to pinball)"
            )
        return "pinball"
    if t.loss == "pinball":
        raise ConfigError(f"{label('training.loss')} pinball is the loss of quantile models: give --quantiles or "
                          "--intervals too, or choose mae, mse or huber")
    return t.loss or "mae"
