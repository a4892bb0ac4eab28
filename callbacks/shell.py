"""The freshness badges in the navigation bar, on every page."""
from __future__ import annotations

from dash import Input, Output, State, callback

from app.services import services
from components.freshness import freshness_badges
from components.shell import FRESHNESS_PATH
from engine import queries


def freshness() -> list[queries.Freshness]:
    return services().cached(queries.dataset_freshness)


@callback(Output("freshness-badges", "children"), Input("url", "pathname"), Input("freshness-tick", "n_intervals"),
          State("freshness-link", "data"))
def badges(_path, _tick, link):
    return freshness_badges(freshness(), FRESHNESS_PATH if link == FRESHNESS_PATH else None)
