"""The Brazil connector on ONS's and CCEE's real files, on bad input, and on mangled input."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.files import IngestError, RawFile
from ingest.brazil import SKIPPED_HOUR_PLACEHOLDERS
from tests.support.brazil import AREAS, brazil, only_table, parse_bytes, ts
from tests.support.fakes import FakeResponse, FakeSession, mangled, parsed_or_refused

FIXTURES = Path(__file__).parent / "fixtures" / "brazil"
CARGA = "markets/brazil/ons_carga_energia"
EAR = "markets/brazil/ons_ear_subsistema/EAR_DIARIO_SUBSISTEMA_2025_EXCERPT_202501.csv"
PLD = "markets/brazil/ccee_pld/pld_horario_2025_EXCERPT_20251227-20251231.csv"


def value_at(frame: pd.DataFrame, location: str, start: str, column: str) -> float:
    hit = frame[(frame["location"] == location) & (frame["interval_start"] == ts(start))]
    assert len(hit) == 1, (location, start)
    return float(hit[column].iloc[0])


# ---------------------------------------------------------------- real files: ONS load ----------------------

@pytest.mark.realdata
@pytest.mark.parametrize(
    ("year", "rows", "rejected", "first", "last"),
    [
        # (first data line: N of the first day; last data line: SE of the last day) read from each file
        (2013, 1461, 5, ("N", "2013-01-01T02:00", 3564.39750000), ("SE/CO", "2013-12-31T02:00", 32570.49770833)),
        (2022, 1460, 0, ("N", "2022-01-01T03:00", 5036.49695833), ("SE/CO", "2022-12-31T03:00", 34074.97841667)),
        (2023, 1460, 0, ("N", "2023-01-01T03:00", 5703.00887500), ("SE/CO", "2023-12-31T03:00", 38010.73137500)),
        (2024, 644, 0, ("N", "2024-01-01T03:00", 6532.98604167), ("SE/CO", "2024-06-09T03:00", 36603.52750000)),
    ],
)
def test_carga_energia_real_files(data_dir: Path, year, rows, rejected, first, last):
    raw = RawFile.from_path(data_dir / CARGA / f"CARGA_ENERGIA_{year}.csv")
    result = brazil.parse(raw)
    demand = only_table(result, "demand")
    assert result.rows_read == rows
    assert result.rows_rejected == rejected
    assert len(demand) == rows - rejected
    assert str(demand["interval_start"].dtype) == "datetime64[ns, UTC]"
    assert demand["demand_mw"].dtype == np.float64
    assert set(demand["location"]) == AREAS
    assert (demand["market"] == "BRAZIL").all()
    assert (demand["interval_minutes"] == 1440).all()
    assert (demand["source"] == raw.name).all()
    assert not demand.duplicated(["location", "interval_start"]).any()
    assert value_at(demand, first[0], first[1], "demand_mw") == pytest.approx(first[2], abs=1e-9)
    assert value_at(demand, last[0], last[1], "demand_mw") == pytest.approx(last[2], abs=1e-9)


@pytest.mark.realdata
def test_carga_2013_quirks_and_daylight_saving(data_dir: Path):
    demand = brazil.parse(RawFile.from_path(data_dir / CARGA / "CARGA_ENERGIA_2013.csv")).tables["demand"]
    local_day = demand["interval_start"].dt.tz_convert("America/Sao_Paulo").dt.strftime("%Y-%m-%d")
    # 2013-12-01 has no values for any subsystem; the stray "S;Sul;2013-02-02 00:00:01;" row is left out too
    assert not (local_day == "2013-12-01").any()
    assert demand.groupby("location").size().to_dict() == {"N": 364, "NE": 364, "S": 364, "SE/CO": 364}
    assert value_at(demand, "S", "2013-02-02T02:00", "demand_mw") == pytest.approx(10941.04154167)
    # DST ended at 00:00 on 2013-02-17 (UTC-2 -> UTC-3) and began at 00:00 on 2013-10-20, when the day
    # starts at 01:00 local: the same 03:00 UTC as a standard-time midnight
    assert value_at(demand, "S", "2013-02-16T02:00", "demand_mw") == pytest.approx(10480.97616667)
    assert value_at(demand, "S", "2013-02-17T03:00", "demand_mw") == pytest.approx(9077.17979167)
    assert value_at(demand, "S", "2013-10-19T03:00", "demand_mw") == pytest.approx(9459.73195833)
    assert value_at(demand, "S", "2013-10-20T03:00", "demand_mw") == pytest.approx(7757.10747826, abs=1e-6)
    assert value_at(demand, "S", "2013-10-21T02:00", "demand_mw") == pytest.approx(10530.54512500)


# ---------------------------------------------------------------- real files: ONS stored energy, CCEE PLD ---

@pytest.mark.realdata
def test_ear_subsistema_excerpt(data_dir: Path):
    result = brazil.parse(RawFile.from_path(data_dir / EAR))
    res = only_table(result, "reservoirs")
    assert (result.rows_read, result.rows_rejected, len(res)) == (124, 0, 124)
    assert set(res["location"]) == AREAS
    assert res.groupby("location").size().to_dict() == {"N": 31, "NE": 31, "S": 31, "SE/CO": 31}
    first = res[(res["location"] == "NE") & (res["interval_start"] == ts("2025-01-01T03:00"))].iloc[0]
    assert (first["stored_energy_mwmonth"], first["stored_energy_pct"], first["max_energy_mwmonth"]) == (
        25936.409, 50.1757, 51691.226)
    assert value_at(res, "SE/CO", "2025-01-01T03:00", "stored_energy_mwmonth") == 105698.119
    last = res[(res["location"] == "S") & (res["interval_start"] == ts("2025-01-31T03:00"))].iloc[0]
    assert (last["stored_energy_mwmonth"], last["stored_energy_pct"], last["max_energy_mwmonth"]) == (
        12530.127, 61.2443, 20459.242)
    # ONS's percentage is stored / max to 4 decimals on every row
    pct = res["stored_energy_mwmonth"] / res["max_energy_mwmonth"] * 100
    assert np.allclose(pct, res["stored_energy_pct"], atol=6e-5)


@pytest.mark.realdata
def test_pld_horario_excerpt(data_dir: Path):
    result = brazil.parse(RawFile.from_path(data_dir / PLD))
    prices = only_table(result, "prices")
    assert (result.rows_read, result.rows_rejected, len(prices)) == (480, 0, 480)
    assert set(prices["location"]) == AREAS
    assert (prices["price_kind"] == "PLD").all()
    assert (prices["interval_minutes"] == 60).all()
    # first line: 202512;NORDESTE;721;31;0;205.25 -> 2025-12-31 00:00 BRT (UTC-3, no DST since 2019)
    assert value_at(prices, "NE", "2025-12-31T03:00", "price") == 205.25
    # the spike of 2025-12-29 hour 19 in all four submarkets
    spike = prices[prices["interval_start"] == ts("2025-12-29T22:00")]
    assert spike["price"].tolist() == [1102.02] * 4
    assert prices["price"].min() == 58.6  # the regulatory floor
    # days arrive in descending order; each submarket comes out as 120 consecutive hours
    for _, series in prices.groupby("location"):
        starts = series["interval_start"]
        assert starts.iloc[0] == ts("2025-12-27T03:00")
        assert starts.iloc[-1] == ts("2026-01-01T02:00")
        assert (starts.diff().dropna() == pd.Timedelta(hours=1)).all()


@pytest.mark.realdata
def test_area_codes_agree_across_ons_and_ccee(data_dir: Path):
    ons = brazil.parse(RawFile.from_path(data_dir / EAR)).tables["reservoirs"]
    ccee = brazil.parse(RawFile.from_path(data_dir / PLD)).tables["prices"]
    load = brazil.parse(RawFile.from_path(data_dir / CARGA / "CARGA_ENERGIA_2024.csv")).tables["demand"]
    assert set(ons["location"]) == set(ccee["location"]) == set(load["location"]) == AREAS


def test_pld_with_decimal_commas_fixture():
    result = brazil.parse(RawFile.from_path(FIXTURES / "pld_horario_2024_decimal_comma.csv"))
    prices = result.tables["prices"]
    assert (result.rows_read, len(prices)) == (192, 192)
    assert value_at(prices, "NE", "2024-03-01T21:00", "price") == pytest.approx(124.07)  # "124,07" hour 18
    assert value_at(prices, "SE/CO", "2024-03-02T22:00", "price") == pytest.approx(1102.03)  # "1.102,03"
    assert prices["interval_start"].min() == ts("2024-03-01T03:00")


# ---------------------------------------------------------------- bad input ----------------------------------

CARGA_TEXT = (
    "id_subsistema;nom_subsistema;din_instante;val_cargaenergiamwmed\n"
    "N;Norte;2022-01-01;5036.49695833\n"
    "NE;Nordeste;2022-01-01;10017.78033333\n"
    "S;Sul;2022-01-01;9892.03791667\n"
    "SE;Sudeste/Centro-Oeste;2022-01-01;31583.51000000\n"
)


def test_in_memory_carga_parses():
    demand = parse_bytes("CARGA_ENERGIA_2022.csv", CARGA_TEXT.encode()).tables["demand"]
    assert demand["location"].tolist() == ["N", "NE", "S", "SE/CO"]
    assert (demand["interval_start"] == ts("2022-01-01T03:00")).all()


def test_reordered_columns_give_the_same_rows():
    lines = [line.split(";") for line in CARGA_TEXT.strip().split("\n")]
    order = [3, 2, 0, 1]
    swapped = "\n".join(";".join(parts[i] for i in order) for parts in lines) + "\n"
    a = parse_bytes("CARGA_ENERGIA_2022.csv", CARGA_TEXT.encode()).tables["demand"]
    b = parse_bytes("CARGA_ENERGIA_2022.csv", swapped.encode()).tables["demand"]
    pd.testing.assert_frame_equal(a, b)


def test_name_spelling_variants_map_to_one_code():
    text = CARGA_TEXT.replace("Sudeste/Centro-Oeste", "SUDESTE").replace("Nordeste", "NORDESTE")
    demand = parse_bytes("CARGA_ENERGIA_2022.csv", text.encode("cp1252")).tables["demand"]
    assert demand["location"].tolist() == ["N", "NE", "S", "SE/CO"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (CARGA_TEXT.replace("9892.03791667", "9892.0379x"), 4, "not a number"),
        (CARGA_TEXT.replace("S;Sul;2022-01-01;9892.03791667", "S;Sul;2022-01-01"), 4, "3 fields"),
        (CARGA_TEXT.replace("val_cargaenergiamwmed", "val_carga"), 1, "val_cargaenergiamwmed"),
        (CARGA_TEXT + "N;Norte;2022-01-01;5036.49695833\n", 6, "appears twice"),
        (CARGA_TEXT.replace("S;Sul", "S;Norte"), 4, "does not match"),
        (CARGA_TEXT.replace("S;Sul", "X;Xingu"), 4, "unknown subsystem"),
        (CARGA_TEXT.replace("NE;Nordeste;2022-01-01", "NE;Nordeste;2022-01-01 06:00:00"), 3, "midnight"),
        (CARGA_TEXT.replace("NE;Nordeste;2022-01-01", "NE;Nordeste;2022-13-01"), 3, "not a date"),
        (CARGA_TEXT.replace("5036.49695833", "inf"), 2, "not a number"),
        (CARGA_TEXT.replace("NE;Nordeste;2022-01-01;10017.78033333", "NE;Nordeste;2022-01-XX;"), 3, "not a date"),
    ],
    ids=["non-numeric", "short-row", "missing-column", "duplicated-day", "id-name-mismatch", "unknown-area",
         "time-part", "bad-date", "infinite", "bad-date-on-empty-row"],
)
def test_bad_carga_names_file_and_line(text: str, line: int, words: str):
    with pytest.raises(IngestError) as err:
        parse_bytes("CARGA_ENERGIA_2022.csv", text.encode())
    assert err.value.source == "CARGA_ENERGIA_2022.csv"
    assert err.value.line == line
    assert words in str(err.value)


def test_empty_value_is_skipped_and_counted_not_an_error():
    text = CARGA_TEXT.replace("9892.03791667", "")
    result = parse_bytes("CARGA_ENERGIA_2022.csv", text.encode())
    assert (result.rows_read, result.rows_rejected, len(result.tables["demand"])) == (4, 1, 3)


def test_blank_lines_are_ignored_but_lines_still_counted():
    text = CARGA_TEXT.replace("\nS;Sul", "\n\nS;Sul").replace("9892.03791667", "oops")
    with pytest.raises(IngestError) as err:
        parse_bytes("CARGA_ENERGIA_2022.csv", text.encode())
    assert err.value.line == 5


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (CARGA_TEXT.encode("utf-16"), "binary"),
        (CARGA_TEXT.encode().replace(b"Sul", b"S\x81l"), "not valid utf-8-sig/cp1252"),
        (b"a;b;c\n1;2;3\n", "not a supported Brazil report"),
        (b"id_subsistema;nom_subsistema;din_instante;val_cargaenergiamwmed\n", "no data rows"),
    ],
    ids=["empty", "utf-16", "undecodable", "unknown-report", "header-only"],
)
def test_unreadable_files(data: bytes, words: str):
    with pytest.raises(IngestError, match=words):
        parse_bytes("upload.csv" if words == "not a supported Brazil report" else "CARGA_ENERGIA_2022.csv", data)


PLD_TEXT = (
    "MES_REFERENCIA;SUBMERCADO;PERIODO_COMERCIALIZACAO;DIA;HORA;PLD_HORA\n"
    "201811;SUDESTE;73;4;0;150.00\n"
    "201811;SUDESTE;74;4;1;151.00\n"
)


def test_pld_hour_lost_to_dst_is_refused():
    # Brazil's clocks jumped from 00:00 to 01:00 on 2018-11-04: hour 0 of that day never existed
    with pytest.raises(IngestError, match="does not exist .* non-zero value") as err:
        parse_bytes("pld_horario_2018.csv", PLD_TEXT.encode())
    assert err.value.line == 2


def test_pld_placeholder_at_the_hour_lost_to_dst_is_left_out():
    # the rule of ONS's hourly files (brazil._skipped_hour_placeholders) holds for every hourly CSV report
    result = parse_bytes("pld_horario_2018.csv", PLD_TEXT.replace(";150.00", ";0").encode())
    assert result.rejected == {SKIPPED_HOUR_PLACEHOLDERS: 1}
    prices = result.tables["prices"]
    assert prices["interval_start"].tolist() == [ts("2018-11-04T03:00")]  # 01:00 BRST (UTC-2)
    assert prices["price"].tolist() == [151.0]


def test_pld_doubled_dst_hour_is_refused():
    # on 2019-02-16 the 23:00 hour happened twice (DST ended at midnight)
    text = ("MES_REFERENCIA;SUBMERCADO;PERIODO_COMERCIALIZACAO;DIA;HORA;PLD_HORA\n"
            "201902;SUL;383;16;22;100.00\n201902;SUL;384;16;23;101.00\n")
    with pytest.raises(IngestError, match="ambiguous") as err:
        parse_bytes("pld_horario_2019.csv", text.encode())
    assert err.value.line == 3


PLD_OK = (
    "MES_REFERENCIA;SUBMERCADO;PERIODO_COMERCIALIZACAO;DIA;HORA;PLD_HORA\n"
    "201811;SUDESTE;97;5;0;150.00\n"
    "201811;SUDESTE;98;5;1;151.00\n"
)


def test_pld_good_rows_parse():
    prices = parse_bytes("pld_horario_2018.csv", PLD_OK.encode()).tables["prices"]
    assert prices["interval_start"].tolist() == [ts("2018-11-05T02:00"), ts("2018-11-05T03:00")]  # BRST


@pytest.mark.parametrize(
    ("new", "words"),
    [
        ("201811;SUDESTE;99;5;1;151.00", "does not match DIA and HORA"),
        ("201811;SUDESTE;98;5;24;151.00", "outside 0..23"),
        ("201811;SUDESTE;98;31;1;151.00", "not a day of MES_REFERENCIA"),
        ("201811;SUDESTE;97;5;0;151.00", "appears twice"),
        ("201811;SUDESTE;98;5;1;15O.00", "not a number"),
        ("201811;SUDOESTE;98;5;1;151.00", "unknown subsystem/submarket"),
    ],
    ids=["period-mismatch", "hour-24", "november-31", "duplicated-hour", "letter-O", "unknown-submarket"],
)
def test_bad_pld_names_the_line(new: str, words: str):
    with pytest.raises(IngestError, match=words) as err:
        parse_bytes("pld_horario_2018.csv", PLD_OK.replace("201811;SUDESTE;98;5;1;151.00", new).encode())
    assert err.value.line == 3


# ---------------------------------------------------------------- mangled real files -------------------------

def _real_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "markets" / "brazil").rglob("*.csv"))


@pytest.mark.realdata
def test_mangled_real_files_raise_only_ingest_errors(data_dir: Path):
    files = _real_files(data_dir)
    assert len(files) == 6
    by_name = {f.name: f.read_bytes() for f in files}

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(name=st.sampled_from(sorted(by_name)), data=st.data())
    def check(name: str, data) -> None:
        result = parsed_or_refused(brazil, name, data.draw(mangled(by_name[name])))
        if result is None:
            return
        for frame in result.tables.values():
            assert frame["interval_start"].notna().all()
            assert set(frame["location"]) <= AREAS

    check()


# ---------------------------------------------------------------- fetch --------------------------------------

def test_fetch_ons_builds_yearly_urls_and_retries_a_503_and_a_dropped_download(no_wait):
    base = "https://ons-aws-prod-opendata.s3.amazonaws.com/dataset/carga_energia_di/CARGA_ENERGIA_"
    session = FakeSession({
        f"{base}2022.csv": [FakeResponse(503), requests.exceptions.ChunkedEncodingError("connection dropped"),
                            FakeResponse(200, CARGA_TEXT.encode())],
        f"{base}2023.csv": [FakeResponse(200, CARGA_TEXT.replace("2022-", "2023-").encode())],
    })
    files = brazil.fetch(date(2022, 12, 30), date(2023, 1, 2), kind="carga_energia", session=session)
    assert [f.name for f in files] == ["CARGA_ENERGIA_2022.csv", "CARGA_ENERGIA_2023.csv"]
    assert [c[0] for c in session.calls] == [f"{base}2022.csv"] * 3 + [f"{base}2023.csv"]
    assert all(c[2] is not None for c in session.calls), "every request has a timeout"
    assert all("User-Agent" in c[3] for c in session.calls), "every request names its client"
    assert len(brazil.parse(files[1]).tables["demand"]) == 4


def test_fetch_ear_url_and_http_errors(no_wait):
    url = "https://ons-aws-prod-opendata.s3.amazonaws.com/dataset/ear_subsistema_di/EAR_DIARIO_SUBSISTEMA_2025.csv"
    with pytest.raises(IngestError, match="HTTP 404"):
        brazil.fetch(date(2025, 1, 1), date(2025, 1, 31), kind="ear_subsistema",
                     session=FakeSession({url: [FakeResponse(404)]}))
    with pytest.raises(IngestError, match="after 4 attempts"):
        brazil.fetch(date(2025, 1, 1), date(2025, 1, 31), kind="ear_subsistema",
                     session=FakeSession({url: [FakeResponse(502)]}))


def test_fetch_pld_finds_the_yearly_resource_in_ccee_ckan(no_wait):
    ckan = "https://dadosabertos.ccee.org.br/api/3/action/package_show"
    resource = "https://pda-download.ccee.org.br/example/pld_horario_2024.csv"
    listing = {"result": {"resources": [{"name": "pld_horario_2023", "url": "https://x/2023.csv"},
                                        {"name": "PLD_HORARIO_2024", "url": resource}]}}
    data = (FIXTURES / "pld_horario_2024_decimal_comma.csv").read_bytes()
    session = FakeSession({ckan: [FakeResponse(200, payload=listing)], resource: [FakeResponse(200, data)]})
    files = brazil.fetch(date(2024, 3, 1), date(2024, 3, 2), kind="pld_horario", session=session)
    assert [f.name for f in files] == ["pld_horario_2024.csv"]
    assert session.calls[0][1] == {"id": "pld_horario"}
    assert len(brazil.parse(files[0]).tables["prices"]) == 192
    with pytest.raises(IngestError, match="no resource pld_horario_2025"):
        brazil.fetch(date(2025, 1, 1), date(2025, 1, 2), kind="pld_horario",
                     session=FakeSession({ckan: [FakeResponse(200, payload=listing)]}))


@pytest.mark.realdata
def test_fetch_replays_a_local_folder_by_year(data_dir: Path):
    files = brazil.fetch(date(2022, 6, 1), date(2023, 2, 1), source=data_dir / CARGA, kind="carga_energia")
    assert [f.name for f in files] == ["CARGA_ENERGIA_2022.csv", "CARGA_ENERGIA_2023.csv"]
    one = brazil.fetch(date(2025, 1, 1), date(2025, 1, 1), source=data_dir / EAR, kind="ear_subsistema")
    assert [f.name for f in one] == [Path(EAR).name]
    with pytest.raises(ValueError, match="unknown kind"):
        brazil.fetch(date(2022, 1, 1), date(2022, 1, 2), source=data_dir / CARGA, kind="carga")
