"""Callbacks of the market overview: thin — read the choice, ask the engine (engine.overview), shape figures."""
from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app.services import services
from components import figures
from components.price_axis import refused_scale
from components.tables import Column, data_table
from engine import overview, queries

#: The render callback's outputs, by name.
_RENDER = {"series": Output("ov-series", "figure"), "series_config": Output("ov-series", "config"),
           "duration": Output("ov-duration", "figure"), "duration_config": Output("ov-duration", "config"),
           "heatmap": Output("ov-heatmap", "figure"), "heatmap_config": Output("ov-heatmap", "config"),
           "stats": Output("ov-stats", "children"), "error": Output("ov-error", "children"),
           "show_error": Output("ov-error", "is_open"), "demo": Output("ov-demo-badge", "children"),
           # each CSV button is live only while what it downloads is drawn
           "no_csv": {"series": Output("ov-download-btn", "disabled"),
                      "stats": Output("ov-download-stats-btn", "disabled"),
                      "duration": Output("ov-download-duration-btn", "disabled"),
                      "heatmap": Output("ov-download-heatmap-btn", "disabled")}}
#: The choice a view is drawn for, as the render and download callbacks read it.
_CHOICE = {"market": ("ov-market", "value"), "location": ("ov-location", "value"),
           "start_date": ("ov-dates", "start_date"), "end_date": ("ov-dates", "end_date"),
           "tz_choice": ("ov-tz", "value"), "kind": ("ov-kind", "value")}


def _choice(dependency: type[Input] | type[State]) -> dict:
    return {name: dependency(*ref) for name, ref in _CHOICE.items()}


def refused(**choice) -> str | None:
    """Why the values a request sent cannot be shown (engine.overview.check_choice), None when they can. Every
    callback asks this first: the browser only sends what the controls offer, but anyone can POST anything."""
    try:
        overview.check_choice(**choice)
    except queries.QueryError as exc:
        return str(exc)
    return None


def _checked(**choice) -> None:
    """A callback with no message output answers a refused request with no change."""
    if refused(**choice):
        raise PreventUpdate


@callback(output={"options": Output("ov-location", "options"), "value": Output("ov-location", "value")},
          inputs={"market": Input("ov-market", "value")}, state={"location": State("ov-location", "value")},
          prevent_initial_call=True)
def market_changed(market, location):
    _checked(market=market, location=location)
    pick = services().cached(overview.locations, market, location)
    return {"options": list(pick.offered), "value": pick.chosen}


@callback(output={"options": Output("ov-kind", "options"), "value": Output("ov-kind", "value")},
          inputs={"location": Input("ov-location", "value")},
          state={"market": State("ov-market", "value"), "kind": State("ov-kind", "value")},
          prevent_initial_call=True)
def location_changed(location, market, kind):
    _checked(market=market, location=location, kind=kind)
    pick = services().cached(overview.price_kinds, market, location, kind)
    return {"options": list(pick.offered), "value": pick.chosen}


@callback(output={"start": Output("ov-dates", "start_date"), "end": Output("ov-dates", "end_date"),
                  "first": Output("ov-dates", "min_date_allowed"), "last": Output("ov-dates", "max_date_allowed")},
          inputs={"kind": Input("ov-kind", "value")},
          state={"market": State("ov-market", "value"), "location": State("ov-location", "value"),
                 "start": State("ov-dates", "start_date"), "end": State("ov-dates", "end_date")},
          prevent_initial_call=True)
def series_changed(kind, market, location, start, end):
    """Keep the chosen dates when the new series has data in them; otherwise show its latest days."""
    _checked(market=market, location=location, kind=kind, start_date=start, end_date=end)
    dates = services().cached(overview.series_dates, market, location, kind, start, end) \
        if market and location and kind else None
    if dates is None:
        return {"start": no_update, "end": no_update, "first": no_update, "last": no_update}
    kept = (dates.start, dates.end) == (start, end)
    return {"start": no_update if kept else dates.start, "end": no_update if kept else dates.end,
            "first": dates.first, "last": dates.last}


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def stats_table(stats: queries.PriceStats, currency: str, basis: str = "interval") -> object:
    rows = [
        ("Intervals", f"{stats.intervals:,}"),
        (f"Minimum ({currency}/MWh)", _money(stats.min_price)),
        (f"Mean ({currency}/MWh)", _money(stats.mean_price)),
        (f"Maximum ({currency}/MWh)", _money(stats.max_price)),
        (f"Demand-weighted mean ({currency}/MWh)" + ("" if basis == "interval" else
                                                      f", of {overview.WEIGHTED_OVER[basis]}"),
         _money(stats.volume_weighted_price)),
        ("Intervals with a negative price", f"{stats.negative_intervals:,}"),
    ]
    return data_table(["", Column("", numeric=True)], rows, table_id="ov-stats-table", header=False,
                      bordered=False, striped=True, style={"maxWidth": "32rem"})


def latest_table(latest: overview.LatestPrices, location: str | None) -> object:
    """The newest stored price of each of the market's series, the chosen location's in bold."""
    rows = latest.rows
    cells = [(r.location, r.price_kind + (" (demo)" if r.is_demo else ""),
              r.interval_start.tz_convert(latest.tz).strftime("%Y-%m-%d %H:%M"), r.interval_minutes,
              f"{r.price:,.2f}") for r in rows.itertuples()]
    columns = ["Region", "Price", f"Interval start ({latest.tz_label})", Column("Minutes", numeric=True),
               Column(f"{latest.currency}/MWh", numeric=True)]
    return data_table(columns, cells, table_id="ov-latest-table", bordered=False, striped=True,
                      row_classes=["fw-bold" if loc == location else None for loc in rows["location"]])


def _local_naive(series: pd.DataFrame, tz: str) -> pd.DataFrame:
    # Plotly draws wall-clock time; hand it the display zone's wall clock.
    return series.assign(interval_start=series["interval_start"].dt.tz_convert(tz).dt.tz_localize(None))


def _nothing_drawn(message: str, stats: object = None) -> dict:
    blank, cfg = figures.empty_figure("No data for this choice"), figures.export_config("chart")
    return {"series": blank, "series_config": cfg, "duration": blank, "duration_config": cfg, "heatmap": blank,
            "heatmap_config": cfg, "stats": stats, "error": message, "show_error": True, "demo": None,
            "no_csv": {"series": True, "stats": True, "duration": True, "heatmap": True}}


def _drawn(view: overview.OverviewView, title: str, series_title: str, name: str, scale: str | None) -> dict:
    """The figures of a view: ``title`` names the location, ``series_title`` the price series and ``name``
    (which the PNG exports are named after) the series and its dates; ``scale`` is the price axis's."""
    fname = name.replace(" ", "_")
    heat = figures.heatmap_figure(view.heatmap, title=title, tz_label=view.tz_label, currency=view.currency,
                                  rows=view.heatmap_rows) if not view.heatmap.empty else \
        figures.empty_figure("No data for this choice")
    return {
        "series": figures.price_demand_figure(_local_naive(view.series, view.tz), title=series_title,
                                              tz_label=view.tz_label, currency=view.currency,
                                              resolution=view.resolution, scale=scale),
        "series_config": figures.export_config(f"{fname}_prices"),
        "duration": figures.duration_figure(view.curve, title=title, currency=view.currency, of=view.basis,
                                            scale=scale),
        "duration_config": figures.export_config(f"{fname}_duration"),
        "heatmap": heat, "heatmap_config": figures.export_config(f"{fname}_heatmap"),
        "stats": stats_table(view.stats, view.currency, view.basis), "error": None, "show_error": False,
        "demo": dbc.Badge("Demo data — generated, not market prices", color="info", id="ov-demo-flag")
        if view.is_demo else None,
        "no_csv": {"series": False, "stats": False, "duration": view.curve.empty, "heatmap": view.heatmap.empty},
    }


@callback(output=_RENDER, inputs={**_choice(Input), "scale": Input("ov-scale", "value")})
def render(market, location, start_date, end_date, tz_choice, kind, scale):
    """Everything the overview shows for one choice, prices on the axis ``scale`` names (price_axis.PRICE_SCALES)."""
    if message := refused(market=market, location=location, kind=kind, start_date=start_date, end_date=end_date,
                          tz_choice=tz_choice):
        return _nothing_drawn(message)
    if message := refused_scale(scale):
        return _nothing_drawn(message)
    if not (market and location and start_date and end_date):
        return _nothing_drawn("No prices are stored yet: load a file (flask --app app.wsgi ingest load nem PATH)."
                              if not market else "Choose a region and a date range.")
    try:
        view = services().cached(overview.overview_view, market, location, start_date, end_date,
                                 tz_choice or "market", kind or "settlement")
    except queries.QueryError as exc:
        return _nothing_drawn(str(exc))
    if view.series.empty:
        return _nothing_drawn(f"No {market} {location} {kind} prices stored between {start_date} and {end_date}.",
                              stats_table(view.stats, view.currency, view.basis))
    return _drawn(view, f"{market} {location}", f"{market} {location} {kind}",
                  f"{market} {location} {kind} {start_date} to {end_date}", scale)


@callback(output={"table": Output("ov-latest", "children"), "no_csv": Output("ov-download-latest-btn", "disabled")},
          inputs={"market": Input("ov-market", "value"), "location": Input("ov-location", "value"),
                  "tz_choice": Input("ov-tz", "value")})
def latest(market, location, tz_choice):
    """The latest stored prices of the market; its CSV button is live only when there are some."""
    def shown(table, stored: bool = False) -> dict:
        return {"table": table, "no_csv": not stored}

    if message := refused(market=market, location=location, tz_choice=tz_choice):
        return shown(html.Div(message, className="text-muted small"))
    if not market:
        return shown(None)
    try:
        found = services().cached(overview.latest_view, market, tz_choice or "market")
    except queries.QueryError as exc:
        return shown(html.Div(str(exc), className="text-muted small"))
    if found.rows.empty:
        return shown(html.Div(f"No {market} prices stored.", className="text-muted small"))
    return shown(latest_table(found, location), stored=True)


@callback(output=Output("ov-download-latest", "data"), inputs={"_n": Input("ov-download-latest-btn", "n_clicks")},
          state={"market": State("ov-market", "value"), "tz_choice": State("ov-tz", "value")},
          prevent_initial_call=True)
def download_latest(_n, market, tz_choice):
    """The latest stored prices table, as CSV (times in the zone shown; the file name says which)."""
    _checked(market=market, tz_choice=tz_choice)
    if not market:
        return no_update
    try:
        found = services().cached(overview.latest_view, market, tz_choice or "market")
    except queries.QueryError:
        return no_update
    return dcc.send_data_frame(queries.latest_for_export(found.rows, found.tz).to_csv,
                               f"{market}_latest_prices_{_tz_tag(tz_choice)}.csv", index=False)


@callback(output=Output("ov-download-stats", "data"), inputs={"_n": Input("ov-download-stats-btn", "n_clicks")},
          state=_choice(State), prevent_initial_call=True)
def download_stats(_n, market, location, start_date, end_date, tz_choice, kind):
    """The price statistics over the chosen range, as a one-row CSV."""
    view = _view_asked(market, location, start_date, end_date, tz_choice, kind)
    if view is None:
        return no_update
    return dcc.send_data_frame(overview.stats_export(view, market, location, kind, start_date, end_date).to_csv,
                               f"{market}_{location}_{kind}_{start_date}_{end_date}_statistics.csv", index=False)


def _view_asked(market, location, start_date, end_date, tz_choice, kind) -> overview.OverviewView | None:
    """The view a download asks for (the cached one the page drew), None when it cannot be had."""
    _checked(market=market, location=location, kind=kind, start_date=start_date, end_date=end_date,
             tz_choice=tz_choice)
    if not (market and location and start_date and end_date and kind):
        return None
    try:
        return services().cached(overview.overview_view, market, location, start_date, end_date,
                                 tz_choice or "market", kind)
    except queries.QueryError:
        return None


@callback(output=Output("ov-download", "data"), inputs={"_n": Input("ov-download-btn", "n_clicks")},
          state=_choice(State), prevent_initial_call=True)
def download(_n, market, location, start_date, end_date, tz_choice, kind):
    """The series drawn, as CSV (times in the zone shown; the header and file name say which)."""
    view = _view_asked(market, location, start_date, end_date, tz_choice, kind)
    if view is None:
        return no_update
    return dcc.send_data_frame(overview.series_export(view).to_csv,
                               f"{market}_{location}_{kind}_{start_date}_{end_date}_{_tz_tag(tz_choice)}.csv",
                               index=False)


def _tz_tag(tz_choice) -> str:
    """How a file name says the zone its times are in."""
    return "UTC" if tz_choice == "utc" else "market-time"


@callback(output=Output("ov-download-duration", "data"),
          inputs={"_n": Input("ov-download-duration-btn", "n_clicks")}, state=_choice(State),
          prevent_initial_call=True)
def download_duration(_n, market, location, start_date, end_date, tz_choice, kind):
    """The price duration curve drawn, as CSV: each point's share priced higher and its price, unrounded."""
    view = _view_asked(market, location, start_date, end_date, tz_choice, kind)
    if view is None or view.curve.empty:
        return no_update
    return dcc.send_data_frame(overview.duration_export(view).to_csv,
                               f"{market}_{location}_{kind}_{start_date}_{end_date}_duration.csv", index=False)


@callback(output=Output("ov-download-heatmap", "data"),
          inputs={"_n": Input("ov-download-heatmap-btn", "n_clicks")}, state=_choice(State),
          prevent_initial_call=True)
def download_heatmap(_n, market, location, start_date, end_date, tz_choice, kind):
    """The hour-of-day heatmap drawn, as CSV: each day (or month) and hour in the zone shown, the mean price."""
    view = _view_asked(market, location, start_date, end_date, tz_choice, kind)
    if view is None or view.heatmap.empty:
        return no_update
    return dcc.send_data_frame(overview.heatmap_export(view).to_csv,
                               f"{market}_{location}_{kind}_{start_date}_{end_date}_heatmap_{_tz_tag(tz_choice)}.csv",
                               index=False)
