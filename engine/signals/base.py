"""What every strategy, the backtester and the page share: the account, a strategy's signals, the protocol.

Electricity accounting (the README states it): a unit is 1 MWh bought at one interval's price and sold at a
later one (or sold first and bought back: a short), so prices may be negative and a position is in MW. A
target decided at the close of bar t is executed at bar t+1's price (no look-ahead). P&L is in the market's
currency; equity = initial cash + cumulative P&L net of fees.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

#: the metrics every backtest reports, in this order (the CLI prints them as one JSON object with these keys)
METRICS = ("pnl", "total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor", "exposure",
           "trades")
#: What each metric's number is: money (the market's currency), a share (a fraction: 0.05 is 5 %), a ratio or a count.
METRIC_KINDS = {"pnl": "money", "total_return": "share", "sharpe": "ratio", "sortino": "ratio",
                "max_drawdown": "share", "win_rate": "share", "profit_factor": "ratio", "exposure": "share",
                "trades": "count"}


@dataclass(frozen=True)
class Book:
    """The account a backtest trades: ``size`` MW per unit of target position, position limit ``max_position``
    (MW, absolute; None: none), fees proportional to the traded value (``fees``, a fraction, vectorbt's
    meaning), per MWh traded (``fees_per_mwh``) and per order (``fixed_fees``)."""
    size: float = 1.0
    init_cash: float = 100_000.0
    fees: float = 0.0
    fees_per_mwh: float = 0.0
    fixed_fees: float = 0.0
    max_position: float | None = None


@dataclass(frozen=True)
class Signals:
    """A strategy's decisions for every bar and every parameter combination.

    ``position``: (bars, combos) target position in [-1, 1] as a fraction of ``Book.size`` (sign: long or
    short), decided at each bar's close; ``confidence``: (bars, combos) in [0, 1]; ``params``: one row per
    combination (columns: the parameter names); ``traded``: the price of one unit of what the positions hold,
    (bars,) or (bars, combos) — the series itself for one-series strategies, a spread for spread trading."""
    strategy: str
    index: pd.DatetimeIndex
    position: np.ndarray
    confidence: np.ndarray
    params: pd.DataFrame
    traded: np.ndarray


class Strategy(Protocol):
    """A trading rule, vectorised over bars and over a grid of its parameters.

    ``legs``: how many price series it reads (1, or 2 for spread trading); ``defaults``: one value per
    parameter; ``grid``: the values a heatmap or walk-forward search tries per parameter (the first two names
    are the heatmap's axes)."""
    name: str
    label: str
    legs: int
    defaults: Mapping[str, float]
    grid: Mapping[str, Sequence[float]]

    def signals(self, prices: pd.DataFrame, params: Mapping[str, Sequence[float]]) -> Signals:
        """``prices``: indexed by the UTC start of each bar, one column per leg (``price``, and ``other`` for a
        second leg); ``params``: values per parameter, every combination of which is evaluated."""
        ...


def combinations(params: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """Every combination of the given parameter values, one row each (the first name varies slowest)."""
    names = list(params)
    values = [np.atleast_1d(np.asarray(params[name], dtype=float)) for name in names]
    if not names:
        return pd.DataFrame(index=pd.RangeIndex(1))
    grids = np.meshgrid(*values, indexing="ij")
    return pd.DataFrame({name: grid.ravel() for name, grid in zip(names, grids, strict=True)})
