"""Market overview (home page): prices and demand of one region over a date range."""
from __future__ import annotations

from dataclasses import astuple

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.services import services
from components.price_axis import scale_control
from engine.overview import initial_choice

dash.register_page(__name__, path="/", name="Market overview", title="Market overview · 254Carbon")


def _control(label: str, component) -> dbc.Col:
    return dbc.Col([dbc.Label(label, className="small text-muted mb-1"), component], xs=12, md="auto")


#: A table's heading row, as tall as a small button so the two tables side by side start level.
_TABLE_HEADING = "d-flex align-items-center mt-2 mb-2 min-h-btn-sm"
#: The downloads of the duration curve and the heatmap: each its dcc.Download id, its button ``<id>-btn``.
DURATION_CSV, HEATMAP_CSV = "ov-download-duration", "ov-download-heatmap"


def _chart_csv(download: str) -> html.Div:
    """A chart's CSV button, above it at the right, and its download: disabled until the chart is drawn."""
    return html.Div([dbc.Button("CSV", id=f"{download}-btn", color="secondary", size="sm", disabled=True),
                     dcc.Download(id=download)], className="d-flex justify-content-end")


def layout(market: str | None = None, location: str | None = None, kind: str | None = None,
           start: str | None = None, end: str | None = None, tz: str | None = None, scale: str | None = None,
           **_other) -> html.Div:
    """A link may name the view (?market=NEM&location=SA1&kind=settlement&start=...&end=...&tz=utc&scale=compressed);
    a value the store does not hold is passed over for the default."""
    choice = services().cached(initial_choice, market, location, kind, start, end)
    shown_start, shown_end, first, last = astuple(choice.dates) if choice.dates else (None,) * 4
    notes = list(choice.notes)
    if tz not in (None, "utc", "market"):
        notes.append(f"Time zone {tz[:20]!r} is neither 'market' nor 'utc'; showing market time.")
    scale_radio, scale_note = scale_control("ov-scale", scale)
    notes += [scale_note] if scale_note else []
    controls = dbc.Row([
        _control("Market", dcc.Dropdown(id="ov-market", options=list(choice.market.offered), value=choice.market.chosen,
                                        clearable=False, style={"minWidth": "9rem"})),
        _control("Region", dcc.Dropdown(id="ov-location", options=list(choice.location.offered),
                                        value=choice.location.chosen, clearable=False, style={"minWidth": "9rem"})),
        _control("Price", dcc.Dropdown(id="ov-kind", options=list(choice.kind.offered), value=choice.kind.chosen,
                                       clearable=False, style={"minWidth": "9rem"})),
        _control("Dates (market time, inclusive)", dcc.DatePickerRange(
            id="ov-dates", start_date=shown_start, end_date=shown_end, min_date_allowed=first, max_date_allowed=last,
            display_format="YYYY-MM-DD", minimum_nights=0)),
        _control("Time shown in", dbc.RadioItems(
            id="ov-tz", options=[{"label": "Market time", "value": "market"}, {"label": "UTC", "value": "utc"}],
            value="utc" if tz == "utc" else "market", inline=True)),
        _control("Price axis", scale_radio),
        dbc.Col([dbc.Label("\u00a0", className="small d-block mb-1"),
                 dbc.Button("Download CSV", id="ov-download-btn", color="secondary", size="sm"),
                 dcc.Download(id="ov-download")], xs=12, md="auto"),
    ], className="g-3 align-items-end mb-2")
    return html.Div([
        html.Div([html.H4("Market overview", className="me-3 mb-0"),
                  html.Span(id="ov-demo-badge")],
                 className="d-flex align-items-center mb-3"),
        controls,
        dbc.Alert(id="ov-error", color="warning", is_open=False, className="py-2"),
        dbc.Alert([html.Div(note) for note in notes], id="ov-link-notes", color="info", dismissable=True,
                  is_open=bool(notes), className="py-2"),
        dcc.Loading(dcc.Graph(id="ov-series"), type="dot"),
        dbc.Row([
            dbc.Col([_chart_csv(DURATION_CSV), dcc.Graph(id="ov-duration")], md=5),
            dbc.Col([_chart_csv(HEATMAP_CSV), dcc.Graph(id="ov-heatmap")], md=7),
        ]),
        dbc.Row([
            dbc.Col([html.Div([html.H6("Price statistics over the selected range", className="me-3 mb-0"),
                               dbc.Button("CSV", id="ov-download-stats-btn", color="secondary", size="sm"),
                               dcc.Download(id="ov-download-stats")], className=_TABLE_HEADING),
                     html.Div(id="ov-stats")], lg=5),
            dbc.Col([html.Div([html.H6("Latest stored prices", className="me-3 mb-0"),
                               dbc.Button("CSV", id="ov-download-latest-btn", color="secondary", size="sm"),
                               dcc.Download(id="ov-download-latest")], className=_TABLE_HEADING),
                     html.Div(id="ov-latest")], lg=7),
        ]),
    ])
