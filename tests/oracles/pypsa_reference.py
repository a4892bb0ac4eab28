"""Write PyPSA reference prices for the LMP engine tests into tests/oracles/reference/.

PyPSA needs pandas >= 3 and the project pins pandas < 3, so this runs in a separate virtual environment
outside the repository. Regenerate with (the versions these files were made with):

    python3.11 -m venv <venv>
    <venv>/bin/pip install pypsa==1.4.0 highspy==1.16.0 matpowercaseframes==2.1.1
    <venv>/bin/python tests/oracles/pypsa_reference.py <data-dir>

(pandas 3.1.1, linopy 0.10.1, numpy 2.4.6 came with them.) ``<data-dir>`` is the shared data folder with
``grids/``. Files written:

- ``case118_pypsa_lmp.csv`` (bus, lmp) and ``case118_pypsa_mu.csv`` (branch = 1-based MATPOWER row,
  mu_upper, mu_lower): case118 with the limits of ``case118_limits.csv``, PyPSA's linear OPF with HiGHS
  (quadratic costs, a QP).
- ``scigrid_pypsa_lmp.csv`` (snapshot, bus, lmp), ``scigrid_pypsa_mu.csv`` (snapshot, branch, mu_upper,
  mu_lower; transformers as ``T<name>``, only non-zero rows) and ``scigrid_pypsa_objective.csv``: the
  SciGRID-de network for all 24 snapshots as PyPSA's example prepares it (lines at 70 % of s_nom, three
  lines raised to 1715 MVA), with the storage units removed because the engine does not model storage.

Prices are written with 9 decimals ($/MWh), well inside the 1e-3 tolerance of the tests.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pypsa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pypsa_cases import matpower_network, optimize, scigrid_network  # noqa: E402

OUT = HERE / "reference"


def case118(grids: Path) -> None:
    limits = pd.read_csv(HERE / "case118_limits.csv")
    n, rows = matpower_network(grids / "case118.m", dict(zip(limits["branch"], limits["rate_a_mw"], strict=True)))
    optimize(n)
    lmp = n.buses_t.marginal_price.iloc[0]
    pd.DataFrame({"bus": lmp.index.astype(str), "lmp": lmp.to_numpy()}).to_csv(
        OUT / "case118_pypsa_lmp.csv", index=False, float_format="%.9f")
    records = []
    for row, key in sorted(rows.items()):
        comp, name = key.split(":")
        t = n.lines_t if comp == "Line" else n.transformers_t
        # PyPSA keeps a mu column only for branches that have a finite limit dual.
        up = t.mu_upper[name].iloc[0] if name in t.mu_upper.columns else 0.0
        lo = t.mu_lower[name].iloc[0] if name in t.mu_lower.columns else 0.0
        records.append((row, float(up), float(lo)))
    frame = pd.DataFrame(records, columns=["branch", "mu_upper", "mu_lower"])
    frame[(frame["mu_upper"].abs() > 1e-9) | (frame["mu_lower"].abs() > 1e-9)].to_csv(
        OUT / "case118_pypsa_mu.csv", index=False, float_format="%.9f")


def scigrid(grids: Path) -> None:
    n = scigrid_network(grids / "scigrid-de")
    optimize(n)
    lmp = n.buses_t.marginal_price
    stamps = pd.DatetimeIndex(lmp.index).strftime("%Y-%m-%d %H:%M:%S")
    long = lmp.set_axis(stamps).rename_axis(index="snapshot", columns="bus").stack().rename("lmp").reset_index()
    long.to_csv(OUT / "scigrid_pypsa_lmp.csv", index=False, float_format="%.9f")
    parts = []
    for prefix, t in (("", n.lines_t), ("T", n.transformers_t)):
        up = t.mu_upper.set_axis(stamps).rename_axis(index="snapshot", columns="branch").stack().rename("mu_upper")
        lo = t.mu_lower.set_axis(stamps).rename_axis(index="snapshot", columns="branch").stack().rename("mu_lower")
        both = pd.concat([up, lo], axis=1).reset_index()
        both["branch"] = prefix + both["branch"].astype(str)
        parts.append(both[(both["mu_upper"].abs() > 1e-9) | (both["mu_lower"].abs() > 1e-9)])
    pd.concat(parts).to_csv(OUT / "scigrid_pypsa_mu.csv", index=False, float_format="%.9f")
    pd.DataFrame({"objective": [n.objective], "pypsa": [pypsa.__version__]}).to_csv(
        OUT / "scigrid_pypsa_objective.csv", index=False, float_format="%.6f")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: pypsa_reference.py <data-dir>")
    grids = Path(sys.argv[1]) / "grids"
    OUT.mkdir(exist_ok=True)
    case118(grids)
    scigrid(grids)


if __name__ == "__main__":
    main()
