"""Files as they come from real systems: the cases a code review found, each pinned down."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from grucast import checkpoint
from grucast.cli.app import app
from grucast.config.settings import DataConfig
from grucast.data.freq import Freq
from grucast.data.panel import build_panel
from grucast.data.table import load_table
from grucast.errors import CheckpointError, DataError
from grucast.training import loop

from conftest import TINY, write

runner = CliRunner()


def test_ids_keep_their_leading_zeros(tmp_path):
    p = write(tmp_path, "store,date,sales\n007,2024-01-01,1\n07,2024-01-01,2\n007,2024-01-02,3\n07,2024-01-02,4\n")
    t = load_table(p, DataConfig(id_col="store"))
    assert sorted(t.frame.series_id.unique()) == ["007", "07"]


def test_error_lines_count_blank_lines(tmp_path):
    p = write(tmp_path, "date,sales\n2024-01-01,1\n\n2024-01-02,x\n")
    with pytest.raises(DataError, match=r"non-numeric value 'x' in column 'sales' at line 4$"):
        load_table(p, DataConfig())


def test_decimal_comma_applies_to_the_whole_column(tmp_path):
    p = write(tmp_path, "date;sales\n2024-01-01;1.234,5\n2024-01-02;2.000\n2024-01-03;1,5\n")
    assert load_table(p, DataConfig()).frame.y.tolist() == [1234.5, 2000.0, 1.5]


def test_values_beyond_float32_are_refused(tmp_path):
    p = write(tmp_path, "date,sales\n2024-01-01,1\n2024-01-02,1e39\n")
    with pytest.raises(DataError, match=r"value 1e\+39 in column 'sales' at line 3 is too large"):
        load_table(p, DataConfig())


def test_dates_outside_the_supported_years(tmp_path):
    p = write(tmp_path, "date,v\n1600-01-01,1\n1601-01-01,2\n1602-01-01,3\n")
    with pytest.raises(DataError, match="outside the years 1677-2262"):
        build_panel(load_table(p, DataConfig()), "interpolate")


def test_monthly_data_with_gaps_stays_monthly(tmp_path):
    ts = pd.date_range("2020-01-01", periods=30, freq="MS").delete([5, 12, 20])
    df = pd.concat([pd.DataFrame({"id": k, "date": ts, "v": np.arange(len(ts), dtype=float)}) for k in "ab"])
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    panel = build_panel(load_table(p, DataConfig()), "interpolate")
    assert panel.freq.name == "MS" and panel.n_filled == 6 and panel.freq.season() == 12


def test_daily_data_across_daylight_saving_stays_daily(tmp_path):
    ts = pd.date_range("2024-03-25", periods=14, freq="D", tz="Europe/Berlin")  # +01:00 then +02:00
    p = tmp_path / "d.csv"
    pd.DataFrame({"date": ts, "v": np.arange(14.0)}).to_csv(p, index=False)
    panel = build_panel(load_table(p, DataConfig()), "interpolate")
    assert panel.freq.name == "D" and panel.n_filled == 0
    assert str(panel.times_after(np.array([0]), 1)[0].date()) == "2024-04-08"


@pytest.mark.parametrize("name, season", [("2W-SUN", 26), ("SMS", 24), ("2MS", 6), ("2QS-JAN", 2), ("2h", 12)])
def test_season_follows_the_multiple(name, season):
    assert Freq("datetime", name).season() == season


def test_interpolation_never_reads_the_held_out_part(tmp_path):
    # The last training point is missing; the first held-out point is 100. Training must not
    # see a value that leans towards 100.
    p = write(tmp_path, "step,v\n" + "".join(f"{i},{i % 3}\n" for i in range(20)) + "21,100\n22,100\n23,100\n")
    panel = build_panel(load_table(p, DataConfig()), None)
    panel.fill("interpolate", holdout=3)
    assert panel.values[20] == panel.values[19] == 19 % 3 and panel.n_filled == 1
    again = build_panel(load_table(p, DataConfig()), "interpolate")  # predict: no held-out part
    assert again.values[20] == pytest.approx((1 + 100) / 2)


def test_zoned_times_are_written_with_their_offset(tmp_path):
    ts = pd.date_range("2024-01-01", periods=120, freq="h", tz="+01:00")
    df = pd.DataFrame({"timestamp": ts, "value": 10 + np.sin(np.arange(120) / 4)})
    df.to_csv(tmp_path / "tz.csv", index=False)
    r = runner.invoke(app, ["train", "tz.csv", "-o", "m.pt", *TINY, "--horizon", "2", "--input-size", "12"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(runner.invoke(app, ["predict", "m.pt", "tz.csv", "--format", "json"]).stdout)
    assert [f["timestamp"] for f in out["forecasts"]] == ["2024-01-06 00:00:00+01:00", "2024-01-06 01:00:00+01:00"]
    assert runner.invoke(app, ["predict", "m.pt", "tz.csv", "-o", "f.csv"]).exit_code == 0
    assert "2024-01-06 00:00:00+01:00" in (tmp_path / "f.csv").read_text()


def test_hand_edited_checkpoints_are_refused(tmp_path):
    df = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=80, freq="h"), "value": np.arange(80.0)})
    df.to_csv(tmp_path / "d.csv", index=False)
    assert runner.invoke(app, ["train", "d.csv", "-o", "m.pt", *TINY, "--horizon", "2", "--input-size", "8"]).exit_code == 0
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    for edit in (lambda r: r["config"]["model"].update(input_size=None),
                 lambda r: r["freq"].update(name="hourly"),
                 lambda r: r["schema"].update(target=None)):
        bad = json.loads(json.dumps({k: v for k, v in raw.items() if k != "state_dict"}))
        edit(bad)
        bad["state_dict"] = raw["state_dict"]
        torch.save(bad, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match="incomplete or damaged grucast checkpoint"):
            checkpoint.load(tmp_path / "bad.pt")


def test_diverging_training_is_a_clear_error(tmp_path, monkeypatch):
    # A learning rate that diverges is refused up front now (--lr is at most 10); a loss that
    # still turns NaN (an overflow) must end the same way: one line, nothing written.
    from grucast.training import losses

    real = losses.loss_function

    class Overflowing:  # a training loss that overflows; validation is scored as before
        def __init__(self, fn):
            self.fn, self.total = fn, fn.total

        def __call__(self, out, y, mask):
            return self.fn(out, y, mask) * float("nan")

    def overflowing(*args, **kwargs):
        return Overflowing(real(*args, **kwargs))

    monkeypatch.setattr(loop, "loss_function", overflowing)
    df = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=200, freq="h"), "value": np.arange(200.0)})
    df.to_csv(tmp_path / "d.csv", index=False)
    r = runner.invoke(app, ["train", "d.csv", "-o", "m.pt", "--horizon", "4", "--input-size", "8", "--epochs", "3"])
    assert r.exit_code == 1 and r.stderr.splitlines()[-1].startswith("Error: training diverged at step")
    assert not (tmp_path / "m.pt").exists()


def test_yyyymmdd_integers_are_dates(tmp_path):
    ts = pd.date_range("2024-01-25", periods=12, freq="D")
    p = write(tmp_path, "date,sales\n" + "".join(f"{t:%Y%m%d},{i}\n" for i, t in enumerate(ts)))
    panel = build_panel(load_table(p, DataConfig()), "interpolate")
    assert panel.freq.name == "D" and panel.n_filled == 0 and len(panel.values) == 12
    steps = write(tmp_path, "step,v\n1,1\n2,2\n3,3\n", name="steps.csv")
    assert load_table(steps, DataConfig()).schema.time_kind == "int"
