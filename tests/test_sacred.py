"""Inputs are sacred: every command against an output that is one of its inputs, a planted lock
link, a read-only folder and a full disk at each stage of writing; every input and earlier
output must come out byte-identical, with one Error line and exit 1."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grucast.errors import PathError
from grucast.ops import locks, preflight, publish

from conftest import TINY, cli, sine_panel

POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="POSIX links, FIFOs and devices")
SHAPE = ["--horizon", "6", "--input-size", "24"]
QUICK = [*TINY, *SHAPE, "--max-steps", "5"]
BACKTEST = [*SHAPE, "--windows", "1", "--set", "training.max_steps=5", "--set", "model.hidden_size=8",
            "--set", "model.ensemble=1", "--set", "training.batch_size=64"]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A folder with d.csv and a tiny model m.pt trained on it, made once; tests copy it."""
    folder = tmp_path_factory.mktemp("made")
    sine_panel().to_csv(folder / "d.csv", index=False)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        r = cli("train", "d.csv", "-o", "m.pt", *QUICK)
    finally:
        os.chdir(cwd)
    assert r.exit_code == 0, r.stderr
    return folder


@pytest.fixture
def work(made, tmp_path) -> Path:
    """tmp_path (the current folder) holding d.csv, m.pt and an earlier forecast f.csv with its
    manifest."""
    for name in ("d.csv", "m.pt"):
        shutil.copy(made / name, tmp_path / name)
    r = cli("predict", "m.pt", "d.csv", "-o", "f.csv")
    assert r.exit_code == 0, r.stderr
    return tmp_path


def command(name: str, out: str) -> list[str]:
    return {
        "train": ["train", "d.csv", "-o", out, *QUICK],
        "predict": ["predict", "m.pt", "d.csv", "-o", out],
        "evaluate": ["evaluate", "m.pt", "d.csv", "-o", out],
        "backtest": ["backtest", "d.csv", "-o", out, *BACKTEST],
    }[name]


COMMANDS = ["train", "predict", "evaluate", "backtest"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry of the folder: a file's sha256, a link's target, or its kind."""
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_symlink():
            out[p.name] = "-> " + os.readlink(p)
        elif p.is_file():
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[p.name] = "dir" if p.is_dir() else "special"
    return out


def refused(r, *needles: str, after_work: bool = False) -> str:
    """One 'Error: ...' line on stderr, exit 1, no traceback; the line holds every needle.
    after_work: a failure after training, which printed its progress before the Error line."""
    assert r.exit_code == 1, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    if after_work:
        assert "Traceback" not in r.stderr and [x for x in lines if x.startswith("Error: ")] == lines[-1:], r.stderr
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- output = input


@pytest.mark.parametrize("name", COMMANDS)
def test_an_output_that_is_the_data_is_refused_and_the_data_kept(work, name):
    before = snapshot(work)
    refused(cli(*command(name, "d.csv")), "-o d.csv is DATA", "never writes over one of its own inputs")
    assert snapshot(work) == before


@pytest.mark.parametrize("name", ["predict", "evaluate"])
def test_an_output_that_is_the_checkpoint_is_refused(work, name):
    before = snapshot(work)
    refused(cli(*command(name, "m.pt")), "-o m.pt is MODEL")
    assert snapshot(work) == before


@POSIX_ONLY
@pytest.mark.parametrize("name", COMMANDS)
def test_a_hard_link_to_the_data_is_the_data(work, name):
    os.link(work / "d.csv", work / "alias.csv")
    before = snapshot(work)
    refused(cli(*command(name, "alias.csv")), "is the same file as DATA d.csv")
    assert snapshot(work) == before


def test_more_outputs_that_are_inputs_or_each_other(work):
    shutil.copy(work / "d.csv", work / "x.csv.manifest.json")  # a data file with an unlucky name
    before = snapshot(work)
    refused(cli("backtest", "d.csv", "--metrics", "d.csv", *BACKTEST), "--metrics d.csv is DATA")
    refused(cli("evaluate", "m.pt", "d.csv", "-o", "e.csv", "--metrics", "e.csv"), "name the same file")
    refused(cli("evaluate", "m.pt", "d.csv", "-o", "e.csv", "--metrics", "e.csv.manifest.json"), "name the same file")
    refused(cli("predict", "m.pt", "d.csv", "-o", "f.csv", "--log-file", "d.csv"), "--log-file d.csv is DATA")
    refused(cli("predict", "m.pt", "d.csv", "-o", "f.csv", "--log-file", "m.pt"), "--log-file m.pt is MODEL")
    refused(cli("predict", "m.pt", "d.csv", "-o", "f.csv", "--log-file", "f.csv"), "--log-file f.csv is the output of an earlier run")
    refused(cli("predict", "m.pt", "d.csv", "-o", "new.csv", "--log-file", "new.csv"), "name the same file")
    refused(cli("train", "d.csv", "-o", "m.pt", "--init-from", "m.pt", *QUICK), "-o m.pt is --init-from")
    refused(cli("predict", "m.pt", "d.csv", "-o", "x.csv", "--future", "x.csv.manifest.json"),
            "the manifest of -o", "--future")
    assert snapshot(work) == before


# ---------------------------------------------------------------- outputs that are not files


@POSIX_ONLY
@pytest.mark.parametrize("name", COMMANDS)
def test_an_output_that_is_a_link_is_refused_and_its_target_kept(work, name):
    (work / "victim.txt").write_text("precious\n")
    os.symlink("victim.txt", work / "out.csv")
    before = snapshot(work)
    refused(cli(*command(name, "out.csv")), "-o out.csv is a symbolic link (to victim.txt)")
    assert snapshot(work) == before


@POSIX_ONLY
def test_devices_and_fifos_are_never_replaced(work):
    os.mkfifo(work / "pipe")
    before = snapshot(work)
    refused(cli("predict", "m.pt", "d.csv", "-o", "pipe"), "is a FIFO (named pipe), not a regular file")
    refused(cli("predict", "m.pt", "d.csv", "-o", "/dev/null"), "/dev/null is a character device")
    refused(cli("train", "pipe", "-o", "x.pt", *QUICK), "DATA pipe is a FIFO (named pipe), not a regular file")
    assert snapshot(work) == before
    assert Path("/dev/null").is_char_device()


def test_dash_writes_the_forecasts_to_stdout(work):
    before = snapshot(work)
    r = cli("predict", "m.pt", "d.csv", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0] == "series_id,timestamp,forecast,method" and len(r.stdout.splitlines()) == 1 + 3 * 6
    assert snapshot(work) == before  # no file named '-', no manifest


# ---------------------------------------------------------------- locks


@POSIX_ONLY
@pytest.mark.parametrize("name", COMMANDS)
def test_a_planted_lock_link_is_refused_and_its_target_kept(work, name):
    (work / "victim.txt").write_text("precious\n")
    os.symlink(work / "victim.txt", work / "out.csv.lock")
    before = snapshot(work)
    refused(cli(*command(name, "out.csv")), "out.csv.lock is a symbolic link", "remove it")
    assert snapshot(work) == before


@POSIX_ONLY
def test_lock_paths_that_are_not_lock_files_are_refused(work):
    (work / "victim.txt").write_text("precious\n")
    os.link(work / "victim.txt", work / "a.csv.lock")
    (work / "b.csv.lock").mkdir()
    os.mkfifo(work / "c.csv.lock")
    before = snapshot(work)
    refused(cli("predict", "m.pt", "d.csv", "-o", "a.csv"), "a.csv.lock", "2 names (hard links)")
    refused(cli("predict", "m.pt", "d.csv", "-o", "b.csv"), "b.csv.lock is a folder")
    refused(cli("predict", "m.pt", "d.csv", "-o", "c.csv"), "c.csv.lock is a FIFO")
    assert snapshot(work) == before


@POSIX_ONLY
def test_the_lock_is_opened_without_following_a_link_planted_after_the_check(work, monkeypatch):
    """The race: the link appears between the check and the open. O_NOFOLLOW refuses it."""
    (work / "victim.txt").write_text("precious\n")
    real = os.lstat
    done = []

    def planted(path, *a, **k):
        if str(path).endswith("out.csv.lock") and not done:
            done.append(path)
            os.symlink(work / "victim.txt", path)
            raise FileNotFoundError(path)
        return real(path, *a, **k)

    monkeypatch.setattr(os, "lstat", planted)
    with pytest.raises(PathError, match="is a symbolic link"):
        with locks.lock(work / "out.csv"):
            pass
    assert (work / "victim.txt").read_text() == "precious\n"


# ---------------------------------------------------------------- read-only folders and full disks


class _ReadOnly:
    f_flag = os.ST_RDONLY if hasattr(os, "ST_RDONLY") else 1


@pytest.mark.parametrize("name", COMMANDS)
def test_a_read_only_folder_is_refused_before_any_work(work, name, monkeypatch):
    monkeypatch.setattr(os, "statvfs", lambda path: _ReadOnly())
    before = snapshot(work)
    r = cli(*command(name, "out.csv"))
    refused(r, "cannot write -o out.csv", "read-only file system")
    assert "epoch" not in r.stderr.lower()
    assert snapshot(work) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into any folder")
def test_a_folder_without_write_permission_is_refused(work):
    (work / "ro").mkdir()
    os.chmod(work / "ro", 0o555)
    try:
        refused(cli("predict", "m.pt", "d.csv", "-o", "ro/f.csv"), "not writable (permission denied)")
    finally:
        os.chmod(work / "ro", 0o755)


def full_disk_at(monkeypatch, stage: str, nth: int = 1) -> None:
    """The nth time publish reaches stage, the disk is full."""
    seen = {"n": 0}

    def step(name: str) -> None:
        if name == stage:
            seen["n"] += 1
            if seen["n"] == nth:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(publish, "_step", step)


# Stages of publishing one output with its manifest: writing the output, its fsync, writing the
# manifest, moving the old manifest aside (rename 1), the output into place (rename 2), the new
# manifest into place (rename 3).
STAGES = [("write", 1), ("fsync", 1), ("manifest", 1), ("rename", 1), ("rename", 2), ("rename", 3)]


@pytest.mark.parametrize("stage,nth", STAGES)
def test_a_full_disk_at_each_stage_of_predict_leaves_the_earlier_forecast_and_manifest(work, monkeypatch, stage, nth):
    before = snapshot(work)
    full_disk_at(monkeypatch, stage, nth)
    refused(cli("predict", "m.pt", "d.csv", "-o", "f.csv"), "f.csv", "the disk is full",
            "earlier outputs were left as they were")
    assert snapshot(work) == before  # no temporary file either
    doc = json.loads((work / "f.csv.manifest.json").read_text())
    assert doc["output"]["sha256"] == hashlib.sha256((work / "f.csv").read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["train", "evaluate", "backtest"])
@pytest.mark.parametrize("stage,nth", [("write", 1), ("rename", 3)])
def test_a_full_disk_while_publishing_leaves_every_earlier_output(work, monkeypatch, name, stage, nth):
    # An earlier output of this very command, with its manifest.
    r = cli(*command(name, "out.csv" if name != "train" else "out.pt"))
    assert r.exit_code == 0, r.stderr
    before = snapshot(work)
    full_disk_at(monkeypatch, stage, nth)
    refused(cli(*command(name, "out.csv" if name != "train" else "out.pt")), "the disk is full", after_work=True)
    assert snapshot(work) == before


def test_evaluate_publishes_forecasts_and_metrics_together_or_neither(work, monkeypatch):
    # Rename 3 is the metrics file itself: the forecasts and their manifest (renames 1-2) are
    # already in place and must be taken back.
    before = snapshot(work)
    full_disk_at(monkeypatch, "rename", 3)
    refused(cli("evaluate", "m.pt", "d.csv", "-o", "e.csv", "--metrics", "s.csv"), "the disk is full")
    assert snapshot(work) == before


def test_a_report_that_fails_to_render_writes_nothing(work, monkeypatch):
    """What the command shows is rendered before the forecast is published."""
    from grucast.cli import render

    before = snapshot(work)

    def broken(result):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(render, "forecast_title", broken)
    r = cli("predict", "m.pt", "d.csv", "-o", "f.csv", "--format", "table")
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert snapshot(work) == before


def test_no_manifest_removes_a_stale_one_with_the_new_output(work):
    assert (work / "f.csv.manifest.json").exists()
    r = cli("predict", "m.pt", "d.csv", "-o", "f.csv", "--no-manifest")
    assert r.exit_code == 0, r.stderr
    assert not (work / "f.csv.manifest.json").exists()  # it described the file just replaced


def test_a_log_file_on_a_full_disk_warns_and_the_run_goes_on(work, monkeypatch):
    from grucast.ops import events

    real_open = events._open_log

    class Full:
        def __init__(self, path):
            self.f = real_open(path)

        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def flush(self):
            pass

        def close(self):
            self.f.close()

    monkeypatch.setattr(events, "_open_log", Full)
    r = cli("predict", "m.pt", "d.csv", "-o", "g.csv", "--log-file", "ev.log")
    assert r.exit_code == 0, r.stderr
    assert "Warning: --log-file ev.log stopped taking lines: No space left on device" in r.stderr
    assert (work / "g.csv").is_file() and (work / "g.csv.manifest.json").is_file()


# ---------------------------------------------------------------- fail fast


FAIL_FAST = """
import sys
from grucast.cli import app
try:
    app(sys.argv[1:], prog_name="grucast")
except SystemExit as e:
    code = e.code
print("torch" in sys.modules, "pandas" in sys.modules, code)
"""


@pytest.mark.parametrize("args", [
    ["train", "missing.csv", "-o", "m.pt"],
    ["train", "bin.csv", "-o", "m.pt"],
    ["predict", "m.pt", "missing.csv"],
    ["predict", "missing.pt", "d.csv"],
    ["evaluate", "m.pt", "header.csv"],
    ["train", "d.csv", "-o", "d.csv"],
    ["train", "d.csv", "-o", "m2.pt", "--config", "bad.yaml"],
])
def test_a_bad_file_or_path_fails_before_torch_and_pandas_are_imported(work, args):
    (work / "bin.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (work / "header.csv").write_text("timestamp,value\n")
    (work / "bad.yaml").write_text("model:\n  horizon: [\n")
    p = subprocess.run([sys.executable, "-c", FAIL_FAST, *args], capture_output=True, text=True, cwd=work,
                       stdin=subprocess.DEVNULL)
    torch, pandas, code = p.stdout.split()
    assert code == ("3" if "missing.pt" in args else "1"), (p.stdout, p.stderr)
    assert torch == "False", p.stderr
    if "--config" not in args:  # a config error is logged, and the event log needs pandas
        assert pandas == "False", p.stderr
    assert p.stderr.startswith("Error: ") and len(p.stderr.strip().splitlines()) == 1, p.stderr


# ---------------------------------------------------------------- found by a hostile review


def test_a_lock_file_holding_something_else_is_never_truncated(work):
    (work / "g.csv.lock").write_text("my notes\n")
    before = snapshot(work)
    refused(cli("predict", "m.pt", "d.csv", "-o", "g.csv"), "g.csv.lock holds something other than a process id")
    assert snapshot(work) == before


@POSIX_ONLY
def test_log_files_that_are_links_binaries_earlier_outputs_or_unread_fifos_are_refused(work):
    (work / "victim.txt").write_text("precious\n")
    os.symlink("victim.txt", work / "link.log")
    os.symlink("nowhere.txt", work / "dangling.log")
    os.mkfifo(work / "p.log")
    before = snapshot(work)
    refused(cli("predict", "m.pt", "d.csv", "-o", "g.csv", "--log-file", "link.log"), "--log-file link.log is a symbolic link")
    refused(cli("predict", "m.pt", "d.csv", "-o", "g.csv", "--log-file", "dangling.log"), "is a symbolic link")
    refused(cli("train", "d.csv", "-o", "m2.pt", *QUICK, "--log-file", "m.pt"), "--log-file m.pt is a binary file")
    refused(cli("predict", "m.pt", "d.csv", "-o", "g.csv", "--log-file", "f.csv"), "the output of an earlier run")
    refused(cli("predict", "m.pt", "d.csv", "-o", "g.csv", "--log-file", "p.log"), "--log-file p.log is a FIFO that nobody reads")
    assert snapshot(work) == before


@pytest.mark.parametrize("args,needle", [
    (["predict", "m.pt", "d.csv", "-o", ""], "is a folder, not a file name"),
    (["predict", "m.pt", "d.csv", "-o", "."], "-o . is a folder, not a file name"),
    (["train", "d.csv", "-o", "/"], "is a folder, not a file name"),
    (["evaluate", "m.pt", "d.csv", "--metrics", "."], "--metrics . is a folder"),
    (["predict", "m.pt", "d.csv", "-o", "-q"], "-o -q looks like a flag"),
    (["evaluate", "m.pt", "d.csv", "--metrics", "-"], "(stdout) is only for forecasts"),
    (["train", "d.csv", "-o", "-"], "(stdout) is only for forecasts"),
    (["predict", "m.pt", "d.csv", "-o", "x" * 250 + ".csv"], "too long a file name here"),
])
def test_output_names_that_name_no_writable_file_are_refused_before_any_work(work, args, needle):
    before = snapshot(work)
    refused(cli(*args), needle)
    assert snapshot(work) == before


def test_stdout_redirected_onto_the_data_is_refused(work):
    before = snapshot(work)
    with open(work / "d.csv", "ab") as out:
        p = subprocess.run([sys.executable, "-m", "grucast", "predict", "m.pt", "d.csv", "-o", "-"], cwd=work,
                           stdout=out, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and p.stderr.startswith("Error: stdout is redirected to DATA d.csv"), p.stderr
    assert snapshot(work) == before


def test_a_failure_after_the_commit_is_exit_0_with_a_warning_not_a_false_error(work, monkeypatch):
    """Once the outputs are published the run has done its work: a closed or full stdout (or a
    late signal) must not end in an exit code that says the outputs were left as they were."""
    def full(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    from grucast.cli import running

    monkeypatch.setattr(running.Shown, "flush", full)
    r = cli("predict", "m.pt", "d.csv", "-o", "g.csv")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.strip() == ("Warning: cannot use stdout or stderr: the disk is full after the outputs were written "
                                "(g.csv); they are complete")
    doc = json.loads((work / "g.csv.manifest.json").read_text())
    assert doc["output"]["sha256"] == hashlib.sha256((work / "g.csv").read_bytes()).hexdigest()


def test_a_small_checkpoint_that_unpacks_to_gigabytes_is_refused(work, monkeypatch):
    import zipfile

    with zipfile.ZipFile(work / "bomb.pt", "w") as z:
        z.writestr(zipfile.ZipInfo("archive/data.pkl"), b"\0" * (8 << 20), compress_type=zipfile.ZIP_DEFLATED)
    monkeypatch.setattr(preflight, "MAX_CHECKPOINT_BYTES", 4 << 20)  # the real cap is 4 GiB
    r = cli("predict", "bomb.pt", "d.csv", "-o", "g.csv")
    assert r.exit_code == 3 and r.stderr.startswith("Error: bomb.pt unpacks to"), r.stderr


def test_a_very_long_message_is_cut(work):
    (work / "big.csv").write_text("timestamp,value\n2024-01-01,1\n2024-01-02," + "x" * 100_000 + "\n")
    r = cli("train", "big.csv", "-o", "x.pt", *QUICK)
    assert r.exit_code == 1 and len(r.stderr) < 1200 and "more characters)" in r.stderr, r.stderr[:300]


@POSIX_ONLY
def test_a_planted_manifest_or_resume_link_is_refused_and_its_target_kept(work):
    """The files that go with an output (its manifest, train's resume state) are outputs too."""
    (work / "victim.txt").write_text("precious\n")
    os.symlink("victim.txt", work / "n.csv.manifest.json")
    os.symlink("victim.txt", work / "x.pt.resume")
    before = snapshot(work)
    refused(cli("predict", "m.pt", "d.csv", "-o", "n.csv"), "the manifest of -o n.csv.manifest.json is a symbolic link")
    refused(cli("train", "d.csv", "-o", "x.pt", *QUICK), "the resume state of -o x.pt.resume is a symbolic link")
    assert snapshot(work) == before


def test_predict_reads_a_file_with_the_models_separator_not_a_guessed_one(tmp_path):
    """The quick check before torch is imported looks at bytes only: a ';' file whose column
    names hold commas must not look like duplicate names split on ','."""
    frame = sine_panel()
    frame["cost, net, EUR"] = 1.0
    frame["tax, net, EUR"] = 2.0
    frame.to_csv(tmp_path / "s.csv", sep=";", index=False)
    r = cli("train", "s.csv", "-o", "s.pt", *QUICK, "--sep", ";", "--target", "value")
    assert r.exit_code == 0, r.stderr
    r = cli("predict", "s.pt", "s.csv", "-o", "f.csv")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "f.csv").read_text().startswith("series_id,timestamp,forecast,method\n")
