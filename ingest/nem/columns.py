"""Columns of AEMO's CSV rows: Arrow reads each run of data lines in one piece on the good path; only when it
refuses a run are the lines looked at one by one, to name the offending line."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from ingest.base import union_sorted_categoricals
from ingest.csv_lines import CsvLines
from ingest.nem.clock import DATE_EXAMPLE, DATE_WIDTH, is_stamp, stamps

# Regions, interconnectors and units (DUIDs such as TARONG#1 and W/HOE#1).
_ID_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_#/-]*")
_NUMBER_PATTERN = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


@dataclass
class Columns:
    """Columns read from some lines: floats (NaN when empty), NEM-time stamps (NaT when empty), ids."""

    numbers: dict[str, np.ndarray]
    stamps: dict[str, np.ndarray]
    ids: pd.Series  # category


def runs(idx: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive stretches of the sorted line indexes ``idx``, as (position in idx, length)."""
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    bounds = np.concatenate(([0], breaks, [len(idx)]))
    return [(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def read_columns(lines: CsvLines, idx: np.ndarray, names: list[str], numeric: list[str], dates: list[str],
                 id_column: str, what: str) -> Columns:
    """Columns ``numeric``, ``dates`` and ``id_column`` of lines ``idx``, whose fields are ``names``."""
    parts = [_read_run(lines, idx[at:at + length], names, numeric, dates, id_column, what)
             for at, length in runs(idx)]
    if len(parts) == 1:
        return parts[0]
    return Columns(
        numbers={c: np.concatenate([p.numbers[c] for p in parts]) for c in numeric},
        stamps={c: np.concatenate([p.stamps[c] for p in parts]) for c in dates},
        ids=pd.Series(union_sorted_categoricals([p.ids.array for p in parts])),
    )


def _read_run(lines: CsvLines, idx: np.ndarray, names: list[str], numeric: list[str], dates: list[str],
              id_column: str, what: str) -> Columns:
    types: dict[str, pa.DataType] = {c: pa.float64() for c in numeric}
    types.update({c: pa.binary(DATE_WIDTH) for c in dates})
    types[id_column] = pa.dictionary(pa.int32(), pa.string())
    block = lines.block(int(idx[0]), int(idx[-1]))
    try:
        # An Arrow buffer, not a Python file: a file object is read through Arrow's I/O threads, and on a busy
        # machine each hand-over to them waits for a time slice (a month's parse took three times its CPU time).
        table = pa_csv.read_csv(
            pa.BufferReader(block),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=types, include_columns=list(types), null_values=[""], strings_can_be_null=False,
                quoted_strings_can_be_null=False),
        )
    except (pa.ArrowException, ValueError) as exc:
        _name_bad_line(lines, idx, names, numeric, dates, what, str(exc))
    if table.num_rows != len(idx):
        _name_bad_line(lines, idx, names, numeric, dates, what, f"{table.num_rows} rows from {len(idx)} lines")
    numbers = {}
    for col in numeric:
        values = table.column(col).to_numpy().astype(np.float64, copy=False)
        bad = np.flatnonzero(np.isinf(values))
        if len(bad):
            lines.fail(int(idx[bad[0]]) + 1, f"{col} is not a finite number")
        numbers[col] = values
    dated = {col: stamps(lines, table.column(col), idx, col) for col in dates}
    ids = _clean_ids(lines, table.column(id_column).to_pandas(), idx, id_column)
    return Columns(numbers=numbers, stamps=dated, ids=ids)


def _name_bad_line(lines: CsvLines, idx: np.ndarray, names: list[str], numeric: list[str], dates: list[str],
                   what: str, problem: str) -> NoReturn:
    """Find and report the first line the vectorised reader refused (slow: only runs after a failure)."""
    position = {name: i for i, name in enumerate(names)}
    for i in idx.tolist():
        if lines.text(i).count('"') % 2:
            lines.fail(i + 1, "unbalanced double quote")
        fields = lines.fields(i)
        if len(fields) != len(names):
            lines.fail(i + 1, f"{what} row has {len(fields)} fields, expected {len(names)} "
                              "(truncated or malformed line)")
        for col in numeric:
            value = fields[position[col]]
            if value.strip() and not _NUMBER_PATTERN.fullmatch(value):
                lines.fail(i + 1, f"{col} is not a number: {value!r}")
        for col in dates:
            value = fields[position[col]]
            if value and not is_stamp(value):
                lines.fail(i + 1, f"{col} {value!r} is not a date-time like {DATE_EXAMPLE}")
    lines.fail(None, f"unreadable {what} rows ({problem})")


def _clean_ids(lines: CsvLines, values: pd.Series, idx: np.ndarray, col: str) -> pd.Series:
    """Strip spaces from the (few) distinct region/interconnector/unit ids and check they look like AEMO
    ids."""
    codes = values.cat.codes.to_numpy()
    categories = [str(c) for c in values.cat.categories]
    cleaned = [c.strip() for c in categories]
    for code, name in enumerate(cleaned):
        if not _ID_PATTERN.fullmatch(name):
            row = int(np.flatnonzero(codes == code)[0])
            problem = f"{col} {categories[code]!r} is not an AEMO id" if name else f"{col} is empty"
            lines.fail(int(idx[row]) + 1, problem)
    if cleaned != categories or categories != sorted(categories):
        return pd.Series(pd.Categorical(np.asarray(cleaned, dtype=object)[codes]))
    return values


def require_filled(lines: CsvLines, values: np.ndarray, idx: np.ndarray, col: str) -> None:
    """Every value of ``col`` present (not NaN/NaT), else an error at the first empty one's line."""
    empty = np.flatnonzero(np.isnan(values) if values.dtype.kind == "f" else np.isnat(values))
    if len(empty):
        lines.fail(int(idx[empty[0]]) + 1, f"{col} is empty")
