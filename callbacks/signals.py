"""Callbacks of the signals page: thin — check the choice, ask the engine (engine.signals.views, one cached call
per panel; the backtest's prices are cached apart from the backtest on them, so a new parameter costs only the
backtest), shape figures and tables. Nothing here computes a signal or a metric."""
from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import (ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html,
                  no_update)
from dash.exceptions import PreventUpdate

from app.services import services
from components import figures
from components import signal_figures as sf
from components.price_axis import refused_scale
from components.tables import Column, data_table
from engine import queries
from engine.orders import CANCELLABLE, FINAL_STATES, MAX_ORDERS, OrderError, RoutingOff, TargetOrder, orders_export
from engine.signals import views
from engine.signals.base import METRIC_KINDS, METRICS

PARAM = sf.PARAM_INPUT
#: The newest orders the orders panel lists.
ORDER_ROWS = 20
#: The type of the orders table's Cancel buttons (pattern-matching ids: {"type": CANCEL, "order": ClOrdID}).
CANCEL = "sg-cancel"
BOOK = {name: f"sg-book-{name.replace('_', '-')}" for name in views.BOOK_FIELDS}
#: The choice every panel is computed for.
_CHOICE = {"market": ("sg-market", "value"), "location": ("sg-location", "value"), "other": ("sg-other", "value"),
           "start_date": ("sg-dates", "start_date"), "end_date": ("sg-dates", "end_date")}
_RENDER = {"price": Output("sg-price", "figure"), "price_config": Output("sg-price", "config"),
           "equity": Output("sg-equity", "figure"), "equity_config": Output("sg-equity", "config"),
           "metrics": Output("sg-metrics", "children"), "notes": Output("sg-notes", "children"),
           "zone": Output("sg-zone", "children"), "error": Output("sg-error", "children"),
           "show_error": Output("sg-error", "is_open"),
           "problems": Output("sg-param-problems", "data"), "demo": Output("sg-demo-badge", "children"),
           "book_invalid": {name: Output(ident, "invalid") for name, ident in BOOK.items()},
           "book_messages": {name: Output(f"{ident}-msg", "children") for name, ident in BOOK.items()},
           # the trades' and equity's CSV buttons are live only while a backtest is drawn
           "no_csv": {"trades": Output("sg-download-trades-btn", "disabled"),
                      "equity": Output("sg-download-equity-btn", "disabled")}}


def _choice(dependency: type[Input] | type[State]) -> dict:
    return {name: dependency(*ref) for name, ref in _CHOICE.items()}


def _params(dependency: type[Input] | type[State]) -> dict:
    return {"param_values": dependency({"type": PARAM, "name": ALL}, "value"),
            "param_ids": State({"type": PARAM, "name": ALL}, "id")}


def _book(dependency: type[Input] | type[State]) -> dict:
    return {"book": {name: dependency(ident, "value") for name, ident in BOOK.items()}}


def refused(**choice) -> str | None:
    """Why the values a request sent cannot be shown (engine.signals.views.check_choice), None when they can.
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


def params_of(values: object, ids: object) -> dict | None:
    """The parameters as the inputs hold them (name → value); None when the request's lists do not pair up."""
    if not isinstance(values, list) or not isinstance(ids, list) or len(values) != len(ids):
        return None
    names = [i.get("name") if isinstance(i, dict) else None for i in ids]
    if not all(isinstance(n, str) for n in names):
        return None
    return dict(zip(names, values, strict=True))


# ------------------------------------------------------------------------------------------------ controls


@callback(output={"options": Output("sg-location", "options"), "value": Output("sg-location", "value")},
          inputs={"market": Input("sg-market", "value")}, state={"location": State("sg-location", "value")},
          prevent_initial_call=True)
def market_changed(market, location):
    _checked(market=market, location=location)
    pick = services().cached(views.locations, market, location)
    return {"options": list(pick.offered), "value": pick.chosen}


@callback(output={"options": Output("sg-other", "options"), "value": Output("sg-other", "value"),
                  "start": Output("sg-dates", "start_date"), "end": Output("sg-dates", "end_date"),
                  "first": Output("sg-dates", "min_date_allowed"), "last": Output("sg-dates", "max_date_allowed")},
          inputs={"location": Input("sg-location", "value")},
          state={"market": State("sg-market", "value"), "other": State("sg-other", "value"),
                 "start": State("sg-dates", "start_date"), "end": State("sg-dates", "end_date")},
          prevent_initial_call=True)
def location_changed(location, market, other, start, end):
    """The second locations a spread may use, and the dates: kept while the location has data in them."""
    _checked(market=market, location=location, other=other, start_date=start, end_date=end)
    others = services().cached(views.other_locations, market, location, other)
    dates = services().cached(views.stored_dates, market, location, start, end) if market and location else None
    answer = {"options": list(others.offered), "value": others.chosen if other else None}
    if dates is None:
        return {**answer, "start": no_update, "end": no_update, "first": no_update, "last": no_update}
    return {**answer, "start": dates.start, "end": dates.end, "first": dates.first, "last": dates.last}


@callback(Output("sg-params", "children"), Input("sg-strategy", "value"), prevent_initial_call=True)
def strategy_changed(strategy):
    """The new strategy's parameter inputs, at its defaults."""
    _checked(strategy=strategy)
    return sf.parameter_inputs(views.strategy_defaults(strategy)) if strategy else []


# The inputs the server refused are marked in the browser (assets/signals.js): their ids are pattern ids, and a
# server callback writing to them by wildcard could not answer a request that names no inputs.
clientside_callback(ClientsideFunction("signals", "markParameters"),
                    Output({"type": PARAM, "name": ALL}, "invalid"),
                    Output({"type": f"{PARAM}-msg", "name": ALL}, "children"),
                    Input("sg-param-problems", "data"), State({"type": PARAM, "name": ALL}, "id"))


# ------------------------------------------------------------------------------------------------ the backtest


def _wall_clock(times, tz: str) -> pd.DatetimeIndex:
    # Plotly draws wall-clock time; hand it the display zone's wall clock.
    return pd.DatetimeIndex(times).tz_convert(tz).tz_localize(None)


def metrics_table(metrics: pd.Series, currency: str, table_id: str = "sg-metrics-table") -> object:
    rows = [(sf.METRIC_LABELS[m], sf.metric_text(METRIC_KINDS[m], metrics[m], currency)) for m in METRICS]
    return data_table(["", Column("", numeric=True)], rows, table_id=table_id, header=False, bordered=False,
                      striped=True, style={"maxWidth": "26rem"})


def _nothing_drawn(message: str, names: list[str], fields: dict | None = None, *, error: bool = True) -> dict:
    fields = fields or {}
    blank, cfg = figures.empty_figure("No backtest for this choice"), figures.export_config("signals")
    return {"price": blank, "price_config": cfg, "equity": blank, "equity_config": cfg, "metrics": None,
            "notes": None if error else message, "zone": None, "error": message if error else None,
            "show_error": error, "problems": {name: fields[name] for name in names if name in fields}, "demo": None,
            "book_invalid": {name: name in fields for name in BOOK},
            "book_messages": {name: fields.get(name) for name in BOOK}, "no_csv": {"trades": True, "equity": True}}


def _drawn(view: views.BacktestView, scale: str | None) -> dict:
    local = _wall_clock(view.times, view.tz)
    trades = view.trades.assign(entry_time=_wall_clock(view.trades["entry_time"], view.tz),
                                exit_time=_wall_clock(view.trades["exit_time"], view.tz))
    shown = ", ".join(f"{name} {value:g}" for name, value in view.params.items())
    title = f"{view.series_label} — {view.label} ({shown})"
    fname = f"{view.market}_{view.location}_{view.strategy}".replace(" ", "_")
    return {
        "price": sf.price_trades_figure(local, view.traded, trades, title=title, tz_label=view.tz_label,
                                        currency=view.currency, price_name=view.traded_name, scale=scale),
        "price_config": figures.export_config(f"{fname}_trades"),
        "equity": sf.equity_figure(local, view.equity, view.drawdown, title=f"Equity and drawdown — {view.label}",
                                   tz_label=view.tz_label, currency=view.currency, init_cash=view.book.init_cash),
        "equity_config": figures.export_config(f"{fname}_equity"),
        "metrics": metrics_table(view.metrics, view.currency),
        "notes": [html.Div(n) for n in view.notes] or None,
        "zone": f"Times in {view.tz_label}; {len(view.times):,} bars of {views.bar_text(view.freq)}.",
        "error": None, "show_error": False, "problems": {}, "book_invalid": dict.fromkeys(BOOK, False),
        "demo": dbc.Badge("Demo data — generated, not market prices", color="info", id="sg-demo-flag")
        if view.is_demo else None,
        "book_messages": dict.fromkeys(BOOK), "no_csv": {"trades": False, "equity": False}}


def _backtest(market, location, other, start_date, end_date, strategy, params, book, tz_choice) -> views.BacktestView:
    """The backtest shown. The prices are cached apart from the backtest: a change of parameters or account reuses
    them and costs only the backtest (tens of milliseconds on a year of 5-minute bars)."""
    prices = services().cached(views.backtest_prices, market, location, other or None, start_date, end_date, strategy)
    return views.backtest_view(prices, strategy, params, book, tz_choice or "market")


@callback(output=_RENDER, inputs={**_choice(Input), "strategy": State("sg-strategy", "value"),
                                  "tz_choice": Input("sg-tz", "value"), "scale": Input("sg-scale", "value"),
                                  **_params(Input), **_book(Input)})
def render(market, location, other, start_date, end_date, strategy, tz_choice, scale, param_values, param_ids, book):
    """The backtest of the chosen strategy, parameters and account: trades on the price (on the axis ``scale``
    names), equity and drawdown, metrics; a bad parameter or account value is marked beside its input."""
    params = params_of(param_values, param_ids)
    names = list(params or {})
    if params is None:
        raise PreventUpdate  # the browser always sends the inputs' values and ids as two lists of one length
    if message := refused(market=market, location=location, other=other, start_date=start_date, end_date=end_date,
                          strategy=strategy, tz_choice=tz_choice) or refused_scale(scale):
        return _nothing_drawn(message, names)
    if not (market and location and start_date and end_date and strategy):
        return _nothing_drawn("No prices are stored yet: load a file (flask --app app.wsgi ingest load nem PATH)."
                              if not market else "Choose a location, dates and a strategy.", names, error=False)
    if not names:
        raise PreventUpdate  # the strategy's inputs are being drawn; their values come next
    try:
        view = _backtest(market, location, other, start_date, end_date, strategy, params, book, tz_choice)
    except views.ChoiceError as exc:
        return _nothing_drawn(str(exc), names, exc.fields)
    except queries.QueryError as exc:
        return _nothing_drawn(str(exc), names)
    return _drawn(view, scale)


def _download(kind: str, market, location, other, start_date, end_date, strategy, tz_choice, param_values,
              param_ids, book):
    _checked(market=market, location=location, other=other, start_date=start_date, end_date=end_date,
             strategy=strategy, tz_choice=tz_choice)
    params = params_of(param_values, param_ids)
    if params is None or not (market and location and start_date and end_date and strategy):
        return no_update
    try:
        view = _backtest(market, location, other, start_date, end_date, strategy, params, book, tz_choice)
    except queries.QueryError:
        return no_update
    frame = views.trades_export(view) if kind == "trades" else views.equity_export(view)
    tz_tag = "UTC" if tz_choice == "utc" else "market-time"
    return dcc.send_data_frame(frame.to_csv, f"{view.market}_{view.location}_{view.strategy}_{start_date}_"
                                             f"{end_date}_{kind}_{tz_tag}.csv", index=False)


_DOWNLOAD_STATE = {**_choice(State), "strategy": State("sg-strategy", "value"), "tz_choice": State("sg-tz", "value"),
                   **_params(State), **_book(State)}


@callback(output=Output("sg-download-trades", "data"), inputs={"_n": Input("sg-download-trades-btn", "n_clicks")},
          state=_DOWNLOAD_STATE, prevent_initial_call=True)
def download_trades(_n, **choice):
    """The trades of the backtest shown, as CSV (times in the zone shown; the header and file name say which)."""
    return _download("trades", **choice)


@callback(output=Output("sg-download-equity", "data"), inputs={"_n": Input("sg-download-equity-btn", "n_clicks")},
          state=_DOWNLOAD_STATE, prevent_initial_call=True)
def download_equity(_n, **choice):
    """Bar by bar: traded price, MW held, equity and drawdown, as CSV."""
    return _download("equity", **choice)


# ------------------------------------------------------------------------------------------------ the five


@callback(output={"table": Output("sg-compare-table", "children"), "figure": Output("sg-compare", "figure"),
                  "config": Output("sg-compare", "config"), "no_csv": Output("sg-download-compare-btn", "disabled")},
          inputs={**_choice(Input), **_book(Input)})
def compare(market, location, other, start_date, end_date, book):
    """Every strategy at its defaults on the same prices and account; the CSV button is live only with a table."""
    def nothing(table, message: str) -> dict:
        return {"table": table, "figure": figures.empty_figure(message), "config": no_update, "no_csv": True}

    if message := refused(market=market, location=location, other=other, start_date=start_date, end_date=end_date):
        return nothing(html.Div(message, className="text-muted small"), message)
    if not (market and location and start_date and end_date):
        return nothing(None, "No prices stored yet")
    try:
        found = services().cached(views.comparison_view, market, location, other or None, start_date, end_date, book)
    except queries.QueryError as exc:
        return nothing(html.Div(str(exc), className="text-muted small"), "No comparison for this choice")
    metrics = found.metrics
    columns = ["Strategy", *(Column(sf.METRIC_LABELS[m] + (f" ({found.currency})" if m == "pnl" else ""),
                                    numeric=True) for m in METRICS)]
    rows = [(found.labels.get(name, name), *(sf.metric_text(METRIC_KINDS[m], metrics.at[name, m]) for m in METRICS))
            for name in metrics.index]
    rows += [(found.labels.get(name, name), *(["—"] * (len(METRICS) - 1)), f"({why})")
             for name, why in found.left_out.items()]
    table = data_table(columns, rows, table_id="sg-compare-summary", bordered=False, striped=True, className="small")
    return {"table": html.Div([table, *(html.Div(note, className="small text-muted") for note in found.notes)]),
            "figure": sf.comparison_figure(metrics, found.labels),
            "config": figures.export_config(f"{market}_{location}_strategies_{start_date}_{end_date}"),
            "no_csv": False}


@callback(output=Output("sg-download-compare", "data"), inputs={"_n": Input("sg-download-compare-btn", "n_clicks")},
          state={**_choice(State), **_book(State)}, prevent_initial_call=True)
def download_comparison(_n, market, location, other, start_date, end_date, book):
    """The strategies side by side, as CSV: the metrics as numbers, the headers naming their units."""
    _checked(market=market, location=location, other=other, start_date=start_date, end_date=end_date)
    if not (market and location and start_date and end_date):
        return no_update
    try:
        found = services().cached(views.comparison_view, market, location, other or None, start_date, end_date, book)
    except queries.QueryError:
        return no_update
    pair = f"{location}_{other}" if other else location
    return dcc.send_data_frame(views.comparison_export(found).to_csv,
                               f"{market}_{pair}_strategies_{start_date}_{end_date}.csv", index=False)


# ------------------------------------------------------------------------------------------------ heatmap


@callback(output={"figure": Output("sg-heatmap", "figure"), "config": Output("sg-heatmap", "config"),
                  "note": Output("sg-heatmap-note", "children"),
                  "no_csv": Output("sg-download-heatmap-btn", "disabled")},
          inputs={**_choice(Input), "strategy": State("sg-strategy", "value"),
                  "metric": Input("sg-heatmap-metric", "value"), **_params(Input), **_book(Input)})
def heatmap(market, location, other, start_date, end_date, strategy, metric, param_values, param_ids, book):
    """The metric over the strategy's first two grid parameters, the others at their defaults; the parameters
    chosen are ringed (a change of them only moves the ring: the grid is cached); its CSV button is live only while
    a heatmap is drawn."""
    def nothing(figure_message: str, note: str | None) -> dict:
        return {"figure": figures.empty_figure(figure_message), "config": no_update, "note": note, "no_csv": True}

    params = params_of(param_values, param_ids)
    if params is None:
        raise PreventUpdate
    if message := refused(market=market, location=location, other=other, start_date=start_date, end_date=end_date,
                          strategy=strategy, metric=metric):
        return nothing("No heatmap for this choice", message)
    if not (market and location and start_date and end_date and strategy and metric):
        return nothing("No prices stored yet", None)
    if not params:
        raise PreventUpdate
    try:
        found = services().cached(views.heatmap_view, market, location, other or None, start_date, end_date,
                                  strategy, book, metric)
    except queries.QueryError as exc:
        return nothing("No heatmap for this choice", str(exc))
    chosen = params.get(found.x), params.get(found.y)
    ring = chosen if all(isinstance(v, int | float) and not isinstance(v, bool) for v in chosen) else None
    others = ", ".join(f"{name} {value:g}" for name, value in found.others.items())
    return {"figure": sf.parameter_heatmap_figure(found.grid, x_name=found.x, y_name=found.y, metric=found.metric,
                                                  kind=METRIC_KINDS[found.metric], currency=found.currency,
                                                  chosen=ring,
                                                  title=f"{found.label}: {sf.METRIC_LABELS[found.metric]} by "
                                                        f"{found.x} and {found.y}"),
            "config": figures.export_config(f"{market}_{location}_{strategy}_heatmap_{metric}"),
            "note": f"{len(found.grid.columns)} × {len(found.grid.index)} combinations"
                    + (f"; the other parameters at their defaults ({others})" if others else "")
                    + ". The ring marks the parameters chosen above.",
            "no_csv": found.grid.empty}


@callback(output=Output("sg-download-heatmap", "data"), inputs={"_n": Input("sg-download-heatmap-btn", "n_clicks")},
          state={**_choice(State), "strategy": State("sg-strategy", "value"),
                 "metric": State("sg-heatmap-metric", "value"), **_book(State)},
          prevent_initial_call=True)
def download_heatmap(_n, market, location, other, start_date, end_date, strategy, metric, book):
    """The parameter heatmap drawn, as CSV: one row per combination, the metric unrounded, its header naming its
    unit."""
    _checked(market=market, location=location, other=other, start_date=start_date, end_date=end_date,
             strategy=strategy, metric=metric)
    if not (market and location and start_date and end_date and strategy and metric):
        return no_update
    try:
        found = services().cached(views.heatmap_view, market, location, other or None, start_date, end_date,
                                  strategy, book, metric)
    except queries.QueryError:
        return no_update
    return dcc.send_data_frame(views.heatmap_export(found).to_csv,
                               f"{market}_{location}_{strategy}_heatmap_{metric}_{start_date}_{end_date}.csv",
                               index=False)


# ------------------------------------------------------------------------------------------------ walk-forward


def folds_table(wf: views.WalkForwardView) -> object:
    folds = wf.folds
    param_columns = list(folds.columns.difference(views.FOLD_COLUMNS, sort=False))

    def day(t) -> str:
        return "—" if pd.isna(t) else pd.Timestamp(t).tz_convert(wf.tz).strftime("%Y-%m-%d %H:%M")

    rows = [(f"{day(r['train_start'])} – {day(r['train_end'])}", f"{day(r['test_start'])} – {day(r['test_end'])}",
             ", ".join(f"{c} {r[c]:g}" for c in param_columns),
             sf.metric_text(METRIC_KINDS[wf.metric], r["in_sample"], wf.currency),
             sf.metric_text(METRIC_KINDS[wf.metric], r["out_of_sample"], wf.currency)) for _, r in folds.iterrows()]
    label = sf.METRIC_LABELS[wf.metric]
    columns = [f"Training ({wf.tz_label})", "Test", "Parameters chosen", Column(f"{label} in sample", numeric=True),
               Column(f"{label} out of sample", numeric=True)]
    return data_table(columns, rows, table_id="sg-wf-folds", bordered=False, striped=True, className="small")


@callback(output={"table": Output("sg-wf-table", "children"), "figure": Output("sg-wf-equity", "figure"),
                  "config": Output("sg-wf-equity", "config"),
                  # the folds' and the equity's CSV buttons are live only while there are folds
                  "no_csv": {"folds": Output("sg-download-folds-btn", "disabled"),
                             "equity": Output("sg-download-wf-equity-btn", "disabled")}},
          inputs={**_choice(Input), "strategy": Input("sg-strategy", "value"), "window": Input("sg-wf-window", "value"),
                  "metric": Input("sg-wf-metric", "value"), "tz_choice": Input("sg-tz", "value"), **_book(Input)})
def walk_forward(market, location, other, start_date, end_date, strategy, window, metric, tz_choice, book):
    """Folds of in-sample choice and out-of-sample test over the strategy's grid, and the stitched equity; their
    CSV buttons are live only when there are folds."""
    def nothing(message: str) -> dict:
        return {"table": html.Div(message, className="text-muted small"),
                "figure": figures.empty_figure("No walk-forward for this choice"), "config": no_update,
                "no_csv": {"folds": True, "equity": True}}

    if message := refused(market=market, location=location, other=other, start_date=start_date, end_date=end_date,
                          strategy=strategy, metric=metric, window=window, tz_choice=tz_choice):
        return nothing(message)
    if not (market and location and start_date and end_date and strategy and window and metric):
        return nothing("No prices stored yet" if not market else "Choose a location, dates and a strategy.")
    try:
        wf = services().cached(views.walk_forward_view, market, location, other or None, start_date, end_date,
                               strategy, window, book, metric, tz_choice or "market")
    except queries.QueryError as exc:
        return nothing(str(exc))
    starts = _wall_clock(wf.folds["test_start"], wf.tz) if len(wf.folds) else []
    return {"table": folds_table(wf),
            "figure": sf.out_of_sample_figure(_wall_clock(wf.equity.index, wf.tz), wf.equity.to_numpy(),
                                              boundaries=starts, tz_label=wf.tz_label, currency=wf.currency,
                                              title=f"Walk-forward of {wf.label}: out-of-sample equity"),
            "config": figures.export_config(f"{market}_{location}_{strategy}_walk_forward"),
            "no_csv": {"folds": wf.folds.empty, "equity": wf.equity.empty}}


#: The walk-forward shown, as its downloads read it.
_WALK_FORWARD_STATE = {**_choice(State), "strategy": State("sg-strategy", "value"),
                       "window": State("sg-wf-window", "value"), "metric": State("sg-wf-metric", "value"),
                       "tz_choice": State("sg-tz", "value"), **_book(State)}


@callback(output=Output("sg-download-folds", "data"), inputs={"_n": Input("sg-download-folds-btn", "n_clicks")},
          state=_WALK_FORWARD_STATE, prevent_initial_call=True)
def download_folds(_n, market, location, other, start_date, end_date, strategy, window, metric, tz_choice, book):
    """The walk-forward's folds, as CSV (times in the zone shown; the header and file name say which)."""
    wf = _walk_forward_asked(market, location, other, start_date, end_date, strategy, window, metric, tz_choice, book)
    if wf is None:
        return no_update
    return dcc.send_data_frame(views.folds_export(wf).to_csv,
                               _walk_forward_file("walk_forward", market, location, strategy, window, metric,
                                                  start_date, end_date, tz_choice), index=False)


@callback(output=Output("sg-download-wf-equity", "data"),
          inputs={"_n": Input("sg-download-wf-equity-btn", "n_clicks")}, state=_WALK_FORWARD_STATE,
          prevent_initial_call=True)
def download_walk_forward_equity(_n, market, location, other, start_date, end_date, strategy, window, metric,
                                 tz_choice, book):
    """The stitched out-of-sample equity drawn, as CSV: each test bar with its fold and the equity (times in the
    zone shown; the header and file name say which)."""
    wf = _walk_forward_asked(market, location, other, start_date, end_date, strategy, window, metric, tz_choice, book)
    if wf is None or wf.equity.empty:
        return no_update
    return dcc.send_data_frame(views.walk_forward_equity_export(wf).to_csv,
                               _walk_forward_file("walk_forward_equity", market, location, strategy, window, metric,
                                                  start_date, end_date, tz_choice), index=False)


def _walk_forward_asked(market, location, other, start_date, end_date, strategy, window, metric, tz_choice,
                        book) -> views.WalkForwardView | None:
    """The walk-forward a download asks for (the cached one the page drew), None when it cannot be had."""
    _checked(market=market, location=location, other=other, start_date=start_date, end_date=end_date,
             strategy=strategy, metric=metric, window=window, tz_choice=tz_choice)
    if not (market and location and start_date and end_date and strategy and window and metric):
        return None
    try:
        return services().cached(views.walk_forward_view, market, location, other or None, start_date, end_date,
                                 strategy, window, book, metric, tz_choice or "market")
    except queries.QueryError:
        return None


def _walk_forward_file(what: str, market, location, strategy, window, metric, start_date, end_date,
                       tz_choice) -> str:
    tz_tag = "UTC" if tz_choice == "utc" else "market-time"
    return (f"{market}_{location}_{strategy}_{what}_{window.replace('/', '-')}_{metric}_{start_date}_{end_date}_"
            f"{tz_tag}.csv")


# ------------------------------------------------------------------------------------------------ live record


def _money(value: object, currency: str) -> str:
    return "—" if value is None or pd.isna(value) else f"{float(value):,.2f} {currency}"


def live_tables(live: views.LiveRecord) -> object:
    """Per strategy: signals, trades, hit rate, realised and open P&L per MW, the position now; then the newest
    signals."""
    def when(t) -> str:
        return "—" if t is None or pd.isna(t) else pd.Timestamp(t).tz_convert(live.tz).strftime("%Y-%m-%d %H:%M")

    summary = [(r.label, f"{r.signals:,}", f"{r.trades:,}", f"{r.closed:,}",
                sf.metric_text(METRIC_KINDS["win_rate"], r.hit_rate),
                _money(r.realised_pnl, live.currency), _money(r.open_pnl, live.currency),
                f"{views.DIRECTION_NAMES.get(int(r.direction), r.direction)} since {when(r.since)}")
               for r in live.summary.itertuples()]
    recent = [(when(r.time), r.label, views.DIRECTION_NAMES.get(int(r.direction), r.direction),
               f"{r.confidence * 100:.0f} %", f"{r.price:,.2f}", r.status, _money(r.pnl, live.currency))
              for r in live.recent.itertuples()]
    return html.Div([
        data_table(["Strategy", Column("Signals", numeric=True), Column("Trades", numeric=True),
                    Column("Closed", numeric=True), Column("Hit rate", numeric=True),
                    Column("Realised P&L / MW", numeric=True), Column("Open P&L / MW", numeric=True), "Now"],
                   summary, table_id="sg-live-summary", bordered=False, striped=True, className="small"),
        html.H6(f"Newest signals ({live.tz_label})", className="mt-2"),
        data_table([f"Decided at ({live.tz_label})", "Strategy", "Direction", Column("Confidence", numeric=True),
                    Column(f"Price ({live.currency}/MWh)", numeric=True), "Status", Column("P&L / MW", numeric=True)],
                   recent, table_id="sg-live-recent", bordered=False, striped=True, className="small"),
    ])


@callback(output={"live": Output("sg-live", "children"), "no_csv": Output("sg-download-live-btn", "disabled")},
          inputs={"market": Input("sg-market", "value"), "location": Input("sg-location", "value"),
                  "tz_choice": Input("sg-tz", "value")})
def live(market, location, tz_choice):
    """Each strategy's live record at the location; its CSV button is live only when there is a record."""
    def shown(children, recorded: bool = False) -> dict:
        return {"live": children, "no_csv": not recorded}

    if message := refused(market=market, location=location, tz_choice=tz_choice):
        return shown(html.Div(message, className="text-muted small"))
    if not market:
        return shown(None)
    try:
        found = services().cached(views.live_view, market, location or None, tz_choice or "market")
    except queries.QueryError as exc:
        return shown(html.Div(str(exc), className="text-muted small"))
    if found.summary.empty:
        return shown(html.Div(f"No signals are recorded for {market} {location} yet: the live job records each "
                              "strategy's decisions on each market's first location as prices arrive.",
                              className="text-muted small"))
    return shown(live_tables(found), recorded=True)


@callback(output=Output("sg-download-live", "data"), inputs={"_n": Input("sg-download-live-btn", "n_clicks")},
          state={"market": State("sg-market", "value"), "location": State("sg-location", "value"),
                 "tz_choice": State("sg-tz", "value")}, prevent_initial_call=True)
def download_live(_n, market, location, tz_choice):
    """Every recorded signal of the location with its P&L per MW, as CSV (times in the zone shown)."""
    _checked(market=market, location=location, tz_choice=tz_choice)
    if not market or not location:
        raise PreventUpdate
    try:
        found = services().cached(views.live_view, market, location, tz_choice or "market")
    except queries.QueryError:
        raise PreventUpdate from None
    if found.signals.empty:
        raise PreventUpdate
    tz_tag = "UTC" if tz_choice == "utc" else "market-time"
    return dcc.send_data_frame(views.live_export(found).to_csv,
                               f"{market}_{location}_live_signals_{tz_tag}.csv", index=False)


# ------------------------------------------------------------------------------------------------ orders


def _routing_status():
    """The app's order routing and this user's standing with it: (routing, status) — routing None when the app
    has none set up."""
    routing = services().routing
    return (routing, routing.status()) if routing is not None else (None, None)


def _signal_line(signal: views.LiveSignal, tz: str, net: TargetOrder | None) -> object:
    """The decision, and — for a user who may send — the target position, what is held and the order between
    them (``net``); without ``net`` the order the signal's whole target would be."""
    side = views.DIRECTION_NAMES[signal.direction]
    decided = signal.time.tz_convert(tz).strftime("%Y-%m-%d %H:%M")
    order = signal.order if net is None else net.order
    what = (f"{order['side']} {order['quantity']:g} MW of {order['symbol']} at market" if order
            else "nothing to send while flat" if net is None else "nothing to send")
    line = html.Div([
        html.Span("Live signal: ", className="fw-semibold"),
        html.Span(f"{signal.label} is {side}", id="sg-live-direction",
                  className={"long": "text-success", "short": "text-danger"}.get(side, "text-muted") + " fw-semibold"),
        html.Span(f" (confidence {signal.confidence * 100:.0f} %), decided at the close of the bar ending {decided} "
                  f"on {signal.price:,.2f} {signal.currency}/MWh; order: {what}.", className="small"),
    ])
    if net is None:
        return line
    position = html.Div([
        html.Span([html.Span("Target ", className="text-muted"), html.Span(f"{net.target:+g} MWh", id="sg-target")],
                  className="me-3"),
        html.Span([html.Span("holding ", className="text-muted"), html.Span(f"{net.holding:+g} MWh", id="sg-holding")],
                  className="me-3"),
        html.Span([html.Span("working ", className="text-muted"), f"{net.working:+g} MWh"], className="me-3")
        if net.working else None,
        html.Span([html.Span("order ", className="text-muted"),
                   html.Span(f"{order['side']} {order['quantity']:g}" if order else "none", id="sg-net-order")]),
    ], className="small mt-1")
    return html.Div([line, position])


@callback(output={"signal": Output("sg-live-signal", "children"), "disabled": Output("sg-send-order", "disabled"),
                  "reason": Output("sg-order-reason", "children")},
          inputs={**_choice(Input), "strategy": State("sg-strategy", "value"), "tz_choice": Input("sg-tz", "value"),
                  **_params(Input), **_book(Input), "_sent": Input("sg-order-sent", "data"),
                  "_cancelled": Input("sg-order-cancelled", "data"), "_tick": Input("sg-orders-tick", "n_intervals")})
def live_signal(market, location, other, start_date, end_date, strategy, tz_choice, param_values, param_ids, book,
                _sent, _cancelled, _tick):
    """The chosen strategy's decision on the newest stored bar, and whether this user may send it as an order;
    for one who may, the target against the holding (read uncached: fills are not part of the data version),
    again whenever the orders move."""
    del start_date, end_date  # the live signal reads the latest prices, whatever the backtest's dates
    params = params_of(param_values, param_ids)
    message = "The parameters sent do not pair up with their names." if params is None else refused(
        market=market, location=location, other=other, strategy=strategy, tz_choice=tz_choice)
    if message:
        return {"signal": html.Div(message, className="text-muted small"), "disabled": True, "reason": None}
    if not (market and location and strategy and params):
        return {"signal": None, "disabled": True, "reason": None}
    routing, status = _routing_status()
    reason = "Order routing is not set up in this app." if status is None else status.reason
    try:
        signal = services().cached(views.live_signal, market, location, other or None, strategy, params, book)
    except queries.QueryError as exc:
        return {"signal": html.Div(f"No live signal: {exc}", className="text-muted small"), "disabled": True,
                "reason": reason}
    net = routing.live_order(signal) if routing is not None and status.may_send else None
    if not reason and net is not None and net.order is None:
        reason = net.reason
    return {"signal": _signal_line(signal, queries.known_market(market).display_zone(tz_choice), net),
            "disabled": bool(reason), "reason": reason}


@callback(output={"result": Output("sg-order-result", "children"), "open": Output("sg-order-result", "is_open"),
                  "colour": Output("sg-order-result", "color"), "sent": Output("sg-order-sent", "data")},
          inputs={"_n": Input("sg-send-order", "n_clicks")},
          state={**_choice(State), "strategy": State("sg-strategy", "value"), **_params(State), **_book(State),
                 "sent": State("sg-order-sent", "data")},
          prevent_initial_call=True)
def send_order(_n, market, location, other, start_date, end_date, strategy, param_values, param_ids, book, sent):
    """Send the order that takes the holding to the live signal's target, as a market order. The app's routing
    checks the role and the admin switch again: a disabled button is a courtesy, this is what holds."""
    del start_date, end_date

    def answer(text: str, colour: str, counted: bool = False) -> dict:
        return {"result": text, "open": True, "colour": colour,
                "sent": (sent if isinstance(sent, int) else 0) + 1 if counted else no_update}

    params = params_of(param_values, param_ids)
    if params is None:
        return answer("The parameters sent do not pair up with their names.", "warning")
    if message := refused(market=market, location=location, other=other, strategy=strategy):
        return answer(message, "warning")
    if not (market and location and strategy):
        return answer("Choose a location and a strategy first.", "warning")
    routing, status = _routing_status()
    if routing is None:
        return answer("Order routing is not set up in this app.", "warning")
    if status.reason:  # a role that may not send, no counterparty configured, or routing switched off
        return answer(status.reason, "danger" if not status.may_send else "warning")
    try:
        signal = services().cached(views.live_signal, market, location, other or None, strategy, params, book)
    except queries.QueryError as exc:
        return answer(f"No live signal: {exc}", "warning")
    try:
        order = routing.send_live(signal)
    except PermissionError as exc:  # the role may not send
        return answer(str(exc), "danger")
    except (RoutingOff, OrderError) as exc:  # also: already at the target, or an order still working
        return answer(str(exc) or "Order routing is off; an admin can switch it on.", "warning")
    return answer(f"Order {order.cl_ord_id} ({order.side} {order.quantity:g} {order.symbol}) is {order.state}.",
                  "success", counted=True)


@callback(output={"result": Output("sg-cancel-result", "children"), "open": Output("sg-cancel-result", "is_open"),
                  "colour": Output("sg-cancel-result", "color"), "cancelled": Output("sg-order-cancelled", "data")},
          inputs={"clicks": Input({"type": CANCEL, "order": ALL}, "n_clicks")},
          state={"cancelled": State("sg-order-cancelled", "data")},
          prevent_initial_call=True)
def cancel_order(clicks, cancelled):
    """Cancel the order whose Cancel was clicked. A redrawn table's buttons (no click yet) change nothing; the
    routing checks the role and the switch."""
    del clicks  # which button was clicked is in the trigger
    trigger = ctx.triggered_id
    cl_ord_id = trigger.get("order") if isinstance(trigger, dict) else None
    if not isinstance(cl_ord_id, str) or not ctx.triggered or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    routing = services().routing

    def answer(text: str, colour: str, counted: bool = False) -> dict:
        return {"result": text, "open": True, "colour": colour,
                "cancelled": (cancelled if isinstance(cancelled, int) else 0) + 1 if counted else no_update}

    if routing is None:
        return answer("Order routing is not set up in this app.", "warning")
    try:
        order = routing.cancel_order(cl_ord_id)
    except PermissionError as exc:
        return answer(str(exc), "danger")
    except (RoutingOff, OrderError) as exc:
        return answer(str(exc), "warning")
    done = "is cancelled" if order.state == "cancelled" else "will be cancelled once the counterparty confirms"
    return answer(f"Order {order.cl_ord_id} {done}.", "success", counted=True)


@callback(output={"table": Output("sg-orders-table", "children"), "tick_off": Output("sg-orders-tick", "disabled"),
                  "csv": Output("sg-orders-csv", "className")},
          inputs={"_sent": Input("sg-order-sent", "data"), "_cancelled": Input("sg-order-cancelled", "data"),
                  "_tick": Input("sg-orders-tick", "n_intervals"), "tz_choice": Input("sg-tz", "value")},
          state={"market": State("sg-market", "value")})
def orders_table(_sent, _cancelled, _tick, tz_choice, market):
    """The newest orders and their state from the execution reports, a Cancel on each open one; polled while
    one is not final. Read uncached: the orders table is not part of the data version."""
    if refused(market=market, tz_choice=tz_choice):
        raise PreventUpdate
    routing, status = _routing_status()
    if routing is None or not status.may_send:
        return {"table": None, "tick_off": True, "csv": _HIDDEN}
    found = routing.orders(ORDER_ROWS)
    if found.empty:
        return {"table": html.Div("No orders sent yet.", className="small text-muted"), "tick_off": True,
                "csv": _HIDDEN}
    tz, label = _orders_zone(market, tz_choice)

    def when(t) -> str:
        return "—" if t is None or pd.isna(t) else pd.Timestamp(t).tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S")

    def cancel(r) -> object:
        if r.state not in CANCELLABLE:
            return ""
        return dbc.Button("Cancel", id={"type": CANCEL, "order": r.cl_ord_id}, color="outline-danger", size="sm",
                          className="py-0", disabled=bool(status.reason), title=status.reason or None)

    rows = [(when(r.created_at), r.cl_ord_id, r.symbol, r.side, f"{r.quantity:g}", r.ord_type, r.state,
             f"{r.filled_qty:g}", "—" if pd.isna(r.avg_price) else f"{r.avg_price:,.2f}", r.text or "",
             when(r.updated_at), cancel(r)) for r in found.itertuples()]
    columns = [f"Created ({label})", "ClOrdID", "Symbol", "Side", Column("Quantity", numeric=True), "Type", "State",
               Column("Filled", numeric=True), Column("Average price", numeric=True), "Text", "Last update", ""]
    waiting = not set(found["state"]) <= FINAL_STATES
    return {"table": data_table(columns, rows, table_id="sg-orders", bordered=False, striped=True,
                                className="small"), "tick_off": not waiting, "csv": ORDERS_CSV_SHOWN}


#: The orders' CSV heading, shown with the table and hidden (Bootstrap's d-none) without it: a class, not a style,
#: since d-flex's display wins over an inline one.
ORDERS_CSV_SHOWN = "d-flex align-items-center mt-3 mb-2"
_HIDDEN = "d-none"


def _orders_zone(market: object, tz_choice: object) -> tuple[str, str]:
    """The zone the orders' times are shown in, and its name: the chosen market's (or UTC before one is)."""
    if not market:
        return "UTC", "UTC"
    info = queries.known_market(market)
    return info.display_zone(tz_choice), info.display_label(tz_choice)


@callback(output=Output("sg-download-orders", "data"), inputs={"_n": Input("sg-download-orders-btn", "n_clicks")},
          state={"market": State("sg-market", "value"), "tz_choice": State("sg-tz", "value")},
          prevent_initial_call=True)
def download_orders(_n, market, tz_choice):
    """Every order (up to MAX_ORDERS, newest first) with its state, as CSV: for the roles that
    may send orders, as the table is."""
    if refused(market=market, tz_choice=tz_choice):
        raise PreventUpdate
    routing, status = _routing_status()
    if routing is None or not status.may_send:
        raise PreventUpdate
    tz, label = _orders_zone(market, tz_choice)
    tz_tag = "UTC" if not market or tz_choice == "utc" else "market-time"
    return dcc.send_data_frame(orders_export(routing.orders(MAX_ORDERS), tz, label).to_csv,
                               f"orders_{tz_tag}.csv", index=False)
