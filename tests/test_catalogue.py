"""The catalogue of bad inputs and faults (docs/errors.md), one table-driven test per case.

Every case is a small record: a stable id, a class, what the user did, a setup that makes the
files it needs in its own folder and returns the command line, the exit code the README
promises, and a pattern the one 'Error: ...' line must match. Each case runs in-process through
the CLI and must end with that exit code, one Error line (exit codes 1, 3, 4, 5, 75), no
traceback, and every file that was in the folder before the run byte-identical after it, with
no new file except those the case allows.

docs/errors.md is generated from these cases: `python tests/test_catalogue.py` runs every case
and rewrites it with the messages grucast actually prints (paths shortened to their names); a
case that does not behave yet keeps its `example` message. A test checks that the document and
the cases name the same ids with the same exit codes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import resource
import shutil
import stat
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script: `python tests/test_catalogue.py`
    sys.path.insert(0, str(HERE))

from conftest import TINY, cli, sine_panel  # noqa: E402

DOC = HERE.parent / "docs" / "errors.md"
SHAPE = ["--horizon", "6", "--input-size", "24"]
QUICK = [*TINY, *SHAPE, "--max-steps", "5"]
# backtest takes the data and window flags of train; the rest as --set
BT = [*SHAPE, *[x for kv in ("model.hidden_size=8", "model.ensemble=1", "training.epochs=1", "training.max_steps=5",
                              "training.batch_size=64") for x in ("--set", kv)]]
ERROR_CODES = (1, 3, 4, 5, 75)
BIG = 64 << 20  # files larger than this are compared by size and mtime, not read


# ---------------------------------------------------------------- the case record


@dataclass(frozen=True)
class Case:
    id: str
    cls: str
    what: str
    setup: Callable[["Ctx"], list]
    code: int
    match: str  # regex searched in the Error line (1/3/4/5/75), in stderr (2), in all the output (0)
    example: str  # the message the catalogue shows while the real one cannot be captured
    new: tuple = ()  # glob patterns of new files the run may leave (relative to its folder)
    changed: tuple = ()  # files present before the run that it may change or remove
    absent: tuple = ()  # text that must appear nowhere in the output
    tidy: Optional[Callable[[str], str]] = None  # makes the shown message stable (times that change)


CASES: list[Case] = []


def both(*parts: str) -> str:
    """A regex that finds every one of parts, in any order."""
    return "".join(f"(?=.*(?:{p}))" for p in parts)


def case(id, cls, what, code, match, example, setup, **kw):
    CASES.append(Case(id, cls, what, setup, code, match, example, **kw))


class Ctx:
    """A case's folder (the current directory when it runs) and helpers to fill it. The base
    files are already there: d.csv (3 hourly series s0..s2 of 240 points from 2024-01-01, long
    format) and m.pt (a tiny model trained on it, horizon 6, input 24)."""

    def __init__(self, tmp: Path, base: "Base"):
        self.tmp, self.base = tmp, base
        self.fifos: list[Path] = []
        self.cleanups: list[Callable[[], None]] = []

    def write(self, name: str, content) -> str:
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        return name

    def text(self) -> str:
        return (self.tmp / "d.csv").read_text()

    def frame(self, **kw):
        return sine_panel(**kw)

    def save(self, df, name: str) -> str:
        df.to_csv(self.tmp / name, index=False)
        return name

    def edit(self, name: str, fn: Callable) -> str:
        df = sine_panel().astype({"value": object})
        df = fn(df)
        return self.save(df, name)

    def dataset(self, name: str, **files) -> str:
        """A folder of Parquet files: relative path -> frame (sine_panel's columns by default)."""
        for rel, df in (files or {"part-0.parquet": sine_panel()}).items():
            (self.tmp / name / rel).parent.mkdir(parents=True, exist_ok=True)
            df.to_parquet(self.tmp / name / rel, index=False)
        return name

    def mkdir(self, name: str) -> str:
        (self.tmp / name).mkdir(parents=True, exist_ok=True)
        return name

    def fifo(self, name: str) -> str:
        os.mkfifo(self.tmp / name)
        self.fifos.append(self.tmp / name)
        return name

    def copy(self, source: str, name: str) -> str:
        shutil.copy(self.tmp / source, self.tmp / name)
        return name

    def link(self, name: str, target) -> str:
        os.symlink(target, self.tmp / name)
        return name

    def chardev(self, name: str) -> str:
        """A character device like /dev/null, made here: the tests run as root on machines
        shared with others, and a run that replaced the real /dev/null would break them all."""
        try:
            os.mknod(self.tmp / name, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except (PermissionError, AttributeError, OSError) as e:
            pytest.skip(f"cannot make a device node here: {e}")
        return name

    def ckpt(self, name: str, mutate: Callable[[dict], object]) -> str:
        """A copy of m.pt whose stored dictionary was changed in place by mutate."""
        import torch

        raw = torch.load(self.base.model, map_location="cpu", weights_only=True)
        mutate(raw)
        return self.torch_file(name, raw)

    def torch_file(self, name: str, obj) -> str:
        import torch

        with open(self.tmp / name, "wb") as f:
            torch.save(obj, f)
        return name

    def hold_lock(self, name: str) -> str:
        """OUT.lock held by 'another run' (flock belongs to the open file description, so the
        in-process run conflicts with it as a second process would)."""
        import fcntl

        p = self.tmp / name
        p.write_text(f"{os.getpid()}\n")
        fd = os.open(p, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.cleanups.append(lambda: os.close(fd))
        return name

    def resume_file(self) -> str:
        shutil.copy(self.base.resume(), self.tmp / "m2.pt.resume")
        return "m2.pt.resume"


class Base:
    """The files every case starts from: d.csv and a tiny m.pt, trained once; a resume state
    (an interrupted training) made on first use."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.data, self.model = folder / "d.csv", folder / "m.pt"
        sine_panel().to_csv(self.data, index=False)
        r = cli("train", self.data, "-o", self.model, *QUICK, "--no-manifest", "-q")
        assert r.exit_code == 0 and self.model.is_file(), (r.exit_code, r.output, r.exception)
        self._resume: Optional[Path] = None

    def resume(self) -> Path:
        if self._resume is None:
            from grucast.config import files
            from grucast.errors import Interrupted
            from grucast.ops import signals
            from grucast.workflows import train as workflows_train

            cfg = files.load(None, {"model": {"horizon": 6, "input_size": 24, "hidden_size": 8, "num_layers": 1,
                                                   "ensemble": 1}, "training": {"epochs": 1, "batch_size": 64}})
            stop = signals.StopRequest()

            class StopAtTwo:
                def on_start(self, *a):
                    pass

                def on_step(self, step):
                    if step == 2:
                        stop.signum = 15

                def on_eval(self, record):
                    pass

                def on_end(self, result):
                    pass

            out = self.folder / "r" / "m2.pt"
            out.parent.mkdir(exist_ok=True)
            with pytest.raises(Interrupted):
                workflows_train.train(self.data, out, cfg, callback=StopAtTwo(), stop=stop)
            self._resume = workflows_train.resume_path(out)
        return self._resume


# ---------------------------------------------------------------- helpers for the setups


def renamed(old: str, new: str):
    return lambda df: df.rename(columns={old: new})


def at(row: int, value):
    """The value at a row of the frame (line row + 2 of the file)."""
    def fn(df):
        df.loc[row, "value"] = value
        return df
    return fn


def with_ids(*ids):
    def fn(df):
        names = dict(zip(["s0", "s1", "s2"], ids))
        df["series_id"] = df["series_id"].map(lambda s: names.get(s, s))
        return df
    return fn


def plus_short_series(name: str, n: int = 5):
    def fn(df):
        import pandas as pd

        extra = pd.DataFrame({"series_id": name, "timestamp": pd.date_range("2024-01-10", periods=n, freq="h"),
                              "value": 1.0})
        return pd.concat([df, extra], ignore_index=True)
    return fn


def first_weight(raw, value):
    import torch

    name = next(iter(raw["state_dict"]))
    raw["state_dict"][name] = torch.full_like(raw["state_dict"][name], value)


class Code:
    """An object whose unpickling would run code (here only os.getpid, harmlessly)."""

    def __reduce__(self):
        return (os.getpid, ())


def wide_duplicate(c):
    import pandas as pd

    ts = pd.date_range("2024-01-01", periods=240, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    rows = "".join(f"{t},{i % 24},{(i * 7) % 24}\n" for i, t in enumerate(ts))
    return c.write("w.csv", "timestamp,A,A\n" + rows)


def mixed_zones(c):
    import pandas as pd

    ts = list(pd.date_range("2024-01-01", periods=240, freq="h").strftime("%Y-%m-%d %H:%M:%S"))
    ts = [t if i < 120 else t + "+00:00" for i, t in enumerate(ts)]
    rows = "".join(f"{t},{(i % 24) ** 1.5:.3f}\n" for i, t in enumerate(ts))
    return c.write("z.csv", "timestamp,value\n" + rows)


def ambiguous(c):
    df = c.frame().rename(columns={"value": "sales"})
    df["visits"] = df["sales"] * 2
    return c.save(df, "a.csv")


def fine_tune_data(c):
    return c.edit("new.csv", renamed("series_id", "sid"))


def cfg(c, text, name="c.yaml"):
    return c.write(name, text)


# ---------------------------------------------------------------- the cases: data


T = "train"


def train(c, data, *extra, out="m2.pt"):
    return [T, data, "-o", out, *QUICK, *extra]


case("data.missing-file", "data", "train on a data file that does not exist", 1,
     both(r"nope\.csv", "not found|does not exist|no such"), "Error: data file not found: nope.csv",
     lambda c: train(c, "nope.csv"))
case("data.missing-file.predict", "data", "predict from a data file that does not exist", 1,
     both(r"nope\.csv", "not found|does not exist|no such"), "Error: data file not found: nope.csv",
     lambda c: ["predict", "m.pt", "nope.csv", "-o", "f.csv"])
case("data.missing-file.evaluate", "data", "evaluate on a data file that does not exist", 1,
     both(r"nope\.csv", "not found|does not exist|no such"), "Error: file not found: nope.csv",
     lambda c: ["evaluate", "m.pt", "nope.csv"])
case("data.empty-file", "data", "train on a file of 0 bytes", 1,
     r"e\.csv.*empty", "Error: e.csv is empty",
     lambda c: train(c, c.write("e.csv", "")))
case("data.header-only", "data", "train on a file with a header and no rows", 1,
     r"h\.csv.*(no (data )?rows|empty|no observations)", "Error: h.csv has a header but no rows",
     lambda c: train(c, c.write("h.csv", "series_id,timestamp,value\n")))
case("data.binary", "data", "train on a binary file named .csv", 1,
     r"b\.csv.*(binary|not (a )?(text|CSV)|UTF-8)", "Error: b.csv is not a text file (binary data at byte 0)",
     lambda c: train(c, c.write("b.csv", bytes(range(256)) * 8)))
case("data.not-utf8", "data", "train on a Latin-1 file (not UTF-8)", 1,
     r"l\.csv.*UTF-8", "Error: l.csv is not UTF-8 text: byte 0xe9 at line 2; save it as UTF-8",
     lambda c: train(c, c.write("l.csv", c.text().replace("s0,", "s\xe9,").encode("latin-1"))))
case("data.folder", "data", "train on a folder instead of a file", 1,
     r"dd\.csv.*(folder|directory)", "Error: dd.csv is a folder, not a data file",
     lambda c: train(c, c.mkdir("dd.csv")))
case("data.dataset-not-parquet", "data", "train on a folder (a Parquet dataset) that also holds a CSV file", 1,
     r"notes\.csv in ds is not a Parquet file", "Error: notes.csv in ds is not a Parquet file",
     lambda c: train(c, c.dataset("ds") and c.write("ds/notes.csv", "a,b\n1,2\n") and "ds"))
case("data.dataset-columns", "data", "train on a folder of Parquet files whose columns differ", 1,
     both(r"part-1\.parquet", "same columns"), "Error: part-1.parquet in ds has the columns ...; every file of one "
     "dataset needs the same columns",
     lambda c: train(c, c.dataset("ds", **{"part-0.parquet": sine_panel(),
                                           "part-1.parquet": sine_panel().rename(columns={"value": "v"})})))
case("data.dataset-key-clash", "data", "a hive-style folder name repeats a column of its files", 1,
     r"column 'series_id' .* folder's name", "Error: column 'series_id' of ... is also in its folder's name",
     lambda c: train(c, c.dataset("ds", **{"series_id=s0/a.parquet": sine_panel()})))
case("data.fifo", "data", "train on a named pipe (FIFO)", 1,
     r"p\.csv.*(not a regular file|FIFO|pipe)", "Error: p.csv is not a regular file (a FIFO)",
     lambda c: train(c, c.fifo("p.csv")))
case("data.dev-zero", "data", "train on a link to /dev/zero (an endless device)", 1,
     r"z\.csv.*(not a regular file|device)", "Error: z.csv is not a regular file (a character device)",
     lambda c: train(c, c.link("z.csv", "/dev/zero")))
case("data.unknown-target", "data", "--target names a column that is not in the file", 1,
     r"nope", "Error: --target: no column 'nope' in d.csv (columns: series_id, timestamp, value)",
     lambda c: train(c, "d.csv", "--target", "nope"))
case("data.unknown-time-col", "data", "--time-col names a column that is not in the file", 1,
     r"nope", "Error: --time-col: no column 'nope' in d.csv (columns: series_id, timestamp, value)",
     lambda c: train(c, "d.csv", "--time-col", "nope"))
case("data.unknown-id-col", "data", "--id-col names a column that is not in the file", 1,
     r"nope", "Error: --id-col: no column 'nope' in d.csv (columns: series_id, timestamp, value)",
     lambda c: train(c, "d.csv", "--id-col", "nope"))
case("data.ambiguous-target", "data", "a long file with two numeric columns and no --target", 1,
     r"--target", "Error: a.csv has several numeric columns (sales, visits): say which to forecast with --target",
     lambda c: train(c, ambiguous(c)))
case("data.no-time-column", "data", "a file without any time column", 1,
     r"(time|--time-col)", "Error: n.csv has no time column: name it with --time-col",
     lambda c: train(c, c.write("n.csv", "series_id,value\n" + "".join(f"s0,{i}\n" for i in range(100)))))
case("data.bad-timestamp", "data", "one timestamp that cannot be read", 1,
     r"2024-01-0x", "Error: cannot read timestamp '2024-01-0x' in column 'timestamp' at line 4",
     lambda c: train(c, c.write("t.csv", c.text().replace("2024-01-01 02:00:00", "2024-01-0x", 1))))
case("data.non-numeric", "data", "a text value in the target column", 1,
     r"non-numeric value 'abc'.*line 4", "Error: non-numeric value 'abc' in column 'value' at line 4",
     lambda c: train(c, c.edit("x.csv", at(2, "abc"))))
case("data.infinite", "data", "an infinite value in the target column", 1,
     r"(inf|infinite).*line 4", "Error: infinite value 'inf' in column 'value' at line 4",
     lambda c: train(c, c.edit("x.csv", at(2, "inf"))))
case("data.too-large", "data", "a value beyond float32 (1e39) in the target column", 1,
     r"1e\+?39.*line 4", "Error: value 1e+39 in column 'value' at line 4 is too large (the limit is 3.4e+38)",
     lambda c: train(c, c.edit("x.csv", at(2, "1e39"))))
case("data.all-empty-target", "data", "a target column with no values at all", 1,
     r"value", "Error: column 'value' of x.csv has no values",
     lambda c: train(c, c.edit("x.csv", lambda df: df.assign(value=""))))
case("data.ragged-row", "data", "a row with more fields than the header", 1,
     r"line 242", "Error: x.csv line 242 has 5 fields, the header 3",
     lambda c: train(c, c.write("x.csv", c.text().replace("s1,", "s1,1,2,", 1))))
case("data.duplicate-timestamps", "data", "a timestamp repeated within a series", 1,
     r"(repeated|duplicate).*s0", "Error: repeated timestamps within a series: s0 at 2024-01-01 05:00:00 (2 rows); "
     "aggregate them with --duplicates mean|sum|last|first",
     lambda c: train(c, c.edit("x.csv", lambda df: __import__("pandas").concat([df, df.iloc[[5]]], ignore_index=True))))
case("data.too-short", "data", "every series shorter than one training window", 1,
     r"too short", "Error: every series is too short to train on: a series needs at least 6 + 6 + 6 = 18 points, "
     "and the longest has 10",
     lambda c: train(c, c.save(c.frame(length=10), "s.csv")))
case("data.gap-fill-error", "data", "a gap in the time grid with --fill error", 1,
     r"gap", "Error: series s0 has a gap at 2024-01-01 05:00:00 (--fill error)",
     lambda c: train(c, c.edit("g.csv", lambda df: df.drop(index=5)), "--fill", "error"))
case("data.wide-duplicate-columns", "data", "a wide file with two columns named A", 1,
     both("'?A'?", "two columns|twice|duplicate|more than once"), "Error: w.csv has two columns named 'A' (columns 2 and 3): give them distinct names",
     lambda c: train(c, wide_duplicate(c)))
case("data.mixed-naive-utc", "data", "a time column mixing naive times and UTC offsets", 1,
     r"(naive|zone|offset)", "Error: the time column 'timestamp' of z.csv mixes times without a zone (line 2) and with "
     "one (line 122): write them all one way",
     lambda c: train(c, mixed_zones(c)))
case("data.target-is-time-col", "data", "--target names the time column", 1,
     r"timestamp", "Error: --target 'timestamp' is the time column: name the column to forecast",
     lambda c: train(c, "d.csv", "--target", "timestamp"))
case("data.target-is-id-col", "data", "--target names the series id column", 1,
     r"series_id", "Error: --target 'series_id' is the id column: name the column to forecast",
     lambda c: train(c, "d.csv", "--target", "series_id"))
case("data.parquet-not-parquet", "data", "a CSV file named .parquet", 1,
     r"x\.parquet", "Error: x.parquet is not a Parquet file",
     lambda c: train(c, c.write("x.parquet", c.text())))
case("data.bad-sep", "data", "--sep of two characters", 1,
     r"--sep", "Error: --sep takes one character (or 'tab'), got ';;'",
     lambda c: train(c, "d.csv", "--sep", ";;"))
case("data.unknown-future-col", "data", "--future-cols names a column that is not in the file", 1,
     r"nope", "Error: --future-cols: no column 'nope' in d.csv",
     lambda c: train(c, "d.csv", "--future-cols", "nope"))
case("data.id-missing.predict", "data", "predict on a file whose id column was renamed", 1,
     r"series_id", "Error: x.csv has no column 'series_id', which the model was trained with",
     lambda c: ["predict", "m.pt", c.edit("x.csv", renamed("series_id", "sid")), "-o", "f.csv"])
case("data.id-missing.evaluate", "data", "evaluate on a file whose id column was renamed", 1,
     r"series_id", "Error: x.csv has no column 'series_id', which the model was trained with",
     lambda c: ["evaluate", "m.pt", c.edit("x.csv", renamed("series_id", "sid"))])
case("data.id-missing.init-from", "data", "fine-tune (--init-from) on a file whose id column was renamed", 1,
     r"series_id", "Error: new.csv has no column 'series_id', which the model in m.pt was trained with",
     lambda c: train(c, fine_tune_data(c), "--init-from", "m.pt"))
case("data.target-missing.predict", "data", "predict on a file without the target column", 1,
     r"value", "Error: x.csv has no column 'value', which the model was trained with",
     lambda c: ["predict", "m.pt", c.edit("x.csv", lambda df: df.drop(columns="value")), "-o", "f.csv"])
case("data.all-too-short.predict", "data", "predict where every series is shorter than the model's input", 1,
     r"(too short|shorter)", "Error: every series is too short for the model (it needs 24 points); nothing to forecast",
     lambda c: ["predict", "m.pt", c.save(c.frame(length=10), "s.csv"), "-o", "f.csv"])
case("data.all-too-short.gates", "data", "gates where every series is shorter than the model's input and horizon", 1,
     r"(too short|long enough)", "Error: no series of s.csv is long enough: a window needs 24 points of input and 6 "
     "after them, and the longest series has 20",
     lambda c: ["gates", "m.pt", c.save(c.frame(length=20), "s.csv")])
case("numbers.windows-zero.gates", "numbers", "gates --windows 0", 1,
     r"windows", "Error: --windows must be at least 1, got 0",
     lambda c: ["gates", "m.pt", "d.csv", "--windows", "0"])
case("numbers.member-out-of-range.gates", "numbers", "gates --member 5 of a single network", 1,
     r"member", "Error: --member 5: m.pt has 1 member(s), numbered 0 to 0",
     lambda c: ["gates", "m.pt", "d.csv", "--member", "5"])
case("checkpoint.not-a-checkpoint.gates", "checkpoint", "gates with a CSV file as MODEL", 3,
     r"checkpoint", "Error: d.csv is not a grucast checkpoint",
     lambda c: ["gates", "d.csv", "d.csv"])


def forecast_of(c, *extra: str, name: str = "f.csv") -> str:
    """A forecast of m.pt from the first 200 hours of d.csv, by predict (with its manifest); the
    whole d.csv then holds its actuals."""
    frame = c.frame()
    c.save(frame[frame.groupby("series_id").cumcount() < 200], "early.csv")
    r = cli("predict", "m.pt", "early.csv", "-o", name, "-q", *extra)
    assert r.exit_code == 0, r.output
    return name


def history_index(c, doc: str) -> str:
    c.write("h/_grucast_history.json", doc)
    return "h"


case("data.forecast-without-manifest.monitor", "data", "monitor of a forecast file written with --no-manifest", 1,
     both("none of the forecast files", "no manifest"), "Error: none of the forecast files could be scored (f.csv: no "
     "manifest beside it (f.csv.manifest.json): grucast predict writes one unless --no-manifest, and without it the "
     "origins and the checkpoint are unknown)",
     lambda c: ["monitor", "d.csv", forecast_of(c, "--no-manifest"), "--history", "h"])
case("data.forecast-edited.monitor", "data", "monitor of a forecast file changed after predict wrote it", 1,
     "describes another file", "Error: none of the forecast files could be scored (f.csv: its manifest "
     "f.csv.manifest.json describes another file (sha256 differs): the forecasts were changed after grucast predict "
     "wrote them)",
     lambda c: ["monitor", "d.csv", c.write("f.csv", (c.tmp / forecast_of(c)).read_text() + "\n"), "--history", "h"])
case("data.history-newer.monitor", "data", "monitor --history written by a newer grucast (format 99)", 1,
     "upgrade grucast", "Error: the history h was written by grucast 9.0 in history format 99, and this grucast 0.4.0 "
     "reads format 1 at most: upgrade grucast (pip install -U grucast)",
     lambda c: ["monitor", "d.csv", forecast_of(c), "--history", history_index(c, json.dumps(
         {"grucast_history": 99, "written_by": "9.0", "part_format": "csv", "time_kind": "datetime", "parts": []}))],
     tidy=lambda m: re.sub(r"this grucast [\w.]+", "this grucast 0.4.0", m))
case("data.history-damaged.monitor", "data", "monitor --history whose index is not JSON", 1,
     "is damaged", "Error: h/_grucast_history.json is damaged (not a grucast history index); restore it from a backup, "
     "or start a new history folder",
     lambda c: ["monitor", "d.csv", forecast_of(c), "--history", history_index(c, "{not json")])


def edited_history(c) -> str:
    """A history of one monitor run whose only part was then edited: one recorded actual changed,
    the file still a well-formed table."""
    f = forecast_of(c)
    r = cli("monitor", "d.csv", f, "--history", "h", "-q")
    assert r.exit_code == 0, r.output
    part, = (c.tmp / "h").glob("part-000001.*")
    parquet = part.suffix == ".parquet"
    rows = pd.read_parquet(part) if parquet else pd.read_csv(part)
    rows.loc[0, "actual"] = 0.0
    rows.to_parquet(part, index=False) if parquet else rows.to_csv(part, index=False)
    return f


case("data.history-part-edited.monitor", "data", "monitor --history whose part was edited after it was written", 1,
     "is not the file monitor wrote", "Error: the history part h/part-000001.parquet is not the file monitor wrote: its "
     "size differs from the one in _grucast_history.json (edited, cut short or damaged on disk); restore it from a "
     "backup, or start a new history folder",
     lambda c: ["monitor", "d.csv", edited_history(c), "--history", "h"])
case("paths.history-is-a-file.monitor", "paths", "monitor --history naming the data file", 1,
     "is a file", "Error: --history d.csv is a file; --history names a folder, to which every run adds one part file: "
     "give a new or empty folder, such as history/",
     lambda c: ["monitor", "d.csv", forecast_of(c), "--history", "d.csv"])
case("paths.history-foreign-folder.monitor", "paths", "monitor --history naming a folder of other files", 1,
     "not a grucast history", "Error: --history notes holds files but no _grucast_history.json: it is not a grucast "
     "history, and grucast does not write into a folder of other files; give a new or empty folder",
     lambda c: ["monitor", "d.csv", forecast_of(c), "--history", c.write("notes/a.txt", "mine") and "notes"],
     new=("notes.lock",))
case("paths.history-link.monitor", "paths", "monitor --history naming a link to a folder", 1,
     "is a link", "Error: --history ln is a link; grucast does not write through links it did not make: give the "
     "folder itself",
     lambda c: ["monitor", "d.csv", forecast_of(c), "--history", (os.mkdir(c.tmp / "real"), os.symlink(c.tmp / "real", c.tmp / "ln"), "ln")[2]])
case("numbers.max-degradation-text.monitor", "numbers", "monitor --max-degradation lots", 1,
     "percentage", "Error: --max-degradation takes a percentage such as 25%, got 'lots'",
     lambda c: ["monitor", "d.csv", forecast_of(c), "--history", "h", "--max-degradation", "lots"])
case("gate.min-coverage-without-intervals.monitor", "gate", "monitor --min-coverage 70 of a model without intervals", 5,
     both("drift gate failed", "no interval"), "Error: drift gate failed: --min-coverage: checkpoint m.pt (…) forecasts "
     "no interval (train it with --intervals); retrain the model (grucast train), and look first at series …",
     lambda c: ["monitor", "d.csv", forecast_of(c), "--history", "h", "--min-coverage", "70"], new=("h", "h/*"),
     tidy=lambda m: re.sub(r"\([0-9a-f]{12}\)", "(…)", m))
case("data.plot-unknown-series", "data", "plot --series naming a series the data does not hold", 1,
     "is not a series of the data", "Error: --series s9 is not a series of the data (3 series; close: s0, s1, s2)",
     lambda c: ["plot", "m.pt", "d.csv", "-o", "x.png", "--series", "s9"])
case("settings.plot-extension", "settings", "plot -o with a .jpg name", 1,
     r"\.png or \.svg", "Error: -o x.jpg: a plot is written as .png or .svg (by the file's extension)",
     lambda c: ["plot", "m.pt", "d.csv", "-o", "x.jpg"])
case("data.future-file-missing", "data", "predict --future naming a missing file", 1,
     r"nope\.csv", "Error: future file not found: nope.csv",
     lambda c: ["predict", "m.pt", "d.csv", "--future", "nope.csv", "-o", "f.csv"])

# ---------------------------------------------------------------- settings and usage

case("settings.config-missing", "settings", "--config naming a missing file", 1,
     both(r"nope\.yaml", "not found|does not exist"), "Error: config file not found: nope.yaml",
     lambda c: train(c, "d.csv", "--config", "nope.yaml"))
case("settings.config-folder", "settings", "--config naming a folder", 1,
     both(r"\bcfg\b", "folder|directory"), "Error: config cfg is a folder, not a file",
     lambda c: train(c, "d.csv", "--config", c.mkdir("cfg")))
case("settings.config-invalid-yaml", "settings", "a config file that is not valid YAML", 1,
     r"c\.yaml.*(YAML|yaml)", "Error: c.yaml is not valid YAML (line 2, column 3)",
     lambda c: train(c, "d.csv", "--config", cfg(c, "model:\n  horizon: [6\n")))
case("settings.config-not-a-mapping", "settings", "a config file holding a list", 1,
     r"c\.yaml", "Error: c.yaml must be a mapping of sections (data, model, training), not a list",
     lambda c: train(c, "d.csv", "--config", cfg(c, "- model\n- training\n")))
case("settings.config-unknown-key", "settings", "a misspelt key in the config file", 1,
     r"hiden_size.*hidden_size", "Error: unknown setting 'model.hiden_size'. Did you mean 'hidden_size'?",
     lambda c: train(c, "d.csv", "--config", cfg(c, "model:\n  hiden_size: 8\n")))
case("settings.config-unknown-section", "settings", "a misspelt section in the config file", 1,
     r"modle", "Error: unknown section 'modle' in c.yaml. Did you mean 'model'?",
     lambda c: train(c, "d.csv", "--config", cfg(c, "modle:\n  horizon: 6\n")))
case("settings.config-duplicate-key", "settings", "a key given twice in the config file", 1,
     both("horizon", "twice|duplicate|more than once"), "Error: c.yaml gives model.horizon twice (lines 2 and 3)",
     lambda c: train(c, "d.csv", "--config", cfg(c, "model:\n  horizon: 6\n  horizon: 12\n")))
case("settings.config-bad-value", "settings", "a config value of the wrong type", 1,
     r"horizon", "Error: model.horizon (--horizon) must be a whole number, got 'six'",
     lambda c: train(c, "d.csv", "--config", cfg(c, "model:\n  horizon: six\n")))
case("settings.config-bad-choice", "settings", "a config value outside its choices", 1,
     r"(fill|sideways)", "Error: data.fill must be one of interpolate, ffill, zero, error; got 'sideways'",
     lambda c: train(c, "d.csv", "--config", cfg(c, "data:\n  fill: sideways\n")))
case("settings.anchor-misspelt", "settings", "--anchor seasonal, not one of its choices", 1,
     r"seasonal_naive", "Error: model.anchor (--anchor) must be one of naive, seasonal_naive, smoothing, linear, none; got "
     "'seasonal'. Did you mean 'seasonal_naive'?",
     lambda c: train(c, "d.csv", "--set", "model.anchor=seasonal"))
case("settings.anchor-season-too-long", "settings", "--anchor seasonal_naive with a season longer than the input", 1,
     r"input-size of at least 24", "Error: model.anchor (--anchor) seasonal_naive repeats the last season of the input "
     "window, but the season is 24 and input_size 12: use an --input-size of at least 24, or --anchor naive",
     lambda c: train(c, "d.csv", "--anchor", "seasonal_naive", "--input-size", "12"))
case("settings.set-malformed", "settings", "backtest --set without '='", 1,
     r"section\.key=value", "Error: --set takes section.key=value, got 'nonsense'",
     lambda c: ["backtest", "d.csv", *BT, "--set", "nonsense"])
case("settings.set-unknown-key", "settings", "backtest --set with a misspelt key", 1,
     r"hiden_size", "Error: unknown setting 'model.hiden_size'. Did you mean 'hidden_size'?",
     lambda c: ["backtest", "d.csv", *BT, "--set", "model.hiden_size=8"])
case("settings.set-bad-value", "settings", "backtest --set with a value of the wrong type", 1,
     r"epochs", "Error: training.epochs (--epochs) must be a whole number, got 'many'",
     lambda c: ["backtest", "d.csv", *SHAPE, "--set", "training.epochs=many"])
case("settings.init-from-and-resume", "settings", "train with both --init-from and --resume", 1,
     r"--init-from.*--resume", "Error: --init-from and --resume exclude each other: --resume already continues from "
     "its own weights",
     lambda c: train(c, "d.csv", "--init-from", "m.pt", "--resume", "m.pt"))
case("settings.quantiles-with-mse", "settings", "--quantiles with --loss mse", 1,
     r"(quantile|pinball).*(loss|mse)|(loss|mse).*(quantile|pinball)",
     "Error: --quantiles trains with the pinball loss; --loss mse cannot be used with it",
     lambda c: train(c, "d.csv", "--quantiles", "0.1,0.9", "--loss", "mse"))
case("settings.bad-gate-baseline", "settings", "--fail-if-worse-than with an unknown baseline", 1,
     r"--fail-if-worse-than.*bogus", "Error: --fail-if-worse-than takes naive or seasonal-naive, got 'bogus'",
     lambda c: train(c, "d.csv", "--fail-if-worse-than", "bogus"))
case("settings.bad-shard", "settings", "predict --shard 0/2", 1,
     r"--shard", "Error: --shard takes I/N with 1 <= I <= N, got '0/2'",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--shard", "0/2"])
case("settings.bad-device", "settings", "--device naming no device", 1,
     r"tpu", "Error: --device takes auto, cpu, cuda or cuda:N, got 'tpu'",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--device", "tpu"])
case("settings.fused-kernel-bf16", "settings", "--kernel fused with --precision bf16", 1,
     r"(fused|bf16)", "Error: --kernel fused runs in float32 only: drop --precision bf16 or use --kernel reference",
     lambda c: train(c, "d.csv", "--kernel", "fused", "--precision", "bf16"))
case("settings.unknown-cell.backtest", "settings", "backtest --cell with a misspelt cell in the list", 1,
     r"lsmt", "Error: --cell gru,lsmt: 'lsmt' is not a cell; the cells are gru, lstm. Did you mean 'lstm'?",
     lambda c: ["backtest", "d.csv", *BT, "--cell", "gru,lsmt", "-o", "f.csv"])
case("settings.seeds-without-comparison.backtest", "settings", "backtest --seeds without --cell gru,lstm", 1,
     r"seeds", "Error: --seeds sets the runs of a comparison of cells: use it with --cell gru,lstm",
     lambda c: ["backtest", "d.csv", *BT, "--seeds", "3", "-o", "f.csv"])
case("settings.several-cells.train", "settings", "train --cell gru,lstm (a model has one cell)", 1,
     r"backtest", "Error: model.cell (--cell) gru,lstm: several cells are compared by grucast backtest (--cell "
     "gru,lstm); a model has one cell, gru or lstm",
     lambda c: train(c, "d.csv", "--cell", "gru,lstm"))
case("settings.future-col-is-target", "settings", "--future-cols naming the target", 1,
     r"value", "Error: --future-cols: 'value' is the target, not a covariate",
     lambda c: train(c, "d.csv", "--future-cols", "value"))
case("usage.unknown-flag", "usage", "an option grucast does not have", 2,
     r"No such option", "Error: No such option: --no-such-flag",
     lambda c: ["predict", "m.pt", "d.csv", "--no-such-flag"])
case("usage.missing-argument", "usage", "predict without its DATA argument", 2,
     r"Missing argument", "Error: Missing argument 'DATA'.",
     lambda c: ["predict", "m.pt"])
case("usage.missing-output", "usage", "train without -o", 2,
     r"Missing option", "Error: Missing option '-o' / '--output'.",
     lambda c: [T, "d.csv"])
case("usage.bad-choice", "usage", "--loss with a value outside its choices", 2,
     r"Invalid value.*--loss", "Error: Invalid value for '--loss': 'bogus' is not one of 'mae', 'mse', 'huber'.",
     lambda c: train(c, "d.csv", "--loss", "bogus"))
case("usage.not-a-number", "usage", "--epochs with a word", 2,
     r"Invalid value.*--epochs", "Error: Invalid value for '--epochs': 'many' is not a valid integer.",
     lambda c: [T, "d.csv", "-o", "m2.pt", "--epochs", "many"])
case("usage.unknown-command", "usage", "a command grucast does not have", 2,
     r"No such command", "Error: No such command 'forecast'.",
     lambda c: ["forecast", "d.csv"])

# ---------------------------------------------------------------- numbers

case("numbers.horizon-huge", "numbers", "--horizon 1000000000", 1,
     both("horizon", r"1,?000,?000,?000|at most|longest|room for|GB|GiB|limit"), "Error: model.horizon (--horizon) is 1,000,000,000; the longest series has 240 points",
     lambda c: [T, "d.csv", "-o", "m2.pt", *TINY, "--horizon", "1000000000"])
case("numbers.horizon-zero", "numbers", "--horizon 0", 1,
     r"horizon", "Error: model.horizon (--horizon) must be at least 1, got 0",
     lambda c: [T, "d.csv", "-o", "m2.pt", *TINY, "--horizon", "0"])
case("numbers.input-size-huge", "numbers", "--input-size 1000000000", 1,
     both("input.size", r"1,?000,?000,?000|at most|longest|room for|GB|GiB|limit"), "Error: model.input_size (--input-size) is 1,000,000,000; the longest series has 240 points",
     lambda c: [T, "d.csv", "-o", "m2.pt", *TINY, "--horizon", "6", "--input-size", "1000000000"])
case("numbers.input-size-negative", "numbers", "--input-size -5", 1,
     r"input.size", "Error: model.input_size (--input-size) must be at least 1, got -5",
     lambda c: [T, "d.csv", "-o", "m2.pt", *TINY, "--horizon", "6", "--input-size", "-5"])
case("numbers.threads-huge", "numbers", "train --threads 100000", 1,
     both("threads", r"100,?000|at most|CPU|limit"), "Error: training.threads (--threads) is 100,000; this machine has 2 CPUs (at most 64 allowed)",
     lambda c: train(c, "d.csv", "--threads", "100000"))
case("numbers.threads-zero.evaluate", "numbers", "evaluate --threads 0", 1,
     r"threads", "Error: --threads must be at least 1, got 0",
     lambda c: ["evaluate", "m.pt", "d.csv", "--threads", "0"])
case("numbers.threads-negative.predict", "numbers", "predict --threads -1", 1,
     r"threads", "Error: --threads must be at least 1, got -1",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--threads", "-1"])
case("numbers.lr-nan", "numbers", "--lr nan", 1,
     r"(learning_rate|--lr)", "Error: training.learning_rate (--lr) must be a positive number, got nan",
     lambda c: train(c, "d.csv", "--lr", "nan"))
case("numbers.lr-inf", "numbers", "--lr inf", 1,
     r"(learning_rate|--lr)", "Error: training.learning_rate (--lr) must be a positive number, got inf",
     lambda c: train(c, "d.csv", "--lr", "inf"))
case("numbers.lr-negative", "numbers", "--lr -0.1", 1,
     r"(learning_rate|--lr)", "Error: training.learning_rate (--lr) must be positive",
     lambda c: train(c, "d.csv", "--lr", "-0.1"))
case("numbers.epochs-zero", "numbers", "--epochs 0", 1,
     r"epochs", "Error: training.epochs (--epochs) must be at least 1, got 0",
     lambda c: [T, "d.csv", "-o", "m2.pt", *SHAPE, "--epochs", "0"])
case("numbers.max-steps-negative", "numbers", "--max-steps -1", 1,
     r"max.steps", "Error: training.max_steps (--max-steps) must be at least 1, got -1",
     lambda c: [T, "d.csv", "-o", "m2.pt", *SHAPE, "--max-steps", "-1"])
case("numbers.batch-size-negative", "numbers", "--batch-size -1", 1,
     r"batch.size", "Error: training.batch_size (--batch-size) must be at least 1, got -1",
     lambda c: [T, "d.csv", "-o", "m2.pt", *SHAPE, "--batch-size", "-1"])
case("numbers.hidden-size-zero", "numbers", "--hidden-size 0", 1,
     r"hidden.size", "Error: model.hidden_size (--hidden-size) must be at least 1, got 0",
     lambda c: [T, "d.csv", "-o", "m2.pt", *SHAPE, "--hidden-size", "0"])
case("numbers.hidden-size-huge", "numbers", "--hidden-size 1000000 (terabytes of weights)", 1,
     both("hidden.size", r"1,?000,?000|GB|GiB|at most|limit"), "Error: model.hidden_size (--hidden-size) 1,000,000 needs about 12 TB of weights; "
     "this machine has 23 GB",
     lambda c: [T, "d.csv", "-o", "m2.pt", *SHAPE, "--hidden-size", "1000000", "--ensemble", "1"])
case("numbers.dropout-above-one", "numbers", "--dropout 1.5", 1,
     r"dropout", "Error: model.dropout (--dropout) must be in [0, 1), got 1.5",
     lambda c: train(c, "d.csv", "--dropout", "1.5"))
case("numbers.ensemble-zero", "numbers", "--ensemble 0", 1,
     r"ensemble", "Error: model.ensemble (--ensemble) must be at least 1, got 0",
     lambda c: [T, "d.csv", "-o", "m2.pt", *SHAPE, "--ensemble", "0"])
case("numbers.patience-negative", "numbers", "--patience -1", 1,
     r"patience", "Error: training.patience (--patience) must be at least 1, got -1",
     lambda c: train(c, "d.csv", "--patience", "-1"))
case("numbers.val-size-huge", "numbers", "--val-size 1000000", 1,
     r"val.size", "Error: training.val_size (--val-size) is 1,000,000; the longest series has 240 points",
     lambda c: train(c, "d.csv", "--val-size", "1000000"))
case("numbers.season-zero", "numbers", "--season 0", 1,
     r"season", "Error: data.season (--season) must be at least 1, got 0",
     lambda c: train(c, "d.csv", "--season", "0"))
case("numbers.series-embedding-negative", "numbers", "--series-embedding -1", 1,
     r"series.embedding", "Error: model.series_embedding (--series-embedding) must be 0 or more, got -1",
     lambda c: train(c, "d.csv", "--series-embedding", "-1"))
case("numbers.quantiles-out-of-range", "numbers", "--quantiles 0.1,1.5", 1,
     r"quantiles.*1\.5", "Error: model.quantiles (--quantiles) must be between 0 and 1 (exclusive), got 1.5",
     lambda c: train(c, "d.csv", "--quantiles", "0.1,1.5"))
case("numbers.quantiles-not-numbers", "numbers", "--quantiles low,high", 1,
     r"quantiles", "Error: --quantiles takes numbers between 0 and 1, e.g. 0.1,0.9; got 'low'",
     lambda c: train(c, "d.csv", "--quantiles", "low,high"))
case("numbers.intervals-out-of-range", "numbers", "--intervals 150", 1,
     r"intervals", "Error: model.intervals (--intervals) must be between 0 and 100 (exclusive), got 150",
     lambda c: train(c, "d.csv", "--intervals", "150"))
case("numbers.windows-huge.evaluate", "numbers", "evaluate --windows 1000000000", 1,
     both("windows", r"1,?000,?000,?000|at most|longest|room for|GB|GiB|limit"), "Error: --windows 1,000,000,000: the longest series has room for 39 windows of 6 steps",
     lambda c: ["evaluate", "m.pt", "d.csv", "--windows", "1000000000"])
case("numbers.windows-zero.evaluate", "numbers", "evaluate --windows 0", 1,
     r"windows", "Error: --windows must be at least 1, got 0",
     lambda c: ["evaluate", "m.pt", "d.csv", "--windows", "0"])
case("numbers.stride-zero.evaluate", "numbers", "evaluate --stride 0", 1,
     r"stride", "Error: --stride must be at least 1, got 0",
     lambda c: ["evaluate", "m.pt", "d.csv", "--windows", "2", "--stride", "0"])
case("numbers.windows-huge.backtest", "numbers", "backtest --windows 1000000000", 1,
     both("windows", r"1,?000,?000,?000|at most|longest|room for|GB|GiB|limit"), "Error: --windows 1,000,000,000: the longest series has room for 38 windows of 6 steps",
     lambda c: ["backtest", "d.csv", *BT, "--windows", "1000000000"])

# ---------------------------------------------------------------- paths: outputs and inputs


case("paths.output-is-input.train", "paths", "train DATA -o DATA", 1,
     r"d\.csv", "Error: the output d.csv is the data file this run reads: choose another -o",
     lambda c: [T, "d.csv", "-o", "d.csv", *QUICK])
case("paths.output-is-input.predict", "paths", "predict MODEL DATA -o DATA", 1,
     r"d\.csv", "Error: the output d.csv is the data file this run reads: choose another -o",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "d.csv"])
case("paths.output-in-data-folder.train", "paths", "train DATASET -o DATASET/m.pt (a Parquet dataset folder)", 1,
     r"-o ds/m\.pt is inside DATA ds", "Error: -o ds/m.pt is inside DATA ds: grucast never writes into one of its "
     "own inputs", lambda c: [T, c.dataset("ds"), "-o", "ds/m.pt", *QUICK])
case("paths.output-in-data-folder.predict", "paths", "predict MODEL DATASET -o DATASET/sub/f.csv", 1,
     r"-o ds/x=1/f\.csv is inside DATA ds", "Error: -o ds/x=1/f.csv is inside DATA ds",
     lambda c: ["predict", "m.pt", c.dataset("ds") and c.mkdir("ds/x=1") and "ds", "-o", "ds/x=1/f.csv"])
case("paths.output-is-model.predict", "paths", "predict MODEL DATA -o MODEL", 1,
     r"m\.pt", "Error: the output m.pt is the checkpoint this run reads: choose another -o",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "m.pt"])
case("paths.output-is-input.evaluate", "paths", "evaluate MODEL DATA -o DATA", 1,
     r"d\.csv", "Error: the output d.csv is the data file this run reads: choose another -o",
     lambda c: ["evaluate", "m.pt", "d.csv", "-o", "d.csv"])
case("paths.metrics-is-input.evaluate", "paths", "evaluate MODEL DATA --metrics DATA", 1,
     r"d\.csv", "Error: the output d.csv (--metrics) is the data file this run reads: choose another file",
     lambda c: ["evaluate", "m.pt", "d.csv", "--metrics", "d.csv"])
case("paths.output-is-metrics.evaluate", "paths", "evaluate -o F --metrics F", 1,
     both(r"f\.csv", "same|both|twice"), "Error: -o and --metrics are the same file f.csv: give each its own",
     lambda c: ["evaluate", "m.pt", "d.csv", "-o", "f.csv", "--metrics", "f.csv"])
case("paths.output-is-input.backtest", "paths", "backtest DATA -o DATA", 1,
     r"d\.csv", "Error: the output d.csv is the data file this run reads: choose another -o",
     lambda c: ["backtest", "d.csv", *BT, "-o", "d.csv"])
case("paths.metrics-is-input.backtest", "paths", "backtest DATA --metrics DATA", 1,
     r"d\.csv", "Error: the output d.csv (--metrics) is the data file this run reads: choose another file",
     lambda c: ["backtest", "d.csv", *BT, "--metrics", "d.csv"])
case("paths.output-is-config.train", "paths", "train --config C.yaml -o C.yaml", 1,
     r"c\.yaml", "Error: the output c.yaml is the config file this run reads: choose another -o",
     lambda c: [T, "d.csv", "--config", cfg(c, "model:\n  horizon: 6\n"), "-o", "c.yaml", *QUICK])
case("paths.output-is-future.predict", "paths", "predict --future F -o F", 1,
     r"fut\.csv", "Error: the output fut.csv is the future file this run reads: choose another -o",
     lambda c: ["predict", "m.pt", "d.csv", "--future", c.write("fut.csv", c.text()), "-o", "fut.csv"])
case("paths.output-is-input.symlink", "paths", "-o a symlink that points at the data file", 1,
     r"(d\.csv|link\.csv)", "Error: the output link.csv is the data file d.csv this run reads: choose another -o",
     lambda c: ["predict", "m.pt", "d.csv", "-o", c.link("link.csv", "d.csv")])
case("paths.output-is-input.hardlink", "paths", "-o a hard link to the data file", 1,
     r"(d\.csv|hard\.csv)", "Error: the output hard.csv is the data file d.csv this run reads: choose another -o",
     lambda c: (os.link(c.tmp / "d.csv", c.tmp / "hard.csv"), ["predict", "m.pt", "d.csv", "-o", "hard.csv"])[1])
case("paths.output-is-input.dotdot", "paths", "-o the data file spelt another way (sub/../d.csv)", 1,
     r"d\.csv", "Error: the output sub/../d.csv is the data file this run reads: choose another -o",
     lambda c: (c.mkdir("sub"), ["predict", "m.pt", "d.csv", "-o", "sub/../d.csv"])[1])
case("paths.log-file-is-data.predict", "paths", "predict --log-file DATA", 1,
     r"d\.csv", "Error: the log file d.csv is the data file this run reads: choose another --log-file",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--log-file", "d.csv"])
case("paths.log-file-is-model.predict", "paths", "predict --log-file MODEL", 1,
     r"m\.pt", "Error: the log file m.pt is the checkpoint this run reads: choose another --log-file",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--log-file", "m.pt"])
case("paths.log-file-is-data.train", "paths", "train --log-file DATA", 1,
     r"d\.csv", "Error: the log file d.csv is the data file this run reads: choose another --log-file",
     lambda c: train(c, "d.csv", "--log-file", "d.csv"))
case("paths.log-file-is-output.predict", "paths", "predict -o F --log-file F", 1,
     r"f\.csv", "Error: -o and --log-file are the same file f.csv: give each its own",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--log-file", "f.csv"])
case("paths.log-file-folder-missing", "paths", "--log-file in a folder that does not exist", 1,
     r"ev\.log", "Error: cannot open the log file no/such/ev.log: folder no/such does not exist",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--log-file", "no/such/ev.log"])
case("paths.log-file-is-folder", "paths", "--log-file naming a folder", 1,
     r"logs", "Error: the log file logs is a folder",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--log-file", c.mkdir("logs")])
case("paths.output-is-folder", "paths", "-o naming an existing folder", 1,
     r"out.*(folder|directory)", "Error: the output out is a folder: name a file",
     lambda c: ["predict", "m.pt", "d.csv", "-o", c.mkdir("out")])
case("paths.output-is-device", "paths", "-o a character device (a /dev/null made in the folder)", 1,
     r"null\.csv.*(device|regular file)", "Error: the output null.csv is not a regular file (a character device)",
     lambda c: ["predict", "m.pt", "d.csv", "-o", c.chardev("null.csv")])
case("paths.output-is-fifo", "paths", "-o a named pipe", 1,
     r"p\.csv.*(FIFO|pipe|regular file)", "Error: the output p.csv is not a regular file (a FIFO)",
     lambda c: ["predict", "m.pt", "d.csv", "-o", c.fifo("p.csv")])
case("paths.output-is-symlink", "paths", "-o a symlink to another file", 1,
     r"out\.csv.*(link|regular file)", "Error: the output out.csv is a symbolic link (to victim.txt): name the file itself",
     lambda c: (c.write("victim.txt", "precious\n"), ["predict", "m.pt", "d.csv", "-o", c.link("out.csv", "victim.txt")])[1])
case("paths.output-is-symlink-to-device", "paths", "-o a symlink to a device", 1,
     r"out\.csv.*(link|device|regular file)", "Error: the output out.csv is a symbolic link (to dev0): name the file itself",
     lambda c: ["predict", "m.pt", "d.csv", "-o", c.link("out.csv", c.chardev("dev0"))])
case("paths.output-folder-missing", "paths", "-o in a folder that does not exist", 1,
     r"nosuch.*(does not exist|not found)", "Error: cannot write nosuch/f.csv: folder nosuch does not exist",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "nosuch/f.csv"])
case("paths.output-parent-is-file", "paths", "-o below a file (d.csv/f.csv)", 1,
     r"d\.csv", "Error: cannot write d.csv/f.csv: d.csv is not a folder",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "d.csv/f.csv"])
case("paths.output-is-model.train-metrics", "paths", "evaluate --metrics MODEL", 1,
     r"m\.pt", "Error: the output m.pt (--metrics) is the checkpoint this run reads: choose another file",
     lambda c: ["evaluate", "m.pt", "d.csv", "--metrics", "m.pt"])
case("paths.stdout-dash", "paths", "predict -o - (the documented way to write to stdout)", 0,
     r"series_id,timestamp,forecast", "exit 0: the CSV goes to stdout; no file named '-' is made",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "-"])

# ---------------------------------------------------------------- locks

case("lock.held.predict", "lock", "predict while another run holds OUT.lock", 75,
     r"another grucast run.*f\.csv\.lock.*--wait", "Error: another grucast run (pid 4242) is writing f.csv and holds "
     "f.csv.lock: try again later, or pass --wait",
     lambda c: (c.hold_lock("f.csv.lock"), ["predict", "m.pt", "d.csv", "-o", "f.csv"])[1])
case("lock.held.train", "lock", "train while another run holds MODEL.lock", 75,
     r"another grucast run.*m2\.pt\.lock", "Error: another grucast run (pid 4242) is writing m2.pt and holds "
     "m2.pt.lock: try again later, or pass --wait",
     lambda c: (c.hold_lock("m2.pt.lock"), train(c, "d.csv"))[1])
case("lock.held.evaluate-metrics", "lock", "evaluate --metrics while another run holds its lock", 75,
     r"another grucast run.*met\.csv\.lock", "Error: another grucast run (pid 4242) is writing met.csv and holds "
     "met.csv.lock: try again later, or pass --wait",
     lambda c: (c.hold_lock("met.csv.lock"), ["evaluate", "m.pt", "d.csv", "--metrics", "met.csv"])[1])
case("lock.foreign-content", "lock", "OUT.lock is a file of the user's that holds notes, not a process id", 1,
     r"f\.csv\.lock holds something other than a process id",
     "Error: the lock file f.csv.lock holds something other than a process id; grucast's lock is a plain file of its "
     "own: remove it and run again",
     lambda c: (c.write("f.csv.lock", "my notes\n"), ["predict", "m.pt", "d.csv", "-o", "f.csv"])[-1])
case("paths.log-file-symlink", "paths", "--log-file planted as a symlink to a victim file", 1,
     r"--log-file ev\.log is a symbolic link", "Error: --log-file ev.log is a symbolic link (to victim.txt); ...",
     lambda c: (c.write("victim.txt", "precious\n"), c.link("ev.log", "victim.txt"),
                ["predict", "m.pt", "d.csv", "-o", "f.csv", "--log-file", "ev.log"])[-1])
case("paths.log-file-binary", "paths", "train --log-file naming a checkpoint (not an input of this run)", 1,
     r"--log-file old\.pt is a binary file", "Error: --log-file old.pt is a binary file, not a log; grucast only "
     "appends to text logs",
     lambda c: (c.copy("m.pt", "old.pt"), train(c, "d.csv", "--log-file", "old.pt"))[-1])
case("paths.log-file-earlier-output", "paths", "--log-file naming an earlier forecast (it has a manifest)", 1,
     r"--log-file f\.csv is the output of an earlier run", "Error: --log-file f.csv is the output of an earlier run "
     "(it has f.csv.manifest.json); choose another log file",
     lambda c: (c.write("f.csv", "series_id,timestamp,forecast\n"), c.write("f.csv.manifest.json", "{}\n"),
                ["predict", "m.pt", "d.csv", "-o", "g.csv", "--log-file", "f.csv"])[-1])
case("paths.output-dot", "paths", "-o . (the current folder)", 1,
     r"-o \. is a folder, not a file name", "Error: -o . is a folder, not a file name; give a file name",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "."])
case("paths.output-looks-like-flag", "paths", "-o -q (a flag taken as the file name)", 1,
     r"-o -q looks like a flag", "Error: -o -q looks like a flag, not a file name; for a file whose name starts with "
     "'-', write ./-q",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "-q"])
case("paths.stdout-only-for-forecasts", "paths", "train -o - (stdout is only for forecasts)", 1,
     r"only for forecasts", "Error: -o - (stdout) is only for forecasts (-o of predict, evaluate and backtest); give a "
     "file name",
     lambda c: ["train", "d.csv", "-o", "-"])
case("paths.name-too-long", "paths", "-o a name too long for the temporary files beside it", 1,
     r"too long a file name", "Error: -o aaaa... is too long a file name here (254 bytes; grucast's temporary files "
     "need at most 241)",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "a" * 250 + ".csv"])
case("lock.symlink", "lock", "OUT.lock planted as a symlink to a victim file (predict)", 1,
     r"f\.csv\.lock", "Error: the lock file f.csv.lock is a symbolic link, not a lock grucast made: remove it",
     lambda c: (c.write("victim.txt", "precious\n"), c.link("f.csv.lock", "victim.txt"),
                ["predict", "m.pt", "d.csv", "-o", "f.csv"])[-1])
case("lock.symlink.train", "lock", "MODEL.lock planted as a symlink to a victim file (train)", 1,
     r"m2\.pt\.lock", "Error: the lock file m2.pt.lock is a symbolic link, not a lock grucast made: remove it",
     lambda c: (c.write("victim.txt", "precious\n"), c.link("m2.pt.lock", "victim.txt"), train(c, "d.csv"))[-1])
case("lock.symlink.evaluate-metrics", "lock", "METRICS.lock planted as a symlink to a victim file (evaluate)", 1,
     r"met\.csv\.lock", "Error: the lock file met.csv.lock is a symbolic link, not a lock grucast made: remove it",
     lambda c: (c.write("victim.txt", "precious\n"), c.link("met.csv.lock", "victim.txt"),
                ["evaluate", "m.pt", "d.csv", "--metrics", "met.csv"])[-1])
case("lock.dangling-symlink", "lock", "OUT.lock planted as a symlink to a path that does not exist", 1,
     r"f\.csv\.lock", "Error: the lock file f.csv.lock is a symbolic link, not a lock grucast made: remove it",
     lambda c: (c.link("f.csv.lock", "created-by-grucast.txt"), ["predict", "m.pt", "d.csv", "-o", "f.csv"])[-1])
case("lock.folder", "lock", "OUT.lock is a folder", 1,
     r"f\.csv\.lock.*(folder|directory)", "Error: the lock file f.csv.lock is a folder: remove it",
     lambda c: (c.mkdir("f.csv.lock"), ["predict", "m.pt", "d.csv", "-o", "f.csv"])[-1])
case("lock.fifo", "lock", "OUT.lock is a named pipe", 1,
     r"f\.csv\.lock", "Error: the lock file f.csv.lock is not a regular file (a FIFO): remove it",
     lambda c: (c.fifo("f.csv.lock"), ["predict", "m.pt", "d.csv", "-o", "f.csv"])[-1])
case("lock.left-by-killed-run", "lock", "OUT.lock left behind by a killed run (no one holds it)", 0,
     r"Wrote|f\.csv|^$", "exit 0: the stale lock file is taken over and removed",
     lambda c: (c.write("f.csv.lock", "999999\n"), ["predict", "m.pt", "d.csv", "-o", "f.csv", "-q"])[-1],
     new=("f.csv", "f.csv.manifest.json"), changed=("f.csv.lock",))

# ---------------------------------------------------------------- checkpoints


def predict_with(model):
    return ["predict", model, "d.csv", "-o", "f.csv"]


case("checkpoint.missing", "checkpoint", "predict with a checkpoint that does not exist", 3,
     r"checkpoint not found: missing\.pt", "Error: checkpoint not found: missing.pt",
     lambda c: predict_with("missing.pt"))
case("checkpoint.missing.info", "checkpoint", "info on a checkpoint that does not exist", 3,
     r"checkpoint not found: missing\.pt", "Error: checkpoint not found: missing.pt",
     lambda c: ["info", "missing.pt"])
case("checkpoint.empty-file", "checkpoint", "a checkpoint of 0 bytes", 3,
     r"e\.pt", "Error: e.pt is not a grucast checkpoint (damaged, truncated or another kind of file)",
     lambda c: predict_with(c.write("e.pt", b"")))
case("checkpoint.truncated", "checkpoint", "a checkpoint cut off half-way (an interrupted copy)", 3,
     r"cut\.pt", "Error: cut.pt is not a grucast checkpoint (damaged, truncated or another kind of file)",
     lambda c: predict_with(c.write("cut.pt", c.base.model.read_bytes()[: c.base.model.stat().st_size // 2])))
case("checkpoint.flipped-bit", "checkpoint", "one bit flipped in the stored weights", 3,
     r"bad\.pt.*damaged", "Error: bad.pt is damaged: the checksum of its part 'archive/data/0' does not match",
     lambda c: predict_with(c.write("bad.pt", flip_weight_bit(c.base.model))))
case("checkpoint.not-a-checkpoint", "checkpoint", "a CSV file given as the model", 3,
     r"x\.pt.*not a grucast checkpoint", "Error: x.pt is not a grucast checkpoint (damaged, truncated or another kind of file)",
     lambda c: predict_with(c.write("x.pt", c.text())))
case("checkpoint.other-torch-file", "checkpoint", "a torch file that grucast did not write", 3,
     r"o\.pt.*not a grucast checkpoint", "Error: o.pt is not a grucast checkpoint (no grucast header)",
     lambda c: predict_with(c.torch_file("o.pt", {"weights": c.base.model.name})))
case("checkpoint.folder", "checkpoint", "a folder given as the model", 3,
     r"mdir.*folder", "Error: mdir is a folder, not a checkpoint file",
     lambda c: predict_with(c.mkdir("mdir")))
case("checkpoint.fifo", "checkpoint", "a named pipe given as the model", 3,
     r"p\.pt.*(regular file|FIFO|pipe)", "Error: p.pt is not a regular file (a FIFO), not a checkpoint",
     lambda c: predict_with(c.fifo("p.pt")))
case("checkpoint.dev-zero", "checkpoint", "the model is a symlink to /dev/zero", 3,
     r"z\.pt.*(regular file|device)", "Error: z.pt is not a regular file (a character device), not a checkpoint",
     lambda c: predict_with(c.link("z.pt", "/dev/zero")))
case("checkpoint.dev-zero.info", "checkpoint", "info on a symlink to /dev/zero", 3,
     r"z\.pt.*(regular file|device)", "Error: z.pt is not a regular file (a character device), not a checkpoint",
     lambda c: ["info", c.link("z.pt", "/dev/zero")])
case("checkpoint.huge-sparse-file", "checkpoint", "a 16 GiB (sparse) file given as the model", 3,
     r"big\.pt", "Error: big.pt is 16 GiB, far larger than any grucast checkpoint: not a checkpoint",
     lambda c: (os.truncate(c.tmp / c.write("big.pt", b""), 16 << 30), predict_with("big.pt"))[1])
case("checkpoint.nan-weights", "checkpoint", "a checkpoint whose weights are NaN", 3,
     r"nan\.pt.*(non-finite|NaN|nan)", "Error: nan.pt holds non-finite weights (NaN in gru.weight_ih_l0): the training "
     "diverged or the file is damaged",
     lambda c: predict_with(c.ckpt("nan.pt", lambda raw: first_weight(raw, float("nan")))))
case("checkpoint.inf-weights.evaluate", "checkpoint", "evaluate with a checkpoint whose weights are infinite", 3,
     r"inf\.pt.*(non-finite|inf)", "Error: inf.pt holds non-finite weights (inf in gru.weight_ih_l0): the training "
     "diverged or the file is damaged",
     lambda c: ["evaluate", c.ckpt("inf.pt", lambda raw: first_weight(raw, float("inf"))), "d.csv"])
case("checkpoint.unknown-frequency", "checkpoint", "a checkpoint with a frequency grucast does not know", 3,
     r"q\.pt.*freq", "Error: q.pt is an incomplete or damaged grucast checkpoint (unknown frequency 'fortnightly')",
     lambda c: predict_with(c.ckpt("q.pt", lambda raw: raw["freq"].update(name="fortnightly"))))
case("checkpoint.bad-padding", "checkpoint", "a checkpoint whose feature layout is impossible", 3,
     r"pad\.pt", "Error: pad.pt is an incomplete or damaged grucast checkpoint (the padding is not valid)",
     lambda c: predict_with(c.ckpt("pad.pt", lambda raw: raw["features"].update(pad=-3))))
case("checkpoint.newer-format", "checkpoint", "a checkpoint from a newer grucast", 3,
     r"new\.pt.*newer grucast", "Error: new.pt was written by a newer grucast (9.0, checkpoint format 99); this is "
     "grucast 0.4.0, which reads format 4: upgrade grucast",
     lambda c: predict_with(c.ckpt("new.pt", lambda raw: raw.update(format_version=99, grucast_version="9.0"))))
case("checkpoint.no-format-version", "checkpoint", "a checkpoint without a format version", 3,
     r"v\.pt.*format version", "Error: v.pt has no valid format version",
     lambda c: predict_with(c.ckpt("v.pt", lambda raw: raw.pop("format_version") and None)))
case("checkpoint.missing-part", "checkpoint", "a checkpoint without its data schema", 3,
     r"s\.pt.*(incomplete|damaged)", "Error: s.pt is an incomplete or damaged grucast checkpoint ('schema')",
     lambda c: predict_with(c.ckpt("s.pt", lambda raw: raw.pop("schema") and None)))
case("checkpoint.wrong-weight-shape", "checkpoint", "a checkpoint whose weights do not fit its config", 3,
     r"w\.pt", "Error: w.pt is an incomplete or damaged grucast checkpoint (gru.weight_ih_l0 has shape (3, 3))",
     lambda c: predict_with(c.ckpt("w.pt", lambda raw: raw["state_dict"].update(
         {next(iter(raw["state_dict"])): __import__("torch").zeros(3, 3)}))))
case("checkpoint.missing-weight", "checkpoint", "a checkpoint with a weight left out", 3,
     r"mw\.pt", "Error: mw.pt is an incomplete or damaged grucast checkpoint (missing weight gru.weight_ih_l0)",
     lambda c: predict_with(c.ckpt("mw.pt", lambda raw: raw["state_dict"].pop(next(iter(raw["state_dict"]))))))
case("checkpoint.pickle-with-code", "checkpoint", "a torch file whose pickle would run code", 3,
     r"evil\.pt", "Error: evil.pt cannot be read as a grucast checkpoint: it holds Python objects "
     "(posix.getpid), which grucast never loads",
     lambda c: predict_with(c.torch_file("evil.pt", {"format": "grucast-checkpoint", "x": Code()})),
     absent=("weights_only=False", "Traceback"))
case("checkpoint.init-from-missing", "checkpoint", "train --init-from a checkpoint that does not exist", 3,
     r"nope\.pt", "Error: checkpoint not found: nope.pt",
     lambda c: train(c, "d.csv", "--init-from", "nope.pt"))
case("checkpoint.init-from-damaged", "checkpoint", "train --init-from a truncated checkpoint", 3,
     r"cut\.pt", "Error: cut.pt is not a grucast checkpoint (damaged, truncated or another kind of file)",
     lambda c: train(c, "d.csv", "--init-from",
                     c.write("cut.pt", c.base.model.read_bytes()[: c.base.model.stat().st_size // 2])))
case("checkpoint.resume-finished-model", "checkpoint", "train --resume a finished model", 3,
     r"finished model", "Error: m.pt is a finished model, not an interrupted run: use --init-from to fine-tune it",
     lambda c: [T, "d.csv", "-o", "m2.pt", "--resume", "m.pt"])
case("checkpoint.resume-other-data", "checkpoint", "train --resume on a file whose id column was renamed", 3,
     r"new\.csv is not the data file", "Error: new.csv is not the data file of the run saved in m2.pt.resume (d.csv): "
     "a run resumes on the same data, byte for byte",
     lambda c: [T, fine_tune_data(c), "-o", "m2.pt", "--resume", c.resume_file()])


def flip_weight_bit(model: Path) -> bytes:
    import struct
    import zipfile

    damaged = bytearray(model.read_bytes())
    with zipfile.ZipFile(model) as archive:
        member = archive.getinfo("archive/data/0")
    name_len, extra_len = struct.unpack("<HH", damaged[member.header_offset + 26:member.header_offset + 30])
    start = member.header_offset + 30 + name_len + extra_len
    damaged[start + member.file_size // 2] ^= 0x40
    return bytes(damaged)


# ---------------------------------------------------------------- staleness and the quality gate

case("staleness.stale", "staleness", "predict --max-age 2d on data from January 2024", 4,
     r"(stale|old)", "Error: input data stale: the newest observation in d.csv is 2024-01-10 23:00:00, more than 2d "
     "before now; nothing written",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--max-age", "2d"],
     tidy=lambda m: re.sub(r"[\d.,]+ days before \d{4}-\d\d-\d\d[ T][\d:.]+", "800.0 days before 2026-03-20 05:30:00", m))
case("staleness.stale-as-of", "staleness", "predict --max-age 2d --as-of three days after the data", 4,
     r"(stale|old)", "Error: input data stale: the newest observation in d.csv is 2024-01-10 23:00:00, 3 days 1 hour "
     "before 2024-01-14 00:00:00 (--max-age 2d); nothing written",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--max-age", "2d", "--as-of", "2024-01-14"])
case("staleness.future-dated", "staleness", "predict --max-age on data dated after the measuring time", 1,
     r"(future|after)", "Error: the newest observation in d.csv (2024-01-10 23:00:00) is after --as-of "
     "2024-01-05 00:00:00: a clock or the feed is wrong",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--max-age", "2d", "--as-of", "2024-01-05"])
case("staleness.bad-max-age", "staleness", "--max-age that is not a duration", 1,
     r"--max-age.*soon", "Error: --max-age takes a duration such as 90min, 36h, 2d, 1w or P2D, got 'soon'",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--max-age", "soon"])
case("staleness.negative-max-age", "staleness", "--max-age -2d", 1,
     r"--max-age", "Error: --max-age must be positive, got '-2d'",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--max-age=-2d"])
case("staleness.bad-as-of", "staleness", "--as-of that is not a time", 1,
     r"--as-of.*yesterday-ish", "Error: --as-of takes a time such as 2024-06-01T06:00, got 'yesterday-ish'",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--max-age", "2d", "--as-of", "yesterday-ish"])
case("staleness.as-of-without-max-age", "staleness", "--as-of without --max-age", 1,
     r"--as-of.*--max-age", "Error: --as-of is the time --max-age is measured from: give --max-age too",
     lambda c: ["predict", "m.pt", "d.csv", "-o", "f.csv", "--as-of", "2024-01-11"])
case("gate.worse-than-seasonal-naive", "gate", "train --fail-if-worse-than seasonal-naive with a model that is worse",
     5, r"quality gate failed.*seasonal-naive.*previous checkpoint was kept",
     "Error: quality gate failed: validation MASE 8.39 against seasonal-naive 0.87 (+864.2 %); the previous "
     "checkpoint was kept",
     lambda c: [T, "d.csv", "-o", "m.pt", *QUICK, "--anchor", "none", "--fail-if-worse-than", "seasonal-naive", "-q"])

# ---------------------------------------------------------------- terminal: text from outside is shown as written

case("terminal.markup-ids.predict", "terminal", "series ids that look like rich markup ([/], [bold]...[/bold])", 0,
     r"\[bold\]b\[/bold\][\s\S]*\[/\]a", "exit 0: the table shows the ids [/]a and [bold]b[/bold] as written",
     lambda c: ["predict", "m.pt", c.edit("x.csv", with_ids("[/]a", "[bold]b[/bold]", "c[red]"))])
case("terminal.markup-ids.evaluate", "terminal", "markup-like ids through evaluate", 0,
     r"(MAE|mae)", "exit 0: the metrics table is printed",
     lambda c: ["evaluate", "m.pt", c.edit("x.csv", with_ids("[/]a", "[bold]b[/bold]", "c[red]"))])
case("terminal.markup-skipped-series", "terminal", "a series named [/]short, too short for the network", 0,
     r"\[/\]short", "exit 0: the series that got a naive forecast is named [/]short on stderr",
     lambda c: ["predict", "m.pt", c.edit("x.csv", plus_short_series("[/]short"))])
case("terminal.markup-columns.check", "terminal", "column names that look like markup ([b]id, t[/])", 0,
     r"\[b\]id[\s\S]*t\[/\]", "exit 0: the detected columns are shown as written: id column '[b]id', past covariates t[/]",
     lambda c: ["check", c.edit("x.csv", lambda df: df.rename(columns={"series_id": "[b]id"}).assign(
                    **{"t[/]": df["value"]})), "--past-cols", "t[/]", "--horizon", "6", "--input-size", "24"])
case("terminal.markup-in-data-error", "terminal", "a non-numeric value [/] in the data", 1,
     r"'\[/\]'", "Error: non-numeric value '[/]' in column 'value' at line 4",
     lambda c: train(c, c.edit("x.csv", at(2, "[/]"))))
case("terminal.markup-in-flag-error", "terminal", "--target [red]x[/red], a column that does not exist", 1,
     r"\[red\]x\[/red\]", "Error: --target: no column '[red]x[/red]' in d.csv (columns: series_id, timestamp, value)",
     lambda c: train(c, "d.csv", "--target", "[red]x[/red]"))
case("terminal.markup-in-config-key", "terminal", "a config key [/]", 1,
     r"\[/\]", "Error: unknown setting 'model.[/]'",
     lambda c: train(c, "d.csv", "--config", cfg(c, "model:\n  '[/]': 1\n")))
case("terminal.markup-in-file-name", "terminal", "a missing data file named [red]d[/red].csv", 1,
     r"\[red\]d\[/red\]\.csv", "Error: data file not found: [red]d[/red].csv",
     lambda c: train(c, "[red]d[/red].csv"))
case("terminal.control-chars-in-ids", "terminal", "series ids holding terminal escape sequences", 0,
     r"s0|red", "exit 0: the ids are printed with the escape character shown as \\x1b, never sent to the terminal",
     lambda c: ["predict", "m.pt", c.edit("x.csv", with_ids("\x1b[31mred", "\x1b]0;title\x07", "s2"))],
     absent=("\x1b", "\x07"))
case("terminal.control-chars-in-error", "terminal", "--target holding an escape sequence (clear screen)", 1,
     r"'x\\x1b\[2J'", "Error: --target: no column 'x\\x1b[2J' in d.csv (columns: series_id, timestamp, value)",
     lambda c: train(c, "d.csv", "--target", "x\x1b[2J"), absent=("\x1b",))


# ---------------------------------------------------------------- running a case


def snapshot(root: Path) -> dict:
    """Every entry under root: regular files by content hash (very large ones by size and
    mtime), links by target, other entries by kind; never opens a FIFO or a device."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                if st.st_size > BIG:
                    out[rel] = ("file", st.st_size, st.st_mtime_ns)
                else:
                    out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode), st.st_rdev)
    return out


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextmanager
def guarded():
    """Bugs under test must not hurt the shared machine: address space capped a few GiB above
    what the process uses now (a huge allocation becomes a MemoryError, i.e. a traceback and a
    failed case, not the OOM killer), and torch refuses absurd thread counts the same way. The
    thread count is restored afterwards."""
    import torch

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm = _vm_size()
    if vm:
        cap = vm + (4 << 30)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    threads, real = torch.get_num_threads(), torch.set_num_threads

    def set_num_threads(n):
        if not 0 < int(n) <= 256:
            raise RuntimeError(f"catalogue guard: torch.set_num_threads({n}) refused")
        real(n)

    torch.set_num_threads = set_num_threads
    try:
        yield
    finally:
        torch.set_num_threads = real
        real(threads)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextmanager
def unblocking(fifos: list[Path]):
    """A run that opens a FIFO would wait for the other end forever; every 2 s this opens the
    other end (and closes it), so such a run ends (and fails its case) instead of hanging."""
    done = threading.Event()

    def loop():
        while not done.wait(2.0):
            for p in fifos:
                for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
                    try:
                        os.close(os.open(p, flags))
                    except OSError:
                        pass

    t = threading.Thread(target=loop, daemon=True)
    if fifos:
        t.start()
    try:
        yield
    finally:
        done.set()
        if fifos:
            t.join(5)


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    message: str  # the Error line (or, for exit 0, empty), with the case's folder removed
    problems: list


def run_case(c: Case, folder: Path, base: Base) -> Outcome:
    """Run one case in folder (the current directory) and list what is wrong with the result."""
    for p in (base.data, base.model):
        shutil.copy(p, folder / p.name)
    ctx = Ctx(folder, base)
    try:
        argv = c.setup(ctx)
        before = snapshot(folder)
        with guarded(), unblocking(ctx.fifos):
            r = cli(*argv)
    finally:
        for fn in ctx.cleanups:
            fn()
    after = snapshot(folder)
    stdout, stderr = r.stdout, r.stderr
    everything = stdout + stderr
    problems = []
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        problems.append(f"crashed: {type(r.exception).__name__}: {str(r.exception)[:300]}")
    if r.exit_code != c.code:
        problems.append(f"exit code {r.exit_code}, expected {c.code}")
    if "Traceback" in everything:
        problems.append("a traceback in the output")
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    message = errors[0] if errors else ""
    if c.code in ERROR_CODES:
        if len(errors) != 1:
            problems.append(f"{len(errors)} 'Error: ' lines on stderr, expected 1")
        if not re.search(c.match, message):
            problems.append(f"the Error line does not match {c.match!r}")
    elif c.code == 2:
        if not re.search(c.match, stderr):
            problems.append(f"stderr does not match {c.match!r}")
    elif not re.search(c.match, everything, re.M):
        problems.append(f"the output does not match {c.match!r}")
    for text in c.absent:
        if text in everything:
            problems.append(f"the output holds {text!r}")
    for rel, was in before.items():
        if rel in c.changed:
            continue
        now = after.get(rel)
        if now != was:
            problems.append(f"{rel} was {'removed' if now is None else 'changed'} ({was[0]} -> {now and now[0]})")
    for rel in sorted(set(after) - set(before)):
        top = rel.split("/")[0]
        if top.startswith(".") and not top.endswith(".tmp") and top not in before and after.get(top) == ("dir",):
            continue  # caches made under HOME (the folder), e.g. .cache
        if not any(fnmatch.fnmatch(rel, pat) for pat in c.new):
            problems.append(f"new file {rel} left behind")
    message = message.replace(str(folder) + os.sep, "").replace(str(folder), ".")
    return Outcome(r.exit_code, stdout, stderr, message, problems)


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Base:
    return Base(tmp_path_factory.mktemp("catalogue-base"))


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_case(c: Case, base: Base, tmp_path):
    o = run_case(c, tmp_path, base)
    assert not o.problems, "\n".join([*o.problems, f"stdout: {o.stdout[-1500:]!r}", f"stderr: {o.stderr[-1500:]!r}"])


def test_the_catalogue_is_large_and_its_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(ids) >= 85
    classes = {c.cls for c in CASES}
    assert {"data", "settings", "paths", "lock", "checkpoint", "numbers", "terminal", "staleness", "gate"} <= classes
    for c in CASES:
        assert re.fullmatch(r"[a-z0-9]+(\.[a-z0-9-]+)+", c.id), c.id


@pytest.mark.parametrize("c", [c for c in CASES if c.code in ERROR_CODES + (2,)], ids=lambda c: c.id)
def test_each_example_message_fits_its_case(c):
    assert c.example.startswith("Error: ") and re.search(c.match, c.example), (c.example, c.match)


def doc_rows(text: str) -> dict[str, int]:
    """{id: exit code} from the table rows of docs/errors.md."""
    rows = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = int(cells[3])
    return rows


def test_the_document_lists_every_case_with_its_exit_code():
    rows = doc_rows(DOC.read_text(encoding="utf-8"))
    cases = {c.id: c.code for c in CASES}
    assert sorted(set(cases) - set(rows)) == [], "cases missing from docs/errors.md (run python tests/test_catalogue.py)"
    assert sorted(set(rows) - set(cases)) == [], "rows of docs/errors.md without a case"
    assert {k: v for k, v in rows.items() if cases[k] != v} == {}, "exit codes differ between docs/errors.md and the cases"


# ---------------------------------------------------------------- the document


HEADER = """# Errors and exit codes: the catalogue

Every class of bad input and fault that grucast is tested against, with the exit code it ends in
and the message it prints. Each row is a case of `tests/test_catalogue.py`, which runs the command
in a folder of its own and checks the exit code, a single `Error: …` line (exit codes 1, 3, 4, 5
and 75; exit code 2 is the usage error of the command-line parser), no traceback, and that every
file that was in the folder before the run (the inputs, earlier outputs, planted links and
victims) is byte-identical after it, with no new file left behind.

Exit codes: 0 success; 1 bad input data or settings; 2 bad usage; 3 checkpoint missing, damaged
or incompatible; 4 input data stale (`--max-age`); 5 quality gate failed (`--fail-if-worse-than`);
75 output locked by another run. See the README, "Errors and exit codes".

The files every case starts from: `d.csv`, three hourly series `s0`, `s1`, `s2` of 240 points
from 2024-01-01 in long format (`series_id,timestamp,value`), and `m.pt`, a small model trained
on it (horizon 6, input 24). Regenerate this page with `python tests/test_catalogue.py`.

| id | class | what the user did | exit | example message |
|---|---|---|---|---|
"""


def cell(text: str) -> str:
    text = text.replace("\x1b", "\\x1b").replace("\x07", "\\x07").replace("|", "\\|").replace("\n", " ")
    return text


def code_span(text: str) -> str:
    text = cell(text)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def regenerate(doc: Path = DOC) -> list[tuple[str, list]]:
    """Run every case and write the catalogue with the messages grucast prints now; a case that
    does not pass keeps its example message. Returns the failing cases and their problems."""
    failing, rows = [], []
    home = os.environ.get("HOME")
    cwd = os.getcwd()
    os.environ.pop("NO_COLOR", None)
    with tempfile.TemporaryDirectory(prefix="grucast-catalogue-") as top:
        top = Path(top)
        base = Base(top / "base")
        for i, c in enumerate(CASES):
            folder = top / f"case{i:03d}"
            folder.mkdir()
            os.chdir(folder)
            os.environ["HOME"] = str(folder)
            try:
                o = run_case(c, folder, base)
            except BaseException as e:  # noqa: BLE001 - a case that cannot even run keeps its example
                if isinstance(e, KeyboardInterrupt):
                    raise
                o = Outcome(-1, "", "", "", [f"{type(e).__name__}: {e}"])
            finally:
                os.chdir(cwd)
            if o.problems:
                failing.append((c.id, o.problems))
            message = o.message if (not o.problems and c.code != 0) else c.example
            message = re.sub(r"\bpid \d+", "pid 4242", message)
            message = c.tidy(message) if c.tidy else message
            rows.append(f"| `{c.id}` | {c.cls} | {cell(c.what)} | {c.code} | {code_span(message)} |")
            print(f"{'ok  ' if not o.problems else 'FAIL'} {c.id}: {o.problems[0] if o.problems else message}",
                  file=sys.stderr)
    if home is not None:
        os.environ["HOME"] = home
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return failing


def show(ids: list[str]) -> None:
    """Run the named cases (ids, or prefixes of ids) and print everything they printed."""
    chosen = [c for c in CASES if any(c.id == i or c.id.startswith(i) for i in ids)]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="grucast-catalogue-") as top:
        base = Base(Path(top) / "base")
        for i, c in enumerate(chosen):
            folder = Path(top) / f"case{i:03d}"
            folder.mkdir()
            os.chdir(folder)
            try:
                o = run_case(c, folder, base)
            finally:
                os.chdir(cwd)
            print(f"== {c.id}: exit {o.exit_code} (expected {c.code}); {'; '.join(o.problems) or 'ok'}")
            print(f"-- stdout:\n{o.stdout[-2000:]}-- stderr:\n{o.stderr[-2000:]}")


if __name__ == "__main__":
    # python tests/test_catalogue.py          run every case and rewrite docs/errors.md
    # python tests/test_catalogue.py ID ...   run the cases with these ids (or id prefixes), show their output
    if sys.argv[1:]:
        show(sys.argv[1:])
    else:
        bad = regenerate()
        print(f"{len(CASES)} cases, {len(CASES) - len(bad)} pass, {len(bad)} fail; wrote {DOC}", file=sys.stderr)
