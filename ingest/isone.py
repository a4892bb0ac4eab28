"""ISO New England: hourly LMPs with their components for every pricing location, day-ahead
(``WW_DALMP_ISO_<YYYYMMDD>.csv``) and real-time final (``lmp_rt_final_<YYYYMMDD>.csv``). The preliminary
real-time report has another column layout and is refused with the missing columns named.

ISO-NE's CSV reports type each row by its first field: ``"C"`` comments (the first is the report title),
``"H"`` headers (column names, then column types), ``"D"`` data and one ``"T"`` trailer that counts the
data rows -- a file whose trailer is missing or disagrees was cut short and is refused.
Data columns (looked up by name): Date, Hour Ending, Location ID, Location Name, Location Type,
Locational Marginal Price, Energy Component, Congestion Component, Marginal Loss Component.

Time is Eastern prevailing time, hour ending: hour ending ``h`` starts at ``h-1`` o'clock. On the fall-back
day the repeated 01:00 hour appears twice, ``02`` (EDT) then ``02X`` (EST); on the spring-forward day the
02:00 hour does not exist. A node is the Location Name (unique, and what traders quote, e.g.
``.H.INTERNAL_HUB``); the LMP reports give no zone, so ``zone`` is blank.
"""
from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.files import IngestError, RawFile
from engine.markets import market
from ingest.base import PLAUSIBLE_YEARS, Connector, ParseResult, check_range, date_spans, local_files
from ingest.csv_lines import CsvLines, Rows, require
from ingest.http_fetch import http_get, open_session
from ingest.nodal import nodal_tables

log = logging.getLogger(__name__)

ISONE = market("ISONE")
_SITE = "https://www.iso-ne.com"
# kind -> (daily CSV, the report's page: ISO-NE serves the CSV only with that page's cookie and Referer)
KINDS = {
    "da": (_SITE + "/static-transform/csv/histRpts/da-lmp/WW_DALMP_ISO_{day:%Y%m%d}.csv",
           _SITE + "/isoexpress/web/reports/pricing/-/tree/lmps-da-hourly"),
    "rt_final": (_SITE + "/static-transform/csv/histRpts/rt-lmp/lmp_rt_final_{day:%Y%m%d}.csv",
                 _SITE + "/isoexpress/web/reports/pricing/-/tree/lmps-rt-hourly-final"),
}
SUPPORTED = "day-ahead hourly LMP (WW_DALMP_ISO_<date>.csv), real-time final hourly LMP (lmp_rt_final_<date>.csv)"

_COLUMNS = ("Date", "Hour Ending", "Location ID", "Location Name", "Location Type",
            "Locational Marginal Price", "Energy Component", "Congestion Component", "Marginal Loss Component")
_PRICES = list(_COLUMNS[5:])
_MARKERS = b"CHDT"
_HOUR = re.compile(r"^(\d{1,2})(X?)$")


def _row_types(lines: CsvLines) -> np.ndarray:
    """The one-letter row type of every line (``"C"``, ``"H"``, ``"D"``, ``"T"``; ``""`` for blank lines)."""
    head = lines.first_bytes(4)
    quoted = head[:, 0] == ord('"')
    letter = np.where(quoted, head[:, 1], head[:, 0])
    after = np.where(quoted[:, None], head[:, 2:4], head[:, 1:3])
    # A row type is one letter, optionally quoted, followed by a comma or the end of the line.
    closes = np.where(quoted, after[:, 0] == ord('"'), True)
    follow = np.where(quoted, after[:, 1], after[:, 0])
    ok = closes & ((follow == ord(",")) | (follow == 0)) & np.isin(letter, np.frombuffer(_MARKERS, np.uint8))
    bad = np.flatnonzero(~ok & ~lines.blank)
    if len(bad):
        raise IngestError(lines.source, int(bad[0]) + 1,
                          f"row type must be \"C\", \"H\", \"D\" or \"T\": {lines.text(int(bad[0]))[:40]!r}")
    types = np.where(lines.blank, "", letter.astype(np.uint8).view("S1").astype(str))
    return types


def _market_run(lines: CsvLines, types: np.ndarray, name: str) -> str:
    comments = np.flatnonzero(types == "C")
    first_comment = lines.fields(int(comments[0])) if len(comments) else []
    title = first_comment[1].lower() if len(first_comment) > 1 else ""
    base = name.rsplit("/", 1)[-1].lower()
    if "day-ahead" in title or (not title and base.startswith("ww_dalmp")):
        return "DA"
    if "real-time" in title or (not title and base.startswith("lmp_rt")):
        return "RT"
    raise IngestError(name, int(comments[0]) + 1 if len(comments) else None,
                      f"not an ISO-NE hourly LMP report (title {title!r}); supported: {SUPPORTED}")


def _layout(lines: CsvLines, types: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Column names and the data lines, after checking the row types come in the report's order."""
    source = lines.source
    headers = np.flatnonzero(types == "H")
    data = np.flatnonzero(types == "D")
    trailers = np.flatnonzero(types == "T")
    if not len(headers):
        raise IngestError(source, None, 'no "H" header line')
    names = [n.strip() for n in lines.fields(int(headers[0]))[1:]]
    if len(data) and data[0] < headers[0]:
        raise IngestError(source, int(data[0]) + 1, 'data line before the "H" header line')
    late_header = headers[headers > (data[0] if len(data) else headers[-1])]
    if len(late_header):
        raise IngestError(source, int(late_header[0]) + 1, "a second header after data lines (several "
                                                           "sections in one file are not supported)")
    last = int(np.flatnonzero(~lines.blank)[-1])
    if not len(trailers):
        raise IngestError(source, last + 1, 'no "T" trailer line: the file is cut short')
    if len(trailers) > 1 or trailers[0] != last:
        extra = trailers[1] if len(trailers) > 1 else last
        raise IngestError(source, int(extra) + 1, 'lines after the "T" trailer line')
    trailer = lines.fields(last)
    m = re.fullmatch(r"\s*(\d+)\s+lines?\s*", trailer[1]) if len(trailer) > 1 else None
    if not m:
        raise IngestError(source, last + 1, f"trailer does not count the data lines: {trailer!r}")
    if int(m.group(1)) != len(data):
        raise IngestError(source, last + 1,
                          f"trailer counts {m.group(1)} data lines but the file has {len(data)}: cut short?")
    if not len(data):
        raise IngestError(source, None, "no data rows")
    return names, data


def _interval_starts(rows: Rows) -> pd.Series:
    """UTC starts from Date + Hour Ending, computed once per distinct (date, hour) pair."""
    pair = rows.text("Date") + "|" + rows.text("Hour Ending").str.upper()
    codes, uniques = pd.factorize(pair)
    parts = pd.Series(uniques, dtype=object).str.split("|", n=1, expand=True)
    days = pd.to_datetime(parts[0], format="%m/%d/%Y", errors="coerce")
    odd = days.isna() | (days.dt.year < PLAUSIBLE_YEARS[0]) | (days.dt.year > PLAUSIBLE_YEARS[1])
    rows.fail(odd.to_numpy()[codes], f"not a date MM/DD/YYYY in {PLAUSIBLE_YEARS[0]}..{PLAUSIBLE_YEARS[1]}", "Date")
    hour = parts[1].str.extract(_HOUR)
    ending = pd.to_numeric(hour[0], errors="coerce")
    repeat = (hour[1] == "X").to_numpy()
    rows.fail((ending.isna() | (ending < 1) | (ending > 24)).to_numpy()[codes], "not an hour ending 01..24",
              "Hour Ending")
    rows.fail((repeat & (ending != 2).to_numpy())[codes], "only hour ending 02 repeats (02X)", "Hour Ending")
    wall = pd.DatetimeIndex(days + pd.to_timedelta(ending - 1, unit="h"))
    # 02X is the repeated 01:00 hour in standard time; any other hour is read in daylight time if ambiguous.
    # The hour that does not exist on the spring day is read as the hour before the jump, so a report
    # labelling the short day 01, 03, 04... lands right and one labelling it 01, 02, 03... shows a repeat.
    zoned = wall.tz_localize(ISONE.timezone, ambiguous=~repeat, nonexistent=pd.Timedelta(hours=-1))
    doubled = wall.tz_localize(ISONE.timezone, ambiguous="NaT", nonexistent=pd.Timedelta(hours=-1)).isna()
    rows.fail((repeat & ~doubled)[codes], "hour ending 02X on a day without a repeated hour", "Hour Ending")
    return pd.Series(zoned.tz_convert("UTC")).take(codes).reset_index(drop=True).astype("datetime64[ns, UTC]")


class IsoneConnector(Connector):
    """ISO-NE day-ahead and real-time hourly LMP reports -> ``nodal_lmp`` and ``node_metadata``."""

    label = "ISO New England"
    market = ISONE.market
    datasets = tuple(KINDS)
    earliest = date(2003, 3, 1)  # Standard Market Design (nodal LMPs with components) began on 1 March 2003

    def parse(self, raw: RawFile) -> ParseResult:
        """The LMPs of one daily report; the market run from its title (or, untitled, its file name)."""
        lines = CsvLines(raw)
        types = _row_types(lines)
        run = _market_run(lines, types, raw.name)
        names, data = _layout(lines, types)
        header_line = int(np.flatnonzero(types == "H")[0]) + 1
        require(lines, names, _COLUMNS, "ISO-NE hourly LMP report", line=header_line)
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise IngestError(raw.name, header_line, f"column(s) {dup} appear twice in the header")
        rows = lines.rows(data, ["_type", *names], keep=list(_COLUMNS), floats=_PRICES)
        result = ParseResult(source=raw.name, rows_read=len(rows))

        starts = _interval_starts(rows)
        node = rows.text("Location Name")
        location_id = rows.text("Location ID")
        rows.fail((node == "").to_numpy(), "blank location name", "Location Name")
        pairs = pd.DataFrame({"node": node, "id": location_id})
        first_of_pair = ~pairs.duplicated().to_numpy()
        renamed = np.zeros(len(rows), dtype=bool)
        renamed[first_of_pair] = pairs[first_of_pair].duplicated("node").to_numpy()
        rows.fail(renamed, "location name given to two location ids", "Location Name")
        node_values = node.to_numpy(dtype=object)
        start_values = starts.to_numpy(dtype="datetime64[ns]")
        rows.check_unique({"node": node_values, "t": start_values}, "location and hour", "Hour Ending")

        prices = {"lmp": rows.numbers("Locational Marginal Price"), "energy": rows.numbers("Energy Component"),
                  "congestion": rows.numbers("Congestion Component"),
                  "loss": rows.numbers("Marginal Loss Component")}
        nodes = {"node": node_values, "node_type": rows.text("Location Type").to_numpy(dtype=object), "zone": ""}
        result.tables = nodal_tables(self.market, raw.name, run, starts, 60, prices, nodes)
        return result

    def fetch(self, start: date, end: date, *, source: str | Path | None = None, kind: str | None = None,
              session: Any = None) -> list[RawFile]:
        """One report per day ``start``..``end``: from a local file/folder, or ISO-NE's public report URLs."""
        kind = self.dataset(kind)
        check_range(start, end)
        days = [day for day, _ in date_spans(start, end, "day")]
        if source is not None:
            return _local_files(Path(source), kind, days)
        session = open_session(session)
        pattern, page = KINDS[kind]
        http_get(session, page)  # sets the session cookie the CSV download checks
        files = []
        for day in days:
            url = pattern.format(day=day)
            files.append(RawFile(name=url.rsplit("/", 1)[-1],
                                 data=http_get(session, url, headers={"Referer": page}).content))
            log.info("fetched %s", url)
        return files


def _local_files(path: Path, kind: str, days: list[date]) -> list[RawFile]:
    wanted = {KINDS[kind][0].format(day=d).rsplit("/", 1)[-1].lower() for d in days}
    return local_files(path, lambda name: name.lower() in wanted)
