"""The Python API: train on a DataFrame (or a file), forecast a DataFrame, save and load models.

    model = grucast.train(df, horizon=24, hidden_size=32)   # a Model: checkpoint + TrainResult
    forecasts = model.predict(df)                           # the rows of predict's forecast file
    model.save("model.pt"); grucast.load("model.pt")

A DataFrame enters where a file's raw frame would (data.read.read_source), so it meets the same
detection, parsing and messages, which call it 'the DataFrame'; the caller's frame is never
changed. Settings are the config's field names as keywords, whatever their section; the work is
the commands' own (fit_table, forecast_data), so a frame and the CSV file of that frame give the
same forecasts, bit for bit, and a file gives the checkpoint `grucast train` writes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pandas as pd

from grucast import files
from grucast.checkpoint import Checkpoint, writer
from grucast.checkpoint import load as load_checkpoint
from grucast.config import files as config_files
from grucast.config import names, validate
from grucast.config.flags import flag_of
from grucast.config.settings import SECTIONS, Config
from grucast.data.table import load_table
from grucast.errors import ConfigError, DataError, PathError
from grucast.ops import locks, paths, publish
from grucast.ops import manifest as ops_manifest
from grucast.training import distributed
from grucast.training.loop import Callback
from grucast.workflows.fit import TrainResult, fit_table
from grucast.workflows.info import describe
from grucast.workflows.predict import forecast_data

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

Data = Union[pd.DataFrame, PathLike]  # a DataFrame, or the path of a CSV or Parquet file

ConfigLike = Union[Config, dict, PathLike, None]  # a Config, a dict of sections, a YAML file


# ---------------------------------------------------------------- settings as keywords


def _keywords() -> dict[str, tuple[str, str]]:
    """keyword -> (section, field): every config field by its own name, and the settings whose
    flag says it otherwise by the flag's name (lr, future_cols, past_cols, static_cols)."""
    out = {f.name: (section, f.name) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    for section, name in list(out.values()):
        flag = flag_of(f"{section}.{name}")
        if flag and not flag.startswith("--no-"):
            out.setdefault(flag[2:].replace("-", "_"), (section, name))
    return out


def by_section(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{'hidden_size': 32, 'seed': 1} -> {'model': {'hidden_size': 32}, 'training': {'seed': 1}};
    ConfigError for an unknown keyword, with the nearest valid one."""
    known = _keywords()
    out: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        if key not in known:
            raise ConfigError(f"unknown setting '{key}'.{names.hint(names.did_you_mean(key, known))}")
        section, name = known[key]
        out.setdefault(section, {})[name] = value
    return out


def make_config(config: ConfigLike = None, **settings: Any) -> Config:
    """The Config of a Python call: config (a Config, a dict of sections as in a YAML file, or
    the path of one) with the keyword settings on top; None values leave a setting as it is.
    Checked as the CLI checks its flags (config.files.load)."""
    overrides = by_section(settings)
    if config is None or isinstance(config, (str, os.PathLike)):
        return config_files.load(None if config is None else Path(config), overrides)
    if isinstance(config, dict):
        config = validate.from_dict(config, source="config")  # unknown keys named with the nearest valid one
    if not isinstance(config, Config):
        raise TypeError(f"config must be a grucast Config, a dict of sections or the path of a YAML file, "
                        f"got {type(config).__name__}")
    return config_files.load(None, validate.merge(config.to_dict(), overrides))


def _source(data: Any, what: str) -> Union[pd.DataFrame, Path]:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)):
        return Path(data)
    raise TypeError(f"{what} must be a pandas DataFrame or the path of a CSV or Parquet file, got {type(data).__name__}")


# ---------------------------------------------------------------- the model


@dataclasses.dataclass(repr=False, eq=False)
class Model:
    """A trained forecaster: its checkpoint (what a saved file holds) and, when trained in this
    process, the TrainResult of that training (data summary, defaults chosen, windows, timing)."""

    checkpoint: Checkpoint
    result: Optional[TrainResult] = None  # None for a model loaded from a file
    data_file: Optional[Path] = None  # the file it was trained on; None for a DataFrame
    loaded_from: Optional[Path] = None  # the checkpoint file it was loaded from

    @property
    def config(self) -> Config:
        """The resolved settings: every default chosen from the data is filled in."""
        return self.checkpoint.config

    @property
    def metrics(self) -> dict[str, Any]:
        """Validation scores of the GRU, naive and seasonal naive (see `grucast train --json`)."""
        return self.checkpoint.metrics

    @property
    def horizon(self) -> int:
        return self.checkpoint.config.model.horizon

    @property
    def input_size(self) -> int:
        return self.checkpoint.config.model.input_size

    @property
    def history(self) -> list[dict[str, Any]]:
        """Train and validation loss at every validation check."""
        return self.checkpoint.history

    @property
    def notes(self) -> list[str]:
        """What training found and chose, as the CLI prints it: the columns detected, warnings
        about the data, the defaults chosen. Empty for a loaded model."""
        if self.result is None:
            return []
        return [*self.result.data.notes, *self.result.data.warnings, *self.result.config_notes]

    @property
    def info(self) -> dict[str, Any]:
        """What `grucast info --json` shows, less the file's identity."""
        return describe(self.checkpoint)

    def __repr__(self) -> str:
        where = f"loaded from {self.loaded_from}" if self.loaded_from else f"trained on {self.checkpoint.info.get('data_file')}"
        return (f"<grucast.Model horizon={self.horizon} input_size={self.input_size} "
                f"series={self.checkpoint.info.get('n_series')} {where}>")

    def predict(self, data: Data, future: Optional[Data] = None, *, device: str = "auto",
                threads: Optional[int] = None, kernel: str = "auto") -> pd.DataFrame:
        """Forecasts horizon steps after the last observation of every series of data (a
        DataFrame or a file read like the training data): the rows `grucast predict -o` writes.
        future: future covariates over the horizon (DataFrame or file), when the model has some.
        Series too short for the network get a naive (or seasonal naive) forecast, marked in the
        method column and logged; series without values are skipped and logged, as are series
        and categories the model never saw."""
        result = forecast_data(self.checkpoint, _source(data, "data"),
                               None if future is None else _source(future, "future"),
                               model_file=self.loaded_from, future_label="future=", device=device,
                               threads=threads, kernel=kernel)
        if result.data.dropped:
            log.warning("skipped %d series with no values to forecast from: %s", len(result.data.dropped),
                        ", ".join(result.data.dropped[:5]))
        if result.fallback:
            log.warning("%d series shorter than the %d points the model needs got a baseline forecast instead "
                        "(method column): %s", len(result.fallback), result.min_input,
                        ", ".join(list(result.fallback)[:5]))
        for note in result.notes:
            log.warning("%s", note)
        return result.forecasts

    def save(self, path: PathLike, *, manifest: bool = False, wait: bool = False) -> Path:
        """Write the checkpoint to path atomically, as `grucast train -o` does: never over one of
        the model's inputs (its training data file, the file it was loaded from), a link, a
        folder or a device; under path's lock (LockedError while another run writes it, or
        wait=True to wait for it). manifest=True writes path.manifest.json beside it (a model
        trained in this process only); without, a stale manifest there is removed."""
        path = Path(path)
        inputs = [paths.Role("the training data", self.data_file), paths.Role("the model's own file", self.loaded_from)]
        paths.check_paths(inputs, paths.outputs_of("the output", path))
        _refuse_non_checkpoint(path)
        staged = publish.Staged(path, writer(self.checkpoint), manifest=self._manifest(path) if manifest else None)
        with locks.lock(path, wait):
            publish.publish([staged])
        if self.result is not None:
            self.result.checkpoint_path = path
        return path

    def _manifest(self, path: Path) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """The manifest of the checkpoint at path, from its identity: `grucast train`'s."""
        if self.result is None:
            raise ConfigError("manifest=True describes a training run; a loaded model has none: save it without")
        result = dataclasses.replace(self.result, checkpoint_path=path)
        return lambda identity: ops_manifest.train_manifest(result, identity)


def _refuse_non_checkpoint(path: Path) -> None:
    """save replaces an earlier checkpoint, never another kind of file: a model loaded from disk
    no longer knows its training data's path, and a CSV or Parquet file saved over is data lost."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        return
    except OSError:
        return  # check_paths has named a path that cannot be looked at
    if head and head != b"PK\x03\x04":
        raise PathError(f"{path} exists and is not a checkpoint; Model.save replaces only an earlier checkpoint: "
                        "choose another file name")


# ---------------------------------------------------------------- train, predict, load


def train(data: Data, horizon: Optional[int] = None, *, config: ConfigLike = None,
          callback: Optional[Callback] = None, **settings: Any) -> Model:
    """Train a global GRU forecaster on every series of data: a DataFrame (long, wide or one
    series, columns detected as in a file) or the path of a CSV or Parquet file.

    Settings are the config's fields as keywords (input_size=, hidden_size=, epochs=, seed=,
    time_col=, id_col=, target=, future_covariates= or future_cols=, ...), on top of config (a
    Config, a dict of sections, or a YAML file's path). callback: training progress (see
    training.loop.Callback). ConfigError for an unknown or bad setting, DataError for data
    that cannot be trained on."""
    started = time.perf_counter()
    cfg = make_config(config, **({"horizon": horizon} if horizon is not None else {}), **settings)
    source = _source(data, "data")
    identity: dict[str, Any] = {}
    if isinstance(source, Path):  # as `grucast train` reads a file, so the checkpoints are the same
        files.data_input(source, "DATA", DataError)
        identity = paths.file_identity(source)
    table = load_table(source, cfg.data)
    ckpt, result = fit_table(table, cfg, callback, keep_rows=False)
    distributed.finish()  # under torchrun: the ranks are done with each other
    if identity:
        ckpt.info["data_sha256"] = identity["sha256"]
        result.data_file = identity
    result.seconds = time.perf_counter() - started
    model = Model(ckpt, result, data_file=source if isinstance(source, Path) else None)
    for line in model.notes:
        log.info("%s", line)
    return model


def predict(model: Union[Model, PathLike], data: Data, future: Optional[Data] = None,
            **options: Any) -> pd.DataFrame:
    """Forecasts of a model (a Model, or the path of a checkpoint) for every series of data;
    options: device, threads, kernel (see Model.predict)."""
    if not isinstance(model, Model):
        model = load(model)
    return model.predict(data, future, **options)


def load(path: PathLike) -> Model:
    """The Model saved in a checkpoint file (CheckpointError when it is not one)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be the path of a checkpoint file, got {type(path).__name__}")
    return Model(load_checkpoint(Path(path)), loaded_from=Path(path))
