"""A year of nightly runs of `grucast monitor`: does a night's run stay flat as the history grows?

    python benchmarks/monitor.py [--nights 365] [--series 414] [--every 30]
    python benchmarks/monitor.py --replay WORK [--early 60]

M4 Hourly-like data (synthetic: --series hourly series with a daily and a weekly cycle, a
trend and noise, as M4 Hourly's 414; horizon 48, season 24). A model is trained once on the
first 30 days; then every night `grucast predict` forecasts from the feed as it stands (the
last 30 days: a rolling feed, as a nightly export keeps), and `grucast monitor` scores the
forecasts of the last three nights (those whose actuals may have arrived) against the feed and
adds them to one history folder, with the gates on. Both run in this process, through the CLI,
as cron would run them (but without the interpreter's start-up). Printed every --every nights:
the history's rows and parts, monitor's wall and CPU time that night (the CPU time, of all its
threads, is the figure to compare when the machine is busy), predict's time, and the peak resident
memory of the same monitor command run again as a process of its own (it adds nothing then,
but reads what the night's run read). Run it alone: the times are the result.

--replay WORK (the folder a year's run left, named in its first line) takes the same
comparison on a quiet machine, head to head: monitor's last night on the whole history against
night --early + 1 on a copy of the history as it stood then (its index cut to the parts written
by then), 3 times each, alternating; the CPU times of each are printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def data(series: int, days: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    level = rng.lognormal(6, 1, series)[:, None]
    y = level * (1 + 0.3 * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6, (series, 1)))
                 + 0.1 * np.sin(2 * np.pi * t / 168) + 0.0002 * t) * (1 + rng.normal(0, 0.03, (series, len(t))))
    ids = np.repeat([f"H{i}" for i in range(series)], len(t))
    stamps = np.tile(pd.date_range("2024-01-01", periods=len(t), freq="h").to_numpy(), series)
    return pd.DataFrame({"series_id": ids, "timestamp": stamps, "value": y.ravel().round(3)})


def cli(*args) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from grucast.cli.app import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--series", type=int, default=414)
    ap.add_argument("--every", type=int, default=30)
    ap.add_argument("--replay", type=Path, default=None)
    ap.add_argument("--early", type=int, default=60)
    args = ap.parse_args()
    if args.replay is not None:
        replay(args.replay, args.early)
        return
    window = 30 * 24  # the rolling feed's hours
    full = data(args.series, 30 + args.nights + 3)
    hours = full.groupby("series_id").cumcount().to_numpy()
    work = Path(tempfile.mkdtemp(prefix="grucast-monitor-"))
    full[hours < window].to_csv(work / "train.csv", index=False)
    code, _, err = cli("train", work / "train.csv", "-o", work / "m.pt", "--horizon", 48, "--season", 24,
                       "--max-steps", 200, "--hidden-size", 16, "--ensemble", 1, "--quantiles", "0.1,0.5,0.9", "-q")
    assert code == 0, err
    (work / "fc").mkdir()
    print(f"{args.series} series, horizon 48, feed of the last {window} hours; history in {work / 'history'}")
    print(f"{'night':>5} {'rows':>10} {'parts':>5} {'monitor s':>9} {'CPU s':>9} {'predict s':>9} {'monitor MB':>10} exit")
    times = []
    for night in range(1, args.nights + 1):
        end = window + (night - 1) * 24  # hours of data at the night's run
        feed = full[(hours >= end - window) & (hours < end)]
        feed.to_csv(work / "feed.csv", index=False)
        started = time.perf_counter()
        code, _, err = cli("predict", work / "m.pt", work / "feed.csv", "-o", work / "fc" / f"n{night:03d}.csv", "-q")
        predicted = time.perf_counter() - started
        assert code == 0, err
        recent = [work / "fc" / f"n{k:03d}.csv" for k in range(max(1, night - 2), night)]
        if not recent:
            continue
        argv = ["monitor", work / "feed.csv", *recent, "--history", work / "history", "--json",
                "--max-degradation", "100%", "--min-coverage", "50"]
        started, cpu = time.perf_counter(), time.process_time()
        code, out, err = cli(*argv)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert code in (0, 5), err
        times.append(cpu)
        if night % args.every == 0 or night == args.nights or night == 2:
            index = json.loads((work / "history" / "_grucast_history.json").read_text())
            rows = sum(p["rows"] for p in index["parts"])
            print(f"{night:>5} {rows:>10,} {len(index['parts']):>5} {seconds:>9.2f} {cpu:>9.2f} {predicted:>9.2f} "
                  f"{peak_rss(argv):>10.0f} {code}", flush=True)
    full = times[30:]  # from night 32 on the window holds its 30 origins
    first, last = np.median(full[:30]), np.median(full[-30:])
    print(f"monitor: median CPU time {first:.2f} s a night over nights 32-61, {last:.2f} s over the last 30 "
          f"({last / first:.2f}x); the first nights, before the --last window of 30 origins fills: "
          f"{np.median(times[:5]):.2f} s")


def replay(work: Path, early: int) -> None:
    """monitor on the year's last night against night early + 1 on the history as it stood then.
    Before night k's run the history holds the parts of nights 2 .. k - 1 (night k writes part
    k - 1); each run is taken from that state again."""
    import shutil

    last = len(sorted((work / "fc").glob("n*.csv")))
    doc = json.loads((work / "history" / "_grucast_history.json").read_text())
    then = work / "history-then"
    shutil.rmtree(then, ignore_errors=True)
    then.mkdir()
    for p in doc["parts"][:early - 1]:
        shutil.copy(work / "history" / p["name"], then / p["name"])
    full = data(int(pd.read_csv(work / "train.csv")["series_id"].nunique()), 30 + last + 3)
    hours = full.groupby("series_id").cumcount().to_numpy()
    window = 30 * 24
    cases = []
    for night, history in ((early + 1, then), (last, work / "history")):
        end = window + (night - 1) * 24
        feed = work / f"feed-{night}.csv"
        full[(hours >= end - window) & (hours < end)].to_csv(feed, index=False)
        files = [work / "fc" / f"n{k:03d}.csv" for k in (night - 2, night - 1)]
        cases.append((f"night {night}, a history of {night - 2} parts", night, history, feed, files, []))
    for _ in range(3):
        for name, night, history, feed, files, cpu in cases:
            kept = doc["parts"][:night - 2]
            for p in doc["parts"][night - 2:]:
                (history / p["name"]).unlink(missing_ok=True)
            (history / "_grucast_history.json").write_text(json.dumps({**doc, "parts": kept}))
            started = time.process_time()
            code, _, err = cli("monitor", feed, *files, "--history", history, "--json")
            cpu.append(time.process_time() - started)
            assert code in (0, 5), err
    (work / "history" / "_grucast_history.json").write_text(json.dumps(doc))
    for name, _, _, _, _, cpu in cases:
        print(f"{name}: CPU {', '.join(f'{x:.2f}' for x in cpu)} s")


def peak_rss(argv: list) -> float:
    """Peak resident memory (MB) of `grucast ARGV` run as a process of its own, by /usr/bin/time
    (a small process that starts it: the peak of a child forked from this one would count this
    process's memory too)."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "grucast", *map(str, argv)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(r.stderr.strip().splitlines()[-1]) / 1024


if __name__ == "__main__":
    main()
