"""Figure builders: plain functions from engine results (DataFrames) to Plotly figures.

The figures are plain dicts in Plotly's figure schema, not ``go.Figure`` objects: building and validating
the objects (above all copying the template into each one) cost more than every query of a long range."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import plotly.colors
import plotly.io as pio

from components.price_axis import axis_for, price_trace_values, price_yaxis

RESOLUTION_LABEL = {"raw": "each interval", "hour": "hourly means", "day": "daily means"}
DURATION_AXIS = {"interval": "Share of intervals with a higher price (%)",
                 "hour": "Share of hours with a higher hourly mean price (%)",
                 "day": "Share of days with a higher daily mean price (%)"}


def export_config(filename: str) -> dict:
    """Graph config: the toolbar's camera button saves a PNG named after what is shown."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


@functools.cache
def _template() -> dict:
    return pio.templates["plotly_white"].to_plotly_json()


@functools.cache
def named_scale(name: str) -> list:
    """A named colour scale as its list of stops, the way plotly.py names it ("RdBu_r" reversed). A plain figure
    goes to plotly.js as written, and plotly.js knows neither the ``_r`` names nor most of plotly.py's: it drew
    its default scale in their place."""
    return plotly.colors.get_colorscale(name)


def plain_figure(data: list[dict], **layout) -> dict:
    """A figure as a plain dict (see the module's docstring), on the plotly_white template."""
    return {"data": data, "layout": {"template": _template(), **layout}}


_figure = plain_figure


def legend_below(y: float) -> dict:
    """A horizontal legend whose first row's top sits ``y`` (a share of the plot's height, negative) below the
    plot: its further rows go down, into a margin Plotly widens to hold them. (Anchored by its bottom, as Plotly
    anchors a legend that low, a legend that wrapped at a narrow width grew up over the x axis's title.)"""
    return {"orientation": "h", "yanchor": "top", "y": y}


def overlaid_axis(title: str, **settings) -> dict:
    """A second value axis on the right of the plot, over the first, with ticks of its own. (Plotly 4 syncs an
    overlaying axis's ticks to the first axis's grid by default, so a demand axis read 5,800, 6,572, 7,345 MW;
    a reader wants round values, and the axis draws no grid of its own to clash with the first's.)"""
    return {"title": {"text": title}, "overlaying": "y", "side": "right", "tickmode": "auto", "showgrid": False,
            **settings}


def _iso_times(times: pd.Series) -> np.ndarray:
    """Wall-clock times (tz-naive) as ISO 8601 strings, to the second."""
    return np.datetime_as_string(times.to_numpy(dtype="datetime64[s]"), unit="s")


def empty_figure(message: str) -> dict:
    return _figure([], height=320, xaxis={"visible": False}, yaxis={"visible": False},
                   annotations=[{"text": message, "showarrow": False, "font": {"size": 14}, "xref": "paper",
                                 "yref": "paper", "x": 0.5, "y": 0.5}])


def price_demand_figure(series: pd.DataFrame, *, title: str, tz_label: str, currency: str,
                        resolution: str, scale: str | None = "linear") -> dict:
    """Price (left axis) and demand (right axis) against interval start in the display time zone; ``scale``
    "compressed" draws the prices on a PriceAxis (when they have spikes to compress)."""
    # Times go out as ISO strings made in one vectorised step; handed over as Timestamps, the JSON encoder
    # would convert them one by one (most of a long range's answer time).
    x = _iso_times(series["interval_start"])
    axis = axis_for(series["price"], scale)
    data = [{"type": "scattergl", "x": x, **price_trace_values(series["price"], axis),
             "name": f"Price ({currency}/MWh)", "mode": "lines",
             "line": {"width": 1.2, "color": "#1f77b4"}, "yaxis": "y"}]
    if series["demand_mw"].notna().any():
        data.append({"type": "scattergl", "x": x, "y": series["demand_mw"], "name": "Demand (MW)", "mode": "lines",
                     "line": {"width": 1, "color": "#ff7f0e"}, "opacity": 0.7, "yaxis": "y2"})
    return _figure(
        data, title={"text": f"{title} — {RESOLUTION_LABEL.get(resolution, resolution)}"}, height=420,
        margin={"l": 60, "r": 60, "t": 50, "b": 40}, hovermode="x unified", legend=legend_below(-0.22),
        xaxis={"title": {"text": f"Interval start ({tz_label})"}, "domain": [0, 0.94]},
        yaxis=price_yaxis(axis, currency, series["price"]),
        yaxis2=overlaid_axis("MW", anchor="x"))


def duration_figure(curve: pd.DataFrame, *, title: str, currency: str, of: str = "interval",
                    scale: str | None = "linear") -> dict:
    """Prices from highest to lowest against the share of intervals (hours, days) priced higher; ``scale`` as
    price_demand_figure's."""
    axis = axis_for(curve["price"], scale)
    return _figure(
        [{"type": "scatter", "x": curve["exceedance_pct"],
          **price_trace_values(curve["price"], axis, f"%{{x:.1f}} %: {{price}} {currency}/MWh<extra></extra>"),
          "mode": "lines", "line": {"color": "#2ca02c"}, "name": "Price"}],
        title={"text": f"Price duration curve — {title}"}, height=360, margin={"l": 60, "r": 20, "t": 50, "b": 40},
        xaxis={"title": {"text": DURATION_AXIS.get(of, DURATION_AXIS["interval"])}},
        yaxis=price_yaxis(axis, currency, curve["price"]))


def heatmap_figure(grid: pd.DataFrame, *, title: str, tz_label: str, currency: str, rows: str = "day") -> dict:
    """Mean price by hour of day (x) and day or month (y). The colour range is clipped at the 2nd/98th percentile so
    one spike does not wash out the daily pattern; hover shows the true mean."""
    values = grid.to_numpy(dtype=float)
    finite = values[~pd.isna(values)]
    lo, hi = (0.0, 1.0)
    if finite.size:
        lo, hi = float(pd.Series(finite).quantile(0.02)), float(pd.Series(finite).quantile(0.98))
    per = "" if rows == "day" else ", by month"
    return _figure(
        [{"type": "heatmap", "z": values, "x": list(grid.columns), "y": [str(d) for d in grid.index], "zmin": lo,
          "zmax": hi, "colorscale": named_scale("RdYlBu_r"),
          "colorbar": {"title": {"text": f"{currency}/MWh<br>(2nd–98th<br>percentile)"}},
          "hovertemplate": "%{y} %{x}:00<br>%{z:.2f} " + currency + "/MWh<extra></extra>"}],
        title={"text": f"Mean price by hour{per} — {title}"}, height=420, margin={"l": 90, "r": 20, "t": 50, "b": 40},
        xaxis={"title": {"text": f"Hour of day ({tz_label})"}, "dtick": 2},
        # one row per day, no in-between ticks
        yaxis={"autorange": "reversed", "type": "category"})
