"""The operators' own forecasts as they were issued (table ``operator_forecasts``): which runs exist, and one run
as it stood -- the forecast to beat, and an input known at the time.

Reports: ``predispatch`` (AEMO PredispatchIS: price, demand; 30 min to the end of the next trading day),
``p5min`` (AEMO 5-minute pre-dispatch: price, demand; the next hour), ``demand_hh`` (AEMO operational demand
forecast: demand_poe10/50/90; 8 days), ``vgforecast`` (IESO: wind, solar, embedded_wind, embedded_solar;
about 2 days). Where several reports carry a variable and none is named, the one with the longest horizon
answers (:data:`REPORTS_BY_HORIZON`): a 5-minute run issued a minute ago does not hide the day-ahead one.
"""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from engine.store.client import Store

#: Reports from the longest horizon to the shortest.
REPORTS_BY_HORIZON = ("demand_hh", "predispatch", "vgforecast", "p5min")
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
        held = set(store.query_df(
            f"SELECT DISTINCT report FROM operator_forecasts WHERE {_SERIES}",  # noqa: S608 -- fixed SQL; values are bound
            {"market": market, "location": location, "variable": variable})["report"])
        report = next((r for r in REPORTS_BY_HORIZON if r in held), min(held) if held else "")
    cutoff = pd.Timestamp("2262-01-01", tz="UTC") if issued_at_or_before is None else _utc(issued_at_or_before)
    params = {"market": market, "location": location, "variable": variable, "report": report,
              "cutoff": cutoff.to_pydatetime()}
    where = f"{_SERIES} AND report = {{report:String}}"
    return store.query_df(
        "SELECT interval_start, value, issued_at FROM operator_forecasts FINAL "  # noqa: S608 -- fixed SQL; values are bound
        f"WHERE {where} AND issued_at = (SELECT max(issued_at) FROM operator_forecasts WHERE {where} "
        "AND issued_at <= {cutoff:DateTime64(3, 'UTC')}) ORDER BY interval_start", params)


def _utc(when: datetime | pd.Timestamp) -> pd.Timestamp:
    """An instant as a UTC Timestamp; a naive one is taken as UTC, as the store's times are."""
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
