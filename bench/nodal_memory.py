"""Memory of the nodal page's studies: every network of the grid folder opened in a row through the page's
study cache (``engine.lmp.study.studies``), as a user stepping through the network menu would.

    python bench/nodal_memory.py [--data-dir DIR] [--rounds N] [--line-views]

For each network it prints the seconds to open it, the process's resident memory after it and the peak so
far, all in MB, and at the end the growth over the memory before the first study (imports and the grid
folder listing): what the cached studies cost. ``--rounds 2`` opens the folder twice, so cached and evicted
studies alike are counted; ``--line-views`` also asks each study for the PTDF row of its most binding line, as
a click on the map does. The target (issue 15 §4) is a growth under 300 MB whatever is opened.
``--data-dir`` defaults to C254_DATA_DIR or ../shared/data.
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    """Resident memory of this process now, MB (Linux /proc)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    """Peak resident memory of this process so far, MB (ru_maxrss is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("C254_DATA_DIR") or REPO.parent / "shared" / "data"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--line-views", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from engine.lmp.study import grid_folder, networks_in, studies

    folder = grid_folder(args.data_dir)
    names = sorted(networks_in(folder))
    gc.collect()
    baseline = rss_mb()
    print(f"{len(names)} networks in {folder}; before any study: {baseline:.0f} MB resident")
    print(f"{'round':>5} {'network':<28}{'buses':>6} {'open s':>8} {'RSS MB':>8} {'peak MB':>8}")
    for r in range(1, args.rounds + 1):
        for name in names:
            started = time.perf_counter()
            try:
                study = studies.open(folder, name)
            except Exception as exc:  # a network that does not solve is reported, the others still count
                print(f"{r:>5} {name:<28} failed: {exc}")
                continue
            if args.line_views and len(study.result.binding):
                branch = str(study.result.binding["branch"].iloc[0])
                study.line_view(branch, study.result.binding["snapshot"].iloc[0])
            seconds = time.perf_counter() - started
            print(f"{r:>5} {name:<28}{len(study.network.buses):>6} {seconds:>8.2f} {rss_mb():>8.0f} {peak_mb():>8.0f}",
                  flush=True)
    gc.collect()
    print(f"growth over the baseline: now {rss_mb() - baseline:.0f} MB, peak {peak_mb() - baseline:.0f} MB "
          f"(target: under 300 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
