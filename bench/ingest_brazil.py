"""Parse speed of the Brazil connector, per report, on ONS's and CCEE's real files.

Besides the real files (from the shared data folder: env C254_DATA_DIR, default ../shared/data next to the
repository), a full year of hourly PLD is built from CCEE's real 5-day excerpt by re-dating its rows (same
layout, same prices in turn), since only the excerpt is in the data folder. Run as
``python bench/ingest_brazil.py``.
"""
from __future__ import annotations

import calendar
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import data_dir, parse_rate  # noqa: E402
from engine.files import RawFile  # noqa: E402
from ingest.brazil import BrazilConnector  # noqa: E402


def real_files(folder: str) -> list[RawFile]:
    path = data_dir() / "markets" / "brazil" / folder
    files = sorted(path.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no CSV files in {path}: set C254_DATA_DIR to the shared data folder")
    return [RawFile.from_path(f) for f in files]


def pld_year(excerpt: RawFile, year: int = 2025) -> RawFile:
    """A year of hourly PLD in CCEE's layout (days descending within each month), prices from the excerpt."""
    lines = excerpt.data.decode().splitlines()
    header, rows = lines[0], [line.split(";") for line in lines[1:]]
    prices = [r[5] for r in rows]
    out, k = [header], 0
    for month in range(1, 13):
        for day in range(calendar.monthrange(year, month)[1], 0, -1):
            for hour in range(24):
                for area in ("NORDESTE", "NORTE", "SUDESTE", "SUL"):
                    out.append(f"{year}{month:02d};{area};{(day - 1) * 24 + hour + 1};{day};{hour};"
                               f"{prices[k % len(prices)]}")
                    k += 1
    return RawFile(name=f"pld_horario_{year}.csv", data=("\n".join(out) + "\n").encode())


def main() -> None:
    pld = real_files("ccee_pld")
    cases = {
        "ONS CARGA_ENERGIA (4 real yearly files)": real_files("ons_carga_energia"),
        "ONS EAR_DIARIO_SUBSISTEMA (real excerpt)": real_files("ons_ear_subsistema"),
        "CCEE pld_horario (real 5-day excerpt)": pld,
        "CCEE pld_horario (a year re-dated from the excerpt)": [pld_year(pld[0])],
    }
    for label, files in cases.items():
        rows, seconds = parse_rate(BrazilConnector(), files, repeats=5)
        print(f"{label}: {rows:,} rows in {seconds * 1000:.1f} ms (best of 5) = {rows / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
