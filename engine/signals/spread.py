"""Spread trading: two legs (NEM regions, a node against its hub, day-ahead against real-time) traded as a
hedged spread that reverts to its rolling mean."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd

from engine.signals import rules
from engine.signals.base import Signals


def hedge_ratios(price: np.ndarray, other: np.ndarray, window: int) -> np.ndarray:
    """The hedge ratio in force during each bar: the OLS slope (with intercept) of ``price`` on ``other`` over
    the ``window`` bars ending the bar before, carried forward while the other leg is constant over the window
    (no slope); NaN until the first estimate."""
    price_centred, other_centred = price - price[0], other - other[0]
    price_sum = rules.PrefixSums(price_centred, window).window(window)
    other_mean, other_std = rules.Rolling(other, window).mean_std(window)
    np.multiply(price_centred, other_centred, out=price_centred)
    covariance = rules.PrefixSums(price_centred, window).window(window)
    other_mean -= other[0]  # the centred other leg's mean
    covariance -= price_sum * other_mean
    covariance /= window - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(other_std > 0, covariance / (other_std * other_std), np.nan)
    return np.concatenate(([np.nan], rules.carry_forward(slope)[:-1]))


def rebalanced_spread(price: np.ndarray, other: np.ndarray, hedge: np.ndarray) -> np.ndarray:
    """The value of one unit of the spread rebalanced each bar to the hedge in force: traded[0] = price[0]
    (no hedge known yet) and traded[t] = traded[t−1] + Δprice[t] − hedge[t]·Δother[t], so a position times
    Δtraded is the two legs' P&L."""
    steps = np.diff(price) - np.nan_to_num(hedge[1:]) * np.diff(other)
    return price[0] + np.concatenate(([0.0], np.cumsum(steps)))


class Spread:
    """The spread price − h·other, h the hedge ratio fitted by rolling OLS over the ``hedge`` bars before each
    bar (past data only), is z-scored over ``lookback`` bars and traded like mean reversion: short the spread
    (sell ``price``, buy h of ``other``) once z > +``entry``, long once z < −``entry``, flat once |z| < ``exit``
    or once z changes sign (``rules.band_positions``).
    Confidence |z| / (2 · entry), capped at 1, while positioned. The traded series is the rebalanced spread
    (see ``rebalanced_spread``), one per hedge window.

    Defaults: lookback 48 bars, entry 2, exit 0.5, hedge 720 bars (30 days of hourly bars, 2.5 days of 5-minute
    ones)."""

    name = "spread"
    label = "Spread (two legs)"
    legs = 2
    defaults = MappingProxyType({"lookback": 48.0, "entry": 2.0, "exit": 0.5, "hedge": 720.0})
    grid = MappingProxyType({
        "lookback": tuple(float(b) for b in range(12, 241, 12)),
        "entry": tuple(round(1.0 + 0.2 * i, 1) for i in range(20)),
        "exit": (0.5,),
        "hedge": (720.0,),
    })

    def signals(self, prices: pd.DataFrame, params: Mapping[str, Sequence[float] | float]) -> Signals:
        price, other = rules.check_prices(self.name, prices, self.legs)
        rows = rules.parameter_rows(self.name, self.defaults, params)
        rules.check_bars(self.name, rows, "lookback", 2)
        rules.check_bars(self.name, rows, "hedge", 2)
        rules.check_bands(self.name, rows)
        bars = len(price)
        decisions = rules.Decisions(bars, rows, ["hedge", "lookback", "exit"])
        hedges = decisions.groups("hedge")
        traded = np.empty(bars) if len(hedges) == 1 else np.empty((bars, len(rows)))
        longest = int(rows["lookback"].max())
        for window, with_hedge in hedges:
            hedge = hedge_ratios(price, other, int(window))
            if len(hedges) == 1:
                traded[:] = rebalanced_spread(price, other, hedge)
            else:
                traded[:, decisions.caller_columns(with_hedge)] = rebalanced_spread(price, other, hedge)[:, None]
            known = np.isfinite(hedge)
            start = int(np.argmax(known)) if known.any() else bars
            spread = price[start:] - hedge[start:] * other[start:]
            rolling = rules.Rolling(spread, longest)
            z = np.full(bars, np.nan)
            for lookback, with_lookback in decisions.groups("lookback", with_hedge):
                z[start:] = rolling.zscore(spread, int(lookback))
                for exit_, at in decisions.groups("exit", with_lookback):
                    rules.band_positions(z, decisions.column("entry", at), exit_, decisions.position[at],
                                         decisions.confidence[at])
        return rules.signals(self.name, prices, rows, decisions, traded)
