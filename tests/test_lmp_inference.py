"""Binding constraints inferred from congestion components (engine/lmp/inference.py).

The oracle is the engine's own DC-OPF: its congestion components are fed to the inference, which must give
back the limits that bound and their duals. On case118 (limits of tests/oracles/case118_limits.csv, demand
scaled over six hours so that different sets bind) every in-service branch is a candidate, not only the
limited ones, so the fit has to single out the 6-7 binding branches of each hour among all 186. Tolerances:

- exact components (fit tolerance 1e-6 $/MWh): the recovered duals match to within 1e-4 $/MWh (measured
  4e-14: the final refit is a least-squares solve on the support, exact when the support is);
- components rounded to two decimals (tolerance 0.005): the corridor set is still exact and the duals of
  single-branch corridors within 0.05 $/MWh (measured 0.0096): rounding errors of +-0.005 at 118 buses
  propagate into a handful of coefficients with gains of order one (the smallest true dual is 0.86).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.lmp.cases import load_case, read_rate_a_overrides
from engine.lmp.cli import main
from engine.lmp.inference import corridor_of, corridor_scores, corridors, infer_constraints, network_ptdf
from engine.lmp.network import Network
from engine.lmp.opf import OpfResult, solve_dcopf

ORACLES = Path(__file__).parent / "oracles"
HOURS = pd.Series(np.linspace(0.8, 1.05, 6), index=pd.Index(range(6), name="snapshot"))


def components(result: OpfResult, decimals: int | None = None) -> pd.DataFrame:
    frame = result.nodes[["snapshot", "bus", "congestion"]].rename(columns={"snapshot": "time"})
    if decimals is not None:
        frame["congestion"] = frame["congestion"].round(decimals)
    return frame


@pytest.fixture(scope="module")
def c118(data_dir: Path) -> tuple[Network, OpfResult]:
    net = load_case(data_dir / "grids" / "case118.m")
    net = net.with_rate_a(read_rate_a_overrides(ORACLES / "case118_limits.csv", net)).with_demand_profile(HOURS)
    return net, solve_dcopf(net)


def by_branch(frame: pd.DataFrame, time_col: str) -> pd.Series:
    return frame.set_index([time_col, frame["branch"].astype(str)])["shadow_price"].sort_index()


@pytest.mark.realdata
def test_recovers_own_binding_set_and_duals(c118: tuple[Network, OpfResult]) -> None:
    net, result = c118
    truth = result.binding
    assert truth["snapshot"].nunique() == len(HOURS) and len(truth) >= 30
    inferred = infer_constraints(net, components(result), tolerance=1e-6, candidates="all")
    corridor = corridor_of(net, candidates="all")
    scores = corridor_scores(inferred, truth, corridor, min_dual=0.0)
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0, scores
    # Where the binding branch shares its corridor with a parallel circuit both rows are reported; the row
    # of the branch that bound carries its dual, with the engine's sign.
    got = by_branch(inferred, "time")
    want = by_branch(truth, "snapshot")
    assert got.reindex(want.index).to_numpy() == pytest.approx(want.to_numpy(), abs=1e-4)
    assert inferred.attrs["fit"]["max_misfit"].max() <= 1e-6 * 2


@pytest.mark.realdata
def test_rounded_to_cents(c118: tuple[Network, OpfResult]) -> None:
    net, result = c118
    inferred = infer_constraints(net, components(result, decimals=2), tolerance=0.005, candidates="all")
    corridor = corridor_of(net, candidates="all")
    scores = corridor_scores(inferred, result.binding, corridor, min_dual=0.0)
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0, scores
    single = corridor.value_counts()
    rows = inferred[inferred["corridor"].map(single).fillna(1) == 1]
    want = by_branch(result.binding, "snapshot")
    got = by_branch(rows, "time")
    assert got.to_numpy() == pytest.approx(want.reindex(got.index).to_numpy(), abs=0.05)


@pytest.mark.realdata
def test_reference_constant_is_free(c118: tuple[Network, OpfResult]) -> None:
    """With a load-weighted reference every congestion component shifts by an hourly constant; the
    inferred duals do not change."""
    net, slack = c118
    load = solve_dcopf(net, reference="load")
    assert not np.allclose(load.nodes["congestion"], slack.nodes["congestion"])
    a = infer_constraints(net, components(load), tolerance=1e-6)
    b = infer_constraints(net, components(slack), tolerance=1e-6)
    assert by_branch(a, "time").to_numpy() == pytest.approx(by_branch(b, "time").to_numpy(), abs=1e-5)


@pytest.mark.realdata
def test_parallel_branches_are_one_corridor(c118: tuple[Network, OpfResult]) -> None:
    net, result = c118
    table, _ = network_ptdf(net, "all")
    # Branches 141 and 142 are parallel circuits 89-92 in the case; add a circuit of double susceptance and
    # a copy listed the other way round: all four must form one corridor.
    table.loc["141x2"] = 2 * table.loc["141"]
    table.loc["141rev"] = -table.loc["141"]
    groups = corridors(table)
    by_name = {groups.branches[p]: name for name, m in zip(groups.names, groups.members, strict=True) for p in m}
    assert {by_name[b] for b in ("141", "142", "141x2", "141rev")} == {"141"}
    assert len(groups.names) == len(set(by_name.values()))
    hour0 = components(result)[lambda f: f["time"] == 0]
    inferred = infer_constraints(table, hour0, tolerance=1e-6).set_index("branch")
    hour0_binding = result.binding[result.binding["snapshot"] == 0].set_index("branch")
    mu = hour0_binding.loc["141", "shadow_price"]
    members = inferred[inferred["corridor"] == "141"]["shadow_price"]
    assert sorted(members.index) == ["141", "141rev", "141x2", "142"]
    assert members["141"] == pytest.approx(mu, abs=1e-5)
    assert members["141x2"] == pytest.approx(mu / 2, abs=1e-5)
    assert members["141rev"] == pytest.approx(-mu, abs=1e-5)


@pytest.mark.realdata
def test_cli_end_to_end(c118: tuple[Network, OpfResult], data_dir: Path, tmp_path: Path) -> None:
    _, result = c118
    one_hour = load_case(data_dir / "grids" / "case118.m")
    one_hour = one_hour.with_rate_a(read_rate_a_overrides(ORACLES / "case118_limits.csv", one_hour))
    solved = solve_dcopf(one_hour)
    comps = tmp_path / "components.csv"
    components(solved, decimals=2).to_csv(comps, index=False)
    out = tmp_path / "out" / "constraints.csv"
    assert main(["infer-constraints", str(comps), "--case", str(data_dir / "grids" / "case118.m"),
                 "--all-branches", "--out", str(out)]) == 0
    table = pd.read_csv(out, dtype={"branch": str, "corridor": str})
    assert list(table.columns) == ["time", "branch", "corridor", "shadow_price"]
    # case118.m itself has no branch limits (the binding ones come from the overrides), hence --all-branches.
    want = solved.binding.set_index(solved.binding["branch"].astype(str))["shadow_price"]
    single = table[~table["corridor"].duplicated(keep=False)].set_index("branch")["shadow_price"]
    assert set(table["corridor"]) == {corridor_of(one_hour, candidates="all")[b] for b in want.index}
    assert single.to_numpy() == pytest.approx(want.reindex(single.index).to_numpy(), abs=0.05)


@pytest.mark.realdata
@pytest.mark.parametrize("content, message", [
    ("time,bus,price\n0,1,2.0\n", "missing columns ['congestion']"),
    ("time,bus,congestion\n0,1,2.0\n0,9999,1.0\n", "bus name(s) not in the case, e.g. ['9999']"),
    ("time,bus,congestion\n0,1,2.0\n0,2,abc\n", "congestion 'abc' at row 2 (time 0, bus 2) is not a finite number"),
    ("time,bus,congestion\n0,1,2.0\n0,1,3.0\n", "bus 1 is listed twice for time 0"),
    ("", "not a readable CSV"),
    ("time,bus,congestion\n0,1,2.0\n", "no in-service branch has a limit"),
])
def test_cli_refuses_bad_input(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                               message: str) -> None:
    comps = tmp_path / "components.csv"
    comps.write_text(content)
    out = tmp_path / "never.csv"
    flags = [] if "limit" in message else ["--all-branches"]
    assert main(["infer-constraints", str(comps), "--case", str(data_dir / "grids" / "case14.m"), *flags,
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {comps}")
    assert message in err
    assert not out.exists()


def test_bad_arguments() -> None:
    table = pd.DataFrame([[0.5, -0.5]], index=["l1"], columns=["a", "b"])
    comps = pd.DataFrame({"time": [0, 0], "bus": ["a", "b"], "congestion": [1.0, -1.0]})
    with pytest.raises(ValueError, match="tolerance must be positive"):
        infer_constraints(table, comps, tolerance=0)
    with pytest.raises(ValueError, match="candidates must be"):
        network_ptdf(None, "some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="case must be a Network or a PTDF DataFrame"):
        infer_constraints([[1.0]], comps)  # type: ignore[arg-type]
    # A two-bus toy the answer of which is known by hand: congestion +-1 = mu * PTDF +-0.5, mu = 2.
    out = infer_constraints(table, comps, tolerance=1e-6)
    assert out[["branch", "corridor"]].values.tolist() == [["l1", "l1"]]
    assert out["shadow_price"].iloc[0] == pytest.approx(2.0)


@pytest.mark.realdata
@pytest.mark.slow
def test_scigrid_precision_recall(data_dir: Path) -> None:
    from bench.infer_constraints import scigrid

    net = scigrid(data_dir)
    # Every third hour of the day, morning to evening alike (bench/infer_constraints.py scores all 24:
    # precision 0.968, recall 0.981), in about half the time of the whole day.
    result = solve_dcopf(net, net.snapshots[::3])
    inferred = infer_constraints(net, components(result, decimals=2))
    scores = corridor_scores(inferred, result.binding, corridor_of(net), min_dual=0.01)
    # Measured: precision 0.973, recall 0.986 (213 hits, 216 true, 219 inferred).
    assert scores["precision"] >= 0.95 and scores["recall"] >= 0.95, scores
