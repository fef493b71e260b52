"""`torchrun --nproc-per-node 2 -m grucast train`: two gloo processes on the CPU train the model
one process trains, up to float rounding, and only rank 0 writes (training.distributed)."""

import os
import subprocess
import sys
from typing import Optional

import numpy as np
import pandas as pd
import pytest
import torch

from grucast import checkpoint

# float32 sums in another order: measured 8.5e-05 at most on weights of size up to 1.0 after 30
# steps (a 3-series sine panel, hidden 8), 3.4e-05 relative on the forecasts.
TOLERANCE = 1e-3

TRAIN = ["--horizon", "6", "--input-size", "24", "--hidden-size", "8", "--max-steps", "30", "--batch-size", "64"]


def torchrun(tmp_path, *args, nproc: int = 2) -> subprocess.CompletedProcess:
    """grucast under torchrun's standalone launcher, as a user would start it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "grucast", *[str(a) for a in args]]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)


def stopped(cwd, args: list[str]) -> tuple[int, str]:
    """python args started in cwd and sent SIGTERM once its training is in its second epoch:
    (its exit code, what it printed on stderr)."""
    import signal
    import time

    log = cwd.parent / f"{cwd.name}.err"
    with open(log, "w") as err:
        job = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
        deadline = time.monotonic() + 120
        while "epoch 2 step" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        job.send_signal(signal.SIGTERM)
        job.wait(timeout=120)
    return job.returncode, log.read_text()


def as_rank(cwd, *args, rank: int = 0, size: int = 2, stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    """`python -m grucast ARGS` as rank `rank` of `size` (RANK, WORLD_SIZE and LOCAL_RANK as
    torchrun sets them) without a launcher: for what a rank refuses before the ranks meet."""
    env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(size), "LOCAL_RANK": str(rank)}
    return subprocess.run([sys.executable, "-m", "grucast", *[str(a) for a in args]], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    from conftest import sine_panel

    folder = tmp_path_factory.mktemp("panel")
    sine_panel(n_series=3, length=300).to_csv(folder / "d.csv", index=False)
    return folder / "d.csv"


@pytest.fixture(scope="module")
def panel_dataset(panel):
    """The sine panel as a Parquet dataset partitioned by series (a folder series_id=ID each)."""
    folder = panel.parent / "dataset"
    pd.read_csv(panel).to_parquet(folder, partition_cols=["series_id"], index=False)
    return folder


@pytest.fixture(scope="module")
def covariate_panel(panel):
    """The sine panel with a past covariate (a noisy copy of the daily cycle) and a static
    category per series."""
    df = pd.read_csv(panel)
    hour = pd.to_datetime(df["timestamp"]).dt.hour.to_numpy()
    df["temp"] = np.round(np.sin(2 * np.pi * hour / 24) + np.random.default_rng(1).normal(0, 0.1, len(df)), 3)
    df["region"] = df["series_id"].map({"s0": "north", "s1": "south", "s2": "north"})
    path = panel.parent / "covariates.csv"
    df.to_csv(path, index=False)
    return path


def forecasts(model, data) -> pd.DataFrame:
    from conftest import cli

    r = cli("predict", model, data, "--format", "csv")
    assert r.exit_code == 0, r.stderr
    return pd.read_csv(pd.io.common.StringIO(r.stdout))


@pytest.mark.parametrize("extra", [["--ensemble", "1", "--shard-data"], ["--ensemble", "1", "--shard-data", "wide"],
                                   ["--ensemble", "3"],
                                   ["--intervals", "80", "--past-cols", "temp", "--static-cols", "region", "--ensemble", "1",
                                    "--series-embedding", "2", "--shard-data"]],
                         ids=["point-shard-data", "wide-shard-data-gathered", "ensemble", "quantile-covariates-shard-data"])
def test_two_processes_train_the_model_one_process_trains(tmp_path, panel, covariate_panel, panel_dataset, extra):
    """With --shard-data each process keeps only its own series and takes its windows of every
    batch: reading the panel as a Parquet dataset partitioned by series (each only its own
    series' files), or a long CSV with covariates, static categories and a series embedding, whose
    statistics, vocabularies, ids and calibration are then gathered over the processes. A wide
    Parquet file (each process reads only its own series' columns) whose process 1 holds only
    a short series is gathered on both instead, as the defaults line says. Each trains the model
    one process trains on the long CSV."""
    from grucast.data import shards

    from conftest import cli

    if "--past-cols" in extra:
        panel = covariate_panel
    wide = extra[-1] == "wide"
    extra = [a for a in extra if a != "wide"]
    held = shards.contains(["s0", "s1", "s2"], (1, 2))  # rank 0's series
    if wide:  # rank 1's series keeps its last 30 points: too short to train on without padding
        df = pd.read_csv(panel)
        late = df.series_id.isin(np.array(["s0", "s1", "s2"])[~held]) & (df.groupby("series_id").cumcount() < 270)
        panel = tmp_path / "short.csv"
        df[~late].to_csv(panel, index=False)
    one = cli("train", panel, "-o", tmp_path / "one.pt", *TRAIN, *extra[:-1] if extra[-1] == "--shard-data" else extra, "-q")
    assert one.exit_code == 0, one.stderr
    (tmp_path / "two").mkdir()
    data = panel_dataset if extra == ["--ensemble", "1", "--shard-data"] else panel
    if wide:
        data = tmp_path / "wide.parquet"
        pd.read_csv(panel).pivot(index="timestamp", columns="series_id", values="value").reset_index().to_parquet(data)
    r = torchrun(tmp_path / "two", "train", data, "-o", "two.pt", *TRAIN, *extra)
    assert r.returncode == 0, r.stderr[-3000:]
    points = sum(len(pd.read_csv(panel).query("series_id == @i")) for i in ["s0", "s1", "s2"])
    if wide:
        assert f"shard 1 of 2 read from {int(held.sum())} of 3 series columns" in r.stderr
        assert "data gathered on each of 2 processes (--shard-data, but a process holds no series of 36 points" in r.stderr
    elif "--shard-data" in extra:  # each rank read its shard's rows; rank 0 reports the whole data
        assert "id column 'series_id'" in r.stderr
        assert f"data partitioned over 2 processes (--shard-data: each holds the series of its shard, {int(held.sum())} of 3)" in r.stderr
    if data == panel_dataset:
        assert f"shard 1 of 2 read from {int(held.sum())} of 3 Parquet row groups" in r.stderr  # a file a series
    assert f"3 series, {points} points" in r.stderr
    # only rank 0 wrote: the checkpoint and its manifest, nothing else, no lock left
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["two.pt", "two.pt.manifest.json"]
    assert r.stdout.count("Saved model to") + r.stderr.count("Saved model to") == 1
    a, b = checkpoint.load(tmp_path / "one.pt"), checkpoint.load(tmp_path / "two" / "two.pt")
    assert a.info["steps"] == b.info["steps"] and a.info["best_step"] == b.info["best_step"]
    assert b.info["processes"] == 2 and "processes" not in a.info
    assert {k: v for k, v in b.info.items() if k not in ("processes", "data_file", "data_sha256")} == \
        {k: v for k, v in a.info.items() if k not in ("data_file", "data_sha256")}
    assert b.features.to_dict() == a.features.to_dict()  # covariate scaling to the last bit here: sums of few rows
    assert b.config.model == a.config.model and b.config.training == a.config.training
    for name, w in a.state_dict.items():
        torch.testing.assert_close(b.state_dict[name], w, rtol=0, atol=TOLERANCE)
    assert b.metrics["gru"]["mase"] == pytest.approx(a.metrics["gru"]["mase"], rel=TOLERANCE)
    assert b.calibration.get("windows") == a.calibration.get("windows")
    fa, fb = forecasts(tmp_path / "one.pt", panel), forecasts(tmp_path / "two" / "two.pt", data)
    assert list(fa.columns) == list(fb.columns) and len(fa) == 18
    number = [c for c in fa.columns if c not in ("series_id", "timestamp", "method")]
    np.testing.assert_allclose(fb[number].to_numpy(), fa[number].to_numpy(), rtol=TOLERANCE)


def test_a_batch_that_does_not_split_over_the_processes_is_refused(tmp_path, panel):
    """Refused before the ranks meet (RANK and WORLD_SIZE as torchrun sets them), so no rank waits."""
    r = as_rank(tmp_path, "train", panel, "-o", "m.pt", *TRAIN[:-1], "63", rank=1)
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: --batch-size 63 does not split evenly over 2 processes: use a multiple of 2, e.g. 62"
    assert list(tmp_path.iterdir()) == []


TORCHRUN = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "grucast")


def stop_on_two_resume_on_one(tmp_path, panel, budget: list[str], two: tuple[str, ...] = (),
                              launcher: tuple[str, ...] = TORCHRUN) -> tuple[int, str, dict]:
    """SIGTERM to a two-rank job (torchrun's launcher, or `grucast ... --nproc 2` with launcher
    `-m grucast` and two `--nproc 2`; budget and two) in its second epoch; one process resumes
    the MODEL.resume it saved (the only file left), and the result must equal the run of one
    process straight (which two train to the tolerance: tested above). (the job's exit code, its
    stderr, the saved fit state)"""
    from conftest import cli

    (tmp_path / "stop").mkdir()
    code, said = stopped(tmp_path / "stop", [*launcher, "train", str(panel), "-o", "m.pt", *budget, *two])
    assert code != 0 and "training interrupted by SIGTERM at step" in said, said[-3000:]
    assert sorted(p.name for p in (tmp_path / "stop").iterdir()) == ["m.pt.resume"]
    state = checkpoint.load(tmp_path / "stop" / "m.pt.resume").resume["fit"]
    r = cli("train", panel, "-o", tmp_path / "stop" / "m.pt", "--resume", tmp_path / "stop" / "m.pt.resume", "-q")
    assert r.exit_code == 0, r.stderr
    straight = cli("train", panel, "-o", tmp_path / "straight.pt", *budget, "-q")
    assert straight.exit_code == 0, straight.stderr
    a, b = checkpoint.load(tmp_path / "straight.pt"), checkpoint.load(tmp_path / "stop" / "m.pt")
    assert a.info["steps"] == b.info["steps"]
    for name, w in a.state_dict.items():
        torch.testing.assert_close(b.state_dict[name], w, rtol=0, atol=TOLERANCE)
    return code, said, {**state, "steps": b.info["steps"]}


STOP_BUDGET = [*TRAIN[:6], "--max-steps", "400", "--batch-size", "64", "--patience", "1000", "--ensemble", "1"]


def test_a_stopped_shard_data_run_resumes_on_one_process_to_the_uninterrupted_result(tmp_path, panel):
    """SIGTERM to torchrun: every rank stops at the same step, rank 0 saves MODEL.resume, and
    one process continues it to the weights of the uninterrupted run. With --shard-data the
    saved epoch order names the windows as one process does, though each rank held its own.
    (The plain data-parallel run: test_sigterm_to_nproc_saves_the_run_and_exits_143.)"""
    _, _, state = stop_on_two_resume_on_one(tmp_path, panel, STOP_BUDGET, ("--shard-data",))
    assert 26 <= state["step"] < 400 and state["steps"] == 400


def test_ensemble_members_train_in_parallel_across_ranks_and_resume_on_one_process(tmp_path, panel):
    """--ensemble 2 on 2 ranks: member k on rank k, each trained alone, said in the defaults line.
    SIGTERM mid-run saves every rank's member (finished or under way) in one MODEL.resume, and one
    process continues it to the model one process trains straight."""
    budget = [*TRAIN[:6], "--max-steps", "400", "--batch-size", "64", "--patience", "1000", "--ensemble", "2",
              "--anchor", "none"]
    _, said, state = stop_on_two_resume_on_one(tmp_path, panel, budget)
    assert "ensemble members in parallel, member k on process k mod 2 (default: 2 members split evenly over 2 " \
           "processes; each trains alone, as one process trains it)" in said
    members = state["members"]
    assert sorted(int(k) for k in [*members["done"], *members["running"]]) == [0, 1]  # both ranks' members, whatever their stage
    assert state["steps"] == 800


# ---------------------------------------------------------------- grucast train --nproc


def grucast(cwd, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grucast", *[str(a) for a in args]], cwd=cwd, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_nproc_trains_the_torchrun_model_and_keeps_grucast_exit_codes(tmp_path, panel):
    r = grucast(tmp_path, "train", panel, "-o", "m.pt", *TRAIN, "--ensemble", "1", "--nproc", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.manifest.json"]
    assert "W1201" not in r.stderr and "torch.distributed" not in r.stderr  # the launcher's log stays out
    assert checkpoint.load(tmp_path / "m.pt").info["steps"] == 30  # the ranks' model: as torchrun's, tested above
    # the first rank to fail gives the exit code: 5 for a failed quality gate, the model kept
    before = (tmp_path / "m.pt").read_bytes()
    gate = grucast(tmp_path, "train", panel, "-o", "m.pt", *TRAIN[:6], "--max-steps", "1", "--anchor", "none",
                   "--fail-if-worse-than", "seasonal-naive", "--nproc", "2", "-q")
    assert gate.returncode == 5 and gate.stderr.count("Error: quality gate failed") == 1, gate.stderr[-2000:]
    assert (tmp_path / "m.pt").read_bytes() == before
    # what every rank would refuse alike is refused once, before any rank starts (so in-process here)
    from conftest import cli

    for args, said in [([*TRAIN[:-1], "63"], "--batch-size 63 does not split evenly over 2 processes"),
                       (["--set", "model.scaler=lst"], "model.scaler must be one of standard, robust, last, none"),
                       (["-o", str(panel)], "is DATA: grucast never writes over one of its own inputs")]:
        refused = cli("train", panel, "-o", tmp_path / "m.pt", *args, "--nproc", "2")
        assert refused.exit_code == 1 and refused.stderr.count("Error:") == 1 and said in refused.stderr, refused.stderr
    assert (tmp_path / "m.pt").read_bytes() == before
    piped = cli("train", "-", "-o", tmp_path / "m.pt", "--nproc", "2")
    assert piped.exit_code == 1 and piped.stderr.strip() == (
        "Error: --nproc 2 starts 2 processes that each read DATA and --config: give files, not '-' (stdin)")
    many = cli("train", panel, "-o", tmp_path / "m.pt", "--nproc", str(1000 * (os.cpu_count() or 1)))
    assert many.exit_code == 1 and "asks for more processes than the" in many.stderr


def test_sigterm_to_nproc_saves_the_run_and_exits_143(tmp_path, panel):
    """SIGTERM to `grucast train --nproc 2` (plain data-parallel: every rank reads all the data):
    exit 143 and one error line, every rank stops at the same step, rank 0 saves MODEL.resume
    (the only file left), and one process continues it to the weights of the uninterrupted run."""
    code, said, state = stop_on_two_resume_on_one(tmp_path, panel, STOP_BUDGET, ("--nproc", "2"),
                                                  launcher=("-m", "grucast"))
    assert code == 143, said[-3000:]
    assert said.count("Error:") == 1 and "the run so far is saved in m.pt.resume" in said
    assert 26 <= state["step"] < 400 and state["steps"] == 400


# ---------------------------------------------------------------- torchrun ... predict


@pytest.fixture(scope="module")
def model(panel, tmp_path_factory):
    from conftest import cli

    path = tmp_path_factory.mktemp("model") / "m.pt"
    r = cli("train", panel, "-o", path, *TRAIN, "--ensemble", "1", "-q")
    assert r.exit_code == 0, r.stderr
    return path


@pytest.mark.parametrize("read", ["whole", "shard-data"])
def test_processes_forecast_their_shards_and_rank_0_writes_the_one_process_file(tmp_path, panel, panel_dataset,
                                                                                model, read):
    """Three ranks for three series: each forecasts its shard (one of them may hold none), rank 0
    gathers them in shard order and writes the file one process writes, byte for byte. With
    --shard-data each rank reads only its series' files of the panel as a Parquet dataset, and
    the manifest adds up what the ranks read."""
    from conftest import cli

    one = cli("predict", model, panel, "-o", tmp_path / "one.csv")
    assert one.exit_code == 0, one.stderr
    (tmp_path / "three").mkdir()
    data, extra = (panel_dataset, ["--shard-data"]) if read == "shard-data" else (panel, [])
    r = torchrun(tmp_path / "three", "predict", model, data, "-o", "three.csv", *extra, nproc=3)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "three").iterdir()) == ["three.csv", "three.csv.manifest.json"]
    assert (tmp_path / "three" / "three.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert r.stderr.count("Wrote 18 forecasts for 3 series to three.csv") == 1
    import json

    a = json.loads((tmp_path / "one.csv.manifest.json").read_text())
    b = json.loads((tmp_path / "three" / "three.csv.manifest.json").read_text())
    assert a["output"]["sha256"] == b["output"]["sha256"] and a["origins"] == b["origins"]
    assert list(a["origins"]) == list(b["origins"])  # in the rows' order
    assert (b["input"]["observations"], b["input"]["series"]) == (900, 3)
    assert b.get("shard_data") is (True if read == "shard-data" else None)


def test_shard_under_torchrun_is_refused(tmp_path, panel, model):
    """Refused before anything starts (RANK and WORLD_SIZE as torchrun sets them)."""
    r = as_rank(tmp_path, "predict", model, panel, "-o", "f.csv", "--shard", "1/2")
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: --shard 1/2 under torchrun: each of its 2 processes forecasts its own shard " \
                               "already; leave --shard out"
    assert list(tmp_path.iterdir()) == []


def test_stdin_under_torchrun_is_refused(tmp_path, panel, model):
    """Every rank would read stdin: refused before anything starts (RANK and WORLD_SIZE as torchrun sets them)."""
    r = as_rank(tmp_path, "predict", model, "-", "-o", "f.csv", stdin=panel.read_text())
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: under torchrun every process reads MODEL, DATA and --future: give files, not '-' (stdin)"
    assert list(tmp_path.iterdir()) == []


def test_a_rank_that_fails_alone_ends_the_job_with_exit_1_and_no_output(tmp_path, panel):
    """Future covariates missing for one series only: the rank whose shard holds it fails (the
    others have their forecasts), the job ends with exit 1, that rank's one Error line, and no file."""
    from conftest import cli

    df = pd.read_csv(panel)
    df["promo"] = (pd.to_datetime(df["timestamp"]).dt.hour % 5 == 0).astype(int)
    df.to_csv(tmp_path / "promo.csv", index=False)
    r = cli("train", tmp_path / "promo.csv", "-o", tmp_path / "m.pt", *TRAIN, "--future-cols", "promo", "--ensemble", "1", "-q")
    assert r.exit_code == 0, r.stderr
    ahead = df.groupby("series_id").tail(6).copy()
    ahead["timestamp"] = pd.to_datetime(ahead["timestamp"]) + pd.Timedelta(hours=6)
    ahead["value"] = np.nan
    pd.concat([df, ahead[ahead.series_id != "s2"]]).to_csv(tmp_path / "ahead.csv", index=False)
    (tmp_path / "run").mkdir()
    r = torchrun(tmp_path / "run", "predict", tmp_path / "m.pt", tmp_path / "ahead.csv", "-o", "f.csv")
    assert r.returncode == 1
    assert r.stderr.count("Error: series 's2' has no value of future covariate 'promo'") == 1
    assert list((tmp_path / "run").iterdir()) == []


def test_two_nodes_meet_at_a_rendezvous_endpoint_and_train_the_one_process_model(tmp_path, panel, model):
    """The README's multi-node command, as two 'machines' on this one: two torchrun commands,
    --nnodes 2, one process each, a c10d rendezvous endpoint; rank 0's node writes the model."""
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
           "--rdzv-backend", "c10d", "--rdzv-endpoint", f"localhost:{port}", "--rdzv-id", "grucast-test",
           "-m", "grucast", "train", str(panel), "-o", "m.pt", *TRAIN, "--ensemble", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    said = [n.communicate(timeout=240) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], said
    assert sum(out.count("Saved model to m.pt") + err.count("Saved model to m.pt") for out, err in said) == 1
    a, b = checkpoint.load(model), checkpoint.load(tmp_path / "m.pt")  # model: the one-process run of these settings
    for name, w in a.state_dict.items():
        torch.testing.assert_close(b.state_dict[name], w, rtol=0, atol=TOLERANCE)


def rank_pid(launcher_pid: int, rank: int) -> Optional[int]:
    """The process id of one rank of a torchrun job: a child of the launcher with RANK=rank in
    its environment (Linux /proc)."""
    import pathlib

    for proc in pathlib.Path("/proc").iterdir():
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) if proc.name.isdigit() else None
            if parent == launcher_pid and f"RANK={rank}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                return int(proc.name)
        except OSError:
            continue
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the rank's process in /proc")
def test_torchrun_restarts_a_job_that_lost_a_rank_from_the_saved_run(tmp_path, panel):
    """torchrun --max-restarts 1, rank 1 killed with SIGKILL while it trains: rank 0's next
    collective fails, it says so in one line and saves the run as it stood after the last
    finished step; torchrun starts both ranks again, and they go on from MODEL.resume to the
    whole budget; the job exits 0."""
    import signal
    import time

    log = tmp_path / "err.txt"
    (tmp_path / "run").mkdir()
    with open(log, "w") as err:
        # --monitor-interval 3: the agent notices the dead rank (and SIGTERMs the other) seconds
        # later, not within 0.1 s: on a loaded machine its SIGTERM could otherwise reach rank 0
        # before rank 0's next collective fails, and the case under test is that collective.
        job = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--max-restarts", "1",
                                "--monitor-interval", "3", "--nproc-per-node=2", "-m", "grucast", "train", str(panel),
                                "-o", "m.pt", *STOP_BUDGET],
                               cwd=tmp_path / "run", stdout=subprocess.DEVNULL, stderr=err,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
        deadline = time.monotonic() + 120
        while "epoch 2 step" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(rank_pid(job.pid, 1), signal.SIGKILL)
        job.wait(timeout=180)
    said = log.read_text()
    assert job.returncode == 0, said[-3000:]
    lost = [line for line in said.splitlines() if line.startswith("Error:")]
    assert len(lost) == 1 and lost[0].startswith("Error: training interrupted by the loss of another process of the "
                                                 "job after step "), said[-3000:]
    assert lost[0].endswith("the run so far is saved in m.pt.resume: torchrun restarts the job from it")
    assert "/grucast/" not in said  # no traceback of grucast's
    assert said.count("torchrun restarted the job: going on from the run saved in m.pt.resume") == 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["m.pt", "m.pt.manifest.json"]
    assert checkpoint.load(tmp_path / "run" / "m.pt").info["steps"] == 400


# ---------------------------------------------------------------- --shard-data


def test_bad_rows_in_one_ranks_shard_end_the_job_with_exit_1_and_no_output(tmp_path, panel):
    """With --shard-data only the rank holding series s1 reads its rows: it alone fails, with the
    line the one-process run names, and the job writes nothing."""
    df = pd.read_csv(panel)
    df["value"] = df["value"].astype(object)
    df.loc[df.index[(df.series_id == "s1").to_numpy()][10], "value"] = "oops"
    df.to_csv(tmp_path / "bad.csv", index=False)
    (tmp_path / "run").mkdir()
    r = torchrun(tmp_path / "run", "train", tmp_path / "bad.csv", "-o", "m.pt", *TRAIN, "--shard-data")
    assert r.returncode == 1
    line = f"Error: non-numeric value 'oops' in column 'value' at line {int(np.flatnonzero(df.series_id == 's1')[10]) + 2}"
    assert r.stderr.count(line) == 1, r.stderr[-3000:]
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.parametrize("case", ["single", "empty", "wide-empty"])
def test_shard_data_refuses_what_it_cannot_split_before_any_collective(tmp_path, panel, case):
    """Refused while reading, before the ranks meet (RANK and WORLD_SIZE as torchrun sets them)."""
    df = pd.read_csv(panel)
    rank, size = 0, 2
    if case == "single":
        data = tmp_path / "one.csv"
        df[df.series_id == "s0"][["timestamp", "value"]].to_csv(data, index=False)
        said = "Error: --shard-data splits a file's series over the processes; one.csv is a single series: leave it out"
    elif case == "wide-empty":  # 3 series columns over 64 processes: this rank's shard holds none
        from grucast.data import shards

        size = 64
        rank = next(r for r in range(64) if not shards.contains(df.series_id.unique(), (r + 1, 64)).any())
        data = tmp_path / "wide.parquet"
        df.pivot(index="timestamp", columns="series_id", values="value").reset_index().to_parquet(data, index=False)
        said = (f"Error: {data}: this process's shard {rank + 1} of 64 holds none of its 3 series columns; "
                "use fewer processes than series")
    else:  # 3 series over 64 processes: this rank's shard holds none
        from grucast.data import shards

        size = 64
        rank = next(r for r in range(64) if not shards.contains(df.series_id.unique(), (r + 1, 64)).any())
        data = panel
        said = f"Error: {panel}: this process's shard {rank + 1} of 64 holds none of its series; use fewer processes than series"
    r = as_rank(tmp_path, "train", data, "-o", "m.pt", *TRAIN, "--shard-data", rank=rank, size=size)
    assert r.returncode == 1 and r.stderr.strip() == said, r.stderr
    assert not (tmp_path / "m.pt").exists()
