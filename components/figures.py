"""Figure builders: plain functions from engine results (DataFrames) to Plotly figures."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

RESOLUTION_LABEL = {"raw": "each interval", "hour": "hourly means", "day": "daily means"}


def export_config(filename: str) -> dict:
    """Graph config: the toolbar's camera button saves a PNG named after what is shown."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14}, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, template="plotly_white", height=320)
    return fig


def price_demand_figure(series: pd.DataFrame, *, title: str, tz_label: str, currency: str,
                        resolution: str) -> go.Figure:
    """Price (left axis) and demand (right axis) against interval start in the display time zone."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = series["interval_start"]
    fig.add_trace(go.Scattergl(x=x, y=series["price"], name=f"Price ({currency}/MWh)", mode="lines",
                               line={"width": 1.2, "color": "#1f77b4"}), secondary_y=False)
    if series["demand_mw"].notna().any():
        fig.add_trace(go.Scattergl(x=x, y=series["demand_mw"], name="Demand (MW)", mode="lines",
                                   line={"width": 1, "color": "#ff7f0e"}, opacity=0.7), secondary_y=True)
    fig.update_layout(title=f"{title} — {RESOLUTION_LABEL.get(resolution, resolution)}", template="plotly_white",
                      height=420, margin={"l": 60, "r": 60, "t": 50, "b": 40}, hovermode="x unified",
                      legend={"orientation": "h", "y": -0.15})
    fig.update_xaxes(title_text=f"Interval start ({tz_label})")
    fig.update_yaxes(title_text=f"{currency}/MWh", secondary_y=False)
    fig.update_yaxes(title_text="MW", secondary_y=True, showgrid=False)
    return fig


def duration_figure(curve: pd.DataFrame, *, title: str, currency: str, of: str = "interval") -> go.Figure:
    fig = go.Figure(go.Scatter(x=curve["exceedance_pct"], y=curve["price"], mode="lines",
                               line={"color": "#2ca02c"}, name="Price"))
    fig.update_layout(title=f"Price duration curve — {title}", template="plotly_white", height=360,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40})
    fig.update_xaxes(title_text="Share of intervals with a higher price (%)" if of == "interval"
                     else "Share of hours with a higher hourly mean price (%)")
    fig.update_yaxes(title_text=f"{currency}/MWh")
    return fig


def heatmap_figure(grid: pd.DataFrame, *, title: str, tz_label: str, currency: str, rows: str = "day") -> go.Figure:
    """Mean price by hour of day (x) and day or month (y). The colour range is clipped at the 2nd/98th percentile so
    one spike does not wash out the daily pattern; hover shows the true mean."""
    values = grid.to_numpy(dtype=float)
    finite = values[~pd.isna(values)]
    lo, hi = (0.0, 1.0)
    if finite.size:
        lo, hi = float(pd.Series(finite).quantile(0.02)), float(pd.Series(finite).quantile(0.98))
    fig = go.Figure(go.Heatmap(z=values, x=list(grid.columns), y=[str(d) for d in grid.index], zmin=lo, zmax=hi,
                               colorscale="RdYlBu_r", colorbar={"title": f"{currency}/MWh"},
                               hovertemplate="%{y} %{x}:00<br>%{z:.2f} " + currency + "/MWh<extra></extra>"))
    per = "" if rows == "day" else ", by month"
    fig.update_layout(title=f"Mean price by hour{per} — {title}", template="plotly_white", height=420,
                      margin={"l": 90, "r": 20, "t": 50, "b": 40})
    fig.update_xaxes(title_text=f"Hour of day ({tz_label})", dtick=2)
    fig.update_yaxes(autorange="reversed", type="category")  # one row per day, no in-between ticks
    return fig
