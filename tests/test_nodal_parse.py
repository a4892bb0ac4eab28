"""The nodal-LMP connectors (PJM Data Miner 2, ISO-NE hourly LMP reports) and CAISO node locations:
real files, DST days, bad input, mangled input and fetching."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ingest.pjm
from engine.files import IngestError, RawFile
from ingest.base import table_columns
from ingest.caiso import CaisoConnector
from ingest.isone import IsoneConnector
from ingest.pjm import PjmConnector
from tests.support.fakes import mangled, parsed_or_refused

FIXTURES = Path(__file__).parent / "fixtures"
LMP_COLUMNS = list(table_columns("nodal_lmp"))
META_COLUMNS = list(table_columns("node_metadata"))
HUBS = {"51217": "EASTERN HUB", "51287": "WEST INT HUB", "51288": "WESTERN HUB", "4669664": "NEW JERSEY HUB",
        "33092311": "CHICAGO GEN HUB", "33092313": "CHICAGO HUB", "33092315": "N ILLINOIS HUB",
        "34497125": "AEP GEN HUB", "34497127": "AEP-DAYTON HUB", "34497151": "OHIO HUB",
        "35010337": "DOMINION HUB", "116013751": "ATSI GEN HUB"}

pjm, isone, caiso = PjmConnector(), IsoneConnector(), CaisoConnector()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def row(frame: pd.DataFrame, node: str, start: str) -> pd.Series:
    hit = frame[(frame["node"] == node) & (frame["interval_start"] == ts(start))]
    assert len(hit) == 1, (node, start)
    return hit.iloc[0]


def components(r: pd.Series) -> tuple[float, float, float, float]:
    return (r["lmp"], r["energy"], r["congestion"], r["loss"])


def check_contract(result, raw: RawFile) -> None:
    lmp, meta = result.tables["nodal_lmp"], result.tables["node_metadata"]
    assert list(lmp.columns) == LMP_COLUMNS
    assert list(meta.columns) == META_COLUMNS
    assert str(lmp["interval_start"].dtype) == "datetime64[ns, UTC]"
    for col in ("lmp", "energy", "congestion", "loss"):
        assert lmp[col].dtype == np.float64, col
    for col in ("voltage_kv", "latitude", "longitude"):
        assert meta[col].dtype == np.float64, col
    assert (lmp["source"] == raw.name).all()
    assert (meta["source"] == raw.name).all()
    assert not lmp.duplicated(["node", "interval_start"]).any()
    assert set(meta["node"]) == set(lmp["node"])
    assert meta["node"].is_unique


# ---------------------------------------------------------------- PJM: real files ----------------------------

@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "run", "rows", "nodes", "first", "last"),
    [
        # first / last data lines of each file: (pnode_id, UTC start, total, energy, congestion, loss)
        ("da_hrl_lmps_hubs_20250501-20250801.csv", "DA", 26508, 12,
         ("51217", "2025-05-01T04:00", 24.966949, 30.98, -6.094939, 0.081888),
         ("116013751", "2025-08-01T04:00", 32.285455, 32.78, 0.071591, -0.566136)),
        ("rt_hrl_lmps_hubs_20250501-20250801.csv", "RT", 26508, 12,
         ("51217", "2025-05-01T04:00", 24.065135, 23.71, 0.147564, 0.206738),
         ("116013751", "2025-08-01T04:00", 28.070208, 28.89, 0.046894, -0.862519)),
        ("da_hrl_lmps_PJM-RTO_2025.csv", "DA", 8737, 1,
         ("1", "2025-01-01T05:00", 21.024537, 21.26, -0.342860, 0.107397),
         ("1", "2025-12-31T05:00", 53.555740, 55.02, -1.989061, 0.524801)),
        ("da_hrl_lmps_ALDENE_20250616-20260615.csv", "DA", 8737, 1,
         ("48592", "2025-06-16T04:00", 14.37, 19.28, -4.39, -0.52),
         ("48592", "2026-06-15T04:00", 34.30, 30.26, 3.67, 0.37)),
    ],
)
def test_pjm_real_files(data_dir: Path, name, run, rows, nodes, first, last):
    raw = RawFile.from_path(data_dir / "markets" / "pjm" / name)
    result = pjm.parse(raw)
    check_contract(result, raw)
    lmp = result.tables["nodal_lmp"]
    assert (result.rows_read, result.rows_rejected, len(lmp)) == (rows, 0, rows)
    assert lmp["node"].nunique() == nodes == len(result.tables["node_metadata"])
    assert (lmp["market"] == "PJM").all()
    assert (lmp["market_run"] == run).all()
    assert (lmp["interval_minutes"] == 60).all()
    for node, start, *values in (first, last):
        assert components(row(lmp, node, start)) == pytest.approx(tuple(values), abs=1e-9)


@pytest.mark.realdata
def test_pjm_hubs_cover_every_hour_including_dst(data_dir: Path):
    lmp = pjm.parse(RawFile.from_path(data_dir / "markets/pjm/da_hrl_lmps_hubs_20250501-20250801.csv")
                    ).tables["nodal_lmp"]
    assert set(lmp["node"]) == set(HUBS)
    hours = lmp.groupby("node")["interval_start"].agg(["min", "max", "count"])
    # 2025-05-01 00:00 EDT .. 2025-08-01 00:00 EDT inclusive = 92 days * 24 + 1 hours for every hub
    assert (hours["count"] == 2209).all()
    assert (hours["min"] == ts("2025-05-01T04:00")).all()
    assert (hours["max"] == ts("2025-08-01T04:00")).all()


@pytest.mark.realdata
def test_pjm_node_metadata(data_dir: Path):
    meta = pjm.parse(RawFile.from_path(data_dir / "markets/pjm/da_hrl_lmps_ALDENE_20250616-20260615.csv")
                     ).tables["node_metadata"]
    aldene = meta.iloc[0]
    assert (aldene["market"], aldene["node"], aldene["node_type"], aldene["zone"], aldene["voltage_kv"]) == (
        "PJM", "48592", "LOAD", "PSEG", 230.0)
    assert aldene["node_name"] == "ALDENE"
    assert np.isnan(aldene["latitude"])
    assert np.isnan(aldene["longitude"])
    hubs = pjm.parse(RawFile.from_path(data_dir / "markets/pjm/rt_hrl_lmps_hubs_20250501-20250801.csv")
                     ).tables["node_metadata"]
    assert set(hubs["node_type"]) == {"HUB"}
    assert set(hubs["zone"]) == {""}
    assert hubs["voltage_kv"].isna().all()


# ---------------------------------------------------------------- PJM: fixture with DST and versions --------

def test_pjm_fall_back_day_superseded_rows_and_shared_names():
    raw = RawFile.from_path(FIXTURES / "pjm" / "rt_hrl_lmps_fallback_20251102.csv")
    result = pjm.parse(raw)
    check_contract(result, raw)
    lmp, meta = result.tables["nodal_lmp"], result.tables["node_metadata"]
    assert (result.rows_read, result.rows_rejected, len(lmp)) == (16, 1, 15)
    # 1:00 AM EPT twice (EDT then EST) is two distinct UTC hours
    assert sorted(lmp["interval_start"].unique()) == [ts(f"2025-11-02T0{h}:00") for h in range(4, 9)]
    hub = row(lmp, "51288", "2025-11-02T06:00")  # version 2 (current), not the superseded version 1
    assert components(hub) == pytest.approx((26.77, 26.5, 0.55, -0.28))
    # both "ALDENE" pnodes survive as separate nodes: the key is the pnode id
    assert set(lmp["node"]) == {"48592", "48593", "51288"}
    assert meta.set_index("node")["voltage_kv"].to_dict() == pytest.approx(
        {"48592": 230.0, "48593": 230.0, "51288": np.nan}, nan_ok=True)


PJM_TEXT = (
    "datetime_beginning_utc,datetime_beginning_ept,pnode_id,pnode_name,voltage,equipment,type,zone,"
    "system_energy_price_da,total_lmp_da,congestion_price_da,marginal_loss_price_da,row_is_current,version_nbr\r\n"
    "6/16/2025 4:00:00 AM,6/16/2025 12:00:00 AM,48592,ALDENE,230 KV,T-10,LOAD,PSEG,19.28,14.370000,-4.390000,"
    "-0.520000,True,1\r\n"
    "6/16/2025 5:00:00 AM,6/16/2025 1:00:00 AM,48592,ALDENE,230 KV,T-10,LOAD,PSEG,20.48,14.690000,-5.150000,"
    "-0.640000,True,1\r\n"
)
PJM_SECOND = "6/16/2025 5:00:00 AM,6/16/2025 1:00:00 AM,48592,ALDENE,230 KV,T-10,LOAD,PSEG,20.48,14.690000"


def _swap_columns(text: str, a: int, b: int) -> str:
    out = []
    for line in text.split("\r\n"):
        if line:
            parts = line.split(",")
            parts[a], parts[b] = parts[b], parts[a]
            line = ",".join(parts)
        out.append(line)
    return "\r\n".join(out)


def test_pjm_reordered_columns_give_the_same_rows():
    a = pjm.parse(RawFile("da_hrl_lmps.csv", PJM_TEXT.encode()))
    b = pjm.parse(RawFile("da_hrl_lmps.csv", _swap_columns(_swap_columns(PJM_TEXT, 0, 9), 2, 11).encode()))
    for name in ("nodal_lmp", "node_metadata"):
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (PJM_TEXT.replace("14.690000", "14.69x"), 3, "not a number"),
        (PJM_TEXT.replace("20.48,14.690000", "20.48"), 3, "13 fields"),
        (PJM_TEXT.replace("6/16/2025 5:00:00 AM,", "6/16/2025 4:00:00 AM,", 1), 3, "appears twice"),
        (PJM_TEXT.replace("6/16/2025 5:00:00 AM,", "6/16/2025 5:30:00 AM,", 1), 3, "60-minute"),
        (PJM_TEXT.replace("6/16/2025 5:00:00 AM,", "16/6/2025 5:00:00 AM,", 1), 3, "not a date and time"),
        (PJM_TEXT.replace("True,1\r\n6/16", "Yes,1\r\n6/16"), 2, "not True/False"),
        (PJM_TEXT.replace(",230 KV,T-10,LOAD,PSEG,20.48", ",230 KVA,T-10,LOAD,PSEG,20.48"), 3, "voltage"),
        (PJM_TEXT.replace(",48592,ALDENE,230 KV,T-10,LOAD,PSEG,20.48", ",ALDENE,ALDENE,230 KV,T-10,LOAD,PSEG,20.48"),
         3, "not a pnode id"),
        (PJM_TEXT.replace("total_lmp_da", "total_lmp"), 1, "not a PJM nodal LMP export"),
        (PJM_TEXT.replace("congestion_price_da", "congestion_da"), 1, "congestion_price_da"),
        (PJM_TEXT.replace("zone,system", "type,system"), 1, "appear twice in the header"),
        (PJM_TEXT.replace("ALDENE,230", '"ALDENE,230', 1), 2, "unbalanced double quote"),
        (PJM_TEXT[: PJM_TEXT.index(PJM_SECOND) + len(PJM_SECOND) - 3], 3, "fields"),
    ],
    ids=["non-numeric", "short-row", "duplicated-hour", "off-grid", "day-month-swapped", "bad-flag",
         "bad-voltage", "name-for-id", "not-lmp", "missing-column", "duplicate-column", "quote", "truncated"],
)
def test_pjm_bad_input_names_file_and_line(text: str, line: int, words: str):
    with pytest.raises(IngestError) as err:
        pjm.parse(RawFile("da_hrl_lmps.csv", text.encode()))
    assert err.value.source == "da_hrl_lmps.csv"
    assert err.value.line == line
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("data", "words"),
    [(b"", "empty"), (PJM_TEXT.encode("utf-16"), "binary"),
     (PJM_TEXT.encode().replace(b"ALDENE", b"ALD\xe9NE", 1), "not valid utf-8"),
     (PJM_TEXT.split("\r\n")[0].encode() + b"\r\n", "no data rows")],
    ids=["empty", "utf-16", "latin-1", "header-only"],
)
def test_pjm_unreadable_files(data: bytes, words: str):
    with pytest.raises(IngestError, match=words):
        pjm.parse(RawFile("da_hrl_lmps.csv", data))


def test_pjm_blank_component_is_nan():
    lmp = pjm.parse(RawFile("da_hrl_lmps.csv", PJM_TEXT.replace("-5.150000", "").encode())).tables["nodal_lmp"]
    assert np.isnan(lmp["congestion"].iloc[1])
    assert lmp["congestion"].iloc[0] == -4.39


# ---------------------------------------------------------------- ISO-NE: real files ------------------------

@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "run", "rows", "nodes", "spot"),
    [
        # (node, UTC start, lmp, energy, congestion, loss) read from the file
        ("WW_DALMP_ISO_20260604.csv", "DA", 29016, 1209,
         [("UN.FRNKLNSQ13.810CC", "2026-06-04T04:00", 47.19, 47.56, 0.0, -0.37),
          (".H.INTERNAL_HUB", "2026-06-04T04:00", 47.82, 47.56, 0.0, 0.26),
          (".Z.MAINE", "2026-06-04T04:00", 46.32, 47.56, 0.0, -1.24),
          ("UN.CONGRESS13.8CSFC", "2026-06-05T03:00", 41.93, 43.85, 0.0, -1.92)]),
        ("lmp_rt_final_20260602.csv", "RT", 29064, 1211,
         [("UN.FRNKLNSQ13.810CC", "2026-06-02T04:00", 34.49, 34.72, 0.0, -0.23),
          (".I.ROSETON 345 1", "2026-06-02T04:00", 30.79, 34.72, -2.44, -1.49),
          ("UN.TASKERFM34.5NUTS", "2026-06-03T03:00", 42.43, 41.85, 0.0, 0.58)]),
    ],
)
def test_isone_real_files(data_dir: Path, name, run, rows, nodes, spot):
    raw = RawFile.from_path(data_dir / "markets" / "isone" / name)
    result = isone.parse(raw)
    check_contract(result, raw)
    lmp, meta = result.tables["nodal_lmp"], result.tables["node_metadata"]
    assert (result.rows_read, result.rows_rejected, len(lmp)) == (rows, 0, rows)
    assert (lmp["market"] == "ISONE").all()
    assert (lmp["market_run"] == run).all()
    assert lmp["node"].nunique() == nodes == len(meta)
    assert (lmp.groupby("node").size() == 24).all()  # hour endings 01..24 of one EDT day
    for node, start, *values in spot:
        assert components(row(lmp, node, start)) == pytest.approx(tuple(values), abs=1e-9)
    types = meta.set_index("node")["node_type"]
    assert types[".H.INTERNAL_HUB"] == "HUB"
    assert types[".Z.MAINE"] == "LOAD ZONE"
    assert types["HC.AYER    115"] == "HUB NODE"  # internal blanks of ISO-NE names are kept
    assert meta["node_type"].value_counts()["LOAD ZONE"] == 8


# ---------------------------------------------------------------- ISO-NE: DST days (fixtures) ---------------

def test_isone_fall_back_day_has_25_hours():
    raw = RawFile.from_path(FIXTURES / "isone" / "WW_DALMP_ISO_20251102.csv")
    result = isone.parse(raw)
    check_contract(result, raw)
    hub = result.tables["nodal_lmp"].query("node == '.H.INTERNAL_HUB'")
    assert len(hub) == 25
    assert result.rows_read == 50
    starts = hub["interval_start"].reset_index(drop=True)
    # HE01 starts 00:00 EDT; HE02 = 01:00 EDT (05:00Z); HE02X = 01:00 EST (06:00Z); HE24 = 23:00 EST
    assert starts[0] == ts("2025-11-02T04:00")
    assert starts[1] == ts("2025-11-02T05:00")
    assert starts[2] == ts("2025-11-02T06:00")
    assert starts[24] == ts("2025-11-03T04:00")
    assert (starts.diff().dropna() == pd.Timedelta(hours=1)).all()


def test_isone_spring_forward_day_has_23_hours():
    raw = RawFile.from_path(FIXTURES / "isone" / "WW_DALMP_ISO_20260308.csv")
    hub = isone.parse(raw).tables["nodal_lmp"].query("node == '.Z.MAINE'")
    starts = hub["interval_start"].reset_index(drop=True)
    assert len(starts) == 23
    # HE02 = 01:00 EST (06:00Z); HE04 = 03:00 EDT (07:00Z): no gap in UTC
    assert starts[0] == ts("2026-03-08T05:00")
    assert starts[22] == ts("2026-03-09T03:00")
    assert (starts.diff().dropna() == pd.Timedelta(hours=1)).all()


def _relabel(text: str, old: str, new: str) -> str:
    return text.replace(f'"{old}","4000"', f'"{new}","4000"').replace(f'"{old}","4001"', f'"{new}","4001"')


def test_isone_dst_mistakes_are_errors():
    spring = (FIXTURES / "isone" / "WW_DALMP_ISO_20260308.csv").read_text()
    # labelling the short day 01, 02, 03, 05...: HE03 (02:00 does not exist) lands on HE02's hour
    with pytest.raises(IngestError, match="location and hour appears twice") as err:
        isone.parse(RawFile("WW_DALMP_ISO_20260308.csv", _relabel(spring, "04", "03").encode()))
    assert err.value.line == 11
    fall = (FIXTURES / "isone" / "WW_DALMP_ISO_20251102.csv").read_text()
    normal = fall.replace("11/02/2025", "11/09/2025")
    with pytest.raises(IngestError, match="02X on a day without a repeated hour") as err:
        isone.parse(RawFile("WW_DALMP_ISO_20251109.csv", normal.encode()))
    assert err.value.line == 11  # 6 header lines, 4 rows of HE01/HE02, then HE02X
    with pytest.raises(IngestError, match="location and hour appears twice"):
        isone.parse(RawFile("WW_DALMP_ISO_20251102.csv", _relabel(fall, "02X", "02").encode()))


ISONE_TEXT = (FIXTURES / "isone" / "WW_DALMP_ISO_20260308.csv").read_text()


@pytest.mark.parametrize(
    ("mangle", "line", "words"),
    [
        (lambda t: t.replace('"LOAD ZONE",', '"LOAD ZONE",abc', 1), 8, "not a number"),
        (lambda t: t.replace('"01","4001"', '"1X","4001"', 1), 8, "only hour ending 02 repeats"),
        (lambda t: t.replace('"01","4001"', '"00","4001"', 1), 8, "01..24"),
        (lambda t: t.replace('"03/08/2026","01","4001"', '"2026-03-08","01","4001"', 1), 8, "MM/DD/YYYY"),
        (lambda t: t.replace('"03/08/2026","01","4001"', '"04/11/2262","01","4001"', 1), 8, "in 1990..2200"),
        (lambda t: t.replace('"T","46 lines"', '"T","47 lines"'), 53, "counts 47 data lines"),
        (lambda t: t[: t.index('"T"')], 52, 'no "T" trailer'),
        (lambda t: t + '\n"D","03/08/2026","24","4000",".H.INTERNAL_HUB","HUB",1,1,0,0', 54, "after the"),
        (lambda t: t.replace('"H","Date","Hour Ending"', '"X","Date","Hour Ending"'), 5, "row type"),
        (lambda t: t.replace('"Energy Component"', '"Energy"'), 5, "Energy Component"),
        (lambda t: t.replace('"4001",".Z.MAINE","LOAD ZONE"', '"4000",".H.INTERNAL_HUB","HUB"', 1), 8,
         "appears twice"),
        (lambda t: t.replace('"4001",".Z.MAINE"', '"4009",".Z.MAINE"', 1), 10, "two location ids"),
        (lambda t: t.replace('"D","03/08/2026","01","4000"', '"D","03/08/2026,"01","4000"'), 7, "quote"),
    ],
    ids=["non-numeric", "bad-X", "hour-00", "iso-date", "year-2262", "trailer-count", "truncated", "after-trailer",
         "bad-row-type", "missing-column", "duplicated-hour", "renamed-id", "unbalanced-quote"],
)
def test_isone_bad_input_names_file_and_line(mangle, line: int, words: str):
    with pytest.raises(IngestError) as err:
        isone.parse(RawFile("WW_DALMP_ISO_20260308.csv", mangle(ISONE_TEXT).encode()))
    assert err.value.source == "WW_DALMP_ISO_20260308.csv"
    assert err.value.line == line
    assert words in str(err.value)


def test_isone_reordered_columns_give_the_same_rows():
    lines = ISONE_TEXT.split("\n")

    def swap(line: str) -> str:
        if line.startswith(('"H"', '"D"')):
            parts = line.split(",")
            parts[2], parts[7], parts[4] = parts[7], parts[2], parts[4]
            parts[1], parts[8] = parts[8], parts[1]
            return ",".join(parts)
        return line

    a = isone.parse(RawFile("WW_DALMP_ISO_20260308.csv", ISONE_TEXT.encode()))
    b = isone.parse(RawFile("WW_DALMP_ISO_20260308.csv", "\n".join(swap(x) for x in lines).encode()))
    for name in ("nodal_lmp", "node_metadata"):
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])


def test_isone_unknown_report_is_refused():
    text = ISONE_TEXT.replace("Day-Ahead Energy Market Hourly LMP Report", "Hourly Load Report")
    with pytest.raises(IngestError, match="supported: day-ahead hourly LMP"):
        isone.parse(RawFile("hourly_load_20260308.csv", text.encode()))


# ---------------------------------------------------------------- CAISO node locations ----------------------

@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "rows", "first", "last"),
    [
        ("LMPLocations_2015.csv", 2259, ("KERMAN_6_N001", "Load Node", 36.6921, -120.06),
         ("MCGEN_7_B1", "Generation Node", 35.7573, -117.39)),
        ("LMPLocations_2023.csv", 2161, ("EXCHQUER_7_B1", "Generation Node", 37.59, -120.29),
         ("MCGEN_7_B1", "Generation Node", 35.7573, -117.39)),
    ],
)
def test_caiso_node_locations(data_dir: Path, name, rows, first, last):
    raw = RawFile.from_path(data_dir / "markets" / "caiso_node_locations" / name)
    result = caiso.parse(raw)
    meta = result.tables["node_metadata"]
    assert list(result.tables) == ["node_metadata"]
    assert list(meta.columns) == META_COLUMNS
    assert (result.rows_read, len(meta)) == (rows, rows)
    assert (meta["market"] == "CAISO").all()
    assert meta["node"].is_unique
    assert set(meta["node_type"]) == {"Load Node", "Generation Node"}
    by_node = meta.set_index("node")
    for node, kind, lat, lon in (first, last):
        assert (by_node.at[node, "node_type"], by_node.at[node, "latitude"], by_node.at[node, "longitude"]) == (
            kind, lat, lon)
    # six nodes carry zero placeholders ("33E-15", "-12E-14") in both files: coordinates unknown
    assert meta["latitude"].isna().sum() == 6
    assert meta["longitude"].isna().sum() == 6
    assert np.isnan(by_node.at["NGILA1_5_N001", "latitude"])
    known = meta.dropna(subset=["latitude"])
    assert known["latitude"].between(30, 50).all()
    assert known["longitude"].between(-125, -105).all()


CAISO_TEXT = ("latitude,type,name,longitude\n36.6921,Load Node,KERMAN_6_N001,-120.06\n"
              "36.84,Generation Node,PINEFLT_2_B1,-119.32\n")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (CAISO_TEXT.replace("36.84", "36.8.4"), 3, "not a number"),
        (CAISO_TEXT.replace("36.84", "96.84"), 3, "latitude outside"),
        (CAISO_TEXT.replace("PINEFLT_2_B1", "KERMAN_6_N001"), 3, "appears twice"),
        (CAISO_TEXT.replace("longitude", "lon"), 1, "longitude"),
        (CAISO_TEXT.replace(",-119.32", ""), 3, "3 fields"),
    ],
    ids=["non-numeric", "out-of-range", "duplicate", "missing-column", "short-row"],
)
def test_caiso_bad_input(text: str, line: int, words: str):
    with pytest.raises(IngestError) as err:
        caiso.parse(RawFile("LMPLocations.csv", text.encode()))
    assert (err.value.source, err.value.line) == ("LMPLocations.csv", line)
    assert words in str(err.value)


def test_caiso_unknown_file_is_refused():
    with pytest.raises(IngestError, match="not a CAISO node-location file; supported: LMPLocations"):
        caiso.parse(RawFile("prices.csv", b"node,price\nKERMAN_6_N001,31.5\n"))


def test_caiso_reordered_columns():
    swapped = "name,longitude,type,latitude\nKERMAN_6_N001,-120.06,Load Node,36.6921\n"
    meta = caiso.parse(RawFile("LMPLocations.csv", swapped.encode())).tables["node_metadata"]
    assert (meta.at[0, "node"], meta.at[0, "latitude"], meta.at[0, "longitude"]) == ("KERMAN_6_N001", 36.6921,
                                                                                      -120.06)


# ---------------------------------------------------------------- mangled real files -------------------------

def _assert_only_ingest_errors(connector, files: dict[str, bytes]) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(name=st.sampled_from(sorted(files)), data=st.data())
    def check(name: str, data) -> None:
        result = parsed_or_refused(connector, name, data.draw(mangled(files[name])))
        if result is None:
            return
        meta = result.tables["node_metadata"]
        assert meta["node"].is_unique
        if "nodal_lmp" in result.tables:
            lmp = result.tables["nodal_lmp"]
            assert lmp["interval_start"].notna().all()
            assert not lmp.duplicated(["node", "interval_start"]).any()

    check()


@pytest.mark.realdata
def test_mangled_pjm_files_raise_only_ingest_errors(data_dir: Path):
    files = sorted((data_dir / "markets" / "pjm").glob("*.csv"))
    assert len(files) == 4
    # the two one-node files keep each example fast; the hub files share their layout
    _assert_only_ingest_errors(pjm, {f.name: f.read_bytes() for f in files if "hubs" not in f.name})


@pytest.mark.realdata
def test_mangled_isone_files_raise_only_ingest_errors(data_dir: Path):
    files = sorted((data_dir / "markets" / "isone").glob("*.csv"))
    assert len(files) == 2
    _assert_only_ingest_errors(isone, {f.name: f.read_bytes() for f in files})


@pytest.mark.realdata
def test_mangled_caiso_files_raise_only_ingest_errors(data_dir: Path):
    files = sorted((data_dir / "markets" / "caiso_node_locations").glob("*.csv"))
    assert len(files) == 2
    _assert_only_ingest_errors(caiso, {f.name: f.read_bytes() for f in files})


# ---------------------------------------------------------------- fetch --------------------------------------

class FakeResponse:
    def __init__(self, status: int, content: bytes = b""):
        self.status_code, self.content = status, content


class FakeSession:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def get(self, url, params=None, timeout=None, headers=None):
        self.calls.append({"url": url, "params": dict(params or {}), "timeout": timeout, "headers": headers})
        return self.answer(url, dict(params or {}), len(self.calls))


def test_pjm_fetch_pages_through_data_miner(no_wait, monkeypatch):
    monkeypatch.setattr(ingest.pjm, "API_PAGE_ROWS", 1)
    pages = [PJM_TEXT.split("\r\n")[0] + "\r\n" + line + "\r\n" for line in PJM_TEXT.split("\r\n")[1:3]]

    def answer(url, params, n):
        if n == 1:
            return FakeResponse(503)
        start = int(params["startRow"])
        return FakeResponse(200, pages[start - 1].encode() if start <= len(pages) else PJM_TEXT.split("\r\n")[0]
                            .encode() + b"\r\n")

    session = FakeSession(answer)
    files = pjm.fetch(date(2025, 6, 16), date(2025, 6, 17), kind="da_hrl_lmps", session=session, api_key="k")
    assert len(files) == 2
    assert all(c["url"] == "https://api.pjm.com/api/v1/da_hrl_lmps" for c in session.calls)
    assert session.calls[0]["headers"]["Ocp-Apim-Subscription-Key"] == "k"
    assert session.calls[0]["params"]["datetime_beginning_ept"] == "6/16/2025 00:00to6/17/2025 23:59"
    assert [c["params"]["startRow"] for c in session.calls] == ["1", "1", "2", "3"]
    assert sum(len(pjm.parse(f).tables["nodal_lmp"]) for f in files) == 2
    with pytest.raises(ValueError, match="subscription key"):
        pjm.fetch(date(2025, 6, 16), date(2025, 6, 17), session=session)


def test_isone_fetch_urls_referer_and_retry(no_wait):
    text = ISONE_TEXT.encode()

    def answer(url, params, n):
        return FakeResponse(503) if n == 2 else FakeResponse(200, text)

    session = FakeSession(answer)
    files = isone.fetch(date(2026, 3, 8), date(2026, 3, 9), kind="da", session=session)
    urls = [c["url"] for c in session.calls]
    page = "https://www.iso-ne.com/isoexpress/web/reports/pricing/-/tree/lmps-da-hourly"
    csv = "https://www.iso-ne.com/static-transform/csv/histRpts/da-lmp/WW_DALMP_ISO_{}.csv"
    assert urls == [page, csv.format("20260308"), csv.format("20260308"), csv.format("20260309")]
    assert session.calls[1]["headers"]["Referer"] == page
    assert [f.name for f in files] == ["WW_DALMP_ISO_20260308.csv", "WW_DALMP_ISO_20260309.csv"]
    rt = FakeSession(lambda url, params, n: FakeResponse(404))
    with pytest.raises(IngestError, match="HTTP 404"):
        isone.fetch(date(2026, 6, 2), date(2026, 6, 2), kind="rt_final", session=rt)


@pytest.mark.realdata
def test_local_replay(data_dir: Path):
    markets = data_dir / "markets"
    assert [f.name for f in isone.fetch(date(2026, 6, 1), date(2026, 6, 3), source=markets / "isone",
                                        kind="rt_final")] == ["lmp_rt_final_20260602.csv"]
    assert [f.name for f in pjm.fetch(date(2025, 1, 1), date(2025, 1, 2), source=markets / "pjm",
                                      kind="rt_hrl_lmps")] == ["rt_hrl_lmps_hubs_20250501-20250801.csv"]
    assert len(caiso.fetch(date(2025, 1, 1), date(2025, 1, 1), source=markets / "caiso_node_locations")) == 2
    with pytest.raises(ValueError, match="local file or folder"):
        caiso.fetch(date(2025, 1, 1), date(2025, 1, 1))
