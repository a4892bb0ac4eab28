"""The operators' own forecasts as they were issued (table ``operator_forecasts``): which runs exist, and one run
as it stood -- the forecast to beat, and an input known at the time.

Reports: ``predispatch`` (AEMO PredispatchIS: price, demand; 30 min to the end of the next trading day),
``p5min`` (AEMO 5-minute pre-dispatch: price, demand; the next hour), ``demand_hh`` (AEMO operational demand
forecast: demand_poe10/50/90; 8 days), ``vgforecast`` (IESO: wind, solar, embedded_wind, embedded_solar;
about 2 days). Where several reports carry a variable and none is named, the one with the longest horizon
answers (:data:`REPORTS_BY_HORIZON`): a 5-minute run issued a minute ago does not hide the day-ahead one.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from engine.store.client import Store

#: Reports from the longest horizon to the shortest.
REPORTS_BY_HORIZON = ("demand_hh", "predispatch", "vgforecast", "p5min")
#: How pages name each report's forecast.
REPORT_LABELS = {"predispatch": "AEMO pre-dispatch", "p5min": "AEMO 5-minute pre-dispatch",
                 "demand_hh": "AEMO operational demand forecast", "vgforecast": "IESO VG forecast"}
#: How far back a run can be issued and still reach a day: the longest report's horizon (demand_hh, 8 days).
LOOKBACK = pd.Timedelta(days=8)
_SERIES = "market = {market:String} AND location = {location:String} AND variable = {variable:String}"


def operator_runs(store: Store, market: str, location: str, variable: str, report: str | None = None) -> pd.DataFrame:
    """The runs stored for one series, oldest first: ``issued_at`` (UTC), ``report``, ``intervals`` and the
    span they forecast (``first_start``, ``last_start``)."""
    params = {"market": market, "location": location, "variable": variable, "report": report or ""}
    return store.query_df(
        "SELECT issued_at, report, count() AS intervals, min(interval_start) AS first_start, "  # noqa: S608 -- fixed SQL; values are bound
        "max(interval_start) AS last_start FROM operator_forecasts FINAL "
        f"WHERE {_SERIES} AND ({{report:String}} = '' OR report = {{report:String}}) "
        "GROUP BY issued_at, report ORDER BY issued_at, report", params)


def operator_forecast(store: Store, market: str, location: str, variable: str,
                      issued_at_or_before: datetime | pd.Timestamp | None = None,
                      report: str | None = None) -> pd.DataFrame:
    """The latest run of one series issued at or before ``issued_at_or_before`` (UTC; None: the latest run),
    as it was issued: ``interval_start`` (UTC), ``value``, ``issued_at``, sorted by interval. ``report``
    picks the report; without it, the longest-horizon report holding the series. No run: no rows."""
    if report is None:
        report = longest_report(store, market, location, variable) or ""
    cutoff = pd.Timestamp("2262-01-01", tz="UTC") if issued_at_or_before is None else _utc(issued_at_or_before)
    params = {"market": market, "location": location, "variable": variable, "report": report,
              "cutoff": cutoff.to_pydatetime()}
    where = f"{_SERIES} AND report = {{report:String}}"
    return store.query_df(
        "SELECT interval_start, value, issued_at FROM operator_forecasts FINAL "  # noqa: S608 -- fixed SQL; values are bound
        f"WHERE {where} AND issued_at = (SELECT max(issued_at) FROM operator_forecasts WHERE {where} "
        "AND issued_at <= {cutoff:DateTime64(3, 'UTC')}) ORDER BY interval_start", params)


def longest_report(store: Store, market: str, location: str, variable: str) -> str | None:
    """The report with the longest horizon holding the series (:data:`REPORTS_BY_HORIZON`); None if none does."""
    held = set(store.query_df(
        f"SELECT DISTINCT report FROM operator_forecasts WHERE {_SERIES}",  # noqa: S608 -- fixed SQL; values are bound
        {"market": market, "location": location, "variable": variable})["report"])
    return next((r for r in REPORTS_BY_HORIZON if r in held), min(held) if held else None)


def hourly_runs_known_at(store: Store, market: str, location: str, variable: str, report: str,
                         instants: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """For each instant (UTC), the newest run of one report issued at or before it, as hourly means: ``known_at``
    (the instant), ``issued_at``, ``target_start`` (the hour's UTC start) and ``value``, on the hours the run
    covers in full (two half hours, twelve 5-minute intervals). An instant with no run issued by then: no rows."""
    if not len(instants):
        return pd.DataFrame(columns=["known_at", "issued_at", "target_start", "value"])
    known = pd.DatetimeIndex([_utc(t) for t in instants]).as_unit("ns").unique().sort_values()
    params = {"market": market, "location": location, "variable": variable, "report": report,
              "from": (known[0] - LOOKBACK).to_pydatetime(), "to": known[-1].to_pydatetime()}
    where = f"{_SERIES} AND report = {{report:String}}"
    issued = pd.DatetimeIndex(store.query_df(
        f"SELECT DISTINCT issued_at FROM operator_forecasts WHERE {where} "  # noqa: S608 -- fixed SQL; values are bound
        "AND issued_at > {from:DateTime64(3, 'UTC')} AND issued_at <= {to:DateTime64(3, 'UTC')} ORDER BY issued_at",
        params)["issued_at"]).as_unit("ns")
    # the newest run issued at or before each instant
    at = issued.searchsorted(known, side="right") - 1
    picked = pd.DataFrame({"known_at": known[at >= 0], "issued_at": issued[at[at >= 0]]})
    if picked.empty:
        return pd.DataFrame(columns=["known_at", "issued_at", "target_start", "value"])
    hourly = store.query_df(
        "SELECT issued_at, toDateTime64(toStartOfHour(interval_start), 3, 'UTC') AS target_start, "  # noqa: S608 -- fixed SQL; values are bound
        "avg(value) AS value FROM operator_forecasts FINAL "
        f"WHERE {where} AND issued_at IN {{issued:Array(DateTime64(3, 'UTC'))}} "
        "GROUP BY issued_at, target_start HAVING sum(interval_minutes) = 60 ORDER BY issued_at, target_start",
        {**params, "issued": [t.to_pydatetime() for t in picked["issued_at"].unique()]})
    hourly["issued_at"] = hourly["issued_at"].dt.as_unit("ns")
    return picked.merge(hourly, on="issued_at")[["known_at", "issued_at", "target_start", "value"]]


def _utc(when: datetime | pd.Timestamp) -> pd.Timestamp:
    """An instant as a UTC Timestamp; a naive one is taken as UTC, as the store's times are."""
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
