"""Benchmark of the vectorised backtester beside vectorbt, in the same run.

    python bench/backtest.py [--bars 100000] [--repeat 5] [--data-dir DIR]

The series: PJM's real day-ahead prices (PJM-RTO 2025 as ``price``, the ALDENE node as ``other``; every hour is
positive, which vectorbt needs) repeated end to end to ``--bars`` hourly bars; ``forecast`` is the price a day
earlier (known before the day, as an issued forecast is). Times are warm: the best of ``--repeat`` runs after
one warm-up (vectorbt's first call compiles with numba).

1. The five strategies at their defaults (engine.signals.registry): our signals, our backtest and both
   together, each alone, then all five in one call as the page compares them (target: under 50 ms), and
   vectorbt's ``Portfolio.from_signals`` + the same metrics on the same positions, to compare with our
   backtest alone (long and short entries and exits, shifted a bar: decided at a close, executed at the
   next; the spread, which can be negative, lifted above 0 for vectorbt, which refuses prices <= 0: time
   only).
2. A 20 × 20 grid of mean reversion (lookback × entry, 400 combinations): our backtest of the 400 at once
   against vectorbt's from_signals + metrics on the same signals (and our signals + backtest end to end).
3. The page's answer to a parameter change on a year of 5-minute bars (target: under 200 ms): what the signals
   page's backtest callback computes once its prices are cached (engine.signals.views.backtest_view, called as
   the callback calls it), per strategy, on real NEM prices (QLD's June and July 2026 repeated end to end to a
   year, VIC's February 2026 as the second leg, the price a day earlier as the forecast); best and median of
   ``--repeat`` × 2 changes, alternating between two values of the strategy's first parameter.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import data_dir
from engine.files import RawFile
from engine.signals.backtest import run
from engine.signals.evaluate import compare
from engine.signals import views
from engine.signals.base import Book, Signals
from engine.signals.series import PriceSeries

FREQ = pd.Timedelta(hours=1)
BOOK = Book(size=1.0, init_cash=1_000_000.0, fees=0.0005, fixed_fees=0.5)
GRID = {"lookback": [float(b) for b in range(12, 241, 12)], "entry": [round(1.0 + 0.2 * i, 1) for i in range(20)]}


def vectorbt():
    """vectorbt, imported. vectorbt 1.0 (the last for pandas < 3) registers plotly themes naming the
    ``scattermapbox`` trace that plotly 7 removed, and so fails on import; the themes are built here with
    plotly's ``skip_invalid`` so the import goes through (only its plotting theme loses that trace type; no
    computation is touched)."""
    import plotly.graph_objs.layout as layout

    template = layout.Template

    class Lenient(template):
        def __init__(self, arg=None, **kwargs):
            super().__init__(arg, skip_invalid=True, **kwargs)

    layout.Template = Lenient
    try:
        import vectorbt as vbt
    finally:
        layout.Template = template
    return vbt


def pjm_prices(bars: int, folder: Path) -> pd.DataFrame:
    from ingest.pjm import PjmConnector

    def lmp(name: str) -> np.ndarray:
        table = PjmConnector().parse(RawFile.from_path(folder / "markets" / "pjm" / name)).tables["nodal_lmp"]
        return table.sort_values("interval_start")["lmp"].to_numpy(dtype=float)

    price = np.resize(lmp("da_hrl_lmps_PJM-RTO_2025.csv"), bars)
    other = np.resize(lmp("da_hrl_lmps_ALDENE_20250616-20260615.csv"), bars)
    forecast = np.concatenate([np.full(24, price[0]), price[:-24]])
    index = pd.date_range("2014-01-01", periods=bars, freq="h", tz="UTC")
    return pd.DataFrame({"price": price, "other": other, "forecast": forecast}, index=index)


def nem_year(folder: Path) -> PriceSeries:
    """A year of 5-minute bars of real NEM prices, as backtest_prices hands them to the page (section 3)."""
    from ingest.nem import NemConnector

    def region(*names: str) -> np.ndarray:
        tables = [NemConnector().parse(RawFile.from_path(folder / "markets" / "aemo" / "price_and_demand" / name))
                  .tables["prices"].sort_values("interval_start") for name in names]
        return np.concatenate([table["price"].to_numpy(dtype=float) for table in tables])

    bars = 365 * 288
    price = np.resize(region("PRICE_AND_DEMAND_202606_QLD1.csv", "PRICE_AND_DEMAND_202607_QLD1.csv"), bars)
    other = np.resize(region("PRICE_AND_DEMAND_202602_VIC1.csv"), bars)
    forecast = np.concatenate([np.full(288, price[0]), price[:-288]])
    index = pd.date_range("2025-07-01", periods=bars, freq="5min", tz="UTC")
    frame = pd.DataFrame({"price": price, "other": other, "forecast": forecast}, index=index)
    return PriceSeries(frame, pd.Timedelta(minutes=5), "AUD", "Etc/GMT-10", "NEM QLD1 settlement against VIC1",
                       "NEM", "QLD1", "settlement", other="VIC1")


def page_update(prices: PriceSeries, repeat: int) -> None:
    """Section 3: views.backtest_view per strategy, a parameter changed between two values each time."""
    from engine.signals.registry import STRATEGIES

    print(f"\nthe page's answer to a parameter change, {len(prices.frame):,} 5-minute bars of NEM prices "
          f"(views.backtest_view as the backtest callback calls it; target: under 200 ms):")
    print(f"{'strategy':<22}{'changed':>22}{'best ms':>10}{'median ms':>11}")
    for name, strategy in STRATEGIES.items():
        first, default = next(iter(strategy.defaults.items()))
        values = [default, strategy.grid[first][0] if strategy.grid[first][0] != default else strategy.grid[first][1]]
        views.backtest_view(prices, name, dict(strategy.defaults), None, "market")  # warm-up
        times = []
        for attempt in range(2 * repeat):
            params = {**strategy.defaults, first: values[attempt % 2]}
            started = time.perf_counter()
            views.backtest_view(prices, name, params, None, "market")
            times.append(time.perf_counter() - started)
        print(f"{name:<22}{f'{first} {values[0]:g} ↔ {values[1]:g}':>22}{min(times) * 1e3:>10.1f}"
              f"{float(np.median(times)) * 1e3:>11.1f}")


def best_of(repeat: int, fn) -> tuple[float, object]:
    out = fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def vectorbt_metrics(vbt, signals: Signals, book: Book):
    """vectorbt's from_signals on the same positions (decided at a close, executed a bar later) + metrics."""
    target = np.asarray(signals.position, dtype=float)
    held = np.zeros_like(target)
    held[1:] = target[:-1]
    before = np.zeros_like(held)
    before[1:] = held[:-1]
    traded = np.asarray(signals.traded, dtype=float)
    if traded.ndim == 2 and traded.shape[1] == 1:
        traded = traded[:, 0]
    if traded.min() <= 0:  # a spread: vectorbt refuses prices <= 0, so it times the spread lifted above 0
        traded = traded - traded.min() + 1.0
    # vectorbt turns a time-zone-aware index into an array of Timestamps at every step (seconds on 100,000
    # bars): it gets the same UTC times without the zone
    index = signals.index.tz_localize(None)
    close = pd.Series(traded, index=index) if traded.ndim == 1 else pd.DataFrame(traded, index)
    pf = vbt.Portfolio.from_signals(
        close, entries=(held > 0) & (before <= 0), exits=(held <= 0) & (before > 0),
        short_entries=(held < 0) & (before >= 0), short_exits=(held >= 0) & (before < 0),
        size=book.size, init_cash=book.init_cash, fees=book.fees, fixed_fees=book.fixed_fees, freq=FREQ)
    closed = pf.trades.closed
    return [pf.total_profit(), pf.total_return(), pf.sharpe_ratio(), pf.sortino_ratio(), pf.max_drawdown(),
            closed.win_rate(), closed.profit_factor(), pf.trades.count()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    from engine.signals.registry import STRATEGIES

    prices = pjm_prices(args.bars, args.data_dir or data_dir())
    vbt = vectorbt()
    print(f"{args.bars:,} hourly bars of PJM day-ahead prices; book {BOOK}; warm, best of {args.repeat}")
    print(f"\n{'strategy (defaults)':<22}{'signals ms':>11}{'backtest ms':>12}{'together ms':>12}"
          f"{'vectorbt ms':>12}{'vbt/backtest':>13}")
    totals = np.zeros(4)
    for name, strategy in STRATEGIES.items():
        defaults = {k: [v] for k, v in strategy.defaults.items()}
        signal_time, signals = best_of(args.repeat, lambda s=strategy, d=defaults: s.signals(prices, d))
        backtest_time, _ = best_of(args.repeat, lambda s=signals: run(s, BOOK, FREQ))
        vbt_time, _ = best_of(args.repeat, lambda s=signals: vectorbt_metrics(vbt, s, BOOK))
        times = np.array([signal_time, backtest_time, signal_time + backtest_time, vbt_time])
        totals += times
        print(f"{name:<22}{times[0] * 1e3:>11.1f}{times[1] * 1e3:>12.1f}{times[2] * 1e3:>12.1f}"
              f"{times[3] * 1e3:>12.1f}{vbt_time / backtest_time:>13.2f}")
    print(f"{'all five':<22}{totals[0] * 1e3:>11.1f}{totals[1] * 1e3:>12.1f}{totals[2] * 1e3:>12.1f}"
          f"{totals[3] * 1e3:>12.1f}{totals[3] / totals[1]:>13.2f}   (each alone: the ensemble computes its members)")
    compare(STRATEGIES, prices, BOOK, FREQ)  # warm-up
    times, faults = [], resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3 * args.repeat):
        started = time.perf_counter()
        compare(STRATEGIES, prices, BOOK, FREQ)
        times.append(time.perf_counter() - started)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / len(times)
    print(f"{'all five, one call':<22}{'':>11}{'':>12}{min(times) * 1e3:>12.1f}{totals[3] * 1e3:>12.1f}"
          f"{'':>13}   (target: < 50 ms; evaluate.compare: signals, backtests and metrics, the members'"
          " signals shared with the ensemble)")
    # the memory the allocator hands back to the system between calls and takes again (a page fault per 4 kB)
    # is part of the time and varies from one process to the next
    print(f"{'':<22}median of {len(times)}: {float(np.median(times)) * 1e3:.1f} ms; {faults:.0f} page faults a call")

    from engine.signals.mean_reversion import MeanReversion

    strategy = MeanReversion()
    grid = {**{k: [v] for k, v in strategy.defaults.items()}, **GRID}
    repeat = max(1, args.repeat // 2)
    signal_time, signals = best_of(repeat, lambda: strategy.signals(prices, grid))
    combos = signals.position.shape[1]
    backtest_time, result = best_of(repeat, lambda: run(signals, BOOK, FREQ))
    vbt_time, theirs = best_of(repeat, lambda: vectorbt_metrics(vbt, signals, BOOK))
    agree = np.nanmax(np.abs(result.metrics["trades"].to_numpy() - np.asarray(theirs[-1])))
    print(f"\nmean reversion grid, lookback × entry = {combos} combinations × {args.bars:,} bars:")
    print(f"  ours: backtest {backtest_time * 1e3:.0f} ms (signals {signal_time * 1e3:.0f} ms, end to end "
          f"{(signal_time + backtest_time) * 1e3:.0f} ms)")
    print(f"  vectorbt from_signals + metrics on the same signals: {vbt_time * 1e3:.0f} ms "
          f"(vectorbt / our backtest {vbt_time / backtest_time:.2f}); largest difference in trade counts: "
          f"{agree:g}")

    page_update(nem_year(args.data_dir or data_dir()), args.repeat)


if __name__ == "__main__":
    main()
