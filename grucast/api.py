"""The library's front door: one function per command, each returning a result dataclass.

file -> table (data) -> panel -> windows (features) -> model (models, training) -> checkpoint /
forecasts -> writers (data.write), with the outputs published by ops. The work itself lives in
grucast.workflows; this module is the stable surface that the CLI and Python callers use. The
functions print nothing.

These are the commands on paths, as the CLI runs them. The Python API on DataFrames
(grucast.train, grucast.predict, grucast.load, grucast.Model) is grucast.workflows.model; Model
and load are also here.
"""

from __future__ import annotations

from grucast.workflows.backtest import EvaluationResult, backtest, evaluate
from grucast.workflows.check import CheckResult, check
from grucast.workflows.compare import compare_cells
from grucast.workflows.fit import TrainResult
from grucast.workflows.gates import GatesResult, gates
from grucast.workflows.info import info
from grucast.workflows.model import Model, load
from grucast.workflows.monitor import Gates, MonitorResult, monitor
from grucast.workflows.plot import PlotResult, plot
from grucast.workflows.predict import PredictResult, predict
from grucast.workflows.summary import DataSummary
from grucast.workflows.train import train

__all__ = [
    "train", "predict", "check", "info", "evaluate", "backtest", "compare_cells", "gates", "monitor", "Gates", "plot", "load", "Model",
    "TrainResult", "PredictResult", "CheckResult", "EvaluationResult", "GatesResult", "MonitorResult", "PlotResult", "DataSummary",
]
