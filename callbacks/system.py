"""System page callbacks: one read of the running app's figures every tick, drawn. The role table lets admins
alone reach them."""
from __future__ import annotations

from dash import Input, Output, callback, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from app.services import services
from components import system_figures as sf

#: The page's tables that download as CSV (app.system.SystemFigures.export), each with its button
#: ``sys-dl-<table>-btn`` and its download ``sys-dl-<table>``.
TABLES = ("requests", "callbacks", "ingested", "age")


@callback(output={"status": Output("sys-status", "children"),
                  "requests_chart": Output("sys-requests-chart", "figure"),
                  "requests_table": Output("sys-requests-table", "children"),
                  "latency_note": Output("sys-latency-note", "children"),
                  "callbacks_chart": Output("sys-callbacks-chart", "figure"),
                  "callbacks_table": Output("sys-callbacks-table", "children"),
                  "cache_chart": Output("sys-cache-chart", "figure"),
                  "jobs_chart": Output("sys-jobs-chart", "figure"),
                  "ingested_table": Output("sys-ingested-table", "children"),
                  "age_chart": Output("sys-age-chart", "figure"),
                  "no_csv": {table: Output(f"sys-dl-{table}-btn", "disabled") for table in TABLES}},
          inputs={"_tick": Input("sys-tick", "n_intervals")})
def refresh(_tick):
    """Read live, not through ``services().cached``: these figures change with every request, and a cached
    answer would hide the cache's own outage."""
    found = services().system_figures()
    return {"status": sf.status_line(store_up=found.store_up, store_error=found.store_error,
                                     cache_error=found.cache_error, cache_error_at=found.cache_error_at,
                                     scope=found.scope, taken_at=found.taken_at,
                                     window_start=found.window_start),
            "requests_chart": sf.latency_figure(found.requests, "route", "Request latency by route"),
            "requests_table": sf.latency_table(found.requests, "route", "sys-requests"),
            "latency_note": sf.percentile_note(found.min_answers),
            "callbacks_chart": sf.latency_figure(found.callbacks, "callback", "Callback latency by output"),
            "callbacks_table": sf.latency_table(found.callbacks, "callback", "sys-callbacks"),
            "cache_chart": sf.cache_figure(found.cache),
            "jobs_chart": sf.jobs_figure(found.jobs),
            "ingested_table": sf.ingested_table(found.ingested, "sys-ingested"),
            "age_chart": sf.age_figure(found.data_age),
            "no_csv": {table: not found.holds(table) for table in TABLES}}


@callback(output={table: Output(f"sys-dl-{table}", "data") for table in TABLES},
          inputs={table: Input(f"sys-dl-{table}-btn", "n_clicks") for table in TABLES}, prevent_initial_call=True)
def download(**_clicks):
    """The table whose button was clicked, as CSV, read at the click (the file name says when, in UTC); the
    role table lets admins alone reach it."""
    table = str(ctx.triggered_id).removeprefix("sys-dl-").removesuffix("-btn")
    if table not in TABLES:
        raise PreventUpdate
    found = services().system_figures()
    sent = dcc.send_data_frame(found.export(table).to_csv, f"system_{table}_{found.taken_at:%Y%m%dT%H%M%SZ}.csv",
                               index=False)
    return {name: sent if name == table else no_update for name in TABLES}
