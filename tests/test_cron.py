"""The unattended batch run: what a scheduler (cron, systemd, Airflow, CI) relies on.

Exit codes per failure, nothing half-written, a manifest beside every output, repeatable
runs, shards that add up to the whole, one run per output at a time, interrupted training
that resumes step for step, fine-tuning, machine-readable event logs and `grucast info`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import grucast
from grucast.config import files
from grucast.data import shards
from grucast.errors import CheckpointError, Interrupted
from grucast.ops import gates, locks, paths, signals
from grucast.workflows import info, train

from conftest import TINY, cli, sine_panel

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")

# The model every test here trains: tiny, a few steps, horizon 6 from 24 steps of input.
SHAPE = ["--horizon", "6", "--input-size", "24"]
QUICK = [*TINY, *SHAPE, "--max-steps", "5"]
# sine_panel(): 3 hourly series of 240 points from 2024-01-01 00:00; the newest observation:
LAST = pd.Timestamp("2024-01-10 23:00")


def one_error_line(r, code=1):
    """The whole of stderr is one 'Error: ...' line, and the exit code is code."""
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_ok(data, model, *extra):
    r = cli("train", data, "-o", model, *QUICK, *extra)
    assert r.exit_code == 0, r.stderr
    return r


@pytest.fixture
def trained(tmp_path):
    """(data, model): the sine panel and a tiny model trained on it."""
    data, model = tmp_path / "d.csv", tmp_path / "m.pt"
    sine_panel().to_csv(data, index=False)
    train_ok(data, model)
    return data, model


def hidden_files(folder: Path) -> list[str]:
    """grucast's temporary files (.NAME.*.tmp) in a folder; other hidden entries, such as the
    .nv compute cache CUDA creates, are not grucast's."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


# ---------------------------------------------------------------- exit codes


def test_missing_checkpoint_exits_3(trained, tmp_path):
    data, _ = trained
    r = cli("predict", "missing.pt", data, "-o", "f.csv")
    assert one_error_line(r, 3) == "Error: checkpoint not found: missing.pt"
    assert not (tmp_path / "f.csv").exists()
    r = cli("info", "missing.pt")
    assert one_error_line(r, 3) == "Error: checkpoint not found: missing.pt"


def test_damaged_checkpoint_exits_3(trained, tmp_path):
    data, model = trained
    whole = model.read_bytes()
    (tmp_path / "cut.pt").write_bytes(whole[: len(whole) // 2])  # a copy that stopped half-way
    r = cli("predict", "cut.pt", data, "-o", "f.csv")
    assert one_error_line(r, 3).startswith("Error: cut.pt is not a grucast checkpoint")
    r = cli("info", "cut.pt")
    assert one_error_line(r, 3).startswith("Error: cut.pt is not a grucast checkpoint")
    assert not (tmp_path / "f.csv").exists()


def test_checkpoint_with_a_damaged_end_record_exits_3(trained, tmp_path):
    data, model = trained
    damaged = bytearray(model.read_bytes())
    locator = damaged.rfind(b"PK\x06\x07")  # the ZIP64 end-of-central-directory locator torch writes
    assert locator > 0
    damaged[locator + 4] = 1  # its 'disk number' field, as one overwritten byte would
    (tmp_path / "bad.pt").write_bytes(bytes(damaged))
    r = cli("predict", "bad.pt", data, "-o", "f.csv")
    assert one_error_line(r, 3).startswith("Error: bad.pt ")
    assert one_error_line(cli("info", "bad.pt"), 3).startswith("Error: bad.pt ")


def test_checkpoint_with_damaged_weights_exits_3(trained, tmp_path):
    data, model = trained
    damaged = bytearray(model.read_bytes())
    with zipfile.ZipFile(model) as archive:
        member = archive.getinfo("archive/data/0")  # the bytes of the first tensor
    name_len, extra_len = struct.unpack("<HH", damaged[member.header_offset + 26:member.header_offset + 30])
    start = member.header_offset + 30 + name_len + extra_len
    damaged[start + member.file_size // 2] ^= 0x40  # one flipped bit
    (tmp_path / "bad.pt").write_bytes(bytes(damaged))
    r = cli("predict", "bad.pt", data, "-o", "f.csv")
    assert one_error_line(r, 3).startswith("Error: bad.pt ")
    assert not (tmp_path / "f.csv").exists()


def test_non_numeric_data_exits_1(trained, tmp_path):
    _, model = trained
    (tmp_path / "bad.csv").write_text("series_id,timestamp,value\ns0,2024-01-01 00:00,1\ns0,2024-01-01 01:00,oops\n")
    r = cli("predict", model, "bad.csv", "-o", "f.csv")
    assert one_error_line(r) == "Error: non-numeric value 'oops' in column 'value' at line 3"
    assert not (tmp_path / "f.csv").exists()


def test_unknown_flag_exits_2(trained):
    data, model = trained
    r = cli("predict", model, data, "--no-such-flag")
    assert r.exit_code == 2 and "No such option" in r.stderr


def test_stale_data_exits_4_and_writes_nothing(trained, tmp_path):
    data, model = trained  # its newest observation is from January 2024
    r = cli("predict", model, data, "-o", "f.csv", "--max-age", "2d")
    line = one_error_line(r, 4)
    assert line.startswith("Error: stale input: the newest observation in d.csv is 2024-01-10 23:00:00, ")
    assert "--max-age allows 2.0 days; nothing was written" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "m.pt", "m.pt.manifest.json"]


def test_max_age_is_measured_from_as_of(trained, tmp_path):
    data, model = trained
    r = cli("predict", model, data, "-o", "f.csv", "--max-age", "2d", "--as-of", "2024-01-11 06:00")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "f.csv").is_file()
    doc = json.loads((tmp_path / "f.csv.manifest.json").read_text())
    assert doc["max_age"] == "2d" and pd.Timestamp(doc["as_of"]) == pd.Timestamp("2024-01-11 06:00")
    # Three days after the data ends is too late for --max-age 2d.
    r = cli("predict", model, data, "-o", "g.csv", "--max-age", "2d", "--as-of", "2024-01-14")
    assert one_error_line(r, 4).startswith("Error: stale input")
    assert not (tmp_path / "g.csv").exists()


def test_as_of_without_max_age_exits_1(trained, tmp_path):
    data, model = trained
    r = cli("predict", model, data, "-o", "f.csv", "--as-of", "2024-01-11")
    assert one_error_line(r) == "Error: --as-of only applies with --max-age"
    assert not (tmp_path / "f.csv").exists()


def test_max_age_on_integer_steps_exits_1(tmp_path):
    y = 10 + np.sin(2 * np.pi * np.arange(200) / 24)
    pd.DataFrame({"step": np.arange(200), "value": y}).to_csv(tmp_path / "steps.csv", index=False)
    train_ok("steps.csv", "m.pt", "--season", "24")
    r = cli("predict", "m.pt", "steps.csv", "-o", "f.csv", "--max-age", "2d")
    assert one_error_line(r) == "Error: --max-age needs datetime timestamps; this data has integer steps"
    assert not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize("text", ["soon", "0", "-2d"])
def test_bad_max_age_exits_1(trained, tmp_path, text):
    data, model = trained
    r = cli("predict", model, data, "-o", "f.csv", f"--max-age={text}")
    assert one_error_line(r).startswith("Error: --max-age ")
    assert not (tmp_path / "f.csv").exists()


def test_documented_max_age_spellings_do_not_rely_on_deprecated_pandas_units():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gates.parse_age("36h") == pd.Timedelta(hours=36)
        assert gates.parse_age("90min") == pd.Timedelta(minutes=90)
        assert gates.parse_age("2d") == pd.Timedelta(days=2)
        assert gates.parse_age("1w") == pd.Timedelta(weeks=1)


def periodic_csv(path: Path, noise: float = 0.0) -> Path:
    """One hourly series repeating the same 24 values for 60 days (plus noise): seasonal naive
    forecasts it perfectly (or nearly), and naive (the last value) very badly."""
    y = np.tile(np.arange(24.0) ** 1.5, 60)
    y = y + np.random.default_rng(0).normal(0, noise, len(y)) if noise else y
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=len(y), freq="h"), "value": y}).to_csv(path, index=False)
    return path


GATE_MODEL = ["--hidden-size", "8", "--num-layers", "1", "--epochs", "1", "--batch-size", "64", "--input-size", "48",
              "--ensemble", "1"]


@pytest.mark.parametrize("noise, metric", [
    (0.0, "MAE"),  # exactly periodic: the seasonal differences are all 0, so MASE is undefined and MAE decides
    (0.05, "MASE"),
])
def test_quality_gate_failure_exits_5_and_keeps_the_previous_checkpoint(tmp_path, noise, metric):
    data = periodic_csv(tmp_path / "p.csv", noise)
    r = cli("train", data, "-o", "m.pt", *GATE_MODEL, "--max-steps", "3")  # the model in production
    assert r.exit_code == 0, r.stderr
    before, manifest_before = (tmp_path / "m.pt").read_bytes(), (tmp_path / "m.pt.manifest.json").read_bytes()
    r = cli("train", data, "-o", "m.pt", *GATE_MODEL, "--fail-if-worse-than", "seasonal-naive", "-q")
    line = one_error_line(r, 5)
    m = re.fullmatch(rf"Error: quality gate failed: validation {metric} (\S+) against seasonal-naive (\S+) "
                     r"\(\+(\S+) %\); the previous checkpoint was kept", line)
    assert m, line
    model_score, baseline_score, worse_by = (float(g) for g in m.groups())
    assert model_score > baseline_score >= 0 and worse_by > 0  # by how much: +inf % against a perfect baseline
    assert (tmp_path / "m.pt").read_bytes() == before
    assert (tmp_path / "m.pt.manifest.json").read_bytes() == manifest_before
    assert hidden_files(tmp_path) == [] and not (tmp_path / "m.pt.lock").exists()


def test_unknown_quality_gate_baseline_exits_1_before_training(tmp_path):
    data = periodic_csv(tmp_path / "p.csv")
    r = cli("train", data, "-o", "m.pt", *GATE_MODEL, "--fail-if-worse-than", "bogus")
    assert one_error_line(r) == "Error: --fail-if-worse-than takes naive or seasonal-naive, got 'bogus'"
    assert not (tmp_path / "m.pt").exists()


def test_quality_gate_that_passes_is_reported_and_recorded(tmp_path):
    # Naive repeats the peak of the sawtooth over the next day: far worse than even a 1-epoch GRU.
    data = periodic_csv(tmp_path / "p.csv")
    r = cli("train", data, "-o", "m.pt", *GATE_MODEL, "--fail-if-worse-than", "naive")
    assert r.exit_code == 0, r.stderr
    assert re.search(r"^Quality gate passed: validation MAE \S+ against naive \S+ \(-[0-9.]+ %\)$", r.stderr, re.MULTILINE), r.stderr
    r = cli("train", data, "-o", "m.pt", *GATE_MODEL, "--fail-if-worse-than", "naive", "--json")
    assert r.exit_code == 0, r.stderr
    gate = json.loads(r.stdout)["quality_gate"]
    assert gate.startswith("quality gate passed: validation MAE ")
    assert json.loads((tmp_path / "m.pt.manifest.json").read_text())["quality_gate"] == gate


# ---------------------------------------------------------------- manifest


def test_predict_writes_a_manifest_of_what_it_read_and_wrote(trained, tmp_path):
    data, model = trained
    (tmp_path / "out").mkdir()
    r = cli("predict", model, data, "-o", "out/f.csv")
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "out" / "f.csv"
    doc = json.loads((tmp_path / "out" / "f.csv.manifest.json").read_text())
    assert doc["command"] == "predict" and doc["exit_status"] == 0
    assert doc["input"]["sha256"] == sha256(data) and doc["input"]["series"] == 3
    assert doc["checkpoint"]["sha256"] == sha256(model)
    assert doc["output"]["sha256"] == sha256(out) and doc["output"]["rows"] == 18
    frame = pd.read_csv(data, parse_dates=["timestamp"])
    last = frame.groupby("series_id").timestamp.max()
    assert set(doc["origins"]) == {"s0", "s1", "s2"}
    assert {k: pd.Timestamp(v) for k, v in doc["origins"].items()} == last.to_dict()
    assert doc["versions"]["grucast"] == grucast.__version__
    assert pd.Timestamp(doc["finished_at"]).tz is not None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f.csv", "f.csv.manifest.json"]  # no lock, no temp file


def test_train_writes_a_manifest_with_the_checkpoint_hash_and_metrics(tmp_path):
    sine_panel().to_csv(tmp_path / "d.csv", index=False)
    train_ok("d.csv", "m.pt")
    doc = json.loads((tmp_path / "m.pt.manifest.json").read_text())
    assert doc["command"] == "train" and doc["exit_status"] == 0
    assert doc["output"]["sha256"] == sha256(tmp_path / "m.pt") and doc["output"]["kind"] == "checkpoint"
    assert doc["input"]["sha256"] == sha256(tmp_path / "d.csv")
    assert doc["metrics"]["windows"] == 3 and np.isfinite(doc["metrics"]["gru"]["mase"])
    assert doc["config"]["model"]["hidden_size"] == 8 and doc["training"]["steps"] == 5
    assert not (tmp_path / "m.pt.lock").exists()


def test_no_manifest_writes_none(trained, tmp_path):
    data, model = trained
    assert cli("predict", model, data, "-o", "f.csv", "--no-manifest").exit_code == 0
    assert cli("train", data, "-o", "m2.pt", *QUICK, "--no-manifest").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "f.csv", "m.pt", "m.pt.manifest.json", "m2.pt"]


# ---------------------------------------------------------------- repeatable


def test_the_same_run_twice_gives_the_same_bytes(tmp_path):
    sine_panel().to_csv(tmp_path / "d.csv", index=False)
    train_ok("d.csv", "m.pt", "--seed", "3", "--device", "cpu")
    first = (tmp_path / "m.pt").read_bytes()
    train_ok("d.csv", "m.pt", "--seed", "3", "--device", "cpu")
    assert (tmp_path / "m.pt").read_bytes() == first
    assert cli("predict", "m.pt", "d.csv", "-o", "f.csv", "--device", "cpu").exit_code == 0
    forecast = (tmp_path / "f.csv").read_bytes()
    assert cli("predict", "m.pt", "d.csv", "-o", "f.csv", "--device", "cpu").exit_code == 0
    assert (tmp_path / "f.csv").read_bytes() == forecast


# ---------------------------------------------------------------- shards


def sharded_forecasts(tmp_path, *extra):
    """(whole, [shard 1/3, 2/3, 3/3]): forecasts of 10 series, unsharded and in three shards."""
    sine_panel(n_series=10, length=120).to_csv(tmp_path / "d.csv", index=False)
    train_ok("d.csv", "m.pt")
    assert cli("predict", "m.pt", "d.csv", "-o", "all.csv").exit_code == 0
    parts = []
    for i in (1, 2, 3):
        r = cli("predict", "m.pt", "d.csv", "-o", f"part{i}.csv", "--shard", f"{i}/3", *extra)
        assert r.exit_code == 0, r.stderr
        assert json.loads((tmp_path / f"part{i}.csv.manifest.json").read_text())["shard"] == f"{i}/3"
        parts.append(pd.read_csv(tmp_path / f"part{i}.csv"))
    return pd.read_csv(tmp_path / "all.csv"), parts


SHARD_KEY = ["series_id", "timestamp"]


def test_shards_split_the_series_between_them(tmp_path):
    whole, parts = sharded_forecasts(tmp_path)
    all_ids = np.array(sorted(whole.series_id.unique()))
    assert len(all_ids) == 10
    seen: set = set()
    for i, part in enumerate(parts, start=1):
        ids = set(part.series_id)
        assert ids and not ids & seen, f"shard {i}/3 repeats series {ids & seen}"
        assert ids == set(all_ids[shards.contains(all_ids, (i, 3))])
        seen |= ids
    assert seen == set(all_ids)
    together = pd.concat(parts).sort_values(SHARD_KEY).reset_index(drop=True)
    whole = whole.sort_values(SHARD_KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(together[SHARD_KEY], whole[SHARD_KEY])
    np.testing.assert_allclose(together.forecast, whole.forecast, rtol=1e-6)  # the same to float32 precision


def test_shards_together_are_exactly_the_unsharded_forecast(tmp_path):
    whole, parts = sharded_forecasts(tmp_path)
    together = pd.concat(parts).sort_values(SHARD_KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(together, whole.sort_values(SHARD_KEY).reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("read", ["whole", "shard-data"])
def test_shard_files_concatenate_to_the_unsharded_file_byte_for_byte(tmp_path, read):
    """The rows come in shard order (by the CRC-32 of the id), so shard files 1..n, headers
    dropped, are the one-process file: `tail -q -n +2` of the parts after one header. With
    --shard-data each shard reads only its series' rows, and its manifest counts those."""
    sharded_forecasts(tmp_path, *(["--shard-data"] if read == "shard-data" else []))
    whole = (tmp_path / "all.csv").read_bytes()
    parts = [(tmp_path / f"part{i}.csv").read_bytes() for i in (1, 2, 3)]
    header = whole.split(b"\n", 1)[0] + b"\n"
    assert all(p.startswith(header) for p in parts)
    assert header + b"".join(p[len(header):] for p in parts) == whole
    read_in = [json.loads((tmp_path / f"part{i}.csv.manifest.json").read_text())["input"] for i in (1, 2, 3)]
    if read == "shard-data":
        assert sum(r["observations"] for r in read_in) == 1200 and sum(r["series"] for r in read_in) == 10
        assert all(0 < r["series"] < 10 for r in read_in)
    else:
        assert all((r["observations"], r["series"]) == (1200, 10) for r in read_in)


def test_shards_are_runs_of_one_order_for_every_number_of_shards():
    rng = np.random.default_rng(0)
    ids = np.array([f"id-{rng.integers(1 << 40)}" for _ in range(500)] + ["x", "y", "z"], dtype=object)
    order = shards.order(ids)
    for n in (1, 2, 3, 7, 64, 1000):
        of = shards.of(ids[order], n)
        assert (np.diff(of) >= 0).all() and of.min() >= 0 and of.max() < n  # contiguous, in shard order
        sizes = np.bincount(of, minlength=n)
        assert sizes.sum() == len(ids) and (n > 64 or sizes.min() > 0)
        for i in (1, n):
            assert (shards.contains(ids, (i, n)) == (shards.of(ids, n) == i - 1)).all()
    shuffled = ids[rng.permutation(len(ids))]
    assert (shuffled[shards.order(shuffled)] == ids[order]).all()  # one order, whatever the file's


@pytest.mark.parametrize("extra", [[], ["--shard-data"]], ids=["whole", "shard-data"])
def test_a_shard_of_series_too_short_for_the_network_gets_their_fallback(trained, tmp_path, extra):
    """The unsharded run gives a short series its naive forecast; so does the shard holding only
    it, whether it reads the whole file or its series' rows alone."""
    data, model = trained
    df = pd.read_csv(data)
    long_id = df.series_id.iloc[0]
    short_id = next(f"short{k}" for k in range(100) if shards.of([f"short{k}"], 2)[0] != shards.of([long_id], 2)[0])
    few = df[df.series_id == long_id].tail(5).assign(series_id=short_id)
    pd.concat([df[df.series_id == long_id], few]).to_csv(tmp_path / "two.csv", index=False)
    i = int(shards.of([short_id], 2)[0]) + 1
    r = cli("predict", model, "two.csv", "-o", "part.csv", "--shard", f"{i}/2", *extra)
    assert r.exit_code == 0, r.stderr
    part = pd.read_csv(tmp_path / "part.csv")
    assert set(part.series_id) == {short_id} and set(part.method) == {"naive"}
    assert cli("predict", model, "two.csv", "-o", "all.csv").exit_code == 0
    whole = pd.read_csv(tmp_path / "all.csv")
    pd.testing.assert_frame_equal(whole[whole.series_id == short_id].reset_index(drop=True), part)


@pytest.mark.parametrize("shard", ["0/2", "3/2", "x"])
def test_bad_shard_exits_1(trained, tmp_path, shard):
    data, model = trained
    r = cli("predict", model, data, "-o", "f.csv", "--shard", shard)
    assert one_error_line(r).startswith("Error: --shard ")
    assert not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize("extra", [[], ["--shard-data"]], ids=["whole", "shard-data"])
def test_an_empty_shard_writes_the_header_alone_so_shards_still_compose(trained, tmp_path, extra):
    """More shards than series leave some empty: such a task exits 0 with a file of the header
    alone (and its manifest), so an array job's outputs still concatenate to the whole; with
    --shard-data it read no series, and says so, even with --max-age (none of its series is stale)."""
    data, model = trained
    ids = pd.read_csv(data).series_id.unique()
    n = 50  # more shards than series: some hold none of them
    empty = next(i for i in range(1, n + 1) if not shards.contains(ids, (i, n)).any())
    r = cli("predict", model, data, "-o", "f.csv", "--shard", f"{empty}/{n}", "--max-age", "1d", *extra)
    assert r.exit_code == (0 if extra else 4), r.stderr
    if not extra:  # the whole file's newest observation is checked, and it is years old
        r = cli("predict", model, data, "-o", "f.csv", "--shard", f"{empty}/{n}")
    assert "Wrote 0 forecasts for 0 series to f.csv" in r.stderr
    assert (tmp_path / "f.csv").read_text() == "series_id,timestamp,forecast,method\n"
    shown = json.loads((tmp_path / "f.csv.manifest.json").read_text())
    assert shown["output"]["rows"] == 0
    assert shown["input"]["series"] == (0 if extra else len(ids))


# ---------------------------------------------------------------- lock


@POSIX_ONLY
def test_locked_output_exits_75_and_is_left_alone(trained, tmp_path):
    data, model = trained
    out = tmp_path / "f.csv"
    out.write_text("the forecast another run is replacing\n")
    # flock locks belong to an open file description, so this in-process run conflicts with the
    # lock held here exactly as a second process would.
    with locks.lock(out):
        r = cli("predict", model, data, "-o", out)
        line = one_error_line(r, 75)
        assert f"another grucast run (pid {os.getpid()}) is writing {out} and holds f.csv.lock" in line
        assert "--wait" in line
        assert out.read_text() == "the forecast another run is replacing\n"
        assert not (tmp_path / "f.csv.manifest.json").exists()
    assert not paths.lock_path(out).exists()
    r = cli("predict", model, data, "-o", out)
    assert r.exit_code == 0, r.stderr
    assert out.read_text().startswith("series_id,timestamp,forecast,method\n")
    assert not paths.lock_path(out).exists()


@POSIX_ONLY
def test_wait_writes_only_after_the_other_run_lets_go(trained, tmp_path):
    data, model = trained
    out = tmp_path / "f.csv"
    held, written_while_held = threading.Event(), []

    def other_run():
        with locks.lock(out):
            held.set()
            time.sleep(1.0)
            written_while_held.append(out.exists())

    t = threading.Thread(target=other_run)
    t.start()
    try:
        assert held.wait(10)
        r = cli("predict", model, data, "-o", out, "--wait")
    finally:
        t.join(30)
    assert written_while_held == [False]
    assert r.exit_code == 0, r.stderr
    assert out.is_file() and not paths.lock_path(out).exists()


@POSIX_ONLY
def test_a_lock_file_left_by_a_killed_run_is_taken_over(trained, tmp_path):
    data, model = trained
    (tmp_path / "f.csv.lock").write_text("999999")  # what a SIGKILLed run leaves: the file, but no lock
    r = cli("predict", model, data, "-o", "f.csv")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "f.csv").is_file() and not (tmp_path / "f.csv.lock").exists()


# ---------------------------------------------------------------- resume (library)


class StopAt:
    """A training callback that asks for a stop, as SIGTERM would, after step k."""

    def __init__(self, k: int):
        self.k, self.stop = k, signals.StopRequest()

    def on_start(self, total_steps, steps_per_epoch, windows_per_epoch):
        assert self.k < total_steps

    def on_step(self, step):
        if step == self.k:
            self.stop.signum = signal.SIGTERM

    def on_eval(self, record):
        pass

    def on_end(self, result):
        pass


def resume_config():
    # 3 series x 205 windows = 615 windows: 10 steps per epoch, 30 in all.
    return files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8, "num_layers": 1,
                                            "ensemble": 1}, "training": {"epochs": 3, "batch_size": 64}})


@pytest.mark.parametrize("k", [4, 10], ids=["mid-epoch", "epoch-end"])
def test_an_interrupted_training_resumes_to_the_same_checkpoint(tmp_path, k):
    data, out = tmp_path / "d.csv", tmp_path / "m.pt"
    sine_panel().to_csv(data, index=False)
    out.write_bytes(b"the model in production")
    cfg, cb = resume_config(), StopAt(k)
    with pytest.raises(Interrupted) as e:
        train.train(data, out, cfg, callback=cb, stop=cb.stop)
    assert e.value.exit_code == 143 and e.value.step == k
    saved = train.resume_path(out)
    assert saved == tmp_path / "m.pt.resume" and saved.is_file()
    assert f"--resume {saved}" in str(e.value)
    assert out.read_bytes() == b"the model in production"

    train.train(data, out, cfg, resume_from=saved)
    train.train(data, tmp_path / "straight.pt", cfg)
    assert out.read_bytes() == (tmp_path / "straight.pt").read_bytes()
    assert not saved.exists()
    assert hidden_files(tmp_path) == []


def test_resume_needs_the_same_data_and_an_interrupted_run(tmp_path):
    data, out = tmp_path / "d.csv", tmp_path / "m.pt"
    sine_panel().to_csv(data, index=False)
    cfg, cb = resume_config(), StopAt(4)
    with pytest.raises(Interrupted):
        train.train(data, out, cfg, callback=cb, stop=cb.stop)
    saved = train.resume_path(out)
    sine_panel(seed=1).to_csv(tmp_path / "other.csv", index=False)  # same shape, other values
    with pytest.raises(CheckpointError, match="other.csv is not the data file of the run saved in") as e:
        train.train(tmp_path / "other.csv", out, cfg, resume_from=saved)
    assert e.value.exit_code == 3
    assert saved.is_file() and not out.exists()  # the saved run is still there to resume

    train.train(data, out, cfg, resume_from=saved)
    with pytest.raises(CheckpointError, match="is a finished model, not an interrupted run") as e:
        train.train(data, tmp_path / "m2.pt", cfg, resume_from=out)
    assert e.value.exit_code == 3 and not (tmp_path / "m2.pt").exists()


# ---------------------------------------------------------------- real signals


def quiet_env() -> dict:
    """A scheduler's environment: no terminal, no colour, CI set."""
    env = {**os.environ, "NO_COLOR": "1", "CI": "true"}
    env.pop("FORCE_COLOR", None)
    return env


def grucast_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "grucast", *[str(a) for a in args]]


@POSIX_ONLY
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_training_saves_a_resumable_run(tmp_path, sig, code):
    data, model = tmp_path / "d.csv", tmp_path / "m.pt"
    sine_panel().to_csv(data, index=False)
    train_ok(data, model)  # the model in production
    before, manifest_before = model.read_bytes(), (tmp_path / "m.pt.manifest.json").read_bytes()
    # 10 steps per epoch, 100 in all (seconds of work after the first check), no early stop.
    proc = subprocess.Popen(
        grucast_cmd("train", data, "-o", model, *TINY, *SHAPE, "--epochs", "200", "--max-steps", "100", "--patience", "1000"),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=quiet_env(),
    )
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        head = []
        for line in proc.stderr:
            head.append(line)
            if "val loss" in line:
                break
        assert head and "val loss" in head[-1], "".join(head)
        proc.send_signal(sig)
        rest = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, "".join(head) + rest
    last = rest.strip().splitlines()[-1]
    saved = tmp_path / "m.pt.resume"
    assert last.startswith(f"Error: training interrupted by {sig.name} at step "), rest
    assert f"saved in {saved}" in last and f"--resume {saved}" in last
    assert "Traceback" not in rest
    assert model.read_bytes() == before
    assert (tmp_path / "m.pt.manifest.json").read_bytes() == manifest_before
    assert saved.is_file()
    assert hidden_files(tmp_path) == [] and not (tmp_path / "m.pt.lock").exists()

    r = cli("train", data, "-o", model, "--resume", saved)
    assert r.exit_code == 0, r.stderr
    assert model.read_bytes() != before and not saved.exists()
    assert info.info(model)["training"]["steps"] == 100


@POSIX_ONLY
def test_sigkill_while_writing_leaves_the_old_file_whole(tmp_path):
    out = tmp_path / "f.csv"
    out.write_text("series_id,timestamp,forecast\ns0,2024-01-11 00:00:00,1.5\n")
    before = out.read_bytes()
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from grucast.ops.publish import Staged, publish\n"
        "def write(tmp):\n"
        "    with open(tmp, 'w') as f:\n"
        "        f.write('series_id,timestamp,forecast\\n' + 's1,2024-01-11 00:00:00,2.5\\n' * 50000)\n"
        "        f.flush()\n"
        "        print('half-way', flush=True)\n"
        "        time.sleep(60)\n"
        "publish([Staged(Path(sys.argv[1]), write)])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stdout.readline().strip() == "half-way"
        proc.kill()  # SIGKILL: no handler, no clean-up runs
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.read_bytes() == before
    others = sorted(p.name for p in tmp_path.iterdir() if p.name != "f.csv")
    # Nothing can remove the temporary file of a killed writer: at most one hidden .f.csv.*.tmp
    # beside the output may remain, and the output itself is never partial.
    assert len(others) <= 1 and all(re.fullmatch(r"\.f\.csv\..+\.tmp", n) for n in others), others


def test_bad_as_of_exits_1_and_writes_nothing(trained, tmp_path):
    data, model = trained
    r = cli("predict", model, data, "-o", "f.csv", "--max-age", "2d", "--as-of", "yesterday-ish")
    assert one_error_line(r) == ("Error: --as-of takes a date or time such as 2024-06-01 or '2024-06-01 06:00', "
                                 "got 'yesterday-ish'")
    assert not (tmp_path / "f.csv").exists()


def test_a_log_file_that_cannot_be_opened_exits_1_before_any_work(trained, tmp_path):
    data, model = trained
    r = cli("predict", model, data, "-o", "f.csv", "--log-file", tmp_path / "no" / "such" / "ev.log")
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"Error: cannot write --log-file {tmp_path / 'no' / 'such' / 'ev.log'}: "
                                             f"folder {tmp_path / 'no' / 'such'} does not exist"]
    assert not (tmp_path / "f.csv").exists()


# ---------------------------------------------------------------- --init-from


def test_init_from_fine_tunes_with_the_models_own_shape(trained, tmp_path):
    _, model = trained
    sine_panel(n_series=4, length=200, seed=5).to_csv(tmp_path / "new.csv", index=False)
    r = cli("train", "new.csv", "-o", "m2.pt", "--init-from", model, "--max-steps", "5",
            "--hidden-size", "16", "--input-size", "30")
    assert r.exit_code == 0, r.stderr
    old, new = info.info(model), info.info(tmp_path / "m2.pt")
    for key in ("hidden_size", "input_size", "horizon", "num_layers"):
        assert new["config"]["model"][key] == old["config"]["model"][key], key
    assert new["config"]["model"]["hidden_size"] == 8 and new["config"]["model"]["input_size"] == 24
    assert new["training"]["data_file"] == "new.csv" and new["training"]["steps"] == 5
    assert (f"Warning: --init-from keeps the settings of {model}; ignored: model.input_size (--input-size), "
            "model.hidden_size (--hidden-size)") in r.stderr


def test_init_from_a_missing_checkpoint_exits_3(trained, tmp_path):
    data, _ = trained
    r = cli("train", data, "-o", "m2.pt", "--init-from", "nope.pt", *QUICK)
    assert one_error_line(r, 3) == "Error: checkpoint not found: nope.pt"
    assert not (tmp_path / "m2.pt").exists() and not list(tmp_path.glob("m2.pt*"))


def test_init_from_and_resume_exclude_each_other(trained, tmp_path):
    data, model = trained
    r = cli("train", data, "-o", "m2.pt", "--init-from", model, "--resume", "m2.pt.resume")
    assert one_error_line(r) == (
        "Error: --init-from and --resume exclude each other: --resume already continues from its own weights"
    )
    assert not (tmp_path / "m2.pt").exists()


# ---------------------------------------------------------------- event logs


def test_json_event_log_file(trained, tmp_path):
    data, model = trained
    args = ["-o", "f.csv", "--log-file", "ev.log", "--log-format", "json"]
    r = cli("predict", model, data, *args)
    assert r.exit_code == 0, r.stderr
    assert "Wrote 18 forecasts" in r.stderr  # a log file leaves the usual lines alone
    r = cli("predict", "missing.pt", data, *args)
    assert one_error_line(r, 3) == "Error: checkpoint not found: missing.pt"
    events = [json.loads(line) for line in (tmp_path / "ev.log").read_text().splitlines()]
    for e in events:
        assert {"time", "level", "command", "event"} <= set(e), e
        assert e["command"] == "predict" and pd.Timestamp(e["time"]).tz is not None
    names = [e["event"] for e in events]
    starts = [i for i, n in enumerate(names) if n == "started"]
    assert len(starts) == 2, names  # appended, one run after the other
    first, second = events[: starts[1]], events[starts[1]:]
    assert first[-1]["event"] == "finished" and first[-1]["exit_code"] == 0 and first[-1]["rows"] == 18
    assert "failed" not in [e["event"] for e in first]
    assert second[-1]["event"] == "failed" and second[-1]["exit_code"] == 3 and second[-1]["level"] == "error"
    assert second[-1]["message"] == "checkpoint not found: missing.pt"


def test_json_log_format_without_a_file_makes_stderr_json_lines(tmp_path):
    sine_panel().to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", *QUICK, "--log-format", "json")
    assert r.exit_code == 0, r.stderr
    events = [json.loads(line) for line in r.stderr.splitlines()]  # every line is JSON
    names = [e["event"] for e in events]
    assert names[0] == "started" and names[-1] == "finished"
    assert {"data_read", "training_started", "validation", "training_finished"} <= set(names)
    r = cli("predict", "missing.pt", "d.csv", "--log-format", "json")
    assert r.exit_code == 3
    events = [json.loads(line) for line in r.stderr.splitlines()]
    assert events[0]["event"] == "started" and events[-1]["event"] == "failed" and events[-1]["exit_code"] == 3
    assert not any(e["event"] == "finished" for e in events)


# ---------------------------------------------------------------- info


def test_info_tells_what_a_checkpoint_was_trained_on(trained):
    data, model = trained
    r = cli("info", model)
    assert r.exit_code == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert f"sha256 {sha256(model)}" in text
    assert "Trained on d.csv: 3 series, 720 points, from 2024-01-01T00:00:00 to 2024-01-10T23:00:00" in text
    assert "input 24 steps, horizon 6, GRU 1 x 8" in text
    assert f"Training data sha256 {sha256(data)}" in text
    assert "Config:" in r.stdout and "hidden_size: 8" in r.stdout

    doc = json.loads(cli("info", model, "--json").stdout)
    assert doc["schema"]["time_col"] == "timestamp" and doc["schema"]["id_col"] == "series_id"
    assert doc["config"]["model"]["hidden_size"] == 8 and doc["config"]["model"]["horizon"] == 6
    assert pd.Timestamp(doc["training"]["first_time"]) == pd.Timestamp("2024-01-01")
    assert pd.Timestamp(doc["training"]["last_time"]) == LAST
    assert doc["versions"]["grucast"] == grucast.__version__ and doc["versions"]["torch"]
    assert doc["file"]["sha256"] == sha256(model)
    assert doc["training"]["data_sha256"] == sha256(data)


# ---------------------------------------------------------------- a scheduler's night


def test_a_scheduled_run_from_start_to_failures(tmp_path):
    def start(*args):
        return subprocess.Popen(grucast_cmd(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=quiet_env())

    def finish(proc):
        try:
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "\x1b[" not in out + err, err  # no colour, cursor or progress codes for a log file
        return proc.returncode, err

    sine_panel().to_csv(tmp_path / "d.csv", index=False)
    code, err = finish(start("train", "d.csv", "-o", "m.pt", *QUICK))
    assert code == 0, err
    code, err = finish(start("predict", "m.pt", "d.csv", "-o", "f.csv"))
    assert code == 0, err
    manifest = json.loads((tmp_path / "f.csv.manifest.json").read_text())
    assert manifest["output"]["sha256"] == sha256(tmp_path / "f.csv")
    good = {p: (tmp_path / p).read_bytes() for p in ("f.csv", "f.csv.manifest.json")}

    # Three failing jobs on the same output, overlapping as late cron jobs do (--wait: one at a time).
    (tmp_path / "bad.csv").write_text("series_id,timestamp,value\ns0,2024-01-01 00:00,1\ns0,2024-01-01 01:00,n/a?\n")
    stale = start("predict", "m.pt", "d.csv", "-o", "f.csv", "--wait", "--max-age", "2d")
    bad = start("predict", "m.pt", "bad.csv", "-o", "f.csv", "--wait")
    gone = start("predict", "gone.pt", "d.csv", "-o", "f.csv", "--wait")
    code, err = finish(stale)
    assert code == 4 and err.startswith("Error: stale input") and len(err.splitlines()) == 1, err
    code, err = finish(bad)
    assert code == 1 and err == "Error: non-numeric value 'n/a?' in column 'value' at line 3\n", err
    code, err = finish(gone)
    assert code == 3 and err == "Error: checkpoint not found: gone.pt\n", err
    for name, content in good.items():
        assert (tmp_path / name).read_bytes() == content, name
    assert hidden_files(tmp_path) == [] and not list(tmp_path.glob("*.lock"))
