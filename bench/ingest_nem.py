"""NEM ingest speed: parse, and parse + store, of a month of 5-minute PRICE_AND_DEMAND data for all five
regions (built by re-labelling real AEMO files, see ingest_nem_parse.py).

The store runs as in the app: one long-lived embedded chDB store whose connections stay open. Each timed run
first empties the series and aggregate tables, so every row is new and feeds the aggregates. One untimed run
opens the connections. Median and best of 7, for parse alone, parse + store, and a reload of the same files
(every row already stored, nothing written). The machine's load average is printed before and after: on a
shared machine the wall times swing several-fold with it, the CPU times much less.

``--months N`` loads N months in one batch (the January of N successive years from 2024, each re-labelled from
the real file): a load has fixed costs per batch (a statement per table, a part per table and aggregate), so
the rate depends on the batch's size. ``--backfill`` also times a backfill replaying those files from a folder,
as ``jobs backfill nem --source`` runs it (it writes them in batches of up to ingest.backfill.REPLAY_BATCH_BYTES),
and the same backfill with every file a batch of its own, as it ran before. ``--statements`` instead lists every
statement a load runs with its CPU time (median over the runs; the batch's tables then written one after another,
so that the process's CPU time over a statement is that statement's: chDB runs part of each statement on threads
of its own, which a thread's CPU time would miss; embedded chDB keeps no query log to read this from).
``--floor`` times the least a load could take on this store: the parsed rows, conformed as the writer conforms
them, inserted into prices and demand side by side (as the writer runs a batch's tables) with nothing else (no
check of stored rows, no aggregate, no data version), added to the parse alone.

    python bench/ingest_nem.py [--months 12] [--runs 7] [--backfill | --statements | --floor]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest_nem_parse import month_of_5min_files
from engine import jobs, workers
from engine.files import RawFile
from engine.store import Store, migrate
from engine.store.tables import TABLES
from engine.store.writer import _conform  # the frames exactly as the writer inserts them (--floor)
from ingest import backfill
from ingest.load import batch_tables, load_raw, parse_all, write_parsed
from ingest.nem import NemConnector

#: The issue's target for parse + store.
TARGET_FILE_ROWS_PER_S = 2_000_000


def _empty(store: Store) -> None:
    for spec in TABLES.values():
        for name in (spec.name, *(agg.table for agg in spec.aggregates)):
            store.command(f"TRUNCATE TABLE `{name}`")


def months_of_files(months: int) -> list[RawFile]:
    """The five regions' January 2024 files, and for ``months`` > 1 the same re-dated to later Januaries."""
    january = month_of_5min_files()
    files = list(january)
    for year in range(2025, 2024 + months):
        for f in january:
            # every stamp of the file is in January 2024, or is 2024/02/01 00:00:00 (the last interval's end)
            data = f.data.replace(b",2024/0", b",%d/0" % year)
            files.append(RawFile(name=f.name.replace("_2024", f"_{year}"), data=data))
    return files


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def _rate(label: str, read: int, written: int | None, times: list[float], cpu: list[float]) -> None:
    stored = "" if written is None else f" ({written:,} rows stored: prices + demand)"
    for what, secs in (("median", statistics.median(times)), ("best", min(times))):
        rate = "" if written is None else f", {written / secs:,.0f} stored rows/s"
        print(f"{label} ({what} of {len(times)}): {read:,} file rows{stored} "
              f"in {secs * 1000:.0f} ms = {read / secs:,.0f} file rows/s{rate}")
    # CPU seconds of the process (all its threads, chDB's included): on a machine shared with other work the
    # wall times above swing several-fold, this much less
    print(f"  CPU time (median, best): {statistics.median(cpu) * 1000:.0f} ms, {min(cpu) * 1000:.0f} ms = "
          f"{read / min(cpu):,.0f} file rows per CPU second")


def _backfills(store: Store, files: list[RawFile], runs: int) -> None:
    """Time a backfill replaying ``files`` from a folder, in batches and one file a batch."""
    folder = Path(tempfile.mkdtemp(prefix="c254-bench-replay-"))
    for f in files:
        (folder / f.name).write_bytes(f.data)
    years = sorted({int(f.name.split("_")[3][:4]) for f in files})
    request = backfill.BackfillRequest("nem", dt.date(years[0], 1, 1), dt.date(years[-1], 12, 31), folder)
    batch_bytes = backfill.REPLAY_BATCH_BYTES
    for label, limit in (("backfill replay, batched", batch_bytes), ("backfill replay, a batch per file", 1)):
        backfill.REPLAY_BATCH_BYTES = limit
        times, cpu = [], []
        try:
            for _ in range(runs):
                _empty(store)
                run = jobs.JobRun(job="backfill:nem", market="NEM")
                t0, c0 = time.perf_counter(), time.process_time()
                backfill.run_backfill(store, request, run)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                assert run.status == "succeeded", run.error
        finally:
            backfill.REPLAY_BATCH_BYTES = batch_bytes
        _rate(label, run.rows_read, run.rows_written, times, cpu)


def _statements(store: Store, conn: NemConnector, files: list[RawFile], runs: int) -> None:
    """Print each statement of a load of ``files`` (all rows new, then a reload) with its CPU time."""
    timed: list[tuple[str, str, float]] = []

    def timing(method: str):
        run = getattr(Store, method)

        def timed_run(self: Store, sql: str, *args, **kwargs):
            c0 = time.process_time()
            try:
                return run(self, sql, *args, **kwargs)
            finally:
                timed.append((method, " ".join(sql.split())[:100], time.process_time() - c0))
        return timed_run

    originals = {method: getattr(Store, method) for method in ("command", "query_df", "insert_df")}
    for method in originals:
        setattr(Store, method, timing(method))
    try:
        for label in ("parse + store", "reload, nothing written"):
            by_statement: dict[tuple[int, str, str], list[float]] = {}
            loads = []
            for _ in range(runs):
                if label == "parse + store":
                    _empty(store)
                parsed = parse_all(conn, files)
                timed.clear()
                c0 = time.process_time()
                write_parsed(store, parsed)
                loads.append(time.process_time() - c0)
                for i, (method, sql, cpu) in enumerate(timed):
                    by_statement.setdefault((i, method, sql), []).append(cpu)
            total = statistics.median(loads) * 1000
            print(f"{label}: statements of the store step, CPU ms (median of {runs}); the step in all {total:.1f} ms")
            for (_, method, sql), cpus in by_statement.items():
                print(f"  {statistics.median(cpus) * 1000:6.1f}  {method:9} {sql}")
            stated = sum(statistics.median(c) for c in by_statement.values()) * 1000
            print(f"  {total - stated:6.1f}  the writer's own work (conforming, merging and summing the frames)")
    finally:
        for method, run in originals.items():
            setattr(Store, method, run)


def _floor(store: Store, conn: NemConnector, files: list[RawFile], runs: int, parse_secs: float) -> None:
    """Print the bare inserts of the parsed rows into their tables, and that time added to the parse's."""
    parsed = parse_all(conn, files)
    read = sum(r.rows_read for r in parsed)
    frames = {name: _conform(TABLES[name], frame, "", unique=True).assign(batch_id=np.uint64(1))
              for name, frame in batch_tables(parsed).items()}
    rows = sum(len(f) for f in frames.values())

    def insert_side_by_side() -> None:
        for future in [workers.STORE_WRITERS.submit(store.insert_df, name, f) for name, f in frames.items()]:
            future.result()

    times, cpu = [], []
    for _ in range(runs):
        _empty(store)
        t0, c0 = time.perf_counter(), time.process_time()
        insert_side_by_side()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    insert = statistics.median(times)
    print(f"bare inserts, side by side (median of {runs}): {rows:,} rows into {', '.join(frames)} in "
          f"{insert * 1000:.1f} ms (best {min(times) * 1000:.1f}, CPU {statistics.median(cpu) * 1000:.1f} ms), "
          "nothing checked, aggregated or versioned")
    floor = parse_secs + insert
    print(f"floor: parse {parse_secs * 1000:.1f} ms + bare inserts {insert * 1000:.1f} ms = {floor * 1000:.1f} ms = "
          f"{read / floor:,.0f} file rows/s; the target of {TARGET_FILE_ROWS_PER_S:,} is "
          f"{read / TARGET_FILE_ROWS_PER_S * 1000:.1f} ms for these {read:,} file rows")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=1, help="months in the batch (default 1)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs (default 7)")
    parser.add_argument("--backfill", action="store_true", help="also time a backfill replaying the files")
    parser.add_argument("--statements", action="store_true",
                        help="list each statement of a load with its CPU time (tables written one after another)")
    parser.add_argument("--floor", action="store_true",
                        help="time the parsed rows' bare inserts (no check, aggregate or version) beside the parse")
    args = parser.parse_args(argv)
    if args.statements:
        workers.STORE_WRITERS.workers = 1  # before the pool is first used: the statements one at a time
    files = months_of_files(args.months)
    print(f"{len(files)} files; {_load()}")
    conn = NemConnector()
    parse_times, parse_cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        parsed = parse_all(conn, files)
        parse_times.append(time.perf_counter() - t0)
        parse_cpu.append(time.process_time() - c0)
    _rate("parse alone", sum(r.rows_read for r in parsed), None, parse_times, parse_cpu)
    store = Store(f"chdb://{tempfile.mkdtemp(prefix='c254-bench-ingest-')}?database=bench")
    migrate(store)
    load_raw(store, conn, files)  # opens the writer connections, as the app's first load would
    if args.statements:
        _statements(store, conn, files, args.runs)
        store.close()
        return
    if args.floor:
        _floor(store, conn, files, args.runs, statistics.median(parse_times))
        store.close()
        return
    fresh, again, fresh_cpu, again_cpu = [], [], [], []
    for _ in range(args.runs):
        _empty(store)
        t0, c0 = time.perf_counter(), time.process_time()
        report = load_raw(store, conn, files)
        fresh.append(time.perf_counter() - t0)
        fresh_cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        reloaded = load_raw(store, conn, files)
        again.append(time.perf_counter() - t0)
        again_cpu.append(time.process_time() - c0)
        assert reloaded.rows_written == 0, "a reload of the same files wrote rows"
    _rate("parse + store", report.rows_read, report.rows_written, fresh, fresh_cpu)
    _rate("reload, nothing written", reloaded.rows_read, reloaded.rows_written, again, again_cpu)
    if args.backfill:
        _backfills(store, files, min(args.runs, 3))
    store.close()
    print(f"target: {TARGET_FILE_ROWS_PER_S:,} file rows/s for parse + store; {_load()}")


if __name__ == "__main__":
    main()
