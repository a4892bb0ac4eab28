"""Volatility regime: follow the trend while realised volatility is low for its recent history, stand aside
while it is high."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd

from engine.signals import rules
from engine.signals.base import Signals

#: relative difference below which two volatility readings are equal
TIE = 1e-9


def volatility_percentile(volatility: np.ndarray, lookback: int, window: int) -> np.ndarray:
    """The share of the past non-overlapping readings (each ``lookback`` bars apart, ``window // lookback`` of
    them, together covering the ``window`` bars before) that are below each bar's reading (by more than
    ``TIE``); NaN until all exist.

    Readings ``lookback`` apart share no price change, and comparing against them alone keeps the cost at
    bars × window / lookback comparisons."""
    count = window // lookback
    below = np.zeros(len(volatility), dtype=np.int16 if count < 2**15 else np.int32)
    # readings within rounding of each other (the same changes in another order) are ties, not below
    level = volatility * (1 - TIE)
    for k in range(1, count + 1):
        shift = k * lookback
        if shift >= len(volatility):
            break
        below[shift:] += volatility[:-shift] < level[shift:]
    share = below / count
    share[:min((count + 1) * lookback, len(volatility))] = np.nan
    return share


class VolatilityRegime:
    """Realised volatility over ``lookback`` bars: the root mean square of the price changes (not of log
    returns: electricity prices go negative and through zero). When its percentile among the readings of the
    past ``window`` bars is at or below ``threshold`` (a calm regime), follow time-series momentum — long if
    the price rose over the lookback, short if it fell; otherwise stand aside.

    Confidence: the lookback's price change in units of its volatility (|Δ| / (σ·√lookback), a t-statistic
    under a random walk) halved and capped at 1, in the regime; 0 outside it.

    Defaults: lookback 24 bars, window 720 bars (a day and 30 days of hourly bars; two hours and 2.5 days of
    5-minute ones), threshold 0.5."""

    name = "volatility"
    label = "Volatility regime"
    legs = 1
    defaults = MappingProxyType({"lookback": 24.0, "threshold": 0.5, "window": 720.0})
    grid = MappingProxyType({
        "lookback": tuple(float(b) for b in range(6, 121, 6)),
        "threshold": tuple(round(0.05 * i, 2) for i in range(1, 21)),
        "window": (720.0,),
    })

    def signals(self, prices: pd.DataFrame, params: Mapping[str, Sequence[float] | float]) -> Signals:
        (price,) = rules.check_prices(self.name, prices, self.legs)
        rows = rules.parameter_rows(self.name, self.defaults, params)
        rules.check_bars(self.name, rows, "lookback", 2)
        rules.check_bars(self.name, rows, "window", 2)
        rules.check_range(self.name, rows, "threshold", 0.0, 1.0, low_open=True)
        short = rows["window"] < 2 * rows["lookback"]
        if short.any():
            row = rows[short].iloc[0]
            raise ValueError(f"{self.name}: window must hold at least two lookbacks of past readings, got "
                             f"window={row['window']:g}, lookback={row['lookback']:g}")
        bars = len(price)
        decisions = rules.Decisions(bars, rows, ["lookback", "window"])
        changes = np.diff(price)
        squares = rules.PrefixSums(changes * changes, int(rows["lookback"].max()))
        for lookback, with_lookback in decisions.groups("lookback"):
            lookback = int(lookback)
            volatility = np.empty(bars)
            volatility[0] = np.nan
            volatility[1:] = squares.window(lookback)
            volatility /= lookback
            np.sqrt(volatility, out=volatility)
            move = np.zeros(bars)
            move[lookback:] = price[lookback:] - price[:-lookback]
            direction = np.sign(move).astype(np.int8)
            # |move| / (2 σ √lookback), capped at 1; σ is 0 only where the price did not move (then move is 0)
            strength = np.abs(move)
            scale = volatility * (2 * np.sqrt(lookback))
            scale[~(scale > 0)] = np.inf
            strength /= scale
            np.minimum(strength, 1.0, out=strength)
            strength = strength.astype(np.float32)
            for window, at in decisions.groups("window", with_lookback):
                percentile = volatility_percentile(volatility, lookback, int(window))
                with np.errstate(invalid="ignore"):  # NaN: no percentile yet, stand aside
                    calm = percentile[None, :] <= decisions.column("threshold", at)[:, None]
                np.multiply(direction[None, :], calm, out=decisions.position[at])
                np.multiply(strength[None, :], calm, out=decisions.confidence[at])
        return rules.signals(self.name, prices, rows, decisions, price)
