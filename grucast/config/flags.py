"""Every setting's command-line flag, in one table: the flag, the config path it sets, its type
or choices, its help text and the commands that take it. The CLI builds its options from it;
messages name a setting with its flag (label('training.learning_rate') ->
'training.learning_rate (--lr)'); overrides() turns the flags' values into the
{section: {key: value}} that config.files.load lays over a config file.

Free of typer and torch: the CLI sits above this module, not the other way round.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

# The commands that read a data file the way train does, and those that also train.
DATA = frozenset({"train", "check", "backtest"})
TRAINS = frozenset({"train", "backtest"})
# The commands that run a network: where it runs and on how many threads.
RUNS = frozenset({"train", "backtest", "predict", "evaluate", "gates"})
KERNEL_COMMANDS = frozenset({"train", "backtest", "predict"})  # evaluate always runs the default kernel

# Settings with no flag, set in a config file or with --set only, and why.
CONFIG_ONLY = {
    "model.scaler": "per-window scaling is rarely changed; standard suits almost every panel",
    "training.lr_schedule": "the cosine schedule is tuned with the step budget; constant is for experiments",
    "training.weight_decay": "regularisation beyond dropout and early stopping is for experiments",
    "training.eval_every": "validation cadence follows the budget; epochs end with a check anyway",
    "training.grad_clip": "gradient clipping at 1.0 is a safety net, not a knob",
}


@dataclass(frozen=True)
class Flag:
    setting: str  # the config path it sets: 'training.learning_rate'
    name: str  # the flag as typed: '--lr'; a switch: '--calendar/--no-calendar'
    type: Union[type, tuple[str, ...]]  # int, float, str, bool, or the choices of a text setting
    help: str
    commands: frozenset[str]
    envvar: Optional[str] = None  # the environment variable that stands in for the flag

    @property
    def key(self) -> str:
        return self.setting.split(".", 1)[1]

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the flag answers to: ('--calendar', '--no-calendar')."""
        return tuple(self.name.split("/"))

    @property
    def shown(self) -> str:
        """The flag as messages name it: for a switch, the form that departs from the default
        (every switch here is on by default: '--no-calendar')."""
        return self.names[-1]


_D, _M, _T = "data.", "model.", "training."


@functools.cache
def table() -> tuple[Flag, ...]:
    """Every settings flag, in the order --help lists them. Built on first use: config.settings
    (which holds the choices) imports this module for label()."""
    from grucast.config.settings import ANCHORS, CELLS, DUPLICATES, FILLS, FORMATS, KERNELS, LOSSES, PRECISIONS

    window = DATA  # the window flags go wherever the data flags go
    return (
        Flag(_D + "format", "--format", FORMATS, "Layout of the file (default: auto-detect).", DATA),
        Flag(_D + "time_col", "--time-col", str, "Time column (detected when unambiguous).", DATA),
        Flag(_D + "id_col", "--id-col", str, "Series id column of a long file (detected when unambiguous).", DATA),
        Flag(_D + "target", "--target", str, "Column to forecast (detected when unambiguous).", DATA),
        Flag(_D + "fill", "--fill", FILLS, "Gaps in the time grid: interpolate (default), ffill, zero or error.", DATA),
        Flag(_D + "duplicates", "--duplicates", DUPLICATES, "Repeated timestamps in a series: error (default), or "
             "aggregate by mean, sum, last or first.", DATA),
        Flag(_D + "sep", "--sep", str, "CSV field separator (default: ',', or ';', tab, '|' when the header shows "
             "one); 'tab' for a tab.", DATA),
        Flag(_M + "horizon", "--horizon", int, "Steps to forecast (default: one day for intraday data, else M4's "
             "horizon for the frequency).", window),
        Flag(_M + "input_size", "--input-size", int, "Steps the GRU reads (default: a week of intraday data, at "
             "least 2 x horizon).", window),
        Flag(_D + "season", "--season", int, "Seasonal period for the baseline and MASE (inferred from datetimes; "
             "required for integer steps, 1 for none).", DATA),
        Flag(_D + "future_covariates", "--future-cols", str, "Covariate columns known ahead (comma-separated): read "
             "over the input window and the horizon; predict needs their values over the horizon.", DATA),
        Flag(_D + "past_covariates", "--past-cols", str, "Covariate columns observed with the target but unknown "
             "ahead (comma-separated): read over the input window only.", DATA),
        Flag(_D + "static_covariates", "--static-cols", str, "Columns constant per series (comma-separated); text "
             "values are categories with learned embeddings.", DATA),
        Flag(_D + "calendar", "--calendar/--no-calendar", bool, "Cyclic calendar features (hour of day, day of "
             "week, ...) from datetime timestamps (default: on).", DATA),
        Flag(_M + "series_embedding", "--series-embedding", int, "Size of a learned embedding of the series id "
             "(default 0: none); series not seen in training get an average one.", TRAINS),
        Flag(_M + "min_input", "--min-input", int, "Observed steps a series needs in its input window when short "
             "series are padded (default: input_size // 4, at most twice the horizon); shorter series get a naive "
             "forecast, marked in the method column.", window),
        Flag(_M + "quantiles", "--quantiles", str, "Quantiles to forecast, e.g. 0.1,0.5,0.9 (trained with the "
             "pinball loss, calibrated on the validation windows); predict writes a q0.1 ... column for each.", TRAINS),
        Flag(_M + "intervals", "--intervals", str, "Central prediction intervals in percent, e.g. 80,95: predict "
             "writes lo-80, hi-80, ... columns.", TRAINS),
        Flag(_M + "hidden_size", "--hidden-size", int, "GRU hidden units (default 64; 32 when the data gives fewer "
             "than 10,000 training windows).", TRAINS),
        Flag(_M + "num_layers", "--num-layers", int, "GRU layers (default 1).", TRAINS),
        Flag(_M + "cell", "--cell", str, f"The recurrent cell: {' or '.join(CELLS)} (default gru; lstm is nn.LSTM in "
             "the same network, trained the same way; grucast's fused CPU kernel is GRU-only). backtest also takes "
             "gru,lstm: both on the same windows, side by side, with a verdict.", TRAINS),
        Flag(_M + "ensemble", "--ensemble", int, "Networks trained with seeds seed, seed+1, ... whose forecasts are "
             "averaged (default 1; 3 when the data gives fewer than 10,000 training windows).", TRAINS),
        Flag(_M + "anchor", "--anchor", ANCHORS, "The forecast every network starts from and learns a correction "
             "to: naive (the last value), seasonal_naive (the last season), smoothing (simple exponential smoothing, "
             "its alpha chosen on the training data), linear (the least-squares linear map of the training windows) "
             "or none (a random start); by default, below 1,000 training windows, the one of the first three with "
             "the lowest error on the training data, else none.", TRAINS),
        Flag(_M + "dropout", "--dropout", float, "Dropout between GRU layers and in the head (default 0).", TRAINS),
        Flag(_T + "epochs", "--epochs", int, "Epochs at most; an epoch is one pass over every training window "
             "(default: no cap; --max-steps and early stopping end training).", TRAINS),
        Flag(_T + "max_steps", "--max-steps", int, "Optimizer steps at most, whatever --epochs says (default 5000).",
             TRAINS),
        Flag(_T + "batch_size", "--batch-size", int, "Windows per optimizer step (default 256).", TRAINS),
        Flag(_T + "learning_rate", "--lr", float, "AdamW learning rate (default 0.003; 0.001 below 10,000 training "
             "windows), annealed by a cosine over the step budget.", TRAINS),
        # pinball is not offered: it is the loss of every quantile model, and of no other.
        Flag(_T + "loss", "--loss", tuple(x for x in LOSSES if x != "pinball"), "Training loss on scaled values "
             "(default mae).", TRAINS),
        Flag(_T + "patience", "--patience", int, "Validation checks without improvement before stopping (default 5).",
             TRAINS),
        Flag(_T + "val_size", "--val-size", int, "Last steps of every series held out for validation (default: one "
             "horizon).", window),
        Flag(_T + "seed", "--seed", int, "Random seed; the same seed repeats a CPU run exactly (default 0).", TRAINS),
        Flag(_T + "device", "--device", str, "auto (a GPU when there is one), cpu, cuda or cuda:N.", RUNS,
             envvar="GRUCAST_DEVICE"),
        Flag(_T + "threads", "--threads", int, "CPU threads for torch (default: torch's choice).", RUNS,
             envvar="GRUCAST_THREADS"),
        Flag(_T + "precision", "--precision", PRECISIONS, "Training arithmetic: fp32 (default) or bf16 autocast "
             "(pays on a GPU at large batches, e.g. 1,024; slower at the default 256 and on CPUs without bf16 "
             "units).", TRAINS),
        Flag(_T + "kernel", "--kernel", KERNELS, "What runs the GRU: auto (grucast's fused kernel on the CPU in "
             "float32, built once per machine; nn.GRU/cuDNN on a GPU), fused, or reference (PyTorch's nn.GRU).",
             KERNEL_COMMANDS),
    )


def for_command(command: str) -> tuple[Flag, ...]:
    """The settings flags a command takes, in table order."""
    return tuple(f for f in table() if command in f.commands)


@functools.cache
def _labels() -> dict[str, str]:
    return {f.setting: f.shown for f in table()}


def flag_of(where: str) -> Optional[str]:
    """The flag that sets a setting ('--lr' for training.learning_rate); None for a setting with
    no flag (CONFIG_ONLY) and for anything that is not a setting path."""
    return _labels().get(where)


def label(where: str) -> str:
    """'training.learning_rate (--lr)': the setting with the flag that sets it; a setting with no
    flag (CONFIG_ONLY), or a name that is already a flag ('--threads'), as it is."""
    flag = flag_of(where)
    return f"{where} ({flag})" if flag else where


def overrides(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{section: {key: value}} from {setting: value} for config.files.load; values left unset
    (None) are left out, so the file's value, or the default, stands."""
    out: dict[str, dict[str, Any]] = {}
    for setting, value in values.items():
        if value is not None:
            section, key = setting.split(".", 1)
            out.setdefault(section, {})[key] = value
    return out


# Names people reach for that mean a setting: suggested when they appear in a file.
ALIASES = {"lr": "learning_rate", "layers": "num_layers", "hidden": "hidden_size", "lookback": "input_size",
           "h": "horizon", "freq_season": "season", "id": "id_col", "time": "time_col", "y": "target"}
