"""Text from outside reaches the terminal as written: ids, column names, paths and flag values are
never read as rich markup or emoji codes, and their control characters (ESC, CR, bidi overrides)
are shown as escapes, so a file cannot restyle, clear or overwrite the screen. Files keep the ids
exactly."""

import csv
import io

import pandas as pd
import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from grucast.cli import render, terminal

from conftest import TINY, cli, sine_panel

# Each id as written in the file, and as a terminal must show it.
IDS = {
    "[/]": "[/]",
    "[bold]x[/bold]": "[bold]x[/bold]",
    ":smile:": ":smile:",
    "a\x1b[2Jb": "a\\x1b[2Jb",
    "x\rEVIL": "x\\rEVIL",
    "\u202eevil": "\\u202eevil",
}
RAW = ("\x1b", "\r", "\u202e", "\u202a", "\u2066", "\x9b", "\x07", "\x08")


def no_raw_controls(text: str) -> bool:
    return not any(c in text for c in RAW)


def panel_with_ids(path, ids=tuple(IDS), length=120):
    """A long CSV (series_id, timestamp, value) whose series carry these ids, quoted so that CR
    survives the round trip."""
    frame = sine_panel(n_series=len(ids), length=length)
    frame["series_id"] = frame["series_id"].map({f"s{i}": v for i, v in enumerate(ids)})
    frame.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return path


# ---------------------------------------------------------------- clean and the consoles


def test_clean_shows_controls_as_escapes():
    assert render.clean("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert render.clean("x\rEVIL") == "x\\rEVIL"
    assert render.clean("\u202eevil\u2066\u2069") == "\\u202eevil\\u2066\\u2069"
    assert render.clean("\x00\x7f\x9b2J") == "\\x00\\x7f\\x9b2J"
    assert render.clean("a\nb") == "a\\nb" and render.clean("a\nb", newlines=True) == "a\nb"
    assert render.clean("tab\there") == "tab\there"
    assert render.clean("\udcff.csv") == "\\udcff.csv"  # an undecodable byte of a file name
    # Everything else is kept as written, and cleaning twice changes nothing.
    for text in ("[/] :smile: C:\\temp ünï 漢字 😀 café", *IDS):
        once = render.clean(text)
        assert render.clean(once) == once
    assert render.clean("[/] C:\\temp 漢字") == "[/] C:\\temp 漢字"


class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
@pytest.mark.parametrize("terminal", [False, True])
def test_consoles_print_text_as_written(monkeypatch, stream, terminal):
    buf = Tty() if terminal else io.StringIO()
    monkeypatch.setattr(f"sys.{stream}", buf)
    monkeypatch.setenv("TERM", "xterm-256color")
    console = render.stdout_console() if stream == "stdout" else render.stderr_console()
    assert console.is_terminal == terminal
    for raw in IDS:
        console.print(f"id {raw} end")
        console.print(f"id {raw} end", markup=True, emoji=True)  # markup cannot be asked for
        console.log(f"log {raw} end")
    table = Table(title="t [/]")
    table.add_column("[b]col")
    table.add_row("x\x1b[31m")
    console.print(table)
    console.print(Text("raw \x1b[2J text"))  # even a Text built from raw text
    out = buf.getvalue()
    for shown in IDS.values():
        assert out.count(f"id {shown} end") == 2 and f"log {shown} end" in out
    assert "t [/]" in out and "[b]col" in out and "x\\x1b[31m" in out and "raw \\x1b[2J text" in out
    if not terminal:
        assert no_raw_controls(out)
    else:  # only rich's own style codes, never the data's
        assert "\x1b[2J" not in out and "\x1b[31m" not in out and "\r" not in out and "\u202e" not in out


def test_warning_and_training_notes_are_literal_on_any_console():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=200)  # a plain console, markup on
    render.warning(console, "column '[/]' has \x1b[2J")
    display = render.TrainDisplay(console)
    display.on_note("note [bold]x[/bold]\r")
    out = buf.getvalue()
    assert "Warning: column '[/]' has \\x1b[2J" in out
    assert "note [bold]x[/bold]\\r" in out
    assert no_raw_controls(out)


def test_error_line_is_one_literal_line(capsys):
    terminal.error_line("no column '[/]\x1b[2J' in\nx\rEVIL.csv \u202eevil")
    err = capsys.readouterr().err
    assert err == "Error: no column '[/]\\x1b[2J' in x\\rEVIL.csv \\u202eevil\n"


# ---------------------------------------------------------------- the CLI


@pytest.mark.parametrize("raw", list(IDS))
def test_check_shows_ids_literally(tmp_path, raw):
    """An id is shown when its series has no values: as written, escaped, without a crash."""
    path = panel_with_ids(tmp_path / "d.csv", ("s0", "s1", raw))
    frame = pd.read_csv(path, dtype={"series_id": str})
    frame.loc[frame["series_id"] == raw, "value"] = None
    frame.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
    r = cli("check", path)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert f"Skipped 1 series with no values: {IDS[raw]}" in r.stdout
    assert "Traceback" not in r.stderr
    assert no_raw_controls(r.stdout) and no_raw_controls(r.stderr)


def test_train_and_predict_show_ids_literally_and_write_them_exactly(tmp_path):
    data = panel_with_ids(tmp_path / "ids.csv")
    r = cli("train", data, "-o", tmp_path / "m.pt", *TINY, "--horizon", "4", "--input-size", "16")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert no_raw_controls(r.stdout) and no_raw_controls(r.stderr)

    p = cli("predict", tmp_path / "m.pt", data)
    assert p.exit_code == 0, (p.stdout, p.stderr)
    for shown in IDS.values():
        assert shown in p.stdout
    assert no_raw_controls(p.stdout) and no_raw_controls(p.stderr)

    # Escaping is for the terminal only: the forecast file keeps every id exactly, also under a
    # name that looks like markup.
    out = tmp_path / "[bold]f[red] :smile: \u202ex.csv"
    p = cli("predict", tmp_path / "m.pt", data, "-o", out)
    assert p.exit_code == 0, (p.stdout, p.stderr)
    assert "Wrote 24 forecasts for 6 series to" in p.stderr
    assert "[bold]f[red] :smile: \\u202ex.csv" in p.stderr
    assert no_raw_controls(p.stderr)
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    assert {row[0] for row in rows} == set(IDS)


def test_forecast_csv_reads_back_ids_with_cr(tmp_path):
    data = panel_with_ids(tmp_path / "ids.csv", ("s0", "x\rEVIL"))
    assert cli("train", data, "-o", tmp_path / "m.pt", *TINY, "--horizon", "4", "--input-size", "16").exit_code == 0
    p = cli("predict", tmp_path / "m.pt", data, "-o", tmp_path / "f.csv")
    assert p.exit_code == 0, (p.stdout, p.stderr)
    written = pd.read_csv(tmp_path / "f.csv", dtype={"series_id": str})
    assert set(written["series_id"]) == {"s0", "x\rEVIL"}


@pytest.mark.parametrize("args", [
    ("--target", "[/]\x1b[2J"),
    ("--target", "[bold]x[/bold]:smile:\u202e"),
])
def test_error_naming_outside_text_is_one_literal_line(tmp_path, args):
    data = panel_with_ids(tmp_path / "d.csv", ("s0", "s1"))
    r = cli("train", data, "-o", tmp_path / "m.pt", *args, *TINY)
    assert r.exit_code == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert render.clean(args[1]) in lines[0]
    assert no_raw_controls(r.stderr)


def test_error_for_a_path_with_markup_is_one_literal_line(tmp_path):
    r = cli("check", tmp_path / "[/]\x1b[2J.csv")
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert r.exit_code == 1, (r.stdout, r.stderr)
    assert any("[/]\\x1b[2J.csv" in line for line in lines), (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert no_raw_controls(r.stdout) and no_raw_controls(r.stderr)
