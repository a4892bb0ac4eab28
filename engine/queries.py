"""Read-side queries behind the pages and the REST API. Aggregation happens in the database: a page never
pulls more rows than it draws."""
from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from engine.markets import MARKETS, Market
from engine.store import DEMO_SOURCE, Store
from engine.store.tables import market_day_start
from engine.store.versions import month_span

#: Above this many raw intervals a chart draws hourly means, and above it again daily means.
MAX_RAW_POINTS = 20_000
RESOLUTIONS = ("auto", "raw", "hour", "day")


class QueryError(ValueError):
    """A request the store cannot answer as asked (unknown market, bad range...)."""


#: The days a request may name. Nothing stored is older or newer; a date outside is a typo or a probe, and pandas
#: cannot even hold most of them (its timestamps end in 2262).
EARLIEST_DATE = dt.date(1950, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
#: The instants a data product's rows may hold and a read of one may ask for, [first, end): the plausible days in
#: UTC, ending where the last one begins (an instant within that day in every market's zone)
PRODUCT_INSTANTS = (pd.Timestamp(EARLIEST_DATE, tz="UTC"), pd.Timestamp(LATEST_DATE, tz="UTC"))
#: What a market, location, price series or node name may look like in a request: every stored name fits.
_NAME = re.compile(r"[A-Za-z0-9_.:\-/ ()]{1,64}")


def shown(value: object, limit: int = 40) -> str:
    """A value from a request, quoted and cut short, for a message."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def checked_name(value: object, what: str) -> str:
    """``value`` if it is text shaped like a stored name; a QueryError saying what is wrong otherwise."""
    if not isinstance(value, str):
        raise QueryError(f"{what} must be text (got {type(value).__name__})")
    if not _NAME.fullmatch(value):
        raise QueryError(f"{what} {shown(value)} is not a name: at most 64 letters, digits, spaces and _ . : - / ( )")
    return value


def checked_date(value: object, what: str, *, exclusive_end: bool = False) -> dt.date:
    """A day (``YYYY-MM-DD`` text or a date) between EARLIEST_DATE and LATEST_DATE (the day after it for the
    exclusive end of a range, so that a range may take in LATEST_DATE); a QueryError otherwise."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str) and len(value) <= 10:
        with contextlib.suppress(ValueError):  # not a day: refused below, with the value shown
            value = dt.date.fromisoformat(value)
    if not isinstance(value, dt.date):
        raise QueryError(f"{what} must be a date like YYYY-MM-DD (got {shown(value)})")
    latest = LATEST_DATE + dt.timedelta(days=1) if exclusive_end else LATEST_DATE
    if not EARLIEST_DATE <= value <= latest:
        raise QueryError(f"{what} {value.isoformat()} is outside {EARLIEST_DATE.isoformat()} to "
                         f"{latest.isoformat()}")
    return value


def known_market(market: object) -> Market:
    """The market's metadata from the registry; a QueryError naming the known markets otherwise."""
    if not isinstance(market, str) or market not in MARKETS:
        raise QueryError(f"unknown market {shown(market)}; known markets: {', '.join(sorted(MARKETS))}")
    return MARKETS[market]


def price_locations(store: Store, market: str) -> list[str]:
    df = store.query_df("SELECT DISTINCT location FROM prices_daily WHERE market = {m:String} ORDER BY location",
                        {"m": market})
    return df["location"].tolist()


def latest_prices(store: Store, market: str) -> pd.DataFrame:
    """The newest stored price of each of the market's series (location and price kind), from the
    latest_prices view; ``is_demo`` says whether that price is demo data."""
    df = store.query_df(
        "SELECT location, price_kind, interval_start, interval_minutes, price, source = {d:String} AS is_demo "
        "FROM latest_prices WHERE market = {m:String} ORDER BY location, price_kind", {"m": market, "d": DEMO_SOURCE})
    return df.astype({"interval_minutes": int, "is_demo": bool})


def markets_with_prices(store: Store) -> list[str]:
    """The markets with stored prices, in the registry's order (any market it does not name last)."""
    found = store.query_df("SELECT DISTINCT market FROM prices_daily")["market"].tolist()
    rank = {m: i for i, m in enumerate(MARKETS)}
    return sorted(found, key=lambda m: (rank.get(m, len(rank)), m))


#: Which price series a page shows first when a location has several (settlement before dispatch, etc.).
PRICE_KIND_PREFERENCE = ("settlement", "HOEP", "OZP_RT", "OZP_DA", "PLD", "dispatch")


def price_kinds(store: Store, market: str, location: str) -> list[str]:
    """The price series stored for a location, the one to show first leading."""
    df = store.query_df("SELECT DISTINCT price_kind FROM prices_daily WHERE market = {m:String} "
                        "AND location = {l:String}", {"m": market, "l": location})
    kinds = df["price_kind"].tolist()
    rank = {k: i for i, k in enumerate(PRICE_KIND_PREFERENCE)}
    return sorted(kinds, key=lambda k: (rank.get(k, len(rank)), k))


def data_span(store: Store, market: str, location: str,
              price_kind: str | None = None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last stored day (bucket start) of one location's prices (from the daily aggregate)."""
    kind_filter = "AND price_kind = {k:String}" if price_kind else ""
    df = store.query_df("SELECT min(bucket) AS first, max(bucket) AS last, count() AS n FROM prices_daily "  # noqa: S608 -- the optional filter is a fixed clause; values are bound parameters
                        f"WHERE market = {{m:String}} AND location = {{l:String}} {kind_filter}",
                        {"m": market, "l": location, "k": price_kind or ""})
    if int(df.at[0, "n"]) == 0:
        return None
    return df.at[0, "first"], df.at[0, "last"]


def day_start(day: dt.date, tz: str) -> pd.Timestamp:
    """The first instant of a market day. Where daylight saving began at midnight (Brazil until 2019: clocks went
    from 00:00 straight to 01:00) midnight never happened and the day starts at 01:00; where a midnight came
    twice, the day starts at the first."""
    return pd.Timestamp(day).tz_localize(tz, ambiguous=True, nonexistent="shift_forward")


def parse_range(info: Market, start: object, end: object) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Days (``YYYY-MM-DD`` or dates) in the market's own time, ``end`` exclusive -> UTC instants. Anything else
    (other types, other text, days outside EARLIEST_DATE..LATEST_DATE) is a QueryError with a message."""
    s = day_start(checked_date(start, "start"), info.tz)
    e = day_start(checked_date(end, "end", exclusive_end=True), info.tz)
    if e <= s:
        raise QueryError(f"end ({end}) must be after start ({start})")
    if e - s > pd.Timedelta(days=366 * 30):
        raise QueryError("a range may span at most 30 years")
    return s.tz_convert("UTC"), e.tz_convert("UTC")


#: Each stored price interval of the range beside the demand of the same interval (NULL where none is stored,
#: so a query reading it sets join_use_nulls = 1): what every exact reading of prices with demand joins.
_PRICES_WITH_DEMAND = """
    (SELECT interval_start, interval_minutes, price, source FROM prices FINAL
     WHERE market = {m:String} AND location = {l:String} AND price_kind = {k:String}
       AND interval_start >= {s:DateTime64(3, 'UTC')} AND interval_start < {e:DateTime64(3, 'UTC')}) AS p
    LEFT JOIN (SELECT interval_start, interval_minutes, demand_mw FROM demand FINAL
     WHERE market = {m:String} AND location = {l:String}
       AND interval_start >= {s:DateTime64(3, 'UTC')} AND interval_start < {e:DateTime64(3, 'UTC')}) AS d
    ON p.interval_start = d.interval_start AND p.interval_minutes = d.interval_minutes"""


def _range_params(market: str, location: str, price_kind: str, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    return {"m": market, "l": location, "k": price_kind, "s": start.to_pydatetime(), "e": end.to_pydatetime()}


def raw_interval_count(store: Store, market: str, location: str, kind: str, s: pd.Timestamp, e: pd.Timestamp) -> int:
    """Roughly how many raw intervals the range holds, from the daily aggregate (whole market days: enough
    to choose a chart's resolution, and a few rows for any range)."""
    return int(store.scalar(
        "SELECT sum(samples) FROM prices_daily WHERE market = {m:String} AND location = {l:String} "
        "AND price_kind = {k:String} AND bucket > {s:DateTime64(3, 'UTC')} - toIntervalDay(1) "
        "AND bucket < {e:DateTime64(3, 'UTC')}",
        _range_params(market, location, kind, s, e)) or 0)


#: The most raw intervals one answer of the REST API carries (a data product's call too). Two million
#: 5-minute rows (19 years of a region) took a serving worker 11 s and 1.1 GB. A year of 5-minute prices is
#: 105,120 intervals, twenty years of hourly ones 175,320; hourly and daily means answer any range.
MAX_RAW_ANSWER = 200_000


def check_raw_answer(store: Store, market: str, location: str, kind: str, s: pd.Timestamp, e: pd.Timestamp) -> None:
    """A QueryError saying how to ask instead when the range holds more raw intervals (counted from the daily
    aggregate: whole market days) than one answer carries."""
    n_raw = raw_interval_count(store, market, location, kind, s, e)
    if n_raw > MAX_RAW_ANSWER:
        raise QueryError(f"resolution=raw: {market} {location} holds about {n_raw:,} intervals in this range, more "
                         f"than the {MAX_RAW_ANSWER:,} one answer carries; ask for a shorter range (at most a year "
                         f"of 5-minute prices) in several calls, or resolution=hour or day")


def choose_resolution(n_raw: int, requested: str = "auto") -> str:
    if requested not in RESOLUTIONS:
        raise QueryError(f"resolution must be one of {', '.join(RESOLUTIONS)} (got {requested!r})")
    if requested != "auto":
        return requested
    if n_raw <= MAX_RAW_POINTS:
        return "raw"
    if n_raw // 12 <= MAX_RAW_POINTS * 2:  # at most ~40k hourly points (4.5 years)
        return "hour"
    return "day"


def price_series(store: Store, market: str, location: str, start: pd.Timestamp, end: pd.Timestamp, *,
                 price_kind: str = "settlement", resolution: str = "auto") -> tuple[pd.DataFrame, str]:
    """The series a chart draws: ``interval_start`` (UTC), ``interval_minutes``, ``price``, ``demand_mw``,
    ``is_demo``; raw intervals, or hourly/daily means when the range holds too many to draw."""
    params = _range_params(market, location, price_kind, start, end)
    res = choose_resolution(raw_interval_count(store, market, location, price_kind, start, end)) \
        if resolution == "auto" else choose_resolution(0, resolution)
    if res == "raw":
        sql = f"""
            SELECT p.interval_start AS interval_start, p.interval_minutes AS interval_minutes, p.price AS price,
                   d.demand_mw AS demand_mw, p.source = {{demo:String}} AS is_demo
            FROM {_PRICES_WITH_DEMAND}
            ORDER BY interval_start
            SETTINGS join_use_nulls = 1"""  # noqa: S608 -- only the fixed join text is formatted in
        params["demo"] = DEMO_SOURCE
    else:
        table = "prices_hourly" if res == "hour" else "prices_daily"
        minutes = 60 if res == "hour" else 1440
        sql = f"""
            SELECT bucket AS interval_start, toUInt16({minutes}) AS interval_minutes,
                   sum(price_sum) / sum(samples) AS price, CAST(NULL, 'Nullable(Float64)') AS demand_mw,
                   sum(demo_samples) > 0 AS is_demo
            FROM {table}
            WHERE market = {{m:String}} AND location = {{l:String}} AND price_kind = {{k:String}}
              AND bucket >= {{s:DateTime64(3, 'UTC')}} AND bucket < {{e:DateTime64(3, 'UTC')}}
            GROUP BY bucket ORDER BY bucket"""  # noqa: S608 -- the table is one of two fixed names
    df = store.query_df(sql, params)
    if res == "day" and not df.empty:
        df["interval_minutes"] = day_minutes(df["interval_start"], known_market(market).tz)
    if res != "raw" and not df.empty:
        df = _attach_aggregate_demand(store, df, market, location, start, end, res)
    df["is_demo"] = df["is_demo"].astype(bool)
    return df, res


def day_minutes(starts: pd.Series, tz: str) -> np.ndarray:
    """The length in minutes of each market day that starts at ``starts`` (UTC): 1,440, but 1,380 and 1,500 on
    the days daylight saving begins and ends in a market that keeps it (Brazil until 2019, PJM, ISO-NE)."""
    local = pd.DatetimeIndex(starts).tz_convert(tz)
    following = pd.DatetimeIndex([day_start(day + dt.timedelta(days=1), tz) for day in local.date])
    return ((following - local) / pd.Timedelta(minutes=1)).to_numpy().astype("uint16")


def _attach_aggregate_demand(store: Store, df: pd.DataFrame, market: str, location: str, start: pd.Timestamp,
                             end: pd.Timestamp, res: str) -> pd.DataFrame:
    """Mean demand per bucket from the hourly demand aggregate (days as the daily price aggregate has them)."""
    bucket = "bucket" if res == "hour" else market_day_start("bucket")
    params = {"m": market, "l": location, "s": start.to_pydatetime(), "e": end.to_pydatetime()}
    extra = store.query_df(
        f"SELECT {bucket} AS interval_start, sum(demand_sum) / sum(samples) AS demand_mw FROM demand_hourly "  # noqa: S608 -- the bucket expression is fixed code; values are bound parameters
        "WHERE market = {m:String} AND location = {l:String} "
        "AND bucket >= {s:DateTime64(3, 'UTC')} AND bucket < {e:DateTime64(3, 'UTC')} GROUP BY interval_start",
        params)
    return df.drop(columns=["demand_mw"]).merge(extra, on="interval_start", how="left")


#: What a view reads its pieces through: ``read(fn, *args)`` answers ``fn(store, *args)``, from a cache or not.
Reader = Callable[..., Any]


def reading(store: Store) -> Reader:
    """A reader with no cache: each piece is read from the store."""
    return lambda fn, *args: fn(store, *args)


#: A range of at most this many market months is assembled from month pieces (see month_prices); a longer one
#: (drawn as daily means, or hourly ones over years) is read in one query.
MAX_PIECE_MONTHS = 24


def market_months(info: Market, start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    """The first days (ISO, market time) of the market months that ``[start, end)`` (UTC instants) touches."""
    last = (end - pd.Timedelta(milliseconds=1)).tz_convert(info.tz)
    return [f"{month}-01" for month in month_span(start.tz_convert(info.tz), last)]


def month_range(market: str, month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A market month (its first day, ISO) as UTC instants, end exclusive."""
    day = checked_date(month, "month")
    if day.day != 1:
        raise QueryError(f"a month is named by its first day (got {shown(month)})")
    following = (pd.Timestamp(day) + pd.offsets.MonthBegin(1)).date()
    return parse_range(known_market(market), day, following)


def month_prices(store: Store, market: str, location: str, price_kind: str, month: str) -> pd.DataFrame:
    """One market month of a location's price series, interval by interval with the demand of each (as
    ``price_series`` draws raw intervals): a piece that every short range within the month is cut from."""
    start, end = month_range(market, month)
    return price_series(store, market, location, start, end, price_kind=price_kind, resolution="raw")[0]


def month_hours(store: Store, market: str, location: str, price_kind: str, month: str) -> pd.DataFrame:
    """One market month of a location's hourly sums (``bucket``, UTC hour start; ``samples``, ``price_sum``,
    ``price_min``, ``price_max``, ``negatives``, ``demo_samples``; ``demand_mw``, the hour's mean demand, NaN
    where none is stored): the piece that a range's hourly series, statistics and heatmap are summed from."""
    start, end = month_range(market, month)
    params = _range_params(market, location, price_kind, start, end)
    hours = store.query_df(
        "SELECT bucket, sum(samples) AS samples, sum(price_sum) AS price_sum, min(price_min) AS price_min, "
        "max(price_max) AS price_max, sum(negatives) AS negatives, sum(demo_samples) AS demo_samples "
        "FROM prices_hourly WHERE market = {m:String} AND location = {l:String} AND price_kind = {k:String} "
        "AND bucket >= {s:DateTime64(3, 'UTC')} AND bucket < {e:DateTime64(3, 'UTC')} GROUP BY bucket "
        "ORDER BY bucket", params)
    demand = store.query_df(
        "SELECT bucket, sum(demand_sum) / sum(samples) AS demand_mw FROM demand_hourly "
        "WHERE market = {m:String} AND location = {l:String} "
        "AND bucket >= {s:DateTime64(3, 'UTC')} AND bucket < {e:DateTime64(3, 'UTC')} GROUP BY bucket", params)
    return hours.merge(demand, on="bucket", how="left")


def cut_pieces(pieces: list[pd.DataFrame], column: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The rows of month pieces whose ``column`` lies in ``[start, end)``, in the pieces' order."""
    held = [p for p in pieces if not p.empty] or pieces[:1]
    frame = held[0] if len(held) == 1 else pd.concat(held, ignore_index=True)
    if frame.empty:  # an empty piece may come without its columns
        return frame
    times = frame[column]
    return frame.loc[(times >= start) & (times < end)].reset_index(drop=True)


def range_hours(read: Reader, market: str, location: str, price_kind: str, start: pd.Timestamp,
                end: pd.Timestamp) -> pd.DataFrame:
    """The hourly sums (``month_hours``) of ``[start, end)``, cut from the month pieces it touches."""
    months = market_months(known_market(market), start, end)
    return cut_pieces([read(month_hours, market, location, price_kind, m) for m in months], "bucket", start, end)


def range_prices(read: Reader, market: str, location: str, price_kind: str, start: pd.Timestamp,
                 end: pd.Timestamp) -> pd.DataFrame:
    """The raw intervals (``month_prices``) of ``[start, end)``, cut from the month pieces it touches."""
    months = market_months(known_market(market), start, end)
    return cut_pieces([read(month_prices, market, location, price_kind, m) for m in months], "interval_start",
                      start, end)


def hourly_series(hours: pd.DataFrame) -> pd.DataFrame:
    """The hourly means a chart draws (as ``price_series`` at resolution ``hour``), from hourly sums."""
    return pd.DataFrame({"interval_start": hours["bucket"], "interval_minutes": np.full(len(hours), 60, "uint16"),
                         "price": hours["price_sum"] / hours["samples"], "is_demo": hours["demo_samples"] > 0,
                         "demand_mw": hours["demand_mw"]})


def pieced_series(read: Reader, market: str, location: str, start: pd.Timestamp, end: pd.Timestamp, *,
                  price_kind: str = "settlement", resolution: str = "auto") -> tuple[pd.DataFrame, str] | None:
    """``price_series`` cut from month pieces read through ``read``; None for a range drawn as daily means or
    touching more than MAX_PIECE_MONTHS months (read in one query instead)."""
    if len(market_months(known_market(market), start, end)) > MAX_PIECE_MONTHS:
        return None
    res = resolution
    hours = None
    if resolution in ("auto", "hour"):
        hours = range_hours(read, market, location, price_kind, start, end)
        res = choose_resolution(int(hours["samples"].sum()), resolution)
    else:
        res = choose_resolution(0, resolution)
    if res == "raw":
        return range_prices(read, market, location, price_kind, start, end), res
    if res == "hour":
        return hourly_series(hours), res
    return None


@dataclass(frozen=True)
class PriceStats:
    """A range's price statistics; the prices are None when the range holds no interval (or, for the weighted
    mean, no demand)."""
    intervals: int = 0
    min_price: float | None = None
    mean_price: float | None = None
    max_price: float | None = None
    volume_weighted_price: float | None = None
    negative_intervals: int = 0


def price_stats(store: Store, market: str, location: str, start: pd.Timestamp, end: pd.Timestamp, *,
                price_kind: str = "settlement") -> PriceStats:
    """Min, mean, max and count of negative prices over every stored interval in the range, and the
    demand-weighted mean price, weighted interval by interval: exact, a join of the raw rows."""
    return _stats_row(store.query_df(f"""
        SELECT count() AS intervals, min(p.price) AS min_price, avg(p.price) AS mean_price, max(p.price) AS max_price,
               sumIf(p.price * d.demand_mw, d.demand_mw IS NOT NULL)
                   / nullIf(sumIf(d.demand_mw, d.demand_mw IS NOT NULL), 0) AS volume_weighted_price,
               countIf(p.price < 0) AS negative_intervals
        FROM {_PRICES_WITH_DEMAND}
        SETTINGS join_use_nulls = 1, join_algorithm = 'full_sorting_merge'""",  # noqa: S608 -- fixed join text
        _range_params(market, location, price_kind, start, end)))


def hourly_price_stats(store: Store, market: str, location: str, start: pd.Timestamp, end: pd.Timestamp, *,
                       price_kind: str = "settlement") -> PriceStats:
    """``price_stats`` for long ranges, read from the hourly aggregate (ranges start and end on the hour): the
    counts, extremes and mean are the same (sums and counts per hour). The demand-weighted mean is left
    ``None``: a page drawing hourly or daily means weighs those (``weighted_mean_price``)."""
    return _stats_row(store.query_df("""
        SELECT sum(samples) AS intervals, min(price_min) AS min_price, sum(price_sum) / sum(samples) AS mean_price,
               max(price_max) AS max_price, CAST(NULL, 'Nullable(Float64)') AS volume_weighted_price,
               sum(negatives) AS negative_intervals
        FROM prices_hourly
        WHERE market = {m:String} AND location = {l:String} AND price_kind = {k:String}
          AND bucket >= {s:DateTime64(3, 'UTC')} AND bucket < {e:DateTime64(3, 'UTC')}""",
        _range_params(market, location, price_kind, start, end)))


def stats_of_prices(rows: pd.DataFrame) -> PriceStats:
    """``price_stats`` of raw intervals at hand (``price`` and ``demand_mw`` columns, as ``month_prices``)."""
    if rows.empty:
        return PriceStats()
    price = rows["price"].to_numpy(dtype=float)
    demand = rows["demand_mw"].to_numpy(dtype=float)
    known = ~np.isnan(demand)
    weight = float(demand[known].sum())
    return PriceStats(int(len(price)), float(price.min()), float(price.mean()), float(price.max()),
                      float((price[known] * demand[known]).sum() / weight) if weight != 0 else None,
                      int((price < 0).sum()))


def stats_of_hours(hours: pd.DataFrame) -> PriceStats:
    """``hourly_price_stats`` of hourly sums at hand (as ``month_hours``)."""
    samples = int(hours["samples"].sum())
    if not samples:
        return PriceStats()
    return PriceStats(samples, float(hours["price_min"].min()), float(hours["price_sum"].sum() / samples),
                      float(hours["price_max"].max()), None, int(hours["negatives"].sum()))


def _stats_row(df: pd.DataFrame) -> PriceStats:
    row = df.iloc[0].to_dict()
    if not row["intervals"]:
        return PriceStats()
    values = {}
    for f in fields(PriceStats):
        v = row[f.name]
        values[f.name] = None if pd.isna(v) else int(v) if f.name.endswith("intervals") else float(v)
    return PriceStats(**values)


def duration_curve(store: Store, market: str, location: str, start: pd.Timestamp, end: pd.Timestamp, *,
                   price_kind: str = "settlement", points: int = 201) -> pd.DataFrame:
    """Price exceeded for each share of intervals (0-100 %): exact order statistics of every raw interval,
    read off one sort in the database (nearest rank)."""
    df = store.query_df(
        "SELECT arrayMap(i -> a[toUInt64(1 + round((length(a) - 1) * (1 - i / ({n:UInt32} - 1))))], "
        "range({n:UInt32})) AS q FROM (SELECT arraySort(groupArray(price)) AS a FROM prices FINAL "
        "WHERE market = {m:String} AND location = {l:String} AND price_kind = {k:String} "
        "AND interval_start >= {s:DateTime64(3, 'UTC')} AND interval_start < {e:DateTime64(3, 'UTC')}) "
        "WHERE length(a) > 0",
        {**_range_params(market, location, price_kind, start, end), "n": points})
    if df.empty:
        return pd.DataFrame({"exceedance_pct": [], "price": []})
    return pd.DataFrame({"exceedance_pct": [100 * i / (points - 1) for i in range(points)],
                         "price": list(df.at[0, "q"])})


def duration_curve_of(prices: pd.Series, points: int = 201) -> pd.DataFrame:
    """The duration curve of values already at hand (the hourly or daily means a chart draws), read off the
    sorted values by nearest rank exactly as ``duration_curve`` reads them in the database."""
    values = np.sort(prices.dropna().to_numpy(dtype=float))
    if not len(values):
        return pd.DataFrame({"exceedance_pct": [], "price": []})
    share = np.arange(points) / (points - 1)
    # np.round rounds half to even, as ClickHouse's round does for floats
    ranks = np.round((len(values) - 1) * (1 - share)).astype(int)
    return pd.DataFrame({"exceedance_pct": 100 * share, "price": values[ranks]})


def weighted_mean_price(series: pd.DataFrame) -> float | None:
    """Demand-weighted mean of a series' prices, over the rows where both are known."""
    both = series["price"].notna() & series["demand_mw"].notna()
    weight = float(series.loc[both, "demand_mw"].sum())
    if not both.any() or weight == 0:
        return None
    return float((series.loc[both, "price"] * series.loc[both, "demand_mw"]).sum() / weight)


HEATMAP_ROWS = ("day", "month")


def hour_day_heatmap(store: Store, market: str, location: str, start: pd.Timestamp, end: pd.Timestamp, *,
                     tz: str, price_kind: str = "settlement", rows: str = "day") -> pd.DataFrame:
    """Mean price by local day or month (rows) and hour of day (columns) in the display time zone ``tz``,
    from the hourly aggregate (exact: sums and counts), so a long range costs one row per hour."""
    if rows not in HEATMAP_ROWS:
        raise QueryError(f"rows must be one of {', '.join(HEATMAP_ROWS)} (got {rows!r})")
    period = "toString(toDate(bucket, {tz:String}))" if rows == "day" else \
        "formatDateTime(toStartOfMonth(toDate(bucket, {tz:String})), '%Y-%m')"
    df = store.query_df(
        f"SELECT {period} AS day, toHour(bucket, {{tz:String}}) AS hour, "  # noqa: S608 -- the period expression is one of two fixed ones; values are bound parameters
        "sum(price_sum) / sum(samples) AS price FROM prices_hourly "
        "WHERE market = {m:String} AND location = {l:String} AND price_kind = {k:String} "
        "AND bucket >= {s:DateTime64(3, 'UTC')} AND bucket < {e:DateTime64(3, 'UTC')} "
        "GROUP BY day, hour ORDER BY day, hour",
        {**_range_params(market, location, price_kind, start, end), "tz": tz})
    return df.pivot(index="day", columns="hour", values="price").reindex(columns=range(24))


def heatmap_of_hours(hours: pd.DataFrame, *, tz: str, rows: str = "day") -> pd.DataFrame:
    """``hour_day_heatmap`` of hourly sums at hand (as ``month_hours``), summed in numpy: pandas' grouping and
    pivoting took longer than the rest of a view cut from cached pieces."""
    if rows not in HEATMAP_ROWS:
        raise QueryError(f"rows must be one of {', '.join(HEATMAP_ROWS)} (got {rows!r})")
    wall = hours["bucket"].dt.tz_convert(tz).dt.tz_localize(None).to_numpy(dtype="datetime64[m]")
    hour = (wall.astype("datetime64[h]") - wall.astype("datetime64[D]")).astype(int)
    period = wall.astype("datetime64[D]" if rows == "day" else "datetime64[M]")
    periods, row = np.unique(period, return_inverse=True)
    price_sum, samples = np.zeros((len(periods), 24)), np.zeros((len(periods), 24))
    np.add.at(price_sum, (row, hour), hours["price_sum"].to_numpy(dtype=float))
    np.add.at(samples, (row, hour), hours["samples"].to_numpy(dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(samples > 0, price_sum / samples, np.nan)
    labels = pd.Index(np.datetime_as_string(periods), dtype="string", name="day")
    return pd.DataFrame(means, index=labels, columns=pd.RangeIndex(24, name="hour"))


@dataclass(frozen=True)
class Freshness:
    market: str
    dataset: str
    latest_end: pd.Timestamp | None
    age: pd.Timedelta | None
    expected_delay: pd.Timedelta
    is_demo: bool

    @property
    def status(self) -> str:
        if self.latest_end is None:
            return "empty"
        if self.is_demo:
            return "demo"
        return "fresh" if self.age is not None and self.age <= self.expected_delay else "delayed"

    def label(self) -> str:
        name = f"{self.market} {self.dataset}"
        if self.latest_end is None:
            return f"{name}: no data"
        if self.is_demo:
            return f"{name}: demo data"
        if self.age is None:  # unreachable: a stored interval always has an age
            raise ValueError("freshness without an age")
        age = _humanize(self.age)
        return f"{name}: {age} old" if self.status == "fresh" else f"{name}: delayed {age}"


def _humanize(delta: pd.Timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


def series_for_export(series: pd.DataFrame, tz: str, *, currency: str | None = None,
                      tz_label: str | None = None) -> pd.DataFrame:
    """The series as analysts download it: interval start as ISO 8601 with the offset of ``tz``, the price and
    demand unrounded. A page's download names the zone (``tz_label``: ``interval_start (NEM time (UTC+10))``) and
    the price's unit (``currency``: ``price (AUD/MWh)``) in the headers; without them the columns keep the bare
    names the REST API answers with (its clients read them by name)."""
    return pd.DataFrame({
        "interval_start" + (f" ({tz_label})" if tz_label else ""): iso_times(series["interval_start"], tz),
        "interval_minutes": series["interval_minutes"].astype(int).to_numpy(),
        "price" + (f" ({currency}/MWh)" if currency else ""): series["price"].astype(float).to_numpy(),
        "demand_mw": series["demand_mw"].astype(float).to_numpy(),
    })


def latest_for_export(latest: pd.DataFrame, tz: str) -> pd.DataFrame:
    """latest_prices as analysts download it (and the API answers it): interval start as ISO 8601 with the offset
    of ``tz``."""
    return latest.assign(interval_start=iso_times(latest["interval_start"], tz))


def iso_times(times: pd.Series | pd.DatetimeIndex, tz: str) -> np.ndarray:
    """Instants as ``Timestamp.isoformat()`` writes them in ``tz`` (``2024-01-01T00:00:00+10:00``); "" for a
    missing one. Every CSV a user downloads writes its times through this. Vectorised: one by one it was most of
    a long range's answer time."""
    if len(times) == 0:  # an empty column may not even be typed as times
        return np.array([], dtype=object)
    utc = pd.DatetimeIndex(times).tz_convert("UTC").as_unit("ns")  # the store's are ms: asi8 below counts ns
    local = utc.tz_convert(tz)
    missing = np.asarray(utc.isna())
    wall = local.tz_localize(None)
    offset = (wall.asi8 - utc.tz_localize(None).asi8) // 1_000_000_000
    present = ~missing
    if (wall.asi8[present] % 1_000_000_000).any() or (offset[present] % 60).any():
        # sub-second times, or an offset with seconds (historical zones): isoformat's own digits
        return np.array(["" if pd.isna(t) else t.isoformat() for t in local], dtype=object)
    sign = np.where(offset < 0, "-", "+")
    minutes = np.abs(offset) // 60
    text = np.char.add(np.char.add(np.datetime_as_string(wall.to_numpy(dtype="datetime64[s]"), unit="s"), sign),
                       np.char.add(np.char.zfill((minutes // 60).astype(str), 2),
                                   np.char.add(":", np.char.zfill((minutes % 60).astype(str), 2))))
    return np.where(missing, "", text).astype(object)


#: Datasets whose freshness is watched, by table; the expected delay comes from the market's metadata.
FRESHNESS_TABLES = {
    "prices": "prices", "demand": "demand", "interconnector_flows": "interconnectors",
    "intertie_schedules": "intertie schedules", "generation": "generation", "reservoirs": "reservoirs",
    "nodal_lmp": "nodal LMPs",
}


def dataset_freshness(store: Store, now: pd.Timestamp | None = None) -> list[Freshness]:
    """Newest stored interval end per market and dataset, against the market's expected publication delay."""
    now = now or pd.Timestamp.now(tz="UTC")
    # Forecast series (location "...:forecast") run into the future; freshness is about what was measured.
    parts = " UNION ALL ".join(
        f"SELECT market, '{label}' AS dataset, max(interval_start + toIntervalMinute(interval_minutes)) AS latest_end,"  # noqa: S608 -- tables and labels come from FRESHNESS_TABLES, never from a request
        f" max(interval_start) AS latest_start FROM {table}"
        + (" WHERE location NOT LIKE '%:forecast'" if table == "demand" else "") + " GROUP BY market"
        for table, label in FRESHNESS_TABLES.items())
    df = store.query_df(f"SELECT * FROM ({parts}) ORDER BY market, dataset")  # noqa: S608 -- the union is built from FRESHNESS_TABLES above
    demo = _demo_latest(store, df)
    out = []
    for r in df.itertuples():
        info = MARKETS.get(r.market)
        expected = pd.Timedelta(minutes=info.expected_delay(r.dataset) if info else 1440)
        out.append(Freshness(r.market, r.dataset, r.latest_end, now - r.latest_end, expected,
                             (r.market, r.dataset) in demo))
    return out


def _demo_latest(store: Store, latest: pd.DataFrame) -> set[tuple[str, str]]:
    """(market, dataset) pairs whose newest interval is demo data; reads only the newest interval's rows."""
    found = set()
    label_to_table = {v: k for k, v in FRESHNESS_TABLES.items()}
    for r in latest.itertuples():
        table = label_to_table[r.dataset]
        if store.scalar(f"SELECT count() > 0 FROM {table} WHERE market = {{m:String}} AND source = {{d:String}} "  # noqa: S608 -- the table comes from FRESHNESS_TABLES; values are bound parameters
                        "AND interval_start = {t:DateTime64(3, 'UTC')}",
                        {"m": r.market, "d": DEMO_SOURCE, "t": r.latest_start.to_pydatetime()}):
            found.add((r.market, r.dataset))
    return found


def nodal_runs(store: Store) -> list[tuple[str, str]]:
    """(market, market run) pairs with published nodal prices in the store (from their days: a full network's
    year is 96 million hours, 4 million days)."""
    df = store.query_df("SELECT DISTINCT market, market_run FROM nodal_lmp_daily ORDER BY market, market_run")
    return list(df.itertuples(index=False, name=None))


def demo_nodal_markets(store: Store) -> frozenset[str]:
    """The markets whose published nodal prices are demo data (engine.demo), for the page to say so."""
    found = store.query_df("SELECT DISTINCT market FROM node_metadata WHERE source = {d:String}",
                           {"d": DEMO_SOURCE})
    return frozenset(found["market"]) if len(found) else frozenset()


def nodal_hubs(store: Store, market: str) -> pd.DataFrame:
    """The market's trading hubs (node type HUB), with a readable label."""
    return store.query_df(
        "SELECT node, if(node_name != '', concat(node_name, ' (', node, ')'), node) AS label FROM node_metadata FINAL "
        "WHERE market = {m:String} AND upper(node_type) = 'HUB' ORDER BY label", {"m": market})


def nodal_prices(store: Store, market: str, run: str, days: int = 31) -> pd.DataFrame:
    """The last ``days`` days of a market run's published nodal prices, one row per interval and node."""
    return store.query_df(
        "SELECT interval_start, node, lmp, energy, congestion, loss FROM nodal_lmp FINAL "
        "WHERE market = {m:String} AND market_run = {r:String} AND interval_start > "
        "(SELECT max(bucket) FROM nodal_lmp_hourly WHERE market = {m:String} AND market_run = {r:String}) "
        "- toIntervalDay({d:UInt16})", {"m": market, "r": run, "d": days})


def node_names(store: Store, market: str) -> dict[str, str]:
    df = store.query_df("SELECT node, node_name FROM node_metadata FINAL WHERE market = {m:String} "
                        "AND node_name != ''", {"m": market})
    return dict(zip(df["node"], df["node_name"], strict=True))
