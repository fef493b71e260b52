"""M4 Weekly (359 series of 80 to 2,597 points, horizon 13) with grucast's default settings,
scored with the official sMAPE, MASE (m = 1) and OWA, beside naive computed here as a self-check.

    python benchmarks/m4_weekly.py [--data ../shared/data/m4] [--set training.max_steps=500 ...]
                                   [--seeds 0,1,2] [--series 0:359:40] [--threads N]
    python benchmarks/m4_weekly.py --baselines-only      # the scoring self-check alone, in seconds

Weekly is M4's frequency with the shortest series: a model that needs more history than a series
has leaves it without a forecast. So besides the scores this reports coverage: how many series got
a forecast (and from which method, when the forecast frame has a `method` column), and how many
predict skipped. A series without a forecast is scored with the naive forecast as a stand-in, and
the scores are printed twice: over all 359 series (stand-ins included, and labelled so) and over
the series the model forecast alone, beside naive on the same series; likewise for the series of
at most 100 training points, where coverage matters.

The naive line (last value repeated; for Weekly Naive2 is naive) must reproduce the published
9.161 / 2.777 / 1.000; if it does not, the scoring is wrong and no figure below it means anything.
Seasonal naive with season 52 is printed for information only (M4's sNaive for Weekly used m = 1,
so its published figures are naive's). --series takes a Python slice of the 359 series (0:359:40
is every 40th from the first: 9 series); the baselines are then scored on the same slice, and the
published figures no longer apply. One model is trained per seed (each may itself be an ensemble
of networks, as the defaults choose), on the CPU through the same library calls as
`grucast train` / `grucast predict`; the time printed is the wall time of training.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _m4 import owa as m4_owa
from _m4 import per_series as m4_per_series
from _m4 import pick, read_m4
from _progress import Progress

from grucast.config import files
from grucast.workflows import predict
from grucast.workflows import train as workflows_train

N_ALL, H, M, SHORT = 359, 13, 52, 100
NAIVE2 = (9.161, 2.777)  # official Naive2 sMAPE and MASE for Weekly: the OWA reference
PUBLISHED = {
    "Theta": (9.093, 2.637, 0.971),
    "Damped": (8.866, 2.404, 0.917),
    "M4 RNN benchmark": (15.220, 5.132, 1.755),
    "ES-RNN (winner)": (7.817, 2.356, 0.851),
    "FFORMA (2nd)": (7.625, 2.108, 0.796),
    "Doornik et al. (best OWA)": (6.728, 2.302, 0.782),
}


def per_series(series: list[np.ndarray], y: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Official M4 scoring of Weekly, per series: [N, 2] of sMAPE and MASE (scale with m = 1)."""
    return m4_per_series(series, y, f, 1)


def owa(scores: np.ndarray, mask=slice(None)) -> tuple[float, float, float]:
    return m4_owa(scores, NAIVE2, mask)


def fmt(t: tuple[float, float, float]) -> str:
    return f"sMAPE {t[0]:7.3f}  MASE {t[1]:6.3f}  OWA {t[2]:.3f}"


def spread(name: str, v: list[float]) -> str:
    return f"{name} {np.mean(v):.3f} (min {min(v):.3f}, max {max(v):.3f}; sd {np.std(v, ddof=1):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "m4")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a setting, e.g. --set model.hidden_size=32 (default: grucast's defaults)")
    ap.add_argument("--seeds", default="0,1,2", help="one model per seed, and the ensemble of their forecasts (default 0,1,2)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--series", default=None, help="a slice of the series, START:STOP[:STEP], e.g. 0:359:40")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    ap.add_argument("--baselines-only", action="store_true", help="print the baselines and published figures, train nothing")
    a = ap.parse_args()
    seeds = [int(x) for x in a.seeds.split(",")]

    ids, series, y_test = read_m4(a.data, "Weekly", H)
    assert len(ids) == N_ALL
    ids, series, y_test = pick(a.series, ids, series, y_test)
    if a.series:
        print(f"series {a.series}: {len(ids)} of {N_ALL}; the published figures are for all {N_ALL} and do not apply")
    n, where = len(ids), {i: k for k, i in enumerate(ids)}
    short = np.array([len(x) <= SHORT for x in series])
    naive = np.stack([np.repeat(x[-1], H) for x in series])
    naive_sc = per_series(series, y_test, naive)
    snaive_sc = per_series(series, y_test, np.stack([x[-M:-M + H] for x in series]))
    rows = [("naive (computed)", owa(naive_sc), ""),
            ("seasonal naive, season 52 (computed)", owa(snaive_sc), "")]
    print(f"naive (this script):                     {fmt(rows[0][1])}   published 9.161 / 2.777 / 1.000")
    print(f"seasonal naive, season 52 (this script): {fmt(rows[1][1])}   (published sNaive used m = 1: naive's figures)")
    print(f"short series (<= {SHORT} training points): {short.sum()} of {n}" +
          (f"; naive on them {fmt(owa(naive_sc, short))}" if short.any() else ""))
    note = "" if a.series is None else f"all {N_ALL} series, not this slice"
    for name, p in PUBLISHED.items():
        print(f"  published {name:26s} {fmt(p)}" + (f"   ({note})" if note else ""))
        rows.append((f"{name} (published)", p, note))
    if a.baselines_only:
        return

    forecasts, per_seed, stand_ins = [], [], False
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
            if a.threads is not None:
                overrides["training"]["threads"] = a.threads
            cfg = files.load(None, overrides)
            t0 = time.perf_counter()
            result = workflows_train.train(tmp / "train.csv", tmp / "m.pt", cfg, callback=None if a.quiet else Progress())
            t_train = time.perf_counter() - t0
            pred = predict.predict(tmp / "m.pt", tmp / "train.csv", device=cfg.training.device, threads=a.threads)
            fc = pred.forecasts.copy()
            fc["series_id"] = fc["series_id"].astype(str)
            if "method" not in fc:
                fc["method"] = "gru"
            got = fc.groupby("series_id", sort=False)
            f, method = naive.copy(), np.full(n, "naive stand-in", dtype=object)
            for sid, g in got:
                assert len(g) == H, f"{sid}: {len(g)} forecast rows"
                f[where[sid]] = g["forecast"].to_numpy(float)
                method[where[sid]] = g["method"].iloc[0]
            forecasts.append(f)
            sc = per_series(series, y_test, f)
            covered = method != "naive stand-in"
            counts = pd.Series(method[covered]).value_counts()
            n_in = int(covered.sum())
            stand_ins |= n_in < n

            fr, c = result.fit, result.config
            stand = f", {n - n_in} naive stand-in{'s' * (n - n_in > 1)}" if n_in < n else ""
            per_seed.append(owa(sc))
            print(f"M4 Weekly grucast seed {seed}: {fmt(per_seed[-1])}  (all {n}{stand}; train {t_train:.0f}s)", flush=True)
            for note in result.config_notes:
                if "linear map" in note:  # the linear rival's verdict, when it was tried
                    print(f"  start: {note}")
            skipped = list(getattr(pred, "skipped", None) or [])  # older grucast: series without a forecast
            print(f"  coverage: {n_in} of {n} forecast (" + ", ".join(f"{k} {v}" for k, v in counts.items()) +
                  f"); predict skipped {len(skipped)}" + (f": {', '.join(skipped[:8])}" + " ..." * (len(skipped) > 8)
                                                        if skipped else ""))
            subsets = [(f"model-forecast ({n_in})", covered)]
            if set(counts.index) - {"gru"}:
                gru = method == "gru"
                subsets.append((f"gru-forecast ({int(gru.sum())})", gru))
            by = ", ".join(f"{k} {v}" for k, v in pd.Series(method[short]).value_counts().items())
            subsets.append((f"short <= {SHORT} ({int(short.sum())}: {by})", short))
            for label, mask in subsets:
                if mask.any():
                    print(f"  {label:32s} grucast {fmt(owa(sc, mask))} | naive {fmt(owa(naive_sc, mask))}")
            print(f"  training: {fr.steps} steps ({fr.epochs:.2f} epochs, stopped by {fr.stop_reason}, best step {fr.best_step}), "
                  f"{result.train_windows:,} windows/epoch, {len(result.short_series)} series too short for a training window")
            print(f"  settings: input_size {c.model.input_size}, hidden {c.model.hidden_size} x {c.model.num_layers}, "
                  f"lr {c.training.learning_rate}, ensemble {c.model.ensemble}, min_input {c.model.min_input}, "
                  f"max_steps {c.training.max_steps}")
            for msg in result.config_notes + pred.notes if seed == seeds[0] else pred.notes:
                print(f"  note: {msg}")
            rows.append((f"grucast seed {seed}", per_seed[-1], f"{n_in}/{n} forecast{stand}; {t_train:.0f}s"))

    if len(seeds) > 1:
        print(f"mean over {len(seeds)} seeds: " + spread("OWA", [r[2] for r in per_seed]))
        print(f"mean over {len(seeds)} seeds: " + spread("sMAPE", [r[0] for r in per_seed]))
        print(f"mean over {len(seeds)} seeds: " + spread("MASE", [r[1] for r in per_seed]))
        ens = owa(per_series(series, y_test, np.mean(np.stack(forecasts), axis=0)))
        print(f"M4 Weekly grucast ensemble (mean forecast) of {len(seeds)} seeds: {fmt(ens)}"
              + ("  (naive stand-ins where a seed had no forecast)" if stand_ins else ""))
        sd = np.std(per_seed, axis=0, ddof=1)
        rows.append((f"grucast mean ± sd of {len(seeds)} seeds", tuple(np.mean(per_seed, axis=0)), ""))
        rows.append((f"grucast ensemble of {len(seeds)} seeds", ens, "naive stand-ins included" if stand_ins else ""))

    print("\n| method | sMAPE | MASE | OWA | note |\n|---|---|---|---|---|")
    for name, t, note in rows:
        if name.startswith("grucast mean"):
            print(f"| {name} | {t[0]:.3f} ± {sd[0]:.3f} | {t[1]:.3f} ± {sd[1]:.3f} | {t[2]:.3f} ± {sd[2]:.3f} | |")
        else:
            print(f"| {name} | {t[0]:.3f} | {t[1]:.3f} | {t[2]:.3f} | {note} |")


if __name__ == "__main__":
    main()
