"""The vectorised backtester: a strategy's target positions for every bar and parameter combination in, the
equity curves, trades and metrics out — NumPy over all bars and combinations at once.

The account (base.py states the electricity model): the target decided at the close of bar t is held from
bar t+1, bought or sold at bar t+1's price; a position is ``target × Book.size`` MW clipped to
``Book.max_position``. Every change of position is one order, paying ``fees × |MW × price| +
fees_per_mwh × |MW| + fixed_fees``. Cash = initial cash + the orders' cash flows; equity = cash + position ×
price, so each bar earns the MW held × the price change, and a long at negative prices is paid to take energy.

Orders fill as vectorbt's ``Portfolio.from_signals`` fills them, so a backtest here equals vectorbt's on
positive prices whatever the cash and fees: an order needing more cash than there is is scaled down to what
the cash pays for (fees included) and refused when not even the fixed fee is covered (or it would be smaller
than 1e-8 MW); a sale at a positive price whose fees exceed its proceeds is refused. A refused order is tried
again when the target changes (or, with ``asked``, where the signals asked again, as vectorbt does). The few
combinations this touches go through a loop over their orders; all others never leave NumPy.

Where vectorbt differs (it refuses prices <= 0 outright): at zero or negative prices every sale costs money,
so it goes through (cash allowing) rather than trap the position; short sales are not limited by cash (as in
vectorbt). A trade's return is its P&L over the absolute value it was entered at.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from engine.signals import metrics
from engine.signals.base import METRICS, Book, Signals

# vectorbt's tolerances (utils.math_): cash within them covers an order, and amounts within them are equal
_REL_TOL, _ABS_TOL = 1e-9, 1e-12
#: vectorbt's ``portfolio.min_size``: a scaled-down order smaller than this is refused
MIN_ORDER_MW = 1e-8
#: bars × combinations per block: the working arrays stay in cache and memory stays bounded on big grids
_BLOCK_ELEMENTS = 1 << 20

TRADE_COLUMNS = ("entry_time", "exit_time", "direction", "size_mw", "entry_price", "exit_price", "pnl", "fees",
                 "return")


def positions_from_entries_exits(entries, exits) -> np.ndarray:
    """Long-only target positions (1 held, 0 flat) from entry and exit signals, vectorbt's ``from_signals``
    rules: an entry opens when flat, an exit closes when long, repeats are ignored, and a bar with both is
    ignored. ``entries``, ``exits``: booleans, (bars,) or (bars, combos); the result has their shape."""
    entries, exits = np.asarray(entries), np.asarray(exits)
    if entries.dtype != bool or exits.dtype != bool:
        raise ValueError("entries and exits must be booleans")
    if entries.shape != exits.shape:
        raise ValueError(f"entries {entries.shape} and exits {exits.shape} differ in shape")
    state = np.where(entries & ~exits, 1.0, np.where(exits & ~entries, 0.0, np.nan))
    if state.size == 0:
        return np.zeros(state.shape)
    rows = np.arange(state.shape[0]).reshape((-1,) + (1,) * (state.ndim - 1))
    last = np.maximum.accumulate(np.where(np.isnan(state), -1, rows), axis=0)
    filled = np.take_along_axis(state, np.maximum(last, 0), axis=0)
    return np.where(last >= 0, filled, 0.0)


def _is_close(a, b) -> bool:
    return a == b or abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL)


def _add(a: float, b: float) -> float:
    """a + b, exactly 0 when they cancel within vectorbt's tolerance (as its ``add_nb``)."""
    return 0.0 if _is_close(a, -b) else a + b


@dataclass(frozen=True)
class _Orders:
    """Every order of a block of combinations, ordered by combination then bar."""
    combo: np.ndarray
    bar: np.ndarray
    before: np.ndarray  # MW held before the order
    after: np.ndarray
    price: np.ndarray
    fees: np.ndarray
    cash_flow: np.ndarray


def _orders(held: np.ndarray, price: np.ndarray, book: Book) -> _Orders:
    """``held``: MW per combination and bar (combos, bars); ``price``: (1 or combos, bars)."""
    # the flat positions of the changes, split into combination and bar: numpy's 2-D nonzero costs several
    # times more per bar than the comparison itself
    combo, bar = np.divmod(np.flatnonzero(held[:, 1:] != held[:, :-1]), held.shape[1] - 1)
    bar += 1
    before, after = held[combo, bar - 1], held[combo, bar]
    px = price[np.minimum(combo, price.shape[0] - 1), bar]
    traded = after - before
    value = traded * px
    fees = np.abs(value) * book.fees + np.abs(traded) * book.fees_per_mwh + book.fixed_fees
    return _Orders(combo, bar, before, after, px, fees, -value - fees)


def _cash(orders: _Orders, shape: tuple[int, int], init_cash: float) -> np.ndarray:
    """Cash after each bar (combos, bars): the orders' cash flows added one after another, as vectorbt does.

    The running sum goes over the orders only and is then held until the next order: adding the zeros of the
    bars without one would leave every sum as it is (it starts at the positive initial cash, so is never −0),
    and a running sum over every bar costs several times more than the rest of the backtest's passes."""
    combos, bars = shape
    counts = np.bincount(orders.combo, minlength=combos)
    width = int(counts.max(initial=0)) + 1
    # row per combination: the initial cash, then its orders' flows (orders come by combination, then bar)
    rank = np.arange(len(orders.combo)) - (np.cumsum(counts) - counts)[orders.combo] + 1
    sums = np.zeros((combos, width))
    sums[:, 0] = init_cash
    sums[orders.combo, rank] = orders.cash_flow
    np.cumsum(sums, axis=1, out=sums)
    starts = np.zeros((combos, width), dtype=np.int64)  # the bar each sum holds from
    starts[orders.combo, rank] = orders.bar
    starts += np.arange(combos)[:, None] * bars
    kept = np.arange(width) <= counts[:, None]
    starts = starts[kept]
    return np.repeat(sums[kept], np.diff(starts, append=combos * bars)).reshape(combos, bars)


def _first_unfilled(orders: _Orders, cash: np.ndarray) -> dict[int, int]:
    """The combinations with an order that cannot go through as asked — it needs more cash than there is
    before it, or it sells at a positive price for less than its fees — and the bar of the first such."""
    need = -orders.cash_flow
    there = cash[orders.combo, orders.bar - 1]
    short = need - there > np.maximum(_REL_TOL * np.maximum(np.abs(need), np.abs(there)), _ABS_TOL)
    proceeds = -orders.price * (orders.after - orders.before)
    unpaid = (orders.price > 0) & (orders.after < orders.before) & (
        orders.fees - proceeds > np.maximum(_REL_TOL * np.maximum(orders.fees, np.abs(proceeds)), _ABS_TOL))
    stuck = (need > 0) & short | unpaid
    combos, first = np.unique(orders.combo[stuck], return_index=True)
    return dict(zip(combos.tolist(), orders.bar[stuck][first].tolist(), strict=True))


@dataclass(frozen=True)
class _Filled:
    """How one combination's orders filled: MW held per bar, and the orders the cash scaled down (bar, fees,
    cash flow: all the cash there was, exactly, as vectorbt spends it)."""
    held: np.ndarray
    scaled_bars: np.ndarray
    scaled_fees: np.ndarray
    scaled_cash_flow: np.ndarray


def _held_as_filled(wanted: np.ndarray, price: np.ndarray, book: Book, first: int, cash: float,
                    asked: np.ndarray | None) -> _Filled:
    """MW held per bar when orders fill as vectorbt fills them (one combination, a loop over its orders from
    ``first``, the first that cannot go through as asked, with ``cash`` before it):

    - an order needing more cash than there is is scaled down to use all of it (fees included); one that
      cannot even pay the fixed fee, or would be smaller than MIN_ORDER_MW, is refused;
    - a sale at a positive price whose fees exceed its proceeds is refused (vectorbt's rule; at prices <= 0,
      which vectorbt refuses outright, every sale costs money and goes through);
    - a refused order is tried again where the target changes, or where ``asked`` (bars) says the signals
      asked again for it."""
    changed = wanted[first:] != wanted[first - 1:-1]
    if asked is not None:
        changed |= asked[first:]
    bars = (np.flatnonzero(changed) + first).tolist()
    targets, prices = wanted[bars].tolist(), price[bars].tolist()
    fees, per_mwh, fixed = book.fees, book.fees_per_mwh, book.fixed_fees
    position = float(wanted[first - 1])
    reached, scaled = [], []
    for bar, target, px in zip(bars, targets, prices, strict=True):
        traded = target - position
        if not _is_close(traded, 0.0):
            fee = abs(traded * px) * fees + abs(traded) * per_mwh + fixed
            need = traded * px + fee
            if traded < 0 < px and _add(-traded * px, -fee) < 0:
                traded = 0.0  # refused: the sale would not pay its fees
            elif need > 0 and not (need < cash or _is_close(need, cash)):
                side = 1.0 if traded > 0 else -1.0
                per_mw = side * px + abs(px) * fees + per_mwh
                budget = _add(cash, -fixed)
                if cash <= 0 or budget <= 0 or per_mw <= 0:
                    size = fee = 0.0
                elif side > 0 < px and per_mwh == 0:  # vectorbt's arithmetic, to the last bit
                    energy = budget / (1 + fees)
                    size, fee = energy / px, cash - energy
                else:
                    size = budget / per_mw
                    fee = cash - size * side * px
                if size < MIN_ORDER_MW and not _is_close(size, MIN_ORDER_MW):
                    traded = 0.0  # refused: the cash pays for (next to) nothing
                else:
                    traded = side * size
                    scaled.append((bar, fee, -cash))
                    cash = 0.0
            else:
                cash = _add(cash, -need)
            position = _add(position, traded)
        reached.append(position)
    held = wanted.copy()
    held[first:] = np.repeat(reached, np.diff([*bars, len(wanted)]))
    scaled_bars, scaled_fees, scaled_flows = (np.array(column) for column in zip(*scaled, strict=True)) if scaled \
        else (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
    return _Filled(held, scaled_bars.astype(np.int64), scaled_fees, scaled_flows)


@dataclass(frozen=True)
class _RoundTrips:
    """Trades of a block: one per round trip from flat (or a reversal) back to flat (or the next reversal)."""
    combo: np.ndarray
    entry_bar: np.ndarray
    exit_bar: np.ndarray  # -1: still open at the last bar
    direction: np.ndarray  # +1 long, -1 short
    size: np.ndarray  # largest MW held
    entry_price: np.ndarray
    exit_price: np.ndarray
    fees: np.ndarray
    pnl: np.ndarray
    ret: np.ndarray


def _round_trips(orders: _Orders, last_price: np.ndarray) -> _RoundTrips:
    """Orders grouped into trades, vectorised. A trade's P&L is (exit value − entry value) × direction − its
    fees, vectorbt's definition, so a trade in and out at one price with no fees is exactly 0 (neither won
    nor lost). A reversal's fees are split between the trade it closes and the one it opens by MW. An open
    trade is valued at the last price, without exit fees."""
    sign_before, sign_after = np.sign(orders.before), np.sign(orders.after)
    opens = (sign_after != 0) & (sign_after != sign_before)
    closes = (sign_before != 0) & (sign_after != sign_before)
    partial = (sign_before != 0) & (sign_after == sign_before)
    trade = np.cumsum(opens) - 1  # the trade each order's new position belongs to
    closed_trade = trade - opens  # the trade each closing order ends
    count = int(opens.sum())
    traded = np.abs(orders.after - orders.before)
    flip = opens & closes
    with np.errstate(divide="ignore", invalid="ignore"):
        to_new = np.where(flip, np.abs(orders.after) / traded, 1.0)
        to_old = np.where(flip, np.abs(orders.before) / traded, 1.0)
    added = np.where(partial, np.maximum(sign_before * (orders.after - orders.before), 0.0), 0.0)
    removed = np.where(partial, np.maximum(sign_before * (orders.before - orders.after), 0.0), 0.0)

    def per_trade(where: np.ndarray, of: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.bincount(of[where], weights=weights[where], minlength=count)

    opened_mw = np.abs(orders.after)
    closed_mw = np.abs(orders.before)
    in_mw = per_trade(opens, trade, opened_mw) + per_trade(partial, trade, added)
    in_value = per_trade(opens, trade, opened_mw * orders.price) + per_trade(partial, trade, added * orders.price)
    out_mw = per_trade(closes, closed_trade, closed_mw) + per_trade(partial, trade, removed)
    out_value = (per_trade(closes, closed_trade, closed_mw * orders.price)
                 + per_trade(partial, trade, removed * orders.price))
    entry_fees = per_trade(opens, trade, orders.fees * to_new) + per_trade(partial & (added > 0), trade,
                                                                             orders.fees)
    exit_fees = per_trade(closes, closed_trade, orders.fees * to_old) + per_trade(partial & (removed > 0), trade,
                                                                                 orders.fees)
    combo = orders.combo[opens]
    exit_bar = np.full(count, -1, dtype=np.int64)
    exit_bar[closed_trade[closes]] = orders.bar[closes]
    still_open = exit_bar < 0
    remaining = in_mw - out_mw
    out_value = out_value + np.where(still_open, remaining * last_price[combo], 0.0)
    out_mw = np.where(still_open, in_mw, out_mw)
    direction = sign_after[opens]
    difference = out_value - in_value
    cancels = np.abs(difference) <= np.maximum(_REL_TOL * np.maximum(np.abs(out_value), np.abs(in_value)), _ABS_TOL)
    pnl = np.where(cancels, 0.0, difference) * direction - entry_fees - exit_fees
    starts = np.flatnonzero(opens)
    size = np.maximum.reduceat(opened_mw, starts) if count else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _RoundTrips(combo=combo, entry_bar=orders.bar[opens], exit_bar=exit_bar, direction=direction,
                           size=size, entry_price=in_value / in_mw, exit_price=out_value / out_mw,
                           fees=entry_fees + exit_fees, pnl=pnl, ret=pnl / np.abs(in_value))


@dataclass(frozen=True)
class _Block:
    """The simulation of some combinations, one row each: MW held and price per bar, orders, cash."""
    held: np.ndarray
    price: np.ndarray
    orders: _Orders
    cash: np.ndarray

    @property
    def equity(self) -> np.ndarray:
        return self.cash + self.held * self.price


class BacktestResult:
    """A backtest of every parameter combination of a strategy's signals.

    ``metrics``: one row per combination (index: ``params``' rows), columns ``base.METRICS``; ``equity`` and
    ``position`` (bars, combos): equity after each bar and MW held during it; ``trades(combo)`` and
    ``drawdown(combo)`` for one combination. Curves are rebuilt from the signals when first asked for, so a
    big grid costs only its metrics."""

    def __init__(self, signals: Signals, book: Book, freq: pd.Timedelta):
        self._signals, self.book, self.freq = signals, book, pd.Timedelta(freq)
        self._filled: dict[int, _Filled] = {}  # combinations whose orders did not all fill as asked
        self.index: pd.DatetimeIndex = signals.index
        self.params: pd.DataFrame = signals.params
        self.metrics: pd.DataFrame | None = None  # filled by run

    @property
    def combos(self) -> int:
        return self._signals.position.shape[1]

    def _block(self, lo: int, hi: int) -> _Block:
        held = _wanted(self._signals, self.book, lo, hi)
        filled = {combo - lo: f for combo, f in self._filled.items() if lo <= combo < hi}
        for row, f in filled.items():
            held[row] = f.held
        price = _traded(self._signals, lo, hi)
        orders = _orders(held, price, self.book)
        for row, f in filled.items():
            at = np.searchsorted(orders.combo * held.shape[1] + orders.bar, row * held.shape[1] + f.scaled_bars)
            orders.fees[at], orders.cash_flow[at] = f.scaled_fees, f.scaled_cash_flow
        return _Block(held, price, orders, _cash(orders, held.shape, self.book.init_cash))

    @cached_property
    def position(self) -> np.ndarray:
        return np.vstack([self._block(lo, hi).held for lo, hi in _blocks(self._signals)]).T

    @cached_property
    def equity(self) -> np.ndarray:
        return np.vstack([self._block(lo, hi).equity for lo, hi in _blocks(self._signals)]).T

    def _combo(self, combo: int) -> _Block:
        if not 0 <= combo < self.combos:
            raise IndexError(f"combination {combo} out of range: there are {self.combos}")
        return self._block(combo, combo + 1)

    def drawdown(self, combo: int = 0) -> np.ndarray:
        """Fraction of equity below its running peak (<= 0) at each bar."""
        return metrics.drawdown(self._combo(combo).equity[0])

    def trades(self, combo: int = 0) -> pd.DataFrame:
        """One row per trade (columns TRADE_COLUMNS); an open trade has no exit time and is valued at the last
        price."""
        block = self._combo(combo)
        trips = _round_trips(block.orders, block.price[-1:, -1])
        times = self.index
        # NaT for the open trade; nanoseconds, as the times of a list of Timestamps were
        exit_time = times[np.maximum(trips.exit_bar, 0)].where(trips.exit_bar >= 0).as_unit("ns")
        return pd.DataFrame({
            "entry_time": times[trips.entry_bar], "exit_time": exit_time,
            "direction": np.where(trips.direction > 0, "long", "short"), "size_mw": trips.size,
            "entry_price": trips.entry_price, "exit_price": trips.exit_price, "pnl": trips.pnl,
            "fees": trips.fees, "return": trips.ret}, columns=list(TRADE_COLUMNS))


def _blocks(signals: Signals) -> list[tuple[int, int]]:
    bars, combos = signals.position.shape
    step = max(1, _BLOCK_ELEMENTS // max(bars, 1))
    return [(lo, min(lo + step, combos)) for lo in range(0, combos, step)]


def _wanted(signals: Signals, book: Book, lo: int, hi: int) -> np.ndarray:
    """MW the targets ask to hold during each bar (combos, bars): decided at the previous bar's close."""
    target = signals.position[:, lo:hi]
    held = np.empty((hi - lo, target.shape[0]))
    held[:, 0] = 0.0
    np.multiply(target[:-1].T, book.size, out=held[:, 1:])
    last = target[-1]
    if not (held.max() <= book.size and held.min() >= -book.size and (np.abs(last) <= 1).all()):  # NaN fails
        bad = ~(np.abs(target) <= 1).all(axis=1)
        raise ValueError(f"target positions must be within [-1, 1]: at {signals.index[int(np.argmax(bad))]} "
                         "they are not")
    if book.max_position is not None:
        np.clip(held, -book.max_position, book.max_position, out=held)
    return held


def _traded(signals: Signals, lo: int, hi: int) -> np.ndarray:
    """Price of what the positions hold (1 or combos, bars)."""
    traded = np.asarray(signals.traded, dtype=float)
    if traded.ndim == 1 or traded.shape[1] == 1:
        return traded.reshape(1, -1)
    return np.ascontiguousarray(traded[:, lo:hi].T)


def _check(signals: Signals, book: Book) -> None:
    position, traded = signals.position, np.asarray(signals.traded)
    bars = len(signals.index)
    if not isinstance(position, np.ndarray) or position.ndim != 2 or position.shape[0] != bars:
        raise ValueError(f"positions must be an array (bars, combos) = ({bars}, …), not {np.shape(position)}")
    if position.shape[1] != len(signals.params):
        raise ValueError(f"{position.shape[1]} position columns but {len(signals.params)} parameter rows")
    if bars < 2:
        raise ValueError("a backtest needs at least two bars")
    if traded.shape not in ((bars,), (bars, 1), position.shape):
        raise ValueError(f"traded prices must be (bars,) or (bars, combos), not {traded.shape}")
    bad_price = ~np.isfinite(traded)
    if bad_price.any():
        bar = int(np.argmax(bad_price.reshape(bars, -1).any(axis=1)))
        raise ValueError(f"traded price missing or not finite at {signals.index[bar]}")
    if book.size <= 0 or book.init_cash <= 0:
        raise ValueError("the book's size and initial cash must be positive")
    if min(book.fees, book.fees_per_mwh, book.fixed_fees) < 0:
        raise ValueError("fees cannot be negative")
    if book.max_position is not None and book.max_position < 0:
        raise ValueError("the position limit cannot be negative")


def signal_bars(entries, exits) -> np.ndarray:
    """Bars with exactly one of an entry and an exit: where vectorbt's from_signals asks for its position
    again (a bar with both is ignored). Pass as ``run``'s ``asked`` with positions_from_entries_exits."""
    return np.asarray(entries, dtype=bool) ^ np.asarray(exits, dtype=bool)


def run(signals: Signals, book: Book, freq: pd.Timedelta, asked: np.ndarray | None = None) -> BacktestResult:
    """Backtest every combination of ``signals`` on ``book``; ``freq``: the bar length (annualisation).

    ``asked`` (bars, combos), optional: the bars at whose close the signals asked again for their target,
    where an order refused earlier is tried again the bar after (vectorbt retries only at a repeated entry or
    exit: see signal_bars); by default a refused order is tried again only when the target changes."""
    _check(signals, book)
    if asked is not None and np.shape(asked) != signals.position.shape:
        raise ValueError(f"asked must have the positions' shape {signals.position.shape}, not {np.shape(asked)}")
    per_year = metrics.bars_per_year(freq)
    result = BacktestResult(signals, book, freq)
    columns: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    for lo, hi in _blocks(signals):
        block = result._block(lo, hi)
        unfilled = _first_unfilled(block.orders, block.cash)
        for combo, first in unfilled.items():
            price = block.price[min(combo, block.price.shape[0] - 1)]
            again = None
            if asked is not None:  # decided at a close, tried the bar after
                again = np.zeros(len(price), dtype=bool)
                again[1:] = np.asarray(asked)[:-1, lo + combo]
            result._filled[lo + combo] = _held_as_filled(block.held[combo], price, book, first,
                                                           float(block.cash[combo, first - 1]), again)
        if unfilled:
            block = result._block(lo, hi)
        for name, value in _block_metrics(block, book, per_year).items():
            columns[name].append(value)
    result.metrics = pd.DataFrame({name: np.concatenate(values) for name, values in columns.items()},
                                  index=signals.params.index, columns=list(METRICS))
    return result


def _block_metrics(block: _Block, book: Book, per_year: float) -> dict[str, np.ndarray]:
    combos = block.held.shape[0]
    equity = block.cash  # turned into equity in place: the cash is not needed any more
    equity += np.multiply(block.held, block.price)
    bar_returns = metrics.returns(equity, book.init_cash)
    sharpe, sortino = metrics.sharpe_sortino(bar_returns, per_year)
    del bar_returns
    pnl = equity[:, -1] - book.init_cash
    trips = _round_trips(block.orders, np.broadcast_to(block.price[:, -1], (combos,)))
    closed = trips.exit_bar >= 0
    return {
        "pnl": pnl, "total_return": pnl / book.init_cash, "sharpe": sharpe, "sortino": sortino,
        "max_drawdown": metrics.max_drawdown(equity),
        "win_rate": metrics.win_rate(trips.pnl[closed], trips.combo[closed], combos),
        "profit_factor": metrics.profit_factor(trips.pnl[closed], trips.combo[closed], combos),
        "exposure": metrics.exposure(block.held),
        "trades": np.bincount(trips.combo, minlength=combos),
    }
