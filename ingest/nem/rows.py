"""Rows of one AEMO report before they become table frames: one row per series and interval kept (the pricing
run over an intervention re-run, then the highest RUNNO, then the latest LASTCHANGED), and the frames in the
store's columns, sorted by key."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.files import IngestError
from engine.store.tables import TABLES
from ingest.base import concat_frames, table_columns, union_sorted_categoricals
from ingest.csv_lines import CsvLines
from ingest.nem.clock import DATE_FORMAT, NEM, interval_starts_utc

#: The column of each table the NEM reports fill that names a series: a region, interconnector or unit.
ID_COLUMN = {"prices": "location", "demand": "location", "interconnector_flows": "interconnector",
             "generation": "unit"}
_COLUMNS = {table: table_columns(table) for table in ID_COLUMN}
_KEYS = {table: TABLES[table].key for table in ID_COLUMN}


@dataclass(frozen=True)
class Target:
    """Where rows go: a table, and the values of the text key columns that a report fills whole (a price
    kind, a fuel)."""

    table: str
    fixed: tuple[tuple[str, str], ...] = ()


@dataclass
class Rows:
    """Rows for one table: ids, NEM-time interval ends, interval lengths, values and where they came from."""

    ids: pd.Series  # category with sorted categories
    ends: np.ndarray  # datetime64[ns], NEM time
    minutes: np.ndarray  # int16
    values: dict[str, np.ndarray]  # table column -> float64
    line: np.ndarray  # 1-based physical line of each row
    intervention: np.ndarray | None = None  # 0 = pricing run, 1 = intervention (physical) run
    runno: np.ndarray | None = None
    lastchanged: np.ndarray | None = None  # datetime64[ns]

    def take(self, order: np.ndarray) -> Rows:
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[order]

        ids = pd.Series(pd.Categorical.from_codes(self.ids.cat.codes.to_numpy()[order], dtype=self.ids.dtype))
        return Rows(ids=ids, ends=self.ends[order], minutes=self.minutes[order],
                    values={k: v[order] for k, v in self.values.items()}, line=self.line[order],
                    intervention=pick(self.intervention), runno=pick(self.runno),
                    lastchanged=pick(self.lastchanged))

    def only(self, *columns: str) -> Rows:
        """The same rows with only the value columns ``columns``."""
        return Rows(ids=self.ids, ends=self.ends, minutes=self.minutes,
                    values={c: self.values[c] for c in columns}, line=self.line, intervention=self.intervention,
                    runno=self.runno, lastchanged=self.lastchanged)


@dataclass
class Parsed:
    """What one text file gives: rows by target, the data rows read and the rows left out, by reason; and
    frames a report's own parser built whole, by table (the forecasts, whose key holds an issue time)."""

    rows: dict[Target, Rows]
    read: int
    rejected: dict[str, int]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def concat_rows(parts: list[Rows]) -> Rows:
    if len(parts) == 1:
        return parts[0]
    ids = pd.Series(union_sorted_categoricals([p.ids.array for p in parts]))
    n = [len(p.ends) for p in parts]

    def joined(attr: str, fill: Any) -> np.ndarray | None:
        arrays = [getattr(p, attr) for p in parts]
        if all(a is None for a in arrays):
            return None
        return np.concatenate([np.full(k, fill) if a is None else a for a, k in zip(arrays, n, strict=True)])

    return Rows(ids=ids, ends=np.concatenate([p.ends for p in parts]),
                minutes=np.concatenate([p.minutes for p in parts]),
                values={k: np.concatenate([p.values[k] for p in parts]) for k in parts[0].values},
                line=np.concatenate([p.line for p in parts]), intervention=joined("intervention", 0),
                runno=joined("runno", 0), lastchanged=joined("lastchanged", np.datetime64("NaT", "ns")))


def _group_starts(codes: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For rows sorted by (code, end): True where a row starts a new (code, end) group."""
    new = np.ones(len(codes), dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (ends[1:] != ends[:-1])
    return new


def _same_values(rows: Rows, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    same = np.ones(len(a), dtype=bool)
    for v in rows.values.values():
        x, y = v[a], v[b]
        same &= (x == y) | (np.isnan(x) & np.isnan(y))
    return same


#: Why a row was left out for another row of its series and interval (ParseResult.rejected's reasons).
INTERVENTION_RUN = ("intervention re-run rows (INTERVENTION=1) of intervals the pricing run (INTERVENTION=0) "
                    "also covers: the pricing run is the one settled")
SUPERSEDED = "rows superseded by a later run (RUNNO) or version (LASTCHANGED) of their interval"
REPEATED = "exact repeats of a row"


def keep_one_per_interval(lines: CsvLines, rows: Rows, what: str) -> tuple[Rows, dict[str, int]]:
    """One row per (id, interval end), sorted by id then end: the pricing run (INTERVENTION=0) over an
    intervention re-run, then the highest RUNNO, then the latest LASTCHANGED; exact repeats collapse.
    Returns the kept rows and how many were left out by reason; two rows that tie on all of that but differ
    fail."""
    codes = rows.ids.cat.codes.to_numpy()
    ends = rows.ends.view(np.int64)
    order = np.lexsort((rows.line, ends, codes))
    new = _group_starts(codes[order], ends[order])
    if new.all():
        return rows.take(order), {}
    n = len(codes)
    zeros = np.zeros(n, np.int64)
    intervention = zeros if rows.intervention is None else rows.intervention.astype(np.int64)
    runno = zeros if rows.runno is None else np.nan_to_num(rows.runno).astype(np.int64)
    changed = zeros if rows.lastchanged is None else rows.lastchanged.view(np.int64)  # NaT sorts oldest
    order = np.lexsort((rows.line, -changed, -runno, intervention, ends, codes))
    new = _group_starts(codes[order], ends[order])
    kept_at = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    dropped = np.flatnonzero(~new)
    kept, other = order[kept_at[dropped]], order[dropped]
    rerun = intervention[kept] != intervention[other]
    tie = ~rerun & (runno[kept] == runno[other]) & (changed[kept] == changed[other])
    clash = np.flatnonzero(tie & ~_same_values(rows, kept, other))
    if len(clash):
        k, d = int(kept[clash[0]]), int(other[clash[0]])
        first, second = sorted((int(rows.line[k]), int(rows.line[d])))
        end = pd.Timestamp(rows.ends[k]).strftime(DATE_FORMAT)
        lines.fail(second, f"{what} {rows.ids.iat[k]} interval ending {end} appears twice with different "
                           f"values (first at line {first})")
    counts = {INTERVENTION_RUN: int(rerun.sum()), SUPERSEDED: int((~rerun & ~tie).sum()), REPEATED: int(tie.sum())}
    return rows.take(order[new]), {why: count for why, count in counts.items() if count}


@functools.lru_cache(maxsize=512)
def _one_value_dtype(value: str | None) -> pd.CategoricalDtype:
    """The dtype of a column holding one text value (made once: building a dtype checks its categories)."""
    return pd.CategoricalDtype([value])


def _table_frame(target: Target, rows: Rows, source: str) -> pd.DataFrame:
    """The table's frame sorted by its key; ``rows`` arrive sorted by (id, interval end) with the ids'
    categories in string order."""
    columns = _COLUMNS[target.table]
    n = len(rows.ends)
    minutes = rows.minutes.astype(np.int16)
    starts = interval_starts_utc(rows.ends, minutes)
    ids = rows.ids.cat.codes.to_numpy()
    values = {col: rows.values[col].astype(np.float64) for col in columns if col in rows.values}
    if n and (minutes != minutes[0]).any():  # the interval length comes before the start in the key
        order = np.lexsort((starts.view(np.int64), minutes, ids))
        ids, starts, minutes = ids[order], starts[order], minutes[order]
        values = {col: v[order] for col, v in values.items()}

    def constant(value: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(n, np.int8), dtype=_one_value_dtype(value))

    data: dict[str, Any] = {"market": constant(NEM.market),
                            ID_COLUMN[target.table]: pd.Categorical.from_codes(ids, dtype=rows.ids.dtype)}
    data.update((col, constant(value)) for col, value in target.fixed)
    data["interval_start"] = pd.DatetimeIndex(starts).tz_localize("UTC")
    data["interval_minutes"] = minutes
    data.update(values)
    data["source"] = constant(source)
    # In the table's column order, every column present: pandas then neither reindexes nor checks for
    # missing columns. copy=False: the arrays are fresh, and consolidating them would cost more than the parse.
    ordered = {col: data[col] if col in data else np.full(n, np.nan) for col in columns}
    return pd.DataFrame(ordered, copy=False)


def _sorted_by_key(frame: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    sort_keys = []
    for col in reversed(key):
        values = frame[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            in_order = values.cat.reorder_categories(sorted(values.cat.categories))
            sort_keys.append(in_order.cat.codes.to_numpy())
        elif values.dtype == object:
            sort_keys.append(pd.factorize(values, sort=True)[0])
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            sort_keys.append(values.to_numpy(dtype="datetime64[ns]").view(np.int64))
        else:
            sort_keys.append(values.to_numpy())
    return frame.take(np.lexsort(sort_keys)).reset_index(drop=True)


def table_frames(name: str, parts: list[dict[Target, Rows]]) -> dict[str, pd.DataFrame]:
    """One frame per table from the rows of every member of file ``name``; a key given twice (by two
    sections or members) is an error."""
    pieces: dict[str, list[pd.DataFrame]] = {}
    for part in parts:
        for target, rows in part.items():
            pieces.setdefault(target.table, []).append(_table_frame(target, rows, name))
    out: dict[str, pd.DataFrame] = {}
    for table, frames in pieces.items():
        if len(frames) == 1:
            out[table] = frames[0]
            continue
        key = _KEYS[table]
        frame = _sorted_by_key(concat_frames(frames), key)
        twice = frame.duplicated(list(key))
        if twice.any():
            row = frame[twice].iloc[0]
            raise IngestError(name, None, f"{table} has two rows for {row[ID_COLUMN[table]]} at "
                                          f"{row['interval_start']} from different sections or members")
        out[table] = frame
    return out
