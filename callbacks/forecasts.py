"""Callbacks of the forecasts page: thin — check the choice, ask the engine (engine.forecast.views), shape figures.
Nothing here fits or samples a model: the page only reads stored runs."""
from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app.services import services
from components import figures
from components import forecast_figures as ff
from components.price_axis import refused_scale
from components.tables import Column, data_table
from engine import queries
from engine.forecast import views
from engine.forecast.runs import model_label

NO_RUNS = ("No forecasts are stored yet. The baselines are issued when the app starts and each day after the "
           "day's prices land; a transformer's fan appears here when its training has finished.")
#: The choice a fan is drawn for, as the render and download callbacks read it.
_CHOICE = {"market": ("fc-market", "value"), "location": ("fc-location", "value"), "model": ("fc-model", "value"),
           "issued_at": ("fc-issued", "value"), "horizon": ("fc-horizon", "value"), "tz_choice": ("fc-tz", "value")}
_RENDER = {"fan": Output("fc-fan", "figure"), "fan_config": Output("fc-fan", "config"),
           "error": Output("fc-error", "children"), "show_error": Output("fc-error", "is_open"),
           "notes": Output("fc-notes", "children"), "zone": Output("fc-issued-zone", "children"),
           "no_csv": Output("fc-download-btn", "disabled")}
_ACCURACY = {"config": {name: Output(ident, "config") for name, ident in (("rolling", "fc-rolling"),
                                                                         ("calibration", "fc-calibration"),
                                                                         ("by_hour", "fc-by-hour"))},
             "rolling": Output("fc-rolling", "figure"), "calibration": Output("fc-calibration", "figure"),
             "by_hour": Output("fc-by-hour", "figure"), "table": Output("fc-accuracy-table", "children"),
             # the accuracy's two CSV buttons are live only when there is a score to download
             "no_csv": {"table": Output("fc-download-accuracy-btn", "disabled"),
                        "daily": Output("fc-download-daily-btn", "disabled")}}


def _choice(dependency: type[Input] | type[State]) -> dict:
    return {name: dependency(*ref) for name, ref in _CHOICE.items()}


def refused(**choice) -> str | None:
    """Why the values a request sent cannot be shown (engine.forecast.views.check_choice), None when they can.
    Every callback asks this first: the browser only sends what the controls offer, but anyone can POST anything."""
    try:
        views.check_choice(**choice)
    except queries.QueryError as exc:
        return str(exc)
    return None


def _checked(**choice) -> None:
    """A callback with no message output answers a refused request with no change."""
    if refused(**choice):
        raise PreventUpdate


@callback(output={"options": Output("fc-location", "options"), "value": Output("fc-location", "value")},
          inputs={"market": Input("fc-market", "value")}, state={"location": State("fc-location", "value")},
          prevent_initial_call=True)
def market_changed(market, location):
    _checked(market=market, location=location)
    pick = services().cached(views.locations, market, location)
    return {"options": list(pick.offered), "value": pick.chosen}


@callback(output={"options": Output("fc-model", "options"), "value": Output("fc-model", "value")},
          inputs={"location": Input("fc-location", "value"), "_training": Input("fc-training-state", "data")},
          state={"market": State("fc-market", "value"), "model": State("fc-model", "value")},
          prevent_initial_call=True)
def location_changed(location, _training, market, model):
    """The location's models; asked again when a training run ends, so a new model's runs are offered."""
    _checked(market=market, location=location, model=model)
    pick = services().cached(views.models, market, location, model)
    return {"options": views.model_options(pick), "value": pick.chosen}


@callback(output={"options": Output("fc-issued", "options"), "value": Output("fc-issued", "value")},
          inputs={"model": Input("fc-model", "value"), "tz_choice": Input("fc-tz", "value")},
          state={"market": State("fc-market", "value"), "location": State("fc-location", "value"),
                 "issued_at": State("fc-issued", "value")},
          prevent_initial_call=True)
def model_changed(model, tz_choice, market, location, issued_at):
    """The model's issue times, labelled in the zone shown; the chosen one is kept while the model has it."""
    _checked(market=market, location=location, model=model, issued_at=issued_at, tz_choice=tz_choice)
    times = services().cached(views.issue_times, market, location, model, issued_at, tz_choice or "market")
    return {"options": [{"label": label, "value": value} for label, value in times.options], "value": times.chosen}


def _nothing_drawn(message: str, *, error: bool = True) -> dict:
    return {"fan": figures.empty_figure("No forecast for this choice"), "fan_config": figures.export_config("forecast"),
            "error": message, "show_error": error, "notes": None if error else message, "zone": None,
            "no_csv": True}


def _wall_clock(times: pd.DatetimeIndex | pd.Series, tz: str) -> pd.DatetimeIndex:
    # Plotly draws wall-clock time; hand it the display zone's wall clock.
    return pd.DatetimeIndex(times).tz_convert(tz).tz_localize(None)


def _fan(view: views.ForecastView, scale: str | None) -> dict:
    forecast = view.forecast
    levels = ["q50", *(c for _, lo, hi in ff.FAN_BANDS for c in (lo, hi))]
    fan = pd.DataFrame({"time": _wall_clock(forecast.times, view.tz), "forecast": forecast.point,
                        **{c: forecast.quantile(int(c[1:]) / 100) for c in levels}})
    actual = pd.DataFrame({"time": _wall_clock(view.actual.index, view.tz), "price": view.actual.to_numpy()})
    operator = pd.DataFrame({"time": _wall_clock(view.operator["interval_start"], view.tz),
                             "value": view.operator["value"].to_numpy()})
    issued_label = view.run.issued_at.tz_convert(view.tz).strftime("%Y-%m-%d %H:%M")
    operator_label = "Operator's forecast" + (
        f" (issued {view.operator_issued_at.tz_convert(view.tz):%Y-%m-%d %H:%M})" if view.operator_issued_at is not None
        else "")
    return ff.fan_figure(
        fan, actual, issued_at=_wall_clock([view.run.issued_at], view.tz)[0],
        title=f"{view.market} {view.location} {view.run.price_kind} — {model_label(view.run.model)} forecast issued "
              f"{issued_label}, next {view.horizon} h", tz_label=view.tz_label, currency=view.currency,
        operator=operator, operator_label=operator_label, scale=scale)


@callback(output=_RENDER, inputs={**_choice(Input), "scale": Input("fc-scale", "value")})
def render(market, location, model, issued_at, horizon, tz_choice, scale):
    """The fan of the chosen run, on the price axis ``scale`` names (components.price_axis)."""
    if message := refused(market=market, location=location, model=model, issued_at=issued_at, horizon=horizon,
                          tz_choice=tz_choice) or refused_scale(scale):
        return _nothing_drawn(message)
    if not (market and location and model):
        return _nothing_drawn(NO_RUNS if not market else "Choose a location and a model.", error=False)
    try:
        view = services().cached(views.forecast_view, market, location, model, issued_at or None,
                                 horizon or views.HORIZONS[0], tz_choice or "market")
    except queries.QueryError as exc:
        return _nothing_drawn(str(exc))
    if view is None:
        return _nothing_drawn(f"No {model_label(model)} forecast of {market} {location} was issued by {issued_at}.")
    fname = f"{market}_{location}_{model}_{views.issue_value(view.run.issued_at)}".replace(":", "")
    notes = [f"Model version {view.run.model_version}; run {view.run.run_id[:8]}; "
             f"forecasts {view.run.horizon_hours} h from "
             f"{view.run.first_target.tz_convert(view.tz):%Y-%m-%d %H:%M}.", *view.notes]
    if view.actual.empty:
        notes.append("No actual prices are stored for these hours yet.")
    return {"fan": _fan(view, scale), "fan_config": figures.export_config(fname), "error": None, "show_error": False,
            "notes": [html.Div(n) for n in notes], "zone": f"Times in {view.tz_label}.", "no_csv": False}


def _share(value: float) -> str:
    return "—" if pd.isna(value) else f"{value * 100:.1f} %"


def _number(value: float, digits: int = 2) -> str:
    return "—" if pd.isna(value) else f"{value:,.{digits}f}"


def accuracy_table(view: views.AccuracyView) -> object:
    """One row per model; the operator's forecast has no quantiles, so no coverage ("—")."""
    acc = view.accuracy
    cover = acc.coverage.pivot(index="model", columns="nominal", values="observed")

    def covered(model: str, width: float) -> str:
        held = model in cover.index and width in cover.columns
        return _share(cover.at[model, width] if held else float("nan"))

    rows = [(html.Span(acc.labels.get(model, model), className="text-nowrap"), f"{int(r.hours):,}",
             _number(r.mae), _number(r.naive_mae),
             _number(r.rmae, 3), covered(model, 0.5), covered(model, 0.9))
            for model, r in acc.summary.iterrows()]
    columns = ["Model", Column("Hours scored", numeric=True), Column(f"MAE ({view.currency}/MWh)", numeric=True),
               Column("Weekly naive MAE", numeric=True), Column("rMAE", numeric=True),
               Column("50 % band covered", numeric=True), Column("90 % band covered", numeric=True)]
    return data_table(columns, rows, table_id="fc-accuracy-summary", bordered=False, striped=True,
                      style={"maxWidth": "60rem"})


def _no_accuracy(message: str) -> dict:
    blank = figures.empty_figure(message)
    return {"rolling": blank, "calibration": blank, "by_hour": blank,
            "table": html.Div(message, className="text-muted small"),
            "config": {name: no_update for name in _ACCURACY["config"]}, "no_csv": {"table": True, "daily": True}}


@callback(output=_ACCURACY, inputs={"market": Input("fc-market", "value"), "location": Input("fc-location", "value"),
                                    "window": Input("fc-window", "value")})
def accuracy(market, location, window):
    """Rolling MAE and rMAE, calibration and error by hour of every model's day-ahead runs of the location."""
    if message := refused(market=market, location=location, window=window):
        return _no_accuracy(message)
    if not (market and location):
        return _no_accuracy("No forecasts stored yet")
    try:
        view = services().cached(views.accuracy_view, market, location, window or views.WINDOWS[-1])
    except queries.QueryError as exc:
        return _no_accuracy(str(exc))
    acc = view.accuracy
    if acc.empty:
        return _no_accuracy("No day-ahead run has actual prices to be scored against yet")
    market_tz = queries.known_market(market).timezone
    rolling = acc.rolling.assign(day=_wall_clock(acc.rolling["day"], market_tz))
    baseline = acc.baseline.assign(day=_wall_clock(acc.baseline["day"], market_tz))
    return {"rolling": ff.rolling_figure(rolling, baseline, window=acc.window, currency=view.currency,
                                         tz_label=view.tz_label, labels=acc.labels,
                                         baseline_model=acc.baseline_model),
            "calibration": ff.calibration_figure(acc.coverage, acc.labels),
            "by_hour": ff.hour_error_figure(acc.by_hour, currency=view.currency, tz_label=view.tz_label,
                                            labels=acc.labels),
            "table": accuracy_table(view),
            "config": {name: figures.export_config(f"{market}_{location}_day_ahead_{name}"
                                                   + (f"_{acc.window}d" if name == "rolling" else ""))
                       for name in _ACCURACY["config"]},
            "no_csv": {"table": False, "daily": False}}


def _accuracy_download(kind: str, market, location, window):
    _checked(market=market, location=location, window=window)
    if not (market and location):
        return no_update
    try:
        view = services().cached(views.accuracy_view, market, location, window or views.WINDOWS[-1])
    except queries.QueryError:
        return no_update
    if view.accuracy.empty:
        return no_update
    if kind == "table":
        return dcc.send_data_frame(views.accuracy_export(view).to_csv, f"{market}_{location}_day_ahead_accuracy.csv",
                                   index=False)
    return dcc.send_data_frame(views.daily_accuracy_export(view).to_csv,
                               f"{market}_{location}_day_ahead_accuracy_daily_{view.accuracy.window}d.csv",
                               index=False)


_ACCURACY_STATE = {"market": State("fc-market", "value"), "location": State("fc-location", "value"),
                   "window": State("fc-window", "value")}


@callback(output=Output("fc-download-accuracy", "data"), inputs={"_n": Input("fc-download-accuracy-btn", "n_clicks")},
          state=_ACCURACY_STATE, prevent_initial_call=True)
def download_accuracy(_n, market, location, window):
    """The accuracy table, as CSV: one row per model, the numbers unrounded, the headers naming their units."""
    return _accuracy_download("table", market, location, window)


@callback(output=Output("fc-download-daily", "data"), inputs={"_n": Input("fc-download-daily-btn", "n_clicks")},
          state=_ACCURACY_STATE, prevent_initial_call=True)
def download_daily_accuracy(_n, market, location, window):
    """The rolling scores drawn below the table, as CSV: per market day and model, over the window chosen."""
    return _accuracy_download("daily", market, location, window)


@callback(output={"line": Output("fc-training", "children"), "tick_off": Output("fc-training-tick", "disabled"),
                  "state": Output("fc-training-state", "data")},
          inputs={"market": Input("fc-market", "value"), "location": Input("fc-location", "value"),
                  "_tick": Input("fc-training-tick", "n_intervals")},
          state={"was": State("fc-training-state", "data")})
def training(market, location, _tick, was):
    """A progress line while the location's transformer trains; the page polls only then. Read uncached: the job
    log is not part of the data version."""
    if refused(market=market, location=location) or not (market and location):
        return {"line": None, "tick_off": True, "state": no_update}
    progress = views.training_progress(services().ready_store(), market, location)
    status = progress.status if progress else None
    state = no_update if status == was else status
    if progress is None or not progress.running:
        line = None
        if progress is not None and progress.status == "failed":
            line = dbc.Alert(f"The last training of the {market} {location} transformer failed: {progress.error[:300]}",
                             color="light", className="py-1 px-2 mb-0 small")
        return {"line": line, "tick_off": True, "state": state}
    counted = f"{progress.done}/{progress.total} steps, " if progress.total else ""
    line = html.Div([
        dbc.Spinner(size="sm", spinner_class_name="me-2"),
        html.Span(f"The {market} {location} transformer is training ({counted}{progress.share * 100:.0f} %, started "
                  f"{progress.started_at:%Y-%m-%d %H:%M} UTC); its fan appears when it is ready."),
        dbc.Progress(value=progress.share * 100, className="mt-1", style={"height": "0.5rem", "maxWidth": "30rem"}),
    ], id="fc-training-line")
    return {"line": line, "tick_off": False, "state": state}


@callback(output=Output("fc-download", "data"), inputs={"_n": Input("fc-download-btn", "n_clicks")},
          state=_choice(State), prevent_initial_call=True)
def download(_n, market, location, model, issued_at, horizon, tz_choice):
    """The quantiles shown, as CSV (times in the zone shown; the header and the file name say which)."""
    _checked(market=market, location=location, model=model, issued_at=issued_at, horizon=horizon,
             tz_choice=tz_choice)
    if not (market and location and model):
        return no_update
    try:
        view = services().cached(views.forecast_view, market, location, model, issued_at or None,
                                 horizon or views.HORIZONS[0], tz_choice or "market")
    except queries.QueryError:
        return no_update
    if view is None:
        return no_update
    tz_tag = "UTC" if tz_choice == "utc" else "market-time"
    issued = views.issue_value(view.run.issued_at).replace(":", "")
    return dcc.send_data_frame(views.export_frame(view).to_csv,
                               f"{market}_{location}_{model}_issued_{issued}_{view.horizon}h_{tz_tag}.csv",
                               index=False)
