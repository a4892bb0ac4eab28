"""Congestion forecast over the 24 SciGRID-de snapshots: binding frequency and expected congestion, checked
against the solved snapshots and against PyPSA's binding limits (tests/oracles/reference)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.lmp.cases import load_case
from engine.lmp.congestion import congestion_forecast, summarise, with_scenarios
from engine.lmp.opf import unique_prices

REFERENCE = Path(__file__).parent / "oracles" / "reference"


@pytest.fixture(scope="module")
def scigrid(data_dir: Path):
    net = load_case(data_dir / "grids" / "scigrid-de")
    s_nom = net.branches["rate_a"].copy()
    s_nom[["316", "527", "602"]] = 1715.0
    s_nom[net.branches["kind"] == "line"] *= 0.7
    net = net.with_rate_a(s_nom)
    return net, congestion_forecast(net)


@pytest.mark.realdata
def test_binding_frequency(scigrid) -> None:
    net, fc = scigrid
    res = fc.result
    counts = res.binding.groupby("branch").size()
    table = fc.constraints.set_index("branch")
    assert (table["hours"] == counts.reindex(table.index)).all()
    assert table["hours"].sum() == len(res.binding)
    assert np.allclose(table["frequency"], table["hours"] / 24)
    assert table["frequency"].iloc[0] == table["frequency"].max() <= 1.0
    # Limits whose dual is unique must bind in the same hours as in PyPSA's solution.
    mu = pd.read_csv(REFERENCE / "scigrid_pypsa_mu.csv", dtype={"branch": str}, parse_dates=["snapshot"])
    _, limits = unique_prices(net, res)
    fixed = limits[limits["unique"]]
    ours = set(map(tuple, res.binding.merge(fixed, on=["snapshot", "branch"])[["snapshot", "branch"]].values))
    theirs = set(map(tuple, mu.merge(fixed, on=["snapshot", "branch"])[["snapshot", "branch"]].values))
    assert ours == theirs
    assert len(ours) > 500
    one = table.loc[table["hours"] == 24].index[0]
    sp = res.binding.loc[res.binding["branch"] == one, "shadow_price"]
    assert table.loc[one, "mean_shadow_price"] == pytest.approx(sp.mean())
    assert table.loc[one, "expected_shadow_price"] == pytest.approx(sp.sum() / 24)


@pytest.mark.realdata
def test_expected_congestion(scigrid) -> None:
    net, fc = scigrid
    wide = fc.result.lmp_matrix("congestion")
    nodes = fc.nodes.set_index("bus")
    assert len(nodes) == 585
    assert np.abs(nodes["expected_congestion"] - wide.mean()).max() < 1e-9
    assert np.abs(nodes["p95"] - wide.quantile(0.95)).max() < 1e-9
    assert nodes["frequency_congested"].between(0, 1).all()
    assert nodes["frequency_congested"].max() == 1.0
    # All the weight on one scenario gives that scenario's congestion component.
    first = fc.result.snapshots[3]
    weights = pd.Series(0.0, index=fc.result.snapshots)
    weights[first] = 2.0
    single = summarise(fc.result, weights)
    assert np.abs(single.nodes.set_index("bus")["expected_congestion"] - wide.loc[first]).max() < 1e-9
    assert set(single.constraints.loc[single.constraints["frequency"] > 0, "branch"]) == set(
        fc.result.binding.loc[fc.result.binding["snapshot"] == first, "branch"])
    with pytest.raises(ValueError, match="scenario weights"):
        summarise(fc.result, weights.iloc[:5])


@pytest.mark.realdata
def test_scenarios_from_tables(scigrid) -> None:
    net, _ = scigrid
    demand = net.demand.iloc[:2] * 1.1
    scen = with_scenarios(net, demand=demand, p_max_pu=net.p_max_pu.iloc[:2])
    fc = congestion_forecast(scen)
    assert len(fc.result.snapshots) == 2
    assert fc.nodes["expected_congestion"].abs().max() > 1.0
