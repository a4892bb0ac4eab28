"""The freshness badges in the navigation bar, on every page."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output

from app.services import services
from engine import queries

_COLOUR = {"fresh": "success", "delayed": "danger", "demo": "info", "empty": "secondary"}


def freshness_badges() -> list:
    store = services().ready_store()
    badges = []
    for market in queries.markets_with_prices(store):
        f = queries.price_freshness(store, market)
        badges.append(dbc.Badge(f.label(), color=_COLOUR[f.status], className="fw-normal",
                                id={"type": "freshness", "market": market}))
    return badges or [dbc.Badge("no data loaded", color="secondary")]


def register(app: dash.Dash) -> None:
    app.callback(Output("freshness-badges", "children"), Input("url", "pathname"),
                 Input("freshness-tick", "n_intervals"))(lambda _path, _n: freshness_badges())
