"""Brazil: ONS open-data daily load and stored energy by subsystem, and CCEE's hourly PLD by submarket.

Reports (all `;`-separated text, one header line, values unquoted):

- ONS ``CARGA_ENERGIA_<YYYY>.csv``: ``id_subsistema;nom_subsistema;din_instante;val_cargaenergiamwmed`` --
  daily average load (MWmed) per subsystem -> ``demand`` (1440-minute intervals).
- ONS ``EAR_DIARIO_SUBSISTEMA_<YYYY>.csv``: ``id_subsistema;nom_subsistema;ear_data;ear_max_subsistema;
  ear_verif_subsistema_mwmes;ear_verif_subsistema_percentual`` -> ``reservoirs`` (1440-minute intervals).
- CCEE ``pld_horario_<YYYY>.csv``: ``MES_REFERENCIA;SUBMERCADO;PERIODO_COMERCIALIZACAO;DIA;HORA;PLD_HORA`` --
  hourly settlement price per submarket, days in descending order -> ``prices`` (price_kind ``PLD``).

Subsystems (ONS) and submarkets (CCEE) are the same four areas; both are written as ``SE/CO``, ``S``, ``NE``,
``N``. Numbers may use a decimal comma. A row whose value(s) are blank (ONS left whole days empty in 2013)
is skipped and counted as rejected; any other non-number is an error.

Daily values start at local midnight in America/Sao_Paulo. Brazil kept daylight saving time until 2019 and
moved its clocks at 00:00, so on a DST start day local midnight does not exist and the day starts at 01:00
(the first instant of that day). Such days last 23 hours (25 at the end of DST) -- ONS averages over the
hours that day had -- but are stored as 1440-minute intervals like every other day.
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


def _localize(rows: Rows, local: pd.Series, nonexistent: str, problem: str) -> pd.Series:
    """UTC instants of naive local times (one conversion per distinct value); DST gaps/overlaps per rule."""
    codes, uniques = pd.factorize(local)
    zoned = pd.DatetimeIndex(uniques).tz_localize(TIMEZONE, ambiguous="NaT", nonexistent=nonexistent)
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


_PARSERS = {"carga_energia": _parse_carga, "ear_subsistema": _parse_ear, "pld_horario": _parse_pld}
_FILE_PATTERNS = {
    "carga_energia": re.compile(r"^CARGA_ENERGIA_(\d{4})\b.*\.csv$", re.I),
    "ear_subsistema": re.compile(r"^EAR_DIARIO_SUBSISTEMA_(\d{4})\b.*\.csv$", re.I),
    "pld_horario": re.compile(r"^pld_horario_(\d{4})\b.*\.csv$", re.I),
}


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
    """ONS daily load and stored energy, CCEE hourly PLD."""

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
        """The yearly files covering ``start``..``end``: from a local file/folder, or from ONS / CCEE."""
        if kind not in _PARSERS:
            raise ValueError(f"unknown kind {kind!r}; supported: {', '.join(_PARSERS)}")
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        years = range(start.year, end.year + 1)
        if source is not None:
            return _local_files(Path(source), kind, years)
        session = session or requests.Session()
        if kind == "pld_horario":
            return _fetch_pld(session, years)
        folder, stem = {"carga_energia": ("carga_energia_di", "CARGA_ENERGIA"),
                        "ear_subsistema": ("ear_subsistema_di", "EAR_DIARIO_SUBSISTEMA")}[kind]
        files = []
        for year in years:
            url = f"{ONS_BASE_URL}/{folder}/{stem}_{year}.csv"
            files.append(RawFile(name=f"{stem}_{year}.csv", data=http_get(session, url).content))
            log.info("fetched %s", url)
        return files


def _local_files(path: Path, kind: str, years: range) -> list[RawFile]:
    if path.is_file():
        return [RawFile.from_path(path)]
    if not path.is_dir():
        raise IngestError(str(path), None, "no such file or folder")
    pattern = _FILE_PATTERNS[kind]
    picked = []
    for f in sorted(path.iterdir()):
        m = pattern.match(f.name)
        if m and f.is_file() and int(m.group(1)) in years:
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
