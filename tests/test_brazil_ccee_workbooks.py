"""CCEE's official PLD history workbooks: the three real ones, and small workbooks built here for each rule."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.files import IngestError, RawFile
from engine.store import write_tables
from ingest.base import concat_frames
from ingest.ccee_workbooks import (
    EMPTY_CELLS,
    HOURLY_SETTLEMENT,
    HOURLY_SHADOW,
    MONTHLY_MEAN,
    WEEKLY_MEAN,
    is_workbook,
    parse_workbook,
)
from tests.support.brazil import AREAS, brazil, ts
from tests.support.fakes import mangled, one

OFFICIAL = "markets/brazil/ccee_official"
HOURLY = f"{OFFICIAL}/Historico_do_Preco_Horario_-_17_de_abril_de_2018_a_3_de_junho_de_2025.xlsx"
WEEKLY = f"{OFFICIAL}/Historico_do_Preco_Medio_Semanal_-_30_de_junho_de_2001_a_30_de_maio_de_2025.xls"
MONTHLY = f"{OFFICIAL}/Historico_do_Preco_Medio_Mensal_-_janeiro_de_2001_a_abril_de_2025.xls"
PLD_CSV = "markets/brazil/ccee_pld/pld_horario_2025_EXCERPT_20251227-20251231.csv"
KEY = ["location", "price_kind", "interval_minutes", "interval_start"]
SUBMARKETS = ("SUDESTE", "SUL", "NORDESTE", "NORTE")
CODES = dict(zip(SUBMARKETS, ("SE/CO", "S", "NE", "N"), strict=True))
# The workbook's own note, word for word.
DST_NOTE = ("Observação: As linhas 98 a 101 são referentes a segunda hora 23h as 23h59 no dia 16/02/2019 "
            "considerando o horário de verão")
# The 12 days the hourly workbook has no column for.
MISSING_DAYS = {date(2018, 4, 22), date(2018, 4, 23), date(2018, 4, 24), date(2018, 5, 1), date(2018, 5, 7),
                date(2018, 5, 14), date(2018, 5, 31), date(2018, 6, 3), date(2018, 6, 23), date(2018, 6, 27),
                date(2018, 6, 30), date(2018, 8, 7)}


# ---------------------------------------------------------------- building small workbooks --------------------

def xlsx(rows: list[list], title: str = "Test Sheet", *more: tuple[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, sheet_rows in ((title, rows), *more):
        sheet = book.create_sheet(name)
        for row in sheet_rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def hourly_rows(days: list[date], price: Callable[[date, int, int], float | str | None] = lambda d, h, i: 100 + h + i,
                repeat: dict[date, list[float]] | None = None, notes: tuple[str, ...] = ()) -> list[list]:
    """The hourly layout: header, 24 hours x 4 submarkets, then (``repeat``) four rows repeating 23:00 with
    values under the given day, then a blank row and ``notes``."""
    rows = [["Hora", "Submercado", *map(midnight, days)]]
    rows += [[hour, name, *(price(d, hour, i) for d in days)]
             for hour in range(24) for i, name in enumerate(SUBMARKETS)]
    if repeat is not None:
        (day, values), = repeat.items()
        rows += [[23, name, *(value if d == day else None for d in days)] for name, value in zip(SUBMARKETS, values,
                                                                                                strict=True)]
    if notes:
        rows += [[], *([note] for note in notes)]
    return rows


WEEK_HEADER = ["ANO", "MES", "SEMANA", "DATA_INICIO", "DATA_FIM", *SUBMARKETS]


def weekly_rows(weeks: list[tuple[date, date]], first_number: int = 1) -> list[list]:
    return [list(WEEK_HEADER)] + [[first.year, first.month, first_number + k, midnight(first), midnight(last),
                             10.0 + k, 20.0 + k, 30.0 + k, 40.0 + k] for k, (first, last) in enumerate(weeks)]


def monthly_rows(months: list[date]) -> list[list]:
    return [["MES", *SUBMARKETS]] + [[midnight(m), 1.0 + k, 2.0 + k, 3.0 + k, 4.0 + k] for k, m in enumerate(months)]


def parse(rows: list[list], name: str = "book.xlsx"):
    return parse_workbook(RawFile(name, xlsx(rows)))


def refused(rows: list[list]) -> IngestError:
    with pytest.raises(IngestError) as err:
        parse(rows)
    assert err.value.source == "book.xlsx"
    return err.value


def every_cell_stored(result, cells: int, kind: str) -> pd.DataFrame:
    """The prices of a weekly or monthly workbook, checked: each cell read became one row of ``kind``."""
    prices = result.tables["prices"]
    assert (result.rows_read, result.rows_rejected, len(prices)) == (cells, 0, cells)
    assert set(prices["price_kind"]) == {kind}
    assert not prices.duplicated(KEY).any()
    return prices


def refused_or_sound(raw: RawFile) -> None:
    """Damaged input either raises IngestError or gives prices that keep the table's rules."""
    try:
        prices = parse_workbook(raw).tables["prices"]
    except IngestError:
        return
    assert set(prices["location"]) <= AREAS
    assert prices["price"].notna().all()
    assert not prices.duplicated(KEY).any()


def at(prices: pd.DataFrame, location: str, start: str, kind: str = HOURLY_SETTLEMENT) -> float:
    return one(prices, location=location, interval_start=ts(start), price_kind=kind)["price"]


# ---------------------------------------------------------------- recognising a workbook ----------------------

def test_workbooks_are_told_by_their_bytes_not_their_name():
    assert is_workbook(RawFile("prices.csv", xlsx(monthly_rows([date(2024, 1, 1)]))))
    assert is_workbook(RawFile("prices.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)))
    assert not is_workbook(RawFile("book.xlsx", b"MES_REFERENCIA;SUBMERCADO;DIA;HORA;PLD_HORA\n"))


def test_the_brazil_connector_reads_a_workbook_whatever_its_name():
    data = xlsx(monthly_rows([date(2024, 1, 1), date(2024, 2, 1)]))
    through_connector = brazil.parse(RawFile("pld_horario_2024.csv", data))
    pd.testing.assert_frame_equal(through_connector.tables["prices"],
                                  parse_workbook(RawFile("pld_horario_2024.csv", data)).tables["prices"])


def test_a_zip_of_other_files_is_not_a_workbook():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("pld_horario_2024.csv", "MES_REFERENCIA;SUBMERCADO\n")
    assert not is_workbook(RawFile("book.xlsx", out.getvalue()))


def test_damaged_workbooks_are_refused_as_workbooks():
    cut = xlsx(monthly_rows([date(2024, 1, 1)]))[:-200]  # the zip's central directory is gone
    assert is_workbook(RawFile("book.xlsx", cut)), "a truncated .xlsx is still recognised as a workbook"
    with pytest.raises(IngestError, match=r"not a readable \.xlsx workbook"):
        parse_workbook(RawFile("book.xlsx", cut))
    with pytest.raises(IngestError, match=r"not a readable \.xls workbook"):
        parse_workbook(RawFile("book.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)))
    with pytest.raises(IngestError, match="not an Excel workbook"):
        parse_workbook(RawFile("book.xls", b"MES;SUDESTE\n"))


def test_a_sheet_of_another_layout_is_refused_naming_it():
    err = refused([["Data", "Preco"], [midnight(date(2024, 1, 1)), 10.0]])
    assert err.line == 1
    assert "sheet 'Test Sheet'" in err.problem
    assert "not one of CCEE's PLD history layouts" in err.problem


def test_a_workbook_without_data_is_refused():
    with pytest.raises(IngestError, match="holds no data"):
        parse([[]])


# ---------------------------------------------------------------- hourly ---------------------------------------

def test_hourly_prices_from_2021_are_the_settlement_pld():
    result = parse(hourly_rows([date(2021, 1, 1), date(2021, 1, 2)]))
    prices = result.tables["prices"]
    assert (result.rows_read, result.rows_rejected, len(prices)) == (192, 0, 192)
    assert set(prices["price_kind"]) == {HOURLY_SETTLEMENT}
    assert set(prices["location"]) == AREAS
    assert set(prices["interval_minutes"]) == {60}
    assert set(prices["source"]) == {"book.xlsx"}
    # 2021-01-01 00:00 in Brasilia (UTC-3, no DST since 2019); NORDESTE is the third submarket row (+2)
    assert at(prices, "NE", "2021-01-01T03:00") == 102
    assert at(prices, "SE/CO", "2021-01-03T02:00") == 123  # 2021-01-02 23:00
    assert not prices.duplicated(KEY).any()


def test_hourly_prices_before_2021_are_the_shadow_price():
    prices = parse(hourly_rows([date(2020, 12, 31), date(2021, 1, 1)])).tables["prices"]
    kinds = prices.groupby("price_kind")["interval_start"].agg(["min", "max", "size"])
    assert kinds.loc[HOURLY_SHADOW].tolist() == [ts("2020-12-31T03:00"), ts("2021-01-01T02:00"), 96]
    assert kinds.loc[HOURLY_SETTLEMENT].tolist() == [ts("2021-01-01T03:00"), ts("2021-01-02T02:00"), 96]


def test_the_hour_skipped_by_dst_must_be_empty_and_is_rejected():
    start = date(2018, 11, 4)  # clocks went from 00:00 to 01:00
    result = parse(hourly_rows([start], price=lambda d, h, i: None if h == 0 else 100.0 + h))
    prices = result.tables["prices"]
    assert (result.rows_read, result.rows_rejected, len(prices)) == (96, 4, 92)
    assert result.rejected == {EMPTY_CELLS: 4}
    assert at(prices, "S", "2018-11-04T03:00", HOURLY_SHADOW) == 101.0  # 01:00 in summer time (UTC-2)
    err = refused(hourly_rows([start]))
    assert err.line == 2
    assert "cell C2" in err.problem
    assert "did not exist" in err.problem


def test_the_dst_repeat_is_two_instants():
    days = [date(2019, 2, 15), date(2019, 2, 16), date(2019, 2, 17)]
    result = parse(hourly_rows(days, repeat={date(2019, 2, 16): [1.0, 2.0, 3.0, 4.0]}))
    prices = result.tables["prices"]
    assert (result.rows_read, result.rows_rejected, len(prices)) == (292, 0, 292)
    assert at(prices, "SE/CO", "2019-02-17T01:00", HOURLY_SHADOW) == 123  # first 23:00, summer time (UTC-2)
    assert at(prices, "SE/CO", "2019-02-17T02:00", HOURLY_SHADOW) == 1.0  # second 23:00, standard time (UTC-3)
    assert at(prices, "N", "2019-02-17T02:00", HOURLY_SHADOW) == 4.0
    assert at(prices, "SE/CO", "2019-02-17T03:00", HOURLY_SHADOW) == 100  # 2019-02-17 00:00
    assert not prices.duplicated(KEY).any()


def test_the_note_names_the_day_of_the_dst_repeat():
    # CCEE's workbook holds the repeat under 2019-02-15 while its note says 16/02/2019: the note is taken.
    days = [date(2019, 2, 15), date(2019, 2, 16), date(2019, 2, 17)]
    rows = hourly_rows(days, repeat={date(2019, 2, 15): [1.0, 2.0, 3.0, 4.0]}, notes=(DST_NOTE,))
    result = parse(rows)
    prices = result.tables["prices"]
    assert result.rows_read == 292, "the note is not data"
    assert at(prices, "S", "2019-02-17T02:00", HOURLY_SHADOW) == 2.0
    assert at(prices, "S", "2019-02-16T01:00", HOURLY_SHADOW) == 124, "2019-02-15 23:00 keeps its own price"


def test_a_repeated_hour_outside_the_dst_repeat_is_refused():
    days = [date(2019, 2, 15), date(2019, 2, 16)]
    err = refused(hourly_rows(days, repeat={date(2019, 2, 15): [1.0, 2.0, 3.0, 4.0]}))
    assert err.line == 98
    assert "not doubled" in err.problem
    err = refused(hourly_rows([date(2022, 3, 1)], repeat={date(2022, 3, 1): [1.0, 2.0, 3.0, 4.0]}))
    assert err.line == 98


def test_a_repeated_hour_under_two_days_is_refused():
    rows = hourly_rows([date(2019, 2, 16), date(2019, 2, 17)], repeat={date(2019, 2, 16): [1.0, 2.0, 3.0, 4.0]})
    rows[98][3] = 5.0  # SUL's repeat row, under 2019-02-17 as well
    err = refused(rows)
    assert err.line == 99
    assert "cell D99" in err.problem


def test_an_hour_listed_three_times_is_refused():
    rows = hourly_rows([date(2019, 2, 16)], repeat={date(2019, 2, 16): [1.0, 2.0, 3.0, 4.0]})
    rows.append([23, "SUDESTE", 9.0])
    err = refused(rows)
    assert err.line == 102
    assert "third time" in err.problem


def test_a_note_naming_other_rows_is_refused():
    rows = hourly_rows([date(2019, 2, 16)], repeat={date(2019, 2, 16): [1.0, 2.0, 3.0, 4.0]},
                       notes=("As linhas 90 a 93 são referentes a segunda hora 23h no dia 16/02/2019",))
    err = refused(rows)
    assert err.line == 103
    assert "names rows 90 to 93" in err.problem


def test_a_missing_hour_row_is_refused():
    rows = hourly_rows([date(2022, 3, 1)])
    del rows[5]  # hour 1 of SUDESTE
    with pytest.raises(IngestError, match=r"SE/CO lacks hour\(s\) \[1\]"):
        parse(rows)


def test_a_price_that_is_not_a_number_names_its_cell():
    rows = hourly_rows([date(2022, 3, 1), date(2022, 3, 2)])
    rows[4][3] = "12,5"
    err = refused(rows)
    assert err.line == 5
    assert "cell D5 (2022-03-02)" in err.problem
    assert "not a price" in err.problem


@pytest.mark.parametrize("day, words", [
    ("2022-02-30", "not a date cell"),
    (datetime(1900, 1, 5), "not a date in 1990..2200"),
    (datetime(2022, 3, 1, 12, 0), "other than midnight"),
])
def test_an_impossible_day_is_refused(day, words: str):
    rows = hourly_rows([date(2022, 2, 27), date(2022, 2, 28)])
    rows[0][3] = day
    err = refused(rows)
    assert err.line == 1
    assert "cell D1" in err.problem
    assert words in err.problem


def test_days_out_of_order_are_refused():
    err = refused(hourly_rows([date(2022, 3, 2), date(2022, 3, 1)]))
    assert "cell D1" in err.problem
    assert "does not follow" in err.problem


def test_an_unknown_submarket_or_hour_is_refused():
    rows = hourly_rows([date(2022, 3, 1)])
    rows[3][1] = "LESTE"
    assert "unknown submarket 'LESTE'" in refused(rows).problem
    rows = hourly_rows([date(2022, 3, 1)])
    rows[3][0] = 24
    assert "cell A4 (Hora): not a whole number in 0..23" in refused(rows).problem


def test_only_a_note_may_follow_the_blank_row():
    rows = hourly_rows([date(2022, 3, 1)], notes=("a note",))
    rows.append([None, None, 12.0])
    err = refused(rows)
    assert err.line == 100
    assert "below the blank row" in err.problem


def test_a_value_under_no_header_is_refused():
    rows = hourly_rows([date(2022, 3, 1)])
    rows[2] += [7.0]
    err = refused(rows)
    assert "cell D3" in err.problem
    assert "without a header" in err.problem


# ---------------------------------------------------------------- weekly and monthly --------------------------

def test_weekly_averages():
    weeks = [(date(2001, 12, 29), date(2001, 12, 31)), (date(2002, 1, 1), date(2002, 1, 4)),
             (date(2002, 1, 5), date(2002, 1, 11))]
    prices = every_cell_stored(parse(weekly_rows(weeks)), 12, WEEKLY_MEAN)
    # summer time (UTC-2) in Brasilia over new year 2002; a week lasts its nominal days
    minutes = prices.groupby("interval_start")["interval_minutes"].unique().map(list).to_dict()
    assert minutes == {ts("2001-12-29T02:00"): [3 * 1440], ts("2002-01-01T02:00"): [4 * 1440],
                       ts("2002-01-05T02:00"): [7 * 1440]}
    assert at(prices, "NE", "2002-01-01T02:00", WEEKLY_MEAN) == 31.0


def test_weekly_empty_cell_is_rejected():
    rows = weekly_rows([(date(2019, 1, 5), date(2019, 1, 11))])
    rows[1][6] = None  # SUL
    result = parse(rows)
    assert (result.rows_read, result.rows_rejected, len(result.tables["prices"])) == (4, 1, 3)


@pytest.mark.parametrize("changes, cell, words", [
    ([(1, 1, 2)], "B2", "not the month of DATA_INICIO"),  # MES
    ([(1, 4, midnight(date(2019, 1, 4)))], "E2", "1 to 7 days"),  # DATA_FIM before DATA_INICIO
    ([(2, 3, midnight(date(2019, 1, 11))), (2, 4, midnight(date(2019, 1, 17)))], "D3",
     "before the previous one ended"),
    ([(2, 2, 1)], "C3", "does not follow 1"),  # SEMANA
    ([(2, 6, "n/d")], "G3", "not a price"),
    ([(2, 3, "2019-01-12")], "D3", "not a date cell"),
])
def test_bad_weekly_rows_are_refused(changes: list, cell: str, words: str):
    rows = weekly_rows([(date(2019, 1, 5), date(2019, 1, 11)), (date(2019, 1, 12), date(2019, 1, 18))])
    for r, c, value in changes:
        rows[r][c] = value
    err = refused(rows)
    assert err.line == int(cell[1:])
    assert f"cell {cell}" in err.problem
    assert words in err.problem


def test_weekly_header_needs_known_submarkets():
    rows = weekly_rows([(date(2019, 1, 5), date(2019, 1, 11))])
    rows[0][8] = "SUL"
    assert "two columns" in refused(rows).problem
    rows[0][8] = "CENTRO"
    assert "unknown submarket 'CENTRO'" in refused(rows).problem


def test_monthly_averages_last_the_month():
    prices = every_cell_stored(parse(monthly_rows([date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)])), 12,
                               MONTHLY_MEAN)
    feb = one(prices, location="N", interval_start=ts("2024-02-01T03:00"))
    assert feb["interval_minutes"] == 29 * 1440
    assert feb["price"] == 5.0


@pytest.mark.parametrize("row, words", [
    ([midnight(date(2024, 2, 2)), 1.0, 1.0, 1.0, 1.0], "first day"),
    ([midnight(date(2024, 1, 1)), 1.0, 1.0, 1.0, 1.0], "does not follow"),
    ([45323, 1.0, 1.0, 1.0, 1.0], "not a date cell"),  # a date serial without a date format
])
def test_bad_monthly_rows_are_refused(row: list, words: str):
    err = refused(monthly_rows([date(2024, 1, 1)]) + [row])
    assert err.line == 3
    assert "cell A3 (MES)" in err.problem
    assert words in err.problem


def test_two_sheets_with_the_same_period_are_refused():
    data = xlsx(monthly_rows([date(2024, 1, 1)]), "a", ("b", monthly_rows([date(2024, 1, 1)])))
    with pytest.raises(IngestError, match="two sheets hold"):
        parse_workbook(RawFile("book.xlsx", data))


def test_sheets_of_different_layouts_add_up():
    data = xlsx(monthly_rows([date(2024, 1, 1)]), "months", ("weeks", weekly_rows([(date(2024, 1, 6),
                                                                                       date(2024, 1, 12))])))
    result = parse_workbook(RawFile("book.xlsx", data))
    assert result.rows_read == 8
    assert result.tables["prices"].groupby("price_kind").size().to_dict() == {MONTHLY_MEAN: 4, WEEKLY_MEAN: 4}


BUILT = {"hourly": xlsx(hourly_rows([date(2019, 2, 16)], repeat={date(2019, 2, 16): [1.0, 2.0, 3.0, 4.0]},
                                    notes=(DST_NOTE,))),
         "weekly": xlsx(weekly_rows([(date(2019, 1, 5), date(2019, 1, 11))]))}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(sorted(BUILT)), data=st.data())
def test_mangled_workbooks_raise_only_ingest_errors(name: str, data) -> None:
    refused_or_sound(RawFile(f"{name}.xlsx", data.draw(mangled(BUILT[name], rounds=2))))


# ---------------------------------------------------------------- the real workbooks -----------------------------

@pytest.fixture(scope="module")
def hourly(data_dir: Path):
    return parse_workbook(RawFile.from_path(data_dir / HOURLY))


@pytest.fixture(scope="module")
def weekly(data_dir: Path):
    return parse_workbook(RawFile.from_path(data_dir / WEEKLY))


@pytest.fixture(scope="module")
def monthly(data_dir: Path):
    return parse_workbook(RawFile.from_path(data_dir / MONTHLY))


@pytest.mark.realdata
def test_real_weekly_history_starts_where_the_connector_says_the_weekly_pld_does(weekly):
    # CCEE's weekly PLD starts with the week of 2001-06-30: a backfill of pld_semanal may start there, not later
    first = weekly.tables["prices"]["interval_start"].min()
    assert first == ts("2001-06-30T03:00")  # 2001-06-30 00:00, UTC-3
    assert first.tz_convert("America/Sao_Paulo").date() == brazil.earliest_for("pld_semanal")


@pytest.mark.realdata
def test_real_hourly_counts(hourly):
    prices = hourly.tables["prices"]
    # 2,593 day columns x 96 cells, plus the four cells of the repeated 23:00 of 2019-02-16
    assert hourly.rows_read == 2593 * 96 + 4
    assert hourly.rejected == {EMPTY_CELLS: 4}
    assert len(prices) == 2593 * 96
    # 978 days before 2021 (shadow price), 1,615 from 2021 (settlement PLD)
    assert prices.groupby("price_kind").size().to_dict() == {HOURLY_SHADOW: 978 * 96, HOURLY_SETTLEMENT: 1615 * 96}
    assert set(prices["location"]) == AREAS
    assert not prices.duplicated(KEY).any()


@pytest.mark.realdata
def test_real_hourly_span_and_values(hourly):
    prices = hourly.tables["prices"]
    assert prices["interval_start"].min() == ts("2018-04-17T03:00")  # 2018-04-17 00:00, UTC-3
    assert prices["interval_start"].max() == ts("2025-06-04T02:00")  # 2025-06-03 23:00
    # cells read from the workbook: C2, AKR4, AKS2, AKS6, CAV54, CUU3, CUU97
    assert at(prices, "SE/CO", "2018-04-17T03:00", HOURLY_SHADOW) == 40.16
    assert at(prices, "NE", "2020-12-31T03:00", HOURLY_SHADOW) == 214.9
    assert at(prices, "SE/CO", "2021-01-01T03:00") == 204.37
    assert at(prices, "SE/CO", "2021-01-01T04:00") == 206.82
    assert at(prices, "SE/CO", "2024-01-01T16:00") == 61.07
    assert at(prices, "S", "2025-06-03T03:00") == 309.79
    assert at(prices, "N", "2025-06-04T02:00") == 312.68


@pytest.mark.realdata
def test_real_hourly_dst_end_is_two_instants(hourly):
    prices = hourly.tables["prices"]
    # KJ94 (first 23:00 of 2019-02-16, UTC-2) and KI98 (the second, UTC-3; CCEE put it under 2019-02-15)
    assert at(prices, "SE/CO", "2019-02-17T01:00", HOURLY_SHADOW) == 514.19
    assert at(prices, "SE/CO", "2019-02-17T02:00", HOURLY_SHADOW) == 514.05
    assert at(prices, "NE", "2019-02-17T02:00", HOURLY_SHADOW) == 510.36
    # NORTE sat at the 2019 floor all of 2019-02-16 (KJ5 ... KJ97), not at 2019-02-15's R$67 (KI97)
    assert at(prices, "N", "2019-02-17T02:00", HOURLY_SHADOW) == 42.35
    assert at(prices, "N", "2019-02-16T01:00", HOURLY_SHADOW) == 67.34  # KI97: 2019-02-15 23:00, UTC-2


@pytest.mark.realdata
def test_real_hourly_series_run_hour_by_hour_across_both_dst_changes(hourly):
    prices = hourly.tables["prices"]
    # from the day after the last missing one (2018-08-07) to the end: DST start 2018-11-04, end 2019-02-16
    tail = prices[prices["interval_start"] >= ts("2018-08-08T03:00")]
    for location, series in tail.groupby("location"):
        steps = series["interval_start"].sort_values().diff().dropna()
        assert (steps == pd.Timedelta(hours=1)).all(), location
    # GJ2..GJ5 (00:00 on 2018-11-04) are the four empty cells: the hour did not exist
    assert at(prices, "SE/CO", "2018-11-04T03:00", HOURLY_SHADOW) == 141.12  # GJ6, 01:00 summer time
    assert at(prices, "SE/CO", "2018-11-04T02:00", HOURLY_SHADOW) == 151.4  # GI94: 2018-11-03 23:00, UTC-3


@pytest.mark.realdata
def test_real_hourly_missing_days(hourly):
    starts = hourly.tables["prices"]["interval_start"].dt.tz_convert("America/Sao_Paulo")
    days = set(starts.dt.date)
    every = {date(2018, 4, 17) + timedelta(days=k) for k in range((date(2025, 6, 3) - date(2018, 4, 17)).days + 1)}
    assert every - days == MISSING_DAYS
    assert len(days) == 2593


@pytest.mark.realdata
def test_real_hourly_before_2021_is_not_what_ccee_settled(hourly, weekly):
    """From 2021 each week's average PLD (weekly workbook) is the mean of its hourly prices; before, it is not:
    the 2018-2020 hourly prices were CCEE's shadow run, stored apart as PLD_shadow."""
    hours = hourly.tables["prices"]
    hours = hours[hours["location"] == "SE/CO"].set_index("interval_start")["price"].sort_index()
    weeks = weekly.tables["prices"]
    weeks = weeks[(weeks["location"] == "SE/CO") & (weeks["interval_start"] >= hours.index[0])]
    settled, shadow = [], []
    for _, week in weeks.iterrows():
        end = week["interval_start"] + pd.Timedelta(minutes=int(week["interval_minutes"]))
        inside = hours[(hours.index >= week["interval_start"]) & (hours.index < end)]
        if len(inside) < int(week["interval_minutes"]) // 60 - 1:  # a week with a missing day
            continue
        gap = abs(inside.mean() - week["price"])
        (settled if week["interval_start"] >= ts("2021-01-01T03:00") else shadow).append(gap)
    assert len(settled) == 230, "complete weeks from 2021"
    assert max(settled) < 0.006, "from 2021 the weekly average is the mean of the hourly PLD"
    assert len(shadow) == 132, "complete weeks from 2018-04-17 to 2020"
    assert sum(gap < 0.006 for gap in shadow) == 12, "before 2021 few weeks match the hourly prices"
    assert np.median(shadow) > 5.0, "before 2021 a week's average is typically R$5/MWh or more off"


@pytest.mark.realdata
def test_real_weekly(weekly):
    prices = every_cell_stored(weekly, 1253 * 4, WEEKLY_MEAN)
    assert prices["interval_start"].min() == ts("2001-06-30T03:00")  # row 2: 2001-06-30, a Saturday
    assert prices["interval_start"].max() == ts("2025-05-24T03:00")  # row 1254
    # rows 2, 28, 29, 797 and 1254
    assert at(prices, "S", "2001-06-30T03:00", WEEKLY_MEAN) == 141.61
    assert at(prices, "NE", "2001-12-29T02:00", WEEKLY_MEAN) == 562.15
    assert at(prices, "N", "2002-01-01T02:00", WEEKLY_MEAN) == 4.0
    assert at(prices, "S", "2016-09-01T03:00", WEEKLY_MEAN) == 122.17
    assert at(prices, "N", "2025-05-24T03:00", WEEKLY_MEAN) == 180.68
    minutes = prices.drop_duplicates("interval_start").set_index("interval_start")["interval_minutes"]
    assert minutes[ts("2001-12-29T02:00")] == 3 * 1440  # to 2001-12-31: the next week starts 2002-01-01
    assert minutes[ts("2016-09-01T03:00")] == 2 * 1440  # Thursday 1 to Friday 2 September
    assert minutes.value_counts()[7 * 1440] == 1241


@pytest.mark.realdata
def test_real_monthly(monthly):
    prices = every_cell_stored(monthly, 292 * 4, MONTHLY_MEAN)
    assert prices["interval_start"].min() == ts("2001-01-01T02:00")  # summer time in January 2001 (UTC-2)
    assert prices["interval_start"].max() == ts("2025-04-01T03:00")
    january = one(prices, location="NE", interval_start=ts("2001-01-01T02:00"))  # row 2
    assert january["price"] == 33.87
    assert january["interval_minutes"] == 31 * 1440
    assert one(prices, location="S", interval_start=ts("2025-04-01T03:00"))["price"] == 202.98  # row 293
    assert one(prices, location="SE/CO", interval_start=ts("2004-02-01T02:00"))["interval_minutes"] == 29 * 1440


@pytest.mark.realdata
def test_workbook_hours_are_keyed_as_the_csv_keys_them(data_dir: Path, hourly):
    """The CSV excerpt (December 2025) is later than the workbook (to 2025-06-03), so no hour is in both; a
    day of the CSV laid out as the workbook lays out days gives the CSV's rows, key for key."""
    csv = brazil.parse(RawFile.from_path(data_dir / PLD_CSV)).tables["prices"]
    assert csv["interval_start"].min() > hourly.tables["prices"]["interval_start"].max()
    day = csv[csv["interval_start"].dt.tz_convert("America/Sao_Paulo").dt.date == date(2025, 12, 29)]
    by_key = day.set_index(["location", "interval_start"])["price"]

    def csv_price(_day: date, hour: int, submarket: int) -> float:
        return by_key[(CODES[SUBMARKETS[submarket]], ts("2025-12-29T03:00") + pd.Timedelta(hours=hour))]

    laid_out = hourly_rows([date(2025, 12, 29)], price=csv_price)
    from_workbook = parse(laid_out, name=day["source"].iloc[0]).tables["prices"]
    columns = ["market", *KEY, "price", "source"]
    expected = day.sort_values(["location", "interval_start"])[columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(from_workbook[columns].reset_index(drop=True), expected)


@pytest.mark.realdata
def test_real_workbooks_load_once(store, hourly, weekly, monthly):
    tables = {"prices": concat_frames([r.tables["prices"] for r in (hourly, weekly, monthly)])}
    rows = len(tables["prices"])
    first = write_tables(store, tables)
    assert first.rows_written == rows
    again = write_tables(store, tables)
    assert again.rows_written == 0
    assert again.unchanged == {"prices": rows}
    stored = store.query_df("SELECT price_kind, count() AS n FROM prices FINAL WHERE market = 'BRAZIL' "
                            "GROUP BY price_kind ORDER BY price_kind")
    assert dict(zip(stored["price_kind"], stored["n"], strict=True)) == {
        HOURLY_SETTLEMENT: 1615 * 96, HOURLY_SHADOW: 978 * 96, MONTHLY_MEAN: 292 * 4, WEEKLY_MEAN: 1253 * 4}


@pytest.mark.realdata
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(which=st.sampled_from([WEEKLY, MONTHLY]), data=st.data())
def test_mangled_real_xls_raise_only_ingest_errors(data_dir: Path, which: str, data) -> None:
    refused_or_sound(RawFile("mangled.xls", data.draw(mangled((data_dir / which).read_bytes()))))


@pytest.mark.realdata
def test_a_sector_size_of_four_bytes_is_refused_as_a_damaged_file(data_dir: Path) -> None:
    """Found by the test above in CI: a compound document header whose sector shift is 2 (4-byte sectors) made
    xlrd divide by zero."""
    raw = (data_dir / WEEKLY).read_bytes()
    assert raw[30:32] == (9).to_bytes(2, "little"), "the workbook's sectors are not the usual 512 bytes"
    with pytest.raises(IngestError):
        parse_workbook(RawFile("sectors.xls", raw[:30] + (2).to_bytes(2, "little") + raw[32:]))


@pytest.mark.realdata
def test_a_codepage_python_has_not_got_is_refused_as_a_damaged_file(data_dir: Path) -> None:
    """Found by the test above: a CODEPAGE record (0x0042) naming code page 1024 made xlrd raise LookupError."""
    raw = (data_dir / WEEKLY).read_bytes()
    at = raw.find(b"\x42\x00\x02\x00")
    assert at > 0, "the workbook has no CODEPAGE record"
    damaged = raw[:at + 4] + (1024).to_bytes(2, "little") + raw[at + 6:]
    with pytest.raises(IngestError):
        parse_workbook(RawFile("cp1024.xls", damaged))
