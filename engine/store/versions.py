"""Per-market data versions: what a cached answer about one market is keyed on.

The writer raises a market's version after every batch that changed (or tried to change) its rows; an answer
cached under the old version is then never read again, while other markets' answers stay valid. A stored
forecast run raises its market's forecast-run version instead (``forecast_runs_key``): only the answers that
read stored runs (the forecasts and signals pages) are keyed on it too, so a run issued every few seconds at a
fresh start, or daily, leaves the market's price answers in place. The store holds the versions, so every web
worker and process sharing it sees a load at once.

A batch also raises a version per market month it touched (``month_key``): the pieces that overview ranges and
backtests are cut from each read one market month, and are keyed on that month's version, so a live load of
this month's intervals leaves the pieces of closed months cached. A change the writer cannot place in months
(demo rows dropped, a table without a time column) raises the market's every month at once (``all_months_key``),
which month-keyed answers are keyed on as well. A batch that brings a price series the market did not hold (a
location, or a price kind at a location) raises the market's series set (``series_set_key``): what the lists of
locations and kinds are keyed on, and with them the answers that read one range of months and pick a default kind.

A version's key is a market code, ``"<market>/forecast_runs"``, ``"<market>@<YYYY-MM>"``, ``"<market>@*"`` or
``"<market>#series"`` (kept in the ``market`` column of ``data_versions``)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pandas as pd

from engine.store.client import Store


#: What a version key names beside its market (``split_key``): its series (prices, demand, ...: the writer's
#: tables), its stored forecast runs, its series in one market month (or all of them), or which price series it holds.
SERIES, FORECAST_RUNS, MONTHS, SERIES_SET = "series", "forecast_runs", "months", "series_set"
_ALL_MONTHS = "*"
#: A batch's months are taken this far beyond its first and last rows (UTC) on either side: further than any
#: market's offset from UTC, so they hold every market month its rows fall in, whatever the market's zone or its
#: intervals' labelling.
_MONTH_MARGIN = pd.Timedelta(days=1)


def forecast_runs_key(market: str) -> str:
    """The key of ``market``'s stored forecast runs' version."""
    return f"{market}/{FORECAST_RUNS}"


def month_key(market: str, month: str) -> str:
    """The key of the version of ``market``'s series in one market month (``month``: ``YYYY-MM``, or an ISO date
    in it)."""
    return f"{market}@{month[:7]}"


def all_months_key(market: str) -> str:
    """The key raised when ``market``'s series changed in months not told apart: every month of it is stale."""
    return f"{market}@{_ALL_MONTHS}"


def series_set_key(market: str) -> str:
    """The key raised when ``market`` gains a price series (a location, or a price kind at a location)."""
    return f"{market}#series"


def split_key(key: str) -> tuple[str, str]:
    """(market, SERIES, FORECAST_RUNS, MONTHS or SERIES_SET) of a version key."""
    if "@" in key:
        return key.partition("@")[0], MONTHS
    if "#" in key:
        return key.partition("#")[0], SERIES_SET
    market, _, what = key.partition("/")
    return market, what or SERIES


def month_span(first: date, last: date) -> list[str]:
    """``YYYY-MM`` of each month from ``first``'s to ``last``'s (dates or timestamps; at least ``first``'s).
    Counted in plain integers: pandas' periods took 4 % of the serving process's time under load (every cached
    view of a range asks this)."""
    index, stop = first.year * 12 + first.month - 1, last.year * 12 + last.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index, max(index, stop) + 1)]


def months_between(first: pd.Timestamp, last: pd.Timestamp) -> list[str]:
    """``YYYY-MM`` of every month that rows from ``first`` to ``last`` (UTC instants) may fall in, in any market's
    time (``_MONTH_MARGIN``)."""
    return month_span(first - _MONTH_MARGIN, last + _MONTH_MARGIN)


def bump(store: Store, markets: Iterable[str]) -> None:
    """Raise the version of each of ``markets`` (version keys: a market's code, ``forecast_runs_key``,
    ``month_key``, ``all_months_key`` or ``series_set_key``)."""
    markets = sorted({str(m) for m in markets if m})
    if not markets:
        return
    # One statement, not a frame read through Python(): the bump follows every batch, and reading a frame cost
    # the embedded store 1-2 ms of CPU more. The version is the store's clock (microseconds), not the writing
    # host's: with several hosts, one whose clock is behind would write a version below the current one, which
    # max() does not see, and cached answers would outlive the data they were computed from.
    store.command("INSERT INTO data_versions (market, version, changed_at) "
                  "SELECT arrayJoin({m:Array(String)}), toUnixTimestamp64Micro(now64(6, 'UTC')), now64(3, 'UTC')",
                  {"m": markets})


def market_version(store: Store, key: str) -> int:
    """The current version of one key (a market, or any key ``bump`` takes; 0: never raised)."""
    return versions_of_market(store, split_key(str(key))[0]).get(str(key), 0)


def versions_of_market(store: Store, market: str) -> dict[str, int]:
    """The current version of every key of ``market`` (its own, its forecast runs', its series set's, each of its
    months'; keys never raised are absent), in one statement: a request asking for a range's month pieces needs
    several of them, and a ClickHouse server without write counts answers each lookup with a round trip.
    Remembered until the next bump where the store allows it (``Store.remember``)."""
    market = str(market)
    return store.remember(("data_versions",), ("versions_of_market", market), lambda: {
        str(key): int(version) for key, version in store.query_rows(
            "SELECT market, max(version) FROM data_versions WHERE market = {m:String} "
            "OR startsWith(market, {months:String}) OR startsWith(market, {runs:String}) "
            "OR startsWith(market, {set:String}) GROUP BY market",
            {"m": market, "months": f"{market}@", "runs": f"{market}/", "set": f"{market}#"})})


def market_versions(store: Store) -> dict[str, int]:
    """The current version of every market and of its forecast runs, in one statement (keys never raised are
    absent; month and series-set keys are left out, since a batch raises its market's key with them); remembered
    as ``versions_of_market`` is."""
    return store.remember(("data_versions",), ("market_versions",), lambda: {
        str(market): int(version) for market, version in store.query_rows(
            "SELECT market, max(version) FROM data_versions "
            "WHERE position(market, '@') = 0 AND position(market, '#') = 0 GROUP BY market")})
