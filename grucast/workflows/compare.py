"""`grucast backtest DATA --cell gru,lstm`: each cell backtested on the same windows, from the
same data read once, with several seeds; the runs side by side and a verdict
(evaluation.compare). The files are a backtest's, with a `cell` and a `seed` column: one row
set per run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from grucast.config import validate
from grucast.config.settings import CELLS, Config
from grucast.errors import ConfigError
from grucast.evaluation.compare import METRIC, CellRun, Comparison, judge
from grucast.ops import paths
from grucast.training.defaults import SMALL_DATA_WINDOWS
from grucast.training.loop import Callback
from grucast.training.runtime import select_device, set_threads
from grucast.workflows.backtest import EvaluationResult, Manifest, fit_forecast, plan_backtest, scored, write_outputs

MAX_SEEDS = 20


def cells_of(text: str) -> list[str]:
    """The cells of --cell gru,lstm, in the order given: ConfigError for an unknown or repeated
    one, or for fewer than two."""
    from grucast.config.names import suggest

    cells = [c.strip() for c in text.split(",")]
    for c in cells:
        if c not in CELLS:
            raise ConfigError(f"--cell {text}: '{c}' is not a cell; the cells are {', '.join(CELLS)}.{suggest(c, CELLS)}")
    if len(set(cells)) != len(cells) or len(cells) < 2:
        raise ConfigError(f"--cell {text}: a comparison names each cell once, e.g. --cell gru,lstm")
    return cells


def default_seeds(training_windows: int) -> int:
    """3 seeds on small data (below SMALL_DATA_WINDOWS training windows), where one network's
    score depends on its seed and training is quick; 1 above, where each run is long."""
    return 3 if training_windows < SMALL_DATA_WINDOWS else 1


def compare_cells(data_path: Path, cfg: Config, cells: list[str], seeds: Optional[int] = None, windows: int = 3,
                  stride: Optional[int] = None, refit: bool = False, callback: Optional[Callback] = None,
                  out_path: Optional[Path] = None, metrics_path: Optional[Path] = None,
                  manifest: Optional[Manifest] = None, config_path: Optional[Path] = None,
                  before_publish: Optional[Callable[[EvaluationResult], None]] = None) -> EvaluationResult:
    """Backtest every cell with `seeds` seeds (default_seeds when None) on the same windows.
    The seeds are cfg's seed, then one ensemble further each time (an ensemble of 3 with seed 0
    uses seeds 0-2, the next run 3-5), so no two runs share a network's seed. The result's
    overall holds each cell's metrics (mean over the seeds) and the baselines', its comparison
    the runs and the verdict."""
    started = time.perf_counter()
    if seeds is not None and not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds must be from 1 to {MAX_SEEDS}, got {seeds}")
    paths.run_paths(data=data_path, config=config_path, output=out_path, metrics=metrics_path, lock=False)
    for cell in cells:  # the settings each cell trains with, checked before anything is read
        validate.replace(cfg, model={"cell": cell})
    plan = plan_backtest(Path(data_path), cfg, windows, stride, refit)
    n = default_seeds(plan.training_windows) if seeds is None else seeds
    base, step = plan.cfg.training.seed, plan.cfg.model.ensemble
    seed_list = [base + i * step for i in range(n)]
    set_threads(plan.cfg.training.threads)
    dev = select_device(plan.cfg.training.device)
    _warm_up(plan, cells, dev)
    runs, results = [], []
    note = getattr(callback, "on_note", None)
    if note is not None and seeds is None:
        note(f"{n} seed(s) per cell (default for {plan.training_windows:,} training windows, "
             f"{'below' if n > 1 else 'at or above'} {SMALL_DATA_WINDOWS:,}; --seeds N to change)")
    for seed in seed_list:  # the cells in turns: what slows the machine down for a while slows both
        for cell in cells:
            if note is not None:
                note(f"{cell.upper()}, seed {seed}: run {len(runs) + 1} of {len(cells) * n}")
            run_cfg = validate.replace(plan.cfg, model={"cell": cell}, training={"seed": seed})
            fitted = fit_forecast(plan, run_cfg, dev, callback)
            res = scored(plan.table, plan.full, fitted.cfg, plan.org, fitted.f, plan.stride)
            runs.append(CellRun(cell=cell, seed=seed, metrics=res.overall["gru"], parameters=fitted.parameters,
                                train_seconds=fitted.train_seconds, epochs=fitted.epochs,
                                seconds_per_epoch=fitted.step_seconds / fitted.epochs if fitted.epochs else float("nan"),
                                forecast_seconds=fitted.forecast_seconds))
            results.append((cell, seed, res))
    baselines = {k: m.get(METRIC) for k, m in results[0][2].overall.items() if k != "gru"}  # the same for every run
    comparison = Comparison(cells=cells, seeds=seed_list, runs=runs, verdict=judge(runs, cells, METRIC, baselines))
    result = _combined(results, comparison)
    result.trainings = len(plan.rounds) * len(runs)
    result.train_seconds = sum(r.train_seconds for r in runs)
    result.seconds = time.perf_counter() - started
    write_outputs(result, out_path, metrics_path, manifest, before_publish)
    return result


def _warm_up(plan, cells: list[str], dev) -> None:
    """Pay the one-off costs of a process's first trainings before any run is timed, with a
    2-step training of one network of each cell, unscored: the first optimizer torch makes
    imports torch._dynamo, and the first run of a kernel sets up its threads and buffers. Without
    it the first run took 3.4 s against 0.6 s for the next on a small panel (this machine), a
    cost charged to whichever cell runs first. Every run sets its own seed, so this changes
    none of them."""
    for cell in cells:
        cfg = validate.replace(plan.cfg, model={"cell": cell, "ensemble": 1}, training={"max_steps": 2})
        fit_forecast(plan, cfg, dev, None)


def _combined(results: list[tuple[str, int, EvaluationResult]], comparison: Comparison) -> EvaluationResult:
    """One result of every run: overall holds each cell's mean metrics (keyed by cell) beside
    the baselines'; the per-series and forecast frames every run's rows, with a cell and a seed
    column after the ids."""
    first = results[0][2]
    summary = comparison.summary()
    overall = {cell: summary[cell]["metrics"] for cell in comparison.cells}
    overall.update({k: v for k, v in first.overall.items() if k != "gru"})

    def stacked(frames: list[tuple[str, int, pd.DataFrame]], at: int) -> pd.DataFrame:
        out = []
        for cell, seed, frame in frames:
            frame = frame.copy()
            frame.insert(at, "cell", cell)
            frame.insert(at + 1, "seed", np.int64(seed))
            out.append(frame)
        return pd.concat(out, ignore_index=True)

    ids = first.forecasts.columns.get_loc("cutoff")
    per_series = stacked([(c, s, r.per_series) for c, s, r in results], 1)
    forecasts = stacked([(c, s, r.forecasts) for c, s, r in results], ids)
    first.overall, first.per_series, first.forecasts, first.comparison = overall, per_series, forecasts, comparison
    first.skill = float("nan")
    return first
