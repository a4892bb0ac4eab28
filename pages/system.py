"""Admin: the System page. How the running app is doing, refreshed every few seconds: request and callback
latency percentiles, cache hit rate by data class, job runs and failures, rows ingested by connector and table,
data age against each dataset's expected delay, and whether the store and the cache answer (the figures
``/metrics`` gives Prometheus)."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from components.figures import export_config

dash.register_page(__name__, path="/admin/system", name="System", title="System · 254Carbon")

#: Ids the callbacks read and write.
TICK, STATUS = "sys-tick", "sys-status"
REQUESTS_CHART, REQUESTS_TABLE = "sys-requests-chart", "sys-requests-table"
CALLBACKS_CHART, CALLBACKS_TABLE = "sys-callbacks-chart", "sys-callbacks-table"
CACHE_CHART, JOBS_CHART, AGE_CHART = "sys-cache-chart", "sys-jobs-chart", "sys-age-chart"
INGESTED_TABLE, LATENCY_NOTE = "sys-ingested-table", "sys-latency-note"
#: (download id, label) of each table's CSV; the button is ``<download id>-btn``
DOWNLOADS = {"requests": "sys-dl-requests", "callbacks": "sys-dl-callbacks", "ingested": "sys-dl-ingested",
             "age": "sys-dl-age"}
REFRESH_MS = 5000


def _graph(ident: str) -> dcc.Graph:
    # each chart's PNG named for what it shows (system_requests.png, system_cache.png, ...), not all "system.png"
    return dcc.Graph(id=ident, config=export_config("system_" + ident.removeprefix("sys-").removesuffix("-chart")))


def _heading(title: str, download: str, first: bool = False) -> html.Div:
    return html.Div([html.H5(title, className="me-3 mb-0"),
                     dbc.Button("CSV", id=f"{download}-btn", color="secondary", size="sm"), dcc.Download(id=download)],
                    className="d-flex align-items-center mb-2" + ("" if first else " mt-4"))


def layout(**_query) -> html.Div:
    return html.Div([
        html.Div([html.H4("System", className="me-3 mb-0"),
                  dcc.Link("← Admin", href="/admin", className="small")], className="d-flex align-items-center mb-2"),
        html.Div(id=STATUS, className="mb-3"),
        dbc.Row([dbc.Col(_graph(CACHE_CHART), md=5), dbc.Col(_graph(JOBS_CHART), md=7)]),
        _heading("Data age", DOWNLOADS["age"]),
        _graph(AGE_CHART),
        _heading("Rows ingested by connector and table", DOWNLOADS["ingested"]),
        dbc.Row(dbc.Col(html.Div(id=INGESTED_TABLE, className="small"), md=6)),
        _heading("Requests by route", DOWNLOADS["requests"]),
        html.P(id=LATENCY_NOTE, className="small text-muted mb-2"),
        # chart and table side by side from 1200 px: narrower, the routes' names left the bars no room
        dbc.Row([dbc.Col(_graph(REQUESTS_CHART), xl=6),
                 dbc.Col(html.Div(id=REQUESTS_TABLE, className="small"), xl=6)]),
        _heading("Callbacks by output", DOWNLOADS["callbacks"]),
        dbc.Row([dbc.Col(_graph(CALLBACKS_CHART), xl=6),
                 dbc.Col(html.Div(id=CALLBACKS_TABLE, className="small"), xl=6)]),
        dcc.Interval(id=TICK, interval=REFRESH_MS),
    ])
