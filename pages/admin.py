"""Admin: backfills per connector and date range, job health, data freshness, forecast models (training, the
registry, the latest runs), users and the audit log."""
from __future__ import annotations

import datetime as dt

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.services import services
from engine.accounts import MAX_EMAIL, ROLES

dash.register_page(__name__, path="/admin", name="Admin", title="Admin · 254Carbon")


def _date_or(value: str | None, default: dt.date) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat() if value else default.isoformat()
    except ValueError:
        return default.isoformat()


def layout(connector: str | None = None, start: str | None = None, end: str | None = None,
           source: str | None = None, **_query) -> html.Div:
    """Query parameters prefill the backfill form, so a backfill can be linked to (e.g. from a runbook)."""
    names = services().operations.connectors()
    connector = connector if connector in names else ("nem" if "nem" in names else names[0])
    today = services().operations.today(connector)
    form = dbc.Card(dbc.CardBody([
        html.H5("Backfill", className="card-title"),
        dbc.Row([
            dbc.Col([dbc.Label("Connector", className="small text-muted mb-1"),
                     dcc.Dropdown(id="bf-connector", options=names,
                                  value=connector,
                                  clearable=False)], md=2),
            dbc.Col([dbc.Label("Dataset", className="small text-muted mb-1"),
                     dcc.Dropdown(id="bf-kind", clearable=True, placeholder="default")], md=3),
            dbc.Col([dbc.Label("Dates (inclusive)", className="small text-muted mb-1"),
                     dcc.DatePickerRange(id="bf-dates", start_date=_date_or(start, today - dt.timedelta(days=7)),
                                         end_date=_date_or(end, today), display_format="YYYY-MM-DD",
                                         minimum_nights=0)], md="auto"),
            dbc.Col([dbc.Label("Replay local files (folder under the data folder; empty = operator's site)",
                               className="small text-muted mb-1"),
                     dbc.Input(id="bf-source", placeholder="e.g. markets/aemo/price_and_demand", type="text",
                               maxLength=300, value=(source or "")[:300])], md=4),
        ], className="g-3 align-items-end"),
        html.Div([
            dbc.Button("Start backfill", id="bf-start", color="primary", className="me-2"),
            dbc.Button("Cancel", id="bf-cancel", color="outline-danger", disabled=True),
        ], className="mt-3"),
        dbc.Alert(id="bf-message", is_open=False, color="warning", className="mt-3 py-2"),
        dbc.Progress(id="bf-progress", value=0, label="", className="mt-3", style={"height": "1.4rem"}),
        html.Div(id="bf-status", className="small text-muted mt-2"),
        dcc.Store(id="bf-run-id"),
        dcc.Interval(id="bf-tick", interval=1000, disabled=True),
    ]), className="mb-4")
    return html.Div([
        html.Div([html.H4("Admin", className="me-3 mb-0"),
                  dcc.Link("Marketplace: partners, products, revenue →", href="/admin/marketplace",
                           id="admin-marketplace-link", className="small me-3"),
                  dcc.Link("System: latency, cache, jobs, data age →", href="/admin/system", id="admin-system-link",
                           className="small")],
                 className="d-flex align-items-center mb-3"),
        form,
        # each table the page's width: beside each other the jobs' times and buttons broke over three lines
        html.H5("Data freshness"), html.Div(id="admin-freshness", style={"maxWidth": "48rem"}),
        html.H5("Scheduled jobs", className="mt-3"), html.Div(id="admin-jobs"),
        dbc.Alert(id="admin-job-message", is_open=False, color="info", className="py-2"),
        _heading("Recent runs", "admin-runs-download"),
        html.Div(id="admin-runs"),
        html.H5("Forecast models", className="mt-4"),
        html.Div(id="admin-forecasting"),
        _users_card(),
        _heading("Audit log", "admin-audit-download"),
        html.Div(id="admin-audit"),
        dcc.Interval(id="admin-tick", interval=5000),
    ])


def _heading(title: str, download: str) -> html.Div:
    """A table's heading with its CSV button; the file holds every stored row, not only those the table shows."""
    return html.Div([html.H5(title, className="me-3 mb-0"),
                     dbc.Button("CSV", id=f"{download}-btn", color="secondary", size="sm"),
                     dcc.Download(id=download)], className="d-flex align-items-center mt-4 mb-2")


def _users_card() -> dbc.Card:
    """Create a user (the generated password is shown once), change a role, disable an account."""
    return dbc.Card(dbc.CardBody([
        html.H5("Users", className="card-title"),
        dbc.Row([
            dbc.Col([dbc.Label("Email", className="small text-muted mb-1"),
                     dbc.Input(id="user-email", type="email", maxLength=MAX_EMAIL, placeholder="name@example.com")],
                    md=4),
            dbc.Col([dbc.Label("Role", className="small text-muted mb-1"),
                     dcc.Dropdown(id="user-role", options=list(ROLES), value="analyst", clearable=False)], md=2),
            dbc.Col([
                dbc.Button("Create user", id="user-create", color="primary", className="me-2"),
                dbc.Button("Set role", id="user-set-role", color="outline-primary", className="me-2"),
                dbc.Button("Disable", id="user-disable", color="outline-danger"),
            ], md="auto"),
        ], className="g-3 align-items-end"),
        dbc.Alert(id="user-message", is_open=False, color="info", className="mt-3 py-2", dismissable=True),
        html.Div(id="admin-users", className="mt-3"),
        dcc.Store(id="user-changed"),
    ]), className="mt-4")
