"""Figures of the forecasts page: the fan of one run (median, shaded bands, actual prices, the operator's own
forecast, the issue time), and the accuracy panel (rolling MAE and rMAE, calibration, error by hour of day).
Plain dicts in Plotly's figure schema, drawn from the frames they are handed (times as wall-clock, tz-naive)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from components.figures import legend_below, plain_figure
from components.price_axis import axis_for, price_heights, price_trace_values, price_yaxis

#: The fan's bands, widest first (drawn under the narrower ones): central width, lower and upper quantile column.
FAN_BANDS = ((0.98, "q01", "q99"), (0.90, "q05", "q95"), (0.80, "q10", "q90"), (0.50, "q25", "q75"))
_BAND_OPACITY = {0.98: 0.12, 0.90: 0.18, 0.80: 0.26, 0.50: 0.38}
_FAN_RGB = "31, 119, 180"
OPERATOR_COLOUR = "#ff7f0e"
#: "operator" is the operator's own forecast (e.g. AEMO pre-dispatch), drawn in the fan's operator colour.
MODEL_COLOURS = {"transformer": "#1f77b4", "ensemble": "#9467bd", "lear": "#2ca02c", "naive": "#8c564b",
                 "operator": OPERATOR_COLOUR}
_OTHER_COLOURS = ("#17becf", "#bcbd22", "#e377c2", "#d62728")
MEDIAN_COLOUR = "#1f77b4"
ACTUAL_COLOUR = "#111111"
BASELINE_COLOUR = "#7f7f7f"


def _iso(times: pd.Series | pd.DatetimeIndex) -> list[str]:
    return list(np.datetime_as_string(pd.DatetimeIndex(times).to_numpy(dtype="datetime64[s]"), unit="s"))


def model_colour(model: str, order: int = 0) -> str:
    return MODEL_COLOURS.get(model, _OTHER_COLOURS[order % len(_OTHER_COLOURS)])


def fan_figure(fan: pd.DataFrame, actual: pd.DataFrame, *, issued_at: pd.Timestamp, title: str, tz_label: str,
               currency: str, operator: pd.DataFrame | None = None,
               operator_label: str = "Operator's forecast", scale: str | None = "linear") -> dict:
    """The forecast fan against hour start in the zone shown, on the price axis ``scale`` names
    (components.price_axis: one axis for every price drawn, so a band, the actual and the operator's forecast stay
    comparable; hover gives the prices themselves).

    ``fan``: ``time``, ``q50`` (the median, drawn as the line), ``forecast`` (the point, drawn dotted where it
    differs from the median) and the columns of FAN_BANDS. ``actual``: ``time``, ``price``. ``operator``:
    ``time``, ``value``. ``issued_at``: when the run was issued (wall clock), marked by a vertical line."""
    has_operator = operator is not None and not operator.empty
    columns = ("q50", "forecast", *(c for _, lo, hi in FAN_BANDS for c in (lo, hi)))
    drawn = [fan[c].to_numpy(dtype=float) for c in columns] + [actual["price"].to_numpy(dtype=float)]
    drawn += [operator["value"].to_numpy(dtype=float)] if has_operator else []
    shown = np.concatenate(drawn)
    axis = axis_for(shown, scale)

    x = _iso(fan["time"])
    data: list[dict] = []
    for width, lower, upper in FAN_BANDS:
        name = f"{round(width * 100)} % band ({lower}–{upper})"
        data.append({"type": "scatter", "x": x, "y": price_heights(fan[lower].to_numpy(), axis), "mode": "lines",
                     "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip", "legendgroup": name, "name": name})
        data.append({"type": "scatter", "x": x, "y": price_heights(fan[upper].to_numpy(), axis), "mode": "lines",
                     "line": {"width": 0}, "fill": "tonexty",
                     "fillcolor": f"rgba({_FAN_RGB}, {_BAND_OPACITY[width]})", "name": name, "legendgroup": name,
                     "hoverinfo": "skip"})
    data.append({"type": "scatter", "x": x, "y": price_heights(fan["q50"].to_numpy(), axis), "mode": "lines",
                 "name": "Median forecast", "line": {"color": MEDIAN_COLOUR, "width": 2.4},
                 "customdata": np.column_stack([fan[c].to_numpy() for c in ("q50", "q05", "q95")]),
                 "hovertemplate": "median %{customdata[0]:.2f}<br>90 % band %{customdata[1]:.2f} – "
                                  "%{customdata[2]:.2f}<extra></extra>"})
    if not np.allclose(fan["forecast"].to_numpy(), fan["q50"].to_numpy(), rtol=1e-6, atol=1e-6):
        data.append({"type": "scatter", "x": x,
                     **price_trace_values(fan["forecast"].to_numpy(), axis, "point {price}<extra></extra>"),
                     "mode": "lines", "name": "Point forecast",
                     "line": {"color": MEDIAN_COLOUR, "width": 1.2, "dash": "dot"}})
    if has_operator:
        data.append({"type": "scatter", "x": _iso(operator["time"]),
                     **price_trace_values(operator["value"].to_numpy(), axis, "operator {price}<extra></extra>"),
                     "mode": "lines", "name": operator_label,
                     "line": {"color": OPERATOR_COLOUR, "width": 1.5, "dash": "dash", "shape": "hv"}})
    if not actual.empty:
        data.append({"type": "scatter", "x": _iso(actual["time"]),
                     **price_trace_values(actual["price"].to_numpy(), axis, "actual {price}<extra></extra>"),
                     "mode": "lines+markers", "name": "Actual price", "marker": {"size": 4},
                     "line": {"color": ACTUAL_COLOUR, "width": 1.6}})
    issued = _iso(pd.DatetimeIndex([issued_at]))[0]
    return plain_figure(
        data, title={"text": title}, height=460, margin={"l": 60, "r": 20, "t": 50, "b": 40},
        hovermode="x unified", legend=legend_below(-0.22),
        xaxis={"title": {"text": f"Hour start ({tz_label})"}}, yaxis=price_yaxis(axis, currency, shown),
        shapes=[{"type": "line", "xref": "x", "yref": "paper", "x0": issued, "x1": issued, "y0": 0, "y1": 1,
                 "line": {"color": "#d62728", "width": 1.5, "dash": "dot"}}],
        annotations=[{"x": issued, "xref": "x", "y": 1, "yref": "paper", "yanchor": "bottom", "showarrow": False,
                      "text": f"issued {issued.replace('T', ' ')[:16]}", "font": {"color": "#d62728", "size": 11}}])


def _name(model: str, labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(model, model)


def rolling_figure(rolling: pd.DataFrame, baseline: pd.DataFrame, *, window: int, currency: str,
                   tz_label: str, labels: Mapping[str, str] | None = None, baseline_model: str | None = None) -> dict:
    """Rolling MAE (top) and rMAE (bottom) per model over ``window`` days, with the weekly naive forecast as the
    baseline (its MAE dashed; its rMAE is 1 by definition). ``rolling``: model, day (wall clock), mae, rmae;
    ``baseline``: day, mae. ``labels`` names a model otherwise than by its name (the operator's forecast).
    ``baseline_model``, a model that is the baseline itself, is drawn once, as the baseline: its own line would
    lie on the dashed one and hide it."""
    data = []
    for i, (model, part) in enumerate(rolling.groupby("model", sort=True)):
        if model == baseline_model and not baseline.empty:
            continue
        colour, name = model_colour(model, i), _name(model, labels)
        x = _iso(part["day"])
        data.append({"type": "scatter", "x": x, "y": part["mae"].to_numpy(), "mode": "lines", "name": name,
                     "legendgroup": model, "line": {"color": colour}, "yaxis": "y",
                     "hovertemplate": f"{name} MAE %{{y:.2f}} {currency}/MWh<extra></extra>"})
        data.append({"type": "scatter", "x": x, "y": part["rmae"].to_numpy(), "mode": "lines", "name": name,
                     "legendgroup": model, "showlegend": False, "line": {"color": colour}, "yaxis": "y2",
                     "xaxis": "x2", "hovertemplate": f"{name} rMAE %{{y:.3f}}<extra></extra>"})
    if not baseline.empty:
        x = _iso(baseline["day"])
        name = "weekly naive (price 168 h earlier)"
        if baseline_model is not None:
            name = f"{_name(baseline_model, labels)}: the baseline, price 168 h earlier"
        data.append({"type": "scatter", "x": x, "y": baseline["mae"].to_numpy(), "mode": "lines",
                     "name": name, "legendgroup": "naive-baseline",
                     "line": {"color": BASELINE_COLOUR, "dash": "dash"}, "yaxis": "y",
                     "hovertemplate": f"weekly naive MAE %{{y:.2f}} {currency}/MWh<extra></extra>"})
        data.append({"type": "scatter", "x": [x[0], x[-1]], "y": [1.0, 1.0], "mode": "lines",
                     "legendgroup": "naive-baseline", "showlegend": False, "hoverinfo": "skip",
                     "line": {"color": BASELINE_COLOUR, "dash": "dash"}, "yaxis": "y2", "xaxis": "x2"})
    return plain_figure(
        data, title={"text": f"Day-ahead accuracy, rolling {window} days"}, height=490,
        # the legend below the x axis's title (at -0.14 it ran over it)
        margin={"l": 60, "r": 20, "t": 50, "b": 80}, legend=legend_below(-0.16),
        xaxis={"domain": [0, 1], "anchor": "y", "showticklabels": False, "matches": "x2"},
        xaxis2={"domain": [0, 1], "anchor": "y2", "title": {"text": f"Market day ({tz_label})"}},
        yaxis={"domain": [0.54, 1], "title": {"text": f"MAE ({currency}/MWh)"}, "rangemode": "tozero"},
        yaxis2={"domain": [0, 0.44], "title": {"text": "rMAE (vs weekly naive)"}, "rangemode": "tozero"})


def calibration_figure(coverage: pd.DataFrame, labels: Mapping[str, str] | None = None) -> dict:
    """Observed against nominal coverage of the central bands, per model; on the diagonal a band means what it
    says. ``coverage``: model, nominal, observed (shares); ``labels`` as rolling_figure's."""
    data = [{"type": "scatter", "x": [0, 100], "y": [0, 100], "mode": "lines", "name": "ideal",
             "line": {"color": BASELINE_COLOUR, "dash": "dash"}, "hoverinfo": "skip"}]
    for i, (model, part) in enumerate(coverage.groupby("model", sort=True)):
        part = part.sort_values("nominal")
        data.append({"type": "scatter", "x": (part["nominal"] * 100).to_numpy(),
                     "y": (part["observed"] * 100).to_numpy(), "mode": "lines+markers", "name": _name(model, labels),
                     "line": {"color": model_colour(model, i)},
                     "hovertemplate": f"{_name(model, labels)}: %{{x:.0f}} % band covered %{{y:.1f}} %<extra></extra>"})
    return plain_figure(
        data, title={"text": "Calibration of the bands"}, height=380, margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend=legend_below(-0.2),
        xaxis={"title": {"text": "Nominal coverage (%)"}, "range": [0, 100]},
        yaxis={"title": {"text": "Observed coverage (%)"}, "range": [0, 100]})


def hour_error_figure(by_hour: pd.DataFrame, *, currency: str, tz_label: str,
                      labels: Mapping[str, str] | None = None) -> dict:
    """MAE by hour of day per model (grouped bars). ``by_hour``: model, hour, mae; ``labels`` as rolling_figure's."""
    data = [{"type": "bar", "x": part["hour"].to_numpy(), "y": part["mae"].to_numpy(), "name": _name(model, labels),
             "marker": {"color": model_colour(model, i)},
             "hovertemplate": f"{_name(model, labels)} %{{x}}:00 MAE %{{y:.2f}}<extra></extra>"}
            for i, (model, part) in enumerate(by_hour.groupby("model", sort=True))]
    return plain_figure(
        data, title={"text": "Error by hour of day"}, height=380, barmode="group",
        margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend=legend_below(-0.2),
        xaxis={"title": {"text": f"Hour of day ({tz_label})"}, "dtick": 2},
        yaxis={"title": {"text": f"MAE ({currency}/MWh)"}})
