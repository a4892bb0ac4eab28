"""The partner portal: register as a data provider (pending until an admin approves), then manage one's own
products (create, edit, price, list or delist, upload a version of the data), keys, usage over time and monthly
statements. Everything shown is the signed-in account's own partner's (the callbacks find it from the session)."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.services import services
from components.marketplace import GRAPH_CONFIG
from engine.marketplace import products, uploads, views
from engine.marketplace.revenue import PLAN_KINDS
from engine.marketplace.serving import API_DOCS_PATH

dash.register_page(__name__, path="/partner", name="Partner portal", title="Partner portal · 254Carbon")

#: Ids the callbacks read and write.
STATUS, REGISTRATION, CHANGED = "pt-status", "pt-registration", "pt-changed"
ORGANISATION, CONTACT, PAYOUT, REGISTER, REGISTER_MESSAGE = "pt-organisation", "pt-contact", "pt-payout", \
    "pt-register", "pt-register-message"
PRODUCTS, PRODUCT = "pt-products", "pt-product"
FORM = {"slug": "pt-slug", "title": "pt-title", "description": "pt-description", "markets": "pt-markets",
        "category": "pt-category", "update_frequency": "pt-frequency", "tags": "pt-tags", "schema": "pt-schema"}
PRICE_KIND, PRICE = "pt-price-kind", "pt-price"
SAVE, SET_PRICE, LIST, DELIST, PRODUCT_MESSAGE = "pt-save", "pt-set-price", "pt-list", "pt-delist", \
    "pt-product-message"
UPLOAD, UPLOAD_MESSAGE, UPLOAD_LIMIT = "pt-upload", "pt-upload-message", "pt-upload-limit"
KEYS, KEY, REVOKE, KEY_MESSAGE = "pt-keys", "pt-key", "pt-revoke", "pt-key-message"
USAGE_DAYS, USAGE_CHART = "pt-usage-days", "pt-usage-chart"
MONTH, STATEMENT, STATEMENT_CSV, STATEMENT_DOWNLOAD = "pt-month", "pt-statement", "pt-statement-csv", \
    "pt-statement-download"
NEW = "__new__"
#: what a callback request holds besides the file: the ids, the file's name, the product, the data URL's prefix
REQUEST_OVERHEAD = 16 * 1024
SCHEMA_HINT = "time, datetime, UTC\nvalue, float, MW"


def largest_file(max_request_bytes: int) -> int:
    """The largest file the upload box takes: the browser sends it base64-encoded (4 bytes for every 3) in one
    callback request, which the site caps at ``max_request_bytes`` (C254_MAX_REQUEST_BYTES); a larger request is
    refused before any callback runs, and the page would show nothing."""
    return max(0, (max_request_bytes - REQUEST_OVERHEAD) // 4 * 3)


def size_text(size: int) -> str:
    return f"{size / 1024 ** 2:,.1f}".removesuffix(".0") + " MB" if size >= 1024 ** 2 else f"{size // 1024:,} KB"


def _field(label: str, component, **width) -> dbc.Col:
    return dbc.Col([dbc.Label(label, className="small text-muted mb-1"), component], xs=12, **width)


def _registration() -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.H5("Register as a data partner", className="card-title"),
        html.P("Your registration is reviewed by the platform's admin; you can prepare products meanwhile, and "
               "they go on sale once you are approved. You are paid 70 % of what your products earn.",
               className="small text-muted"),
        dbc.Row([
            _field("Organisation", dbc.Input(id=ORGANISATION, maxLength=200), md=4),
            _field("Contact email", dbc.Input(id=CONTACT, type="email", maxLength=320), md=4),
            _field("Payout reference (IBAN or account id)", dbc.Input(id=PAYOUT, maxLength=64), md=4),
        ], className="g-3"),
        dbc.Button("Register", id=REGISTER, color="primary", className="mt-3"),
        dbc.Alert(id=REGISTER_MESSAGE, is_open=False, color="warning", className="mt-3 mb-0"),
    ]), id=REGISTRATION, className="mb-4")


def _product_form(largest: int) -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.H5("Create or edit a product", className="card-title"),
        dbc.Row([
            _field("Product", dcc.Dropdown(id=PRODUCT, options=[{"label": "New product", "value": NEW}], value=NEW,
                                           clearable=False), md=4),
        ], className="g-3 mb-2"),
        dbc.Row([
            _field("Slug (in the API's URL; fixed)", dbc.Input(id=FORM["slug"], maxLength=64,
                                                              placeholder="acme-wind-forecast"), md=3),
            _field("Title", dbc.Input(id=FORM["title"], maxLength=120), md=5),
            _field("Markets (comma separated)", dbc.Input(id=FORM["markets"], maxLength=400, placeholder="NEM"),
                   md=4),
            _field("Category", dcc.Dropdown(id=FORM["category"], options=list(products.CATEGORIES),
                                            value="prices", clearable=False), md=3),
            _field("Update frequency", dcc.Dropdown(id=FORM["update_frequency"], options=list(products.FREQUENCIES),
                                                    value="daily", clearable=False), md=3),
            _field("Tags (comma separated)", dbc.Input(id=FORM["tags"], maxLength=1000), md=6),
            _field("Description", dbc.Textarea(id=FORM["description"], maxLength=5000, rows=3), md=6),
            _field("Schema: one column a line, name, type (datetime, float, integer, text), unit",
                   dbc.Textarea(id=FORM["schema"], rows=3, placeholder=SCHEMA_HINT, maxLength=8000), md=6),
        ], className="g-3"),
        dbc.Button("Save product", id=SAVE, color="primary", className="mt-3 me-2"),
        html.Hr(),
        dbc.Row([
            _field("Price plan", dcc.Dropdown(id=PRICE_KIND, options=[{"label": views.PLAN_LABELS[k], "value": k}
                                                                      for k in PLAN_KINDS],
                                              value="per_call", clearable=False), md=3),
            _field("Price (USD, up to 6 decimals)", dbc.Input(id=PRICE, maxLength=20, placeholder="0.005"), md=3),
            dbc.Col([dbc.Button("Set price", id=SET_PRICE, color="outline-primary", className="me-2"),
                     dbc.Button("List", id=LIST, color="success", className="me-2"),
                     dbc.Button("Delist", id=DELIST, color="outline-danger")], xs=12, md="auto"),
        ], className="g-3 align-items-end"),
        dbc.Alert(id=PRODUCT_MESSAGE, is_open=False, color="info", className="mt-3 mb-0"),
        html.Hr(),
        html.Div(["Upload a version of the chosen product's data: CSV with a header naming exactly the declared "
                  "columns, or Parquet; times with their UTC offset. A bad file is refused whole. ",
                  html.Span(f"Files up to {size_text(largest)} here; larger ones, up to "
                            f"{size_text(uploads.MAX_BYTES)}, through the API (POST "
                            "/api/v1/partner/products/<slug>/data) with a key of this account, as scripts do (",
                            id=UPLOAD_LIMIT),
                  html.A("API reference", href=API_DOCS_PATH, target="_blank"), ")."],
                 className="small text-muted mb-2"),
        dcc.Upload(id=UPLOAD, children=html.Div(["Drop a CSV or Parquet file here, or ", html.A("choose one")]),
                   className="border border-2 rounded text-center p-3", style={"borderStyle": "dashed"},
                   multiple=False, max_size=largest),
        dbc.Alert(id=UPLOAD_MESSAGE, is_open=False, color="info", className="mt-3 mb-0"),
    ]), className="mb-4")


def layout(**_query) -> html.Div:
    months = views.recent_months(13)
    return html.Div([
        html.H4("Partner portal", className="mb-1"),
        html.Div(id=STATUS, className="mb-3"),
        _registration(),
        dcc.Store(id=CHANGED),
        html.H5("My products"),
        html.Div(id=PRODUCTS, className="mb-3"),
        _product_form(largest_file(services().settings.max_request_bytes)),
        html.H5("My keys"),
        html.Div(id=KEYS),
        dbc.Row([
            _field("Key", dcc.Dropdown(id=KEY, placeholder="choose a key to revoke"), md=4),
            dbc.Col(dbc.Button("Revoke", id=REVOKE, color="outline-danger"), xs=12, md="auto"),
        ], className="g-3 align-items-end mt-1"),
        dbc.Alert(id=KEY_MESSAGE, is_open=False, color="info", className="mt-3"),
        html.Div([html.H5("Usage", className="me-3 mb-0"),
                  dbc.RadioItems(id=USAGE_DAYS, options=[{"label": f"{d} days", "value": d} for d in (7, 30, 90)],
                                 value=30, inline=True)], className="d-flex align-items-center mt-4 mb-2"),
        dcc.Graph(id=USAGE_CHART, config=GRAPH_CONFIG),
        html.Div([html.H5("Statements", className="me-3 mb-0"),
                  dcc.Dropdown(id=MONTH, options=months, value=months[0], clearable=False,
                               style={"minWidth": "9rem"}),
                  dbc.Button("CSV", id=STATEMENT_CSV, color="secondary", size="sm", className="ms-2")],
                 className="d-flex align-items-center mt-4 mb-2"),
        html.Div("Months run from 00:00 UTC on the 1st. Amounts are summed exactly; the gross and your 70 % are "
                 "each rounded half up to the cent once, the platform's 30 % is the rest.",
                 className="small text-muted mb-2"),
        html.Div(id=STATEMENT),
        dcc.Download(id=STATEMENT_DOWNLOAD),
    ])
