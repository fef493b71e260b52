"""grucast's DEFAULTS on small and awkward data, the files many users have, against naive,
seasonal naive and the statistical models a user would try instead (AutoETS, AutoTheta, MSTL
from statsforecast).

    python benchmarks/small_data.py [--classes m4w-short,ett-daily,ett-weekly,trend-mult,random-walk]
                                    [--seeds 0,3,6] [--threads 1] [--set max_steps=500 ...]
                                    [--no-stats | --stats-python sf/bin/python] [--quiet]

Five classes of data, each a panel trained on as one grucast run through the Python API
(`grucast.train(df, horizon=H, seed=s, device="cpu")` on a long DataFrame id / date / y with
real timestamps, so grucast infers the frequency and the season as it would from a user's file;
nothing else is set unless --set says so). The last H points of every series are the test part:

  m4w-short    the 65 shortest M4 Weekly series (training part <= 100 points: 80 each), dated
               weekly from 2000-01-02 (W-SUN); H = 13, test = the official M4 test values.
  ett-daily    daily means of the 7 columns of ETTh1 and of ETTh2 (14 series, 725 full days); H = 14.
  ett-weekly   weekly (W-SUN) means of the same 14 series (103 full weeks); H = 8.
  trend-mult   synthetic: 24 monthly series x 144 points, trend (-0.5 to +1.5 %/month) times a
               multiplicative seasonal shape (amplitude 0.1-0.5) times lognormal noise; H = 18.
  random-walk  synthetic: 24 daily random walks x 200 points (Gaussian steps, small drifts); H = 14.

Scores: per series MASE with the in-sample scale at m = 1 (mean |x_t - x_{t-1}| over the
training part), so ratios between methods on one series are scale free; per class the mean and
the geometric mean of MASE, and grucast's geometric mean against the better (by mean MASE) of
naive and seasonal naive on that class and against the best statistical model (by mean MASE,
among those that ran on at least half of the class's series). Seasonal naive uses the class's
season (52, 7, 52, 12, 7); with fewer training points than one season it is naive. A
statsforecast model that fails on a series, returns non-finite values or needs more data than
the series has (MSTL: two full seasons) is replaced by naive on that series, and counted.
grucast is trained once per class and seed; its figure is the mean over the seeds with the
spread (min-max), and the forecast averaged over the seeds is scored too. A series grucast does
not forecast gets naive in its place, printed as MISSING.

statsforecast is a comparison for this script only, never a dependency of grucast. 2.1.1 needs
pandas < 3, so it lives in a virtual environment of its own, which runs benchmarks/_stats.py:

    python -m venv sf && sf/bin/pip install statsforecast==2.1.1
    python benchmarks/small_data.py --stats-python sf/bin/python     # or GRUCAST_STATS_PYTHON=sf/bin/python

Without it, or with --no-stats, its columns are left out. Its models run compiled code from the
wheel: the three take about 30 s over all five classes.

Seeds: on these panels the defaults train an ensemble of three networks from seeds s, s+1, s+2,
so the default seeds are 0, 3 and 6: three runs that share no network.

Data: M4 (public competition data, Makridakis et al., IJF 2020) and ETT (CC BY-ND 4.0, Zhou et
al., AAAI 2021) are read from ../shared/data; the ETT files are aggregated in memory only and
nothing is written anywhere. The synthetic classes are drawn from a fixed numpy seed.

Typical time on 2 CPU cores: 10 minutes for three seeds with statsforecast (2026-12-01): grucast
trains in 3-17 s per seed on ett-weekly, m4w-short and random-walk, 30-45 s on trend-mult and
120-220 s on ett-daily (9,184 training windows); statsforecast's three models about 30 s in all.
A check with two classes, one seed and --set max_steps=30 takes under 30 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from _m4 import read_m4
from _progress import Progress

import grucast
from grucast.errors import ConfigError
from grucast.workflows.model import make_config

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLASSES = ("m4w-short", "ett-daily", "ett-weekly", "trend-mult", "random-walk")
ETT_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
STATS = ("AutoETS", "AutoTheta", "MSTL")
BASE = ("naive", "seasonal naive")
TINY = 1e-6  # floor of a MASE inside a geometric mean (a perfect forecast would give log 0)


@dataclass
class Panel:
    """One class: the training parts and test parts of its series, with their dates."""

    name: str
    season: int  # the season grucast should infer, used for seasonal naive and the statistical models
    horizon: int
    ids: list[str]
    train: list[np.ndarray]
    test: np.ndarray  # [n, H]
    dates: list[pd.DatetimeIndex]  # of the training part
    freq: str
    about: str = ""

    def frame(self) -> pd.DataFrame:
        return pd.concat([pd.DataFrame({"id": i, "date": d, "y": x})
                          for i, x, d in zip(self.ids, self.train, self.dates)], ignore_index=True)

    def test_dates(self, k: int) -> pd.DatetimeIndex:
        return pd.date_range(self.dates[k][-1], periods=self.horizon + 1, freq=self.freq)[1:]


# ---------------------------------------------------------------- the data


def m4_weekly_short(folder: Path, most: int = 100) -> Panel:
    H = 13
    all_ids, all_series, all_tests = read_m4(folder, "Weekly", H)
    keep = [k for k, x in enumerate(all_series) if len(x) <= most]
    ids, series, tests = [all_ids[k] for k in keep], [all_series[k] for k in keep], all_tests[keep]
    # Weekly dates ending on Sundays: grucast infers W-SUN and season 52 from them (checked below).
    dates = [pd.date_range("2000-01-02", periods=len(x), freq="W-SUN") for x in series]
    return Panel("m4w-short", 52, H, ids, series, tests, dates, "W-SUN",
                 f"M4 Weekly series with <= {most} training points, official test values")


def ett(folder: Path, rule: str, H: int, season: int, name: str) -> Panel:
    """Means over full days ('D') or full weeks ('W-SUN') of every column of ETTh1 and ETTh2,
    in memory (the files are CC BY-ND: no altered copy is written)."""
    ids, series, dates = [], [], []
    for f in ("ETTh1", "ETTh2"):
        d = pd.read_csv(folder / f"{f}.csv", parse_dates=["date"]).set_index("date")
        g = d[ETT_COLUMNS].resample(rule)
        full = g.count()["OT"] == (24 if rule == "D" else 24 * 7)  # drop the partial first / last period
        means = g.mean()[full]
        assert means.index.to_series().diff().dropna().nunique() == 1, "a gap inside the full periods"
        for c in ETT_COLUMNS:
            ids.append(f"{f}/{c}"), series.append(means[c].to_numpy(float)), dates.append(means.index)
    return _split(name, season, H, ids, series, dates, rule, "ETTh1 + ETTh2, 7 columns each, "
                  + ("daily" if rule == "D" else "weekly") + " means")


def _split(name, season, H, ids, series, dates, freq, about) -> Panel:
    return Panel(name, season, H, ids, [x[:-H] for x in series], np.stack([x[-H:] for x in series]),
                 [pd.DatetimeIndex(d[:-H], freq=None) for d in dates], freq, about)


def trend_mult(n: int = 24, t: int = 144, H: int = 18, seed: int = 12) -> Panel:
    """Monthly sales-like series: level * growth^t * (1 + a * shape[t % 12]) * lognormal noise."""
    rng = np.random.default_rng(seed)
    k = np.arange(t)
    ids, series = [], []
    for i in range(n):
        level = rng.lognormal(5, 1)
        growth = rng.uniform(-0.005, -0.001) if i % 5 == 4 else rng.uniform(0.002, 0.015)  # every 5th shrinks
        harmonics = np.arange(12)[:, None] * np.arange(1, 4)[None, :] * 2 * np.pi / 12
        shape = (np.sin(harmonics + rng.uniform(0, 2 * np.pi, 3)) * rng.uniform(0, 1, 3) / np.arange(1, 4)).sum(1)
        shape = (shape - shape.mean()) / np.abs(shape - shape.mean()).max()  # smooth, mean 0, peak 1
        a, sd = rng.uniform(0.1, 0.5), rng.uniform(0.02, 0.08)
        x = level * (1 + growth) ** k * (1 + a * shape[k % 12]) * np.exp(rng.normal(0, sd, t))
        ids.append(f"sales{i:02d}"), series.append(np.round(x, 3))
    dates = [pd.date_range("2012-01-01", periods=t, freq="MS")] * n
    return _split("trend-mult", 12, H, ids, series, dates, "MS",
                  "synthetic monthly: trend x multiplicative season x lognormal noise")


def random_walk(n: int = 24, t: int = 200, H: int = 14, seed: int = 7) -> Panel:
    rng = np.random.default_rng(seed)
    ids, series = [], []
    for i in range(n):
        sd = rng.lognormal(0, 1)
        steps = rng.normal(rng.uniform(-0.1, 0.1) * sd, sd, t)
        x = np.cumsum(steps)
        x = x - x.min() + rng.uniform(5, 60) * sd  # positive levels
        ids.append(f"rw{i:02d}"), series.append(np.round(x, 4))
    dates = [pd.date_range("2023-01-01", periods=t, freq="D")] * n
    return _split("random-walk", 7, H, ids, series, dates, "D", "synthetic daily random walks with small drifts")


def load(name: str) -> Panel:
    if name == "m4w-short":
        return m4_weekly_short(DATA / "m4")
    if name == "ett-daily":
        return ett(DATA / "ett", "D", 14, 7, name)
    if name == "ett-weekly":
        return ett(DATA / "ett", "W-SUN", 8, 52, name)
    if name == "trend-mult":
        return trend_mult()
    assert name == "random-walk", name
    return random_walk()


# ---------------------------------------------------------------- baselines and scores


def naive(x: np.ndarray, H: int) -> np.ndarray:
    return np.full(H, x[-1], dtype=float)


def seasonal_naive(x: np.ndarray, H: int, m: int) -> np.ndarray:
    return np.resize(x[-m:], H).astype(float) if len(x) >= m else naive(x, H)


def scale_of(x: np.ndarray) -> float:
    s = float(np.mean(np.abs(np.diff(x))))
    return s if s > 0 else 1.0


def mases(p: Panel, f: np.ndarray) -> np.ndarray:
    scales = np.array([scale_of(x) for x in p.train])
    return np.mean(np.abs(p.test - f), axis=1) / scales


def gmean(v: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(np.maximum(v, TINY)))))


def stats_forecasts(p: Panel, python: str, say) -> tuple[dict[str, np.ndarray], dict[str, int], dict[str, float]]:
    """Forecasts of AutoETS, AutoTheta and MSTL per series (naive where one fails), how many
    fell back, and the seconds each took: benchmarks/_stats.py, run by `python` (statsforecast
    needs pandas < 3, so it usually lives in a virtual environment of its own)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "in.npz", values=np.concatenate(p.train), offsets=np.r_[0, np.cumsum([len(x) for x in p.train])],
                 horizon=p.horizon, season=p.season)
        subprocess.run([python, str(Path(__file__).with_name("_stats.py")), str(tmp / "in.npz"), str(tmp / "out.npz")],
                       check=True)
        got = np.load(tmp / "out.npz", allow_pickle=False)
        report = json.loads(str(got["report"]))
        out = {name: got[name] for name in report["models"]}
    for name, why in report["why"].items():
        if why:
            say(f"  {name}: naive used on {report['fell'][name]} of {len(p.ids)} series ("
                + "; ".join(f"{k}: {v}" for k, v in why.items()) + ")")
    return out, report["fell"], report["seconds"]


# ---------------------------------------------------------------- grucast


@dataclass
class Run:
    forecast: np.ndarray  # [n, H], naive where grucast gave none
    seconds: float
    ensemble: int = 1  # networks grucast trained (seeds seed ... seed + ensemble - 1)
    missing: list[str] = field(default_factory=list)
    methods: dict[str, int] = field(default_factory=dict)


def run_grucast(p: Panel, seed: int, a, extra: dict, say, first: bool) -> Run:
    settings = dict(extra)
    settings.setdefault("device", "cpu")
    if a.threads:
        settings.setdefault("threads", a.threads)
    df = p.frame()
    t0 = time.perf_counter()
    model = grucast.train(df, horizon=p.horizon, seed=seed, callback=None if a.quiet else Progress("    "), **settings)
    seconds = time.perf_counter() - t0
    fc = model.predict(df, device=settings["device"], threads=settings.get("threads"))
    c, fit = model.config, model.result.fit
    if c.data.season != p.season:
        say(f"  NOTE: grucast inferred season {c.data.season}, expected {p.season} "
            f"(freq {model.checkpoint.freq.describe()})")
    if first:
        min_input = c.model.min_input if c.model.min_input is not None else "unset (no gaps, no short series)"
        say(f"  grucast: freq {model.checkpoint.freq.describe()}, season {c.data.season}, "
            f"input_size {c.model.input_size}, min_input {min_input}, "
            f"hidden_size {c.model.hidden_size}, learning_rate {c.training.learning_rate:g}, "
            f"ensemble {c.model.ensemble}, val_size {c.training.val_size}, max_steps {c.training.max_steps}; "
            f"{model.result.train_windows:,} training windows, {model.result.val_windows:,} validation windows, "
            f"{len(model.result.short_series)} series too short for a full training window")
        for line in model.notes:
            say(f"    note: {line}")
    val = model.metrics
    members = fit.members or [{"steps": fit.steps, "epochs": fit.epochs, "best_step": fit.best_step,
                               "stop_reason": fit.stop_reason}]
    how = "; ".join(f"{d['steps']} steps, {d['epochs']:.1f} epochs, {d['stop_reason']}, best step {d['best_step']}"
                    for d in members)
    say(f"  seed {seed}: train {seconds:.1f}s ({len(members)} network{'s' if len(members) > 1 else ''}: {how}); "
        f"validation MASE gru {val.get('gru', {}).get('mase', float('nan')):.3f}, "
        f"seasonal naive {val.get('seasonal_naive', {}).get('mase', float('nan')):.3f}, "
        f"naive {val.get('naive', {}).get('mase', float('nan')):.3f}")

    for line in model.notes:
        if "linear map" in line and not first:  # the linear rival's verdict, per seed (the first seed's is above)
            say(f"    start: {line}")
    run = Run(np.stack([naive(x, p.horizon) for x in p.train]), seconds, ensemble=c.model.ensemble or 1)
    fc = fc.assign(id=fc["id"].astype(str))
    groups = dict(tuple(fc.groupby("id", sort=False)))
    for k, sid in enumerate(p.ids):
        g = groups.get(sid)
        if g is None:
            run.missing.append(sid)
            continue
        g = g.sort_values("date")
        if len(g) != p.horizon or not (pd.DatetimeIndex(g["date"]).tz_localize(None) == p.test_dates(k)).all():
            say(f"  ODD: grucast's forecast of {sid} has {len(g)} rows from {g['date'].iloc[0]}, "
                f"expected {p.horizon} from {p.test_dates(k)[0]}")
            if len(g) < p.horizon:
                run.missing.append(sid)
                continue
        run.forecast[k] = g["forecast"].to_numpy(float)[:p.horizon]
        if "method" in g.columns:
            for meth in g["method"].astype(str).unique():
                run.methods[meth] = run.methods.get(meth, 0) + 1
    got = len(p.ids) - len(run.missing)
    say(f"  seed {seed}: grucast forecast {got} of {len(p.ids)} series"
        + (" (method: " + ", ".join(f"{k} {v}" for k, v in sorted(run.methods.items())) + ")" if run.methods else ""))
    if run.missing:
        say(f"  MISSING: grucast gave no forecast for {len(run.missing)} series (naive stands in): "
            + ", ".join(run.missing[:10]) + (" ..." if len(run.missing) > 10 else ""))
    return run


# ---------------------------------------------------------------- main


def parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip().split(".")[-1]] = yaml.safe_load(value)  # training.max_steps or max_steps
    return out


def fmt_spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", default=",".join(CLASSES), help=f"comma list of {', '.join(CLASSES)}")
    ap.add_argument("--seeds", default="0,3,6", help="one grucast training per class and seed (default 0,3,6: "
                    "an ensemble of three from seed s uses s, s+1, s+2, so these share no network)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for grucast (torch's default when left out)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra grucast setting, e.g. --set max_steps=30 (default: none, grucast's defaults)")
    ap.add_argument("--no-stats", action="store_true", help="leave out statsforecast's models")
    ap.add_argument("--stats-python", default=os.environ.get("GRUCAST_STATS_PYTHON", sys.executable),
                    help="the python that runs statsforecast (default $GRUCAST_STATS_PYTHON, else this one)")
    ap.add_argument("--quiet", action="store_true", help="no training progress lines")
    a = ap.parse_args()
    classes = [c.strip() for c in a.classes.split(",") if c.strip()]
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise SystemExit(f"unknown class {', '.join(unknown)}; choose from {', '.join(CLASSES)}")
    seeds = [int(s) for s in a.seeds.split(",")]
    extra = parse_set(a.set)
    if {"horizon", "seed"} & set(extra):
        raise SystemExit("--set: horizon and seed are the script's own (each class's H, --seeds)")
    try:  # an unknown or bad --set is one line now, not a traceback after the first class
        make_config(**{"device": "cpu", **extra})
    except ConfigError as e:
        raise SystemExit(f"--set: {e}")
    logging.basicConfig(level=logging.WARNING, format="  grucast %(levelname)s: %(message)s")

    def say(line: str = "") -> None:
        print(line, flush=True)

    use_stats = not a.no_stats
    if use_stats:
        probe = subprocess.run([a.stats_python, "-c", "import statsforecast; print(statsforecast.__version__)"],
                               check=False, capture_output=True, text=True)
        if probe.returncode == 0:
            say(f"statsforecast {probe.stdout.strip()} ({a.stats_python})")
        else:
            say(f"statsforecast is not importable by {a.stats_python}: its columns are skipped (install it in a "
                "virtual environment of its own, python -m venv sf && sf/bin/pip install statsforecast, and pass "
                "--stats-python sf/bin/python)")
            use_stats = False
    methods = [*BASE, *(STATS if use_stats else ()), "grucast"]
    say(f"grucast {getattr(grucast, '__version__', '?')}, seeds {seeds}, extra settings {extra or 'none'}")

    started = time.perf_counter()
    results = {}  # class -> dict of per-series MASE arrays, and grucast per seed
    for name in classes:
        p = load(name)
        lens = np.array([len(x) + p.horizon for x in p.train])
        say(f"\n== {name}: {p.about}")
        say(f"  {len(p.ids)} series, points per series {lens.min()} / {int(np.median(lens))} / {lens.max()} "
            f"(min / median / max, test included), H {p.horizon}, season {p.season}")
        r = {"naive": mases(p, np.stack([naive(x, p.horizon) for x in p.train])),
             "seasonal naive": mases(p, np.stack([seasonal_naive(x, p.horizon, p.season) for x in p.train]))}
        short = sum(len(x) < p.season for x in p.train)
        if short:
            say(f"  seasonal naive: {short} series shorter than one season, naive used")
        fell = {}
        if use_stats:
            fs, fell, secs = stats_forecasts(p, a.stats_python, say)
            for k, f in fs.items():
                r[k] = mases(p, f)
            say("  statsforecast seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items()))
        runs = [run_grucast(p, s, a, extra, say, first=(i == 0)) for i, s in enumerate(seeds)]
        k = max(run.ensemble for run in runs)
        shared = sorted({t for s in seeds for t in seeds if s < t < s + k})
        if shared:
            say(f"  NOTE: grucast's ensemble of {k} trains networks with seeds s … s+{k - 1}, so seeds {seeds} share "
                f"networks (seeds {shared} are in more than one run): the spread over seeds understates a fresh "
                f"seed's; --seeds {','.join(str(i * k) for i in range(len(seeds)))} gives disjoint ensembles")
        r["grucast seeds"] = [mases(p, run.forecast) for run in runs]
        r["grucast mean forecast"] = mases(p, np.mean([run.forecast for run in runs], axis=0))
        r["fell"] = fell
        r["missing"] = [len(run.missing) for run in runs]
        results[name] = r

        say(f"  {'method':24s} {'mean MASE':22s} {'gmean MASE':22s}")
        for k in methods[:-1]:
            fb = f"(naive on {fell[k]} series)" if fell.get(k) else ""
            say(f"  {k:24s} {np.mean(r[k]):<22.3f} {gmean(r[k]):<22.3f} {fb}")
        say(f"  {'grucast (over seeds)':24s} {fmt_spread([float(np.mean(v)) for v in r['grucast seeds']]):22s} "
            f"{fmt_spread([gmean(v) for v in r['grucast seeds']]):22s}")
        if len(seeds) > 1:
            say(f"  {'grucast mean forecast':24s} {np.mean(r['grucast mean forecast']):<22.3f} "
                f"{gmean(r['grucast mean forecast']):<22.3f}")
        say(f"  training seconds per seed: {', '.join(f'{run.seconds:.1f}' for run in runs)}")

    # Per class, the better of naive / seasonal naive and the best statistical model, by mean MASE.
    def best(r, among):
        return min(among, key=lambda k: float(np.mean(r[k])))

    def best_stat(r):
        """The best statistical model by mean MASE among those that ran on at least half of the
        class's series (MSTL falls back to naive on every series shorter than two seasons: it is
        then naive, not a model a user could pick); among all three when none did."""
        n = len(r["naive"])
        ran = [k for k in STATS if r["fell"].get(k, 0) <= n / 2]
        return best(r, ran or STATS)

    for r in results.values():
        r["best base"] = r[best(r, BASE)]
        if use_stats:
            r["best stat"] = r[best_stat(r)]

    def cell_row(label, get, fell):
        """get(key) -> MASE array (or list over seeds for grucast) of the row's series; fell: how
        many series each statistical model left to naive (marked in its cell)."""
        cells = []
        for k in methods[:-1]:
            cells.append(f"{gmean(get(k)):.3f}" + (f" ({fell[k]} naive)" if fell.get(k) else ""))
        g_seeds = get("grucast seeds")
        cells.append(fmt_spread([gmean(v) for v in g_seeds]))
        if len(seeds) > 1:
            cells.append(f"{gmean(get('grucast mean forecast')):.3f}")
        ratios = [gmean(v) / gmean(get("best base")) for v in g_seeds]
        cells.append(fmt_spread(ratios))
        if use_stats:
            cells.append(fmt_spread([gmean(v) / gmean(get("best stat")) for v in g_seeds]))
        return f"| {label} | " + " | ".join(cells) + " |"

    say(f"\nGeometric mean of MASE (scale: in-sample m = 1) per class; grucast: mean over seeds {seeds} "
        "(min–max); ratios of geometric means, grucast / the better of naive and seasonal naive (by mean MASE "
        "per class)" + (" and / the best of AutoETS, AutoTheta, MSTL (by mean MASE per class, among those that "
           "ran on at least half of its series)" if use_stats else "")
        + ". Below 1: grucast is better.\n")
    head = [*methods[:-1], "grucast"] + (["grucast, mean of seeds' forecasts"] if len(seeds) > 1 else []) \
        + ["grucast vs best of naive/snaive"] + (["grucast vs best statistical"] if use_stats else [])
    say("| class | " + " | ".join(head) + " |")
    say("|---|" + "---|" * len(head))
    for name, r in results.items():
        label = f"{name} ({len(r['naive'])})"
        if use_stats:
            label += f" [{best(r, BASE)}; {best_stat(r)}]"
        else:
            label += f" [{best(r, BASE)}]"
        say(cell_row(label, lambda k, r=r: r[k], r["fell"]))
    if len(results) > 1:
        def joined(k):
            if k == "grucast seeds":
                return [np.concatenate([r[k][i] for r in results.values()]) for i in range(len(seeds))]
            return np.concatenate([r[k] for r in results.values()])
        fell_all = {k: sum(r["fell"].get(k, 0) for r in results.values()) for k in STATS}
        say(cell_row(f"all (geometric mean, {sum(len(r['naive']) for r in results.values())} series)", joined,
                     fell_all))
    say("\n[brackets]: the baselines the two ratios are taken against in each class; (k naive): the model "
        "failed or was too short on k series and naive stands in there. The all row's ratios are against "
        "each class's own baselines.")
    if use_stats:
        fells = {k: sum(r["fell"].get(k, 0) for r in results.values()) for k in STATS}
        say("statsforecast fell back to naive on: " + ", ".join(f"{k} {v}" for k, v in fells.items()) + " series")
    missing = sum(sum(r["missing"]) for r in results.values())
    if missing:
        say(f"MISSING: {missing} grucast forecasts (series x seeds) were naive stand-ins")
    say(f"whole run {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
