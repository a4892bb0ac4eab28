"""Where to draw each bus of a network: its own coordinates when it has them (longitude, latitude), else a
layout of its graph of branches."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.linalg import eigsh

from engine.lmp.network import Network

#: Above this many buses the all-pairs force layout alone takes tens of seconds; bigger networks start from
#: a spectral layout (sparse eigenvectors, well under a second) and get a short force refinement.
FORCE_LAYOUT_MAX_BUSES = 600


def coordinates(net: Network, seed: int = 7) -> tuple[pd.DataFrame, bool]:
    """(bus -> x, y) and whether they are geographic. Buses with coordinates keep them (longitude,
    latitude); a network without them gets a force-directed layout computed from its branches."""
    xy = net.buses[["x", "y"]].astype(float) if {"x", "y"} <= set(net.buses.columns) else None
    if xy is not None and xy.notna().all().all() and (xy.abs().sum(axis=1) > 0).mean() > 0.9:
        return xy, True
    if len(net.buses) > FORCE_LAYOUT_MAX_BUSES:
        return force_layout(net, iterations=25, seed=seed, start=spectral_layout(net)), False
    return force_layout(net, seed=seed), False


def _edges(net: Network) -> np.ndarray:
    """(from, to) positions in ``net.buses`` of every branch between two distinct buses."""
    pos_of = {b: i for i, b in enumerate(net.buses.index)}
    br = net.branches
    return np.array([(pos_of[f], pos_of[t]) for f, t in zip(br["from_bus"], br["to_bus"], strict=True)
                     if f in pos_of and t in pos_of and f != t]).reshape(-1, 2)


#: From this many buses on networkx (and so this) solves the Laplacian's eigenproblem sparsely.
_SPARSE_FROM = 500


def spectral_layout(net: Network) -> np.ndarray:
    """networkx's spectral layout (the two smallest non-trivial eigenvectors of the graph Laplacian), one row
    per bus, each axis scaled to [-1, 1] and turned so its largest entry is positive."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(net.buses)))
    graph.add_edges_from(map(tuple, _edges(net)))
    n = len(net.buses)
    if n < _SPARSE_FROM:
        placed = nx.spectral_layout(graph)  # dense eigh: the same answer every time
        pos = np.array([placed[i] for i in range(n)])
    else:
        # networkx's sparse branch (eigsh of the Laplacian, which="SM", tol 1e-4) with a seeded start vector:
        # networkx lets ARPACK start from a random one, so two drawings of one network differed.
        adjacency = nx.to_scipy_sparse_array(graph, nodelist=range(n), format="csr", dtype=float)
        laplacian = sparse.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
        values, vectors = eigsh(laplacian, 3, which="SM", ncv=max(7, int(np.sqrt(n))), tol=1e-4,
                                v0=np.random.default_rng(0).random(n))
        pos = vectors[:, np.argsort(values)[1:3]]
    # An eigenvector's sign is arbitrary: fixing it makes the same network start from the same place every time.
    pos = pos * np.sign(pos[np.abs(pos).argmax(axis=0), np.arange(pos.shape[1])])
    return pos / np.maximum(np.abs(pos).max(axis=0), 1e-12)


def force_layout(net: Network, iterations: int = 120, seed: int = 7,
                 start: np.ndarray | None = None) -> pd.DataFrame:
    """Fruchterman-Reingold layout, vectorised over all node pairs, from random or given positions.

    Hand-written, not networkx's ``spring_layout``, because of the "computed layout" lines of
    bench/nodal_latency.py: with networkx 3.6 the case118 line took 67 ms (120 iterations; 28 ms with its
    default 50) against 17 ms here, and refining the spectral start took 4.2 s for case_ACTIVSg2000 and 5.5 s
    for case2383wp (25 iterations) against about 1 s here; pglib case500 took 6.3 s against 0.15 s.
    """
    buses, edges = net.buses.index, _edges(net)
    n = len(buses)
    rng = np.random.default_rng(seed)
    pos = rng.uniform(-1, 1, (n, 2)) if start is None else start + rng.normal(0, 1e-3, (n, 2))
    k = np.sqrt(4.0 / max(n, 1))
    temp = 0.2
    pos = pos.astype(np.float32)
    for _ in range(iterations):
        # x and y as separate n x n float32 arrays: a third of the memory traffic of an n x n x 2 float64 one
        dx = pos[:, 0, None] - pos[None, :, 0]
        dy = pos[:, 1, None] - pos[None, :, 1]
        dist2 = np.maximum(dx * dx + dy * dy, 1e-6)
        push = (k * k) / dist2  # repulsion k^2/d along the unit vector (dx, dy)/d
        disp = np.column_stack([(dx * push).sum(axis=1), (dy * push).sum(axis=1)])
        if len(edges):
            d = pos[edges[:, 0]] - pos[edges[:, 1]]
            length = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
            pull = d * (length / k)[:, None]  # attraction d^2/k along the unit vector
            np.add.at(disp, edges[:, 0], -pull)
            np.add.at(disp, edges[:, 1], pull)
        step = np.linalg.norm(disp, axis=1)
        pos += disp / np.maximum(step, 1e-9)[:, None] * np.minimum(step, temp)[:, None]
        temp *= 0.97
    return pd.DataFrame(pos, index=buses, columns=["x", "y"])
