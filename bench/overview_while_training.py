"""The overview's render callback over HTTP against a running app, as a browser sends it, each request a new
date range (no cache hit): run it once while a transformer trains (the admin page or ``flask forecast train``
shows it) and once while nothing does, and compare.

    python bench/overview_while_training.py [http://127.0.0.1:8050] [requests]
"""
from __future__ import annotations

import datetime as dt
import statistics
import sys
import time

import requests

#: The render callback is the one drawing this output; its inputs and outputs are read from the app itself.
RENDERED = "ov-series.figure"


def body(dependencies: list[dict], region: str, start: dt.date, end: dt.date) -> dict:
    """The render callback's request as the browser sends it, every declared input and output in its place."""
    dep = next(d for d in dependencies if RENDERED in d["output"])
    values = {"ov-market.value": "NEM", "ov-location.value": region, "ov-dates.start_date": start.isoformat(),
              "ov-dates.end_date": end.isoformat(), "ov-tz.value": "market", "ov-kind.value": "settlement",
              "ov-scale.value": "linear"}
    outputs = [dict(zip(("id", "property"), part.rsplit(".", 1), strict=True))
               for part in dep["output"].strip(".").split("...")]
    inputs = [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in dep["inputs"]]
    return {"output": dep["output"], "outputs": outputs, "inputs": inputs,
            "state": [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in dep.get("state", [])],
            "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8050"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    session = requests.Session()
    try:
        session.get(base + "/", timeout=30)
    except requests.ConnectionError:
        print(f"no app answers at {base}: start one (make run; local mode C254_AUTH=off) and run this again")
        return
    dependencies = session.get(base + "/_dash-dependencies", timeout=30).json()
    regions = ["NSW1", "QLD1", "VIC1", "SA1", "TAS1"]
    last = dt.date(2026, 10, 31)
    times = []
    for i in range(n):
        end = last - dt.timedelta(days=i)
        t0 = time.perf_counter()
        request = body(dependencies, regions[i % 5], end - dt.timedelta(13), end)
        answer = session.post(base + "/_dash-update-component", json=request, headers={"Origin": base}, timeout=60)
        times.append((time.perf_counter() - t0) * 1000)
        answer.raise_for_status()
    times.sort()
    print(f"overview render (14 days, uncached) x{n}: median {statistics.median(times):.0f} ms, "
          f"p95 {times[int(0.95 * (n - 1))]:.0f} ms, max {times[-1]:.0f} ms")


if __name__ == "__main__":
    main()
