"""Nodal basis map: every node of a network coloured by LMP, a component, or basis to a hub, and the congestion
forecast over a set of scenarios."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from app.services import services
from components.figures import empty_figure, export_config
from engine.lmp.study import default_network, grid_folder, networks_in
from engine.queries import shown

dash.register_page(__name__, path="/nodal", name="Nodal map", title="Nodal map · 254Carbon")

COLOUR_BY = [("LMP", "lmp"), ("Energy", "energy"), ("Congestion", "congestion"), ("Loss", "loss"),
             ("Basis to hub", "basis"), ("Change vs. base (what-if)", "delta")]


def _graph(ident: str, png_name: str, **options) -> dcc.Graph:
    """A chart whose camera button saves a PNG named ``png_name``."""
    return dcc.Graph(id=ident, config=export_config(png_name), **options)


def _label(text: str) -> dbc.Label:
    return dbc.Label(text, className="small text-muted mb-1")


def _controls(names: list[str], chosen: str | None) -> dbc.Row:
    options = [{"label": name, "value": name} for name in names]
    return dbc.Row([
        dbc.Col([_label("Network"), dcc.Dropdown(id="nd-network", options=options, value=chosen,
                                                 clearable=False)], md=2),
        dbc.Col([_label("Colour by"), dcc.Dropdown(id="nd-colour", value="lmp", clearable=False,
                                                   options=[{"label": a, "value": b} for a, b in COLOUR_BY])],
                md=2),
        dbc.Col([_label("Hub"), dcc.Dropdown(id="nd-hub", clearable=False)], md=3),
        dbc.Col([_label("Colour range"), dbc.RadioItems(
            id="nd-range", inline=True, value="fixed",
            options=[{"label": "fixed over the day", "value": "fixed"},
                     {"label": "this snapshot", "value": "data"}])], md="auto"),
        dbc.Col([_label("Model"), dbc.Checklist(id="nd-losses", options=[{"label": "marginal losses",
                                                                          "value": "losses"}],
                                                value=[], switch=True)], md="auto"),
        dbc.Col([_label("\u00a0"), html.Div([
            dbc.Button("Node table CSV", id="nd-dl-nodes-btn", size="sm", color="secondary", className="me-2"),
            dbc.Button("Component series CSV", id="nd-dl-series-btn", size="sm", color="secondary"),
            dcc.Download(id="nd-dl-nodes"), dcc.Download(id="nd-dl-series")])], md="auto"),
    ], className="g-3 align-items-end mb-2")


def _congestion_panel() -> html.Div:
    """The congestion forecast: solved only when asked (the button), so opening the page stays as fast."""
    actions = html.Div([
        dbc.Button("Run congestion forecast", id="nd-cf-run", color="primary", size="sm", className="me-2"),
        # disabled until a forecast is shown (callbacks.nodal.run_forecast): before, there is nothing to download
        *(dbc.Button(label, id=f"nd-cf-dl-{kind}-btn", size="sm", color="secondary", disabled=True, className="me-2")
          for kind, label in (("constraints", "Constraints CSV"), ("exposure", "Node exposures CSV"),
                              ("scenarios", "Scenarios CSV"))),
        dcc.Download(id="nd-cf-dl-constraints"), dcc.Download(id="nd-cf-dl-exposure"),
        dcc.Download(id="nd-cf-dl-scenarios")])
    body = html.Div([
        html.Div(id="nd-cf-source", className="small mb-2"),
        dbc.Row([
            dbc.Col(_graph("nd-cf-map", "congestion_forecast_map", style={"height": "600px"}), md=8),
            dbc.Col(_graph("nd-cf-exposure", "congestion_forecast_exposure"), md=4),
        ]),
        dbc.Row([
            dbc.Col([html.H6("Limits by binding frequency"), html.Div(id="nd-cf-constraints")], md=8),
            dbc.Col([html.H6("Scenarios and their weights"),
                     html.Div(id="nd-cf-scenarios", style={"maxHeight": "420px", "overflowY": "auto"})], md=4),
        ], className="mt-2"),
    ], id="nd-cf-body", style={"display": "none"})
    return html.Div([
        html.H5("Congestion forecast", className="mt-4"),
        html.Div("Which limits bind over a set of scenarios, how often (weighted) and at what shadow price, and "
                 "each node's expected congestion component relative to the slack bus, on the lossless base case "
                 "without the what-if. Click a node on either map for its exposure to each limit: the limit's "
                 "expected shadow price times its PTDF at the node.", className="small text-muted mb-2"),
        dbc.Row([
            dbc.Col([_label("Scenarios"), dbc.RadioItems(id="nd-cf-set", value="day", options=[])], md="auto"),
            dbc.Col([_label("Snapshots (range, and demand scenarios)"),
                     dcc.RangeSlider(id="nd-cf-hours", min=0, max=23, step=1, value=[0, 23], marks=None,
                                     allowCross=False, tooltip={"placement": "bottom"})], md=4),
            dbc.Col([_label("\u00a0"), actions], md="auto"),
        ], className="g-3 align-items-end mb-2"),
        dcc.Loading(html.Div([html.Div(id="nd-cf-message"), body]), type="dot"),
        dcc.Store(id="nd-cf-spec"),
    ])


def layout(network: str | None = None, **_query) -> html.Div:
    names = list(networks_in(grid_folder(services().settings.data_dir)))
    chosen = network if network in names else default_network(names)
    # a link naming a network the grid folder does not hold says so, as the overview's links do
    notes = [] if network is None or network == chosen else [
        f"No network {shown(network)} is in the grid folder; showing {chosen or 'none'}."]
    controls = _controls(names, chosen)
    whatif = dbc.Card(dbc.CardBody([
        html.H6("What-if", className="card-title"),
        _label("Line"), dcc.Dropdown(id="nd-wi-branch", placeholder="pick a line (or click one on the map)"),
        dbc.Row([
            dbc.Col([_label("New limit (MW)"), dbc.Input(id="nd-wi-limit", type="number", min=0, step="any")]),
            dbc.Col([_label("\u00a0"), dbc.Checklist(id="nd-wi-out", options=[{"label": "take the line out",
                                                                               "value": "out"}], value=[])]),
        ], className="g-2 mt-1"),
        html.Div([dbc.Button("Re-solve", id="nd-wi-apply", color="primary", size="sm", className="me-2"),
                  dbc.Button("Reset", id="nd-wi-reset", color="outline-secondary", size="sm")], className="mt-2"),
        html.Div(id="nd-wi-summary", className="small mt-2"),
    ]), className="mb-3")
    return html.Div([
        html.H4("Nodal basis map", className="mb-3"),
        controls,
        dbc.Alert(id="nd-error", color="warning", is_open=False, className="py-2"),
        dbc.Alert(notes, id="nd-link-notes", color="info", dismissable=True, is_open=bool(notes), className="py-2"),
        # the slider's first and last hour labels are centred on its ends: the padding keeps them on the page
        html.Div([_label("Snapshot"), html.Div(dcc.Slider(id="nd-snapshot", min=0, max=0, step=1, value=0, marks=None,
                                                          tooltip={"placement": "bottom"}), className="px-3")],
                 className="mb-2"),
        dbc.Row([
            dbc.Col(dcc.Loading(_graph("nd-map", "nodal_map", style={"height": "640px"}), type="dot"), md=8),
            dbc.Col([whatif, html.Div(id="nd-detail")], md=4),
        ]),
        html.Div([html.H6("Binding constraints at this snapshot", className="me-3 mb-0"),
                  dbc.Button("CSV, every snapshot", id="nd-dl-binding-btn", size="sm", color="secondary"),
                  dcc.Download(id="nd-dl-binding")], className="d-flex align-items-center mt-3 mb-2"),
        html.Div(id="nd-binding"),
        _congestion_panel(),
        html.Hr(),
        html.Div([html.H5("Published nodal prices: basis to a hub", className="me-3 mb-0"), html.Span(id="nb-demo")],
                 className="d-flex align-items-center mt-3 mb-2"),
        html.Div("Operators' own LMPs as loaded by the connectors (PJM, ISO-NE, IESO): each node's price minus "
                 "the hub's, over the hub's last 31 days of prices in the store.", className="small text-muted mb-2"),
        dbc.Row([
            dbc.Col([_label("Market and run"), dcc.Dropdown(id="nb-run", clearable=False)], md=3),
            dbc.Col([_label("Hub"), dcc.Dropdown(id="nb-hub", clearable=False)], md=4),
        ], className="g-3 mb-2"),
        dbc.Row([
            dbc.Col([html.Div([html.H6("Largest mean basis to the hub", className="me-3 mb-0"),
                               dbc.Button("CSV", id="nb-dl-stats-btn", size="sm", color="secondary"),
                               dcc.Download(id="nb-dl-stats")], className="d-flex align-items-center mb-2"),
                     html.Div(id="nb-stats")], md=6),
            dbc.Col(_graph("nb-surface", "published_basis_by_hour", figure=empty_figure("")), md=6),
        ]),
        html.Div([html.H6("Congestion patterns of the published prices", className="me-3 mb-0"),
                  # disabled until patterns are found for the run (callbacks.nodal.published_patterns_found)
                  *(dbc.Button(label, id=f"np-dl-{kind}-btn", size="sm", color="secondary", disabled=True,
                               className="me-2") for kind, label in (("loadings", "Loadings CSV"),
                                                                     ("activations", "Activations CSV"))),
                  dcc.Download(id="np-dl-loadings"), dcc.Download(id="np-dl-activations")],
                 className="d-flex align-items-center mt-3 mb-1"),
        html.Div("The run's congestion components over the same days, nodes × hours, factorised into a few spatial "
                 "patterns (truncated SVD, each hour's mean over the nodes removed): which nodes and hubs move "
                 "together, and when each pattern is active. Where the operator publishes no network model this "
                 "stands in for the constraints behind the basis.", className="small text-muted mb-2"),
        dbc.Row([
            dbc.Col([_label("Pattern"), dbc.RadioItems(id="np-pattern", inline=True)], md=6),
            dbc.Col(html.Div(id="np-summary", className="small"), md=6),
        ], className="g-3 mb-2 align-items-end"),
        dcc.Loading(dbc.Row([
            dbc.Col(_graph("np-loadings", "basis_pca_loadings", figure=empty_figure("")), md=6),
            dbc.Col([_graph("np-activation", "basis_pca_activation", figure=empty_figure("")),
                     _graph("np-explained", "basis_pca_explained", figure=empty_figure(""))], md=6),
        ]), type="dot"),
        dcc.Store(id="nd-whatif"),
        dcc.Store(id="nd-selected"),
    ])
