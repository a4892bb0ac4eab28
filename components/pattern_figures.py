"""Figures of congestion patterns (a factorisation of published congestion components, see
``engine.lmp.patterns.CongestionPatterns``): a pattern's most exposed nodes and hubs, its hourly activation, the
share each pattern explains, and a map of a pattern's loadings where the nodes have coordinates."""
from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.figures import legend_below

POSITIVE, NEGATIVE, HUB_EDGE = "#d62728", "#1f77b4", "#222"
_LAYOUT = {"template": "plotly_white", "margin": {"l": 50, "r": 10, "t": 60, "b": 40}}


class Patterns(Protocol):
    """What the figures read of a factorisation (components know nothing of the engine's types)."""

    loadings: pd.DataFrame       # node x pattern
    activations: pd.DataFrame    # hour x pattern, $/MWh
    explained: pd.Series         # share of the sum of squares per pattern
    exposed: pd.DataFrame        # pattern, rank, node, label, hub, loading, mean_usd, rms_usd
    hubs: pd.DataFrame           # same columns, the hubs


def _check(patterns: Patterns, pattern: str) -> None:
    if pattern not in patterns.loadings.columns:
        raise KeyError(f"no pattern {pattern!r}; the factorisation has {list(patterns.loadings.columns)}")


def pattern_loadings_figure(patterns: Patterns, pattern: str, top: int = 20) -> go.Figure:
    """The ``top`` nodes most exposed to ``pattern`` and every hub, ranked: the bar is what the pattern adds to the
    node's congestion component at its rms activation ($/MWh, signed: red above the network's average, blue
    below); hubs are outlined and marked (hub)."""
    _check(patterns, pattern)
    nodes = patterns.exposed[patterns.exposed["pattern"] == pattern].head(top)
    hubs = patterns.hubs[(patterns.hubs["pattern"] == pattern) & ~patterns.hubs["node"].isin(nodes["node"])]
    rows = pd.concat([nodes, hubs], ignore_index=True) if len(hubs) else nodes
    rows = rows.sort_values("rank", ascending=False)
    effect = np.sign(rows["loading"].to_numpy(float)) * rows["rms_usd"].to_numpy(float)
    is_hub = rows["hub"].to_numpy(bool)
    labels = [f"{label} (hub)" if hub else str(label) for label, hub in zip(rows["label"], is_hub, strict=True)]
    fig = go.Figure(go.Bar(
        x=effect, y=labels, orientation="h", name=pattern,
        marker={"color": [POSITIVE if v >= 0 else NEGATIVE for v in effect],
                "line": {"color": [HUB_EDGE if h else "rgba(0,0,0,0)" for h in is_hub], "width": 2}},
        customdata=np.column_stack([rows["rank"], rows["loading"].round(4), rows["mean_usd"].round(2)]),
        hovertemplate="%{y}<br>rank %{customdata[0]} by |loading|<br>loading %{customdata[1]}<br>"
                      "%{x:.2f} $/MWh at rms activation, %{customdata[2]} $/MWh on average<extra></extra>"))
    share = float(patterns.explained[pattern])
    fig.update_layout(
        title={"text": f"Pattern {pattern} ({share:.1%} of congestion): most exposed nodes and hubs<br>"
                       "<sup>$/MWh the pattern adds to each node's congestion at its rms activation</sup>",
               "font": {"size": 14}},
        height=max(320, 22 * len(labels) + 140), **{**_LAYOUT, "margin": {"l": 200, "r": 10, "t": 70, "b": 40}})
    fig.update_xaxes(title_text="$/MWh", zeroline=True, zerolinecolor="#888")
    fig.update_yaxes(type="category")
    return fig


def pattern_activation_figure(patterns: Patterns, pattern: str, zone: str = "UTC") -> go.Figure:
    """``pattern``'s activation hour by hour ($/MWh per unit loading; a node's congestion from the pattern is its
    loading times this), in ``zone``."""
    _check(patterns, pattern)
    series = patterns.activations[pattern]
    index = series.index
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        index = index.tz_convert(zone)
    fig = go.Figure(go.Scatter(x=index, y=series.to_numpy(float), mode="lines", name=pattern,
                               line={"width": 1.4, "color": "#444"}))
    fig.add_hline(y=0.0, line={"color": "#aaa", "width": 1})
    fig.update_layout(title={"text": f"Pattern {pattern}: activation by hour ({zone})", "font": {"size": 14}},
                      height=300, **_LAYOUT)
    fig.update_yaxes(title_text="activation ($/MWh per unit loading)")
    return fig


def explained_figure(patterns: Patterns) -> go.Figure:
    """The share of the congestion components' sum of squares (each hour's network mean removed) each pattern
    explains, and the running total."""
    share = patterns.explained.to_numpy(float)
    names = list(patterns.explained.index)
    fig = go.Figure([go.Bar(x=names, y=100 * share, name="pattern", marker_color="#8c8c8c"),
                     go.Scatter(x=names, y=100 * np.cumsum(share), mode="lines+markers", name="cumulative",
                                line={"color": "#d62728"})])
    fig.update_layout(title={"text": "Congestion explained by each pattern", "font": {"size": 14}}, height=280,
                      legend=legend_below(-0.2), **_LAYOUT)
    fig.update_yaxes(title_text="% of sum of squares", range=[0, 100])
    return fig


def pattern_map(patterns: Patterns, pattern: str, coords: pd.DataFrame, *, geographic: bool = True) -> go.Figure:
    """``pattern``'s loadings on a map: nodes at ``coords`` (index node, columns x, y: longitude and latitude
    when ``geographic``) coloured on a diverging scale centred on 0; nodes without coordinates are left out."""
    _check(patterns, pattern)
    load = patterns.loadings[pattern]
    xy = coords.reindex(load.index).dropna(subset=["x", "y"])
    values = load.reindex(xy.index).to_numpy(float)
    span = float(np.max(np.abs(values))) if len(values) else 1.0
    fig = go.Figure(go.Scatter(
        x=xy["x"], y=xy["y"], mode="markers", name=pattern, text=xy.index.astype(str),
        marker={"size": 8, "color": values, "colorscale": "RdBu_r", "cmin": -span, "cmax": span,
                "line": {"width": 0.5, "color": "#333"}, "colorbar": {"title": {"text": "loading"}, "thickness": 14}},
        hovertemplate="%{text}<br>loading %{marker.color:.4f}<extra></extra>"))
    fig.update_layout(title={"text": f"Pattern {pattern}: loadings ({len(xy)} of {len(load)} nodes placed)",
                             "font": {"size": 14}}, height=520, **_LAYOUT)
    if geographic:
        fig.update_xaxes(title_text="longitude", showgrid=False)
        fig.update_yaxes(title_text="latitude", showgrid=False, scaleanchor="x",
                         scaleratio=1 / max(np.cos(np.radians(float(np.nanmean(xy["y"])) if len(xy) else 0.0)), 0.2))
    return fig
