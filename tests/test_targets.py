"""Several target columns in one file, and check's report on covariates."""

import json

import numpy as np
import pandas as pd

from conftest import TINY, cli


def two_targets(n_series=2, length=150):
    ts = pd.date_range("2024-01-01", periods=length, freq="h")
    t = np.arange(length)
    frames = [pd.DataFrame({"store": f"s{i}", "ts": ts,
                            "sales": 10 + i + np.sin(2 * np.pi * t / 24),
                            "visits": 1000 + 100 * np.cos(2 * np.pi * t / 24)}) for i in range(n_series)]
    return pd.concat(frames, ignore_index=True)


def test_every_target_column_of_every_series_is_forecast(tmp_path):
    two_targets().to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", "--target", "sales,visits", "--horizon", "6", "--input-size", "24", *TINY)
    assert r.exit_code == 0, r.stderr
    p = cli("predict", "m.pt", "d.csv", "-o", "f.csv")
    assert p.exit_code == 0, p.stderr
    f = pd.read_csv(tmp_path / "f.csv")
    assert list(f.columns) == ["store", "target", "ts", "forecast", "method"]
    assert f.groupby(["store", "target"]).size().to_dict() == {
        ("s0", "sales"): 6, ("s0", "visits"): 6, ("s1", "sales"): 6, ("s1", "visits"): 6}
    # One global model, but each column keeps its own level through per-window scaling.
    level = f.groupby("target")["forecast"].mean()
    assert 5 < level["sales"] < 20 and 800 < level["visits"] < 1200
    assert (f["ts"].drop_duplicates().tolist()
            == [str(t) for t in pd.date_range("2024-01-07 06:00", periods=6, freq="h")])


def test_several_targets_with_a_future_file_keep_the_id_and_target_columns(tmp_path):
    """--future used to drop what the table knew of its targets: the forecast file then named
    its series 's0/sales' in the id column and had no target column."""
    df = two_targets().assign(promo=lambda d: (d["ts"].dt.hour % 5 == 0).astype(int))
    df.to_csv(tmp_path / "d.csv", index=False)
    ahead = pd.date_range(df["ts"].max() + pd.Timedelta(hours=1), periods=6, freq="h")
    pd.DataFrame([{"store": s, "ts": t, "promo": int(t.hour % 5 == 0)} for s in ("s0", "s1") for t in ahead]
                 ).to_csv(tmp_path / "future.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", "--target", "sales,visits", "--future-cols", "promo", "--horizon", "6",
            "--input-size", "24", *TINY)
    assert r.exit_code == 0, r.stderr
    p = cli("predict", "m.pt", "d.csv", "--future", "future.csv", "-o", "f.csv")
    assert p.exit_code == 0, p.stderr
    f = pd.read_csv(tmp_path / "f.csv")
    assert list(f.columns) == ["store", "target", "ts", "forecast", "method"]
    assert sorted(f["store"].unique()) == ["s0", "s1"] and sorted(f["target"].unique()) == ["sales", "visits"]


def test_a_single_series_file_with_several_targets(tmp_path):
    two_targets(n_series=1).drop(columns="store").to_csv(tmp_path / "d.csv", index=False)
    assert cli("train", "d.csv", "-o", "m.pt", "--target", "sales,visits", "--horizon", "6", "--input-size", "24",
               *TINY).exit_code == 0
    f = pd.read_csv(__import__("io").StringIO(cli("predict", "m.pt", "d.csv", "--format", "csv").stdout))
    assert list(f.columns) == ["target", "ts", "forecast", "method"] and sorted(set(f.target)) == ["sales", "visits"]


def test_a_missing_target_column_is_named(tmp_path):
    two_targets().to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", "--target", "sales,visitors", "--horizon", "6")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: target column 'visitors' is not in d.csv; its columns are")


def promo_file(path, future_rows=6, length=120):
    rng = np.random.default_rng(0)
    ts = pd.date_range("2024-01-01", periods=length, freq="h")
    frames = []
    for i in range(2):
        promo = (rng.random(length) < 0.2).astype(float)
        y = 10.0 * (1 + promo)
        y[length - future_rows:] = np.nan
        frames.append(pd.DataFrame({"series_id": f"s{i}", "timestamp": ts, "value": y, "promo": promo}))
    pd.concat(frames).to_csv(path, index=False)


def test_check_reports_covariates_and_their_coverage_of_the_horizon(tmp_path):
    promo_file(tmp_path / "d.csv", future_rows=6)
    r = cli("check", "d.csv", "--future-cols", "promo", "--horizon", "6", "--input-size", "24")
    assert r.exit_code == 0, r.stdout
    assert "Covariate 'promo': future" in r.stdout
    assert "Future covariates cover the forecast horizon of all 2 series" in r.stdout

    promo_file(tmp_path / "short.csv", future_rows=3)
    r = cli("check", "short.csv", "--future-cols", "promo", "--horizon", "6", "--input-size", "24", "--json")
    assert r.exit_code == 0  # trainable: the future block matters for predict
    out = json.loads(r.stdout)
    assert out["covariates"] == {"promo": {"kind": "future", "filled": 0}}
    assert out["future_covered"] == 0
    assert out["future_not_covered"][0] == "'s0' from 2024-01-06 00:00:00 (promo)"  # 117 observed + 3 rows ahead: hour 120
    assert any("future covariates cover the 6-step horizon after the history for 0 of 2 series" in w
               for w in out["warnings"])


def test_check_names_a_missing_covariate_column(tmp_path):
    promo_file(tmp_path / "d.csv")
    r = cli("check", "d.csv", "--future-cols", "price", "--horizon", "6")
    assert r.exit_code == 1
    assert "Problem: covariate column 'price' is not in d.csv" in r.stdout


def test_a_series_without_values_is_skipped_and_named_at_predict(tmp_path):
    two_targets().to_csv(tmp_path / "d.csv", index=False)
    assert cli("train", "d.csv", "-o", "m.pt", "--target", "sales", "--horizon", "6", "--input-size", "24",
               *TINY).exit_code == 0
    ghost = two_targets(n_series=1).assign(store="ghost", sales=np.nan)
    pd.concat([two_targets(), ghost]).to_csv(tmp_path / "p.csv", index=False)
    p = cli("predict", "m.pt", "p.csv", "-o", "f.csv")
    assert p.exit_code == 0, p.stderr
    assert "Skipped 1 series with no values to forecast from: ghost" in p.stderr
    assert sorted(set(pd.read_csv(tmp_path / "f.csv").store)) == ["s0", "s1"]


def test_a_target_named_twice_is_refused(tmp_path):
    two_targets().to_csv(tmp_path / "d.csv", index=False)
    r = cli("train", "d.csv", "-o", "m.pt", "--target", "sales,sales", "--horizon", "6")
    assert r.exit_code == 1 and r.stderr.strip() == "Error: --target names a column twice: sales,sales"
    assert not (tmp_path / "m.pt").exists()
