"""Peak memory of loading, training and predicting a long CSV, and how it grows with the rows.

    python benchmarks/memory.py [--series 10000] [--lengths 100,1000] [--threads 2] [--max-steps 30]

For every length T, a long CSV of --series series x T hourly points is written, then three
separate processes run on it, each measured by its own peak resident set size (ru_maxrss of
the child): `grucast check` (reading and validating: the load step), `grucast train` (input 168,
horizon 24, a few optimizer steps: loading plus the training set-up, which is where
materialised windows would blow up) and `grucast predict`. 10,000 x 1,000 is 10 million rows;
the windows of one epoch are index arithmetic over one float32 array, where materialising them
would need 10 M x 168 x 4 B = 6.7 GB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _data import hourly_panel

L, H = 168, 24


def measured(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of cmd, read by a fresh python that starts it: ru_maxrss of
    RUSAGE_CHILDREN is the largest child waited for, so each command needs its own parent."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t0 = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)\n"
        "dt = time.perf_counter() - t0\n"
        "if r.returncode: sys.exit(r.stderr[-500:])\n"
        "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    r = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(cmd[2:4])} failed: {r.stderr.strip()[-500:]}")
    dt, mb = map(float, r.stdout.split())
    return dt, mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--lengths", default="100,1000", help="points per series, comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=30)
    a = ap.parse_args()
    base = [sys.executable, "-m", "grucast"]
    rows = []
    idle = measured([sys.executable, "-c", "import grucast.api, grucast.cli"])[1]
    print(f"python importing grucast (torch, pandas): {idle:.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for t in (int(x) for x in a.lengths.split(",")):
            data = tmp / f"panel{t}.csv"
            hourly_panel(data, a.series, t, seed=2)
            n_rows = a.series * t
            common = ["--horizon", str(H), "--input-size", str(L)]
            check = measured([*base, "check", str(data), *common])
            train = measured([*base, "train", str(data), "-o", str(tmp / "m.pt"), *common, "--hidden-size", "64",
                              "--max-steps", str(a.max_steps), "--device", "cpu", "--threads", str(a.threads), "-q"])
            pred = measured([*base, "predict", str(tmp / "m.pt"), str(data), "-o", str(tmp / "f.csv"), "--device", "cpu",
                             "--threads", str(a.threads), "-q"])
            rows.append((n_rows, data.stat().st_size / 1e6, check, train, pred))
            print(f"{n_rows:,} rows ({data.stat().st_size / 1e6:.0f} MB CSV): load (check) {check[1]:.0f} MB in {check[0]:.1f} s, "
                  f"train {train[1]:.0f} MB in {train[0]:.1f} s, predict {pred[1]:.0f} MB in {pred[0]:.1f} s", flush=True)
            data.unlink()
    print()
    print("| rows | CSV | load (check): peak RSS, time | train: peak RSS, time | predict: peak RSS, time |")
    print("|---|---|---|---|---|")
    for n_rows, mb, c, tr, p in rows:
        print(f"| {n_rows:,} | {mb:.0f} MB | {c[1]:.0f} MB, {c[0]:.1f} s | {tr[1]:.0f} MB, {tr[0]:.1f} s | {p[1]:.0f} MB, {p[0]:.1f} s |")
    if len(rows) > 1:
        (r0, _, c0, t0, p0), (r1, _, c1, t1, p1) = rows[0], rows[-1]
        per = lambda a0, a1: (a1 - a0) / ((r1 - r0) / 1e6)  # noqa: E731
        print(f"growth per million rows: load {per(c0[1], c1[1]):.0f} MB, train {per(t0[1], t1[1]):.0f} MB, "
              f"predict {per(p0[1], p1[1]):.0f} MB")


if __name__ == "__main__":
    main()
