"""What the nodal page studies: a network from the grid folder (or a built-in demo), its snapshots, a
solved DC-OPF, node coordinates for drawing, and the node table at one snapshot against a hub.

Plain functions over tables; the page caches their results.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.lmp.cases import list_cases, load_case
from engine.lmp.network import Network
from engine.lmp.opf import OpfResult, solve_dcopf

#: A typical weekday load shape (share of the daily peak, hour 0..23): networks published as a single
#: snapshot are studied over these 24 hours so the page has a day to step through.
DAILY_LOAD_SHAPE = np.array([0.70, 0.66, 0.64, 0.63, 0.64, 0.68, 0.76, 0.86, 0.92, 0.95, 0.96, 0.97,
                             0.97, 0.96, 0.95, 0.95, 0.97, 1.00, 1.00, 0.98, 0.94, 0.88, 0.80, 0.74])
SYSTEM_HUB = "__load_weighted__"


def networks_in(folder: Path) -> dict[str, Path]:
    """Networks the page can open: MATPOWER cases and PyPSA CSV folders in ``folder``, by name."""
    if not folder.is_dir():
        return {}
    cases = list_cases(folder)
    return {str(r.case): Path(r.path) for r in cases.itertuples()}


def study_network(path: Path, max_snapshots: int = 24) -> Network:
    """The network with at most ``max_snapshots`` snapshots (a day); single-snapshot cases get the daily
    load shape, scaled so the peak hour is the case's own demand."""
    net = load_case(path)
    if len(net.snapshots) > 1:
        return net.select_snapshots(net.snapshots[:max_snapshots])
    hours = pd.Index([f"{h:02d}:00" for h in range(24)], name="snapshot")
    return net.with_demand_profile(pd.Series(DAILY_LOAD_SHAPE, index=hours))


def solve_study(net: Network, *, rate_a: dict[str, float] | None = None, outage: str | None = None,
                losses: bool = False) -> OpfResult:
    """Solve the study, optionally with some line limits changed and one line out (the what-if)."""
    if rate_a:
        net = net.with_rate_a(pd.Series(rate_a, dtype=float))
    if outage:
        net = net.with_branch_out(outage)
    return solve_dcopf(net, losses=losses)


def coordinates(net: Network, seed: int = 7) -> tuple[pd.DataFrame, bool]:
    """(bus -> x, y) and whether they are geographic. Buses with coordinates keep them (longitude,
    latitude); a network without them gets a force-directed layout computed from its branches."""
    xy = net.buses[["x", "y"]].astype(float) if {"x", "y"} <= set(net.buses.columns) else None
    if xy is not None and xy.notna().all().all() and (xy.abs().sum(axis=1) > 0).mean() > 0.9:
        return xy, True
    if len(net.buses) > FORCE_LAYOUT_MAX_BUSES:
        return force_layout(net, iterations=25, seed=seed, start=spectral_layout(net)), False
    return force_layout(net, seed=seed), False


#: Above this many buses the all-pairs force layout alone takes tens of seconds; bigger networks start from
#: a spectral layout (sparse eigenvectors, well under a second) and get a short force refinement.
FORCE_LAYOUT_MAX_BUSES = 600


def _edges(net: Network) -> tuple[pd.Index, np.ndarray]:
    buses = net.buses.index
    pos_of = {b: i for i, b in enumerate(buses)}
    br = net.branches
    edges = np.array([(pos_of[f], pos_of[t]) for f, t in zip(br["from_bus"], br["to_bus"], strict=True)
                      if f in pos_of and t in pos_of and f != t]).reshape(-1, 2)
    return buses, edges


def spectral_layout(net: Network) -> np.ndarray:
    """Positions from the two smallest non-trivial eigenvectors of the graph Laplacian, scaled to [-1, 1]."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    buses, edges = _edges(net)
    n = len(buses)
    adj = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adj = ((adj + adj.T) > 0).astype(float)
    lap = sp.diags(np.asarray(adj.sum(axis=1)).ravel() + 1e-6) - adj
    # shift-invert around a small negative sigma finds the smallest eigenvalues quickly and stably
    _, vecs = eigsh(lap, k=3, sigma=-1e-3, which="LM")
    pos = vecs[:, 1:3]
    return pos / np.maximum(np.abs(pos).max(axis=0), 1e-12)


def force_layout(net: Network, iterations: int = 120, seed: int = 7,
                 start: np.ndarray | None = None) -> pd.DataFrame:
    """Fruchterman-Reingold layout, vectorised over all node pairs, from random or given positions."""
    buses, edges = _edges(net)
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


@dataclass(frozen=True)
class NodeView:
    table: pd.DataFrame   # bus, lmp, energy, congestion, loss, hub, basis (one snapshot)
    hub_price: float


def hub_prices(result: OpfResult, net: Network, hub: str) -> pd.Series:
    """Hub price per snapshot: one bus's LMP, or the demand-weighted mean LMP (the system hub)."""
    nodes = result.nodes
    if hub != SYSTEM_HUB:
        return nodes[nodes["bus"] == hub].set_index("snapshot")["lmp"]
    demand = pd.DataFrame(net.demand_matrix(result.snapshots), index=result.snapshots, columns=net.buses.index)
    weights = demand.stack().rename("w").reset_index().rename(columns={"level_0": "snapshot", "level_1": "bus"})
    weights.columns = ["snapshot", "bus", "w"]
    merged = nodes.merge(weights, on=["snapshot", "bus"], how="left")
    merged["w"] = merged["w"].clip(lower=0).fillna(0)
    grouped = merged.assign(pw=merged["lmp"] * merged["w"]).groupby("snapshot")[["pw", "w"]].sum()
    return grouped["pw"] / grouped["w"].replace(0, np.nan)


def node_view(result: OpfResult, net: Network, snapshot, hub: str) -> NodeView:
    hubs = hub_prices(result, net, hub)
    table = result.nodes[result.nodes["snapshot"] == snapshot].drop(columns="snapshot").reset_index(drop=True)
    price = float(hubs.loc[snapshot])
    table["hub"] = price
    table["basis"] = table["lmp"] - price
    return NodeView(table, price)


def node_series(result: OpfResult, net: Network, bus: str, hub: str) -> pd.DataFrame:
    """One bus's components over every snapshot, with its basis to the hub."""
    s = result.nodes[result.nodes["bus"] == bus].set_index("snapshot")[["lmp", "energy", "congestion", "loss"]]
    s["basis"] = s["lmp"] - hub_prices(result, net, hub).reindex(s.index)
    return s.reset_index()


def ptdf_row(result: OpfResult, branch: str) -> pd.Series:
    """MW of flow on ``branch`` per MW injected at each bus (withdrawn at the reference), largest first."""
    row = result.ptdf.loc[branch]
    return row.reindex(row.abs().sort_values(ascending=False).index)
