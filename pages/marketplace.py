"""The data marketplace's catalog: full-text search and filters over the listed products, shown as cards; and a
product's own page (``/marketplace?product=<slug>``) with its schema, a live sample table and chart, its price,
a sandbox key and a subscription (then a production key)."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.services import services
from components.marketplace import GRAPH_CONFIG
from engine.marketplace import views
from engine.marketplace.revenue import PLAN_KINDS
from engine.marketplace.serving import API_DOCS_PATH

dash.register_page(__name__, path="/marketplace", name="Marketplace", title="Marketplace · 254Carbon")

#: Ids the callbacks read and write.
SEARCH, MARKET, CATEGORY, PRICE, FREQUENCY, RESULTS = "mk-search", "mk-market", "mk-category", "mk-price", \
    "mk-frequency", "mk-results"
PAGER, PAGER_BOX = "mk-pager", "mk-pager-box"
PRODUCT, DETAIL, SAMPLE_CHART, SAMPLE_TABLE = "mk-product", "mk-detail", "mk-sample-chart", "mk-sample"
PRODUCT_BODY = "mk-product-body"
SAMPLE_NOTE, SAMPLE_CSV, SAMPLE_DOWNLOAD = "mk-sample-note", "mk-sample-csv", "mk-sample-download"
SANDBOX, SUBSCRIBE, PRODUCTION, KEY_MESSAGE, SUBSCRIBED = "mk-sandbox", "mk-subscribe", "mk-production", \
    "mk-key-message", "mk-subscribed"


def _filter(label: str, ident: str, options: list, placeholder: str) -> dbc.Col:
    return dbc.Col([dbc.Label(label, className="small text-muted mb-1"),
                    dcc.Dropdown(id=ident, options=options, placeholder=placeholder, clearable=True,
                                 style={"minWidth": "11rem"})], xs=12, md="auto")


def _catalog() -> html.Div:
    choices = services().cached(views.catalog_choices, views.catalog_version(services().ready_store()))
    controls = dbc.Row([
        dbc.Col([dbc.Label("Search", className="small text-muted mb-1"),
                 dbc.Input(id=SEARCH, type="search", placeholder="e.g. NEM 5-minute prices", maxLength=200,
                           debounce=0.3)], xs=12, md=4),
        _filter("Market", MARKET, list(choices.markets), "any market"),
        _filter("Category", CATEGORY, list(choices.categories), "any category"),
        _filter("Price", PRICE, [{"label": views.PLAN_LABELS[k], "value": k} for k in PLAN_KINDS], "any price"),
        _filter("Update frequency", FREQUENCY, list(choices.frequencies), "any frequency"),
    ], className="g-3 align-items-end mb-3")
    return html.Div([
        html.H4("Marketplace", className="mb-1"),
        html.P(["Data products from 254Carbon and its partners: try any of them with a sandbox key against the "
                "real API, then subscribe. ", html.A("API reference", href=API_DOCS_PATH, target="_blank")],
               className="text-muted"),
        controls,
        dcc.Loading(html.Div(id=RESULTS), type="dot"),
        # hidden until a search matches more than one page of cards
        html.Div(dbc.Pagination(id=PAGER, max_value=1, active_page=1, fully_expanded=False, first_last=True,
                                previous_next=True, size="sm", className="mt-3 mb-0"),
                 id=PAGER_BOX, style={"display": "none"}),
    ])


def _product(slug: str) -> html.Div:
    return html.Div([
        dcc.Link("← Catalog", href="/marketplace", className="small"),
        dcc.Store(id=PRODUCT, data=slug[:64]),
        dcc.Store(id=SUBSCRIBED),
        dcc.Loading(html.Div(id=DETAIL, className="mt-2"), type="dot"),
        # hidden for a product the catalog does not hold: nothing to try, subscribe to or sample
        html.Div(id=PRODUCT_BODY, children=[dbc.Card(dbc.CardBody([
            html.H5("Try it, then subscribe", className="card-title"),
            html.P(["A sandbox key reads the newest week of the product's data for free (a limited number of "
                    "calls, for a couple of weeks). Subscribe to get a production key for the whole history. How to "
                    "call it: the ", html.A("API reference", href=API_DOCS_PATH, target="_blank"), "."],
                   className="small text-muted"),
            dbc.Button("Get a sandbox key", id=SANDBOX, color="primary", className="me-2"),
            dbc.Button("Subscribe", id=SUBSCRIBE, color="outline-primary", className="me-2"),
            dbc.Button("Get a production key", id=PRODUCTION, color="success", disabled=True),
            dbc.Alert(id=KEY_MESSAGE, is_open=False, color="info", className="mt-3 mb-0"),
        ]), className="mt-3"),
        html.Div([html.H5("Sample", className="me-3 mb-0"),
                  # disabled until the product's sample is shown: a product with no data has none to download
                  dbc.Button("Sample CSV", id=SAMPLE_CSV, color="secondary", size="sm", disabled=True),
                  dcc.Download(id=SAMPLE_DOWNLOAD)], className="d-flex align-items-center mt-4 mb-1"),
        html.Div(id=SAMPLE_NOTE, className="small text-muted"),
        dcc.Graph(id=SAMPLE_CHART, config=GRAPH_CONFIG),
        html.Div(id=SAMPLE_TABLE)]),
    ])


def layout(product: str | None = None, **_query) -> html.Div:
    """``?product=<slug>`` opens the product's page; anything else the catalog."""
    if isinstance(product, str) and product.strip():
        return _product(product.strip())
    return _catalog()
