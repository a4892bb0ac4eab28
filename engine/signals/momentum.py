"""Momentum: a moving-average crossover."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd

from engine.signals import rules
from engine.signals.base import Signals


class Momentum:
    """Simple moving-average crossover, long and short: long while the ``fast``-bar average of the price is
    above the ``slow``-bar one, short while below, flat on a tie and until ``slow`` bars exist.

    Confidence: the gap between the averages in standard deviations of the price over the slow window (the
    volatility-normalised MACD of Baz et al., 2015), capped at 1. Prices can be near zero or negative, so
    the gap is not divided by the price level.

    Defaults: fast 12, slow 48 bars (half a day against two days of hourly bars; one hour against four of
    5-minute bars)."""

    name = "momentum"
    label = "Momentum (moving-average crossover)"
    legs = 1
    defaults = MappingProxyType({"fast": 12.0, "slow": 48.0})
    grid = MappingProxyType({
        "fast": tuple(float(b) for b in range(2, 41, 2)),
        "slow": tuple(float(b) for b in range(48, 505, 24)),
    })

    def signals(self, prices: pd.DataFrame, params: Mapping[str, Sequence[float] | float]) -> Signals:
        (price,) = rules.check_prices(self.name, prices, self.legs)
        rows = rules.parameter_rows(self.name, self.defaults, params)
        rules.check_bars(self.name, rows, "fast", 1)
        rules.check_bars(self.name, rows, "slow", 2)
        crossed = rows["fast"] >= rows["slow"]
        if crossed.any():
            row = rows[crossed].iloc[0]
            raise ValueError(f"{self.name}: fast must be shorter than slow, got fast={row['fast']:g}, "
                             f"slow={row['slow']:g}")
        decisions = rules.Decisions(len(price), rows, ["slow", "fast"])
        rolling = rules.Rolling(price, int(rows["slow"].max()))
        fasts = np.unique(rows["fast"].to_numpy())
        fast_means = {fast: rolling.mean(int(fast)) for fast in fasts}
        gap = np.empty(len(price))
        for slow, with_slow in decisions.groups("slow"):
            slow_mean, slow_std = rolling.mean_std(int(slow))
            # a constant slow window: the averages are equal, flat; no slow average yet (NaN): flat too
            slow_std[slow_std == 0] = np.inf
            for fast, at in decisions.groups("fast", with_slow):
                np.subtract(fast_means[fast], slow_mean, out=gap)
                gap /= slow_std
                np.nan_to_num(gap, copy=False, nan=0.0)
                position = decisions.position[at]
                np.subtract((gap > rules.GAP_TIE).view(np.int8), (gap < -rules.GAP_TIE).view(np.int8),
                            out=position[0])
                position[1:] = position[0]  # the same (fast, slow) given twice
                np.abs(gap, out=gap)
                np.minimum(gap, 1.0, out=gap)
                decisions.confidence[at] = gap
        return rules.signals(self.name, prices, rows, decisions, price)
