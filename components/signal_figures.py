"""Figures, number formats and numeric inputs of the signals page: the traded price with the backtest's trades
marked, the equity curve with its drawdown underneath, the strategies side by side, a parameter heatmap and the
walk-forward's out-of-sample equity (plain dicts in Plotly's figure schema, drawn from the frames and arrays they
are handed), and a labelled number input with its validation message.

Times arrive as wall-clock instants (tz-naive) of the zone shown and travel as milliseconds since the epoch on a
date axis: a year of 5-minute bars as ISO text would cost more to encode than the backtest costs to run."""
from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import html

from components.figures import legend_below, plain_figure
from components.price_axis import PriceAxis, axis_for, price_heights, price_trace_values, price_yaxis

#: A line is drawn through at most this many points; a longer series through each bucket's lowest and highest
#: point (spikes stay visible). Trade markers are always exact.
MAX_LINE_POINTS = 4000
LONG_COLOUR, SHORT_COLOUR = "#2ca02c", "#d62728"
PRICE_COLOUR, EQUITY_COLOUR, DRAWDOWN_COLOUR = "#1f77b4", "#1f77b4", "#d62728"
#: Red (worse) through pale yellow to green (better), as plotly.js takes it (it knows no "RdYlGn" by name).
SCORE_SCALE = [[0.0, "#d73027"], [0.25, "#fc8d59"], [0.5, "#ffffbf"], [0.75, "#91cf60"], [1.0, "#1a9850"]]
STRATEGY_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf")

#: How the page names each of engine.signals.base.METRICS.
METRIC_LABELS = {"pnl": "P&L", "total_return": "Total return", "sharpe": "Sharpe (annualised)",
                 "sortino": "Sortino (annualised)", "max_drawdown": "Max drawdown", "win_rate": "Win rate",
                 "profit_factor": "Profit factor", "exposure": "Exposure", "trades": "Trades"}


def epoch_ms(times) -> np.ndarray:
    """Wall-clock times (tz-naive) as milliseconds since the epoch, which a date axis draws as that wall clock."""
    return pd.DatetimeIndex(times).as_unit("ms").asi8.astype(np.float64)


def metric_text(kind: str, value: object, currency: str = "") -> str:
    """One metric as a table prints it, by its kind (engine.signals.base.METRIC_KINDS): money with its currency,
    shares in %, counts whole, ratios to 2 places; a dash for a metric that has no value (no trades, no losing
    trade...)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if kind == "money":
        return f"{value:,.2f} {currency}".strip()
    if kind == "share":
        return f"{value * 100:,.2f} %"
    if kind == "count":
        return f"{int(value):,}"
    return f"{value:,.2f}"


def thinned(x: np.ndarray, y: np.ndarray, max_points: int = MAX_LINE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``x``, ``y`` as drawn: all of them when there are few, else each bucket's lowest and highest point in time
    order (the first and last point kept), so a line of a year of 5-minute bars keeps every spike."""
    n = len(y)
    if n <= max_points:
        return x, y
    buckets = (max_points - 2) // 2  # two points each, and the first and last
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    size = int(np.diff(edges).max())
    # pad each bucket to the same length (with its own first value) and reduce them all at once
    index = np.minimum(edges[:-1, None] + np.arange(size)[None, :], edges[1:, None] - 1)
    values = np.where(np.isnan(y[index]), np.nanmean(y) if np.isfinite(y).any() else 0.0, y[index])
    lo, hi = index[np.arange(buckets), values.argmin(axis=1)], index[np.arange(buckets), values.argmax(axis=1)]
    keep = np.unique(np.concatenate([[0, n - 1], lo, hi]))
    return x[keep], y[keep]


def _date_axis(title: str, **more) -> dict:
    return {"type": "date", "title": {"text": title}, **more}


def _trade_markers(trades: pd.DataFrame, currency: str, axis: PriceAxis | None) -> list[dict]:
    """Entries (triangles pointing the way of the trade) and exits (crosses), long green, short red, at their
    prices' heights on ``axis`` (None: linear); hover gives the prices themselves."""
    data = []
    for direction, colour, symbol in (("long", LONG_COLOUR, "triangle-up"), ("short", SHORT_COLOUR, "triangle-down")):
        part = trades.loc[trades["direction"] == direction]
        if part.empty:
            continue
        entry = part["entry_price"].to_numpy(float)
        data.append({"type": "scattergl", "x": epoch_ms(part["entry_time"]), "y": price_heights(entry, axis),
                     "mode": "markers", "name": f"{direction.capitalize()} entry", "legendgroup": direction,
                     "marker": {"color": colour, "symbol": symbol, "size": 9, "line": {"width": 0.5, "color": "#222"}},
                     "customdata": np.column_stack([entry, part["size_mw"].to_numpy(float)]),
                     "hovertemplate": f"{direction} entry %{{customdata[0]:,.2f}} {currency}/MWh<br>"
                                      "%{customdata[1]:,.2f} MW<extra></extra>"})
        closed = part.loc[part["exit_time"].notna()]
        if closed.empty:
            continue
        exit_price = closed["exit_price"].to_numpy(float)
        data.append({"type": "scattergl", "x": epoch_ms(closed["exit_time"]), "y": price_heights(exit_price, axis),
                     "mode": "markers", "name": f"{direction.capitalize()} exit", "legendgroup": direction,
                     "marker": {"color": colour, "symbol": "x", "size": 8},
                     "customdata": np.column_stack([exit_price, closed["pnl"].to_numpy(float)]),
                     "hovertemplate": f"{direction} exit %{{customdata[0]:,.2f}} {currency}/MWh<br>trade P&L "
                                      f"%{{customdata[1]:,.2f}} {currency}<extra></extra>"})
    return data


def price_trades_figure(times, price: np.ndarray, trades: pd.DataFrame, *, title: str, tz_label: str,
                        currency: str, price_name: str = "Price", scale: str | None = "linear") -> dict:
    """The traded series (a price, or the spread's value per unit for spread trading) with each trade's entry
    and exit at its execution price, on the price axis ``scale`` names (components.price_axis). ``trades``:
    entry_time, exit_time (NaT while open), direction ("long" or "short"), size_mw, entry_price, exit_price,
    pnl; times wall clock like ``times``."""
    x, y = thinned(epoch_ms(times), np.asarray(price, dtype=float))
    axis = axis_for(y, scale)
    data = [{"type": "scattergl", "x": x, **price_trace_values(y, axis, f"{{price}} {currency}/MWh<extra></extra>"),
             "mode": "lines", "name": price_name, "line": {"color": PRICE_COLOUR, "width": 1.1}}]
    data += _trade_markers(trades, currency, axis)
    return plain_figure(
        data, title={"text": title}, height=420, margin={"l": 60, "r": 20, "t": 50, "b": 40},
        hovermode="closest", legend=legend_below(-0.24),
        xaxis=_date_axis(f"Bar start ({tz_label})"), yaxis=price_yaxis(axis, currency, y))


def equity_figure(times, equity: np.ndarray, drawdown: np.ndarray, *, title: str, tz_label: str, currency: str,
                  init_cash: float) -> dict:
    """Equity (top) and its drawdown below the running peak (bottom, in %), on one shared time axis; the initial
    capital is the dashed line."""
    ms = epoch_ms(times)
    ex, ey = thinned(ms, np.asarray(equity, dtype=float))
    dx, dy = thinned(ms, np.asarray(drawdown, dtype=float) * 100)
    data = [
        {"type": "scattergl", "x": ex, "y": ey, "mode": "lines", "name": "Equity", "xaxis": "x", "yaxis": "y",
         "line": {"color": EQUITY_COLOUR, "width": 1.4},
         "hovertemplate": f"equity %{{y:,.2f}} {currency}<extra></extra>"},
        {"type": "scattergl", "x": dx, "y": dy, "mode": "lines", "name": "Drawdown", "xaxis": "x2", "yaxis": "y2",
         "fill": "tozeroy", "line": {"color": DRAWDOWN_COLOUR, "width": 1}, "fillcolor": "rgba(214, 39, 40, 0.25)",
         "hovertemplate": "drawdown %{y:.2f} %<extra></extra>"},
    ]
    start = [float(ms[0]), float(ms[-1])] if len(ms) else []
    return plain_figure(
        data, title={"text": title}, height=460, margin={"l": 70, "r": 20, "t": 50, "b": 40},
        hovermode="x", showlegend=False,
        xaxis={"type": "date", "domain": [0, 1], "anchor": "y", "showticklabels": False, "matches": "x2"},
        xaxis2=_date_axis(f"Bar start ({tz_label})", domain=[0, 1], anchor="y2"),
        yaxis={"domain": [0.36, 1], "title": {"text": f"Equity ({currency})"}},
        yaxis2={"domain": [0, 0.28], "title": {"text": "Drawdown (%)"}, "rangemode": "tozero"},
        shapes=[{"type": "line", "xref": "x", "yref": "y", "x0": start[0], "x1": start[1], "y0": init_cash,
                 "y1": init_cash, "line": {"color": "#7f7f7f", "width": 1, "dash": "dash"}}] if start else [])


def comparison_figure(compared: pd.DataFrame, labels: Mapping[str, str] | None = None) -> dict:
    """The strategies side by side at their defaults: total return (left) and annualised Sharpe (right).
    ``compared``: one row per strategy (index: its name), columns the metrics."""
    names = [(labels or {}).get(name, name) for name in compared.index]
    # the names broken into short lines, level under their bars (turned 30 degrees, the longest ran under the next)
    ticks = {"tickvals": names, "ticktext": ["<br>".join(textwrap.wrap(n, 16)) for n in names], "tickangle": 0}
    colours = [STRATEGY_COLOURS[i % len(STRATEGY_COLOURS)] for i in range(len(names))]
    total = compared["total_return"].to_numpy(float) * 100
    sharpe = compared["sharpe"].to_numpy(float)
    data = [{"type": "bar", "x": names, "y": total, "marker": {"color": colours}, "name": "Total return",
             "xaxis": "x", "yaxis": "y", "hovertemplate": "%{x}: %{y:.2f} %<extra></extra>"},
            {"type": "bar", "x": names, "y": sharpe, "marker": {"color": colours}, "name": "Sharpe",
             "xaxis": "x2", "yaxis": "y2", "hovertemplate": "%{x}: Sharpe %{y:.2f}<extra></extra>"}]
    return plain_figure(
        data, title={"text": "The strategies at their defaults"}, height=360, showlegend=False,
        margin={"l": 60, "r": 20, "t": 70, "b": 60},
        xaxis={"domain": [0, 0.46], "anchor": "y", **ticks}, xaxis2={"domain": [0.54, 1], "anchor": "y2", **ticks},
        yaxis={"title": {"text": "Total return (%)"}, "anchor": "x"},
        yaxis2={"title": {"text": "Sharpe (annualised)"}, "anchor": "x2"},
        annotations=[{"text": "Total return", "xref": "paper", "yref": "paper", "x": 0.23, "y": 1.02,
                      "xanchor": "center", "yanchor": "bottom", "showarrow": False},
                     {"text": "Sharpe", "xref": "paper", "yref": "paper", "x": 0.77, "y": 1.02, "xanchor": "center",
                      "yanchor": "bottom", "showarrow": False}])


def parameter_heatmap_figure(grid: pd.DataFrame, *, x_name: str, y_name: str, metric: str, kind: str,
                             currency: str = "", chosen: tuple[float, float] | None = None, title: str = "") -> dict:
    """``metric`` (of ``kind``: metric_text) over two parameters: ``grid`` rows are ``y_name``'s values, columns
    ``x_name``'s (the others at their defaults). Hover names both values and the metric; ``chosen`` (x, y) is
    ringed."""
    z = grid.to_numpy(dtype=float)
    xs, ys = [float(v) for v in grid.columns], [float(v) for v in grid.index]
    text = [[metric_text(kind, v, currency) for v in row] for row in z]
    finite = z[np.isfinite(z)]
    zmid = 0.0 if finite.size and finite.min() < 0 < finite.max() and metric != "trades" else None
    data = [{"type": "heatmap", "z": np.where(np.isfinite(z), z, np.nan), "x": xs, "y": ys, "colorscale": SCORE_SCALE,
             "zmid": zmid, "text": text, "colorbar": {"title": {"text": METRIC_LABELS.get(metric, metric)}},
             "hovertemplate": f"{x_name} %{{x}}<br>{y_name} %{{y}}<br>{METRIC_LABELS.get(metric, metric)} "
                              "%{text}<extra></extra>"}]
    if chosen is not None:
        data.append({"type": "scatter", "x": [chosen[0]], "y": [chosen[1]], "mode": "markers", "name": "chosen",
                     "marker": {"symbol": "circle-open", "size": 16, "color": "#111", "line": {"width": 2}},
                     "hovertemplate": "the parameters chosen<extra></extra>", "showlegend": False})
    return plain_figure(
        data, title={"text": title or f"{METRIC_LABELS.get(metric, metric)} by {x_name} and {y_name}"}, height=420,
        margin={"l": 70, "r": 20, "t": 50, "b": 50},
        xaxis={"title": {"text": x_name}, "type": "category" if len(xs) <= 25 else "linear"},
        yaxis={"title": {"text": y_name}, "type": "category" if len(ys) <= 25 else "linear"})


def out_of_sample_figure(times, equity: np.ndarray, *, boundaries: Sequence = (), tz_label: str, currency: str,
                         title: str = "Walk-forward: out-of-sample equity") -> dict:
    """The stitched out-of-sample equity of a walk-forward, each test window's start a dotted line."""
    x, y = thinned(epoch_ms(times), np.asarray(equity, dtype=float))
    starts = epoch_ms(boundaries) if len(boundaries) else np.array([])
    return plain_figure(
        [{"type": "scattergl", "x": x, "y": y, "mode": "lines", "name": "Out-of-sample equity",
          "line": {"color": EQUITY_COLOUR, "width": 1.4},
          "hovertemplate": f"%{{y:,.2f}} {currency}<extra></extra>"}],
        title={"text": title}, height=340, margin={"l": 70, "r": 20, "t": 50, "b": 40}, showlegend=False,
        xaxis=_date_axis(f"Bar start ({tz_label})"), yaxis={"title": {"text": f"Equity ({currency})"}},
        shapes=[{"type": "line", "xref": "x", "yref": "paper", "x0": float(s), "x1": float(s), "y0": 0, "y1": 1,
                 "line": {"color": "#7f7f7f", "width": 1, "dash": "dot"}} for s in starts])


#: A strategy parameter's input is {"type": PARAM_INPUT, "name": the parameter}; its message's type adds "-msg".
PARAM_INPUT = "sg-param"


def parameter_inputs(defaults: Mapping[str, float]) -> list:
    """One number input per strategy parameter, at its default."""
    return [number_input({"type": PARAM_INPUT, "name": name}, name.replace("_", " "), float(value),
                         hint=f"default {value:g}") for name, value in defaults.items()]


def number_input(ident: dict | str, label: str, value: float | None, *, hint: str | None = None,
                 width: str = "7.5rem") -> html.Div:
    """A labelled number input whose validation message (a FormFeedback with ``ident`` typed "…-msg") shows when
    the page marks it invalid. ``ident`` a pattern id (``{"type": ..., "name": ...}``) or a plain id."""
    if isinstance(ident, dict):
        message_id = {**ident, "type": f"{ident['type']}-msg"}
    else:
        message_id = f"{ident}-msg"
    return html.Div([
        dbc.Label(label, className="small text-muted mb-1"),
        dbc.Input(id=ident, type="number", value=value, step="any", debounce=400, size="sm", style={"width": width}),
        dbc.FormFeedback(id=message_id, type="invalid", style={"maxWidth": "16rem"}),
    ], className="me-2 mb-1", title=hint)
