"""Figures of the nodal page: the network map, a node's component series, basis distribution, PTDF row, and the
congestion forecast's map and a node's exposure to each limit."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.figures import legend_below, named_scale, plain_figure

FIELD_LABEL = {"lmp": "LMP", "energy": "Energy", "congestion": "Congestion", "loss": "Loss",
               "basis": "Basis to hub", "delta": "Change vs. base"}
#: What a clickable marker of the map stands for: the first entry of its customdata, its id the second.
BUS, LINE = "bus", "line"
LOADING_BINS = [(0.0, 0.5, "#c7c7c7", "< 50 %"), (0.5, 0.8, "#8c8c8c", "50-80 %"),
                (0.8, 0.99, "#ff9f1c", "80-99 %"), (0.99, np.inf, "#d62728", "at limit")]


def network_map(nodes: pd.DataFrame, coords: pd.DataFrame, branches: pd.DataFrame, flows: pd.DataFrame,
                *, field: str, centre: float, span: float, geographic: bool, title: str) -> dict:
    """Nodes coloured by ``field`` on a diverging scale centred on ``centre`` (+/- ``span``); lines drawn
    grey to red by loading (|flow| / limit), with a clickable marker at each line's middle. A plain dict in
    Plotly's figure schema: it is drawn at every snapshot change, and building a ``go.Figure`` (validating every
    property, copying the template) cost more than the rest of the answer."""
    xy = coords.reindex(nodes["bus"])
    br = branches[["from_bus", "to_bus"]].join(flows.set_index("branch")[["flow_mw", "limit_mw"]], how="inner")
    br = br[br["from_bus"].isin(coords.index) & br["to_bus"].isin(coords.index)]
    loading = (br["flow_mw"].abs() / br["limit_mw"]).replace([np.inf, -np.inf], np.nan).fillna(0.0)
    fx, fy = coords.loc[br["from_bus"], "x"].to_numpy(), coords.loc[br["from_bus"], "y"].to_numpy()
    tx, ty = coords.loc[br["to_bus"], "x"].to_numpy(), coords.loc[br["to_bus"], "y"].to_numpy()
    data = []
    for lo, hi, colour, label in LOADING_BINS:
        sel = ((loading >= lo) & (loading < hi)).to_numpy()
        if not sel.any():
            continue
        xs = np.column_stack([fx[sel], tx[sel], np.full(sel.sum(), np.nan)]).ravel()
        ys = np.column_stack([fy[sel], ty[sel], np.full(sel.sum(), np.nan)]).ravel()
        data.append({"type": "scattergl", "x": xs, "y": ys, "mode": "lines", "hoverinfo": "skip",
                     "line": {"color": colour, "width": 1.2 if lo < 0.8 else 2.4}, "name": f"line loading {label}"})
    data.append({
        "type": "scatter", "x": (fx + tx) / 2, "y": (fy + ty) / 2, "mode": "markers",
        "marker": {"size": 6, "color": "rgba(0,0,0,0)"},
        "customdata": np.column_stack([np.full(len(br), LINE), br.index.astype(str), br["flow_mw"].round(1),
                                       br["limit_mw"].round(1), (100 * loading).round(1)]),
        "hovertemplate": "line %{customdata[1]}<br>flow %{customdata[2]} MW of %{customdata[3]} MW "
                         "(%{customdata[4]} %)<extra></extra>", "name": "lines", "showlegend": False})
    values = nodes[field].to_numpy(float)
    # SVG, not WebGL, for the nodes: clicks must work everywhere, headless browsers included.
    data.append({
        "type": "scatter", "x": xy["x"].to_numpy(), "y": xy["y"].to_numpy(), "mode": "markers", "name": "nodes",
        "showlegend": False,
        "marker": {"size": 8, "color": values, "colorscale": named_scale("RdBu_r"), "cmin": centre - span,
                   "cmax": centre + span,
                   "line": {"width": 0.5, "color": "#333"},
                   "colorbar": {"title": {"text": f"{FIELD_LABEL[field]}<br>$/MWh"}, "thickness": 14}},
        "customdata": np.column_stack([np.full(len(nodes), BUS), nodes["bus"].astype(str), nodes["lmp"].round(2),
                                       nodes["energy"].round(2), nodes["congestion"].round(2),
                                       nodes["loss"].round(2), nodes["basis"].round(2)]),
        "hovertemplate": "bus %{customdata[1]}<br>LMP %{customdata[2]}<br>energy %{customdata[3]}<br>"
                         "congestion %{customdata[4]}<br>loss %{customdata[5]}<br>basis %{customdata[6]}"
                         "<extra></extra>"})
    return plain_figure(data, title={"text": title}, margin={"l": 40, "r": 10, "t": 50, "b": 40},
                        legend=legend_below(-0.11), clickmode="event", uirevision="map",
                        **_map_axes_layout(coords, geographic))


def _map_axes_layout(coords: pd.DataFrame, geographic: bool) -> dict:
    """Longitude/latitude at the map's true aspect where the buses have them, bare equal axes otherwise."""
    if geographic:
        return {"xaxis": {"title": {"text": "longitude"}, "showgrid": False},
                "yaxis": {"title": {"text": "latitude"}, "showgrid": False, "scaleanchor": "x",
                          "scaleratio": 1 / max(np.cos(np.radians(float(np.nanmean(coords["y"])))), 0.2)}}
    return {"xaxis": {"visible": False}, "yaxis": {"visible": False, "scaleanchor": "x"}}


def _map_axes(fig: go.Figure, coords: pd.DataFrame, geographic: bool) -> None:
    fig.update_layout(**_map_axes_layout(coords, geographic))


#: How often a limit binds over the scenarios, as the congestion map draws its line.
FREQUENCY_BINS = [(-np.inf, 0.25, "#ffbf69", "binds ≤ 25 %"), (0.25, 0.5, "#ff9f1c", "25-50 %"),
                  (0.5, 0.9, "#e4572e", "50-90 %"), (0.9, np.inf, "#9d0208", "≥ 90 % of the weight")]


def congestion_map(nodes: pd.DataFrame, coords: pd.DataFrame, branches: pd.DataFrame, constraints: pd.DataFrame,
                   *, geographic: bool, title: str) -> go.Figure:
    """Nodes coloured by expected congestion (diverging around zero, p5/p95 on hover); every line grey, the
    limits that bind coloured by how often (weighted) they do, with a clickable marker at each one's middle."""
    fig = go.Figure()
    br = branches[["from_bus", "to_bus"]]
    br = br[br["from_bus"].isin(coords.index) & br["to_bus"].isin(coords.index)]
    fx, fy = coords.loc[br["from_bus"], "x"].to_numpy(), coords.loc[br["from_bus"], "y"].to_numpy()
    tx, ty = coords.loc[br["to_bus"], "x"].to_numpy(), coords.loc[br["to_bus"], "y"].to_numpy()
    gaps = np.full(len(br), np.nan)
    fig.add_trace(go.Scattergl(x=np.column_stack([fx, tx, gaps]).ravel(), y=np.column_stack([fy, ty, gaps]).ravel(),
                               mode="lines", line={"color": "#d0d0d0", "width": 1}, name="lines", hoverinfo="skip",
                               showlegend=False))
    binding = constraints.set_index(constraints["branch"].astype(str))
    binding = binding[binding.index.isin(br.index.astype(str))]
    at = br.index.astype(str).get_indexer(binding.index)
    mx, my = (fx[at] + tx[at]) / 2, (fy[at] + ty[at]) / 2
    freq = binding["frequency"].to_numpy(float)
    for lo, hi, colour, label in FREQUENCY_BINS:
        sel = (freq > lo) & (freq <= hi)
        if not sel.any():
            continue
        xs = np.column_stack([fx[at][sel], tx[at][sel], np.full(sel.sum(), np.nan)]).ravel()
        ys = np.column_stack([fy[at][sel], ty[at][sel], np.full(sel.sum(), np.nan)]).ravel()
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", line={"color": colour, "width": 3},
                                   name=label, hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=mx, y=my, mode="markers", marker={"size": 9, "color": "rgba(0,0,0,0)"}, name="binding limits",
        showlegend=False,
        customdata=np.column_stack([np.full(len(binding), LINE), binding.index, (100 * freq).round(1),
                                    binding["mean_shadow_price"].round(2), binding["expected_shadow_price"].round(2)]),
        hovertemplate="line %{customdata[1]}<br>binds %{customdata[2]} % of the weight<br>mean shadow price "
                      "%{customdata[3]}<br>expected %{customdata[4]} $/MWh<extra></extra>"))
    xy = coords.reindex(nodes["bus"])
    values = nodes["expected_congestion"].to_numpy(float)
    finite = values[np.isfinite(values)]
    span = max(float(np.max(np.abs(finite))) if finite.size else 0.0, 0.01)
    fig.add_trace(go.Scatter(
        x=xy["x"], y=xy["y"], mode="markers", name="nodes", showlegend=False,
        marker={"size": 8, "color": values, "colorscale": "RdBu_r", "cmin": -span, "cmax": span,
                "line": {"width": 0.5, "color": "#333"},
                "colorbar": {"title": {"text": "Expected<br>congestion<br>$/MWh"}, "thickness": 14}},
        customdata=np.column_stack([np.full(len(nodes), BUS), nodes["bus"].astype(str), np.round(values, 2),
                                    nodes["p5"].round(2), nodes["p95"].round(2),
                                    (100 * nodes["frequency_congested"]).round(1)]),
        hovertemplate="bus %{customdata[1]}<br>expected congestion %{customdata[2]} $/MWh<br>p5 %{customdata[3]}, "
                      "p95 %{customdata[4]}<br>congested in %{customdata[5]} % of the weight<extra></extra>"))
    fig.update_layout(title=title, template="plotly_white", margin={"l": 40, "r": 10, "t": 50, "b": 40},
                      legend=legend_below(-0.11), clickmode="event", uirevision="congestion-map")
    _map_axes(fig, coords, geographic)
    return fig


def exposure_figure(exposure: pd.Series, bus: str, expected: float, top: int = 15) -> go.Figure:
    """A node's exposure: what each binding limit adds to its expected congestion, largest first; the rest of
    the limits summed in one bar so the bars still add up to ``expected``."""
    head = exposure.head(top)
    labels, values = [f"line {b}" for b in head.index], list(head.to_numpy(float))
    if len(exposure) > top:
        labels.append(f"{len(exposure) - top} other limits")
        values.append(float(exposure.iloc[top:].sum()))
    fig = go.Figure(go.Bar(x=values[::-1], y=labels[::-1], orientation="h", name="exposure",
                           marker_color=["#d62728" if v >= 0 else "#1f77b4" for v in values[::-1]]))
    fig.update_layout(title={"text": f"Bus {bus}: expected congestion {expected:,.2f} $/MWh<br>"
                                     "<sup>what each limit adds (its expected shadow price × PTDF)</sup>",
                             "font": {"size": 14}},
                      template="plotly_white", height=max(300, 24 * len(labels) + 130),
                      margin={"l": 130, "r": 10, "t": 70, "b": 40})
    fig.update_xaxes(title_text="$/MWh")
    fig.update_yaxes(type="category")
    return fig


def clicked_marker(click: dict | None) -> tuple[str, str] | None:
    """(``BUS`` or ``LINE``, its id) of the map marker a ``clickData`` names; None for anything else."""
    points = (click or {}).get("points") or [{}]
    data = points[0].get("customdata")
    if not data or len(data) < 2 or data[0] not in (BUS, LINE):
        return None
    return str(data[0]), str(data[1])


def colour_scale(field: str, values: np.ndarray, hub_price: float) -> tuple[float, float]:
    """(centre, span) of a map's diverging colour scale: prices centre on the hub's, components and
    differences on zero; the span reaches the farthest finite value (at least 0.01 $/MWh)."""
    centre = hub_price if field in ("lmp", "energy") else 0.0
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    span = float(np.max(np.abs(values - centre))) if values.size else 1.0
    return centre, max(span, 0.01)


def node_components_figure(series: pd.DataFrame, bus: str) -> go.Figure:
    fig = go.Figure()
    x = series["snapshot"].astype(str)
    for col, colour in (("energy", "#1f77b4"), ("congestion", "#d62728"), ("loss", "#2ca02c")):
        fig.add_trace(go.Bar(x=x, y=series[col], name=col, marker_color=colour))
    fig.add_trace(go.Scatter(x=x, y=series["lmp"], name="LMP", mode="lines+markers", line={"color": "#111"}))
    fig.update_layout(barmode="relative", title=f"Bus {bus}: LMP components", template="plotly_white", height=300,
                      margin={"l": 50, "r": 10, "t": 40, "b": 40}, legend=legend_below(-0.25))
    fig.update_yaxes(title_text="$/MWh")
    return fig


def basis_histogram(series: pd.DataFrame, bus: str) -> go.Figure:
    fig = go.Figure(go.Histogram(x=series["basis"], nbinsx=20, marker_color="#6f42c1"))
    fig.update_layout(title=f"Bus {bus}: basis to hub over the day", template="plotly_white", height=240,
                      margin={"l": 50, "r": 10, "t": 40, "b": 40})
    fig.update_xaxes(title_text="$/MWh")
    fig.update_yaxes(title_text="snapshots")
    return fig


def ptdf_figure(row: pd.Series, branch: str, top: int = 15) -> go.Figure:
    head = row.head(top)[::-1]
    fig = go.Figure(go.Bar(x=head.to_numpy(), y=[str(b) for b in head.index], orientation="h",
                           marker_color=np.where(head.to_numpy() >= 0, "#d62728", "#1f77b4")))
    fig.update_layout(title=f"PTDF of line {branch}: MW on the line per MW injected", template="plotly_white",
                      height=360, margin={"l": 80, "r": 10, "t": 40, "b": 40})
    fig.update_xaxes(title_text="MW / MW")
    return fig


def basis_surface_figure(surface: pd.DataFrame, title: str, currency: str) -> go.Figure:
    """Nodes (rows) by hour of day (columns): mean basis in ``currency`` per MWh, diverging around zero."""
    span = float(np.nanmax(np.abs(surface.to_numpy(float)))) if surface.size else 1.0
    fig = go.Figure(go.Heatmap(z=surface.to_numpy(float), x=list(surface.columns), y=list(surface.index),
                               colorscale="RdBu_r", zmid=0, zmin=-span, zmax=span,
                               colorbar={"title": {"text": f"{currency}/MWh"}}))
    fig.update_layout(title=title, template="plotly_white", height=max(320, 22 * len(surface) + 120),
                      margin={"l": 160, "r": 10, "t": 40, "b": 40})
    fig.update_xaxes(title_text="hour of day", dtick=2)
    fig.update_yaxes(type="category", autorange="reversed")
    return fig
