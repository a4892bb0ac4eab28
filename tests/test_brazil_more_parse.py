"""The Brazil connector's weekly PLD and plant generation reports, on fixtures built to the published layout."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.files import IngestError, RawFile
from ingest.backfill import BackfillError, validate
from ingest.brazil import SKIPPED_HOUR_PLACEHOLDERS
from tests.support.brazil import AREAS, brazil, only_table, parse_bytes, ts
from tests.support.fakes import FakeResponse, FakeSession, mangled, one, parsed_or_refused

FIXTURES = Path(__file__).parent / "fixtures" / "brazil"
WEEKLY = FIXTURES / "specbuilt_pld_historico_semanal_2001_2020.csv"
GENERATION = FIXTURES / "specbuilt_GERACAO_USINA-2_2024_03.csv"


# ---------------------------------------------------------------- weekly PLD ---------------------------------

def test_weekly_pld_fixture():
    result = brazil.parse(RawFile.from_path(WEEKLY))
    prices = only_table(result, "prices")
    assert (result.rows_read, result.rows_rejected, len(prices)) == (48, 0, 48)
    assert set(prices["location"]) == AREAS
    assert set(prices["price_kind"]) == {"PLD_weekly_heavy", "PLD_weekly_medium", "PLD_weekly_light"}
    assert str(prices["interval_start"].dtype) == "datetime64[ns, UTC]"
    assert not prices.duplicated(["location", "price_kind", "interval_start"]).any()
    # SUDESTE, week of 2019-12-28 (BRT, UTC-3): rows 262.10 / 259.00 / 250.44 in the file
    start = ts("2019-12-28T03:00")
    assert one(prices, location="SE/CO", interval_start=start, price_kind="PLD_weekly_heavy")["price"] == 262.10
    assert one(prices, location="SE/CO", interval_start=start, price_kind="PLD_weekly_medium")["price"] == 259.00
    assert one(prices, location="SE/CO", interval_start=start, price_kind="PLD_weekly_light")["price"] == 250.44
    # three equal levels (NORDESTE, 2002-01-01 at 684.00) are three rows, not duplicates to drop
    equal = prices[(prices["location"] == "NE") & (prices["interval_start"] == ts("2002-01-01T02:00"))]
    assert equal["price"].tolist() == [684.0, 684.0, 684.0]  # 2002-01-01 was summer time (UTC-2)


def test_weekly_pld_week_lengths():
    prices = brazil.parse(RawFile.from_path(WEEKLY)).tables["prices"]
    minutes = prices.groupby("interval_start")["interval_minutes"].unique().map(list).to_dict()
    # the 2001-12-29 week ended when CCEE started the 2002-01-01 week: 3 days
    assert minutes == {ts("2001-12-29T02:00"): [4320], ts("2002-01-01T02:00"): [10080],
                       ts("2019-12-28T03:00"): [10080], ts("2020-01-04T03:00"): [10080]}


def test_weekly_pld_level_column_is_used_when_present():
    text = ("MES_REFERENCIA;SUBMERCADO;PATAMAR;DIA;HORA;PLD_HORA\n"
            "201905;SUL;LEVE;4;0;90,00\n201905;SUL;MÉDIA;4;0;80,00\n201905;SUL;PESADA;4;0;70,00\n")
    prices = parse_bytes("pld_semanal_2019_2019.csv", text.encode()).tables["prices"]
    assert dict(zip(prices["price_kind"], prices["price"], strict=True)) == {
        "PLD_weekly_heavy": 70.0, "PLD_weekly_medium": 80.0, "PLD_weekly_light": 90.0}
    assert prices["interval_start"].unique().tolist() == [ts("2019-05-04T03:00")]


def test_weekly_pld_backfill_starts_with_ccees_first_week():
    # CCEE's weekly PLD begins with the week of Saturday 2001-06-30 (MES_REFERENCIA 200106, "from June 2001")
    today = date(2026, 1, 1)
    req = validate("brazil", "2001-06-30", "2001-07-06", kind="pld_semanal", today=today)
    assert (req.start, req.end, req.kind) == (date(2001, 6, 30), date(2001, 7, 6), "pld_semanal")
    with pytest.raises(BackfillError, match="pld_semanal publishes nothing before 2001-06-30"):
        validate("brazil", "2001-06-29", "2001-07-06", kind="pld_semanal", today=today)
    # that first week, in the CSV's layout, is read as starting then (BRT, UTC-3)
    text = ("MES_REFERENCIA;SUBMERCADO;PERIODO_COMERCIALIZACAO;DIA;HORA;PLD_HORA\n"
            + "200106;SUL;697;30;0;684,00\n" * 3)
    prices = parse_bytes("pld_historico_semanal_2001_2020.csv", text.encode()).tables["prices"]
    assert prices["interval_start"].unique().tolist() == [ts("2001-06-30T03:00")]
    assert prices["interval_start"].min().tz_convert("America/Sao_Paulo").date() == brazil.earliest_for("pld_semanal")


WEEKLY_OK = (
    "MES_REFERENCIA;SUBMERCADO;PERIODO_COMERCIALIZACAO;DIA;HORA;PLD_HORA\n"
    "201905;SUL;73;4;0;90.00\n201905;SUL;73;4;0;80.00\n201905;SUL;73;4;0;70.00\n"
)


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("201905;SUL;73;4;0;80.00", "201905;SUL;74;4;0;80.00", 3, "does not match DIA"),
        ("201905;SUL;73;4;0;80.00", "201905;SUL;73;4;1;80.00", 3, "starts at hour 0"),
        ("201905;SUL;73;4;0;80.00", "201905;SUL;73;4;0;8O.00", 3, "not a number"),
        ("201905;SUL;73;4;0;80.00", "201905;SUDOESTE;73;4;0;80.00", 3, "unknown subsystem/submarket"),
        ("201905;SUL;73;4;0;80.00", "201902;SUL;721;31;0;80.00", 3, "not a day of MES_REFERENCIA"),
        ("201905;SUL;73;4;0;80.00\n", "", 2, "one price per load level"),
        ("201905;SUL;73;4;0;80.00", "201905;SUL;73;4;0", 3, "5 fields"),
    ],
    ids=["period-mismatch", "hour-not-0", "letter-O", "unknown-submarket", "february-31", "two-levels",
         "short-row"],
)
def test_bad_weekly_pld_names_file_and_line(old: str, new: str, line: int, words: str):
    with pytest.raises(IngestError) as err:
        parse_bytes("pld_historico_semanal_2001_2020.csv", WEEKLY_OK.replace(old, new).encode())
    assert err.value.source == "pld_historico_semanal_2001_2020.csv"
    assert err.value.line == line
    assert words in str(err.value)


def test_weekly_pld_unknown_level_and_repeated_level():
    text = "MES_REFERENCIA;SUBMERCADO;PATAMAR;DIA;HORA;PLD_HORA\n201905;SUL;PONTA;4;0;90,00\n"
    with pytest.raises(IngestError, match="unknown load level") as err:
        parse_bytes("pld_semanal_2019_2019.csv", text.encode())
    assert err.value.line == 2
    text = "MES_REFERENCIA;SUBMERCADO;PATAMAR;DIA;HORA;PLD_HORA\n201905;SUL;LEVE;4;0;90\n201905;SUL;leve;4;0;91\n"
    with pytest.raises(IngestError, match="appears twice") as err:
        parse_bytes("pld_semanal_2019_2019.csv", text.encode())
    assert err.value.line == 3


# ---------------------------------------------------------------- plant generation ---------------------------

def test_generation_fixture():
    result = brazil.parse(RawFile.from_path(GENERATION))
    gen = only_table(result, "generation")
    assert (result.rows_read, result.rows_rejected, len(gen)) == (12, 1, 11)
    assert (gen["market"] == "BRAZIL").all()
    assert (gen["interval_minutes"] == 60).all()
    assert gen[["capability_mw", "forecast_mw", "available_mw"]].isna().all().all()
    assert set(gen["fuel"]) == {"Hídrica", "Eólica", "Nuclear", "Fotovoltaica"}
    row = one(gen, unit="BALBINA", interval_start=ts("2024-03-01T03:00"))
    assert row["output_mw"] == pytest.approx(153.459240099589, abs=1e-12)
    assert row["fuel"] == "Hídrica"
    assert one(gen, unit="ANGRA 2", interval_start=ts("2024-03-01T05:00"))["output_mw"] == 1348.25
    assert sorted(gen.loc[gen["unit"] == "Conj. Caetité", "interval_start"]) == [ts("2024-03-01T03:00"),
                                                                                 ts("2024-03-01T04:00")]
    assert not gen.duplicated(["unit", "fuel", "interval_start"]).any()


GEN_HEADER = ("din_instante;id_subsistema;nom_subsistema;id_estado;nom_estado;cod_modalidadeoperacao;nom_tipousina;"
              "nom_tipocombustivel;nom_usina;id_ons;ceg;val_geracao\n")
GEN_ROW = "{t};SE;SUDESTE;RJ;RIO DE JANEIRO;TIPO I;TÉRMICA;{fuel};TERMORIO;RJTRIO;-;{v}\n"


def gen_text(*rows: tuple[str, str, str]) -> str:
    return GEN_HEADER + "".join(GEN_ROW.format(t=t, fuel=f, v=v) for t, f, v in rows)


def test_generation_blank_fuel_falls_back_to_plant_type_and_dst():
    text = gen_text(("2019-02-16 22:00:00", "", "10"), ("2019-02-16 23:00:00", "Gás", "11"))
    gen = parse_bytes("GERACAO_USINA-2_2019.csv", text.encode()).tables["generation"]
    assert set(gen["fuel"]) == {"TÉRMICA", "Gás"}
    # 23:00 on 2019-02-16 happened twice; ONS lists it once and it is read as the summer-time one (UTC-2)
    assert one(gen, fuel="Gás")["interval_start"] == ts("2019-02-17T01:00")


@pytest.mark.parametrize(
    ("rows", "line", "words"),
    [
        ((("2018-11-04 00:00:00", "Gás", "5"),), 2, "does not exist"),
        ((("2018-11-03 23:00:00", "Gás", "4"), ("2018-11-04 00:00:00", "Gás", "0,5")), 3, "non-zero value"),
        ((("2024-03-01 00:30:00", "Gás", "5"),), 2, "not stamped on the hour"),
        ((("2024-03-01", "Gás", "5"),), 2, "not a date and time"),
        ((("2024-03-01 00:00:00", "Gás", "5"), ("2024-03-01 00:00:00", "Gás", "6")), 3, "appears twice"),
        ((("2024-03-01 00:00:00", "Gás", "5"), ("2024-03-01 01:00:00", "Gás", "5,5x")), 3, "not a number"),
    ],
    ids=["dst-gap-hour", "dst-gap-hour-small-value", "half-hour", "date-only", "duplicate-hour", "non-numeric"],
)
def test_bad_generation_names_file_and_line(rows, line: int, words: str):
    with pytest.raises(IngestError) as err:
        parse_bytes("GERACAO_USINA-2_2024_03.csv", gen_text(*rows).encode())
    assert err.value.source == "GERACAO_USINA-2_2024_03.csv"
    assert err.value.line == line
    assert words in str(err.value)


@pytest.mark.parametrize("placeholder", ["0E-8", "0", "0,00", ""], ids=["0E-8", "zero", "decimal-comma", "blank"])
def test_generation_placeholder_at_the_hour_skipped_by_dst_is_left_out(placeholder: str):
    # 2018-11-04: clocks went from 00:00 to 01:00, yet ONS's yearly file lists 00:00 with 0E-8 (or blank)
    text = gen_text(("2018-11-03 23:00:00", "Gás", "10"), ("2018-11-04 00:00:00", "Gás", placeholder),
                    ("2018-11-04 01:00:00", "Gás", "11"))
    result = parse_bytes("GERACAO_USINA-2_2018.csv", text.encode())
    gen = only_table(result, "generation")
    assert (result.rows_read, len(gen)) == (3, 2)
    assert result.rejected == {SKIPPED_HOUR_PLACEHOLDERS: 1}
    # 23:00 standard time (UTC-3), then 01:00 summer time (UTC-2): one hour apart, nothing in between
    assert gen["interval_start"].tolist() == [ts("2018-11-04T02:00"), ts("2018-11-04T03:00")]
    assert gen["output_mw"].tolist() == [10.0, 11.0]


def test_generation_blank_hours_and_placeholders_are_counted_apart():
    text = gen_text(("2018-11-04 00:00:00", "Gás", "0E-8"), ("2018-11-04 00:00:00", "", ""),
                    ("2018-11-04 01:00:00", "Gás", ""), ("2018-11-04 02:00:00", "Gás", "12"))
    result = parse_bytes("GERACAO_USINA-2_2018.csv", text.encode())
    assert result.rejected == {SKIPPED_HOUR_PLACEHOLDERS: 2, "plant hours without a value (not reported to ONS)": 1}
    assert only_table(result, "generation")["interval_start"].tolist() == [ts("2018-11-04T04:00")]


def test_generation_subsystem_mismatch_and_missing_column():
    text = gen_text(("2024-03-01 00:00:00", "Gás", "5")).replace("SE;SUDESTE", "SE;NORTE")
    with pytest.raises(IngestError, match="does not match id_subsistema"):
        parse_bytes("GERACAO_USINA-2_2024_03.csv", text.encode())
    text = gen_text(("2024-03-01 00:00:00", "Gás", "5")).replace("val_geracao", "val_gen")
    with pytest.raises(IngestError, match="val_geracao") as err:
        parse_bytes("GERACAO_USINA-2_2024_03.csv", text.encode())
    assert err.value.line == 1


# ---------------------------------------------------------------- mangled fixtures ---------------------------

ORIGINALS = {p.name: p.read_bytes() for p in (WEEKLY, GENERATION)}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(sorted(ORIGINALS)), data=st.data())
def test_mangled_fixtures_raise_only_ingest_errors(name: str, data) -> None:
    result = parsed_or_refused(brazil, name, data.draw(mangled(ORIGINALS[name])))
    if result is None:
        return
    for table, frame in result.tables.items():
        assert frame["interval_start"].notna().all()
        if table == "prices":
            assert set(frame["location"]) <= AREAS
            assert frame["price"].notna().all()
            assert not frame.duplicated(["location", "price_kind", "interval_start"]).any()
        else:
            assert np.isfinite(frame["output_mw"]).all()
            assert not frame.duplicated(["unit", "fuel", "interval_start"]).any()


# ---------------------------------------------------------------- fetch --------------------------------------

def test_fetch_generation_yearly_then_monthly_urls(no_wait):
    base = "https://ons-aws-prod-opendata.s3.amazonaws.com/dataset/geracao_usina_2_ho/GERACAO_USINA-2_"
    names = ["2021.csv", "2022_01.csv", "2022_02.csv"]
    data = GENERATION.read_bytes()
    session = FakeSession({f"{base}{n}": [FakeResponse(200, data)] for n in names})
    session.answers[f"{base}2022_01.csv"] = [FakeResponse(503), FakeResponse(200, data)]
    files = brazil.fetch(date(2021, 11, 5), date(2022, 2, 3), kind="geracao_usina", session=session)
    assert [f.name for f in files] == [f"GERACAO_USINA-2_{n}" for n in names]
    assert [c[0] for c in session.calls] == [f"{base}2021.csv", f"{base}2022_01.csv", f"{base}2022_01.csv",
                                             f"{base}2022_02.csv"]
    assert all(c[2] is not None for c in session.calls), "every request has a timeout"
    assert all("User-Agent" in c[3] for c in session.calls), "every request names its client"
    assert len(brazil.parse(files[2]).tables["generation"]) == 11


def test_fetch_weekly_pld_finds_the_resource_in_ccee_ckan(no_wait):
    ckan = "https://dadosabertos.ccee.org.br/api/3/action/package_show"
    resource = "https://pda-download.ccee.org.br/example/content"
    listing = {"result": {"resources": [{"name": "pld_horario_2021", "url": "https://x/2021.csv"},
                                        {"name": "PLD - Histórico Semanal - 2001 - 2020", "url": resource}]}}
    session = FakeSession({ckan: [FakeResponse(200, payload=listing)],
                           resource: [FakeResponse(200, WEEKLY.read_bytes())]})
    files = brazil.fetch(date(2019, 12, 1), date(2020, 1, 31), kind="pld_semanal", session=session)
    assert [f.name for f in files] == ["pld_historico_semanal_2001_2020.csv"]
    assert session.calls[0][1] == {"id": "pld_horario"}
    assert len(brazil.parse(files[0]).tables["prices"]) == 48
    with pytest.raises(IngestError, match="2001-2020 only"):
        brazil.fetch(date(2022, 1, 1), date(2022, 1, 2), kind="pld_semanal", session=session)
    bare = {"result": {"resources": [{"name": "pld_horario_2021", "url": "https://x/2021.csv"}]}}
    with pytest.raises(IngestError, match="found 0"):
        brazil.fetch(date(2010, 1, 1), date(2010, 1, 2), kind="pld_semanal",
                     session=FakeSession({ckan: [FakeResponse(200, payload=bare)]}))


def test_fetch_replays_a_local_folder(tmp_path: Path):
    for name in ("GERACAO_USINA-2_2021.csv", "GERACAO_USINA-2_2022_01.csv", "GERACAO_USINA-2_2022_03.csv",
                 "pld_historico_semanal_2001_2020.csv"):
        (tmp_path / name).write_bytes(b"x")
    gen = brazil.fetch(date(2021, 6, 1), date(2022, 2, 28), source=tmp_path, kind="geracao_usina")
    assert [f.name for f in gen] == ["GERACAO_USINA-2_2021.csv", "GERACAO_USINA-2_2022_01.csv"]
    weekly = brazil.fetch(date(2015, 1, 1), date(2015, 1, 2), source=tmp_path, kind="pld_semanal")
    assert [f.name for f in weekly] == ["pld_historico_semanal_2001_2020.csv"]
    assert brazil.fetch(date(2021, 1, 1), date(2021, 1, 2), source=tmp_path, kind="pld_semanal") == []
