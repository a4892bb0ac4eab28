"""The four rule strategies and the registry: hand-checked paths, the rolling numbers against numpy on each
window and numpy's least squares, the documented rules against plain per-bar loops, causality, the parameter
grid, bad input, and a run on AEMO's real 5-minute prices."""
from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.signals import rules
from engine.signals.mean_reversion import MeanReversion
from engine.signals.momentum import Momentum
from engine.signals.spread import Spread, hedge_ratios, rebalanced_spread
from engine.signals.volatility import VolatilityRegime, volatility_percentile

RULES = (MeanReversion(), Momentum(), Spread(), VolatilityRegime())
#: short lookbacks, so that a few hundred bars exercise every strategy
SMALL = {"mean_reversion": {"lookback": 12}, "momentum": {"fast": 3, "slow": 10},
         "spread": {"lookback": 12, "hedge": 30}, "volatility": {"lookback": 5, "window": 40}}


def frame(price, other=None, freq: str = "1h") -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(price), freq=freq, tz="UTC")
    columns = {"price": np.asarray(price, dtype=float)}
    if other is not None:
        columns["other"] = np.asarray(other, dtype=float)
    return pd.DataFrame(columns, index=index)


def spiky(n: int, seed: int = 0) -> np.ndarray:
    """Electricity-like prices: a wandering level, flat stretches, spikes and negative prices."""
    rng = np.random.default_rng(seed)
    price = 60 + np.cumsum(rng.normal(0, 2, n))
    price[rng.random(n) < 0.01] = 5000 * rng.random()
    price[rng.random(n) < 0.01] = -500 * rng.random()
    for start in rng.integers(0, max(1, n - 60), max(1, n // 400)):
        price[start:start + 50] = price[start]
    return price


def run(strategy, prices: pd.DataFrame, **params):
    return strategy.signals(prices, {**SMALL[strategy.name], **params})


def prices_for(strategy, n: int = 600, seed: int = 1) -> pd.DataFrame:
    return frame(spiky(n, seed), spiky(n, seed + 1) * 0.5 + spiky(n, seed) * 0.7 if strategy.legs == 2 else None)


# --- the rolling numbers ----------------------------------------------------------------------------------------

def windowed(values: np.ndarray, lookback: int, statistic, every: int = 1) -> np.ndarray:
    """A statistic of the trailing window of each bar (of every ``every``-th bar), computed by numpy on the window
    itself (NaN before the first)."""
    windows = np.lib.stride_tricks.sliding_window_view(np.r_[np.full(lookback - 1, np.nan), values], lookback)
    return statistic(windows[::every], axis=1)


def sample_std(windows, axis):
    return windows.std(axis=axis, ddof=1)


@pytest.mark.parametrize("lookback", [2, 5, 48, 4500])
def test_rolling_mean_and_std_equal_numpy_on_each_window(lookback):
    # through spikes of thousands, negative prices and flat stretches (pandas' online rolling std is off by up
    # to 1e-5 on this series; numpy's two-pass std of each window is the reference); 4500 bars is longer than
    # the 4096-bar blocks the sums restart on
    price = spiky(9000)
    mean, std = rules.Rolling(price, lookback).mean_std(lookback)
    every = 1 if lookback < 100 else 7  # numpy's std of every window of 4500 bars takes seconds
    np.testing.assert_allclose(mean[::every], windowed(price, lookback, np.mean)[::every], rtol=1e-14, atol=1e-11)
    np.testing.assert_allclose(std[::every], windowed(price, lookback, sample_std, every), rtol=1e-5, atol=1e-8)
    flat = windowed(price, lookback, np.ptp) == 0
    assert flat.any() == (lookback < 50) and (std[flat] == 0).all()
    assert (std[lookback - 1:][~flat[lookback - 1:]] > 0).all()


@pytest.mark.parametrize("missing", [[], [0, 1, 2], [0, 1, 5, 6, 9], [3], list(range(10))])
def test_carry_forward_fills_each_gap_with_the_latest_number_before_it(missing):
    values = np.arange(10, dtype=float) * 1.5 - 4
    values[missing] = np.nan
    expected, latest = [], np.nan
    for value in values:
        latest = latest if np.isnan(value) else value
        expected.append(latest)
    got = rules.carry_forward(values)
    np.testing.assert_array_equal(got, expected)
    assert got is not values


def test_a_constant_window_after_spikes_has_zero_deviation_and_zero_z():
    price = spiky(3000)
    price[2000:2100] = 54.95
    z = rules.Rolling(price, 48).zscore(price, 48)
    assert (z[2047:2100] == 0).all()
    assert np.isnan(z[:47]).all() and np.isfinite(z[47:]).all()


def test_run_maximum_restarts_inside_the_band_and_on_a_sign_change():
    z = np.array([np.nan, 0.1, 1.0, 2.5, 1.2, -0.7, -3.0, -0.2, 0.6])
    assert rules.run_maximum(z, 0.5).tolist() == [-1, -1, 1.0, 2.5, 2.5, 0.7, 3.0, -1, 0.6]


# --- mean reversion ---------------------------------------------------------------------------------------------

# lookback 5, entry 1.5, exit 0.5; z of each bar by hand (sample std of the 5-bar window ending at the bar):
#   bar 4 [10,10,10,10,20] z=+1.79 short · 5 +1.10 hold · 6 +0.60 hold · 7 [10,20,20,19,18] +0.14 < exit: flat
#   8 −1.75 long · 9 −1.08 · 10 −0.73 hold · 11 −0.45 flat · 12 −1.79 long · 13 −0.61 hold
#   14 [10,10,0,4,12] +0.96: z changed sign (the price crossed its mean), flat although |z| > exit
#   15 +1.63 short · 16 [0,4,12,30,−40] −1.60: straight past the other band, long
HAND_PRICES = [10, 10, 10, 10, 20, 20, 19, 18, 10, 10, 10, 10, 0, 4, 12, 30, -40]
HAND_POSITIONS = [0, 0, 0, 0, -1, -1, -1, 0, 1, 1, 1, 0, 1, 1, 0, -1, 1]


def test_mean_reversion_on_a_hand_checked_path():
    made = MeanReversion().signals(frame(HAND_PRICES), {"lookback": 5, "entry": 1.5, "exit": 0.5})
    assert made.position[:, 0].tolist() == HAND_POSITIONS
    for bar, z in [(4, 1.7889), (7, 0.1422), (14, 0.9562), (16, -1.5998)]:
        window = HAND_PRICES[bar - 4:bar + 1]
        assert (HAND_PRICES[bar] - statistics.mean(window)) / statistics.stdev(window) == pytest.approx(z, abs=1e-4)
    # confidence |z| / (2 · entry) while positioned
    assert made.confidence[4, 0] == pytest.approx(1.7889 / 3, abs=1e-4)
    assert made.confidence[7, 0] == 0 and made.confidence[14, 0] == 0
    np.testing.assert_array_equal(made.traded, HAND_PRICES)


def band_rule_by_loop(z: np.ndarray, entry: float, exit_: float) -> list[int]:
    """The documented rule, bar by bar."""
    out, held, previous = [], 0, np.nan
    for value in z:
        if np.isnan(value) or abs(value) < exit_ or (held and np.sign(value) != np.sign(previous)):
            held = 0
        if not np.isnan(value) and abs(value) > entry:
            held = -int(np.sign(value))
        out.append(held)
        previous = value
    return out


@pytest.mark.parametrize("entry, exit_", [(2.0, 0.5), (1.0, 0.0), (1.5, 1.2), (0.3, 0.1)])
def test_band_positions_follow_the_rule_bar_by_bar(entry, exit_):
    z = np.random.default_rng(3).normal(0, 1.3, 3000).cumsum() * 0.05
    z[:30] = np.nan
    z[500:510] = 0.0
    position = np.zeros((1, len(z)), dtype=np.int8)
    confidence = np.zeros((1, len(z)), dtype=np.float32)
    rules.band_positions(z, np.array([entry]), exit_, position, confidence)
    assert position[0].tolist() == band_rule_by_loop(z, entry, exit_)
    expected = np.where(position[0] != 0, np.minimum(np.abs(np.nan_to_num(z)) / (2 * entry), 1), 0)
    np.testing.assert_allclose(confidence[0], expected, rtol=1e-6)


# --- momentum ---------------------------------------------------------------------------------------------------

def test_momentum_crosses_over_at_the_hand_checked_bar():
    # fast 2, slow 4 on a V: bar 6 averages 5.5 against 6 (short), bar 7 6.5 against 6 (long)
    made = Momentum().signals(frame([10, 9, 8, 7, 6, 5, 6, 7, 8, 9, 10]), {"fast": 2, "slow": 4})
    assert made.position[:, 0].tolist() == [0, 0, 0, -1, -1, -1, -1, 1, 1, 1, 1]
    # bar 3: gap 7.5 − 8.5 = −1 over the std of [10, 9, 8, 7], sqrt(5/3)
    assert made.confidence[3, 0] == pytest.approx(1 / np.sqrt(5 / 3), rel=1e-6)
    assert made.confidence[7, 0] == pytest.approx(0.5 / np.std([6, 5, 6, 7], ddof=1), rel=1e-6)


def test_momentum_equals_pandas_rolling_averages():
    price = spiky(5000, seed=4)
    made = Momentum().signals(frame(price), {"fast": [5, 20], "slow": [50, 200]})
    series = pd.Series(price)
    for combo, (fast, slow) in made.params.iterrows():
        gap = (series.rolling(int(fast)).mean() - series.rolling(int(slow)).mean()).to_numpy()
        std = series.rolling(int(slow)).std().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            normalised = np.nan_to_num(np.where(std > 1e-9, gap / std, 0.0))
        clear = np.abs(normalised) > 1e-6  # pandas' own rounding decides exact ties
        assert (made.position[clear, combo] == np.sign(normalised[clear])).all()
        np.testing.assert_allclose(made.confidence[:, combo], np.minimum(np.abs(normalised), 1), atol=1e-6)


def test_momentum_is_flat_on_a_constant_stretch():
    price = np.r_[np.linspace(50, 80, 100), np.full(200, 54.95)]
    made = Momentum().signals(frame(price), {"fast": 5, "slow": 20})
    assert (made.position[120:, 0] == 0).all() and (made.confidence[120:, 0] == 0).all()


# --- spread -----------------------------------------------------------------------------------------------------

def cointegrated(n: int, noise: float, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    other = 40 + np.cumsum(rng.normal(0, 1, n))
    return 1.7 * other + 5 + noise * rng.normal(0, 1, n), other


def test_the_hedge_ratio_of_cointegrated_legs_is_the_true_one():
    price, other = cointegrated(2000, noise=0.0)
    np.testing.assert_allclose(hedge_ratios(price, other, 100)[101:], 1.7, rtol=1e-9)
    price, other = cointegrated(2000, noise=1.0)
    assert np.abs(hedge_ratios(price, other, 500)[501:] - 1.7).max() < 0.05


def test_the_hedge_in_force_is_numpys_least_squares_on_the_bars_before():
    price, other = cointegrated(400, noise=3.0)
    hedge = hedge_ratios(price, other, 60)
    assert np.isnan(hedge[:60]).all()
    for bar in (60, 61, 200, 399):
        slope, _ = np.polyfit(other[bar - 60:bar], price[bar - 60:bar], 1)
        assert hedge[bar] == pytest.approx(slope, rel=1e-9)


def test_a_constant_other_leg_keeps_the_last_hedge():
    price, other = cointegrated(300, noise=0.5)
    other[150:] = other[150]
    price[150:] = price[150] + np.sin(np.arange(150))
    hedge = hedge_ratios(price, other, 20)
    # the window of bars 149..168 is the last where the other leg moves; from bar 169 its slope stays in force
    slope, _ = np.polyfit(other[149:169], price[149:169], 1)
    assert hedge[169] == pytest.approx(slope, rel=1e-9) and (hedge[169:] == hedge[169]).all()
    assert hedge[168] != hedge[169]


def test_the_traded_spread_is_the_two_legs_pnl_per_unit():
    price, other = cointegrated(500, noise=2.0)
    made = Spread().signals(frame(price, other), {"hedge": 50, "lookback": 20})
    hedge = hedge_ratios(price, other, 50)
    # no hedge before bar 50 (the first 50-bar window ends at bar 49): the unit is the price leg alone
    assert np.isnan(hedge[:50]).all() and np.isfinite(hedge[50:]).all()
    np.testing.assert_array_equal(made.traded[:50], price[:50])
    # holding one unit during bar t: long the price leg, short the hedge in force of the other leg
    legs_pnl = np.diff(price)[49:] - hedge[50:] * np.diff(other)[49:]
    np.testing.assert_allclose(np.diff(made.traded)[49:], legs_pnl, rtol=1e-9, atol=1e-9)


def test_spread_positions_follow_the_rule_on_the_hedged_spread():
    price, other = cointegrated(800, noise=2.0, seed=8)
    made = Spread().signals(frame(price, other), {"hedge": 50, "lookback": 20, "entry": 1.5, "exit": 0.3})
    spread = price - hedge_ratios(price, other, 50) * other
    z = np.full(len(price), np.nan)
    for t in range(50 + 19, len(price)):
        window = spread[t - 19:t + 1]
        z[t] = (spread[t] - window.mean()) / window.std(ddof=1)
    assert made.position[:, 0].tolist() == band_rule_by_loop(z, 1.5, 0.3)
    assert made.position[:, 0].any()


def test_several_hedge_windows_give_one_traded_series_per_combination():
    price, other = cointegrated(400, noise=2.0)
    made = Spread().signals(frame(price, other), {"lookback": [10, 20], "hedge": [30, 60]})
    assert made.traded.shape == (400, 4)
    for combo, row in made.params.iterrows():
        np.testing.assert_array_equal(
            made.traded[:, combo], rebalanced_spread(price, other, hedge_ratios(price, other, int(row["hedge"]))))


# --- volatility regime ------------------------------------------------------------------------------------------

def regime_prices() -> np.ndarray:
    """A calm uptrend (changes 0.9, 0.1, 0.9, ...) and from bar 100 a volatile one (10.5, −9.5, ...)."""
    steps = np.where(np.arange(1, 300) % 2, 0.9, 0.1)
    steps[99:] = np.where(np.arange(100, 300) % 2, 10.5, -9.5)
    return 50 + np.r_[0.0, np.cumsum(steps)]


def test_volatility_regime_stands_aside_when_volatility_jumps():
    made = VolatilityRegime().signals(frame(regime_prices()), {"lookback": 4, "window": 40, "threshold": 0.5})
    position = made.position[:, 0]
    # readings need 4 changes and 10 past readings 4 bars apart: from bar 44 the calm trend is followed (long)
    assert (position[:44] == 0).all() and (position[44:100] == 1).all()
    # calm: the 4-bar move 2.0 over σ·√4 with σ = sqrt((2·0.81 + 2·0.01) / 4): halved, capped at 1
    assert made.confidence[60, 0] == pytest.approx(2.0 / (2 * np.sqrt(0.41) * 2), rel=1e-6)
    # from bar 100 volatility is above all past readings: aside until half the past readings are volatile too
    assert (position[100:120] == 0).all()
    # 40 bars after the jump every past reading is as volatile: the (still rising) trend is followed again
    assert (position[150:] == 1).all()


def percentile_by_loop(volatility: np.ndarray, lookback: int, window: int) -> np.ndarray:
    count = window // lookback
    out = np.full(len(volatility), np.nan)
    for t in range((count + 1) * lookback, len(volatility)):
        past = [volatility[t - k * lookback] for k in range(1, count + 1)]
        out[t] = sum(v < volatility[t] * (1 - 1e-9) for v in past) / count
    return out


def test_volatility_percentile_equals_a_loop():
    volatility = np.abs(np.random.default_rng(6).normal(size=700))
    volatility[0] = np.nan
    np.testing.assert_allclose(volatility_percentile(volatility, 6, 100), percentile_by_loop(volatility, 6, 100),
                               rtol=1e-6)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 1.0])
def test_volatility_positions_equal_a_loop(threshold):
    price = spiky(800, seed=7)
    made = VolatilityRegime().signals(frame(price), {"lookback": 6, "window": 60, "threshold": threshold})
    changes = np.diff(price)
    volatility = np.r_[np.nan, [np.sqrt(np.mean(changes[max(0, t - 6):t] ** 2)) if t >= 6 else np.nan
                                for t in range(1, len(price))]]
    percentile = percentile_by_loop(volatility, 6, 60)
    expected = [int(np.sign(price[t] - price[t - 6])) if percentile[t] <= threshold else 0
                for t in range(len(price))]
    assert made.position[:, 0].tolist() == expected


# --- every strategy: contract, grid, causality, bad input -----------------------------------------------------

@pytest.mark.parametrize("strategy", RULES, ids=lambda s: s.name)
def test_signals_keep_the_contract(strategy):
    prices = prices_for(strategy)
    made = run(strategy, prices)
    assert made.strategy == strategy.name and made.index.equals(prices.index)
    assert made.position.shape == made.confidence.shape == (600, 1)
    assert made.position.dtype == np.int8 and made.confidence.dtype == np.float32
    assert set(np.unique(made.position)) <= {-1, 0, 1} and (made.position != 0).any()
    assert (made.confidence >= 0).all() and (made.confidence <= 1).all()
    assert ((made.confidence > 0) <= (made.position != 0)).all()
    assert list(made.params.columns) == [*SMALL[strategy.name], *(p for p in strategy.defaults
                                                                   if p not in SMALL[strategy.name])]
    assert made.traded.shape == (600,) and np.isfinite(made.traded).all()


@pytest.mark.parametrize("strategy", RULES, ids=lambda s: s.name)
def test_decisions_are_causal(strategy):
    prices = prices_for(strategy, n=700)
    full = run(strategy, prices)
    for cut in (150, 433):
        truncated = run(strategy, prices.iloc[:cut])
        np.testing.assert_array_equal(truncated.position, full.position[:cut])
        np.testing.assert_array_equal(truncated.confidence, full.confidence[:cut])
        np.testing.assert_array_equal(truncated.traded, full.traded[:cut])
        changed = prices.copy()
        changed.iloc[cut:] = changed.iloc[cut:] * -3 + 1000  # a different future
        np.testing.assert_array_equal(run(strategy, changed).position[:cut], full.position[:cut])


@pytest.mark.parametrize("strategy", RULES, ids=lambda s: s.name)
def test_the_grid_has_20_by_20_heatmap_axes_all_valid(strategy):
    x, y, *rest = strategy.grid
    assert len(strategy.grid[x]) == len(strategy.grid[y]) == 20
    assert all(len(strategy.grid[p]) == 1 for p in rest) and list(strategy.grid) == list(strategy.defaults)
    assert all(strategy.defaults[p] in strategy.grid[p] for p in strategy.defaults)
    made = strategy.signals(prices_for(strategy, n=1500), strategy.grid)
    assert made.position.shape == (1500, 400)
    assert made.params[x].nunique() == made.params[y].nunique() == 20


#: two parameters given in an order that is not the strategy's grouping, the second varying fastest
UNGROUPED = {"mean_reversion": {"entry": [1.5, 2.5], "lookback": [12, 24, 9]},
             "momentum": {"fast": [3, 7], "slow": [10, 30, 12]},
             "spread": {"entry": [1.5, 2.5], "hedge": [30, 60, 40]},
             "volatility": {"threshold": [0.3, 0.9], "lookback": [5, 8, 4]}}


@pytest.mark.parametrize("strategy", RULES, ids=lambda s: s.name)
def test_each_combination_equals_its_own_run_in_the_callers_order(strategy):
    prices = prices_for(strategy, n=900)
    given = {**SMALL[strategy.name], **UNGROUPED[strategy.name]}
    made = strategy.signals(prices, UNGROUPED[strategy.name] | SMALL[strategy.name] | UNGROUPED[strategy.name])
    first, second = UNGROUPED[strategy.name]
    assert list(made.params.columns[:2]) == [first, second]
    assert made.params[first].tolist() == [v for v in given[first] for _ in range(3)]
    assert made.params[second].tolist() == given[second] * 2
    for combo, row in made.params.iterrows():
        alone = strategy.signals(prices, row.to_dict())
        np.testing.assert_array_equal(made.position[:, combo], alone.position[:, 0])
        np.testing.assert_array_equal(made.confidence[:, combo], alone.confidence[:, 0])
        if made.traded.ndim == 2:
            np.testing.assert_array_equal(made.traded[:, combo], alone.traded)


@pytest.mark.parametrize("strategy, params, message", [
    (MeanReversion(), {"lookback": -5}, r"lookback must be a whole number of bars >= 2, got -5"),
    (MeanReversion(), {"lookback": 12.5}, r"lookback must be a whole number of bars >= 2, got 12.5"),
    (MeanReversion(), {"entry": 1.0, "exit": 1.0}, r"exit must be below entry"),
    (MeanReversion(), {"entry": [0, 1]}, r"entry must be > 0, got 0"),
    (MeanReversion(), {"exit": -0.1}, r"exit must be >= 0, got -0.1"),
    (MeanReversion(), {"lookbak": 10}, r"no parameter 'lookbak'; its parameters are lookback, entry, exit"),
    (MeanReversion(), {"lookback": []}, r"lookback needs at least one value"),
    (MeanReversion(), {"lookback": ["ten"]}, r"lookback must be numbers"),
    (Momentum(), {"fast": 48, "slow": 48}, r"fast must be shorter than slow, got fast=48, slow=48"),
    (Momentum(), {"fast": [5, 60], "slow": 50}, r"fast must be shorter than slow, got fast=60, slow=50"),
    (Spread(), {"hedge": 1}, r"hedge must be a whole number of bars >= 2, got 1"),
    (VolatilityRegime(), {"threshold": 0}, r"threshold must be > 0 and <= 1, got 0"),
    (VolatilityRegime(), {"threshold": 1.5}, r"threshold must be > 0 and <= 1, got 1.5"),
    (VolatilityRegime(), {"lookback": 24, "window": 40}, r"window must hold at least two lookbacks"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_parameters_are_refused_by_name(strategy, params, message):
    with pytest.raises(ValueError, match=message):
        strategy.signals(prices_for(strategy, n=100), params)


@pytest.mark.parametrize("strategy", RULES, ids=lambda s: s.name)
def test_bad_prices_are_refused_by_name(strategy):
    prices = prices_for(strategy, n=100)
    gappy = prices.copy()
    gappy.iloc[40, 0] = np.nan
    with pytest.raises(ValueError, match=r"prices\['price'\] has 1 missing or infinite values \(first at "
                                         r"2024-01-02 16:00:00\+00:00\)"):
        strategy.signals(gappy, strategy.defaults)
    with pytest.raises(ValueError, match="indexed by the start time of each bar"):
        strategy.signals(prices.reset_index(drop=True), strategy.defaults)
    with pytest.raises(ValueError, match="no bars"):
        strategy.signals(prices.iloc[:0], strategy.defaults)
    with pytest.raises(ValueError, match="unique and increasing"):
        strategy.signals(prices.iloc[::-1], strategy.defaults)


def test_spread_needs_the_other_leg():
    with pytest.raises(ValueError, match=r"spread reads 2 price series, columns \['price', 'other'\]: "
                                         r"prices has no \['other'\]"):
        Spread().signals(frame(spiky(100)), Spread.defaults)


def test_a_lookback_longer_than_the_series_is_flat_not_an_error():
    for strategy in RULES:
        made = strategy.signals(prices_for(strategy, n=30), strategy.defaults)
        assert not made.position.any() and not made.confidence.any()


# --- the registry -----------------------------------------------------------------------------------------------

def test_the_registry_lists_the_five_in_the_issues_order():
    from engine.signals.registry import STRATEGIES, labels, strategy

    assert list(STRATEGIES) == ["mean_reversion", "momentum", "spread", "volatility", "ml_ensemble"]
    assert all(STRATEGIES[name].name == name for name in STRATEGIES)
    assert strategy("momentum") is STRATEGIES["momentum"]
    assert labels()["volatility"] == "Volatility regime"
    with pytest.raises(ValueError, match="unknown strategy 'macd'; choose one of mean_reversion, momentum, "
                                         "spread, volatility, ml_ensemble"):
        strategy("macd")


# --- real prices ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nem_january_2024(data_dir: Path) -> pd.DataFrame:
    """AEMO's 5-minute dispatch prices of January 2024, NSW1 with VIC1 as the other leg (8,928 bars)."""
    from engine.files import RawFile
    from ingest.nem import NemConnector

    legs = {}
    for region in ("NSW1", "VIC1"):
        raw = RawFile.from_path(data_dir / f"markets/aemo/price_and_demand/PRICE_AND_DEMAND_202401_{region}.csv")
        table = NemConnector().parse(raw).tables["prices"]
        legs[region] = table.set_index("interval_start")["price"]
    return pd.DataFrame({"price": legs["NSW1"], "other": legs["VIC1"]})


@pytest.mark.realdata
def test_real_nem_prices(nem_january_2024):
    prices = nem_january_2024
    assert len(prices) == 8928 and prices["price"].min() < 0 and prices["price"].max() > 10_000
    price = prices["price"].to_numpy()
    # the rolling numbers through January's spikes and negative prices, against pandas
    mean, std = rules.Rolling(price, 48).mean_std(48)
    np.testing.assert_allclose(mean, windowed(price, 48, np.mean), rtol=1e-14, atol=1e-11)
    np.testing.assert_allclose(std, windowed(price, 48, sample_std), rtol=1e-9, atol=1e-8)
    # NSW1 against VIC1: the hedge in force is numpy's least squares over the 720 bars before
    hedge = hedge_ratios(price, prices["other"].to_numpy(), 720)
    for bar in (720, 4000, 8927):
        slope, _ = np.polyfit(prices["other"].to_numpy()[bar - 720:bar], price[bar - 720:bar], 1)
        assert hedge[bar] == pytest.approx(slope, rel=1e-9)
    for strategy in RULES:
        made = strategy.signals(prices, strategy.defaults)
        held = made.position[:, 0] != 0
        assert 0.01 < held.mean() <= 1, strategy.name
        assert ((made.confidence[:, 0] > 0) <= held).all()
        truncated = strategy.signals(prices.iloc[:5000], strategy.defaults)
        np.testing.assert_array_equal(truncated.position, made.position[:5000])
