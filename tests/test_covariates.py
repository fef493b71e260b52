"""Covariates, calendar features, masked targets and left padding, end to end: real CSV files in,
checkpoints and forecast files out, numbers checked."""

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch

from grucast import checkpoint

from conftest import cli, sine_panel

# Small and fast. One torch thread: another process may share the two cores, and two threads
# fighting over them make a tiny model several times slower.
FAST = ["--hidden-size", "8", "--num-layers", "1", "--batch-size", "64", "--max-steps", "20", "--threads", "1",
        "--ensemble", "1"]
H = 6  # horizon of every model here
SHAPE = ["--horizon", str(H), "--input-size", "12"]


def train_ok(data, model, *extra):
    r = cli("train", data, "-o", model, *FAST, *extra)
    assert r.exit_code == 0, (r.stderr, r.exception)
    return r


def predict_csv(model, data, *extra) -> pd.DataFrame:
    r = cli("predict", model, data, "--format", "csv", "--threads", "1", *extra)
    assert r.exit_code == 0, (r.stderr, r.exception)
    return pd.read_csv(io.StringIO(r.stdout), parse_dates=["timestamp"])


def one_error_line(r, code=1) -> str:
    assert r.exit_code == code, (r.stdout, r.stderr, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def hours_after(last, n=H) -> list:
    return list(pd.date_range(pd.Timestamp(last) + pd.Timedelta("1h"), periods=n, freq="h"))


@pytest.fixture(scope="module", autouse=True)
def _keep_torch_threads():
    """--threads 1 sets torch's thread count for the whole process: give it back afterwards."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------- data


def promo_panel(n_series=3, length=166, seed=0, start="2024-01-01", ids=None) -> pd.DataFrame:
    """Hourly series_id, timestamp, value, promo, price with value = level * (1 + 2 * promo) + noise:
    a promotion triples the level; price is noise the model may ignore."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, sid in enumerate(ids or [f"s{i}" for i in range(n_series)]):
        level = 10.0 * (i + 1)
        promo = (rng.random(length) < 0.3).astype(int)
        price = np.round(rng.uniform(1, 2, length), 2)
        y = level * (1 + 2 * promo) + rng.normal(0, 0.05 * level, length)
        frames.append(pd.DataFrame({"series_id": sid, "timestamp": pd.date_range(start, periods=length, freq="h"),
                                    "value": np.round(y, 3), "promo": promo, "price": price}))
    return pd.concat(frames, ignore_index=True)


def future_rows(history: pd.DataFrame, promo, n=H) -> pd.DataFrame:
    """n rows after every series' last time, target empty, promo from the pattern, price 1.5."""
    rows = []
    for sid, g in history.groupby("series_id", sort=False):
        rows.append(pd.DataFrame({"series_id": sid, "timestamp": hours_after(g.timestamp.max(), n),
                                  "value": np.nan, "promo": list(promo)[:n], "price": 1.5}))
    return pd.concat(rows, ignore_index=True)


def temp_panel(n_series=3, length=150, seed=1) -> pd.DataFrame:
    """Hourly series with a past covariate temp (a different range per series) that drives the
    next value, and static region (text) and size (number)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, (region, size) in enumerate([("north", 1.0), ("south", 2.5), ("north", 4.0), ("south", 3.0)][:n_series]):
        temp = 10 * i + 5 * np.sin(np.arange(length) / 5) + rng.normal(0, 1, length)
        y = 10 * (i + 1) + 0.5 * np.roll(temp, 1) + rng.normal(0, 0.3, length)
        frames.append(pd.DataFrame({"series_id": f"s{i}", "timestamp": pd.date_range("2024-01-01", periods=length, freq="h"),
                                    "value": np.round(y, 3), "temp": np.round(temp, 2), "region": region, "size": size}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def promo_model(tmp_path_factory):
    """A model with future covariates promo and price, trained on the first 160 of 166 points
    (enough steps to learn what a promotion does); returns (folder, model, full data)."""
    d = tmp_path_factory.mktemp("promo")
    full = promo_panel()
    full.groupby("series_id").head(160).to_csv(d / "train.csv", index=False)
    train_ok(d / "train.csv", d / "m.pt", "--future-cols", "promo,price", *SHAPE, "--max-steps", "100", "--lr", "0.01", "-q")
    return d, d / "m.pt", full


@pytest.fixture(scope="module")
def temp_models(tmp_path_factory):
    """A past-covariate model (temp) and a static-covariate model (region, size)."""
    d = tmp_path_factory.mktemp("temp")
    temp_panel().to_csv(d / "train.csv", index=False)
    train_ok(d / "train.csv", d / "past.pt", "--past-cols", "temp", *SHAPE, "-q")
    train_ok(d / "train.csv", d / "static.pt", "--static-cols", "region,size", *SHAPE, "-q")
    return d


# ---------------------------------------------------------------- 1. future-known covariates


def test_future_covariates_predict_a_different_file_from_trailing_rows_or_a_future_file(promo_model, tmp_path):
    _, model, full = promo_model
    spec = checkpoint.load(model).features
    assert spec.future == ("promo", "price") and spec.past == ()
    # New data: more history than training saw (164 points) and a series it never saw.
    new = promo_panel(n_series=1, length=100, seed=7, start="2024-01-03", ids=["new"])
    history = pd.concat([full.groupby("series_id").head(164), new], ignore_index=True)
    history.to_csv(tmp_path / "history.csv", index=False)
    fut = future_rows(history, [1, 0, 0, 1, 0, 0])
    pd.concat([history, fut]).to_csv(tmp_path / "with_future.csv", index=False)

    r = cli("predict", model, tmp_path / "with_future.csv", "-o", tmp_path / "f.csv", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    assert "Wrote 24 forecasts for 4 series" in r.stderr
    f = pd.read_csv(tmp_path / "f.csv", parse_dates=["timestamp"])
    assert list(f.columns) == ["series_id", "timestamp", "forecast", "method"] and len(f) == 4 * H
    assert sorted(f.series_id.unique()) == ["new", "s0", "s1", "s2"]
    for sid, g in f.groupby("series_id"):
        assert list(g.timestamp) == hours_after(history[history.series_id == sid].timestamp.max())
    assert np.isfinite(f.forecast).all()

    # The same values from --future FILE (id, time and the future columns; no target column)
    # give the same forecasts.
    fut.drop(columns="value").to_csv(tmp_path / "future.csv", index=False)
    g = predict_csv(model, tmp_path / "history.csv", "--future", tmp_path / "future.csv")
    pd.testing.assert_frame_equal(g, f)


def test_future_covariates_drive_the_forecast(promo_model, tmp_path):
    # value = level * (1 + 2 * promo): a forecast at a promotion step is about three times the
    # level, one without about the level; swapping the promotions swaps the forecasts.
    _, model, full = promo_model
    history = full.groupby("series_id").head(160)
    level = {"s0": 10.0, "s1": 20.0, "s2": 30.0}
    for pattern in ([1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]):
        pd.concat([history, future_rows(history, pattern)]).to_csv(tmp_path / "p.csv", index=False)
        f = predict_csv(model, tmp_path / "p.csv")
        f["promo"] = pattern * 3
        f["ratio"] = f.forecast / f.series_id.map(level)
        on, off = f[f.promo == 1], f[f.promo == 0]
        assert on.ratio.min() > 1.8 and off.ratio.max() < 1.4, f
        for sid, g in f.groupby("series_id"):
            assert g[g.promo == 1].forecast.min() > 1.5 * g[g.promo == 0].forecast.max(), g


def test_missing_future_values_name_the_series_and_the_first_missing_time(promo_model, tmp_path):
    _, model, full = promo_model
    history = full.groupby("series_id").head(160)  # ends at 2024-01-07 15:00 for every series
    history.to_csv(tmp_path / "history.csv", index=False)
    assert history.timestamp.max() == pd.Timestamp("2024-01-07 15:00")

    # No rows after the history at all.
    r = cli("predict", model, tmp_path / "history.csv")
    msg = one_error_line(r)
    assert msg.startswith("Error: series 's0' has no value of future covariate 'promo' at 2024-01-07 16:00:00, "
                          "the forecast step 1 of 6 (3 series lack future values)")
    assert "history.csv" in msg and "--future FILE" in msg

    # A future file that stops after 3 steps for s1.
    fut = future_rows(history, [1, 0, 0, 1, 0, 0]).drop(columns="value")
    short = fut.drop(index=fut.index[(fut.series_id == "s1") & (fut.timestamp >= "2024-01-07 19:00")])
    short.to_csv(tmp_path / "short.csv", index=False)
    msg = one_error_line(cli("predict", model, tmp_path / "history.csv", "--future", tmp_path / "short.csv"))
    assert msg.startswith("Error: series 's1' has no value of future covariate 'promo' at 2024-01-07 19:00:00, "
                          "the forecast step 4 of 6 (1 series lack future values)")
    assert msg.endswith("the model needs them over the whole horizon: add the missing rows to short.csv")

    # A trailing row whose price is empty.
    rows = future_rows(history, [1, 0, 0, 1, 0, 0])
    rows.loc[(rows.series_id == "s2") & (rows.timestamp == "2024-01-07 17:00"), "price"] = np.nan
    pd.concat([history, rows]).to_csv(tmp_path / "holes.csv", index=False)
    msg = one_error_line(cli("predict", model, tmp_path / "holes.csv"))
    assert msg.startswith("Error: series 's2' has no value of future covariate 'price' at 2024-01-07 17:00:00, "
                          "the forecast step 2 of 6")
    assert not list(tmp_path.glob("*.pt"))


def test_future_covariate_column_missing_from_the_predict_file_is_named(promo_model, tmp_path):
    _, model, full = promo_model
    full.drop(columns="price").to_csv(tmp_path / "noprice.csv", index=False)
    msg = one_error_line(cli("predict", model, tmp_path / "noprice.csv"))
    assert msg.startswith("Error: future covariate column 'price' is not in noprice.csv")

    history = full.groupby("series_id").head(160)
    history.to_csv(tmp_path / "history.csv", index=False)
    future_rows(history, [0] * H)[["series_id", "timestamp", "promo"]].to_csv(tmp_path / "future.csv", index=False)
    msg = one_error_line(cli("predict", model, tmp_path / "history.csv", "--future", tmp_path / "future.csv"))
    assert msg.startswith("Error: future covariate column 'price' is not in future.csv")


def test_missing_column_error_lists_the_columns_the_future_file_has(promo_model, tmp_path):
    _, model, full = promo_model
    history = full.groupby("series_id").head(160)
    history.to_csv(tmp_path / "history.csv", index=False)
    future_rows(history, [0] * H)[["series_id", "timestamp", "promo"]].to_csv(tmp_path / "future.csv", index=False)
    msg = one_error_line(cli("predict", model, tmp_path / "history.csv", "--future", tmp_path / "future.csv"))
    assert msg == ("Error: future covariate column 'price' is not in future.csv; "
                   "its columns are 'series_id', 'timestamp', 'promo'")


def test_future_file_for_a_model_without_future_covariates_is_refused(temp_models, tmp_path):
    pd.DataFrame({"series_id": "s0", "timestamp": hours_after("2024-01-07 05:00"), "temp": 1.0}).to_csv(
        tmp_path / "future.csv", index=False)
    r = cli("predict", temp_models / "past.pt", temp_models / "train.csv", "--future", tmp_path / "future.csv")
    assert one_error_line(r) == "Error: --future gives future covariates, but past.pt was trained without any"


def test_missing_future_values_with_integer_steps(tmp_path):
    df = promo_panel(length=60)
    df["timestamp"] = df.groupby("series_id").cumcount() + 1
    df.to_csv(tmp_path / "steps.csv", index=False)
    train_ok(tmp_path / "steps.csv", tmp_path / "m.pt", "--future-cols", "promo", *SHAPE, "--season", "1", "--max-steps", "2", "-q")
    msg = one_error_line(cli("predict", tmp_path / "m.pt", tmp_path / "steps.csv"))
    assert msg.startswith("Error: series 's0' has no value of future covariate 'promo' at 61, the forecast step 1 of 6")


# ---------------------------------------------------------------- 2. past covariates


def test_past_covariates_need_no_future_rows(temp_models, tmp_path):
    spec = checkpoint.load(temp_models / "past.pt").features
    assert spec.past == ("temp",) and spec.future == () and "temp" in spec.loc
    # Another file: more history and a fourth series; no rows after the history.
    other = temp_panel(n_series=4, length=170, seed=5)
    other.to_csv(tmp_path / "other.csv", index=False)
    f = predict_csv(temp_models / "past.pt", tmp_path / "other.csv")
    assert len(f) == 4 * H and sorted(f.series_id.unique()) == ["s0", "s1", "s2", "s3"]
    for sid, g in f.groupby("series_id"):
        assert list(g.timestamp) == hours_after("2024-01-08 01:00")
    assert np.isfinite(f.forecast).all()

    # temp is read over the input window only: rows after the history (target empty, any
    # temp) change nothing, while temp inside the window does.
    tail = future_rows(other, [0] * 3, n=3)[["series_id", "timestamp", "value"]].assign(temp=999.0, region="x", size=0)
    pd.concat([other, tail]).to_csv(tmp_path / "trailing.csv", index=False)
    pd.testing.assert_frame_equal(predict_csv(temp_models / "past.pt", tmp_path / "trailing.csv"), f)
    warm = other.copy()
    warm.loc[warm.timestamp >= "2024-01-07 20:00", "temp"] += 10
    warm.to_csv(tmp_path / "warm.csv", index=False)
    assert not np.allclose(predict_csv(temp_models / "past.pt", tmp_path / "warm.csv").forecast, f.forecast)

    other.drop(columns="temp").to_csv(tmp_path / "notemp.csv", index=False)
    msg = one_error_line(cli("predict", temp_models / "past.pt", tmp_path / "notemp.csv"))
    assert msg.startswith("Error: past covariate column 'temp' is not in notemp.csv")


# ---------------------------------------------------------------- 3. static covariates and series embedding


def test_static_covariates_text_is_a_category_and_numbers_are_scaled(temp_models, tmp_path):
    spec = checkpoint.load(temp_models / "static.pt").features
    assert spec.static_cat == ("region",) and spec.categories == {"region": ["north", "south"]}
    assert spec.static_num == ("size",)
    assert spec.loc["size"] == pytest.approx(2.5) and spec.scale["size"] == pytest.approx(np.std([1.0, 2.5, 4.0]))

    # A region the model never saw: forecast anyway, with a note.
    df = temp_panel()
    df.loc[df.series_id == "s1", "region"] = "east"
    df.to_csv(tmp_path / "east.csv", index=False)
    r = cli("predict", temp_models / "static.pt", tmp_path / "east.csv", "-o", tmp_path / "f.csv", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    assert "Note: static covariate 'region' has values not seen in training (treated as unknown): east" in r.stderr
    f = pd.read_csv(tmp_path / "f.csv")
    assert len(f) == 3 * H and np.isfinite(f.forecast).all()
    # The category reaches the network: s1's forecast changes, the others' do not.
    same = predict_csv(temp_models / "static.pt", temp_models / "train.csv")
    changed = ~np.isclose(f.forecast, same.forecast)
    assert changed[f.series_id == "s1"].all() and not changed[f.series_id != "s1"].any()


@pytest.mark.parametrize("column, value, shown", [("region", "south", "north, south"), ("size", 9, "1.0, 9.0")])
def test_a_static_covariate_that_changes_within_a_series_is_an_error(temp_models, tmp_path, column, value, shown):
    df = temp_panel()
    df.loc[(df.series_id == "s0") & (df.timestamp == "2024-01-02 00:00"), column] = value
    df.to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", *FAST, *SHAPE, "--static-cols", "region,size")
    assert one_error_line(r) == (
        f"Error: static covariate '{column}' changes within series 's0' ({shown}); a static covariate must be "
        "constant per series (a changing one is a past or future covariate)")
    assert not (tmp_path / "m.pt").exists()
    # The same check at predict time.
    msg = one_error_line(cli("predict", temp_models / "static.pt", tmp_path / "d.csv"))
    assert msg.startswith(f"Error: static covariate '{column}' changes within series 's0'")


def test_series_embedding_forecasts_series_not_seen_in_training(tmp_path):
    df = temp_panel()
    df.to_csv(tmp_path / "d.csv", index=False)
    train_ok(tmp_path / "d.csv", tmp_path / "m.pt", "--series-embedding", "4", *SHAPE, "-q")
    assert checkpoint.load(tmp_path / "m.pt").features.ids == ("s0", "s1", "s2")
    renamed = df.assign(series_id=df.series_id.replace({"s1": "n1", "s2": "n2"}))
    renamed.to_csv(tmp_path / "new.csv", index=False)
    r = cli("predict", tmp_path / "m.pt", tmp_path / "new.csv", "-o", tmp_path / "f.csv", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    assert "Note: 2 series not seen in training use the average series embedding: n1, n2" in r.stderr
    f = pd.read_csv(tmp_path / "f.csv")
    assert f.groupby("series_id").size().to_dict() == {"s0": H, "n1": H, "n2": H}
    assert np.isfinite(f.forecast).all()


# ---------------------------------------------------------------- 4. covariate scaling and values


def test_covariate_scaling_comes_from_the_checkpoint(temp_models, tmp_path):
    # Predicting twice gives the same bytes; a file holding one series alone (whose temp has
    # another mean and spread than the whole file) forecasts it exactly as the whole file does.
    model, data = temp_models / "past.pt", temp_models / "train.csv"
    a = cli("predict", model, data, "--format", "csv", "--threads", "1")
    b = cli("predict", model, data, "--format", "csv", "--threads", "1")
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout
    whole = pd.read_csv(io.StringIO(a.stdout))
    df = temp_panel()
    df[df.series_id == "s2"].to_csv(tmp_path / "s2.csv", index=False)
    alone = predict_csv(model, tmp_path / "s2.csv")
    np.testing.assert_allclose(alone.forecast, whole[whole.series_id == "s2"].forecast, rtol=1e-5)


@pytest.mark.parametrize("flag", ["--past-cols", "--future-cols"])
def test_text_in_a_covariate_column_names_the_column_and_line(temp_models, tmp_path, flag):
    df = temp_panel()
    df["temp"] = df.temp.astype(object)
    df.loc[7, "temp"] = "warm"  # line 9 of the file
    df.to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", *FAST, *SHAPE, flag, "temp")
    assert one_error_line(r) == "Error: non-numeric value 'warm' in column 'temp' at line 9"
    assert not (tmp_path / "m.pt").exists()
    r = cli("predict", temp_models / "past.pt", tmp_path / "d.csv")
    assert one_error_line(r) == "Error: non-numeric value 'warm' in column 'temp' at line 9"


def test_a_constant_covariate_warns_but_trains(tmp_path):
    temp_panel().assign(holiday=0).to_csv(tmp_path / "d.csv", index=False)
    r = train_ok(tmp_path / "d.csv", tmp_path / "m.pt", *SHAPE, "--future-cols", "holiday", "--max-steps", "3")
    assert "Warning: covariate 'holiday' is constant in the training data, so it cannot inform the forecasts" in r.stderr
    assert checkpoint.load(tmp_path / "m.pt").features.scale["holiday"] == 1.0


def test_true_false_covariates_are_read_as_one_and_zero(tmp_path):
    df = promo_panel(length=80)
    df.to_csv(tmp_path / "numbers.csv", index=False)
    df.assign(promo=df.promo.map({1: "true", 0: "FALSE"})).to_csv(tmp_path / "flags.csv", index=False)
    assert "true" in (tmp_path / "flags.csv").read_text()
    for name in ("numbers", "flags"):
        train_ok(tmp_path / f"{name}.csv", tmp_path / f"{name}.pt", *SHAPE, "--past-cols", "promo", "--max-steps", "5", "-q")
    a, b = checkpoint.load(tmp_path / "numbers.pt").features, checkpoint.load(tmp_path / "flags.pt").features
    assert a.loc == b.loc and a.scale == b.scale and 0.2 < b.loc["promo"] < 0.4
    pd.testing.assert_frame_equal(predict_csv(tmp_path / "numbers.pt", tmp_path / "flags.csv"),
                                  predict_csv(tmp_path / "flags.pt", tmp_path / "numbers.csv"))


# ---------------------------------------------------------------- 5. calendar features


def test_calendar_features_are_on_for_datetimes_and_can_be_turned_off(tmp_path):
    df = temp_panel(length=80)
    df.to_csv(tmp_path / "hourly.csv", index=False)
    train_ok(tmp_path / "hourly.csv", tmp_path / "cal.pt", *SHAPE, "--max-steps", "3", "-q")
    train_ok(tmp_path / "hourly.csv", tmp_path / "nocal.pt", *SHAPE, "--max-steps", "3", "--no-calendar", "-q")
    assert checkpoint.load(tmp_path / "cal.pt").features.calendar == ("hour_of_day", "day_of_week", "day_of_month", "day_of_year")
    assert checkpoint.load(tmp_path / "nocal.pt").features.calendar == ()
    assert len(predict_csv(tmp_path / "nocal.pt", tmp_path / "hourly.csv")) == 3 * H

    df.assign(timestamp=pd.date_range("2020-01-01", periods=80, freq="D").tolist() * 3).to_csv(tmp_path / "daily.csv", index=False)
    train_ok(tmp_path / "daily.csv", tmp_path / "daily.pt", *SHAPE, "--max-steps", "3", "-q")
    assert checkpoint.load(tmp_path / "daily.pt").features.calendar == ("day_of_week", "day_of_month", "day_of_year")

    df.assign(timestamp=df.groupby("series_id").cumcount()).to_csv(tmp_path / "steps.csv", index=False)
    train_ok(tmp_path / "steps.csv", tmp_path / "steps.pt", *SHAPE, "--max-steps", "3", "--season", "24", "-q")
    spec = checkpoint.load(tmp_path / "steps.pt").features
    assert spec.calendar == () and spec.plain


# ---------------------------------------------------------------- 6. masked targets


def test_clean_data_has_no_mask_and_gaps_turn_it_on(tmp_path):
    df = sine_panel(n_series=3, length=120)
    df.to_csv(tmp_path / "clean.csv", index=False)
    train_ok(tmp_path / "clean.csv", tmp_path / "clean.pt", *SHAPE, "--max-steps", "3", "-q")
    spec = checkpoint.load(tmp_path / "clean.pt").features
    assert spec.mask is False and spec.pad == 0
    df.loc[50:55, "value"] = np.nan  # empty cells inside s0
    df.to_csv(tmp_path / "gaps.csv", index=False)
    train_ok(tmp_path / "gaps.csv", tmp_path / "gaps.pt", *SHAPE, "--max-steps", "3", "-q")
    ckpt = checkpoint.load(tmp_path / "gaps.pt")
    assert ckpt.features.mask is True and ckpt.config.model.min_input == 3  # 12 // 4


def test_a_long_gap_filled_with_zeros_does_not_pull_the_forecast_to_zero(tmp_path):
    # s1 (level 40) has its last 16 points but two empty, so 14 of the 24 points of its last
    # input window are filled with zeros. The network reads them as missing (mask), so the
    # forecast follows the daily cycle the observed points show. (With literal zeros in the file
    # instead, this model forecasts about 30 on average and dips to near 0.)
    df = sine_panel(n_series=3, length=120)
    s1 = df.index[df.series_id == "s1"]
    df.loc[s1[104:118], "value"] = np.nan
    df.to_csv(tmp_path / "d.csv", index=False)
    r = train_ok(tmp_path / "d.csv", tmp_path / "m.pt", "--horizon", "6", "--input-size", "24", "--fill", "zero")
    assert "14 missing point(s) filled (zero)" in r.stderr
    f = predict_csv(tmp_path / "m.pt", tmp_path / "d.csv")
    g = f[f.series_id == "s1"].forecast.to_numpy()
    t = np.arange(120, 126)
    truth = 40 * (1 + 0.3 * np.sin(2 * np.pi * t / 24 + 1) + 0.001 * t)  # s1 of sine_panel without noise
    assert np.mean(np.abs(g - truth)) < 0.15 * 40, (g, truth)
    assert g.min() > 0.75 * truth.min()


def test_validation_metrics_skip_unobserved_targets(tmp_path):
    df = sine_panel(n_series=3, length=120)
    s1 = df.index[df.series_id == "s1"]
    df.loc[s1[[115, 116]], "value"] = np.nan  # two of s1's six validation targets are empty
    df.to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", *FAST, "--horizon", "6", "--input-size", "24",
            "--fill", "zero", "--json", "--max-steps", "3")
    assert r.exit_code == 0, r.stderr
    scores = json.loads(r.stdout)["metrics"]
    # Seasonal naive repeats the values one season (24 h) back; score it on observed targets only.
    y = df.value.to_numpy().reshape(3, 120)
    sn = np.abs(y[:, 114:120] - y[:, 90:96])
    expected = float(np.nanmean(sn))
    assert scores["seasonal_naive"]["mae"] == pytest.approx(expected)
    assert scores["gru"]["mae"] is not None and scores["gru"]["mase"] is not None


# ---------------------------------------------------------------- 7. left padding of short series


def _short_file(tmp_path):
    df = sine_panel(n_series=3, length=120)
    short = sine_panel(n_series=1, length=20, seed=3).assign(series_id="short")
    tiny = sine_panel(n_series=1, length=4, seed=4).assign(series_id="tiny")
    pd.concat([df, short, tiny]).to_csv(tmp_path / "d.csv", index=False)
    return tmp_path / "d.csv"


def test_short_series_are_padded_trained_on_and_forecast(tmp_path):
    # input 24 + horizon 6 + validation 6 = 36 points without padding; with min_input 24 // 4 = 6,
    # 18 are enough to train on and 6 to forecast.
    data = _short_file(tmp_path)
    r = cli("train", data, "-o", tmp_path / "m.pt", *FAST, "--horizon", "6", "--input-size", "24", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["windows"]["train_per_epoch"] == 3 * (120 + 18 - 36 + 1) + (20 + 18 - 36 + 1)
    assert out["short_series"] == ["tiny"] and out["config"]["model"]["min_input"] == 6
    ckpt = checkpoint.load(tmp_path / "m.pt")
    assert ckpt.features.mask is True and ckpt.features.pad == 18

    p = cli("predict", tmp_path / "m.pt", data, "-o", tmp_path / "f.csv", "--threads", "1")
    assert p.exit_code == 0, p.stderr
    assert "1 series shorter than the 6 points the model needs got a naive forecast instead (method column): tiny" in p.stderr
    f = pd.read_csv(tmp_path / "f.csv", parse_dates=["timestamp"])
    assert f.groupby("series_id").size().to_dict() == {"s0": H, "s1": H, "s2": H, "short": H, "tiny": H}
    assert f.groupby("series_id").method.first().to_dict() == {"s0": "gru", "s1": "gru", "s2": "gru", "short": "gru",
                                                              "tiny": "naive"}
    tiny = sine_panel(n_series=1, length=4, seed=4).value
    assert (f[f.series_id == "tiny"].forecast == tiny.iloc[-1]).all()
    assert list(f[f.series_id == "short"].timestamp) == hours_after("2024-01-01 19:00")
    level = sine_panel(n_series=1, length=20, seed=3).value.mean()
    assert abs(f[f.series_id == "short"].forecast.mean() - level) < 0.5 * level

    # --min-input 10: a series of 8 points is now too short for the network; a file of only such is refused.
    train_ok(data, tmp_path / "m10.pt", "--horizon", "6", "--input-size", "24", "--min-input", "10", "-q")
    assert checkpoint.load(tmp_path / "m10.pt").features.pad == 14
    df = pd.read_csv(data)
    df[df.series_id != "tiny"].groupby("series_id").tail(8).to_csv(tmp_path / "eight.csv", index=False)
    df[df.series_id != "tiny"].groupby("series_id").tail(10).to_csv(tmp_path / "ten.csv", index=False)
    msg = one_error_line(cli("predict", tmp_path / "m10.pt", tmp_path / "eight.csv"))
    assert msg == ("Error: every series in eight.csv is too short for the model: it needs the last 10 points, and "
                   "the longest series has 8 (a shorter series gets a naive forecast, but not every series: is this "
                   "the right file?)")
    assert len(predict_csv(tmp_path / "m10.pt", tmp_path / "ten.csv")) == 4 * H


def test_train_names_the_length_padded_series_need(tmp_path):
    data = _short_file(tmp_path)
    r = train_ok(data, tmp_path / "m.pt", "--horizon", "6", "--input-size", "24", "--max-steps", "2")
    assert "1 series too short for a training window (fewer than 18 points): tiny" in r.stderr


def test_every_series_too_short_names_min_input(tmp_path):
    sine_panel(n_series=2, length=15).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", *FAST, "--horizon", "6", "--input-size", "24")
    assert one_error_line(r) == (
        "Error: every series is too short to train on: a series needs at least min_input + horizon + val_size = "
        "6 + 6 + 6 = 18 points, and the longest has 15; use a smaller --input-size or --horizon")
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", *FAST, "--horizon", "2", "--input-size", "24", "--min-input", "12")
    assert one_error_line(r) == (
        "Error: every series is too short to train on: a series needs at least min_input + horizon + val_size = "
        "12 + 2 + 2 = 16 points, and the longest has 15; use a smaller --input-size or --horizon")
    assert not (tmp_path / "m.pt").exists()


# ---------------------------------------------------------------- 8. config


@pytest.mark.parametrize("args, message", [
    (["--future-cols", "promo", "--past-cols", "promo"],
     ("Error: column 'promo' is named in both data.future_covariates (--future-cols) and "
      "data.past_covariates (--past-cols); a covariate has one kind")),
    (["--past-cols", "price", "--static-cols", "price"],
     ("Error: column 'price' is named in both data.past_covariates (--past-cols) and "
      "data.static_covariates (--static-cols); a covariate has one kind")),
    (["--future-cols", "promo,promo"],
     "Error: column 'promo' is named twice in data.future_covariates (--future-cols); a covariate has one kind"),
    (["--target", "value", "--future-cols", "value"],
     "Error: column 'value' is the target and cannot also be a covariate"),
    (["--future-cols", "promo,discount"],
     "Error: covariate column 'discount' is not in d.csv; its columns are 'series_id', 'timestamp', 'value', 'promo', 'price'"),
])
def test_covariate_settings_errors(tmp_path, args, message):
    promo_panel(length=60).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", *FAST, *SHAPE, *args)
    assert one_error_line(r) == message
    assert not (tmp_path / "m.pt").exists()


def test_the_detected_target_as_a_covariate_is_an_error(tmp_path):
    promo_panel(length=60).drop(columns="price").to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", *FAST, *SHAPE, "--past-cols", "value")
    assert one_error_line(r).startswith("Error: column 'value'")


@pytest.mark.parametrize("column, role", [("timestamp", "time"), ("series_id", "id")])
def test_the_time_or_id_column_as_a_covariate_is_named(tmp_path, column, role):
    promo_panel(length=60).to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", *FAST, *SHAPE, "--future-cols", column)
    assert one_error_line(r) == f"Error: column '{column}' cannot be both a covariate and the {role} column"


def test_yaml_future_covariates_work_like_the_flag(tmp_path):
    promo_panel(length=60).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "c.yaml").write_text("data:\n  future_covariates: [promo]\n")
    train_ok(tmp_path / "d.csv", tmp_path / "yaml.pt", *SHAPE, "--config", tmp_path / "c.yaml", "--max-steps", "5", "-q")
    train_ok(tmp_path / "d.csv", tmp_path / "flag.pt", *SHAPE, "--future-cols", "promo", "--max-steps", "5", "-q")
    assert checkpoint.load(tmp_path / "yaml.pt").features.future == ("promo",)
    history = promo_panel(length=60).groupby("series_id").head(54)
    pd.concat([history, future_rows(history, [1, 0, 1, 0, 1, 0])]).to_csv(tmp_path / "p.csv", index=False)
    pd.testing.assert_frame_equal(predict_csv(tmp_path / "yaml.pt", tmp_path / "p.csv"),
                                  predict_csv(tmp_path / "flag.pt", tmp_path / "p.csv"))


@pytest.mark.parametrize("key", ["futur_covariates", "future_covariate", "future_cols"])
def test_a_misspelt_covariate_key_suggests_the_right_one(tmp_path, key):
    promo_panel(length=60).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "c.yaml").write_text(f"data:\n  {key}: [promo]\n")
    r = cli("train", tmp_path / "d.csv", "-o", tmp_path / "m.pt", "--config", tmp_path / "c.yaml")
    assert one_error_line(r) == f"Error: unknown setting 'data.{key}'. Did you mean 'future_covariates'?"


# ---------------------------------------------------------------- 9. wide files


@pytest.mark.parametrize("flag", ["--future-cols", "--past-cols", "--static-cols"])
def test_covariates_in_a_wide_file_are_a_clear_error(tmp_path, flag):
    t = np.arange(100)
    pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=100, freq="h"), "north": 10 + np.sin(t / 4),
                  "south": 20 + np.cos(t / 4), "promo": t % 2}).to_csv(tmp_path / "wide.csv", index=False)
    r = cli("train", tmp_path / "wide.csv", "-o", tmp_path / "m.pt", *FAST, *SHAPE, flag, "promo")
    assert one_error_line(r) == (
        "Error: covariates need a long file (id, time, target, covariates) or a single series; in a wide file "
        "every column but the time is a series: pass --id-col, or --target for a single series")
    assert not (tmp_path / "m.pt").exists()
