"""Write AC marginal loss sensitivities of case118 for the loss-factor test of the LMP engine.

pandapower needs pandas < 3 and is not a project dependency, so this runs in its own virtual environment
outside the repository (as tests/oracles/pandapower_reference.py):

    python3.11 -m venv <venv>
    <venv>/bin/pip install pandapower==3.5.6 matpowercaseframes==2.1.1
    <venv>/bin/python tests/oracles/pandapower_losses_reference.py <data-dir>

``<data-dir>`` is the shared data folder with ``grids/``. Writes
tests/oracles/reference/case118_ac_marginal_loss.csv with columns ``bus, p_mw, dloss_dp``: ``p_mw`` is the
net active injection at the bus in the AC power flow of the case's own dispatch (PG of the file, voltages as
the file sets them; at the slack it includes the losses), and ``dloss_dp`` is the derivative of the AC
network's active losses with respect to an injection at the bus, the slack (the case's reference bus)
absorbing it. Central finite differences of full Newton-Raphson power flows, +-``EPS_MW`` at each bus in
turn. No engine code is involved.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pandapower as pp
from matpowercaseframes import CaseFrames
from pandapower.converter.matpower.from_mpc import from_mpc

HERE = Path(__file__).resolve().parent
OUT = HERE / "reference"
EPS_MW = 1.0   # small against the flows (tens to hundreds of MW), large against the solver tolerance


def _losses(net: pp.pandapowerNet) -> float:
    pp.runpp(net, algorithm="nr", tolerance_mva=1e-10, init="results", calculate_voltage_angles=True)
    return float(net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum())


def case118_marginal_losses(grids: Path) -> pd.DataFrame:
    net = from_mpc(str(grids / "case118.m"), f_hz=60)
    pp.runpp(net, algorithm="nr", tolerance_mva=1e-10, calculate_voltage_angles=True)
    injection = -net.res_bus["p_mw"]            # pandapower reports bus power in the load convention
    # from_mpc keeps the file's bus order as the pandapower bus index 0..n-1.
    numbers = np.asarray(CaseFrames(str(grids / "case118.m")).bus["BUS_I"], dtype=int)
    probe = pp.create_sgen(net, bus=0, p_mw=0.0, q_mvar=0.0)
    rows = []
    for bus in net.bus.index:
        net.sgen.at[probe, "bus"] = bus
        net.sgen.at[probe, "p_mw"] = EPS_MW
        up = _losses(net)
        net.sgen.at[probe, "p_mw"] = -EPS_MW
        down = _losses(net)
        rows.append((int(numbers[bus]), float(injection.at[bus]), (up - down) / (2 * EPS_MW)))
    net.sgen.at[probe, "p_mw"] = 0.0
    return pd.DataFrame(rows, columns=["bus", "p_mw", "dloss_dp"])


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: pandapower_losses_reference.py <data-dir>")
    grids = Path(sys.argv[1]) / "grids"
    OUT.mkdir(exist_ok=True)
    case118_marginal_losses(grids).to_csv(OUT / "case118_ac_marginal_loss.csv", index=False, float_format="%.9f")


if __name__ == "__main__":
    main()
