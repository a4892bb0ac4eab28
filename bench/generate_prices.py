"""Fill a store with 10 million NEM-shaped price rows (5 regions x 5-minute intervals x ~19 years) so pages
can be measured at size. Writes to C254_BENCH_STORE (default: chdb://<repo>/var/bench-store).

    python bench/generate_prices.py [--rows 10000000]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.demo import NEM_REGIONS, NEM_TZ, nem_demo_frames
from engine.store import Store, migrate, write_tables

REPO = Path(__file__).resolve().parent.parent
BENCH_STORE = os.environ.get("C254_BENCH_STORE") or f"chdb://{REPO / 'var' / 'bench-store'}"
BENCH_END = pd.Timestamp("2026-11-01", tz=NEM_TZ)


def fill(store: Store, rows: int) -> tuple[int, float]:
    per_day = 288 * len(NEM_REGIONS)
    days = -(-rows // per_day)
    written, t0 = 0, time.perf_counter()
    end = BENCH_END
    while days > 0:
        chunk = min(days, 365)
        frames = nem_demo_frames(days=chunk, end=end, seed=int(end.year))
        for f in frames.values():
            f["source"] = "bench"
        written += write_tables(store, frames, source="bench").written.get("prices", 0)
        end -= pd.Timedelta(days=chunk)
        days -= chunk
    return written, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    args = ap.parse_args()
    store = Store(BENCH_STORE)
    migrate(store)
    have = int(store.scalar("SELECT count() FROM prices") or 0)
    if have >= args.rows:
        print(f"bench store already holds {have:,} price rows")
        return
    written, secs = fill(store, args.rows)
    print(f"wrote {written:,} price rows (+ as many demand rows) in {secs:.1f} s "  # noqa: S608 -- a fixed query, no input
          f"({written / secs:,.0f} price rows/s); store now holds "
          f"{int(store.scalar('SELECT count() FROM prices')):,} price rows")


if __name__ == "__main__":
    main()
