"""The vectorised backtester, its metrics and evaluations: electricity accounting worked by hand (negative
prices, fees, the cash limit), a grid equal to its combinations run one by one, and — on real NEM 5-minute and
PJM hourly prices — every metric equal to vectorbt's ``Portfolio.from_signals`` to 1e-9 relative."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest

from bench.backtest import vectorbt
from engine.files import RawFile
from engine.signals import backtest as backtester
from engine.signals import evaluate, metrics
from engine.signals.backtest import TRADE_COLUMNS, positions_from_entries_exits, run, signal_bars
from engine.signals.base import METRICS, Book, Signals, combinations

HOUR = pd.Timedelta(hours=1)


def _signals(position, price, params: pd.DataFrame | None = None, index: pd.DatetimeIndex | None = None) -> Signals:
    position = np.asarray(position, dtype=float)
    position = position[:, None] if position.ndim == 1 else position
    if index is None:
        index = pd.date_range("2026-01-01", periods=len(position), freq="h", tz="UTC")
    params = pd.DataFrame(index=pd.RangeIndex(position.shape[1])) if params is None else params
    return Signals("test", index, position, np.ones_like(position), params, np.asarray(price, dtype=float))


class Band:
    """A small causal rule for the evaluation tests: long while the price is ``band`` below its trailing mean
    of ``lookback`` bars, short while ``band`` above, else flat."""
    name, label, legs = "band", "Band", 1
    defaults = MappingProxyType({"lookback": 6.0, "band": 2.0})
    grid = MappingProxyType({"lookback": (3.0, 6.0, 12.0), "band": (0.5, 1.0, 2.0, 4.0)})

    def signals(self, prices: pd.DataFrame, params: Mapping[str, Sequence[float]]) -> Signals:
        rows = combinations({name: params.get(name, [value]) for name, value in self.defaults.items()})
        price = prices["price"]
        columns = []
        for lookback, band in rows[["lookback", "band"]].itertuples(index=False):
            gap = (price - price.rolling(int(lookback)).mean()).fillna(0.0).to_numpy()
            columns.append(np.where(gap < -band, 1.0, np.where(gap > band, -1.0, 0.0)))
        position = np.column_stack(columns)
        return Signals(self.name, prices.index, position, np.abs(position), rows, price.to_numpy())


# ---------------------------------------------------------------------------------------------------------
# Entries and exits: vectorbt's from_signals rules
# ---------------------------------------------------------------------------------------------------------
def test_positions_from_entries_exits_follow_vectorbts_rules():
    entries = np.array([0, 1, 1, 0, 0, 1, 0, 1, 0, 0], dtype=bool)
    exits = np.array([1, 0, 0, 1, 1, 1, 0, 1, 1, 0], dtype=bool)
    # exit while flat: nothing; repeated entry: held; bars 5 and 7 carry both: ignored
    assert positions_from_entries_exits(entries, exits).tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    both = positions_from_entries_exits(np.column_stack([entries, exits]), np.column_stack([exits, entries]))
    assert both.shape == (10, 2)
    assert both[:, 1].tolist() == [1, 0, 0, 1, 1, 1, 1, 1, 1, 1]


def test_positions_from_entries_exits_refuse_non_booleans_and_mismatched_shapes():
    with pytest.raises(ValueError, match="booleans"):
        positions_from_entries_exits(np.array([0, 1]), np.array([False, True]))
    with pytest.raises(ValueError, match="shape"):
        positions_from_entries_exits(np.zeros(3, bool), np.zeros(4, bool))


# ---------------------------------------------------------------------------------------------------------
# Electricity accounting, worked by hand
# ---------------------------------------------------------------------------------------------------------
def test_a_long_through_negative_prices_pays_and_is_paid_as_worked_by_hand():
    price = [10.0, -5.0, -20.0, 30.0, 30.0]
    book = Book(size=2.0, init_cash=1000.0, fees=0.1, fees_per_mwh=0.5, fixed_fees=0.25)
    result = run(_signals([1, 0, 0, 0, 0], price), book, HOUR)
    # decided at bar 0's close: bought 2 MW at bar 1 for -5 (paid 10 to take them), sold at bar 2 for -20
    # (paid 40 to hand them over)
    buy_fees = 0.1 * 10 + 0.5 * 2 + 0.25
    sell_fees = 0.1 * 40 + 0.5 * 2 + 0.25
    assert result.position[:, 0].tolist() == [0, 2, 0, 0, 0]
    np.testing.assert_allclose(result.equity[:, 0], [1000, 1000 - buy_fees, 1000 - 30 - buy_fees - sell_fees,
                                                     1000 - 30 - buy_fees - sell_fees,
                                                     1000 - 30 - buy_fees - sell_fees], rtol=1e-15)
    trade = result.trades(0).iloc[0]
    assert (trade["direction"], trade["size_mw"], trade["entry_price"], trade["exit_price"]) == ("long", 2, -5, -20)
    assert trade["pnl"] == pytest.approx(-30 - buy_fees - sell_fees, rel=1e-15)
    assert trade["fees"] == pytest.approx(buy_fees + sell_fees, rel=1e-15)
    assert result.metrics.loc[0, "pnl"] == pytest.approx(-30 - buy_fees - sell_fees, rel=1e-15)
    assert result.metrics.loc[0, "trades"] == 1
    assert result.metrics.loc[0, "win_rate"] == 0.0


def test_a_short_gains_when_prices_fall_below_zero():
    result = run(_signals([-1, -1, -1, 0], [20.0, 5.0, -40.0, -40.0]), Book(size=3.0, init_cash=100.0), HOUR)
    assert result.position[:, 0].tolist() == [0, -3, -3, -3]
    assert result.metrics.loc[0, "pnl"] == pytest.approx(3 * 45)  # sold at 5, valued at -40
    trade = result.trades(0).iloc[0]
    assert trade["direction"] == "short" and pd.isna(trade["exit_time"]) and trade["pnl"] == pytest.approx(135)


def test_a_reversal_closes_one_trade_and_opens_the_next_splitting_its_fees():
    book = Book(size=1.0, init_cash=1000.0, fixed_fees=3.0)
    trades = run(_signals([1, -1, -1, 0, 0], [10.0, 11.0, 13.0, 12.0, 12.0]), book, HOUR).trades(0)
    assert list(trades.columns) == list(TRADE_COLUMNS)
    assert trades["direction"].tolist() == ["long", "short"]
    assert trades["fees"].tolist() == [3.0 + 1.5, 1.5 + 3.0]  # the 2 MW reversal at 13: half to each trade
    assert trades["pnl"].tolist() == [2.0 - 4.5, 1.0 - 4.5]


def test_position_limit_clips_the_position():
    result = run(_signals([1, -1, 0.5, 0], [10.0, 11.0, 12.0, 13.0]), Book(size=10.0, max_position=4.0), HOUR)
    assert result.position[:, 0].tolist() == [0, 4, -4, 4]


def test_an_order_the_cash_cannot_pay_is_scaled_down_to_the_cash():
    book = Book(size=10.0, init_cash=50.0, fees=0.01, fixed_fees=1.0)
    result = run(_signals([1, 0, 0], [20.0, 40.0, 45.0]), book, HOUR)
    affordable = (50.0 - 1.0) / (40.0 * 1.01)  # vectorbt: what is left after the fixed fee, over price × (1 + fees)
    assert result.position[1, 0] == pytest.approx(affordable, rel=1e-12)
    sold = affordable * 45.0
    assert result.equity[-1, 0] == pytest.approx(sold - sold * 0.01 - 1.0, rel=1e-12)


def test_an_order_that_cannot_pay_its_fixed_fee_is_refused():
    result = run(_signals([1, 1, 0], [20.0, 40.0, 45.0]), Book(size=10.0, init_cash=1.0, fixed_fees=2.0), HOUR)
    assert result.position[:, 0].tolist() == [0, 0, 0]
    assert result.metrics.loc[0, "trades"] == 0


def test_bad_signals_are_refused_with_the_bar_named():
    with pytest.raises(ValueError, match=r"\[-1, 1\].*2026-01-01 01:00"):
        run(_signals([0, 2, 0], [1.0, 2.0, 3.0]), Book(), HOUR)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        run(_signals([0, np.nan, 0], [1.0, 2.0, 3.0]), Book(), HOUR)
    with pytest.raises(ValueError, match="not finite at 2026-01-01 02:00"):
        run(_signals([0, 1, 0], [1.0, 2.0, np.nan]), Book(), HOUR)
    with pytest.raises(ValueError, match="fees"):
        run(_signals([0, 1, 0], [1.0, 2.0, 3.0]), Book(fees=-0.1), HOUR)


# ---------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------
def test_annualisation_counts_bars_of_a_365_day_year():
    assert metrics.bars_per_year(pd.Timedelta(minutes=5)) == 105_120
    assert metrics.bars_per_year(pd.Timedelta(minutes=30)) == 17_520
    assert metrics.bars_per_year(pd.Timedelta(hours=1)) == 8_760


def test_sharpe_and_sortino_by_hand():
    equity = np.array([100.0, 110.0, 99.0, 99.0, 108.9])
    r = metrics.returns(equity, 100.0)
    np.testing.assert_allclose(r, [0.0, 0.1, -0.1, 0.0, 0.1], atol=1e-15)
    mean, std = 0.02, np.sqrt((0.02**2 * 2 + 0.08**2 * 2 + 0.12**2) / 4)
    assert metrics.sharpe(r, 4.0) == pytest.approx(mean / std * 2.0, rel=1e-12)
    assert metrics.sortino(r, 4.0) == pytest.approx(mean * 4.0 / (np.sqrt(0.01 / 5) * 2.0), rel=1e-12)
    assert metrics.max_drawdown(equity) == pytest.approx(99 / 110 - 1, rel=1e-14)
    flat = metrics.returns(np.full(4, 100.0), 100.0)
    assert np.isnan(metrics.sharpe(flat, 4.0)) and np.isnan(metrics.sortino(flat, 4.0))  # vectorbt: +inf
    # an account wiped out to exactly 0, or below it (a short through a price spike), and trading on: no return
    # from then on, the ratios undefined (vectorbt: ±inf from 0, and from -50 to -10 a return of +80 %)
    wiped = metrics.returns(np.array([[100.0, 50.0, 0.0, 10.0, 20.0], [100.0, 110.0, 99.0, 99.0, 108.9],
                                      [100.0, 50.0, -50.0, -10.0, 20.0], [100.0, 80.0, 60.0, 40.0, -5.0]]), 100.0)
    np.testing.assert_allclose(wiped[2], [0.0, -0.5, -2.0, np.nan, np.nan])
    with np.errstate(all="raise"):
        sharpe, sortino = metrics.sharpe_sortino(wiped, 4.0)
    assert np.isnan(sharpe[[0, 2]]).all() and np.isnan(sortino[[0, 2]]).all()
    assert sharpe[1] == pytest.approx(mean / std * 2.0, rel=1e-12)
    # below 0 only at the end: every return is from a live account, the loss counted
    assert sharpe[3] < 0 and sortino[3] < 0


def test_win_rate_and_profit_factor_per_combination():
    pnl, combo = np.array([5.0, -2.0, 0.0, 3.0, 1.0]), np.array([0, 0, 0, 1, 1])
    np.testing.assert_allclose(metrics.win_rate(pnl, combo, 3), [1 / 3, 1.0, np.nan])
    np.testing.assert_allclose(metrics.profit_factor(pnl, combo, 3), [2.5, np.inf, np.nan])


# ---------------------------------------------------------------------------------------------------------
# A grid at once equals its combinations one by one
# ---------------------------------------------------------------------------------------------------------
def _random_positions(rng: np.random.Generator, bars: int, combos: int) -> np.ndarray:
    change = rng.random((bars, combos)) < 0.05
    values = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], size=(bars, combos))
    last = np.maximum.accumulate(np.where(change, np.arange(bars)[:, None], 0), axis=0)
    return np.take_along_axis(values, last, axis=0) * (last > 0)


def test_a_grid_in_blocks_equals_each_combination_alone(monkeypatch):
    rng = np.random.default_rng(7)
    bars, combos = 600, 9
    price = 40 + np.cumsum(rng.normal(0, 3, bars))  # crosses zero: negative prices included
    position = _random_positions(rng, bars, combos)
    book = Book(size=5.0, init_cash=2_000.0, fees=0.001, fees_per_mwh=0.2, fixed_fees=0.5)
    monkeypatch.setattr(backtester, "_BLOCK_ELEMENTS", 4 * bars)  # blocks of 4 combinations
    grid = run(_signals(position, price), book, HOUR)
    for combo in range(combos):
        alone = run(_signals(position[:, combo], price), book, HOUR)
        pd.testing.assert_series_equal(grid.metrics.iloc[combo], alone.metrics.iloc[0], check_names=False,
                                       rtol=1e-12)
        np.testing.assert_allclose(grid.equity[:, combo], alone.equity[:, 0], rtol=1e-12)
        pd.testing.assert_frame_equal(grid.trades(combo), alone.trades(0))
    assert (grid.drawdown(3) <= 0).all()
    assert list(grid.metrics.columns) == list(METRICS)


def test_per_combination_traded_prices_are_used_for_each_column():
    rng = np.random.default_rng(3)
    spreads = rng.normal(0, 5, (50, 2))
    position = _random_positions(rng, 50, 2)
    both = run(_signals(position, spreads), Book(), HOUR)
    for combo in range(2):
        alone = run(_signals(position[:, combo], spreads[:, combo]), Book(), HOUR)
        assert both.metrics.loc[combo, "pnl"] == pytest.approx(alone.metrics.loc[0, "pnl"], rel=1e-12)


# ---------------------------------------------------------------------------------------------------------
# Evaluations: backtest, heatmap, walk-forward, compare
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    index = pd.date_range("2025-01-01", periods=400, freq="h", tz="UTC")
    daily = 10 * np.sin(np.arange(400) * 2 * np.pi / 24)
    return pd.DataFrame({"price": 50 + daily + rng.normal(0, 4, 400)}, index=index)


def test_heatmap_holds_each_combinations_backtest(hourly):
    book = Book(size=2.0, fees=0.001)
    table = evaluate.heatmap(Band(), hourly, book, HOUR, x="lookback", y="band", metric="total_return")
    assert table.index.name == "band" and table.columns.name == "lookback"
    assert table.index.tolist() == [0.5, 1.0, 2.0, 4.0] and table.columns.tolist() == [3.0, 6.0, 12.0]
    for band in (0.5, 4.0):
        for lookback in (3.0, 12.0):
            alone = evaluate.backtest(Band(), hourly, {"lookback": lookback, "band": band}, book, HOUR)
            assert table.loc[band, lookback] == pytest.approx(alone.metrics["total_return"].iat[0], rel=1e-12)


def test_heatmap_in_slices_equals_one_call(hourly, monkeypatch):
    whole = evaluate.heatmap(Band(), hourly, Book(), HOUR, x="band", y="lookback")
    monkeypatch.setattr(evaluate, "GRID_ELEMENTS", len(hourly) * 3)  # one band value (3 combinations) a call
    pd.testing.assert_frame_equal(evaluate.heatmap(Band(), hourly, Book(), HOUR, x="band", y="lookback"), whole)


def test_heatmap_refuses_unknown_axes_and_metrics(hourly):
    with pytest.raises(ValueError, match="two different parameters"):
        evaluate.heatmap(Band(), hourly, Book(), HOUR, x="band", y="band")
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate.heatmap(Band(), hourly, Book(), HOUR, x="band", y="lookback", metric="alpha")


def test_walk_forward_picks_the_best_in_sample_and_trades_it_out_of_sample(hourly):
    book = Book(size=1.0, fixed_fees=0.1)
    result = evaluate.walk_forward(Band(), hourly, book, HOUR, train_bars=120, test_bars=60)
    folds = result.folds
    assert len(folds) == 4  # starts 0, 60, 120, 180: each train + test inside 400 bars
    every = Band().signals(hourly, dict(Band.grid))
    for fold in folds.itertuples():
        # in sample: every combination's signals over the whole series (they never read a later bar), traded
        # over the training window only, starting flat
        train = hourly.index.slice_indexer(fold.train_start, fold.train_end)
        grid = run(evaluate._window(every, train.start, train.stop), book, HOUR).metrics["sharpe"]
        assert fold.in_sample == pytest.approx(grid.max(), rel=1e-12)
        chosen = Band().signals(hourly, {"lookback": [fold.lookback], "band": [fold.band]})
        window = hourly.index.slice_indexer(fold.test_start, fold.test_end)
        test = run(evaluate._window(chosen, window.start, window.stop), book, HOUR)
        assert fold.out_of_sample == pytest.approx(test.metrics["sharpe"].iat[0], rel=1e-12, nan_ok=True)
    steps = result.equity.diff().dropna()
    assert len(result.equity) == 4 * 60 and result.equity.index.is_monotonic_increasing
    assert np.isfinite(steps).all()


def test_walk_forward_folds_do_not_depend_on_later_prices(hourly):
    whole = evaluate.walk_forward(Band(), hourly, Book(), HOUR, train_bars=120, test_bars=60).folds
    cut = evaluate.walk_forward(Band(), hourly.iloc[:240], Book(), HOUR, train_bars=120, test_bars=60).folds
    pd.testing.assert_frame_equal(cut, whole.iloc[:2])


def test_compare_has_one_row_per_strategy_at_its_defaults(hourly):
    class Wide(Band):
        name = "wide"
        defaults = MappingProxyType({"lookback": 12.0, "band": 4.0})

    table = evaluate.compare([Band(), Wide()], hourly, Book(), HOUR)
    assert table.index.tolist() == ["band", "wide"] and list(table.columns) == list(METRICS)
    alone = evaluate.backtest(Wide(), hourly, None, Book(), HOUR).metrics.iloc[0]
    pd.testing.assert_series_equal(table.loc["wide"], alone, check_names=False)


def test_the_registrys_strategies_backtest_and_compare(hourly):
    from engine.signals.registry import STRATEGIES

    prices = hourly.assign(other=hourly["price"].shift(5).bfill(), forecast=hourly["price"].shift(24).bfill())
    table = evaluate.compare(STRATEGIES, prices, Book(), HOUR)
    assert table.index.tolist() == list(STRATEGIES)
    assert table["trades"].dtype == np.int64 and (table["exposure"].between(0, 1)).all()


# ---------------------------------------------------------------------------------------------------------
# Equal to vectorbt on real prices
# ---------------------------------------------------------------------------------------------------------
def _nem_qld_5min(data_dir: Path) -> pd.Series:
    from ingest.nem import NemConnector

    raw = RawFile.from_path(data_dir / "markets/aemo/price_and_demand/PRICE_AND_DEMAND_202606_QLD1.csv")
    prices = NemConnector().parse(raw).tables["prices"].sort_values("interval_start")
    series = pd.Series(prices["price"].to_numpy(), index=pd.DatetimeIndex(prices["interval_start"]))
    window = series.iloc[1612:1612 + 1955]  # the month's longest stretch of positive prices (QLD, 6-12 June)
    assert (window > 0).all() and len(window) == 1955
    return window


def _pjm_rto_hourly(data_dir: Path) -> pd.Series:
    from ingest.pjm import PjmConnector

    raw = RawFile.from_path(data_dir / "markets/pjm/da_hrl_lmps_PJM-RTO_2025.csv")
    lmp = PjmConnector().parse(raw).tables["nodal_lmp"].sort_values("interval_start")
    series = pd.Series(lmp["lmp"].to_numpy(), index=pd.DatetimeIndex(lmp["interval_start"])).iloc[:3000]
    assert (series > 0).all()
    return series


def _hand_made(bars: int) -> tuple[np.ndarray, np.ndarray]:
    entries, exits = np.zeros((bars, 4), bool), np.zeros((bars, 4), bool)
    entries[[0, 5, 7, 100, 200, bars - 1], 0] = True  # an entry at the first and the last bar
    exits[[3, 5, 50, 60, 100, 300], 0] = True  # entry and exit together at 5 and 100; an exit while flat at 60
    entries[[10, 20, 30], 1] = True
    exits[15, 1] = True  # the second trade is still open at the end
    entries[::2, 3], exits[1::2, 3] = True, True  # a trade every other bar
    return entries, exits  # column 2 never trades


BOOKS = [Book(size=10.0, init_cash=100_000.0, fees=0.001, fixed_fees=1.0),
         Book(size=100.0, init_cash=3_000.0, fees=0.002, fixed_fees=2.0),  # the cash limits most buys
         Book(size=5.0, init_cash=100.0)]


def _vectorbt_metrics(vbt, close: pd.Series, entries: np.ndarray, exits: np.ndarray, book: Book, freq: str):
    shifted = [pd.DataFrame(s, index=close.index).shift(1, fill_value=False) for s in (entries, exits)]
    pf = vbt.Portfolio.from_signals(close, *shifted, size=book.size, init_cash=book.init_cash, fees=book.fees,
                                    fixed_fees=book.fixed_fees, freq=freq)
    closed = pf.trades.closed
    table = pd.DataFrame({
        "pnl": pf.total_profit().to_numpy(), "total_return": pf.total_return().to_numpy(),
        "sharpe": pf.sharpe_ratio().to_numpy(), "sortino": pf.sortino_ratio().to_numpy(),
        "max_drawdown": pf.max_drawdown().to_numpy(), "win_rate": closed.win_rate().to_numpy(),
        "profit_factor": closed.profit_factor().to_numpy(), "trades": pf.trades.count().to_numpy()})
    return pf, table


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.xdist_group("vectorbt")  # one test process pays vectorbt's import and numba compilation, not both
@pytest.mark.parametrize("market", ["NEM 5-minute", "PJM hourly"])
def test_metrics_equal_vectorbts_from_signals_on_real_prices(data_dir, market):
    vbt = vectorbt()
    close, freq = (_nem_qld_5min(data_dir), "5min") if market == "NEM 5-minute" else (_pjm_rto_hourly(data_dir),
                                                                                       "1h")
    bars = len(close)
    hand_entries, hand_exits = _hand_made(bars)
    rng = np.random.default_rng(2026)
    entries = np.column_stack([hand_entries, rng.random((bars, 4)) < [0.01, 0.05, 0.2, 0.5]])
    exits = np.column_stack([hand_exits, rng.random((bars, 4)) < [0.01, 0.05, 0.2, 0.5]])
    scaled = []
    for book in BOOKS:
        signals = _signals(positions_from_entries_exits(entries, exits), close.to_numpy(), index=close.index)
        ours = run(signals, book, pd.Timedelta(freq), asked=signal_bars(entries, exits))
        pf, theirs = _vectorbt_metrics(vbt, close, entries, exits, book, freq)
        trading = theirs["trades"] > 0
        assert trading.sum() == 7  # every column but the idle one
        for name in theirs.columns:
            np.testing.assert_allclose(ours.metrics.loc[trading, name].to_numpy(dtype=float),
                                       theirs.loc[trading, name].to_numpy(dtype=float), rtol=1e-9, atol=0,
                                       err_msg=f"{name} ({book})")
        np.testing.assert_allclose(ours.equity, pf.value().to_numpy(), rtol=1e-9, atol=0)
        scaled.append(any(f.scaled_bars.size for f in ours._filled.values()))  # buys the cash scaled down
        # the idle column: equal except vectorbt's +inf Sharpe and Sortino of flat equity (NaN here)
        assert ours.metrics.loc[2, ["pnl", "max_drawdown", "trades"]].tolist() == [0, 0, 0]
        assert np.isinf(theirs.loc[2, ["sharpe", "sortino"]].to_numpy(dtype=float)).all()
        assert ours.metrics.loc[2, ["sharpe", "sortino"]].isna().all()
        records = pf.trades.records_readable
        for combo in (0, 1, 5):
            mine, theirs_trades = ours.trades(combo), records[records["Column"] == combo]
            np.testing.assert_allclose(mine["pnl"], theirs_trades["PnL"], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(mine["size_mw"], theirs_trades["Size"], rtol=1e-9)
            assert (mine["entry_time"].to_numpy() == theirs_trades["Entry Timestamp"].to_numpy()).all()
    assert scaled == [False, True, True]


def test_a_wiped_out_account_has_no_sharpe_and_the_page_says_why():
    """Long through a fall to -2,000 AUD/MWh with 1,000 AUD of capital: equity goes below 0 and the account trades
    on. The Sharpe and Sortino are undefined (vectorbt would measure the returns from a negative equity against
    its absolute value), and the backtest's notes say when the account was wiped out, in the zone shown."""
    from engine.signals import series, views

    index = pd.date_range("2026-01-01", periods=400, freq="5min", tz="UTC")
    price = np.linspace(50.0, 150.0, 400)
    price[300:305] = -2000.0
    prices = series.PriceSeries(pd.DataFrame({"price": price}, index=index), pd.Timedelta(minutes=5), "AUD",
                                "Etc/GMT-10", "SA1 settlement", "NEM", "SA1", "settlement")
    view = views.backtest_view(prices, "momentum", None, {"size_mw": 1, "init_cash": 1000}, "market")
    assert view.equity.min() < 0 and view.equity[-1] > view.equity.min()
    assert np.isnan(view.metrics["sharpe"]) and np.isnan(view.metrics["sortino"])
    assert not np.isnan(view.metrics["pnl"]) and view.metrics["max_drawdown"] < -1
    first = int(np.flatnonzero(view.equity[:-1] <= 0)[0])
    when = index[first].tz_convert("Etc/GMT-10").strftime("%Y-%m-%d %H:%M")
    assert any(f"wiped out: equity fell to {view.equity[first]:,.2f} AUD at {when} NEM time (UTC+10)" in note
               for note in view.notes), view.notes
    utc = views.backtest_view(prices, "momentum", None, {"size_mw": 1, "init_cash": 1000}, "utc")
    assert any(index[first].strftime("%Y-%m-%d %H:%M") + " UTC" in note for note in utc.notes), utc.notes
    kept = views.backtest_view(prices, "momentum", None, {"size_mw": 0.1, "init_cash": 1000}, "market")
    assert kept.equity.min() > 0 and np.isfinite(kept.metrics["sharpe"]) and not any("wiped" in n for n in kept.notes)
