"""Metrics and baselines against values computed by hand."""

import numpy as np
import pytest

from grucast import baselines, metrics


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
