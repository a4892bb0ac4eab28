"""Write pandapower reference values (PTDF, LODF, DC-OPF prices) for the LMP engine tests.

pandapower needs pandas < 3 and is not a project dependency, so this runs in its own virtual environment
outside the repository. Regenerate with (the versions these files were made with):

    python3.11 -m venv <venv>
    <venv>/bin/pip install pandapower==3.5.6 matpowercaseframes==2.1.1
    <venv>/bin/python tests/oracles/pandapower_reference.py <data-dir>

(pandas 2.3.3, numpy 2.4.6, scipy 1.17.1 came with them.) ``<data-dir>`` is the shared data folder with
``grids/``. Files written to tests/oracles/reference/:

- ``case14_ptdf.csv``, ``case118_ptdf.csv``: ``makePTDF`` with the case's reference bus as slack; rows are
  the 1-based MATPOWER branch rows, columns the bus numbers. ``case14_ptdf_load.csv``: the same with a
  distributed slack weighted by bus demand PD.
- ``case14_lodf.csv``: ``makeLODF`` from that PTDF (columns are outaged branch rows; non-finite where an
  outage splits the network).
- ``case118_pandapower_lmp.csv`` (bus, lmp) and ``case118_pandapower_mu.csv`` (branch, mu_sf, mu_st):
  ``rundcopp`` (PYPOWER's DC OPF, interior point) on case118 converted with ``from_mpc``, with the limits
  of ``case118_limits.csv`` set through ``max_loading_percent``.

The PTDF is read from the case file by ``matpowercaseframes`` and numbered 0..n-1 in file order here; no
engine code is involved. Values are written with 12 decimals (the tests compare PTDFs to 1e-9).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pandapower as pp
from matpowercaseframes import CaseFrames
from pandapower.converter.matpower.from_mpc import from_mpc
from pandapower.pypower.idx_brch import MU_SF, MU_ST, RATE_A
from pandapower.pypower.makeLODF import makeLODF
from pandapower.pypower.makePTDF import makePTDF

HERE = Path(__file__).resolve().parent
OUT = HERE / "reference"


def _internal(path: Path) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    raw = CaseFrames(str(path)).to_dict()
    bus = np.array(raw["bus"], dtype=float)
    branch = np.array(raw["branch"], dtype=float)
    numbers = bus[:, 0].astype(int)
    index = {b: k for k, b in enumerate(numbers)}
    bus[:, 0] = np.arange(len(bus))
    branch[:, 0] = [index[int(b)] for b in branch[:, 0]]
    branch[:, 1] = [index[int(b)] for b in branch[:, 1]]
    return float(raw["baseMVA"]), bus, branch, numbers


def ptdf_files(grids: Path) -> None:
    for case in ("case14", "case118"):
        base, bus, branch, numbers = _internal(grids / f"{case}.m")
        h = makePTDF(base, bus, branch)
        frame = pd.DataFrame(h, index=pd.Index(np.arange(1, len(branch) + 1), name="branch"), columns=numbers)
        frame.to_csv(OUT / f"{case}_ptdf.csv", float_format="%.12f")
        if case == "case14":
            weights = bus[:, 2] / bus[:, 2].sum()
            hw = makePTDF(base, bus, branch, slack=weights)
            pd.DataFrame(hw, index=frame.index, columns=numbers).to_csv(OUT / "case14_ptdf_load.csv",
                                                                        float_format="%.12f")
            lodf = makeLODF(branch, h)
            pd.DataFrame(lodf, index=frame.index, columns=frame.index).to_csv(OUT / "case14_lodf.csv",
                                                                              float_format="%.12f")


def case118_opf(grids: Path) -> None:
    net = from_mpc(str(grids / "case118.m"), f_hz=60)
    limits = pd.read_csv(HERE / "case118_limits.csv")
    lookup = net._from_ppc_lookups["branch"]
    for row, mw in zip(limits["branch"], limits["rate_a_mw"], strict=True):
        element, kind = int(lookup.loc[row - 1, "element"]), lookup.loc[row - 1, "element_type"]
        if kind == "line":
            line = net.line.loc[element]
            rating = line.max_i_ka * net.bus.at[line.from_bus, "vn_kv"] * np.sqrt(3) * line.parallel * line.df
            net.line.at[element, "max_loading_percent"] = 100 * mw / rating
        elif kind == "trafo":
            trafo = net.trafo.loc[element]
            net.trafo.at[element, "max_loading_percent"] = 100 * mw / (trafo.sn_mva * trafo.parallel * trafo.df)
        else:
            raise SystemExit(f"branch {row} became a pandapower {kind}, which takes no limit")
    pp.rundcopp(net)
    if not net.OPF_converged:
        raise SystemExit("rundcopp did not converge")
    lam = net.res_bus["lam_p"]
    # from_mpc keeps the file's bus order as the pandapower bus index 0..n-1.
    numbers = _internal(grids / "case118.m")[3]
    pd.DataFrame({"bus": numbers[lam.index.to_numpy()], "lmp": lam.to_numpy()}).to_csv(
        OUT / "case118_pandapower_lmp.csv", index=False, float_format="%.9f")
    ranges = net._pd2ppc_lookups["branch"]
    ppc_branch = net._ppc["branch"]
    records = []
    for row in range(1, len(lookup) + 1):
        element, kind = int(lookup.loc[row - 1, "element"]), lookup.loc[row - 1, "element_type"]
        k = ranges[kind][0] + element
        mu_sf, mu_st = float(ppc_branch[k, MU_SF].real), float(ppc_branch[k, MU_ST].real)
        if row in set(limits["branch"]):
            expected = float(limits.loc[limits["branch"] == row, "rate_a_mw"].iloc[0])
            if abs(ppc_branch[k, RATE_A].real - expected) > 1e-6:
                raise SystemExit(f"branch {row}: pandapower limit {ppc_branch[k, RATE_A].real} != {expected}")
        if mu_sf > 1e-9 or mu_st > 1e-9:
            records.append((row, mu_sf, mu_st))
    pd.DataFrame(records, columns=["branch", "mu_sf", "mu_st"]).to_csv(
        OUT / "case118_pandapower_mu.csv", index=False, float_format="%.9f")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: pandapower_reference.py <data-dir>")
    grids = Path(sys.argv[1]) / "grids"
    OUT.mkdir(exist_ok=True)
    ptdf_files(grids)
    case118_opf(grids)


if __name__ == "__main__":
    main()
