"""Callbacks of the nodal page: thin — read the choice, ask engine.lmp for the study, shape figures."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app.services import services
from components import nodal_figures as nf
from components import pattern_figures as pf
from components.figures import empty_figure, export_config, plain_figure
from components.tables import Column, data_table
from engine import queries
from engine.lmp import OpfError, OpfResult
from engine.lmp.patterns import recent_patterns
from engine.lmp.published import patterns_export, published_basis, published_basis_export
from engine.markets import MARKETS
from engine.lmp.study import (SYSTEM_HUB, CongestionStudy, ControlError, NodeView, Study, WhatIf, binding_export,
                              check_controls, components_export, congestion_study, constraints_export,
                              exposure_export, grid_folder, node_table_export, scenarios_export, studies)

#: Errors of a study that cannot be had: no such network, no solution, a what-if that does not fit it.
STUDY_ERRORS = (OpfError, KeyError, ValueError)
BINDING_ROWS = 25


def refused(**controls) -> str | None:
    """Why the values a request sent cannot be studied (engine.lmp.study.check_controls), None when they can.
    Every callback asks this first: the browser only sends what the controls offer, but anyone can POST anything."""
    try:
        check_controls(**controls)
    except ControlError as exc:
        return str(exc)
    return None


def _checked(**controls) -> None:
    """A callback with no message output answers a refused request with no change."""
    if refused(**controls):
        raise PreventUpdate


def _grid_dir() -> Path:
    return grid_folder(services().settings.data_dir)


def open_study(name: str, whatif: dict | None = None, losses: list | None = None) -> Study:
    """The study the page's controls name: the network, the what-if kept in ``nd-whatif``, the model switch."""
    return studies.open(_grid_dir(), name, WhatIf(**whatif) if whatif else None, "losses" in (losses or []))


def loss_warning(result: OpfResult) -> str | None:
    """Say so when the marginal-loss prices are not settled: they are then only approximate."""
    info = result.info
    if not info.get("losses") or info.get("loss_converged", True):
        return None
    return (f"Marginal losses: the loss factors had not settled after {info['loss_iterations']} rounds (they still "
            f"moved by up to {info['loss_factor_gap']:.3f}), so the loss components shown are approximate.")


def _short(snapshot) -> str:
    """A slider label: the time of day of a timestamp snapshot, the snapshot itself otherwise."""
    text = str(snapshot)
    return text[-8:-3] if len(text) > 8 else text


@callback(
    output={"hubs": Output("nd-hub", "options"), "hub": Output("nd-hub", "value"),
            "last": Output("nd-snapshot", "max"), "marks": Output("nd-snapshot", "marks"),
            "snapshot": Output("nd-snapshot", "value"), "lines": Output("nd-wi-branch", "options"),
            "whatif": Output("nd-whatif", "data", allow_duplicate=True)},
    inputs={"name": Input("nd-network", "value")}, prevent_initial_call="initial_duplicate")
def network_changed(name):
    _checked(name=name)
    if not name:
        return {"hubs": [], "hub": None, "last": 0, "marks": {}, "snapshot": 0, "lines": [], "whatif": None}
    try:
        study = open_study(name)
    except STUDY_ERRORS:  # the map says why
        raise PreventUpdate from None
    hubs = [{"label": "Load-weighted system hub", "value": SYSTEM_HUB}] + [
        {"label": f"bus {b}", "value": str(b)} for b in study.network.buses.index]
    snaps = list(study.snapshots)
    step = max(1, len(snaps) // 8)
    lines = [{"label": f"line {b} ({r.from_bus} → {r.to_bus})", "value": str(b)}
             for b, r in study.network.branches.iterrows()]
    return {"hubs": hubs, "hub": SYSTEM_HUB, "last": len(snaps) - 1,
            "marks": {i: _short(snaps[i]) for i in range(0, len(snaps), step)},
            "snapshot": min(len(snaps) - 1, 18), "lines": lines, "whatif": None}


@callback(
    output={"whatif": Output("nd-whatif", "data"),
            "summary": Output("nd-wi-summary", "children", allow_duplicate=True)},
    inputs={"_apply": Input("nd-wi-apply", "n_clicks"), "_reset": Input("nd-wi-reset", "n_clicks")},
    state={"branch": State("nd-wi-branch", "value"), "limit": State("nd-wi-limit", "value"),
           "out": State("nd-wi-out", "value")},
    prevent_initial_call=True)
def whatif_changed(_apply, _reset, branch, limit, out):
    if ctx.triggered_id == "nd-wi-reset":
        return {"whatif": None, "summary": ""}
    if message := refused(branch=branch, limit=limit, out=out):
        return {"whatif": no_update, "summary": dbc.Alert(message, color="warning", className="py-1")}
    try:
        whatif = WhatIf(branch, None if limit is None else float(limit), bool(out))
    except ValueError as exc:  # the engine says what is missing or wrong
        return {"whatif": no_update, "summary": dbc.Alert(str(exc), color="warning", className="py-1")}
    return {"whatif": asdict(whatif), "summary": ""}


def _map_title(study: Study, field: str, snapshot, hub: str, hub_price: float) -> str:
    where = "load-weighted" if hub == SYSTEM_HUB else f"bus {hub}"
    return f"{study.name} — {nf.FIELD_LABEL[field]} at {snapshot}; hub {where} {hub_price:,.2f} $/MWh"


def _whatif_summary(study: Study, change, snapshot) -> html.Div | str:
    whatif = study.whatif
    if whatif is None:
        return ""
    what = "out of service" if whatif.out else f"limit {whatif.limit:,.0f} MW"
    return html.Div([html.B(f"Line {whatif.branch} {what}: "),
                     f"LMP change at {snapshot}: max +{change.max():,.2f}, min {change.min():,.2f} $/MWh; "
                     f"cost {study.cost_change:+,.0f} $ over the day."])


def binding_table(study: Study, snapshot) -> html.Div | dbc.Table:
    binding = study.binding_at(snapshot).head(BINDING_ROWS)
    if binding.empty:
        return html.Div("No line is at its limit: one price everywhere up to losses.", className="text-muted small")
    rows = [(str(r.branch), f"{r.from_bus} → {r.to_bus}", f"{r.flow_mw:,.1f}", f"{r.limit_mw:,.1f}",
             f"{r.shadow_price:,.2f}") for r in binding.itertuples()]
    columns = ["Line", "From → to", Column("Flow MW", numeric=True), Column("Limit MW", numeric=True),
               Column("Shadow price $/MWh", numeric=True)]
    return data_table(columns, rows, table_id="nd-binding-table", striped=True)


def network_map(study: Study, view: NodeView, snapshot, field: str, hub: str, scale: str) -> dict:
    """The map of one snapshot, coloured by ``field`` on a range fixed over the day or fitted to the snapshot."""
    table = view.table.assign(delta=view.change.to_numpy())
    day = study.day_values(field, hub) if scale == "fixed" else None
    centre, span = nf.colour_scale(field, table[field] if day is None else day, view.hub_price)
    return nf.network_map(table, study.coords, study.network.branches, study.flows_at(snapshot), field=field,
                          centre=centre, span=span, geographic=study.geographic,
                          title=_map_title(study, field, snapshot, hub, view.hub_price))


@callback(
    output={"map": Output("nd-map", "figure"), "binding": Output("nd-binding", "children"),
            "error": Output("nd-error", "children"), "show_error": Output("nd-error", "is_open"),
            "summary": Output("nd-wi-summary", "children")},
    inputs={"name": Input("nd-network", "value"), "field": Input("nd-colour", "value"),
            "hub": Input("nd-hub", "value"), "scale": Input("nd-range", "value"),
            "losses": Input("nd-losses", "value"), "index": Input("nd-snapshot", "value"),
            "whatif": Input("nd-whatif", "data")})
def render(name, field, hub, scale, losses, index, whatif):
    empty = {"map": plain_figure([]), "binding": None, "summary": ""}  # built on every call: no go.Figure
    if message := refused(name=name, field=field, hub=hub, scale=scale, losses=losses, index=index, whatif=whatif):
        return {**empty, "error": message, "show_error": True}
    if not name:
        return {**empty, "show_error": True, "error": "No networks found: put MATPOWER .m files or PyPSA CSV "
                                                      f"folders in the grid folder ({_grid_dir()})."}
    if hub is None:
        return {**empty, "error": no_update, "show_error": False}
    try:
        study = open_study(name, whatif, losses)
        study.check_hub(hub)
    except STUDY_ERRORS as exc:
        return {**empty, "error": f"Could not solve: {exc}", "show_error": True}
    snapshot = study.snapshot(index)
    view = study.node_view(snapshot, hub)
    warning = loss_warning(study.result)
    return {"map": network_map(study, view, snapshot, field, hub, scale), "binding": binding_table(study, snapshot),
            "error": warning, "show_error": warning is not None,
            "summary": _whatif_summary(study, view.change, snapshot)}


@callback(output={"selected": Output("nd-selected", "data"), "line": Output("nd-wi-branch", "value")},
          inputs={"click": Input("nd-map", "clickData"), "forecast_click": Input("nd-cf-map", "clickData")},
          prevent_initial_call=True)
def clicked(click, forecast_click=None):
    """A click on the snapshot's map or on the congestion forecast's: either selects the marker it names."""
    _checked(click=click)
    _checked(click=forecast_click)
    if forecast_click is not None and ctx.triggered_id == "nd-cf-map":
        click = forecast_click
    marker = nf.clicked_marker(click)
    if marker is None:
        return {"selected": no_update, "line": no_update}
    kind, ident = marker
    return {"selected": {"kind": kind, "id": ident}, "line": ident if kind == nf.LINE else no_update}


def node_detail(study: Study, bus: str, hub: str) -> html.Div | None:
    if bus not in set(map(str, study.network.buses.index)):  # chosen on another network
        return None
    series = study.node_series(bus, hub)
    return html.Div([dcc.Graph(id="nd-node-series", figure=nf.node_components_figure(series, bus),
                               config=export_config(f"{study.name}_node_{bus}_components")),
                     dcc.Graph(id="nd-node-basis", figure=nf.basis_histogram(series, bus),
                               config=export_config(f"{study.name}_node_{bus}_basis"))])


def line_detail(study: Study, branch: str, index) -> html.Div | None:
    snapshot = study.snapshot(index)
    line = study.line_view(branch, snapshot)
    if line is None:  # chosen on another network
        return None
    mu = line.shadow_price
    raises = ", ".join(f"{k} ({v:,.2f})" for k, v in line.raises.items()) if mu else "—"
    lowers = ", ".join(f"{k} ({v:,.2f})" for k, v in line.lowers.items()) if mu else "—"
    return html.Div([
        html.H6(f"Line {branch}"),
        html.Div(f"Shadow price at {snapshot}: {mu:,.2f} $/MWh" + ("" if mu else " (not binding)"), id="nd-line-mu"),
        html.Div(f"Raises prices most at: {raises}", className="small"),
        html.Div(f"Lowers prices most at: {lowers}", className="small mb-2"),
        dcc.Graph(id="nd-line-ptdf", figure=nf.ptdf_figure(line.ptdf, branch),
                  config=export_config(f"{study.name}_line_{branch}_ptdf")),
    ])


@callback(
    output=Output("nd-detail", "children"),
    inputs={"selected": Input("nd-selected", "data"), "name": Input("nd-network", "value"),
            "hub": Input("nd-hub", "value"), "losses": Input("nd-losses", "value"),
            "whatif": Input("nd-whatif", "data"), "index": Input("nd-snapshot", "value")})
def detail(selected, name, hub, losses, whatif, index):
    if message := refused(selected=selected, name=name, hub=hub, losses=losses, whatif=whatif, index=index):
        return html.Div(message, className="text-muted small")
    if not selected or not name or hub is None:
        return html.Div("Click a node for its price components and basis, or a line for its shadow price "
                        "and PTDF.", className="text-muted small")
    try:
        study = open_study(name, whatif, losses)
        study.check_hub(hub)
    except STUDY_ERRORS:
        return None  # the map says why it could not be solved
    if selected["kind"] == nf.BUS:
        return node_detail(study, selected["id"], hub)
    return line_detail(study, selected["id"], index)


@callback(output={"options": Output("nb-run", "options"), "value": Output("nb-run", "value")},
          inputs={"_page": Input("nd-network", "id")})
def published_runs(_page):
    runs, demo = services().cached(queries.nodal_runs), services().cached(queries.demo_nodal_markets)
    options = [{"label": f"{m} {'day-ahead' if r == 'DA' else 'real-time'}" + (" (demo)" if m in demo else ""),
                "value": f"{m}|{r}"} for m, r in runs]
    return {"options": options, "value": options[0]["value"] if options else None}


@callback(output={"options": Output("nb-hub", "options"), "value": Output("nb-hub", "value"),
                  "demo": Output("nb-demo", "children")},
          inputs={"run": Input("nb-run", "value")})
def published_hubs(run):
    _checked(run=run)
    if not run:
        return {"options": [], "value": None, "demo": None}
    market = run.split("|")[0]
    hubs = services().cached(queries.nodal_hubs, market)
    options = [{"label": r.label, "value": r.node} for r in hubs.itertuples()]
    demo = dbc.Badge(f"Demo data — generated, not {market}'s prices", color="info", id="nb-demo-flag") \
        if market in services().cached(queries.demo_nodal_markets) else None
    return {"options": options, "value": options[0]["value"] if options else None, "demo": demo}


@callback(output={"stats": Output("nb-stats", "children"), "surface": Output("nb-surface", "figure"),
                  "no_csv": Output("nb-dl-stats-btn", "disabled")},
          inputs={"run": Input("nb-run", "value"), "hub": Input("nb-hub", "value")})
def published(run, hub):
    """The nodes' basis to the hub; its CSV button is live only while the table is shown."""
    def warned(message: str) -> dict:
        return {"stats": dbc.Alert(message, color="warning", className="py-1"), "surface": empty_figure(""),
                "no_csv": True}

    if message := refused(run=run, hub=hub):
        return warned(message)
    if not run or not hub:
        return {"stats": html.Div("No published nodal prices loaded (flask --app app.wsgi ingest load pjm PATH).",
                                  className="text-muted small"), "surface": empty_figure("No published prices"),
                "no_csv": True}
    market, market_run = run.split("|")
    try:
        found = services().cached(published_basis, market, market_run, hub)
    except KeyError:
        return warned(f"The hub {hub} has no published {market} {market_run} prices in the store.")
    except ValueError as exc:
        return warned(str(exc))
    rows = [(r.label, f"{r.mean:,.2f}", f"{r.std:,.2f}", f"{r.p5:,.2f}", f"{r.p50:,.2f}", f"{r.p95:,.2f}",
             f"{int(r.count):,}") for r in found.nodes.itertuples()]
    columns = ["Node", *(Column(name, numeric=True) for name in ("Mean", "Std", "p5", "p50", "p95", "Intervals"))]
    table = html.Div([
        html.Div(f"Basis to {found.hub_name or found.hub} in {found.currency}/MWh, over each node's intervals in the "
                 "window.", id="nb-stats-unit", className="small text-muted mb-1"),
        data_table(columns, rows, table_id="nb-stats-table", striped=True, responsive=True)])
    title = f"{market} {market_run}: mean basis by hour ({found.zone})"
    return {"stats": table, "surface": nf.basis_surface_figure(found.surface, title, found.currency),
            "no_csv": False}


@callback(output=Output("nb-dl-stats", "data"), inputs={"_n": Input("nb-dl-stats-btn", "n_clicks")},
          state={"run": State("nb-run", "value"), "hub": State("nb-hub", "value")}, prevent_initial_call=True)
def download_published(_n, run, hub):
    """The nodes' basis statistics to the hub, as CSV (unrounded; times in market time, the headers say so)."""
    _checked(run=run, hub=hub)
    if not run or not hub:
        raise PreventUpdate
    market, market_run = run.split("|")
    try:
        found = services().cached(published_basis, market, market_run, hub)
    except (KeyError, ValueError):
        raise PreventUpdate from None
    return dcc.send_data_frame(published_basis_export(found).to_csv,
                               f"{market}_{market_run}_basis_to_{hub}_market-time.csv", index=False)


def _patterns(run: str):
    market, market_run = run.split("|")
    return services().cached(recent_patterns, market, market_run)


_PATTERN_CSVS = ("loadings", "activations")
#: The congestion forecast's CSVs, each with its button ``nd-cf-dl-<kind>-btn``.
_FORECAST_CSVS = ("constraints", "exposure", "scenarios")


@callback(output={"options": Output("np-pattern", "options"), "value": Output("np-pattern", "value"),
                  "summary": Output("np-summary", "children"), "explained": Output("np-explained", "figure"),
                  "no_csv": {kind: Output(f"np-dl-{kind}-btn", "disabled") for kind in _PATTERN_CSVS}},
          inputs={"run": Input("nb-run", "value")})
def published_patterns_found(run):
    """The run's congestion patterns; their CSV buttons are live only when there are some."""
    empty = {"options": [], "value": None, "explained": empty_figure("No congestion patterns"),
             "no_csv": dict.fromkeys(_PATTERN_CSVS, True)}
    if message := refused(run=run):
        return {**empty, "summary": dbc.Alert(message, color="warning", className="py-1")}
    if not run:
        return {**empty, "summary": ""}
    try:
        found = _patterns(run)
    except ValueError as exc:
        return {**empty, "summary": dbc.Alert(str(exc), color="warning", className="py-1")}
    options = [{"label": f"{name} ({share:.0%})", "value": name} for name, share in found.explained.items()]
    summary = (f"{found.k} pattern{'s explain' if found.k != 1 else ' explains'} {found.total_explained:.0%} of the "
               f"congestion components of {found.loadings.shape[0]:,} nodes over {found.activations.shape[0]:,} "
               f"hours" + (f"; {len(found.dropped_nodes):,} nodes priced in too few hours left out"
                           if found.dropped_nodes else "") + ".")
    return {"options": options, "value": options[0]["value"] if options else None, "summary": summary,
            "explained": pf.explained_figure(found), "no_csv": dict.fromkeys(_PATTERN_CSVS, False)}


def _patterns_csv(kind: str, run):
    """One of the run's patterns' CSVs (engine.lmp.published.patterns_export); nothing for a refused run or one
    without patterns."""
    _checked(run=run)
    if not run:
        raise PreventUpdate
    try:
        frame = patterns_export(_patterns(run), run.split("|")[0])[kind]
    except (KeyError, ValueError):
        raise PreventUpdate from None
    market, market_run = run.split("|")
    return dcc.send_data_frame(frame.to_csv, f"{market}_{market_run}_congestion_patterns_{kind}.csv", index=False)


@callback(output=Output("np-dl-loadings", "data"), inputs={"_n": Input("np-dl-loadings-btn", "n_clicks")},
          state={"run": State("nb-run", "value")}, prevent_initial_call=True)
def download_pattern_loadings(_n, run):
    return _patterns_csv("loadings", run)


@callback(output=Output("np-dl-activations", "data"), inputs={"_n": Input("np-dl-activations-btn", "n_clicks")},
          state={"run": State("nb-run", "value")}, prevent_initial_call=True)
def download_pattern_activations(_n, run):
    return _patterns_csv("activations", run)


@callback(output={"loadings": Output("np-loadings", "figure"), "activation": Output("np-activation", "figure")},
          inputs={"pattern": Input("np-pattern", "value")}, state={"run": State("nb-run", "value")})
def published_pattern_shown(pattern, run):
    if refused(run=run) or not run or not isinstance(pattern, str):
        raise PreventUpdate
    try:
        found = _patterns(run)
        zone = MARKETS[run.split("|")[0]].timezone if run.split("|")[0] in MARKETS else "UTC"
        return {"loadings": pf.pattern_loadings_figure(found, pattern),
                "activation": pf.pattern_activation_figure(found, pattern, zone)}
    except (KeyError, ValueError):
        raise PreventUpdate from None


@callback(
    output=Output("nd-dl-nodes", "data"), inputs={"_n": Input("nd-dl-nodes-btn", "n_clicks")},
    state={"name": State("nd-network", "value"), "hub": State("nd-hub", "value"),
           "losses": State("nd-losses", "value"), "whatif": State("nd-whatif", "data"),
           "index": State("nd-snapshot", "value")},
    prevent_initial_call=True)
def download_nodes(_n, name, hub, losses, whatif, index):
    _checked(name=name, hub=hub, losses=losses, whatif=whatif, index=index)
    try:
        study = open_study(name, whatif, losses)
        study.check_hub(hub)
    except STUDY_ERRORS:
        return no_update
    snapshot = study.snapshot(index)
    return dcc.send_data_frame(node_table_export(study, snapshot, hub).to_csv,
                               f"{name}_nodes_{snapshot_tag(snapshot)}.csv", index=False)


def snapshot_tag(snapshot) -> str:
    """A snapshot as a file name holds it, as the other CSVs name times: ``2011-01-01T180000``, ``1800``."""
    return str(snapshot).replace(" ", "T").replace(":", "")


#: The study the day's CSVs are written for: the network, the model switch and the what-if shown.
_STUDY_STATE = {"name": State("nd-network", "value"), "losses": State("nd-losses", "value"),
                "whatif": State("nd-whatif", "data")}


def _study_shown(name, losses, whatif) -> Study:
    """The study a download asks for; no update (PreventUpdate) for a refused or unusable choice."""
    _checked(name=name, losses=losses, whatif=whatif)
    try:
        return open_study(name, whatif, losses)
    except STUDY_ERRORS:
        raise PreventUpdate from None


@callback(output=Output("nd-dl-series", "data"), inputs={"_n": Input("nd-dl-series-btn", "n_clicks")},
          state=_STUDY_STATE, prevent_initial_call=True)
def download_series(_n, name, losses, whatif):
    """Every bus's LMP and components at every snapshot of the day, the headers naming the unit."""
    return dcc.send_data_frame(components_export(_study_shown(name, losses, whatif)).to_csv,
                               f"{name}_components.csv", index=False)


@callback(output=Output("nd-dl-binding", "data"), inputs={"_n": Input("nd-dl-binding-btn", "n_clicks")},
          state=_STUDY_STATE, prevent_initial_call=True)
def download_binding(_n, name, losses, whatif):
    """The lines at their limit in every snapshot of the day, with flow, limit and shadow price."""
    return dcc.send_data_frame(binding_export(_study_shown(name, losses, whatif)).to_csv,
                               f"{name}_binding_lines.csv", index=False)


# --- the congestion forecast ------------------------------------------------------------------------------------

SCENARIO_LABELS = {"day": "the day's snapshots", "hours": "a range of snapshots",
                   "demand": "demand scenarios (stored forecast's spread)"}
HIDDEN, SHOWN = {"display": "none"}, {"display": "block"}


@callback(
    output={"options": Output("nd-cf-set", "options"), "last": Output("nd-cf-hours", "max"),
            "marks": Output("nd-cf-hours", "marks"), "hours": Output("nd-cf-hours", "value")},
    inputs={"name": Input("nd-network", "value")})
def forecast_choices(name):
    """A range of snapshots is offered for networks with snapshots of their own: a single-snapshot case's day
    is a load shape, so its own scenarios are the demand ones."""
    _checked(name=name)
    if not name:
        raise PreventUpdate
    try:
        study = open_study(name)
    except STUDY_ERRORS:  # the map says why
        raise PreventUpdate from None
    snaps = list(study.snapshots)
    step = max(1, len(snaps) // 6)
    options = [{"label": label, "value": value, "disabled": value == "hours" and not study.own_day}
               for value, label in SCENARIO_LABELS.items()]
    marks = {i: _short(snaps[i]) for i in range(0, len(snaps), step)}
    return {"options": options, "last": len(snaps) - 1, "marks": marks, "hours": [0, len(snaps) - 1]}


def forecast_args(spec: object) -> tuple[str, str, int | None, int | None] | None:
    """The congestion_study arguments a kept ``nd-cf-spec`` names, None for anything no run of the page wrote."""
    if not isinstance(spec, dict) or set(spec) != {"name", "set", "first", "last"}:
        return None
    hours = None if spec["set"] == "day" else [spec["first"], spec["last"]]
    if refused(name=spec["name"], scenario_set=spec["set"], hours=hours) or spec["name"] is None or \
            spec["set"] is None or (hours is None and (spec["first"], spec["last"]) != (None, None)):
        return None
    return spec["name"], spec["set"], spec["first"], spec["last"]


def open_forecast(args: tuple[str, str, int | None, int | None]) -> CongestionStudy:
    name, scenario_set, first, last = args
    return services().cached(congestion_study, str(_grid_dir()), name, scenario_set, first, last)


def constraints_table(found: CongestionStudy) -> html.Div | dbc.Table:
    if found.constraints.empty:
        return html.Div("No limit binds in any scenario: no congestion, one price everywhere up to losses.",
                        className="text-muted small")
    rows = [(str(r.branch), f"{r.from_bus} → {r.to_bus}", f"{r.limit_mw:,.1f}", f"{int(r.scenarios_binding):,}",
             f"{100 * r.frequency:,.1f}", f"{r.mean_shadow_price:,.2f}", f"{r.expected_shadow_price:,.2f}")
            for r in found.constraints.itertuples()]
    columns = ["Line", "From → to", Column("Limit MW", numeric=True), Column("Scenarios", numeric=True),
               Column("Binding % (weighted)", numeric=True), Column("Mean shadow price $/MWh", numeric=True),
               Column("Expected shadow price $/MWh", numeric=True)]
    return data_table(columns, rows, table_id="nd-cf-table", striped=True)


def scenarios_table(found: CongestionStudy) -> dbc.Table:
    rows = [(_short(r.snapshot), r.level, f"{r.demand_scale:.3f}", f"{r.renewable_scale:.2f}",
             f"{100 * r.weight:.2f}") for r in found.scenarios.itertuples()]
    columns = ["Snapshot", "Level", Column("Demand ×", numeric=True), Column("Renewables ×", numeric=True),
               Column("Weight %", numeric=True)]
    return data_table(columns, rows, table_id="nd-cf-weights", striped=True)


def forecast_map(found: CongestionStudy, study: Study) -> go.Figure:
    title = f"{found.name} — expected congestion, {len(found.scenarios)} scenarios"
    return nf.congestion_map(found.nodes, study.coords, study.network.branches, found.constraints,
                             geographic=study.geographic, title=title)


@callback(
    output={"spec": Output("nd-cf-spec", "data"), "message": Output("nd-cf-message", "children"),
            "source": Output("nd-cf-source", "children"), "map": Output("nd-cf-map", "figure"),
            "constraints": Output("nd-cf-constraints", "children"), "scenarios": Output("nd-cf-scenarios", "children"),
            "body": Output("nd-cf-body", "style"),
            # the forecast's CSV buttons are live only while a forecast is shown
            "no_csv": {kind: Output(f"nd-cf-dl-{kind}-btn", "disabled")
                       for kind in _FORECAST_CSVS}},
    inputs={"_run": Input("nd-cf-run", "n_clicks"), "name": Input("nd-network", "value")},
    state={"scenario_set": State("nd-cf-set", "value"), "hours": State("nd-cf-hours", "value")},
    prevent_initial_call=True)
def run_forecast(_run, name, scenario_set, hours):
    hidden = {"spec": None, "source": None, "map": go.Figure(), "constraints": None, "scenarios": None,
              "body": HIDDEN, "no_csv": dict.fromkeys(_FORECAST_CSVS, True)}
    if ctx.triggered_id == "nd-network":  # a forecast of the network shown before no longer fits the page
        return {**hidden, "message": None}
    if message := refused(name=name, scenario_set=scenario_set, hours=hours):
        return {**hidden, "message": dbc.Alert(message, color="warning", className="py-1")}
    if not name or not scenario_set:
        return {**hidden, "message": dbc.Alert("Pick a network and a scenario set first.", color="warning",
                                               className="py-1")}
    first, last = (None, None) if scenario_set == "day" or hours is None else hours
    args = (name, scenario_set, first, last)
    try:
        found = open_forecast(args)
        study = open_study(name)
    except STUDY_ERRORS as exc:
        return {**hidden, "message": dbc.Alert(f"Could not run the forecast: {exc}", color="warning",
                                               className="py-1")}
    source = html.Div([html.B("Scenarios: "), found.source,
                       f" Solved in {found.seconds:,.1f} s; {len(found.constraints)} limits bind."])
    return {"spec": dict(zip(("name", "set", "first", "last"), args, strict=True)), "message": None,
            "source": source, "map": forecast_map(found, study), "constraints": constraints_table(found),
            "scenarios": scenarios_table(found), "body": SHOWN,
            "no_csv": dict.fromkeys(_FORECAST_CSVS, False)}


def _prompt(text: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template="plotly_white", height=260, xaxis={"visible": False}, yaxis={"visible": False},
                      annotations=[{"text": text, "showarrow": False, "xref": "paper", "yref": "paper",
                                    "x": 0.5, "y": 0.5}])
    return fig


@callback(output=Output("nd-cf-exposure", "figure"),
          inputs={"selected": Input("nd-selected", "data"), "spec": Input("nd-cf-spec", "data")})
def exposure(selected, spec):
    args = forecast_args(spec)
    if args is None:
        raise PreventUpdate
    if refused(selected=selected) or not selected or selected["kind"] != nf.BUS:
        return _prompt("Click a node for its exposure to each binding limit.")
    try:
        found = open_forecast(args)
        bus_exposure = found.node_exposure(selected["id"])
    except STUDY_ERRORS:  # a bus of another network, or a forecast that could not be had (the panel says why)
        return _prompt("Click a node of this network for its exposure.")
    expected = float(found.nodes.set_index("bus")["expected_congestion"].get(selected["id"], float("nan")))
    if bus_exposure.empty:
        return _prompt(f"No binding limit adds to bus {selected['id']}'s congestion.")
    return nf.exposure_figure(bus_exposure, selected["id"], expected)


def _forecast_shown(spec):
    """The congestion forecast the panel shows (from its kept spec); no download when there is none."""
    args = forecast_args(spec)
    if args is None:
        raise PreventUpdate
    try:
        return open_forecast(args)
    except STUDY_ERRORS:
        raise PreventUpdate from None


@callback(output=Output("nd-cf-dl-constraints", "data"), inputs={"_n": Input("nd-cf-dl-constraints-btn", "n_clicks")},
          state={"spec": State("nd-cf-spec", "data")}, prevent_initial_call=True)
def download_constraints(_n, spec):
    found = _forecast_shown(spec)
    return dcc.send_data_frame(constraints_export(found).to_csv,
                               f"{found.name}_congestion_{found.scenario_set}_limits.csv", index=False)


@callback(output=Output("nd-cf-dl-scenarios", "data"), inputs={"_n": Input("nd-cf-dl-scenarios-btn", "n_clicks")},
          state={"spec": State("nd-cf-spec", "data")}, prevent_initial_call=True)
def download_scenarios(_n, spec):
    """The scenarios solved and their weights (summing to 1), as the table beside the map lists them."""
    found = _forecast_shown(spec)
    return dcc.send_data_frame(scenarios_export(found).to_csv,
                               f"{found.name}_congestion_{found.scenario_set}_scenarios.csv", index=False)


@callback(output=Output("nd-cf-dl-exposure", "data"), inputs={"_n": Input("nd-cf-dl-exposure-btn", "n_clicks")},
          state={"spec": State("nd-cf-spec", "data")}, prevent_initial_call=True)
def download_exposure(_n, spec):
    found = _forecast_shown(spec)
    return dcc.send_data_frame(exposure_export(found).to_csv,
                               f"{found.name}_congestion_{found.scenario_set}_exposures.csv", index=False)
