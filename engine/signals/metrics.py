"""Backtest metrics, one place for every strategy, the backtester, the page and the command line.

Pure NumPy. Curves have bars along the last axis: (bars,) for one, (combos, bars) for a parameter grid (rows
stay contiguous, so a grid reduces fast). The definitions are vectorbt's (``Portfolio.from_signals`` then
``total_return``, ``sharpe_ratio``, ``sortino_ratio``, ``max_drawdown``, ``trades.closed.win_rate``,
``trades.closed.profit_factor``, ``trades.count``), so a backtest here equals vectorbt's on positive prices:

- returns are per bar, of equity, the first one against the initial cash;
- annualisation: ``365 days / bar length`` bars a year (vectorbt's ``year_freq='365 days'``), risk-free 0;
- Sharpe: mean / standard deviation (ddof=1) × √bars-a-year;
- Sortino: mean × bars-a-year / (√mean(min(r, 0)²) × √bars-a-year), the downside deviation taken over *all*
  bars (a bar above 0 counts as 0), not only the losing ones;
- max drawdown: the lowest equity / running peak − 1, the peak starting at the first bar's equity;
- win rate and profit factor count closed trades only (an open trade at the end is left out, as vectorbt's
  ``stats`` does); the number of trades counts the open one too.

Where vectorbt's answer is meaningless it is not copied: the Sharpe or Sortino of flat equity (no variation,
mean 0) is NaN here where vectorbt says +inf, and a constant losing return gives −inf where vectorbt says +inf.
And an account wiped out, its equity at or below 0 at the end of a bar before the last, has no return from
then on (vectorbt measures one from a negative equity against its absolute value, and from 0 says ±inf), so
its Sharpe and Sortino are NaN, undefined: a short through a price spike that lost 75 % of its capital read
Sharpe +2.64 and Sortino +17.3 that way, level with a strategy that made 72 %, and the parameter heatmap and
the walk-forward's choice rank by these ratios.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: vectorbt's ``returns.year_freq``
YEAR = pd.Timedelta(days=365)


def bars_per_year(freq: pd.Timedelta) -> float:
    """How many bars of length ``freq`` a 365-day year holds (the annualisation factor)."""
    freq = pd.Timedelta(freq)
    if freq <= pd.Timedelta(0):
        raise ValueError(f"the bar length must be positive, not {freq}")
    return YEAR / freq


def returns(equity: np.ndarray, init_cash: float) -> np.ndarray:
    """Per-bar returns of equity; the first bar's against ``init_cash``; NaN from a bar whose equity ended at or
    below 0 (a wiped-out account has no return)."""
    equity = np.asarray(equity, dtype=float)
    out = np.empty_like(equity)
    out[..., 0] = equity[..., 0] - init_cash
    np.subtract(equity[..., 1:], equity[..., :-1], out=out[..., 1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        out[..., 0] /= abs(init_cash)
        np.divide(out[..., 1:], equity[..., :-1], out=out[..., 1:])
    before = equity[..., :-1]
    if not before.min(initial=np.inf) > 0:
        after = out[..., 1:]
        after[before <= 0] = np.nan
    return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, with 0 / 0 → NaN and x / 0 → ±inf."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(numerator / denominator)
    flat = denominator == 0
    if flat.any():
        out[flat] = np.where(numerator[flat] == 0, np.nan, np.copysign(np.inf, numerator[flat]))
    return out


def sharpe_sortino(bar_returns: np.ndarray, per_year: float) -> tuple[np.ndarray, np.ndarray]:
    """Annualised Sharpe and Sortino ratios (risk-free and required return 0); NaN with fewer than two bars."""
    r = np.asarray(bar_returns, dtype=float)
    bars = r.shape[-1]
    if bars < 2:
        return np.full(r.shape[:-1], np.nan), np.full(r.shape[:-1], np.nan)
    # a wiped-out account has NaN returns (returns()): the ratios are then NaN, which the metrics table shows as
    # undefined, and numpy's warnings about NaN say nothing more
    with np.errstate(invalid="ignore", over="ignore"):
        mean = r.mean(axis=-1)
        work = np.subtract(r, mean[..., None])
        np.multiply(work, work, out=work)
        std = np.sqrt(work.sum(axis=-1) / (bars - 1))
        np.minimum(r, 0.0, out=work)
        np.multiply(work, work, out=work)
        downside_risk = np.sqrt(work.mean(axis=-1)) * np.sqrt(per_year)
        sharpe, sortino = _ratio(mean, std) * np.sqrt(per_year), _ratio(mean * per_year, downside_risk)
    if np.isfinite(mean).all():
        return sharpe, sortino
    undefined = ~np.isfinite(mean)
    return np.where(undefined, np.nan, sharpe), np.where(undefined, np.nan, sortino)


def sharpe(bar_returns: np.ndarray, per_year: float) -> np.ndarray:
    """Annualised Sharpe ratio (risk-free 0): mean / std (ddof=1) × √bars-a-year."""
    return sharpe_sortino(bar_returns, per_year)[0]


def sortino(bar_returns: np.ndarray, per_year: float) -> np.ndarray:
    """Annualised Sortino ratio (required return 0, vectorbt's downside deviation over all bars)."""
    return sharpe_sortino(bar_returns, per_year)[1]


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Fraction of equity below its running peak (<= 0), per bar: equity / peak − 1. Equity that falls below 0
    (a short at a price spike, or a long at negative prices) keeps counting against the peak: -1.5 is 150 %
    of it lost; a peak at or below 0 counts against its absolute value."""
    equity = np.asarray(equity, dtype=float)
    out = np.maximum.accumulate(equity, axis=-1)
    low = out <= 0 if not out.min(initial=np.inf) > 0 else None
    peak = out.copy() if low is not None else None
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(equity, out, out=out)
    out -= 1.0
    if low is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[low] = (equity[low] - peak[low]) / np.abs(peak[low])
        out[low & (equity == peak)] = 0.0
    return out


def max_drawdown(equity: np.ndarray) -> np.ndarray:
    """The deepest drawdown (<= 0; 0 when equity never fell)."""
    return drawdown(equity).min(axis=-1)


def exposure(position: np.ndarray) -> np.ndarray:
    """Share of bars with a position."""
    position = np.asarray(position)
    return np.count_nonzero(position, axis=-1) / position.shape[-1]


def win_rate(pnl: np.ndarray, combo: np.ndarray, combos: int) -> np.ndarray:
    """Share of closed trades with P&L > 0, per combination (NaN with none). ``pnl``, ``combo``: the closed
    trades' P&L and the combination each belongs to."""
    closed = np.bincount(combo, minlength=combos)
    wins = np.bincount(combo[pnl > 0], minlength=combos)
    with np.errstate(divide="ignore", invalid="ignore"):
        return wins / closed


def profit_factor(pnl: np.ndarray, combo: np.ndarray, combos: int) -> np.ndarray:
    """Gross profit / gross loss of closed trades, per combination: inf with no losing trade, 0 with no
    winning one, NaN with no trade or only break-even ones."""
    gains = np.bincount(combo, weights=np.where(pnl > 0, pnl, 0.0), minlength=combos)
    losses = np.bincount(combo, weights=np.where(pnl < 0, -pnl, 0.0), minlength=combos)
    return _ratio(gains, losses)
