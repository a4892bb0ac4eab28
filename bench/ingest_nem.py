"""NEM ingest speed: parse, and parse + store, of a month of 5-minute PRICE_AND_DEMAND data for all five
regions (built by re-labelling real AEMO files, see ingest_nem_parse.py). Each store run writes into a fresh
database of an embedded chDB store, so every row is new. Best of 3.

    python bench/ingest_nem.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import parse_rate
from bench.ingest_nem_parse import month_of_5min_files
from engine.store import Store, migrate
from ingest.load import load_raw
from ingest.nem import NemConnector


def main() -> None:
    files = month_of_5min_files()
    rows, secs = parse_rate(NemConnector(), files)
    print(f"parse: {rows:,} rows from {len(files)} files in {secs * 1000:.0f} ms = {rows / secs:,.0f} rows/s")
    conn = NemConnector()
    root = Path(tempfile.mkdtemp(prefix="c254-bench-ingest-"))
    best, written = float("inf"), 0
    for i in range(3):
        store = Store(f"chdb://{root}?database=bench_{os.getpid()}_{i}")
        migrate(store)
        t0 = time.perf_counter()
        report = load_raw(store, conn, files)
        best = min(best, time.perf_counter() - t0)
        written = report.rows_written
        store.command(f"DROP DATABASE `{store.database}`")
    print(f"parse + store: {report.rows_read:,} rows read ({written:,} rows written: prices + demand) "
          f"in {best * 1000:.0f} ms = {report.rows_read / best:,.0f} rows read/s, {written / best:,.0f} rows written/s")


if __name__ == "__main__":
    main()
