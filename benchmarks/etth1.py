"""ETTh1: forecast OT (oil temperature) with the six load columns as past covariates, against the
same model on OT alone, trained end to end through the `grucast` command and scored on every
window of the standard test split, on standardised values as the published tables are.

    python benchmarks/etth1.py [--horizons 24,96] [--input-sizes 168,336] [--max-steps N]
                               [--seeds 0,1,2] [--threads 1] [--intervals 80,95] [--variants cov,uni]
                               [--train-args "--lr 0.001"] [--device cpu|cuda] [--keep DIR]

Standard split (see ../shared/data/README.md): train rows [0, 8640), val [8640 - L, 11520), test
[11520 - L, 14400), L the look-back. grucast trains on rows [0, 11520) with --val-size 2880, so
its validation part (early stopping, best weights) is exactly the standard val part and no
training target reaches it. The test windows are all of them, stride 1: forecast starts
11520 ... 14400 - H, their inputs from the rows before. Forecasts come from `grucast evaluate
MODEL rows[0, 14400) --windows W --stride 1`, the intervals calibrated as predict writes them;
errors are divided by the standard
deviation of OT over the train rows (StandardScaler, ddof 0), so MSE and MAE are on the scaled
values. Repeat (the last input value) is computed on the same windows as a self-check: it must
give the README's 0.034 / 0.139 (H 24) and 0.069 / 0.203 (H 96).

`--data ../shared/data/ett/ETTh2.csv` runs the same protocol on ETTh2 (no published figures are
printed for it; Repeat is computed). Without --max-steps, grucast's own defaults decide the budget.

The data is CC BY-ND 4.0: it is read from ../shared/data and only temporary row subsets are
written, under a temporary folder (or --keep DIR).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _cli import grucast

TRAIN_END, VAL_END, TEST_END = 8640, 11520, 14400
LOADS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]
# Univariate ETTh1 (features=S), MSE / MAE, from ../shared/data/README.md.
PUBLISHED = {
    24: {"Informer (Informer T1)": (0.098, 0.247), "LSTMa (Informer T1)": (0.114, 0.272),
         "DeepAR (Informer T1)": (0.107, 0.280), "ARIMA (Informer T1)": (0.108, 0.284),
         "Prophet (Informer T1)": (0.115, 0.275)},
    96: {"NLinear (DLinear T1)": (0.053, 0.177), "DLinear (DLinear T1)": (0.056, 0.180),
         "Linear (DLinear T1)": (0.189, 0.359), "FEDformer-f (DLinear T1)": (0.079, 0.215),
         "Autoformer (DLinear T1)": (0.071, 0.206), "Informer (DLinear T1)": (0.193, 0.377)},
    192: {"NLinear (DLinear T1)": (0.069, 0.204)},
    336: {"NLinear (DLinear T1)": (0.081, 0.226)},
    720: {"NLinear (DLinear T1)": (0.080, 0.226)},
}
REPEAT = {24: (0.034, 0.139), 48: (0.050, 0.171), 96: (0.069, 0.203), 168: (0.087, 0.229)}


def rolling_forecasts(model_path: Path, data_path: Path, H: int, work: Path, threads: int) -> dict[str, np.ndarray]:
    """Every column of `grucast evaluate` ('forecast', 'lo-80', ...) as [W, H] for every forecast
    start in [VAL_END, TEST_END - H], oldest first: the model scored from the command line."""
    windows = TEST_END - H + 1 - VAL_END
    out = work / "windows.parquet"
    grucast("evaluate", str(model_path), str(data_path), "--windows", str(windows), "--stride", "1",
            "-o", str(out), "--threads", str(threads), "--device", "cpu", "-q")
    fc = pd.read_parquet(out).sort_values(["window", "date"], ascending=[False, True])
    assert len(fc) == windows * H, (len(fc), windows, H)
    return {c: fc[c].to_numpy(np.float64).reshape(windows, H)
            for c in fc.columns if c == "forecast" or c.startswith(("lo-", "hi-"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "ett" / "ETTh1.csv")
    ap.add_argument("--horizons", default="24", help="comma-separated, e.g. 24,96")
    ap.add_argument("--input-sizes", default="168", help="look-back per horizon, comma-separated, e.g. 168,336")
    ap.add_argument("--max-steps", type=int, default=None, help="grucast's default budget when left out")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds, e.g. 0,1,2; a mean row per model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--intervals", default=None, help="train quantile models with these intervals, e.g. 80,95, "
                    "and report their coverage on the test windows")
    ap.add_argument("--train-args", default="", help="more grucast train flags, e.g. \"--lr 0.001 --hidden-size 32\"")
    ap.add_argument("--variants", default="cov,uni", help="cov (past covariates), uni (OT only), or both")
    ap.add_argument("--keep", type=Path, default=None, help="keep the work folder (row subsets, models) here")
    a = ap.parse_args()
    horizons = [int(x) for x in a.horizons.split(",")]
    inputs = [int(x) for x in a.input_sizes.split(",")]
    if len(inputs) == 1:
        inputs *= len(horizons)
    assert len(inputs) == len(horizons), "one --input-sizes value per horizon"

    raw = pd.read_csv(a.data)
    assert list(raw.columns) == ["date", *LOADS, "OT"] and len(raw) == 17420, "not an ETTh*.csv of ../shared/data"
    etth1 = Path(a.data).name == "ETTh1.csv"
    seeds = [int(x) for x in a.seeds.split(",")]
    ot = raw["OT"].to_numpy(np.float64)
    mu, sd = ot[:TRAIN_END].mean(), ot[:TRAIN_END].std()
    print(f"OT over the train rows: mean {mu:.4f}, std {sd:.4f}")

    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="grucast-etth1-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        raw.iloc[:VAL_END].to_csv(work / "train.csv", index=False)  # rows [0, 11520): train + val
        raw.iloc[:TEST_END].to_csv(work / "eval.csv", index=False)  # rows [0, 14400): history of every test window
        for H, L in zip(horizons, inputs):
            t = np.arange(VAL_END, TEST_END - H + 1)
            y = ot[t[:, None] + np.arange(H)]
            rep = np.repeat(ot[t - 1][:, None], H, axis=1)
            e = (rep - y) / sd
            results.append((H, L, "Repeat (this script)", float(np.mean(e ** 2)), float(np.mean(np.abs(e))), None, None))
            variants = [("grucast, past covariates", ["--past-cols", ",".join(LOADS)]), ("grucast, OT only", [])]
            variants = [v for v in variants if ("cov" if v[1] else "uni") in a.variants.split(",")]
            member_forecasts: dict[str, list[np.ndarray]] = {}
            for (name, extra), seed in ((v, seed) for v in variants for seed in seeds):
                if a.intervals:
                    extra = [*extra, "--intervals", a.intervals]
                model = work / f"h{H}_{'cov' if extra else 'uni'}_s{seed}.pt"
                budget = ["--max-steps", str(a.max_steps)] if a.max_steps else []
                cmd = ["train", str(work / "train.csv"), "-o", str(model), "--time-col", "date",
                       "--target", "OT", "--horizon", str(H), "--input-size", str(L), "--val-size", str(VAL_END - TRAIN_END),
                       *budget, "--seed", str(seed), "--threads", str(a.threads),
                       "--device", a.device, "-q", "--json", *a.train_args.split(), *extra]
                out, t_train = grucast(*cmd)
                res = json.loads(out)
                tr = res["training"]
                t0 = time.perf_counter()
                cols = rolling_forecasts(model, work / "eval.csv", H, work, a.threads)
                t_eval = time.perf_counter() - t0
                f = cols["forecast"]  # the median for a quantile model
                label = f"{name}, seed {seed}"
                for level in (float(x) for x in a.intervals.split(",")) if a.intervals else ():
                    lo, hi = cols[f"lo-{level:g}"], cols[f"hi-{level:g}"]
                    val = res["metrics"].get("intervals", {}).get(f"{level:g}", {})
                    print(f"H {H}, {label}: {level:g}% intervals cover {100 * np.mean((y >= lo) & (y <= hi)):.1f}% "
                          f"of the test points (validation: {val.get('raw', float('nan')):.1f}% raw, "
                          f"{val.get('calibrated', float('nan')):.1f}% calibrated)", flush=True)
                e = (f - y) / sd
                mse, mae = float(np.mean(e ** 2)), float(np.mean(np.abs(e)))
                print(f"H {H}, L {L}, {label}: hidden {res['config']['model']['hidden_size']}, lr "
                      f"{res['config']['training']['learning_rate']:g}, {tr['steps']} steps ({tr['epochs']:.2f} epochs, stopped by "
                      f"{tr['stop_reason']}, best step {tr['best_step']}), {res['windows']['train_per_epoch']:,} "
                      f"windows/epoch, {res['windows']['validation']:,} validation windows, {tr['windows_per_s']:.0f} "
                      f"windows/s; train {t_train:.0f}s, {len(t)} test windows in {t_eval:.1f}s; test MSE {mse:.4f} "
                      f"MAE {mae:.4f}", flush=True)
                results.append((H, L, label, mse, mae, t_train, res["metrics"]["gru"]["mae"] / sd))
                member_forecasts.setdefault(name, []).append(f)
            if len(seeds) > 1:
                for name, _ in variants:
                    rows = [r for r in results if r[0] == H and r[2].startswith(name + ", seed")]
                    results.append((H, L, f"{name}, mean of {len(rows)} seeds", float(np.mean([r[3] for r in rows])),
                                    float(np.mean([r[4] for r in rows])), None, None))
                    # The seeds' forecasts averaged point by point: what an ensemble of them gives.
                    e = (np.mean(member_forecasts[name], axis=0) - y) / sd
                    results.append((H, L, f"{name}, mean forecast of {len(rows)} seeds", float(np.mean(e ** 2)),
                                    float(np.mean(np.abs(e))), None, None))
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("| horizon | look-back | model | test MSE | test MAE | val MAE (scaled) | train s |")
    print("|---|---|---|---|---|---|---|")
    for H, L, name, mse, mae, secs, val in results:
        print(f"| {H} | {L} | {name} | {mse:.4f} | {mae:.4f} | {'–' if val is None else f'{val:.3f}'} | "
              f"{'–' if secs is None else f'{secs:.0f}'} |")
        if name.startswith("Repeat") and H in REPEAT and etth1:
            print(f"| {H} | – | Repeat (README, computed) | {REPEAT[H][0]:.3f} | {REPEAT[H][1]:.3f} | – | – |")
    for H in horizons if etth1 else ():
        for name, (mse, mae) in PUBLISHED.get(H, {}).items():
            print(f"| {H} | published | {name} | {mse:.3f} | {mae:.3f} | – | – |")


if __name__ == "__main__":
    main()
