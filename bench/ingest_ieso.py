"""Parse speed of the IESO connector, per report type, on the real files (and the spec-built LMP fixtures).

Run: ``.venv/bin/python bench/ingest_ieso.py [repeats]``. Reads the data folder from C254_DATA_DIR
(default ../shared/data beside the checkout). Prints file rows read per second and table rows produced
per second, best of ``repeats`` runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import data_dir  # noqa: E402
from engine.files import RawFile  # noqa: E402
from ingest.ieso import IesoConnector, report_named_in  # noqa: E402


def main(repeats: int = 5) -> None:
    folder = data_dir() / "markets" / "ieso"
    files = sorted(
        p for d in ("reports", "pyiso_fixtures_xml") for p in (folder / d).glob("*") if p.is_file()
    )
    files += sorted((REPO / "tests" / "fixtures" / "ieso").glob("specbuilt_*"))
    if not files:
        sys.exit(f"no IESO files under {folder}")
    connector = IesoConnector()
    print(
        f"{'report':26} {'file':48} {'rows in':>8} {'rows out':>9} {'ms':>7} "
        f"{'in rows/s':>11} {'out rows/s':>11}"
    )
    for path in files:
        raw = RawFile.from_path(path)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = connector.parse(raw)
            best = min(best, time.perf_counter() - t0)
        print(
            f"{report_named_in(path.name) or '?':26} {path.name[:48]:48} {result.rows_read:8,} "
            f"{result.rows_parsed:9,} {best * 1e3:7.1f} {result.rows_read / best:11,.0f} "
            f"{result.rows_parsed / best:11,.0f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
