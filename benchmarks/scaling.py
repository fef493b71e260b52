"""Data-parallel training under torchrun: speed per added process, and memory per rank.

    python benchmarks/scaling.py [--series 1000] [--length 1000] [--steps 150] [--skip-speed]
                                 [--memory-series 10000] [--memory-length 1000] [--skip-memory]

Speed: one long CSV of --series hourly series x --length points; `grucast train` (input 168,
horizon 24, hidden 64, batch 256, --steps optimizer steps, no early stop) as 1 process x 1
thread, 1 process x 2 threads and 2 processes x 1 thread (torchrun --standalone), each
reporting its training windows per second (the global batch's windows over the time spent in
training steps, validation left out; rank 0's `--json`). Scaling efficiency per added process
is windows/s of N processes / (N x windows/s of one process with one thread each); the ratio
2 x 1 / 1 x 2 says whether processes beat threads on the same cores. With a GPU
(torch.cuda.is_available()), the same is run on the GPUs: 1 process on one GPU against one
process per GPU (or 2 processes sharing the one GPU there is).

Memory: the 10 M-row panel (--memory-series x --memory-length), `grucast train` for 30 steps
as 1 process and as 2 torchrun ranks of 1 thread, each rank's peak resident set size read by
the rank itself (ru_maxrss of RUSAGE_SELF, written when its command ends), and 2 and 4 ranks
with --shard-data, where each parses only its shard's rows and keeps only its own series. Each
is also run on 40 series of the same length: what a rank costs whatever the data (torch, the
network, the process group), which is taken off to give the memory of the data a rank holds.
Then the same panel as one Parquet file (a row group per series, as a file sorted by id is
written): 1 process, and 2 and 4 ranks with --shard-data, each reading only its series' row
groups; and `grucast predict` of it with the model just trained: 1 process, 2 ranks each reading
the whole file, and 2 and 4 ranks with --shard-data.

Run it alone: two torch processes on 2 cores beside another job measure the other job.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from _data import hourly_panel

L, H = 168, 24
RANK_WRAPPER = """
import os, resource, runpy, sys
from pathlib import Path
try:
    sys.argv = ["grucast", *sys.argv[1:]]
    runpy.run_module("grucast", run_name="__main__")
finally:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(os.environ["RSS_DIR"], f"rank{os.environ.get('RANK', '0')}").write_text(f"{rss:.0f}")
"""


def run(cmd: list[str], env: dict[str, str]) -> tuple[str, float]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return p.stdout, time.perf_counter() - t0


def launcher(procs: int, module_or_script: list[str]) -> list[str]:
    """python [-m torch.distributed.run --standalone --nproc-per-node procs] ..."""
    if procs == 1:
        return [sys.executable, *module_or_script]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
            *module_or_script]


def speed(data: Path, out: Path, procs: int, threads: int, steps: int, device: str) -> float:
    """Training windows per second of `grucast train` as procs processes of threads threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    args = ["train", str(data), "-o", str(out), "--input-size", str(L), "--horizon", str(H), "--hidden-size", "64",
            "--batch-size", "256", "--max-steps", str(steps), "--patience", "1000", "--ensemble", "1",
            "--anchor", "none", "--device", device, "--threads", str(threads), "--json", "-q"]
    stdout, _ = run(launcher(procs, ["-m", "grucast", *args]), env)
    return float(json.loads(stdout)["training"]["windows_per_s"])


def memory(data: Path, out: Path, procs: int, tmp: Path, shard_data: bool = False, tag: str = "",
           model: Optional[Path] = None) -> tuple[list[float], float]:
    """(peak RSS of every rank in MB, seconds) of a 30-step `grucast train` as procs ranks, or
    with model, of `grucast predict MODEL DATA -o OUT`."""
    rss = tmp / f"rss{tag}{procs}{'s' if shard_data else ''}"
    rss.mkdir()
    wrapper = tmp / "rank_rss.py"
    wrapper.write_text(RANK_WRAPPER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RSS_DIR": str(rss)}
    if model is not None:
        args = ["predict", str(model), str(data), "-o", str(out), "--device", "cpu", "--threads", "1", "-q"]
    else:
        args = ["train", str(data), "-o", str(out), "--input-size", str(L), "--horizon", str(H), "--hidden-size", "64",
                "--max-steps", "30", "--batch-size", "256", "--ensemble", "1", "--anchor", "none", "--device", "cpu",
                "--threads", "1", "-q"]
    args += ["--shard-data"] if shard_data else []
    _, secs = run(launcher(procs, [str(wrapper), *args]), env)
    return [float((rss / f"rank{r}").read_text()) for r in range(procs)], secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--memory-series", type=int, default=10_000)
    ap.add_argument("--memory-length", type=int, default=1000)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    a = ap.parse_args()
    import torch

    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, "
          f"{torch.cuda.device_count() if torch.cuda.is_available() else 0} GPU(s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not a.skip_speed:
            speeds(tmp, a)
        if not a.skip_memory:
            memories(tmp, a)


def speeds(tmp: Path, a: argparse.Namespace) -> None:
    import torch

    data = tmp / "panel.csv"
    hourly_panel(data, a.series, a.length, seed=3)
    print(f"speed: {a.series:,} series x {a.length:,} points, {a.steps} steps of 256 windows", flush=True)
    wps = {}
    for procs, threads in ((1, 1), (1, 2), (2, 1)):
        wps[procs, threads] = speed(data, tmp / "m.pt", procs, threads, a.steps, "cpu")
        print(f"  CPU {procs} process(es) x {threads} thread(s): {wps[procs, threads]:,.0f} windows/s", flush=True)
    print(f"  scaling efficiency of the second process: {wps[2, 1] / (2 * wps[1, 1]):.2f}; 2 x 1 against 1 x 2 "
          f"threads: {wps[2, 1] / wps[1, 2]:.2f}", flush=True)
    if torch.cuda.is_available():
        n = max(2, torch.cuda.device_count())
        one = speed(data, tmp / "m.pt", 1, 1, a.steps, "cuda")
        many = speed(data, tmp / "m.pt", n, 1, a.steps, "cuda")
        print(f"  GPU 1 process: {one:,.0f} windows/s; {n} processes on {torch.cuda.device_count()} GPU(s): "
              f"{many:,.0f} windows/s, efficiency {many / (n * one):.2f}", flush=True)
    data.unlink()


def memories(tmp: Path, a: argparse.Namespace) -> None:
    data = tmp / "big.csv"
    hourly_panel(data, a.memory_series, a.memory_length, seed=2)
    tiny = tmp / "tiny.csv"  # what a rank costs whatever the data: torch, the network, the process group
    hourly_panel(tiny, 40, a.memory_length, seed=2)
    rows = a.memory_series * a.memory_length
    print(f"memory: {rows:,} rows ({data.stat().st_size / 1e6:.0f} MB CSV), 30 steps, 1 thread a rank; 'data' is the "
          f"peak above the same command's on 40 series", flush=True)
    data_mb = {}
    for procs, shard_data in ((1, False), (2, False), (2, True), (4, True)):
        ranks, secs = memory(data, tmp / "big.pt", procs, tmp, shard_data)
        fixed, _ = memory(tiny, tmp / "tiny.pt", procs, tmp, shard_data, tag="t")
        data_mb[procs, shard_data] = max(r - f for r, f in zip(ranks, fixed))
        say(f"CSV, {procs} process(es)", shard_data, ranks, secs, fixed, data_mb[1, False])
    import pyarrow.csv
    import pyarrow.parquet as pq

    parquet = tmp / "big.parquet"
    pq.write_table(pyarrow.csv.read_csv(data), parquet, row_group_size=a.memory_length)
    data.unlink()
    print(f"  the same as Parquet: {parquet.stat().st_size / 1e6:.0f} MB, {a.memory_series:,} row groups", flush=True)
    for procs, shard_data in ((1, False), (2, True), (4, True)):
        ranks, secs = memory(parquet, tmp / "big.pt", procs, tmp, shard_data, tag="p")
        say(f"Parquet, {procs} process(es)", shard_data, ranks, secs)
    for procs, shard_data in ((1, False), (2, False), (2, True), (4, True)):
        ranks, secs = memory(parquet, tmp / "f.csv", procs, tmp, shard_data, tag="f", model=tmp / "big.pt")
        say(f"predict, Parquet, {procs} process(es)", shard_data, ranks, secs)


def say(what: str, shard_data: bool, ranks: list[float], secs: float, fixed: Optional[list[float]] = None,
        one: Optional[float] = None) -> None:
    line = (f"  {what}{' --shard-data' if shard_data else ''}: peak RSS "
            + ", ".join(f"rank {r} {mb:,.0f} MB" for r, mb in enumerate(ranks))
            + f" ({sum(ranks):,.0f} MB in all), {secs:.0f} s")
    if fixed is not None:
        most = max(r - f for r, f in zip(ranks, fixed))
        line += f"; on 40 series {max(fixed):,.0f} MB a rank, so data {most:,.0f} MB a rank at most"
        if one and len(ranks) > 1:
            line += f" ({most / one:.2f} of one process's)"
    print(line, flush=True)


if __name__ == "__main__":
    main()
