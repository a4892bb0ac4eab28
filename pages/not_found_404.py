"""What an address that names no page shows (Dash's pages use the module named ``not_found_404`` for it): a
plain statement and the way on, instead of Dash's bare heading."""
from __future__ import annotations

import dash
from dash import html

dash.register_page(__name__, path="/404", name="Page not found", title="Page not found · 254Carbon")


def layout(**_query) -> html.Div:
    return html.Div([
        html.H4("Page not found", className="mb-2"),
        html.P("This address names no page of 254Carbon Market Intelligence: the navigation above lists the pages "
               "your account may open.", className="text-muted", id="not-found-message"),
    ], className="mt-3")
