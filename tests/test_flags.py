"""One place per flag: the table in grucast.config.flags against the config, the commands and
the README; --set, environment variables, -q and '-' for stdin as a user meets them."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import typer

from grucast.cli import app
from grucast.config import files, flags
from grucast.config.settings import SECTIONS

from conftest import ROOT, TINY, cli, sine_panel

SHAPE = ["--horizon", "6", "--input-size", "24"]
QUICK = [*TINY, *SHAPE, "--max-steps", "3"]
COMMANDS = ("train", "predict", "check", "info", "evaluate", "backtest", "gates", "monitor", "plot")


def commands() -> dict:
    """The registered commands of the Typer app, as the command line sees them."""
    return typer.main.get_command(app).commands


def options(command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


# ---------------------------------------------------------------- the table


def test_every_config_field_has_a_flag_or_a_reason():
    fields = {f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    flagged = {f.setting for f in flags.table()}
    assert len(flagged) == len(flags.table()), "a setting with two flags"
    assert fields - flagged == set(flags.CONFIG_ONLY), "a config field with neither a flag nor a CONFIG_ONLY reason"
    assert not flagged & set(flags.CONFIG_ONLY) and flagged <= fields
    assert all(len(reason) > 20 for reason in flags.CONFIG_ONLY.values())


def test_choices_come_from_the_config():
    from grucast.config import settings

    for f in flags.table():
        if isinstance(f.type, tuple):
            tuples = [v for v in vars(settings).values() if isinstance(v, tuple) and set(f.type) <= set(v)]
            assert tuples, f"{f.name}: choices {f.type} are not the config's"


def test_every_flag_is_taken_by_exactly_the_commands_the_table_says():
    registered = commands()
    assert set(registered) == set(COMMANDS)
    table_names = {n for f in flags.table() for n in f.names}
    for name, command in registered.items():
        params = {p.name: (*p.opts, *p.secondary_opts) for p in command.params}
        for f in flags.table():
            taken = params.get(f.key) == f.names
            assert taken == (name in f.commands), f"{name} {'takes' if taken else 'lacks'} {f.name}"
        own = options(command) - table_names
        assert ("--set" in own) == ("--config" in own), f"{name}: --set goes with --config"
    # predict's --format is its output format (table, csv, json), not data.format
    assert "--format" in options(registered["predict"])


@pytest.mark.parametrize("flag", flags.table(), ids=lambda f: f.name)
def test_every_flag_sets_its_config_key(flag):
    """Parsed by each of its commands, and laid over the config where the table says."""
    samples = {int: ("2", 2), float: ("0.5", 0.5), str: ("x", "x"), bool: ("--no-calendar", False)}
    text, value = (flag.type[-1], flag.type[-1]) if isinstance(flag.type, tuple) else samples[flag.type]
    text, value = {"data.sep": (";", ";"), "training.device": ("cpu", "cpu"), "training.threads": ("1", 1),
                   "model.quantiles": ("0.1,0.9", "0.1,0.9"), "model.intervals": ("80", "80"),
                   "model.cell": ("lstm", "lstm")}.get(
        flag.setting, (text, value))
    args = [text] if flag.type is bool else [flag.name, text]
    for name in flag.commands:
        command = commands()[name]
        positional = ["m.pt", "d.csv"] if name in ("predict", "evaluate", "gates") else ["d.csv"]
        ctx = command.make_context(name, [*positional, *(["-o", "m.pt"] if name == "train" else []), *args])
        got = ctx.params[flag.key]
        assert getattr(got, "value", got) == value, (name, flag.name, got)
    cfg = files.load(None, flags.overrides({flag.setting: value}))
    got = getattr(getattr(cfg, flag.setting.split(".")[0]), flag.key)
    if isinstance(got, tuple):  # a list setting: the flag's text split at commas
        value = tuple(type(got[0])(v) for v in value.split(","))
    assert got == value


def test_labels_name_the_flag():
    assert flags.label("training.learning_rate") == "training.learning_rate (--lr)"
    assert flags.label("data.calendar") == "data.calendar (--no-calendar)"
    assert flags.label("model.scaler") == "model.scaler"  # no flag
    assert flags.label("--threads") == "--threads"


# ---------------------------------------------------------------- the README


def commands_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Commands\n")
    return text[start:text.index("\n#", start + 1)]


def test_the_readme_names_every_flag_of_every_command():
    section = commands_section()
    block = section.split("```")[1]
    usage = {m.group(1): m.group(0) for m in re.finditer(r"grucast (\w+) .*?(?=\n\n|\Z)", block, re.S)}
    rows = {m.group(2): m.group(1) for m in re.finditer(r"^\| `(--[^`]*)` \| `([\w.]+)` \|", section, re.M)}
    table = {f.setting: f for f in flags.table()}
    assert set(rows) == set(table), "the README's settings table and grucast.config.flags differ"
    for setting, shown in rows.items():
        f = table[setting]
        assert all(n in shown for n in f.names), (setting, shown)
        line = next(row for row in section.splitlines() if f"`{setting}`" in row)
        listed = set(re.findall(r"\b(train|predict|check|evaluate|backtest|gates)\b", line.rstrip(" |").rsplit("|", 1)[-1]))
        assert listed == set(f.commands), (setting, listed)
        assert (f.envvar or "") in line
    table_names = {n for f in flags.table() for n in f.names}
    for name, command in commands().items():
        assert name in usage, f"README: no usage line for grucast {name}"
        for p in command.params:
            names = [o for o in (*p.opts, *p.secondary_opts) if o.startswith("-")]
            if not names or set(names) <= table_names or "--help" in names:
                continue
            assert any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", usage[name]) for n in names), \
                f"README: grucast {name} does not list {'/'.join(names)}"
            if p.envvar:
                assert p.envvar in section


# ---------------------------------------------------------------- --set and the environment


@pytest.fixture
def data(tmp_path) -> Path:
    sine_panel().to_csv(tmp_path / "d.csv", index=False)
    return tmp_path / "d.csv"


def test_set_on_check_and_its_precedence(data, tmp_path):
    (tmp_path / "c.yaml").write_text("model: {horizon: 12, input_size: 30}\ndata: {fill: zero}\n")

    def config(*args):
        r = cli("check", data, "--config", "c.yaml", "--json", *args)
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)["config"]

    assert config()["model"]["horizon"] == 12
    c = config("--set", "model.horizon=6", "--set", "data.fill=ffill")
    assert (c["model"]["horizon"], c["model"]["input_size"], c["data"]["fill"]) == (6, 30, "ffill")  # --set over the file
    assert config("--set", "model.horizon=6", "--horizon", "8")["model"]["horizon"] == 8  # the flag over --set
    r = cli("check", data, "--set", "model.hiden_size=8")
    assert r.exit_code == 1 and r.stderr == "Error: unknown setting 'model.hiden_size'. Did you mean 'hidden_size'?\n"


def test_set_a_key_of_another_section_a_bad_value_under_a_flag_and_text_values(data):
    for item, meant in (("training.hidden_size=8", "model.hidden_size"), ("model.lr=8", "training.learning_rate"),
                        ("model.learning_rate=8", "training.learning_rate"), ("training.lookback=8", "model.input_size")):
        r = cli("check", data, "--set", item)
        key = item.split("=")[0]
        assert r.exit_code == 1 and r.stderr == f"Error: unknown setting '{key}'. Did you mean '{meant}'?\n"
    r = cli("check", data, "--set", "model.horizon=0", "--horizon", "24")
    assert r.exit_code == 1
    assert r.stderr == "Error: --set model.horizon=0: model.horizon (--horizon) must be positive, got 0\n"
    r = cli("check", data, "--set", "data.id_col=007")  # text, not the number 7: the column is looked for
    assert r.exit_code == 1 and "id column '007' is not in" in r.stdout + r.stderr and "must be text" not in r.stderr
    r = cli("check", data, "--set", "data.target=yes", "--json")
    assert "must be text" not in r.stderr and "'yes'" in r.stdout + r.stderr


def test_set_on_train(data):
    r = cli_env({"GRUCAST_DEVICE": "gpu"}, "train", data, "-o", "m.pt", *QUICK, "--set", "training.weight_decay=0.01",
                "--set", "model.hidden_size=4", "--set", "training.device=cpu", "--json", "-q")
    assert r.exit_code == 0, r.stderr
    c = json.loads(r.stdout)["config"]
    assert c["training"]["weight_decay"] == 0.01 and c["model"]["hidden_size"] == 8  # TINY's --hidden-size wins
    assert c["training"]["device"] == "cpu"  # --set wins over the environment


def test_environment_variables_stand_in_for_flags(data, tmp_path):
    r = cli_env({"GRUCAST_DEVICE": "gpu"}, "train", data, "-o", "m.pt")
    assert r.exit_code == 1
    assert r.stderr == "Error: training.device (--device) must be auto, cpu, cuda or cuda:N; got 'gpu'\n"
    r = cli_env({"GRUCAST_DEVICE": "gpu"}, "train", data, "-o", "m.pt", "--device", "tpu")  # the flag wins
    assert "got 'tpu'" in r.stderr
    r = cli_env({"GRUCAST_THREADS": "many"}, "check", data)  # check takes no --threads: not read
    assert r.exit_code == 0
    r = cli_env({"GRUCAST_THREADS": "many"}, "predict", "m.pt", data)
    assert r.exit_code == 2 and "GRUCAST_THREADS" in r.stderr
    r = cli_env({"GRUCAST_LOG_FORMAT": "json", "GRUCAST_LOG_FILE": "log.jsonl"}, "train", "missing.csv", "-o", "m.pt")
    assert r.exit_code == 1
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events][-1] == "failed"
    help_text = " ".join(cli("train", "--help").stdout.split())
    for name in ("GRUCAST_DEVICE", "GRUCAST_THREADS", "GRUCAST_LOG_FILE", "GRUCAST_LOG_FORMAT"):
        assert f"env var: {name}" in help_text


def cli_env(env: dict, *args):
    from typer.testing import CliRunner

    return CliRunner().invoke(app, [str(a) for a in args], env=env)


# ---------------------------------------------------------------- -q


def test_quiet_prints_nothing_on_success(data, tmp_path):
    def silent(*args):
        r = cli(*args, "-q")
        assert r.exit_code == 0, r.stderr
        assert (r.stdout, r.stderr) == ("", ""), args

    silent("train", data, "-o", "m.pt", *QUICK)
    silent("predict", "m.pt", data, "-o", "f.csv")
    silent("check", data, *SHAPE)
    silent("evaluate", "m.pt", data, "-o", "e.csv")
    silent("evaluate", "m.pt", data, "--metrics", "e.json")
    silent("backtest", data, *QUICK, "--windows", "1", "--metrics", "b.csv")
    assert {p.name for p in tmp_path.iterdir()} >= {"m.pt", "f.csv", "e.csv", "e.json", "b.csv"}
    # Results asked for still come: the forecast table, a report with no output file, --json.
    assert "Forecast: 6 steps for 3 series" in cli("predict", "m.pt", data, "-q").stdout
    assert "seasonal naive" in cli("evaluate", "m.pt", data, "-q").stdout
    assert json.loads(cli("train", data, "-o", "m2.pt", *QUICK, "--json", "-q").stdout)["config"]


def test_quiet_predict_still_names_the_series_it_could_not_forecast(data, tmp_path):
    """-q silences chatter, not stand-ins: a nightly job must see that a series got no forecast from
    the network (it got a naive one, in the file and named on stderr)."""
    assert cli("train", data, "-o", "m.pt", *QUICK, "-q").exit_code == 0
    frame = pd.read_csv(data)
    short = frame[frame.series_id == frame.series_id.iloc[0]].tail(3).assign(series_id="new")
    pd.concat([frame, short]).to_csv("more.csv", index=False)
    r = cli("predict", "m.pt", "more.csv", "-o", "f.csv", "-q", "--log-file", "ev.log")
    assert r.exit_code == 0 and r.stdout == ""
    assert "1 series shorter than the 24 points the model needs got a naive forecast instead" in r.stderr
    assert r.stderr.rstrip().endswith("new") and set(pd.read_csv("f.csv").query("method == 'naive'").series_id) == {"new"}
    events = [line for line in (tmp_path / "ev.log").read_text().splitlines() if ".warning " in line]
    assert len(events) == 1 and "got a naive forecast instead" in events[0]
    r = cli("predict", "m.pt", "more.csv", "-o", "g.csv", "--log-format", "json")  # the log is stderr: JSON only
    warned = [json.loads(line) for line in r.stderr.splitlines()]
    assert [e["message"] for e in warned if e["event"] == "warning"][0].startswith("1 series shorter than")


def test_quiet_check_of_a_bad_file_names_the_problems(tmp_path):
    (tmp_path / "bad.csv").write_text("timestamp,value\n2024-01-01,1\n2024-01-02,x\n")
    r = cli("check", "bad.csv", "-q")
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.startswith("Problem: non-numeric value 'x' in column 'value' at line 3")


# ---------------------------------------------------------------- '-' for stdin


def test_train_and_predict_from_stdin(data, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    text = data.read_bytes()
    r = cli_input(text, "train", "-", "-o", "m.pt", *QUICK)
    assert r.exit_code == 0, r.stderr
    assert "Read stdin.csv: long format" in r.stderr
    manifest = json.loads((tmp_path / "m.pt.manifest.json").read_text())
    assert manifest["input"]["path"] == "-"
    assert "Trained on stdin.csv" in cli("info", "m.pt").stdout

    p = cli_input(text, "predict", "m.pt", "-", "-o", "-")
    assert p.exit_code == 0, p.stderr
    from_stdin = pd.read_csv(io.StringIO(p.stdout))
    from_file = pd.read_csv(io.StringIO(cli("predict", "m.pt", data, "--format", "csv").stdout))
    pd.testing.assert_frame_equal(from_stdin, from_file)
    assert cli_input(text, "predict", "m.pt", "-", "-o", "f.csv").exit_code == 0
    assert json.loads((tmp_path / "f.csv.manifest.json").read_text())["input"]["path"] == "-"
    # the spooled copies are gone (torch keeps a cache folder of its own there when it first
    # imports torch._dynamo in a process: the first optimizer does, when this test trains first)
    assert [p for p in (tmp_path / "tmp").iterdir() if not p.name.startswith("torchinductor_")] == []


def test_parquet_from_stdin_and_messages_name_stdin(data, tmp_path):
    pd.read_csv(data).to_parquet(tmp_path / "d.parquet")
    r = cli_input((tmp_path / "d.parquet").read_bytes(), "check", "-", *SHAPE, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["data"]["path"] == "-"
    r = cli_input(b"", "train", "-", "-o", "m.pt")
    assert r.exit_code == 1 and r.stderr == "Error: stdin.csv is empty\n"
    r = cli_input(b"timestamp,value\n", "check", "-", "-q")
    assert r.exit_code == 1 and "stdin.csv has a header but no data rows" in r.stderr


def test_stdin_twice_is_refused(data, tmp_path):
    r = cli_input(data.read_bytes(), "predict", "-", "-")
    assert r.exit_code == 1
    assert r.stderr == "Error: MODEL and DATA are both '-', but stdin can be read only once; give one of them as a file\n"
    r = cli_input(b"", "train", "-", "--config", "-", "-o", "m.pt")
    assert r.stderr == "Error: DATA and --config are both '-', but stdin can be read only once; give one of them as a file\n"
    assert not (tmp_path / "m.pt").exists()


def test_evaluate_forecasts_to_stdout(data, tmp_path):
    assert cli("train", data, "-o", "m.pt", *QUICK, "-q").exit_code == 0
    r = cli("evaluate", "m.pt", data, "-o", "-")
    assert r.exit_code == 0, r.stderr
    f = pd.read_csv(io.StringIO(r.stdout))
    assert {"cutoff", "window", "actual", "forecast", "naive", "seasonal_naive"} <= set(f.columns) and len(f) == 18
    assert "seasonal naive" in r.stderr  # the report moves to stderr
    r = cli("evaluate", "m.pt", data, "-o", "-", "--json")
    assert r.exit_code == 1
    assert r.stderr == "Error: -o - and --json would both write to stdout; give -o a file name, or leave --json out\n"


def cli_input(stdin: bytes, *args):
    from typer.testing import CliRunner

    return CliRunner().invoke(app, [str(a) for a in args], input=stdin)
