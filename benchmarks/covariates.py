"""Do covariates pay? Synthetic hourly panel whose target depends strongly on a promotion flag
known ahead (a future covariate) and on a categorical region (a static covariate), trained
through the `grucast` command with and without them, same seed and budget.

    python benchmarks/covariates.py [--series 80] [--length 504] [--max-steps 600] [--seed 0]
                                    [--keep DIR] [--threads 1]

The data (generator seed fixed by --data-seed): every series has a level, a daily shape chosen by
its region (peak at a region-specific hour, region-specific amplitude) and a promotion flag that
is on in random blocks of 4 to 12 hours (about 15 % of the time). A promotion multiplies demand
by 1 + lift, and the lift depends on the region (0.3 to 1.5). The last `horizon` (24) points of
every series are the test part, never shown to training. Model (a) is trained with
`--future-cols promo --static-cols region` and predicts from a file whose last 24 rows per series
carry the promotion flag and an empty target; model (b) sees only the target (calendar features
are on in both, as by default). Both are scored with MASE: mean absolute error over the test
horizon divided by the in-sample mean absolute seasonal difference (season 24), averaged over
series. Seasonal naive is scored the same way for reference.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from _cli import grucast

H, M = 24, 24
REGIONS = {  # name: (peak hour, daily amplitude, promotion lift)
    "north": (8, 0.6, 0.3),
    "south": (13, 0.3, 0.7),
    "east": (18, 0.8, 1.1),
    "west": (22, 0.45, 1.5),
}


def make_data(n_series: int, length: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = list(REGIONS)
    frames = []
    for i in range(n_series):
        region = names[i % len(names)]
        peak, amp, lift = REGIONS[region]
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=int(rng.integers(0, 24 * 14)))
        t = pd.date_range(start, periods=length, freq="h")
        hour = t.hour.to_numpy()
        level = float(rng.uniform(20, 200))
        shape = 1 + amp * np.cos(2 * np.pi * (hour - peak) / 24)
        promo = np.zeros(length)
        k = int(rng.integers(0, 24))
        while k < length:  # blocks of 4-12 promoted hours, about 15 % of the time
            d = int(rng.integers(4, 13))
            promo[k:k + d] = 1
            k += d + int(rng.integers(20, 80))
        noise = rng.normal(0, 0.05, length)
        y = level * shape * (1 + lift * promo) * (1 + noise)
        frames.append(pd.DataFrame({
            "series_id": f"s{i:03d}", "timestamp": t, "value": np.round(y, 3),
            "promo": promo.astype(int), "region": region,
        }))
    return pd.concat(frames, ignore_index=True)


def mase(hist: dict[str, np.ndarray], y: dict[str, np.ndarray], f: dict[str, np.ndarray]) -> float:
    out = []
    for sid, x in hist.items():
        scale = np.mean(np.abs(x[M:] - x[:-M]))
        out.append(np.mean(np.abs(y[sid] - f[sid])) / scale)
    return float(np.mean(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=80)
    ap.add_argument("--length", type=int, default=504, help="points per series, test part included")
    ap.add_argument("--max-steps", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0, help="grucast's training seed")
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="keep the work folder (data, models, forecasts) here")
    a = ap.parse_args()

    df = make_data(a.series, a.length, a.data_seed)
    df["k"] = df.groupby("series_id").cumcount()
    test = df["k"] >= a.length - H
    train_df = df[~test].drop(columns="k")
    pred_df = df.drop(columns="k").copy()
    pred_df.loc[test.to_numpy(), "value"] = np.nan  # future rows: promo and region known, target empty
    hist = {s: g["value"].to_numpy() for s, g in train_df.groupby("series_id")}
    y_test = {s: g["value"].to_numpy() for s, g in df[test].groupby("series_id")}
    print(f"data: {a.series} hourly series x {a.length} points, last {H} of each held out; "
          f"promo on {df['promo'].mean():.1%} of hours ({df.loc[test, 'promo'].mean():.1%} of test hours)")

    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="grucast-cov-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        train_df.to_csv(work / "train.csv", index=False)
        pred_df.to_csv(work / "predict.csv", index=False)
        common = ["--time-col", "timestamp", "--id-col", "series_id", "--target", "value", "--horizon", str(H),
                  "--max-steps", str(a.max_steps), "--seed", str(a.seed), "--threads", str(a.threads),
                  "--device", "cpu", "-q", "--json"]
        variants = {
            "with covariates": ["--future-cols", "promo", "--static-cols", "region"],
            "without covariates": [],
        }
        sn = {s: np.resize(x[-M:], H) for s, x in hist.items()}
        rows = [("seasonal naive", mase(hist, y_test, sn), None, None, None)]
        for name, extra in variants.items():
            tag = "a" if extra else "b"
            out, t_train = grucast("train", str(work / "train.csv"), "-o", str(work / f"{tag}.pt"), *common, *extra)
            res = json.loads(out)
            tr = res["training"]
            val = res["metrics"]["gru"]["mase"]
            _, t_pred = grucast("predict", str(work / f"{tag}.pt"), str(work / "predict.csv"),
                                "-o", str(work / f"{tag}.csv"), "--threads", str(a.threads), "--device", "cpu", "-q")
            fc = pd.read_csv(work / f"{tag}.csv")
            f = {s: g["forecast"].to_numpy() for s, g in fc.groupby("series_id")}
            assert set(f) == set(hist) and all(len(v) == H for v in f.values()), "every series must be forecast"
            assert all((g["timestamp"].to_numpy() == df.loc[test & (df["series_id"] == s), "timestamp"]
                        .dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy()).all() for s, g in fc.groupby("series_id")), \
                "forecast timestamps must be the test timestamps"
            score = mase(hist, y_test, f)
            print(f"{name}: {tr['steps']} steps ({tr['epochs']:.2f} epochs, stopped by {tr['stop_reason']}, best step "
                  f"{tr['best_step']}), {res['windows']['train_per_epoch']:,} windows/epoch, "
                  f"{tr['windows_per_s']:.0f} windows/s; train {t_train:.0f}s, predict {t_pred:.1f}s; "
                  f"validation MASE {val:.3f}", flush=True)
            rows.append((name, score, val, t_train, t_pred))
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("| model | test MASE | validation MASE | train s |")
    print("|---|---|---|---|")
    for name, score, val, t, _ in rows:
        print(f"| {name} | {score:.3f} | {'–' if val is None else f'{val:.3f}'} | {'–' if t is None else f'{t:.0f}'} |")
    with_, without = rows[1][1], rows[2][1]
    print(f"\ntest MASE with / without covariates: {with_:.3f} / {without:.3f} = {with_ / without:.3f}")


if __name__ == "__main__":
    main()
