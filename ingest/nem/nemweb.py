"""NEMweb's 5-minute interval reports: DispatchIS (prices, regional demand, interconnector flows of each
dispatch run) and DispatchSCADA (every unit's SCADA output), one multi-section CSV per dispatch interval.

A report is named ``PUBLIC_<REPORT>_<YYYYMMDDHHMM>_<id>.zip`` (the stamp is the interval's END in NEM time;
AEMO re-issues a report under a higher id). The last two days or so are listed in the report's Current
folder; older days are zips of those zips in its Archive folder (``PUBLIC_<REPORT>_<YYYYMMDD>.zip``).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urljoin

from engine.files import IngestError, RawFile

log = logging.getLogger(__name__)

_NEMWEB = "https://nemweb.com.au/Reports"
_FIVE_MINUTES = timedelta(minutes=5)
MAX_ZIP_DEPTH = 2  # an Archive day (zip) of interval zips of one CSV each
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@dataclass(frozen=True)
class Family:
    """One interval report as NEMweb publishes it: its dataset, file name prefix and folders."""

    kind: str
    label: str
    prefix: str
    folder: str  # the report's folder under Current/ and Archive/

    @property
    def current_url(self) -> str:
        return f"{_NEMWEB}/Current/{self.folder}/"

    def archive_url(self, day: date) -> str:
        return f"{_NEMWEB}/Archive/{self.folder}/{self.archive_name(day)}"

    def archive_name(self, day: date) -> str:
        return f"{self.prefix}_{day:%Y%m%d}.zip"


DISPATCH_IS = Family("dispatch_is", "DispatchIS", "PUBLIC_DISPATCHIS", "DispatchIS_Reports")
DISPATCH_SCADA = Family("dispatch_scada", "DispatchSCADA", "PUBLIC_DISPATCHSCADA", "Dispatch_SCADA")
FAMILIES = {f.kind: f for f in (DISPATCH_IS, DISPATCH_SCADA)}
_BY_PREFIX = {f.prefix: f for f in FAMILIES.values()}
_PREFIXES = "|".join(_BY_PREFIX)
# The interval file zipped (as NEMweb serves it) or as the CSV inside it (as analysts keep it).
_REPORT_NAME = re.compile(rf"^(?P<prefix>{_PREFIXES})_(?P<stamp>\d{{12}})_(?P<id>\d+)\.(?:zip|csv)$", re.I)
_DAY_NAME = re.compile(rf"^(?P<prefix>{_PREFIXES})_(?P<day>\d{{8}})\.zip$", re.I)


@dataclass(frozen=True)
class IntervalReport:
    """One interval report as NEMweb names it: the interval end (NEM time) is in the name."""

    name: str
    url: str
    interval_end: datetime
    file_id: int
    family: Family


def interval_report(name: str, url: str = "") -> IntervalReport | None:
    """The report behind a ``PUBLIC_<REPORT>_<YYYYMMDDHHMM>_<id>.zip|csv`` name, or None for any other name."""
    match = _REPORT_NAME.match(name)
    if not match:
        return None
    try:
        end = datetime.strptime(match["stamp"], "%Y%m%d%H%M")
    except ValueError:
        return None
    return IntervalReport(name=name, url=url, interval_end=end, file_id=int(match["id"]),
                          family=_BY_PREFIX[match["prefix"].upper()])


def archive_day(name: str) -> tuple[Family, date] | None:
    """The report and day of an Archive day zip's name, or None for any other name."""
    match = _DAY_NAME.match(name)
    if not match:
        return None
    try:
        return _BY_PREFIX[match["prefix"].upper()], datetime.strptime(match["day"], "%Y%m%d").date()
    except ValueError:
        return None


def latest_per_interval(reports: Iterable[IntervalReport]) -> list[IntervalReport]:
    """One report per report type and interval: the highest id (AEMO's re-issue), sorted by interval end."""
    latest: dict[tuple[str, datetime], IntervalReport] = {}
    for report in reports:
        key = (report.family.kind, report.interval_end)
        kept = latest.get(key)
        if kept is None or report.file_id > kept.file_id:
            latest[key] = report
    return [latest[key] for key in sorted(latest, key=lambda k: (k[1], k[0]))]


def parse_listing(html: str, family: Family = DISPATCH_IS) -> list[IntervalReport]:
    """The ``family`` reports linked from its Current folder listing (an IIS page of ``<A HREF=...>``
    links), one per interval (the highest id where AEMO re-issued one), sorted by interval end."""
    found = []
    for href in _HREF.findall(html):
        url = urljoin(family.current_url, href)
        report = interval_report(unquote(url.rstrip("/").rsplit("/", 1)[-1]), url)
        if report is not None and report.family == family:
            found.append(report)
    return latest_per_interval(found)


def interval_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The interval ends, exclusive then inclusive, of the 5-minute intervals that START on the NEM days
    ``start`` to ``end``: a day's intervals end at 00:05 to 24:00."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return datetime.combine(start, datetime.min.time()), datetime.combine(end + timedelta(days=1),
                                                                          datetime.min.time())


def select_intervals(reports: list[IntervalReport], start: date, end: date) -> list[IntervalReport]:
    """The reports whose interval starts on the NEM days ``start`` to ``end``."""
    lo, hi = interval_bounds(start, end)
    return [r for r in reports if lo < r.interval_end <= hi]


def archive_members(archive: RawFile, start: date, end: date) -> list[RawFile]:
    """The interval reports inside one Archive day zip whose interval starts on the days ``start`` to ``end``,
    each under its own name."""
    members = {}
    for member in archive.members():
        inner = member.name.rsplit("/", 1)[-1]
        report = interval_report(inner)
        if report is not None:
            members[report] = RawFile(name=inner, data=member.data)
    return [members[r] for r in select_intervals(latest_per_interval(members), start, end)]


def text_members(members: list[RawFile], depth: int = 1) -> list[RawFile]:
    """The text files of a zip's members, opening zips inside it (an Archive day holds interval zips); where
    one zip holds several reports of one interval, only AEMO's latest (highest id) is kept."""
    reports = [r for r in (interval_report(m.name.rsplit("/", 1)[-1]) for m in members) if r is not None]
    superseded = {r.name for r in reports} - {r.name for r in latest_per_interval(reports)}
    out = []
    for member in members:
        if member.name.rsplit("/", 1)[-1] in superseded:
            log.info("%s: skipped, superseded by a later report of its interval", member.name)
            continue
        if member.data[:2] != b"PK":
            out.append(member)
            continue
        if member.data[:4] != b"PK\x03\x04":  # an empty zip is only its end record
            raise IngestError(member.name, None, "zip archive inside holds no files or is damaged")
        if depth >= MAX_ZIP_DEPTH:
            raise IngestError(member.name, None, f"zip archives nested more than {MAX_ZIP_DEPTH} deep")
        inner = member.members()
        if not inner:
            raise IngestError(member.name, None, "zip archive inside holds no files")
        out += text_members(inner, depth + 1)
    return out


def fetch_intervals(download: Callable[..., RawFile | None], family: Family, start: date, end: date, *,
                    latest: int | None = None) -> list[RawFile]:
    """The ``family`` report of every interval starting on the NEM days ``start`` to ``end``, sorted by
    interval: from the Current folder's listing, and for intervals before the oldest one it lists, from the
    Archive day zips (their interval reports are taken out, one RawFile each). ``latest`` keeps only that
    many of the newest listed intervals, for a 5-minute job. ``download(name, url, missing_ok=False)``
    gets one file.

    AEMO does not document which intervals an Archive day holds, so the zip named after an interval's end
    date is read first and, for intervals still missing, the one of the day before (a zip that is not there,
    HTTP 404, is skipped). Intervals found nowhere are logged as a warning; none at all is an IngestError.
    """
    if latest is not None and latest < 1:
        raise ValueError(f"latest must be at least 1, not {latest}")
    listing = download(f"{family.folder}.html", family.current_url)
    current = parse_listing(listing.data.decode("utf-8", errors="replace"), family)
    if not current:
        raise IngestError(family.current_url, None, f"the folder listing links no {family.prefix} files")
    lo, hi = interval_bounds(start, end)
    wanted = []
    stamp = lo + _FIVE_MINUTES
    while stamp <= hi:
        wanted.append(stamp)
        stamp += _FIVE_MINUTES
    if latest is not None:
        wanted = [s for s in wanted if s <= current[-1].interval_end][-latest:]
    wanted_set = set(wanted)
    out: dict[datetime, RawFile] = {}
    for report in current:
        if report.interval_end in wanted_set:
            out[report.interval_end] = download(report.name, report.url)
    older = [s for s in wanted if s < current[0].interval_end]
    tried: set[date] = set()
    for days_back in (0, 1):
        missing = [s for s in older if s not in out]
        for day in sorted({(s - timedelta(days=days_back)).date() for s in missing} - tried):
            tried.add(day)
            archive = download(family.archive_name(day), family.archive_url(day), missing_ok=True)
            if archive is None:
                continue
            for member in archive_members(archive, start, end):
                report = interval_report(member.name)
                if report is not None and report.interval_end in wanted_set:
                    out.setdefault(report.interval_end, member)
    if not out:
        raise IngestError(family.current_url, None, f"no {family.label} reports for {start} to {end} in the "
                                                    "Current or Archive folders")
    gaps = [s for s in wanted if s not in out and s <= current[-1].interval_end]
    if gaps:
        log.warning("%s: %d of %d intervals for %s to %s not published (first ending %s)",
                    family.label, len(gaps), len(wanted), start, end, gaps[0])
    return [out[s] for s in sorted(out)]


def local_intervals(paths: list[Path], kinds: set[str], start: date, end: date) -> list[RawFile]:
    """The interval reports of ``kinds`` among ``paths`` for those days, and those inside Archive day zips
    among them, one per report type and interval."""
    # Interval files are read only once chosen by name: a month's folder holds some 8,640 of them.
    reports: dict[IntervalReport, Path | RawFile] = {}
    first, last = start - timedelta(days=1), end + timedelta(days=1)
    for path in paths:
        report = interval_report(path.name)
        day = archive_day(path.name)
        if report is not None and report.family.kind in kinds:
            reports[report] = path
        elif day is not None and day[0].kind in kinds and first <= day[1] <= last:
            for member in archive_members(RawFile.from_path(path), start, end):
                reports[interval_report(member.name)] = member  # type: ignore[index]
    chosen = (reports[r] for r in select_intervals(latest_per_interval(reports), start, end))
    return [RawFile.from_path(c) if isinstance(c, Path) else c for c in chosen]
