"""Nodal LMP at network scale: parse speed of the nodal connectors on the real files, then a PJM-sized store
(11,000 nodes x a year of hourly day-ahead prices: 96 million rows) filled through the writer, and the nodal
page's published-basis answer timed at that size.

The real files come from the shared data folder (env C254_DATA_DIR, default ../shared/data next to the
repository). No full-network PJM export is in the folder, so the network is generated from the real hub file's
shapes: the energy component is the system's own (PJM's is one for every node), each node's congestion follows
one real hub's congestion scaled by a factor of the node's own, its loss follows that hub's loss, and every
node carries some noise of its own; the twelve real hubs are nodes as published. The three months of the hub
file repeat over the year.

    python bench/ingest_nodal.py                      # parse speed, then 11,000 nodes x 365 days
    python bench/ingest_nodal.py --nodes 2000 --days 90 --skip-parse
    python bench/ingest_nodal.py --skip-parse --keep-store     # time the basis again on the filled store
    python bench/ingest_nodal.py --nodes 2000 --days 90 --skip-parse --without-daily-view  # the load without
                                                                # the daily nodal view, to see its cost

The store is an embedded chDB directory under var/ (git-ignored), emptied first. Loads go in batches of about
``--batch-rows`` rows (a batch is one write_tables call, as a connector's load of one file is).
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import data_dir, parse_rate  # noqa: E402
from engine.files import RawFile  # noqa: E402
from engine.lmp.published import published_basis  # noqa: E402
from engine.store import Store, migrate, write_tables  # noqa: E402
from ingest.caiso import CaisoConnector  # noqa: E402
from ingest.isone import IsoneConnector  # noqa: E402
from ingest.pjm import PjmConnector  # noqa: E402

#: The issue's figures: 100 million rows, and the published-basis answer under 300 ms at p95.
TARGET_ROWS = 100_000_000
TARGET_P95_MS = 300.0
YEAR_START = pd.Timestamp("2025-01-01", tz="UTC")


def real_files(folder: str) -> list[RawFile]:
    path = data_dir() / "markets" / folder
    files = sorted(path.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no CSV files in {path}: set C254_DATA_DIR to the shared data folder")
    return [RawFile.from_path(f) for f in files]


def pjm_network(hubs: RawFile, copies: int = 20) -> RawFile:
    """The hub export repeated under ``copies`` id ranges: each copy's pnode ids get a distinct prefix."""
    header, _, body = hubs.data.partition(b"\r\n")
    parts = [header + b"\r\n"]
    for copy in range(copies):
        # the pnode id is the third field; "<utc>,<ept>," precedes it, so rewrite ",<id>," after the 2nd comma
        rows = []
        for line in body.split(b"\r\n"):
            if line:
                a, b, rest = line.split(b",", 2)
                rows.append(b"%s,%s,9%02d%s" % (a, b, copy, rest))
        parts.append(b"\r\n".join(rows) + b"\r\n")
    return RawFile(name="da_hrl_lmps_network.csv", data=b"".join(parts))


def parse_bench() -> None:
    pjm_files = real_files("pjm")
    hubs = next(f for f in pjm_files if f.name.startswith("da_hrl_lmps_hubs"))
    cases = [
        ("PJM da/rt_hrl_lmps (4 real files)", PjmConnector(), pjm_files),
        ("PJM da_hrl_lmps, hub file x20 pnodes", PjmConnector(), [pjm_network(hubs)]),
        ("ISO-NE DA + RT final hourly LMP (2 real files)", IsoneConnector(), real_files("isone")),
        ("CAISO LMPLocations (2 real files)", CaisoConnector(), real_files("caiso_node_locations")),
    ]
    for label, connector, files in cases:
        rows, seconds = parse_rate(connector, files)
        print(f"{label}: {rows:,} rows in {seconds * 1000:.1f} ms (best of 3) = {rows / seconds:,.0f} rows/s")


class HubShapes:
    """The real hub file's hourly components, hubs x hours: one energy row (the same at every hub) and each
    hub's congestion and loss."""

    def __init__(self, hubs: RawFile):
        frame = PjmConnector().parse(hubs).tables["nodal_lmp"]
        wide = frame.pivot_table(index="interval_start", columns="node", values=["energy", "congestion", "loss"])
        wide = wide.dropna()  # an hour some hub lacks would give that hub's nodes a gap
        self.hubs = [str(n) for n in wide["congestion"].columns]
        self.energy = wide["energy"].mean(axis=1).to_numpy()
        self.congestion = wide["congestion"].to_numpy().T  # hub x hour
        self.loss = wide["loss"].to_numpy().T
        self.hours = len(self.energy)


def network_batch(shapes: HubShapes, nodes: int, first_hour: int, hours: int,
                  rng: np.random.Generator, factors: tuple[np.ndarray, np.ndarray, np.ndarray]) -> pd.DataFrame:
    """Rows of every node for ``hours`` hours from hour ``first_hour`` of the year, in the table's key order
    (node, then time)."""
    hub_of, congestion_factor, loss_factor = factors
    at = (first_hour + np.arange(hours)) % shapes.hours  # the hub file's hours, repeated over the year
    energy = np.broadcast_to(shapes.energy[at], (nodes, hours))
    congestion = shapes.congestion[hub_of][:, at] * congestion_factor[:, None]
    loss = shapes.loss[hub_of][:, at] * loss_factor[:, None]
    noise = rng.normal(0.0, 0.4, (nodes, hours))
    noise[:len(shapes.hubs)] = 0.0  # the hubs are published as they are
    congestion = congestion + noise
    lmp = energy + congestion + loss
    starts = YEAR_START.to_datetime64() + (first_hour + np.arange(hours)).astype("timedelta64[h]")
    n = nodes * hours
    names = pd.CategoricalDtype(node_ids(shapes, nodes))

    def constant(value: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(n, np.int8), dtype=pd.CategoricalDtype([value]))

    return pd.DataFrame({
        "market": constant("PJM"), "market_run": constant("DA"),
        "node": pd.Categorical.from_codes(np.repeat(np.arange(nodes, dtype=np.int32), hours), dtype=names),
        "interval_minutes": np.full(n, 60, np.uint16),
        "interval_start": pd.DatetimeIndex(np.tile(starts.astype("datetime64[ns]"), nodes)).tz_localize("UTC"),
        "lmp": lmp.ravel(), "energy": energy.ravel(), "congestion": congestion.ravel(), "loss": loss.ravel(),
        "source": constant("bench-network"),
    }, copy=False)


def node_ids(shapes: HubShapes, nodes: int) -> list[str]:
    """The real hubs' pnode ids, then made-up ones (PJM's are numbers; these start with 9 and cannot clash)."""
    return shapes.hubs + [f"9{i:09d}" for i in range(nodes - len(shapes.hubs))]


def fill(store: Store, shapes: HubShapes, nodes: int, days: int,
         batch_rows: int) -> tuple[int, float, float, float]:
    """Load ``nodes`` x ``days`` x 24 rows; (rows, seconds in write_tables, CPU seconds in write_tables (chDB's
    threads included: the store runs in this process), seconds generating)."""
    rng = np.random.default_rng(14)
    hub_of = np.arange(nodes) % len(shapes.hubs)
    congestion_factor = rng.uniform(0.3, 1.7, nodes)
    loss_factor = rng.normal(1.0, 0.3, nodes)
    congestion_factor[:len(shapes.hubs)] = 1.0
    loss_factor[:len(shapes.hubs)] = 1.0
    factors = (hub_of, congestion_factor, loss_factor)
    hours_per_batch = max(1, batch_rows // nodes)
    total_hours = days * 24
    rows, writing, cpu, generating = 0, 0.0, 0.0, 0.0
    for first in range(0, total_hours, hours_per_batch):
        hours = min(hours_per_batch, total_hours - first)
        started = time.perf_counter()
        frame = network_batch(shapes, nodes, first, hours, rng, factors)
        generated, cpu_before = time.perf_counter(), time.process_time()
        report = write_tables(store, {"nodal_lmp": frame}, unique_keys=True)
        writing += time.perf_counter() - generated
        cpu += time.process_time() - cpu_before
        generating += generated - started
        rows += report.rows_written
        print(f"  {rows:,} rows stored ({rows / writing:,.0f} rows/s in the writer so far)", flush=True)
    return rows, writing, cpu, generating


def time_basis(store: Store, hub: str, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds per published_basis call as the nodal page's callback makes it on a cache miss, wall and CPU
    (chDB's threads included)."""
    # The parts just loaded merge in the background of this process, and would count in its CPU time.
    store.command("SYSTEM STOP MERGES")
    seconds, cpu = [], []
    for _ in range(repeats):
        started, cpu_before = time.perf_counter(), time.process_time()
        found = published_basis(store, "PJM", "DA", hub)
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_before)
    assert len(found.nodes), "the basis found no nodes"
    return seconds, cpu


def time_page_callback(store_url: str, hub: str, repeats: int) -> list[float]:
    """Seconds per call of the nodal page's published-basis callback (callbacks.nodal.published: the query, the
    table of nodes and the hour-of-day surface figure) on a cache miss, in the app built on this store."""
    from app.factory import create_app
    from app.services import services
    from app.settings import Settings
    from callbacks import nodal

    server = create_app(Settings(store_url=store_url, scheduler=False, demo=False, auth=False,
                                 warming="off")).server
    # What a gunicorn worker does once its app is loaded (app.gunicorn_config.post_worker_init): the app's
    # long-lived objects out of the collector's sight. Without it each full collection here paused a call
    # 130-170 ms, a pause the served app does not have.
    gc.freeze()
    seconds = []
    for timed in [False, *[True] * repeats]:  # the first call also opens the app's store: not timed
        with server.test_request_context("/_dash-update-component", method="POST"):
            services(server).cache.clear()  # each call a miss, as the first after a load
            started = time.perf_counter()
            shown = nodal.published("PJM|DA", hub)
            if timed:
                seconds.append(time.perf_counter() - started)
    assert shown["no_csv"] is False, "the callback drew no basis"
    return seconds


def store_bench(nodes: int, days: int, batch_rows: int, repeats: int, folder: Path, *, keep: bool = False,
                without_daily: bool = False) -> None:
    hubs = next(f for f in real_files("pjm") if f.name.startswith("da_hrl_lmps_hubs"))
    shapes = HubShapes(hubs)
    if nodes < len(shapes.hubs):
        raise SystemExit(f"--nodes must be at least {len(shapes.hubs)} (the real hubs)")
    if keep:
        store = Store(f"chdb://{folder}?database=bench")
        rows = store.scalar("SELECT count() FROM nodal_lmp")
        print(f"timing the store filled earlier in {folder}: {rows:,} rows")
    else:
        shutil.rmtree(folder, ignore_errors=True)
        store = Store(f"chdb://{folder}?database=bench")
        migrate(store)
        if without_daily:  # the load as it was before migration 021, to see what the daily view costs it
            store.command("DROP VIEW nodal_lmp_daily_mv")
        size = nodes * days * 24
        print(f"filling {nodes:,} nodes x {days} days hourly = {size:,} rows into {folder}")
        rows, writing, cpu, generating = fill(store, shapes, nodes, days, batch_rows)
        print(f"load: {rows:,} rows in {writing:.1f} s of writing = {rows / writing:,.0f} rows/s; {cpu:.1f} s of "
              f"CPU = {rows / cpu:,.0f} rows per CPU second (generating them took another {generating:.1f} s; "
              f"load average {_load()})")
        on_disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"store on disk: {on_disk / 1e9:.2f} GB ({on_disk / max(rows, 1):.1f} bytes/row)")
        if rows < TARGET_ROWS:
            # The write rate is per row once batches are large, so the load scales with the rows.
            print(f"at {TARGET_ROWS:,} rows the load would take about {TARGET_ROWS / (rows / writing):,.0f} s "
                  "at this rate")
        if without_daily:
            store.close()
            return
    seconds, cpu = time_basis(store, shapes.hubs[0], repeats)
    ms, cpu_ms = np.array(seconds) * 1000, np.array(cpu) * 1000
    p50, p95 = float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
    print(f"published basis to hub {shapes.hubs[0]} (31 days x {nodes:,} nodes), {repeats} calls: "
          f"p50 {p50:,.0f} ms, p95 {p95:,.0f} ms, best {ms.min():,.0f} ms; CPU per call p50 "
          f"{np.percentile(cpu_ms, 50):,.0f} ms, p95 {np.percentile(cpu_ms, 95):,.0f} ms "
          f"(target p95 < {TARGET_P95_MS:.0f} ms; load average {_load()})")
    ms = np.array(time_page_callback(store.dsn, shapes.hubs[0], repeats)) * 1000
    print(f"the nodal page's published-basis callback (query, table and surface figure; a cache miss each), "
          f"{repeats} calls: p50 {np.percentile(ms, 50):,.0f} ms, p95 {np.percentile(ms, 95):,.0f} ms, best "
          f"{ms.min():,.0f} ms (target p95 < {TARGET_P95_MS:.0f} ms; load average {_load()})")
    store.close()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=11_000, help="nodes in the network (default 11,000)")
    parser.add_argument("--days", type=int, default=365, help="days of hourly prices (default 365)")
    parser.add_argument("--batch-rows", type=int, default=4_000_000, help="rows per write_tables batch")
    parser.add_argument("--repeats", type=int, default=20,
                        help="published-basis calls timed (20: a p95 of fewer is hardly more than their slowest)")
    parser.add_argument("--store", type=Path, default=REPO_ROOT / "var" / "bench_nodal",
                        help="chDB directory for the bench store (emptied first)")
    parser.add_argument("--keep-store", action="store_true",
                        help="time the basis on the store an earlier run filled (no load)")
    parser.add_argument("--without-daily-view", action="store_true",
                        help="load without the daily nodal view (migration 021), to see what it costs; no basis")
    parser.add_argument("--skip-parse", action="store_true", help="skip the connectors' parse speed")
    parser.add_argument("--skip-store", action="store_true", help="only the connectors' parse speed")
    args = parser.parse_args(argv)
    if not args.skip_parse:
        parse_bench()
    if not args.skip_store:
        store_bench(args.nodes, args.days, args.batch_rows, args.repeats, args.store.resolve(),
                    keep=args.keep_store, without_daily=args.without_daily_view)


if __name__ == "__main__":
    main()
