"""The AEMO NEM connector: which files hold each dataset, where AEMO publishes them, and which reader a file
needs (told from its content)."""
from __future__ import annotations

import functools
import logging
import re
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from engine.files import IngestError, RawFile
from ingest.base import Connector, ParseResult, check_range, concat_frames, date_spans, local_files, local_paths
from ingest.csv_lines import CsvLines
from ingest.http_fetch import download, open_session
from ingest.nem import forecasts, mmsdm, nemweb, price_and_demand
from ingest.nem.clock import NEM
from ingest.nem.rows import Parsed, table_frames

log = logging.getLogger(__name__)

REGIONS = ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")
PRICE_AND_DEMAND = "price_and_demand"
ALL = "all"  # every dataset, replayed from a local folder
SUPPORTED_REPORTS = "; ".join((price_and_demand.DESCRIPTION, mmsdm.DESCRIPTION, forecasts.DESCRIPTION))
_MONTHLY_NAME = re.compile(
    r"^(?:PRICE_AND_DEMAND_(?P<pd_month>\d{6})_[A-Z0-9]+\.csv"
    r"|PUBLIC_DVD_(?P<dvd_table>[A-Z_]+?)_(?P<dvd_month>\d{6})\d{6}\.(?:zip|csv)"
    r"|PUBLIC_ARCHIVE#(?P<arc_table>[A-Z_]+)#FILE\d+#(?P<arc_month>\d{6})\d{6}\.(?:zip|csv))$",
    re.IGNORECASE,
)


class NemConnector(Connector):
    """AEMO's NEM prices, regional demand, interconnector flows and unit output.

    Datasets: ``price_and_demand`` (the aggregated monthly CSV per region), the MMSDM monthly tables
    (:data:`ingest.nem.mmsdm.TABLES`), the NEMweb interval reports ``dispatch_is`` and ``dispatch_scada``
    (:mod:`ingest.nem.nemweb`), AEMO's forecast runs ``predispatch``, ``p5min`` and ``demand_hh``
    (:mod:`ingest.nem.forecasts`), and ``all``, every one of them, from a local folder.
    """

    label = "AEMO NEM"
    market = NEM.market
    datasets = (PRICE_AND_DEMAND, *mmsdm.TABLES, *nemweb.FAMILIES, *forecasts.FAMILIES, ALL)
    earliest = date(1998, 12, 7)  # the aggregated price and demand files start with the NEM's first trading day
    regions = REGIONS

    # -- fetch ---------------------------------------------------------------------------------------------
    def urls(self, start: date, end: date, kind: str = PRICE_AND_DEMAND) -> list[tuple[str, str]]:
        """(file name, URL) of every AEMO file of a monthly ``kind`` for the months from ``start`` to ``end``."""
        kind = self.dataset(kind)
        if kind in nemweb.FAMILIES or kind in forecasts.FAMILIES or kind == ALL:
            raise ValueError(f"{kind} files are found from NEMweb's folder listing or a local folder: use fetch()")
        out = []
        for first, _ in date_spans(start, end, "month"):
            if kind == PRICE_AND_DEMAND:
                out += [(f"PRICE_AND_DEMAND_{first:%Y%m}_{region}.csv",
                         price_and_demand.URL.format(yyyymm=f"{first:%Y%m}", region=region))
                        for region in self.regions]
            else:
                name = mmsdm.file_name(kind, first.year, first.month)
                out.append((name, mmsdm.URL.format(yyyy=first.year, mm=f"{first:%m}", file=quote(name, safe=""))))
        return out

    def fetch(self, start: date, end: date, *, source: str | Path | None = None, kind: str | None = None,
              session: Any = None, latest: int | None = None) -> list[RawFile]:
        """The AEMO files of ``kind`` for the months from ``start`` to ``end``.

        For ``dispatch_is`` and ``dispatch_scada``: the interval reports of the 5-minute intervals starting
        on the NEM days ``start`` to ``end``, one RawFile per interval, from NEMweb's Current and Archive
        folders (see :func:`ingest.nem.nemweb.fetch_intervals`; ``latest`` keeps only that many of the newest
        intervals, for a 5-minute job). ``source`` may be the URL of one file, a local file (returned as it
        is) or a folder (its AEMO-named files of that kind and those months, searched recursively and
        sorted; ``kind="all"`` takes every kind); without it the files are downloaded from AEMO's public URLs
        (see :meth:`urls`).
        """
        kind = self.dataset(kind)
        check_range(start, end)
        if isinstance(source, str) and source.startswith(("https://", "http://")):
            return [download(open_session(session), unquote(source.rstrip("/").rsplit("/", 1)[-1]), source)]
        if source is not None:
            return self._replay(source, start, end, kind)
        if kind == ALL:
            raise ValueError("kind 'all' replays a local folder: pass source=...")
        session = open_session(session)
        if kind in nemweb.FAMILIES:
            get = functools.partial(download, session)
            return nemweb.fetch_intervals(get, nemweb.FAMILIES[kind], start, end, latest=latest)
        if kind in forecasts.FAMILIES:
            get = functools.partial(download, session)
            return forecasts.fetch_runs(get, forecasts.FAMILIES[kind], start, end, latest=latest)
        return [download(session, name, url) for name, url in self.urls(start, end, kind)]

    @staticmethod
    def _replay(source: str | Path, start: date, end: date, kind: str) -> list[RawFile]:
        if Path(source).is_file():
            return local_files(source, unquote_names=True)
        months = {f"{first:%Y%m}" for first, _ in date_spans(start, end, "month")}

        def monthly(name: str) -> bool:
            match = _MONTHLY_NAME.match(name)
            if not match:
                return False
            table = match["dvd_table"] or match["arc_table"]
            month = match["pd_month"] or match["dvd_month"] or match["arc_month"]
            return month in months and kind in (ALL, table.upper() if table else PRICE_AND_DEMAND)

        found = local_files(source, monthly, recursive=True, unquote_names=True)
        interval_kinds = set(nemweb.FAMILIES) if kind == ALL else {kind} & set(nemweb.FAMILIES)
        if interval_kinds:
            named = local_paths(source, lambda n: bool(nemweb.interval_report(n) or nemweb.archive_day(n)),
                                recursive=True)
            found += nemweb.local_intervals(named, interval_kinds, start, end)
        run_kinds = set(forecasts.FAMILIES) if kind == ALL else {kind} & set(forecasts.FAMILIES)
        if run_kinds:
            found += forecasts.local_runs(source, run_kinds, start, end)
        if not found:
            raise IngestError(str(source), None, f"no AEMO {kind} files for {start:%Y-%m} to {end:%Y-%m} in this "
                                                 "folder")
        log.info("found %d AEMO files in %s", len(found), source)
        return found

    # -- parse ---------------------------------------------------------------------------------------------
    def parse(self, raw: RawFile) -> ParseResult:
        """Rows of one AEMO file (a CSV, or a zip of CSVs, or a zip of such zips) by store table."""
        members = raw.members()
        if not members or members == [raw] and raw.data[:2] == b"PK":
            raise IngestError(raw.name, None, "zip archive holds no files or is damaged")
        parts = []
        whole: dict[str, list] = {}  # frames a report's parser built whole, by table
        result = ParseResult(source=raw.name)
        for member in nemweb.text_members(members):
            parsed = _parse_member(member)
            parts.append(parsed.rows)
            for table, frame in parsed.frames.items():
                whole.setdefault(table, []).append(frame)
            result.rows_read += parsed.read
            for why, rows in parsed.rejected.items():
                result.reject(rows, why)
        result.tables = table_frames(raw.name, parts)
        for table, frames in whole.items():
            frame = concat_frames(frames) if len(frames) > 1 else frames[0]
            frame["source"] = raw.name
            if frame.duplicated([c for c in frame.columns if c not in ("value", "source")]).any():
                raise IngestError(raw.name, None, f"{table}: two members give the same run, series and interval")
            result.tables[table] = forecasts.in_store_order(frame)
        log.debug("%s: %d rows read, %d left out, %s", raw.name, result.rows_read, result.rows_rejected,
                  {k: len(v) for k, v in result.tables.items()})
        return result


def _parse_member(member: RawFile) -> Parsed:
    """The rows of one text file, by the report its content shows."""
    lines = CsvLines(member)
    content = np.flatnonzero(~lines.blank)
    if not len(content):
        lines.fail(None, "file is empty")
    first = int(content[0])
    head = lines.text(first)
    if mmsdm.is_multi_section(head):
        return mmsdm.parse(lines, SUPPORTED_REPORTS)
    if price_and_demand.is_header(lines.fields(first)):
        return price_and_demand.parse(lines, first)
    lines.fail(first + 1, f"unknown report (first line {head[:60]!r}); supported: {SUPPORTED_REPORTS}")
