"""What the nodal page studies: a day of a grid model, its hubs, layout and what-if re-solves, and the studies
kept per process (built once when the page's callbacks ask together)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from engine.lmp import OpfError
from engine.lmp.layout import coordinates, force_layout
from engine.lmp.study import (DAILY_LOAD_SHAPE, DEFAULT_NETWORK, SYSTEM_HUB, SingleFlight, Studies, WhatIf,
                              default_network, grid_folder, hub_prices, ptdf_row, solve_study, study_network)


@pytest.fixture(scope="module")
def book() -> Studies:
    return Studies()


@pytest.fixture(scope="module")
def scigrid(book, data_dir):
    return book.open(grid_folder(data_dir), "scigrid-de")


@pytest.mark.realdata
def test_single_snapshot_case_gets_a_day_scaled_to_its_own_peak(data_dir):
    net = study_network(data_dir / "grids" / "case14.m")
    assert len(net.snapshots) == 24
    base = net.buses["demand"].sum()
    day = net.demand_matrix().sum(axis=1)
    np.testing.assert_allclose(day, base * DAILY_LOAD_SHAPE)
    xy, geographic = coordinates(net)
    assert not geographic
    assert xy.shape == (14, 2)
    assert np.isfinite(xy.to_numpy()).all()


@pytest.mark.realdata
def test_scigrid_keeps_its_coordinates(scigrid):
    assert scigrid.geographic
    assert scigrid.coords["x"].between(5, 16).all(), "longitudes of Germany"
    assert scigrid.coords["y"].between(47, 56).all(), "latitudes of Germany"


@pytest.mark.realdata
def test_the_system_hub_is_demand_weighted(scigrid):
    net, result = scigrid.network, scigrid.result
    snap = scigrid.snapshot(18)
    view = scigrid.node_view(snap, SYSTEM_HUB)
    demand = pd.Series(net.demand_matrix(result.snapshots)[18], index=net.buses.index)
    lmp = view.table.set_index("bus")["lmp"]
    expected = float((lmp * demand.reindex(lmp.index)).sum() / demand.sum())
    assert view.hub_price == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(view.table["basis"], view.table["lmp"] - expected, atol=1e-9)
    assert (view.change == 0).all(), "no what-if: no change against the base"


@pytest.mark.realdata
def test_a_bus_as_hub_is_priced_at_its_own_lmp(scigrid):
    net, result = scigrid.network, scigrid.result
    bus = str(net.buses.index[3])
    own_lmp = result.nodes[result.nodes["bus"] == bus].set_index("snapshot")["lmp"]
    pd.testing.assert_series_equal(hub_prices(result, net, bus), own_lmp, check_names=False)
    assert scigrid.node_view(scigrid.snapshot(18), bus).table.set_index("bus").at[bus, "basis"] == 0.0
    series = scigrid.node_series(bus, SYSTEM_HUB)
    assert len(series) == 24
    np.testing.assert_allclose(series["energy"] + series["congestion"] + series["loss"], series["lmp"], atol=1e-6)
    system = hub_prices(result, net, SYSTEM_HUB)
    np.testing.assert_allclose(series["basis"].to_numpy(), (own_lmp - system).to_numpy(), atol=1e-9)


@pytest.mark.realdata
def test_the_day_of_basis_values_is_against_the_hub_of_each_snapshot(scigrid):
    basis = scigrid.day_values("basis", SYSTEM_HUB)
    nodes = scigrid.result.nodes
    expected = nodes["lmp"] - nodes["snapshot"].map(hub_prices(scigrid.result, scigrid.network, SYSTEM_HUB))
    np.testing.assert_allclose(basis, expected)
    assert scigrid.day_values("delta", SYSTEM_HUB) is None, "the what-if change is shown per snapshot only"


@pytest.mark.realdata
def test_what_if_outage_and_limit_change_prices_and_cost(scigrid, book, data_dir):
    net, base = scigrid.network, scigrid.result
    snap = scigrid.snapshot(18)
    binding = scigrid.binding_at(snap)
    line = str(binding["branch"].iloc[0])  # the most expensive constraint of the hour
    limit = float(binding["limit_mw"].iloc[0])
    assert solve_study(net, rate_a={line: limit * 1.5}).objective < base.objective, "relaxing can only help"
    assert solve_study(net, rate_a={line: limit * 0.5}).objective > base.objective, "tightening can only hurt"
    row = ptdf_row(base, line)
    assert abs(row.iloc[0]) >= abs(row.iloc[-1])  # largest effect first
    outage = book.open(grid_folder(data_dir), "scigrid-de", WhatIf(line, out=True))
    assert outage.base is scigrid.result, "the base day is solved once"
    flows = outage.flows_at(snap).set_index(outage.flows_at(snap)["branch"].astype(str))["flow_mw"]
    assert flows[line] == 0.0
    assert outage.cost_change > 0, "a binding line out costs more"
    change = outage.node_view(snap, SYSTEM_HUB).change
    assert change.abs().max() > 0.1


@pytest.mark.realdata
def test_a_binding_line_names_where_it_raises_and_lowers_prices(scigrid):
    snap = scigrid.snapshot(18)
    top = scigrid.binding_at(snap).iloc[0]
    line = scigrid.line_view(str(top["branch"]), snap)
    assert line.shadow_price == pytest.approx(float(top["shadow_price"]))
    effect = line.shadow_price * line.ptdf
    assert list(line.raises.index) == list(effect.sort_values().tail(3)[::-1].index)
    assert list(line.lowers.index) == list(effect.sort_values().head(3).index)
    assert scigrid.line_view("no such line", snap) is None


@pytest.mark.realdata
def test_a_line_not_binding_has_no_shadow_price(scigrid):
    snap = scigrid.snapshot(18)
    binding = set(scigrid.binding_at(snap)["branch"].astype(str))
    free = next(str(b) for b in scigrid.network.branches.index if str(b) not in binding)
    line = scigrid.line_view(free, snap)
    assert line.shadow_price == 0.0
    assert line.raises.empty


@pytest.mark.realdata
def test_force_layout_is_deterministic(data_dir):
    net = study_network(data_dir / "grids" / "case30.m")
    a, b = force_layout(net, seed=3), force_layout(net, seed=3)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.realdata
def test_large_networks_get_a_spectral_start(data_dir):
    net = study_network(data_dir / "grids" / "case_ACTIVSg2000.m")
    xy, geographic = coordinates(net)
    assert not geographic
    assert len(xy) == 2000
    assert np.isfinite(xy.to_numpy()).all()
    # distinct positions: no collapse of the spectral start onto a line or a point
    assert xy.round(4).drop_duplicates().shape[0] > 1990
    assert xy.std().min() > 0.1
    again, _ = coordinates(net)
    pd.testing.assert_frame_equal(xy, again)  # the same drawing every time


@pytest.mark.realdata
def test_an_unsolvable_snapshot_is_named(data_dir):
    net = study_network(data_dir / "grids" / "case14.m")
    tight = {str(b): 0.01 for b in net.branches.index}
    with pytest.raises(OpfError, match=r"not solved: Infeasible \(snapshot "):
        solve_study(net, rate_a=tight)


@pytest.mark.realdata
def test_a_what_if_on_an_unknown_line_fails_once_and_is_kept(data_dir, monkeypatch):
    book = Studies()
    solves = []
    import engine.lmp.study as study_module

    real = study_module.solve_what_if
    monkeypatch.setattr(study_module, "solve_what_if", lambda *a, **k: solves.append(1) or real(*a, **k))
    for _ in range(3):
        with pytest.raises(KeyError):
            book.open(grid_folder(data_dir), "case14", WhatIf("no such line", limit=10.0))
    assert len(solves) == 1, "the failing what-if is tried once, then its error is kept"


def test_an_unknown_network_is_an_opf_error(tmp_path):
    with pytest.raises(OpfError, match="no network named 'nowhere'"):
        Studies().open(tmp_path, "nowhere")


def test_the_default_network():
    assert default_network(["case14", DEFAULT_NETWORK]) == DEFAULT_NETWORK
    assert default_network(["case14", "case30"]) == "case14"
    assert default_network([]) is None


@pytest.mark.parametrize(("args", "message"), [
    (("", 10.0, False), "Pick a line first"),
    (("7", 0.0, False), "above 0"),
    (("7", float("nan"), False), "above 0"),
    (("7", None, False), "Give a new limit or take the line out"),
])
def test_a_what_if_says_what_is_missing(args, message):
    with pytest.raises(ValueError, match=message):
        WhatIf(*args)


def test_what_ifs_are_equal_by_value():
    assert WhatIf("7", 100.0) == WhatIf("7", 100.0)
    assert hash(WhatIf("7", out=True)) == hash(WhatIf("7", out=True))


def test_callbacks_asking_together_get_one_build():
    memo = SingleFlight(4)
    calls, results = [], []

    def build():
        calls.append(1)
        time.sleep(0.2)
        return "solved"

    threads = [threading.Thread(target=lambda: results.append(memo.get("together", build))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]
    assert results == ["solved"] * 4


def test_a_kept_failure_is_raised_again_without_a_new_build():
    memo = SingleFlight(4, kept_errors=(OpfError,))
    calls = []

    def build():
        calls.append(1)
        raise OpfError("no")

    for _ in range(3):
        with pytest.raises(OpfError, match="no"):
            memo.get("failing", build)
    assert len(calls) == 1


def test_another_failure_is_not_kept_and_waiting_callers_do_not_hang():
    memo = SingleFlight(4, kept_errors=(OpfError,))
    calls, errors = [], []
    started = threading.Event()

    def build():
        calls.append(1)
        started.set()
        time.sleep(0.2)
        raise RuntimeError("solver crashed")

    def ask():
        try:
            memo.get("crash", build)
        except RuntimeError as exc:
            errors.append(str(exc))

    owner = threading.Thread(target=ask)
    owner.start()
    started.wait(5)
    waiter = threading.Thread(target=ask)
    waiter.start()
    owner.join(5)
    waiter.join(5)
    assert errors == ["solver crashed"] * 2
    assert memo.get("crash", lambda: "solved now") == "solved now", "the crash was not kept"


def test_the_least_recently_used_value_goes_first():
    memo = SingleFlight(2)
    memo.get("a", lambda: 1)
    memo.get("b", lambda: 2)
    memo.get("a", lambda: 0)  # used again: "b" is now the oldest
    memo.get("c", lambda: 3)
    assert memo.get("a", lambda: "rebuilt") == 1
    assert memo.get("b", lambda: "rebuilt") == "rebuilt"
