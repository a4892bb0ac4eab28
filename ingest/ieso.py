"""IESO (Ontario) connector: fetch public reports by name and date, and parse them into the store's tables.

Supported reports (``REPORTS``): PriceHOEPPredispOR, DemandZonal, GenOutputCapabilityMonth (CSV);
GenOutputCapability, GenOutputbyFuelHourly, IntertieScheduleFlow, PredispConstTotals, RealtimeConstTotals,
Adequacy2 (XML); and from Market Renewal (May 2025) DAHourlyEnergyLMP, RealtimeEnergyLMP (CSV),
DAHourlyOntarioZonalPrice, RealtimeOntarioZonalPrice (XML); the wind and solar forecast VGForecastSummary (XML,
:mod:`ingest.ieso_forecasts`). Times: hour ending 1..24 in Eastern Standard
Time all year (see :mod:`ingest.ieso_common`), stored as UTC interval starts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.files import IngestError, RawFile, decode_text
from ingest import ieso_csv, ieso_forecasts, ieso_xml
from ingest.base import Connector, ParseResult, check_range, date_spans, local_files
from ingest.http_fetch import http_get, open_session
from ingest.ieso_common import IESO

log = logging.getLogger(__name__)

PUBLIC_REPORTS_URL = "https://reports-public.ieso.ca/public"


@dataclass(frozen=True)
class Report:
    extension: str
    period: str  # how the operator splits the report into files: year, month, day or hour


REPORTS: dict[str, Report] = {
    "PriceHOEPPredispOR": Report("csv", "year"),
    "DemandZonal": Report("csv", "year"),
    "GenOutputCapabilityMonth": Report("csv", "month"),
    "GenOutputCapability": Report("xml", "day"),
    "GenOutputbyFuelHourly": Report("xml", "year"),
    "IntertieScheduleFlow": Report("xml", "day"),
    "PredispConstTotals": Report("xml", "day"),
    "RealtimeConstTotals": Report("xml", "hour"),
    "Adequacy2": Report("xml", "day"),
    "DAHourlyEnergyLMP": Report("csv", "day"),
    "RealtimeEnergyLMP": Report("csv", "hour"),
    "DAHourlyOntarioZonalPrice": Report("xml", "day"),
    "RealtimeOntarioZonalPrice": Report("xml", "hour"),
    "VGForecastSummary": Report("xml", "day"),  # rewritten each hour with the latest forecast
}
_XML_PARSERS = {**ieso_xml.XML_PARSERS, "VGForecastSummary": ieso_forecasts.parse_vg_forecast_summary}

_CSV_PARSERS: dict[str, Callable[[RawFile, str], ParseResult]] = {
    "PriceHOEPPredispOR": ieso_csv.parse_price_hoep,
    "DemandZonal": ieso_csv.parse_demand_zonal,
    "GenOutputCapabilityMonth": ieso_csv.parse_gen_output_month,
    "DAHourlyEnergyLMP": ieso_csv.parse_energy_lmp,
    "RealtimeEnergyLMP": ieso_csv.parse_energy_lmp,
}


def report_named_in(file_name: str) -> str | None:
    """The report a file name mentions (the longest match, so GenOutputCapabilityMonth is not taken for
    GenOutputCapability), or None."""
    lower = file_name.lower()
    found = [name for name in REPORTS if re.search(rf"(^|[_/]){name.lower()}(_|\.|$)", lower)]
    return max(found, key=len) if found else None


def _csv_report_kind(raw: RawFile, text: str) -> str:
    for line in text[:16384].splitlines():
        if line.startswith("\\") or line.upper().startswith("CREATED AT"):
            continue
        columns = {" ".join(c.lower().split()) for c in line.split(",")}
        if "hoep" in columns:
            return "PriceHOEPPredispOR"
        if "zone total" in columns:
            return "DemandZonal"
        if {"generator", "measurement"} <= columns:
            return "GenOutputCapabilityMonth"
        if "pricing location" in columns:
            return "RealtimeEnergyLMP" if "interval" in columns else "DAHourlyEnergyLMP"
        break
    raise IngestError(
        raw.name, None, f"not a supported IESO CSV report (supported: {', '.join(_CSV_PARSERS)})"
    )


class IesoConnector(Connector):
    """Ontario's IESO public reports."""

    label = "IESO Ontario"
    market = IESO.market
    datasets = tuple(REPORTS)
    earliest = date(2002, 5, 1)  # the market opened on 1 May 2002 (first HOEP)
    # Market Renewal's reports start with the renewed market.
    earliest_by_dataset = MappingProxyType({name: date(2025, 5, 1) for name in (
        "DAHourlyEnergyLMP", "RealtimeEnergyLMP", "DAHourlyOntarioZonalPrice", "RealtimeOntarioZonalPrice")})
    base_url = PUBLIC_REPORTS_URL

    def parse(self, raw: RawFile) -> ParseResult:
        """Rows of one IESO report file, by store table; the report type comes from the content (CSV header
        or XML docID) and must agree with the report the file name mentions, if any."""
        body = raw.data.lstrip(b"\xef\xbb\xbf \t\r\n")
        if body.startswith(b"<"):
            root = ieso_xml.read_document(raw)
            kind = ieso_xml.doc_id(root)
            parser = _XML_PARSERS.get(kind)
            if parser is None:
                raise IngestError(
                    raw.name,
                    None,
                    f"unsupported IESO XML report {kind!r} (supported: {', '.join(_XML_PARSERS)})",
                )
            self._check_name(raw, kind)
            result = parser(raw, root)
        else:
            text = decode_text(raw)
            kind = _csv_report_kind(raw, text)
            self._check_name(raw, kind)
            result = _CSV_PARSERS[kind](raw, text)
        log.debug(
            "%s: %s report, %d rows read, %d parsed", raw.name, kind, result.rows_read, result.rows_parsed
        )
        return result

    @staticmethod
    def _check_name(raw: RawFile, kind: str) -> None:
        named = report_named_in(Path(raw.name).name)
        if named is not None and named != kind:
            raise IngestError(
                raw.name, None, f"the file name says {named} but the content is a {kind} report"
            )

    # --- fetch ---------------------------------------------------------------------------------------------

    def fetch_spans(self, start: date, end: date, kind: str | None = None) -> list[tuple[date, date]]:
        """Yearly reports a year at a time (IESO rewrites the year's file as it goes), the others by month."""
        return date_spans(start, end, "year" if REPORTS[self.dataset(kind)].period == "year" else "month")

    def fetch(self, start: date, end: date, *, source: str | Path | None = None, kind: str | None = None,
              session: Any = None) -> list[RawFile]:
        """The ``kind`` report files covering ``start``..``end`` (inclusive).

        ``source`` may be a local file (returned as is), a local folder (its files of that report whose
        name's date stamp falls in the range, or that carry none), or a base URL to use instead of IESO's
        public reports site. A file the operator has not published (HTTP 404) is logged and skipped.
        """
        kind = self.dataset(kind)
        check_range(start, end)
        if source is not None and not str(source).startswith(("http://", "https://")):
            return self._fetch_local(Path(source), start, end, kind)
        base = str(source).rstrip("/") if source is not None else self.base_url
        http = open_session(session)
        files = []
        for url in report_urls(kind, start, end, base):
            response = http_get(http, url, missing_ok=True)
            if response is not None:
                files.append(RawFile(name=url.rsplit("/", 1)[-1], data=response.content))
        return files

    def _fetch_local(self, path: Path, start: date, end: date, kind: str) -> list[RawFile]:
        def wanted(name: str) -> bool:  # a report of the kind, dated within the range (or undated)
            if report_named_in(name) != kind:
                return False
            span = _stamp_span(name)
            return span is None or (span[0] <= end and span[1] >= start)

        chosen = local_files(path, wanted)
        if not chosen:
            log.warning("%s: no %s files for %s..%s", path, kind, start, end)
        return chosen


def report_urls(kind: str, start: date, end: date, base: str = PUBLIC_REPORTS_URL) -> list[str]:
    """The operator's file URLs of report ``kind`` covering ``start``..``end``:
    ``<base>/<kind>/PUB_<kind>_<YYYY | YYYYMM | YYYYMMDD | YYYYMMDDHH>.<csv|xml>`` (hours 01..24)."""
    report = REPORTS[kind]
    unit = "day" if report.period == "hour" else report.period
    stamps = [f"{first:{_STAMP_FORMAT[unit]}}" for first, _ in date_spans(start, end, unit)]
    if report.period == "hour":
        stamps = [f"{day}{h:02d}" for day in stamps for h in range(1, 25)]
    return [f"{base}/{kind}/PUB_{kind}_{s}.{report.extension}" for s in stamps]


_STAMP_FORMAT = {"year": "%Y", "month": "%Y%m", "day": "%Y%m%d"}
_STAMP = re.compile(r"_(\d{4})(\d{2})?(\d{2})?(\d{2})?(?:_v\d+)?\.(?:csv|xml)$", re.IGNORECASE)


def _stamp_span(name: str) -> tuple[date, date] | None:
    """The days a file's date stamp covers (a year, month, day or hour), or None without a stamp."""
    m = _STAMP.search(name)
    if not m:
        return None
    try:
        year = int(m.group(1))
        if m.group(2) is None:
            return date(year, 1, 1), date(year, 12, 31)
        month = int(m.group(2))
        if m.group(3) is None:
            first = date(year, month, 1)
            return first, (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        day = date(year, month, int(m.group(3)))
        return day, day
    except ValueError:
        return None
