"""PTDF and LODF against pandapower's makePTDF/makeLODF (reference files written by
tests/oracles/pandapower_reference.py), and LODF against re-solving the network without the branch."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.lmp.cases import load_case
from engine.lmp.matpower import parse_matpower
from engine.lmp.ptdf import PtdfFactor, dc_model, lodf, post_outage_flows, ptdf
from engine.files import RawFile

REFERENCE = Path(__file__).parent / "oracles" / "reference"


def reference(name: str) -> pd.DataFrame:
    frame = pd.read_csv(REFERENCE / name, index_col=0)
    frame.index = frame.index.astype(str)
    frame.columns = frame.columns.astype(str)
    return frame


@pytest.mark.realdata
@pytest.mark.parametrize("case", ["case14", "case118"])
def test_ptdf_equals_pandapower(data_dir: Path, case: str) -> None:
    net = load_case(data_dir / "grids" / f"{case}.m")
    expected = reference(f"{case}_ptdf.csv")
    for method in ("dense", "sparse"):
        got = pd.DataFrame(dc_model(net).ptdf(method=method), index=net.branches.index, columns=net.buses.index)
        assert got.shape == expected.shape
        assert np.abs(got.loc[expected.index, expected.columns].to_numpy() - expected.to_numpy()).max() < 1e-9


@pytest.mark.realdata
def test_distributed_slack_equals_pandapower(data_dir: Path) -> None:
    net = load_case(data_dir / "grids" / "case14.m")
    expected = reference("case14_ptdf_load.csv")
    got = ptdf(net, slack=net.buses["demand"])
    assert np.abs(got.to_numpy() - expected.to_numpy()).max() < 1e-9
    # A load-weighted withdrawal moves no flow: every row is orthogonal to the weights.
    assert np.abs(got.to_numpy() @ net.buses["demand"].to_numpy()).max() < 1e-9


@pytest.mark.realdata
def test_slack_choice(data_dir: Path) -> None:
    net = load_case(data_dir / "grids" / "case118.m")
    at_69, at_10 = ptdf(net), ptdf(net, slack="10")
    assert (at_69["69"] == 0).all()
    assert (at_10["10"] == 0).all()
    # Changing the slack subtracts the new slack's column from every column.
    assert np.abs(at_10.to_numpy() - (at_69.to_numpy() - at_69[["10"]].to_numpy())).max() < 1e-12


@pytest.mark.realdata
def test_lodf_equals_pandapower(data_dir: Path) -> None:
    net = load_case(data_dir / "grids" / "case14.m")
    expected = reference("case14_lodf.csv")
    got = lodf(net)
    finite = np.isfinite(expected.to_numpy())
    assert np.abs(got.to_numpy()[finite] - expected.to_numpy()[finite]).max() < 1e-9
    # Branch 14 (7-8) is the only link to bus 8: its outage splits the network.
    assert not finite[:, 13].all()
    assert got["14"].isna().all()
    assert finite.sum() == 20 * 19


@pytest.mark.realdata
def test_lodf_predicts_the_outage(data_dir: Path) -> None:
    net = load_case(data_dir / "grids" / "case118.m")
    injection = -net.buses["demand"].to_numpy(float)
    gens = net.generators
    np.add.at(injection, net.buses.index.get_indexer(gens["bus"]), gens["p_max"].to_numpy() * 0.42)
    injection[net.buses.index.get_loc("69")] -= injection.sum()
    before = pd.Series(ptdf(net).to_numpy() @ injection, index=net.branches.index)
    table = lodf(net)
    for outage in ("38", "51", "141"):
        after = ptdf(net.with_branch_out(outage)).to_numpy() @ injection
        predicted = post_outage_flows(before, table, outage)
        assert np.abs(predicted.to_numpy() - after).max() < 1e-8


TWO_ISLANDS = """function mpc = islands
mpc.baseMVA = 100;
mpc.bus = [
1 3 0 0 0 0 1 1 0 100 1 1.1 0.9;
2 1 10 0 0 0 1 1 0 100 1 1.1 0.9;
3 1 10 0 0 0 1 1 0 100 1 1.1 0.9;
4 2 0 0 0 0 1 1 0 100 1 1.1 0.9;
5 1 10 0 0 0 1 1 0 100 1 1.1 0.9;
];
mpc.gen = [
1 0 0 0 0 1 100 1 100 0 0 0 0 0 0 0 0 0 0 0 0;
4 0 0 0 0 1 100 1 100 0 0 0 0 0 0 0 0 0 0 0 0;
];
mpc.branch = [
1 2 0 0.1 0 0 0 0 0 0 1 -360 360;
2 3 0 0.1 0 0 0 0 0 0 1 -360 360;
1 3 0 0.2 0 0 0 0 0 0 1 -360 360;
4 5 0 0.1 0 0 0 0 0 0 1 -360 360;
];
mpc.gencost = [
2 0 0 2 10 0;
2 0 0 2 20 0;
];
"""


def test_islands_get_their_own_slack() -> None:
    net = parse_matpower(RawFile("islands.m", TWO_ISLANDS.encode()))
    model = dc_model(net)
    assert model.n_islands == 2
    assert sorted(model.buses[model.ref_bus]) == ["1", "4"]
    h = ptdf(net)
    assert (h.loc[["1", "2", "3"], ["4", "5"]] == 0).all().all()
    assert h.loc["4", "5"] == pytest.approx(-1.0)
    assert h.loc["4", "4"] == 0
    # Triangle 1-2-3: injecting at 2 sends 3/4 over 1-2 (x=.1) against 1/4 around 1-3-2 (x=.3).
    assert h.loc["1", "2"] == pytest.approx(-0.75)
    assert h.loc["3", "2"] == pytest.approx(-0.25)


@pytest.mark.realdata
@pytest.mark.parametrize("case, out, weighted", [("case118", None, False), ("case14", "14", True)])
def test_factor_products_equal_the_dense_ptdf(data_dir: Path, case: str, out: str | None, weighted: bool) -> None:
    """Rows, flows and row combinations by sparse solves against the dense PTDF: one slack and, with branch 14
    of case14 out (bus 8 becomes an island of its own), a load-weighted slack."""
    net = load_case(data_dir / "grids" / f"{case}.m")
    if out:
        net = net.with_branch_out(out)
    model = dc_model(net)
    weights = net.buses["demand"].to_numpy(float) if weighted else None
    dense = model.ptdf(weights)
    factor = PtdfFactor(model, weights)
    rng = np.random.default_rng(7)
    picked = rng.choice(len(model.branches), size=9, replace=False)
    assert np.abs(factor.rows(picked) - dense[picked]).max() < 1e-10
    injection = rng.normal(size=(len(model.buses), 3))
    assert np.abs(factor.apply(injection) - dense @ injection).max() < 1e-9
    assert np.abs(factor.apply(injection[:, 0]) - dense @ injection[:, 0]).max() < 1e-9
    coef = rng.normal(size=(2, len(model.branches)))
    assert np.abs(factor.combine(coef) - coef @ dense).max() < 1e-9
    assert factor.rows(np.array([], dtype=int)).shape == (0, len(model.buses))
    # pickled without its SuperLU object (which cannot be) and factorised again on first use
    again = pickle.loads(pickle.dumps(factor))  # noqa: S301 (bytes made here)
    assert np.abs(again.rows(picked) - dense[picked]).max() < 1e-10


def test_factor_on_islands_and_bad_weights() -> None:
    net = parse_matpower(RawFile("islands.m", TWO_ISLANDS.encode()))
    model = dc_model(net)
    factor = PtdfFactor(model)
    assert np.abs(factor.rows(np.arange(4)) - model.ptdf()).max() < 1e-12
    with pytest.raises(ValueError, match="island 1 sum to 0"):
        PtdfFactor(model, np.array([1.0, 1.0, 1.0, 0.0, 0.0]))


def test_levels_order_a_triangular_solve() -> None:
    import scipy.sparse as sp

    from engine.lmp.ptdf import _levels, _sweep

    rng = np.random.default_rng(7)
    n = 60
    for lower in (True, False):
        dense = np.tril(rng.random((n, n)) < 0.05, -1).astype(float) * rng.normal(size=(n, n))
        dense = dense if lower else dense.T
        triangle = sp.csr_matrix(dense)
        order, bounds = _levels(triangle)
        level = np.zeros(n, dtype=int)
        level[order] = np.searchsorted(bounds, np.arange(len(order)), side="right")
        # every row comes after the rows it refers to, and rows without references are left out
        for i in range(n):
            refs = triangle.indices[triangle.indptr[i]:triangle.indptr[i + 1]]
            assert (i in order) == (len(refs) > 0)
            assert all(level[j] < level[i] for j in refs)
        rhs = rng.normal(size=(n, 4))
        out = rhs.copy()
        _sweep(triangle, out)
        assert np.abs((np.eye(n) + dense) @ out - rhs).max() < 1e-9
