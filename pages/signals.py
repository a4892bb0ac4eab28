"""Trading signals: backtest a strategy on stored prices, compare the five, search a parameter grid, walk it
forward, follow each strategy's live record, and send the live signal as an order where routing allows."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.services import services
from components.price_axis import scale_control
from components.signal_figures import METRIC_LABELS, number_input, parameter_inputs
from engine.signals import registry, views
from engine.signals.base import METRICS

dash.register_page(__name__, path="/signals", name="Signals", title="Signals · 254Carbon")

#: Ids the callbacks read and write.
MARKET, LOCATION, OTHER, DATES, STRATEGY, TZ = "sg-market", "sg-location", "sg-other", "sg-dates", "sg-strategy", \
    "sg-tz"
SCALE = "sg-scale"
PARAMS = "sg-params"
#: The account's inputs, by views.BOOK_FIELDS key.
BOOK = {name: f"sg-book-{name.replace('_', '-')}" for name in views.BOOK_FIELDS}
HEATMAP_METRIC, WF_WINDOW, WF_METRIC = "sg-heatmap-metric", "sg-wf-window", "sg-wf-metric"
#: The downloads of the parameter heatmap and the walk-forward's stitched equity (each button ``<id>-btn``).
HEATMAP_CSV, WF_EQUITY_CSV = "sg-download-heatmap", "sg-download-wf-equity"


def _control(label: str, component, **width) -> dbc.Col:
    return dbc.Col([dbc.Label(label, className="small text-muted mb-1"), component], xs=12, md="auto", **width)


def _dropdown(ident: str, pick, width: str = "9rem", clearable: bool = False, **more) -> dcc.Dropdown:
    return dcc.Dropdown(id=ident, options=list(pick.offered), value=pick.chosen, clearable=clearable,
                        style={"minWidth": width}, **more)


def _metric_dropdown(ident: str) -> dcc.Dropdown:
    return dcc.Dropdown(id=ident, options=[{"label": METRIC_LABELS[m], "value": m} for m in METRICS if m != "trades"],
                        value=views.OPENING_METRIC, clearable=False, style={"minWidth": "13rem"})


def _csv_button(download: str, label: str = "Table CSV", disabled: bool = False) -> html.Div:
    return html.Div([dbc.Button(label, id=f"{download}-btn", color="secondary", size="sm", disabled=disabled),
                     dcc.Download(id=download)], className="ms-2")


def _section(title: str, *after) -> html.Div:
    return html.Div([html.H5(title, className="me-3 mb-0"), *after], className="d-flex align-items-center mt-4 mb-2")


def layout(market: str | None = None, location: str | None = None, other: str | None = None,
           strategy: str | None = None, start: str | None = None, end: str | None = None, tz: str | None = None,
           scale: str | None = None, **_other) -> html.Div:
    """A link may name the view (?market=NEM&location=SA1&other=VIC1&strategy=momentum&start=...&end=...&tz=utc
    &scale=compressed); a value the store does not hold is passed over for the default."""
    choice = services().cached(views.initial_choice, market, location, other, strategy, start, end)
    dates = choice.dates
    notes = list(choice.notes)
    if tz not in (None, "utc", "market"):
        notes.append(f"Time zone {tz[:20]!r} is neither 'market' nor 'utc'; showing market time.")
    scale_radio, scale_note = scale_control(SCALE, scale)
    notes += [scale_note] if scale_note else []
    strategies = [{"label": registry.STRATEGIES[name].label, "value": name} for name in choice.strategy.offered]
    controls = dbc.Row([
        _control("Market", _dropdown(MARKET, choice.market)),
        _control("Location", _dropdown(LOCATION, choice.location)),
        _control("Second location (spread)", _dropdown(OTHER, choice.other, clearable=True,
                                                       placeholder="none")),
        _control("Dates (market time, inclusive)", dcc.DatePickerRange(
            id=DATES, start_date=dates.start if dates else None, end_date=dates.end if dates else None,
            min_date_allowed=dates.first if dates else None, max_date_allowed=dates.last if dates else None,
            display_format="YYYY-MM-DD", minimum_nights=0)),
        _control("Strategy", dcc.Dropdown(id=STRATEGY, options=strategies, value=choice.strategy.chosen,
                                          clearable=False, style={"minWidth": "14rem"})),
        _control("Time shown in", dbc.RadioItems(
            id=TZ, options=[{"label": "Market time", "value": "market"}, {"label": "UTC", "value": "utc"}],
            value="utc" if tz == "utc" else "market", inline=True)),
        _control("Price axis", scale_radio),
    ], className="g-3 align-items-end mb-2")
    account = [number_input(BOOK[name], label, default, hint=f"{low:g} to {high:g}")
               for name, (label, low, high, default) in views.BOOK_FIELDS.items()]
    settings = dbc.Row([
        dbc.Col([html.Div("Parameters", className="small fw-semibold mb-1"),
                 html.Div(parameter_inputs(views.strategy_defaults(choice.strategy.chosen))
                          if choice.strategy.chosen else [], id=PARAMS, className="d-flex flex-wrap"),
                 dcc.Store(id="sg-param-problems")],
                xs=12, lg="auto"),
        dbc.Col([html.Div("Account", className="small fw-semibold mb-1"),
                 html.Div(account, className="d-flex flex-wrap")], xs=12, lg="auto"),
        dbc.Col([html.Div("\u00a0", className="small mb-1"),
                 html.Div([dbc.Button("Trades CSV", id="sg-download-trades-btn", color="secondary", size="sm",
                                      className="me-2"),
                           dbc.Button("Equity CSV", id="sg-download-equity-btn", color="secondary", size="sm"),
                           dcc.Download(id="sg-download-trades"), dcc.Download(id="sg-download-equity")])],
                xs=12, lg="auto"),
    ], className="g-3 align-items-start mb-2 border-top pt-2")
    return html.Div([
        html.Div([html.H4("Signals and backtests", className="me-3 mb-0"), html.Span(id="sg-demo-badge")],
                 className="d-flex align-items-center mb-3"),
        controls,
        settings,
        html.Div(id="sg-zone", className="small text-muted mb-2"),
        dbc.Alert(id="sg-error", color="warning", is_open=False, className="py-2"),
        dbc.Alert([html.Div(note) for note in notes], id="sg-link-notes", color="info", dismissable=True,
                  is_open=bool(notes), className="py-2"),
        html.Div("A position is in MW: one unit buys 1 MWh at one bar's price and sells it at a later one (short: the "
                 "other way round), so prices may be negative. A signal decided at a bar's close trades at the next "
                 "bar's price; equity is the initial capital plus P&L net of fees.",
                 className="small text-muted mb-2"),
        dcc.Loading(dcc.Graph(id="sg-price"), type="dot"),
        dbc.Row([
            # at 1024 px a third of the row broke the metrics' names and "-21,213.57 AUD" over two lines
            dbc.Col(dcc.Graph(id="sg-equity"), lg=7, xl=8),
            dbc.Col([html.H6("Metrics", className="mt-3"), html.Div(id="sg-metrics"),
                     html.Div(id="sg-notes", className="small text-muted")], lg=5, xl=4),
        ]),
        _section("The strategies side by side", _csv_button("sg-download-compare")),
        html.Div("Each strategy at its default parameters, on the same prices and account (spread trading needs a "
                 "second location; the ML ensemble reads the day-ahead forecast as it was issued).",
                 className="small text-muted mb-2"),
        html.Div(id="sg-compare-table"),
        dcc.Graph(id="sg-compare"),
        _section("Parameter heatmap", _metric_dropdown(HEATMAP_METRIC),
                 _csv_button(HEATMAP_CSV, "Heatmap CSV", disabled=True)),
        html.Div(id="sg-heatmap-note", className="small text-muted mb-1"),
        dcc.Loading(dcc.Graph(id="sg-heatmap"), type="dot"),
        _section("Walk-forward",
                 dcc.Dropdown(id=WF_WINDOW, options=[{"label": label, "value": value}
                                                     for label, value in views.window_options()],
                              value=views.OPENING_WINDOW, clearable=False,
                              style={"minWidth": "15rem"}, className="me-2"),
                 _metric_dropdown(WF_METRIC), _csv_button("sg-download-folds", "Folds CSV"),
                 _csv_button(WF_EQUITY_CSV, "Equity CSV", disabled=True)),
        html.Div("Each fold picks the grid's best parameters by the metric on its training window and trades them on "
                 "the test window that follows; the test windows' equity is stitched together.",
                 className="small text-muted mb-2"),
        dcc.Loading(html.Div(id="sg-wf-table"), type="dot"),
        dcc.Graph(id="sg-wf-equity"),
        _section("Live record", _csv_button("sg-download-live", "Every signal, CSV")),
        html.Div("Each strategy at its defaults on the location, recorded as its decisions are made; P&L per MW at the "
                 "stored prices, gross of fees (open positions marked to the latest price).",
                 className="small text-muted mb-2"),
        html.Div(id="sg-live", className="mb-3"),
        _section("Orders"),
        dbc.Card(dbc.CardBody([
            html.Div("The order sent is the difference between the signal's target position and what the filled "
                     "orders hold in the symbol (filled buys less filled sells); none while an order in it is still "
                     "working.", className="small text-muted mb-2"),
            html.Div(id="sg-live-signal", className="mb-2"),
            html.Div([dbc.Button("Send order", id="sg-send-order", color="primary", size="sm", disabled=True,
                                 className="me-3"),
                      html.Span(id="sg-order-reason", className="small text-muted")],
                     className="d-flex align-items-center mb-2"),
            dbc.Alert(id="sg-order-result", is_open=False, className="py-2", dismissable=True),
            dbc.Alert(id="sg-cancel-result", is_open=False, className="py-2", dismissable=True),
            dcc.Store(id="sg-order-sent", data=0),
            dcc.Store(id="sg-order-cancelled", data=0),
            dcc.Interval(id="sg-orders-tick", interval=3000, disabled=True),
            html.Div([html.H6("Orders sent", className="me-3 mb-0"),
                      dbc.Button("Every order, CSV", id="sg-download-orders-btn", color="secondary", size="sm"),
                      dcc.Download(id="sg-download-orders")],
                     id="sg-orders-csv", className="d-none"),
            html.Div(id="sg-orders-table"),
        ]), className="mb-4", id="sg-orders-panel"),
    ])
