"""AEMO's own forecasts, kept as issued (table ``operator_forecasts``): where NEMweb publishes each run, and the
rows of its multi-section CSV (dispatched here from :func:`ingest.nem.mmsdm.parse`).

Three report families, each a run per file named ``PUBLIC_<REPORT>_<YYYYMMDDHHMM>_<id>.zip`` (the stamp is the
END of the run's first interval, NEM time; the id is the file's creation stamp, higher for a re-issue):

* ``predispatch`` -- PredispatchIS, every 30 minutes to the end of the next trading day: ``PREDISPATCH
  REGION_PRICES`` RRP (variable ``price``) and ``REGION_SOLUTION`` TOTALDEMAND (``demand``), 30-minute
  intervals ending at DATETIME. The run is PREDISPATCHSEQNO, ``YYYYMMDDPP``: trading interval PP (01 ends at
  04:30) of trading day YYYYMMDD; its issue time is the END of that interval, the same instant as the file
  name's stamp and the way P5MIN labels a run (AEMO publishes the run a few minutes before it).
* ``p5min`` -- 5-minute pre-dispatch, every 5 minutes for the next hour: ``P5MIN REGIONSOLUTION`` RRP and
  TOTALDEMAND, 5-minute intervals ending at INTERVAL_DATETIME; issued at RUN_DATETIME (AEMO's label of the
  run: the end of its first interval).
* ``demand_hh`` -- the operational demand forecast, every 30 minutes for 8 days: ``OPERATIONAL_DEMAND
  FORECAST`` OPERATIONAL_DEMAND_POE10/50/90 (variables ``demand_poe10``/``demand_poe50``/``demand_poe90``;
  operational demand, not the dispatch TOTALDEMAND), 30-minute intervals ending at INTERVAL_DATETIME; issued
  at LOAD_DATE ("date time this forecast was produced", MMS DEMANDOPERATIONALFORECAST).

Every NEM time is UTC+10 all year; interval ends become UTC interval starts, issue times UTC instants. Where a
run gives an interval twice, the pricing run (INTERVENTION=0) is kept over the intervention re-run, as for the
dispatch tables (:func:`ingest.nem.rows.keep_one_per_interval`).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urljoin

import numpy as np
import pandas as pd

from engine.files import IngestError, RawFile
from engine.store.tables import TABLES
from ingest.base import local_paths, table_frame
from ingest.csv_lines import CsvLines
from ingest.nem.clock import NEM, UTC_OFFSET, interval_starts_utc
from ingest.nem.columns import read_columns, require_filled
from ingest.nem.nemweb import Family, interval_bounds
from ingest.nem.rows import Rows, keep_one_per_interval

log = logging.getLogger(__name__)

TABLE = "operator_forecasts"
PREDISPATCH = "predispatch"
P5MIN = "p5min"
DEMAND_HH = "demand_hh"
#: The NEMweb report of each forecast dataset of the connector.
FAMILIES = {f.kind: f for f in (
    Family(PREDISPATCH, "PredispatchIS", "PUBLIC_PREDISPATCHIS", "PredispatchIS_Reports"),
    Family(P5MIN, "P5MIN", "PUBLIC_P5MIN", "P5_Reports"),
    Family(DEMAND_HH, "operational demand forecast", "PUBLIC_FORECAST_OPERATIONAL_DEMAND_HH",
           "Operational_Demand/FORECAST_HH"),
)}
_BY_PREFIX = {f.prefix: f for f in FAMILIES.values()}
_RUN_NAME = re.compile(rf"^(?P<prefix>{'|'.join(_BY_PREFIX)})_(?P<stamp>\d{{12}})_(?P<id>\d+)\.(?:zip|csv)$", re.I)
_DAY_NAME = re.compile(rf"^(?P<prefix>{'|'.join(_BY_PREFIX)})_(?P<day>\d{{8}})\.zip$", re.I)
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_SEQNO = "PREDISPATCHSEQNO"
_TRADING_DAY_START = np.timedelta64(4, "h")  # a NEM trading day starts at 04:00


@dataclass(frozen=True)
class Section:
    """How one forecast section (report, sub-type) maps onto ``operator_forecasts`` rows."""

    report: str
    run_column: str  # the run's issue time (a stamp), or PREDISPATCHSEQNO
    end_column: str  # the interval's end, NEM time
    minutes: int
    values: tuple[tuple[str, str], ...]  # (variable, source column)


SECTIONS: dict[tuple[str, str], Section] = {
    ("PREDISPATCH", "REGION_PRICES"): Section(PREDISPATCH, _SEQNO, "DATETIME", 30, (("price", "RRP"),)),
    ("PREDISPATCH", "REGION_SOLUTION"): Section(PREDISPATCH, _SEQNO, "DATETIME", 30, (("demand", "TOTALDEMAND"),)),
    ("P5MIN", "REGIONSOLUTION"): Section(P5MIN, "RUN_DATETIME", "INTERVAL_DATETIME", 5,
                                         (("price", "RRP"), ("demand", "TOTALDEMAND"))),
    ("OPERATIONAL_DEMAND", "FORECAST"): Section(
        DEMAND_HH, "LOAD_DATE", "INTERVAL_DATETIME", 30,
        (("demand_poe10", "OPERATIONAL_DEMAND_POE10"), ("demand_poe50", "OPERATIONAL_DEMAND_POE50"),
         ("demand_poe90", "OPERATIONAL_DEMAND_POE90"))),
}
DESCRIPTION = "AEMO forecasts " + ", ".join(" ".join(k) for k in SECTIONS)


@dataclass
class SectionLines:
    """The D records of one forecast section and the I record that declares their columns."""

    key: tuple[str, str, str]  # report, sub-type, version
    i_line: int
    fields: list[str]
    idx: np.ndarray  # 0-based line numbers of the D records


def parse(lines: CsvLines, sections: list[SectionLines]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The ``operator_forecasts`` rows of the forecast sections of one file, and the rows left out by reason."""
    frames, rejected = [], {}
    for section in sections:
        frame, dropped = _section_frame(lines, SECTIONS[section.key[:2]], section)
        frames.append(frame)
        for why, n in dropped.items():
            rejected[why] = rejected.get(why, 0) + n
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    key = list(TABLES[TABLE].key)
    twice = frame.duplicated(key)
    if twice.any():
        row = frame[twice].iloc[0]
        lines.fail(None, f"{row['report']} run issued {row['issued_at']} gives {row['variable']} of "
                         f"{row['location']} at {row['interval_start']} in two sections")
    return in_store_order(frame), rejected


def in_store_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame sorted by the table's key, its text columns categoricals (as the other NEM frames are)."""
    frame = frame.sort_values(list(TABLES[TABLE].key), kind="stable").reset_index(drop=True)
    for col in ("market", "location", "variable", "report", "source"):
        frame[col] = frame[col].astype("category")
    return frame


def _section_frame(lines: CsvLines, spec: Section, section: SectionLines) -> tuple[pd.DataFrame, dict[str, int]]:
    what = ",".join(section.key)
    columns = section.fields[4:]
    sources = [src for _, src in spec.values]
    missing = [c for c in (spec.run_column, spec.end_column, "REGIONID", *sources) if c not in columns]
    if missing:
        lines.fail(section.i_line + 1, f"{what} I record lacks column(s) {', '.join(missing)}")
    present = [c for c in ("INTERVENTION", "RUNNO") if c in columns]
    seqno = spec.run_column == _SEQNO
    numeric = [*sources, *present, *([_SEQNO] if seqno else [])]
    dates = [spec.end_column, *([] if seqno else [spec.run_column]),
             *(["LASTCHANGED"] if "LASTCHANGED" in columns else [])]
    names = ["#record", "#report", "#subtype", "#version", *columns]
    idx = section.idx
    read = read_columns(lines, idx, names, numeric=numeric, dates=dates, id_column="REGIONID", what=what)
    for col in (*sources, *present):
        require_filled(lines, read.numbers[col], idx, col)
    ends = read.stamps[spec.end_column]
    require_filled(lines, ends, idx, spec.end_column)
    if seqno:
        require_filled(lines, read.numbers[_SEQNO], idx, _SEQNO)
        issued_nem = _predispatch_run_ends(lines, read.numbers[_SEQNO], idx)
    else:
        issued_nem = read.stamps[spec.run_column]
        require_filled(lines, issued_nem, idx, spec.run_column)
    intervention = read.numbers.get("INTERVENTION")
    if intervention is not None:
        bad = np.flatnonzero((intervention != 0) & (intervention != 1))
        if len(bad):
            lines.fail(int(idx[bad[0]]) + 1, f"INTERVENTION is {intervention[bad[0]]:g}, expected 0 or 1")
    minutes = np.full(len(idx), spec.minutes, np.int16)
    rows = Rows(ids=read.ids, ends=ends, minutes=minutes, values={src: read.numbers[src] for src in sources},
                line=idx + 1, intervention=intervention, runno=read.numbers.get("RUNNO"),
                lastchanged=read.stamps.get("LASTCHANGED"))
    frames, rejected = [], {}
    for run in np.unique(issued_nem):  # a NEMweb file holds one run; an archive table may hold many
        kept, dropped = keep_one_per_interval(lines, rows.take(np.flatnonzero(issued_nem == run)), what)
        for why, n in dropped.items():
            rejected[why] = rejected.get(why, 0) + n
        starts = interval_starts_utc(kept.ends, kept.minutes)
        regions = kept.ids.astype(str).to_numpy(dtype=object)
        for variable, src in spec.values:
            frame = table_frame(TABLE, NEM.market, lines.source, {
                "location": regions, "variable": variable, "report": spec.report, "issued_at": None,
                "interval_minutes": kept.minutes, "interval_start": starts, "value": kept.values[src]})
            frame["issued_at"] = pd.Timestamp(run - UTC_OFFSET, tz="UTC")  # one instant: the run's issue
            frames.append(frame)
    return pd.concat(frames, ignore_index=True), rejected


def _predispatch_run_ends(lines: CsvLines, seqno: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The NEM-time end of trading interval PP of trading day YYYYMMDD for each PREDISPATCHSEQNO
    ``YYYYMMDDPP`` (interval 01 ends at 04:30)."""
    out = np.empty(len(seqno), "datetime64[ns]")
    for value in np.unique(seqno):
        at = seqno == value
        text = f"{value:.0f}" if float(value).is_integer() else ""
        try:
            day = datetime.strptime(text[:8], "%Y%m%d") if len(text) == 10 else None
        except ValueError:
            day = None
        period = int(text[8:]) if day is not None else 0
        if day is None or not 1 <= period <= 48:
            lines.fail(int(idx[np.flatnonzero(at)[0]]) + 1,
                       f"{_SEQNO} {text or value} is not YYYYMMDDPP (a trading day and interval 01..48)")
        out[at] = np.datetime64(day, "ns") + _TRADING_DAY_START + np.timedelta64(30 * period, "m")
    return out


# -- fetch ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """One forecast run file as NEMweb names it."""

    name: str
    url: str
    stamp: datetime  # the end of the run's first interval, NEM time
    file_id: int
    family: Family


def run_file(name: str, url: str = "") -> Run | None:
    """The run behind a ``PUBLIC_<REPORT>_<YYYYMMDDHHMM>_<id>.zip|csv`` name of a forecast report, or None."""
    match = _RUN_NAME.match(name)
    if not match:
        return None
    try:
        stamp = datetime.strptime(match["stamp"], "%Y%m%d%H%M")
    except ValueError:
        return None
    return Run(name, url, stamp, int(match["id"]), _BY_PREFIX[match["prefix"].upper()])


def _latest_per_run(runs: list[Run]) -> list[Run]:
    """One file per report and run stamp (AEMO's re-issue, the highest id, wins), sorted by stamp."""
    kept: dict[tuple[str, datetime], Run] = {}
    for run in runs:
        key = (run.family.kind, run.stamp)
        if key not in kept or run.file_id > kept[key].file_id:
            kept[key] = run
    return [kept[k] for k in sorted(kept, key=lambda k: (k[1], k[0]))]


def _in_days(runs: list[Run], start: date, end: date) -> list[Run]:
    lo, hi = interval_bounds(start, end)
    return [r for r in runs if lo < r.stamp <= hi]


def fetch_runs(download: Callable[..., RawFile | None], family: Family, start: date, end: date, *,
               latest: int | None = None) -> list[RawFile]:
    """The ``family`` runs whose first interval starts on the NEM days ``start`` to ``end``: those its Current
    folder lists, and for days before the oldest one listed, those in the Archive day zips (skipped when
    not there). ``latest`` keeps only that many of the newest (for a job on the report's cadence)."""
    if latest is not None and latest < 1:
        raise ValueError(f"latest must be at least 1, not {latest}")
    listing = download(f"{family.folder.replace('/', '_')}.html", family.current_url)
    html = listing.data.decode("utf-8", errors="replace")
    listed = _latest_per_run([r for r in (run_file(unquote(urljoin(family.current_url, h).rsplit("/", 1)[-1]),
                                                   urljoin(family.current_url, h)) for h in _HREF.findall(html))
                              if r is not None and r.family == family])
    if not listed:
        raise IngestError(family.current_url, None, f"the folder listing links no {family.prefix} files")
    wanted = _in_days(listed, start, end)
    if latest is not None:
        wanted = wanted[-latest:]
    files = [download(r.name, r.url) for r in wanted]
    oldest = listed[0].stamp.date()
    if latest is None and start < oldest:
        day = start
        while day <= min(end, oldest):
            archive = download(family.archive_name(day), family.archive_url(day), missing_ok=True)
            if archive is not None:
                files += _archived_runs(archive, family, start, end, before=listed[0].stamp)
            day += timedelta(days=1)
    if not files:
        raise IngestError(family.current_url, None, f"no {family.label} runs for {start} to {end} in the Current "
                                                    "or Archive folders")
    return files


def _archived_runs(archive: RawFile, family: Family, start: date, end: date, before: datetime) -> list[RawFile]:
    members = {}
    for member in archive.members():
        inner = member.name.rsplit("/", 1)[-1]
        run = run_file(inner)
        if run is not None and run.family == family and run.stamp < before:
            members[run] = RawFile(name=inner, data=member.data)
    return [members[r] for r in _in_days(_latest_per_run(list(members)), start, end)]


def local_runs(source: str | Path, kinds: set[str], start: date, end: date) -> list[RawFile]:
    """The run files of ``kinds`` under a local folder (searched recursively) for the NEM days ``start`` to
    ``end``, one per run, and those inside Archive day zips of the reports there."""
    paths = local_paths(source, lambda n: bool(_RUN_NAME.match(n) or _DAY_NAME.match(n)), recursive=True)
    found: list[RawFile] = []
    runs = {}
    for path in paths:
        run = run_file(path.name)
        if run is not None and run.family.kind in kinds:
            runs[run] = path
            continue
        day = _DAY_NAME.match(path.name)
        family = _BY_PREFIX[day["prefix"].upper()] if day else None
        if family is not None and family.kind in kinds:
            found += _archived_runs(RawFile.from_path(path), family, start, end, before=datetime.max)
    found += [RawFile.from_path(runs[r]) for r in _in_days(_latest_per_run(list(runs)), start, end)]
    return found
