"""The manifest written beside every output: what made it (command, versions, settings), from
which inputs (bytes and sha256) and what it holds.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from grucast import __version__
from grucast.ops.paths import file_identity, manifest_path

# ---------------------------------------------------------------- manifest


def versions() -> dict[str, str]:
    torch = sys.modules.get("torch")  # loaded by every command that writes a manifest; not imported here
    return {"grucast": __version__, "torch": torch.__version__ if torch else metadata.version("torch"), "pandas": pd.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def manifest(command: str, **fields: Any) -> dict[str, Any]:
    """The common head of every manifest, then the command's own fields."""
    return {
        "command": command,
        "argv": list(sys.argv),
        "finished_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "host": platform.node(),
        "versions": versions(),
        "exit_status": 0,
        **fields,
    }


def json_ready(obj: Any) -> Any:
    """JSON-ready: NaN and infinities as null, numpy scalars as numbers, times as ISO text."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return str(obj)


def train_manifest(result: Any, output: dict[str, Any]) -> dict[str, Any]:
    """What a training run read, wrote and measured (result: api.TrainResult; output: the
    checkpoint's path, size and sha256)."""
    fit = result.fit
    return json_ready(manifest(
        "train",
        input={**result.data_file, "observations": result.data.n_rows, "series": result.data.n_series},
        output={**output, "kind": "checkpoint"},
        config=result.config.to_dict(),
        training={"steps": fit.steps, "epochs": fit.epochs, "best_step": fit.best_step, "stop_reason": fit.stop_reason,
                  "train_windows": result.train_windows, "windows_per_s": round(fit.windows_per_s, 1),
                  "device": result.device},
        metrics=result.metrics,
        quality_gate=result.gate,
        seconds={"total": round(result.seconds, 3), "training_loop": round(fit.train_seconds, 3)},
    ))


def predict_manifest(result: Any, output: dict[str, Any], model_path: Path, data_path: Path,
                     future_path: Optional[Path], shard: Optional[tuple[int, int]], max_age: Optional[str],
                     as_of: Optional[pd.Timestamp], shard_data: bool = False) -> dict[str, Any]:
    """What a forecast was made from and where it starts (result: api.PredictResult; output:
    the forecast file's path, size and sha256). With shard_data the input's observations and
    series are those of the shard, which alone was read."""
    fields: dict[str, Any] = {
        "input": {**file_identity(data_path), "observations": result.data.n_rows, "series": result.data.n_series},
        "checkpoint": file_identity(model_path),
        "output": {**output, "kind": "forecasts", "rows": len(result.forecasts)},
        "horizon": result.horizon,
        "series_forecast": result.n_forecast,
        "series_fallback": result.fallback,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        **({"shard_data": True} if shard_data else {}),
        "max_age": max_age,
        "as_of": as_of.isoformat() if as_of is not None else None,
        "origins": result.origins,
        "model": result.card,  # how grucast monitor reads DATA and what it compares with (checkpoint.card)
        "seconds": {"total": round(result.seconds, 3)},
    }
    if future_path is not None:
        fields["future"] = file_identity(future_path)
    return json_ready(manifest("predict", **fields))


def evaluation_manifest(command: str, result: Any, data_path: Path,
                        model_path: Optional[Path]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The manifest of each file evaluate or backtest wrote, from that file's identity (result:
    backtest.EvaluationResult); the data and the checkpoint are hashed once for all of them."""
    fields: dict[str, Any] = {
        "input": {**file_identity(data_path), "observations": result.data.n_rows, "series": result.data.n_series},
        "windows": result.windows, "stride": result.stride, "horizon": result.horizon,
        "series_scored": result.series, "series_skipped": result.skipped,
        "metrics": result.overall, "seconds": {"total": round(result.seconds, 3), "training": round(result.train_seconds, 3)},
    }
    if model_path is not None:
        fields["checkpoint"] = file_identity(model_path)
    return lambda output: json_ready(manifest(command, output=output, **fields))


# ---------------------------------------------------------------- reading a forecast's manifest


def read_predict_manifest(path: Path) -> tuple[str, Optional[dict[str, Any]]]:
    """The manifest grucast predict wrote beside the forecast file path, checked for the shape
    that monitor and plot read: ("", manifest), or (why it cannot be used, None) for one that is
    missing, of another command, or damaged (not JSON, or a section that is not an object, as
    an edit or a cut leaves it). Its model card, when it has one, holds what they read."""
    mpath = manifest_path(path)
    if not mpath.is_file():
        return (f"no manifest beside it ({mpath.name}): grucast predict writes one unless --no-manifest, and "
                "without it the origins and the checkpoint are unknown"), None
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
        command = m["command"]
        sections = (m["output"], m.get("checkpoint") or {}, m.get("versions") or {})
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return f"its manifest {mpath.name} is damaged", None
    if not all(isinstance(x, dict) for x in sections):
        return f"its manifest {mpath.name} is damaged", None
    if command != "predict" or not isinstance(m.get("origins"), dict):
        return f"its manifest {mpath.name} is of grucast {command}, not of a forecast by grucast predict", None
    if m.get("model") and not card_ok(m["model"]):
        return f"its manifest {mpath.name} has a damaged model card", None
    return "", m


def card_ok(card: Any) -> bool:
    """Whether a model card (checkpoint.card) has what monitor and plot read."""
    return (isinstance(card, dict) and all(isinstance(card.get(k), dict) for k in ("schema", "reading", "freq"))
            and isinstance(card.get("horizon"), int) and card["horizon"] > 0
            and (card.get("season") is None or isinstance(card.get("season"), int)))
