"""Price forecasts: the fan of a stored run against what happened, and how accurate each model has been."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.services import services
from components.price_axis import scale_control
from engine import queries
from engine.forecast import views

dash.register_page(__name__, path="/forecasts", name="Forecasts", title="Forecasts · 254Carbon")

#: Ids the callbacks read and write.
MARKET, LOCATION, MODEL, HORIZON, ISSUED, TZ = "fc-market", "fc-location", "fc-model", "fc-horizon", "fc-issued", \
    "fc-tz"
WINDOW, SCALE = "fc-window", "fc-scale"


def _control(label: str, component, **width) -> dbc.Col:
    return dbc.Col([dbc.Label(label, className="small text-muted mb-1"), component], xs=12, md="auto", **width)


def _dropdown(ident: str, pick, width: str = "9rem") -> dcc.Dropdown:
    return dcc.Dropdown(id=ident, options=list(pick.offered), value=pick.chosen, clearable=False,
                        style={"minWidth": width})


def layout(market: str | None = None, location: str | None = None, model: str | None = None,
           issued: str | None = None, horizon: str | None = None, tz: str | None = None, scale: str | None = None,
           **_other) -> html.Div:
    """A link may name the view (?market=NEM&location=SA1&model=lear&issued=2026-10-04T04:00:00Z&horizon=48&tz=utc
    &scale=compressed); a value the store does not hold is passed over for the default."""
    choice = services().cached(views.initial_choice, market, location, model)
    notes = list(choice.notes)
    tz_choice = "utc" if tz == "utc" else "market"
    if tz not in (None, "utc", "market"):
        notes.append(f"Time zone {tz[:20]!r} is neither 'market' nor 'utc'; showing market time.")
    if horizon not in (None, *(str(h) for h in views.HORIZONS)):
        notes.append(f"Horizon {horizon[:20]!r} is not one of {', '.join(map(str, views.HORIZONS))} hours; showing "
                     f"{views.HORIZONS[0]}.")
    try:
        times = services().cached(views.issue_times, choice.market.chosen, choice.location.chosen,
                                  choice.model.chosen, issued, tz_choice)
    except queries.QueryError as exc:
        notes.append(f"The link's issue time is not usable ({exc}); showing the newest run.")
        times = services().cached(views.issue_times, choice.market.chosen, choice.location.chosen,
                                  choice.model.chosen, None, tz_choice)
    scale_radio, scale_note = scale_control(SCALE, scale)
    notes += [scale_note] if scale_note else []
    shown_horizon = int(horizon) if horizon in {str(h) for h in views.HORIZONS} else views.HORIZONS[0]
    controls = dbc.Row([
        _control("Market", _dropdown(MARKET, choice.market)),
        _control("Location", _dropdown(LOCATION, choice.location)),
        _control("Model", dcc.Dropdown(id=MODEL, options=views.model_options(choice.model), value=choice.model.chosen,
                                       clearable=False, style={"minWidth": "10rem"})),
        _control("Horizon", dbc.RadioItems(id=HORIZON, value=shown_horizon, inline=True,
                                           options=[{"label": f"{h} h", "value": h} for h in views.HORIZONS])),
        _control("As issued at", dcc.Dropdown(id=ISSUED, options=[{"label": label, "value": value}
                                                                  for label, value in times.options],
                                              value=times.chosen, clearable=False, style={"minWidth": "13rem"})),
        _control("Time shown in", dbc.RadioItems(
            id=TZ, options=[{"label": "Market time", "value": "market"}, {"label": "UTC", "value": "utc"}],
            value=tz_choice, inline=True)),
        _control("Price axis", scale_radio),
        dbc.Col([dbc.Label("\u00a0", className="small d-block mb-1"),
                 dbc.Button("Download CSV", id="fc-download-btn", color="secondary", size="sm"),
                 dcc.Download(id="fc-download")], xs=12, md="auto"),
    ], className="g-3 align-items-end mb-2")
    return html.Div([
        html.H4("Price forecasts", className="mb-3"),
        controls,
        html.Div(id="fc-issued-zone", className="small text-muted mb-2"),
        dbc.Alert(id="fc-error", color="warning", is_open=False, className="py-2"),
        dbc.Alert([html.Div(note) for note in notes], id="fc-link-notes", color="info", dismissable=True,
                  is_open=bool(notes), className="py-2"),
        html.Div(id="fc-training", className="small mb-2"),
        dcc.Interval(id="fc-training-tick", interval=3000, disabled=True),
        dcc.Store(id="fc-training-state"),
        dcc.Loading(dcc.Graph(id="fc-fan"), type="dot"),
        html.Div(id="fc-notes", className="small text-muted mb-3"),
        html.Div([
            html.H5("Accuracy of the day-ahead forecasts", className="me-3 mb-0"),
            dbc.RadioItems(id=WINDOW, options=[{"label": f"{w} days", "value": w} for w in views.WINDOWS],
                           value=views.WINDOWS[-1], inline=True),
            dbc.Button("Table CSV", id="fc-download-accuracy-btn", color="secondary", size="sm", className="ms-2"),
            dbc.Button("Daily scores CSV", id="fc-download-daily-btn", color="secondary", size="sm",
                       className="ms-2"),
            dcc.Download(id="fc-download-accuracy"), dcc.Download(id="fc-download-daily"),
        ], className="d-flex align-items-center mt-2 mb-1"),
        html.Div("Each day is scored with each model's newest run made before the day began (it saw no price of the "
                 "day), on the hours with an actual price; rMAE is MAE over the weekly naive forecast's (the price "
                 "168 h earlier) on the same hours. Where the operator publishes its own price forecast (AEMO "
                 "pre-dispatch), its newest run issued before each day began is scored beside ours, on the hours our "
                 "runs forecast.",
                 className="small text-muted mb-2"),
        html.Div(id="fc-accuracy-table"),
        dcc.Graph(id="fc-rolling"),
        dbc.Row([
            dbc.Col(dcc.Graph(id="fc-calibration"), md=5),
            dbc.Col(dcc.Graph(id="fc-by-hour"), md=7),
        ]),
    ])
