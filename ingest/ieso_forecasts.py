"""IESO's Variable Generation Forecast Summary (``VGForecastSummary``, hourly): its wind and solar forecast, kept
as issued in ``operator_forecasts`` (report ``vgforecast``).

The body gives the forecast's ``<ForecastTimeStamp>`` (the issue time), then per ``<OrganizationData>`` (type
MARKET PARTICIPANT: transmission-connected; EMBEDDED: distribution-connected), ``<FuelData>`` (Wind, Solar) and
``<ResourceData>`` (a zone, or OntarioTotal) the MW output of each ``<ForecastHour>`` (1..24) of each
``<ForecastDate>``. Variables: ``wind`` and ``solar`` for market participants, ``embedded_wind`` and
``embedded_solar`` for embedded generation; locations: the zone as published, OntarioTotal as ``ONTARIO``.

Times: hours are hour ending in Eastern Standard Time all year, as in every IESO report
(:mod:`ingest.ieso_common`), and the forecast time stamp is on the same clock: the sample of 2025-02-28
stamps its forecast 08:34:08 and starts it with hour ending 10 (09:00-10:00 EST), the first whole hour after
the stamp. The issue time is stored as a UTC instant (stamp + 5 h).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from engine.files import IngestError, RawFile
from ingest.base import ParseResult
from ingest.ieso_common import ONTARIO, UTC_OFFSET_HOURS, check_date, interval_starts, parse_number, table
from ingest.ieso_xml import _body, _required_text, _text, _unique, _whole, read_document

REPORT = "vgforecast"
TABLE = "operator_forecasts"
_ORGANISATIONS = {"MARKET PARTICIPANT": "", "EMBEDDED": "embedded_"}
_FUELS = {"WIND": "wind", "SOLAR": "solar"}
_TOTAL_ZONE = "ONTARIOTOTAL"


def parse_vg_forecast_summary(raw: RawFile, root: Any = None) -> ParseResult:
    """The hourly wind and solar forecast of one VGForecastSummary document, by zone and organisation type."""
    root = read_document(raw) if root is None else root
    src = raw.name
    body = _body(src, root)
    issued = _issued_at(src, body)
    variables, locations, days, hours, values = [], [], [], [], []
    seen: dict[tuple, int] = {}
    for org in body.iterfind("{*}OrganizationData"):
        kind = _required_text(src, org, "OrganizationType")
        if kind.upper() not in _ORGANISATIONS:
            raise IngestError(src, org.sourceline, f"<OrganizationType> {kind!r} is neither "
                                                   f"{' nor '.join(_ORGANISATIONS)}")
        for fuel_data in org.iterfind("{*}FuelData"):
            fuel = _required_text(src, fuel_data, "FuelType")
            if fuel.upper() not in _FUELS:
                raise IngestError(src, fuel_data.sourceline, f"<FuelType> {fuel!r} is neither Wind nor Solar")
            variable = _ORGANISATIONS[kind.upper()] + _FUELS[fuel.upper()]
            for resource in fuel_data.iterfind("{*}ResourceData"):
                zone = _required_text(src, resource, "ZoneName")
                location = ONTARIO if zone.upper() == _TOTAL_ZONE else zone.upper()
                for forecast in resource.iterfind("{*}EnergyForecast"):
                    day_text = _required_text(src, forecast, "ForecastDate")
                    day = check_date(src, day_text, forecast.sourceline, "<ForecastDate>")
                    for interval in forecast.iterfind("{*}ForecastInterval"):
                        hour = _whole(src, interval, "ForecastHour", 24)
                        _unique(src, seen, (variable, location, day_text, hour), interval.sourceline,
                                "forecast hour")
                        variables.append(variable)
                        locations.append(location)
                        days.append(day)
                        hours.append(hour)
                        values.append(parse_number(src, _text(interval, "MWOutput"), interval.sourceline,
                                                   f"{kind} {fuel} {zone} hour {hour} MWOutput"))
    if not values:
        raise IngestError(src, None, "VGForecastSummary holds no forecast hours")
    frame = table(TABLE, src, {
        "location": locations, "variable": variables, "report": REPORT, "issued_at": None,
        "interval_minutes": 60,
        "interval_start": interval_starts(np.array(days, dtype="datetime64[ns]"), np.array(hours, dtype="int64")),
        "value": np.array(values, dtype="float64"),
    })
    frame["issued_at"] = issued  # one instant: the forecast's time stamp
    return ParseResult(src, {TABLE: frame}, rows_read=len(values))


def _issued_at(src: str, body: Any) -> pd.Timestamp:
    """``<ForecastTimeStamp>`` (``YYYY-MM-DDTHH:MM:SS``, EST) as a UTC instant."""
    el = body.find("{*}ForecastTimeStamp")
    text = (el.text or "").strip() if el is not None else ""
    if not text:
        raise IngestError(src, None, "no <ForecastTimeStamp> in the report body")
    try:
        stamp = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise IngestError(src, el.sourceline, f"<ForecastTimeStamp> {text!r} is not YYYY-MM-DDTHH:MM:SS") from None
    check_date(src, text[:10], el.sourceline, "<ForecastTimeStamp>")
    return pd.Timestamp(stamp + timedelta(hours=UTC_OFFSET_HOURS), tz="UTC")
