"""Basis of the operators' own published nodal prices (as the connectors loaded them) to one of their hubs."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine import queries
from engine.lmp.basis import basis, basis_statistics, basis_surface
from engine.markets import market as market_info
from engine.store import Store


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
    frame = basis(queries.nodal_prices(store, market, run), hub)
    zone = market_info(market).display_zone(zone_choice)
    frame["interval_start"] = frame["interval_start"].dt.tz_convert(zone)
    stats = basis_statistics(frame)
    names = queries.node_names(store, market)
    chosen = stats.reindex(stats["mean"].abs().sort_values(ascending=False).index).head(top)
    labels = {n: f"{names.get(n, '')} {n}".strip() for n in chosen["node"]}
    chosen.insert(0, "label", chosen["node"].map(labels))
    surface = basis_surface(frame[frame["node"].isin(chosen["node"])], by="hour")
    surface.index = surface.index.map(labels)
    return PublishedBasis(market, run, zone, chosen.reset_index(drop=True), surface)
