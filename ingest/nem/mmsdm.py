"""AEMO's multi-section CSVs (MMSDM monthly tables and NEMweb reports): ``C`` comment, ``I`` column-list and
``D`` data records. A section is named by its report and sub-type (``D,DISPATCH,PRICE,<version>,...``);
:data:`SECTIONS` maps the ones read onto store tables, the others are skipped.

SETTLEMENTDATE is the END of an interval in NEM time. Where a section holds several rows for one interval, one
is kept and the others are counted as left out (:func:`ingest.nem.rows.keep_one_per_interval`): the pricing
run (INTERVENTION=0) over an intervention re-run, as AEMO's price publications and NEMOSIS do -- applied to
interconnector flows too, so that every table describes the same run.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from ingest.base import ReportNotRead
from ingest.csv_lines import CsvLines
from ingest.nem.clock import trading_minutes
from ingest.nem import forecasts
from ingest.nem.columns import read_columns, require_filled, runs
from ingest.nem.rows import Parsed, Rows, Target, concat_rows, keep_one_per_interval

log = logging.getLogger(__name__)

URL = ("https://nemweb.com.au/Data_Archive/Wholesale_Electricity/MMSDM/{yyyy}/MMSDM_{yyyy}_{mm}/"
       "MMSDM_Historical_Data_SQLLoader/DATA/{file}")
#: The MMSDM tables fetched as monthly archive files, each a dataset of the connector.
TABLES = ("DISPATCHPRICE", "DISPATCHREGIONSUM", "DISPATCHINTERCONNECTORRES", "TRADINGPRICE", "TRADINGINTERCONNECT",
          "TRADINGREGIONSUM")
# AEMO names the monthly archive files PUBLIC_ARCHIVE#<table>#FILE01#... instead of PUBLIC_DVD_<table>_...
# from this month on.
_ARCHIVE_NAMING_FROM = (2024, 8)


@dataclass(frozen=True)
class Section:
    """How one section (an ``I`` record's report and sub-type) maps onto a store table."""

    target: Target
    id_column: str  # the source column naming the region, interconnector or unit
    values: tuple[tuple[str, str], ...]  # (table column, source column)
    required: tuple[str, ...]  # source value columns that must be present and filled
    trading: bool  # trading intervals changed length at 5-minute settlement; dispatch ones are 5 minutes


_FLOW_VALUES = (("mw_flow", "MWFLOW"), ("metered_mw_flow", "METEREDMWFLOW"), ("mw_losses", "MWLOSSES"),
                ("export_limit", "EXPORTLIMIT"), ("import_limit", "IMPORTLIMIT"))
_DISPATCH_PRICES = Target("prices", (("price_kind", "dispatch"),))
_SETTLEMENT_PRICES = Target("prices", (("price_kind", "settlement"),))
_DEMAND = Target("demand")
_FLOWS = Target("interconnector_flows")
# DispatchSCADA names units (DUIDs), not their fuel: that is in AEMO's registration list, which no report read
# here carries, so the fuel is left empty ("not stated"), as IESO's fuel totals leave the unit empty. Its
# SCADAVALUE is the unit's MW when the interval starts (the report is published then), so the row's interval
# start is that instant, as for every other 5-minute row.
_UNITS = Target("generation", (("fuel", ""),))

SECTIONS: dict[tuple[str, str], Section] = {
    ("DISPATCH", "PRICE"): Section(_DISPATCH_PRICES, "REGIONID", (("price", "RRP"),), ("RRP",), False),
    ("TRADING", "PRICE"): Section(_SETTLEMENT_PRICES, "REGIONID", (("price", "RRP"),), ("RRP",), True),
    ("DISPATCH", "REGIONSUM"): Section(_DEMAND, "REGIONID", (("demand_mw", "TOTALDEMAND"),), ("TOTALDEMAND",),
                                       False),
    ("TRADING", "REGIONSUM"): Section(_DEMAND, "REGIONID", (("demand_mw", "TOTALDEMAND"),), ("TOTALDEMAND",),
                                      True),
    ("DISPATCH", "INTERCONNECTORRES"): Section(_FLOWS, "INTERCONNECTORID", _FLOW_VALUES, ("MWFLOW",), False),
    ("TRADING", "INTERCONNECTORRES"): Section(_FLOWS, "INTERCONNECTORID", _FLOW_VALUES, ("MWFLOW",), True),
    ("DISPATCH", "UNIT_SCADA"): Section(_UNITS, "DUID", (("output_mw", "SCADAVALUE"),), ("SCADAVALUE",), False),
}
#: AEMO's forecasts in this layout, by report and sub-type ("": every sub-type of the report). The sections of
#: :data:`ingest.nem.forecasts.SECTIONS` are read (table operator_forecasts); a file holding only other
#: sections of these reports is refused as what it is, and a load skips it instead of failing.
FORECASTS = {
    ("PREDISPATCH", ""): "PredispatchIS 30-minute pre-dispatch forecast",
    ("P5MIN", ""): "P5MIN 5-minute pre-dispatch forecast",
    ("OPERATIONAL_DEMAND", "FORECAST"): "operational demand forecast",
}
DESCRIPTION = "MMSDM/NEMweb C/I/D CSV with " + ", ".join(" ".join(k) for k in SECTIONS)


def file_name(table: str, year: int, month: int) -> str:
    """AEMO's name for one table's monthly MMSDM archive file."""
    if (year, month) >= _ARCHIVE_NAMING_FROM:
        return f"PUBLIC_ARCHIVE#{table}#FILE01#{year}{month:02d}010000.zip"
    return f"PUBLIC_DVD_{table}_{year}{month:02d}010000.zip"


def is_multi_section(first_line: str) -> bool:
    return first_line[:2] in ("C,", "I,", "D,")


def parse(lines: CsvLines, supported: str) -> Parsed:
    """The rows of the sections read (rows read counts their D records), AEMO's forecasts among them
    (:mod:`ingest.nem.forecasts`); a file without any section read is an error naming what it holds and
    ``supported``, a file of forecast sections not read a :class:`ReportNotRead`."""
    record = lines.first
    content = np.flatnonzero(~lines.blank)
    other = content[~np.isin(record[content], (ord("C"), ord("I"), ord("D")))]
    if len(other):
        lines.fail(int(other[0]) + 1, "not a C, I or D record")
    _check_not_cut(lines, record, content)
    declared = _declared(lines, record)
    sections: dict[tuple[str, str], list[Rows]] = {}
    forecast_sections: list[forecasts.SectionLines] = []
    rows_read = 0
    for first, stop, key in _sections_of_d_records(lines, record):
        before = [d for d in declared.get(key, []) if d[0] < first]
        if not before:
            problem = "comes before its I record" if declared.get(key) else "has no I record"
            lines.fail(first + 1, f"D record for {','.join(key)} {problem}")
        section = SECTIONS.get(key[:2])
        if section is None:
            if key[:2] in forecasts.SECTIONS:
                forecast_sections.append(forecasts.SectionLines(key, *before[-1], np.arange(first, stop)))
                rows_read += stop - first
            continue
        i_line, fields = before[-1]
        idx = np.arange(first, stop)
        sections.setdefault(key[:2], []).append(_section_rows(lines, section, key, i_line, fields, idx))
        rows_read += len(idx)
    if not any(k[:2] in SECTIONS or k[:2] in forecasts.SECTIONS for k in declared):
        _refuse(lines, {k[:2] for k in declared}, supported)
    out: dict[Target, list[Rows]] = {}
    rejected: dict[str, int] = {}
    frames = {}
    if forecast_sections:
        frames[forecasts.TABLE], rejected = forecasts.parse(lines, forecast_sections)
    for key, parts in sections.items():
        rows, dropped = keep_one_per_interval(lines, concat_rows(parts), f"{key[0]} {key[1]}")
        for why, count in dropped.items():
            rejected[why] = rejected.get(why, 0) + count
        out.setdefault(SECTIONS[key].target, []).append(rows)
    return Parsed({target: concat_rows(parts) for target, parts in out.items()}, rows_read, rejected, frames)


def _refuse(lines: CsvLines, sections: set[tuple[str, str]], supported: str) -> NoReturn:
    """The error for a file holding none of the sections read: a forecast says what it is and that none of its
    sections is read (a load skips it), anything else names its sections and what is supported."""
    found = ", ".join(sorted(f"{report} {sub}" for report, sub in sections)) or "no I records"
    families = {FORECASTS.get((report, sub), FORECASTS.get((report, ""))) for report, sub in sections}
    if sections and None not in families:
        what = " and ".join(sorted(families))
        raise ReportNotRead(lines.source, None, f"AEMO {what} (sections {found}): none of the forecast sections "
                                                f"read ({', '.join(' '.join(k) for k in forecasts.SECTIONS)})")
    lines.fail(None, f"unsupported report ({found}); supported: {supported}")


def _declared(lines: CsvLines, record: np.ndarray) -> dict[tuple[str, str, str], list[tuple[int, list[str]]]]:
    """The I records by (report, sub-type, version): their line and fields, in file order."""
    declared: dict[tuple[str, str, str], list[tuple[int, list[str]]]] = {}
    for i in np.flatnonzero(record == ord("I")).tolist():
        fields = [f.strip() for f in lines.fields(i)]
        if len(fields) < 5 or fields[0] != "I":
            lines.fail(i + 1, "I record must be I,<report>,<sub-type>,<version>,<columns...>")
        if len(set(fields[4:])) != len(fields) - 4:
            lines.fail(i + 1, "I record repeats a column name")
        declared.setdefault((fields[1], fields[2], fields[3]), []).append((i, fields))
    return declared


def _check_not_cut(lines: CsvLines, record: np.ndarray, content: np.ndarray) -> None:
    """AEMO ends every MMSDM file with a ``C,"END OF REPORT",<n>`` footer (its count is not checked: shared
    copies were filtered). Without the footer a last line with no line break may have been cut short."""
    last = int(content[-1])
    if record[last] == ord("C") and "END OF REPORT" in lines.text(last).upper():
        return
    if lines.data.endswith(b"\n"):
        log.warning("%s: no END OF REPORT footer", lines.source)
        return
    lines.fail(last + 1, "file ends mid-line without the END OF REPORT footer (truncated)")


def _sections_of_d_records(lines: CsvLines, record: np.ndarray) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """(first, stop, (report, sub-type, version)) for each stretch of consecutive D records of one section:
    runs of D lines are cut wherever the ``D,<report>,<sub-type>,<version>,`` prefix changes."""
    d = np.flatnonzero(record == ord("D"))
    if not len(d):
        return
    for at, length in runs(d):
        start, last = int(d[at]), int(d[at + length - 1])
        while start <= last:
            fields = lines.fields(start)
            if len(fields) < 5:
                lines.fail(start + 1, "D record must be D,<report>,<sub-type>,<version>,<values...>")
            prefix = lines.data[lines.starts[start]:lines.starts[start] + _prefix_length(lines, start)]
            stop = _prefix_run(lines, start, last, prefix)
            yield start, stop, tuple(f.strip() for f in fields[1:4])
            start = stop


def _prefix_length(lines: CsvLines, i: int) -> int:
    """Bytes of ``D,<report>,<sub-type>,<version>,`` at the start of line i."""
    text = lines.data[lines.starts[i]:lines.ends[i]]
    pos = -1
    for _ in range(4):
        pos = text.find(b",", pos + 1)
    return pos + 1


def _prefix_run(lines: CsvLines, first: int, last: int, prefix: bytes) -> int:
    """Index after the last of the lines first..last that, without a gap, start with ``prefix``. Windows
    that double in size keep the cost proportional to the run found, however short."""
    expected = np.frombuffer(prefix, np.uint8)[None, :]
    offsets = np.arange(len(prefix))[None, :]
    start, window = first, 256
    while start <= last:
        idx = np.arange(start, min(last + 1, start + window))
        long_enough = (lines.ends[idx] - lines.starts[idx]) >= len(prefix)
        pos = np.minimum(lines.starts[idx][:, None] + offsets, len(lines.arr) - 1)
        differ = np.flatnonzero(~(long_enough & (lines.arr[pos] == expected).all(axis=1)))
        if len(differ):
            return max(start + int(differ[0]), first + 1)
        start, window = start + len(idx), window * 2
    return last + 1


def _section_rows(lines: CsvLines, section: Section, key: tuple[str, ...], i_line: int, fields: list[str],
                  idx: np.ndarray) -> Rows:
    what = ",".join(key)
    columns = fields[4:]
    missing = [c for c in ("SETTLEMENTDATE", section.id_column, *section.required) if c not in columns]
    if missing:
        lines.fail(i_line + 1, f"{what} I record lacks column(s) {', '.join(missing)}")
    present = [c for c in ("INTERVENTION", "RUNNO", "LASTCHANGED") if c in columns]
    numeric = [src for _, src in section.values if src in columns]
    numeric += [c for c in present if c != "LASTCHANGED"]
    dates = ["SETTLEMENTDATE"] + [c for c in present if c == "LASTCHANGED"]
    names = ["#record", "#report", "#subtype", "#version", *columns]
    read = read_columns(lines, idx, names, numeric=numeric, dates=dates, id_column=section.id_column, what=what)
    for col in (*section.required, *(c for c in ("INTERVENTION", "RUNNO") if c in columns)):
        require_filled(lines, read.numbers[col], idx, col)
    ends = read.stamps["SETTLEMENTDATE"]
    require_filled(lines, ends, idx, "SETTLEMENTDATE")
    intervention = read.numbers.get("INTERVENTION")
    if intervention is not None:
        bad = np.flatnonzero((intervention != 0) & (intervention != 1))
        if len(bad):
            lines.fail(int(idx[bad[0]]) + 1, f"INTERVENTION is {intervention[bad[0]]:g}, expected 0 or 1")
    n = len(idx)
    return Rows(
        ids=read.ids, ends=ends,
        minutes=trading_minutes(ends) if section.trading else np.full(n, 5, np.int16),
        values={out: read.numbers.get(src, np.full(n, np.nan)) for out, src in section.values},
        line=idx + 1, intervention=intervention, runno=read.numbers.get("RUNNO"),
        lastchanged=read.stamps.get("LASTCHANGED"),
    )
