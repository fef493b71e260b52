"""`grucast monitor`: nightly forecasts of a real trained model scored against the actuals that
arrived since, on data that changes regime half-way; the history appended once; the scores
against hand computations; the drift gates; partial horizons; the guard rails."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import built_once, cli

H, SEASON, TRAIN_DAYS, NIGHTS, CHANGE = 24, 24, 24, 6, 3  # the regime changes after night CHANGE's forecast


def series(days: int = TRAIN_DAYS + NIGHTS + 1, seed: int = 0) -> pd.DataFrame:
    """3 hourly series: a daily cycle plus noise; from the origin of night CHANGE + 1 on, the cycle
    turns over and the level doubles (a regime change no model trained before it has seen)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    change = (TRAIN_DAYS + CHANGE) * 24
    frames = []
    for i in range(3):
        level = 50.0 * (i + 1)
        cycle = np.sin(2 * np.pi * t / SEASON + i)
        y = level * (1 + 0.3 * cycle) + rng.normal(0, 0.02 * level, len(t))
        after = t >= change
        y[after] = 2 * level * (1 - 0.3 * cycle[after]) + rng.normal(0, 0.2 * level, after.sum())
        frames.append(pd.DataFrame({"series_id": f"s{i}", "timestamp": pd.date_range("2024-01-01", periods=len(t), freq="h"),
                                    "value": np.round(y, 3)}))
    return pd.concat(frames, ignore_index=True)


def feed(frame: pd.DataFrame, hours: int) -> pd.DataFrame:
    """The data as it stood after the first `hours` hours."""
    return frame[frame.timestamp < pd.Timestamp("2024-01-01") + pd.Timedelta(hours=hours)]


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """A quantile model trained on the first TRAIN_DAYS days, and its forecast of every night:
    night k forecasts the day after the first TRAIN_DAYS + k - 1 days (built once per run)."""
    full = series()
    return built_once(tmp_path_factory, "monitor-nightly", lambda root: _nightly(root, full)), full


def _nightly(root, full):
    feed(full, TRAIN_DAYS * 24).to_csv(root / "train.csv", index=False)
    r = cli("train", root / "train.csv", "-o", root / "m.pt", "--horizon", H, "--input-size", 48, "--hidden-size", 8,
            "--ensemble", 1, "--max-steps", 60, "--quantiles", "0.1,0.5,0.9", "--seed", 1, "-q")
    assert r.exit_code == 0, r.stderr
    (root / "fc").mkdir()
    for night in range(1, NIGHTS + 1):
        feed(full, (TRAIN_DAYS + night - 1) * 24).to_csv(root / "feed.csv", index=False)
        r = cli("predict", root / "m.pt", root / "feed.csv", "-o", root / "fc" / f"night{night}.csv", "-q")
        assert r.exit_code == 0, r.stderr


def run(tmp, data, *args):
    r = cli("monitor", data, *args, "--json")
    doc = json.loads(r.stdout) if r.exit_code in (0, 5) and r.stdout.strip() else None
    return r, doc


def test_nightly_runs_append_once_and_the_drift_gate_fires_after_the_regime_change_not_before(nightly, tmp_path):
    root, full = nightly
    hist = tmp_path / "history"
    fired = {}
    for night in range(1, NIGHTS + 1):
        # the next morning: the data holds the day night `night` forecast
        feed(full, (TRAIN_DAYS + night) * 24).to_csv(tmp_path / "now.csv", index=False)
        files = [root / "fc" / f"night{k}.csv" for k in range(1, night + 1)]
        r, doc = run(tmp_path, tmp_path / "now.csv", *files, "--history", hist, "--max-degradation", "50%")
        assert r.exit_code in (0, 5), r.stderr
        assert doc["added"] == 3 * H and doc["duplicates"] == 3 * H * (night - 1)  # last night's day, once
        assert doc["pending"]["rows"] == 0 and not doc["skipped"]
        fired[night] = r.exit_code == 5
        if fired[night]:
            assert "drift gate failed" in r.stderr and "retrain" in r.stderr and "validation MASE" in r.stderr
        c = doc["checkpoints"][0]
        assert c["current"] and c["rows"] == 3 * H * night and c["forecasts"] == 3 * night and c["complete"] == 3 * night
        # the same run again records nothing new, and says so
        r2, again = run(tmp_path, tmp_path / "now.csv", root / "fc", *files, "--history", hist, "--max-degradation", "50%")
        assert again["added"] == 0 and again["duplicates"] == 3 * H * night
        assert again["checkpoints"][0]["metrics"] == c["metrics"]
    assert not any(fired[k] for k in range(1, CHANGE + 1)), fired  # before the change: within 50 % of validation
    assert fired[NIGHTS], fired  # after it: far beyond
    index = json.loads((hist / "_grucast_history.json").read_text())
    assert len(index["parts"]) == NIGHTS and sum(p["rows"] for p in index["parts"]) == 3 * H * NIGHTS
    rows = pd.read_parquet(hist)  # the folder reads as one table
    assert len(rows) == 3 * H * NIGHTS and not rows.duplicated(["checkpoint_sha256", "series_id", "origin", "step"]).any()


def test_scores_equal_hand_computations_with_baselines_at_the_same_origins(nightly, tmp_path):
    root, full = nightly
    feed(full, (TRAIN_DAYS + 2) * 24).to_csv(tmp_path / "now.csv", index=False)
    r, doc = run(tmp_path, tmp_path / "now.csv", root / "fc" / "night1.csv", root / "fc" / "night2.csv",
                 "--history", tmp_path / "h", "--min-coverage", "80=1")
    assert r.exit_code == 0, r.stderr
    rows = pd.read_parquet(tmp_path / "h")
    fc = pd.concat([pd.read_csv(root / "fc" / f"night{k}.csv", parse_dates=["timestamp"]) for k in (1, 2)])
    values = {s: g.set_index("timestamp")["value"] for s, g in full.groupby("series_id")}
    assert len(rows) == 2 * 3 * H
    for _, x in rows.iterrows():
        v = values[x.series_id]
        origin, when = pd.Timestamp(x.origin), pd.Timestamp(x.timestamp)
        assert when == origin + pd.Timedelta(hours=int(x.step))
        assert x.actual == pytest.approx(v[when])
        assert x.naive == pytest.approx(v[origin])  # the last value at the origin, not a later one
        assert x.seasonal_naive == pytest.approx(v[when - pd.Timedelta(hours=SEASON)])
        hist = v[v.index <= origin].to_numpy()
        assert x.scale == pytest.approx(np.mean(np.abs(hist[SEASON:] - hist[:-SEASON])))
        f = fc[(fc.series_id == x.series_id) & (fc.timestamp == when)]
        assert x.forecast == pytest.approx(f.forecast.iloc[0]) and x["lo-80"] == pytest.approx(f["lo-80"].iloc[0])
    c = doc["checkpoints"][0]
    err = (rows.actual - rows.forecast).abs()
    window_mase = (err / rows.scale).groupby([rows.series_id, rows.origin]).mean()  # one scale per forecast
    assert c["metrics"]["model"]["mae"] == pytest.approx(err.mean())
    assert c["metrics"]["model"]["mase"] == pytest.approx(window_mase.mean())
    snaive = (rows.actual - rows.seasonal_naive).abs()
    assert c["metrics"]["seasonal_naive"]["mase"] == pytest.approx((snaive / rows.scale).groupby([rows.series_id, rows.origin]).mean().mean())
    assert c["skill"] == pytest.approx(1 - c["metrics"]["model"]["mase"] / c["metrics"]["seasonal_naive"]["mase"])
    inside = ((rows.actual >= rows["lo-80"]) & (rows.actual <= rows["hi-80"])).mean()
    assert c["intervals"]["80"]["coverage"] == pytest.approx(100 * inside)
    assert c["validation"]["mase"] > 0 and c["ratio"]["mase"] == pytest.approx(c["metrics"]["model"]["mase"] / c["validation"]["mase"])
    assert [s["step"] for s in c["by_step"]] == list(range(1, H + 1))
    assert c["by_step"][0]["mae"] == pytest.approx(err[rows.step == 1].mean())
    worst = (err / rows.scale).groupby([rows.series_id, rows.origin]).mean().groupby(level=0).mean().idxmax()
    assert c["worst"][0]["series"] == worst
    assert [g["gate"] for g in doc["gates"]] == ["min_coverage_80"] and doc["gates"][0]["passed"]


def test_a_partial_horizon_is_scored_as_far_as_it_goes_and_completed_later(nightly, tmp_path):
    root, full = nightly
    night1 = root / "fc" / "night1.csv"
    feed(full, TRAIN_DAYS * 24 + 10).to_csv(tmp_path / "now.csv", index=False)
    r, doc = run(tmp_path, tmp_path / "now.csv", night1, "--history", tmp_path / "h")
    assert r.exit_code == 0, r.stderr
    assert doc["added"] == 3 * 10 and doc["pending"] == {"rows": 3 * 14, "forecasts": 3}
    c = doc["checkpoints"][0]
    assert (c["partial"], c["complete"]) == (3, 0) and [s["step"] for s in c["by_step"]] == list(range(1, 11))
    r = cli("monitor", tmp_path / "now.csv", night1, "--history", tmp_path / "h")
    assert r.exit_code == 0 and "3 forecasts await their actuals" in r.stdout and "3 partial" in r.stdout
    feed(full, (TRAIN_DAYS + 1) * 24).to_csv(tmp_path / "now.csv", index=False)
    r, doc = run(tmp_path, tmp_path / "now.csv", night1, "--history", tmp_path / "h")
    assert doc["added"] == 3 * 14 and doc["duplicates"] == 3 * 10 and doc["pending"]["rows"] == 0
    assert (doc["checkpoints"][0]["complete"], doc["checkpoints"][0]["partial"]) == (3, 0)


def test_a_forecast_of_another_checkpoint_at_the_same_origin_is_kept_apart_and_copies_count_once(nightly, tmp_path):
    root, full = nightly
    feed(full, TRAIN_DAYS * 24).to_csv(tmp_path / "train.csv", index=False)
    r = cli("train", tmp_path / "train.csv", "-o", tmp_path / "m2.pt", "--horizon", H, "--input-size", 48,
            "--hidden-size", 8, "--ensemble", 1, "--max-steps", 5, "--seed", 7, "-q")
    assert r.exit_code == 0, r.stderr
    r = cli("predict", tmp_path / "m2.pt", tmp_path / "train.csv", "-o", tmp_path / "rerun.csv", "-q")
    assert r.exit_code == 0, r.stderr
    (tmp_path / "copy").mkdir()
    for name in ("night1.csv", "night1.csv.manifest.json"):
        shutil.copy(root / "fc" / name, tmp_path / "copy" / name)
    feed(full, (TRAIN_DAYS + 1) * 24).to_csv(tmp_path / "now.csv", index=False)
    r, doc = run(tmp_path, tmp_path / "now.csv", root / "fc" / "night1.csv", tmp_path / "copy", tmp_path / "rerun.csv",
                 "--history", tmp_path / "h", "--fail-if-worse-than", "naive")
    assert r.exit_code in (0, 5), r.stderr
    assert doc["added"] == 2 * 3 * H and doc["duplicates"] == 3 * H  # the copy adds nothing
    shas = {c["sha256"]: c for c in doc["checkpoints"]}
    assert len(shas) == 2 and all(c["rows"] == 3 * H for c in shas.values())
    current = [c for c in doc["checkpoints"] if c["current"]]
    assert len(current) == 1 and current[0]["checkpoint"].endswith("m2.pt")  # the later run of the same origin
    assert doc["gates"][0]["gate"] == "fail_if_worse_than" and "naive" in doc["gates"][0]["text"]


# ---------------------------------------------------------------- guard rails


def test_forecasts_that_cannot_be_trusted_are_skipped_by_name(nightly, tmp_path):
    root, full = nightly
    feed(full, (TRAIN_DAYS + 2) * 24).to_csv(tmp_path / "now.csv", index=False)
    good = root / "fc" / "night1.csv"
    bare = tmp_path / "bare.csv"  # no manifest
    shutil.copy(root / "fc" / "night2.csv", bare)
    edited = tmp_path / "edited.csv"  # changed after predict wrote it
    shutil.copy(root / "fc" / "night2.csv", edited)
    shutil.copy(root / "fc" / "night2.csv.manifest.json", tmp_path / "edited.csv.manifest.json")
    edited.write_text(edited.read_text().replace("s0,", "s0,", 1) + "\n")
    late = tmp_path / "late.csv"  # its manifest claims an origin after its rows: data the model saw
    shutil.copy(root / "fc" / "night2.csv", late)
    m = json.loads((root / "fc" / "night2.csv.manifest.json").read_text())
    m["origins"] = {k: (pd.Timestamp(v) + pd.Timedelta(hours=5)).isoformat() for k, v in m["origins"].items()}
    (tmp_path / "late.csv.manifest.json").write_text(json.dumps(m))
    damaged = []  # manifests cut or edited into other shapes: each a named skip, never a traceback
    for k, change in enumerate([lambda m: "{not json", lambda m: {**m, "output": "f.csv"},
                                lambda m: {**m, "checkpoint": "m.pt"}, lambda m: {**m, "versions": ["0.4.0"]},
                                lambda m: {**m, "model": {**m["model"], "horizon": "6"}}, lambda m: [m]]):
        damaged.append(tmp_path / f"damaged{k}.csv")
        shutil.copy(root / "fc" / "night2.csv", damaged[-1])
        m = change(json.loads((root / "fc" / "night2.csv.manifest.json").read_text()))
        (tmp_path / f"damaged{k}.csv.manifest.json").write_text(m if isinstance(m, str) else json.dumps(m))
    r, doc = run(tmp_path, tmp_path / "now.csv", good, bare, edited, late, *damaged, "--history", tmp_path / "h")
    assert r.exit_code == 0, r.stderr
    reasons = {s["file"].rsplit("/", 1)[-1]: s["reason"] for s in doc["skipped"]}
    assert set(reasons) == {"bare.csv", "edited.csv", "late.csv", *(d.name for d in damaged)}
    assert "no manifest" in reasons["bare.csv"] and "describes another file" in reasons["edited.csv"]
    for d in damaged:
        card = d.name == "damaged4.csv"
        assert reasons[d.name] == f"its manifest {d.name}.manifest.json {'has a damaged model card' if card else 'is damaged'}"
    assert "not after its origin" in reasons["late.csv"] and "data the model saw" in reasons["late.csv"]
    assert doc["added"] == 3 * H  # night 1 alone
    r = cli("monitor", tmp_path / "now.csv", bare, "--history", tmp_path / "h2")
    assert r.exit_code == 1 and "Error: none of the forecast files could be scored" in r.stderr and "no manifest" in r.stderr
    assert not (tmp_path / "h2").exists() or not any((tmp_path / "h2").iterdir())


def test_data_that_no_longer_holds_the_baselines_history_is_a_named_skip(nightly, tmp_path):
    root, full = nightly
    now = feed(full, (TRAIN_DAYS + 1) * 24)
    origin = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=TRAIN_DAYS * 24 - 1)
    cut = now[(now.series_id != "s1") | (now.timestamp > origin - pd.Timedelta(hours=10))]  # s1 kept 10 h before
    cut.to_csv(tmp_path / "now.csv", index=False)
    r, doc = run(tmp_path, tmp_path / "now.csv", root / "fc" / "night1.csv", "--history", tmp_path / "h")
    assert r.exit_code == 0, r.stderr
    (skip,) = doc["skipped"]
    assert skip["series"] == ["s1"] and "no longer holds" in skip["reason"] and skip["rows"] == H
    assert doc["added"] == 2 * H


@pytest.mark.parametrize("case", ["newer", "damaged", "file", "foreign", "link", "input", "part-edited",
                                  "part-cut", "part-bit-flipped", "part-link"])
def test_a_history_that_cannot_be_used_is_refused_and_left_as_it_was(nightly, tmp_path, case):
    root, full = nightly
    feed(full, (TRAIN_DAYS + 1) * 24).to_csv(tmp_path / "now.csv", index=False)
    night1 = root / "fc" / "night1.csv"
    hist = tmp_path / "h"
    r = cli("monitor", tmp_path / "now.csv", night1, "--history", hist)
    assert r.exit_code == 0, r.stderr
    index = hist / "_grucast_history.json"
    expect = {"newer": "upgrade grucast", "damaged": "is damaged", "file": "is a file", "foreign": "not a grucast history",
              "link": "is a link", "input": "is inside --history", "part-edited": "is not the file monitor wrote",
              "part-cut": "is not the file monitor wrote: its size differs",
              "part-bit-flipped": "is not the file monitor wrote: its sha256 differs",
              "part-link": "which is missing or not a file"}[case]
    if case == "newer":
        doc = json.loads(index.read_text())
        doc.update(grucast_history=99, written_by="9.0")
        index.write_text(json.dumps(doc))
    elif case == "damaged":
        index.write_text("{not json")
    elif case == "file":
        hist = tmp_path / "now.csv"
    elif case == "foreign":
        hist = tmp_path / "other"
        hist.mkdir()
        (hist / "notes.txt").write_text("mine")
    elif case == "link":
        (tmp_path / "ln").symlink_to(hist)
        hist = tmp_path / "ln"
    elif case == "part-link":  # the same bytes, but through a link planted in the folder
        part, = hist.glob("part-000001.*")
        part.rename(tmp_path / part.name)
        part.symlink_to(tmp_path / part.name)
    elif case == "part-bit-flipped":  # damage on disk that keeps the size: only the sha256 tells
        part, = hist.glob("part-000001.*")
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 1
        part.write_bytes(bytes(data))
    elif case.startswith("part-"):  # still a well-formed table: only the index tells
        part, = hist.glob("part-000001.*")
        parquet = part.suffix == ".parquet"
        rows = pd.read_parquet(part) if parquet else pd.read_csv(part)
        if case == "part-cut":  # the last rows lost
            rows = rows.iloc[:len(rows) // 2]
        else:  # one recorded forecast changed
            rows.loc[0, "forecast"] += 1
        rows.to_parquet(part, index=False) if parquet else rows.to_csv(part, index=False)
    elif case == "input":
        shutil.copy(night1, hist / "f.csv")
        shutil.copy(root / "fc" / "night1.csv.manifest.json", hist / "f.csv.manifest.json")
        night1 = hist / "f.csv"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    r = cli("monitor", tmp_path / "now.csv", night1, "--history", hist)
    assert r.exit_code == 1 and r.stderr.startswith("Error: ") and expect in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("args, message", [
    (["--fail-if-worse-than", "ets"], "--fail-if-worse-than takes naive or seasonal-naive"),
    (["--max-degradation", "lots"], "--max-degradation takes a percentage"),
    (["--min-coverage", "80=120"], "100% at most"),
    (["--last", "0"], "--last takes 1 or more"),
])
def test_bad_gate_settings_are_one_line_errors(nightly, tmp_path, args, message):
    root, full = nightly
    feed(full, (TRAIN_DAYS + 1) * 24).to_csv(tmp_path / "now.csv", index=False)
    r = cli("monitor", tmp_path / "now.csv", root / "fc" / "night1.csv", "--history", tmp_path / "h", *args)
    assert r.exit_code == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "h" / "_grucast_history.json").exists()


def test_a_coverage_gate_on_an_interval_the_model_lacks_fails_with_its_reason(nightly, tmp_path):
    root, full = nightly
    feed(full, (TRAIN_DAYS + 1) * 24).to_csv(tmp_path / "now.csv", index=False)
    r = cli("monitor", tmp_path / "now.csv", root / "fc" / "night1.csv", "--history", tmp_path / "h",
            "--min-coverage", "95=90")
    assert r.exit_code == 5 and "names a 95% interval" in r.stderr and "intervals of 80%" in r.stderr
    assert (tmp_path / "h" / "_grucast_history.json").exists()  # the scored rows are kept all the same


def test_monitor_does_not_import_torch(nightly, tmp_path):
    """A cron job's morning run: no torch import (seconds and hundreds of MB saved)."""
    import subprocess
    import sys

    root, full = nightly
    feed(full, (TRAIN_DAYS + 1) * 24).to_csv(tmp_path / "now.csv", index=False)
    code = ("import sys; sys.argv[0] = 'grucast'; from grucast.cli import app\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    argv = ["monitor", str(tmp_path / "now.csv"), str(root / "fc" / "night1.csv"), "--history", str(tmp_path / "h")]
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "h" / "_grucast_history.json").exists()


def test_a_model_of_two_targets_is_scored_per_id_and_target(tmp_path):
    """Forecast rows name their series by id and target; the history by the model's id/target."""
    frame = series(days=12)
    frame["other"] = (frame["value"] * 1.1 + 3).round(3)
    early = frame[frame.timestamp < pd.Timestamp("2024-01-11")]
    early.to_csv(tmp_path / "early.csv", index=False)
    r = cli("train", tmp_path / "early.csv", "-o", tmp_path / "m.pt", "--target", "value,other", "--horizon", H,
            "--input-size", 48, "--hidden-size", 8, "--ensemble", 1, "--max-steps", 5, "-q")
    assert r.exit_code == 0, r.stderr
    assert cli("predict", tmp_path / "m.pt", tmp_path / "early.csv", "-o", tmp_path / "f.csv", "-q").exit_code == 0
    frame.to_csv(tmp_path / "now.csv", index=False)
    r, doc = run(tmp_path, tmp_path / "now.csv", tmp_path / "f.csv", "--history", tmp_path / "h")
    assert r.exit_code == 0 and not doc["skipped"], r.stderr
    rows = pd.read_parquet(tmp_path / "h")
    assert sorted(rows.series_id.unique()) == ["s0/other", "s0/value", "s1/other", "s1/value", "s2/other", "s2/value"]
    at = rows[(rows.series_id == "s1/other") & (rows.step == 3)].iloc[0]
    truth = frame[(frame.series_id == "s1") & (frame.timestamp == pd.Timestamp(at.timestamp))]["other"].iloc[0]
    assert at.actual == pytest.approx(truth)


def test_review_cases_fail_or_skip_by_name(nightly, tmp_path):
    """A run whose every file is skipped fails (exit 1) and writes nothing; a first run's part
    left by a crash does not make the folder foreign; --history inside a FORECAST folder is
    refused; the Python API locks the history."""
    from grucast.errors import LockedError
    from grucast.ops import locks
    from grucast.workflows.monitor import monitor

    root, full = nightly
    feed(full, (TRAIN_DAYS + 1) * 24).to_csv(tmp_path / "now.csv", index=False)
    night1 = root / "fc" / "night1.csv"
    late = tmp_path / "late.csv"  # every row before its claimed origin: a file-level skip
    shutil.copy(night1, late)
    m = json.loads((root / "fc" / "night1.csv.manifest.json").read_text())
    m["origins"] = {k: (pd.Timestamp(v) + pd.Timedelta(hours=30)).isoformat() for k, v in m["origins"].items()}
    (tmp_path / "late.csv.manifest.json").write_text(json.dumps(m))
    r = cli("monitor", tmp_path / "now.csv", late, "--history", tmp_path / "h")
    assert r.exit_code == 1 and "none of the forecast files could be scored" in r.stderr, r.stderr
    assert not (tmp_path / "h").exists()
    feed(full, TRAIN_DAYS * 24 - 5).to_csv(tmp_path / "old.csv", index=False)  # older than the forecast
    r = cli("monitor", tmp_path / "old.csv", night1, "--history", tmp_path / "h")
    assert r.exit_code == 1 and "DATA ends before the forecast's origin" in r.stderr and not (tmp_path / "h").exists()
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / "part-000001.parquet").write_bytes(b"half a run")
    r = cli("monitor", tmp_path / "now.csv", night1, "--history", tmp_path / "crashed")
    assert r.exit_code == 0, r.stderr
    assert len(pd.read_parquet(tmp_path / "crashed")) == 3 * H  # the leftover was written over
    (tmp_path / "fcs").mkdir()
    for name in ("night1.csv", "night1.csv.manifest.json"):
        shutil.copy(root / "fc" / name, tmp_path / "fcs" / name)
    r = cli("monitor", tmp_path / "now.csv", tmp_path / "fcs", "--history", tmp_path / "fcs" / "h")
    assert r.exit_code == 1 and "is inside FORECAST" in r.stderr and not (tmp_path / "fcs" / "h").exists()
    with locks.lock(tmp_path / "crashed"):
        with pytest.raises(LockedError):
            monitor(tmp_path / "now.csv", [night1], tmp_path / "crashed")


def test_the_mase_scale_of_a_small_series_after_huge_ones_is_exact():
    from grucast.evaluation import metrics
    from grucast.evaluation.monitoring import score_rows

    rng = np.random.default_rng(0)
    lengths = [200] * 50 + [200]
    values = np.concatenate([1e9 + rng.normal(0, 1e7, 200) for _ in range(50)] + [0.01 + rng.normal(0, 1e-3, 200)])
    offsets = np.r_[0, np.cumsum(lengths)]
    series, origin = np.array([50, 50, 3]), np.array([150, 60, 100])
    s = score_rows(values, None, offsets, series, origin, origin + 1, 24)
    for i, (k, o) in enumerate(zip(series, origin)):
        ends = np.zeros(51, dtype=np.int64)
        ends[k] = o + 1
        assert s.scale[i] == pytest.approx(metrics.seasonal_scale(values, offsets, ends, 24)[k], rel=1e-9)
