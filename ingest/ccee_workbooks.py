"""CCEE's official PLD history workbooks: weekly and monthly average PLD (``.xls``) and hourly PLD (``.xlsx``).

The file format is told from the bytes (an OLE2 compound document is an ``.xls``, a zip holding
``xl/workbook.xml`` an ``.xlsx``) and the kind of workbook from its first row, never from the file's name:

- weekly (``Historico_do_Preco_Medio_Semanal_...xls``): ``ANO | MES | SEMANA | DATA_INICIO | DATA_FIM |
  SUDESTE | SUL | NORDESTE | NORTE``, one row per operating week. ``SEMANA`` is a running counter (not the
  week of the year), ``ANO``/``MES`` the month ``DATA_INICIO`` falls in, the dates Excel date cells. Weeks run
  Saturday to Friday, except where CCEE cut one at the turn of a month (2001-12-29..31, then 2002-01-01..04) ->
  ``PLD_weekly_mean``, starting at local midnight of ``DATA_INICIO`` and lasting its nominal days
  (``DATA_FIM`` included) x 1440 minutes, as the weekly CSV's weeks are stored.
- monthly (``Historico_do_Preco_Medio_Mensal_...xls``): ``MES | SUDESTE | SUL | NORDESTE | NORTE``, ``MES`` a
  date cell on the month's first day -> ``PLD_monthly_mean``, lasting the month's days x 1440 minutes.
- hourly (``Historico_do_Preco_Horario_...xlsx``): wide. Row 1 is ``Hora | Submercado | <one date cell per
  day>``; below it one row per hour (0..23) and submarket, so 96 rows, each day a column. Rows that list an
  hour and submarket a second time hold the repeated hour at the end of daylight saving; a blank row ends the
  data, and free-text notes may follow it (they are not data) -> ``PLD`` from 2021, ``PLD_shadow`` before.

Price kinds. The hourly settlement price keeps the CSV's kind, ``PLD``, so an hour loaded from this workbook
and from CCEE's ``pld_horario`` CSV is one row. The hourly PLD became the settlement price on 2021-01-01;
from April 2018 to December 2020 CCEE ran it in "shadow operation" (operacao sombra) while settling on the
weekly PLD by load level. The workbook does not say so (its one note is about the DST hour), but its numbers
do: from 2021 each week's average in the weekly workbook equals the mean of that week's hourly prices to the
centavo, before 2021 it differs by up to R$170/MWh, and in 2019 and 2020 the hourly prices exceed those
years' PLD ceilings (R$513.89 and R$559.75). So the 2018-2020 prices are stored as ``PLD_shadow``, apart from
the settlement series. The weekly and monthly averages are their own series, ``PLD_weekly_mean`` and
``PLD_monthly_mean``: next to the CSV's ``PLD_weekly_heavy|medium|light`` (one price per load level), a
mean over the period's hours is another quantity, and the suffix says which.

Time. Brasilia local time (``America/Sao_Paulo``, daylight saving until February 2019) to UTC. Weeks and
months start at local midnight; Brazil moved its clocks at 00:00, so on a DST start day the day starts at
01:00 (as the CSV parsers store it). An hour that did not exist (00:00 on a DST start day) must be empty: the
workbook's four empty cells are that hour on 2018-11-04. The doubled 23:00 at the end of DST is stored as two
instants: the 96 main rows hold the first (summer time, UTC-2), the repeat rows the second (UTC-3). The
workbook's note ("As linhas 98 a 101 sao referentes a segunda hora 23h ... no dia 16/02/2019") names the
day; CCEE put those four values in the column of the day before (2019-02-15), but they are 2019-02-16's: they
continue that day's prices (NORTE at the 2019 floor, R$42.35, as all day on the 16th, against R$67 on the
15th), and 23:00 on the 15th was not doubled. So the day a note names wins over the column; without a note
the repeated hour is the day of its column, and either way that day's hour must really have been doubled.

Counts. ``rows_read`` counts the price cells that stand for a period: every cell of the 96 hourly rows
under each day (the 12 days missing from the workbook have no column and are not counted), the filled cells of
the repeat rows (the hour repeats on one day only, so their other cells stand for nothing), and every
submarket cell of a weekly or monthly row. ``rows_rejected`` counts those cells left empty: no price, nothing
stored. Any other problem (a damaged file, a sheet of another layout, a non-number where a price must be, an
impossible date, an hour listed twice outside the DST repeat) raises :class:`IngestError` naming the sheet,
the cell and its column, with the spreadsheet's row number as the line; nothing is returned.
"""
from __future__ import annotations

import calendar
import io
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Any, NoReturn

import numpy as np
import openpyxl
import pandas as pd
import xlrd
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from xlrd.compdoc import CompDocError

from engine.files import IngestError, RawFile
from engine.markets import market
from engine.store.tables import TABLES
from ingest.base import PLAUSIBLE_YEARS, ParseResult, concat_frames, table_frame
from ingest.brazil_areas import area_code, plain_name

BRAZIL = market("BRAZIL")

HOURLY_SETTLEMENT = "PLD"
HOURLY_SHADOW = "PLD_shadow"
WEEKLY_MEAN = "PLD_weekly_mean"
MONTHLY_MEAN = "PLD_monthly_mean"
#: The first day (Brasilia) CCEE settled on the hourly PLD; the hourly prices before it were a shadow run.
HOURLY_SETTLEMENT_FROM = date(2021, 1, 1)
#: Why cells are counted as rejected (the load summary prints it).
EMPTY_CELLS = "empty price cells"

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_XLSX_PART = "xl/workbook.xml"
_WEEK_COLUMNS = ("ANO", "MES", "SEMANA", "DATA_INICIO", "DATA_FIM")
_SUBMARKET_NAMES = "SUDESTE, SUL, NORDESTE or NORTE"
_LAYOUTS = ("hourly (Hora | Submercado | one date per day), weekly (ANO | MES | SEMANA | DATA_INICIO | "
            "DATA_FIM | submarkets) or monthly (MES | submarkets)")
# What the readers raise on a damaged file: a broken OLE2 or zip container, truncated records or XML.
_XLS_ERRORS = (xlrd.XLRDError, CompDocError, struct.error, EOFError, OSError, LookupError, ValueError,
               TypeError, AssertionError, RuntimeError,  # RecursionError: a compound document's tree in a cycle
               ArithmeticError)  # ZeroDivisionError: a sector size of 4 bytes in the compound document's header
# LookupError: IndexError, KeyError, and a CODEPAGE record naming an encoding Python has not got (cp1024).
# SyntaxError: the XML parsers' errors (ElementTree's ParseError and lxml's XMLSyntaxError derive from it).
_XLSX_ERRORS = (InvalidFileException, zipfile.BadZipFile, zlib.error, SyntaxError, EOFError, OSError, KeyError,
                ValueError, TypeError, IndexError, AttributeError, NotImplementedError, RuntimeError)
_NOTE_ROWS = re.compile(r"\bLINHAS? (\d+) (?:A|ATE) (\d+)\b")
_NOTE_DAY = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")


def is_workbook(raw: RawFile) -> bool:
    """Whether ``raw`` is an Excel workbook: an OLE2 compound document (``.xls``) or a zip holding
    ``xl/workbook.xml`` (``.xlsx``). A zip too damaged to list still counts when a local header names that
    part, so that it is refused as a damaged workbook rather than as text."""
    if raw.data.startswith(_OLE2_MAGIC):
        return True
    if not raw.data.startswith(_ZIP_MAGIC):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(raw.data)) as zf:
            return _XLSX_PART in zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return _XLSX_PART.encode() in raw.data


def parse_workbook(raw: RawFile) -> ParseResult:
    """The prices of one of CCEE's PLD history workbooks (see the module's docstring); pure, bytes in."""
    sheets = [s for s in _sheets(raw) if any(v is not None for row in s.rows for v in row)]
    if not sheets:
        raise IngestError(raw.name, None, "the workbook holds no data")
    result = ParseResult(source=raw.name)
    frames = []
    for sheet in sheets:
        parsed = _layout(sheet)(sheet)
        result.rows_read += parsed.cells_read
        result.reject(parsed.cells_empty, EMPTY_CELLS)
        frames.append(parsed.frame(raw.name))
    prices = frames[0] if len(frames) == 1 else concat_frames(frames)
    # Each sheet's periods are unique by construction; two sheets may still hold the same period.
    twice = prices.duplicated(list(TABLES["prices"].key), keep=False)
    if twice.any():
        first = prices[twice].iloc[0]
        raise IngestError(raw.name, None, f"two sheets hold a {first['price_kind']} price of {first['location']} "
                                          f"for {first['interval_start']}")
    result.tables["prices"] = prices
    return result


# ---------------------------------------------------------------- cells ---------------------------------------

@dataclass(frozen=True)
class _Sheet:
    """One sheet's cells: ``rows[i]`` is spreadsheet row ``i + 1``, every row as wide as the widest; a cell is
    None (empty or blank text), a str (stripped), an int or float, a bool or a datetime."""

    source: str
    name: str
    rows: list[list[Any]]

    def fail(self, row: int | None, col: int | None, problem: str, what: str = "") -> NoReturn:
        """Raise an IngestError at 0-based ``row``/``col`` (``what`` names the column)."""
        where = f"sheet {self.name!r}"
        if row is not None:
            where += f", cell {get_column_letter(col + 1)}{row + 1}" if col is not None else f", row {row + 1}"
        if what:
            where += f" ({what})"
        raise IngestError(self.source, None if row is None else row + 1, f"{where}: {problem}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(sheet: _Sheet, r: int, c: int, low: int, high: int, what: str) -> int:
    value = sheet.rows[r][c]
    if not (_is_number(value) and float(value).is_integer() and low <= value <= high):
        sheet.fail(r, c, f"not a whole number in {low}..{high}: {value!r}", what)
    return int(value)


def _day(sheet: _Sheet, r: int, c: int, what: str) -> date:
    """A date cell at midnight, within the years a market's data can carry."""
    value = sheet.rows[r][c]
    if not isinstance(value, date):
        sheet.fail(r, c, f"not a date cell: {value!r}", what)
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            sheet.fail(r, c, f"a day stamped at a time other than midnight: {value}", what)
        value = value.date()
    if not PLAUSIBLE_YEARS[0] <= value.year <= PLAUSIBLE_YEARS[1]:
        sheet.fail(r, c, f"not a date in {PLAUSIBLE_YEARS[0]}..{PLAUSIBLE_YEARS[1]}: {value}", what)
    return value


def _submarket(sheet: _Sheet, r: int, c: int, what: str) -> str:
    value = sheet.rows[r][c]
    code = area_code(value) if isinstance(value, str) else None
    if code is None:
        sheet.fail(r, c, f"unknown submarket {value!r} (expected {_SUBMARKET_NAMES})", what)
    return code


def _prices(sheet: _Sheet, rows: list[int], cols: list[int], what: Callable[[int], str]) -> np.ndarray:
    """The prices at ``rows`` x ``cols`` (NaN where a cell is empty); any other cell is an error."""
    grid = np.full((len(rows), len(cols)), np.nan)
    first, last = cols[0], cols[-1] + 1
    contiguous = cols == list(range(first, last))
    for i, r in enumerate(rows):
        row = sheet.rows[r]
        cells = row[first:last] if contiguous else [row[c] for c in cols]
        if not {type(v) for v in cells} <= {float, int, type(None)}:
            j = next(j for j, v in enumerate(cells) if v is not None and not _is_number(v))
            sheet.fail(r, cols[j], f"not a price (a number, or empty): {cells[j]!r}", what(cols[j]))
        grid[i] = np.array(cells, dtype=float)  # None -> NaN
    return grid


def _blocks(sheet: _Sheet) -> tuple[list[int], list[tuple[int, str]]]:
    """The data rows (row 2 up to the first blank row) and the notes after them: a text alone in column A
    (anything else after the blank row is an error, so no price hides below a note)."""
    end = next((r for r in range(1, len(sheet.rows)) if all(v is None for v in sheet.rows[r])), len(sheet.rows))
    if end == 1:
        sheet.fail(1, None, "no data under the header row")
    notes = []
    for r in range(end, len(sheet.rows)):
        filled = [c for c, v in enumerate(sheet.rows[r]) if v is not None]
        if not filled:
            continue
        if filled != [0] or not isinstance(sheet.rows[r][0], str):
            sheet.fail(r, filled[-1], "a value below the blank row that ends the data (only a note, a text "
                                      "alone in column A, may stand there)")
        notes.append((r, sheet.rows[r][0]))
    return list(range(1, end)), notes


def _header(sheet: _Sheet) -> list[Any]:
    """Row 1, text upper case without accents (``Mês`` -> ``MES``); other cells as they are."""
    return [plain_name(v) if isinstance(v, str) else v for v in sheet.rows[0]]


def _submarket_columns(sheet: _Sheet, header: list[Any], taken: set[int]) -> dict[int, str]:
    """Column -> submarket code of every header cell not in ``taken``; an empty header cell's column must be
    empty (checked by the caller reading only these columns and ``_no_strays``)."""
    areas: dict[int, str] = {}
    for c, name in enumerate(header):
        if c in taken or name is None:
            continue
        code = _submarket(sheet, 0, c, "header")
        if code in areas.values():
            sheet.fail(0, c, f"submarket {name!r} has two columns", "header")
        areas[c] = code
    if not areas:
        sheet.fail(0, None, f"no submarket column ({_SUBMARKET_NAMES})", "header")
    return areas


def _no_strays(sheet: _Sheet, rows: list[int], used: set[int]) -> None:
    for r in rows:
        stray = next((c for c, v in enumerate(sheet.rows[r]) if v is not None and c not in used), None)
        if stray is not None:
            sheet.fail(r, stray, f"a value in a column without a header: {sheet.rows[r][stray]!r}")


# ---------------------------------------------------------------- the three layouts ---------------------------

@dataclass
class _Parsed:
    location: np.ndarray
    price_kind: np.ndarray
    interval_start: pd.DatetimeIndex  # UTC
    interval_minutes: np.ndarray
    price: np.ndarray
    cells_read: int
    cells_empty: int

    def frame(self, source: str) -> pd.DataFrame:
        """The ``prices`` rows, by submarket, kind and time."""
        order = np.lexsort((self.interval_start.asi8, self.price_kind, self.location))
        return table_frame("prices", BRAZIL.market, source, {
            "location": self.location[order],
            "price_kind": self.price_kind[order],
            "interval_minutes": self.interval_minutes[order],
            "interval_start": self.interval_start[order],
            "price": self.price[order],
        })


def _utc(sheet: _Sheet, local: np.ndarray, rows: np.ndarray) -> pd.DatetimeIndex:
    """UTC instants of local midnights (a day or a period starts there); a skipped midnight moves to the day's
    first instant, 01:00, as the CSV parsers store days. ``rows`` names each value's row for an error."""
    zoned = pd.DatetimeIndex(local).tz_localize(BRAZIL.timezone, ambiguous="NaT", nonexistent="shift_forward")
    bad = np.flatnonzero(zoned.isna())
    if len(bad):
        sheet.fail(int(rows[bad[0]]), None, f"local midnight {local[bad[0]]} is ambiguous in {BRAZIL.timezone}")
    return zoned.tz_convert("UTC")


def _periods(sheet: _Sheet, rows: list[int], areas: dict[int, str], first_days: list[date],
             minutes: list[int], kind: str, what: Callable[[int], str]) -> _Parsed:
    """Weekly or monthly rows: one period per row, one price per submarket column."""
    cols = sorted(areas)
    grid = _prices(sheet, rows, cols, what)
    starts = _utc(sheet, np.array(first_days, dtype="datetime64[ns]"), np.array(rows))
    filled = ~np.isnan(grid)
    row_of, col_of = np.nonzero(filled)
    return _Parsed(
        location=np.array([areas[cols[j]] for j in col_of], dtype=object),
        price_kind=np.full(len(row_of), kind, dtype=object),
        interval_start=starts[row_of],
        interval_minutes=np.array(minutes, dtype=np.int64)[row_of],
        price=grid[filled],
        cells_read=grid.size,
        cells_empty=int((~filled).sum()),
    )


def _weekly(sheet: _Sheet) -> _Parsed:
    header = _header(sheet)
    at = {name: header.index(name) for name in _WEEK_COLUMNS}
    areas = _submarket_columns(sheet, header, set(at.values()))
    rows, _ = _blocks(sheet)
    _no_strays(sheet, rows, set(at.values()) | set(areas))
    first_days, minutes = [], []
    last_end: date | None = None
    last_week = 0
    for r in rows:
        year = _whole(sheet, r, at["ANO"], *PLAUSIBLE_YEARS, "ANO")
        month = _whole(sheet, r, at["MES"], 1, 12, "MES")
        week = _whole(sheet, r, at["SEMANA"], 1, 10**6, "SEMANA")
        first = _day(sheet, r, at["DATA_INICIO"], "DATA_INICIO")
        last = _day(sheet, r, at["DATA_FIM"], "DATA_FIM")
        if (first.year, first.month) != (year, month):
            sheet.fail(r, at["MES"], f"ANO/MES {year}-{month:02d} is not the month of DATA_INICIO {first}", "MES")
        if not 0 <= (last - first).days < 7:
            sheet.fail(r, at["DATA_FIM"], f"a week lasts 1 to 7 days, not {first} to {last}", "DATA_FIM")
        if last_end is not None and first <= last_end:
            sheet.fail(r, at["DATA_INICIO"], f"the week starts {first}, before the previous one ended ({last_end})",
                       "DATA_INICIO")
        if week <= last_week:
            sheet.fail(r, at["SEMANA"], f"SEMANA {week} does not follow {last_week} (a running counter)", "SEMANA")
        first_days.append(first)
        minutes.append(((last - first).days + 1) * 1440)
        last_end, last_week = last, week
    return _periods(sheet, rows, areas, first_days, minutes, WEEKLY_MEAN, lambda c: header[c])


def _monthly(sheet: _Sheet) -> _Parsed:
    header = _header(sheet)
    areas = _submarket_columns(sheet, header, {0})
    rows, _ = _blocks(sheet)
    _no_strays(sheet, rows, {0} | set(areas))
    first_days, minutes = [], []
    for r in rows:
        first = _day(sheet, r, 0, "MES")
        if first.day != 1:
            sheet.fail(r, 0, f"a month is dated on its first day, not {first}", "MES")
        if first_days and first <= first_days[-1]:
            sheet.fail(r, 0, f"month {first:%Y-%m} does not follow {first_days[-1]:%Y-%m}", "MES")
        first_days.append(first)
        minutes.append(calendar.monthrange(first.year, first.month)[1] * 1440)
    return _periods(sheet, rows, areas, first_days, minutes, MONTHLY_MEAN, lambda c: header[c])


def _layout(sheet: _Sheet) -> Callable[[_Sheet], _Parsed]:
    """The parser of the sheet's layout, told by its first row."""
    header = _header(sheet)
    if header[:2] == ["HORA", "SUBMERCADO"]:
        return _hourly
    if set(_WEEK_COLUMNS) <= set(header):
        return _weekly
    if header[:1] == ["MES"]:
        return _monthly
    shown = [v for v in sheet.rows[0] if v is not None][:6]
    sheet.fail(0, None, f"not one of CCEE's PLD history layouts: row 1 is {shown}; expected {_LAYOUTS}")


# ---------------------------------------------------------------- hourly ---------------------------------------

def _day_columns(sheet: _Sheet) -> list[date]:
    """The days of columns C onwards (up to the last filled header cell), each once and in order."""
    header = sheet.rows[0]
    last = max(c for c, v in enumerate(header) if v is not None)
    if last < 2:
        sheet.fail(0, 2, "no day columns after Hora and Submercado", "header")
    days = [_day(sheet, 0, c, "day") for c in range(2, last + 1)]
    for c, (before, day) in enumerate(pairwise(days), start=3):
        if day <= before:
            sheet.fail(0, c, f"day {day} does not follow {before} (each day once, in order)", "day")
    return days


def _hour_rows(sheet: _Sheet, rows: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour, submarket and whether the row repeats an hour already listed (at most once: the DST repeat)."""
    hours = np.array([_whole(sheet, r, 0, 0, 23, "Hora") for r in rows], dtype=np.int64)
    areas = np.array([_submarket(sheet, r, 1, "Submercado") for r in rows], dtype=object)
    seen: dict[tuple[int, str], int] = {}
    repeat = np.zeros(len(rows), dtype=bool)
    for i, key in enumerate(zip(hours.tolist(), areas, strict=True)):
        count = seen.get(key, 0)
        if count == 2:
            sheet.fail(rows[i], 0, f"hour {key[0]} of {key[1]} listed a third time (only the DST repeat lists "
                                   "an hour twice)", "Hora")
        seen[key] = count + 1
        repeat[i] = count == 1
    for area in dict.fromkeys(areas):
        missing = sorted(set(range(24)) - {h for h, a in seen if a == area})
        if missing:
            sheet.fail(None, None, f"submarket {area} lacks hour(s) {missing}: a day has 24 rows per submarket")
    return hours, areas, repeat


def _note_day(sheet: _Sheet, notes: list[tuple[int, str]], repeat_rows: list[int]) -> date | None:
    """The day a note says the repeated rows belong to; a note naming other rows is an error."""
    for r, note in notes:
        text = plain_name(note)
        named = _NOTE_ROWS.search(text)
        if named is None:
            continue
        rows = list(range(int(named[1]) - 1, int(named[2])))
        if rows != repeat_rows:
            sheet.fail(r, 0, f"the note names rows {named[1]} to {named[2]}, but the repeated hours are rows "
                             f"{repeat_rows[0] + 1} to {repeat_rows[-1] + 1}", "note")
        day = _NOTE_DAY.search(text)
        if day is None:
            return None
        try:
            return date(int(day[3]), int(day[2]), int(day[1]))
        except ValueError:
            sheet.fail(r, 0, f"the note names an impossible day {day[0]!r}", "note")
    return None


def _repeated_hour(sheet: _Sheet, rows: list[int], hours: np.ndarray, days: list[date], grid: np.ndarray,
                   notes: list[tuple[int, str]]) -> tuple[np.ndarray, pd.DatetimeIndex, np.ndarray]:
    """The repeat rows' filled cells: which of them, the second (standard-time) instant of their hour, and the
    day they belong to (per row). They must sit under one day, and that day's hour must have been doubled."""
    filled = ~np.isnan(grid)
    cols = np.flatnonzero(filled.any(axis=0))
    if not len(cols):
        return filled, pd.DatetimeIndex([], tz="UTC"), np.array([], dtype="datetime64[D]")
    if len(cols) > 1:
        i = int(np.flatnonzero(filled[:, cols[1]])[0])
        sheet.fail(rows[i], int(cols[1]) + 2, f"the repeated hour holds prices under {days[cols[0]]} and "
                   f"{days[cols[1]]}: an hour repeats once, at the end of daylight saving", "Hora")
    day = _note_day(sheet, notes, rows) or days[cols[0]]
    if day not in days:
        sheet.fail(rows[0], 0, f"the repeated hour belongs to {day}, a day the workbook has no column for", "Hora")
    local = pd.DatetimeIndex(np.datetime64(day, "ns") + hours[filled.any(axis=1)].astype("timedelta64[h]"))
    doubled = local.tz_localize(BRAZIL.timezone, ambiguous="NaT", nonexistent="NaT").isna()
    exists = local.tz_localize(BRAZIL.timezone, ambiguous=np.ones(len(local), dtype=bool), nonexistent="NaT")
    single = np.flatnonzero(~(doubled & exists.notna()))
    if len(single):
        r = rows[int(np.flatnonzero(filled.any(axis=1))[single[0]])]
        sheet.fail(r, 0, f"hour {local[single[0]]:%H:00} is listed twice, but on {day} it was not doubled by the "
                         f"end of daylight saving in {BRAZIL.timezone}", "Hora")
    second = local.tz_localize(BRAZIL.timezone, ambiguous=np.zeros(len(local), dtype=bool)).tz_convert("UTC")
    return filled, second, np.full(len(local), np.datetime64(day, "D"))


def _kinds(local_days: np.ndarray) -> np.ndarray:
    settled = local_days >= np.datetime64(HOURLY_SETTLEMENT_FROM, "D")
    return np.where(settled, HOURLY_SETTLEMENT, HOURLY_SHADOW).astype(object)


def _hourly(sheet: _Sheet) -> _Parsed:
    days = _day_columns(sheet)
    rows, notes = _blocks(sheet)
    _no_strays(sheet, rows, set(range(len(days) + 2)))
    hours, areas, repeat = _hour_rows(sheet, rows)
    cols = list(range(2, len(days) + 2))
    grid = _prices(sheet, rows, cols, lambda c: f"{days[c - 2]}")
    main, again = np.flatnonzero(~repeat), np.flatnonzero(repeat)
    main_grid = grid[main]
    day_values = np.array(days, dtype="datetime64[D]")
    local = (day_values.astype("datetime64[ns]")[None, :] + hours[main, None].astype("timedelta64[h]")).ravel()
    # A doubled hour in the main rows is the first one, in summer time (the repeat rows hold the second).
    zoned = pd.DatetimeIndex(local).tz_localize(BRAZIL.timezone, ambiguous=np.ones(len(local), dtype=bool),
                                                nonexistent="NaT")
    flat = main_grid.ravel()
    misplaced = np.flatnonzero(zoned.isna() & ~np.isnan(flat))
    if len(misplaced):
        i, j = divmod(int(misplaced[0]), len(days))
        sheet.fail(rows[main[i]], j + 2, f"a price at {hours[main[i]]:02d}:00 on {days[j]}, an hour that did not "
                                         f"exist in {BRAZIL.timezone} (clocks went forward)", str(days[j]))
    kept = np.flatnonzero(~np.isnan(flat))
    filled, second, second_days = _repeated_hour(sheet, [rows[i] for i in again], hours[again], days,
                                                 grid[again], notes)
    repeat_rows = np.flatnonzero(filled.any(axis=1))
    row_days = np.broadcast_to(day_values[None, :], main_grid.shape).ravel()
    return _Parsed(
        location=np.concatenate([np.repeat(areas[main], len(days))[kept], areas[again][repeat_rows]]),
        price_kind=np.concatenate([_kinds(row_days[kept]), _kinds(second_days)]),
        interval_start=zoned[kept].tz_convert("UTC").append(second),
        interval_minutes=np.full(len(kept) + len(second), 60, dtype=np.int64),
        price=np.concatenate([flat[kept], grid[again][filled]]),
        cells_read=main_grid.size + int(filled.sum()),
        cells_empty=int(np.isnan(flat).sum()),
    )


# ---------------------------------------------------------------- reading the file ------------------------------

def _sheets(raw: RawFile) -> list[_Sheet]:
    if raw.data.startswith(_OLE2_MAGIC):
        return _xls_sheets(raw)
    if is_workbook(raw):
        return _xlsx_sheets(raw)
    raise IngestError(raw.name, None, "not an Excel workbook (.xls or .xlsx)")


def _xls_sheets(raw: RawFile) -> list[_Sheet]:
    try:
        # xlrd writes its warnings to a log file (stdout by default): they are not ours to print.
        book = xlrd.open_workbook(file_contents=raw.data, logfile=io.StringIO())
        sheets = [(s.name, [list(zip(s.row_types(r), s.row_values(r), strict=True)) for r in range(s.nrows)])
                  for s in book.sheets()]
    except _XLS_ERRORS as exc:
        raise IngestError(raw.name, None, f"not a readable .xls workbook ({type(exc).__name__}: {exc})") from exc
    out = []
    for name, typed_rows in sheets:
        rows = [[_xls_value(raw.name, name, r, c, kind, value, book.datemode) for c, (kind, value) in enumerate(row)]
                for r, row in enumerate(typed_rows)]
        out.append(_Sheet(raw.name, name, _padded(rows)))
    return out


def _xls_value(source: str, sheet: str, r: int, c: int, kind: int, value: Any, datemode: int) -> Any:
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if kind == xlrd.XL_CELL_TEXT:
        return value.strip() or None
    if kind == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate_as_datetime(value, datemode)
        except (ValueError, OverflowError) as exc:
            raise IngestError(source, r + 1, f"sheet {sheet!r}, cell {get_column_letter(c + 1)}{r + 1}: "
                                             f"an impossible date serial {value!r} ({exc})") from exc
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    if kind == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value, f"#ERROR {value}")
    return value


def _xlsx_sheets(raw: RawFile) -> list[_Sheet]:
    try:
        with warnings.catch_warnings():
            # openpyxl warns of styles it does not read and of a date it cannot convert (it then gives the
            # cell as "#VALUE!", which the layout refuses by cell).
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(raw.data), read_only=True, data_only=True)
            try:
                sheets = []
                for ws in book.worksheets:
                    ws.reset_dimensions()  # a declared size smaller than the data would cut cells off
                    rows = [[v.strip() or None if isinstance(v, str) else v for v in row]
                            for row in ws.iter_rows(values_only=True)]
                    sheets.append(_Sheet(raw.name, ws.title, _padded(rows)))
            finally:
                book.close()
    except _XLSX_ERRORS as exc:
        raise IngestError(raw.name, None, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    return sheets


def _padded(rows: list[list[Any]]) -> list[list[Any]]:
    width = max((len(row) for row in rows), default=0)
    return [row + [None] * (width - len(row)) if len(row) < width else row for row in rows]
