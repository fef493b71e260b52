"""M4 Hourly (414 series, horizon 48) with grucast's default settings, scored with the official
sMAPE, MASE and OWA, beside seasonal naive computed here as a self-check.

    python benchmarks/m4_hourly.py [--data ../shared/data/m4] [--set training.max_steps=500 ...]

The seasonal-naive line must reproduce the published 13.912 / 1.193 / 0.627; if it does not, the
scoring is wrong and no figure below it means anything. Training runs on the CPU through the same
library calls as `grucast train` / `grucast predict`; the time printed is the wall time of each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from grucast import api
from grucast import config as config_mod

H, M = 48, 24
NAIVE2 = (18.383, 2.395)  # official Naive2 sMAPE and MASE for Hourly: the OWA reference
PUBLISHED = {
    "seasonal naive": (13.912, 1.193, 0.627),
    "M4 RNN benchmark": (14.698, 3.048, 1.036),
    "ES-RNN (winner)": (9.328, 0.893, 0.440),
    "MSTL (statsforecast)": (13.763, 1.102, 0.604),
}


def read_m4(folder: Path) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    train = pd.read_csv(folder / "Hourly-train.csv")
    test = pd.read_csv(folder / "Hourly-test.csv")
    ids = train.iloc[:, 0].astype(str).tolist()
    series = [row[~np.isnan(row)] for row in train.iloc[:, 1:].to_numpy(float)]
    y_test = test.iloc[:, 1:H + 1].to_numpy(float)
    assert test.iloc[:, 0].astype(str).tolist() == ids
    return ids, series, y_test


def score(series: list[np.ndarray], y: np.ndarray, f: np.ndarray) -> tuple[float, float, float]:
    """Official M4 scoring: per-series sMAPE and MASE (in-sample seasonal scale), averaged."""
    smapes = np.mean(200 * np.abs(y - f) / (np.abs(y) + np.abs(f)), axis=1)
    scales = np.array([np.mean(np.abs(x[M:] - x[:-M])) for x in series])
    mases = np.mean(np.abs(y - f), axis=1) / scales
    s, m = float(np.mean(smapes)), float(np.mean(mases))
    return s, m, 0.5 * (s / NAIVE2[0] + m / NAIVE2[1])


class Progress:
    """One line per validation check on stderr."""

    def on_start(self, total_steps, steps_per_epoch, windows_per_epoch):
        print(f"training: {windows_per_epoch:,} windows per epoch, at most {total_steps} steps", file=sys.stderr)

    def on_step(self, step):
        pass

    def on_eval(self, r):
        print(f"  step {r.step} epoch {r.epoch:.2f}: train {r.train_loss:.4f} val {r.val_loss:.4f}"
              f"{' *' if r.best else ''} {r.windows_per_s:.0f} w/s", file=sys.stderr, flush=True)

    def on_end(self, result):
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "m4")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a setting, e.g. --set model.hidden_size=32 (default: grucast's defaults)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    ids, series, y_test = read_m4(a.data)
    sn = np.stack([np.resize(x[-M:], H) for x in series])
    s, m, o = score(series, y_test, sn)
    print(f"seasonal naive (this script): sMAPE {s:.3f}  MASE {m:.3f}  OWA {o:.3f}   published 13.912 / 1.193 / 0.627")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        long = pd.concat([pd.DataFrame({"series_id": i, "step": np.arange(len(x)), "value": x}) for i, x in zip(ids, series)])
        long.to_csv(tmp / "train.csv", index=False)
        overrides = config_mod.parse_sets(a.set)
        overrides.setdefault("data", {})["season"] = M
        overrides.setdefault("model", {})["horizon"] = H
        overrides.setdefault("training", {}).setdefault("device", "cpu")
        overrides["training"].setdefault("seed", a.seed)
        cfg = config_mod.load(None, overrides)
        t0 = time.perf_counter()
        result = api.train(tmp / "train.csv", tmp / "m.pt", cfg, callback=Progress())
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = api.predict(tmp / "m.pt", tmp / "train.csv", device="cpu")
        t_pred = time.perf_counter() - t0

    fc = pred.forecasts
    order = {sid: i for i, sid in enumerate(fc["series_id"].drop_duplicates())}
    assert len(order) == len(ids), "every series must be forecast"
    f = fc["forecast"].to_numpy(float).reshape(len(order), H)[[order[i] for i in ids]]
    s2, m2, o2 = score(series, y_test, f)
    fr = result.fit
    c = result.config
    print(
        f"settings: input_size {c.model.input_size}, hidden {c.model.hidden_size} x {c.model.num_layers} layers, "
        f"batch {c.training.batch_size}, lr {c.training.learning_rate}, max_steps {c.training.max_steps}, "
        f"scaler {c.model.scaler}, loss {c.training.loss}, seed {c.training.seed}"
    )
    print(
        f"training: {fr.steps} steps ({fr.epochs:g} epochs, stopped by {fr.stop_reason}, best step {fr.best_step}), "
        f"{result.train_windows:,} windows/epoch, {fr.windows_per_s:,.0f} windows/s; train {t_train:.0f}s, predict {t_pred:.1f}s"
    )
    print(f"validation MASE: GRU {result.metrics['gru']['mase']:.3f}, seasonal naive {result.metrics['seasonal_naive']['mase']:.3f}")
    for name, (ps, pm, po) in PUBLISHED.items():
        print(f"  published {name:22s} sMAPE {ps:7.3f}  MASE {pm:6.3f}  OWA {po:.3f}")
    print(f"M4 Hourly grucast sMAPE {s2:.3f}  MASE {m2:.3f}  OWA {o2:.3f}  (train {t_train:.0f}s on CPU)")


if __name__ == "__main__":
    main()
