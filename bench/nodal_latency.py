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
from engine.lmp.study import SYSTEM_HUB


def _callback(app, output_id: str):
    for key, entry in app.callback_map.items():
        if key.startswith(f"..{output_id}.") or key.startswith(f"{output_id}."):
            return entry["callback"].__wrapped__
    raise KeyError(output_id)


def main() -> None:
    data_dir = Settings.from_env().data_dir
    store = f"chdb://{tempfile.mkdtemp(prefix='c254-bench-nodal-')}"
    app = create_app(Settings(store_url=store, scheduler=False, demo=False, data_dir=data_dir))
    render = _callback(app, "nd-map.figure")
    with app.server.test_request_context():
        t0 = time.perf_counter()
        fig, *_ = render("scigrid-de", "lmp", SYSTEM_HUB, "fixed", [], 0, None)
        first = time.perf_counter() - t0
        times = []
        for i in range(20):
            t0 = time.perf_counter()
            fig, *_ = render("scigrid-de", "basis" if i % 2 else "lmp", SYSTEM_HUB, "fixed", [], i % 24, None)
            pio.to_json(fig)
            times.append(time.perf_counter() - t0)
    from engine.lmp.study import coordinates, study_network

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
