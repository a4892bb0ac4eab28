"""The freshness badges in the navigation bar, on every page."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output

from app.services import services
from engine import queries

COLOUR = {"fresh": "success", "delayed": "danger", "demo": "info", "empty": "secondary"}


def cached_freshness() -> list[queries.Freshness]:
    svc = services()
    key = f"freshness:{svc.data_version()}"
    found = svc.cache.get(key)
    if found is None:
        found = queries.dataset_freshness(svc.ready_store())
        svc.cache.set(key, found, timeout=60)
    return found


_HEADLINE = ("prices", "nodal LMPs", "demand")


def freshness_badges() -> list:
    """One badge per market: its headline dataset (prices first), coloured by the worst dataset of the
    market; hovering lists every dataset's age (the admin page has the full table)."""
    by_market: dict[str, list[queries.Freshness]] = {}
    for f in cached_freshness():
        by_market.setdefault(f.market, []).append(f)
    badges = []
    for market, items in by_market.items():
        rank = {d: i for i, d in enumerate(_HEADLINE)}
        head = min(items, key=lambda f: rank.get(f.dataset, len(rank)))
        worst = "delayed" if any(f.status == "delayed" for f in items) else head.status
        badges.append(dbc.Badge(head.label(), color=COLOUR[worst], className="fw-normal", href="/admin",
                                title="\n".join(f.label() for f in items),
                                id={"type": "freshness", "market": market}))
    return badges or [dbc.Badge("no data loaded", color="secondary")]


def register(app: dash.Dash) -> None:
    app.callback(Output("freshness-badges", "children"), Input("url", "pathname"),
                 Input("freshness-tick", "n_intervals"))(lambda _path, _n: freshness_badges())
