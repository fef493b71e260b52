"""The user's name for every setting: the flag that sets it, used in every message about a
setting (label('model.horizon') -> '--horizon').
"""

from __future__ import annotations

# Settings whose command-line flag is not --<key with dashes>; None: no flag (config file only).
FLAGS = {"training.learning_rate": "--lr", "data.format": "--format", "model.scaler": None,
         "training.weight_decay": None, "training.eval_every": None, "training.grad_clip": None,
         "training.lr_schedule": None, "data.future_covariates": "--future-cols",
         "data.past_covariates": "--past-cols", "data.static_covariates": "--static-cols",
         "data.calendar": "--no-calendar"}


# Names people reach for that mean a setting: suggested when they appear in a file.
ALIASES = {"lr": "learning_rate", "layers": "num_layers", "hidden": "hidden_size", "lookback": "input_size",
           "h": "horizon", "freq_season": "season", "id": "id_col", "time": "time_col", "y": "target"}


def label(where: str) -> str:
    """'training.learning_rate (--lr)': the setting with the flag that sets it."""
    flag = FLAGS.get(where, "--" + where.split(".", 1)[-1].replace("_", "-"))
    return f"{where} ({flag})" if flag and "." in where else where


