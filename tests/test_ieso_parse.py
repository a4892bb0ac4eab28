"""IESO connector: every real report in the shared data folder parses to exact counts and values read from
the files; bad input is refused with the file and line; mangled real files raise nothing but IngestError;
the Market Renewal LMP parsers are checked on fixtures built to IESO's published layout (see
tests/fixtures/ieso/README.md)."""

from __future__ import annotations

import functools
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, given, settings

from engine.files import IngestError, RawFile
from ingest.base import ParseResult, table_columns
from ingest.http_fetch import ATTEMPTS, TIMEOUT, USER_AGENT
from ingest.ieso import REPORTS, IesoConnector, report_named_in, report_urls
from tests.support.fakes import FakeResponse, FakeSession, mangled

FIXTURES = Path(__file__).parent / "fixtures" / "ieso"
CONNECTOR = IesoConnector()
realdata = pytest.mark.realdata


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@functools.cache
def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def raw_of(path: Path, name: str | None = None, data: bytes | None = None) -> RawFile:
    return RawFile(name=name or path.name, data=_read(str(path)) if data is None else data)


@functools.cache
def _parsed(path: str) -> ParseResult:
    return CONNECTOR.parse(raw_of(Path(path)))


def parsed(path: Path) -> ParseResult:
    return _parsed(str(path))


def check_contract(result: ParseResult, source: str) -> None:
    """Exactly the store's columns, with the agreed types."""
    assert result.tables
    for name, frame in result.tables.items():
        assert tuple(frame.columns) == table_columns(name), name
        assert str(frame["interval_start"].dtype) == "datetime64[ns, UTC]", name
        assert frame["interval_minutes"].isin([5, 60]).all(), name
        assert (frame["market"] == "IESO").all(), name
        assert (frame["source"] == source).all(), name
        for col in frame.columns:
            if col == "issued_at":  # the operators' forecasts: the run's issue time, an instant
                assert str(frame[col].dtype).endswith(", UTC]"), name
            if col in ("interval_start", "interval_minutes", "issued_at"):
                continue
            if frame[col].dtype == object:
                assert frame[col].map(type).eq(str).all(), (name, col)
            else:
                assert frame[col].dtype == np.float64, (name, col)


def row(frame: pd.DataFrame, **match: object) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for col, value in match.items():
        mask &= (frame[col] == (ts(value) if col == "interval_start" else value)).to_numpy()
    hits = frame[mask]
    assert len(hits) == 1, (match, len(hits))
    return hits.iloc[0]


@pytest.fixture(scope="module")
def ieso(data_dir: Path) -> Path:
    return data_dir / "markets" / "ieso"


# --- every real file ----------------------------------------------------------------------------------------

REAL_FILES = {
    "reports/PUB_PriceHOEPPredispOR_2022.csv": {"prices": 61320},
    "reports/PUB_PriceHOEPPredispOR_2023.csv": {"prices": 13776},
    "reports/PUB_DemandZonal_2022.csv": {"demand": 96360, "system_totals": 17520},
    "reports/PUB_DemandZonal_2023.csv": {"demand": 21648, "system_totals": 3936},
    "reports/PUB_GenOutputCapabilityMonth_202302.csv": {"generation": 120960},
    "reports/PUB_GenOutputCapabilityMonth_202303.csv": {"generation": 99360},
    "reports/PUB_GenOutputCapability.xml": {"generation": 4140},
    "pyiso_fixtures_xml/reduced_GenOutputCapability_20160429.xml": {"generation": 96},
    "pyiso_fixtures_xml/reduced_GenOutputCapability_20160501.xml": {"generation": 20},
    "pyiso_fixtures_xml/reduced_GenOutputbyFuelHourly_2016.xml": {"generation": 1008},
    "pyiso_fixtures_xml/full_IntertieScheduleFlow_20170630.xml": {
        "intertie_schedules": 336,
        "interconnector_flows": 4032,
        "system_totals": 336,
    },
    "pyiso_fixtures_xml/full_PredispConstTotals_20170708.xml": {"system_totals": 168},
    "pyiso_fixtures_xml/full_RealtimeConstTotals_2017070101.xml": {"system_totals": 96, "demand": 12},
    "pyiso_fixtures_xml/full_Adequacy2_20170618.xml": {"system_totals": 2088},
    "reports_more/full_Adequacy2_20170618.xml": {"system_totals": 2088},
    "reports_more/da_hourly_ontario_zonal_price_report_20260528.xml": {"nodal_lmp": 24, "prices": 24},
    "forecasts/var_gen_forecast_summary_report_20250228.xml": {"operator_forecasts": 1008},
}
# Files in the IESO folder that are no report read here, and why each is refused.
REFUSED_FILES = {
    "derived_header_stripped/PUB_Demand_2023.csv": "not a supported IESO CSV report",
    "derived_header_stripped/PUB_Demand_2024.csv": "not a supported IESO CSV report",
}


@realdata
def test_the_real_folders_hold_exactly_the_files_tested(ieso: Path) -> None:
    on_disk = {p.relative_to(ieso).as_posix() for p in ieso.rglob("*") if p.is_file()}
    assert on_disk == set(REAL_FILES) | set(REFUSED_FILES)


@realdata
@pytest.mark.parametrize("relpath", sorted(REAL_FILES))
def test_every_real_file_parses_to_exact_row_counts(ieso: Path, relpath: str) -> None:
    result = parsed(ieso / relpath)
    check_contract(result, Path(relpath).name)
    assert {k: len(v) for k, v in result.tables.items()} == REAL_FILES[relpath]


@realdata
@pytest.mark.parametrize("relpath", sorted(REFUSED_FILES))
def test_other_files_in_the_folder_are_refused_saying_why(ieso: Path, relpath: str) -> None:
    with pytest.raises(IngestError) as err:
        CONNECTOR.parse(raw_of(ieso / relpath))
    assert err.value.source == Path(relpath).name
    assert REFUSED_FILES[relpath] in err.value.problem


# --- PUB_PriceHOEPPredispOR ---------------------------------------------------------------------------------


@realdata
def test_hoep_2022_values_and_hour_ending_to_utc(ieso: Path) -> None:
    result = parsed(ieso / "reports/PUB_PriceHOEPPredispOR_2022.csv")
    prices = result.tables["prices"]
    assert result.rows_read == 8760
    assert result.rows_rejected == 0
    assert prices.groupby("price_kind").size().to_dict() == {
        k: 8760
        for k in ("HOEP", "predispatch_h1", "predispatch_h2", "predispatch_h3", "OR_10S", "OR_10NS", "OR_30")
    }
    assert set(prices["location"]) == {"ONTARIO"}
    assert set(prices["interval_minutes"]) == {60}
    # 2022-01-01,1,32.18,27.75,27.73,32.41,1.19,0.20,0.20 -- HE1 EST = 05:00 UTC
    first = {
        k: row(prices, price_kind=k, interval_start="2022-01-01 05:00")["price"]
        for k in ("HOEP", "predispatch_h1", "predispatch_h2", "predispatch_h3", "OR_10S", "OR_10NS", "OR_30")
    }
    assert first == {
        "HOEP": 32.18,
        "predispatch_h1": 27.75,
        "predispatch_h2": 27.73,
        "predispatch_h3": 32.41,
        "OR_10S": 1.19,
        "OR_10NS": 0.20,
        "OR_30": 0.20,
    }
    # 2022-12-31,24,23.29,... ends the year at 2023-01-01 05:00 UTC
    assert row(prices, price_kind="HOEP", interval_start="2023-01-01 04:00")["price"] == 23.29
    # 2022-01-19,16,41.09,,41.35,... : the blank predispatch cell is NaN, the rest of the row is kept
    assert math.isnan(row(prices, price_kind="predispatch_h1", interval_start="2022-01-19 20:00")["price"])
    assert row(prices, price_kind="predispatch_h2", interval_start="2022-01-19 20:00")["price"] == 41.35
    assert int(prices["price"].isna().sum()) == 48  # the file's 48 empty price cells


@realdata
def test_hoep_2023_partial_year(ieso: Path) -> None:
    prices = parsed(ieso / "reports/PUB_PriceHOEPPredispOR_2023.csv").tables["prices"]
    hoep = prices[prices.price_kind == "HOEP"]
    assert hoep["interval_start"].min() == ts("2023-01-01 05:00")
    assert hoep["interval_start"].max() == ts("2023-03-24 04:00")
    assert row(prices, price_kind="OR_30", interval_start="2023-03-24 04:00")["price"] == 0.16


@realdata
@pytest.mark.parametrize("day", ["2022-03-13", "2022-11-06"])
def test_no_daylight_saving_in_the_market_clock(ieso: Path, day: str) -> None:
    """Toronto changes its clocks on these days; IESO's hour ending 1..24 stays EST: 24 whole UTC hours."""
    prices = parsed(ieso / "reports/PUB_PriceHOEPPredispOR_2022.csv").tables["prices"]
    start = ts(day) + pd.Timedelta(hours=5)
    hoep = prices[
        (prices.price_kind == "HOEP")
        & (prices.interval_start >= start)
        & (prices.interval_start < start + pd.Timedelta(days=1))
    ]
    assert list(hoep["interval_start"]) == list(pd.date_range(start, periods=24, freq="h"))


@realdata
def test_reordered_columns_give_the_same_rows(ieso: Path) -> None:
    path = ieso / "reports/PUB_PriceHOEPPredispOR_2023.csv"
    lines = _read(str(path)).decode().split("\n")
    swapped = [
        ",".join([f[8], f[2], f[1], f[0], *f[3:8]]) if i >= 3 and len(f := line.split(",")) == 9 else line
        for i, line in enumerate(lines)
    ]
    result = CONNECTOR.parse(raw_of(path, data="\n".join(swapped).encode()))
    a = result.tables["prices"].sort_values(["price_kind", "interval_start"]).reset_index(drop=True)
    b = parsed(path).tables["prices"].sort_values(["price_kind", "interval_start"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


# --- PUB_DemandZonal ----------------------------------------------------------------------------------------


@realdata
def test_demand_zonal_2022(ieso: Path) -> None:
    result = parsed(ieso / "reports/PUB_DemandZonal_2022.csv")
    demand, totals = result.tables["demand"], result.tables["system_totals"]
    assert result.rows_read == 8760
    assert demand.groupby("location").size().to_dict() == {
        z: 8760
        for z in (
            "NORTHWEST",
            "NORTHEAST",
            "OTTAWA",
            "EAST",
            "TORONTO",
            "ESSA",
            "BRUCE",
            "SOUTHWEST",
            "NIAGARA",
            "WEST",
            "ONTARIO",
        )
    }
    # 2022-01-01,1,13543,654,1297,870,843,4553,924,97,2478,407,1486,13608,65
    at = "2022-01-01 05:00"
    assert row(demand, location="NORTHWEST", interval_start=at)["demand_mw"] == 654
    assert row(demand, location="TORONTO", interval_start=at)["demand_mw"] == 4553
    assert row(demand, location="WEST", interval_start=at)["demand_mw"] == 1486
    assert row(demand, location="ONTARIO", interval_start=at)["demand_mw"] == 13608  # Zone Total
    assert row(totals, metric="Ontario Demand", interval_start=at)["value_mw"] == 13543
    assert row(totals, metric="Diff", interval_start=at)["value_mw"] == 65
    # 2022-12-31,24,13965,...,13888,-77
    assert row(totals, metric="Diff", interval_start="2023-01-01 04:00")["value_mw"] == -77


@realdata
def test_demand_zonal_2023_partial_year(ieso: Path) -> None:
    demand = parsed(ieso / "reports/PUB_DemandZonal_2023.csv").tables["demand"]
    ontario = demand[demand.location == "ONTARIO"]
    assert len(ontario) == 1968
    assert ontario["interval_start"].max() == ts("2023-03-24 04:00")
    # 2023-03-23,24,14571,599,1329,889,808,5060,928,143,2887,417,1531,14590,19
    assert row(demand, location="ESSA", interval_start="2023-03-24 04:00")["demand_mw"] == 928


# --- PUB_GenOutputCapabilityMonth ---------------------------------------------------------------------------


@realdata
def test_gen_output_month_202302(ieso: Path) -> None:
    result = parsed(ieso / "reports/PUB_GenOutputCapabilityMonth_202302.csv")
    gen = result.tables["generation"]
    assert result.rows_read == 11536
    assert gen["unit"].nunique() == 180
    assert len(gen) == 180 * 28 * 24
    at = "2023-02-01 05:00"
    hydro = row(gen, unit="ABKENORA", interval_start=at)  # Capability 9, Output 14, no forecast/available
    assert (hydro["fuel"], hydro["capability_mw"], hydro["output_mw"]) == ("HYDRO", 9, 14)
    assert math.isnan(hydro["forecast_mw"])
    assert math.isnan(hydro["available_mw"])
    wind = row(gen, unit="ADELAIDE", interval_start=at)  # Available 60, Forecast 13, Output 15
    assert (wind["fuel"], wind["available_mw"], wind["forecast_mw"], wind["output_mw"]) == (
        "WIND",
        60,
        13,
        15,
    )
    assert math.isnan(wind["capability_mw"])
    last = row(gen, unit="ZURICH", interval_start="2023-03-01 04:00")  # 2023-02-28 Hour 24
    assert (last["available_mw"], last["forecast_mw"], last["output_mw"]) == (99, 36, 35)
    assert gen.groupby("fuel")["unit"].nunique().to_dict() == {
        "BIOFUEL": 3,
        "GAS": 51,
        "HYDRO": 56,
        "NUCLEAR": 18,
        "SOLAR": 7,
        "WIND": 45,
    }


@realdata
def test_gen_output_month_202303_month_to_date(ieso: Path) -> None:
    gen = parsed(ieso / "reports/PUB_GenOutputCapabilityMonth_202303.csv").tables["generation"]
    assert gen["interval_start"].min() == ts("2023-03-01 05:00")
    assert gen["interval_start"].max() == ts("2023-03-24 04:00")
    # 2023-03-23,ZURICH,WIND,Output,38,...,23,
    assert row(gen, unit="ZURICH", interval_start="2023-03-23 05:00")["output_mw"] == 38
    assert row(gen, unit="ZURICH", interval_start="2023-03-24 04:00")["output_mw"] == 23


# --- GenOutputCapability XML --------------------------------------------------------------------------------


@realdata
def test_gen_output_capability_rolling_day_stops_at_hour_23(ieso: Path) -> None:
    result = parsed(ieso / "reports/PUB_GenOutputCapability.xml")
    gen = result.tables["generation"]
    assert result.rows_read == 3 * 4140  # 180 generators x 23 hours x output/capability/available
    assert gen["unit"].nunique() == 180
    hours = (gen["interval_start"] - ts("2024-02-14 05:00")) // pd.Timedelta(hours=1) + 1
    assert set(hours) == set(range(1, 24))  # hour 24 is not in the file: absent, not zero
    bruce = row(gen, unit="BRUCEA-G1", interval_start="2024-02-14 05:00")
    assert (bruce["fuel"], bruce["output_mw"], bruce["capability_mw"]) == ("NUCLEAR", 806, 822)
    # EAST WINDSOR-G1 hour 1: <Output><Hour>1</Hour></Output> (no EnergyMW) next to capability 46
    ew = row(gen, unit="EAST WINDSOR-G1", interval_start="2024-02-14 05:00")
    assert math.isnan(ew["output_mw"])
    assert ew["capability_mw"] == 46
    assert ew["available_mw"] == 46
    assert int(gen["output_mw"].isna().sum()) == 58
    assert gen["forecast_mw"].isna().all()


@realdata
def test_gen_output_capability_reduced_pyiso_files(ieso: Path) -> None:
    gen = parsed(ieso / "pyiso_fixtures_xml/reduced_GenOutputCapability_20160501.xml").tables["generation"]
    assert gen["unit"].nunique() == 5
    assert len(gen) == 20
    bruce = row(gen, unit="BRUCEA-G1", interval_start="2016-05-01 05:00")
    assert (bruce["output_mw"], bruce["capability_mw"], bruce["available_mw"]) == (716, 781, 781)


# --- GenOutputbyFuelHourly ----------------------------------------------------------------------------------


@realdata
def test_gen_output_by_fuel(ieso: Path) -> None:
    gen = parsed(ieso / "pyiso_fixtures_xml/reduced_GenOutputbyFuelHourly_2016.xml").tables["generation"]
    assert (gen["unit"] == "").all()
    assert gen.groupby("fuel").size().to_dict() == {
        f: 168 for f in ("BIOFUEL", "GAS", "HYDRO", "NUCLEAR", "SOLAR", "WIND")
    }
    assert row(gen, fuel="NUCLEAR", interval_start="2016-01-01 05:00")["output_mw"] == 11188
    assert row(gen, fuel="GAS", interval_start="2016-01-01 05:00")["output_mw"] == 919
    assert row(gen, fuel="WIND", interval_start="2016-01-01 06:00")["output_mw"] == 1483
    assert gen["capability_mw"].isna().all()
    assert gen["interval_start"].max() == ts("2016-01-08 04:00")


# --- IntertieScheduleFlow -----------------------------------------------------------------------------------


@realdata
def test_intertie_schedules_flows_and_totals(ieso: Path) -> None:
    result = parsed(ieso / "pyiso_fixtures_xml/full_IntertieScheduleFlow_20170630.xml")
    sched, flows = result.tables["intertie_schedules"], result.tables["interconnector_flows"]
    totals = result.tables["system_totals"]
    assert sched["interconnector"].nunique() == 14
    assert set(sched["interval_minutes"]) == {60}
    assert set(flows["interval_minutes"]) == {5}
    assert row(sched, interconnector="MANITOBA", interval_start="2017-06-30 12:00")["import_mw"] == 20  # HE8
    assert row(flows, interconnector="MANITOBA", interval_start="2017-06-30 05:00")["mw_flow"] == -12.5
    assert row(flows, interconnector="MANITOBA", interval_start="2017-06-30 05:05")["mw_flow"] == -16.8
    assert flows["metered_mw_flow"].isna().all()
    assert flows["export_limit"].isna().all()
    assert row(totals, metric="Intertie Totals Import", interval_start="2017-06-30 05:00")["value_mw"] == 51
    assert row(totals, metric="Intertie Totals Export", interval_start="2017-06-30 05:00")["value_mw"] == 2450
    assert (totals[totals.metric == "Intertie Totals Flow"]["interval_minutes"] == 5).all()
    # IESO's sign: positive flow = export. Michigan exported all day, its flow is positive.
    mich = flows[flows.interconnector == "MICHIGAN"]["mw_flow"]
    assert mich.mean() > 0
    assert sched[sched.interconnector == "MICHIGAN"]["export_mw"].sum() == 19101


# --- Constrained totals -------------------------------------------------------------------------------------


@realdata
def test_predispatch_constrained_totals(ieso: Path) -> None:
    totals = parsed(ieso / "pyiso_fixtures_xml/full_PredispConstTotals_20170708.xml").tables["system_totals"]
    assert totals["metric"].nunique() == 7
    assert set(totals["interval_minutes"]) == {60}
    assert (
        row(totals, metric="Predispatch Total Energy", interval_start="2017-07-08 05:00")["value_mw"]
        == 15776.7
    )
    assert row(totals, metric="Predispatch Total 10N", interval_start="2017-07-08 06:00")["value_mw"] == 650.7


@realdata
def test_realtime_constrained_totals_and_ontario_demand(ieso: Path) -> None:
    result = parsed(ieso / "pyiso_fixtures_xml/full_RealtimeConstTotals_2017070101.xml")
    totals, demand = result.tables["system_totals"], result.tables["demand"]
    assert set(totals["interval_minutes"]) == {5}
    assert totals["metric"].nunique() == 8
    assert row(totals, metric="Total Energy", interval_start="2017-07-01 05:00")["value_mw"] == 16106.2
    assert row(demand, location="ONTARIO", interval_start="2017-07-01 05:00")["demand_mw"] == 13531.9
    assert row(demand, location="ONTARIO", interval_start="2017-07-01 05:05")["demand_mw"] == 13629.1
    assert demand["interval_start"].max() == ts("2017-07-01 05:55")


# --- Adequacy -----------------------------------------------------------------------------------------------


@realdata
def test_adequacy_metrics_by_report_path(ieso: Path) -> None:
    result = parsed(ieso / "pyiso_fixtures_xml/full_Adequacy2_20170618.xml")
    totals = result.tables["system_totals"]
    assert result.rows_read == 2088 + 24
    assert totals.groupby(["location", "metric"]).ngroups == 87
    assert set(totals["location"]) == {"ONTARIO", "MANITOBA", "MICHIGAN", "MINNESOTA", "NEW YORK", "QUEBEC"}
    at = "2017-06-18 05:00"
    assert (
        row(totals, location="ONTARIO", metric="ForecastSupply.Capacities", interval_start=at)["value_mw"]
        == 36420
    )
    assert (
        row(
            totals,
            location="ONTARIO",
            metric="ForecastSupply.InternalResources.Nuclear.Capacities",
            interval_start=at,
        )["value_mw"]
        == 13010
    )
    assert (
        row(totals, location="MANITOBA", metric="ForecastSupply.ZonalImports.Offers", interval_start=at)[
            "value_mw"
        ]
        == 190
    )
    assert (
        row(totals, location="MANITOBA", metric="ForecastDemand.ZonalExports.Bids", interval_start=at)[
            "value_mw"
        ]
        == 199
    )
    assert (
        row(
            totals,
            location="ONTARIO",
            metric="ForecastDemand.OntarioDemand.ForecastOntDemand",
            interval_start=at,
        )["value_mw"]
        == 13266
    )


RAMP_FLAGS = "hourly <RampStatus> entries without a MW value (Y/N flags, not quantities)"


@realdata
def test_adequacy_ramp_flags_are_rejected_as_no_quantity(ieso: Path) -> None:
    """The 24 entries of <RampStatuses> (one per hour, <Ramp> Y or N: whether a ramp is expected) carry no
    MW value: they are counted as rejected under that reason, which the load summary prints."""
    result = parsed(ieso / "reports_more/full_Adequacy2_20170618.xml")
    assert result.rejected == {RAMP_FLAGS: 24}


def test_adequacy_entries_without_a_value_are_counted_by_element() -> None:
    xml = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document docID="Adequacy2" xmlns="http://www.ieso.ca/schema"><DocBody>
<DeliveryDate>2017-06-18</DeliveryDate>
<ForecastSupply><Capacities><Capacity><DeliveryHour>1</DeliveryHour><EnergyMW>36420</EnergyMW></Capacity>
</Capacities></ForecastSupply>
<ForecastDemand><RampStatuses>
<RampStatus><DeliveryHour>1</DeliveryHour><Ramp>N</Ramp></RampStatus>
<RampStatus><DeliveryHour>2</DeliveryHour><Ramp>Y</Ramp></RampStatus>
</RampStatuses></ForecastDemand>
</DocBody></Document>"""
    result = CONNECTOR.parse(RawFile("PUB_Adequacy2_20170618.xml", xml))
    totals = result.tables["system_totals"]
    assert result.rejected == {RAMP_FLAGS: 2}
    assert result.rows_read == 3
    assert totals["metric"].tolist() == ["ForecastSupply.Capacities"]
    assert totals["value_mw"].tolist() == [36420.0]


@realdata
def test_post_2025_day_ahead_zonal_price_report(ieso: Path) -> None:
    """IESO's own PUB_DAHourlyOntarioZonalPrice of 2026-05-28, components named LossPriceCapped and
    CongestionPriceCapped: every hour is read (the <Flag> is no price)."""
    path = ieso / "reports_more/da_hourly_ontario_zonal_price_report_20260528.xml"
    result = parsed(path)
    check_contract(result, path.name)
    lmp, prices = result.tables["nodal_lmp"], result.tables["prices"]
    assert result.rejected == {}
    assert set(lmp["market_run"]) == {"DA"}
    h1 = row(lmp, interval_start="2026-05-28 05:00")  # PricingHour 1: 17.76, loss 0.02, congestion -0.26
    assert (h1["lmp"], h1["loss"], h1["congestion"]) == (17.76, 0.02, -0.26)
    assert h1["energy"] == pytest.approx(18.0)
    h8 = row(lmp, interval_start="2026-05-28 12:00")  # PricingHour 8: 45, loss -0.14, congestion 3.65
    assert (h8["lmp"], h8["loss"], h8["congestion"]) == (45.0, -0.14, 3.65)
    assert h8["energy"] == pytest.approx(41.49)
    h24 = row(lmp, interval_start="2026-05-29 04:00")  # PricingHour 24: 26.01, loss -0.03, congestion 5.03
    assert (h24["lmp"], h24["loss"], h24["congestion"]) == (26.01, -0.03, 5.03)
    assert set(prices["price_kind"]) == {"OZP_DA"}
    assert row(prices, interval_start="2026-05-29 04:00")["price"] == 26.01


# --- Market Renewal LMP reports, on fixtures built to the published layout ---------------------------------


def test_day_ahead_energy_lmp() -> None:
    path = FIXTURES / "specbuilt_PUB_DAHourlyEnergyLMP_20260928.csv"
    result = parsed(path)
    check_contract(result, path.name)
    lmp = result.tables["nodal_lmp"]
    assert result.rows_read == 72
    assert len(lmp) == 72
    assert set(lmp["market_run"]) == {"DA"}
    assert set(lmp["interval_minutes"]) == {60}
    assert set(lmp["node"]) == {"ABKENORA-LT.AG", "ALBION-LT.LFBJQY", "BRUCE_GEN:PZ"}
    # 19,ABKENORA-LT.AG,65.17,-0.64,7.56 : HE19 EST = 23:00 UTC
    h19 = row(lmp, node="ABKENORA-LT.AG", interval_start="2026-09-28 23:00")
    assert (h19["lmp"], h19["loss"], h19["congestion"]) == (65.17, -0.64, 7.56)
    assert h19["energy"] == pytest.approx(58.25, abs=1e-9)
    assert np.allclose(lmp["energy"] + lmp["loss"] + lmp["congestion"], lmp["lmp"])


def test_real_time_energy_lmp() -> None:
    path = FIXTURES / "specbuilt_PUB_RealtimeEnergyLMP_2026092819.csv"
    lmp = parsed(path).tables["nodal_lmp"]
    assert len(lmp) == 36
    assert set(lmp["market_run"]) == {"RT"}
    assert set(lmp["interval_minutes"]) == {5}
    # 19,12,BRUCE_GEN:PZ,68.74,-1.36,3.10 : hour ending 19, interval 12 starts 18:55 EST = 23:55 UTC
    last = row(lmp, node="BRUCE_GEN:PZ", interval_start="2026-09-28 23:55")
    assert (last["lmp"], last["loss"], last["congestion"]) == (68.74, -1.36, 3.10)
    assert last["energy"] == pytest.approx(67.0)


def test_a_real_time_lmp_file_whose_interval_column_was_renamed_is_refused_naming_the_mismatch() -> None:
    # the day-ahead report lacks Interval by design, so the column outside the layout is not taken for a rename:
    # the file's name and its content then disagree, and that is what the refusal says
    path = FIXTURES / "specbuilt_PUB_RealtimeEnergyLMP_2026092819.csv"
    lines = _lines(path)
    renamed = [lines[0], lines[1].replace("Interval", "5 Min Interval"), *lines[2:]]
    with pytest.raises(IngestError, match="the file name says RealtimeEnergyLMP but the content is a "
                                          "DAHourlyEnergyLMP report"):
        CONNECTOR.parse(_with_lines(path, renamed))


def test_lmp_delivery_date_from_the_name_when_the_preamble_has_none() -> None:
    path = FIXTURES / "specbuilt_PUB_RealtimeEnergyLMP_2026092819.csv"
    text = _read(str(path)).decode().split("\n", 1)[1]
    lmp = CONNECTOR.parse(RawFile(path.name, text.encode())).tables["nodal_lmp"]
    assert lmp["interval_start"].min() == ts("2026-09-28 23:00")
    with pytest.raises(IngestError, match="delivery date"):
        CONNECTOR.parse(RawFile("PUB_RealtimeEnergyLMP.csv", text.encode()))


def test_lmp_preamble_date_must_match_the_file_name() -> None:
    path = FIXTURES / "specbuilt_PUB_DAHourlyEnergyLMP_20260928.csv"
    with pytest.raises(IngestError, match=r"line 1: .*FOR 2026-09-28 but the file name says 2026-09-29"):
        CONNECTOR.parse(raw_of(path, name="PUB_DAHourlyEnergyLMP_20260929.csv"))


def test_day_ahead_ontario_zonal_price() -> None:
    path = FIXTURES / "specbuilt_PUB_DAHourlyOntarioZonalPrice_20260928.xml"
    result = parsed(path)
    check_contract(result, path.name)
    lmp, prices = result.tables["nodal_lmp"], result.tables["prices"]
    assert len(lmp) == 24
    assert set(lmp["node"]) == {"ONTARIO"}
    assert set(lmp["market_run"]) == {"DA"}
    h20 = row(lmp, interval_start="2026-09-29 00:00")  # PricingHour 20
    assert (h20["lmp"], h20["loss"], h20["congestion"]) == (60.86, 0.3, 0.16)
    assert h20["energy"] == pytest.approx(60.4)
    assert set(prices["price_kind"]) == {"OZP_DA"}
    assert row(prices, interval_start="2026-09-28 05:00")["price"] == 30.76


def test_real_time_ontario_zonal_price_skips_unpriced_slots() -> None:
    path = FIXTURES / "specbuilt_PUB_RealtimeOntarioZonalPrice_2026092819.xml"
    result = parsed(path)
    lmp = result.tables["nodal_lmp"]
    assert (result.rows_read, result.rows_rejected, len(lmp)) == (12, 3, 9)
    assert lmp["interval_start"].max() == ts("2026-09-28 23:40")  # interval 9 of HE19
    i8 = row(lmp, interval_start="2026-09-28 23:35")
    assert (i8["lmp"], i8["loss"], i8["congestion"]) == (65.93, 0.68, 0.25)
    assert set(result.tables["prices"]["price_kind"]) == {"OZP_RT"}


# --- bad input ----------------------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return _read(str(path)).decode().split("\n")


def _with_lines(path: Path, lines: list[str]) -> RawFile:
    return raw_of(path, data="\n".join(lines).encode())


@realdata
def test_truncated_csv_names_the_last_line(ieso: Path) -> None:
    path = ieso / "reports/PUB_DemandZonal_2023.csv"
    data = _read(str(path))
    cut = data[: data.index(b"\n2023-02-01,7,") + 20]  # ends inside the row of 2023-02-01 hour 7
    last_line, fields = cut.count(b"\n") + 1, cut.split(b"\n")[-1].count(b",") + 1
    assert (last_line, fields) == (755, 4)
    with pytest.raises(
        IngestError, match=r"PUB_DemandZonal_2023.csv, line 755: row has 4 fields, the header has 15"
    ):
        CONNECTOR.parse(raw_of(path, data=cut))


@realdata
def test_missing_and_renamed_columns_are_refused(ieso: Path) -> None:
    path = ieso / "reports/PUB_PriceHOEPPredispOR_2023.csv"
    lines = _lines(path)
    no_hour = [
        ",".join(f for j, f in enumerate(line.split(",")) if j != 1) if i >= 3 else line
        for i, line in enumerate(lines)
    ]
    with pytest.raises(IngestError, match=r"line 4: missing required column\(s\): 'Hour'$"):
        CONNECTOR.parse(_with_lines(path, no_hour))
    # a column of the layout renamed: the file would lose that price series, so it is refused, not loaded
    renamed = [*lines[:3], lines[3].replace("OR 30 Min", "OR 60 Min"), *lines[4:]]
    with pytest.raises(IngestError, match=r"line 4: missing column\(s\): 'OR 30 Min'; "
                                          r"columns not in the layout: 'OR 60 Min'"):
        CONNECTOR.parse(_with_lines(path, renamed))
    # a column the store can do without, simply absent (no other in its place): loaded without its series
    no_or30 = [",".join(f for j, f in enumerate(line.split(",")) if j != 8) if i >= 3 else line
               for i, line in enumerate(lines)]
    assert lines[3].split(",")[8] == "OR 30 Min"
    kinds = set(CONNECTOR.parse(_with_lines(path, no_or30)).tables["prices"]["price_kind"])
    assert kinds == set(parsed(path).tables["prices"]["price_kind"]) - {"OR_30"} and "HOEP" in kinds


def _add_column(lines: list[str], at: int, name: str, value: str) -> list[str]:
    """The report with a column ``name`` inserted before field ``at`` (appended if past the end), ``value``
    in every data row."""

    def insert(line: str, field: str) -> str:
        fields = line.split(",")
        return ",".join([*fields[:at], field, *fields[at:]])

    return [insert(line, name if i == 3 else value) if i >= 3 and line.strip(", ") else line
            for i, line in enumerate(lines)]


@realdata
@pytest.mark.parametrize("at", [9, 3], ids=["appended", "inserted-after-HOEP"])
def test_a_column_outside_the_layout_is_ignored_and_logged(ieso: Path, at: int, caplog) -> None:
    # IESO may add a column to a report mid-year: the file still loads, each column read by its name (an
    # inserted column shifts the ones after it, and its value 999.5 would show up if read by position)
    path = ieso / "reports/PUB_PriceHOEPPredispOR_2023.csv"
    extended = _add_column(_lines(path), at, "OR 10 Min Extra", "999.5")
    with caplog.at_level("WARNING", logger="ingest.ieso_csv"):
        result = CONNECTOR.parse(_with_lines(path, extended))
    key = ["price_kind", "interval_start"]
    a = result.tables["prices"].sort_values(key).reset_index(drop=True)
    b = parsed(path).tables["prices"].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert result.rows_read == parsed(path).rows_read
    assert "line 4: ignored column(s) 'OR 10 Min Extra'" in caplog.text


def test_lmp_column_outside_the_layout_inserted_in_the_middle_is_ignored(caplog) -> None:
    path = FIXTURES / "specbuilt_PUB_DAHourlyEnergyLMP_20260928.csv"
    lines = _lines(path)
    assert lines[1] == "Delivery Hour,Pricing Location,LMP,Energy Loss Price,Energy Congestion Price"
    extended = [lines[0], *(",".join([*line.split(",")[:2], "Zone" if i == 0 else "-12.5", *line.split(",")[2:]])
                            if line else line for i, line in enumerate(lines[1:]))]
    with caplog.at_level("WARNING", logger="ingest.ieso_csv"):
        result = CONNECTOR.parse(_with_lines(path, extended))
    pd.testing.assert_frame_equal(result.tables["nodal_lmp"], parsed(path).tables["nodal_lmp"])
    assert "ignored column(s) 'Zone'" in caplog.text
    # a column the layout needs is still required: without Energy Loss Price, energy cannot be derived
    no_loss = [",".join(f for j, f in enumerate(line.split(",")) if j != 3) if i >= 1 else line
               for i, line in enumerate(lines)]
    with pytest.raises(IngestError, match=r"line 2: missing required column\(s\): 'Energy Loss Price'$"):
        CONNECTOR.parse(_with_lines(path, no_loss))


@realdata
def test_non_numeric_value_names_line_and_column(ieso: Path) -> None:
    path = ieso / "reports/PUB_GenOutputCapabilityMonth_202303.csv"
    lines = _lines(path)
    fields = lines[9].split(",")
    fields[10] = "1 2"  # Hour 7
    lines[9] = ",".join(fields)
    with pytest.raises(IngestError, match=r"line 10: Hour 7 value '1 2' is not a number"):
        CONNECTOR.parse(_with_lines(path, lines))
    lines = _lines(path)
    lines[20] = lines[20].rstrip(",") + ",x"
    with pytest.raises(IngestError, match="line 21: value after the last column"):
        CONNECTOR.parse(_with_lines(path, lines))


@realdata
def test_duplicated_hour_is_refused(ieso: Path) -> None:
    path = ieso / "reports/PUB_PriceHOEPPredispOR_2023.csv"
    lines = _lines(path)
    with pytest.raises(IngestError, match=r"line 11: duplicated hour \(date=2023-01-01.*hour=6\)"):
        CONNECTOR.parse(_with_lines(path, [*lines[:10], lines[9], *lines[10:]]))
    gen = ieso / "reports/PUB_GenOutputCapabilityMonth_202303.csv"
    glines = _lines(gen)
    with pytest.raises(IngestError, match="line 6: duplicated generator measurement"):
        CONNECTOR.parse(_with_lines(gen, [*glines[:5], glines[4], *glines[5:]]))


@realdata
@pytest.mark.parametrize("bad_hour", ["25", "0", "2X", "3.5", ""])
def test_hours_outside_1_to_24_are_refused(ieso: Path, bad_hour: str) -> None:
    """There is no hour 25 (nor an 'X' repeated hour) in an EST market clock, even on DST change days."""
    path = ieso / "reports/PUB_DemandZonal_2022.csv"
    lines = _lines(path)
    i = next(i for i, line in enumerate(lines) if line.startswith("2022-11-06,2,"))
    lines[i] = lines[i].replace("2022-11-06,2,", f"2022-11-06,{bad_hour},")
    with pytest.raises(IngestError, match=rf"line {i + 1}: hour '{bad_hour}' is not a whole number 1..24"):
        CONNECTOR.parse(_with_lines(path, lines))


@realdata
def test_wrong_encoding(ieso: Path) -> None:
    path = ieso / "reports/PUB_GenOutputCapabilityMonth_202302.csv"
    text = _read(str(path)).decode()
    with pytest.raises(IngestError, match="binary"):
        CONNECTOR.parse(raw_of(path, data=text.encode("utf-16")))
    latin = text.replace("ABKENORA", "ABKÉNORA", 1).encode("latin-1")
    with pytest.raises(IngestError, match="line 5: not valid utf-8"):
        CONNECTOR.parse(raw_of(path, data=latin))


@realdata
def test_bad_dates_are_refused(ieso: Path) -> None:
    path = ieso / "reports/PUB_DemandZonal_2023.csv"
    lines = _lines(path)
    lines[4] = lines[4].replace("2023-01-01", "2023-02-30")
    with pytest.raises(IngestError, match="line 5: date '2023-02-30' is not a %Y-%m-%d date"):
        CONNECTOR.parse(_with_lines(path, lines))


@realdata
def test_xml_errors_name_the_line(ieso: Path) -> None:
    path = ieso / "pyiso_fixtures_xml/full_IntertieScheduleFlow_20170630.xml"
    data = _read(str(path))
    with pytest.raises(
        IngestError, match=r"full_IntertieScheduleFlow_20170630.xml, line \d+: not well-formed XML"
    ):
        CONNECTOR.parse(raw_of(path, data=data[: len(data) // 2]))
    flow = data.replace(b"<Flow>-16.8</Flow>", b"<Flow>n/a</Flow>", 1)
    with pytest.raises(IngestError, match="line 143: MANITOBA flow value 'n/a' is not a number"):
        CONNECTOR.parse(raw_of(path, data=flow))
    twice = data.replace(b"<Hour>2</Hour>\n<Import>", b"<Hour>1</Hour>\n<Import>", 1)
    with pytest.raises(
        IngestError, match=r"line 21: duplicated intertie schedule hour \('MANITOBA', 'schedule', 1\)"
    ):
        CONNECTOR.parse(raw_of(path, data=twice))
    gen = ieso / "reports/PUB_GenOutputCapability.xml"
    hour25 = _read(str(gen)).replace(b"<Hour>23</Hour>", b"<Hour>25</Hour>", 1)
    with pytest.raises(IngestError, match=r"line \d+: <Hour> '25' is not a whole number 1..24"):
        CONNECTOR.parse(raw_of(gen, data=hour25))


def test_unknown_reports_name_the_supported_ones() -> None:
    with pytest.raises(IngestError, match="supported: PriceHOEPPredispOR, DemandZonal"):
        CONNECTOR.parse(RawFile("x.csv", b"Date,Hour,Something\n2022-01-01,1,3\n"))
    xml = b'<?xml version="1.0"?><Document docID="Adequacy3" xmlns="http://www.ieso.ca/schema"/>'
    with pytest.raises(
        IngestError, match="unsupported IESO XML report 'Adequacy3'.*GenOutputCapability.*VGForecastSummary"
    ):
        CONNECTOR.parse(RawFile("x.xml", xml))
    with pytest.raises(IngestError, match="file is empty"):
        CONNECTOR.parse(RawFile("PUB_DemandZonal_2022.csv", b""))


@realdata
def test_file_name_and_content_must_agree(ieso: Path) -> None:
    path = ieso / "reports/PUB_DemandZonal_2023.csv"
    with pytest.raises(
        IngestError, match="file name says PriceHOEPPredispOR but the content is a DemandZonal"
    ):
        CONNECTOR.parse(raw_of(path, name="PUB_PriceHOEPPredispOR_2023.csv"))
    assert report_named_in("PUB_GenOutputCapabilityMonth_202302.csv") == "GenOutputCapabilityMonth"
    assert report_named_in("reduced_GenOutputCapability_20160429.xml") == "GenOutputCapability"
    assert report_named_in("notes.csv") is None


# --- mangled real files: nothing but IngestError ------------------------------------------------------------


def _check_mangled(name: str, data: bytes) -> None:
    try:
        result = CONNECTOR.parse(RawFile(name, data))
    except IngestError as exc:
        assert exc.source == name
        return
    check_contract(result, name)


def _head(data: bytes, n_lines: int) -> bytes:
    return b"\n".join(data.split(b"\n")[:n_lines]) + b"\n"


MANGLE_CASES = {
    # (file, how many lines of it to mangle: the head keeps each example fast, the layout stays real)
    "price_hoep": ("reports/PUB_PriceHOEPPredispOR_2023.csv", 400),
    "demand_zonal": ("reports/PUB_DemandZonal_2023.csv", 400),
    "gen_output_month": ("reports/PUB_GenOutputCapabilityMonth_202303.csv", 400),
    "gen_output_capability": ("pyiso_fixtures_xml/reduced_GenOutputCapability_20160429.xml", None),
    "gen_output_by_fuel": ("pyiso_fixtures_xml/reduced_GenOutputbyFuelHourly_2016.xml", None),
    "intertie_schedule_flow": ("pyiso_fixtures_xml/full_IntertieScheduleFlow_20170630.xml", None),
    "predisp_const_totals": ("pyiso_fixtures_xml/full_PredispConstTotals_20170708.xml", None),
    "realtime_const_totals": ("pyiso_fixtures_xml/full_RealtimeConstTotals_2017070101.xml", None),
    "adequacy": ("pyiso_fixtures_xml/full_Adequacy2_20170618.xml", None),
}
SPEC_MANGLE_CASES = {
    "da_energy_lmp": "specbuilt_PUB_DAHourlyEnergyLMP_20260928.csv",
    "rt_energy_lmp": "specbuilt_PUB_RealtimeEnergyLMP_2026092819.csv",
    "da_ontario_zonal_price": "specbuilt_PUB_DAHourlyOntarioZonalPrice_20260928.xml",
    "rt_ontario_zonal_price": "specbuilt_PUB_RealtimeOntarioZonalPrice_2026092819.xml",
}
_HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@realdata
@pytest.mark.parametrize("case", sorted(MANGLE_CASES))
def test_mangled_real_files_raise_only_ingest_errors(ieso: Path, case: str) -> None:
    relpath, n_lines = MANGLE_CASES[case]
    path = ieso / relpath
    original = _read(str(path)) if n_lines is None else _head(_read(str(path)), n_lines)
    CONNECTOR.parse(RawFile(path.name, original))  # the unmangled base parses

    @_HYPOTHESIS
    @given(mangled(original, rounds=3))
    def check(data: bytes) -> None:
        _check_mangled(path.name, data)

    check()


@pytest.mark.parametrize("case", sorted(SPEC_MANGLE_CASES))
def test_mangled_spec_built_files_raise_only_ingest_errors(case: str) -> None:
    path = FIXTURES / SPEC_MANGLE_CASES[case]
    original = _read(str(path))

    @_HYPOTHESIS
    @given(mangled(original, rounds=3))
    def check(data: bytes) -> None:
        _check_mangled(path.name, data)

    check()


# --- fetch --------------------------------------------------------------------------------------------------


def test_report_urls_per_period() -> None:
    base = "https://reports-public.ieso.ca/public"
    assert report_urls("PriceHOEPPredispOR", date(2022, 6, 1), date(2023, 2, 1)) == [
        f"{base}/PriceHOEPPredispOR/PUB_PriceHOEPPredispOR_2022.csv",
        f"{base}/PriceHOEPPredispOR/PUB_PriceHOEPPredispOR_2023.csv",
    ]
    assert report_urls("GenOutputCapabilityMonth", date(2023, 1, 31), date(2023, 3, 1)) == [
        f"{base}/GenOutputCapabilityMonth/PUB_GenOutputCapabilityMonth_2023{m:02d}.csv" for m in (1, 2, 3)
    ]
    assert report_urls("IntertieScheduleFlow", date(2017, 6, 30), date(2017, 7, 1)) == [
        f"{base}/IntertieScheduleFlow/PUB_IntertieScheduleFlow_20170630.xml",
        f"{base}/IntertieScheduleFlow/PUB_IntertieScheduleFlow_20170701.xml",
    ]
    hourly = report_urls("RealtimeEnergyLMP", date(2026, 9, 28), date(2026, 9, 28))
    assert len(hourly) == 24
    assert hourly[0].endswith("/RealtimeEnergyLMP/PUB_RealtimeEnergyLMP_2026092801.csv")
    assert hourly[-1].endswith("PUB_RealtimeEnergyLMP_2026092824.csv")
    assert set(REPORTS) >= {"DAHourlyEnergyLMP", "DAHourlyOntarioZonalPrice", "RealtimeOntarioZonalPrice"}


def test_fetch_from_the_operator_with_retries_and_skipped_404(no_wait) -> None:
    da = FIXTURES / "specbuilt_PUB_DAHourlyOntarioZonalPrice_20260928.xml"
    base = "https://reports-public.ieso.ca/public/DAHourlyOntarioZonalPrice/PUB_DAHourlyOntarioZonalPrice"
    session = FakeSession(
        {
            f"{base}_20260927.xml": [FakeResponse(404)],
            f"{base}_20260928.xml": [
                requests.ConnectionError("reset"),
                FakeResponse(503),
                FakeResponse(200, _read(str(da))),
            ],
        }
    )
    files = CONNECTOR.fetch(date(2026, 9, 27), date(2026, 9, 28), kind="DAHourlyOntarioZonalPrice", session=session)
    assert [f.name for f in files] == ["PUB_DAHourlyOntarioZonalPrice_20260928.xml"]
    assert [url.rsplit("_", 1)[-1] for url, *_ in session.calls] == ["20260927.xml"] + ["20260928.xml"] * 3
    assert {timeout for _, _, timeout, _ in session.calls} == {TIMEOUT}
    assert {headers["User-Agent"] for *_, headers in session.calls} == {USER_AGENT}
    assert len(CONNECTOR.parse(files[0]).tables["nodal_lmp"]) == 24


def test_fetch_gives_up_after_the_attempts(no_wait) -> None:
    url = "https://example.test/ieso/DemandZonal/PUB_DemandZonal_2022.csv"
    session = FakeSession({url: [FakeResponse(500)]})
    with pytest.raises(IngestError, match=f"download failed after {ATTEMPTS} attempts"):
        CONNECTOR.fetch(date(2022, 1, 1), date(2022, 1, 1), kind="DemandZonal", source="https://example.test/ieso/",
                        session=session)
    assert len(session.calls) == ATTEMPTS


def test_fetch_refuses_an_unknown_report() -> None:
    with pytest.raises(ValueError, match="unknown kind 'Nope' for IESO Ontario; supported: PriceHOEPPredispOR"):
        CONNECTOR.fetch(date(2022, 1, 1), date(2022, 1, 1), kind="Nope")


def test_fetch_spans_follow_the_operator_files() -> None:
    assert CONNECTOR.fetch_spans(date(2022, 6, 1), date(2023, 2, 1), "DemandZonal") == [
        (date(2022, 6, 1), date(2022, 12, 31)), (date(2023, 1, 1), date(2023, 2, 1))]
    assert CONNECTOR.fetch_spans(date(2023, 1, 30), date(2023, 2, 2), "IntertieScheduleFlow") == [
        (date(2023, 1, 30), date(2023, 1, 31)), (date(2023, 2, 1), date(2023, 2, 2))]


@realdata
def test_fetch_replays_a_local_folder(ieso: Path) -> None:
    folder = ieso / "reports"
    c = IesoConnector()
    assert [
        f.name for f in c.fetch(date(2022, 6, 1), date(2022, 6, 2), source=folder, kind="PriceHOEPPredispOR")
    ] == ["PUB_PriceHOEPPredispOR_2022.csv"]
    assert [
        f.name
        for f in c.fetch(date(2023, 3, 5), date(2023, 3, 6), source=folder, kind="GenOutputCapabilityMonth")
    ] == ["PUB_GenOutputCapabilityMonth_202303.csv"]
    # the undated rolling file is always a candidate; the Month files are another report
    assert [
        f.name
        for f in c.fetch(date(2024, 2, 14), date(2024, 2, 14), source=folder, kind="GenOutputCapability")
    ] == ["PUB_GenOutputCapability.xml"]
    one = folder / "PUB_DemandZonal_2023.csv"
    assert c.fetch(date(2000, 1, 1), date(2000, 1, 1), source=one, kind="DemandZonal")[0].data == _read(
        str(one)
    )
