"""Parse speed of the nodal-LMP connectors (PJM, ISO-NE) and CAISO node locations on the real files.

The real files come from the shared data folder (env C254_DATA_DIR, default ../shared/data next to the
repository). A full-network PJM export is not in the folder, so one is also built from the real hub file by
repeating its rows under 20 sets of made-up pnode ids (same layout, 530,160 rows). Run as
``python bench/ingest_nodal.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import data_dir, parse_rate  # noqa: E402
from engine.files import RawFile  # noqa: E402
from ingest.caiso import CaisoConnector  # noqa: E402
from ingest.isone import IsoneConnector  # noqa: E402
from ingest.pjm import PjmConnector  # noqa: E402


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


def main() -> None:
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


if __name__ == "__main__":
    main()
