"""grucast: forecast time-series files with a GRU network.

The Python API, on pandas DataFrames or files (see grucast.workflows.model):

    model = grucast.train(df, horizon=24)    # a grucast.Model
    forecasts = model.predict(df)            # or grucast.predict(model_or_path, df)
    model.save("model.pt"); grucast.load("model.pt")

    grucast.monitor("feed.csv", ["forecasts/"], "history/")   # forecasts scored as actuals arrive

Importing the package is cheap: it does not import torch or pandas. train, predict, load,
Model and monitor are imported on first use (PEP 562).
"""

__version__ = "0.4.0"

_LAZY = {"train": "grucast.workflows.model", "predict": "grucast.workflows.model",
         "load": "grucast.workflows.model", "Model": "grucast.workflows.model",
         "monitor": "grucast.workflows.monitor"}

__all__ = ["Model", "__version__", "load", "monitor", "predict", "train"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'grucast' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list:
    return sorted({*globals(), *_LAZY})
