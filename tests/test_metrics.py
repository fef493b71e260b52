"""Metrics and baselines against values computed by hand."""

import numpy as np
import pytest

from grucast.evaluation import baselines, metrics


def test_point_metrics_by_hand():
    y = np.array([[1.0, 2.0, 3.0], [10.0, 10.0, 10.0]])
    f = np.array([[2.0, 2.0, 1.0], [10.0, 12.0, 10.0]])
    assert metrics.mae(y, f) == pytest.approx((1 + 0 + 2 + 0 + 2 + 0) / 6)
    assert metrics.rmse(y, f) == pytest.approx(np.sqrt((1 + 4 + 4) / 6))
    expected_smape = 100 * np.mean([2 / 3, 0, 4 / 4, 0, 4 / 22, 0])
    assert metrics.smape(y, f) == pytest.approx(expected_smape)
    # MASE: per window MAE / its scale, averaged over windows.
    assert metrics.mase(y, f, np.array([0.5, 2.0])) == pytest.approx(np.mean([1 / 0.5, (2 / 3) / 2.0]))


def test_smape_of_two_zeros_is_zero():
    assert metrics.smape(np.zeros((1, 2)), np.zeros((1, 2))) == 0.0


def test_mase_leaves_out_unknown_scales():
    y, f = np.ones((2, 2)), np.zeros((2, 2))
    assert metrics.mase(y, f, np.array([np.nan, 0.5])) == pytest.approx(2.0)
    assert np.isnan(metrics.mase(y, f, np.array([np.nan, 0.0])))


def test_seasonal_scale_stays_inside_each_series():
    values = np.array([1.0, 3.0, 2.0, 6.0, 100.0, 104.0, 101.0])
    offsets = np.array([0, 4, 7])
    s = metrics.seasonal_scale(values, offsets, ends=np.array([4, 3]), season=2)
    assert s[0] == pytest.approx((abs(2 - 1) + abs(6 - 3)) / 2)
    assert s[1] == pytest.approx(1.0)  # only |101 - 100|: the jump between series never counts
    s1 = metrics.seasonal_scale(values, offsets, ends=np.array([2, 3]), season=2)
    assert np.isnan(s1[0])  # not enough history


def test_seasonal_naive_repeats_the_last_season():
    values = np.arange(10.0)
    f = baselines.seasonal_naive(values, np.array([6]), season=3, horizon=5)
    assert f.tolist() == [[3, 4, 5, 3, 4]]
    assert baselines.naive(values, np.array([6]), 3).tolist() == [[5, 5, 5]]


def test_percentage_and_scaled_metrics_by_hand():
    y = np.array([[2.0, 4.0], [10.0, 10.0]])
    f = np.array([[3.0, 2.0], [10.0, 15.0]])
    assert metrics.mape(y, f) == pytest.approx(100 * np.mean([1 / 2, 2 / 4, 0, 5 / 10]))
    assert metrics.wape(y, f) == pytest.approx(100 * (1 + 2 + 0 + 5) / 26)
    assert metrics.bias(y, f) == pytest.approx((1 - 2 + 0 + 5) / 4)
    # RMSSE per window: sqrt(mean squared error / in-sample mean squared seasonal difference).
    assert metrics.rmsse(y, f, np.array([4.0, 25.0])) == pytest.approx(
        np.mean([np.sqrt((1 + 4) / 2 / 4.0), np.sqrt((0 + 25) / 2 / 25.0)]))


def test_mape_refuses_zero_actuals():
    assert np.isnan(metrics.mape(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]])))


def test_unobserved_actuals_are_left_out():
    y = np.array([[1.0, np.nan, 3.0]])
    f = np.array([[2.0, 100.0, 3.0]])
    assert metrics.mae(y, f) == pytest.approx(0.5)
    assert metrics.rmse(y, f) == pytest.approx(np.sqrt(0.5))
    assert metrics.smape(y, f) == pytest.approx(100 * np.mean([2 / 3, 0]))
    assert metrics.mase(y, f, np.array([0.5])) == pytest.approx(1.0)


def test_quantile_metrics_by_hand():
    y = np.array([[10.0, 20.0]])
    lo, mid, hi = np.array([[8.0, 21.0]]), np.array([[10.0, 22.0]]), np.array([[12.0, 25.0]])
    # pinball at q: max(q (y - f), (q - 1)(y - f))
    assert metrics.pinball(y, lo, 0.1) == pytest.approx(np.mean([0.1 * 2, 0.9 * 1]))
    assert metrics.pinball(y, hi, 0.9) == pytest.approx(np.mean([0.1 * 2, 0.1 * 5]))  # above the actual: (1 - q) |d|
    fqs = np.stack([lo, mid, hi], axis=-1)
    wql = np.mean([2 * (0.2 + 0.9) / 30, 2 * (0 + 0.5 * 2) / 30, 2 * (0.2 + 0.5) / 30])
    assert metrics.weighted_quantile_loss(y, fqs, [0.1, 0.5, 0.9]) == pytest.approx(wql)
    assert metrics.coverage(y, lo, hi) == 50.0  # 20 is below 21
    assert metrics.width(lo, hi) == pytest.approx(4.0)
    # MSIS at 80 %: a = 0.2; window score mean[(4 + 0) , (4 + 2/0.2 * 1)] / scale
    assert metrics.msis(y, lo, hi, np.array([2.0]), 80) == pytest.approx(np.mean([4.0, 4.0 + 10.0]) / 2.0)
    s = metrics.interval_scores(y, fqs, [0.1, 0.5, 0.9], [80], np.array([2.0]))
    assert s["coverage_80"] == 50.0 and s["msis_80"] == pytest.approx(9.0 / 2.0)
    assert metrics.level_quantiles(95) == (0.025, 0.975)


def test_rmsse_scale_squares_the_seasonal_differences():
    values = np.array([1.0, 3.0, 2.0, 6.0])
    s2 = metrics.seasonal_scale(values, np.array([0, 4]), ends=np.array([4]), season=2, power=2)
    assert s2[0] == pytest.approx((1 + 9) / 2)


def test_seasonal_scale_is_the_same_whatever_the_block_size(monkeypatch):
    """The scale is computed on blocks of whole series to keep memory flat; the blocks must not
    change a single bit of it (empty series, NaNs and short in-sample parts included)."""
    rng = np.random.default_rng(0)
    for trial in range(100):
        lengths = rng.integers(0, 60, rng.integers(1, 30))
        offsets = np.r_[0, np.cumsum(lengths)]
        v = rng.normal(size=offsets[-1]).astype(np.float32)
        if trial % 3 == 0 and len(v):
            v[rng.integers(len(v))] = np.nan
        ends = lengths - rng.integers(0, 10, len(lengths))
        whole = metrics.seasonal_scale(v, offsets, ends, 4, power=1 + trial % 2)
        monkeypatch.setattr(metrics, "SCALE_BLOCK", int(rng.integers(1, 50)))
        blocked = metrics.seasonal_scale(v, offsets, ends, 4, power=1 + trial % 2)
        monkeypatch.undo()
        assert blocked.shape == (len(lengths),) and np.array_equal(blocked, whole, equal_nan=True)


def test_the_registry_is_the_one_list_of_metrics():
    """point_scores, interval_scores and names() all come from metrics.REGISTRY: same keys, same order."""
    rng = np.random.default_rng(0)
    y, f = rng.normal(10, 1, (4, 3)), rng.normal(10, 1, (4, 3))
    fqs = np.sort(rng.normal(10, 2, (4, 3, 5)), axis=-1)
    quantiles, scale = [0.025, 0.1, 0.5, 0.9, 0.975], np.full(4, 0.7)
    point = metrics.point_scores(y, f, scale, scale ** 2)
    interval = metrics.interval_scores(y, fqs, quantiles, [80, 95], scale)
    assert list(point) == metrics.names(quantiles=False) == [m.name for m in metrics.registered("point")]
    assert list(point) + list(interval) == metrics.names([80, 95])
    assert {m.kind for m in metrics.REGISTRY} == {"point", "quantile", "interval"}
    assert len({m.name for m in metrics.REGISTRY}) == len(metrics.REGISTRY)
    assert point["mase"] == metrics.mase(y, f, scale) and point["rmsse"] == metrics.rmsse(y, f, scale ** 2)
    assert interval["msis_95"] == metrics.msis(y, fqs[..., 0], fqs[..., 4], scale, 95)


def test_scoring_gives_the_gru_and_both_baselines_every_metric():
    from grucast.evaluation import scoring

    values = np.r_[np.arange(40.0), 100 + np.sin(np.arange(30.0))]
    offsets = np.array([0, 40, 70])
    w = scoring.Windows(values=values, offsets=offsets, observed=None, targets=np.array([30, 34, 60]),
                        series=np.array([0, 0, 1]), in_sample=np.array([30, 20]), season=4, horizon=3)
    point = scoring.actuals(values, None, w.targets, 3) + 1.0
    fqs = point[..., None] + np.array([-2.0, 0.0, 2.0])
    s = scoring.score(w, point, fqs, (0.1, 0.5, 0.9), (80,), ids=np.array(["a", "b"]))
    assert list(s.overall) == list(scoring.MODELS)
    assert list(s.overall["gru"]) == metrics.names([80])
    assert list(s.overall["naive"]) == list(s.overall["seasonal_naive"]) == metrics.names(quantiles=False)
    assert s.overall["gru"]["mae"] == 1.0 and s.overall["gru"]["bias"] == 1.0 and s.overall["gru"]["coverage_80"] == 100
    assert s.forecasts["naive"][0].tolist() == [29.0] * 3  # the last value before the target
    assert s.forecasts["seasonal_naive"][0].tolist() == [26.0, 27.0, 28.0]
    # The scale: the series' in-sample mean absolute seasonal difference (a line: exactly the season).
    assert s.scale[:2].tolist() == [4.0, 4.0] and s.scale2[:2].tolist() == [16.0, 16.0]
    by = {(r["series"], r["model"]): r for r in s.per_series}
    assert by[("a", "naive")]["mase"] == pytest.approx(2.0 / 4.0)  # errors 1, 2, 3 on a line of slope 1
    assert by[("a", "seasonal_naive")]["mase"] == pytest.approx(1.0)  # 4 behind all along
    assert s.skill_metric == "mase"
    assert s.skill == pytest.approx(1 - s.overall["gru"]["mase"] / s.overall["seasonal_naive"]["mase"])
    assert [(r["series"], r["model"], r["windows"]) for r in s.per_series] == [
        (i, m, n) for i, n in (("a", 2), ("b", 1)) for m in scoring.MODELS]
    with pytest.raises(ValueError):  # seasonal naive would read another series' points
        scoring.score(scoring.Windows(**{**w.__dict__, "targets": np.array([41]), "series": np.array([1])}),
                      point[:1])


def test_the_fallback_baseline_forecasts_and_its_intervals():
    """baselines.fallback: naive for a series shorter than two seasons, with the in-sample
    one-step error's spread growing as sqrt(step); a one-point series keeps its point forecast
    (also as the median) and has no interval."""
    from statistics import NormalDist

    from grucast.evaluation import baselines

    values = np.array([1.0, 2.0, 4.0, 9.0])  # series a: 1, 2, 4; series b: 9
    f, how = baselines.fallback(values, np.array([0, 3, 4]), 24, 3, (0.1, 0.5, 0.9))
    assert list(how) == ["naive", "naive"] and f.shape == (2, 3, 3)
    sigma = np.sqrt((1.0 + 4.0) / 2)  # errors 2 - 1 and 4 - 2
    z = NormalDist().inv_cdf(0.9)
    np.testing.assert_allclose(f[0, :, 1], 4.0)
    np.testing.assert_allclose(f[0, :, 2] - 4.0, z * sigma * np.sqrt([1, 2, 3]))
    np.testing.assert_allclose(f[0, :, 0] - 4.0, -z * sigma * np.sqrt([1, 2, 3]))
    np.testing.assert_allclose(f[1, :, 1], 9.0)
    assert np.isnan(f[1, :, 0]).all() and np.isnan(f[1, :, 2]).all()
    point, how = baselines.fallback(values, np.array([0, 3, 4]), 1, 2)
    np.testing.assert_allclose(point, [[4.0, 4.0], [9.0, 9.0]])
