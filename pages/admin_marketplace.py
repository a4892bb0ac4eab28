"""The marketplace's administration: partners (approve, suspend, reinstate), products (list, delist) and the
platform's revenue by month (table, bar chart, CSV)."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from components.marketplace import GRAPH_CONFIG

dash.register_page(__name__, path="/admin/marketplace", name="Marketplace admin",
                   title="Marketplace admin · 254Carbon")

#: Ids the callbacks read and write.
PARTNERS, PARTNER, APPROVE, SUSPEND, PARTNER_MESSAGE = "am-partners", "am-partner", "am-approve", "am-suspend", \
    "am-partner-message"
PRODUCTS, PRODUCT, LIST, DELIST, PRODUCT_MESSAGE = "am-products", "am-product", "am-list", "am-delist", \
    "am-product-message"
REVENUE_TABLE, REVENUE_CHART, REVENUE_CSV, REVENUE_DOWNLOAD = "am-revenue", "am-revenue-chart", "am-revenue-csv", \
    "am-revenue-download"
CHANGED = "am-changed"


def _chooser(ident: str, placeholder: str, buttons: list, message: str) -> html.Div:
    return html.Div([
        dbc.Row([dbc.Col(dcc.Dropdown(id=ident, placeholder=placeholder), xs=12, md=5),
                 dbc.Col(buttons, xs=12, md="auto")], className="g-2 align-items-center mt-2"),
        dbc.Alert(id=message, is_open=False, color="info", className="mt-2 py-2"),
    ])


def layout(**_query) -> html.Div:
    return html.Div([
        html.Div([html.H4("Marketplace admin", className="me-3 mb-0"),
                  dcc.Link("← Admin", href="/admin", className="small")], className="d-flex align-items-center mb-3"),
        dcc.Store(id=CHANGED),
        html.H5("Partners"),
        html.Div(id=PARTNERS),
        _chooser(PARTNER, "choose a partner", [
            dbc.Button("Approve / reinstate", id=APPROVE, color="success", className="me-2"),
            dbc.Button("Suspend", id=SUSPEND, color="outline-danger")], PARTNER_MESSAGE),
        html.H5("Products", className="mt-4"),
        html.Div(id=PRODUCTS),
        _chooser(PRODUCT, "choose a product", [
            dbc.Button("List", id=LIST, color="success", className="me-2"),
            dbc.Button("Delist", id=DELIST, color="outline-danger")], PRODUCT_MESSAGE),
        html.Div([html.H5("Platform revenue by month", className="me-3 mb-0"),
                  dbc.Button("CSV", id=REVENUE_CSV, color="secondary", size="sm")],
                 className="d-flex align-items-center mt-4 mb-2"),
        html.Div("From the partners' monthly statements (each rounded by its own rule, then summed) and the "
                 "platform's own products. Months in UTC.", className="small text-muted mb-2"),
        dcc.Graph(id=REVENUE_CHART, config=GRAPH_CONFIG),
        html.Div(id=REVENUE_TABLE),
        dcc.Download(id=REVENUE_DOWNLOAD),
    ])
