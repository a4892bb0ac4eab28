"""Admin callbacks: start, cancel and watch backfills; list jobs and runs; show freshness; the forecast models'
training, registry and latest runs; create users, set roles, disable accounts; list users and the audit log; download
the runs and the audit log whole as CSV."""
from __future__ import annotations

import math
import uuid

import dash_bootstrap_components as dbc
import pandas as pd
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from app.services import services
from callbacks.shell import freshness
from components.freshness import freshness_table
from components.tables import Column, data_table
from components.times import duration, utc_time
from engine import audit, jobs
from engine.forecast import status as forecast_status

_STATUS_COLOUR = {"running": "primary", "succeeded": "success", "failed": "danger", "cancelled": "secondary"}


@callback(Output("bf-kind", "options"), Output("bf-kind", "value"), Input("bf-connector", "value"))
def datasets(connector):
    kinds = services().operations.datasets(connector)
    return list(kinds), (kinds[0] if kinds else None)


@callback(
    output={"run_id": Output("bf-run-id", "data"), "message": Output("bf-message", "children"),
            "show_message": Output("bf-message", "is_open"), "tick_off": Output("bf-tick", "disabled")},
    inputs={"_start": Input("bf-start", "n_clicks"), "_cancel": Input("bf-cancel", "n_clicks")},
    state={"connector": State("bf-connector", "value"), "kind": State("bf-kind", "value"),
           "start": State("bf-dates", "start_date"), "end": State("bf-dates", "end_date"),
           "source": State("bf-source", "value"), "run_id": State("bf-run-id", "data")},
    prevent_initial_call=True)
def start_or_cancel(_start, _cancel, connector, kind, start, end, source, run_id):
    ops = services().operations
    if ctx.triggered_id == "bf-cancel":
        if ops.cancel_backfill(run_id):
            return {"run_id": run_id, "message": "Cancelling after the current period…", "show_message": True,
                    "tick_off": False}
        return {"run_id": no_update, "message": "No backfill of this session is running.", "show_message": True,
                "tick_off": no_update}
    try:
        run_id = ops.start_backfill(connector, kind, start, end, source)
    except ValueError as exc:  # the request makes no sense: say why, start nothing
        return {"run_id": no_update, "message": str(exc), "show_message": True, "tick_off": no_update}
    return {"run_id": run_id, "message": None, "show_message": False, "tick_off": False}


@callback(
    output={"value": Output("bf-progress", "value"), "label": Output("bf-progress", "label"),
            "colour": Output("bf-progress", "color"), "status": Output("bf-status", "children"),
            "cancel_off": Output("bf-cancel", "disabled"), "start_off": Output("bf-start", "disabled"),
            "tick_off": Output("bf-tick", "disabled", allow_duplicate=True)},
    inputs={"_tick": Input("bf-tick", "n_intervals"), "run_id": Input("bf-run-id", "data")},
    prevent_initial_call=True)
def progress(_tick, run_id):
    if not run_id:
        return {"value": 0, "label": "", "colour": "primary", "status": "", "cancel_off": True, "start_off": False,
                "tick_off": True}
    run = jobs.get_run(services().ready_store(), run_id)
    if run is None:
        return {"value": 0, "label": "", "colour": "primary", "status": "starting…", "cancel_off": False,
                "start_off": True, "tick_off": False}
    total, done = int(run["progress_total"]), int(run["progress_done"])
    finished = run["status"] != "running"
    text = (f"{run['status']}: {done} of {total} done, rows read {int(run['rows_read']):,}, "
            f"written {int(run['rows_written']):,}, rejected {int(run['rows_rejected']):,}")
    if run["error"]:
        text += f" — {run['error']}"
    return {"value": 100 * done / total if total else 0, "label": f"{done}/{total}",
            "colour": _STATUS_COLOUR.get(run["status"], "primary"), "status": text,
            "cancel_off": finished, "start_off": not finished, "tick_off": finished}


@callback(Output("admin-job-message", "children"), Output("admin-job-message", "is_open"),
          Input({"type": "job-run-now", "job": ALL}, "n_clicks"), prevent_initial_call=True)
def run_job_now(clicks):
    if not ctx.triggered_id or not any(clicks):
        return no_update, no_update
    job_id = ctx.triggered_id["job"]
    try:
        services().operations.run_now(job_id)
    except ValueError as exc:  # a job id the page never offered
        return str(exc), True
    return f"Started {job_id}; its run appears below.", True


def _unbroken(text: str) -> html.Span:
    """A time kept on one line: broken at its spaces it read as three lines of date, time and zone."""
    return html.Span(text, className="text-nowrap")


def jobs_table() -> dbc.Table:
    rows = [(
        s.label, _unbroken(utc_time(s.next_run) if s.scheduled else "scheduler off"),
        _unbroken(utc_time(s.last_started)),
        dbc.Badge(s.last_status, color=_STATUS_COLOUR.get(s.last_status, "secondary"), title=s.last_error),
        "—" if s.last_rows is None else f"{s.last_rows:,}", duration(s.last_started, s.last_finished),
        dbc.Button("Run now", id={"type": "job-run-now", "job": s.job}, size="sm", color="outline-primary",
                   className="text-nowrap"),
    ) for s in services().operations.job_statuses()]
    columns = ["Job", "Next run", "Last run", "Last status", Column("Rows", numeric=True), "Duration", ""]
    return data_table(columns, rows, table_id="admin-jobs-table", hover=True)


#: How many of the newest job runs the admin page's table shows (the CSV holds every run).
RUNS_SHOWN = 15


def runs_table(found: pd.DataFrame) -> object:
    """The newest runs, ``jobs.recent_runs``'s frame, as a table (or a line saying none has run)."""
    if found.empty:
        return html.Div("No job has run yet: a scheduled pull, a backfill or Run now records its run here.",
                        className="text-muted small")
    rows = [(
        r.job, f"{utc_time(r.range_start)[:10]} → {utc_time(r.range_end)[:10]}",
        dbc.Badge(r.status, color=_STATUS_COLOUR.get(r.status, "secondary")),
        f"{int(r.progress_done)}/{int(r.progress_total)}", f"{int(r.rows_read):,}", f"{int(r.rows_written):,}",
        f"{int(r.rows_rejected):,}", utc_time(r.started_at), duration(r.started_at, r.finished_at),
        html.Span(r.error[:300], className="d-inline-block small text-danger text-break", style={"maxWidth": "28rem"}),
    ) for r in found.itertuples()]
    columns = ["Job", "Range", "Status", "Progress", Column("Read", numeric=True), Column("Written", numeric=True),
               Column("Rejected", numeric=True), "Started", "Duration", "Error"]
    return data_table(columns, rows, table_id="admin-runs-table", striped=True)


@callback(output=Output("admin-runs-download", "data"), inputs={"_n": Input("admin-runs-download-btn", "n_clicks")},
          prevent_initial_call=True)
def download_runs(_n):
    """Every recorded job run, not only the newest the table shows, as CSV (times in UTC; the file name says so)."""
    return dcc.send_data_frame(jobs.runs_export(services().ready_store()).to_csv, "job_runs_UTC.csv", index=False)


@callback(output={"jobs": Output("admin-jobs", "children"), "runs": Output("admin-runs", "children"),
                  "no_runs_csv": Output("admin-runs-download-btn", "disabled"),
                  "freshness": Output("admin-freshness", "children")},
          inputs={"_tick": Input("admin-tick", "n_intervals"), "_run": Input("bf-run-id", "data")})
def tables(_tick, _run):
    runs = jobs.recent_runs(services().ready_store(), RUNS_SHOWN)
    return {"jobs": jobs_table(), "runs": runs_table(runs), "no_runs_csv": runs.empty,
            "freshness": freshness_table(freshness())}


def _training_cell(state: forecast_status.SeriesTraining) -> object:
    if state.running:
        return dbc.Progress(value=state.share * 100, label=f"{state.done}/{state.total}" if state.total else "",
                            striped=True, animated=True, style={"height": "1.2rem", "minWidth": "10rem"})
    return f"{state.done}/{state.total}" if state.total else "—"


def training_table(states: tuple[forecast_status.SeriesTraining, ...]) -> object:
    rows = [(
        f"{s.market} {s.location}",
        dbc.Badge(s.status, color=_STATUS_COLOUR.get(s.status, "secondary")),
        _training_cell(s), utc_time(s.started_at),
        "running" if s.running else duration(s.started_at, s.finished_at),
        html.Span(s.error[:300], className="d-inline-block small text-danger text-break", style={"maxWidth": "28rem"}),
    ) for s in states]
    if not rows:
        return html.Div("No series has stored forecasts or a training run yet.", className="text-muted small")
    return data_table(["Series", "Transformer training", "Progress (steps)", "Started", "Duration", "Error"], rows,
                      table_id="admin-training-table", striped=True)


def _metric(metrics: dict, key: str) -> str:
    value = metrics.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    return f"{value:,.2f}"


def models_table(models: tuple) -> object:
    rows = [(
        m.market, m.location, m.kind, f"v{m.version}", utc_time(m.trained_at),
        "—" if math.isnan(m.seconds) else f"{m.seconds:,.0f} s",
        f"{m.window_start:%Y-%m-%d} → {m.window_end:%Y-%m-%d}",
        _metric(m.metrics, "val_mae"), _metric(m.metrics, "val_naive_mae"),
    ) for m in models]
    if not rows:
        return html.Div("No model has been trained yet.", className="text-muted small")
    columns = ["Market", "Location", "Kind", "Version", "Trained", Column("Training time", numeric=True),
               "Data window (UTC)", Column("Validation MAE", numeric=True), Column("Weekly naive MAE", numeric=True)]
    return data_table(columns, rows, table_id="admin-models-table", striped=True)


def latest_runs_table(latest) -> object:
    rows = [(
        r.market, r.location, r.model, f"{int(r.runs):,}", utc_time(r.latest), r.model_version,
        f"{int(r.horizon_hours)} h from {utc_time(r.first_target)[:16]} UTC",
    ) for r in latest.itertuples()]
    if not rows:
        return html.Div("No forecast run has been issued yet.", className="text-muted small")
    columns = ["Market", "Location", "Model", Column("Runs", numeric=True), "Latest issued", "Model version",
               "Latest forecasts"]
    return data_table(columns, rows, table_id="admin-forecast-runs-table", striped=True)


@callback(Output("admin-forecasting", "children"), Input("admin-tick", "n_intervals"))
def forecasting(_tick):
    """Training state, trained models and latest runs; refreshed on the page's tick, so progress moves."""
    found = services().operations.forecasting()
    return [html.H6("Training", className="text-muted mt-2"), training_table(found.training),
            html.H6("Trained models", className="text-muted mt-3"), models_table(found.models),
            html.H6("Latest issued runs", className="text-muted mt-3"), latest_runs_table(found.latest_runs)]


_USER_ACTIONS = {"user-create", "user-set-role", "user-disable"}


@callback(
    output={"message": Output("user-message", "children"), "colour": Output("user-message", "color"),
            "show": Output("user-message", "is_open"), "changed": Output("user-changed", "data")},
    inputs={"_create": Input("user-create", "n_clicks"), "_set_role": Input("user-set-role", "n_clicks"),
            "_disable": Input("user-disable", "n_clicks")},
    state={"email": State("user-email", "value"), "role": State("user-role", "value")},
    prevent_initial_call=True)
def change_user(_create, _set_role, _disable, email, role):
    """The operations check email and role (type, length, shape) and refuse with a message; shown as is."""
    if ctx.triggered_id not in _USER_ACTIONS:
        return {"message": no_update, "colour": no_update, "show": no_update, "changed": no_update}
    ops = services().operations
    try:
        if ctx.triggered_id == "user-create":
            user, password = ops.create_user(email, role)
            message = [f"Created {user.email} as {user.role}. Their password, shown this once (pass it on now; "
                       "they can change it later): ", html.Code(password, id="user-password")]
        elif ctx.triggered_id == "user-set-role":
            user = ops.set_role(email, role)
            message = f"{user.email} is now {user.role}."
        else:
            user = ops.disable_user(email)
            message = f"{user.email} is disabled: they cannot sign in, and a session they hold ends."
    except ValueError as exc:
        return {"message": str(exc), "colour": "warning", "show": True, "changed": no_update}
    return {"message": message, "colour": "success", "show": True, "changed": uuid.uuid4().hex}


def users_table() -> dbc.Table:
    rows = [(u.email, u.role, dbc.Badge("active" if u.active else "disabled",
                                        color="success" if u.active else "secondary"), utc_time(u.created_at))
            for u in services().operations.users()]
    return data_table(["Email", "Role", "State", "Created"], rows, table_id="admin-users-table", striped=True)


def audit_table(limit: int = 50) -> dbc.Table:
    rows = [(utc_time(r.at), r.actor, r.action, html.Span(r.detail, className="text-break"), r.address)
            for r in services().operations.audit_log(limit).itertuples()]
    return data_table(["At", "Who", "Action", "Detail", "Address"], rows, table_id="admin-audit-table",
                      striped=True)


@callback(output=Output("admin-audit-download", "data"), inputs={"_n": Input("admin-audit-download-btn", "n_clicks")},
          prevent_initial_call=True)
def download_audit(_n):
    """The whole audit log, not only the newest records the table shows, as CSV (times in UTC; the file name says
    so). A read, so not itself recorded: the log holds the admin actions that change something."""
    return dcc.send_data_frame(audit.log_export(services().ready_store()).to_csv, "audit_log_UTC.csv", index=False)


@callback(Output("admin-users", "children"), Output("admin-audit", "children"),
          Input("admin-tick", "n_intervals"), Input("user-changed", "data"), Input("bf-run-id", "data"))
def users_and_audit(_tick, _changed, _run):
    return users_table(), audit_table()
