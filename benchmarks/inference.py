"""Inference speed: `grucast predict` on many series from a checkpoint, end to end (start-up,
reading the CSV, building the windows, the forward pass, writing the forecast file), as a
process a scheduler would start.

    python benchmarks/inference.py [--series 10000] [--length 200] [--hidden 64] [--layers 2] [--threads 2]

A model with input 168 and horizon 24 is trained briefly on the first 200 series (its accuracy
does not matter here), then `grucast predict MODEL DATA -o OUT.csv` forecasts all of them. The
time is split with the library's own calls in this process: reading + validating the file, the
rest of predict (windows, forward pass, calendar), and writing the CSV. Prints series/s, with
grucast's fused CPU GRU kernel (--kernel auto, the default) and with nn.GRU (--kernel reference),
in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from _cli import grucast
from _data import hourly_panel

L, H = 168, 24


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--length", type=int, default=200, help="points per series (at least 168 + 24 + 24 to train)")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch

    print(f"torch {torch.__version__}, {a.threads} threads; {a.series:,} series x {a.length} points, input {L}, "
          f"horizon {H}, GRU {a.layers} x {a.hidden}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data, small = tmp / "panel.csv", tmp / "small.csv"
        hourly_panel(data, a.series, a.length, seed=1)
        pd.read_csv(data, nrows=200 * a.length).to_csv(small, index=False)
        print(f"data: {data.stat().st_size / 1e6:.0f} MB CSV, {a.series * a.length:,} rows")
        grucast("train", str(small), "-o", str(tmp / "m.pt"), "--horizon", str(H), "--input-size", str(L),
                "--hidden-size", str(a.hidden), "--num-layers", str(a.layers), "--max-steps", "20", "--device", "cpu",
                "--ensemble", "1", "--threads", str(a.threads), "-q", "--no-manifest")  # one network: its speed
        t_version = grucast("--version")[1]
        times = {k: [grucast("predict", str(tmp / "m.pt"), str(data), "-o", str(tmp / f"f-{k}.csv"), "--device", "cpu",
                             "--threads", str(a.threads), "--kernel", k, "-q")[1] for _ in range(2)]
                 for k in ("auto", "reference")}
        out, ref = pd.read_csv(tmp / "f-auto.csv"), pd.read_csv(tmp / "f-reference.csv")
        assert len(out) == a.series * H, len(out)
        gap = float(((out.forecast - ref.forecast).abs() / ref.forecast.abs().clip(lower=1e-9)).max())

        # Where the time goes, with the library in this process (imports already paid).
        from grucast import checkpoint
        from grucast.data.table import load_table_like
        from grucast.data.write import frame_writer
        from grucast.ops.publish import Staged, publish
        from grucast.workflows import predict

        torch.set_num_threads(a.threads)
        ckpt = checkpoint.load(tmp / "m.pt")
        t0 = time.perf_counter()
        load_table_like(data, ckpt.schema, ckpt.config.data)
        t_read = time.perf_counter() - t0
        t_predict = {}
        for k in ("auto", "reference"):
            t0 = time.perf_counter()
            res = predict.predict(tmp / "m.pt", data, device="cpu", threads=a.threads, kernel=k)
            t_predict[k] = time.perf_counter() - t0
        t0 = time.perf_counter()
        publish([Staged(tmp / "g.csv", frame_writer(res.forecasts, tmp / "g.csv"))])
        t_write = time.perf_counter() - t0

    for k, name in (("auto", "fused kernel (default)"), ("reference", "nn.GRU (--kernel reference)")):
        t = times[k]
        print(f"grucast predict, {name}, whole process: {t[0]:.2f} s, {t[1]:.2f} s -> {a.series / min(t):,.0f} series/s "
              f"({a.series:,} series, {a.series * H:,} forecast rows); in-process predict without writing "
              f"{t_predict[k]:.2f} s, of which windows + forward pass about {t_predict[k] - t_read:.2f} s")
    print(f"  common to both: python + imports (grucast --version) {t_version:.2f} s; reading + validating the CSV "
          f"{t_read:.2f} s; writing the CSV {t_write:.2f} s. Largest relative difference between the two forecast "
          f"files: {gap:.1e}")


if __name__ == "__main__":
    main()
