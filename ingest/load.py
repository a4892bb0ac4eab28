"""The shared load step: parse every file first, then write all their rows as one batch.

A bad file stops the load before anything is written, so a folder is loaded whole or not at all. A file of a
report the connector deliberately does not read (:class:`ingest.base.ReportNotRead`, e.g. a forecast) is not
bad: it is skipped, and the load report names it and says why.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.store import Store, write_tables
from engine.store.tables import TABLES, SeriesTable
from engine.files import IngestError, RawFile
from ingest.base import Connector, ParseResult, ReportNotRead, concat_frames, local_files

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    files: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_unchanged: int = 0
    rows_without_value: int = 0  # blank cells the operator published: no observation, nothing stored
    by_table: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)  # rows left out on purpose, by reason
    not_read: dict[str, str] = field(default_factory=dict)  # file -> why it was skipped (ReportNotRead)

    def summary(self) -> str:
        tables = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_table.items())) or "none"
        blank = f", without a value {self.rows_without_value:,}" if self.rows_without_value else ""
        text = (f"files {self.files:,}; rows read {self.rows_read:,}, written {self.rows_written:,}, "
                f"rejected {self.rows_rejected:,}, unchanged {self.rows_unchanged:,}{blank} "
                f"(written by table: {tables})")
        if self.rejected:
            text += "; rejected: " + "; ".join(f"{n:,} {why}" for why, n in sorted(self.rejected.items()))
        if self.not_read:
            text += f"; {len(self.not_read):,} file(s) not read: " + "; ".join(
                f"{name} ({why})" for name, why in self.not_read.items())
        return text


def raw_files_at(path: str | Path) -> list[RawFile]:
    """Every file at ``path`` (a file, or a folder searched recursively); a folder without files is an error."""
    files = local_files(path, recursive=True)
    if not files:
        raise IngestError(str(path), None, "folder holds no files")
    return files


def parse_all(connector: Connector, raws: Iterable[RawFile]) -> list[ParseResult]:
    """Every file parsed; one of a report the connector does not read is kept as an empty result saying why."""
    parsed = []
    for raw in raws:
        try:
            parsed.append(connector.parse(raw))
        except ReportNotRead as exc:
            log.warning("not read: %s", exc)
            parsed.append(ParseResult(source=raw.name, not_read=exc.problem))
    return parsed


def load_raw(store: Store, connector: Connector, raws: Iterable[RawFile]) -> LoadReport:
    """Parse every file, then write them all as one batch (one insert per table, taken back on failure)."""
    return write_parsed(store, parse_all(connector, raws))


def write_parsed(store: Store, parsed: list[ParseResult]) -> LoadReport:
    """Write already parsed files as one batch."""
    report = LoadReport()
    report.not_read = {r.source: r.not_read for r in parsed if r.not_read}
    parsed = [r for r in parsed if not r.not_read]
    if not parsed:
        return report
    for result in parsed:
        for why, rows in result.rejected.items():
            report.rejected[why] = report.rejected.get(why, 0) + rows
    written = write_tables(store, batch_tables(parsed), unique_keys=True)
    report.files = len(parsed)
    report.rows_read = sum(r.rows_read for r in parsed)
    report.rows_rejected = sum(r.rows_rejected for r in parsed)
    report.rows_written = written.rows_written
    report.rows_unchanged = sum(written.unchanged.values())
    report.rows_without_value = sum(written.empty.values())
    report.by_table = dict(written.written)
    return report


def batch_tables(parsed: list[ParseResult]) -> dict[str, pd.DataFrame]:
    """The parsed files' rows as one frame per table, each key once (see _latest_per_key): a batch as the writer
    takes it."""
    by_table: dict[str, list[pd.DataFrame]] = {}
    for result in parsed:
        for name, frame in result.tables.items():
            by_table.setdefault(name, []).append(frame)
    return {name: _latest_per_key(name, frames) for name, frames in by_table.items()}


def _latest_per_key(table: str, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame per table; where two files carry the same key (a month file and its revision), the file
    read later wins, as it would had they been loaded one after the other."""
    frame = frames[0] if len(frames) == 1 else concat_frames(frames)
    if _one_series_each(TABLES[table], frames):
        return frame
    repeated = frame.duplicated(list(TABLES[table].key), keep="last").to_numpy()
    return frame[~repeated] if repeated.any() else frame


def _one_series_each(spec: SeriesTable, frames: list[pd.DataFrame]) -> bool:
    """True when no key can repeat, known without hashing every row: each frame holds one series (one value
    in every key column but the time), its times strictly increase, and frames of the same series cover
    disjoint spans of time. (A month of NEM regions arrives so: one file per region; a year of them, twelve
    files per region, one per month.)"""
    if spec.time_column is None:
        return False
    spans: dict[tuple, list[tuple[int, int]]] = {}
    for frame in frames:
        series = []
        for col in (c for c in spec.key if c != spec.time_column):
            values = frame[col]
            if isinstance(values.dtype, pd.CategoricalDtype):
                codes = values.array.codes
                first = codes[0] if len(codes) else -1
                one = values.array.categories[first] if first >= 0 and (codes == first).all() else None
            else:
                first = values.iat[0] if len(values) else None
                one = first if len(values) and (values.to_numpy() == first).all() else None
            if one is None:
                return False
            series.append(one)
        times = frame[spec.time_column]
        if not isinstance(times.dtype, pd.DatetimeTZDtype):
            return False
        stamps = times.array.asi8
        if (np.diff(stamps) <= 0).any():
            return False
        if len(stamps):
            spans.setdefault(tuple(series), []).append((int(stamps[0]), int(stamps[-1])))
    for covered in spans.values():
        covered.sort()
        if any(later[0] <= earlier[1] for earlier, later in zip(covered, covered[1:], strict=False)):
            return False
    return True
