"""Overview callback latency at size: fills the bench store to 10 M price rows if needed (see
generate_prices.py), then times the overview's render callback (engine queries + figures + the JSON Dash
would send) for typical choices, and the latest-prices card's callback, cold (cache empty) and warm.
Median of 5 cold runs each.

    python bench/overview_latency.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from plotly.io.json import to_json_plotly as to_json  # the encoder Dash sends figures with

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate_prices import BENCH_STORE, fill
from engine.store import Store, migrate

CHOICES = [
    ("14 days (default view)", "SA1", "2026-10-18", "2026-10-31"),
    ("3 months", "NSW1", "2026-08-01", "2026-10-31"),
    ("1 year", "VIC1", "2025-11-01", "2026-10-31"),
    ("5 years", "QLD1", "2021-11-01", "2026-10-31"),
    ("all 19 years", "TAS1", "2007-11-01", "2026-10-31"),
]


def main() -> None:
    store = Store(BENCH_STORE)
    migrate(store)
    n = int(store.scalar("SELECT count() FROM prices") or 0)
    if n < 10_000_000:
        fill(store, 10_000_000)
        n = int(store.scalar("SELECT count() FROM prices"))
    store.close()

    from app.factory import create_app
    from app.settings import Settings
    from callbacks.overview import latest, render

    app = create_app(Settings(store_url=BENCH_STORE, scheduler=False, demo=False))
    cache = app.server.extensions["c254"].cache
    print(f"store: {n:,} price rows; timing the render callback (queries + figures + JSON encoding)")
    print(f"{'choice':<24}{'points':>9}{'cold median ms':>16}{'cold max ms':>13}{'warm ms':>9}")
    with app.server.test_request_context():
        render("NEM", "SA1", "2026-10-01", "2026-10-02", "market", "settlement")  # open the store, warm code paths
        for label, region, start, end in CHOICES:
            cold = []
            for _ in range(5):
                cache.clear()
                t0 = time.perf_counter()
                out = render("NEM", region, start, end, "market", "settlement")
                to_json(out["series"]), to_json(out["duration"]), to_json(out["heatmap"])
                cold.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            out = render("NEM", region, start, end, "market", "settlement")
            to_json(out["series"]), to_json(out["duration"]), to_json(out["heatmap"])
            warm = (time.perf_counter() - t0) * 1000
            points = len(out["series"]["data"][0]["x"])
            print(f"{label:<24}{points:>9,}{statistics.median(cold):>16.0f}{max(cold):>13.0f}{warm:>9.0f}")
        # the latest-prices card has its own callback: each region's newest price, through the view
        cold = []
        for _ in range(5):
            cache.clear()
            t0 = time.perf_counter()
            latest("NEM", "SA1", "market")
            cold.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        latest("NEM", "SA1", "market")
        warm = (time.perf_counter() - t0) * 1000
        print(f"{'latest prices card':<24}{5:>9,}{statistics.median(cold):>16.0f}{max(cold):>13.0f}{warm:>9.0f}")


if __name__ == "__main__":
    main()
