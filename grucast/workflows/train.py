"""`train` from paths: check the paths, read, fit (or resume, or fine-tune), and publish the
checkpoint with its manifest.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

from grucast import checkpoint, files
from grucast.config import validate
from grucast.config.settings import Config
from grucast.data.schema import Table
from grucast.data.table import load_table, load_table_like
from grucast.errors import CheckpointError, DataError, Interrupted, PeerLost
from grucast.ops import gates, paths, publish
from grucast.training import distributed
from grucast.training.loop import Callback
from grucast.workflows.fit import TrainResult, fit_table


def train(data_path: Path, out_path: Path, cfg: Config, callback: Optional[Callback] = None,
          on_ready: Optional[Any] = None, fail_if_worse_than: Optional[str] = None,
          init_from: Optional[Path] = None, resume_from: Optional[Path] = None, stop: Optional[Any] = None,
          manifest: Optional[Callable[[TrainResult, dict[str, Any]], dict[str, Any]]] = None,
          before_publish: Optional[Callable[[TrainResult], None]] = None, table: Optional[Table] = None,
          shard: Optional[tuple[int, int]] = None) -> TrainResult:
    """Read a file, train a global GRU forecaster on all its series, score it on the held-out
    last part of every series and save a checkpoint atomically.

    on_ready(summary, resolved_config, notes) is called once the data is loaded and the
    settings are resolved, before training starts. With fail_if_worse_than ('naive' or
    'seasonal-naive') a model whose validation MASE is worse than that baseline's is not saved:
    QualityGateError (exit 5), and out_path keeps the previous checkpoint.

    init_from: start from that checkpoint's weights, data schema and model settings (the
    training settings are cfg's): fine-tuning on new data of the same shape.
    stop (ops.signals.stop_on_signals): when it fires, the run so far is saved to resume_path(out_path)
    and Interrupted raised; resume_from= that file continues it on the same data file.

    The checkpoint is published with manifest(result, identity) beside it (ops.publish: both
    or neither); without manifest, a stale manifest beside out_path is removed. No output may be
    one of the inputs (ops.paths.run_paths). before_publish(result) runs last before the checkpoint
    becomes visible (the CLI renders its report there): if it fails, nothing is written.
    table: data_path already read with cfg.data (data.table.load_table), so that a bad file fails
    before torch is imported; not with init_from or resume_from, which read it their own way,
    only shard (i, n) of its series when shard is given (--shard-data, as load_table reads it)."""
    started = time.perf_counter()
    out_path = Path(out_path)
    paths.run_paths(data=data_path, init_from=init_from, resume=resume_from, output=out_path, train=True, lock=False)
    files.data_input(Path(data_path), "DATA", DataError)  # hashed below, before it is read
    gates.check_baseline(fail_if_worse_than)  # a bad name fails before training, not after
    base, state = None, None
    if resume_from is None and init_from is None:
        resume_from = _restarted(resume_path(out_path))
        if resume_from is not None and hasattr(callback, "on_note"):
            callback.on_note(f"torchrun restarted the job: going on from the run saved in {resume_from}")
    if resume_from is not None:
        base = checkpoint.load(Path(resume_from))
        if not base.resume:
            raise CheckpointError(f"{resume_from} is a finished model, not an interrupted run: use --init-from to fine-tune it")
        cfg, state = base.config, base.resume["fit"]
    elif init_from is not None:
        base = checkpoint.load(Path(init_from))
        cfg = validate.replace(cfg, data=dataclasses.asdict(base.config.data), model=dataclasses.asdict(base.config.model))
    source = paths.file_identity(Path(data_path))  # once: for the checkpoint, a resume and the manifest
    data_sha = source["sha256"]
    if state is not None and data_sha != base.resume.get("data_sha256"):  # before reading: other data may not even parse
        raise CheckpointError(
            f"{Path(data_path).name} is not the data file of the run saved in {resume_from} "
            f"({base.info.get('data_file')}): a run resumes on the same data, byte for byte"
        )
    if base is not None:
        table = load_table_like(Path(data_path), base.schema, cfg.data, shard=shard, by_id=True)
    elif table is None:
        table = load_table(Path(data_path), cfg.data)
    try:
        ckpt, result = fit_table(table, cfg, callback, on_ready, base=base, resume=state, stop=stop, keep_rows=False)
    except Interrupted as e:
        if not isinstance(e, PeerLost):  # a stop asked for: every rank stops at the same step (the flag is summed)
            distributed.finish()
        path = resume_path(out_path)
        if not distributed.from_env().main:
            e.args = ("",)  # rank 0 saves the run, which is the same on every rank, and says where
            raise
        e.checkpoint.resume["data_sha256"] = data_sha
        e.checkpoint.resume["torchrun_run_id"] = os.environ.get("TORCHELASTIC_RUN_ID")  # for an elastic restart
        e.args = (f"training interrupted by {e.args[0]}; the run so far is saved in {path}: " + (
            "torchrun restarts the job from it" if _restarts_left() else
            f"continue it with grucast train {data_path} -o {out_path} --resume {path}"),)
        checkpoint.save(e.checkpoint, path, announce=False)  # the state to resume from: no result
        raise
    distributed.finish()  # the ranks are done with each other
    if not distributed.from_env().main:
        return result  # under torchrun only rank 0 judges and writes: the model is the same on every rank
    result.gate = gates.quality_gate(result.metrics, fail_if_worse_than)
    ckpt.info["data_sha256"] = data_sha
    result.data_file = source
    result.checkpoint_path = out_path
    result.seconds = time.perf_counter() - started
    described = None if manifest is None else (lambda identity: manifest(result, identity))
    staged = publish.Staged(out_path, checkpoint.writer(ckpt), manifest=described)
    if before_publish is not None:
        before_publish(result)
    publish.publish([staged])
    if resume_from is not None and Path(resume_from) == resume_path(out_path):
        try:
            Path(resume_from).unlink(missing_ok=True)  # finished: the saved run has served
        except OSError:
            pass  # a leftover state only offers a resume that is no longer needed
    return result


resume_path = paths.resume_path


def _restarts_left() -> bool:
    """Under torchrun with --max-restarts: whether it will start the job again after this attempt."""
    try:
        return int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return False


def _restarted(path: Path) -> Optional[Path]:
    """path, when this process is torchrun's restart of a failed job (TORCHELASTIC_RESTART_COUNT
    above 0) and path holds the run an earlier attempt of the same job saved (the same
    TORCHELASTIC_RUN_ID): an elastic restart goes on from it instead of starting again. A file
    another job left is not taken."""
    run = os.environ.get("TORCHELASTIC_RUN_ID")
    if not run or os.environ.get("TORCHELASTIC_RESTART_COUNT", "0").strip() in ("", "0") or not path.is_file():
        return None
    try:
        saved = checkpoint.load(path).resume
    except CheckpointError:
        return None
    return path if saved and saved.get("torchrun_run_id") == run else None
