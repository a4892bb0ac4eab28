"""Build PyPSA networks for the oracle and the benchmark, independently of engine.lmp.

Runs only in an environment with PyPSA (pandas >= 3), never in the project's venv. MATPOWER files are
read with ``matpowercaseframes`` and imported with PyPSA's own ``import_from_pypower_ppc``; what that
importer leaves out is added here from the same matrices: generator costs (``marginal_cost`` = c1,
``marginal_cost_quadratic`` = c2), ``p_min_pu`` = PMIN / PMAX, and out-of-service generators and branches
are removed (PyPSA's importer ignores status). Unlimited branches (RATE_A 0) get a large ``s_nom``; limits
are set with ``s_max_pu`` so a transformer's impedance (given on its ``s_nom``) does not change. The importer's
``p_set`` (the power-flow set point, which PyPSA's optimiser would hold fixed) and angle-difference limits
(not in the engine's DC model) are cleared.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pypsa
from matpowercaseframes import CaseFrames

UNLIMITED_S_NOM = 1e5
SCIGRID_S_MAX_PU = 0.7                  # PyPSA's SciGRID example: 70 % of s_nom for n-1 security
SCIGRID_RAISED = ("316", "527", "602")  # lines the example raises to s_nom 1715 to stay feasible
SCIGRID_RAISED_S_NOM = 1715.0


def matpower_network(path: Path, limits: dict[int, float] | None = None) -> tuple[pypsa.Network, dict[int, str]]:
    """PyPSA network of a MATPOWER case; returns it and the map 1-based branch row -> PyPSA branch name."""
    cf = CaseFrames(str(path))
    raw = cf.to_dict()
    ppc = {
        "version": "2",
        "baseMVA": float(raw["baseMVA"]),
        "bus": np.array(raw["bus"], dtype=float),
        "gen": np.array(raw["gen"], dtype=float),
        "branch": np.array(raw["branch"], dtype=float),
    }
    gencost = np.array(raw["gencost"], dtype=float)[: len(ppc["gen"])]
    # The importer expects MATPOWER's 21 gen columns; pglib has 10, ACTIVSg2000 has 25.
    width = ppc["gen"].shape[1]
    ppc["gen"] = ppc["gen"][:, :21] if width > 21 else np.pad(ppc["gen"], ((0, 0), (0, 21 - width)))
    n = pypsa.Network()
    n.import_from_pypower_ppc(ppc, overwrite_zero_s_nom=UNLIMITED_S_NOM)
    gens = n.generators
    assert (gencost[:, 0] == 2).all() and (gencost[:, 3] <= 3).all(), "oracle handles polynomial costs only"
    ncost = gencost[:, 3].astype(int)
    coeff = np.zeros((len(gencost), 3))  # c2, c1, c0
    for k, nc in enumerate(ncost):
        coeff[k, 3 - nc:] = gencost[k, 4:4 + nc]
    n.generators["marginal_cost"] = coeff[:, 1]
    n.generators["marginal_cost_quadratic"] = coeff[:, 0]
    p_max = ppc["gen"][:, 8]
    n.generators["p_nom"] = p_max
    # The importer copies the power-flow set point PG into p_set, which PyPSA's optimiser would hold fixed.
    n.generators["p_set"] = np.nan
    n.generators["p_min_pu"] = np.where(p_max > 0, ppc["gen"][:, 9] / np.where(p_max > 0, p_max, 1.0), 0.0)
    off = gens.index[ppc["gen"][:, 7] <= 0]
    n.remove("Generator", off)
    # Angle-difference limits (pglib's +-30 degrees) are not part of the engine's DC model.
    for table in (n.lines, n.transformers):
        table["v_ang_min"] = -np.inf
        table["v_ang_max"] = np.inf
    row_to_name: dict[int, str] = {}
    for comp, table in (("Line", n.lines), ("Transformer", n.transformers)):
        for name, orig in table["original_index"].items():
            row_to_name[int(orig) + 1] = f"{comp}:{name}"
    status = ppc["branch"][:, 10]
    for row in np.flatnonzero(status <= 0) + 1:
        comp, name = row_to_name.pop(int(row)).split(":")
        n.remove(comp, name)
    for row, mw in (limits or {}).items():
        comp, name = row_to_name[row].split(":")
        table = n.lines if comp == "Line" else n.transformers
        table.loc[name, "s_max_pu"] = mw / table.loc[name, "s_nom"]
    return n, row_to_name


def scigrid_network(folder: Path, snapshots: int | None = None) -> pypsa.Network:
    """The SciGRID-de folder as PyPSA's example prepares it for the linear OPF, storage units removed."""
    n = pypsa.Network(str(folder))
    n.remove("StorageUnit", n.storage_units.index)
    n.lines["s_max_pu"] = SCIGRID_S_MAX_PU
    n.lines.loc[list(SCIGRID_RAISED), "s_nom"] = SCIGRID_RAISED_S_NOM
    if snapshots is not None:
        n.set_snapshots(n.snapshots[:snapshots])
    return n


def with_profile(n: pypsa.Network, factors: list[float]) -> pypsa.Network:
    """Give a single-snapshot network one snapshot per factor, each scaling every load."""
    n.set_snapshots(pd.RangeIndex(len(factors), name="snapshot"))
    p_set = n.loads["p_set"].to_numpy(float)
    n.loads_t.p_set = pd.DataFrame(np.outer(factors, p_set), index=n.snapshots, columns=n.loads.index)
    return n


def optimize(n: pypsa.Network, **solver_options: float) -> None:
    options = {"qp_regularization_value": 0.0, "output_flag": False, **solver_options}
    status, condition = n.optimize(solver_name="highs", assign_all_duals=True, solver_options=options)
    if status != "ok":
        raise RuntimeError(f"PyPSA optimisation failed: {status} {condition}")
