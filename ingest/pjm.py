"""PJM: hourly nodal LMPs with their components, as exported by Data Miner 2 (feeds ``da_hrl_lmps``,
``rt_hrl_lmps``; ``rt_fivemin_hrl_lmps`` has the same layout at 5 minutes).

Columns (looked up by name): ``datetime_beginning_utc, datetime_beginning_ept, pnode_id, pnode_name, voltage,
equipment, type, zone, system_energy_price_<run>, total_lmp_<run>, congestion_price_<run>,
marginal_loss_price_<run>, row_is_current, version_nbr`` with ``<run>`` = ``da`` or ``rt``; stamps like
``6/16/2025 4:00:00 AM`` are interval starts. The UTC column is used, so DST days need no guessing.

A node is the ``pnode_id``: PJM reuses a ``pnode_name`` for every bus of a substation (``ALDENE`` names
several 230 kV pnodes told apart only by ``equipment``), so the name is not a key. Rows PJM marks
``row_is_current = False`` (superseded versions) are left out and counted as rejected.
"""
from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from engine.files import IngestError, RawFile
from ingest.base import Connector, ParseResult, check_range, local_files
from ingest.csv_lines import CsvLines, Rows, header_names, require
from ingest.http_fetch import http_get, open_session
from ingest.nodal import nodal_tables

log = logging.getLogger(__name__)

FEEDS = ("da_hrl_lmps", "rt_hrl_lmps", "rt_fivemin_hrl_lmps")
SUPPORTED = ", ".join(FEEDS) + " (Data Miner 2 CSV)"

API_URL = "https://api.pjm.com/api/v1"
API_PAGE_ROWS = 50_000

_OPTIONAL = ["row_is_current", "type", "zone", "voltage", "pnode_name"]
# nodal_lmp column -> Data Miner column stem (suffixed _da / _rt)
_PRICE_COLUMNS = {"lmp": "total_lmp", "energy": "system_energy_price", "congestion": "congestion_price",
                  "loss": "marginal_loss_price"}
_ISO_STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
_VOLTAGE = re.compile(r"^(\d+(?:\.\d+)?)\s*KV$", re.I)


def _stamps_utc(rows: Rows, column: str) -> pd.Series:
    """Data Miner writes ``M/D/YYYY h:mm:ss AM`` (its API may give ISO 8601). Dates and clock times are
    parsed once per distinct value: a year of hours has 365 dates and 24 times, not 8760 stamps."""
    codes, uniques = pd.factorize(rows.text(column))
    distinct = pd.Series(uniques, dtype=object)
    parts = distinct.str.split(" ", n=1, expand=True)
    parsed = pd.Series(pd.NaT, index=distinct.index, dtype="datetime64[ns, UTC]")
    if parts.shape[1] == 2:
        day_codes, days = pd.factorize(parts[0])
        time_codes, times = pd.factorize(parts[1].fillna(""))
        day_values = pd.to_datetime(pd.Series(days, dtype=object), format="%m/%d/%Y", errors="coerce")
        clock = pd.to_datetime(pd.Series(times, dtype=object), format="%I:%M:%S %p", errors="coerce")
        offsets = (clock - clock.dt.normalize()).to_numpy()
        naive = day_values.to_numpy()[day_codes] + offsets[time_codes]
        parsed = pd.Series(pd.DatetimeIndex(naive).tz_localize("UTC"))
    retry = parsed.isna() & distinct.str.fullmatch(_ISO_STAMP).fillna(False).astype(bool)
    if retry.any():
        parsed[retry] = pd.to_datetime(distinct[retry], format="ISO8601", errors="coerce", utc=True)
    stamps = pd.Series(pd.DatetimeIndex(parsed).take(codes)).astype("datetime64[ns, UTC]")
    rows.fail(stamps.isna().to_numpy(), "not a date and time", column)
    return stamps


def _run_of(header: list[str], name: str) -> str:
    for run in ("da", "rt"):
        if f"total_lmp_{run}" in header:
            return run
    raise IngestError(name, 1, f"not a PJM nodal LMP export (no total_lmp_da / total_lmp_rt column); "
                               f"supported: {SUPPORTED}")


def _voltages(rows: Rows) -> np.ndarray:
    """kV from PJM's ``"500 KV"``; blank (hubs, zones) stays NaN."""
    if "voltage" not in rows.frame:
        return np.full(len(rows), np.nan)
    codes, uniques = pd.factorize(rows.text("voltage"))
    kv = np.full(len(uniques), np.nan)
    bad = np.zeros(len(uniques), dtype=bool)
    for i, text in enumerate(uniques):  # a handful of distinct voltages per file
        m = _VOLTAGE.match(text)
        if m:
            kv[i] = float(m.group(1))
        elif text:
            bad[i] = True
    rows.fail(bad[codes], "not a voltage like '500 KV'", "voltage")
    return kv[codes]


def _optional_text(rows: Rows, column: str) -> np.ndarray:
    if column not in rows.frame:
        return np.full(len(rows), "", dtype=object)
    return rows.text(column).to_numpy(dtype=object)


class PjmConnector(Connector):
    """Data Miner 2 hourly (and 5-minute) LMPs -> ``nodal_lmp`` and ``node_metadata``."""

    label = "PJM"
    market = "PJM"
    datasets = FEEDS
    earliest = date(1998, 4, 1)  # PJM's nodal LMPs with components start with its LMP market
    earliest_by_dataset = MappingProxyType({"da_hrl_lmps": date(2000, 6, 1),
                                            "rt_fivemin_hrl_lmps": date(2018, 1, 1)})

    def parse(self, raw: RawFile) -> ParseResult:
        """The LMPs of one Data Miner 2 export; the market run (DA or RT) from its price columns."""
        lines = CsvLines(raw)
        header = header_names(lines, 0)
        run = _run_of(header, raw.name)
        required = ["datetime_beginning_utc", "pnode_id", f"system_energy_price_{run}", f"total_lmp_{run}",
                    f"congestion_price_{run}", f"marginal_loss_price_{run}"]
        require(lines, header, required, f"PJM {run.upper()} LMP export")
        data = np.flatnonzero(~lines.blank[1:]) + 1
        if not len(data):
            raise IngestError(raw.name, None, "no data rows")
        rows = lines.rows(data, header, keep=required + [c for c in _OPTIONAL if c in header],
                          floats=required[2:])
        result = ParseResult(source=raw.name, rows_read=len(rows))

        rows.fail(~rows.matches("pnode_id", r"\d{1,12}"), "not a pnode id", "pnode_id")
        node = rows.text("pnode_id").to_numpy(dtype=object)
        starts = _stamps_utc(rows, "datetime_beginning_utc")
        minutes = 5 if "fivemin" in raw.name.lower() else 60
        # A 5-minute file under an hourly name (or a shifted stamp) shows as an off-grid start.
        off_grid = ((starts.dt.minute % minutes) != 0) | (starts.dt.second != 0)
        rows.fail(off_grid.to_numpy(), f"not the start of a {minutes}-minute interval", "datetime_beginning_utc")
        prices = {name: rows.numbers(f"{column}_{run}") for name, column in _PRICE_COLUMNS.items()}
        kv = _voltages(rows)

        current = np.ones(len(rows), dtype=bool)
        if "row_is_current" in header:
            flag = rows.text("row_is_current").str.lower()
            rows.fail(~flag.isin(["true", "false"]).to_numpy(), "not True/False", "row_is_current")
            current = (flag == "true").to_numpy()
        kept = np.flatnonzero(current)
        result.reject(len(rows) - len(kept), "rows superseded by a later version (row_is_current False)")
        node, starts, kv = node[kept], starts.iloc[kept].reset_index(drop=True), kv[kept]
        start_values = starts.to_numpy(dtype="datetime64[ns]")
        current_rows = rows.take(kept)
        current_rows.check_unique({"node": node, "t": start_values}, "pnode and interval (both marked current)",
                                  "pnode_id")

        nodes = {"node": node, "node_name": _optional_text(current_rows, "pnode_name"),
                 "node_type": _optional_text(current_rows, "type"), "zone": _optional_text(current_rows, "zone"),
                 "voltage_kv": kv}
        kept_prices = {name: values[kept] for name, values in prices.items()}
        result.tables = nodal_tables(self.market, raw.name, run.upper(), starts, minutes, kept_prices, nodes)
        return result

    def fetch(self, start: date, end: date, *, source: str | Path | None = None, kind: str | None = None,
              session: Any = None, api_key: str | None = None,
              pnode_ids: list[str] | None = None) -> list[RawFile]:
        """Exports covering ``start``..``end`` (dates in EPT): from a local file/folder, or Data Miner 2.

        The Data Miner 2 API needs a (free) subscription key; it answers in pages of at most 50,000 rows,
        one RawFile per page.
        """
        kind = self.dataset(kind)
        check_range(start, end)
        if source is not None:
            return _local_files(Path(source), kind)
        if not api_key:
            raise ValueError("PJM Data Miner 2 needs a subscription key: pass api_key=...")
        session = open_session(session)
        url = f"{API_URL}/{kind}"
        params = {
            "datetime_beginning_ept": f"{start.month}/{start.day}/{start.year} 00:00to"
                                      f"{end.month}/{end.day}/{end.year} 23:59",
            "format": "csv", "download": "true", "rowCount": str(API_PAGE_ROWS),
        }
        if pnode_ids:
            params["pnode_id"] = ";".join(pnode_ids)
        files: list[RawFile] = []
        while True:
            params["startRow"] = str(len(files) * API_PAGE_ROWS + 1)
            data = http_get(session, url, params, {"Ocp-Apim-Subscription-Key": api_key}).content
            rows = sum(1 for line in data.splitlines()[1:] if line.strip())
            log.info("fetched %s from row %s: %s rows", url, params["startRow"], rows)
            if rows:
                name = f"{kind}_{start:%Y%m%d}-{end:%Y%m%d}_{len(files) + 1:03d}.csv"
                files.append(RawFile(name=name, data=data))
            if rows < API_PAGE_ROWS:
                return files


def _local_files(path: Path, kind: str) -> list[RawFile]:
    pattern = re.compile(rf"^{kind}(_|\.).*csv$", re.I)
    return local_files(path, lambda name: bool(pattern.match(name)))
