"""Callbacks of the nodal page: thin — pick the study, ask engine.lmp, shape figures."""
from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update

from app.services import services
from components import nodal_figures as nf
from engine import queries
from engine.lmp import OpfError
from engine.lmp.basis import basis, basis_statistics, basis_surface
from engine.lmp.study import (SYSTEM_HUB, coordinates, hub_prices, networks_in, node_series, node_view,
                              ptdf_row, solve_study, study_network)

_CACHE: OrderedDict = OrderedDict()
_PENDING: dict = {}  # key -> Future of a study being built
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 12


def _grid_dir() -> Path:
    return services().settings.data_dir / "grids"


def network_options() -> list[dict]:
    return [{"label": name, "value": name} for name in networks_in(_grid_dir())]


def default_network(options: list[dict]) -> str | None:
    names = [o["value"] for o in options]
    return "scigrid-de" if "scigrid-de" in names else (names[0] if names else None)


def _memo(key, build):
    """Solved studies are kept per process (they hold numpy tables, not worth pickling to a cache server).
    A study that cannot be solved is kept too, as its error: every callback of the page asks for the same
    study, and a failing solve can take as long as a good one. The page's callbacks run side by side and ask
    for the same study at once; one builds it and the others wait for it."""
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _unwrap(_CACHE[key])
        pending = _PENDING.get(key)
        if pending is None:
            pending = _PENDING[key] = Future()
            owner = True
        else:
            owner = False
    if not owner:
        return _unwrap(pending.result())
    try:
        value = build()
    except (OpfError, KeyError, ValueError) as exc:
        value = _Failed(exc)
    except BaseException as exc:  # anything else is not kept, but the waiting callbacks must not hang
        with _CACHE_LOCK:
            _PENDING.pop(key, None)
        pending.set_exception(exc)
        raise
    with _CACHE_LOCK:
        _CACHE[key] = value
        _PENDING.pop(key, None)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    pending.set_result(value)
    return _unwrap(value)


class _Failed:
    def __init__(self, error: Exception):
        self.error = error


def _unwrap(value):
    if isinstance(value, _Failed):
        raise value.error
    return value


def study(name: str, whatif: dict | None = None, losses: bool = False) -> dict:
    """The network, its solved day, its drawing coordinates, and (for a what-if) the base case too."""
    path = networks_in(_grid_dir()).get(name)
    if path is None:
        raise OpfError(f"no network named {name!r} in the grid folder")
    net = _memo(("net", str(path)), lambda: study_network(path))
    coords = _memo(("xy", str(path)), lambda: coordinates(net))
    base = _memo(("opf", str(path), None, losses), lambda: solve_study(net, losses=losses))
    key = _whatif_key(whatif)
    result = base if key is None else _memo(("opf", str(path), key, losses), lambda: solve_study(
        net, rate_a={whatif["branch"]: float(whatif["limit"])} if whatif.get("limit") is not None else None,
        outage=whatif["branch"] if whatif.get("out") else None, losses=losses))
    return {"net": net, "result": result, "base": base, "coords": coords[0], "geographic": coords[1]}


def _short(snapshot) -> str:
    """A slider label: the time of day of a timestamp snapshot, the snapshot itself otherwise."""
    text = str(snapshot)
    return text[-8:-3] if len(text) > 8 else text


def _whatif_key(whatif: dict | None):
    if not whatif or not whatif.get("branch"):
        return None
    return (str(whatif["branch"]), whatif.get("limit"), bool(whatif.get("out")))


def _centre_span(view_table: pd.DataFrame, all_nodes: pd.DataFrame, field: str, hub: float, fixed: bool):
    centre = hub if field in ("lmp", "energy") else 0.0
    source = all_nodes[field] if fixed and field in all_nodes else view_table[field]
    values = source.to_numpy(float)
    values = values[np.isfinite(values)]
    span = float(np.max(np.abs(values - centre))) if values.size else 1.0
    return centre, max(span, 0.01)


def _loss_warning(result) -> str | None:
    """Say so when the marginal-loss prices are not settled: they are then only approximate."""
    info = result.info
    if not info.get("losses") or info.get("loss_converged", True):
        return None
    return (f"Marginal losses: the loss factors had not settled after {info['loss_iterations']} rounds (they still "
            f"moved by up to {info['loss_factor_gap']:.3f}), so the loss components shown are approximate.")


def _binding_table(result, snapshot) -> html.Div:
    b = result.binding[result.binding["snapshot"] == snapshot]
    if b.empty:
        return html.Div("No line is at its limit: one price everywhere up to losses.", className="text-muted small")
    rows = [html.Tr([html.Td(str(r.branch)), html.Td(f"{r.from_bus} → {r.to_bus}"),
                     html.Td(f"{r.flow_mw:,.1f}", className="text-end"),
                     html.Td(f"{r.limit_mw:,.1f}", className="text-end"),
                     html.Td(f"{r.shadow_price:,.2f}", className="text-end")])
            for r in b.sort_values("shadow_price", key=np.abs, ascending=False).head(25).itertuples()]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Line", "From → to", "Flow MW", "Limit MW", "Shadow price $/MWh")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, id="nd-binding-table")


def register(app: dash.Dash) -> None:
    @app.callback(
        Output("nd-hub", "options"), Output("nd-hub", "value"), Output("nd-snapshot", "max"),
        Output("nd-snapshot", "marks"), Output("nd-snapshot", "value"), Output("nd-wi-branch", "options"),
        Output("nd-whatif", "data", allow_duplicate=True),
        Input("nd-network", "value"), prevent_initial_call="initial_duplicate")
    def network_changed(name):
        if not name:
            return [], None, 0, {}, 0, [], None
        s = study(name)
        buses = [str(b) for b in s["net"].buses.index]
        hubs = [{"label": "Load-weighted system hub", "value": SYSTEM_HUB}] + [{"label": f"bus {b}", "value": b}
                                                                             for b in buses]
        snaps = list(s["result"].snapshots)
        step = max(1, len(snaps) // 8)
        marks = {i: _short(snaps[i]) for i in range(0, len(snaps), step)}
        branches = [{"label": f"line {b} ({r.from_bus} → {r.to_bus})", "value": str(b)}
                    for b, r in s["net"].branches.iterrows()]
        return hubs, SYSTEM_HUB, len(snaps) - 1, marks, min(len(snaps) - 1, 18), branches, None

    @app.callback(
        Output("nd-whatif", "data"), Output("nd-wi-summary", "children", allow_duplicate=True),
        Input("nd-wi-apply", "n_clicks"), Input("nd-wi-reset", "n_clicks"),
        State("nd-wi-branch", "value"), State("nd-wi-limit", "value"), State("nd-wi-out", "value"),
        prevent_initial_call=True)
    def whatif_changed(_apply, _reset, branch, limit, out):
        if ctx.triggered_id == "nd-wi-reset":
            return None, ""
        if not branch:
            return no_update, dbc.Alert("Pick a line first.", color="warning", className="py-1")
        if limit is not None and (not np.isfinite(float(limit)) or float(limit) <= 0):
            return no_update, dbc.Alert("A limit must be a number of MW above 0 (to carry nothing, take the line "
                                        "out).", color="warning", className="py-1")
        if limit is None and not out:
            return no_update, dbc.Alert("Give a new limit or take the line out.", color="warning", className="py-1")
        return {"branch": branch, "limit": None if limit is None else float(limit), "out": bool(out)}, ""

    @app.callback(
        Output("nd-map", "figure"), Output("nd-binding", "children"), Output("nd-error", "children"),
        Output("nd-error", "is_open"), Output("nd-wi-summary", "children"),
        Input("nd-network", "value"), Input("nd-colour", "value"), Input("nd-hub", "value"),
        Input("nd-range", "value"), Input("nd-losses", "value"), Input("nd-snapshot", "value"),
        Input("nd-whatif", "data"))
    def render(name, field, hub, scale, losses, idx, whatif):
        if not name or hub is None:
            msg = "No networks found: put MATPOWER .m files or PyPSA CSV folders in the grid folder " \
                  f"({_grid_dir()})." if not name else no_update
            return nf.go.Figure(), None, msg, bool(not name), ""
        try:
            s = study(name, whatif, "losses" in (losses or []))
        except (OpfError, KeyError, ValueError) as exc:
            return nf.go.Figure(), None, f"Could not solve: {exc}", True, ""
        result, net = s["result"], s["net"]
        snap = result.snapshots[min(int(idx or 0), len(result.snapshots) - 1)]
        view = node_view(result, net, snap, hub)
        table = view.table
        all_nodes = result.nodes.copy()
        base_view = node_view(s["base"], net, snap, hub)
        table["delta"] = table["lmp"].to_numpy() - base_view.table.set_index("bus").loc[table["bus"], "lmp"].to_numpy()
        if field == "basis":  # the fixed range spans the day's basis to the chosen hub
            all_nodes["basis"] = all_nodes["lmp"] - all_nodes["snapshot"].map(hub_prices(result, net, hub))
        centre, span = _centre_span(table, all_nodes, field, view.hub_price, scale == "fixed")
        title = (f"{name} — {nf.FIELD_LABEL[field]} at {snap}; hub "
                 f"{'load-weighted' if hub == SYSTEM_HUB else 'bus ' + hub} {view.hub_price:,.2f} $/MWh")
        fig = nf.network_map(table, s["coords"], net.branches, result.flows[result.flows["snapshot"] == snap],
                             field=field, centre=centre, span=span, geographic=s["geographic"], title=title)
        summary = ""
        if _whatif_key(whatif):
            d = table["delta"]
            what = "out of service" if whatif.get("out") else f"limit {whatif['limit']:,.0f} MW"
            summary = html.Div([html.B(f"Line {whatif['branch']} {what}: "),
                                f"LMP change at {snap}: max +{d.max():,.2f}, min {d.min():,.2f} $/MWh; "
                                f"cost {result.objective - s['base'].objective:+,.0f} $ over the day."])
        warning = _loss_warning(result)
        return fig, _binding_table(result, snap), warning, warning is not None, summary

    @app.callback(
        Output("nd-selected", "data"), Output("nd-wi-branch", "value"),
        Input("nd-map", "clickData"), prevent_initial_call=True)
    def clicked(click):
        if not click or not click.get("points"):
            return no_update, no_update
        point = click["points"][0]
        data = point.get("customdata")
        if not data:
            return no_update, no_update
        if len(data) == 4:  # a line's middle marker
            return {"kind": "branch", "id": str(data[0])}, str(data[0])
        return {"kind": "bus", "id": str(data[0])}, no_update

    @app.callback(
        Output("nd-detail", "children"),
        Input("nd-selected", "data"), Input("nd-network", "value"), Input("nd-hub", "value"),
        Input("nd-losses", "value"), Input("nd-whatif", "data"), Input("nd-snapshot", "value"))
    def detail(selected, name, hub, losses, whatif, idx):
        if not selected or not name or hub is None:
            return html.Div("Click a node for its price components and basis, or a line for its shadow price "
                            "and PTDF.", className="text-muted small")
        try:
            s = study(name, whatif, "losses" in (losses or []))
        except (OpfError, KeyError, ValueError):
            return None  # the map says why it could not be solved
        result, net = s["result"], s["net"]
        if selected["kind"] == "bus":
            if selected["id"] not in set(map(str, net.buses.index)):
                return None
            series = node_series(result, net, selected["id"], hub)
            return html.Div([dcc.Graph(id="nd-node-series", figure=nf.node_components_figure(series, selected["id"])),
                             dcc.Graph(id="nd-node-basis", figure=nf.basis_histogram(series, selected["id"]))])
        branch = selected["id"]
        if branch not in net.branches.index:  # chosen on another network
            return None
        snap = result.snapshots[min(int(idx or 0), len(result.snapshots) - 1)]
        b = result.binding[(result.binding["snapshot"] == snap) & (result.binding["branch"].astype(str) == branch)]
        mu = float(b["shadow_price"].iat[0]) if len(b) else 0.0
        row = ptdf_row(result, branch)
        effect = (mu * row).sort_values()
        lowers = ", ".join(f"{k} ({v:,.2f})" for k, v in effect.head(3).items()) if mu else "—"
        raises = ", ".join(f"{k} ({v:,.2f})" for k, v in effect.tail(3)[::-1].items()) if mu else "—"
        return html.Div([
            html.H6(f"Line {branch}"),
            html.Div(f"Shadow price at {snap}: {mu:,.2f} $/MWh" + ("" if mu else " (not binding)"), id="nd-line-mu"),
            html.Div(f"Raises prices most at: {raises}", className="small"),
            html.Div(f"Lowers prices most at: {lowers}", className="small mb-2"),
            dcc.Graph(id="nd-line-ptdf", figure=nf.ptdf_figure(row, branch)),
        ])

    @app.callback(Output("nb-run", "options"), Output("nb-run", "value"), Input("nd-network", "id"))
    def published_runs(_):
        runs = queries.nodal_runs(services().ready_store())
        options = [{"label": f"{m} {'day-ahead' if r == 'DA' else 'real-time'}", "value": f"{m}|{r}"}
                   for m, r in runs]
        return options, (options[0]["value"] if options else None)

    @app.callback(Output("nb-hub", "options"), Output("nb-hub", "value"), Input("nb-run", "value"))
    def published_hubs(run):
        if not run:
            return [], None
        hubs = queries.nodal_hubs(services().ready_store(), run.split("|")[0])
        options = [{"label": r.label, "value": r.node} for r in hubs.itertuples()]
        return options, (options[0]["value"] if options else None)

    @app.callback(Output("nb-stats", "children"), Output("nb-surface", "figure"),
                  Input("nb-run", "value"), Input("nb-hub", "value"))
    def published_basis(run, hub):
        if not run or not hub:
            return html.Div("No published nodal prices loaded (flask --app app.wsgi ingest load pjm PATH).",
                            className="text-muted small"), nf.go.Figure()
        market, market_run = run.split("|")
        store = services().ready_store()
        prices = queries.nodal_prices(store, market, market_run)
        try:
            frame = basis(prices, hub)
        except (KeyError, ValueError) as exc:
            return dbc.Alert(str(exc), color="warning", className="py-1"), nf.go.Figure()
        tz = queries.market_info(store, market).timezone
        frame["interval_start"] = frame["interval_start"].dt.tz_convert(tz)
        stats = basis_statistics(frame)
        names = queries.node_names(store, market)
        top = stats.reindex(stats["mean"].abs().sort_values(ascending=False).index).head(20)
        rows = [html.Tr([html.Td(f"{names.get(r.node, '')} {r.node}".strip()), html.Td(f"{r.mean:,.2f}"),
                         html.Td(f"{r.std:,.2f}"), html.Td(f"{r.p5:,.2f}"), html.Td(f"{r.p50:,.2f}"),
                         html.Td(f"{r.p95:,.2f}"), html.Td(f"{int(r.count):,}")]) for r in top.itertuples()]
        head = html.Thead(html.Tr([html.Th(h) for h in ("Node", "Mean", "Std", "p5", "p50", "p95", "Hours")]))
        table = dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, id="nb-stats-table")
        surface = basis_surface(frame[frame["node"].isin(top["node"])], by="hour")
        surface.index = [f"{names.get(n, '')} {n}".strip() for n in surface.index]
        return table, nf.basis_surface_figure(surface, f"{market} {market_run}: mean basis by hour ({tz})")

    @app.callback(
        Output("nd-dl-nodes", "data"), Input("nd-dl-nodes-btn", "n_clicks"),
        State("nd-network", "value"), State("nd-hub", "value"), State("nd-losses", "value"),
        State("nd-whatif", "data"), State("nd-snapshot", "value"), prevent_initial_call=True)
    def download_nodes(_n, name, hub, losses, whatif, idx):
        try:
            s = study(name, whatif, "losses" in (losses or []))
        except (OpfError, KeyError, ValueError):
            return no_update
        snap = s["result"].snapshots[min(int(idx or 0), len(s["result"].snapshots) - 1)]
        table = node_view(s["result"], s["net"], snap, hub).table
        table.insert(0, "snapshot", str(snap))
        return dcc.send_data_frame(table.to_csv, f"{name}_nodes_{str(snap).replace(':', '')}.csv", index=False)

    @app.callback(
        Output("nd-dl-series", "data"), Input("nd-dl-series-btn", "n_clicks"),
        State("nd-network", "value"), State("nd-losses", "value"), State("nd-whatif", "data"),
        prevent_initial_call=True)
    def download_series(_n, name, losses, whatif):
        try:
            s = study(name, whatif, "losses" in (losses or []))
        except (OpfError, KeyError, ValueError):
            return no_update
        return dcc.send_data_frame(s["result"].nodes.to_csv, f"{name}_components.csv", index=False)
