"""IESO CSV reports: HOEP/predispatch/OR prices, zonal demand, generator output by month, and the
Market Renewal (May 2025 onward) day-ahead and real-time energy LMP reports.

The older reports open with ``\\``-prefixed preamble lines (``\\Hourly Zonal Demand Report``,
``\\Created at ...``, ``\\For 2022``) padded with commas; the LMP reports open with one line
``CREATED AT yyyy/mm/dd hh:mm:ss FOR yyyy/mm/dd``. Columns are looked up by their header names, so a
reordered file still parses. A missing required column is an error naming it (and, when the header has
columns outside the layout, those too: most likely the missing one renamed); a column the store can do
without (HOEP's predispatch and reserve prices, the zonal report's Ontario Demand and Diff) is loaded when
there. A column outside the layout is ignored and logged as a warning, so a column IESO adds does not stop
the year's file from loading. A row with the wrong number of fields (a truncated file) is an error.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.files import IngestError, RawFile, decode_text
from ingest.base import ParseResult
from ingest.ieso_common import (
    ONTARIO,
    interval_starts,
    parse_dates,
    parse_hours,
    parse_number_block,
    parse_numbers,
    refuse_first,
    reject_duplicates,
    table,
)

log = logging.getLogger(__name__)

_LMP_PREAMBLE = re.compile(
    r"^CREATED AT (\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})(?: FOR (\d{4}/\d{2}/\d{2}))?", re.IGNORECASE
)


@dataclass
class CsvReport:
    """A report's preamble, its header fields and its data cells (all text), with each row's file line."""

    source: str
    preamble: list[str]
    header: list[str]
    header_line: int
    cells: pd.DataFrame
    lines: np.ndarray

    def column(self, name: str) -> pd.Series:
        return self.cells[name]


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def read_report(raw: RawFile, text: str | None = None, *, trailing_comma: bool = False) -> CsvReport:
    """Split an IESO CSV report into preamble, header and cells, checking every row's field count.

    ``trailing_comma``: the report ends data rows with a comma the header does not have (an empty extra
    field), as PUB_GenOutputCapabilityMonth does.
    """
    if text is None:
        text = decode_text(raw)
    lines = text.replace("\r\n", "\n").split("\n")
    h = 0
    while h < len(lines) and (lines[h].startswith("\\") or _LMP_PREAMBLE.match(lines[h])):
        h += 1
    if h >= len(lines) or not lines[h].strip():
        raise IngestError(raw.name, h + 1, "no column header line after the report preamble")
    header = [f.strip() for f in lines[h].split(",")]
    while header and not header[-1]:
        header.pop()
    if not header:
        raise IngestError(raw.name, h + 1, "empty column header line")
    seen: set[str] = set()
    for name in header:
        if not name or _key(name) in seen:
            raise IngestError(raw.name, h + 1, f"blank or repeated column name {name!r} in the header")
        seen.add(_key(name))

    body = pd.Series(lines[h + 1 :], dtype=object)
    line_numbers = np.arange(h + 2, h + 2 + len(body))
    # Blank lines (or lines of bare commas) carry no row; IESO files end with one.
    keep = (body.str.strip(", \t") != "").to_numpy()
    body, line_numbers = body[keep], line_numbers[keep]
    if body.empty:
        raise IngestError(raw.name, h + 1, "the report has a header but no data rows")
    widths = (body.str.count(",") + 1).to_numpy()
    allowed = [len(header), len(header) + 1] if trailing_comma else [len(header)]
    refuse_first(raw.name, ~np.isin(widths, allowed), line_numbers,
                 lambda i: f"row has {widths[i]} fields, the header has {len(header)} (truncated or malformed row)")
    cells = pd.read_csv(
        io.StringIO("\n".join(body.tolist())),
        header=None,
        names=list(range(max(allowed))),
        dtype=str,
        na_filter=False,
        quoting=csv.QUOTE_NONE,
        engine="c",
        index_col=False,
        lineterminator="\n",
    )
    if len(cells) != len(body):
        raise IngestError(raw.name, None, f"read {len(cells)} rows where the file has {len(body)}")
    if trailing_comma:
        extra = (cells[len(header)].str.strip() != "").to_numpy()
        refuse_first(raw.name, extra, line_numbers, lambda i: "value after the last column")
    cells = cells.iloc[:, : len(header)]
    cells.columns = header
    return CsvReport(raw.name, lines[:h], header, h + 1, cells, line_numbers)


def _columns(report: CsvReport, known: dict[str, str], required: set[str],
             unneeded: frozenset[str] = frozenset()) -> dict[str, str]:
    """Map the report's header names onto our canonical names (by name, case-insensitively). The ``required``
    canonical names must be there, the others of ``known`` (published name -> canonical name) may be absent;
    a header name outside ``known`` is ignored with a warning naming it, unless a column of the layout is
    absent beside it (a rename, refused), other than the ``unneeded`` ones that a variant of the report lacks
    by design."""
    canonical_by_key = {_key(k): v for k, v in known.items()}
    found: dict[str, str] = {}
    ignored: list[str] = []
    for name in report.header:
        canonical = canonical_by_key.get(_key(name))
        if canonical is None:
            ignored.append(name)
        else:
            found[canonical] = name
    absent = [name for name, canonical in known.items() if canonical not in found and canonical not in unneeded]
    missing = [name for name in absent if known[name] in required]
    # A column of the layout absent beside one outside it is most likely that column renamed: loading would
    # drop its series unseen, so even a column the store can do without is then refused.
    if missing or (absent and ignored):
        unknown = f"; columns not in the layout: {', '.join(map(repr, ignored))}" if ignored else ""
        what = "missing required column(s)" if missing else "missing column(s)"
        raise IngestError(report.source, report.header_line,
                          f"{what}: {', '.join(map(repr, missing or absent))}{unknown}")
    if ignored:
        log.warning("%s, line %d: ignored column(s) %s, not in this report's layout (%s)", report.source,
                    report.header_line, ", ".join(map(repr, ignored)), ", ".join(known))
    return found


def _hourly_block(name: str, source: str, starts: np.ndarray, label: str, labels: list[str], value: str,
                  values: np.ndarray, **same: str) -> pd.DataFrame:
    """Table ``name`` from a report's block of hourly columns, ``values`` (hours x ``labels``): one row per
    hour and column, the column's label in ``label``, its number in ``value`` and ``same`` in every row."""
    return table(name, source, {
        **same,
        label: np.repeat(np.array(labels, dtype=object), len(starts)),
        "interval_start": np.tile(starts, len(labels)),
        "interval_minutes": 60,
        value: values.reshape(-1, order="F"),
    })


# --- PUB_PriceHOEPPredispOR -------------------------------------------------------------------------------

_PRICE_COLUMNS = {
    "Date": "date",
    "Hour": "hour",
    "HOEP": "HOEP",
    "Hour 1 Predispatch": "predispatch_h1",
    "Hour 2 Predispatch": "predispatch_h2",
    "Hour 3 Predispatch": "predispatch_h3",
    "OR 10 Min Sync": "OR_10S",
    "OR 10 Min non-sync": "OR_10NS",
    "OR 30 Min": "OR_30",
}


def parse_price_hoep(raw: RawFile, text: str | None = None) -> ParseResult:
    """Hourly HOEP, the hour-1/2/3 predispatch prices and the three operating-reserve prices, all for
    Ontario as a whole, one ``prices`` row per hour and price kind (NaN where the operator left it blank)."""
    report = read_report(raw, text)
    cols = _columns(report, _PRICE_COLUMNS, {"date", "hour", "HOEP"})
    dates = parse_dates(raw.name, report.column(cols["date"]), report.lines)
    hours = parse_hours(raw.name, report.column(cols["hour"]), report.lines)
    reject_duplicates(raw.name, pd.DataFrame({"date": dates, "hour": hours}), report.lines, "hour")
    starts = interval_starts(dates, hours)
    kinds = [k for k in _PRICE_COLUMNS.values() if k in cols and k not in ("date", "hour")]
    values = parse_number_block(raw.name, report.cells[[cols[k] for k in kinds]], report.lines)
    prices = _hourly_block("prices", raw.name, starts, "price_kind", kinds, "price", values, location=ONTARIO)
    return ParseResult(raw.name, {"prices": prices}, rows_read=len(starts))


# --- PUB_DemandZonal --------------------------------------------------------------------------------------

DEMAND_ZONES = (
    "Northwest",
    "Northeast",
    "Ottawa",
    "East",
    "Toronto",
    "Essa",
    "Bruce",
    "Southwest",
    "Niagara",
    "West",
)
_DEMAND_COLUMNS = {
    "Date": "date",
    "Hour": "hour",
    "Ontario Demand": "Ontario Demand",
    "Zone Total": "Zone Total",
    "Diff": "Diff",
    **{z: z for z in DEMAND_ZONES},
}


def parse_demand_zonal(raw: RawFile, text: str | None = None) -> ParseResult:
    """Hourly demand of the ten IESO zones (``location`` = zone name in capitals) and their sum
    ``Zone Total`` as location ONTARIO. The report's own ``Ontario Demand`` and ``Diff`` (Zone Total minus
    Ontario Demand) go to ``system_totals`` under those names, so no published number is dropped."""
    report = read_report(raw, text)
    cols = _columns(report, _DEMAND_COLUMNS, {"date", "hour", "Zone Total", *DEMAND_ZONES})
    dates = parse_dates(raw.name, report.column(cols["date"]), report.lines)
    hours = parse_hours(raw.name, report.column(cols["hour"]), report.lines)
    reject_duplicates(raw.name, pd.DataFrame({"date": dates, "hour": hours}), report.lines, "hour")
    starts = interval_starts(dates, hours)

    locations = [*(z.upper() for z in DEMAND_ZONES), ONTARIO]
    series = [*DEMAND_ZONES, "Zone Total"]
    demand_values = parse_number_block(raw.name, report.cells[[cols[c] for c in series]], report.lines)
    tables = {"demand": _hourly_block("demand", raw.name, starts, "location", locations, "demand_mw", demand_values)}
    metrics = [m for m in ("Ontario Demand", "Diff") if m in cols]
    if metrics:
        totals = parse_number_block(raw.name, report.cells[[cols[m] for m in metrics]], report.lines)
        tables["system_totals"] = _hourly_block("system_totals", raw.name, starts, "metric", metrics, "value_mw",
                                                totals, location=ONTARIO)
    return ParseResult(raw.name, tables, rows_read=len(starts))


# --- PUB_GenOutputCapabilityMonth -------------------------------------------------------------------------

_MEASUREMENTS = {
    "Output": "output_mw",
    "Capability": "capability_mw",
    "Forecast": "forecast_mw",
    "Available Capacity": "available_mw",
}
_GEN_MONTH_COLUMNS = {
    "Delivery Date": "date",
    "Generator": "unit",
    "Fuel Type": "fuel",
    "Measurement": "measurement",
    **{f"Hour {h}": f"h{h}" for h in range(1, 25)},
}


def parse_gen_output_month(raw: RawFile, text: str | None = None) -> ParseResult:
    """Per generator and hour: output, capability, forecast and available capacity (MW). The report has
    one row per generator, day and measurement with Hour 1..Hour 24 across; here one ``generation`` row
    per generator and hour holds all four (NaN for a measurement the generator does not report)."""
    report = read_report(raw, text, trailing_comma=True)
    cols = _columns(report, _GEN_MONTH_COLUMNS, set(_GEN_MONTH_COLUMNS.values()))
    lines = report.lines
    dates = parse_dates(raw.name, report.column(cols["date"]), lines)
    units = report.column(cols["unit"]).str.strip()
    fuels = report.column(cols["fuel"]).str.strip()
    measurement = report.column(cols["measurement"]).str.strip()
    refuse_first(raw.name, (units == "").to_numpy(), lines, lambda i: "blank generator")
    refuse_first(raw.name, (fuels == "").to_numpy(), lines, lambda i: "blank fuel type")
    target = measurement.map(_MEASUREMENTS)
    refuse_first(raw.name, target.isna().to_numpy(), lines, lambda i: f"unknown measurement "
                 f"{measurement.iloc[i]!r}; expected one of {', '.join(_MEASUREMENTS)}")
    reject_duplicates(
        raw.name,
        pd.DataFrame({"date": dates, "generator": units.to_numpy(), "measurement": measurement.to_numpy()}),
        lines,
        "generator measurement",
    )
    hourly = parse_number_block(raw.name, report.cells[[cols[f"h{h}"] for h in range(1, 25)]], lines)
    n = len(dates)
    # One output block per (day, generator, fuel); each report row fills one measurement of its block.
    keys = pd.DataFrame({"date": dates, "unit": units.to_numpy(), "fuel": fuels.to_numpy()})
    group = keys.groupby(["date", "unit", "fuel"], sort=True).ngroup().to_numpy()
    first_row = np.unique(group, return_index=True)[1]
    measures = list(_MEASUREMENTS.values())
    slot = pd.Categorical(target.to_numpy(), categories=measures).codes
    block = np.full((len(first_row), 24, len(measures)), np.nan)
    block[group, :, slot] = hourly
    labels = keys.iloc[first_row]
    generation = table(
        "generation",
        raw.name,
        {
            "unit": np.repeat(labels["unit"].to_numpy(), 24),
            "fuel": np.repeat(labels["fuel"].to_numpy(), 24),
            "interval_start": interval_starts(
                np.repeat(labels["date"].to_numpy(), 24), np.tile(np.arange(1, 25), len(first_row))
            ),
            "interval_minutes": 60,
            **{c: block[:, :, i].reshape(-1) for i, c in enumerate(measures)},
        },
    )
    return ParseResult(raw.name, {"generation": generation}, rows_read=n)


# --- Market Renewal energy LMP reports (PUB_DAHourlyEnergyLMP, PUB_RealtimeEnergyLMP) ---------------------

_LMP_COLUMNS = {
    "Delivery Hour": "hour",
    "Interval": "interval",
    "Pricing Location": "node",
    "LMP": "lmp",
    "Energy Loss Price": "loss",
    "Energy Congestion Price": "congestion",
}
_NAME_DATE = re.compile(r"_(\d{8})(\d{2})?(?:_v\d+)?\.csv$", re.IGNORECASE)


def _delivery_date(report: CsvReport, raw: RawFile) -> np.datetime64:
    """The delivery date from the ``CREATED AT ... FOR yyyy/mm/dd`` line, else from the file name
    (``..._YYYYMMDD[HH][_vN].csv``); both present and different is an error."""
    stated = None
    for i, line in enumerate(report.preamble):
        m = _LMP_PREAMBLE.match(line)
        if m and m.group(2):
            stated = (pd.to_datetime(m.group(2), format="%Y/%m/%d", errors="coerce"), i + 1)
    named = None
    m = _NAME_DATE.search(raw.name)
    if m:
        named = pd.to_datetime(m.group(1), format="%Y%m%d", errors="coerce")
    if stated is not None and pd.isna(stated[0]):
        raise IngestError(raw.name, stated[1], "the preamble's FOR date is not a date")
    if stated is not None and named is not None and not pd.isna(named) and named != stated[0]:
        raise IngestError(
            raw.name,
            stated[1],
            f"the preamble is FOR {stated[0]:%Y-%m-%d} but the file name says {named:%Y-%m-%d}",
        )
    date = stated[0] if stated is not None else named
    if date is None or pd.isna(date):
        raise IngestError(
            raw.name,
            1,
            "cannot tell the delivery date: no 'CREATED AT ... FOR yyyy/mm/dd' line "
            "and no _YYYYMMDD in the file name",
        )
    return np.datetime64(date.to_datetime64(), "ns")


def parse_energy_lmp(raw: RawFile, text: str | None = None) -> ParseResult:
    """Nodal energy LMPs with their loss and congestion components, day-ahead hourly (no ``Interval``
    column; market_run DA) or real-time 5-minute (``Interval`` 1..12 within the delivery hour; RT). IESO
    publishes LMP = energy + loss + congestion without the energy part, so energy is that difference."""
    report = read_report(raw, text)
    # The real-time report has Interval (5-minute intervals of the hour); the day-ahead one does not.
    cols = _columns(report, _LMP_COLUMNS, {"hour", "node", "lmp", "loss", "congestion"}, frozenset({"interval"}))
    lines = report.lines
    date = _delivery_date(report, raw)
    hours = parse_hours(raw.name, report.column(cols["hour"]), lines, "delivery hour")
    nodes = report.column(cols["node"]).str.strip()
    refuse_first(raw.name, (nodes == "").to_numpy(), lines, lambda i: "blank pricing location")
    realtime = "interval" in cols
    intervals = (
        parse_hours(raw.name, report.column(cols["interval"]), lines, "interval", 12) if realtime else None
    )
    keys = {"hour": hours, "node": nodes.to_numpy()}
    if intervals is not None:
        keys["interval"] = intervals
    reject_duplicates(raw.name, pd.DataFrame(keys), lines, "pricing location and interval")
    lmp, loss, congestion = (
        parse_numbers(raw.name, report.column(cols[c]), lines, cols[c]) for c in ("lmp", "loss", "congestion")
    )
    dates = np.full(len(hours), date)
    nodal = table(
        "nodal_lmp",
        raw.name,
        {
            "node": nodes.to_numpy(),
            "market_run": "RT" if realtime else "DA",
            "interval_start": interval_starts(dates, hours, intervals, 5),
            "interval_minutes": 5 if realtime else 60,
            "lmp": lmp,
            "energy": np.round(lmp - loss - congestion, 6),
            "congestion": congestion,
            "loss": loss,
        },
    )
    return ParseResult(raw.name, {"nodal_lmp": nodal}, rows_read=len(hours))
