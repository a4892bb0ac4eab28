"""The freshness badges in the navigation bar, on every page."""
from __future__ import annotations

from dash import Input, Output, callback

from app.services import services
from components.freshness import freshness_badges
from engine import queries


def freshness() -> list[queries.Freshness]:
    return services().cached(queries.dataset_freshness)


@callback(Output("freshness-badges", "children"), Input("url", "pathname"), Input("freshness-tick", "n_intervals"))
def badges(_path, _tick):
    return freshness_badges(freshness())
