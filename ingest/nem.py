"""AEMO National Electricity Market (NEM) connector: fetch AEMO's published files and parse them.

Two published formats are understood, recognised from their content:

* the aggregated price and demand CSVs (``PRICE_AND_DEMAND_YYYYMM_REGION.csv``, one header line
  ``REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE``), and
* the MMSDM / NEMweb multi-section CSVs (``C`` comment, ``I`` column-list and ``D`` data records), usually
  inside a zip, with the sections DISPATCH PRICE, DISPATCH REGIONSUM, DISPATCH INTERCONNECTORRES,
  TRADING PRICE and TRADING INTERCONNECTORRES (others are skipped).

NEMweb's 5-minute DispatchIS reports (kind ``dispatch_is``) are MMSDM files of that layout, one per dispatch
interval (``PUBLIC_DISPATCHIS_<YYYYMMDDHHMM>_<id>.zip``, the stamp being the interval's end): the last two days or so
are listed in the Current folder, older days are zips of those zips in the Archive folder; ``parse`` opens such
nested zips.

SETTLEMENTDATE is the END of an interval in NEM time (UTC+10, no daylight saving); the tables carry the
interval START in UTC and the interval length. Where a file holds several rows for one interval, one is kept
and the others are counted in ``rows_rejected``: the pricing run (INTERVENTION=0) over an intervention re-run
(as AEMO's price publications and NEMOSIS do; applied to interconnector flows too, so that every table
describes the same run), then the highest RUNNO, then the latest LASTCHANGED.

Parsing is vectorised: each run of data lines goes to the Arrow CSV reader in one piece, and dates are
checked and converted as one byte matrix. Only when a vectorised check fails are lines looked at one by
one, to name the offending line.
"""
from __future__ import annotations

import csv
import functools
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NoReturn, overload
from urllib.parse import quote, unquote, urljoin

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import requests
from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_attempt, wait_exponential

from engine.files import IngestError, RawFile, decode_text
from ingest.base import PLAUSIBLE_YEARS, ParseResult, concat_frames

log = logging.getLogger(__name__)

MARKET = "NEM"
REGIONS = ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")

PRICE_AND_DEMAND_URL = "https://aemo.com.au/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_{yyyymm}_{region}.csv"
MMSDM_URL = ("https://nemweb.com.au/Data_Archive/Wholesale_Electricity/MMSDM/{yyyy}/MMSDM_{yyyy}_{mm}/"
             "MMSDM_Historical_Data_SQLLoader/DATA/{file}")
MMSDM_TABLES = ("DISPATCHPRICE", "DISPATCHREGIONSUM", "DISPATCHINTERCONNECTORRES", "TRADINGPRICE",
                "TRADINGINTERCONNECT")
DISPATCH_IS = "dispatch_is"
DISPATCHIS_CURRENT_URL = "https://nemweb.com.au/Reports/Current/DispatchIS_Reports/"
DISPATCHIS_ARCHIVE_URL = "https://nemweb.com.au/Reports/Archive/DispatchIS_Reports/PUBLIC_DISPATCHIS_{yyyymmdd}.zip"
# AEMO names the monthly archive files PUBLIC_ARCHIVE#<table>#FILE01#... instead of PUBLIC_DVD_<table>_...
# from this month on.
_ARCHIVE_NAMING_FROM = (2024, 8)
USER_AGENT = "c254-market-intelligence/0.1 (NEM connector; python-requests)"

_NEM_UTC_OFFSET = np.timedelta64(10, "h")
# Five-minute settlement began with the trading day of 1 Oct 2021, which starts at 04:00 NEM time: trading
# intervals ending after this instant are 5 minutes long, those ending at or before it 30 minutes.
_FIVE_MINUTE_SETTLEMENT_AFTER = np.datetime64("2021-10-01T04:00:00", "ns")
_DATE_EXAMPLE = "2018/01/01 00:30:00"
_DATE_FORMAT = "%Y/%m/%d %H:%M:%S"
_DATE_WIDTH = len(_DATE_EXAMPLE)
_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_DATE_SEPARATORS = {4: ord("/"), 7: ord("/"), 10: ord(" "), 13: ord(":"), 16: ord(":")}
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)  # [0]: no month
_DAYS_BEFORE_MONTH = np.cumsum(np.concatenate(([0], _DAYS_IN_MONTH[:-1]))).astype(np.int64)
_DAYS_TO_1970 = 719_162  # days from 0001-01-01 to 1970-01-01
_PRICE_AND_DEMAND_COLUMNS = ("REGION", "SETTLEMENTDATE", "TOTALDEMAND", "RRP", "PERIODTYPE")
_ID_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_-]*")
_NUMBER_PATTERN = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "prices": ("market", "location", "price_kind", "interval_start", "interval_minutes", "price", "source"),
    "demand": ("market", "location", "interval_start", "interval_minutes", "demand_mw", "source"),
    "interconnector_flows": ("market", "interconnector", "interval_start", "interval_minutes", "mw_flow",
                             "metered_mw_flow", "mw_losses", "export_limit", "import_limit", "source"),
}
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "prices": ("market", "location", "price_kind", "interval_minutes", "interval_start"),
    "demand": ("market", "location", "interval_minutes", "interval_start"),
    "interconnector_flows": ("market", "interconnector", "interval_minutes", "interval_start"),
}


@dataclass(frozen=True)
class _Section:
    """How one MMSDM section (an ``I`` record's report and sub-type) maps onto a store table."""

    table: str
    id_column: str  # the source column naming the region or interconnector
    values: tuple[tuple[str, str], ...]  # (table column, source column)
    required: tuple[str, ...]  # source value columns that must be present and filled
    price_kind: str | None
    trading: bool  # trading intervals changed length at 5-minute settlement; dispatch ones are 5 minutes

    @property
    def label(self) -> str:
        return self.table + (f":{self.price_kind}" if self.price_kind else "")


_FLOW_VALUES = (("mw_flow", "MWFLOW"), ("metered_mw_flow", "METEREDMWFLOW"), ("mw_losses", "MWLOSSES"),
                ("export_limit", "EXPORTLIMIT"), ("import_limit", "IMPORTLIMIT"))
_SECTIONS: dict[tuple[str, str], _Section] = {
    ("DISPATCH", "PRICE"): _Section("prices", "REGIONID", (("price", "RRP"),), ("RRP",), "dispatch", False),
    ("TRADING", "PRICE"): _Section("prices", "REGIONID", (("price", "RRP"),), ("RRP",), "settlement", True),
    ("DISPATCH", "REGIONSUM"): _Section(
        "demand", "REGIONID", (("demand_mw", "TOTALDEMAND"),), ("TOTALDEMAND",), None, False),
    ("DISPATCH", "INTERCONNECTORRES"): _Section(
        "interconnector_flows", "INTERCONNECTORID", _FLOW_VALUES, ("MWFLOW",), None, False),
    ("TRADING", "INTERCONNECTORRES"): _Section(
        "interconnector_flows", "INTERCONNECTORID", _FLOW_VALUES, ("MWFLOW",), None, True),
}
SUPPORTED_REPORTS = ("PRICE_AND_DEMAND CSV (REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE)",
                     "MMSDM/NEMweb C/I/D CSV with " + ", ".join(" ".join(k) for k in _SECTIONS))


# --------------------------------------------------------------------------------------------------------
# Physical lines of one text file
# --------------------------------------------------------------------------------------------------------
class _Lines:
    """The physical lines of one file as byte offsets, so that runs of lines can be read in one piece and
    every problem can be reported with its 1-based line number."""

    def __init__(self, name: str, data: bytes):
        self.name = name
        self.data = data
        arr = np.frombuffer(data, dtype=np.uint8)
        self.arr = arr
        if b"\x00" in data:
            self.fail(self.line_of_offset(data.index(b"\x00")), "NUL byte in a text report")
        newlines = np.flatnonzero(arr == 10)
        starts = np.concatenate(([0], newlines + 1))
        stops = np.concatenate((newlines, [len(data)]))
        if starts[-1] == len(data):  # the file ends with a line break: there is no line after it
            starts, stops = starts[:-1], stops[:-1]
        ends = stops
        if b"\r" in data:
            carriage = np.flatnonzero(arr == 13)
            after = np.minimum(carriage + 1, len(arr) - 1)
            lone = (carriage + 1 >= len(arr)) | (arr[after] != 10)
            if lone.any():
                self.fail(self.line_of_offset(int(carriage[lone][0])),
                          "carriage return inside a line (only CRLF or LF line ends are allowed)")
            ends = stops - ((stops > starts) & (arr[np.maximum(stops - 1, 0)] == 13))
        self.starts, self.stops, self.ends = starts, stops, ends  # stop: the \n; end: end of content
        lengths = ends - starts
        first = np.where(lengths > 0, arr[np.minimum(starts, max(len(arr) - 1, 0))], 0)
        blank = lengths == 0
        for i in np.flatnonzero((first == 32) | (first == 9)):  # rare: decide one by one
            blank[i] = not self.text(int(i)).strip(" \t")
        self.blank = blank
        self.first = first  # first byte of each line (0 when empty)

    def fail(self, line: int | None, problem: str) -> NoReturn:
        raise IngestError(self.name, line, problem)

    def line_of_offset(self, offset: int) -> int:
        return self.data.count(b"\n", 0, offset) + 1

    def text(self, i: int) -> str:
        return self.data[self.starts[i]:self.ends[i]].decode("utf-8", errors="replace")

    def fields(self, i: int) -> list[str]:
        return next(csv.reader([self.text(i)]), [])

    def block(self, first: int, last: int) -> bytes:
        """The bytes of lines first..last (inclusive), line breaks included."""
        return self.data[self.starts[first]:self.stops[last] + 1]


def _runs(idx: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive stretches of the sorted line indexes ``idx``, as (position in idx, length)."""
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    bounds = np.concatenate(([0], breaks, [len(idx)]))
    return [(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


# --------------------------------------------------------------------------------------------------------
# Reading rows: Arrow on the good path, a line-by-line look only to name a bad line
# --------------------------------------------------------------------------------------------------------
@dataclass
class _Columns:
    """Columns read from some lines: floats (NaN when empty), NEM-time stamps (NaT when empty), ids."""

    numbers: dict[str, np.ndarray]
    stamps: dict[str, np.ndarray]
    ids: pd.Series  # category


def _read_columns(lines: _Lines, idx: np.ndarray, names: list[str], numeric: list[str], dates: list[str],
                  id_column: str, what: str) -> _Columns:
    parts = []
    for at, length in _runs(idx):
        part_idx = idx[at:at + length]
        parts.append(_read_run(lines, part_idx, names, numeric, dates, id_column, what))
    if len(parts) == 1:
        return parts[0]
    return _Columns(
        numbers={c: np.concatenate([p.numbers[c] for p in parts]) for c in numeric},
        stamps={c: np.concatenate([p.stamps[c] for p in parts]) for c in dates},
        ids=pd.Series(pd.api.types.union_categoricals([p.ids for p in parts], sort_categories=True)),
    )


def _read_run(lines: _Lines, idx: np.ndarray, names: list[str], numeric: list[str], dates: list[str],
              id_column: str, what: str) -> _Columns:
    types: dict[str, pa.DataType] = {c: pa.float64() for c in numeric}
    types.update({c: pa.binary(_DATE_WIDTH) for c in dates})
    types[id_column] = pa.dictionary(pa.int32(), pa.string())
    block = lines.block(int(idx[0]), int(idx[-1]))
    try:
        table = pa_csv.read_csv(
            io.BytesIO(block),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=types, include_columns=list(types), null_values=[""], strings_can_be_null=False,
                quoted_strings_can_be_null=False),
        )
    except (pa.ArrowException, ValueError) as exc:
        _name_bad_line(lines, idx, names, numeric, dates, what, str(exc))
    if table.num_rows != len(idx):
        problem = f"{table.num_rows} rows from {len(idx)} lines"
        _name_bad_line(lines, idx, names, numeric, dates, what, problem)
    numbers = {}
    for col in numeric:
        values = table.column(col).to_numpy().astype(np.float64, copy=False)
        bad = np.flatnonzero(np.isinf(values))
        if len(bad):
            lines.fail(int(idx[bad[0]]) + 1, f"{col} is not a finite number")
        numbers[col] = values
    stamps = {col: _stamps(lines, table.column(col), idx, col) for col in dates}
    ids = _clean_ids(lines, table.column(id_column).to_pandas(), idx, id_column)
    return _Columns(numbers=numbers, stamps=stamps, ids=ids)


def _name_bad_line(lines: _Lines, idx: np.ndarray, names: list[str], numeric: list[str], dates: list[str],
                   what: str, problem: str) -> NoReturn:
    """Find and report the first line the vectorised reader refused (slow: only runs after a failure)."""
    position = {name: i for i, name in enumerate(names)}
    for i in idx.tolist():
        if lines.text(i).count('"') % 2:
            lines.fail(i + 1, "unbalanced double quote")
        fields = lines.fields(i)
        if len(fields) != len(names):
            lines.fail(i + 1, f"{what} row has {len(fields)} fields, expected {len(names)} "
                              "(truncated or malformed line)")
        for col in numeric:
            value = fields[position[col]]
            if value.strip() and not _NUMBER_PATTERN.fullmatch(value):
                lines.fail(i + 1, f"{col} is not a number: {value!r}")
        for col in dates:
            value = fields[position[col]]
            if value and not _is_stamp(value):
                lines.fail(i + 1, f"{col} {value!r} is not a date-time like {_DATE_EXAMPLE}")
    lines.fail(None, f"unreadable {what} rows ({problem})")


def _is_stamp(value: str) -> bool:
    if len(value) != _DATE_WIDTH:
        return False
    try:
        return datetime.strptime(value, _DATE_FORMAT).strftime(_DATE_FORMAT) == value
    except ValueError:
        return False


def _stamps(lines: _Lines, column: pa.ChunkedArray, idx: np.ndarray, col: str) -> np.ndarray:
    """``YYYY/MM/DD HH:MM:SS`` values as datetime64[ns] (NaT where empty), checked strictly and computed from
    the digits of one byte matrix (no per-value parsing; Arrow's own parser would roll 30 February over
    into March)."""
    array = column.combine_chunks()
    n = len(array)
    valid = ~array.is_null().to_numpy(zero_copy_only=False)
    matrix = np.frombuffer(array.buffers()[1], dtype=np.uint8, count=n * _DATE_WIDTH,
                           offset=array.offset * _DATE_WIDTH).reshape(n, _DATE_WIDTH)
    digits = matrix[:, _DATE_DIGITS] - np.uint8(48)  # a byte that is not a digit wraps round to above 9
    ok = (digits <= 9).all(axis=1)
    for at, byte in _DATE_SEPARATORS.items():
        ok &= matrix[:, at] == byte
    pairs = digits[:, 0::2].astype(np.int32) * 10 + digits[:, 1::2]  # century, year, month, day, h, m, s
    year = pairs[:, 0] * 100 + pairs[:, 1]
    month, day, hour, minute, second = (pairs[:, i] for i in range(2, 7))
    month_at = np.clip(month, 0, 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    ok &= ((month >= 1) & (month <= 12) & (day >= 1) & (day <= _DAYS_IN_MONTH[month_at] + (leap & (month == 2)))
           & (hour < 24) & (minute < 60) & (second < 60))
    bad = np.flatnonzero(valid & ~ok)
    if len(bad):
        shown = array[int(bad[0])].as_py().decode("utf-8", errors="replace")
        lines.fail(int(idx[bad[0]]) + 1, f"{col} {shown!r} is not a date-time like {_DATE_EXAMPLE}")
    odd = np.flatnonzero(valid & ((year < PLAUSIBLE_YEARS[0]) | (year > PLAUSIBLE_YEARS[1])))
    if len(odd):
        lines.fail(int(idx[odd[0]]) + 1, f"{col} year {year[odd[0]]} is not plausible for NEM data")
    y = year.astype(np.int64) - 1  # days since 1970-01-01 in the proleptic Gregorian calendar
    days = (y * 365 + y // 4 - y // 100 + y // 400 - _DAYS_TO_1970 + _DAYS_BEFORE_MONTH[month_at]
            + (leap & (month > 2)) + day - 1)
    out = ((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000_000).view("datetime64[ns]")
    out[~valid] = np.datetime64("NaT")
    return out


def _clean_ids(lines: _Lines, values: pd.Series, idx: np.ndarray, col: str) -> pd.Series:
    """Strip spaces from the (few) distinct region/interconnector ids and check they look like AEMO ids."""
    codes = values.cat.codes.to_numpy()
    categories = [str(c) for c in values.cat.categories]
    cleaned = [c.strip() for c in categories]
    for code, name in enumerate(cleaned):
        if not _ID_PATTERN.fullmatch(name):
            row = int(np.flatnonzero(codes == code)[0])
            problem = f"{col} {categories[code]!r} is not an AEMO id" if name else f"{col} is empty"
            lines.fail(int(idx[row]) + 1, problem)
    if cleaned != categories or categories != sorted(categories):
        return pd.Series(pd.Categorical(np.asarray(cleaned, dtype=object)[codes]))
    return values


def _required(lines: _Lines, values: np.ndarray, idx: np.ndarray, col: str) -> None:
    empty = np.flatnonzero(np.isnan(values) if values.dtype.kind == "f" else np.isnat(values))
    if len(empty):
        lines.fail(int(idx[empty[0]]) + 1, f"{col} is empty")


# --------------------------------------------------------------------------------------------------------
# Rows of one report before they become table frames
# --------------------------------------------------------------------------------------------------------
@dataclass
class _Rows:
    """Rows for one table: ids, NEM-time interval ends, interval lengths, values and where they came from."""

    ids: pd.Series  # category with sorted categories
    ends: np.ndarray  # datetime64[ns], NEM time
    minutes: np.ndarray  # int16
    values: dict[str, np.ndarray]  # table column -> float64
    line: np.ndarray  # 1-based physical line of each row
    intervention: np.ndarray | None = None  # 0 = pricing run, 1 = intervention (physical) run
    runno: np.ndarray | None = None
    lastchanged: np.ndarray | None = None  # datetime64[ns]

    def take(self, order: np.ndarray) -> _Rows:
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[order]

        ids = pd.Series(pd.Categorical.from_codes(self.ids.cat.codes.to_numpy()[order], dtype=self.ids.dtype))
        return _Rows(ids=ids, ends=self.ends[order], minutes=self.minutes[order],
                     values={k: v[order] for k, v in self.values.items()}, line=self.line[order],
                     intervention=pick(self.intervention), runno=pick(self.runno),
                     lastchanged=pick(self.lastchanged))


def _concat_rows(parts: list[_Rows]) -> _Rows:
    if len(parts) == 1:
        return parts[0]
    ids = pd.Series(pd.api.types.union_categoricals([p.ids for p in parts], sort_categories=True))
    n = [len(p.ends) for p in parts]

    def joined(attr: str, fill: Any) -> np.ndarray | None:
        arrays = [getattr(p, attr) for p in parts]
        if all(a is None for a in arrays):
            return None
        return np.concatenate([np.full(k, fill) if a is None else a for a, k in zip(arrays, n, strict=True)])

    return _Rows(ids=ids, ends=np.concatenate([p.ends for p in parts]),
                 minutes=np.concatenate([p.minutes for p in parts]),
                 values={k: np.concatenate([p.values[k] for p in parts]) for k in parts[0].values},
                 line=np.concatenate([p.line for p in parts]), intervention=joined("intervention", 0),
                 runno=joined("runno", 0), lastchanged=joined("lastchanged", np.datetime64("NaT", "ns")))


def _group_starts(codes: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For rows sorted by (code, end): True where a row starts a new (code, end) group."""
    new = np.ones(len(codes), dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (ends[1:] != ends[:-1])
    return new


def _same_values(rows: _Rows, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    same = np.ones(len(a), dtype=bool)
    for v in rows.values.values():
        x, y = v[a], v[b]
        same &= (x == y) | (np.isnan(x) & np.isnan(y))
    return same


def _keep_one_per_interval(lines: _Lines, rows: _Rows, what: str) -> tuple[_Rows, int]:
    """One row per (id, interval end), sorted by id then end: the pricing run (INTERVENTION=0) over an
    intervention re-run, then the highest RUNNO, then the latest LASTCHANGED; exact repeats collapse.
    Returns the kept rows and how many were left out; two rows that tie on all of that but differ fail."""
    codes = rows.ids.cat.codes.to_numpy()
    ends = rows.ends.view(np.int64)
    order = np.lexsort((rows.line, ends, codes))
    new = _group_starts(codes[order], ends[order])
    if new.all():
        return rows.take(order), 0
    n = len(codes)
    zeros = np.zeros(n, np.int64)
    intervention = zeros if rows.intervention is None else rows.intervention.astype(np.int64)
    runno = zeros if rows.runno is None else np.nan_to_num(rows.runno).astype(np.int64)
    changed = zeros if rows.lastchanged is None else rows.lastchanged.view(np.int64)  # NaT sorts oldest
    order = np.lexsort((rows.line, -changed, -runno, intervention, ends, codes))
    new = _group_starts(codes[order], ends[order])
    kept_at = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    dropped = np.flatnonzero(~new)
    kept, other = order[kept_at[dropped]], order[dropped]
    tie = (intervention[kept] == intervention[other]) & (runno[kept] == runno[other]) & (
        changed[kept] == changed[other])
    clash = np.flatnonzero(tie & ~_same_values(rows, kept, other))
    if len(clash):
        k, d = int(kept[clash[0]]), int(other[clash[0]])
        first, second = sorted((int(rows.line[k]), int(rows.line[d])))
        end = pd.Timestamp(rows.ends[k]).strftime(_DATE_FORMAT)
        lines.fail(second, f"{what} {rows.ids.iat[k]} interval ending {end} appears twice with different "
                           f"values (first at line {first})")
    return rows.take(order[new]), len(dropped)


# --------------------------------------------------------------------------------------------------------
# The two report formats
# --------------------------------------------------------------------------------------------------------
_Parsed = tuple[dict[str, _Rows], int, int]  # rows by table label, rows read, rows rejected


def _price_and_demand(lines: _Lines, header_at: int) -> _Parsed:
    header = [h.strip() for h in lines.fields(header_at)]
    missing = [c for c in _PRICE_AND_DEMAND_COLUMNS if c not in header]
    if missing:
        lines.fail(header_at + 1, f"PRICE_AND_DEMAND header lacks column(s) {', '.join(missing)}; "
                                  f"expected {','.join(_PRICE_AND_DEMAND_COLUMNS)}")
    if len(set(header)) != len(header):
        lines.fail(header_at + 1, "PRICE_AND_DEMAND header repeats a column name")
    idx = np.flatnonzero(~lines.blank)
    idx = idx[idx > header_at]
    if not len(idx):
        lines.fail(header_at + 1, "no data rows after the header")
    columns = _read_columns(lines, idx, header, numeric=["TOTALDEMAND", "RRP"], dates=["SETTLEMENTDATE"],
                            id_column="REGION", what="PRICE_AND_DEMAND")
    for col in ("TOTALDEMAND", "RRP"):
        _required(lines, columns.numbers[col], idx, col)
    _required(lines, columns.stamps["SETTLEMENTDATE"], idx, "SETTLEMENTDATE")
    rows = _Rows(ids=columns.ids, ends=columns.stamps["SETTLEMENTDATE"], minutes=np.zeros(len(idx), np.int16),
                 values={"price": columns.numbers["RRP"], "demand_mw": columns.numbers["TOTALDEMAND"]},
                 line=idx + 1)
    rows, rejected = _keep_one_per_interval(lines, rows, "PRICE_AND_DEMAND region")
    rows.minutes = _spacing_minutes(lines, rows)
    demand = replace(rows, values={"demand_mw": rows.values["demand_mw"]})
    prices = replace(rows, values={"price": rows.values["price"]})
    return {"prices:settlement": prices, "demand": demand}, len(idx), rejected


def _spacing_minutes(lines: _Lines, rows: _Rows) -> np.ndarray:
    """Interval length from the file's own spacing: the modal gap between consecutive interval ends of each
    region, taken separately on each side of the start of 5-minute settlement (rows sorted by id, end)."""
    era = (rows.ends > _FIVE_MINUTE_SETTLEMENT_AFTER).astype(np.int64)
    group = rows.ids.cat.codes.to_numpy().astype(np.int64) * 2 + era
    gaps = np.diff(rows.ends).astype("timedelta64[m]").astype(np.int64)
    same = group[1:] == group[:-1]
    minutes = np.empty(len(group), np.int16)
    for value in np.unique(group).tolist():
        group_gaps = gaps[same & (group[1:] == value)]
        if len(group_gaps):
            found, counts = np.unique(group_gaps, return_counts=True)
            mode = int(found[np.argmax(counts)])
        else:  # a single row: the length of its settlement era
            mode = 5 if value % 2 else 30
        if mode not in (5, 30):
            region = rows.ids.cat.categories[value // 2]
            lines.fail(None, f"cannot tell the interval length of {region}: its rows are mostly {mode} "
                             "minutes apart, expected 5 or 30")
        minutes[group == value] = mode
    return minutes


def _mmsdm(lines: _Lines) -> _Parsed:
    record = lines.first
    content = np.flatnonzero(~lines.blank)
    other = content[~np.isin(record[content], (ord("C"), ord("I"), ord("D")))]
    if len(other):
        lines.fail(int(other[0]) + 1, "not a C, I or D record")
    _check_not_cut(lines, record, content)
    declared: dict[tuple[str, str, str], list[tuple[int, list[str]]]] = {}
    for i in np.flatnonzero(record == ord("I")).tolist():
        fields = [f.strip() for f in lines.fields(i)]
        if len(fields) < 5 or fields[0] != "I":
            lines.fail(i + 1, "I record must be I,<report>,<sub-type>,<version>,<columns...>")
        if len(set(fields[4:])) != len(fields) - 4:
            lines.fail(i + 1, "I record repeats a column name")
        declared.setdefault((fields[1], fields[2], fields[3]), []).append((i, fields))

    sections: dict[tuple[str, str], list[_Rows]] = {}
    rows_read = 0
    for first, stop, key in _sections_of_d_records(lines, record):
        before = [d for d in declared.get(key, []) if d[0] < first]
        if not before:
            problem = "comes before its I record" if declared.get(key) else "has no I record"
            lines.fail(first + 1, f"D record for {','.join(key)} {problem}")
        section = _SECTIONS.get(key[:2])
        if section is None:
            continue
        i_line, fields = before[-1]
        idx = np.arange(first, stop)
        sections.setdefault(key[:2], []).append(_section_rows(lines, section, key, i_line, fields, idx))
        rows_read += len(idx)
    if not any(k[:2] in _SECTIONS for k in declared):
        found = ", ".join(sorted({f"{k[0]} {k[1]}" for k in declared})) or "no I records"
        lines.fail(None, f"unsupported report ({found}); supported: {'; '.join(SUPPORTED_REPORTS)}")

    out: dict[str, list[_Rows]] = {}
    rejected = 0
    for key, parts in sections.items():
        rows, dropped = _keep_one_per_interval(lines, _concat_rows(parts), f"{key[0]} {key[1]}")
        rejected += dropped
        out.setdefault(_SECTIONS[key].label, []).append(rows)
    return {label: _concat_rows(parts) for label, parts in out.items()}, rows_read, rejected


def _check_not_cut(lines: _Lines, record: np.ndarray, content: np.ndarray) -> None:
    """AEMO ends every MMSDM file with a ``C,"END OF REPORT",<n>`` footer (its count is not checked: shared
    copies were filtered). Without the footer a last line with no line break may have been cut short."""
    last = int(content[-1])
    if record[last] == ord("C") and "END OF REPORT" in lines.text(last).upper():
        return
    if lines.data.endswith(b"\n"):
        log.warning("%s: no END OF REPORT footer", lines.name)
        return
    lines.fail(last + 1, "file ends mid-line without the END OF REPORT footer (truncated)")


def _sections_of_d_records(lines: _Lines, record: np.ndarray) -> Iterator[tuple[int, int, tuple[str, ...]]]:
    """(first, stop, (report, sub-type, version)) for each stretch of consecutive D records of one section:
    runs of D lines are cut wherever the ``D,<report>,<sub-type>,<version>,`` prefix changes."""
    d = np.flatnonzero(record == ord("D"))
    if not len(d):
        return
    for at, length in _runs(d):
        start, last = int(d[at]), int(d[at + length - 1])
        while start <= last:
            fields = lines.fields(start)
            if len(fields) < 5:
                lines.fail(start + 1, "D record must be D,<report>,<sub-type>,<version>,<values...>")
            prefix = lines.data[lines.starts[start]:lines.starts[start] + _prefix_length(lines, start)]
            stop = _prefix_run(lines, start, last, prefix)
            yield start, stop, tuple(f.strip() for f in fields[1:4])
            start = stop


def _prefix_length(lines: _Lines, i: int) -> int:
    """Bytes of ``D,<report>,<sub-type>,<version>,`` at the start of line i."""
    text = lines.data[lines.starts[i]:lines.ends[i]]
    pos = -1
    for _ in range(4):
        pos = text.find(b",", pos + 1)
    return pos + 1


def _prefix_run(lines: _Lines, first: int, last: int, prefix: bytes) -> int:
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


def _section_rows(lines: _Lines, section: _Section, key: tuple[str, ...], i_line: int, fields: list[str],
                  idx: np.ndarray) -> _Rows:
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
    read = _read_columns(lines, idx, names, numeric=numeric, dates=dates, id_column=section.id_column,
                         what=what)
    for col in (*section.required, *(c for c in ("INTERVENTION", "RUNNO") if c in columns)):
        _required(lines, read.numbers[col], idx, col)
    ends = read.stamps["SETTLEMENTDATE"]
    _required(lines, ends, idx, "SETTLEMENTDATE")
    intervention = read.numbers.get("INTERVENTION")
    if intervention is not None:
        bad = np.flatnonzero((intervention != 0) & (intervention != 1))
        if len(bad):
            lines.fail(int(idx[bad[0]]) + 1, f"INTERVENTION is {intervention[bad[0]]:g}, expected 0 or 1")
    n = len(idx)
    return _Rows(
        ids=read.ids, ends=ends,
        minutes=np.where(ends > _FIVE_MINUTE_SETTLEMENT_AFTER, 5, 30).astype(np.int16) if section.trading
        else np.full(n, 5, np.int16),
        values={out: read.numbers.get(src, np.full(n, np.nan)) for out, src in section.values},
        line=idx + 1, intervention=intervention, runno=read.numbers.get("RUNNO"),
        lastchanged=read.stamps.get("LASTCHANGED"),
    )


# --------------------------------------------------------------------------------------------------------
# Table frames
# --------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=512)
def _one_value_dtype(value: str | None) -> pd.CategoricalDtype:
    """The dtype of a column holding one text value (made once: building a dtype checks its categories)."""
    return pd.CategoricalDtype([value])


def _table_frame(table: str, rows: _Rows, source: str, price_kind: str | None) -> pd.DataFrame:
    """The table's frame sorted by its key; ``rows`` arrive sorted by (id, interval end) with the ids'
    categories in string order."""
    n = len(rows.ends)
    minutes = rows.minutes.astype(np.int16)
    starts = (rows.ends - minutes.astype("timedelta64[m]") - _NEM_UTC_OFFSET).astype("datetime64[ns]")
    ids = rows.ids.cat.codes.to_numpy()
    values = {col: rows.values[col].astype(np.float64) for col in TABLE_COLUMNS[table] if col in rows.values}
    if n and (minutes != minutes[0]).any():  # the interval length comes before the start in the key
        order = np.lexsort((starts.view(np.int64), minutes, rows.ids.cat.codes.to_numpy()))
        ids, starts, minutes = ids[order], starts[order], minutes[order]
        values = {col: v[order] for col, v in values.items()}

    def constant(value: str | None) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(n, np.int8), dtype=_one_value_dtype(value))

    data: dict[str, Any] = {"market": constant(MARKET)}
    data["interconnector" if table == "interconnector_flows" else "location"] = pd.Categorical.from_codes(
        ids, dtype=rows.ids.dtype)
    if table == "prices":
        data["price_kind"] = constant(price_kind)
    data["interval_start"] = pd.DatetimeIndex(starts).tz_localize("UTC")
    data["interval_minutes"] = minutes
    data.update(values)
    data["source"] = constant(source)
    # In the table's column order, every column present: pandas then neither reindexes nor checks for
    # missing columns. copy=False: the arrays are fresh, and consolidating them would cost more than the parse.
    ordered = {col: data[col] if col in data else np.full(n, np.nan) for col in TABLE_COLUMNS[table]}
    return pd.DataFrame(ordered, copy=False)


def _sorted_by_key(frame: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    sort_keys = []
    for col in reversed(key):
        values = frame[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            in_order = values.cat.reorder_categories(sorted(values.cat.categories))
            sort_keys.append(in_order.cat.codes.to_numpy())
        elif values.dtype == object:
            sort_keys.append(pd.factorize(values, sort=True)[0])
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            sort_keys.append(values.to_numpy(dtype="datetime64[ns]").view(np.int64))
        else:
            sort_keys.append(values.to_numpy())
    return frame.take(np.lexsort(sort_keys)).reset_index(drop=True)


def _tables(name: str, parts: list[dict[str, _Rows]]) -> dict[str, pd.DataFrame]:
    pieces: dict[str, list[pd.DataFrame]] = {}
    for part in parts:
        for label, rows in part.items():
            table, _, price_kind = label.partition(":")
            pieces.setdefault(table, []).append(_table_frame(table, rows, name, price_kind or None))
    out: dict[str, pd.DataFrame] = {}
    for table, frames in pieces.items():
        if len(frames) == 1:
            out[table] = frames[0]
            continue
        key = list(TABLE_KEYS[table])
        frame = _sorted_by_key(concat_frames(frames), TABLE_KEYS[table])
        twice = frame.duplicated(key)
        if twice.any():
            row = frame[twice].iloc[0]
            raise IngestError(name, None, f"{table} has two rows for {row[key[1]]} at "
                                          f"{row['interval_start']} from different sections or members")
        out[table] = frame
    return out


# --------------------------------------------------------------------------------------------------------
# The connector
# --------------------------------------------------------------------------------------------------------
_LOCAL_NAME = re.compile(
    r"^(?:PRICE_AND_DEMAND_(?P<pd_month>\d{6})_[A-Z0-9]+\.csv"
    r"|PUBLIC_DVD_(?P<dvd_table>[A-Z_]+?)_(?P<dvd_month>\d{6})\d{6}\.(?:zip|csv)"
    r"|PUBLIC_ARCHIVE#(?P<arc_table>[A-Z_]+)#FILE\d+#(?P<arc_month>\d{6})\d{6}\.(?:zip|csv))$",
    re.IGNORECASE,
)

_DISPATCHIS_NAME = re.compile(r"^PUBLIC_DISPATCHIS_(?P<stamp>\d{12})_(?P<id>\d+)\.zip$", re.IGNORECASE)
_DISPATCHIS_DAY_NAME = re.compile(r"^PUBLIC_DISPATCHIS_(?P<day>\d{8})\.zip$", re.IGNORECASE)
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_FIVE_MINUTES = timedelta(minutes=5)
_MAX_ZIP_DEPTH = 2  # an Archive day (zip) of interval zips of one CSV each


@dataclass(frozen=True)
class DispatchIsFile:
    """One 5-minute DispatchIS report as NEMweb names it: the interval end (NEM time) is in the name."""

    name: str
    url: str
    interval_end: datetime
    file_id: int


def dispatchis_file(name: str, url: str = "") -> DispatchIsFile | None:
    """The report behind a ``PUBLIC_DISPATCHIS_<YYYYMMDDHHMM>_<id>.zip`` name, or None for any other name."""
    match = _DISPATCHIS_NAME.match(name)
    if not match:
        return None
    try:
        end = datetime.strptime(match["stamp"], "%Y%m%d%H%M")
    except ValueError:
        return None
    return DispatchIsFile(name=name, url=url, interval_end=end, file_id=int(match["id"]))


def parse_dispatchis_listing(html: str, folder_url: str = DISPATCHIS_CURRENT_URL) -> list[DispatchIsFile]:
    """The DispatchIS reports linked from a NEMweb folder listing (an IIS page of ``<A HREF=...>`` links),
    one per interval (the highest id where AEMO re-issued one), sorted by interval end."""
    found = []
    for href in _HREF.findall(html):
        url = urljoin(folder_url, href)
        report = dispatchis_file(unquote(url.rstrip("/").rsplit("/", 1)[-1]), url)
        if report is not None:
            found.append(report)
    return _latest_per_interval(found)


def _latest_per_interval(reports: list[DispatchIsFile]) -> list[DispatchIsFile]:
    latest: dict[datetime, DispatchIsFile] = {}
    for report in reports:
        kept = latest.get(report.interval_end)
        if kept is None or report.file_id > kept.file_id:
            latest[report.interval_end] = report
    return [latest[end] for end in sorted(latest)]


def dispatchis_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The interval ends, exclusive then inclusive, of the dispatch intervals that START on the NEM days
    ``start`` to ``end``: a day's intervals end at 00:05 to 24:00."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return datetime.combine(start, datetime.min.time()), datetime.combine(end + timedelta(days=1),
                                                                          datetime.min.time())


def select_dispatchis(reports: list[DispatchIsFile], start: date, end: date) -> list[DispatchIsFile]:
    """The reports whose interval starts on the NEM days ``start`` to ``end``."""
    lo, hi = dispatchis_bounds(start, end)
    return [r for r in reports if lo < r.interval_end <= hi]


def dispatchis_archive_members(archive: RawFile, start: date, end: date) -> list[RawFile]:
    """The interval reports inside one Archive day zip whose interval starts on the days ``start`` to
    ``end``, each under its own name."""
    members = {}
    for member in archive.members():
        inner = member.name.rsplit("/", 1)[-1]
        report = dispatchis_file(inner)
        if report is not None:
            members[report] = RawFile(name=inner, data=member.data)
    return [members[r] for r in select_dispatchis(_latest_per_interval(list(members)), start, end)]


class _ServerError(Exception):
    """A 5xx or 429 (too many requests) answer: worth retrying."""


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (requests.ConnectionError, requests.Timeout,
                            requests.exceptions.ChunkedEncodingError, _ServerError))


def _months(start: date, end: date) -> list[tuple[int, int]]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    months = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        months.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def mmsdm_file_name(table: str, year: int, month: int) -> str:
    """AEMO's name for one table's monthly MMSDM archive file."""
    if (year, month) >= _ARCHIVE_NAMING_FROM:
        return f"PUBLIC_ARCHIVE#{table}#FILE01#{year}{month:02d}010000.zip"
    return f"PUBLIC_DVD_{table}_{year}{month:02d}010000.zip"


def _csv_members(members: list[RawFile], depth: int = 1) -> list[RawFile]:
    """The text files of a zip's members, opening zips inside it (an Archive day holds interval zips); where
    one zip holds several DispatchIS reports of one interval, only AEMO's latest (highest id) is kept."""
    reports = [r for r in (dispatchis_file(m.name.rsplit("/", 1)[-1]) for m in members) if r is not None]
    superseded = {r.name for r in reports} - {r.name for r in _latest_per_interval(reports)}
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
        if depth >= _MAX_ZIP_DEPTH:
            raise IngestError(member.name, None, f"zip archives nested more than {_MAX_ZIP_DEPTH} deep")
        inner = member.members()
        if not inner:
            raise IngestError(member.name, None, "zip archive inside holds no files")
        out += _csv_members(inner, depth + 1)
    return out


class NemConnector:
    """Fetch and parse AEMO's NEM price, demand and interconnector files."""

    market = MARKET
    timezone = "Etc/GMT-10"  # NEM time is UTC+10 all year (POSIX zone names invert the sign)
    regions = REGIONS

    def __init__(self, session: Any | None = None, *, max_attempts: int = 5, backoff_seconds: float = 2.0,
                 timeout: tuple[float, float] = (10.0, 60.0)):
        self._session = session  # anything with requests.Session's get(); tests pass a fake
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.timeout = timeout

    # -- fetch ---------------------------------------------------------------------------------------------
    def urls(self, start: date, end: date, kind: str = "price_and_demand") -> list[tuple[str, str]]:
        """(file name, URL) of every AEMO file of ``kind`` for the months from ``start`` to ``end``."""
        kind = self._kind(kind)
        if kind == DISPATCH_IS:
            raise ValueError("dispatch_is files are found from NEMweb's folder listing: use fetch()")
        out = []
        for y, m in _months(start, end):
            if kind == "price_and_demand":
                out += [(f"PRICE_AND_DEMAND_{y}{m:02d}_{region}.csv",
                         PRICE_AND_DEMAND_URL.format(yyyymm=f"{y}{m:02d}", region=region))
                        for region in self.regions]
            else:
                name = mmsdm_file_name(kind, y, m)
                out.append((name, MMSDM_URL.format(yyyy=y, mm=f"{m:02d}", file=quote(name, safe=""))))
        return out

    def fetch(self, start: date, end: date, *, source: str | Path | None = None,
              kind: str = "price_and_demand", latest: int | None = None) -> list[RawFile]:
        """The AEMO files of ``kind`` for the months from ``start`` to ``end``.

        ``kind`` is ``"price_and_demand"``, an MMSDM table such as ``"DISPATCHPRICE"``, or ``"dispatch_is"``:
        the 5-minute DispatchIS reports of the dispatch intervals starting on the NEM days ``start`` to
        ``end``, one RawFile per interval, from NEMweb's Current folder and, for intervals older than it
        holds, from the Archive day zips (see :meth:`fetch_dispatch_is`; ``latest`` keeps only that many of
        the newest intervals, for a 5-minute job). ``source`` may be the URL of one file, a local file
        (returned as it is) or a folder (its AEMO-named files of that kind and those months, searched
        recursively and sorted; ``kind="all"`` takes every kind); without it the files are downloaded from
        AEMO's public URLs (see :meth:`urls`).
        """
        if isinstance(source, str) and source.startswith(("https://", "http://")):
            return [self._download(unquote(source.rstrip("/").rsplit("/", 1)[-1]), source)]
        if source is not None:
            return self._local(Path(source), start, end, kind)
        if self._kind(kind) == DISPATCH_IS:
            return self.fetch_dispatch_is(start, end, latest=latest)
        return [self._download(name, url) for name, url in self.urls(start, end, kind)]

    def fetch_dispatch_is(self, start: date, end: date, *, latest: int | None = None) -> list[RawFile]:
        """The DispatchIS report of every dispatch interval starting on the NEM days ``start`` to ``end``,
        sorted by interval: from the Current folder's listing, and for intervals before the oldest one it
        lists, from the Archive day zips (their interval reports are taken out, one RawFile each).

        AEMO does not document which intervals an Archive day holds, so the zip named after an interval's
        end date is read first and, for intervals still missing, the one of the day before (a zip that is
        not there, HTTP 404, is skipped). Intervals found nowhere are logged as a warning; none at all is
        an IngestError.
        """
        if latest is not None and latest < 1:
            raise ValueError(f"latest must be at least 1, not {latest}")
        listing = self._download("DispatchIS_Reports.html", DISPATCHIS_CURRENT_URL)
        current = parse_dispatchis_listing(listing.data.decode("utf-8", errors="replace"))
        if not current:
            raise IngestError(DISPATCHIS_CURRENT_URL, None, "the folder listing links no PUBLIC_DISPATCHIS files")
        lo, hi = dispatchis_bounds(start, end)
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
                out[report.interval_end] = self._download(report.name, report.url)
        older = [s for s in wanted if s < current[0].interval_end]
        tried: set[date] = set()
        for days_back in (0, 1):
            missing = [s for s in older if s not in out]
            for day in sorted({(s - timedelta(days=days_back)).date() for s in missing} - tried):
                tried.add(day)
                name = f"PUBLIC_DISPATCHIS_{day:%Y%m%d}.zip"
                archive = self._download(name, DISPATCHIS_ARCHIVE_URL.format(yyyymmdd=f"{day:%Y%m%d}"),
                                         missing_ok=True)
                if archive is None:
                    continue
                for member in dispatchis_archive_members(archive, start, end):
                    report = dispatchis_file(member.name)
                    if report is not None and report.interval_end in wanted_set:
                        out.setdefault(report.interval_end, member)
        if not out:
            raise IngestError(DISPATCHIS_CURRENT_URL, None,
                              f"no DispatchIS reports for {start} to {end} in the Current or Archive folders")
        gaps = [s for s in wanted if s not in out and s <= current[-1].interval_end]
        if gaps:
            log.warning("DispatchIS: %d of %d intervals for %s to %s not published (first ending %s)",
                        len(gaps), len(wanted), start, end, gaps[0])
        return [out[s] for s in sorted(out)]

    @staticmethod
    def _kind(kind: str) -> str:
        if kind.lower() == "price_and_demand":
            return "price_and_demand"
        if kind.upper() in MMSDM_TABLES:
            return kind.upper()
        if kind.lower() == DISPATCH_IS:
            return DISPATCH_IS
        raise ValueError(f"unknown NEM file kind {kind!r}; use 'price_and_demand', '{DISPATCH_IS}' or one of "
                         f"{', '.join(MMSDM_TABLES)}")

    def _local(self, path: Path, start: date, end: date, kind: str) -> list[RawFile]:
        if path.is_file():
            return [RawFile.from_path(path)]
        if not path.is_dir():
            raise IngestError(str(path), None, "no such file or folder")
        wanted = "all" if kind.lower() == "all" else self._kind(kind)
        months = {f"{y}{m:02d}" for y, m in _months(start, end)}
        found = []
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            match = _LOCAL_NAME.match(unquote(f.name))  # NEMOSIS keeps '#' as '%23' on disk
            if not match:
                continue
            month = match["pd_month"] or match["dvd_month"] or match["arc_month"]
            table = match["dvd_table"] or match["arc_table"]
            file_kind = table.upper() if table else "price_and_demand"
            if month in months and wanted in ("all", file_kind):
                found.append(RawFile(name=unquote(f.name), data=f.read_bytes()))
        if wanted in ("all", DISPATCH_IS):
            found += self._local_dispatch_is(path, start, end)
        if not found:
            raise IngestError(str(path), None,
                              f"no AEMO {wanted} files for {start:%Y-%m} to {end:%Y-%m} in this folder")
        log.info("found %d AEMO files in %s", len(found), path)
        return found

    @staticmethod
    def _local_dispatch_is(path: Path, start: date, end: date) -> list[RawFile]:
        """A folder's DispatchIS interval reports for those days, and those inside its Archive day zips."""
        # Interval files are read only once chosen by name: a month's folder holds some 8,640 of them.
        reports: dict[DispatchIsFile, Path | RawFile] = {}
        first, last = start - timedelta(days=1), end + timedelta(days=1)
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            report = dispatchis_file(f.name)
            day = _DISPATCHIS_DAY_NAME.match(f.name)
            if report is not None:
                reports[report] = f
            elif day and first <= datetime.strptime(day["day"], "%Y%m%d").date() <= last:
                for member in dispatchis_archive_members(RawFile.from_path(f), start, end):
                    reports[dispatchis_file(member.name)] = member  # type: ignore[index]
        chosen = (reports[r] for r in select_dispatchis(_latest_per_interval(list(reports)), start, end))
        return [RawFile.from_path(c) if isinstance(c, Path) else c for c in chosen]

    @overload
    def _download(self, name: str, url: str, *, missing_ok: Literal[False] = False) -> RawFile: ...

    @overload
    def _download(self, name: str, url: str, *, missing_ok: bool) -> RawFile | None: ...

    def _download(self, name: str, url: str, *, missing_ok: bool = False) -> RawFile | None:
        if self._session is None:
            self._session = requests.Session()
        session = self._session
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=60),
            retry=retry_if_exception(_transient),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = session.get(url, headers={"User-Agent": USER_AGENT}, timeout=self.timeout)
                    if response.status_code >= 500 or response.status_code == 429:
                        raise _ServerError(f"HTTP {response.status_code}")
        except (requests.RequestException, _ServerError) as exc:
            problem = f"download failed after {self.max_attempts} attempt(s): {exc}"
            raise IngestError(url, None, problem) from exc
        if response.status_code == 404 and missing_ok:
            log.info("not published: %s (HTTP 404)", url)
            return None
        if response.status_code != 200:
            raise IngestError(url, None, f"download failed: HTTP {response.status_code}")
        data = response.content
        if name.endswith(".zip") and data[:4] != b"PK\x03\x04":
            raise IngestError(url, None, "the server did not send a zip archive")
        if name.endswith(".csv") and data.lstrip()[:1] == b"<":
            raise IngestError(url, None, "the server sent an HTML page instead of the CSV")
        log.info("downloaded %s (%d bytes)", url, len(data))
        return RawFile(name=name, data=data)

    # -- parse ---------------------------------------------------------------------------------------------
    def parse(self, raw: RawFile) -> ParseResult:
        """Rows of one AEMO file (a CSV, or a zip of CSVs) by store table; see the module docstring."""
        members = raw.members()
        if not members or members == [raw] and raw.data[:2] == b"PK":
            raise IngestError(raw.name, None, "zip archive holds no files or is damaged")
        members = _csv_members(members)
        parts = []
        rows_read = rows_rejected = 0
        for member in members:
            rows, read, rejected = self._parse_member(member)
            parts.append(rows)
            rows_read += read
            rows_rejected += rejected
        tables = _tables(raw.name, parts)
        log.debug("%s: %d rows read, %d rejected, %s", raw.name, rows_read, rows_rejected,
                  {k: len(v) for k, v in tables.items()})
        return ParseResult(source=raw.name, tables=tables, rows_read=rows_read, rows_rejected=rows_rejected)

    @staticmethod
    def _parse_member(member: RawFile) -> _Parsed:
        decode_text(member)  # refuses empty, binary and non-UTF-8 files with a clear error
        data = member.data[3:] if member.data.startswith(b"\xef\xbb\xbf") else member.data
        lines = _Lines(member.name, data)
        content = np.flatnonzero(~lines.blank)
        if not len(content):
            raise IngestError(member.name, None, "file is empty")
        first = int(content[0])
        head = lines.text(first)
        if head[:2] in ("C,", "I,", "D,"):
            return _mmsdm(lines)
        header = {h.strip() for h in lines.fields(first)}
        if {"REGION", "SETTLEMENTDATE"} <= header or {"RRP", "TOTALDEMAND"} <= header:
            return _price_and_demand(lines, first)
        raise IngestError(member.name, first + 1, f"unknown report (first line {head[:60]!r}); "
                                                  f"supported: {'; '.join(SUPPORTED_REPORTS)}")
