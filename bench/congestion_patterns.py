"""Benchmark: congestion patterns (engine/lmp/patterns.py) -- speed on a PJM-sized matrix, the real published
files, and how well the patterns line up with the corridors that bound on a modelled network.

    python bench/congestion_patterns.py [--data-dir DIR] [--nodes 11000] [--hours 744] [--corridors 40]

1. **Speed.** A matrix of PJM's size (``--nodes`` x ``--hours``, default 11,000 pricing nodes x 744 hours, a
   31-day month) is generated with the shapes of the real files: ``--corridors`` synthetic corridors, each a
   signed PTDF-like loading over the nodes (two regions pulled apart, smooth in between), activated hour by hour
   by the published congestion of PJM's hubs (rt_hrl_lmps_hubs, first 744 hours: real spikes, real diurnal
   shape) mixed at random, plus a load-weighted reference constant per hour and rounding to the cent. Times
   :func:`engine.lmp.patterns.congestion_patterns` (matrix, checks, SVD, gap filling, exposures), best of 3,
   with and without 2 % of the values missing.
2. **Real files.** Patterns of the PJM hub files and the ISO-NE all-node files, parsed by the connectors.
3. **SciGRID-de, 24 hours** (prepared as bench/infer_constraints.py prepares it), solved by this engine; its
   congestion components, rounded to the cent, factorised. For each corridor that bound (|dual| > 0.01 $/MWh)
   its PTDF row is restricted to the buses and its mean removed (which removes the reference); printed:
   ``subspace`` = ||P h|| / ||h||, the cosine between the row and the span of the k patterns (the principal
   angle), ``best`` = the largest |cosine| with one pattern, for the corridors carrying most congestion, and
   the mean of ``subspace`` weighted by each corridor's share of congestion (sum over hours of
   (dual x ||h||)^2). The other direction -- how much of each pattern lies in the span of the bound corridors'
   rows -- is printed as well, with the chance level sqrt(k / (buses - 1)) of a random direction.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def pjm_sized(data_dir: Path, nodes: int, hours: int, corridors: int, seed: int = 0):
    """A long table (interval_start, node, congestion) of ``nodes`` x ``hours`` with ``corridors`` patterns,
    activated by real PJM hub congestion series; and the true loadings (node x corridor, centred)."""
    import numpy as np
    import pandas as pd

    from engine.files import RawFile
    from ingest.pjm import PjmConnector

    raw = RawFile.from_path(data_dir / "markets" / "pjm" / "rt_hrl_lmps_hubs_20250501-20250801.csv")
    hubs = PjmConnector().parse(raw).tables["nodal_lmp"]
    series = hubs.pivot(index="interval_start", columns="node", values="congestion").iloc[:hours]
    if len(series) < hours:
        raise SystemExit(f"the hub file holds {len(series)} hours, fewer than --hours {hours}")
    rng = np.random.default_rng(seed)
    # Node positions on a line of the footprint; a corridor separates the nodes on either side of a cut, with a
    # smooth transition (a PTDF row of a long radial-ish system looks like this).
    position = np.sort(rng.uniform(0, 1, nodes))
    cuts, widths = rng.uniform(0.1, 0.9, corridors), rng.uniform(0.01, 0.2, corridors)
    rows = np.tanh((position[:, None] - cuts) / widths) + 0.05 * rng.standard_normal((nodes, corridors))
    rows -= rows.mean(axis=0)
    # Each corridor's shadow price: a mix of hub congestion series, the larger corridors first.
    hub_values = series.to_numpy(float)
    hub_values = hub_values - hub_values.mean(axis=1, keepdims=True)
    hub_values /= hub_values.std(axis=0)     # else the Eastern hub's spikes drive every corridor
    mix = rng.standard_normal((hub_values.shape[1], corridors)) * (0.85 ** np.arange(corridors))
    duals = hub_values @ mix
    weights = rng.uniform(0.5, 1.5, nodes)
    x = rows @ duals.T
    x -= (weights @ x) / weights.sum()       # a load-weighted reference
    x = np.round(x, 2)
    hours_index = series.index
    names = pd.Index([f"N{i}" for i in range(nodes)])
    frame = pd.DataFrame({"interval_start": np.tile(hours_index, nodes),
                          "node": names.repeat(hours), "congestion": x.ravel()})
    return frame, pd.DataFrame(rows, index=names)


def scigrid_alignment(data_dir: Path):
    """(patterns at the 90 % target, patterns at 99 %, per-corridor table, bound rows centred) on SciGRID-de."""
    import pandas as pd

    from bench.infer_constraints import scigrid
    from engine.lmp.inference import corridor_of
    from engine.lmp.opf import solve_dcopf
    from engine.lmp.patterns import congestion_patterns

    net = scigrid(data_dir)
    result = solve_dcopf(net)
    comps = result.nodes[["snapshot", "bus", "congestion"]].rename(columns={"snapshot": "interval_start",
                                                                               "bus": "node"})
    comps["congestion"] = comps["congestion"].round(2)
    bound = result.binding[result.binding["shadow_price"].abs() > 0.01].copy()
    bound["corridor"] = bound["branch"].astype(str).map(corridor_of(net))
    ptdf = result.ptdf.set_axis(result.ptdf.index.astype(str))
    names = pd.Index(sorted(bound["corridor"].unique()))
    rows = ptdf.loc[names]
    h = rows.to_numpy(float) - rows.to_numpy(float).mean(axis=1, keepdims=True)
    dual_sq = bound.groupby("corridor")["shadow_price"].apply(lambda s: float((s ** 2).sum())).reindex(names)
    share = dual_sq.to_numpy() * (h ** 2).sum(axis=1)
    table = pd.DataFrame({"hours": bound.groupby("corridor").size().reindex(names),
                          "share": share / share.sum()}, index=names)
    return ([congestion_patterns(comps, target=t) for t in (0.9, 0.99)], table, rows, result)


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    from scipy.linalg import subspace_angles

    from bench.common import data_dir as default_data_dir
    from engine.files import RawFile
    from engine.lmp.patterns import congestion_patterns, pattern_alignment
    from ingest.isone import IsoneConnector
    from ingest.pjm import PjmConnector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--nodes", type=int, default=11_000)
    parser.add_argument("--hours", type=int, default=744)
    parser.add_argument("--corridors", type=int, default=40)
    args = parser.parse_args(argv)
    folder = args.data_dir or default_data_dir()

    frame, rows = pjm_sized(folder, args.nodes, args.hours, args.corridors)
    gappy = frame.sample(frac=0.98, random_state=1)
    for label, data in (("complete", frame), ("2 % missing", gappy)):
        best, patterns = float("inf"), None
        for _ in range(3):
            started = time.perf_counter()
            patterns = congestion_patterns(data, max_k=10)
            best = min(best, time.perf_counter() - started)
        k = patterns.k
        # Every pattern should lie in the span of the corridors' rows (the data are sums of them).
        truth = rows.loc[patterns.loadings.index].to_numpy()
        angle = np.degrees(subspace_angles(patterns.loadings.to_numpy(), truth).max())
        print(f"PJM-sized {args.nodes} nodes x {args.hours} hours ({label}, {patterns.filled} gaps filled): "
              f"{best:.2f} s best of 3 (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); "
              f"k={k} explains {patterns.total_explained:.1%} "
              f"({', '.join(f'{v:.1%}' for v in patterns.explained)}); largest angle between a pattern and the "
              f"span of the {args.corridors} corridors' rows {angle:.2f} deg")

    for connector, path in ((PjmConnector(), "pjm/da_hrl_lmps_hubs_20250501-20250801.csv"),
                            (PjmConnector(), "pjm/rt_hrl_lmps_hubs_20250501-20250801.csv"),
                            (IsoneConnector(), "isone/WW_DALMP_ISO_20260604.csv"),
                            (IsoneConnector(), "isone/lmp_rt_final_20260602.csv")):
        parsed = connector.parse(RawFile.from_path(folder / "markets" / path)).tables
        meta = parsed["node_metadata"]
        started = time.perf_counter()
        p = congestion_patterns(parsed["nodal_lmp"], labels=dict(zip(meta["node"], meta["node_name"], strict=True)),
                                hubs=set(meta.loc[meta["node_type"].str.upper() == "HUB", "node"]))
        took = time.perf_counter() - started
        n, t = p.loadings.shape[0], p.activations.shape[0]
        print(f"{path}: {n} nodes x {t} hours, {took:.2f} s, k={p.k}: "
              f"{', '.join(f'{v:.1%}' for v in p.explained)}")
        for name in p.loadings.columns:
            top = p.exposed[p.exposed["pattern"] == name].head(3)
            print(f"  {name}: " + "; ".join(f"{r.label} {r.loading:+.2f} (rms {r.rms_usd:.2f} $/MWh)"
                                            for r in top.itertuples()))

    started = time.perf_counter()
    (p90, p99), table, bound_rows, result = scigrid_alignment(folder)
    took = time.perf_counter() - started
    n_bus = p90.loadings.shape[0]
    print(f"SciGRID-de 24 h: {n_bus} buses, {len(table)} corridors bound (|dual| > 0.01), solve + factorise "
          f"{took:.1f} s")
    h = bound_rows[p90.loadings.index].to_numpy(float)
    basis = np.linalg.qr((h - h.mean(axis=1, keepdims=True)).T)[0]
    for p in (p90, p99):
        al = pattern_alignment(p, bound_rows).join(table).sort_values("share", ascending=False)
        in_span = np.linalg.norm(basis.T @ p.loadings.to_numpy(), axis=0)
        aligned = al["subspace"] >= 0.9
        print(f"  k={p.k} ({p.total_explained:.1%} explained): share-weighted mean subspace cosine "
              f"{float((al['subspace'] * al['share']).sum()):.3f}; corridors with subspace cosine >= 0.9: "
              f"{int(aligned.sum())} of {len(al)} carrying {al.loc[aligned, 'share'].sum():.1%}; "
              f"chance level sqrt(k/(n-1)) {np.sqrt(p.k / (n_bus - 1)):.3f}")
        print(f"    each pattern's cosine with the span of the bound corridors' rows: "
              f"{', '.join(f'{v:.4f}' for v in in_span)}")
        for name, r in al.head(6).iterrows():
            print(f"    corridor {name}: share {r['share']:.1%}, bound {int(r['hours'])} h, "
                  f"subspace {r['subspace']:.3f}, best {r['best']:.3f} ({r['best_pattern']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
