"""One call each for what a trader asks of a strategy: a backtest, a parameter heatmap, a walk-forward
evaluation, and a side-by-side comparison of strategies.

Strategies decide at each bar's close from that bar and earlier ones (base.Strategy), so a grid's signals
are computed once over the whole series and sliced per window: a slice is what the strategy would have said
with only the data up to then. Big grids are computed in slices of the first parameter's values, so memory
stays bounded (bars × combinations × 8 bytes per array otherwise: 320 MB for 400 combinations of a year of
5-minute bars).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from engine.signals.backtest import BacktestResult, run
from engine.signals.base import METRICS, Book, Signals, Strategy, combinations

#: bars × combinations per call of a strategy: bounds the signals' memory on big grids
GRID_ELEMENTS = 1 << 22


def parameters(strategy: Strategy, params: Mapping[str, object] | None = None) -> dict[str, list[float]]:
    """Values per parameter: ``params`` (a value or a list each) over the strategy's defaults."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(strategy.defaults))
    if unknown:
        raise ValueError(f"{strategy.name} has no parameter {', '.join(unknown)}; "
                         f"it has {', '.join(strategy.defaults)}")
    out = {}
    for name, default in strategy.defaults.items():
        values = np.atleast_1d(np.asarray(params.get(name, default), dtype=float))
        if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
            raise ValueError(f"{strategy.name}: {name} needs one or more finite numbers")
        out[name] = values.tolist()
    return out


def _check_prices(strategy: Strategy, prices: pd.DataFrame) -> None:
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise ValueError("prices must be indexed by time")
    needed = ["price", "other"][: strategy.legs]
    missing = [column for column in needed if column not in prices.columns]
    if missing:
        raise ValueError(f"{strategy.name} needs the price column(s) {', '.join(missing)}")


def backtest(strategy: Strategy, prices: pd.DataFrame, params: Mapping[str, object] | None, book: Book,
             freq: pd.Timedelta) -> BacktestResult:
    """Every combination of ``params`` (missing ones at their defaults), backtested in one vectorised run."""
    _check_prices(strategy, prices)
    return run(strategy.signals(prices, parameters(strategy, params)), book, freq)


def _in_slices(strategy: Strategy, prices: pd.DataFrame, values: dict[str, list[float]]) -> Iterator[Signals]:
    """The strategy's signals for every combination of ``values``, in the order of base.combinations, a slice
    of the first parameter's values at a time."""
    first = next(iter(values))
    per_value = len(combinations(values)) // len(values[first])
    step = max(1, GRID_ELEMENTS // max(1, len(prices) * per_value))
    for lo in range(0, len(values[first]), step):
        yield strategy.signals(prices, {**values, first: values[first][lo:lo + step]})


def _window(signals: Signals, start: int, stop: int) -> Signals:
    """The signals of bars [start, stop), as if the backtest began at ``start``."""
    return replace(signals, index=signals.index[start:stop], position=signals.position[start:stop],
                   confidence=signals.confidence[start:stop], traded=np.asarray(signals.traded)[start:stop])


def heatmap(strategy: Strategy, prices: pd.DataFrame, book: Book, freq: pd.Timedelta, x: str, y: str,
            metric: str = "sharpe", grid: Mapping[str, Sequence[float]] | None = None) -> pd.DataFrame:
    """``metric`` over the grid of ``x`` × ``y`` (values from ``grid``, else the strategy's own grid), the
    other parameters at their defaults: one row per ``y`` value, one column per ``x`` value."""
    _check_prices(strategy, prices)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")
    if x == y or x not in strategy.defaults or y not in strategy.defaults:
        raise ValueError(f"x and y must be two different parameters of {strategy.name}: "
                         f"{', '.join(strategy.defaults)}")
    axes = {**strategy.grid, **(grid or {})}
    values = parameters(strategy, {x: axes[x], y: axes[y]})
    values = {x: values[x], y: values[y], **{k: v for k, v in values.items() if k not in (x, y)}}
    results = [run(signals, book, freq) for signals in _in_slices(strategy, prices, values)]
    scores = pd.concat([pd.concat([r.params[[x, y]].reset_index(drop=True), r.metrics[metric].reset_index(drop=True)
                                   .astype(float)], axis=1) for r in results])
    table = scores.pivot_table(index=y, columns=x, values=metric, aggfunc="first", dropna=False)
    return table.reindex(index=pd.Index(values[y], name=y), columns=pd.Index(values[x], name=x))


@dataclass(frozen=True)
class WalkForward:
    """Walk-forward evaluation: per fold (``folds``: train_start, train_end, test_start, test_end — first and
    last bar of each window —, the chosen parameters, ``in_sample`` and ``out_of_sample`` ``metric``) and the
    out-of-sample equity of every fold stitched together (each fold's P&L added to the previous fold's end)."""
    metric: str
    folds: pd.DataFrame
    equity: pd.Series


def walk_forward(strategy: Strategy, prices: pd.DataFrame, book: Book, freq: pd.Timedelta, train_bars: int,
                 test_bars: int, metric: str = "sharpe",
                 grid: Mapping[str, Sequence[float]] | None = None) -> WalkForward:
    """For each fold: pick the combination of ``grid`` (else the strategy's grid) with the best ``metric``
    over ``train_bars`` bars, then trade it over the next ``test_bars`` bars; folds step by ``test_bars``.
    Each window starts flat with the book's initial cash."""
    _check_prices(strategy, prices)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")
    if train_bars < 2 or test_bars < 2:
        raise ValueError("train and test windows need at least two bars each")
    starts = range(0, len(prices) - train_bars - test_bars + 1, test_bars)
    if not starts:
        raise ValueError(f"{len(prices)} bars hold no fold of {train_bars} + {test_bars} bars")
    values = parameters(strategy, {**strategy.grid, **(grid or {})})
    scores, tried = [], []  # per slice of the grid: (folds, combinations) in-sample metric, their parameters
    for signals in _in_slices(strategy, prices, values):
        scores.append(np.array([run(_window(signals, s, s + train_bars), book, freq).metrics[metric]
                                for s in starts], dtype=float))
        tried.append(signals.params[list(values)])
    in_sample = np.concatenate(scores, axis=1)
    best = np.argmax(np.where(np.isnan(in_sample), -np.inf, in_sample), axis=1)
    tried_rows = pd.concat(tried, ignore_index=True)
    chosen = {row: strategy.signals(prices, {name: [tried_rows[name].iat[row]] for name in values})
              for row in np.unique(best)}
    rows, pieces, end = [], [], book.init_cash
    for fold, s in enumerate(starts):
        test = run(_window(chosen[best[fold]], s + train_bars, s + train_bars + test_bars), book, freq)
        pieces.append(pd.Series(test.equity[:, 0] - book.init_cash + end, index=test.index))
        end = pieces[-1].iloc[-1]
        rows.append({"train_start": prices.index[s], "train_end": prices.index[s + train_bars - 1],
                     "test_start": test.index[0], "test_end": test.index[-1],
                     **tried_rows.iloc[best[fold]].to_dict(), "in_sample": in_sample[fold, best[fold]],
                     "out_of_sample": float(test.metrics[metric].iat[0])})
    return WalkForward(metric=metric, folds=pd.DataFrame(rows), equity=pd.concat(pieces).rename("equity"))


def compare(strategies: Mapping[str, Strategy] | Iterable[Strategy], prices: pd.DataFrame, book: Book,
            freq: pd.Timedelta) -> pd.DataFrame:
    """One row per strategy (index: its name) at its defaults, columns base.METRICS. A strategy built on others
    (``members``: their names, e.g. the ML ensemble) is handed their signals when they are compared too, so
    each is computed once."""
    chosen = list(strategies.values()) if isinstance(strategies, Mapping) else list(strategies)
    made: dict[str, Signals] = {}
    # strategies without members first, so that their signals are there for the ones built on them
    for strategy in sorted(chosen, key=lambda s: bool(getattr(s, "members", ()))):
        _check_prices(strategy, prices)
        values = parameters(strategy)
        wanted = getattr(strategy, "members", ())
        given = {name: made[name] for name in wanted if name in made}
        made[strategy.name] = (strategy.signals(prices, values, members=given) if wanted
                               else strategy.signals(prices, values))
    table = pd.concat([run(made[s.name], book, freq).metrics.iloc[:1] for s in chosen])
    table.index = pd.Index([s.name for s in chosen], name="strategy")
    return table
