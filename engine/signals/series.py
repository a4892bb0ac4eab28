"""The price series strategies and backtests run on, read from the store: one location's prices at the market's
own interval, optionally a second location of the same market, and the day-ahead forecast of each bar as it was
issued before the bar's market day began.

Gaps: a bar the store does not hold is left out, never filled. A position held across a gap earns the move
from the last stored price to the next one (what holding it really earned) and no trade executes at a price
that was never published, so a missing bar creates no P&L of its own. Where the window holds bars of two
lengths (NEM settlement was half-hourly before October 2021), only the bars of the latest length are kept and
``PriceSeries.left_out`` counts the others.

The forecast column is the median (q50) of the product's forecast: the ensemble's run where one was stored,
else LEAR's, else the weekly naive's (``FORECAST_MODELS``), hour by hour. For each bar it is the value of the
bar's hour in the newest run of that model issued at or before the start of the bar's market day (a run's
``issued_at`` is its knowledge cut-off): a run issued later, however good, never enters the column.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import queries
from engine.forecast.base import QUANTILE_LEVELS
from engine.markets import MARKETS
from engine.store import Store
from engine.store.tables import market_day_start

#: The forecast the ``forecast`` column reads, in order of preference (per hour: the first one issued in time).
FORECAST_MODELS = ("ensemble", "lear", "naive")
#: ClickHouse's (1-based) index of the median in a stored run's quantiles.
_MEDIAN = int(np.flatnonzero(np.isclose(QUANTILE_LEVELS, 0.5))[0]) + 1


class SeriesError(queries.QueryError):
    """A price series that cannot be loaded as asked; the message says why."""


@dataclass(frozen=True)
class PriceSeries:
    """``frame``: indexed by the UTC start of each bar; ``price``, ``other`` (a second location) and
    ``forecast`` (as issued, NaN where no run covers the bar) when asked for. ``freq``: the bar length."""
    frame: pd.DataFrame
    freq: pd.Timedelta
    currency: str
    timezone: str
    label: str
    market: str
    location: str
    price_kind: str
    other: str | None = None
    is_demo: bool = False
    #: stored bars of another length than ``freq`` left out of the window
    left_out: int = 0
    #: the models whose runs fill the forecast column, in FORECAST_MODELS order (empty: none stored in time)
    forecast_models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Location:
    """A series the signals page may offer: a market's location, its default price series and bar length."""
    market: str
    location: str
    price_kind: str
    minutes: int
    currency: str
    timezone: str
    latest: pd.Timestamp  # UTC start of the newest stored bar


def locations(store: Store) -> list[Location]:
    """Every stored location with prices, markets in the registry's order, each with the price series the
    overview shows first and the length of its newest bar."""
    rank = {k: i for i, k in enumerate(queries.PRICE_KIND_PREFERENCE)}
    out = []
    for market in queries.markets_with_prices(store):
        info = MARKETS.get(market)
        if info is None:
            continue
        latest = queries.latest_prices(store, market)
        if latest.empty:
            continue
        latest = latest.assign(rank=latest["price_kind"].map(lambda k: (rank.get(k, len(rank)), k)))
        for location, rows in latest.groupby("location", sort=True):
            row = rows.sort_values("rank").iloc[0]
            out.append(Location(market, location, row["price_kind"], int(row["interval_minutes"]), info.currency,
                                info.timezone, pd.Timestamp(row["interval_start"])))
    return out


def default_location(store: Store, market: str) -> str | None:
    """The location the overview opens a market on (its first stored location), None when it has no prices."""
    found = queries.price_locations(store, market)
    return found[0] if found else None


def load_prices(store: Store, market: str, location: str, start: object, end: object, other: str | None = None,
                with_forecast: bool = False, *, price_kind: str | None = None,
                read: queries.Reader | None = None) -> PriceSeries:
    """The stored bars of ``[start, end)`` (tz-aware instants, or days/naive times in the market's own time) of
    one location's price series (``price_kind``, default the one the overview shows first), at the market's own
    interval. ``other``: a second location of the same market, its same price series where stored (else its
    first), kept on the bars both hold. ``with_forecast``: the as-issued day-ahead forecast column.

    ``read``: the app's cache (``queries.Reader``): the bars and forecasts of a range of up to
    ``queries.MAX_PIECE_MONTHS`` months are then cut from month pieces it holds once for every range touching
    them (the overview's pieces for the bars), the same rows a range's own query returns. Without one, each
    range is read from the store in one query."""
    info = _market(market)
    _stored_location(store, market, location, read)
    s, e = _instant(start, info.timezone, "start"), _instant(end, info.timezone, "end")
    if e <= s:
        raise SeriesError(f"end ({e}) must be after start ({s})")
    kind = _kind(store, market, location, price_kind, read)
    frame, minutes, left_out, demo = _bars(store, market, location, kind, s, e, read)
    label = f"{market} {location} {kind}"
    if other is not None:
        if other == location:
            raise SeriesError(f"the second location must differ from the first ({location})")
        _stored_location(store, market, other, read)
        other_kinds = (read or queries.reading(store))(queries.price_kinds, market, other)
        other_kind = kind if kind in other_kinds else other_kinds[0]
        second, other_minutes, other_left, other_demo = _bars(store, market, other, other_kind, s, e, read)
        if other_minutes != minutes:
            raise SeriesError(f"{market} {location} has {minutes}-minute bars and {other} {other_minutes}-minute "
                              "ones: two legs must share a bar length")
        frame = frame.join(second.rename(columns={"price": "other"}), how="inner")
        if frame.empty:
            raise SeriesError(f"{market} {location} and {other} hold no bar in common between {s} and {e}")
        left_out += other_left
        demo = demo or other_demo
        label += f" against {other}" + ("" if other_kind == kind else f" {other_kind}")
    models: tuple[str, ...] = ()
    if with_forecast:
        frame["forecast"], models = _as_issued_forecast(store, market, location, kind, frame.index, minutes, read)
    return PriceSeries(frame, pd.Timedelta(minutes=minutes), info.currency, info.timezone, label, market, location,
                       kind, other, demo, left_out, models)


def _market(market: object):
    try:
        return queries.known_market(market)
    except queries.QueryError as exc:
        raise SeriesError(str(exc)) from None


def _stored_location(store: Store, market: str, location: object, read: queries.Reader | None = None) -> None:
    try:
        queries.checked_name(location, "location")
    except queries.QueryError as exc:
        raise SeriesError(str(exc)) from None
    stored = (read or queries.reading(store))(queries.price_locations, market)
    if location not in stored:
        raise SeriesError(f"no {market} prices are stored for {queries.shown(location)}; stored locations: "
                          f"{', '.join(stored) or 'none'}")


def _kind(store: Store, market: str, location: str, asked: str | None, read: queries.Reader | None = None) -> str:
    kinds = (read or queries.reading(store))(queries.price_kinds, market, location)
    if asked is None:
        return kinds[0]
    if asked not in kinds:
        raise SeriesError(f"no {market} {location} {queries.shown(asked)} prices are stored; stored series: "
                          f"{', '.join(kinds)}")
    return asked


def _instant(value: object, tz: str, what: str) -> pd.Timestamp:
    """A tz-aware instant as UTC; a date or naive time is read in the market's own time."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = pd.Timestamp(value)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise SeriesError(f"{what} must be a time or a date (got {queries.shown(value)})") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise SeriesError(f"{what} is missing")
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    ts = ts.tz_convert("UTC")
    if not pd.Timestamp(queries.EARLIEST_DATE, tz="UTC") <= ts <= pd.Timestamp(queries.LATEST_DATE, tz="UTC"):
        raise SeriesError(f"{what} {ts} is outside {queries.EARLIEST_DATE} to {queries.LATEST_DATE}")
    return ts


def _pieced(read: queries.Reader | None, market: str, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    """Whether ``[start, end)`` is cut from month pieces (a reader given, and few enough months)."""
    return read is not None and len(queries.market_months(MARKETS[market], start, end)) <= queries.MAX_PIECE_MONTHS


def _bars(store: Store, market: str, location: str, kind: str, start: pd.Timestamp,
          end: pd.Timestamp, read: queries.Reader | None = None) -> tuple[pd.DataFrame, int, int, bool]:
    """The stored raw intervals of one series as bars: (frame of ``price``, bar minutes, bars of another length
    left out, whether any bar is demo data)."""
    if _pieced(read, market, start, end):
        raw = queries.range_prices(read, market, location, kind, start, end)
    else:
        raw, _ = queries.price_series(store, market, location, start, end, price_kind=kind, resolution="raw")
    if raw.empty:
        raise SeriesError(f"no {market} {location} {kind} prices are stored between {start} and {end}")
    minutes = int(raw["interval_minutes"].iloc[-1])
    keep = raw["interval_minutes"].to_numpy() == minutes
    left_out = int((~keep).sum())
    raw = raw.loc[keep]
    index = pd.DatetimeIndex(raw["interval_start"], name="time").tz_convert("UTC").as_unit("ns")
    frame = pd.DataFrame({"price": raw["price"].to_numpy(dtype=float)}, index=index)
    return frame, minutes, left_out, bool(raw["is_demo"].any())


def _as_issued_forecast(store: Store, market: str, location: str, kind: str, bars: pd.DatetimeIndex,
                        bar_minutes: int, read: queries.Reader | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each bar's forecast (see the module docstring) and the models it came from."""
    # from a day before the first bar: the interval holding it may start before it
    start, end = bars[0] - pd.Timedelta(days=1), bars[-1] + pd.Timedelta(minutes=bar_minutes)
    if _pieced(read, market, start, end):
        # Each target's row depends on that target alone, so a range's rows are its months' rows cut to it.
        months = queries.market_months(MARKETS[market], start, end)
        hours = queries.cut_pieces([read(month_issued_hours, market, location, kind, m) for m in months],
                                   "target_start", start, end)
    else:
        hours = _issued_hours(store, market, location, kind, start, end)
    if hours.empty:
        return np.full(len(bars), np.nan), ()
    by_model = hours.pivot(index="target_start", columns="model", values="forecast")
    used, chosen = [], None
    for model in FORECAST_MODELS:
        if model not in by_model.columns:
            continue
        column = by_model[model]
        if chosen is not None and not (chosen.isna() & column.notna()).any():
            continue
        used.append(model)
        chosen = column if chosen is None else chosen.combine_first(column)
    targets = pd.DataFrame({"target_start": chosen.index.tz_convert("UTC").as_unit("ns"),
                            "forecast": chosen.to_numpy(dtype=float)})
    step = hours["interval_minutes"].max()
    # each bar takes the forecast of the interval it lies in (bars no longer than the forecast's interval)
    matched = pd.merge_asof(pd.DataFrame({"time": bars}), targets, left_on="time", right_on="target_start",
                            direction="backward", tolerance=pd.Timedelta(minutes=int(step)) - pd.Timedelta(1))
    return matched["forecast"].to_numpy(dtype=float), tuple(used)


def month_issued_hours(store: Store, market: str, location: str, kind: str, month: str) -> pd.DataFrame:
    """``_issued_hours`` of one market month (its first day, ISO): the piece a range's forecasts are cut from."""
    start, end = queries.month_range(market, month)
    return _issued_hours(store, market, location, kind, start, end)


def _issued_hours(store: Store, market: str, location: str, kind: str, start: pd.Timestamp,
                  end: pd.Timestamp) -> pd.DataFrame:
    """Per model and target interval of ``[start, end)``: the median of the newest run issued at or before the
    start of the interval's market day."""
    day_start = market_day_start("v.target_start")
    return store.query_df(
        f"SELECT v.model AS model, v.target_start AS target_start, argMax(v.quantiles[{_MEDIAN}], v.issued_at) "  # noqa: S608 -- the quantile index and the market-day expression are fixed code; values are bound parameters
        "AS forecast, any(r.interval_minutes) AS interval_minutes FROM forecast_values AS v "
        "INNER JOIN (SELECT run_id, interval_minutes FROM forecast_runs WHERE market = {m:String} "
        "AND location = {l:String} AND price_kind = {k:String} AND model IN {fs:Array(String)}) AS r "
        "ON v.run_id = r.run_id "
        "WHERE v.market = {m:String} AND v.location = {l:String} AND v.model IN {fs:Array(String)} "
        "AND v.target_start >= {s:DateTime64(3, 'UTC')} AND v.target_start < {e:DateTime64(3, 'UTC')} "
        f"AND v.issued_at <= {day_start} "
        "GROUP BY model, target_start ORDER BY model, target_start",
        {"m": market, "l": location, "k": kind, "fs": list(FORECAST_MODELS), "s": start.to_pydatetime(),
         "e": end.to_pydatetime()})
