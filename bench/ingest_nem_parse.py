"""Parse speed of the NEM connector on one month of 5-minute PRICE_AND_DEMAND files for all five regions.

The month is built from AEMO's real PRICE_AND_DEMAND_202401_NSW1.csv (from the shared data folder: env
C254_DATA_DIR, default ../shared/data next to the repository) re-labelled for each region, so every file
has AEMO's exact layout and size. Run as ``python bench/ingest_nem_parse.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import data_dir, parse_rate  # noqa: E402
from engine.files import RawFile  # noqa: E402
from ingest.nem import REGIONS, NemConnector  # noqa: E402

SOURCE_FILE = "markets/aemo/price_and_demand/PRICE_AND_DEMAND_202401_NSW1.csv"


def month_of_5min_files() -> list[RawFile]:
    """January 2024 at 5 minutes for NSW1, QLD1, SA1, TAS1 and VIC1 (8,928 rows each, 44,640 in all)."""
    path = data_dir() / SOURCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: set C254_DATA_DIR to the shared data folder")
    nsw = path.read_bytes()
    header, _, body = nsw.partition(b"\n")
    files = []
    for region in REGIONS:
        # every data line starts with the region id, so re-labelling is a prefix swap after each line break
        relabelled = (b"\n" + body).replace(b"\nNSW1,", b"\n" + region.encode() + b",")[1:]
        files.append(RawFile(name=f"PRICE_AND_DEMAND_202401_{region}.csv", data=header + b"\n" + relabelled))
    return files


def main() -> None:
    files = month_of_5min_files()
    rows, seconds = parse_rate(NemConnector(), files)
    print(f"NEM PRICE_AND_DEMAND parse: {len(files)} files, {rows:,} rows in {seconds * 1000:.1f} ms "
          f"(best of 3) = {rows / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
