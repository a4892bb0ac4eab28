"""What the bench scripts share: where the real data is (the app's own setting) and a best-of-N parse timer."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app.settings import Settings
from engine.files import RawFile


def data_dir() -> Path:
    """The shared data folder, as the app reads it (C254_DATA_DIR, default ../shared/data)."""
    return Settings.from_env().data_dir


def parse_rate(connector: Any, files: list[RawFile], repeats: int = 3) -> tuple[int, float]:
    """(rows read per pass, best seconds per pass of ``connector.parse`` over ``files``)."""
    rows, best = 0, float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        results = [connector.parse(f) for f in files]
        best = min(best, time.perf_counter() - started)
        rows = sum(r.rows_read for r in results)
    return rows, best
