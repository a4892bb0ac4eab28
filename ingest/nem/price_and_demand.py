"""AEMO's aggregated price and demand CSVs (``PRICE_AND_DEMAND_YYYYMM_REGION.csv``): one header line
``REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE``, one row per region and trading interval, the interval
length told by the file's own spacing."""
from __future__ import annotations

import numpy as np

from ingest.csv_lines import CsvLines
from ingest.nem.clock import FIVE_MINUTE_SETTLEMENT_AFTER
from ingest.nem.columns import read_columns, require_filled
from ingest.nem.rows import Parsed, Rows, Target, keep_one_per_interval

URL = "https://aemo.com.au/aemo/data/nem/priceanddemand/PRICE_AND_DEMAND_{yyyymm}_{region}.csv"
COLUMNS = ("REGION", "SETTLEMENTDATE", "TOTALDEMAND", "RRP", "PERIODTYPE")
DESCRIPTION = f"PRICE_AND_DEMAND CSV ({','.join(COLUMNS)})"
PRICES = Target("prices", (("price_kind", "settlement"),))
DEMAND = Target("demand")


def is_header(fields: list[str]) -> bool:
    header = {h.strip() for h in fields}
    return {"REGION", "SETTLEMENTDATE"} <= header or {"RRP", "TOTALDEMAND"} <= header


def parse(lines: CsvLines, header_at: int) -> Parsed:
    """The rows of a file whose header is line ``header_at`` (exact repeats left out)."""
    header = [h.strip() for h in lines.fields(header_at)]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        lines.fail(header_at + 1, f"PRICE_AND_DEMAND header lacks column(s) {', '.join(missing)}; "
                                  f"expected {','.join(COLUMNS)}")
    if len(set(header)) != len(header):
        lines.fail(header_at + 1, "PRICE_AND_DEMAND header repeats a column name")
    idx = np.flatnonzero(~lines.blank)
    idx = idx[idx > header_at]
    if not len(idx):
        lines.fail(header_at + 1, "no data rows after the header")
    columns = read_columns(lines, idx, header, numeric=["TOTALDEMAND", "RRP"], dates=["SETTLEMENTDATE"],
                           id_column="REGION", what="PRICE_AND_DEMAND")
    for col in ("TOTALDEMAND", "RRP"):
        require_filled(lines, columns.numbers[col], idx, col)
    require_filled(lines, columns.stamps["SETTLEMENTDATE"], idx, "SETTLEMENTDATE")
    rows = Rows(ids=columns.ids, ends=columns.stamps["SETTLEMENTDATE"], minutes=np.zeros(len(idx), np.int16),
                values={"price": columns.numbers["RRP"], "demand_mw": columns.numbers["TOTALDEMAND"]},
                line=idx + 1)
    rows, rejected = keep_one_per_interval(lines, rows, "PRICE_AND_DEMAND region")
    rows.minutes = _spacing_minutes(lines, rows)
    return Parsed({PRICES: rows.only("price"), DEMAND: rows.only("demand_mw")}, len(idx), rejected)


def _spacing_minutes(lines: CsvLines, rows: Rows) -> np.ndarray:
    """Interval length from the file's own spacing: the modal gap between consecutive interval ends of each
    region, taken separately on each side of the start of 5-minute settlement (rows sorted by id, end)."""
    era = (rows.ends > FIVE_MINUTE_SETTLEMENT_AFTER).astype(np.int64)
    group = rows.ids.cat.codes.to_numpy().astype(np.int64) * 2 + era
    gaps = np.diff(rows.ends).astype("timedelta64[m]").astype(np.int64)
    # AEMO's monthly files: one region, one era, every gap the same; that gap is the mode, found without
    # counting gaps per group
    if len(gaps) and gaps[0] in (5, 30) and (group == group[0]).all() and (gaps == gaps[0]).all():
        return np.full(len(group), gaps[0], np.int16)
    same = group[1:] == group[:-1]
    minutes = np.empty(len(group), np.int16)
    for value in np.unique(group).tolist():
        group_gaps = gaps[same & (group[1:] == value)]
        if len(group_gaps):
            found, counts = np.unique(group_gaps, return_counts=True)
            mode = int(found[np.argmax(counts)])
        else:  # a single row: the length of its settlement era
            mode = 5 if value % 2 else 30
        if mode not in (5, 30):
            region = rows.ids.cat.categories[value // 2]
            lines.fail(None, f"cannot tell the interval length of {region}: its rows are mostly {mode} "
                             "minutes apart, expected 5 or 30")
        minutes[group == value] = mode
    return minutes
