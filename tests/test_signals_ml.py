"""The ML ensemble: its rolling least squares against a fit done pair by pair, weights recovered on a linear case,
no look-ahead, and following a forecast that is informative."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.signals.ml_ensemble import FORECAST_FEATURE, MEMBERS, MLEnsemble, refit_weights, rolling_weights, scores
from engine.signals.registry import STRATEGIES


def _refit_by_hand(x: np.ndarray, y: np.ndarray, window: int, lag: int, every: int) -> np.ndarray:
    n, k = x.shape
    out = np.zeros((n, k))
    for t in range(n):
        last = t // every * every - lag
        if last < 0:
            continue
        pairs = [s for s in range(max(last - window + 1, 0) if window else 0, last + 1) if np.isfinite(y[s])]
        if pairs:
            xs, ys = x[pairs], y[pairs]
            out[t] = np.linalg.solve(xs.T @ xs + np.eye(k), xs.T @ ys)
    return out


@pytest.mark.parametrize(("window", "lag", "every"), [(0, 2, 1), (0, 2, 5), (30, 2, 1), (30, 1, 7), (17, 3, 4)])
def test_rolling_weights_equal_a_fit_on_the_past_pairs_of_each_bar(window, lag, every):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(160, 3))
    y = x @ np.array([0.5, -1.0, 2.0]) + rng.normal(size=160)
    y[rng.random(160) < 0.1] = np.nan  # pairs without a target are left out
    got = rolling_weights(x, y, window, lag, every)
    np.testing.assert_allclose(got, _refit_by_hand(x, y, window, lag, every), atol=1e-12)


@pytest.mark.parametrize(("bars", "every"), [(160, 5), (163, 5), (163, 1), (4, 24)])
def test_scores_are_the_features_times_each_bars_weights_to_the_bit(bars, every):
    # the ensemble scores each refit's bars with that refit's weights, never repeated bar by bar: the same
    # products and sums, down to the last bit (a last refit with fewer bars included)
    rng = np.random.default_rng(2)
    x = rng.choice([-1.0, 0.0, 1.0], size=(bars, 5))
    x[:, -1] = rng.normal(size=bars)
    y = np.sign(rng.normal(size=bars))
    weights = refit_weights(x, y, 0, 2, every)
    assert len(weights) == -(-bars // every)
    expected = np.einsum("ij,ij->i", x, rolling_weights(x, y, 0, 2, every))
    assert np.array_equal(scores(x, weights, every), expected)


def test_rolling_weights_recover_the_coefficients_of_a_linear_target():
    rng = np.random.default_rng(7)
    beta = np.array([0.8, -0.3, 0.0, 1.5])
    x = rng.choice([-1.0, 0.0, 1.0], size=(20_000, 4))
    y = x @ beta + rng.normal(0, 0.1, 20_000)
    weights = rolling_weights(x, y, window=0, lag=2, every=12)
    np.testing.assert_allclose(weights[-1], beta, atol=0.01)
    # a window forgets: fitted on its last 2,000 pairs, a changed relation is what it finds
    y[10_000:] = x[10_000:] @ -beta + rng.normal(0, 0.1, 10_000)
    np.testing.assert_allclose(rolling_weights(x, y, window=2000, lag=2, every=12)[-1], -beta, atol=0.02)
    assert not np.allclose(rolling_weights(x, y, window=0, lag=2, every=12)[-1], -beta, atol=0.3)


def _reverting_to_forecast(n: int = 4000, seed: int = 3) -> pd.DataFrame:
    """5-minute prices that revert towards an hourly forecast whose level jumps every hour: the forecast says
    where the price goes next; the rolling statistics of the price alone are misled by the jumps."""
    rng = np.random.default_rng(seed)
    level = 100 + np.cumsum(rng.normal(0, 15, n // 12 + 1))
    forecast = np.repeat(level, 12)[:n]
    error = np.zeros(n)
    for t in range(1, n):
        error[t] = 0.6 * error[t - 1] + rng.normal(0, 5)
    index = pd.date_range("2026-01-01", periods=n, freq="5min", tz="UTC")
    return pd.DataFrame({"price": forecast + error, "forecast": forecast}, index=index)


def test_the_ensemble_follows_an_informative_forecast():
    prices = _reverting_to_forecast()
    made = MLEnsemble().signals(prices, {"min_history": 500, "threshold": 0.0})
    position = made.position[:, 0]
    says = np.sign(prices["forecast"] - prices["price"]).to_numpy()
    assert (position[:501] == 0).all() and (made.confidence[:501, 0] == 0).all()
    assert (position[1000:] == says[1000:]).mean() > 0.95
    p = prices["price"].to_numpy()
    # executed a bar later and held a bar, as the backtester does: it earns
    assert (position[:-2] * (p[2:] - p[1:-1]))[1000:].sum() > 0
    assert ((made.confidence >= 0) & (made.confidence <= 1)).all()


def test_no_look_ahead_changing_later_prices_and_forecasts_leaves_earlier_decisions():
    prices = _reverting_to_forecast(3000, seed=11)
    grid = {"threshold": [0.0, 0.1], "window": [0, 600], "min_history": [300]}
    before = MLEnsemble().signals(prices, grid)
    assert (before.position[:2196] != 0).sum() > 1000  # decisions were made before any change
    # weights are refitted once an hour (12 bars): a change at each phase of that hour
    for k in range(2196, 2208):
        # every later move reversed (prices and forecasts mirrored about the last price before k): a fit that
        # peeked at any of them would turn
        pivot = prices["price"].iloc[k - 1]
        changed = prices.copy()
        changed.iloc[k:] = 2 * pivot - prices.iloc[k:]
        after = MLEnsemble().signals(changed, grid)
        np.testing.assert_array_equal(before.position[:k], after.position[:k])
        np.testing.assert_array_equal(before.confidence[:k], after.confidence[:k])
        assert (before.position[k:] != after.position[k:]).any()
    # and on a series cut short, the decisions are the same prefix
    cut = MLEnsemble().signals(prices.iloc[:2201], grid)
    np.testing.assert_array_equal(cut.position, before.position[:2201])


def test_features_are_the_members_at_their_defaults_and_the_forecast_direction():
    prices = _reverting_to_forecast(1500)
    prices.iloc[:100, 1] = np.nan  # no run covered these bars: no forecast direction
    features = MLEnsemble().features(prices)
    assert list(features.columns) == [m for m in MEMBERS if STRATEGIES[m].legs == 1] + [FORECAST_FEATURE]
    momentum = STRATEGIES["momentum"].signals(prices, {k: [v] for k, v in STRATEGIES["momentum"].defaults.items()})
    np.testing.assert_array_equal(features["momentum"], momentum.position[:, 0])
    assert (features[FORECAST_FEATURE].iloc[:100] == 0).all()
    # with a second leg, spread trading joins the members
    two = prices.assign(other=prices["price"].to_numpy()[::-1] * 0.5 + 40)
    assert "spread" in MLEnsemble().features(two).columns


def test_refusals_name_what_is_wrong():
    prices = _reverting_to_forecast(300)
    with pytest.raises(ValueError, match="forecast"):
        MLEnsemble().signals(prices[["price"]], {})
    with pytest.raises(ValueError, match="threshold"):
        MLEnsemble().signals(prices, {"threshold": [1.5]})
    with pytest.raises(ValueError, match="min_history"):
        MLEnsemble().signals(prices, {"min_history": [2.5]})
    with pytest.raises(ValueError, match="lookahead"):
        MLEnsemble().signals(prices, {"lookahead": [1]})


def test_the_grid_is_evaluated_at_once_with_the_defaults_filling_the_rest():
    prices = _reverting_to_forecast(2000)
    made = MLEnsemble().signals(prices, {"threshold": [0.0, 0.2, 0.5]})
    assert made.position.shape == (2000, 3) and list(made.params["threshold"]) == [0.0, 0.2, 0.5]
    assert (made.params["min_history"] == MLEnsemble.defaults["min_history"]).all()
    # a higher threshold only ever stands aside more
    held = (made.position != 0).sum(axis=0)
    assert held[0] >= held[1] >= held[2]
    assert isinstance(STRATEGIES["ml_ensemble"], MLEnsemble) and set(MLEnsemble.grid) == set(MLEnsemble.defaults)


def test_members_signals_given_by_the_caller_give_the_same_ensemble_and_wrong_ones_are_refused():
    prices = _reverting_to_forecast(2500).assign(other=lambda f: f["price"].to_numpy()[::-1] * 0.5 + 40)
    made = {name: STRATEGIES[name].signals(prices, {k: [v] for k, v in STRATEGIES[name].defaults.items()})
            for name in MEMBERS}
    grid = {"threshold": [0.0, 0.1], "window": [0.0, 600.0]}
    alone = MLEnsemble().signals(prices, grid)
    shared = MLEnsemble().signals(prices, grid, members=made)
    np.testing.assert_array_equal(alone.position, shared.position)
    np.testing.assert_array_equal(alone.confidence, shared.confidence)
    other = STRATEGIES["momentum"].signals(prices, {"fast": [6.0], "slow": [30.0]})
    with pytest.raises(ValueError, match="momentum signals given are not its defaults"):
        MLEnsemble().signals(prices, grid, members={**made, "momentum": other})
    with pytest.raises(ValueError, match="not its defaults on these prices"):
        MLEnsemble().signals(prices.iloc[:2000], grid, members=made)


def test_a_comparison_computes_the_members_once_and_matches_each_strategy_alone():
    from engine.signals import evaluate
    from engine.signals.base import Book

    prices = _reverting_to_forecast(2500).assign(other=lambda f: f["price"].to_numpy()[::-1] * 0.5 + 40)
    hour = pd.Timedelta(hours=1)
    table = evaluate.compare(STRATEGIES, prices, Book(), hour)
    for name, strategy in STRATEGIES.items():
        alone = evaluate.backtest(strategy, prices, None, Book(), hour).metrics.iloc[0]
        pd.testing.assert_series_equal(table.loc[name], alone, check_names=False)
