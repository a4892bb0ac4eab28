"""Nodal page latency: how long the map callback takes to answer a snapshot change for SciGRID-de (585 buses)
once the day's DC-OPF is solved and cached (the first solve is timed separately). Median of 20 snapshot
changes, including turning the figure into the JSON Dash sends.

    python bench/nodal_latency.py
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import plotly.io as pio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.factory import create_app
from app.settings import Settings
from callbacks.nodal import render
from engine.lmp.layout import coordinates
from engine.lmp.study import SYSTEM_HUB, study_network


def main() -> None:
    data_dir = Settings.from_env().data_dir
    store = f"chdb://{tempfile.mkdtemp(prefix='c254-bench-nodal-')}"
    app = create_app(Settings(store_url=store, scheduler=False, demo=False, data_dir=data_dir))
    choice = {"name": "scigrid-de", "hub": SYSTEM_HUB, "scale": "fixed", "losses": [], "whatif": None}
    with app.server.test_request_context():
        t0 = time.perf_counter()
        render(field="lmp", index=0, **choice)
        first = time.perf_counter() - t0
        times = []
        for i in range(20):
            t0 = time.perf_counter()
            answer = render(field="basis" if i % 2 else "lmp", index=i % 24, **choice)
            pio.to_json(answer["map"])
            times.append(time.perf_counter() - t0)
    for case in ("case118.m", "case_ACTIVSg2000.m", "case2383wp.m"):
        net = study_network(data_dir / "grids" / case)
        t0 = time.perf_counter()
        coordinates(net)
        print(f"{case}: computed layout (no coordinates in the case) {(time.perf_counter() - t0) * 1000:.0f} ms")
    print(f"scigrid-de: first answer (load + solve 24 snapshots + layout) {first * 1000:.0f} ms; "
          f"snapshot change with results cached: median {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
