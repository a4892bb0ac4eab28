"""The System page drawn: latency percentiles per route and per callback, cache hit rate per data class, job
runs and failures per job, data age per market and dataset against its expected delay, and the store's and
the cache's state. Builders take the frames ``app.system.SystemFigures`` holds (columns as named there) and know
nothing of where they came from. Latencies arrive in seconds and are drawn in milliseconds."""
from __future__ import annotations

import math

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from components.figures import empty_figure, legend_below, overlaid_axis, plain_figure
from components.tables import Column, data_table

PERCENTILES = ("p50", "p95", "p99")
PERCENTILE_COLOURS = {"p50": "#2c7fb8", "p95": "#f0a30a", "p99": "#d7301f"}
MEAN_COLOUR = "#252525"
JOB_OUTCOMES = {"succeeded": "#31a354", "failed": "#d7301f", "cancelled": "#969696", "running": "#2c7fb8"}
_ROW_PX = 22


def _height(rows: int, per_row: int = 1) -> int:
    return max(240, 110 + rows * _ROW_PX * per_row)


def callback_label(output: str) -> str:
    """A callback's output key as a reader knows it: its first output, and how many more it sets (Dash keys a
    callback of several outputs as ``..a.figure...b.children..``)."""
    if output.startswith("..") and output.endswith(".."):
        parts = output[2:-2].split("...")
        return parts[0] + (f" (+{len(parts) - 1})" if len(parts) > 1 else "")
    return output


def _ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1e3:,.0f}"


def _labels(latency: pd.DataFrame, by: str) -> list[str]:
    return [callback_label(v) if by == "callback" else v for v in latency[by]]


def latency_figure(latency: pd.DataFrame, by: str, title: str) -> dict:
    """p50, p95 and p99 side by side per ``by`` (route or callback), and the mean as a mark over them; the slowest
    on top (by p95, or by the mean where too few answers give no p95). A percentile of too few answers is left
    out (``app.system.MIN_ANSWERS``), so a callback answered once shows its mean alone."""
    if latency.empty:
        return empty_figure(f"No {by} answered yet")
    ordered = latency.assign(_slowest=latency["p95"].fillna(latency["mean"])).sort_values("_slowest")
    labels = _labels(ordered, by)
    data = [{"type": "bar", "orientation": "h", "name": p, "y": labels,
             "x": [None if math.isnan(v) else round(v * 1e3, 1) for v in ordered[p]],
             "marker": {"color": PERCENTILE_COLOURS[p]},
             "hovertemplate": f"%{{y}}<br>{p}: %{{x:,.1f}} ms<extra></extra>"} for p in PERCENTILES]
    data.append({"type": "scatter", "mode": "markers", "name": "mean", "y": labels,
                 "x": (ordered["mean"] * 1e3).round(1).tolist(), "customdata": ordered["count"].tolist(),
                 "marker": {"color": MEAN_COLOUR, "symbol": "line-ns-open", "size": 14, "line": {"width": 2}},
                 "hovertemplate": "%{y}<br>mean: %{x:,.1f} ms of %{customdata:,} answers<extra></extra>"})
    return plain_figure(data, barmode="group", height=_height(len(ordered), 2), title={"text": title},
                        margin={"l": 10, "r": 20, "t": 40, "b": 40}, xaxis={"title": {"text": "ms"}},
                        yaxis={"automargin": True, "type": "category"}, legend=legend_below(-0.12))


def percentile_note(min_answers: dict[str, int]) -> str:
    """Why a percentile may read "–": from how many answers each is given (percentile column → answers)."""
    given = ", ".join(f"{p} from {n:,}" for p, n in min_answers.items())
    return (f"Percentiles are read from the latency histogram's buckets, as Prometheus' histogram_quantile reads "
            f"them, and only from enough answers ({given}; \u2013 below that, where one would be the slowest answer, "
            "which the buckets bound but do not give). The mean is exact at any count.")


def latency_table(latency: pd.DataFrame, by: str, table_id: str) -> dbc.Table:
    """Answers, 5xx answers, the mean and the percentiles in ms ("–" where too few answers give a percentile); a
    long route breaks inside its cell, not the headers."""
    ordered = latency.sort_values(by)
    rows = [[html.Span(label, className="text-break"), f"{row['count']:,}", f"{row['errors']:,}",
             *(_ms(row[p]) for p in ("mean", *PERCENTILES))]
            for label, row in zip(_labels(ordered, by), ordered.to_dict("records"), strict=True)]
    columns = [Column(by.capitalize()), Column("Answers", True), Column("5xx", True), Column("Mean ms", True),
               *(Column(f"{p} ms", True) for p in PERCENTILES)]
    return data_table(columns, rows, table_id=table_id, striped=True)


def ingested_table(ingested: pd.DataFrame, table_id: str) -> dbc.Table | html.P:
    """Rows written by connector and table (scheduled loads and backfills, every run so far)."""
    if ingested.empty:
        return html.P("No connector run has written rows yet.", className="text-muted")
    rows = [[row["connector"], row["table"], f"{row['rows']:,}"] for row in ingested.to_dict("records")]
    return data_table([Column("Connector"), Column("Table"), Column("Rows written", True)], rows, table_id=table_id,
                      striped=True)


def cache_figure(cache: pd.DataFrame) -> dict:
    """Hit rate per data class (hits among users' hits and misses), the counts behind it and the answers warming
    computed ahead on hover, and the cache's errors on a second axis when there were any."""
    if cache.empty:
        return empty_figure("No cached answer asked for yet")
    rate = (cache["hit_rate"] * 100).round(1)
    text = ["–" if math.isnan(r) else f"{r:.0f} %" for r in rate]
    hover = [f"hits {h:,.0f} · misses {m:,.0f} · errors {e:,.0f} · warmed ahead {w:,.0f}"
             for h, m, e, w in zip(cache["hit"], cache["miss"], cache["error"], cache["warmed"], strict=True)]
    classes = cache["data_class"].tolist()
    data = [{"type": "bar", "name": "hit rate", "x": classes, "y": rate.fillna(0).tolist(), "text": text,
             "textposition": "outside", "customdata": hover, "marker": {"color": "#2c7fb8"},
             "hovertemplate": "%{x}: %{y:.1f} %<br>%{customdata}<extra></extra>"}]
    failing = bool((cache["error"] > 0).any())
    if failing:
        data.append({"type": "bar", "name": "errors", "x": classes, "y": cache["error"].tolist(), "yaxis": "y2",
                     "marker": {"color": "#d7301f"}, "opacity": 0.6})
    return plain_figure(data, height=300, title={"text": "Cache hit rate by data class"}, showlegend=failing,
                        margin={"l": 60, "r": 60, "t": 40, "b": 40}, xaxis={"type": "category"},
                        yaxis={"title": {"text": "hit rate (%)"}, "range": [0, 115]},
                        yaxis2=overlaid_axis("errors", rangemode="tozero", visible=failing))


def jobs_figure(jobs: pd.DataFrame) -> dict:
    """Runs per job, stacked by outcome: a red segment is a failed run."""
    if jobs.empty:
        return empty_figure("No job has run yet")
    ordered = jobs.sort_values("job", ascending=False)
    data = [{"type": "bar", "orientation": "h", "name": outcome, "y": ordered["job"].tolist(),
             "x": ordered[outcome].tolist(), "marker": {"color": colour}}
            for outcome, colour in JOB_OUTCOMES.items() if ordered[outcome].sum() > 0]
    return plain_figure(data, barmode="stack", height=_height(len(ordered)), title={"text": "Job runs by outcome"},
                        margin={"l": 10, "r": 20, "t": 40, "b": 40}, xaxis={"title": {"text": "runs"}},
                        yaxis={"automargin": True, "type": "category"}, legend=legend_below(-0.15))


def _hours(seconds: pd.Series) -> list[float | None]:
    return [None if math.isnan(s) else round(s / 3600, 3) for s in seconds]


#: Bar colours of the data-age chart: on time, later than expected, demo data (no connector updates it).
AGE_COLOURS = {"on time": "#31a354", "late": "#d7301f", "demo": "#969696"}


def age_figure(age: pd.DataFrame) -> dict:
    """Age of the newest stored interval per market and dataset (a bar, red when later than expected, grey when
    it is demo data, which is never late: nothing updates it) beside the delay after which it counts as late (a
    mark). Hours on a log axis: a 5-minute series and a daily file share it."""
    shown = age.dropna(subset=["age_seconds"])
    if shown.empty:
        return empty_figure("Nothing stored yet")
    shown = shown.sort_values(["market", "dataset"], ascending=False)
    labels = [f"{m} · {d}" for m, d in zip(shown["market"], shown["dataset"], strict=True)]
    state = shown["state"].tolist()  # app.system.age_state's
    # an interval ending in the future (age below zero) has no place on a log axis: drawn as one minute
    age_hours = [max(h, 1 / 60) for h in _hours(shown["age_seconds"])]
    data = [{"type": "bar", "orientation": "h", "name": "data age", "y": labels, "x": age_hours,
             "marker": {"color": [AGE_COLOURS[s] for s in state]}, "customdata": state,
             "hovertemplate": "%{y}: %{x:,.2f} h old (%{customdata})<extra></extra>"},
            {"type": "scatter", "mode": "markers", "name": "late after", "y": labels,
             "x": _hours(shown["expected_seconds"]),
             "marker": {"symbol": "line-ns-open", "size": 16, "line": {"width": 3}, "color": "#252525"},
             "hovertemplate": "%{y}: late after %{x:,.2f} h<extra></extra>"}]
    title = "Data age (red: later than expected" + ("; grey: demo data, never updated)" if "demo" in state else ")")
    return plain_figure(data, height=_height(len(shown)), title={"text": title},
                        margin={"l": 10, "r": 20, "t": 40, "b": 40},
                        xaxis={"type": "log", "title": {"text": "hours since the newest stored interval ended"}},
                        yaxis={"automargin": True, "type": "category"}, legend=legend_below(-0.15))


def status_line(*, store_up: bool, store_error: str, cache_error: str, cache_error_at: pd.Timestamp | None,
                scope: str, taken_at: pd.Timestamp, window_start: pd.Timestamp | None) -> list:
    """Store up or down, cache available or not (with its last failure and when), and what the in-process
    figures cover: since ``window_start``, or since start while there is none."""
    since = (f"over the last {(taken_at - window_start).total_seconds() / 60:.0f} minutes (since "
             f"{window_start:%H:%M:%S} UTC)" if window_start is not None else "since start")
    parts: list = [dbc.Badge("store up" if store_up else "store down", color="success" if store_up else "danger",
                             id="sys-store-state", className="me-2 fs-6 fw-normal"),
                   dbc.Badge("cache unavailable" if cache_error else "cache ok",
                             color="danger" if cache_error else "success", id="sys-cache-state",
                             className="me-2 fs-6 fw-normal"),
                   html.Span(f"Latency and cache figures of {scope} {since}; taken "
                             f"{taken_at:%Y-%m-%d %H:%M:%S} UTC.", className="small text-muted")]
    if not store_up:
        parts.append(html.Div(f"The store did not answer: {store_error}", className="small text-danger mt-1"))
    if cache_error:
        when = f" at {cache_error_at:%H:%M:%S} UTC" if cache_error_at is not None else ""
        parts.append(html.Div(f"Cache unavailable (last failure{when}): {cache_error}. Answers are computed "
                              "without it.", className="small text-danger mt-1"))
    return parts
