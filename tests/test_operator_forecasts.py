"""The operators' own forecasts (AEMO PredispatchIS, P5MIN, operational demand forecast; IESO VGForecastSummary):
parsed from the real files, kept as issued in the store, read back as issued.

Expected values are checked two ways: every value against a reading of the raw file with the csv module / lxml
(:func:`_aemo_oracle`, :func:`_ieso_oracle`), and a few picked by hand with grep, written out below with the
line they come from and the UTC instants worked out by hand (NEM: interval end - length - 10 h; IESO: hour
ending H of day D starts at D + (H - 1) h + 5 h).
"""
from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from engine.files import IngestError, RawFile
from engine.forecast.operator import operator_forecast, operator_runs
from ingest.base import ReportNotRead, table_columns
from ingest.ieso import IesoConnector
from ingest.load import load_raw
from ingest.nem import NemConnector
from tests.support.fakes import FakeResponse, FakeSession

AEMO = "markets/aemo/forecasts"
PREDISPATCH = f"{AEMO}/PUBLIC_PREDISPATCHIS_201905010000_20190430233259.zip"
P5MIN = f"{AEMO}/PUBLIC_P5MIN_201905160405_20190516040038.CSV"
DEMAND_HH = f"{AEMO}/PUBLIC_FORECAST_OPERATIONAL_DEMAND_HH_202504011800_20250401173353.zip"
VG = "markets/ieso/forecasts/var_gen_forecast_summary_report_20250228.xml"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def nem() -> NemConnector:
    return NemConnector()


def _raw(data_dir: Path, relative: str) -> RawFile:
    return RawFile.from_path(data_dir / relative)


def _text(data_dir: Path, relative: str) -> str:
    path = data_dir / relative
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            (name,) = zf.namelist()
            return zf.read(name).decode()
    return path.read_text()


def _forecasts(result) -> pd.DataFrame:
    return result.tables["operator_forecasts"]


def _value(frame: pd.DataFrame, location: str, variable: str, start: str) -> float:
    hit = frame[(frame["location"] == location) & (frame["variable"] == variable)
                & (frame["interval_start"] == utc(start))]
    assert len(hit) == 1, (location, variable, start, len(hit))
    return float(hit["value"].iloc[0])


def _aemo_oracle(text: str, section: tuple[str, str], end_col: str, minutes: int,
                 values: dict[str, str]) -> dict[tuple[str, str, pd.Timestamp], float]:
    """(region, variable, UTC start) -> value for the pricing-run rows of one section, read with the csv module
    by the I record's column names."""
    out: dict[tuple[str, str, pd.Timestamp], float] = {}
    names: list[str] = []
    for fields in csv.reader(io.StringIO(text)):
        if fields[0] == "I" and tuple(fields[1:3]) == section:
            names = fields
        elif fields[0] == "D" and tuple(fields[1:3]) == section:
            row = dict(zip(names, fields, strict=True))
            if row.get("INTERVENTION", "0") != "0":
                continue
            end = datetime.strptime(row[end_col], "%Y/%m/%d %H:%M:%S")
            start = pd.Timestamp(end, tz="UTC") - pd.Timedelta(minutes=minutes) - pd.Timedelta(hours=10)
            for variable, column in values.items():
                out[(row["REGIONID"], variable, start)] = float(row[column])
    return out


def _as_dict(frame: pd.DataFrame, variables: set[str]) -> dict[tuple[str, str, pd.Timestamp], float]:
    part = frame[frame["variable"].isin(variables)]
    return {(str(loc), str(var), start): value for loc, var, start, value in
            zip(part["location"], part["variable"], part["interval_start"], part["value"], strict=True)}


# --- parsing the real files ---------------------------------------------------------------------------------

@pytest.mark.realdata
def test_predispatch_counts_and_issue_time(nem, data_dir):
    result = nem.parse(_raw(data_dir, PREDISPATCH))
    frame = _forecasts(result)
    # 570 REGION_PRICES + 570 REGION_SOLUTION D rows: 57 periods x 5 regions, each as the pricing run
    # (INTERVENTION=0) and the intervention re-run (INTERVENTION=1), which is left out.
    assert result.rows_read == 1140
    assert result.rows_rejected == 570
    assert frame.groupby(["variable"], observed=True).size().to_dict() == {"demand": 285, "price": 285}
    # PREDISPATCHSEQNO 2019043040: interval 40 of trading day 2019-04-30 ends 2019-05-01 00:00 NEM time.
    assert frame["issued_at"].unique().tolist() == [utc("2019-04-30 14:00")]
    assert set(frame["report"]) == {"predispatch"} and set(frame["interval_minutes"]) == {30}
    assert tuple(frame.columns) == table_columns("operator_forecasts")


@pytest.mark.realdata
def test_predispatch_values_by_hand(nem, data_dir):
    frame = _forecasts(nem.parse(_raw(data_dir, PREDISPATCH)))
    # line 488: D,PREDISPATCH,REGION_PRICES,1,2019043040,1,NSW1,01,0,56.84386,... DATETIME "2019/05/01 00:00:00"
    # -> the interval 23:30-00:00 NEM time = 13:30 UTC on 30 April
    assert _value(frame, "NSW1", "price", "2019-04-30 13:30") == 56.84386
    # REGION_SOLUTION QLD1 period 57, INTERVENTION=0: TOTALDEMAND 5251.85, DATETIME "2019/05/02 04:00:00"
    assert _value(frame, "QLD1", "demand", "2019-05-01 17:30") == 5251.85


@pytest.mark.realdata
def test_predispatch_every_value_matches_the_file(nem, data_dir):
    frame = _forecasts(nem.parse(_raw(data_dir, PREDISPATCH)))
    text = _text(data_dir, PREDISPATCH)
    expected = _aemo_oracle(text, ("PREDISPATCH", "REGION_PRICES"), "DATETIME", 30, {"price": "RRP"})
    expected |= _aemo_oracle(text, ("PREDISPATCH", "REGION_SOLUTION"), "DATETIME", 30, {"demand": "TOTALDEMAND"})
    assert _as_dict(frame, {"price", "demand"}) == expected


@pytest.mark.realdata
def test_p5min(nem, data_dir):
    result = nem.parse(_raw(data_dir, P5MIN))
    frame = _forecasts(result)
    assert result.rows_read == 60 and result.rows_rejected == 0  # 12 intervals x 5 regions
    assert len(frame) == 120
    assert frame["issued_at"].unique().tolist() == [utc("2019-05-15 18:05")]  # RUN_DATETIME 2019/05/16 04:05
    # D,P5MIN,REGIONSOLUTION,5,"2019/05/16 04:05:00",0,"2019/05/16 04:05:00",NSW1,72.71438,...,6506.27 (TOTALDEMAND)
    assert _value(frame, "NSW1", "price", "2019-05-15 18:00") == 72.71438
    assert _value(frame, "NSW1", "demand", "2019-05-15 18:00") == 6506.27
    expected = _aemo_oracle(_text(data_dir, P5MIN), ("P5MIN", "REGIONSOLUTION"), "INTERVAL_DATETIME", 5,
                            {"price": "RRP", "demand": "TOTALDEMAND"})
    assert _as_dict(frame, {"price", "demand"}) == expected


@pytest.mark.realdata
def test_operational_demand_forecast(nem, data_dir):
    result = nem.parse(_raw(data_dir, DEMAND_HH))
    frame = _forecasts(result)
    assert result.rows_read == 1985  # 397 half hours x 5 regions
    assert frame.groupby("variable", observed=True).size().to_dict() == {
        "demand_poe10": 1985, "demand_poe50": 1985, "demand_poe90": 1985}
    assert frame["issued_at"].unique().tolist() == [utc("2025-04-01 07:27:41")]  # LOAD_DATE 17:27:41 NEM
    # line 3: NSW1,"2025/04/01 18:00:00","2025/04/01 17:27:41",8525,8407,8290
    assert [_value(frame, "NSW1", f"demand_poe{p}", "2025-04-01 07:30") for p in (10, 50, 90)] == [8525, 8407, 8290]
    # last line: VIC1,"2025/04/10 00:00:00",...,5308,4934,4560
    assert _value(frame, "VIC1", "demand_poe50", "2025-04-09 13:30") == 4934
    expected = _aemo_oracle(_text(data_dir, DEMAND_HH), ("OPERATIONAL_DEMAND", "FORECAST"), "INTERVAL_DATETIME", 30,
                            {f"demand_poe{p}": f"OPERATIONAL_DEMAND_POE{p}" for p in (10, 50, 90)})
    assert _as_dict(frame, {"demand_poe10", "demand_poe50", "demand_poe90"}) == expected


def _ieso_oracle(path: Path) -> dict[tuple[str, str, pd.Timestamp], float]:
    out = {}
    root = etree.parse(str(path)).getroot()
    for org in root.iter("{*}OrganizationData"):
        prefix = "embedded_" if org.findtext("{*}OrganizationType") == "EMBEDDED" else ""
        for fuel in org.iter("{*}FuelData"):
            variable = prefix + fuel.findtext("{*}FuelType").lower()
            for resource in fuel.iter("{*}ResourceData"):
                zone = resource.findtext("{*}ZoneName")
                location = "ONTARIO" if zone == "OntarioTotal" else zone
                for forecast in resource.iter("{*}EnergyForecast"):
                    day = pd.Timestamp(forecast.findtext("{*}ForecastDate"), tz="UTC")
                    for interval in forecast.iter("{*}ForecastInterval"):
                        start = day + pd.Timedelta(hours=int(interval.findtext("{*}ForecastHour")) - 1 + 5)
                        out[(location, variable, start)] = float(interval.findtext("{*}MWOutput"))
    return out


@pytest.mark.realdata
def test_ieso_vg_forecast_summary(data_dir):
    result = IesoConnector().parse(_raw(data_dir, VG))
    frame = _forecasts(result)
    assert result.rows_read == 1008 and len(frame) == 1008  # 21 zone/fuel/organisation series x 48 hours
    # <ForecastTimeStamp>2025-02-28T08:34:08 EST
    assert frame["issued_at"].unique().tolist() == [utc("2025-02-28 13:34:08")]
    # the first interval: MARKET PARTICIPANT Solar NORTHEAST, 2025-02-28 hour 10 (09:00-10:00 EST): 19.6
    assert _value(frame, "NORTHEAST", "solar", "2025-02-28 14:00") == 19.6
    # the last: EMBEDDED Wind WEST, 2025-03-02 hour 9 (08:00-09:00 EST): 15.8
    assert _value(frame, "WEST", "embedded_wind", "2025-03-02 13:00") == 15.8
    assert _as_dict(frame, set(frame["variable"])) == _ieso_oracle(data_dir / VG)
    assert set(frame["interval_minutes"]) == {60} and set(frame["report"]) == {"vgforecast"}


# --- bad input ------------------------------------------------------------------------------------------------

@pytest.mark.realdata
def test_a_truncated_run_names_file_and_line(nem, data_dir):
    text = _text(data_dir, P5MIN)
    cut = text.index("D,P5MIN,REGIONSOLUTION") + 200  # mid-way through the first REGIONSOLUTION row
    line = text.count("\n", 0, cut) + 1
    with pytest.raises(IngestError, match=rf"cut\.CSV, line {line}: .*truncated"):
        nem.parse(RawFile("cut.CSV", text[:cut].encode()))


@pytest.mark.realdata
def test_a_garbled_value_names_file_and_line(nem, data_dir):
    lines = _text(data_dir, DEMAND_HH).splitlines(keepends=True)
    lines[5] = lines[5].replace(",8", ",8x", 1)  # line 6: a POE value that is no number
    with pytest.raises(IngestError, match=r"garbled\.CSV, line 6: OPERATIONAL_DEMAND_POE\d+ is not a number"):
        nem.parse(RawFile("garbled.CSV", "".join(lines).encode()))


@pytest.mark.realdata
def test_a_bad_predispatch_run_number_names_file_and_line(nem, data_dir):
    text = _text(data_dir, PREDISPATCH).replace(",2019043040,1,NSW1,01,0,", ",2019043049,1,NSW1,01,0,", 1)
    line = text[:text.index("2019043049")].count("\n") + 1
    with pytest.raises(IngestError, match=rf"line {line}: PREDISPATCHSEQNO 2019043049 is not YYYYMMDDPP"):
        nem.parse(RawFile("seqno.CSV", text.encode()))


@pytest.mark.realdata
def test_truncated_ieso_xml_names_file_and_line(data_dir):
    data = (data_dir / VG).read_bytes()
    with pytest.raises(IngestError, match=r"cut\.xml, line \d+: not well-formed XML"):
        IesoConnector().parse(RawFile("cut.xml", data[: len(data) // 2]))


@pytest.mark.realdata
def test_forecast_sections_not_read_are_still_refused(nem, data_dir):
    kept = [line for line in _text(data_dir, P5MIN).splitlines(keepends=True)
            if line.startswith("C,") or ",CONSTRAINTSOLUTION," in line]
    with pytest.raises(ReportNotRead, match=r"AEMO P5MIN 5-minute pre-dispatch forecast \(sections P5MIN "
                                            r"CONSTRAINTSOLUTION\): none of the forecast sections read"):
        nem.parse(RawFile("constraints.CSV", "".join(kept).encode()))


# --- kept as issued in the store ------------------------------------------------------------------------------

def _later_p5min_run(text: str) -> str:
    """The P5MIN run re-issued five minutes later with every regional price 1 $/MWh higher (the same file,
    rewritten by the I record's columns)."""
    out, names = [], []
    for line in text.splitlines(keepends=True):
        fields = next(csv.reader([line]))
        if fields[:3] == ["I", "P5MIN", "REGIONSOLUTION"]:
            names = fields
        elif fields[:3] == ["D", "P5MIN", "REGIONSOLUTION"]:
            fields[names.index("RUN_DATETIME")] = "2019/05/16 04:10:00"
            fields[names.index("RRP")] = repr(float(fields[names.index("RRP")]) + 1)
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator=line[len(line.rstrip("\r\n")):]).writerow(fields)
            line = buffer.getvalue()
        out.append(line)
    return "".join(out)


@pytest.mark.realdata
def test_a_later_run_is_kept_beside_the_earlier_one_and_read_as_issued(store, nem, data_dir):
    first = _raw(data_dir, P5MIN)
    later = RawFile("PUBLIC_P5MIN_201905160410_20190516040538.CSV", _later_p5min_run(_text(data_dir, P5MIN)).encode())
    load_raw(store, nem, [first])
    load_raw(store, nem, [later])
    assert store.scalar("SELECT count() FROM operator_forecasts FINAL") == 240
    runs = operator_runs(store, "NEM", "SA1", "price")
    assert runs["issued_at"].tolist() == [utc("2019-05-15 18:05"), utc("2019-05-15 18:10")]
    assert runs["intervals"].tolist() == [12, 12]

    as_first = operator_forecast(store, "NEM", "SA1", "price", issued_at_or_before=utc("2019-05-15 18:09"))
    original = _forecasts(nem.parse(first))
    original = original[(original["location"] == "SA1") & (original["variable"] == "price")]
    assert list(as_first.columns) == ["interval_start", "value", "issued_at"]
    assert as_first["value"].tolist() == original["value"].tolist()
    assert as_first["interval_start"].tolist() == original["interval_start"].tolist()
    assert set(as_first["issued_at"]) == {utc("2019-05-15 18:05")}

    latest = operator_forecast(store, "NEM", "SA1", "price")
    assert latest["value"].tolist() == pytest.approx([v + 1 for v in original["value"]])
    assert set(latest["issued_at"]) == {utc("2019-05-15 18:10")}
    assert operator_forecast(store, "NEM", "SA1", "price", issued_at_or_before=datetime(2019, 5, 15, 18)).empty


@pytest.mark.realdata
def test_reloading_the_same_run_is_idempotent(store, nem, data_dir):
    first = load_raw(store, nem, [_raw(data_dir, PREDISPATCH), _raw(data_dir, DEMAND_HH)])
    assert first.rows_written == 570 + 5955
    again = load_raw(store, nem, [_raw(data_dir, PREDISPATCH), _raw(data_dir, DEMAND_HH)])
    assert again.rows_written == 0 and again.rows_unchanged == 570 + 5955
    assert store.scalar("SELECT count() FROM operator_forecasts") == 570 + 5955  # no second copy, even unmerged
    # Without a report named, the longest-horizon report holding the variable answers.
    demand = operator_forecast(store, "NEM", "VIC1", "demand")
    assert len(demand) == 57 and set(demand["issued_at"]) == {utc("2019-04-30 14:00")}


@pytest.mark.realdata
def test_ieso_forecast_loads_and_reads_back(store, data_dir):
    load_raw(store, IesoConnector(), [_raw(data_dir, VG)])
    wind = operator_forecast(store, "IESO", "ONTARIO", "wind")
    assert len(wind) == 48 and wind["interval_start"].is_monotonic_increasing
    assert operator_runs(store, "IESO", "ONTARIO", "wind")["report"].tolist() == ["vgforecast"]


# --- fetched from NEMweb's Current folder (faked) ---------------------------------------------------------------

_PD_FOLDER = "https://nemweb.com.au/Reports/Current/PredispatchIS_Reports/"


def test_predispatch_runs_come_from_the_current_folder_listing_newest_reissue_first(nem, no_wait):
    names = ["PUBLIC_PREDISPATCHIS_201905010000_20190430233259.zip",
             "PUBLIC_PREDISPATCHIS_201905010030_20190501000301.zip",
             "PUBLIC_PREDISPATCHIS_201905010030_20190501000855.zip",  # AEMO's re-issue of the 00:30 run
             "PUBLIC_PREDISPATCHIS_201905010100_20190501003300.zip",
             "PUBLIC_P5MIN_201905010005_20190501000038.zip"]  # another report's run is not taken
    listing = "".join(f'<A HREF="/Reports/Current/PredispatchIS_Reports/{n}">{n}</A><br>' for n in names)
    answers = {_PD_FOLDER: [FakeResponse(200, listing.encode())]}
    answers |= {_PD_FOLDER + n: [FakeResponse(200, b"PK\x03\x04" + n.encode())] for n in names}
    session = FakeSession(answers)
    # the NEM day of 1 May 2019 holds the runs whose first interval ends after 00:00 and by 24:00
    files = nem.fetch(date(2019, 5, 1), date(2019, 5, 1), kind="predispatch", session=session)
    assert [f.name for f in files] == [names[2], names[3]]
    newest = nem.fetch(date(2019, 5, 1), date(2019, 5, 1), kind="predispatch", session=session, latest=1)
    assert [f.name for f in newest] == [names[3]]


def test_the_forecast_datasets_are_declared():
    assert {"predispatch", "p5min", "demand_hh"} <= set(NemConnector.datasets)
    assert "VGForecastSummary" in IesoConnector.datasets
