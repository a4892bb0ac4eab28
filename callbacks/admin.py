"""Admin callbacks: start/cancel/watch backfills, list jobs and runs, show freshness."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import ALL, Input, Output, State, ctx, html, no_update
from flask import current_app

from app.scheduler import JOBS, SCHEDULER_KEY, TRAINERS, TRAINING_JOB, backfills, run_now
from app.services import services
from callbacks.shell import COLOUR, cached_freshness
from engine import jobs
from ingest.backfill import BackfillError, validate
from ingest.registry import connector_info

_STATUS_COLOUR = {"running": "primary", "succeeded": "success", "failed": "danger", "cancelled": "secondary"}


def _fmt_time(t) -> str:
    return "—" if t is None or pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(start, end) -> str:
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return "—"
    return f"{(pd.Timestamp(end) - pd.Timestamp(start)).total_seconds():.1f} s"


def jobs_table() -> dbc.Table:
    server = current_app._get_current_object()
    store = services().ready_store()
    last = jobs.last_run_per_job(store).set_index("job")
    sched = server.extensions.get(SCHEDULER_KEY)
    rows = []
    listed = [(spec.id, spec.label) for spec in JOBS]
    listed.append((TRAINING_JOB[0], f"{TRAINING_JOB[1]} ({len(TRAINERS)} models registered)"))
    for job_id, label in listed:
        job = sched.get_job(job_id) if sched else None
        nxt = job.next_run_time if job else None
        info = last.loc[job_id] if job_id in last.index else None
        status = info["last_status"] if info is not None else "never run"
        rows.append(html.Tr([
            html.Td(label), html.Td(_fmt_time(nxt) if sched else "scheduler off"),
            html.Td(_fmt_time(info["last_started"]) if info is not None else "—"),
            html.Td(dbc.Badge(status, color=_STATUS_COLOUR.get(status, "secondary"),
                              title=(info["last_error"] if info is not None else ""))),
            html.Td(f"{int(info['last_rows']):,}" if info is not None else "—", className="text-end"),
            html.Td(_duration(info["last_started"], info["last_finished"]) if info is not None else "—"),
            html.Td(dbc.Button("Run now", id={"type": "job-run-now", "job": job_id}, size="sm",
                               color="outline-primary")),
        ]))
    head = html.Thead(html.Tr([html.Th(h) for h in ("Job", "Next run", "Last run", "Last status", "Rows",
                                                    "Duration", "")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, id="admin-jobs-table")


def runs_table(limit: int = 15) -> dbc.Table:
    runs = jobs.recent_runs(services().ready_store(), limit)
    body = [html.Tr([
        html.Td(r.job), html.Td(f"{_fmt_time(r.range_start)[:10]} → {_fmt_time(r.range_end)[:10]}"),
        html.Td(dbc.Badge(r.status, color=_STATUS_COLOUR.get(r.status, "secondary"))),
        html.Td(f"{int(r.progress_done)}/{int(r.progress_total)}"),
        html.Td(f"{int(r.rows_read):,}", className="text-end"),
        html.Td(f"{int(r.rows_written):,}", className="text-end"),
        html.Td(f"{int(r.rows_rejected):,}", className="text-end"), html.Td(_fmt_time(r.started_at)),
        html.Td(_duration(r.started_at, r.finished_at)),
        html.Td(r.error[:300], className="small text-danger text-break", style={"maxWidth": "28rem"}),
    ]) for r in runs.itertuples()]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Job", "Range", "Status", "Progress", "Read", "Written",
                                                    "Rejected", "Started", "Duration", "Error")]))
    return dbc.Table([head, html.Tbody(body)], size="sm", striped=True, id="admin-runs-table")


def freshness_table() -> dbc.Table:
    rows = [html.Tr([html.Td(f.market), html.Td(f.dataset), html.Td(_fmt_time(f.latest_end)),
                     html.Td(dbc.Badge(f.label().split(": ", 1)[1], color=COLOUR[f.status]))])
            for f in cached_freshness()]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Market", "Dataset", "Newest interval end", "Age")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", id="admin-freshness-table")


def register(app: dash.Dash) -> None:
    @app.callback(Output("bf-kind", "options"), Output("bf-kind", "value"), Input("bf-connector", "value"))
    def kinds(connector):
        try:
            info = connector_info(connector)
        except KeyError:
            return [], None
        return list(info.kinds), (info.kinds[0] if info.kinds else None)

    @app.callback(
        Output("bf-run-id", "data"), Output("bf-message", "children"), Output("bf-message", "is_open"),
        Output("bf-tick", "disabled"),
        Input("bf-start", "n_clicks"), Input("bf-cancel", "n_clicks"),
        State("bf-connector", "value"), State("bf-kind", "value"), State("bf-dates", "start_date"),
        State("bf-dates", "end_date"), State("bf-source", "value"), State("bf-run-id", "data"),
        prevent_initial_call=True)
    def start_or_cancel(_start, _cancel, connector, kind, start, end, source, run_id):
        server = current_app._get_current_object()
        if ctx.triggered_id == "bf-cancel":
            if run_id and backfills(server).cancel(run_id):
                return run_id, "Cancelling after the current period…", True, False
            return no_update, "No backfill of this session is running.", True, no_update
        if not (start and end):
            return no_update, "Choose a start and an end date.", True, no_update
        settings = services().settings
        path = None
        if source and source.strip():
            if source.strip().startswith(("/", "~")) or ".." in source:
                return no_update, "Give the folder relative to the data folder, without '..'.", True, no_update
            path = settings.data_dir / source.strip()
        try:
            req = validate(connector, start, end, source=path, kind=kind, allowed_roots=(settings.data_dir,))
        except BackfillError as exc:
            return no_update, str(exc), True, no_update
        run = backfills(server).start(req)
        return run.run_id, None, False, False

    @app.callback(
        Output("bf-progress", "value"), Output("bf-progress", "label"), Output("bf-progress", "color"),
        Output("bf-status", "children"), Output("bf-cancel", "disabled"), Output("bf-start", "disabled"),
        Output("bf-tick", "disabled", allow_duplicate=True),
        Input("bf-tick", "n_intervals"), Input("bf-run-id", "data"), prevent_initial_call=True)
    def progress(_n, run_id):
        if not run_id:
            return 0, "", "primary", "", True, False, True
        run = jobs.get_run(services().ready_store(), run_id)
        if run is None:
            return 0, "", "primary", "starting…", False, True, False
        total, done = int(run["progress_total"]), int(run["progress_done"])
        pct = 100 * done / total if total else 0
        finished = run["status"] != "running"
        text = (f"{run['status']}: {done} of {total} done, rows read {int(run['rows_read']):,}, "
                f"written {int(run['rows_written']):,}, rejected {int(run['rows_rejected']):,}")
        if run["error"]:
            text += f" — {run['error']}"
        colour = {"succeeded": "success", "failed": "danger", "cancelled": "secondary"}.get(run["status"], "primary")
        return pct, f"{done}/{total}", colour, text, finished, not finished, finished

    @app.callback(
        Output("admin-job-message", "children"), Output("admin-job-message", "is_open"),
        Input({"type": "job-run-now", "job": ALL}, "n_clicks"), prevent_initial_call=True)
    def run_job_now(clicks):
        if not ctx.triggered_id or not any(clicks):
            return no_update, no_update
        job_id = ctx.triggered_id["job"]
        run_now(current_app._get_current_object(), job_id)
        return f"Started {job_id}; its run appears below.", True

    @app.callback(
        Output("admin-jobs", "children"), Output("admin-runs", "children"), Output("admin-freshness", "children"),
        Input("admin-tick", "n_intervals"), Input("bf-run-id", "data"))
    def tables(_n, _run):
        return jobs_table(), runs_table(), freshness_table()
