"""Basis of the operators' own published nodal prices (as the connectors loaded them) to one of their hubs."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.lmp.basis import basis, basis_statistics, basis_surface
from engine.markets import market as market_info
from engine.queries import node_names
from engine.store import Store

#: The days of prices the basis covers: the last ones the store holds for the market run.
DAYS = 31
#: The window: interval starts after the latest hour held less ``DAYS`` days (as ``queries.nodal_prices``).
#: The latest hour is looked up once per answer: it reads every hour of the run, which at a full network's
#: size cost as much as the basis itself when each query looked it up again.
_WINDOW = "market = {m:String} AND market_run = {r:String} AND interval_start > {after:DateTime64(3, 'UTC')}"


@dataclass(frozen=True)
class PublishedBasis:
    market: str
    run: str
    zone: str                  # the IANA zone the hours of ``surface`` are in
    nodes: pd.DataFrame        # label, node, count, mean, std, p5, p50, p95: the largest mean basis first
    surface: pd.DataFrame      # mean basis, node label x hour of day


def published_basis(store: Store, market: str, run: str, hub: str, *, top: int = 20,
                    zone_choice: str = "market") -> PublishedBasis:
    """The ``top`` nodes by absolute mean basis to ``hub`` over the last 31 days the store holds, and their mean
    basis by hour of day in the market's time (or UTC). Raises KeyError when the hub has no prices."""
    window = _window(store, market, run)
    largest = _largest_mean_basis(store, window, hub, top)
    # Only the chosen nodes' prices (and the hub's) come back to be described: a full network's month is
    # millions of rows, which the store ranks in a fraction of the time pandas would take to receive them.
    frame = basis(_nodal_prices(store, window, sorted({*largest, hub})), hub)
    zone = market_info(market).display_zone(zone_choice)
    frame["interval_start"] = frame["interval_start"].dt.tz_convert(zone)
    stats = basis_statistics(frame[frame["node"].isin(largest)])
    names = node_names(store, market)
    chosen = stats.reindex(stats["mean"].abs().sort_values(ascending=False).index).head(top)
    labels = {n: f"{names.get(n, '')} {n}".strip() for n in chosen["node"]}
    chosen.insert(0, "label", chosen["node"].map(labels))
    surface = basis_surface(frame[frame["node"].isin(chosen["node"])], by="hour")
    surface.index = surface.index.map(labels)
    return PublishedBasis(market, run, zone, chosen.reset_index(drop=True), surface)


def _window(store: Store, market: str, run: str) -> dict:
    """The parameters of ``_WINDOW`` for the market run (a window holding nothing when it has no prices)."""
    latest = store.scalar("SELECT max(bucket) FROM nodal_lmp_hourly WHERE market = {m:String} "
                          "AND market_run = {r:String} HAVING count() > 0", {"m": market, "r": run})
    after = pd.Timestamp.max.tz_localize("UTC") if latest is None else pd.Timestamp(latest) - pd.Timedelta(days=DAYS)
    return {"m": market, "r": run, "after": after.floor("ms").to_pydatetime()}


def _largest_mean_basis(store: Store, window: dict, hub: str, top: int) -> list[str]:
    """The ``top`` nodes of the market run with the largest absolute mean basis to ``hub`` over the window
    (the hub price at a time is the mean of the hub node's prices then; times without one have no basis)."""
    found = store.query_df(
        "SELECT node, avg(p.lmp - h.hub) AS mean_basis "  # noqa: S608 -- the window is fixed SQL; values are bound
        f"FROM (SELECT interval_start, node, lmp FROM nodal_lmp FINAL WHERE {_WINDOW}) AS p "
        "INNER JOIN (SELECT interval_start, avg(lmp) AS hub FROM nodal_lmp FINAL "
        f"WHERE {_WINDOW} AND node = {{h:String}} GROUP BY interval_start) AS h USING interval_start "
        "GROUP BY node ORDER BY abs(mean_basis) DESC, node LIMIT {top:UInt32}",
        {**window, "h": str(hub), "top": max(int(top), 0)}, columns_if_empty=False)
    if found.empty:
        raise KeyError(f"hub nodes not in the prices: {[str(hub)]}")
    return [str(n) for n in found["node"]]


def _nodal_prices(store: Store, window: dict, nodes: list[str]) -> pd.DataFrame:
    """The window's published prices of ``nodes``, one row per interval and node."""
    return store.query_df(
        "SELECT interval_start, node, lmp, energy, congestion, loss FROM nodal_lmp FINAL "  # noqa: S608 -- the window is fixed SQL; values are bound
        f"WHERE {_WINDOW} AND node IN {{n:Array(String)}}",
        {**window, "n": nodes})
