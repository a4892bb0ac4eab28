"""ML ensemble: the other strategies' positions and the direction of the stored day-ahead forecast, weighted by a
least-squares fit on past bars only.

Features at the close of bar t: each member strategy's position at its defaults (spread trading only when the
prices carry a second leg, ``other``), and the forecast's direction, sign(forecast − price): the median of the
day-ahead run issued before bar t's market day (engine.signals.series), so it was known before the bar began;
0 where no run covers the bar. The target is the direction of the move a position decided at t earns — executed
at t+1 and held through bar t+1, sign(p[t+2] − p[t+1]) — so the score estimates how much likelier an up move is
than a down one, and is robust to price spikes that would swamp a fit of raw changes.

Weights at bar t come from the pairs whose target was realised by the close of t (s ≤ t − 2), over all past bars
or the last ``window`` of them: ridge least squares from cumulative sums of XᵀX and Xᵀy, refitted once every
day's worth of bars (288 five-minute bars, 24 hourly ones) and held in between: weights fitted on thousands of
bars move little in a day, and a refit per bar on 100,000 bars would cost more than the other strategies
together. Position: the sign of the score where it exceeds ``threshold``, from ``min_history`` bars of history
on; confidence: the score's magnitude, capped at 1.

The members' signals at their defaults are computed here unless the caller already has them (a comparison of
all five strategies computes each once: ``members=``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd

from engine.signals import rules
from engine.signals.base import Signals

#: The strategies whose positions are features, by their registry names (spread only with a second leg).
MEMBERS = ("mean_reversion", "momentum", "spread", "volatility")
FORECAST_FEATURE = "forecast_direction"
#: Ridge penalty: one pseudo-observation pulling every weight towards 0 (features are in [-1, 1]).
RIDGE = 1.0


def rolling_weights(features: np.ndarray, target: np.ndarray, window: int = 0, lag: int = 2, every: int = 1,
                    ridge: float = RIDGE) -> np.ndarray:
    """(bars, k) ridge least-squares weights of ``target`` on ``features``, where bar t's weights are fitted on
    the pairs s ≤ t − ``lag`` (of the last ``window`` bars of such pairs; 0: all), refitted every ``every`` bars
    and held in between; 0 where no pair is available yet. A pair whose ``target`` is NaN is not used."""
    return np.repeat(refit_weights(features, target, window, lag, every, ridge), max(1, int(every)),
                     axis=0)[:len(features)]


def scores(features: np.ndarray, weights: np.ndarray, every: int) -> np.ndarray:
    """Each bar's features · the weights of its refit (``refit_weights``: one row per ``every`` bars), without
    repeating the weights for every bar (the same products and sums as with them)."""
    x = np.asarray(features, dtype=float)
    n, k = x.shape
    whole = n // every  # refits with all their bars
    out = np.empty(n)
    np.einsum("bek,bk->be", x[:whole * every].reshape(whole, every, k), weights[:whole],
              out=out[:whole * every].reshape(whole, every))
    if whole * every < n:
        np.einsum("ek,k->e", x[whole * every:], weights[whole], out=out[whole * every:])
    return out


def refit_weights(features: np.ndarray, target: np.ndarray, window: int = 0, lag: int = 2, every: int = 1,
                  ridge: float = RIDGE) -> np.ndarray:
    """(refits, k): the weights ``rolling_weights`` holds from bar i·``every`` on, one row per refit."""
    x = np.asarray(features, dtype=float)
    if not np.isfinite(x.sum()) and np.isnan(x).any():  # a sum is NaN if a term is: no mask of every value
        x = np.nan_to_num(x)
    y = np.asarray(target, dtype=float)
    n, k = x.shape
    every, window, lag = max(1, int(every)), max(0, int(window)), int(lag)
    if lag < 1:
        raise ValueError("rolling_weights: lag must be at least 1 (a pair's target is realised after its bar)")
    usable = np.isfinite(y)
    # Pair s moved to bar u = s + lag − 1, so the pairs a refit at bar t may use are those at u < t, and with a
    # window those at t − window ≤ u < t. Sums over blocks of g bars (g divides every refit bar and the window)
    # by one batched matrix product each, then running sums over blocks: far fewer additions than a running
    # sum over every bar of every term.
    g = math.gcd(every, window) if window else every
    shift = lag - 1
    blocks = -(-n // g)
    xs = np.zeros((blocks * g, k + 1))
    xs[shift:n, :k] = x[: n - shift]
    xs[shift:n, k] = y[: n - shift]
    xs[np.flatnonzero(~usable[: n - shift]) + shift] = 0.0  # an unusable pair adds nothing
    counted = np.zeros(blocks * g)
    counted[shift:n] = usable[: n - shift]
    xs = xs.reshape(blocks, g, k + 1)
    # per block: [XᵀX | Xᵀy], (blocks, k, k + 1), and its number of usable pairs; then the sums over the blocks
    # before each block b, i.e. over the pairs at u < b·g
    summed = np.zeros((blocks + 1, k, k + 1))
    np.cumsum(np.matmul(xs[:, :, :k].transpose(0, 2, 1), xs), axis=0, out=summed[1:])
    pairs = np.zeros(blocks + 1)
    np.cumsum(counted.reshape(blocks, g).sum(axis=1), out=pairs[1:])
    refit = np.arange(0, n, every) // g
    sums, count = summed[refit], pairs[refit]
    if window:
        first = refit - window // g
        inside = first >= 0
        sums[inside] -= summed[first[inside]]
        count[inside] -= pairs[first[inside]]
    weights = np.zeros((len(refit), k))
    fitted = count > 0
    if fitted.any():
        weights[fitted] = np.linalg.solve(sums[fitted, :, :k] + ridge * np.eye(k), sums[fitted, :, k:])[:, :, 0]
    return weights


class MLEnsemble:
    """The other strategies and the as-issued day-ahead forecast, combined by weights fitted on past bars only."""

    name = "ml_ensemble"
    label = "ML ensemble"
    members = MEMBERS
    legs = 1
    defaults = MappingProxyType({"threshold": 0.05, "window": 0.0, "min_history": 2016.0})
    grid = MappingProxyType({"threshold": (0.0, 0.05, 0.1, 0.2, 0.3), "window": (0.0, 2016.0, 8064.0, 25920.0),
                             "min_history": (288.0, 2016.0, 8064.0)})

    def features(self, prices: pd.DataFrame, members: Mapping[str, Signals] | None = None) -> pd.DataFrame:
        """The features at each bar's close: the members' positions at their defaults and the forecast's
        direction (columns named after them). ``members``: signals of members at their defaults, already
        computed on these prices (the rest are computed here)."""
        rules.check_prices(self.name, prices, self.legs)
        _check_forecast(prices)
        names, values = self._features(prices, members)
        return pd.DataFrame(values, index=prices.index, columns=names)

    def _features(self, prices: pd.DataFrame, members: Mapping[str, Signals] | None) -> tuple[list[str], np.ndarray]:
        from engine.signals.registry import STRATEGIES  # the registry lists this strategy too: import on use

        members = members or {}
        names = [name for name in MEMBERS if STRATEGIES[name].legs == 1 or "other" in prices.columns]
        values = np.empty((len(prices), len(names) + 1))  # spread trading needs a second leg: left out on one
        for column, name in enumerate(names):
            member = STRATEGIES[name]
            made = members.get(name)
            if made is None:
                made = member.signals(prices, {p: [v] for p, v in member.defaults.items()})
            elif len(made.index) != len(prices) or made.position.shape[1] != 1 or \
                    made.params.iloc[0].to_dict() != dict(member.defaults):
                raise ValueError(f"ml_ensemble: the {name} signals given are not its defaults on these prices")
            values[:, column] = made.position[:, 0]
            if made.position.dtype.kind == "f":  # the strategies' own are integers, never NaN
                np.nan_to_num(values[:, column], copy=False)
        price = prices["price"].to_numpy(dtype=float)
        direction = prices["forecast"].to_numpy(dtype=float) - price
        np.sign(direction, out=direction)
        direction[np.isnan(direction)] = 0.0  # no forecast: no direction
        values[:, -1] = direction
        return [*names, FORECAST_FEATURE], values

    def signals(self, prices: pd.DataFrame, params: Mapping[str, Sequence[float] | float],
                members: Mapping[str, Signals] | None = None) -> Signals:
        (price,) = rules.check_prices(self.name, prices, self.legs)
        _check_forecast(prices)
        combos = rules.parameter_rows(self.name, self.defaults, params)
        rules.check_range(self.name, combos, "threshold", 0.0, 0.99)
        rules.check_bars(self.name, combos, "window", 0)
        rules.check_bars(self.name, combos, "min_history", 0)
        _, x = self._features(prices, members)
        n = len(price)
        # the move a position decided at t earns: executed at t+1, held through bar t+1
        target = np.full(n, np.nan)
        if n > 2:
            target[:-2] = np.sign(price[2:] - price[1:-1])
        every = _bars_per_day(prices.index)
        scored = {int(w): scores(x, refit_weights(x, target, int(w), lag=2, every=every), every)
                  for w in combos["window"].unique()}
        # filled as (combinations, bars), so each combination's bars are contiguous, and handed out transposed
        position = np.zeros((len(combos), n), dtype=np.int8)
        confidence = np.zeros((len(combos), n), dtype=np.float32)
        thresholds = combos["threshold"].to_numpy(dtype=np.float32)
        for (window, min_history), at in combos.groupby(["window", "min_history"], sort=False).indices.items():
            score = scored[int(window)]
            start = min(n, int(min_history) + 1)  # from the bar with min_history pairs behind it (s ≤ t − 2)
            strength = np.minimum(np.abs(score[start:]), 1.0).astype(np.float32)
            position[at, start:] = np.where(strength[None, :] > thresholds[at, None],
                                            np.sign(score[start:]).astype(np.int8)[None, :], np.int8(0))
            confidence[at, start:] = strength[None, :]
        return Signals(self.name, pd.DatetimeIndex(prices.index), position.T, confidence.T,
                       combos.reset_index(drop=True), price)


def _check_forecast(prices: pd.DataFrame) -> None:
    if "forecast" not in prices.columns:
        raise ValueError("ml_ensemble needs the stored day-ahead forecast: load the prices with_forecast=True "
                         "(a forecast column)")


def _bars_per_day(index: pd.Index) -> int:
    """Weights are refitted once a day of bars: the bars in 24 hours at the series' usual bar length."""
    if len(index) < 2:
        return 1
    steps = np.diff(pd.DatetimeIndex(index).asi8)  # nanoseconds
    # evenly spaced bars (the usual case) need no sort for their median
    step = float(steps[0]) if steps.min() == steps.max() else float(np.median(steps))
    return max(1, int(8.64e13 // step)) if step > 0 else 1
