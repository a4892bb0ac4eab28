"""NEM ingest speed: parse, and parse + store, of a month of 5-minute PRICE_AND_DEMAND data for all five
regions (built by re-labelling real AEMO files, see ingest_nem_parse.py).

The store runs as in the app: one long-lived embedded chDB store whose connections stay open. Each timed run
first empties the series and aggregate tables, so every row is new and feeds the materialized views. One
untimed run opens the connections. Median and best of 7.

    python bench/ingest_nem.py
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import parse_rate
from bench.ingest_nem_parse import month_of_5min_files
from engine.store import Store, migrate
from engine.store.tables import TABLES
from ingest.load import load_raw
from ingest.nem import NemConnector

RUNS = 7


def _empty(store: Store) -> None:
    for spec in TABLES.values():
        for name in (spec.name, *(agg.table for agg in spec.aggregates)):
            store.command(f"TRUNCATE TABLE `{name}`")


def main() -> None:
    files = month_of_5min_files()
    rows, secs = parse_rate(NemConnector(), files)
    print(f"parse: {rows:,} rows from {len(files)} files in {secs * 1000:.0f} ms = {rows / secs:,.0f} rows/s")
    conn = NemConnector()
    store = Store(f"chdb://{tempfile.mkdtemp(prefix='c254-bench-ingest-')}?database=bench")
    migrate(store)
    load_raw(store, conn, files)  # opens the writer connections, as the app's first load would
    times = []
    for _ in range(RUNS):
        _empty(store)
        t0 = time.perf_counter()
        report = load_raw(store, conn, files)
        times.append(time.perf_counter() - t0)
    store.close()
    read, written = report.rows_read, report.rows_written
    for label, secs in (("median", statistics.median(times)), ("best", min(times))):
        print(f"parse + store ({label} of {RUNS}): {read:,} file rows ({written:,} rows stored: prices + demand) "
              f"in {secs * 1000:.0f} ms = {read / secs:,.0f} file rows/s, {written / secs:,.0f} stored rows/s")


if __name__ == "__main__":
    main()
