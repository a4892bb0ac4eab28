"""The AEMO NEM connector: parsing AEMO's real files exactly, refusing bad ones with file and line, and
fetching from a folder or (faked) AEMO URLs. Expected numbers were read from the files with head/tail/grep,
and a row-by-row reading with the csv module checks every row of every real file."""
from __future__ import annotations

import csv
import functools
import io
import math
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.files import IngestError, RawFile
from ingest.base import ParseResult
from ingest.nem import NemConnector, mmsdm_file_name

FIXTURES = Path(__file__).parent / "fixtures" / "nem"
PD = "markets/aemo/price_and_demand"
MMSDM = "markets/aemo/mmsdm_nemosis_filtered"


@pytest.fixture(scope="module")
def nem() -> NemConnector:
    return NemConnector()


def _raw(data_dir: Path, relative: str) -> RawFile:
    return RawFile.from_path(data_dir / relative)


def _inner(data_dir: Path, zip_name: str) -> tuple[str, bytes]:
    with zipfile.ZipFile(data_dir / MMSDM / zip_name) as zf:
        (name,) = zf.namelist()
        return name, zf.read(name)


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buffer.getvalue()


# The output contract the store writer depends on: exact columns per table, and the key columns.
COLUMNS = {
    "prices": ["market", "location", "price_kind", "interval_start", "interval_minutes", "price", "source"],
    "demand": ["market", "location", "interval_start", "interval_minutes", "demand_mw", "source"],
    "interconnector_flows": ["market", "interconnector", "interval_start", "interval_minutes", "mw_flow",
                             "metered_mw_flow", "mw_losses", "export_limit", "import_limit", "source"],
}
KEYS = {
    "prices": ["market", "location", "price_kind", "interval_minutes", "interval_start"],
    "demand": ["market", "location", "interval_minutes", "interval_start"],
    "interconnector_flows": ["market", "interconnector", "interval_minutes", "interval_start"],
}


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _assert_well_formed(result: ParseResult, name: str) -> None:
    """The output contract the store writer relies on."""
    assert result.source == name
    for table, frame in result.tables.items():
        assert list(frame.columns) == COLUMNS[table]
        assert str(frame["interval_start"].dtype) == "datetime64[ns, UTC]"
        assert frame["interval_minutes"].dtype in (np.int16, np.int64)
        assert set(frame["interval_minutes"].unique()) <= {5, 30}
        for col in frame.columns:
            if col in ("market", "location", "price_kind", "interconnector", "source"):
                # categorical (the writer and chDB read the codes, not a Python string per row) of strings
                assert isinstance(frame[col].dtype, pd.CategoricalDtype)
                assert frame[col].notna().all() and all(type(c) is str for c in frame[col].cat.categories)
            elif col != "interval_start" and col != "interval_minutes":
                assert frame[col].dtype == np.float64
        key = KEYS[table]
        assert frame[key].notna().all().all()
        assert not frame.duplicated(key).any()
        assert frame.index.equals(pd.RangeIndex(len(frame)))
        pd.testing.assert_frame_equal(frame, frame.sort_values(key, kind="stable").reset_index(drop=True))
        assert (frame["market"] == "NEM").all() and (frame["source"] == name).all()
        value = {"prices": "price", "demand": "demand_mw", "interconnector_flows": "mw_flow"}[table]
        assert np.isfinite(frame[value]).all()


# ------------------------------------------------------------------------------------------------------------
# Real files: exact counts and spot values
# ------------------------------------------------------------------------------------------------------------
# PRICE_AND_DEMAND_<month_region>.csv -> (data rows, first SETTLEMENTDATE, last SETTLEMENTDATE, minutes,
#          (TOTALDEMAND, RRP) of the first row, (TOTALDEMAND, RRP) of the last row)
PRICE_AND_DEMAND = {
    "201602_NSW1": (1392, "2016/02/01 00:30", "2016/03/01 00:00", 30, (6735.07, 30.04), (7530.27, 34.06)),
    "201602_QLD1": (1392, "2016/02/01 00:30", "2016/03/01 00:00", 30, (5999.38, 32.8), (6227.93, 40.91)),
    "201602_SA1": (1392, "2016/02/01 00:30", "2016/03/01 00:00", 30, (1408.32, 30.89), (1645.3, 36.74)),
    "201602_TAS1": (1392, "2016/02/01 00:30", "2016/03/01 00:00", 30, (947.51, 110.27), (799.82, 235.52)),
    "201602_VIC1": (1392, "2016/02/01 00:30", "2016/03/01 00:00", 30, (4441.28, 27.27), (5038.51, 32.97)),
    "201801_NSW1": (1488, "2018/01/01 00:30", "2018/02/01 00:00", 30, (6912.25, 91.86), (6966.93, 64.09)),
    "201801_QLD1": (1488, "2018/01/01 00:30", "2018/02/01 00:00", 30, (6030.84, 81.27), (6405.54, 64.38)),
    "201801_SA1": (1488, "2018/01/01 00:30", "2018/02/01 00:00", 30, (1289.1, 107.17), (1284.95, 80.43)),
    "201801_TAS1": (1488, "2018/01/01 00:30", "2018/02/01 00:00", 30, (982.07, 92.28), (988.6, 86.62)),
    "201801_VIC1": (1488, "2018/01/01 00:30", "2018/02/01 00:00", 30, (4251.18, 92.46), (4415.61, 75.0)),
    "202401_NSW1": (8928, "2024/01/01 00:05", "2024/02/01 00:00", 5, (6574.92, 57.98), (7465.11, 75.48)),
    "202401_VIC1": (8928, "2024/01/01 00:05", "2024/02/01 00:00", 5, (3977.1, 51.80), (4443.72, 62.76)),
    "202602_VIC1": (4896, "2026/02/01 00:05", "2026/02/18 00:00", 5, (4718.63, 47.06), (4684.8, 35.94)),
    "202606_QLD1": (8640, "2026/06/01 00:05", "2026/07/01 00:00", 5, (5721.21, 72.75), (6006.48, 84.50)),
    "202607_QLD1": (3168, "2026/07/01 00:05", "2026/07/12 00:00", 5, (6006.64, 69.02), (6080.16, 57.13)),
}


def _start_utc(nem_end: str, minutes: int) -> pd.Timestamp:
    return _utc(nem_end) - pd.Timedelta(minutes=minutes) - pd.Timedelta(hours=10)


@pytest.mark.realdata
@pytest.mark.parametrize("month_region", sorted(PRICE_AND_DEMAND))
def test_price_and_demand_real_file(nem, data_dir, month_region):
    rows, first_end, last_end, minutes, first, last = PRICE_AND_DEMAND[month_region]
    name = f"PRICE_AND_DEMAND_{month_region}.csv"
    region = month_region.split("_")[1]
    result = nem.parse(_raw(data_dir, f"{PD}/{name}"))
    _assert_well_formed(result, name)
    assert (result.rows_read, result.rows_rejected) == (rows, 0)
    assert sorted(result.tables) == ["demand", "prices"]
    prices, demand = result.tables["prices"], result.tables["demand"]
    assert len(prices) == len(demand) == rows
    assert (prices["location"] == region).all() and (prices["price_kind"] == "settlement").all()
    assert (prices["interval_minutes"] == minutes).all() and (demand["interval_minutes"] == minutes).all()
    assert prices["interval_start"].iat[0] == _start_utc(first_end, minutes)
    assert prices["interval_start"].iat[-1] == _start_utc(last_end, minutes)
    assert (demand["demand_mw"].iat[0], prices["price"].iat[0]) == first
    assert (demand["demand_mw"].iat[-1], prices["price"].iat[-1]) == last
    assert prices["interval_start"].diff().dropna().eq(pd.Timedelta(minutes=minutes)).all()  # no gaps
    pd.testing.assert_series_equal(prices["interval_start"], demand["interval_start"])


@pytest.mark.realdata
def test_price_and_demand_sa1_201801_matches_the_brief(nem, data_dir):
    result = nem.parse(_raw(data_dir, f"{PD}/PRICE_AND_DEMAND_201801_SA1.csv"))
    prices = result.tables["prices"]
    assert len(prices) == 1488
    assert prices["interval_start"].iat[0] == pd.Timestamp("2017-12-31T14:00Z")  # end 2018/01/01 00:30 NEM
    assert prices["interval_minutes"].iat[0] == 30


# zip -> (D rows read, rows left out, table, rows kept, interval minutes, first start UTC, last start UTC,
#         spot values: (id, SETTLEMENTDATE in NEM time, column, value) read from INTERVENTION=0 rows)
MMSDM_FILES = {
    "PUBLIC_DVD_DISPATCHPRICE_201805010000.zip": (
        4606, 1726, "prices", 2880, 5, "2018-04-30T14:00", "2018-05-31T13:55",
        # SA1's intervention re-run at 00:05 has RRP 69.9317: the pricing run's 71.11784 must be kept
        [("NSW1", "2018/05/01 00:05", "price", 62.08993), ("SA1", "2018/05/01 00:05", "price", 71.11784),
         ("SA1", "2018/06/01 00:00", "price", 72.5436)]),
    "PUBLIC_DVD_DISPATCHREGIONSUM_201805010000.zip": (
        4606, 1726, "demand", 2880, 5, "2018-04-30T14:00", "2018-05-31T13:55",
        [("NSW1", "2018/05/01 00:05", "demand_mw", 7425.47),
         ("SA1", "2018/06/01 00:00", "demand_mw", 1485.28)]),
    "PUBLIC_DVD_DISPATCHINTERCONNECTORRES_201805010000.zip": (
        2303, 863, "interconnector_flows", 1440, 5, "2018-04-30T14:00", "2018-05-31T13:55",
        # the intervention re-run at 00:05 has MWFLOW -293.26254
        [("VIC1-NSW1", "2018/05/01 00:05", "mw_flow", -327.01787),
         ("VIC1-NSW1", "2018/05/01 00:05", "metered_mw_flow", -345.78252),
         ("VIC1-NSW1", "2018/05/01 00:05", "mw_losses", 16.81819),
         ("VIC1-NSW1", "2018/05/01 00:05", "export_limit", 394.92989),
         ("VIC1-NSW1", "2018/05/01 00:05", "import_limit", -364.86878),
         ("VIC1-NSW1", "2018/06/01 00:00", "mw_flow", -504.61194)]),
    "PUBLIC_DVD_TRADINGPRICE_201805010000.zip": (
        480, 0, "prices", 480, 30, "2018-04-30T14:00", "2018-05-31T13:30",
        [("NSW1", "2018/05/01 00:30", "price", 60.97), ("SA1", "2018/06/01 00:00", "price", 95.68)]),
    "PUBLIC_DVD_TRADINGINTERCONNECT_201805010000.zip": (
        240, 0, "interconnector_flows", 240, 30, "2018-04-30T14:00", "2018-05-31T13:30",
        [("VIC1-NSW1", "2018/05/01 00:30", "mw_flow", -175.05),
         ("VIC1-NSW1", "2018/05/01 00:30", "metered_mw_flow", -178.92),
         ("VIC1-NSW1", "2018/06/01 00:00", "mw_losses", 37.65)]),
    "PUBLIC_DVD_DISPATCHPRICE_202112010000.zip": (
        2880, 0, "prices", 2880, 5, "2021-11-30T14:00", "2021-12-31T13:55",
        [("SA1", "2021/12/01 00:05", "price", 103.73845), ("NSW1", "2022/01/01 00:00", "price", 124.77056)]),
    "PUBLIC_DVD_DISPATCHREGIONSUM_202112010000.zip": (
        2880, 0, "demand", 2880, 5, "2021-11-30T14:00", "2021-12-31T13:55",
        [("NSW1", "2021/12/01 00:05", "demand_mw", 7280.05),
         ("SA1", "2022/01/01 00:00", "demand_mw", 1762.02)]),
    "PUBLIC_DVD_DISPATCHINTERCONNECTORRES_202112010000.zip": (
        1440, 0, "interconnector_flows", 1440, 5, "2021-11-30T14:00", "2021-12-31T13:55",
        [("VIC1-NSW1", "2021/12/01 00:05", "mw_flow", -100.71501),
         ("VIC1-NSW1", "2022/01/01 00:00", "import_limit", -271.00238)]),
    "PUBLIC_DVD_TRADINGPRICE_202112010000.zip": (  # after 5-minute settlement: 288 periods a day
        2880, 0, "prices", 2880, 5, "2021-11-30T14:00", "2021-12-31T13:55",
        [("NSW1", "2021/12/01 00:05", "price", 83.01), ("SA1", "2022/01/01 00:00", "price", 139.28)]),
    "PUBLIC_ARCHIVE#DISPATCHPRICE#FILE01#202408010000.zip": (
        2880, 0, "prices", 2880, 5, "2024-07-31T14:00", "2024-08-31T13:55",
        [("NSW1", "2024/08/01 00:05", "price", 199.99), ("SA1", "2024/09/01 00:00", "price", -38.65503)]),
    "PUBLIC_ARCHIVE#DISPATCHREGIONSUM#FILE01#202408010000.zip": (
        2880, 0, "demand", 2880, 5, "2024-07-31T14:00", "2024-08-31T13:55",
        [("SA1", "2024/08/01 00:05", "demand_mw", 1601.52),
         ("NSW1", "2024/09/01 00:00", "demand_mw", 6943.63)]),
    "PUBLIC_ARCHIVE#DISPATCHINTERCONNECTORRES#FILE01#202408010000.zip": (
        1440, 0, "interconnector_flows", 1440, 5, "2024-07-31T14:00", "2024-08-31T13:55",
        [("VIC1-NSW1", "2024/08/01 00:05", "mw_flow", 400.92134),
         ("VIC1-NSW1", "2024/09/01 00:00", "export_limit", 511.54771)]),
    "PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202408010000.zip": (
        2880, 0, "prices", 2880, 5, "2024-07-31T14:00", "2024-08-31T13:55",
        [("SA1", "2024/08/01 00:05", "price", 137.7), ("NSW1", "2024/09/01 00:00", "price", 56.0)]),
    "PUBLIC_ARCHIVE#DISPATCHPRICE#FILE01#202604010000.zip": (
        2880, 0, "prices", 2880, 5, "2026-03-31T14:00", "2026-04-30T13:55",
        [("SA1", "2026/04/01 00:05", "price", -3.32847), ("NSW1", "2026/05/01 00:00", "price", 57.51)]),
    "PUBLIC_ARCHIVE#DISPATCHREGIONSUM#FILE01#202604010000.zip": (
        2880, 0, "demand", 2880, 5, "2026-03-31T14:00", "2026-04-30T13:55",
        [("NSW1", "2026/04/01 00:05", "demand_mw", 6996.48),
         ("SA1", "2026/05/01 00:00", "demand_mw", 1507.69)]),
    "PUBLIC_ARCHIVE#DISPATCHINTERCONNECTORRES#FILE01#202604010000.zip": (
        1440, 0, "interconnector_flows", 1440, 5, "2026-03-31T14:00", "2026-04-30T13:55",
        [("VIC1-NSW1", "2026/04/01 00:05", "mw_losses", 116.42667),
         ("VIC1-NSW1", "2026/05/01 00:00", "metered_mw_flow", 1280.83911)]),
    "PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202604010000.zip": (
        2880, 0, "prices", 2880, 5, "2026-03-31T14:00", "2026-04-30T13:55",
        [("NSW1", "2026/04/01 00:05", "price", 65.01), ("SA1", "2026/05/01 00:00", "price", -2.01)]),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(MMSDM_FILES))
def test_mmsdm_real_file(nem, data_dir, name):
    read, rejected, table, rows, minutes, first, last, spots = MMSDM_FILES[name]
    result = nem.parse(_raw(data_dir, f"{MMSDM}/{name}"))
    _assert_well_formed(result, name)
    assert (result.rows_read, result.rows_rejected) == (read, rejected)
    assert list(result.tables) == [table]
    frame = result.tables[table]
    id_column = "interconnector" if table == "interconnector_flows" else "location"
    assert len(frame) == rows
    assert (frame["interval_minutes"] == minutes).all()
    assert frame["interval_start"].min() == _utc(first) and frame["interval_start"].max() == _utc(last)
    if table == "prices":
        kind = "dispatch" if "DISPATCH" in name else "settlement"
        assert (frame["price_kind"] == kind).all()
        assert sorted(frame["location"].unique()) == ["NSW1", "SA1"]
    for ident, end, column, value in spots:
        hit = frame[(frame[id_column] == ident) & (frame["interval_start"] == _start_utc(end, minutes))]
        assert len(hit) == 1, (ident, end)
        assert hit[column].iat[0] == value, (ident, end, column)
    if table == "interconnector_flows" and "TRADING" in name:  # no limit columns in TRADING INTERCONNECTORRES
        assert frame["export_limit"].isna().all() and frame["import_limit"].isna().all()


@pytest.mark.realdata
def test_every_real_nem_file_is_covered(data_dir):
    on_disk = {p.name for p in (data_dir / "markets" / "aemo").rglob("*") if p.is_file()}
    assert on_disk == {f"PRICE_AND_DEMAND_{k}.csv" for k in PRICE_AND_DEMAND} | set(MMSDM_FILES)


def _reference_rows(raw: RawFile) -> tuple[dict[str, list[tuple]], int]:
    """A slow, row-by-row reading with the csv module: the pricing run (INTERVENTION=0) per interval,
    interval start = end - length - 10 h."""
    data = raw.data
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            data = zf.read(zf.namelist()[0])
    rows = list(csv.reader(io.StringIO(data.decode())))

    def start(end: str, minutes: int) -> pd.Timestamp:
        stamp = _utc(datetime.strptime(end, "%Y/%m/%d %H:%M:%S").isoformat())
        return stamp - timedelta(minutes=minutes, hours=10)

    def number(record: dict, col: str) -> float:
        return float(record[col]) if record.get(col, "") != "" else math.nan

    if rows[0][0] == "REGION":
        records = [dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r]
        ends = sorted(datetime.strptime(r["SETTLEMENTDATE"], "%Y/%m/%d %H:%M:%S") for r in records)
        m = int((ends[1] - ends[0]).total_seconds() // 60)
        return {
            "prices": sorted((r["REGION"], "settlement", m, start(r["SETTLEMENTDATE"], m), float(r["RRP"]))
                             for r in records),
            "demand": sorted((r["REGION"], m, start(r["SETTLEMENTDATE"], m), float(r["TOTALDEMAND"]))
                             for r in records),
        }, len(records)
    header: list[str] = []
    records = []
    for r in rows:
        if r[0] == "I":
            header = r
        elif r[0] == "D":
            records.append(dict(zip(header, r, strict=True)))
    kept: dict[tuple, dict] = {}
    for r in records:
        key = (r.get("REGIONID") or r["INTERCONNECTORID"], r["SETTLEMENTDATE"])
        if key not in kept or int(r.get("INTERVENTION", 0)) < int(kept[key].get("INTERVENTION", 0)):
            kept[key] = r
    report, sub = header[1], header[2]

    def minutes(r: dict) -> int:
        return 5 if report == "DISPATCH" or r["SETTLEMENTDATE"] > "2021/10/01 04:00:00" else 30

    out: dict[str, list[tuple]] = {}
    if sub == "PRICE":
        kind = "dispatch" if report == "DISPATCH" else "settlement"
        out["prices"] = sorted((r["REGIONID"], kind, minutes(r), start(r["SETTLEMENTDATE"], minutes(r)),
                                number(r, "RRP")) for r in kept.values())
    elif sub == "REGIONSUM":
        out["demand"] = sorted((r["REGIONID"], minutes(r), start(r["SETTLEMENTDATE"], minutes(r)),
                                number(r, "TOTALDEMAND")) for r in kept.values())
    else:
        out["interconnector_flows"] = sorted(
            (r["INTERCONNECTORID"], minutes(r), start(r["SETTLEMENTDATE"], minutes(r)), number(r, "MWFLOW"),
             number(r, "METEREDMWFLOW"), number(r, "MWLOSSES"), number(r, "EXPORTLIMIT"),
             number(r, "IMPORTLIMIT"))
            for r in kept.values())
    return out, len(records)


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
                                    for x, y in zip(a, b, strict=True))


@pytest.mark.realdata
@pytest.mark.parametrize("relative", [f"{PD}/PRICE_AND_DEMAND_{k}.csv" for k in sorted(PRICE_AND_DEMAND)]
                         + [f"{MMSDM}/{n}" for n in sorted(MMSDM_FILES)])
def test_every_row_matches_a_plain_csv_reading(nem, data_dir, relative):
    raw = _raw(data_dir, relative)
    result = nem.parse(raw)
    expected, records = _reference_rows(raw)
    assert result.rows_read == records
    assert sorted(result.tables) == sorted(expected)
    for table, rows in expected.items():
        frame = result.tables[table]
        columns = [c for c in COLUMNS[table] if c not in ("market", "source")]
        columns.remove("interval_minutes")
        columns.insert(2 if table == "prices" else 1, "interval_minutes")
        got = sorted(tuple(r) for r in frame[columns].itertuples(index=False))
        assert len(got) == len(rows)
        bad = [(g, e) for g, e in zip(got, rows, strict=True) if not _same(g, e)]
        assert not bad, bad[:3]


@pytest.mark.realdata
def test_parsing_twice_gives_identical_frames(nem, data_dir):
    for relative in (f"{PD}/PRICE_AND_DEMAND_202401_NSW1.csv",
                     f"{MMSDM}/PUBLIC_DVD_DISPATCHPRICE_201805010000.zip"):
        first, second = nem.parse(_raw(data_dir, relative)), nem.parse(_raw(data_dir, relative))
        assert first.tables.keys() == second.tables.keys()
        for table in first.tables:
            pd.testing.assert_frame_equal(first.tables[table], second.tables[table], check_exact=True)


# ------------------------------------------------------------------------------------------------------------
# Layout variations of real bytes that must not change the result
# ------------------------------------------------------------------------------------------------------------
def _tables_equal(a: ParseResult, b: ParseResult) -> None:
    assert a.tables.keys() == b.tables.keys()
    for table in a.tables:
        pd.testing.assert_frame_equal(a.tables[table].drop(columns="source"),
                                      b.tables[table].drop(columns="source"), check_exact=True)


@pytest.mark.realdata
def test_line_endings_blank_lines_column_order_and_quotes_do_not_matter(nem, data_dir):
    name = "PRICE_AND_DEMAND_201801_SA1.csv"
    crlf = (data_dir / PD / name).read_bytes()
    base = nem.parse(RawFile(name, crlf))
    lf = crlf.replace(b"\r\n", b"\n")
    lines = crlf.split(b"\r\n")
    mixed = b"".join(line + (b"\n" if i % 3 else b"\r\n") for i, line in enumerate(lines[:-1]))
    trailing = crlf + b"\r\n\r\n\n"
    swapped = b"\r\n".join(b",".join(line.split(b",")[i] for i in (3, 0, 4, 2, 1)) if line else line
                           for line in lines)
    def quote_date(line: bytes) -> bytes:
        fields = line.split(b",")
        fields[1] = b'"' + fields[1] + b'"'
        return b",".join(fields)

    quoted = b"\r\n".join(quote_date(line) if n and line else line for n, line in enumerate(lines))
    with_bom = b"\xef\xbb\xbf" + crlf
    for variant in (lf, mixed, trailing, swapped, quoted, with_bom):
        _tables_equal(base, nem.parse(RawFile(name, variant)))


@pytest.mark.realdata
def test_mmsdm_quoted_timestamps_as_aemo_writes_them(nem, data_dir):
    """The shared MMSDM copies were rewritten without quotes; AEMO's own files quote date-times."""
    name, inner = _inner(data_dir, "PUBLIC_DVD_DISPATCHPRICE_201805010000.zip")
    lines = inner.split(b"\n")
    quoted = b"\n".join(
        b",".join(b'"' + f + b'"' if i in (4, 14) else f for i, f in enumerate(line.split(b",")))
        if line.startswith(b"D,") else line for line in lines)
    assert quoted.count(b'"2018/05/01 00:05:00"') == 4
    plain, aemo = nem.parse(RawFile(name, inner)), nem.parse(RawFile(name, quoted))
    _tables_equal(plain, aemo)
    assert (aemo.rows_read, aemo.rows_rejected) == (4606, 1726)


# ------------------------------------------------------------------------------------------------------------
# Hand-written fixtures: several sections in one file, versions, the 5-minute settlement boundary
# ------------------------------------------------------------------------------------------------------------
def test_multisection_file_with_versions_and_interventions(nem):
    raw = RawFile.from_path(FIXTURES / "nemweb_multisection_example.csv")
    result = nem.parse(raw)
    _assert_well_formed(result, raw.name)
    # D rows of the four parsed sections (the DISPATCH CASESOLUTION row is skipped, not counted)
    assert result.rows_read == 7 + 4 + 2 + 1
    # an older LASTCHANGED, a lower RUNNO and an intervention re-run
    assert result.rows_rejected == 3
    prices = result.tables["prices"]
    got = [(r.location, r.price_kind, r.interval_minutes, r.interval_start.strftime("%m-%d %H:%M"), r.price)
           for r in prices.itertuples()]
    assert got == [
        ("NSW1", "dispatch", 5, "09-30 18:00", 52.3),  # INTERVENTION=0 kept over the re-run's 55
        ("NSW1", "dispatch", 5, "09-30 18:05", 53.0),
        ("NSW1", "settlement", 5, "09-30 18:00", 52.3),  # ends 04:05 NEM: first 5-minute trading interval
        ("NSW1", "settlement", 30, "09-30 17:00", 50.1),  # ends 03:30 NEM
        ("NSW1", "settlement", 30, "09-30 17:30", 51.2),  # ends 04:00 NEM: last 30-minute trading interval
        ("SA1", "dispatch", 5, "09-30 18:00", 58.0),  # only an intervention row exists: it is kept
        ("SA1", "settlement", 5, "09-30 18:00", 61.5),  # the later LASTCHANGED
        ("SA1", "settlement", 5, "09-30 18:05", 63.0),  # the higher RUNNO
    ]
    flows = result.tables["interconnector_flows"]
    assert flows["interval_minutes"].tolist() == [5, 5, 30]
    assert flows["mw_flow"].tolist() == [-120.5, -110.0, -128.5]
    assert flows["metered_mw_flow"].iat[0] == -118.25 and math.isnan(flows["metered_mw_flow"].iat[1])
    assert flows["export_limit"].iat[1] == 990.5 and math.isnan(flows["export_limit"].iat[2])
    assert "demand" not in result.tables


def test_price_and_demand_across_the_start_of_five_minute_settlement(nem):
    raw = RawFile.from_path(FIXTURES / "PRICE_AND_DEMAND_202110_SA1_example.csv")
    result = nem.parse(raw)
    _assert_well_formed(result, raw.name)
    demand = result.tables["demand"].sort_values("interval_start")
    assert demand["interval_minutes"].tolist() == [30, 30, 30, 5, 5, 5, 5]
    assert demand["interval_start"].dt.strftime("%H:%M").tolist() == [
        "16:30", "17:00", "17:30", "18:00", "18:05", "18:10", "18:15"]
    assert demand["demand_mw"].tolist() == [1210.5, 1200.25, 1195.0, 1190.75, 1188.0, 1186.5, 1185.0]


_PD_HEADER = "REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE\r\n"


def test_interval_ends_across_leap_days_and_century_rules_match_python(nem):
    """The stamps are computed from their digits; Python's calendar is the reference (2000 and 2400 are leap
    years, 2100 is not)."""
    ends = [datetime(y, 2, 27, 23, 30) + timedelta(minutes=30 * i)
            for y in (2000, 2023, 2024, 2100) for i in range(150)]
    body = "".join(f"SA1,{e:%Y/%m/%d %H:%M:%S},1000,{i % 97}.5,TRADE\r\n" for i, e in enumerate(ends))
    raw = RawFile("PRICE_AND_DEMAND_LEAP_SA1.csv", (_PD_HEADER + body).encode())
    prices = nem.parse(raw).tables["prices"]
    expected = [pd.Timestamp(e - timedelta(hours=10, minutes=30), tz="UTC") for e in ends]
    assert prices["interval_start"].tolist() == expected


@pytest.mark.parametrize("stamp", ["2023/02/29 00:30:00", "2100/02/29 00:30:00", "2024/04/31 00:30:00",
                                   "2024/00/10 00:30:00", "2024/01/01 24:00:00", "2024/01/01 00:60:00",
                                   "2024-01-01 00:30:00", "2024/01/01 00:30:0x"])
def test_impossible_date_times_are_refused_not_rolled_over(nem, stamp):
    rows = f"SA1,2024/01/01 00:00:00,1,2,TRADE\r\nSA1,{stamp},1,2,TRADE\r\n"
    raw = RawFile("PRICE_AND_DEMAND_BAD_SA1.csv", (_PD_HEADER + rows).encode())
    err = _fails(nem, raw.name, raw.data)
    assert err.line == 3 and f"SETTLEMENTDATE {stamp!r} is not a date-time" in err.problem


def test_a_different_version_of_the_same_row_fails_when_it_cannot_be_ranked(nem):
    text = (FIXTURES / "nemweb_multisection_example.csv").read_bytes().decode()
    lines = text.split("\r\n")
    # a copy of the SA1 04:05 row with the same RUNNO and LASTCHANGED but another price
    twin = lines[6].replace(",61.5,", ",99,")
    bad = "\r\n".join(lines[:7] + [twin] + lines[7:])
    with pytest.raises(IngestError) as err:
        nem.parse(RawFile("twin.csv", bad.encode()))
    assert (err.value.source, err.value.line) == ("twin.csv", 8)
    assert "appears twice with different values (first at line 7)" in err.value.problem


# ------------------------------------------------------------------------------------------------------------
# Bad input: IngestError naming the file and the line
# ------------------------------------------------------------------------------------------------------------
def _fails(nem: NemConnector, name: str, data: bytes) -> IngestError:
    with pytest.raises(IngestError) as err:
        nem.parse(RawFile(name, data))
    return err.value


@pytest.mark.realdata
class TestBadPriceAndDemand:
    name = "PRICE_AND_DEMAND_201801_SA1.csv"

    @pytest.fixture
    def good(self, data_dir) -> bytes:
        return (data_dir / PD / self.name).read_bytes()

    def test_last_line_cut_mid_row(self, nem, good):
        err = _fails(nem, self.name, good[:-20])  # 1488 data rows: the last is physical line 1489
        assert (err.source, err.line) == (self.name, 1489)
        assert "fields" in err.problem

    def test_renamed_column(self, nem, good):
        err = _fails(nem, self.name, good.replace(b"RRP", b"PRICE", 1))
        assert err.line == 1 and "RRP" in err.problem

    def test_missing_column(self, nem, good):
        dropped = b"\r\n".join(line.rsplit(b",", 1)[0] for line in good.split(b"\r\n"))
        err = _fails(nem, self.name, dropped)
        assert err.line == 1 and "PERIODTYPE" in err.problem

    def test_header_ok_but_a_row_lacks_a_field(self, nem, good):
        lines = good.split(b"\r\n")
        lines[100] = lines[100].rsplit(b",", 1)[0]
        err = _fails(nem, self.name, b"\r\n".join(lines))
        assert err.line == 101 and "4 fields, expected 5" in err.problem

    def test_non_numeric_price(self, nem, good):
        lines = good.split(b"\r\n")
        assert lines[9] == b"SA1,2018/01/01 04:30:00,1022.77,78.41,TRADE"
        lines[9] = lines[9].replace(b"78.41", b"78x41")
        err = _fails(nem, self.name, b"\r\n".join(lines))
        assert (err.line, err.problem) == (10, "RRP is not a number: '78x41'")

    def test_empty_demand(self, nem, good):
        lines = good.split(b"\r\n")
        lines[20] = lines[20].replace(lines[20].split(b",")[2], b"")
        err = _fails(nem, self.name, b"\r\n".join(lines))
        assert (err.line, err.problem) == (21, "TOTALDEMAND is empty")

    def test_unparseable_date(self, nem, good):
        err = _fails(nem, self.name, good.replace(b"2018/01/02 13:00:00", b"2018/01/32 13:00:00"))
        assert err.line == 2 + 48 + 25 and "SETTLEMENTDATE '2018/01/32 13:00:00'" in err.problem

    def test_duplicated_interval_with_different_values(self, nem, good):
        lines = good.split(b"\r\n")
        copy = lines[2].replace(b"1242.28", b"1242.29")
        assert copy != lines[2]
        err = _fails(nem, self.name, b"\r\n".join(lines[:6] + [copy] + lines[6:]))
        assert err.line == 7
        assert "SA1 interval ending 2018/01/01 01:00:00 appears twice" in err.problem
        assert "first at line 3" in err.problem

    def test_exact_repeat_of_a_row_is_left_out_and_counted(self, nem, good):
        lines = good.split(b"\r\n")
        result = nem.parse(RawFile(self.name, b"\r\n".join(lines[:6] + [lines[2]] + lines[6:])))
        assert (result.rows_read, result.rows_rejected, len(result.tables["prices"])) == (1489, 1, 1488)

    def test_empty_file(self, nem):
        assert _fails(nem, self.name, b"").problem == "file is empty"
        assert _fails(nem, self.name, b"\r\n \r\n").problem == "file is empty"

    def test_header_only(self, nem, good):
        err = _fails(nem, self.name, good.split(b"\r\n")[0] + b"\r\n")
        assert (err.line, err.problem) == (1, "no data rows after the header")

    def test_stray_carriage_return(self, nem, good):
        err = _fails(nem, self.name, good.replace(b"\r\n", b"\r", 3).replace(b"\r", b"\r\n", 2))
        assert err.line == 3 and "carriage return" in err.problem

    def test_unbalanced_quote(self, nem, good):
        err = _fails(nem, self.name, good.replace(b"SA1,2018/01/01 05:00:00", b'SA1,"2018/01/01 05:00:00'))
        assert (err.line, err.problem) == (11, "unbalanced double quote")

    def test_bad_zip(self, nem, data_dir):
        data = (data_dir / MMSDM / "PUBLIC_DVD_TRADINGPRICE_201805010000.zip").read_bytes()
        err = _fails(nem, "PUBLIC_DVD_TRADINGPRICE_201805010000.zip", data[: len(data) // 2])
        assert err.source == "PUBLIC_DVD_TRADINGPRICE_201805010000.zip" and err.line is None
        assert "zip" in err.problem

    def test_damaged_zip_inside_a_zip(self, nem):
        """An Archive day zip whose interval zip has damaged compressed data: an IngestError naming it."""
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("PUBLIC_DISPATCHIS_202604011030_0000000512345678.CSV", b"C,NEMP.WORLD,DISPATCHIS\r\n" * 400)
        damaged = bytearray(inner.getvalue())
        start = 30 + len("PUBLIC_DISPATCHIS_202604011030_0000000512345678.CSV")  # past the local header
        damaged[start + 2:start + 40] = b"\xff" * 38
        outer = io.BytesIO()
        with zipfile.ZipFile(outer, "w") as zf:
            zf.writestr("PUBLIC_DISPATCHIS_202604011030_0000000512345678.zip", bytes(damaged))
        err = _fails(nem, "PUBLIC_DISPATCHIS_20260401.zip", outer.getvalue())
        assert err.source.endswith("PUBLIC_DISPATCHIS_202604011030_0000000512345678.zip")
        assert "not a readable zip archive" in err.problem

    def test_unknown_report(self, nem):
        err = _fails(nem, "other.csv", b"Date,Hour,HOEP\r\n2022-01-01,1,10.5\r\n")
        assert err.line == 1
        assert "unknown report" in err.problem
        assert "PRICE_AND_DEMAND" in err.problem and "DISPATCH PRICE" in err.problem


@pytest.mark.realdata
class TestBadMmsdm:
    zip_name = "PUBLIC_DVD_DISPATCHPRICE_201805010000.zip"

    @pytest.fixture
    def inner(self, data_dir) -> tuple[str, bytes]:
        return _inner(data_dir, self.zip_name)

    def _fails_zipped(self, nem, inner_name: str, data: bytes) -> IngestError:
        err = _fails(nem, self.zip_name, _zip(inner_name, data))
        assert err.source == f"{self.zip_name}/{inner_name}"
        return err

    def test_d_before_i(self, nem, inner):
        name, data = inner
        lines = data.split(b"\n")
        err = self._fails_zipped(nem, name, b"\n".join([lines[0], lines[2], lines[1], *lines[3:]]))
        assert (err.line, err.problem) == (2, "D record for DISPATCH,PRICE,1 comes before its I record")

    def test_d_without_any_i(self, nem, inner):
        name, data = inner
        lines = data.split(b"\n")
        err = self._fails_zipped(nem, name, b"\n".join([lines[0], *lines[2:]]))
        assert (err.line, err.problem) == (2, "D record for DISPATCH,PRICE,1 has no I record")

    def test_cut_last_line_without_footer(self, nem, inner):
        name, data = inner
        body = data[: data.rindex(b'C,"END OF REPORT"')]
        assert body.count(b"\nD,") == 4606  # lines 3..4608
        for cut in (body[:-30], body[:-2]):  # mid-row, and inside the last field (field count still right)
            err = self._fails_zipped(nem, name, cut)
            assert err.line == 4608 and "truncated" in err.problem

    def test_cut_row_with_footer_kept(self, nem, inner):
        name, data = inner
        lines = data.split(b"\n")
        lines[1000] = lines[1000][:200]
        err = self._fails_zipped(nem, name, b"\n".join(lines))
        assert err.line == 1001 and "expected 58" in err.problem

    def test_complete_rows_without_footer_still_parse(self, nem, inner):
        name, data = inner
        result = nem.parse(RawFile(name, data[: data.rindex(b'C,"END OF REPORT"')]))
        assert (result.rows_read, result.rows_rejected, len(result.tables["prices"])) == (4606, 1726, 2880)

    def test_renamed_column_in_i_record(self, nem, inner):
        name, data = inner
        err = self._fails_zipped(nem, name, data.replace(b",RRP,", b",RRP_X,", 1))
        assert (err.line, err.problem) == (2, "DISPATCH,PRICE,1 I record lacks column(s) RRP")

    def test_non_numeric_price(self, nem, inner):
        name, data = inner
        lines = data.split(b"\n")
        fields = lines[499].split(b",")
        assert fields[:10] == b"D,DISPATCH,PRICE,1,2018/05/01 10:25:00,1,NSW1,20180501077,1,61.46".split(b",")
        fields[9] = b"61.4G"
        lines[499] = b",".join(fields)
        err = self._fails_zipped(nem, name, b"\n".join(lines))
        assert (err.line, err.problem) == (500, "RRP is not a number: '61.4G'")

    def test_columns_found_by_name_not_position(self, nem, inner):
        """Swapping RRP and EEP in the I record and in every D record changes nothing."""
        name, data = inner

        def swap(line: bytes) -> bytes:
            f = line.split(b",")
            if line[:2] in (b"I,", b"D,"):
                f[9], f[10] = f[10], f[9]
            return b",".join(f)

        swapped = b"\n".join(swap(line) for line in data.split(b"\n"))
        _tables_equal(nem.parse(RawFile(name, data)), nem.parse(RawFile(name, swapped)))

    def test_only_unsupported_sections(self, nem):
        data = (b"C,NEMP.WORLD,X,AEMO,PUBLIC,2021/10/01,00:00:00,1,X,1\r\n"
                b"I,DISPATCH,CASESOLUTION,2,SETTLEMENTDATE,RUNNO,INTERVENTION\r\n"
                b'D,DISPATCH,CASESOLUTION,2,"2021/10/01 00:05:00",1,0\r\nC,"END OF REPORT",4\r\n')
        err = _fails(nem, "casesolution.csv", data)
        assert err.line is None and "unsupported report (DISPATCH CASESOLUTION)" in err.problem


# ------------------------------------------------------------------------------------------------------------
# Property: mangled real bytes give a valid result or an IngestError, never another exception
# ------------------------------------------------------------------------------------------------------------
_PROPERTY_SOURCES = (
    f"{PD}/PRICE_AND_DEMAND_201602_SA1.csv",  # CRLF, quoted dates
    f"{PD}/PRICE_AND_DEMAND_202607_QLD1.csv",  # LF, 5-minute
    f"{MMSDM}/PUBLIC_DVD_TRADINGPRICE_201805010000.zip",
    f"{MMSDM}/PUBLIC_DVD_TRADINGINTERCONNECT_201805010000.zip",
    f"{MMSDM}/PUBLIC_DVD_DISPATCHINTERCONNECTORRES_201805010000.zip",
)
_INTERESTING = b',"\r\n\x00 0123456789./:-eE+DICNSWAXz\xff'


@st.composite
def _mangled(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    data = draw(st.sampled_from(originals))
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        op = draw(st.sampled_from(["truncate", "flip", "replace", "drop", "duplicate", "swap"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "truncate":
            data = data[:at]
        elif op == "flip":
            data = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1:]
        elif op == "replace":
            data = data[:at] + bytes([draw(st.sampled_from(_INTERESTING))]) + data[at + 1:]
        else:
            lines = data.split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "drop":
                del lines[i]
            elif op == "duplicate":
                lines.insert(i, lines[i])
            else:
                fields = lines[i].split(b",")
                if len(fields) > 1:
                    a, b = draw(st.integers(0, len(fields) - 1)), draw(st.integers(0, len(fields) - 1))
                    fields[a], fields[b] = fields[b], fields[a]
                    lines[i] = b",".join(fields)
            data = b"\n".join(lines)
    return data


@functools.cache
def _originals(data_dir: Path) -> list[bytes]:
    return [_raw(data_dir, relative).members()[0].data for relative in _PROPERTY_SOURCES]


@pytest.mark.realdata
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_mangled_real_bytes_parse_or_raise_ingest_error(nem, data_dir, data):
    mangled = data.draw(_mangled(_originals(data_dir)))
    as_zip = data.draw(st.booleans())
    raw = RawFile("mangled.zip", _zip("mangled.csv", mangled)) if as_zip else RawFile("mangled.csv", mangled)
    try:
        result = nem.parse(raw)
    except IngestError as err:
        assert err.source.startswith("mangled") and err.problem
        assert err.line is None or 1 <= err.line <= mangled.count(b"\n") + 1
        return
    _assert_well_formed(result, raw.name)
    assert all(len(frame) <= result.rows_read for frame in result.tables.values())


# ------------------------------------------------------------------------------------------------------------
# fetch: local folders and files, AEMO URLs, retries (never the network)
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_fetch_from_a_local_folder_by_kind_and_month(nem, data_dir):
    folder = data_dir / "markets" / "aemo"
    files = nem.fetch(date(2018, 1, 1), date(2018, 1, 31), source=folder)
    regions = ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")
    assert [f.name for f in files] == [f"PRICE_AND_DEMAND_201801_{r}.csv" for r in regions]
    assert files[2].data == (folder / "price_and_demand" / "PRICE_AND_DEMAND_201801_SA1.csv").read_bytes()
    mmsdm = nem.fetch(date(2018, 5, 1), date(2018, 5, 31), source=folder, kind="DISPATCHPRICE")
    assert [f.name for f in mmsdm] == ["PUBLIC_DVD_DISPATCHPRICE_201805010000.zip"]
    archive = nem.fetch(date(2024, 8, 1), date(2026, 4, 30), source=folder, kind="tradingprice")
    assert [f.name for f in archive] == ["PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202408010000.zip",
                                         "PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202604010000.zip"]
    everything = nem.fetch(date(2016, 1, 1), date(2026, 12, 31), source=folder, kind="all")
    assert len(everything) == len(PRICE_AND_DEMAND) + len(MMSDM_FILES)
    with pytest.raises(IngestError, match="no AEMO price_and_demand files for 2019-01 to 2019-12"):
        nem.fetch(date(2019, 1, 1), date(2019, 12, 31), source=folder)


@pytest.mark.realdata
def test_fetch_a_single_local_file(nem, data_dir):
    path = data_dir / MMSDM / "PUBLIC_DVD_TRADINGPRICE_202112010000.zip"
    (raw,) = nem.fetch(date(2000, 1, 1), date(2000, 1, 1), source=str(path))
    assert raw == RawFile(path.name, path.read_bytes())


def test_fetch_from_a_missing_path_and_a_folder_with_nemosis_names(nem, tmp_path):
    with pytest.raises(IngestError, match="no such file or folder"):
        nem.fetch(date(2024, 8, 1), date(2024, 8, 31), source=tmp_path / "absent")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202408010000.zip").write_bytes(b"PK")
    (tmp_path / "notes.txt").write_text("not an AEMO file")
    files = nem.fetch(date(2024, 8, 1), date(2024, 8, 31), source=tmp_path, kind="DISPATCHPRICE")
    assert [f.name for f in files] == ["PUBLIC_ARCHIVE#DISPATCHPRICE#FILE01#202408010000.zip"]


def test_urls_for_a_range(nem):
    urls = nem.urls(date(2023, 12, 15), date(2024, 2, 1))
    assert len(urls) == 3 * 5
    assert urls[0] == ("PRICE_AND_DEMAND_202312_NSW1.csv",
                       "https://aemo.com.au/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_202312_NSW1.csv")
    assert urls[-1][0] == "PRICE_AND_DEMAND_202402_VIC1.csv"
    assert {u[0].split("_")[4].removesuffix(".csv") for u in urls} == {"NSW1", "QLD1", "SA1", "TAS1", "VIC1"}
    mmsdm = nem.urls(date(2024, 7, 1), date(2024, 8, 31), kind="DISPATCHPRICE")
    base = "https://nemweb.com.au/Data_Archive/Wholesale_Electricity/MMSDM/2024"
    assert mmsdm == [
        ("PUBLIC_DVD_DISPATCHPRICE_202407010000.zip",
         f"{base}/MMSDM_2024_07/MMSDM_Historical_Data_SQLLoader/DATA/PUBLIC_DVD_DISPATCHPRICE_202407010000.zip"),
        ("PUBLIC_ARCHIVE#DISPATCHPRICE#FILE01#202408010000.zip",
         f"{base}/MMSDM_2024_08/MMSDM_Historical_Data_SQLLoader/DATA/"
         "PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202408010000.zip"),
    ]
    name = mmsdm_file_name("TRADINGINTERCONNECT", 2018, 5)
    assert name == "PUBLIC_DVD_TRADINGINTERCONNECT_201805010000.zip"
    with pytest.raises(ValueError, match="unknown NEM file kind"):
        nem.urls(date(2024, 1, 1), date(2024, 1, 31), kind="BIDS")
    with pytest.raises(ValueError, match="before start"):
        nem.urls(date(2024, 2, 1), date(2024, 1, 1))


class _Response:
    def __init__(self, status: int, content: bytes = b""):
        self.status_code = status
        self.content = content


class _FakeSession:
    """Answers from a script of responses or exceptions, and records every request."""

    def __init__(self, *script):
        self.script = list(script)
        self.calls: list[tuple[str, dict, object]] = []

    def get(self, url, headers=None, timeout=None):
        self.calls.append((url, headers, timeout))
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


_CSV = b"REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE\r\nSA1,2018/01/01 00:30:00,1289.1,107.17,TRADE\r\n"


def test_download_retries_a_503_then_succeeds(monkeypatch):
    session = _FakeSession(_Response(503), _Response(200, _CSV))
    nem = NemConnector(session, backoff_seconds=0)
    monkeypatch.setattr(nem, "regions", ("SA1",))
    (raw,) = nem.fetch(date(2018, 1, 1), date(2018, 1, 31))
    assert raw == RawFile("PRICE_AND_DEMAND_201801_SA1.csv", _CSV)
    assert len(session.calls) == 2
    url, headers, timeout = session.calls[0]
    assert url == "https://aemo.com.au/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_201801_SA1.csv"
    assert headers["User-Agent"] and timeout == (10.0, 60.0)
    assert nem.parse(raw).tables["prices"]["price"].tolist() == [107.17]


def test_download_retries_connection_errors_then_gives_up_with_ingest_error():
    session = _FakeSession(*[requests.ConnectionError("reset")] * 3)
    nem = NemConnector(session, max_attempts=3, backoff_seconds=0)
    with pytest.raises(IngestError, match="download failed after 3 attempt"):
        nem.fetch(date(2024, 8, 1), date(2024, 8, 1), kind="DISPATCHPRICE")
    assert len(session.calls) == 3


def test_download_does_not_retry_a_404_and_checks_content():
    session = _FakeSession(_Response(404))
    nem = NemConnector(session, backoff_seconds=0)
    with pytest.raises(IngestError, match="HTTP 404"):
        nem.fetch(date(2024, 8, 1), date(2024, 8, 1), kind="DISPATCHPRICE")
    assert len(session.calls) == 1
    html = NemConnector(_FakeSession(*[_Response(200, b"<html>denied</html>")] * 5), backoff_seconds=0)
    with pytest.raises(IngestError, match="HTML page"):
        html.fetch(date(2024, 8, 1), date(2024, 8, 1))
    not_zip = NemConnector(_FakeSession(_Response(200, _CSV)), backoff_seconds=0)
    with pytest.raises(IngestError, match="did not send a zip"):
        not_zip.fetch(date(2024, 8, 1), date(2024, 8, 1), kind="DISPATCHPRICE")


def test_fetch_one_file_by_url():
    session = _FakeSession(_Response(200, b"PK\x03\x04 rest of a zip"))
    url = ("https://nemweb.com.au/Data_Archive/Wholesale_Electricity/MMSDM/2024/MMSDM_2024_08/"
           "MMSDM_Historical_Data_SQLLoader/DATA/PUBLIC_ARCHIVE%23TRADINGPRICE%23FILE01%23202408010000.zip")
    (raw,) = NemConnector(session).fetch(date(2024, 8, 1), date(2024, 8, 31), source=url)
    assert raw.name == "PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202408010000.zip"
    assert [c[0] for c in session.calls] == [url]


def test_connector_identity():
    nem = NemConnector()
    assert (nem.market, nem.timezone) == ("NEM", "Etc/GMT-10")
    assert nem.regions == ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")
    assert pd.Timestamp("2024-01-01 00:00", tz=nem.timezone).utcoffset() == timedelta(hours=10)


@pytest.mark.realdata
def test_benchmark_month_is_real_bytes_relabelled(monkeypatch, data_dir):
    monkeypatch.setenv("C254_DATA_DIR", str(data_dir))
    from bench.ingest_nem_parse import month_of_5min_files

    files = month_of_5min_files()
    nem = NemConnector()
    nsw = nem.parse(_raw(data_dir, f"{PD}/PRICE_AND_DEMAND_202401_NSW1.csv")).tables["prices"]
    for raw, region in zip(files, ("NSW1", "QLD1", "SA1", "TAS1", "VIC1"), strict=True):
        assert raw.name == f"PRICE_AND_DEMAND_202401_{region}.csv"
        prices = nem.parse(raw).tables["prices"]
        assert len(prices) == 8928 and (prices["location"] == region).all()
        assert prices["price"].tolist() == nsw["price"].tolist()
