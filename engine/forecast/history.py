"""The hourly history frame a model trains on, built from the store for one price series.

Models see market-local wall-clock hours (as the epftoolbox files are written), so that a day is 24 rows and
hour-of-day and weekday features mean what a trader means. NEM and IESO keep no DST, so their local hours map
one to one onto UTC; for a market with DST the repeated autumn hour is averaged and the missing spring hour
interpolated (:func:`to_local_hours`), and :func:`to_utc` maps forecast hours back to UTC instants.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.forecast.base import PRICE
from engine.markets import MARKETS
from engine.queries import price_kinds
from engine.store import Store

#: A series needs this much history for the nightly transformer training (the issue's "at least a year").
TRAINING_MIN_DAYS = 365
#: Longest gap (hours) filled by interpolation; a longer one is left missing and the models see NaN.
MAX_FILLED_GAP_HOURS = 6


@dataclass(frozen=True)
class Series:
    """One stored price series a forecast is made for."""
    market: str
    location: str
    price_kind: str

    @property
    def key(self) -> str:
        return f"{self.market}:{self.location}"


def default_series(store: Store, market: str, location: str) -> Series | None:
    """The series the overview shows first for a location (settlement before dispatch, ...), None if none."""
    kinds = price_kinds(store, market, location)
    return Series(market, location, kinds[0]) if kinds else None


def stored_series(store: Store, min_days: int = 0) -> list[Series]:
    """Every stored location's default price series with at least ``min_days`` days of prices."""
    df = store.query_df("SELECT market, location, count() AS days FROM prices_daily GROUP BY market, location "
                        "HAVING days >= {n:UInt32} ORDER BY market, location", {"n": min_days})
    found = (default_series(store, m, loc) for m, loc in zip(df["market"], df["location"], strict=True))
    return [s for s in found if s is not None]


def hourly_prices(store: Store, series: Series, end: pd.Timestamp | None = None,
                  days: int | None = None) -> pd.Series:
    """Hourly mean prices (UTC hour starts) from the hourly aggregate; ``end`` (UTC, exclusive) and ``days``
    bound the window."""
    clauses, params = [], {"m": series.market, "l": series.location, "k": series.price_kind}
    if end is not None:
        clauses.append("bucket < {e:DateTime64(3, 'UTC')}")
        params["e"] = end
        if days is not None:
            clauses.append("bucket >= {s:DateTime64(3, 'UTC')}")
            params["s"] = end - pd.Timedelta(days=days)
    extra = "".join(f" AND {c}" for c in clauses)
    df = store.query_df(
        "SELECT bucket, sum(price_sum) / sum(samples) AS price FROM prices_hourly WHERE market = {m:String} "  # noqa: S608 -- only fixed clauses are formatted in
        f"AND location = {{l:String}} AND price_kind = {{k:String}}{extra} GROUP BY bucket ORDER BY bucket", params)
    return pd.Series(df["price"].to_numpy(float), index=pd.DatetimeIndex(df["bucket"]).tz_convert("UTC"), name=PRICE)


def to_local_hours(prices: pd.Series, timezone: str) -> pd.Series:
    """UTC hourly prices → a gap-free market-local wall-clock hourly series (naive timestamps)."""
    if prices.empty:
        return prices.copy()
    local = prices.copy()
    local.index = prices.index.tz_convert(timezone).tz_localize(None)
    local = local.groupby(level=0).mean()  # the repeated autumn hour of a DST market
    full = pd.date_range(local.index[0], local.index[-1], freq="h")
    return local.reindex(full).interpolate(limit=MAX_FILLED_GAP_HOURS, limit_area="inside").rename(PRICE)


def to_utc(local_hours: pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    """Market-local wall-clock hours → UTC instants: the repeated autumn hour is taken as its first occurrence,
    and the spring hour that never happened is NaT (a forecast of it is dropped, not moved onto the next)."""
    return local_hours.tz_localize(timezone, ambiguous=np.ones(len(local_hours), bool),
                                   nonexistent="NaT").tz_convert("UTC")


def history_frame(store: Store, series: Series, end: pd.Timestamp | None = None,
                  days: int | None = None) -> pd.DataFrame:
    """The history frame (engine.forecast.base) of one series: market-local hours, column ``price``."""
    prices = hourly_prices(store, series, end, days)
    return to_local_hours(prices, MARKETS[series.market].timezone).to_frame()
