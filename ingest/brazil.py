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

Hourly generation before 2019 has DST: an hour that did not exist is an error if it has a value; ONS lists
the doubled hour at the end of DST once, and it is taken as the first (summer-time) of the two.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

from ingest.base import IngestError, ParseResult, RawFile
from ingest.csv_lines import CsvLines, Rows, header_names, require
from ingest.http_fetch import http_get

log = logging.getLogger(__name__)

MARKET = "BRAZIL"
TIMEZONE = "America/Sao_Paulo"

ONS_BASE_URL = "https://ons-aws-prod-opendata.s3.amazonaws.com/dataset"
CCEE_CKAN_URL = "https://dadosabertos.ccee.org.br/api/3/action/package_show"

# One spelling per area, whatever the source calls it (ids, names with or without accents/case).
_AREA_CODES = {
    "SE": "SE/CO", "SE/CO": "SE/CO", "SECO": "SE/CO", "SUDESTE": "SE/CO", "SUDESTE/CENTRO-OESTE": "SE/CO",
    "SUDESTE/CENTRO OESTE": "SE/CO", "SUDESTE / CENTRO-OESTE": "SE/CO", "SUDESTE E CENTRO-OESTE": "SE/CO",
    "S": "S", "SUL": "S",
    "NE": "NE", "NORDESTE": "NE",
    "N": "N", "NORTE": "N",
}


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


def _plain(name: str) -> str:
    """Upper case without accents, single spaces: 'Sudeste/Centro-Oeste' -> 'SUDESTE/CENTRO-OESTE'."""
    stripped = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return " ".join(stripped.upper().split())


def _area_codes(rows: Rows, column: str) -> np.ndarray:
    values = rows.text(column)
    codes = values.map({u: _AREA_CODES.get(_plain(u)) for u in values.unique()})
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
    zoned = pd.DatetimeIndex(uniques).tz_localize(TIMEZONE, ambiguous=ambiguous, nonexistent=nonexistent)
    utc = pd.Series(zoned.tz_convert("UTC")).take(codes).reset_index(drop=True).astype("datetime64[ns, UTC]")
    rows.fail(utc.isna().to_numpy(), problem)
    return utc


def _frame(columns: dict[str, Any], source: str) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    frame["source"] = source
    return frame


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
    starts = _localize(valued, days, "shift_forward", f"local midnight is ambiguous in {TIMEZONE}")
    return areas, starts


def _parse_carga(rows: Rows, result: ParseResult) -> None:
    load = rows.numbers("val_cargaenergiamwmed", decimal_comma=True)
    # The 2013 file has whole days without values and a stray empty row: nothing to load, not an error.
    kept = np.flatnonzero(~np.isnan(load))
    result.rows_rejected = len(rows) - len(kept)
    areas, starts = _daily(rows, "din_instante", kept)
    result.tables["demand"] = _frame({
        "market": MARKET,
        "location": areas,
        "interval_start": starts,
        "interval_minutes": np.full(len(kept), 1440, dtype=np.int64),
        "demand_mw": load[kept],
    }, rows.source)


def _parse_ear(rows: Rows, result: ParseResult) -> None:
    max_energy = rows.numbers("ear_max_subsistema", decimal_comma=True)
    stored = rows.numbers("ear_verif_subsistema_mwmes", decimal_comma=True)
    pct = rows.numbers("ear_verif_subsistema_percentual", decimal_comma=True)
    kept = np.flatnonzero(~(np.isnan(max_energy) & np.isnan(stored) & np.isnan(pct)))
    result.rows_rejected = len(rows) - len(kept)
    areas, starts = _daily(rows, "ear_data", kept)
    result.tables["reservoirs"] = _frame({
        "market": MARKET,
        "location": areas,
        "interval_start": starts,
        "interval_minutes": np.full(len(kept), 1440, dtype=np.int64),
        "stored_energy_mwmonth": stored[kept],
        "stored_energy_pct": pct[kept],
        "max_energy_mwmonth": max_energy[kept],
    }, rows.source)


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
    kept = np.flatnonzero(~np.isnan(price))
    result.rows_rejected = len(rows) - len(kept)
    areas = _area_codes(rows, "submercado")[kept]
    priced = rows.take(kept)
    local = (dates + pd.to_timedelta(hour, unit="h")).iloc[kept].reset_index(drop=True)
    priced.check_unique({"area": areas, "hour": local.to_numpy()}, "submarket and hour", "hora")
    # Hourly PLD began in 2021, after Brazil dropped DST: a skipped or doubled hour means a misdated file.
    starts = _localize(priced, local, "NaT", f"hour does not exist or is ambiguous in {TIMEZONE} (DST change)")
    order = np.lexsort((starts.to_numpy(dtype="datetime64[ns]"), areas))  # the file runs days backwards
    result.tables["prices"] = _frame({
        "market": MARKET,
        "location": areas[order],
        "price_kind": "PLD",
        "interval_start": starts.iloc[order].reset_index(drop=True),
        "interval_minutes": np.full(len(kept), 60, dtype=np.int64),
        "price": price[kept][order],
    }, rows.source)


_LEVELS = ("heavy", "medium", "light")
_LEVEL_NAMES = {"PESADA": "heavy", "PESADO": "heavy", "MEDIA": "medium", "MEDIO": "medium", "LEVE": "light",
                "HEAVY": "heavy", "MEDIUM": "medium", "LIGHT": "light"}
_WEEK_DAYS = 7


def _levels(rows: Rows, areas: np.ndarray, weeks: pd.Series, price: np.ndarray) -> np.ndarray:
    """The load level of each row: from a PATAMAR column if the file has one, else by rank within the week."""
    column = next((c for c in ("patamar", "patamar_carga", "nom_patamar") if c in rows.frame), None)
    if column is not None:
        values = rows.text(column)
        levels = values.map({u: _LEVEL_NAMES.get(_plain(u)) for u in values.unique()})
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
    result.rows_rejected = len(rows) - len(kept)
    areas = _area_codes(rows, "submercado")[kept]
    priced = rows.take(kept)
    weeks = weeks.iloc[kept].reset_index(drop=True)
    price = price[kept]
    levels = _levels(priced, areas, weeks, price)
    priced.check_unique({"area": areas, "week": weeks.to_numpy(), "level": levels},
                        "submarket, week and load level", "dia")
    starts = _localize(priced, weeks, "shift_forward", f"local midnight is ambiguous in {TIMEZONE}")
    minutes = _week_minutes(areas, weeks)
    rank = pd.Series(levels).map({lv: i for i, lv in enumerate(_LEVELS)}).to_numpy()
    order = np.lexsort((rank, starts.to_numpy(dtype="datetime64[ns]"), areas))
    result.tables["prices"] = _frame({
        "market": MARKET,
        "location": areas[order],
        "price_kind": np.array([f"PLD_weekly_{lv}" for lv in levels], dtype=object)[order],
        "interval_start": starts.iloc[order].reset_index(drop=True),
        "interval_minutes": minutes[order],
        "price": price[order],
    }, rows.source)


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
    # ONS leaves an hour blank where the source did not report it: nothing to load, not an error.
    kept = np.flatnonzero(~np.isnan(output))
    result.rows_rejected = len(rows) - len(kept)
    valued = rows.take(kept)
    units_kept = units.to_numpy(dtype=object)[kept]
    fuels_kept = fuels.to_numpy(dtype=object)[kept]
    local = instants.iloc[kept].reset_index(drop=True)
    valued.check_unique({"unit": units_kept, "fuel": fuels_kept, "hour": local.to_numpy()},
                        "plant, fuel and hour", "din_instante")
    starts = _localize(valued, local, "NaT", f"hour does not exist in {TIMEZONE} (DST start)",
                       first_if_doubled=True)
    order = np.lexsort((starts.to_numpy(dtype="datetime64[ns]"), units_kept, fuels_kept))
    n = len(kept)
    result.tables["generation"] = _frame({
        "market": MARKET,
        "unit": units_kept[order],
        "fuel": fuels_kept[order],
        "interval_start": starts.iloc[order].reset_index(drop=True),
        "interval_minutes": np.full(n, 60, dtype=np.int64),
        "output_mw": output[kept][order],
        "capability_mw": np.full(n, np.nan),
        "forecast_mw": np.full(n, np.nan),
        "available_mw": np.full(n, np.nan),
    }, rows.source)


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


class BrazilConnector:
    """ONS daily load, stored energy and hourly plant generation; CCEE hourly and weekly PLD."""

    market = MARKET
    timezone = TIMEZONE
    kinds = tuple(_PARSERS)

    def parse(self, raw: RawFile) -> ParseResult:
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

    def fetch(self, start: date, end: date, *, source: str | Path | None = None, kind: str = "carga_energia",
              session: Any = None) -> list[RawFile]:
        """The files covering ``start``..``end`` (yearly; monthly for recent ONS generation; one file for the
        weekly PLD): from a local file/folder, or from ONS / CCEE."""
        if kind not in _PARSERS:
            raise ValueError(f"unknown kind {kind!r}; supported: {', '.join(_PARSERS)}")
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        years = range(start.year, end.year + 1)
        if source is not None:
            return _local_files(Path(source), kind, start, end)
        session = session or requests.Session()
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
    if path.is_file():
        return [RawFile.from_path(path)]
    if not path.is_dir():
        raise IngestError(str(path), None, "no such file or folder")
    pattern = _FILE_PATTERNS[kind]
    picked = []
    for f in sorted(path.iterdir()):
        m = pattern.match(f.name)
        if not (m and f.is_file()):
            continue
        first = int(m.group(1))
        found = m.groupdict()
        last = int(found["last"]) if found.get("last") else first
        month = found.get("month")
        if month:  # a monthly file: within the range by (year, month)
            inside = (start.year, start.month) <= (first, int(month)) <= (end.year, end.month)
        else:
            inside = first <= end.year and last >= start.year
        if inside:
            picked.append(RawFile.from_path(f))
    return picked


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
