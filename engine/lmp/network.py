"""The network as plain tables: buses, branches, generators, demand and availability per snapshot.

Every loader (MATPOWER ``.m``, PyPSA CSV folder) produces a :class:`Network`; every solver is a function
over one. Units: MW and MVA, $/MWh; branch ``r`` and ``x`` are per unit on ``base_mva`` (so a flow in MW
is ``base_mva * (theta_from - theta_to - shift) / (x * tap)``, the MATPOWER/PyPSA DC model).

Tables (index name in brackets):

- ``buses`` [bus: str]: ``v_nom`` (kV), ``x``, ``y`` (longitude/latitude or NaN), ``is_ref`` (bool, the
  case's reference bus), ``demand`` (MW, used when there is no ``demand`` time series).
- ``branches`` [branch: str]: ``from_bus``, ``to_bus``, ``r``, ``x`` (p.u. on base_mva), ``tap`` (off-nominal
  ratio, 1.0 when none), ``shift_deg`` (phase shift, degrees), ``rate_a`` (MW, ``inf`` = unlimited),
  ``in_service`` (bool), ``kind`` ("line" or "transformer"), ``source_row`` (1-based row of the case's
  branch table, the number the ``--rate-a`` override file uses).
- ``generators`` [generator: str]: ``bus``, ``p_min``, ``p_max`` (MW), ``c0`` ($/h), ``c1`` ($/MWh),
  ``c2`` ($/MW²h), ``in_service`` (bool), ``carrier``.
- ``cost_points`` (long table): ``generator``, ``point`` (0-based), ``p_mw``, ``cost`` ($/h) -- piecewise
  linear (convex) cost curves; a generator listed here has its polynomial coefficients ignored.
- ``demand`` [snapshot] x bus columns (MW) and ``p_max_pu`` [snapshot] x generator columns (fraction of
  ``p_max`` available), both optional; without them the network has one snapshot, ``0``.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.files import IngestError

log = logging.getLogger(__name__)

BUS_COLUMNS = ["v_nom", "x", "y", "is_ref", "demand"]
BRANCH_COLUMNS = ["from_bus", "to_bus", "r", "x", "tap", "shift_deg", "rate_a", "in_service", "kind", "source_row"]
GENERATOR_COLUMNS = ["bus", "p_min", "p_max", "c0", "c1", "c2", "in_service", "carrier"]
COST_POINT_COLUMNS = ["generator", "point", "p_mw", "cost"]


def empty_cost_points() -> pd.DataFrame:
    return pd.DataFrame({"generator": pd.Series(dtype=str), "point": pd.Series(dtype=int),
                         "p_mw": pd.Series(dtype=float), "cost": pd.Series(dtype=float)})


@dataclass(frozen=True)
class Network:
    """A DC network and its per-snapshot demand and availability. Build it with a loader or by hand."""

    name: str
    base_mva: float
    buses: pd.DataFrame
    branches: pd.DataFrame
    generators: pd.DataFrame
    cost_points: pd.DataFrame = field(default_factory=empty_cost_points)
    demand: pd.DataFrame | None = None
    p_max_pu: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        validate(self)

    @property
    def snapshots(self) -> pd.Index:
        if self.demand is not None:
            return self.demand.index
        if self.p_max_pu is not None:
            return self.p_max_pu.index
        return pd.Index([0], name="snapshot")

    def demand_matrix(self, snapshots: pd.Index | None = None) -> np.ndarray:
        """Nodal demand in MW, one row per snapshot, one column per bus (in ``buses`` order)."""
        snaps = self.snapshots if snapshots is None else snapshots
        if self.demand is None:
            return np.tile(self.buses["demand"].to_numpy(float), (len(snaps), 1))
        frame = self.demand.reindex(columns=self.buses.index, fill_value=0.0).loc[snaps]
        return frame.to_numpy(float)

    def p_max_matrix(self, snapshots: pd.Index | None = None) -> np.ndarray:
        """Available capacity in MW, one row per snapshot, one column per generator."""
        snaps = self.snapshots if snapshots is None else snapshots
        p_max = self.generators["p_max"].to_numpy(float)
        if self.p_max_pu is None:
            return np.tile(p_max, (len(snaps), 1))
        pu = self.p_max_pu.reindex(columns=self.generators.index, fill_value=1.0).loc[snaps]
        return pu.to_numpy(float) * p_max

    def replace(self, **changes: object) -> Network:
        """A copy with some tables replaced (the network itself is never modified)."""
        return dataclasses.replace(self, **changes)

    def with_rate_a(self, limits: pd.Series) -> Network:
        """A copy whose branch limits (MW) are overridden; ``limits`` is indexed by branch name."""
        unknown = limits.index.difference(self.branches.index)
        if len(unknown):
            raise KeyError(f"unknown branches: {', '.join(map(str, unknown[:5]))}")
        branches = self.branches.copy()
        branches.loc[limits.index, "rate_a"] = limits.astype(float).to_numpy()
        return self.replace(branches=branches)

    def with_branch_out(self, branch: str) -> Network:
        """A copy with one branch taken out of service (the what-if of an outage)."""
        if branch not in self.branches.index:
            raise KeyError(f"unknown branch {branch!r}")
        branches = self.branches.copy()
        branches.loc[branch, "in_service"] = False
        return self.replace(branches=branches)

    def with_demand_profile(self, factors: pd.Series) -> Network:
        """A copy with one snapshot per entry of ``factors``, each scaling the static nodal demand."""
        base = self.buses["demand"].to_numpy(float)
        demand = pd.DataFrame(np.outer(factors.to_numpy(float), base), index=factors.index,
                              columns=self.buses.index)
        demand.index.name = "snapshot"
        return self.replace(demand=demand, p_max_pu=None)

    def select_snapshots(self, snapshots: pd.Index) -> Network:
        demand = None if self.demand is None else self.demand.loc[snapshots]
        p_max_pu = None if self.p_max_pu is None else self.p_max_pu.loc[snapshots]
        return self.replace(demand=demand, p_max_pu=p_max_pu)


def validate(net: Network) -> None:
    """Check the tables' columns and cross references; raise IngestError naming the network and table."""
    src = net.name

    def need(frame: pd.DataFrame, cols: list[str], table: str) -> None:
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise IngestError(src, None, f"{table} table lacks columns {missing}")
        if not frame.index.is_unique:
            dup = frame.index[frame.index.duplicated()][0]
            raise IngestError(src, None, f"{table} table has duplicate name {dup!r}")

    if not np.isfinite(net.base_mva) or net.base_mva <= 0:
        raise IngestError(src, None, f"base MVA must be positive, got {net.base_mva}")
    need(net.buses, BUS_COLUMNS, "bus")
    need(net.branches, BRANCH_COLUMNS, "branch")
    need(net.generators, GENERATOR_COLUMNS, "generator")
    if len(net.buses) == 0:
        raise IngestError(src, None, "network has no buses")
    buses = net.buses.index
    for end in ("from_bus", "to_bus"):
        bad = ~net.branches[end].isin(buses)
        if bad.any():
            name = net.branches.index[bad.to_numpy()][0]
            raise IngestError(src, None, f"branch {name!r} {end} {net.branches.loc[name, end]!r} is not a bus")
    bad = ~net.generators["bus"].isin(buses)
    if bad.any():
        name = net.generators.index[bad.to_numpy()][0]
        raise IngestError(src, None, f"generator {name!r} bus {net.generators.loc[name, 'bus']!r} is not a bus")
    live = net.branches[net.branches["in_service"]]
    zero_x = live["x"].to_numpy(float) == 0
    if zero_x.any():
        raise IngestError(src, None, f"in-service branch {live.index[zero_x][0]!r} has zero reactance")
    if (live["tap"].to_numpy(float) <= 0).any():
        raise IngestError(src, None, "a branch has a non-positive tap ratio")
    if (net.branches["rate_a"].to_numpy(float) <= 0).any():
        name = net.branches.index[net.branches["rate_a"].to_numpy(float) <= 0][0]
        raise IngestError(src, None, f"branch {name!r} has a non-positive limit (use inf for unlimited)")
    gens = net.generators[net.generators["in_service"]]
    if (gens["p_min"] > gens["p_max"] + 1e-9).any():
        name = gens.index[(gens["p_min"] > gens["p_max"] + 1e-9).to_numpy()][0]
        raise IngestError(src, None, f"generator {name!r} has p_min above p_max")
    if len(net.cost_points):
        unknown = ~net.cost_points["generator"].isin(net.generators.index)
        if unknown.any():
            raise IngestError(src, None, f"cost points for unknown generator "
                                         f"{net.cost_points['generator'][unknown].iloc[0]!r}")
    for table, frame, names in (("demand", net.demand, buses), ("p_max_pu", net.p_max_pu, net.generators.index)):
        if frame is None:
            continue
        unknown = frame.columns.difference(names)
        if len(unknown):
            raise IngestError(src, None, f"{table} series for unknown names: {list(unknown[:5])}")
        if not np.isfinite(frame.to_numpy(float)).all():
            raise IngestError(src, None, f"{table} series has missing or infinite values")
    if net.demand is not None and net.p_max_pu is not None and not net.demand.index.equals(net.p_max_pu.index):
        raise IngestError(src, None, "demand and p_max_pu series cover different snapshots")
