"""The shared load step: parse every file first, then write each file's rows as one batch.

A bad file stops the load before anything is written, so a folder is loaded whole or not at all.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from engine.store import Store, write_tables
from ingest.base import IngestError, ParseResult, RawFile

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    files: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    rows_unchanged: int = 0
    by_table: dict[str, int] = field(default_factory=dict)

    def add(self, parsed: ParseResult, written: dict[str, int], unchanged: int) -> None:
        self.files += 1
        self.rows_read += parsed.rows_read
        self.rows_rejected += parsed.rows_rejected
        self.rows_written += sum(written.values())
        self.rows_unchanged += unchanged
        for k, v in written.items():
            self.by_table[k] = self.by_table.get(k, 0) + v

    def summary(self) -> str:
        tables = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_table.items())) or "none"
        return (f"files {self.files:,}; rows read {self.rows_read:,}, written {self.rows_written:,}, "
                f"rejected {self.rows_rejected:,}, unchanged {self.rows_unchanged:,} (written by table: {tables})")


def raw_files_at(path: str | Path) -> list[RawFile]:
    p = Path(path)
    if p.is_file():
        return [RawFile.from_path(p)]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        if not files:
            raise IngestError(str(p), None, "folder holds no files")
        return [RawFile.from_path(f) for f in files]
    raise IngestError(str(p), None, "no such file or folder")


def parse_all(connector: Any, raws: Iterable[RawFile]) -> list[ParseResult]:
    return [connector.parse(raw) for raw in raws]


def load_raw(store: Store, connector: Any, raws: Iterable[RawFile]) -> LoadReport:
    parsed = parse_all(connector, raws)
    report = LoadReport()
    for result in parsed:
        written = write_tables(store, result.tables, source=result.source)
        report.add(result, written.written, sum(written.unchanged.values()))
        log.info("%s: %s", result.source, written.written)
    return report


def load_path(store: Store, connector: Any, path: str | Path) -> LoadReport:
    return load_raw(store, connector, raw_files_at(path))
