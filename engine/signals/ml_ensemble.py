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
hour's worth of bars (12 five-minute bars; every bar of an hourly series) and held in between, since a refit per
bar on 100,000 five-minute bars would cost more than the other strategies together. Position: the sign of the
score where it exceeds ``threshold``, from ``min_history`` bars of history on; confidence: the score's
magnitude, capped at 1.
"""
from __future__ import annotations

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
    x = np.asarray(features, dtype=float)
    if np.isnan(x).any():
        x = np.nan_to_num(x)
    y = np.asarray(target, dtype=float)
    n, k = x.shape
    every = max(1, int(every))
    usable = np.isfinite(y)
    upper = np.triu_indices(k)
    m = len(upper[0])
    # per bar (a column each, so that each term's bars are contiguous): the upper triangle of x xᵀ, x·y and
    # whether the pair counts (a pair that does not is all zeros)
    xt = np.where(usable, x.T, 0.0)
    terms = np.empty((m + k + 1, n))
    for j, (p, q) in enumerate(zip(*upper, strict=True)):
        np.multiply(xt[p], xt[q], out=terms[j])
    np.multiply(xt, np.where(usable, y, 0.0), out=terms[m: m + k])
    terms[-1] = usable
    refit = np.arange(0, n, every)
    last = refit - lag  # the newest pair each refit may use
    weights = np.zeros((len(refit), k))
    valid = last >= 0
    if valid.any():
        newest = last[valid]
        # with a window, the sums up to `window` bars before the newest pair come off: one pass for both
        first = newest - int(window) if window > 0 else np.empty(0, dtype=newest.dtype)
        inside = first >= 0
        points = np.union1d(newest, first[inside])
        prefix = _prefix_at(terms, points)
        sums = prefix[np.searchsorted(points, newest)]
        if inside.any():
            sums[inside] -= prefix[np.searchsorted(points, first[inside])]
        a = np.zeros((len(sums), k, k))
        a[:, upper[0], upper[1]] = sums[:, :m]
        a[:, upper[1], upper[0]] = sums[:, :m]
        fitted = sums[:, -1] > 0
        solved = np.zeros((len(sums), k))
        if fitted.any():
            solved[fitted] = np.linalg.solve(a[fitted] + ridge * np.eye(k), sums[fitted, m: m + k, None])[:, :, 0]
        weights[valid] = solved
    # each refit's weights hold until the next one
    return np.repeat(weights, every, axis=0)[:n]


def _prefix_at(terms: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(len(at), terms) sums of each row of ``terms`` (terms × bars) over bars 0..i for each i in ``at``
    (increasing)."""
    edges = np.concatenate(([0], at[:-1] + 1))
    return np.cumsum(np.add.reduceat(terms[:, : at[-1] + 1], edges, axis=1), axis=1).T


class MLEnsemble:
    """The other strategies and the as-issued day-ahead forecast, combined by weights fitted on past bars only."""

    name = "ml_ensemble"
    label = "ML ensemble"
    legs = 1
    defaults = MappingProxyType({"threshold": 0.05, "window": 0.0, "min_history": 2016.0})
    grid = MappingProxyType({"threshold": (0.0, 0.05, 0.1, 0.2, 0.3), "window": (0.0, 2016.0, 8064.0, 25920.0),
                             "min_history": (288.0, 2016.0, 8064.0)})

    def features(self, prices: pd.DataFrame) -> pd.DataFrame:
        """The features at each bar's close: the members' positions at their defaults and the forecast's
        direction (columns named after them)."""
        from engine.signals.registry import STRATEGIES  # the registry lists this strategy too: import on use

        rules.check_prices(self.name, prices, self.legs)
        _check_forecast(prices)
        out = {}
        for name in MEMBERS:
            member = STRATEGIES[name]
            if member.legs == 2 and "other" not in prices.columns:
                continue  # spread trading needs a second leg: left out on one series
            made = member.signals(prices, {p: [v] for p, v in member.defaults.items()})
            out[name] = np.nan_to_num(np.asarray(made.position, dtype=float)[:, 0])
        price = prices["price"].to_numpy(dtype=float)
        forecast = prices["forecast"].to_numpy(dtype=float)
        out[FORECAST_FEATURE] = np.nan_to_num(np.sign(forecast - price))
        return pd.DataFrame(out, index=prices.index)

    def signals(self, prices: pd.DataFrame, params: Mapping[str, Sequence[float] | float]) -> Signals:
        (price,) = rules.check_prices(self.name, prices, self.legs)
        _check_forecast(prices)
        combos = rules.parameter_rows(self.name, self.defaults, params)
        rules.check_range(self.name, combos, "threshold", 0.0, 0.99)
        rules.check_bars(self.name, combos, "window", 0)
        rules.check_bars(self.name, combos, "min_history", 0)
        x = self.features(prices).to_numpy()
        n = len(price)
        # the move a position decided at t earns: executed at t+1, held through bar t+1
        target = np.full(n, np.nan)
        if n > 2:
            target[:-2] = np.sign(price[2:] - price[1:-1])
        every = _bars_per_hour(prices.index)
        scores = {int(w): np.einsum("ij,ij->i", x, rolling_weights(x, target, int(w), lag=2, every=every))
                  for w in combos["window"].unique()}
        # filled as (combinations, bars), so each combination's bars are contiguous, and handed out transposed
        position = np.zeros((len(combos), n), dtype=np.int8)
        confidence = np.zeros((len(combos), n), dtype=np.float32)
        thresholds = combos["threshold"].to_numpy(dtype=np.float32)
        for (window, min_history), at in combos.groupby(["window", "min_history"], sort=False).indices.items():
            score = scores[int(window)]
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


def _bars_per_hour(index: pd.Index) -> int:
    """Weights are refitted once an hour of bars: the bars in an hour at the series' usual bar length."""
    if len(index) < 2:
        return 1
    step = float(np.median(np.diff(pd.DatetimeIndex(index).asi8)))  # nanoseconds
    return max(1, int(3.6e12 // step)) if step > 0 else 1
