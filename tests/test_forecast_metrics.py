"""Forecast metrics against values worked out by hand, and CRPS against the closed form for a normal."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from engine.forecast.base import QUANTILE_LEVELS, Forecast
from engine.forecast.metrics import band_columns, coverage, crps, mae, pinball, rmae, rmse, score, smape

ACTUAL = [10.0, 20.0, 30.0, 40.0]
POINT = [12.0, 18.0, 33.0, 40.0]    # errors −2, +2, −3, 0
NAIVE = [14.0, 16.0, 36.0, 44.0]    # errors −4, +4, −6, −4


def test_point_errors_by_hand():
    assert mae(ACTUAL, POINT) == pytest.approx(7 / 4)                       # (2 + 2 + 3 + 0) / 4
    assert rmse(ACTUAL, POINT) == pytest.approx(math.sqrt(17 / 4))          # (4 + 4 + 9 + 0) / 4
    # 2|e| / (|y| + |ŷ|): 4/22, 4/38, 6/63, 0
    assert smape(ACTUAL, POINT) == pytest.approx((4 / 22 + 4 / 38 + 6 / 63) / 4)
    assert rmae(ACTUAL, POINT, NAIVE) == pytest.approx((7 / 4) / (18 / 4))


def test_smape_counts_zero_over_zero_as_exact_and_is_a_fraction():
    assert smape([0.0, 10.0], [0.0, 30.0]) == pytest.approx((0 + 40 / 40) / 2)
    assert smape([-10.0], [10.0]) == pytest.approx(2.0)  # the largest possible


def test_rmae_of_a_naive_that_is_always_right_is_an_error():
    with pytest.raises(ValueError, match="undefined"):
        rmae([1.0, 2.0], [1.5, 2.0], [1.0, 2.0])


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="3 values"):
        mae([1.0, 2.0, 3.0], [1.0, 2.0])


def test_pinball_by_hand():
    # levels 0.1, 0.5, 0.9 with quantiles 8, 10, 12; actual 11: losses 0.1·3, 0.5·1, 0.1·1 → mean 0.3
    # actual 7: losses 0.9·1, 0.5·3, 0.1·5 → mean 2.9 / 3
    quantiles = np.array([[8.0, 10.0, 12.0], [8.0, 10.0, 12.0]])
    assert pinball([11.0, 7.0], quantiles, [0.1, 0.5, 0.9]) == pytest.approx((0.3 + 2.9 / 3) / 2)
    assert crps([11.0, 7.0], quantiles, [0.1, 0.5, 0.9]) == pytest.approx(0.3 + 2.9 / 3)


@pytest.mark.parametrize("y", [10.0, 11.0, 14.0, 3.0])
def test_crps_of_a_normal_matches_the_closed_form(y):
    mu, sigma = 10.0, 2.0
    z = (y - mu) / sigma
    exact = sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))
    quantiles = (mu + sigma * norm.ppf(QUANTILE_LEVELS))[None, :]
    # 2 × mean pinball over 99 levels is a midpoint rule: within about 1 % of the integral for a normal.
    assert crps([y], quantiles) == pytest.approx(exact, rel=0.015)


def test_coverage_and_band_columns():
    assert coverage([1.0, 5.0, 9.0, 10.0], [0.0, 6.0, 0.0, 10.0], [2.0, 8.0, 9.0, 10.0]) == 0.75
    assert [QUANTILE_LEVELS[i] for i in band_columns(0.90)] == [0.05, 0.95]
    assert [QUANTILE_LEVELS[i] for i in band_columns(0.98)] == [0.01, 0.99]
    assert [QUANTILE_LEVELS[i] for i in band_columns(0.50)] == [0.25, 0.75]


def test_score_takes_a_forecast_a_frame_or_arrays_alike():
    times = pd.date_range("2024-01-01", periods=4, freq="h")
    # A fan of ±0.1 per percentile around the point: the 90 % band is ±4.5 (every error −2, +2, −3, 0 inside),
    # the 50 % band ±2.5 (all but −3 inside).
    offsets = (QUANTILE_LEVELS - 0.5) * 10
    quantiles = np.asarray(POINT)[:, None] + offsets[None, :]
    forecast = Forecast(times=times, point=np.asarray(POINT), quantiles=quantiles, model="test")
    a = score(ACTUAL, forecast, NAIVE)
    b = score(ACTUAL, forecast.to_frame(), NAIVE)
    c = score(ACTUAL, (POINT, quantiles), NAIVE)
    assert b.as_dict() == pytest.approx(a.as_dict(), rel=1e-12)
    assert c.as_dict() == pytest.approx(a.as_dict(), rel=1e-12)
    assert a.hours == 4
    assert a.mae == pytest.approx(7 / 4)
    assert a.coverage90 == 1.0
    assert a.coverage50 == 0.75
    assert a.pinball == pytest.approx(pinball(ACTUAL, quantiles))
    assert a.crps == pytest.approx(2 * a.pinball)
