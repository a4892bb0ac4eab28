"""The market overview as typed results: which market, location, price series and dates a page opens on (what
the store holds, and what a link asked for), and everything drawn for one choice. The chart's resolution is
chosen and the queries are fanned out here, so the page's callbacks only shape figures."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import queries
from engine.markets import TZ_CHOICES
from engine.store import Store
from engine.workers import PAGE_QUERIES

#: Days shown when no dates are asked for: the latest stored.
DEFAULT_DAYS = 14
#: A heatmap row per day is readable up to a quarter; longer ranges get a row per month.
HEATMAP_MAX_DAYS = 92


@dataclass(frozen=True)
class Dates:
    """Dates (ISO, market time) of the range shown, both inclusive, and of the stored span it lies in."""
    start: str
    end: str
    first: str
    last: str


@dataclass(frozen=True)
class Pick:
    """What a control offers, and the value it holds (None when it offers nothing)."""
    offered: tuple[str, ...]
    chosen: str | None


@dataclass(frozen=True)
class Choice:
    """The view a page opens on."""
    market: Pick
    location: Pick
    kind: Pick
    dates: Dates | None
    notes: tuple[str, ...] = ()  # what a link asked for and did not get, and why


@dataclass(frozen=True)
class OverviewView:
    """Everything the overview draws for one choice."""
    currency: str
    tz: str  # the zone times are shown in
    tz_label: str
    series: pd.DataFrame  # interval_start (UTC), interval_minutes, price, demand_mw, is_demo
    resolution: str  # what the chart draws: raw intervals, or hourly or daily means
    basis: str  # what the demand weighting and the duration curve are of: interval, hour or day
    stats: queries.PriceStats
    curve: pd.DataFrame  # exceedance_pct, price
    heatmap_rows: str  # day or month
    heatmap: pd.DataFrame  # mean price, rows by heatmap_rows, a column per hour of day

    @property
    def is_demo(self) -> bool:
        return bool(self.series["is_demo"].any())


@dataclass(frozen=True)
class LatestPrices:
    """The newest stored price of each of a market's series, with how the page names its units and zone."""
    currency: str
    tz: str
    tz_label: str
    rows: pd.DataFrame  # as queries.latest_prices


def check_choice(market: object = None, location: object = None, kind: object = None, start_date: object = None,
                 end_date: object = None, tz_choice: object = None) -> None:
    """The overview's one check of what a browser sent, whatever sent it: a QueryError saying what is wrong with
    the first bad value (a market that is not in the registry, a name that is not text shaped like a stored name,
    a day that is not YYYY-MM-DD within the plausible range, a zone that is neither of TZ_CHOICES). None or ""
    stands for a control not chosen yet."""
    if market not in (None, ""):
        queries.known_market(market)
    for value, what in ((location, "region"), (kind, "price series")):
        if value not in (None, ""):
            queries.checked_name(value, what)
    for value, what in ((start_date, "start date"), (end_date, "end date")):
        if value not in (None, ""):
            queries.checked_date(value, what)
    if tz_choice not in (None, "", *TZ_CHOICES):
        raise queries.QueryError(f"time zone must be one of {', '.join(TZ_CHOICES)} (got {queries.shown(tz_choice)})")


def _pick(asked: str | None, offered: list[str]) -> Pick:
    return Pick(tuple(offered), asked if asked in offered else (offered[0] if offered else None))


def locations(store: Store, market: str | None, current: str | None = None) -> Pick:
    """The market's locations with prices, holding ``current`` if the market has it, else the first."""
    check_choice(market, current)
    return _pick(current, queries.price_locations(store, market) if market else [])


def price_kinds(store: Store, market: str | None, location: str | None, current: str | None = None) -> Pick:
    """The location's price series, holding ``current`` if stored, else the one to show first."""
    check_choice(market, location, current)
    return _pick(current, queries.price_kinds(store, market, location) if market and location else [])


def stored_dates(store: Store, market: str, location: str, kind: str | None) -> Dates | None:
    """The stored span of a location's prices, and its latest ``DEFAULT_DAYS`` days to show."""
    span = queries.data_span(store, market, location, kind)
    if span is None:
        return None
    tz = queries.known_market(market).tz
    first, last = (t.tz_convert(tz).date() for t in span)
    start = max(first, last - dt.timedelta(days=DEFAULT_DAYS - 1))
    return Dates(start.isoformat(), last.isoformat(), first.isoformat(), last.isoformat())


def series_dates(store: Store, market: str, location: str, kind: str, start: str | None,
                 end: str | None) -> Dates | None:
    """The dates to show once the price series changed: the chosen ones while the series has data in them,
    its latest days otherwise."""
    check_choice(market, location, kind, start, end)
    stored = stored_dates(store, market, location, kind)
    if stored is not None and start and end and start <= stored.last and end >= stored.first:
        return dataclasses.replace(stored, start=start, end=end)
    return stored


def initial_choice(store: Store, market: str | None = None, location: str | None = None, kind: str | None = None,
                   start: str | None = None, end: str | None = None) -> Choice:
    """The view a page opens on: what was asked for where the store holds it, the defaults otherwise (with a
    note saying what was passed over)."""
    notes: list[str] = []

    def pick(asked: str | None, offered: list[str], what: str) -> Pick:
        chosen = _pick(asked, offered)
        if asked is not None and asked != chosen.chosen:
            notes.append(f"No {what} {_shown(asked)} is stored; showing {chosen.chosen or 'nothing'}.")
        return chosen

    markets = pick(market, queries.markets_with_prices(store), "market")
    market = markets.chosen
    places = pick(location, queries.price_locations(store, market) if market else [], f"{market} location")
    location = places.chosen
    kinds = pick(kind, queries.price_kinds(store, market, location) if location else [],
                 f"{location} price series")
    dates = stored_dates(store, market, location, kinds.chosen) if location else None
    if dates is not None and (start is not None or end is not None):
        dates, said = linked_dates(start, end, dates)
        notes.extend(said)
    return Choice(markets, places, kinds, dates, tuple(notes))


def linked_dates(start: str | None, end: str | None, latest: Dates,
                 days: int = DEFAULT_DAYS) -> tuple[Dates, tuple[str, ...]]:
    """The dates a link asked for (``None`` where it gave none) over a location's ``latest`` stored days, and a
    note for anything passed over: what asked_dates makes of them, or ``latest`` when that is nothing."""
    asked = asked_dates(start, end, latest, days)
    if asked is None:
        given = (f"dates ({_shown(start)} to {_shown(end)}) are not YYYY-MM-DD dates in order"
                 if start is not None and end is not None else
                 f"{'start' if end is None else 'end'} date {_shown(start if end is None else end)} is not "
                 "a YYYY-MM-DD date")
        return latest, (f"The link's {given} within the stored {latest.first} to {latest.last}; showing the "
                        "latest days.",)
    if (start is not None and asked.start != start) or (end is not None and asked.end != end):
        return asked, (f"Dates clipped to the stored {latest.first} to {latest.last}.",)
    return asked, ()


def asked_dates(start: str | None, end: str | None, stored: Dates, days: int = DEFAULT_DAYS) -> Dates | None:
    """Dates from a link, if they are real dates in order and overlap the stored span (clipped to it). A link
    may give one end: a start alone runs to the latest stored day, an end alone opens ``days`` days ending
    there."""
    try:
        e = dt.date.fromisoformat(end) if end is not None else dt.date.fromisoformat(stored.last)
        s = (dt.date.fromisoformat(start) if start is not None
             else e - dt.timedelta(days=days - 1))
    except (TypeError, ValueError):
        return None
    s_iso, e_iso = max(s.isoformat(), stored.first), min(e.isoformat(), stored.last)
    return dataclasses.replace(stored, start=s_iso, end=e_iso) if s_iso <= e_iso else None


_shown = queries.shown


def overview_view(store: Store, market: str, location: str, start_date: str, end_date: str,
                  tz_choice: str = "market", kind: str = "settlement", *,
                  read: queries.Reader | None = None) -> OverviewView:
    """Everything the overview draws for a location's price series between two dates of market time (both
    inclusive), times shown in the market's zone or UTC (``tz_choice``). A QueryError for a request the store
    cannot answer as asked, or for any value check_choice refuses.

    A range of up to ``queries.MAX_PIECE_MONTHS`` months is cut from month pieces read through ``read`` (the
    app's cache, which holds each month once for every range that touches it; without one, the store): raw
    intervals and hourly sums. A longer range, or one drawn as daily means, is read in a few queries."""
    check_choice(market, location, kind, start_date, end_date, tz_choice)
    info = queries.known_market(market)
    end_exclusive = queries.checked_date(end_date, "end date") + dt.timedelta(days=1)
    start, end = queries.parse_range(info, start_date, end_exclusive)
    tz = info.display_zone(tz_choice)
    heat_rows = "day" if end - start <= pd.Timedelta(days=HEATMAP_MAX_DAYS) else "month"
    hours = None
    if len(queries.market_months(info, start, end)) <= queries.MAX_PIECE_MONTHS:
        hours = queries.range_hours(read or queries.reading(store), market, location, kind, start, end)
        resolution = queries.choose_resolution(int(hours["samples"].sum()))
    else:
        resolution = queries.choose_resolution(queries.raw_interval_count(store, market, location, kind, start, end))
    # A range short enough to draw interval by interval gets exact interval statistics from the raw rows.
    # A longer one is drawn as hourly or daily means, and its demand weighting and duration curve are of the
    # means drawn (the counts, extremes and mean stay exact, from the hourly aggregate): the raw join and
    # sort over millions of rows would take the page past its answer time.
    basis = "interval" if resolution == "raw" else resolution
    if hours is not None and resolution in ("raw", "hour"):
        if resolution == "raw":
            series = queries.range_prices(read or queries.reading(store), market, location, kind, start, end)
            stats = queries.stats_of_prices(series)
        else:
            series = queries.hourly_series(hours)
            stats = dataclasses.replace(queries.stats_of_hours(hours),
                                        volume_weighted_price=queries.weighted_mean_price(series))
        return OverviewView(info.currency, tz, info.display_label(tz_choice), series, resolution, basis, stats,
                            queries.duration_curve_of(series["price"]), heat_rows,
                            queries.heatmap_of_hours(hours, tz=tz, rows=heat_rows))
    # The queries are independent: run them side by side (each worker has its own connection).
    series_job = PAGE_QUERIES.submit(queries.price_series, store, market, location, start, end, price_kind=kind,
                                     resolution=resolution)
    stats_job = PAGE_QUERIES.submit(queries.price_stats if basis == "interval" else queries.hourly_price_stats,
                                    store, market, location, start, end, price_kind=kind)
    heatmap_job = PAGE_QUERIES.submit(queries.hour_day_heatmap, store, market, location, start, end, tz=tz,
                                      price_kind=kind, rows=heat_rows)
    curve_job = PAGE_QUERIES.submit(queries.duration_curve, store, market, location, start, end,
                                    price_kind=kind) if basis == "interval" else None
    series, _ = series_job.result()
    stats = stats_job.result()
    if curve_job is not None:
        curve = curve_job.result()
    else:
        curve = queries.duration_curve_of(series["price"])
        stats = dataclasses.replace(stats, volume_weighted_price=queries.weighted_mean_price(series))
    return OverviewView(info.currency, tz, info.display_label(tz_choice), series, resolution, basis, stats, curve,
                        heat_rows, heatmap_job.result())


#: What a view's demand-weighted mean is weighted over, by its basis.
WEIGHTED_OVER = {"interval": "intervals", "hour": "hourly means", "day": "daily means"}


def stats_export(view: OverviewView, market: str, location: str, kind: str, start_date: str,
                 end_date: str) -> pd.DataFrame:
    """The range's price statistics as analysts download them: one row naming the series and its market dates
    (both inclusive), the prices unrounded in the market's currency per MWh (the headers say which; empty where
    the range holds none), and what the demand-weighted mean is weighted over."""
    stats, unit = view.stats, f"({view.currency}/MWh)"
    return pd.DataFrame([{
        "market": market, "location": location, "price_kind": kind, "first_day (market date)": start_date,
        "last_day (market date)": end_date, "intervals": stats.intervals, f"min_price {unit}": stats.min_price,
        f"mean_price {unit}": stats.mean_price, f"max_price {unit}": stats.max_price,
        f"demand_weighted_mean_price {unit}": stats.volume_weighted_price,
        "demand_weighted_over": WEIGHTED_OVER[view.basis], "negative_intervals": stats.negative_intervals,
    }])


#: What a view's duration curve is of, by its basis: the share counted (``% of …``) and the price ranked.
DURATION_OF = {"interval": ("intervals", "price"), "hour": ("hours", "hourly_mean_price"),
               "day": ("days", "daily_mean_price")}


def series_export(view: OverviewView) -> pd.DataFrame:
    """The series drawn as analysts download it: each interval (or the hourly or daily mean drawn: the
    ``interval_minutes`` say which) with its start in the zone shown (ISO 8601 with the offset; the header names
    the zone), the price in the market's currency per MWh and the demand in MW, unrounded."""
    return queries.series_for_export(view.series, view.tz, currency=view.currency, tz_label=view.tz_label)


def duration_export(view: OverviewView) -> pd.DataFrame:
    """The price duration curve drawn, as analysts download it: each point's share of the intervals (hours, days:
    the view's basis, which the headers name) priced higher, in per cent, and the price there in the market's
    currency per MWh, unrounded; from the highest price to the lowest."""
    of, price = DURATION_OF[view.basis]
    return pd.DataFrame({f"share_priced_higher (% of {of})": view.curve["exceedance_pct"].to_numpy(dtype=float),
                         f"{price} ({view.currency}/MWh)": view.curve["price"].to_numpy(dtype=float)})


def heatmap_export(view: OverviewView) -> pd.DataFrame:
    """The hour-of-day heatmap drawn, as analysts download it: one row per day (or month, as drawn) and hour of
    day, both in the zone shown (the headers name it), and the mean price there in the market's currency per MWh,
    unrounded; empty where the hour holds no price (a day's hour skipped by daylight saving, a gap)."""
    grid = view.heatmap
    hours = np.asarray(grid.columns, dtype=int)
    zone = f"({view.tz_label})"
    return pd.DataFrame({f"{view.heatmap_rows} {zone}": np.repeat(np.asarray(grid.index, dtype=str), len(hours)),
                         f"hour_of_day {zone}": np.tile(hours, len(grid)),
                         f"mean_price ({view.currency}/MWh)": grid.to_numpy(dtype=float).ravel()})


def recent_pieces(market: str, location: str, kind: str, last: str,
                  days: int = HEATMAP_MAX_DAYS) -> list[tuple[Callable[..., pd.DataFrame], tuple[str, ...]]]:
    """The pieces, as ``(fn, args)`` for ``fn(store, *args)``, that every range of a series within its latest
    ``days`` stored days (ending on ``last``, market time) is cut from: each month's hourly sums and raw
    intervals. What warming reads before users ask."""
    check_choice(market, location, kind, last)
    info = queries.known_market(market)
    end = queries.checked_date(last, "last day") + dt.timedelta(days=1)
    start, end = queries.parse_range(info, end - dt.timedelta(days=days), end)
    return [(fn, (market, location, kind, month)) for month in queries.market_months(info, start, end)
            for fn in (queries.month_hours, queries.month_prices)]


def latest_view(store: Store, market: str, tz_choice: str = "market") -> LatestPrices:
    """The newest stored price of each of the market's series; a QueryError for an unknown market."""
    check_choice(market, tz_choice=tz_choice)
    info = queries.known_market(market)
    return LatestPrices(info.currency, info.display_zone(tz_choice), info.display_label(tz_choice),
                        queries.latest_prices(store, market))
