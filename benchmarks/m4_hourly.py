"""M4 Hourly (414 series, horizon 48) with grucast's default settings, scored with the official
sMAPE, MASE and OWA, beside seasonal naive computed here as a self-check.

    python benchmarks/m4_hourly.py [--data ../shared/data/m4] [--set training.max_steps=500 ...]
                                   [--seeds 0,1,2] [--series 0:414:40]

--series takes a Python slice of the 414 series (0:414:40 is every 40th from the first: 11
series), to see how the defaults do on a small panel; seasonal naive is then scored on the same
slice, so the published figures no longer apply.

The seasonal-naive line must reproduce the published 13.912 / 1.193 / 0.627; if it does not, the
scoring is wrong and no figure below it means anything. Training runs on the CPU through the same
library calls as `grucast train` / `grucast predict`; the time printed is the wall time of each.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _m4 import owa, per_series, pick, read_m4
from _progress import Progress

from grucast.config import files, settings
from grucast.workflows import backtest, predict
from grucast.workflows import train as workflows_train

H, M = 48, 24
NAIVE2 = (18.383, 2.395)  # official Naive2 sMAPE and MASE for Hourly: the OWA reference
PUBLISHED = {
    "seasonal naive": (13.912, 1.193, 0.627),
    "M4 RNN benchmark": (14.698, 3.048, 1.036),
    "ES-RNN (winner)": (9.328, 0.893, 0.440),
    "MSTL (statsforecast)": (13.763, 1.102, 0.604),
}


def score(series: list[np.ndarray], y: np.ndarray, f: np.ndarray) -> tuple[float, float, float]:
    """Official M4 scoring of Hourly (MASE with the in-sample seasonal scale, m = 24)."""
    return owa(per_series(series, y, f, M), NAIVE2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "m4")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a setting, e.g. --set model.hidden_size=32 (default: grucast's defaults)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default=None, help="several seeds, e.g. 0,1,2: one model each, and their ensemble")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--series", default=None, help="a slice of the series, START:STOP[:STEP], e.g. 0:414:40")
    ap.add_argument("--keep", type=Path, default=None, help="copy the (first seed's) model and training file here")
    a = ap.parse_args()
    seeds = [int(x) for x in a.seeds.split(",")] if a.seeds else [a.seed]

    ids, series, y_test = pick(a.series, *read_m4(a.data, "Hourly", H))
    if a.series:
        print(f"series {a.series}: {len(ids)} of 414")
    sn = np.stack([np.resize(x[-M:], H) for x in series])
    s, m, o = score(series, y_test, sn)
    print(f"seasonal naive (this script): sMAPE {s:.3f}  MASE {m:.3f}  OWA {o:.3f}   published 13.912 / 1.193 / 0.627")
    scales = np.array([np.mean(np.abs(x[M:] - x[:-M])) for x in series])

    forecasts = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        long = pd.concat([pd.DataFrame({"series_id": i, "step": np.arange(len(x)), "value": x}) for i, x in zip(ids, series)])
        long.to_csv(tmp / "train.csv", index=False)
        for seed in seeds:
            overrides = files.parse_sets(a.set)
            overrides.setdefault("data", {})["season"] = M
            overrides.setdefault("model", {})["horizon"] = H
            overrides.setdefault("training", {}).setdefault("device", "cpu")
            overrides["training"]["seed"] = seed
            cfg = files.load(None, overrides)
            t0 = time.perf_counter()
            result = workflows_train.train(tmp / "train.csv", tmp / "m.pt", cfg, callback=None if a.quiet else Progress())
            t_train = time.perf_counter() - t0
            t0 = time.perf_counter()
            pred = predict.predict(tmp / "m.pt", tmp / "train.csv", device=cfg.training.device)
            t_pred = time.perf_counter() - t0
            fc = pred.forecasts
            order = {sid: i for i, sid in enumerate(fc["series_id"].drop_duplicates())}
            assert len(order) == len(ids), "every series must be forecast"
            rows = np.array([order[i] for i in ids])

            def cols(name):
                return fc[name].to_numpy(float).reshape(len(order), H)[rows]

            f = cols("forecast")
            forecasts.append(f)
            if a.keep is not None and seed == seeds[0]:
                a.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(tmp / "m.pt", a.keep / "m.pt")
                shutil.copy(tmp / "train.csv", a.keep / "train.csv")
            s2, m2, o2 = score(series, y_test, f)
            fr, c = result.fit, result.config
            print(
                f"settings: input_size {c.model.input_size}, hidden {c.model.hidden_size} x {c.model.num_layers} layers, "
                f"batch {c.training.batch_size}, lr {c.training.learning_rate}, max_steps {c.training.max_steps}, "
                f"scaler {c.model.scaler}, loss {c.training.loss}, seed {c.training.seed}"
            )
            print(
                f"training: {fr.steps} steps ({fr.epochs:g} epochs, stopped by {fr.stop_reason}, best step {fr.best_step}), "
                f"{result.train_windows:,} windows/epoch, {fr.windows_per_s:,.0f} windows/s; train {t_train:.0f}s, "
                f"predict {t_pred:.1f}s"
            )
            print(f"validation MASE: GRU {result.metrics['gru']['mase']:.3f}, "
                  f"seasonal naive {result.metrics['seasonal_naive']['mase']:.3f}")
            for level in settings.interval_levels(c.model):
                lo, hi = cols(f"lo-{level:g}"), cols(f"hi-{level:g}")
                cover = 100 * np.mean((y_test >= lo) & (y_test <= hi))
                al = 1 - level / 100
                msis = np.mean(np.mean((hi - lo) + 2 / al * np.maximum(lo - y_test, 0) + 2 / al * np.maximum(y_test - hi, 0),
                                       axis=1) / scales)
                val = result.metrics.get("intervals", {}).get(f"{level:g}", {})
                print(f"{level:g}% intervals on the M4 test: coverage {cover:.1f}% (validation: {val.get('raw', float('nan')):.1f}% "
                      f"raw, {val.get('calibrated', float('nan')):.1f}% calibrated), MSIS {msis:.3f}")
            print(f"M4 Hourly grucast seed {seed}: sMAPE {s2:.3f}  MASE {m2:.3f}  OWA {o2:.3f}  "
                  f"(train {t_train:.0f}s on {cfg.training.device})", flush=True)
            if seed == seeds[0]:
                # The same scoring through `grucast evaluate`: the model on train + test, last window.
                full = pd.concat([long, pd.DataFrame({
                    "series_id": np.repeat(ids, H),
                    "step": np.concatenate([np.arange(len(x), len(x) + H) for x in series]),
                    "value": y_test.ravel()})])
                full.to_csv(tmp / "full.csv", index=False)
                ev = backtest.evaluate(tmp / "m.pt", tmp / "full.csv", device=cfg.training.device)
                g = ev.overall["gru"]
                print(f"grucast evaluate on train + test: sMAPE {g['smape']:.3f}  MASE {g['mase']:.3f}  "
                      f"OWA {0.5 * (g['smape'] / NAIVE2[0] + g['mase'] / NAIVE2[1]):.3f}  ({ev.windows} windows; "
                      f"seasonal naive MASE {ev.overall['seasonal_naive']['mase']:.3f})"
                      + "".join(f"; {k} {v:.1f}%" for k, v in g.items() if k.startswith("coverage_")), flush=True)
    for name, (ps, pm, po) in PUBLISHED.items():
        print(f"  published {name:22s} sMAPE {ps:7.3f}  MASE {pm:6.3f}  OWA {po:.3f}")
    if len(forecasts) > 1:
        for how, fn in (("mean", np.mean), ("median", np.median)):
            s3, m3, o3 = score(series, y_test, fn(np.stack(forecasts), axis=0))
            print(f"M4 Hourly grucast ensemble of {len(forecasts)} ({how}): sMAPE {s3:.3f}  MASE {m3:.3f}  OWA {o3:.3f}")


if __name__ == "__main__":
    main()
