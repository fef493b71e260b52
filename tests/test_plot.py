"""`grucast plot`: every kind of picture rendered on small data, checked by reading the file
(PNG size and pixels, SVG elements: panels, lines, bands), the same bytes twice, and bad input:
a series that does not exist, an empty forecast file, a missing matplotlib."""

import json
import re
import struct
import subprocess
import sys

import pytest

from conftest import built_once, cli, sine_panel

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """d.csv (4 hourly series), a quantile model of 2 networks, its forecast file, an evaluation
    file, a monitor history of that forecast, and an empty forecast file (built once per run)."""
    return built_once(tmp_path_factory, "plot-made", _made)


def _made(root):
    frame = sine_panel(4, 240)
    frame.to_csv(root / "d.csv", index=False)
    early = frame[frame.groupby("series_id").cumcount() < 216]
    early.to_csv(root / "early.csv", index=False)
    r = cli("train", root / "early.csv", "-o", root / "m.pt", "--horizon", 24, "--input-size", 48, "--hidden-size", 8,
            "--ensemble", 2, "--max-steps", 20, "--quantiles", "0.05,0.1,0.5,0.9,0.95", "-q")
    assert r.exit_code == 0, r.stderr
    assert cli("predict", root / "m.pt", root / "early.csv", "-o", root / "f.csv", "-q").exit_code == 0
    assert cli("evaluate", root / "m.pt", root / "d.csv", "--windows", 2, "-o", root / "e.csv", "-q").exit_code == 0
    assert cli("monitor", root / "d.csv", root / "f.csv", "--history", root / "h", "-q").exit_code == 0
    (root / "empty.csv").write_text((root / "f.csv").read_text().splitlines()[0] + "\n")
    (root / "empty.csv.manifest.json").write_text((root / "f.csv.manifest.json").read_text())


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def ids(svg: str, prefix: str) -> list[str]:
    return re.findall(rf'id="({prefix}-[^"]*)"', svg)


def test_a_forecast_plot_draws_history_forecast_every_band_and_the_origin_per_series(made, tmp_path):
    r = cli("plot", made / "m.pt", made / "early.csv", "-o", tmp_path / "f.svg", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "forecast" and sorted(doc["series"]) == ["s0", "s1", "s2", "s3"] and doc["of"] == 4
    svg = (tmp_path / "f.svg").read_text()
    assert len(ids(svg, "panel")) == 4
    for kind in ("history", "forecast", "origin", "band-80", "band-90"):
        assert len(ids(svg, kind)) == 4, kind
    assert ">timestamp<" in svg and ">value<" in svg and "Forecast of m.pt, 4 series" in svg  # axes and title
    manifest = json.loads((tmp_path / "f.svg.manifest.json").read_text())
    assert manifest["command"] == "plot" and manifest["output"]["sha256"]
    # the largest two by --top, in a PNG of the grid's size, not blank
    r = cli("plot", made / "m.pt", made / "early.csv", "-o", tmp_path / "f.png", "--top", 2, "--json")
    assert json.loads(r.stdout)["series"] == ["s3", "s2"]  # levels grow with the index
    assert png_size(tmp_path / "f.png") == (900, 280)
    import matplotlib.image

    pixels = matplotlib.image.imread(tmp_path / "f.png")
    assert pixels.std() > 0.05 and (pixels[..., :3] < 0.5).mean() > 0.005  # ink on the page
    # one series: one wide panel; from the forecast file and its manifest: the same picture
    cli("plot", made / "m.pt", made / "early.csv", "-o", tmp_path / "one.png", "--series", "s1")
    assert png_size(tmp_path / "one.png") == (900, 400)
    r = cli("plot", made / "f.csv", made / "early.csv", "-o", tmp_path / "g.svg", "--series", "s1", "--tail", 30)
    assert r.exit_code == 0, r.stderr
    assert len(ids((tmp_path / "g.svg").read_text(), "forecast")) == 1


def test_the_same_inputs_give_the_same_bytes(made, tmp_path):
    for ext in ("png", "svg"):
        for name in ("a", "b"):
            assert cli("plot", made / "h", "-o", tmp_path / f"{name}.{ext}", "-q").exit_code == 0
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes(), ext
        assert b"Date" not in (tmp_path / f"a.{ext}").read_bytes() and b"Matplotlib v" not in (tmp_path / f"a.{ext}").read_bytes()


def test_a_backtest_plot_has_a_panel_per_series_every_window_and_the_error_by_step(made, tmp_path):
    r = cli("plot", made / "e.csv", "-o", tmp_path / "b.svg", "--top", 3, "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "backtest" and len(doc["series"]) == 3 and doc["of"] == 4
    svg = (tmp_path / "b.svg").read_text()
    assert len(ids(svg, "panel")) == 4  # 3 series + the error by horizon step
    assert len(ids(svg, "actual")) == 3 and len(ids(svg, "forecast")) == 3 * 2  # 2 windows each
    assert "panel-by-step" in svg


def test_a_training_plot_has_every_network_its_best_step_and_the_learning_rate(made, tmp_path):
    r = cli("plot", made / "m.pt", "-o", tmp_path / "t.svg", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "training"
    svg = (tmp_path / "t.svg").read_text()
    assert ids(svg, "val") == ["val-0", "val-1"] and ids(svg, "best") == ["best-0", "best-1"]
    assert ids(svg, "lr") == ["lr-0", "lr-1"]


def test_a_monitoring_plot_and_an_html_report(made, tmp_path):
    r = cli("plot", made / "h", "-o", tmp_path / "m.png", "--report", tmp_path / "r.html")
    assert r.exit_code == 0, r.stderr
    assert png_size(tmp_path / "m.png") == (900, 700)  # MASE and coverage
    page = (tmp_path / "r.html").read_text()
    assert page.count("<img") == 1 and "data:image/png;base64," in page and "<script" not in page
    assert (tmp_path / "r.html.manifest.json").exists()


@pytest.mark.parametrize("args, message", [
    (["m.pt", "early.csv", "--series", "s9"], "--series s9 is not a series of the data"),
    (["m.pt", "early.csv", "--top", "0"], "--top takes 1 or more"),
    (["m.pt", "early.csv", "--top", "5000"], "draws 100 at most"),
    (["empty.csv", "early.csv"], "empty.csv has a header but no data rows"),
    (["m.pt", "early.csv", "--kind", "pie"], "--kind takes forecast, backtest"),
])
def test_bad_plot_requests_are_one_line_errors_and_write_nothing(made, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(made)
    r = cli("plot", *args, "-o", tmp_path / "x.png")
    assert r.exit_code == 1 and r.stderr.startswith("Error: ") and message in r.stderr, r.stderr
    assert not (tmp_path / "x.png").exists()
    r = cli("plot", "m.pt", "early.csv", "-o", tmp_path / "x.jpg")
    assert r.exit_code == 1 and ".png or .svg" in r.stderr


@pytest.mark.parametrize("change, message", [
    (lambda m: {**m, "model": {**m["model"], "schema": "x"}}, "has a damaged model card"),
    (lambda m: {**m, "checkpoint": "m.pt"}, "is damaged"),
    (lambda m: {**m, "output": ["f.csv"]}, "is damaged"),
    (lambda m: {k: v for k, v in m.items() if k != "model"}, "does not describe the model"),
])
def test_a_forecast_whose_manifest_is_damaged_is_one_line_error(made, tmp_path, change, message):
    """A manifest edited or cut into another shape: one Error line naming it, no traceback, no picture."""
    import shutil

    shutil.copy(made / "f.csv", tmp_path / "f.csv")
    m = change(json.loads((made / "f.csv.manifest.json").read_text()))
    (tmp_path / "f.csv.manifest.json").write_text(json.dumps(m))
    r = cli("plot", tmp_path / "f.csv", made / "early.csv", "-o", tmp_path / "x.png")
    assert r.exit_code == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("Error: ") and f"f.csv.manifest.json {message}" in r.stderr, r.stderr
    assert not (tmp_path / "x.png").exists()


def test_without_matplotlib_plot_says_how_to_install_it_and_nothing_else_imports_it(made, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    r = cli("plot", made / "m.pt", made / "early.csv", "-o", tmp_path / "x.png")
    assert r.exit_code == 1 and "pip install 'grucast[plot]'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()
    code = ("import sys; sys.argv[0] = 'grucast'; from grucast.cli import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "assert 'matplotlib' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_future_covariates_are_drawn_beneath_the_forecast_over_history_and_horizon(tmp_path):
    from test_covariates import future_rows, promo_panel

    history = promo_panel(2, 120)
    history.to_csv(tmp_path / "h.csv", index=False)
    r = cli("train", tmp_path / "h.csv", "-o", tmp_path / "c.pt", "--future-cols", "promo", "--horizon", 6,
            "--input-size", 24, "--hidden-size", 8, "--ensemble", 1, "--max-steps", 5, "-q")
    assert r.exit_code == 0, r.stderr
    pattern = [1, 0, 0, 1, 1, 0]
    future_rows(history, pattern, 6).drop(columns="value").to_csv(tmp_path / "f.csv", index=False)
    r = cli("plot", tmp_path / "c.pt", tmp_path / "h.csv", "--future", tmp_path / "f.csv", "-o", tmp_path / "c.svg",
            "--tail", 12)
    assert r.exit_code == 0, r.stderr
    svg = (tmp_path / "c.svg").read_text()
    assert len(ids(svg, "panel")) == 2 and len(ids(svg, "covariate-promo")) == 2
    # the covariate's line holds 12 history points and the 6 of the horizon
    path = re.search(r'<g id="covariate-promo-0">.*?<path d="([^"]*)"', svg, re.S).group(1)
    assert len(re.findall(r"[ML]", path)) == 12 + 6


def test_a_past_forecast_is_drawn_at_its_origin_with_the_actuals_that_came_after(made, tmp_path):
    r = cli("plot", made / "f.csv", made / "d.csv", "-o", tmp_path / "p.svg", "--series", "s1", "--tail", 30)
    assert r.exit_code == 0, r.stderr
    svg = (tmp_path / "p.svg").read_text()
    assert ids(svg, "actual") == ["actual-0"]  # d.csv holds the 24 hours f.csv forecast
    line = re.search(r'<g id="actual-0">.*?<path d="([^"]*)"', svg, re.S).group(1)
    assert len(re.findall(r"[ML]", line)) == 24
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "_grucast_history.json").write_text("{not json")
    r = cli("plot", tmp_path / "bad", "-o", tmp_path / "b.png")
    assert r.exit_code == 1 and "is damaged" in r.stderr and "Traceback" not in r.stderr


def test_text_from_the_data_is_drawn_as_written_never_as_math(made, tmp_path):
    """A series id that reads as TeX math ('$\\frac{$' would not even parse) is drawn literally."""
    import pandas as pd

    e = pd.read_csv(made / "e.csv")
    e["series_id"] = e["series_id"].replace({"s0": "$\\frac{$", "s1": "[bold red]boom"})
    e.to_csv(tmp_path / "e.csv", index=False)
    r = cli("plot", tmp_path / "e.csv", "-o", tmp_path / "b.svg", "--series", "$\\frac{$,[bold red]boom")
    assert r.exit_code == 0, r.stderr
    svg = (tmp_path / "b.svg").read_text()
    assert ">$\\frac{$<" in svg and ">[bold red]boom<" in svg
