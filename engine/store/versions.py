"""Per-market data versions: what a cached answer about one market is keyed on.

The writer raises a market's version after every batch that changed (or tried to change) its rows; an answer
cached under the old version is then never read again, while other markets' answers stay valid. The store
holds the versions, so every web worker and process sharing it sees a load at once."""
from __future__ import annotations

import time
from collections.abc import Iterable

import pandas as pd

from engine.store.client import Store


def bump(store: Store, markets: Iterable[str]) -> None:
    """Raise the version of each of ``markets``."""
    markets = sorted({str(m) for m in markets if m})
    if not markets:
        return
    # One statement with the values bound, not a frame read through Python(): the bump follows every batch, and
    # reading a frame cost the embedded store 1-2 ms of CPU more.
    changed_at = pd.Timestamp.now(tz="UTC").floor("ms").to_pydatetime()
    store.command("INSERT INTO data_versions (market, version, changed_at) "
                  "SELECT arrayJoin({m:Array(String)}), {v:UInt64}, {t:DateTime64(3, 'UTC')}",
                  {"m": markets, "v": time.time_ns() // 1000, "t": changed_at})


def market_version(store: Store, market: str) -> int:
    """The market's current version (0: nothing written through the writer yet). Asked by every cached page
    answer, so remembered until the next bump where the store allows it (``Store.remember``)."""
    market = str(market)
    return store.remember(("data_versions",), ("market_version", market), lambda: int(store.scalar(
        "SELECT max(version) FROM data_versions WHERE market = {m:String}", {"m": market}) or 0))


def market_versions(store: Store) -> dict[str, int]:
    """Every market's current version, in one statement (markets never written are absent); remembered as
    ``market_version`` is."""
    return store.remember(("data_versions",), ("market_versions",), lambda: {
        str(market): int(version) for market, version in store.query_rows(
            "SELECT market, max(version) FROM data_versions GROUP BY market")})
