"""Per-market data versions: what a cached answer about one market is keyed on.

The writer raises a market's version after every batch that changed (or tried to change) its rows; an answer
cached under the old version is then never read again, while other markets' answers stay valid. A stored
forecast run raises its market's forecast-run version instead (``forecast_runs_key``): only the answers that
read stored runs (the forecasts and signals pages) are keyed on it too, so a run issued every few seconds at a
fresh start, or daily, leaves the market's price answers in place. The store holds the versions, so every web
worker and process sharing it sees a load at once.

A version's key is a market code, or ``"<market>/forecast_runs"`` (kept in the ``market`` column of
``data_versions``)."""
from __future__ import annotations

from collections.abc import Iterable

from engine.store.client import Store


#: What a version key names beside its market (``split_key``): its series (prices, demand, ...: the writer's
#: tables) or its stored forecast runs.
SERIES, FORECAST_RUNS = "series", "forecast_runs"


def forecast_runs_key(market: str) -> str:
    """The key of ``market``'s stored forecast runs' version."""
    return f"{market}/{FORECAST_RUNS}"


def split_key(key: str) -> tuple[str, str]:
    """(market, SERIES or FORECAST_RUNS) of a version key."""
    market, _, what = key.partition("/")
    return market, what or SERIES


def bump(store: Store, markets: Iterable[str]) -> None:
    """Raise the version of each of ``markets`` (version keys: a market's code, or ``forecast_runs_key``)."""
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


def market_version(store: Store, market: str) -> int:
    """The current version of a key (a market, or ``forecast_runs_key``; 0: never raised). Asked by every cached page
    answer, so remembered until the next bump where the store allows it (``Store.remember``)."""
    market = str(market)
    return store.remember(("data_versions",), ("market_version", market), lambda: int(store.scalar(
        "SELECT max(version) FROM data_versions WHERE market = {m:String}", {"m": market}) or 0))


def market_versions(store: Store) -> dict[str, int]:
    """Every key's current version (markets' and their forecast runs'), in one statement (keys never raised are
    absent); remembered as ``market_version`` is."""
    return store.remember(("data_versions",), ("market_versions",), lambda: {
        str(market): int(version) for market, version in store.query_rows(
            "SELECT market, max(version) FROM data_versions GROUP BY market")})
