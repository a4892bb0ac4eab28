"""Benchmark: binding constraints inferred from congestion components, against the engine's own solve.

    python bench/infer_constraints.py [--data-dir DIR] [--decimals 2] [--min-dual 0.01]

SciGRID-de over its 24 snapshots, prepared as tests/oracles/pypsa_cases.py prepares it for PyPSA (lines at
70 % of s_nom, lines 316, 527 and 602 at 1715 MVA; the engine's solve equals PyPSA's there, see
tests/test_lmp_opf.py). The DC-OPF's congestion components, rounded to ``--decimals`` like a published file,
go to :func:`engine.lmp.inference.infer_constraints`; the inferred (hour, corridor) pairs are compared with
the corridors whose dual exceeds ``--min-dual`` $/MWh in the solve (smaller duals move no published price
by a full cent; the figures with every non-zero dual are printed as well). Prints precision, recall, the
shadow-price error on the hits and the time taken. ``--data-dir`` defaults to the app's data setting.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def scigrid(data_dir: Path):
    from engine.lmp.cases import load_case

    net = load_case(data_dir / "grids" / "scigrid-de")
    s_nom = net.branches["rate_a"].copy()
    s_nom[["316", "527", "602"]] = 1715.0
    s_nom[net.branches["kind"] == "line"] *= 0.7
    return net.with_rate_a(s_nom)


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from bench.common import data_dir as default_data_dir
    from engine.lmp.inference import corridor_of, corridor_scores, infer_constraints
    from engine.lmp.opf import solve_dcopf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--decimals", type=int, default=2)
    parser.add_argument("--min-dual", type=float, default=0.01, dest="min_dual")
    args = parser.parse_args(argv)
    folder = args.data_dir or default_data_dir()
    net = scigrid(folder)
    started = time.perf_counter()
    result = solve_dcopf(net)
    solve_s = time.perf_counter() - started
    comps = result.nodes[["snapshot", "bus", "congestion"]].rename(columns={"snapshot": "time"})
    comps["congestion"] = comps["congestion"].round(args.decimals)
    tolerance = 0.5 * 10.0 ** -args.decimals
    started = time.perf_counter()
    inferred = infer_constraints(net, comps, tolerance=tolerance)
    infer_s = time.perf_counter() - started
    corridor = corridor_of(net)
    print(f"SciGRID-de: {len(net.buses)} buses, {len(net.branches)} branches, {corridor.nunique()} corridors, "
          f"{len(result.snapshots)} hours; DC-OPF {solve_s:.2f} s, inference {infer_s:.2f} s "
          f"(tolerance {tolerance} $/MWh)")
    for min_dual in (args.min_dual, 0.0):
        s = corridor_scores(inferred, result.binding, corridor, min_dual)
        print(f"  |dual| > {min_dual:g}: true {s['true']}, inferred {s['inferred']}, hits {s['hits']}, "
              f"precision {s['precision']:.3f}, recall {s['recall']:.3f}")
    # Shadow prices on hits where the corridor is one branch (a split between parallel circuits is not unique).
    sizes = corridor.value_counts()
    single = inferred[inferred["corridor"].map(sizes) == 1]
    truth = result.binding.assign(branch=result.binding["branch"].astype(str))
    joined = single.merge(truth, left_on=["time", "branch"], right_on=["snapshot", "branch"],
                          suffixes=("", "_true"))
    err = np.abs(joined["shadow_price"] - joined["shadow_price_true"])
    rel = err / joined["shadow_price_true"].abs()
    print(f"  shadow prices on {len(joined)} single-branch hits: median abs error {err.median():.4f} $/MWh, "
          f"95th percentile relative error {rel.quantile(0.95):.3%}")
    print(f"  largest misfit to the published figures: {inferred.attrs['fit']['max_misfit'].max():.4f} $/MWh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
