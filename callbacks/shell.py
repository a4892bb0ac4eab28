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


def freshness_badges() -> list:
    badges = [dbc.Badge(f.label(), color=COLOUR[f.status], className="fw-normal",
                        id={"type": "freshness", "market": f.market, "dataset": f.dataset})
              for f in cached_freshness()]
    return badges or [dbc.Badge("no data loaded", color="secondary")]


def register(app: dash.Dash) -> None:
    app.callback(Output("freshness-badges", "children"), Input("url", "pathname"),
                 Input("freshness-tick", "n_intervals"))(lambda _path, _n: freshness_badges())
