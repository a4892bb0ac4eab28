"""Brazil: ONS open-data load, stored energy and plant generation; CCEE's hourly and weekly PLD by submarket.

Reports (all `;`-separated text, one header line, values unquoted):

- ONS ``CARGA_ENERGIA_<YYYY>.csv``: ``id_subsistema;nom_subsistema;din_instante;val_cargaenergiamwmed`` --
  daily average load (MWmed) per subsystem -> ``demand`` (1440-minute intervals).
- ONS ``EAR_DIARIO_SUBSISTEMA_<YYYY>.csv``: ``id_subsistema;nom_subsistema;ear_data;ear_max_subsistema;
  ear_verif_subsistema_mwmes;ear_verif_subsistema_percentual`` -> ``reservoirs`` (1440-minute intervals).
- CCEE ``pld_horario_<YYYY>.csv``: ``MES_REFERENCIA;SUBMERCADO;PERIODO_COMERCIALIZACAO;DIA;HORA;PLD_HORA`` --
  hourly settlement price per submarket, days in descending order -> ``prices`` (price_kind ``PLD``).
- CCEE ``pld_historico_semanal_2001_2020.csv`` (resource of the ``pld_horario`` CKAN dataset): the same six
  columns as ``pld_horario``, but each row is the price of one load level (patamar) of one operating week:
  three rows per submarket and week, ``DIA`` the day the week starts, ``HORA`` 0, ``PERIODO_COMERCIALIZACAO``
  the hour of the month the week starts -> ``prices`` (price_kind ``PLD_weekly_heavy|medium|light``).
- ONS ``GERACAO_USINA-2_<YYYY>[_<MM>].csv`` (dataset ``geracao_usina_2_ho``; yearly files up to 2021, monthly
  since 2022): ``din_instante;id_subsistema;nom_subsistema;id_estado;nom_estado;cod_modalidadeoperacao;
  nom_tipousina;nom_tipocombustivel;nom_usina;id_ons;ceg;val_geracao`` -- hourly generation (MWmed) per
  plant, ``din_instante`` the hour's start in Brasilia time -> ``generation`` (unit = ``nom_usina``, fuel =
  ``nom_tipocombustivel``, or ``nom_tipousina`` where that is blank).

- ONS programmed (forecast) load, ``carga_programada``: no open-data file, only the JSON API
  "API Carga Global" (``https://apicarga.ons.org.br/prd/cargaprogramada?dat_inicio=&dat_fim=&cod_areacarga=``,
  data since 2021-03-05, at most 3 months per call, one load area per call). The answer is an array of records
  ``{"cod_areacarga": "SECO", "dat_referencia": "2026-08-01", "din_referenciautc": "2026-08-01T03:30:00.000Z",
  "val_cargaglobalprogramada": 40992.41}``: the half-hourly average load (MWmed) programmed for the half hour
  that *ends* at ``din_referenciautc`` (UTC), ``dat_referencia`` the Brasilia day that half hour belongs to ->
  ``demand`` (30-minute intervals). ``demand`` has no column telling a forecast from a measurement, so the
  location carries the suffix ``:forecast`` (``SE/CO:forecast``); a subsystem code (``SECO``, ``S``, ``NE``,
  ``N``) is written like the other reports, a geoelectric or loss area (``SP``, ``PESE`` ...) keeps its code,
  since the API does not say which subsystem an area belongs to. A null value is skipped and counted as
  rejected.

Subsystems (ONS) and submarkets (CCEE) are the same four areas; both are written as ``SE/CO``, ``S``, ``NE``,
``N``. Numbers may use a decimal comma. A row whose value(s) are blank (ONS left whole days empty in 2013)
is skipped and counted as rejected; any other non-number is an error.

Daily values start at local midnight in America/Sao_Paulo. Brazil kept daylight saving time until 2019 and
moved its clocks at 00:00, so on a DST start day local midnight does not exist and the day starts at 01:00
(the first instant of that day). Such days last 23 hours (25 at the end of DST) -- ONS averages over the
hours that day had -- but are stored as 1440-minute intervals like every other day.

Weekly PLD: CCEE's file names no load level. A column ``PATAMAR`` (PESADA/MEDIA/LEVE) is used when present;
otherwise the three prices of a week are ranked, the highest taken as heavy and the lowest as light, since the
PLD of a load level follows that level's marginal operating cost, which does not fall as load rises. A week
starts at local midnight and lasts 7 days, except when CCEE starts the next one earlier (a month's first
week may start on the 1st whatever the weekday): then it lasts until that start (nominal days, like above).

Hourly reports before 2019 have DST. At its start the clocks went from 00:00 to 01:00, yet ONS still lists
a row at 00:00 of that day, its values zero (``0E-8``) or blank: that placeholder stands for no hour, so it
is left out and counted as rejected. A row at that hour with a non-zero value is an error, since which hour
it means cannot be told. One rule (:func:`_skipped_hour_placeholders`) serves every hourly CSV report. ONS
lists the doubled hour at the end of DST once, and it is taken as the first (summer-time) of the two.

CCEE's official PLD history workbooks (weekly and monthly average ``.xls``, hourly ``.xlsx``) are told from
their bytes and read by :mod:`ingest.ccee_workbooks`.
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from engine.files import IngestError, RawFile, decode_text
from engine.markets import market
from ingest.base import (PLAUSIBLE_YEARS, Connector, ParseResult, check_range, date_spans, local_files,
                         table_frame)
from ingest.brazil_areas import AREA_CODES, area_code, plain_name
from ingest.ccee_workbooks import is_workbook, parse_workbook
from ingest.csv_lines import CsvLines, Rows, header_names, require
from ingest.http_fetch import http_get, open_session

log = logging.getLogger(__name__)

BRAZIL = market("BRAZIL")

ONS_BASE_URL = "https://ons-aws-prod-opendata.s3.amazonaws.com/dataset"
CCEE_CKAN_URL = "https://dadosabertos.ccee.org.br/api/3/action/package_show"
ONS_CARGA_PROGRAMADA_URL = "https://apicarga.ons.org.br/prd/cargaprogramada"
CARGA_PROGRAMADA_FIRST_DAY = date(2021, 3, 5)
# The API refuses more than 3 months per call; 90 days (inclusive) never exceeds three calendar months.
CARGA_PROGRAMADA_MAX_DAYS = 90
FORECAST_SUFFIX = ":forecast"
# The API's cod_areacarga domain (the enum of its OpenAPI spec): subsystems, geoelectric areas, losses.
ONS_LOAD_SUBSYSTEMS = ("SECO", "S", "NE", "N")
ONS_LOAD_AREAS = (*ONS_LOAD_SUBSYSTEMS, "RJ", "SP", "MG", "ES", "MT", "MS", "DF", "GO", "AC", "RO", "PR", "SC",
                  "RS", "BASE", "BAOE", "ALPE", "PBRN", "CE", "PI", "TON", "PA", "MA", "AP", "AM", "RR",
                  "PESE", "PES", "PENE", "PEN")

@dataclass(frozen=True)
class _Report:
    kind: str
    name_pattern: re.Pattern[str]
    required: tuple[str, ...]


_REPORTS = (
    _Report("carga_energia", re.compile(r"CARGA_ENERGIA", re.I),
            ("id_subsistema", "nom_subsistema", "din_instante", "val_cargaenergiamwmed")),
    _Report("ear_subsistema", re.compile(r"EAR_DIARIO_SUBSISTEMA", re.I),
            ("id_subsistema", "nom_subsistema", "ear_data", "ear_max_subsistema", "ear_verif_subsistema_mwmes",
             "ear_verif_subsistema_percentual")),
    _Report("pld_horario", re.compile(r"PLD_HORARIO", re.I),
            ("mes_referencia", "submercado", "dia", "hora", "pld_hora")),
    _Report("pld_semanal", re.compile(r"PLD_(?:HISTORICO_)?SEMANAL", re.I),
            ("mes_referencia", "submercado", "dia", "pld_hora")),
    _Report("geracao_usina", re.compile(r"GERACAO_USINA", re.I),
            ("din_instante", "id_subsistema", "nom_subsistema", "nom_tipousina", "nom_tipocombustivel",
             "nom_usina", "val_geracao")),
)
SUPPORTED = ", ".join(f"{r.kind} ({r.name_pattern.pattern})" for r in _REPORTS)


def _area_codes(rows: Rows, column: str) -> np.ndarray:
    values = rows.text(column)
    codes = values.map({u: area_code(u) for u in values.unique()})
    rows.fail(codes.isna().to_numpy(), "unknown subsystem/submarket (expected SE/CO, S, NE or N)", column)
    return codes.to_numpy(dtype=object)


def _subsystems(rows: Rows) -> np.ndarray:
    """ONS gives both an id (SE) and a name (Sudeste/Centro-Oeste); they must name the same area."""
    ids = _area_codes(rows, "id_subsistema")
    rows.fail(ids != _area_codes(rows, "nom_subsistema"), "subsystem name does not match id_subsistema",
              "nom_subsistema")
    return ids


def _localize(rows: Rows, local: pd.Series, nonexistent: str, problem: str, first_if_doubled: bool = False
              ) -> pd.Series:
    """UTC instants of naive local times (one conversion per distinct value); DST gaps/overlaps per rule."""
    codes, uniques = pd.factorize(local)
    ambiguous: Any = np.ones(len(uniques), dtype=bool) if first_if_doubled else "NaT"
    zoned = pd.DatetimeIndex(uniques).tz_localize(BRAZIL.timezone, ambiguous=ambiguous, nonexistent=nonexistent)
    utc = pd.Series(zoned.tz_convert("UTC")).take(codes).reset_index(drop=True).astype("datetime64[ns, UTC]")
    rows.fail(utc.isna().to_numpy(), problem)
    return utc


#: Why rows at an hour that did not exist are counted as rejected (the load summary prints it).
SKIPPED_HOUR_PLACEHOLDERS = "rows at 00:00 of a DST start day, an hour that did not exist (placeholders, zero or blank)"


def _skipped_hour_placeholders(rows: Rows, result: ParseResult, local: pd.Series, values: Sequence[np.ndarray],
                               column: str) -> np.ndarray:
    """Which rows stand at an hour the start of DST skipped (local 00:00, when clocks went to 01:00). ONS's
    hourly files list a placeholder there, every value zero or blank: such rows are counted as rejected, and
    the caller leaves them out. A non-zero value at that hour is an error: the hour it belongs to cannot be
    told. Every hourly CSV report goes through this one rule."""
    codes, uniques = pd.factorize(local)
    # ambiguous=True: a doubled hour exists (the callers decide what it means); only the skipped one is NaT
    zoned = pd.DatetimeIndex(uniques).tz_localize(BRAZIL.timezone, ambiguous=np.ones(len(uniques), dtype=bool),
                                                  nonexistent="NaT")
    skipped = zoned.isna()[codes]
    if not skipped.any():
        return skipped
    placeholder = np.logical_and.reduce([np.isnan(v) | (v == 0) for v in values])
    rows.fail(skipped & ~placeholder, f"hour does not exist in {BRAZIL.timezone} (DST start: clocks went from "
              f"00:00 to 01:00), and the row has a non-zero value, so the hour it belongs to cannot be told",
              column)
    result.reject(int(skipped.sum()), SKIPPED_HOUR_PLACEHOLDERS)
    return skipped


def _table(name: str, source: str, columns: dict[str, Any]) -> pd.DataFrame:
    """The store's columns of table ``name`` for Brazil (see :func:`ingest.base.table_frame`)."""
    return table_frame(name, BRAZIL.market, source, columns)


def _daily(rows: Rows, date_column: str, kept: np.ndarray) -> tuple[np.ndarray, pd.Series]:
    """Area codes and the UTC start of the local day of the rows at ``kept`` (every row is checked)."""
    shaped = rows.matches(date_column, r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?")
    rows.fail(~shaped, "not a date YYYY-MM-DD[ hh:mm:ss]", date_column)
    instants = pd.to_datetime(rows.text(date_column), format="ISO8601", errors="coerce")
    rows.fail(instants.isna().to_numpy(), "not a date", date_column)
    areas = _subsystems(rows)[kept]
    valued = rows.take(kept)
    instants = instants.iloc[kept].reset_index(drop=True)
    days = instants.dt.normalize()
    # The 2013 load file stamps days "2013-01-01 00:00:00"; a value at any other time is not a daily value.
    valued.fail((instants != days).to_numpy(), "a daily value stamped at a time other than midnight", date_column)
    valued.check_unique({"area": areas, "day": days.to_numpy()}, "subsystem and day", date_column)
    # Brazil moved its clocks at 00:00, so on a DST start day the day begins at 01:00: shift forward.
    starts = _localize(valued, days, "shift_forward", f"local midnight is ambiguous in {BRAZIL.timezone}")
    return areas, starts


def _daily_table(rows: Rows, result: ParseResult, table: str, date_column: str, values: dict[str, np.ndarray],
                 blank: str) -> None:
    """One row of ``table`` per area and day with ``values`` (store column -> the file's numbers); a row
    whose values are all blank is no observation: it is counted as rejected because ``blank``."""
    kept = np.flatnonzero(~np.logical_and.reduce([np.isnan(v) for v in values.values()]))
    result.reject(len(rows) - len(kept), blank)
    areas, starts = _daily(rows, date_column, kept)
    result.tables[table] = _table(table, rows.source, {
        "location": areas, "interval_start": starts, "interval_minutes": 1440,
        **{column: v[kept] for column, v in values.items()},
    })


def _parse_carga(rows: Rows, result: ParseResult) -> None:
    # The 2013 file has whole days without values and a stray empty row: nothing to load, not an error.
    _daily_table(rows, result, "demand", "din_instante",
                 {"demand_mw": rows.numbers("val_cargaenergiamwmed", decimal_comma=True)},
                 "days without a load value (left blank by ONS)")


def _parse_ear(rows: Rows, result: ParseResult) -> None:
    _daily_table(rows, result, "reservoirs", "ear_data", {
        "stored_energy_mwmonth": rows.numbers("ear_verif_subsistema_mwmes", decimal_comma=True),
        "stored_energy_pct": rows.numbers("ear_verif_subsistema_percentual", decimal_comma=True),
        "max_energy_mwmonth": rows.numbers("ear_max_subsistema", decimal_comma=True),
    }, "days without a stored-energy value (left blank by ONS)")


def _parse_pld(rows: Rows, result: ParseResult) -> None:
    price = rows.numbers("pld_hora", decimal_comma=True)
    month = rows.whole_numbers("mes_referencia", 190001, 299912)
    day = rows.whole_numbers("dia", 1, 31)
    hour = rows.whole_numbers("hora", 0, 23)
    dates = pd.to_datetime(pd.DataFrame({"year": month // 100, "month": month % 100, "day": day}),
                           errors="coerce")
    rows.fail(dates.isna().to_numpy(), "not a day of MES_REFERENCIA", "dia")
    if "periodo_comercializacao" in rows.frame:
        # CCEE numbers the hours of the month from 1; a mismatch means the day or hour was misread.
        period = rows.whole_numbers("periodo_comercializacao", 1, 745)
        rows.fail(period != (day - 1) * 24 + hour + 1, "does not match DIA and HORA", "periodo_comercializacao")
    local = dates + pd.to_timedelta(hour, unit="h")
    skipped = _skipped_hour_placeholders(rows, result, local, [price], "hora")
    blank = np.isnan(price) & ~skipped
    result.reject(int(blank.sum()), "hours without a price (left blank by CCEE)")
    kept = np.flatnonzero(~skipped & ~blank)
    areas = _area_codes(rows, "submercado")[kept]
    priced = rows.take(kept)
    local = local.iloc[kept].reset_index(drop=True)
    priced.check_unique({"area": areas, "hour": local.to_numpy()}, "submarket and hour", "hora")
    # Hourly PLD began in 2021, after Brazil dropped DST: a doubled hour means a misdated file.
    starts = _localize(priced, local, "NaT", f"hour is ambiguous in {BRAZIL.timezone} (doubled at the end of DST)")
    order = np.lexsort((starts.to_numpy(dtype="datetime64[ns]"), areas))  # the file runs days backwards
    result.tables["prices"] = _table("prices", rows.source, {
        "location": areas[order],
        "price_kind": "PLD",
        "interval_start": starts.iloc[order].reset_index(drop=True),
        "interval_minutes": 60,
        "price": price[kept][order],
    })


_LEVELS = ("heavy", "medium", "light")
_LEVEL_NAMES = {"PESADA": "heavy", "PESADO": "heavy", "MEDIA": "medium", "MEDIO": "medium", "LEVE": "light",
                "HEAVY": "heavy", "MEDIUM": "medium", "LIGHT": "light"}
_WEEK_DAYS = 7


def _levels(rows: Rows, areas: np.ndarray, weeks: pd.Series, price: np.ndarray) -> np.ndarray:
    """The load level of each row: from a PATAMAR column if the file has one, else by rank within the week."""
    column = next((c for c in ("patamar", "patamar_carga", "nom_patamar") if c in rows.frame), None)
    if column is not None:
        values = rows.text(column)
        levels = values.map({u: _LEVEL_NAMES.get(plain_name(u)) for u in values.unique()})
        rows.fail(levels.isna().to_numpy(), "unknown load level (expected PESADA, MEDIA or LEVE)", column)
        return levels.to_numpy(dtype=object)
    keys = pd.DataFrame({"area": areas, "week": weeks.to_numpy()})
    size = keys.groupby(["area", "week"], sort=False)["area"].transform("size").to_numpy()
    rows.fail(size != len(_LEVELS), f"a week needs one price per load level ({len(_LEVELS)} rows) per submarket",
              "dia")
    order = np.lexsort((-price, weeks.to_numpy(dtype="datetime64[ns]"), areas))
    levels = np.empty(len(price), dtype=object)
    levels[order] = np.tile(np.array(_LEVELS, dtype=object), len(price) // len(_LEVELS))
    return levels


def _week_minutes(areas: np.ndarray, weeks: pd.Series) -> np.ndarray:
    """Nominal length of each week: 7 days, or fewer when the submarket's next week starts earlier."""
    frame = pd.DataFrame({"area": areas, "week": weeks.to_numpy(dtype="datetime64[ns]")})
    distinct = frame.drop_duplicates().sort_values(["area", "week"])
    following = distinct.groupby("area")["week"].shift(-1)
    days = ((following - distinct["week"]).dt.days.fillna(_WEEK_DAYS)).clip(upper=_WEEK_DAYS).astype(np.int64)
    distinct = distinct.assign(minutes=days * 1440)
    return frame.merge(distinct, on=["area", "week"], how="left")["minutes"].to_numpy(dtype=np.int64)


def _parse_pld_semanal(rows: Rows, result: ParseResult) -> None:
    price = rows.numbers("pld_hora", decimal_comma=True)
    month = rows.whole_numbers("mes_referencia", 190001, 299912)
    day = rows.whole_numbers("dia", 1, 31)
    if "hora" in rows.frame:
        rows.fail(rows.whole_numbers("hora", 0, 23) != 0, "a week starts at hour 0", "hora")
    weeks = pd.to_datetime(pd.DataFrame({"year": month // 100, "month": month % 100, "day": day}),
                           errors="coerce")
    rows.fail(weeks.isna().to_numpy(), "not a day of MES_REFERENCIA", "dia")
    if "periodo_comercializacao" in rows.frame:
        # CCEE gives the hour of the month the week starts in; a mismatch means the day was misread.
        period = rows.whole_numbers("periodo_comercializacao", 1, 745)
        rows.fail(period != (day - 1) * 24 + 1, "does not match DIA (the week's first hour)",
                  "periodo_comercializacao")
    kept = np.flatnonzero(~np.isnan(price))
    result.reject(len(rows) - len(kept), "load levels of a week without a price (left blank by CCEE)")
    areas = _area_codes(rows, "submercado")[kept]
    priced = rows.take(kept)
    weeks = weeks.iloc[kept].reset_index(drop=True)
    price = price[kept]
    levels = _levels(priced, areas, weeks, price)
    priced.check_unique({"area": areas, "week": weeks.to_numpy(), "level": levels},
                        "submarket, week and load level", "dia")
    starts = _localize(priced, weeks, "shift_forward", f"local midnight is ambiguous in {BRAZIL.timezone}")
    minutes = _week_minutes(areas, weeks)
    rank = pd.Series(levels).map({lv: i for i, lv in enumerate(_LEVELS)}).to_numpy()
    order = np.lexsort((rank, starts.to_numpy(dtype="datetime64[ns]"), areas))
    result.tables["prices"] = _table("prices", rows.source, {
        "location": areas[order],
        "price_kind": np.array([f"PLD_weekly_{lv}" for lv in levels], dtype=object)[order],
        "interval_start": starts.iloc[order].reset_index(drop=True),
        "interval_minutes": minutes[order],
        "price": price[order],
    })


def _parse_geracao(rows: Rows, result: ParseResult) -> None:
    output = rows.numbers("val_geracao", decimal_comma=True)
    shaped = rows.matches("din_instante", r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?")
    rows.fail(~shaped, "not a date and time YYYY-MM-DD hh:mm[:ss]", "din_instante")
    instants = pd.to_datetime(rows.text("din_instante"), format="ISO8601", errors="coerce")
    rows.fail(instants.isna().to_numpy(), "not a date and time", "din_instante")
    rows.fail((instants != instants.dt.floor("h")).to_numpy(), "an hourly value not stamped on the hour",
              "din_instante")
    _subsystems(rows)
    units = rows.text("nom_usina")
    rows.fail((units == "").to_numpy(), "blank plant name", "nom_usina")
    fuels = rows.text("nom_tipocombustivel")
    blank_fuel = (fuels == "").to_numpy()
    fuels = fuels.where(~blank_fuel, rows.text("nom_tipousina"))
    rows.fail((fuels == "").to_numpy(), "blank fuel and plant type", "nom_tipousina")
    skipped = _skipped_hour_placeholders(rows, result, instants, [output], "din_instante")
    # ONS leaves an hour blank where the source did not report it: nothing to load, not an error.
    blank = np.isnan(output) & ~skipped
    result.reject(int(blank.sum()), "plant hours without a value (not reported to ONS)")
    kept = np.flatnonzero(~skipped & ~blank)
    valued = rows.take(kept)
    units_kept = units.to_numpy(dtype=object)[kept]
    fuels_kept = fuels.to_numpy(dtype=object)[kept]
    local = instants.iloc[kept].reset_index(drop=True)
    valued.check_unique({"unit": units_kept, "fuel": fuels_kept, "hour": local.to_numpy()},
                        "plant, fuel and hour", "din_instante")
    starts = _localize(valued, local, "NaT", f"hour does not exist in {BRAZIL.timezone} (DST start)",
                       first_if_doubled=True)
    order = np.lexsort((starts.to_numpy(dtype="datetime64[ns]"), units_kept, fuels_kept))
    result.tables["generation"] = _table("generation", rows.source, {
        "unit": units_kept[order],
        "fuel": fuels_kept[order],
        "interval_start": starts.iloc[order].reset_index(drop=True),
        "interval_minutes": 60,
        "output_mw": output[kept][order],
    })


_PARSERS = {"carga_energia": _parse_carga, "ear_subsistema": _parse_ear, "pld_horario": _parse_pld,
            "pld_semanal": _parse_pld_semanal, "geracao_usina": _parse_geracao}
# Groups: first year covered, last year covered (if a range), month (monthly files).
_FILE_PATTERNS = {
    "carga_energia": re.compile(r"^CARGA_ENERGIA_(\d{4})\b.*\.csv$", re.I),
    "ear_subsistema": re.compile(r"^EAR_DIARIO_SUBSISTEMA_(\d{4})\b.*\.csv$", re.I),
    "pld_horario": re.compile(r"^pld_horario_(\d{4})\b.*\.csv$", re.I),
    "pld_semanal": re.compile(r"^pld_(?:historico_)?semanal_(\d{4})_(?P<last>\d{4})\b.*\.csv$", re.I),
    "geracao_usina": re.compile(r"^GERACAO_USINA-2_(\d{4})(?:_(?P<month>\d{2}))?\b.*\.csv$", re.I),
}
# CCEE published the PLD weekly by load level until 2020; hourly since 2021.
PLD_WEEKLY_YEARS = range(2001, 2021)
# CCEE's weekly PLD starts with the operating week of Saturday 2001-06-30 (MES_REFERENCIA 200106, hence
# "from June 2001"): the first week of its official weekly history workbook, titled "30 de junho de 2001 a ...".
PLD_WEEKLY_FIRST_WEEK = date(2001, 6, 30)
# ONS publishes plant generation in yearly files up to this year, in monthly files after it.
GERACAO_LAST_YEARLY = 2021



def _detect(raw: RawFile, header: list[str]) -> _Report:
    base = raw.name.rsplit("/", 1)[-1]
    for report in _REPORTS:
        if report.name_pattern.search(base):
            return report
    for report in _REPORTS:
        if all(c in header for c in report.required):
            return report
    raise IngestError(raw.name, None, f"not a supported Brazil report; supported: {SUPPORTED}")


class BrazilConnector(Connector):
    """ONS daily load, stored energy, hourly plant generation and programmed load; CCEE hourly and weekly PLD
    (CSV) and CCEE's official PLD history workbooks (:mod:`ingest.ccee_workbooks`)."""

    label = "Brazil ONS/CCEE"
    market = BRAZIL.market
    datasets = (*_PARSERS, "carga_programada")
    earliest = date(2000, 1, 1)  # ONS open data series start in 2000
    earliest_by_dataset = MappingProxyType({"pld_horario": date(2021, 1, 1), "pld_semanal": PLD_WEEKLY_FIRST_WEEK,
                                            "carga_programada": CARGA_PROGRAMADA_FIRST_DAY})

    def parse(self, raw: RawFile) -> ParseResult:
        """Rows of one ONS/CCEE file by store table, the report told from the content: an Excel workbook
        (CCEE's PLD history), a JSON answer of ONS's load API, or a ``;``-separated text report."""
        if is_workbook(raw):
            return parse_workbook(raw)
        if _is_json(raw):
            return _parse_carga_programada(raw)
        # ONS and CCEE publish UTF-8; older CCEE exports were Windows-1252 (area names are ASCII either way).
        lines = CsvLines(raw, sep=";", encodings=("utf-8-sig", "cp1252"))
        header = header_names(lines, 0)
        report = _detect(raw, header)
        require(lines, header, report.required, f"{report.kind} report")
        data = np.flatnonzero(~lines.blank[1:]) + 1
        if not len(data):
            raise IngestError(raw.name, None, "no data rows")
        rows = lines.rows(data, header)
        result = ParseResult(source=raw.name, rows_read=len(rows))
        _PARSERS[report.kind](rows, result)
        log.debug("%s: %s rows read, %s rejected", raw.name, result.rows_read, result.rows_rejected)
        return result

    def fetch_spans(self, start: date, end: date, kind: str | None = None) -> list[tuple[date, date]]:
        """How a backfill cuts ``start``..``end``: one period per file ONS/CCEE publish, so none is fetched
        twice (yearly files by year, recent plant generation by month, the 2001-2020 weekly PLD at once, the
        programmed-load API by month)."""
        kind = self.dataset(kind)
        if kind == "pld_semanal":
            return [(start, end)]
        if kind == "carga_programada":
            return date_spans(start, end, "month")
        years = date_spans(start, end, "year")
        if kind == "geracao_usina":
            return [part for a, b in years
                    for part in ([(a, b)] if a.year <= GERACAO_LAST_YEARLY else date_spans(a, b, "month"))]
        return years

    def fetch(self, start: date, end: date, *, source: str | Path | None = None, kind: str | None = None,
              session: Any = None, areas: Sequence[str] | None = None) -> list[RawFile]:
        """The files covering ``start``..``end`` (yearly; monthly for recent ONS generation; one file for the
        weekly PLD; for ``carga_programada`` one API answer per load area -- ``areas``, by default the four
        subsystems -- and per stretch of at most 90 days): from a local file/folder, or from ONS / CCEE."""
        kind = self.dataset(kind)
        check_range(start, end)
        years = range(start.year, end.year + 1)
        if kind == "carga_programada":
            codes = [_api_area(a) for a in (areas or ONS_LOAD_SUBSYSTEMS)]
            if source is not None:
                return _local_carga_programada(Path(source), start, end, codes)
            return _fetch_carga_programada(open_session(session), start, end, codes)
        if source is not None:
            return _local_files(Path(source), kind, start, end)
        session = open_session(session)
        if kind == "pld_horario":
            return _fetch_pld(session, years)
        if kind == "pld_semanal":
            return _fetch_pld_semanal(session, years)
        if kind == "geracao_usina":
            return [_fetch_ons(session, "geracao_usina_2_ho", name) for name in _geracao_names(start, end)]
        folder, stem = {"carga_energia": ("carga_energia_di", "CARGA_ENERGIA"),
                        "ear_subsistema": ("ear_subsistema_di", "EAR_DIARIO_SUBSISTEMA")}[kind]
        return [_fetch_ons(session, folder, f"{stem}_{year}.csv") for year in years]


def _fetch_ons(session: Any, folder: str, name: str) -> RawFile:
    url = f"{ONS_BASE_URL}/{folder}/{name}"
    data = http_get(session, url).content
    log.info("fetched %s", url)
    return RawFile(name=name, data=data)


def _geracao_names(start: date, end: date) -> list[str]:
    """ONS file names covering ``start``..``end``: one per year up to 2021, one per month after."""
    names = []
    for year in range(start.year, end.year + 1):
        if year <= GERACAO_LAST_YEARLY:
            names.append(f"GERACAO_USINA-2_{year}.csv")
            continue
        first = start.month if year == start.year else 1
        last = end.month if year == end.year else 12
        names.extend(f"GERACAO_USINA-2_{year}_{month:02d}.csv" for month in range(first, last + 1))
    return names


def _local_files(path: Path, kind: str, start: date, end: date) -> list[RawFile]:
    pattern = _FILE_PATTERNS[kind]

    def inside(name: str) -> bool:
        m = pattern.match(name)
        if not m:
            return False
        first = int(m.group(1))
        found = m.groupdict()
        last = int(found["last"]) if found.get("last") else first
        month = found.get("month")
        if month:  # a monthly file: within the range by (year, month)
            return (start.year, start.month) <= (first, int(month)) <= (end.year, end.month)
        return first <= end.year and last >= start.year

    return local_files(path, inside)


def _fetch_pld(session: Any, years: range) -> list[RawFile]:
    """CCEE publishes one CSV per year as resources ``pld_horario_<YYYY>`` of its CKAN dataset."""
    listing = http_get(session, CCEE_CKAN_URL, params={"id": "pld_horario"})
    try:
        resources = {str(r.get("name", "")).strip().lower(): r.get("url")
                     for r in listing.json()["result"]["resources"]}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IngestError(CCEE_CKAN_URL, None, f"unexpected CKAN answer: {exc}") from exc
    files = []
    for year in years:
        url = resources.get(f"pld_horario_{year}")
        if not url:
            raise IngestError(CCEE_CKAN_URL, None, f"CCEE lists no resource pld_horario_{year}")
        files.append(RawFile(name=f"pld_horario_{year}.csv", data=http_get(session, url).content))
        log.info("fetched %s", url)
    return files


def _fetch_pld_semanal(session: Any, years: range) -> list[RawFile]:
    """CCEE keeps the weekly PLD (2001-2020) as one resource of its ``pld_horario`` CKAN dataset."""
    if not set(years) & set(PLD_WEEKLY_YEARS):
        raise IngestError(CCEE_CKAN_URL, None, f"CCEE published the weekly PLD by load level for "
                          f"{PLD_WEEKLY_YEARS[0]}-{PLD_WEEKLY_YEARS[-1]} only (hourly PLD since 2021)")
    listing = http_get(session, CCEE_CKAN_URL, params={"id": "pld_horario"})
    try:
        resources = [(re.sub(r"[^a-z0-9]+", "_", str(r.get("name", "")).lower()), r.get("url"))
                     for r in listing.json()["result"]["resources"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IngestError(CCEE_CKAN_URL, None, f"unexpected CKAN answer: {exc}") from exc
    urls = [url for name, url in resources if "semanal" in name and url]
    if len(urls) != 1:
        raise IngestError(CCEE_CKAN_URL, None,
                          f"expected one weekly PLD resource in pld_horario, found {len(urls)}")
    name = f"pld_historico_semanal_{PLD_WEEKLY_YEARS[0]}_{PLD_WEEKLY_YEARS[-1]}.csv"
    data = http_get(session, urls[0]).content
    log.info("fetched %s", urls[0])
    return [RawFile(name=name, data=data)]


# ---------------------------------------------------------------- programmed load (JSON API) ----------------

_JSON_BLANK = re.compile(r"[ \t\n\r]*")
_UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]00:?00)?")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_PROGRAMADA_FIELDS = ("cod_areacarga", "din_referenciautc", "val_cargaglobalprogramada")
_HALF_HOUR = pd.Timedelta(minutes=30)
_PROGRAMADA_NAME = re.compile(
    r"^carga_programada_(?P<area>[A-Z]+)_(?P<first>\d{4}-\d{2}-\d{2})_(?P<last>\d{4}-\d{2}-\d{2})\.json$",
    re.I)


def _is_json(raw: RawFile) -> bool:
    """The API answers JSON; every CSV report starts with a header name instead."""
    head = raw.data[:64].removeprefix(b"\xef\xbb\xbf").lstrip()
    return head[:1] in (b"[", b"{")


def _json_records(raw: RawFile) -> tuple[list[Any], list[int]]:
    """The elements of the top-level JSON array and the line each starts on, so a bad record can be named."""
    text = decode_text(raw)
    decoder = json.JSONDecoder()
    line, seen = 1, 0

    def line_at(pos: int) -> int:
        nonlocal line, seen  # positions only move forward: count the newlines once
        line += text.count("\n", seen, pos)
        seen = pos
        return line

    def decode(pos: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON ({exc.msg}, column {exc.colno})"
            raise IngestError(raw.name, exc.lineno, problem) from exc
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            raise IngestError(raw.name, line_at(pos), f"not valid JSON ({exc})") from exc

    pos = _JSON_BLANK.match(text).end()
    if text[pos:pos + 1] != "[":
        answer, _ = decode(pos)
        is_object = isinstance(answer, dict)
        what = f"an object with keys {sorted(answer)[:8]}" if is_object else type(answer).__name__
        raise IngestError(raw.name, line_at(pos), f"expected a JSON array of ONS records, got {what}")
    records: list[Any] = []
    lines: list[int] = []
    pos = _JSON_BLANK.match(text, pos + 1).end()
    if text[pos:pos + 1] == "]":
        pos += 1
    else:
        while True:
            record, end = decode(pos)
            records.append(record)
            lines.append(line_at(pos))
            pos = _JSON_BLANK.match(text, end).end()
            sep = text[pos:pos + 1]
            if sep == "]":
                pos += 1
                break
            if sep != ",":
                raise IngestError(raw.name, line_at(pos),
                                  "not valid JSON (expected ',' or ']' after a record)")
            pos = _JSON_BLANK.match(text, pos + 1).end()
    if _JSON_BLANK.match(text, pos).end() != len(text):
        raise IngestError(raw.name, line_at(pos), "not valid JSON (text after the array)")
    return records, lines


def _number(value: Any) -> float | None:
    """A JSON number (or a number written as text); None for null; raises ValueError for anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _parse_carga_programada(raw: RawFile) -> ParseResult:
    records, lines = _json_records(raw)
    if not records:
        # ONS answers [] (not an error) to an area code it does not know, e.g. SE for SECO.
        raise IngestError(raw.name, None, "no records in the API answer")
    n = len(records)
    codes = np.empty(n, dtype=object)
    stamps = np.empty(n, dtype=object)
    days = np.full(n, None, dtype=object)
    load = np.full(n, np.nan)

    def fail(k: int, problem: str) -> None:
        raise IngestError(raw.name, lines[k], f"record {k + 1}: {problem}")

    for k, record in enumerate(records):
        if not isinstance(record, dict):
            fail(k, f"a record must be a JSON object, not {type(record).__name__}")
        missing = [f for f in _PROGRAMADA_FIELDS if f not in record]
        if missing:
            fail(k, f"carga_programada record lacks field(s) {missing}; has {sorted(record)}")
        code, stamp = record["cod_areacarga"], record["din_referenciautc"]
        if not isinstance(code, str) or code.strip().upper() not in ONS_LOAD_AREAS:
            fail(k, f"unknown load area: cod_areacarga={code!r} "
                    f"(expected one of {', '.join(ONS_LOAD_AREAS)})")
        if not isinstance(stamp, str) or not _UTC_STAMP.fullmatch(stamp.strip()):
            fail(k, f"not a UTC date and time YYYY-MM-DDThh:mm:ss[.fff]Z: din_referenciautc={stamp!r}")
        day = record.get("dat_referencia")
        if day is not None and not (isinstance(day, str) and _DAY.fullmatch(day.strip())):
            fail(k, f"not a date YYYY-MM-DD: dat_referencia={day!r}")
        try:
            value = _number(record["val_cargaglobalprogramada"])
        except (TypeError, ValueError, OverflowError):
            fail(k, f"not a number: val_cargaglobalprogramada={record['val_cargaglobalprogramada']!r}")
        codes[k], stamps[k] = code.strip().upper(), stamp.strip()
        days[k] = day.strip() if day is not None else None
        if value is not None:
            load[k] = value

    def fail_first(mask: np.ndarray, problem: str) -> None:
        bad = np.flatnonzero(mask)
        if len(bad):
            k = int(bad[0])
            fail(k, f"{problem}: din_referenciautc={stamps[k]!r}")

    ends = pd.Series(pd.to_datetime(stamps, utc=True, format="ISO8601", errors="coerce"))
    fail_first(ends.isna().to_numpy(), "not a date and time")
    fail_first(((ends.dt.year < PLAUSIBLE_YEARS[0]) | (ends.dt.year > PLAUSIBLE_YEARS[1])).to_numpy(),
               f"not a date in {PLAUSIBLE_YEARS[0]}..{PLAUSIBLE_YEARS[1]}")
    fail_first((ends != ends.dt.floor("30min")).to_numpy(), "a half-hourly value not stamped on a half hour")
    starts = ends - _HALF_HOUR  # ONS stamps the end of the half hour
    local_days = starts.dt.tz_convert(BRAZIL.timezone).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    given = np.array([d is not None for d in days])
    fail_first(given & (days != local_days),
               "dat_referencia is not the Brasilia day of the half hour ending at")
    locations = np.array([f"{AREA_CODES.get(c, c)}{FORECAST_SUFFIX}" for c in codes], dtype=object)
    fail_first(pd.DataFrame({"area": locations, "start": starts}).duplicated().to_numpy(),
               "load area and half hour appear twice")
    kept = np.flatnonzero(~np.isnan(load))
    if not len(kept):
        raise IngestError(raw.name, None, "every val_cargaglobalprogramada is null")
    order = kept[np.lexsort((starts.iloc[kept].to_numpy(dtype="datetime64[ns]"), locations[kept]))]
    result = ParseResult(source=raw.name, rows_read=n)
    result.reject(n - len(kept), "half hours with a null programmed load")
    result.tables["demand"] = _table("demand", raw.name, {
        "location": locations[order],
        "interval_start": starts.iloc[order].reset_index(drop=True).astype("datetime64[ns, UTC]"),
        "interval_minutes": 30,
        "demand_mw": load[order],
    })
    log.debug("%s: %s records read, %s null", raw.name, n, n - len(kept))
    return result


def _api_area(area: str) -> str:
    """The API's code for a load area; a subsystem may be given as the other reports write it (SE/CO)."""
    code = area.strip().upper()
    if code in ONS_LOAD_AREAS:
        return code
    # The API answers [] for SE: the Southeast/Centre-West subsystem is SECO there.
    subsystem = area_code(area)
    if subsystem is not None:
        return {"SE/CO": "SECO"}.get(subsystem, subsystem)
    raise ValueError(f"unknown ONS load area {area!r}; expected one of {', '.join(ONS_LOAD_AREAS)}")


def _api_stretches(start: date, end: date) -> Iterator[tuple[date, date]]:
    """Consecutive, non-overlapping ``(first, last)`` days (inclusive) of at most the API's limit."""
    first = start
    while first <= end:
        last = min(first + timedelta(days=CARGA_PROGRAMADA_MAX_DAYS - 1), end)
        yield first, last
        first = last + timedelta(days=1)


def _carga_programada_start(start: date, end: date) -> date:
    if end < CARGA_PROGRAMADA_FIRST_DAY:
        raise IngestError(ONS_CARGA_PROGRAMADA_URL, None,
                          f"ONS publishes programmed load from {CARGA_PROGRAMADA_FIRST_DAY} only")
    return max(start, CARGA_PROGRAMADA_FIRST_DAY)


def _fetch_carga_programada(session: Any, start: date, end: date, codes: list[str]) -> list[RawFile]:
    start = _carga_programada_start(start, end)
    files = []
    for code in codes:
        for first, last in _api_stretches(start, end):
            params = {"dat_inicio": first.isoformat(), "dat_fim": last.isoformat(), "cod_areacarga": code}
            data = http_get(session, ONS_CARGA_PROGRAMADA_URL, params=params).content
            log.info("fetched %s %s", ONS_CARGA_PROGRAMADA_URL, params)
            files.append(RawFile(name=f"carga_programada_{code}_{first}_{last}.json", data=data))
    return files


def _local_carga_programada(path: Path, start: date, end: date, codes: list[str]) -> list[RawFile]:
    """Saved API answers (named as `_fetch_carga_programada` names them) of ``codes`` within the range."""

    def wanted(name: str) -> bool:
        m = _PROGRAMADA_NAME.match(name)
        return bool(m and m["area"].upper() in codes and date.fromisoformat(m["first"]) <= end
                    and date.fromisoformat(m["last"]) >= start)

    return local_files(path, wanted)
