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
from engine.markets import market
from engine.store.tables import TABLES
from ingest import http_fetch
from ingest.base import ParseResult, ReportNotRead, table_columns
from ingest.nem import NemConnector, mmsdm_file_name
from ingest.nem.rows import INTERVENTION_RUN, SUPERSEDED
from tests.support.fakes import FakeResponse, FakeSession, mangled

FIXTURES = Path(__file__).parent / "fixtures" / "nem"
AEMO = "markets/aemo"
PD = f"{AEMO}/price_and_demand"
MMSDM = f"{AEMO}/mmsdm_nemosis_filtered"
NEMWEB = f"{AEMO}/nemweb_reports"
FORECASTS = f"{AEMO}/forecasts"
DISPATCHIS_2018 = f"{NEMWEB}/dispatchis_2018-03-05"
TEXT_COLUMNS = ("market", "location", "price_kind", "interconnector", "fuel", "unit", "source")
ID_COLUMN = {"prices": "location", "demand": "location", "interconnector_flows": "interconnector",
             "generation": "unit"}
VALUE = {"prices": "price", "demand": "demand_mw", "interconnector_flows": "mw_flow", "generation": "output_mw"}


@pytest.fixture(scope="module")
def nem() -> NemConnector:
    return NemConnector()


def _raw(data_dir: Path, relative: str) -> RawFile:
    return RawFile.from_path(data_dir / relative)


@functools.cache
def _parsed(data_dir: Path, relative: str) -> ParseResult:
    return NemConnector().parse(_raw(data_dir, relative))


def _inner(data_dir: Path, zip_name: str) -> tuple[str, bytes]:
    with zipfile.ZipFile(data_dir / MMSDM / zip_name) as zf:
        (name,) = zf.namelist()
        return name, zf.read(name)


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buffer.getvalue()


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _contract_problems(result: ParseResult, name: str) -> list[str]:
    """How the result breaks the output contract the store writer relies on (none: an empty list)."""
    problems = [] if result.source == name else [f"source {result.source!r}"]
    for table, frame in result.tables.items():
        key = list(TABLES[table].key)
        checks = {
            "columns are the table's": list(frame.columns) == list(table_columns(table)),
            "interval_start is UTC": str(frame["interval_start"].dtype) == "datetime64[ns, UTC]",
            "interval_minutes is an integer": frame["interval_minutes"].dtype in (np.int16, np.int64),
            "interval_minutes is 5 or 30": set(frame["interval_minutes"].unique()) <= {5, 30},
            "text columns are categoricals of strings": all(
                isinstance(frame[c].dtype, pd.CategoricalDtype) and frame[c].notna().all()
                and all(type(v) is str for v in frame[c].cat.categories)
                for c in frame.columns if c in TEXT_COLUMNS),
            "value columns are floats": all(frame[c].dtype == np.float64 for c in TABLES[table].values),
            "key is filled": bool(frame[key].notna().all().all()),
            "key is unique": not frame.duplicated(key).any(),
            "index is a range": frame.index.equals(pd.RangeIndex(len(frame))),
            "rows are sorted by key": frame.equals(frame.sort_values(key, kind="stable").reset_index(drop=True)),
            "market is NEM": bool((frame["market"] == "NEM").all()),
            "source is the file": bool((frame["source"] == name).all()),
            "the main value is finite": bool(np.isfinite(frame[VALUE[table]]).all()),
        }
        problems += [f"{table}: {check}" for check, ok in checks.items() if not ok]
    return problems


def _value_at(frame: pd.DataFrame, table: str, ident: str, nem_end: str, column: str) -> list[float]:
    """The ``column`` values of ``ident``'s interval ending at ``nem_end`` (NEM time)."""
    ends = frame["interval_start"] + pd.to_timedelta(frame["interval_minutes"], unit="min") + pd.Timedelta(hours=10)
    hit = (frame[ID_COLUMN[table]] == ident) & (ends == _utc(nem_end))
    return frame.loc[hit, column].tolist()


# ------------------------------------------------------------------------------------------------------------
# Real files: exact counts and spot values, one fact per test
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


def _price_and_demand_facts(month_region: str) -> dict[str, object]:
    rows, first_end, last_end, minutes, first, last = PRICE_AND_DEMAND[month_region]
    return {"rows read": rows, "rows rejected": 0, "tables": ["demand", "prices"], "price rows": rows,
            "demand rows": rows, "locations": [month_region.split("_")[1]], "price kinds": ["settlement"],
            "minutes": [minutes], "first start": _start_utc(first_end, minutes),
            "last start": _start_utc(last_end, minutes), "first row": first, "last row": last,
            "gaps": 0, "demand has the price starts": True}


def _price_and_demand_fact(result: ParseResult, fact: str) -> object:
    prices, demand = result.tables["prices"], result.tables["demand"]
    starts = prices["interval_start"]
    return {
        "rows read": lambda: result.rows_read, "rows rejected": lambda: result.rows_rejected,
        "tables": lambda: sorted(result.tables), "price rows": lambda: len(prices), "demand rows": lambda: len(demand),
        "locations": lambda: sorted(prices["location"].unique()),
        "price kinds": lambda: sorted(prices["price_kind"].unique()),
        "minutes": lambda: sorted(set(prices["interval_minutes"]) | set(demand["interval_minutes"])),
        "first start": lambda: starts.iat[0], "last start": lambda: starts.iat[-1],
        "first row": lambda: (demand["demand_mw"].iat[0], prices["price"].iat[0]),
        "last row": lambda: (demand["demand_mw"].iat[-1], prices["price"].iat[-1]),
        "gaps": lambda: int((starts.diff().dropna() != starts.diff().dropna().iat[0]).sum()),
        "demand has the price starts": lambda: starts.equals(demand["interval_start"]),
    }[fact]()


@pytest.mark.realdata
@pytest.mark.parametrize("month_region, fact", [(k, f) for k in sorted(PRICE_AND_DEMAND)
                                                for f in _price_and_demand_facts(k)])
def test_price_and_demand_real_file(data_dir, month_region, fact):
    result = _parsed(data_dir, f"{PD}/PRICE_AND_DEMAND_{month_region}.csv")
    assert _price_and_demand_fact(result, fact) == _price_and_demand_facts(month_region)[fact]


@pytest.mark.realdata
def test_price_and_demand_sa1_201801_starts_half_an_hour_before_its_first_end(data_dir):
    prices = _parsed(data_dir, f"{PD}/PRICE_AND_DEMAND_201801_SA1.csv").tables["prices"]
    assert prices["interval_start"].iat[0] == pd.Timestamp("2017-12-31T14:00Z")  # end 2018/01/01 00:30 NEM


# file -> (D rows read, rows left out by reason, table, rows kept, interval minutes, first start UTC,
#          last start UTC, spot values: (id, SETTLEMENTDATE in NEM time, column, value) of the kept rows)
REPORTS = {
    f"{MMSDM}/PUBLIC_DVD_DISPATCHPRICE_201805010000.zip": (
        4606, {INTERVENTION_RUN: 1726}, "prices", 2880, 5, "2018-04-30T14:00", "2018-05-31T13:55",
        # SA1's intervention re-run at 00:05 has RRP 69.9317: the pricing run's 71.11784 must be kept
        [("NSW1", "2018/05/01 00:05", "price", 62.08993), ("SA1", "2018/05/01 00:05", "price", 71.11784),
         ("SA1", "2018/06/01 00:00", "price", 72.5436)]),
    f"{MMSDM}/PUBLIC_DVD_DISPATCHREGIONSUM_201805010000.zip": (
        4606, {INTERVENTION_RUN: 1726}, "demand", 2880, 5, "2018-04-30T14:00", "2018-05-31T13:55",
        [("NSW1", "2018/05/01 00:05", "demand_mw", 7425.47),
         ("SA1", "2018/06/01 00:00", "demand_mw", 1485.28)]),
    f"{MMSDM}/PUBLIC_DVD_DISPATCHINTERCONNECTORRES_201805010000.zip": (
        2303, {INTERVENTION_RUN: 863}, "interconnector_flows", 1440, 5, "2018-04-30T14:00", "2018-05-31T13:55",
        # the intervention re-run at 00:05 has MWFLOW -293.26254
        [("VIC1-NSW1", "2018/05/01 00:05", "mw_flow", -327.01787),
         ("VIC1-NSW1", "2018/05/01 00:05", "metered_mw_flow", -345.78252),
         ("VIC1-NSW1", "2018/05/01 00:05", "mw_losses", 16.81819),
         ("VIC1-NSW1", "2018/05/01 00:05", "export_limit", 394.92989),
         ("VIC1-NSW1", "2018/05/01 00:05", "import_limit", -364.86878),
         ("VIC1-NSW1", "2018/06/01 00:00", "mw_flow", -504.61194)]),
    f"{MMSDM}/PUBLIC_DVD_TRADINGPRICE_201805010000.zip": (
        480, {}, "prices", 480, 30, "2018-04-30T14:00", "2018-05-31T13:30",
        [("NSW1", "2018/05/01 00:30", "price", 60.97), ("SA1", "2018/06/01 00:00", "price", 95.68)]),
    f"{MMSDM}/PUBLIC_DVD_TRADINGINTERCONNECT_201805010000.zip": (
        240, {}, "interconnector_flows", 240, 30, "2018-04-30T14:00", "2018-05-31T13:30",
        # no limit columns in TRADING INTERCONNECTORRES
        [("VIC1-NSW1", "2018/05/01 00:30", "mw_flow", -175.05),
         ("VIC1-NSW1", "2018/05/01 00:30", "metered_mw_flow", -178.92),
         ("VIC1-NSW1", "2018/06/01 00:00", "mw_losses", 37.65),
         ("VIC1-NSW1", "2018/06/01 00:00", "export_limit", math.nan)]),
    f"{MMSDM}/PUBLIC_DVD_DISPATCHPRICE_202112010000.zip": (
        2880, {}, "prices", 2880, 5, "2021-11-30T14:00", "2021-12-31T13:55",
        [("SA1", "2021/12/01 00:05", "price", 103.73845), ("NSW1", "2022/01/01 00:00", "price", 124.77056)]),
    f"{MMSDM}/PUBLIC_DVD_DISPATCHREGIONSUM_202112010000.zip": (
        2880, {}, "demand", 2880, 5, "2021-11-30T14:00", "2021-12-31T13:55",
        [("NSW1", "2021/12/01 00:05", "demand_mw", 7280.05),
         ("SA1", "2022/01/01 00:00", "demand_mw", 1762.02)]),
    f"{MMSDM}/PUBLIC_DVD_DISPATCHINTERCONNECTORRES_202112010000.zip": (
        1440, {}, "interconnector_flows", 1440, 5, "2021-11-30T14:00", "2021-12-31T13:55",
        [("VIC1-NSW1", "2021/12/01 00:05", "mw_flow", -100.71501),
         ("VIC1-NSW1", "2022/01/01 00:00", "import_limit", -271.00238)]),
    f"{MMSDM}/PUBLIC_DVD_TRADINGPRICE_202112010000.zip": (  # after 5-minute settlement: 288 periods a day
        2880, {}, "prices", 2880, 5, "2021-11-30T14:00", "2021-12-31T13:55",
        [("NSW1", "2021/12/01 00:05", "price", 83.01), ("SA1", "2022/01/01 00:00", "price", 139.28)]),
    f"{MMSDM}/PUBLIC_ARCHIVE#DISPATCHPRICE#FILE01#202408010000.zip": (
        2880, {}, "prices", 2880, 5, "2024-07-31T14:00", "2024-08-31T13:55",
        [("NSW1", "2024/08/01 00:05", "price", 199.99), ("SA1", "2024/09/01 00:00", "price", -38.65503)]),
    f"{MMSDM}/PUBLIC_ARCHIVE#DISPATCHREGIONSUM#FILE01#202408010000.zip": (
        2880, {}, "demand", 2880, 5, "2024-07-31T14:00", "2024-08-31T13:55",
        [("SA1", "2024/08/01 00:05", "demand_mw", 1601.52),
         ("NSW1", "2024/09/01 00:00", "demand_mw", 6943.63)]),
    f"{MMSDM}/PUBLIC_ARCHIVE#DISPATCHINTERCONNECTORRES#FILE01#202408010000.zip": (
        1440, {}, "interconnector_flows", 1440, 5, "2024-07-31T14:00", "2024-08-31T13:55",
        [("VIC1-NSW1", "2024/08/01 00:05", "mw_flow", 400.92134),
         ("VIC1-NSW1", "2024/09/01 00:00", "export_limit", 511.54771)]),
    f"{MMSDM}/PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202408010000.zip": (
        2880, {}, "prices", 2880, 5, "2024-07-31T14:00", "2024-08-31T13:55",
        [("SA1", "2024/08/01 00:05", "price", 137.7), ("NSW1", "2024/09/01 00:00", "price", 56.0)]),
    f"{MMSDM}/PUBLIC_ARCHIVE#DISPATCHPRICE#FILE01#202604010000.zip": (
        2880, {}, "prices", 2880, 5, "2026-03-31T14:00", "2026-04-30T13:55",
        [("SA1", "2026/04/01 00:05", "price", -3.32847), ("NSW1", "2026/05/01 00:00", "price", 57.51)]),
    f"{MMSDM}/PUBLIC_ARCHIVE#DISPATCHREGIONSUM#FILE01#202604010000.zip": (
        2880, {}, "demand", 2880, 5, "2026-03-31T14:00", "2026-04-30T13:55",
        [("NSW1", "2026/04/01 00:05", "demand_mw", 6996.48),
         ("SA1", "2026/05/01 00:00", "demand_mw", 1507.69)]),
    f"{MMSDM}/PUBLIC_ARCHIVE#DISPATCHINTERCONNECTORRES#FILE01#202604010000.zip": (
        1440, {}, "interconnector_flows", 1440, 5, "2026-03-31T14:00", "2026-04-30T13:55",
        [("VIC1-NSW1", "2026/04/01 00:05", "mw_losses", 116.42667),
         ("VIC1-NSW1", "2026/05/01 00:00", "metered_mw_flow", 1280.83911)]),
    f"{MMSDM}/PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202604010000.zip": (
        2880, {}, "prices", 2880, 5, "2026-03-31T14:00", "2026-04-30T13:55",
        [("NSW1", "2026/04/01 00:05", "price", 65.01), ("SA1", "2026/05/01 00:00", "price", -2.01)]),
    # MMSDM TRADINGREGIONSUM of June 2017: 30 days x 48 half hours x 5 regions. The month file ends with the
    # interval ending 2017/07/01 00:00 (the last half hour of 30 June, interval-ending labels).
    f"{NEMWEB}/PUBLIC_DVD_TRADINGREGIONSUM_201706010000.CSV": (
        7200, {}, "demand", 7200, 30, "2017-05-31T14:00", "2017-06-30T13:30",
        [("NSW1", "2017/06/01 00:30", "demand_mw", 8572.87), ("NSW1", "2017/06/01 01:00", "demand_mw", 8371.16),
         ("TAS1", "2017/07/01 00:00", "demand_mw", 1283.71), ("VIC1", "2017/07/01 00:00", "demand_mw", 5825.5)]),
    # DispatchSCADA: each unit's SCADA MW at the start of the interval ending 04:05 (the file was published at
    # 04:00:08), so the interval starts 04:00 NEM time, 18:00 UTC the day before.
    f"{NEMWEB}/PUBLIC_DISPATCHSCADA_201905220405_0000000308171094.CSV": (
        325, {}, "generation", 325, 5, "2019-05-21T18:00", "2019-05-21T18:00",
        [("BARCSF1", "2019/05/22 04:05", "output_mw", 0.0), ("BUTLERSG", "2019/05/22 04:05", "output_mw", 9.199999),
         ("YWPS4", "2019/05/22 04:05", "output_mw", 371.52658),
         ("YWPS4", "2019/05/22 04:05", "capability_mw", math.nan)]),
    # DispatchIS during an intervention: every region and interconnector has INTERVENTION=1 and =0 rows; the
    # settlement (pricing) run INTERVENTION=0 is kept, the 16 intervention rows are left out with the reason.
    f"{NEMWEB}/PUBLIC_DISPATCHIS_201904301035_0000000307325047.CSV": (
        32, {INTERVENTION_RUN: 16}, "prices", 5, 5, "2019-04-30T00:30", "2019-04-30T00:30",
        [("NSW1", "2019/04/30 10:35", "price", 82.40555), ("SA1", "2019/04/30 10:35", "price", 73.57078),
         ("TAS1", "2019/04/30 10:35", "price", 94.91969), ("VIC1", "2019/04/30 10:35", "price", 89.02718)]),
    # The first and last of the 2018-03-05 DispatchIS zips (pre-5-minute-settlement table versions).
    f"{DISPATCHIS_2018}/PUBLIC_DISPATCHIS_201803050020_0000000292571674.zip": (
        16, {}, "prices", 5, 5, "2018-03-04T14:15", "2018-03-04T14:15",
        [("NSW1", "2018/03/05 00:20", "price", 62.45983), ("TAS1", "2018/03/05 00:20", "price", 108.47)]),
    f"{DISPATCHIS_2018}/PUBLIC_DISPATCHIS_201803050455_0000000292577135.zip": (
        16, {}, "prices", 5, 5, "2018-03-04T18:50", "2018-03-04T18:50",
        [("QLD1", "2018/03/05 04:55", "price", 58.07719), ("SA1", "2018/03/05 04:55", "price", 57.68181)]),
}
# The other tables of the DispatchIS files, spot values from the pricing run.
DISPATCHIS_OTHER_TABLES = {
    f"{NEMWEB}/PUBLIC_DISPATCHIS_201904301035_0000000307325047.CSV": [
        ("demand", "SA1", "2019/04/30 10:35", "demand_mw", 1024.36),
        ("interconnector_flows", "V-S-MNSP1", "2019/04/30 10:35", "mw_flow", -71.54494),  # =1 run: -103.97364
        ("interconnector_flows", "N-Q-MNSP1", "2019/04/30 10:35", "metered_mw_flow", -25.0)],
    f"{DISPATCHIS_2018}/PUBLIC_DISPATCHIS_201803050020_0000000292571674.zip": [
        ("demand", "NSW1", "2018/03/05 00:20", "demand_mw", 6691.09),
        ("interconnector_flows", "T-V-MNSP1", "2018/03/05 00:20", "mw_losses", 25.62125)],
    f"{DISPATCHIS_2018}/PUBLIC_DISPATCHIS_201803050455_0000000292577135.zip": [
        ("demand", "VIC1", "2018/03/05 04:55", "demand_mw", 4106.67),
        ("interconnector_flows", "VIC1-NSW1", "2018/03/05 04:55", "mw_flow", 285.77461)],
}
TABLES_OF = {**{name: [spec[2]] for name, spec in REPORTS.items()},
             **{name: ["demand", "interconnector_flows", "prices"] for name in DISPATCHIS_OTHER_TABLES}}


def _report_facts(relative: str) -> dict[str, object]:
    read, rejected, table, rows, minutes, first, last, spots = REPORTS[relative]
    facts = {"rows read": read, "rejected": rejected, "tables": TABLES_OF[relative], "rows": rows,
             "minutes": [minutes], "first start": _utc(first), "last start": _utc(last)}
    facts.update({f"{table} {ident} {end} {column}": [value] for ident, end, column, value in spots})
    facts.update({f"{t} {ident} {end} {column}": [value]
                  for t, ident, end, column, value in DISPATCHIS_OTHER_TABLES.get(relative, [])})
    return facts


def _report_fact(result: ParseResult, table: str, fact: str) -> object:
    frame = result.tables[table]
    simple = {"rows read": lambda: result.rows_read, "rejected": lambda: result.rejected,
              "tables": lambda: sorted(result.tables), "rows": lambda: len(frame),
              "minutes": lambda: sorted(frame["interval_minutes"].unique().tolist()),
              "first start": lambda: frame["interval_start"].min(), "last start": lambda: frame["interval_start"].max()}
    if fact in simple:
        return simple[fact]()
    spot_table, ident, day, time, column = fact.split(" ")
    return _value_at(result.tables[spot_table], spot_table, ident, f"{day} {time}", column)


def _same(a: object, b: object) -> bool:
    """Equal, taking NaN for NaN inside lists and tuples."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
                                        for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.realdata
@pytest.mark.parametrize("relative, fact", [(r, f) for r in REPORTS for f in _report_facts(r)],
                         ids=lambda v: v.rsplit("/", 1)[-1])
def test_real_report(data_dir, relative, fact):
    got = _report_fact(_parsed(data_dir, relative), REPORTS[relative][2], fact)
    assert _same(got, _report_facts(relative)[fact]), got


@pytest.mark.realdata
@pytest.mark.parametrize("table", ["prices", "demand", "interconnector_flows"])
def test_the_2018_dispatchis_zips_read_every_interval(data_dir, table):
    results = [_parsed(data_dir, f"{DISPATCHIS_2018}/{p.name}")
               for p in sorted((data_dir / DISPATCHIS_2018).iterdir())]
    per_interval = {"prices": 5, "demand": 5, "interconnector_flows": 6}[table]
    assert sum(len(r.tables[table]) for r in results) == 20 * per_interval


@pytest.mark.realdata
def test_the_2018_dispatchis_zips_leave_nothing_out(data_dir):
    results = [_parsed(data_dir, f"{DISPATCHIS_2018}/{p.name}")
               for p in sorted((data_dir / DISPATCHIS_2018).iterdir())]
    assert [r.rows_rejected for r in results] == [0] * 20


@pytest.mark.realdata
def test_dispatchscada_units_carry_no_fuel(data_dir):
    """DispatchSCADA names units, not fuels: the fuel key column is stored empty (see ingest.nem.mmsdm)."""
    generation = _parsed(data_dir, f"{NEMWEB}/PUBLIC_DISPATCHSCADA_201905220405_0000000308171094.CSV")
    assert generation.tables["generation"]["fuel"].unique().tolist() == [""]


@pytest.mark.realdata
@pytest.mark.parametrize("name, report", [
    ("PUBLIC_P5MIN_201905160405_20190516040038.CSV", "p5min"),
    ("PUBLIC_PREDISPATCHIS_201905010000_20190430233259.zip", "predispatch"),
    ("PUBLIC_FORECAST_OPERATIONAL_DEMAND_HH_202504011800_20250401173353.zip", "demand_hh"),
])
def test_forecasts_are_read_as_issued(nem, data_dir, name, report):
    """AEMO's forecasts go to operator_forecasts only (tests/test_operator_forecasts.py checks their values)."""
    result = nem.parse(_raw(data_dir, f"{FORECASTS}/{name}"))
    assert list(result.tables) == ["operator_forecasts"]
    assert set(result.tables["operator_forecasts"]["report"]) == {report}


def _every_real_file(data_dir: Path) -> set[str]:
    return {str(p.relative_to(data_dir)) for p in (data_dir / AEMO).rglob("*") if p.is_file()}


READ = {f"{PD}/PRICE_AND_DEMAND_{k}.csv" for k in PRICE_AND_DEMAND} | set(REPORTS)


@pytest.mark.realdata
def test_every_real_nem_file_is_read_or_refused_as_a_forecast(data_dir):
    others = {r for r in _every_real_file(data_dir) - READ
              if not r.startswith(f"{FORECASTS}/") and not r.startswith(f"{DISPATCHIS_2018}/")}
    assert others == set()


@pytest.mark.realdata
def test_every_real_nem_file_parses_or_is_a_report_not_read(data_dir):
    outcome = {}
    for relative in sorted(_every_real_file(data_dir)):
        try:
            outcome[relative] = "read" if _parsed(data_dir, relative).tables else "empty"
        except ReportNotRead:
            outcome[relative] = "not read"
    assert outcome == dict.fromkeys(outcome, "read")  # the operators' forecasts too, since issue 11


@pytest.mark.realdata
@pytest.mark.parametrize("relative", sorted(READ))
def test_real_file_meets_the_output_contract(data_dir, relative):
    result = _parsed(data_dir, relative)
    assert _contract_problems(result, relative.rsplit("/", 1)[-1]) == []


_SECTION_TABLES = {("DISPATCH", "PRICE"): ("prices", "dispatch"), ("TRADING", "PRICE"): ("prices", "settlement"),
                   ("DISPATCH", "REGIONSUM"): ("demand", None), ("TRADING", "REGIONSUM"): ("demand", None),
                   ("DISPATCH", "INTERCONNECTORRES"): ("interconnector_flows", None),
                   ("TRADING", "INTERCONNECTORRES"): ("interconnector_flows", None),
                   ("DISPATCH", "UNIT_SCADA"): ("generation", None)}
_SOURCE_VALUES = {"prices": ["RRP"], "demand": ["TOTALDEMAND"], "generation": ["SCADAVALUE"],
                  "interconnector_flows": ["MWFLOW", "METEREDMWFLOW", "MWLOSSES", "EXPORTLIMIT", "IMPORTLIMIT"]}
_COMPARED = {"prices": ["location", "price_kind", "interval_minutes", "interval_start", "price"],
             "demand": ["location", "interval_minutes", "interval_start", "demand_mw"],
             "interconnector_flows": ["interconnector", "interval_minutes", "interval_start", "mw_flow",
                                      "metered_mw_flow", "mw_losses", "export_limit", "import_limit"],
             "generation": ["fuel", "unit", "interval_minutes", "interval_start", "output_mw"]}


def _plain_start(end: str, minutes: int) -> pd.Timestamp:
    return _utc(datetime.strptime(end, "%Y/%m/%d %H:%M:%S").isoformat()) - timedelta(minutes=minutes, hours=10)


def _plain_number(record: dict, col: str) -> float:
    return float(record[col]) if record.get(col, "") != "" else math.nan


def _reference_price_and_demand(rows: list[list[str]]) -> tuple[dict[str, list[tuple]], int]:
    records = [dict(zip(rows[0], r, strict=True)) for r in rows[1:] if r]
    ends = sorted(datetime.strptime(r["SETTLEMENTDATE"], "%Y/%m/%d %H:%M:%S") for r in records)
    m = int((ends[1] - ends[0]).total_seconds() // 60)
    return {
        "prices": sorted((r["REGION"], "settlement", m, _plain_start(r["SETTLEMENTDATE"], m), float(r["RRP"]))
                         for r in records),
        "demand": sorted((r["REGION"], m, _plain_start(r["SETTLEMENTDATE"], m), float(r["TOTALDEMAND"]))
                         for r in records),
    }, len(records)


def _reference_rows(raw: RawFile) -> tuple[dict[str, list[tuple]], int]:
    """A slow, row-by-row reading with the csv module: the pricing run (INTERVENTION=0) per section and
    interval, interval start = end - length - 10 h."""
    data = raw.data
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            data = zf.read(zf.namelist()[0])
    rows = list(csv.reader(io.StringIO(data.decode())))
    if rows[0][0] == "REGION":
        return _reference_price_and_demand(rows)
    headers: dict[tuple[str, str], list[str]] = {}
    kept: dict[tuple, dict] = {}
    read = 0
    for r in rows:
        if r[0] == "I":
            headers[(r[1], r[2])] = r
        elif r[0] == "D" and (r[1], r[2]) in _SECTION_TABLES:
            read += 1
            record = dict(zip(headers[(r[1], r[2])], r, strict=True))
            ident = record.get("REGIONID") or record.get("INTERCONNECTORID") or record["DUID"]
            key = (r[1], r[2], ident, record["SETTLEMENTDATE"])
            if key not in kept or int(record.get("INTERVENTION", 0)) < int(kept[key].get("INTERVENTION", 0)):
                kept[key] = record
    out: dict[str, list[tuple]] = {}
    for (report, sub, ident, end), record in kept.items():
        table, kind = _SECTION_TABLES[(report, sub)]
        minutes = 5 if report == "DISPATCH" or end > "2021/10/01 04:00:00" else 30
        leading = {"prices": (ident, kind), "generation": ("", ident)}.get(table, (ident,))
        out.setdefault(table, []).append((*leading, minutes, _plain_start(end, minutes),
                                          *(_plain_number(record, c) for c in _SOURCE_VALUES[table])))
    return {table: sorted(rows) for table, rows in out.items()}, read


@pytest.mark.realdata
@pytest.mark.parametrize("relative", sorted(READ), ids=lambda v: v.rsplit("/", 1)[-1])
def test_every_row_matches_a_plain_csv_reading(data_dir, relative):
    raw = _raw(data_dir, relative)
    result = _parsed(data_dir, relative)
    expected, records = _reference_rows(raw)
    got = {table: sorted(tuple(r) for r in frame[_COMPARED[table]].itertuples(index=False))
           for table, frame in result.tables.items()}
    differ = {table: [(g, e) for g, e in zip(got.get(table, []), rows, strict=False) if not _same(g, e)][:3]
              for table, rows in expected.items()}
    assert result.rows_read == records
    assert sorted(got) == sorted(expected)
    assert {t: len(r) for t, r in got.items()} == {t: len(r) for t, r in expected.items()}
    assert differ == {table: [] for table in expected}


@pytest.mark.realdata
@pytest.mark.parametrize("relative", [f"{PD}/PRICE_AND_DEMAND_202401_NSW1.csv",
                                      f"{MMSDM}/PUBLIC_DVD_DISPATCHPRICE_201805010000.zip"])
def test_parsing_twice_gives_identical_frames(nem, data_dir, relative):
    _tables_equal(nem.parse(_raw(data_dir, relative)), nem.parse(_raw(data_dir, relative)))


# ------------------------------------------------------------------------------------------------------------
# Layout variations of real bytes that must not change the result
# ------------------------------------------------------------------------------------------------------------
def _tables_equal(a: ParseResult, b: ParseResult) -> None:
    assert a.tables.keys() == b.tables.keys()
    for table in a.tables:
        pd.testing.assert_frame_equal(a.tables[table].drop(columns="source"),
                                      b.tables[table].drop(columns="source"), check_exact=True)


def _quote_date(line: bytes) -> bytes:
    fields = line.split(b",")
    fields[1] = b'"' + fields[1] + b'"'
    return b",".join(fields)


_LAYOUTS = {
    "LF": lambda crlf: crlf.replace(b"\r\n", b"\n"),
    "mixed line ends": lambda crlf: b"".join(line + (b"\n" if i % 3 else b"\r\n")
                                             for i, line in enumerate(crlf.split(b"\r\n")[:-1])),
    "trailing blank lines": lambda crlf: crlf + b"\r\n\r\n\n",
    "columns swapped": lambda crlf: b"\r\n".join(b",".join(line.split(b",")[i] for i in (3, 0, 4, 2, 1))
                                                   if line else line for line in crlf.split(b"\r\n")),
    "quoted dates": lambda crlf: b"\r\n".join(_quote_date(line) if n and line else line
                                               for n, line in enumerate(crlf.split(b"\r\n"))),
    "byte order mark": lambda crlf: b"\xef\xbb\xbf" + crlf,
}


@pytest.mark.realdata
@pytest.mark.parametrize("layout", sorted(_LAYOUTS))
def test_line_endings_blank_lines_column_order_and_quotes_do_not_matter(nem, data_dir, layout):
    name = "PRICE_AND_DEMAND_201801_SA1.csv"
    crlf = (data_dir / PD / name).read_bytes()
    _tables_equal(nem.parse(RawFile(name, crlf)), nem.parse(RawFile(name, _LAYOUTS[layout](crlf))))


@pytest.mark.realdata
def test_mmsdm_quoted_timestamps_as_aemo_writes_them(nem, data_dir):
    """The shared MMSDM copies were rewritten without quotes; AEMO's own files quote date-times."""
    name, inner = _inner(data_dir, "PUBLIC_DVD_DISPATCHPRICE_201805010000.zip")
    lines = inner.split(b"\n")
    quoted = b"\n".join(
        b",".join(b'"' + f + b'"' if i in (4, 14) else f for i, f in enumerate(line.split(b",")))
        if line.startswith(b"D,") else line for line in lines)
    assert quoted.count(b'"2018/05/01 00:05:00"') == 4  # the four rows of the first interval were quoted
    _tables_equal(nem.parse(RawFile(name, inner)), nem.parse(RawFile(name, quoted)))


# ------------------------------------------------------------------------------------------------------------
# Hand-written fixtures: several sections in one file, versions, the 5-minute settlement boundary
# ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def multisection() -> ParseResult:
    return NemConnector().parse(RawFile.from_path(FIXTURES / "nemweb_multisection_example.csv"))


def test_multisection_file_meets_the_output_contract(multisection):
    assert _contract_problems(multisection, "nemweb_multisection_example.csv") == []


def test_multisection_file_counts_the_rows_of_the_sections_read(multisection):
    # D rows of the four parsed sections (the DISPATCH CASESOLUTION row is skipped, not counted)
    assert multisection.rows_read == 7 + 4 + 2 + 1


def test_multisection_file_leaves_rows_out_by_reason(multisection):
    # an older LASTCHANGED and a lower RUNNO are superseded; an intervention re-run
    assert multisection.rejected == {SUPERSEDED: 2, INTERVENTION_RUN: 1}


def test_multisection_file_keeps_one_price_per_interval(multisection):
    prices = multisection.tables["prices"]
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


@pytest.mark.parametrize("column, values", [
    ("interval_minutes", [5, 5, 30]), ("mw_flow", [-120.5, -110.0, -128.5]),
    ("metered_mw_flow", [-118.25, math.nan, -130.0]),  # empty in the 04:10 row
    ("export_limit", [1000.0, 990.5, math.nan]),  # TRADING INTERCONNECTORRES has no limits
])
def test_multisection_file_flows(multisection, column, values):
    assert _same(multisection.tables["interconnector_flows"][column].tolist(), values)


def test_multisection_file_without_regionsum_has_no_demand(multisection):
    assert "demand" not in multisection.tables


@pytest.fixture(scope="module")
def across_five_minute_settlement() -> ParseResult:
    return NemConnector().parse(RawFile.from_path(FIXTURES / "PRICE_AND_DEMAND_202110_SA1_example.csv"))


def test_price_and_demand_across_five_minute_settlement_meets_the_contract(across_five_minute_settlement):
    assert _contract_problems(across_five_minute_settlement, "PRICE_AND_DEMAND_202110_SA1_example.csv") == []


@pytest.mark.parametrize("column, values", [
    ("interval_minutes", [30, 30, 30, 5, 5, 5, 5]),
    ("interval_start", ["16:30", "17:00", "17:30", "18:00", "18:05", "18:10", "18:15"]),
    ("demand_mw", [1210.5, 1200.25, 1195.0, 1190.75, 1188.0, 1186.5, 1185.0]),
])
def test_price_and_demand_across_the_start_of_five_minute_settlement(across_five_minute_settlement, column,
                                                                     values):
    demand = across_five_minute_settlement.tables["demand"].sort_values("interval_start")
    got = demand[column].dt.strftime("%H:%M") if column == "interval_start" else demand[column]
    assert got.tolist() == values


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


@pytest.mark.parametrize("gaps, minutes", [([5] * 11, 5), ([30] * 11, 30), ([5] * 5 + [10] + [5] * 5, 5),
                                            ([15] * 11, None)])
def test_price_and_demand_interval_length_is_the_files_own_spacing(nem, gaps, minutes):
    """A month file spaced evenly takes its one gap; a file missing an interval still takes its usual gap; a
    spacing that is neither 5 nor 30 minutes is refused."""
    ends = np.cumsum([0, *gaps])
    body = "".join(f"SA1,{datetime(2024, 1, 1) + timedelta(minutes=int(m)):%Y/%m/%d %H:%M:%S},1000,50,TRADE\r\n"
                   for m in ends)
    raw = RawFile("PRICE_AND_DEMAND_202401_SA1.csv", (_PD_HEADER + body).encode())
    if minutes is None:
        err = _fails(nem, raw.name, raw.data)
        assert "cannot tell the interval length of SA1: its rows are mostly 15 minutes apart" in err.problem
        return
    tables = nem.parse(raw).tables
    for table in ("prices", "demand"):
        assert tables[table]["interval_minutes"].tolist() == [minutes] * len(ends)


@pytest.mark.parametrize("stamp", ["2023/02/29 00:30:00", "2100/02/29 00:30:00", "2024/04/31 00:30:00",
                                   "2024/00/10 00:30:00", "2024/01/01 24:00:00", "2024/01/01 00:60:00",
                                   "2024-01-01 00:30:00", "2024/01/01 00:30:0x"])
def test_impossible_date_times_are_refused_not_rolled_over(nem, stamp):
    rows = f"SA1,2024/01/01 00:00:00,1,2,TRADE\r\nSA1,{stamp},1,2,TRADE\r\n"
    raw = RawFile("PRICE_AND_DEMAND_BAD_SA1.csv", (_PD_HEADER + rows).encode())
    err = _fails(nem, raw.name, raw.data)
    assert err.line == 3
    assert f"SETTLEMENTDATE {stamp!r} is not a date-time" in err.problem


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
        assert err.line == 1
        assert "RRP" in err.problem

    def test_missing_column(self, nem, good):
        dropped = b"\r\n".join(line.rsplit(b",", 1)[0] for line in good.split(b"\r\n"))
        err = _fails(nem, self.name, dropped)
        assert err.line == 1
        assert "PERIODTYPE" in err.problem

    def test_header_ok_but_a_row_lacks_a_field(self, nem, good):
        lines = good.split(b"\r\n")
        lines[100] = lines[100].rsplit(b",", 1)[0]
        err = _fails(nem, self.name, b"\r\n".join(lines))
        assert err.line == 101
        assert "4 fields, expected 5" in err.problem

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
        assert err.line == 2 + 48 + 25
        assert "SETTLEMENTDATE '2018/01/32 13:00:00'" in err.problem

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
        assert err.line == 3
        assert "carriage return" in err.problem

    def test_unbalanced_quote(self, nem, good):
        err = _fails(nem, self.name, good.replace(b"SA1,2018/01/01 05:00:00", b'SA1,"2018/01/01 05:00:00'))
        assert (err.line, err.problem) == (11, "unbalanced double quote")

    def test_bad_zip(self, nem, data_dir):
        data = (data_dir / MMSDM / "PUBLIC_DVD_TRADINGPRICE_201805010000.zip").read_bytes()
        err = _fails(nem, "PUBLIC_DVD_TRADINGPRICE_201805010000.zip", data[: len(data) // 2])
        assert err.source == "PUBLIC_DVD_TRADINGPRICE_201805010000.zip"
        assert err.line is None
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
        assert "PRICE_AND_DEMAND" in err.problem
        assert "DISPATCH PRICE" in err.problem


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

    @pytest.mark.parametrize("cut", [30, 2])  # mid-row, and inside the last field (field count still right)
    def test_cut_last_line_without_footer(self, nem, inner, cut):
        name, data = inner
        body = data[: data.rindex(b'C,"END OF REPORT"')]
        assert body.count(b"\nD,") == 4606  # lines 3..4608
        err = self._fails_zipped(nem, name, body[:-cut])
        assert err.line == 4608
        assert "truncated" in err.problem

    def test_cut_row_with_footer_kept(self, nem, inner):
        name, data = inner
        lines = data.split(b"\n")
        lines[1000] = lines[1000][:200]
        err = self._fails_zipped(nem, name, b"\n".join(lines))
        assert err.line == 1001
        assert "expected 58" in err.problem

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
        assert err.line is None
        assert "unsupported report (DISPATCH CASESOLUTION)" in err.problem


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
    """A real file changed up to three times: the shared line and byte changes, plus a byte replaced by one
    that means something in AEMO's CSVs and two fields of a line swapped."""
    data = draw(st.sampled_from(originals))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["shared", "replace", "swap fields"]))
        if how == "shared" or not data:
            data = draw(mangled(data))
            continue
        if how == "replace":
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([draw(st.sampled_from(_INTERESTING))]) + data[at + 1:]
            continue
        lines = data.split(b"\n")
        i = draw(st.integers(0, len(lines) - 1))
        fields = lines[i].split(b",")
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
        assert err.source.startswith("mangled")
        assert err.problem
        assert err.line in {None, *range(1, mangled.count(b"\n") + 2)}
        return
    assert _contract_problems(result, raw.name) == []
    assert all(len(frame) <= result.rows_read for frame in result.tables.values())


# ------------------------------------------------------------------------------------------------------------
# fetch: local folders and files, AEMO URLs, retries (never the network)
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.parametrize("start, end, kind, names", [
    (date(2018, 1, 1), date(2018, 1, 31), None, [f"PRICE_AND_DEMAND_201801_{r}.csv"
                                                 for r in ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")]),
    (date(2018, 5, 1), date(2018, 5, 31), "DISPATCHPRICE", ["PUBLIC_DVD_DISPATCHPRICE_201805010000.zip"]),
    (date(2024, 8, 1), date(2026, 4, 30), "tradingprice", ["PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202408010000.zip",
                                                           "PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202604010000.zip"]),
    (date(2017, 6, 1), date(2017, 6, 30), "TRADINGREGIONSUM", ["PUBLIC_DVD_TRADINGREGIONSUM_201706010000.CSV"]),
    (date(2019, 5, 22), date(2019, 5, 22), "dispatch_scada",
     ["PUBLIC_DISPATCHSCADA_201905220405_0000000308171094.CSV"]),
    (date(2019, 4, 30), date(2019, 4, 30), "dispatch_is", ["PUBLIC_DISPATCHIS_201904301035_0000000307325047.CSV"]),
])
def test_fetch_from_a_local_folder_by_kind_and_period(nem, data_dir, start, end, kind, names):
    files = nem.fetch(start, end, source=data_dir / AEMO, kind=kind)
    assert [f.name for f in files] == names


@pytest.mark.realdata
def test_fetch_from_a_local_folder_returns_the_files_bytes(nem, data_dir):
    files = nem.fetch(date(2018, 1, 1), date(2018, 1, 31), source=data_dir / AEMO)
    assert files[2].data == (data_dir / PD / "PRICE_AND_DEMAND_201801_SA1.csv").read_bytes()


@pytest.mark.realdata
def test_fetch_everything_from_a_local_folder_takes_every_file_read(nem, data_dir):
    everything = nem.fetch(date(2016, 1, 1), date(2026, 12, 31), source=data_dir / AEMO, kind="all")
    read = {r.rsplit("/", 1)[-1] for r in _every_real_file(data_dir)}
    assert sorted(f.name for f in everything) == sorted(read)


@pytest.mark.realdata
def test_fetch_from_a_local_folder_without_those_months(nem, data_dir):
    with pytest.raises(IngestError, match="no AEMO price_and_demand files for 2019-01 to 2019-12"):
        nem.fetch(date(2019, 1, 1), date(2019, 12, 31), source=data_dir / AEMO)


@pytest.mark.realdata
def test_fetch_a_single_local_file(nem, data_dir):
    path = data_dir / MMSDM / "PUBLIC_DVD_TRADINGPRICE_202112010000.zip"
    (raw,) = nem.fetch(date(2000, 1, 1), date(2000, 1, 1), source=str(path))
    assert raw == RawFile(path.name, path.read_bytes())


def test_fetch_from_a_missing_path(nem, tmp_path):
    with pytest.raises(IngestError, match="no such file or folder"):
        nem.fetch(date(2024, 8, 1), date(2024, 8, 31), source=tmp_path / "absent")


def test_fetch_from_a_folder_with_nemosis_names(nem, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202408010000.zip").write_bytes(b"PK")
    (tmp_path / "notes.txt").write_text("not an AEMO file")
    files = nem.fetch(date(2024, 8, 1), date(2024, 8, 31), source=tmp_path, kind="DISPATCHPRICE")
    assert [f.name for f in files] == ["PUBLIC_ARCHIVE#DISPATCHPRICE#FILE01#202408010000.zip"]


def test_urls_of_price_and_demand_for_every_region_and_month(nem):
    urls = nem.urls(date(2023, 12, 15), date(2024, 2, 1))
    assert [name for name, _ in urls] == [f"PRICE_AND_DEMAND_{month}_{region}.csv" for month in
                                          ("202312", "202401", "202402")
                                          for region in ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")]


def test_url_of_price_and_demand(nem):
    urls = nem.urls(date(2023, 12, 15), date(2023, 12, 15))
    assert urls[0] == ("PRICE_AND_DEMAND_202312_NSW1.csv",
                       "https://aemo.com.au/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_202312_NSW1.csv")


def test_urls_of_mmsdm_files_follow_aemos_naming_change(nem):
    mmsdm = nem.urls(date(2024, 7, 1), date(2024, 8, 31), kind="DISPATCHPRICE")
    base = "https://nemweb.com.au/Data_Archive/Wholesale_Electricity/MMSDM/2024"
    assert mmsdm == [
        ("PUBLIC_DVD_DISPATCHPRICE_202407010000.zip",
         f"{base}/MMSDM_2024_07/MMSDM_Historical_Data_SQLLoader/DATA/PUBLIC_DVD_DISPATCHPRICE_202407010000.zip"),
        ("PUBLIC_ARCHIVE#DISPATCHPRICE#FILE01#202408010000.zip",
         f"{base}/MMSDM_2024_08/MMSDM_Historical_Data_SQLLoader/DATA/"
         "PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202408010000.zip"),
    ]


def test_mmsdm_file_name_before_the_naming_change():
    assert mmsdm_file_name("TRADINGINTERCONNECT", 2018, 5) == "PUBLIC_DVD_TRADINGINTERCONNECT_201805010000.zip"


@pytest.mark.parametrize("start, end, kind, message", [
    (date(2024, 1, 1), date(2024, 1, 31), "BIDS", "unknown kind 'BIDS' for AEMO NEM"),
    (date(2024, 2, 1), date(2024, 1, 1), None, "before start"),
])
def test_urls_refuse_unknown_kinds_and_backwards_ranges(nem, start, end, kind, message):
    with pytest.raises(ValueError, match=message):
        nem.urls(start, end, kind=kind)


_CSV = b"REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE\r\nSA1,2018/01/01 00:30:00,1289.1,107.17,TRADE\r\n"


class _OneRegion(NemConnector):
    regions = ("SA1",)


_PD_URL = "https://aemo.com.au/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_{}_SA1.csv"
_DISPATCHPRICE_URL = ("https://nemweb.com.au/Data_Archive/Wholesale_Electricity/MMSDM/2024/MMSDM_2024_08/"
                      "MMSDM_Historical_Data_SQLLoader/DATA/PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202408010000.zip")


@pytest.fixture
def after_a_503(no_wait) -> tuple[list[RawFile], FakeSession]:
    session = FakeSession({_PD_URL.format("201801"): [FakeResponse(503), FakeResponse(200, _CSV)]})
    return _OneRegion().fetch(date(2018, 1, 1), date(2018, 1, 31), session=session), session


def test_download_retries_a_503_then_succeeds(after_a_503):
    files, _ = after_a_503
    assert files == [RawFile("PRICE_AND_DEMAND_201801_SA1.csv", _CSV)]


def test_download_asked_twice(after_a_503):
    _, session = after_a_503
    assert [call[0] for call in session.calls] == [_PD_URL.format("201801")] * 2


def test_download_names_itself_and_sets_a_timeout(after_a_503):
    _, session = after_a_503
    _, _, timeout, headers = session.calls[0]
    assert (headers["User-Agent"], timeout) == (http_fetch.USER_AGENT, http_fetch.TIMEOUT)


def test_downloaded_file_parses(after_a_503):
    files, _ = after_a_503
    assert NemConnector().parse(files[0]).tables["prices"]["price"].tolist() == [107.17]


def test_download_retries_connection_errors_then_gives_up_with_ingest_error(no_wait):
    session = FakeSession({_DISPATCHPRICE_URL: [requests.ConnectionError("reset")]})
    with pytest.raises(IngestError, match=f"download failed after {http_fetch.ATTEMPTS} attempts"):
        NemConnector().fetch(date(2024, 8, 1), date(2024, 8, 1), kind="DISPATCHPRICE", session=session)


def test_download_gives_up_after_its_attempts(no_wait):
    session = FakeSession({_DISPATCHPRICE_URL: [requests.ConnectionError("reset")]})
    with pytest.raises(IngestError):
        NemConnector().fetch(date(2024, 8, 1), date(2024, 8, 1), kind="DISPATCHPRICE", session=session)
    assert len(session.calls) == http_fetch.ATTEMPTS


def test_download_does_not_retry_a_404():
    session = FakeSession({_DISPATCHPRICE_URL: [FakeResponse(404)]})
    with pytest.raises(IngestError, match="HTTP 404"):
        NemConnector().fetch(date(2024, 8, 1), date(2024, 8, 1), kind="DISPATCHPRICE", session=session)
    assert len(session.calls) == 1


@pytest.mark.parametrize("url, body, kind, message", [
    (_PD_URL.format("202408"), b"<html>denied</html>", None, "HTML page"),
    (_DISPATCHPRICE_URL, _CSV, "DISPATCHPRICE", "did not send a zip")])
def test_download_checks_the_body_against_the_file_name(url, body, kind, message):
    session = FakeSession({url: [FakeResponse(200, body)]})
    with pytest.raises(IngestError, match=message):
        _OneRegion().fetch(date(2024, 8, 1), date(2024, 8, 1), kind=kind, session=session)


_URL = ("https://nemweb.com.au/Data_Archive/Wholesale_Electricity/MMSDM/2024/MMSDM_2024_08/"
        "MMSDM_Historical_Data_SQLLoader/DATA/PUBLIC_ARCHIVE%23TRADINGPRICE%23FILE01%23202408010000.zip")


def test_fetch_one_file_by_url_names_it_unquoted():
    session = FakeSession({_URL: [FakeResponse(200, b"PK\x03\x04 rest of a zip")]})
    (raw,) = NemConnector().fetch(date(2024, 8, 1), date(2024, 8, 31), source=_URL, session=session)
    assert raw.name == "PUBLIC_ARCHIVE#TRADINGPRICE#FILE01#202408010000.zip"


def test_fetch_one_file_by_url_asks_that_url_only():
    session = FakeSession({_URL: [FakeResponse(200, b"PK\x03\x04 rest of a zip")]})
    NemConnector().fetch(date(2024, 8, 1), date(2024, 8, 31), source=_URL, session=session)
    assert [c[0] for c in session.calls] == [_URL]


def test_connector_market_and_zone_come_from_the_market_registry():
    assert (NemConnector.market, NemConnector.timezone) == ("NEM", market("NEM").timezone)


def test_nem_time_is_utc_plus_ten_all_year():
    offsets = {pd.Timestamp(f"2024-{m:02d}-01", tz=NemConnector.timezone).utcoffset() for m in range(1, 13)}
    assert offsets == {timedelta(hours=10)}


def test_connector_regions():
    assert NemConnector.regions == ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")


@pytest.mark.parametrize("kind, spans", [
    (None, [(date(2024, 1, 20), date(2024, 1, 31)), (date(2024, 2, 1), date(2024, 2, 10))]),
    ("dispatch_is", [(date(2024, 1, 20), date(2024, 1, 31)), (date(2024, 2, 1), date(2024, 2, 10))]),
])
def test_backfills_fetch_month_by_month(kind, spans):
    assert NemConnector().fetch_spans(date(2024, 1, 20), date(2024, 2, 10), kind) == spans


@pytest.mark.realdata
@pytest.mark.parametrize("region", ["NSW1", "QLD1", "SA1", "TAS1", "VIC1"])
def test_benchmark_month_is_real_bytes_relabelled(monkeypatch, data_dir, region):
    monkeypatch.setenv("C254_DATA_DIR", str(data_dir))
    from bench.ingest_nem_parse import month_of_5min_files

    raw = {f.name: f for f in month_of_5min_files()}[f"PRICE_AND_DEMAND_202401_{region}.csv"]
    prices = NemConnector().parse(raw).tables["prices"]
    nsw = _parsed(data_dir, f"{PD}/PRICE_AND_DEMAND_202401_NSW1.csv").tables["prices"]
    assert prices[["location", "price"]].values.tolist() == [[region, p] for p in nsw["price"]]


@pytest.mark.realdata
def test_ingest_bench_floor_prints_bare_inserts_beside_parse(data_dir):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    # its own process: chDB holds one store directory per process, and this one may hold a test's
    done = subprocess.run([sys.executable, "bench/ingest_nem.py", "--floor", "--runs", "1"], cwd=REPO_ROOT,
                          env={**os.environ, "C254_DATA_DIR": str(data_dir)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "bare inserts, side by side (median of 1): 89,280 rows into prices, demand" in done.stdout
    floor = next(line for line in done.stdout.splitlines() if line.startswith("floor: parse"))
    assert "file rows/s; the target of 2,000,000 is 22.3 ms for these 44,640 file rows" in floor
