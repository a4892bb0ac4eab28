"""Callbacks of the market overview: thin — read the choice, ask the engine, shape figures."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from app.services import services
from components import figures
from engine import queries
from engine.workers import PAGE_QUERIES

DEFAULT_DAYS = 14
HEATMAP_MAX_DAYS = 92


@dataclass
class Choice:
    market_options: list
    market: str | None
    location_options: list
    location: str | None
    kind_options: list
    kind: str | None
    start: str | None
    end: str | None
    min_date: str | None
    max_date: str | None
    notes: list[str] = field(default_factory=list)  # what a link asked for and did not get, and why


def _span_dates(store, market: str, location: str, kind: str | None) -> tuple[str, str, str, str] | None:
    """(default start, default end, first, last) dates in market time for a location's stored prices."""
    span = queries.data_span(store, market, location, kind)
    if span is None:
        return None
    tz = queries.market_info(store, market).tz
    first, last = (t.tz_convert(tz).date() for t in span)
    start = max(first, last - dt.timedelta(days=DEFAULT_DAYS - 1))
    return start.isoformat(), last.isoformat(), first.isoformat(), last.isoformat()


def initial_choice(market: str | None = None, location: str | None = None, kind: str | None = None,
                   start: str | None = None, end: str | None = None) -> Choice:
    """The view a page opens on: what was asked for where the store holds it, the defaults otherwise (with a
    note saying what was passed over)."""
    store = services().ready_store()
    notes: list[str] = []

    def pick(asked: str | None, offered: list[str], what: str) -> str | None:
        chosen = asked if asked in offered else (offered[0] if offered else None)
        if asked is not None and asked != chosen:
            notes.append(f"No {what} {_shown(asked)} is stored; showing {chosen or 'nothing'}.")
        return chosen

    markets = queries.markets_with_prices(store)
    market = pick(market, markets, "market")
    locations = queries.price_locations(store, market) if market else []
    location = pick(location, locations, f"{market} location")
    kinds = queries.price_kinds(store, market, location) if location else []
    kind = pick(kind, kinds, f"{location} price series")
    dates = _span_dates(store, market, location, kind) if location else None
    if dates is not None and (start is not None or end is not None):
        asked = _asked_dates(start, end, first=dates[2], last=dates[3])
        if asked is None:
            notes.append(f"The link's dates ({_shown(start)} to {_shown(end)}) are not YYYY-MM-DD dates in order "
                         f"within the stored {dates[2]} to {dates[3]}; showing the latest days.")
        else:
            if asked != (start, end):
                notes.append(f"Dates clipped to the stored {dates[2]} to {dates[3]}.")
            dates = (*asked, dates[2], dates[3])
    return Choice([{"label": m, "value": m} for m in markets], market,
                  [{"label": loc, "value": loc} for loc in locations], location,
                  [{"label": k, "value": k} for k in kinds], kind, *(dates or (None,) * 4), notes=notes)


def _asked_dates(start: str | None, end: str | None, *, first: str, last: str) -> tuple[str, str] | None:
    """Dates from a link, if both are real dates in order and overlap the stored span (clipped to it)."""
    try:
        s, e = dt.date.fromisoformat(str(start)), dt.date.fromisoformat(str(end))
    except ValueError:
        return None
    s, e = max(s.isoformat(), first), min(e.isoformat(), last)
    return (s, e) if s <= e else None


def _shown(value: object) -> str:
    """A value from a link, quoted and cut short for a message."""
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def overview_data(market: str, location: str, start_date: str, end_date: str, tz_choice: str,
                  kind: str = "settlement") -> dict:
    """Everything the page draws for one choice; cached per store version so a new load is seen at once."""
    svc = services()
    key = f"overview:{svc.data_version()}:{market}:{location}:{kind}:{start_date}:{end_date}:{tz_choice}"
    hit = svc.cache.get(key)
    if hit is not None:
        return hit
    store = svc.ready_store()
    info = queries.market_info(store, market)
    end_exclusive = (pd.Timestamp(end_date) + pd.Timedelta(days=1)).date()
    start, end = queries.parse_range(info, start_date, end_exclusive)
    resolution = queries.choose_resolution(queries.raw_interval_count(store, market, location, kind, start, end))
    tz = info.timezone if tz_choice == "market" else "UTC"
    # A row per day is readable up to a quarter; longer ranges get a row per month.
    heat_rows = "day" if end - start <= pd.Timedelta(days=HEATMAP_MAX_DAYS) else "month"
    # A range short enough to draw interval by interval gets exact interval statistics from the raw rows.
    # A longer one is drawn as hourly or daily means, and its demand weighting and duration curve are of the
    # means drawn (the counts, extremes and mean stay exact, from the hourly aggregate): the raw join and
    # sort over millions of rows would take the page past its answer time.
    basis = "interval" if resolution == "raw" else resolution
    # The queries are independent: run them side by side (each worker has its own connection).
    jobs = [
        PAGE_QUERIES.submit(queries.price_series, store, market, location, start, end, price_kind=kind,
                            resolution=resolution),
        PAGE_QUERIES.submit(queries.price_stats if basis == "interval" else queries.hourly_price_stats, store,
                            market, location, start, end, price_kind=kind),
        PAGE_QUERIES.submit(queries.hour_day_heatmap, store, market, location, start, end, tz=tz, price_kind=kind,
                            rows=heat_rows),
    ]
    if basis == "interval":
        jobs.append(PAGE_QUERIES.submit(queries.duration_curve, store, market, location, start, end,
                                        price_kind=kind))
    results = [job.result() for job in jobs]
    (series, _), stats, heatmap = results[:3]
    if basis == "interval":
        curve = results[3]
    else:
        curve = queries.duration_curve_of(series["price"])
        stats["volume_weighted_price"] = queries.weighted_mean_price(series)
    data = {
        "info": info, "tz": tz, "tz_label": info.timezone_label if tz_choice == "market" else "UTC",
        "series": series, "resolution": resolution, "basis": basis, "stats": stats, "curve": curve,
        "heatmap_rows": heat_rows, "heatmap": heatmap,
    }
    svc.cache.set(key, data, timeout=300)
    return data


_OF_MEANS = {"hour": ", of hourly means", "day": ", of daily means"}


def _stats_table(stats: dict, currency: str, basis: str = "interval") -> dbc.Table:
    def money(v):
        return "—" if v is None else f"{v:,.2f}"
    rows = [
        ("Intervals", f"{stats['intervals']:,}"),
        (f"Minimum ({currency}/MWh)", money(stats["min_price"])),
        (f"Mean ({currency}/MWh)", money(stats["mean_price"])),
        (f"Maximum ({currency}/MWh)", money(stats["max_price"])),
        (f"Demand-weighted mean ({currency}/MWh)" + _OF_MEANS.get(basis, ""),
         money(stats["volume_weighted_price"])),
        ("Intervals with a negative price", f"{stats['negative_intervals']:,}"),
    ]
    return dbc.Table([html.Tbody([html.Tr([html.Th(k), html.Td(v, className="text-end")]) for k, v in rows])],
                     bordered=False, size="sm", striped=True, style={"maxWidth": "32rem"}, id="ov-stats-table")


def latest_table(market: str | None, location: str | None, tz_choice: str) -> object:
    """The newest stored price of each of the market's series, the chosen region's in bold; cached per store
    version like the rest of the page."""
    if not market:
        return None
    svc = services()
    key = f"overview-latest:{svc.data_version()}:{market}"
    latest = svc.cache.get(key)
    if latest is None:
        store = svc.ready_store()
        latest = (queries.market_info(store, market), queries.latest_prices(store, market))
        svc.cache.set(key, latest, timeout=300)
    info, rows = latest
    if rows.empty:
        return html.Div(f"No {market} prices stored.", className="text-muted small")
    tz = info.timezone if tz_choice == "market" else "UTC"
    label = info.timezone_label if tz_choice == "market" else "UTC"
    head = html.Thead(html.Tr([html.Th("Region"), html.Th("Price"), html.Th(f"Interval start ({label})"),
                               html.Th("Minutes", className="text-end"),
                               html.Th(f"{info.currency}/MWh", className="text-end")]))
    body = []
    for r in rows.itertuples():
        start = r.interval_start.tz_convert(tz).strftime("%Y-%m-%d %H:%M")
        body.append(html.Tr([html.Td(r.location), html.Td(r.price_kind + (" (demo)" if r.is_demo else "")),
                             html.Td(start), html.Td(r.interval_minutes, className="text-end"),
                             html.Td(f"{r.price:,.2f}", className="text-end")],
                            className="fw-bold" if r.location == location else None))
    return dbc.Table([head, html.Tbody(body)], bordered=False, size="sm", striped=True, id="ov-latest-table")


def _local_naive(series: pd.DataFrame, tz: str) -> pd.DataFrame:
    # Plotly draws wall-clock time; hand it the display zone's wall clock.
    out = series.copy()
    out["interval_start"] = out["interval_start"].dt.tz_convert(tz).dt.tz_localize(None)
    return out


def render_overview(market: str | None, location: str | None, start_date: str | None, end_date: str | None,
                    tz_choice: str | None, kind: str | None = "settlement") -> tuple:
    """Everything the overview shows for one choice, in the order of the render callback's outputs."""
    blank = figures.empty_figure("No data for this choice")
    cfg = figures.export_config("chart")
    if not (market and location and start_date and end_date):
        msg = "No prices are stored yet: load a file (flask --app app.wsgi ingest load nem PATH)." \
            if not market else "Choose a region and a date range."
        return blank, cfg, blank, cfg, blank, cfg, None, msg, True, None
    try:
        data = overview_data(market, location, start_date, end_date, tz_choice or "market", kind or "settlement")
    except queries.QueryError as exc:
        return blank, cfg, blank, cfg, blank, cfg, None, str(exc), True, None
    info, series = data["info"], data["series"]
    name = f"{market} {location} {kind} {start_date} to {end_date}"
    fname = name.replace(" ", "_")
    if series.empty:
        msg = f"No {market} {location} {kind} prices stored between {start_date} and {end_date}."
        table = _stats_table(data["stats"], info.currency, data["basis"])
        return blank, cfg, blank, cfg, blank, cfg, table, msg, True, None
    fig = figures.price_demand_figure(_local_naive(series, data["tz"]), title=f"{market} {location} {kind}",
                                      tz_label=data["tz_label"], currency=info.currency,
                                      resolution=data["resolution"])
    dur = figures.duration_figure(data["curve"], title=f"{market} {location}", currency=info.currency,
                                  of=data["basis"])
    heat = figures.heatmap_figure(data["heatmap"], title=f"{market} {location}", tz_label=data["tz_label"],
                                  currency=info.currency, rows=data["heatmap_rows"]) \
        if not data["heatmap"].empty else blank
    demo = dbc.Badge("Demo data — generated, not market prices", color="info", id="ov-demo-flag") \
        if series["is_demo"].any() else None
    return (fig, figures.export_config(f"{fname}_prices"), dur, figures.export_config(f"{fname}_duration"),
            heat, figures.export_config(f"{fname}_heatmap"), _stats_table(data["stats"], info.currency, data["basis"]),
            None, False, demo)


def register(app: dash.Dash) -> None:
    @app.callback(
        Output("ov-location", "options"), Output("ov-location", "value"),
        Input("ov-market", "value"), State("ov-location", "value"), prevent_initial_call=True)
    def market_changed(market, location):
        store = services().ready_store()
        locations = queries.price_locations(store, market) if market else []
        value = location if location in locations else (locations[0] if locations else None)
        return [{"label": loc, "value": loc} for loc in locations], value

    @app.callback(
        Output("ov-kind", "options"), Output("ov-kind", "value"),
        Input("ov-location", "value"), State("ov-market", "value"), State("ov-kind", "value"),
        prevent_initial_call=True)
    def location_changed(location, market, kind):
        store = services().ready_store()
        kinds = queries.price_kinds(store, market, location) if market and location else []
        value = kind if kind in kinds else (kinds[0] if kinds else None)
        return [{"label": k, "value": k} for k in kinds], value

    @app.callback(
        Output("ov-dates", "start_date"), Output("ov-dates", "end_date"),
        Output("ov-dates", "min_date_allowed"), Output("ov-dates", "max_date_allowed"),
        Input("ov-kind", "value"), State("ov-market", "value"), State("ov-location", "value"),
        State("ov-dates", "start_date"), State("ov-dates", "end_date"), prevent_initial_call=True)
    def series_changed(kind, market, location, start, end):
        """Keep the chosen dates when the new series has data in them; otherwise show its latest days."""
        if not (market and location and kind):
            return no_update, no_update, no_update, no_update
        dates = _span_dates(services().ready_store(), market, location, kind)
        if dates is None:
            return no_update, no_update, no_update, no_update
        default_start, default_end, first, last = dates
        if start and end and start <= last and end >= first:
            return no_update, no_update, first, last
        return default_start, default_end, first, last

    @app.callback(
        Output("ov-series", "figure"), Output("ov-series", "config"),
        Output("ov-duration", "figure"), Output("ov-duration", "config"),
        Output("ov-heatmap", "figure"), Output("ov-heatmap", "config"),
        Output("ov-stats", "children"), Output("ov-error", "children"), Output("ov-error", "is_open"),
        Output("ov-demo-badge", "children"),
        Input("ov-market", "value"), Input("ov-location", "value"), Input("ov-dates", "start_date"),
        Input("ov-dates", "end_date"), Input("ov-tz", "value"), Input("ov-kind", "value"))
    def render(market, location, start_date, end_date, tz_choice, kind):
        return render_overview(market, location, start_date, end_date, tz_choice, kind)

    @app.callback(Output("ov-latest", "children"), Input("ov-market", "value"), Input("ov-location", "value"),
                  Input("ov-tz", "value"))
    def latest(market, location, tz_choice):
        try:
            return latest_table(market, location, tz_choice or "market")
        except queries.QueryError as exc:
            return html.Div(str(exc), className="text-muted small")

    @app.callback(
        Output("ov-download", "data"), Input("ov-download-btn", "n_clicks"),
        State("ov-market", "value"), State("ov-location", "value"), State("ov-dates", "start_date"),
        State("ov-dates", "end_date"), State("ov-tz", "value"), State("ov-kind", "value"), prevent_initial_call=True)
    def download(_n, market, location, start_date, end_date, tz_choice, kind):
        if not (market and location and start_date and end_date and kind):
            return no_update
        try:
            data = overview_data(market, location, start_date, end_date, tz_choice or "market", kind)
        except queries.QueryError:
            return no_update
        frame = queries.series_for_export(data["series"], data["tz"])
        tz_tag = "UTC" if tz_choice == "utc" else "market-time"
        return dcc.send_data_frame(frame.to_csv, f"{market}_{location}_{kind}_{start_date}_{end_date}_{tz_tag}.csv",
                                   index=False)
