"""The frame around every page: navigation bar with the data-freshness badges, and the page container.

The app decides which pages a user may open and passes just those (``nav``); the frame draws what it is
given, with the signed-in account and a sign-out button, or a notice such as local mode's."""
from __future__ import annotations

from collections.abc import Sequence

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
    ("Partner portal", "/partner"),
    ("Admin", "/admin"),
)


#: Where the freshness badges lead (the admin page's table of every dataset's age), for those who may open it.
FRESHNESS_PATH = "/admin"


def nav_id(path: str) -> str:
    return f"nav-{path.strip('/') or 'overview'}"


def _account_area(account: str | None, notice: str | None, sign_out_token: str | None) -> html.Div:
    parts = []
    if notice:
        parts.append(dbc.Badge(notice, color="warning", text_color="dark", id="shell-notice"))
    if account:
        parts.append(html.Span(account, id="shell-account", className="small text-light text-nowrap"))
    if sign_out_token is not None and account:
        # A plain form POST (with the CSRF token), not a link: a link elsewhere cannot sign anyone out.
        parts.append(html.Form([
            dcc.Input(type="hidden", name="csrf_token", value=sign_out_token),
            dbc.Button("Sign out", type="submit", size="sm", color="outline-light", id="shell-sign-out",
                       className="text-nowrap"),
        ], action="/logout", method="POST", className="m-0"))
    return html.Div(parts, className="d-flex gap-2 align-items-center ms-3")


def shell(nav: Sequence[tuple[str, str]] = NAV, *, home: str = "/", account: str | None = None,
          notice: str | None = None, sign_out_token: str | None = None) -> html.Div:
    registered = {p["path"] for p in dash.page_registry.values()}
    links = [
        dbc.NavItem(dbc.NavLink(label, href=path, active="exact", disabled=path not in registered, id=nav_id(path)))
        for label, path in nav
    ]
    navbar = dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand("254Carbon Market Intelligence", href=home, className="fw-semibold"),
            dbc.Nav(links, navbar=True, className="me-auto", id="shell-nav"),
            html.Div(id="freshness-badges", className="d-flex gap-2 flex-wrap"),
            _account_area(account, notice, sign_out_token),
        ], fluid=True, className="flex-wrap row-gap-2"),  # a long bar (admin, badges, account) wraps, never overflows
        color="dark", dark=True, className="mb-3",
    )
    return html.Div([
        dcc.Location(id="url"),
        dcc.Interval(id="freshness-tick", interval=60_000),
        # a badge links to the freshness table only for a user whose navigation has that page (others got a 403)
        dcc.Store(id="freshness-link", data=FRESHNESS_PATH if any(p == FRESHNESS_PATH for _, p in nav) else None),
        navbar,
        dbc.Container(dash.page_container, fluid=True),
    ])
