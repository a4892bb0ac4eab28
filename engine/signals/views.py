"""The signals page as typed results: which market, locations, dates and strategy it opens on; the check of every
value a browser sends (strategy parameters and the account, field by field); a backtest (its prices loaded
apart, so that a change of parameters reuses them), the strategies side by side, a parameter heatmap and a
walk-forward (engine.signals.evaluate); each strategy's live record (engine.signals.record) and the live signal
with the order it asks for. The page's callbacks only shape what these return."""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import overview, queries
from engine.markets import TZ_CHOICES
from engine.overview import Pick
from engine.signals import backtest, evaluate, metrics, record, registry, series
from engine.signals.base import METRIC_KINDS, METRICS, Book
from engine.store import Store

#: Days a page opens on: the latest stored.
DEFAULT_DAYS = 90
#: The longest range a page backtests (two years of 5-minute bars is 210,000 bars).
MAX_DAYS = 731
#: Walk-forward windows the page offers: (train days, test days).
WALK_FORWARD_WINDOWS = ((30, 7), (60, 14), (90, 30), (180, 30))
#: The account's fields as the page names them → (label, lowest allowed, highest allowed, default).
BOOK_FIELDS: dict[str, tuple[str, float, float, float]] = {
    "size_mw": ("Size (MW)", 0.001, 10_000.0, 1.0),
    "init_cash": ("Initial capital", 1.0, 1e12, 100_000.0),
    "fee_per_mwh": ("Fee per MWh", 0.0, 1_000.0, 0.0),
    "fee_per_trade": ("Fee per trade", 0.0, 1e6, 0.0),
    "fee_pct": ("Fee (% of traded value)", 0.0, 10.0, 0.0),
}
#: A parameter's value from a browser: any finite number within this (a lookback of a billion bars is a typo).
PARAM_LIMIT = 1e7


class ChoiceError(queries.QueryError):
    """Values a browser sent that cannot be backtested: ``fields`` maps each bad control (a parameter's name or a
    BOOK_FIELDS key) to what is wrong with it; the message says it all in one line."""

    def __init__(self, fields: Mapping[str, str], message: str | None = None):
        self.fields = dict(fields)
        super().__init__(message or "; ".join(f"{name}: {why}" for name, why in self.fields.items()))


# ------------------------------------------------------------------------------------------------ checks


def strategy_label(name: str) -> str:
    return registry.STRATEGIES[name].label


def strategy_defaults(name: str) -> dict[str, float]:
    """The strategy's parameters at their defaults; a QueryError for a strategy not offered."""
    check_choice(strategy=name)
    return {key: float(value) for key, value in registry.STRATEGIES[name].defaults.items()}


def check_choice(market: object = None, location: object = None, other: object = None, start_date: object = None,
                 end_date: object = None, strategy: object = None, tz_choice: object = None,
                 metric: object = None, window: object = None) -> None:
    """The signals page's one check of what a browser sent: a QueryError naming the first bad value. None or ""
    stands for a control not chosen yet."""
    if market not in (None, ""):
        queries.known_market(market)
    for value, what in ((location, "location"), (other, "second location")):
        if value not in (None, ""):
            queries.checked_name(value, what)
    for value, what in ((start_date, "start date"), (end_date, "end date")):
        if value not in (None, ""):
            queries.checked_date(value, what)
    if strategy not in (None, "") and (not isinstance(strategy, str) or strategy not in registry.STRATEGIES):
        raise queries.QueryError(f"strategy must be one of {', '.join(registry.STRATEGIES)} (got "
                                 f"{queries.shown(strategy)})")
    if tz_choice not in (None, "", *TZ_CHOICES):
        raise queries.QueryError(f"time zone must be one of {', '.join(TZ_CHOICES)} (got {queries.shown(tz_choice)})")
    if metric not in (None, "") and (not isinstance(metric, str) or metric not in METRICS):
        raise queries.QueryError(f"metric must be one of {', '.join(METRICS)} (got {queries.shown(metric)})")
    if window not in (None, "") and (not isinstance(window, str)
                                     or window not in {_window_value(w) for w in WALK_FORWARD_WINDOWS}):
        raise queries.QueryError(f"walk-forward windows must be one of "
                                 f"{', '.join(_window_value(w) for w in WALK_FORWARD_WINDOWS)} (got "
                                 f"{queries.shown(window)})")


def _window_value(window: tuple[int, int]) -> str:
    return f"{window[0]}/{window[1]}"


def window_options() -> list[tuple[str, str]]:
    """(label, value) of each walk-forward window the page offers."""
    return [(f"train {t} days, test {s} days", _window_value((t, s))) for t, s in WALK_FORWARD_WINDOWS]


#: What the page's heatmap and walk-forward open on (and warming computes ahead).
OPENING_METRIC = "sharpe"
OPENING_WINDOW = window_options()[1][1]


def _number(value: object) -> float | None:
    """A finite number from a request, else None (text, booleans, objects, NaN and infinities are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def checked_params(strategy: str, values: object) -> dict[str, float]:
    """The strategy's parameters from a request: ``values`` maps names to numbers (a missing name takes its
    default). A ChoiceError naming each parameter that is not a finite number, or that the strategy has not."""
    defaults = registry.STRATEGIES[strategy].defaults
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ChoiceError({"parameters": f"must be a mapping of names to numbers (got {type(values).__name__})"})
    problems, chosen = {}, {}
    for name, value in values.items():
        if name not in defaults:
            problems[str(name)[:40]] = f"is not a parameter of {strategy} (it has {', '.join(defaults)})"
            continue
        number = _number(value)
        if number is None:
            problems[name] = "enter a number"
        elif abs(number) > PARAM_LIMIT:
            problems[name] = f"must be within ±{PARAM_LIMIT:,.0f}"
        else:
            chosen[name] = number
    if problems:
        raise ChoiceError(problems)
    return {name: chosen.get(name, float(default)) for name, default in defaults.items()}


def checked_book(values: object) -> Book:
    """The account from a request (BOOK_FIELDS: size in MW, initial capital, fees; a missing field takes its
    default); a ChoiceError naming each field out of its range."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ChoiceError({"account": f"must be a mapping of fields to numbers (got {type(values).__name__})"})
    problems, chosen = {}, {}
    for name in values:
        if name not in BOOK_FIELDS:
            problems[str(name)[:40]] = f"is not a field of the account ({', '.join(BOOK_FIELDS)})"
    for name, (label, low, high, default) in BOOK_FIELDS.items():
        value = values.get(name, default)
        number = _number(value)
        if number is None:
            problems[name] = f"{label}: enter a number"
        elif not low <= number <= high:
            problems[name] = f"{label} must be between {low:g} and {high:g}"
        else:
            chosen[name] = number
    if problems:
        raise ChoiceError(problems)
    return Book(size=chosen["size_mw"], init_cash=chosen["init_cash"], fees=chosen["fee_pct"] / 100,
                fees_per_mwh=chosen["fee_per_mwh"], fixed_fees=chosen["fee_per_trade"])


def _range(market: str, start_date: object, end_date: object) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Market days, both inclusive, as UTC instants (end exclusive), at most MAX_DAYS."""
    info = queries.known_market(market)
    first = queries.checked_date(start_date, "start date")
    last = queries.checked_date(end_date, "end date")
    if last < first:
        raise queries.QueryError(f"end date ({last}) is before start date ({first})")
    if (last - first).days + 1 > MAX_DAYS:
        raise queries.QueryError(f"a backtest may span at most {MAX_DAYS} days (asked {(last - first).days + 1})")
    return queries.parse_range(info, first, last + dt.timedelta(days=1))


# ------------------------------------------------------------------------------------------------ choices


@dataclass(frozen=True)
class Choice:
    """What the page opens on."""
    market: Pick
    location: Pick
    other: Pick  # the second location offered for spread trading (the chosen location left out)
    strategy: Pick
    dates: overview.Dates | None
    notes: tuple[str, ...] = ()


def _pick(asked: str | None, offered: list[str]) -> Pick:
    return Pick(tuple(offered), asked if asked in offered else (offered[0] if offered else None))


def locations(store: Store, market: str | None, current: str | None = None) -> Pick:
    """The market's locations with prices, holding ``current`` if the market has it, else the first."""
    check_choice(market, current)
    return _pick(current, queries.price_locations(store, market) if market else [])


def other_locations(store: Store, market: str | None, location: str | None, current: str | None = None) -> Pick:
    """The second locations a spread may be traded against: the market's others, ``current`` kept if offered."""
    check_choice(market, location, current)
    offered = [p for p in (queries.price_locations(store, market) if market else []) if p != location]
    return _pick(current, offered)


def stored_dates(store: Store, market: str, location: str, start: str | None = None,
                 end: str | None = None) -> overview.Dates | None:
    """The location's stored span and the days to show: the chosen ones while they hold data (one end alone
    as a link may give it: overview.asked_dates), else the latest DEFAULT_DAYS."""
    check_choice(market, location, start_date=start, end_date=end)
    latest = _latest_dates(store, market, location)
    if latest is None or not (start or end):
        return latest
    return overview.asked_dates(start or None, end or None, latest, DEFAULT_DAYS) or latest


def _latest_dates(store: Store, market: str, location: str) -> overview.Dates | None:
    span = queries.data_span(store, market, location)
    if span is None:
        return None
    tz = queries.known_market(market).tz
    first, last = (t.tz_convert(tz).date() for t in span)
    return overview.Dates(max(first, last - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat(), last.isoformat(),
                          first.isoformat(), last.isoformat())


def initial_choice(store: Store, market: str | None = None, location: str | None = None, other: str | None = None,
                   strategy: str | None = None, start: str | None = None, end: str | None = None) -> Choice:
    """The view a page opens on: what a link asked for where the store holds it, the defaults otherwise (with a
    note saying what was passed over)."""
    notes: list[str] = []

    def pick(asked: str | None, offered: list[str], what: str) -> Pick:
        chosen = _pick(asked, offered)
        if asked is not None and asked != chosen.chosen:
            notes.append(f"No {what} {queries.shown(asked)} is offered; showing {chosen.chosen or 'nothing'}.")
        return chosen

    markets = pick(market, queries.markets_with_prices(store), "market")
    places = pick(location, queries.price_locations(store, markets.chosen) if markets.chosen else [],
                  f"{markets.chosen} location")
    others = [p for p in (queries.price_locations(store, markets.chosen) if markets.chosen else [])
              if p != places.chosen]
    second = Pick(tuple(others), other if other in others else None)  # none unless asked: only spreads need one
    if other is not None and second.chosen is None:
        notes.append(f"No second location {queries.shown(other)} is offered; showing none.")
    strategies = pick(strategy, list(registry.STRATEGIES), "strategy")
    dates = _latest_dates(store, markets.chosen, places.chosen) if places.chosen else None
    if dates is not None and (start is not None or end is not None):
        dates, said = overview.linked_dates(start, end, dates, DEFAULT_DAYS)
        notes.extend(said)
    return Choice(markets, places, second, strategies, dates, tuple(notes))


# ------------------------------------------------------------------------------------------------ backtest


@dataclass(frozen=True)
class BacktestView:
    """One backtest as the page draws it. ``times``: UTC start of each bar; ``traded``: the price of one unit of
    what is held (the price, or the hedged spread's value); ``equity``, ``drawdown`` and ``position`` (MW) per
    bar; ``trades`` as BacktestResult.trades; ``metrics`` by METRICS."""
    market: str
    location: str
    other: str | None
    strategy: str
    label: str
    params: dict
    book: Book
    currency: str
    tz: str
    tz_label: str
    freq: pd.Timedelta
    series_label: str
    times: pd.DatetimeIndex
    traded: np.ndarray
    equity: np.ndarray
    drawdown: np.ndarray
    position: np.ndarray
    trades: pd.DataFrame
    metrics: pd.Series
    is_demo: bool = False
    notes: tuple[str, ...] = ()

    @property
    def traded_name(self) -> str:
        return f"Spread {self.location} − hedge × {self.other}" if self.other else f"{self.location} price"


def _load(store: Store, market: str, location: str, other: str | None, start_date: object, end_date: object,
          with_forecast: bool, read: queries.Reader | None = None) -> series.PriceSeries:
    start, end = _range(market, start_date, end_date)
    loaded = series.load_prices(store, market, location, start, end, other=other or None, with_forecast=with_forecast,
                                read=read)
    if loaded.frame.empty:
        raise queries.QueryError(f"no {market} {location} prices are stored between {start_date} and {end_date}")
    return loaded


_NAMED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _strategy_error(exc: ValueError, params: Mapping[str, float]) -> ChoiceError:
    """A strategy's refusal (ValueError) as the page shows it: beside each parameter its message names."""
    message = str(exc)
    words = set(_NAMED.findall(message))
    named = [name for name in params if name in words]
    return ChoiceError({name: message for name in named} or {"parameters": message}, message)


def _needs(strategy: str, other: str | None) -> None:
    if registry.STRATEGIES[strategy].legs == 2 and not other:
        raise ChoiceError({"other": "spread trading needs a second location"},
                          f"{strategy_label(strategy)} trades two series: choose a second location")


def backtest_prices(store: Store, market: str, location: str, other: str | None, start_date: str, end_date: str,
                    strategy: str, *, read: queries.Reader | None = None) -> series.PriceSeries:
    """The prices a backtest of ``strategy`` reads over the days chosen (market time, both inclusive): the second
    location for spread trading (and for the ML ensemble's spread member when one is chosen), the as-issued
    forecast for the ML ensemble. Loaded apart from the backtest so that a change of parameters reuses them."""
    check_choice(market, location, other, start_date, end_date, strategy)
    _needs(strategy, other)
    return _load(store, market, location, other if _reads_other(strategy) else None, start_date, end_date,
                 with_forecast=strategy == "ml_ensemble", read=read)


def _reads_other(strategy: str) -> bool:
    return registry.STRATEGIES[strategy].legs == 2 or strategy == "ml_ensemble"


def backtest_view(prices: series.PriceSeries, strategy: str, params: object = None, book: object = None,
                  tz_choice: str = "market") -> BacktestView:
    """The strategy's backtest on ``prices`` (backtest_prices) with the chosen parameters and account. A ChoiceError
    for bad parameters or account (each named), a QueryError for any other value refused."""
    check_choice(strategy=strategy, tz_choice=tz_choice)
    chosen, account = checked_params(strategy, params), checked_book(book)
    try:
        signals = registry.STRATEGIES[strategy].signals(prices.frame, {k: [v] for k, v in chosen.items()})
        result = backtest.run(signals, account, prices.freq)
    except ValueError as exc:
        raise _strategy_error(exc, chosen) from None
    info = queries.known_market(prices.market)
    traded = np.asarray(signals.traded, dtype=float)
    equity = np.asarray(result.equity, dtype=float)[:, 0]
    return BacktestView(
        prices.market, prices.location, prices.other, strategy, strategy_label(strategy), chosen, account,
        info.currency, info.display_zone(tz_choice), info.display_label(tz_choice), prices.freq, prices.label,
        pd.DatetimeIndex(result.index), traded[:, 0] if traded.ndim == 2 else traded, equity,
        metrics.drawdown(equity), np.asarray(result.position, dtype=float)[:, 0], result.trades(0),
        result.metrics.iloc[0][list(METRICS)], prices.is_demo,
        prices_notes(prices, strategy) + wiped_out_note(result.index, equity, info.currency,
                                                        info.display_zone(tz_choice), info.display_label(tz_choice)))


def wiped_out_note(times: pd.Index, equity: np.ndarray, currency: str, tz: str, tz_label: str) -> tuple[str, ...]:
    """Why Sharpe and Sortino are undefined when the account's equity ended a bar before the last at or below 0
    (engine.signals.metrics): the first such bar, in the zone shown."""
    wiped = np.flatnonzero(np.asarray(equity[:-1]) <= 0)
    if not len(wiped):
        return ()
    at = pd.Timestamp(times[wiped[0]]).tz_convert(tz)
    return (f"The account was wiped out: equity fell to {equity[wiped[0]]:,.2f} {currency} at "
            f"{at:%Y-%m-%d %H:%M} {tz_label}, so Sharpe and Sortino are undefined: there is no return from "
            "an equity at or below 0. A smaller size or more initial capital keeps the account alive longer.",)


def trades_export(view: BacktestView) -> pd.DataFrame:
    """The trades as analysts download them: entry and exit in the zone shown (ISO 8601 with the offset; the
    headers name the zone), ``status`` (closed, or open: still held at the last bar, so no exit time, its exit price
    the last bar's price it is marked to and its P&L unrealised, without exit fees), direction, MW, the prices of
    one unit of what is held in the market's currency per MWh (the hedged spread's value for spread trading), P&L
    and fees in the currency and the return as a fraction of the entry value (0.05 is 5 %), unrounded."""
    trades, unit, zone = view.trades, f"{view.currency}/MWh", f"({view.tz_label})"
    return pd.DataFrame({
        f"entry_time {zone}": queries.iso_times(trades["entry_time"], view.tz),
        f"exit_time {zone}": queries.iso_times(trades["exit_time"], view.tz),
        "status": np.where(trades["exit_time"].isna().to_numpy(), "open", "closed"),
        "direction": trades["direction"].to_numpy(), "size_mw": trades["size_mw"].to_numpy(dtype=float),
        f"entry_price ({unit})": trades["entry_price"].to_numpy(dtype=float),
        f"exit_price ({unit})": trades["exit_price"].to_numpy(dtype=float),
        f"pnl ({view.currency})": trades["pnl"].to_numpy(dtype=float),
        f"fees ({view.currency})": trades["fees"].to_numpy(dtype=float),
        "return (fraction)": trades["return"].to_numpy(dtype=float)})


def equity_export(view: BacktestView) -> pd.DataFrame:
    """Bar by bar: start (in the zone shown, which the header names), the traded price (of one unit of what is
    held, in the market's currency per MWh), the MW held, equity in the currency and drawdown as a fraction of the
    running peak (-0.05 is 5 % below it)."""
    return pd.DataFrame({f"bar_start ({view.tz_label})": queries.iso_times(view.times, view.tz),
                         f"traded_price ({view.currency}/MWh)": view.traded, "position_mw": view.position,
                         f"equity ({view.currency})": view.equity, "drawdown (fraction)": view.drawdown})


def prices_notes(prices: series.PriceSeries, strategy: str | None = None) -> tuple[str, ...]:
    """What the page says about the series a backtest read: bars of another length left out, and for the ML
    ensemble where its day-ahead forecast came from."""
    notes = []
    if prices.left_out:
        notes.append(f"{prices.left_out:,} stored bars of another length than {bar_text(prices.freq)} are left out.")
    if strategy == "ml_ensemble":
        notes.append("Day-ahead forecast as issued: " + (", ".join(prices.forecast_models) + " runs."
                                                          if prices.forecast_models else
                                                          "none stored for these days, so it adds nothing."))
    return tuple(notes)


def bar_text(freq: pd.Timedelta) -> str:
    """A bar length as the page says it: "5 minutes", "1 h"."""
    minutes = int(freq / pd.Timedelta(minutes=1))
    return f"{minutes} minutes" if minutes < 60 else f"{minutes / 60:g} h"


# ------------------------------------------------------------------------------------------------ the five


@dataclass(frozen=True)
class Comparison:
    """Every strategy at its defaults on the same prices and account: ``metrics`` one row per strategy (index:
    its name, columns METRICS); ``labels`` by name; ``left_out`` strategy name → why it was not run."""
    metrics: pd.DataFrame
    labels: dict
    currency: str
    left_out: dict
    notes: tuple[str, ...] = ()


def comparison_view(store: Store, market: str, location: str, other: str | None, start_date: str, end_date: str,
                    book: object = None, *, read: queries.Reader | None = None) -> Comparison:
    """The strategies side by side at their defaults (spread trading only with a second location)."""
    check_choice(market, location, other, start_date, end_date)
    account = checked_book(book)
    prices = _load(store, market, location, other or None, start_date, end_date, with_forecast=True, read=read)
    left_out = {}
    run = {}
    for name, strategy in registry.STRATEGIES.items():
        if strategy.legs == 2 and not other:
            left_out[name] = "needs a second location"
        else:
            run[name] = strategy
    compared = evaluate.compare(run, prices.frame, account, prices.freq)
    return Comparison(compared, {name: s.label for name, s in registry.STRATEGIES.items()},
                      queries.known_market(market).currency, left_out, prices_notes(prices, "ml_ensemble"))


def metric_column(metric: str, currency: str, prefix: str = "") -> str:
    """A metric's column in a downloaded table, named with its unit: ``pnl (AUD)``, ``win_rate (fraction)``."""
    unit = {"money": currency, "share": "fraction"}.get(METRIC_KINDS[metric])
    return f"{prefix}{metric} ({unit})" if unit else f"{prefix}{metric}"


def comparison_export(found: Comparison) -> pd.DataFrame:
    """The strategies side by side as analysts download them: one row per strategy, the metrics as numbers
    (shares as fractions, P&L in the currency), and why a strategy was not run."""
    frame = pd.DataFrame({"strategy": list(found.metrics.index) + list(found.left_out),
                          "label": [found.labels.get(name, name) for name in (*found.metrics.index, *found.left_out)]})
    for metric in METRICS:
        values = pd.Series(np.concatenate([found.metrics[metric].to_numpy(dtype=float),
                                           np.full(len(found.left_out), np.nan)]))
        if METRIC_KINDS[metric] == "count":
            values = values.astype("Int64")  # written 442, not 442.0; none for a strategy not run
        frame[metric_column(metric, found.currency)] = values
    frame["not_run_because"] = [""] * len(found.metrics) + list(found.left_out.values())
    return frame


# ------------------------------------------------------------------------------------------------ heatmap


@dataclass(frozen=True)
class Heatmap:
    """``metric`` over the strategy's first two grid parameters (rows: ``y`` values, columns: ``x`` values), the
    others at their defaults (``others``)."""
    strategy: str
    label: str
    x: str
    y: str
    metric: str
    grid: pd.DataFrame
    others: dict
    currency: str


def heatmap_view(store: Store, market: str, location: str, other: str | None, start_date: str, end_date: str,
                 strategy: str, book: object = None, metric: str = "sharpe", *,
                 read: queries.Reader | None = None) -> Heatmap:
    """The strategy's parameter heatmap over its grid's first two axes (engine.signals.evaluate.heatmap)."""
    check_choice(market, location, other, start_date, end_date, strategy, metric=metric)
    account = checked_book(book)
    rule = registry.STRATEGIES[strategy]
    _needs(strategy, other)
    x, y = list(rule.grid)[:2]
    prices = _load(store, market, location, other if _reads_other(strategy) else None, start_date, end_date,
                   with_forecast=strategy == "ml_ensemble", read=read)
    try:
        frame = evaluate.heatmap(rule, prices.frame, account, prices.freq, x, y, metric=metric)
    except ValueError as exc:
        raise queries.QueryError(str(exc)) from None
    return Heatmap(strategy, rule.label, x, y, metric, frame,
                   {name: float(value) for name, value in rule.defaults.items() if name not in (x, y)},
                   queries.known_market(market).currency)


def _parameter_values(values: pd.Series | np.ndarray) -> np.ndarray:
    """A parameter's values as a table writes them: whole numbers whole (a lookback of 204 bars), others as they
    are (an entry of 1.5 standard deviations)."""
    values = np.asarray(values)
    whole = np.issubdtype(values.dtype, np.number) and bool(np.all(values == np.round(values)))
    return values.astype("int64") if whole else values


def _metric_values(values: np.ndarray, metric: str) -> pd.Series | np.ndarray:
    """A metric's values as a table writes them: a count whole (442, not 442.0; none where it was not had)."""
    return pd.Series(values).astype("Int64") if METRIC_KINDS[metric] == "count" else values


def heatmap_export(found: Heatmap) -> pd.DataFrame:
    """The parameter heatmap as analysts download it: one row per combination of the two parameters drawn (the
    heatmap's rows, ``y``, outer; its columns, ``x``, inner), the other parameters at the defaults they were held at,
    and the metric unrounded, its header naming its unit (``pnl (AUD)``, ``total_return (fraction)``; ratios have
    none); empty where a combination has no value."""
    grid = found.grid
    frame = pd.DataFrame({found.x: _parameter_values(np.tile(np.asarray(grid.columns, dtype=float), len(grid))),
                          found.y: _parameter_values(np.repeat(np.asarray(grid.index, dtype=float),
                                                               len(grid.columns)))})
    for name, value in found.others.items():
        frame[name] = _parameter_values(np.full(len(frame), float(value)))
    frame[metric_column(found.metric, found.currency)] = _metric_values(grid.to_numpy(dtype=float).ravel(),
                                                                        found.metric)
    return frame


# ------------------------------------------------------------------------------------------------ walk-forward


@dataclass(frozen=True)
class WalkForwardView:
    """A walk-forward of the strategy over its grid: each fold's windows, the parameters chosen in-sample and the
    metric in and out of sample (``folds``), and the stitched out-of-sample equity (UTC bar starts)."""
    strategy: str
    label: str
    metric: str
    train_days: int
    test_days: int
    folds: pd.DataFrame
    equity: pd.Series
    currency: str
    tz: str
    tz_label: str


def walk_forward_view(store: Store, market: str, location: str, other: str | None, start_date: str, end_date: str,
                      strategy: str, window: str, book: object = None, metric: str = "sharpe",
                      tz_choice: str = "market", *, read: queries.Reader | None = None) -> WalkForwardView:
    """Train on ``window``'s first number of days, test on the next, roll on by the test length."""
    check_choice(market, location, other, start_date, end_date, strategy, tz_choice, metric, window)
    account = checked_book(book)
    rule = registry.STRATEGIES[strategy]
    _needs(strategy, other)
    train_days, test_days = (int(part) for part in window.split("/"))
    prices = _load(store, market, location, other if _reads_other(strategy) else None, start_date, end_date,
                   with_forecast=strategy == "ml_ensemble", read=read)
    per_day = pd.Timedelta(days=1) / prices.freq
    train_bars, test_bars = round(train_days * per_day), round(test_days * per_day)
    if len(prices.frame) < train_bars + test_bars:
        raise queries.QueryError(f"A walk-forward of {train_days} days' training and {test_days} days' test needs at "
                                 f"least {train_days + test_days} days of prices; choose a longer range")
    try:
        result = evaluate.walk_forward(rule, prices.frame, account, prices.freq, train_bars, test_bars, metric=metric)
    except ValueError as exc:
        raise queries.QueryError(str(exc)) from None
    info = queries.known_market(market)
    return WalkForwardView(strategy, rule.label, metric, train_days, test_days, result.folds, result.equity,
                           info.currency, info.display_zone(tz_choice), info.display_label(tz_choice))


#: The columns of a walk-forward's folds that are not the parameters chosen (engine.signals.evaluate.walk_forward).
FOLD_COLUMNS = ("train_start", "train_end", "test_start", "test_end", "in_sample", "out_of_sample")


def folds_export(wf: WalkForwardView) -> pd.DataFrame:
    """The walk-forward's folds as analysts download them: each window's first and last bar start in the zone
    shown (ISO 8601 with the offset; the header names the zone), the parameters chosen in sample, and the metric
    in and out of sample."""
    folds = wf.folds
    frame = pd.DataFrame({"fold": np.arange(1, len(folds) + 1)})
    for window in ("train", "test"):
        frame[f"{window}_first_bar_start ({wf.tz_label})"] = queries.iso_times(folds[f"{window}_start"], wf.tz)
        frame[f"{window}_last_bar_start ({wf.tz_label})"] = queries.iso_times(folds[f"{window}_end"], wf.tz)
    for column in folds.columns.difference(FOLD_COLUMNS, sort=False):
        values = folds[column]
        whole = pd.api.types.is_numeric_dtype(values) and bool((values == values.round()).all())
        frame[column] = values.astype("int64").to_numpy() if whole else values.to_numpy()  # a lookback of 204 bars
    for sample in ("in_sample", "out_of_sample"):
        frame[metric_column(wf.metric, wf.currency, f"{sample}_")] = folds[sample].to_numpy(dtype=float)
    return frame


def walk_forward_equity_export(wf: WalkForwardView) -> pd.DataFrame:
    """The stitched out-of-sample equity as analysts download it: each test bar's start in the zone shown (ISO 8601
    with the offset; the header names the zone), the fold whose test window it is in (numbered as the folds' CSV
    numbers them) and the equity in the market's currency (each fold's P&L added to the previous fold's end),
    unrounded."""
    times = pd.DatetimeIndex(wf.equity.index)
    starts = pd.DatetimeIndex(wf.folds["test_start"]) if len(wf.folds) else pd.DatetimeIndex([], tz="UTC")
    fold = np.searchsorted(starts.tz_convert("UTC").as_unit("ns").asi8,
                           times.tz_convert("UTC").as_unit("ns").asi8, side="right") if len(times) else \
        np.array([], dtype="int64")
    return pd.DataFrame({"fold": np.asarray(fold, dtype="int64"),
                         f"bar_start ({wf.tz_label})": queries.iso_times(times, wf.tz),
                         f"equity ({wf.currency})": wf.equity.to_numpy(dtype=float)})


# ------------------------------------------------------------------------------------------------ live


#: The newest recorded signals the live panel lists.
LIVE_ROWS = 20


@dataclass(frozen=True)
class LiveRecord:
    """Each strategy's live record at a location (engine.signals.record): ``summary`` per strategy
    (record.SUMMARY_COLUMNS) and the ``recent`` signals, newest first (record.RECORD_COLUMNS)."""
    location: str | None
    summary: pd.DataFrame
    recent: pd.DataFrame
    currency: str
    tz: str
    tz_label: str
    signals: pd.DataFrame      # every recorded signal, oldest first (record.RECORD_COLUMNS)


def live_view(store: Store, market: str, location: str | None, tz_choice: str = "market") -> LiveRecord:
    """The recorded signals of a location and their P&L per MW at the stored prices."""
    check_choice(market, location, tz_choice=tz_choice)
    info = queries.known_market(market)
    found = record.live_record(store, market, location or None)
    return LiveRecord(location, record.live_summary(found), found.iloc[::-1].head(LIVE_ROWS).reset_index(drop=True),
                      info.currency, info.display_zone(tz_choice), info.display_label(tz_choice), found)


#: How a recorded direction is written out.
DIRECTION_NAMES = {1: "long", -1: "short", 0: "flat"}


def live_export(live: LiveRecord) -> pd.DataFrame:
    """Every recorded signal of the location as analysts download it, oldest first: what decided it and when,
    the price it saw, when it was recorded (``live``: within the market's usual data delay), the bars it was
    executed and closed at, and its P&L per MW, gross. Times in the zone shown (ISO 8601 with the offset; the
    headers name the zone), prices in the market's currency per MWh."""
    found, unit, zone = live.signals, f"{live.currency}/MWh", f"({live.tz_label})"
    direction = found["direction"].astype("int64")
    return pd.DataFrame({
        "strategy": found["strategy"].to_numpy(), "label": found["label"].to_numpy(),
        "params": found["params"].to_numpy(), "second_leg": found["other"].to_numpy(),
        f"decided_at {zone}": queries.iso_times(found["time"], live.tz),
        "direction": direction.map(DIRECTION_NAMES).fillna(direction.astype(str)).to_numpy(),
        "confidence (fraction)": found["confidence"].to_numpy(dtype=float),
        f"price_at_decision ({unit})": found["price"].to_numpy(dtype=float),
        "hedge_ratio": found["hedge"].to_numpy(dtype=float),
        f"recorded_at {zone}": queries.iso_times(found["recorded_at"], live.tz),
        "live": found["live"].astype(bool).to_numpy(),
        f"entry_bar_start {zone}": queries.iso_times(found["entry_time"], live.tz),
        f"entry_price ({unit})": found["entry_price"].to_numpy(dtype=float),
        f"exit_bar_start {zone}": queries.iso_times(found["exit_time"], live.tz),
        f"exit_price ({unit})": found["exit_price"].to_numpy(dtype=float),
        "status": found["status"].to_numpy(),
        f"pnl_per_mw ({live.currency})": found["pnl"].to_numpy(dtype=float),
    })


@dataclass(frozen=True)
class LiveSignal:
    """The chosen strategy's decision at the close of the newest stored bar (``time``, UTC), and the order that
    would take its position (``order``: engine.orders.new_order's fields; None when it is flat)."""
    market: str
    location: str
    strategy: str
    label: str
    time: pd.Timestamp
    direction: int
    target: float
    confidence: float
    price: float
    currency: str
    order: dict | None


def order_symbol(market: str, location: str) -> str:
    """How an order names what it trades: market and location (FIX symbols take no spaces)."""
    return f"{market}.{location}".replace(" ", "_")[:64]


def live_signal(store: Store, market: str, location: str, other: str | None, strategy: str, params: object = None,
                book: object = None) -> LiveSignal:
    """The strategy's decision, with the chosen parameters, on the latest record.HISTORY_DAYS of stored prices,
    and the market order of ``book``'s size it asks for."""
    check_choice(market, location, other, strategy=strategy)
    chosen, account = checked_params(strategy, params), checked_book(book)
    _needs(strategy, other)
    span = queries.data_span(store, market, location)
    if span is None:
        raise queries.QueryError(f"no {market} {location} prices are stored")
    prices = series.load_prices(store, market, location, span[1] - pd.Timedelta(days=record.HISTORY_DAYS),
                                span[1] + pd.Timedelta(days=2), other=other if _reads_other(strategy) else None,
                                with_forecast=strategy == "ml_ensemble")
    try:
        made = registry.STRATEGIES[strategy].signals(prices.frame, {k: [v] for k, v in chosen.items()})
    except ValueError as exc:
        raise _strategy_error(exc, chosen) from None
    target = float(np.asarray(made.position, dtype=float)[-1, 0])
    direction = int(np.sign(target))
    order = None
    if direction:
        order = {"symbol": order_symbol(market, location), "side": "buy" if direction > 0 else "sell",
                 "quantity": round(abs(target) * account.size, 3), "ord_type": "market",
                 "source": f"signals {strategy} {record.params_json(chosen)}"[:500]}
    return LiveSignal(market, location, strategy, strategy_label(strategy), prices.frame.index[-1] + prices.freq,
                      direction, target, float(np.asarray(made.confidence, dtype=float)[-1, 0]),
                      float(prices.frame["price"].iloc[-1]), queries.known_market(market).currency, order)
