"""The frame around every page: navigation bar with the data-freshness badges, and the page container."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

#: Pages in the order the navigation shows them; those not built yet are shown disabled, not linked.
NAV = (
    ("Market overview", "/"),
    ("Nodal map", "/nodal"),
    ("Forecasts", "/forecasts"),
    ("Signals", "/signals"),
    ("Marketplace", "/marketplace"),
    ("Admin", "/admin"),
)


def shell() -> html.Div:
    registered = {p["path"] for p in dash.page_registry.values()}
    links = [
        dbc.NavItem(dbc.NavLink(label, href=path, active="exact", disabled=path not in registered,
                                id=f"nav-{path.strip('/') or 'overview'}"))
        for label, path in NAV
    ]
    navbar = dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand("254Carbon Market Intelligence", href="/", className="fw-semibold"),
            dbc.Nav(links, navbar=True, className="me-auto"),
            html.Div(id="freshness-badges", className="d-flex gap-2 flex-wrap"),
        ], fluid=True),
        color="dark", dark=True, className="mb-3",
    )
    return html.Div([
        dcc.Location(id="url"),
        dcc.Interval(id="freshness-tick", interval=60_000),
        navbar,
        dbc.Container(dash.page_container, fluid=True),
    ])
