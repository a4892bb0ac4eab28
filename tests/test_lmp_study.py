"""What the nodal page studies: a day of a grid model, its hubs, layout and what-if re-solves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.lmp.study import (DAILY_LOAD_SHAPE, SYSTEM_HUB, coordinates, force_layout, hub_prices, node_series,
                              node_view, ptdf_row, solve_study, study_network)

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def scigrid(data_dir):
    net = study_network(data_dir / "grids" / "scigrid-de")
    return net, solve_study(net)


def test_single_snapshot_case_gets_a_day_scaled_to_its_own_peak(data_dir):
    net = study_network(data_dir / "grids" / "case14.m")
    assert len(net.snapshots) == 24
    base = net.buses["demand"].sum()
    day = net.demand_matrix().sum(axis=1)
    np.testing.assert_allclose(day, base * DAILY_LOAD_SHAPE)
    xy, geographic = coordinates(net)
    assert not geographic and xy.shape == (14, 2) and np.isfinite(xy.to_numpy()).all()


def test_scigrid_keeps_its_coordinates_and_the_hub_is_demand_weighted(scigrid):
    net, result = scigrid
    xy, geographic = coordinates(net)
    assert geographic and xy["x"].between(5, 16).all() and xy["y"].between(47, 56).all()
    snap = result.snapshots[18]
    view = node_view(result, net, snap, SYSTEM_HUB)
    demand = pd.Series(net.demand_matrix(result.snapshots)[18], index=net.buses.index)
    lmp = view.table.set_index("bus")["lmp"]
    expected = float((lmp * demand.reindex(lmp.index)).sum() / demand.sum())
    assert view.hub_price == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(view.table["basis"], view.table["lmp"] - expected, atol=1e-9)
    bus = str(net.buses.index[3])
    one_bus_hub = hub_prices(result, net, bus)
    assert node_view(result, net, snap, bus).table.set_index("bus").at[bus, "basis"] == 0.0
    series = node_series(result, net, bus, SYSTEM_HUB)
    assert len(series) == 24 and np.allclose(series["energy"] + series["congestion"] + series["loss"],
                                             series["lmp"], atol=1e-6)
    own_lmp = result.nodes[result.nodes["bus"] == bus].set_index("snapshot")["lmp"]
    pd.testing.assert_series_equal(one_bus_hub, own_lmp)  # a bus as hub: its own LMP, every hour
    system = hub_prices(result, net, SYSTEM_HUB)
    np.testing.assert_allclose(series["basis"].to_numpy(), (own_lmp - system).to_numpy(), atol=1e-9)


def test_what_if_outage_and_limit_change_prices_and_cost(scigrid):
    net, base = scigrid
    snap = base.snapshots[18]
    binding = base.binding[base.binding["snapshot"] == snap].sort_values("shadow_price", key=np.abs)
    line = str(binding["branch"].iloc[-1])  # the most expensive constraint of the hour
    limit = float(binding["limit_mw"].iloc[-1])
    relaxed = solve_study(net, rate_a={line: limit * 1.5})
    assert relaxed.objective < base.objective  # relaxing a binding limit can only lower the cost
    tightened = solve_study(net, rate_a={line: limit * 0.5})
    assert tightened.objective > base.objective
    row = ptdf_row(base, line)
    assert abs(row.iloc[0]) >= abs(row.iloc[-1])  # largest effect first
    outage = solve_study(net, outage=line)
    flows = outage.flows[(outage.flows["snapshot"] == snap) & (outage.flows["branch"].astype(str) == line)]
    assert flows.empty or float(flows["flow_mw"].abs().max()) == 0.0


def test_force_layout_is_deterministic(data_dir):
    net = study_network(data_dir / "grids" / "case30.m")
    a, b = force_layout(net, seed=3), force_layout(net, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_large_networks_get_a_spectral_start(data_dir):
    net = study_network(data_dir / "grids" / "case_ACTIVSg2000.m")
    xy, geographic = coordinates(net)
    assert not geographic and len(xy) == 2000 and np.isfinite(xy.to_numpy()).all()
    # distinct positions: no collapse of the spectral start onto a line or a point
    assert xy.round(4).drop_duplicates().shape[0] > 1990 and xy.std().min() > 0.1


def test_an_unsolvable_snapshot_is_named_and_the_page_keeps_its_failure(data_dir):
    """A day that cannot be solved says which snapshot failed; the page asks for a study once, not once per
    callback, even when it fails."""
    from callbacks import nodal
    from engine.lmp import OpfError

    net = study_network(data_dir / "grids" / "case14.m")
    tight = {str(b): 0.01 for b in net.branches.index}
    with pytest.raises(OpfError, match=r"not solved: Infeasible \(snapshot "):
        solve_study(net, rate_a=tight)
    calls = []

    def build():
        calls.append(1)
        raise OpfError("no")

    for _ in range(3):
        with pytest.raises(OpfError, match="no"):
            nodal._memo(("test-failure",), build)
    assert len(calls) == 1


def test_unsettled_loss_factors_are_said_on_the_page(data_dir):
    from callbacks.nodal import _loss_warning
    from engine.lmp.opf import solve_dcopf

    net = study_network(data_dir / "grids" / "case118.m")
    rough = solve_dcopf(net, net.snapshots[:1], losses=True, max_loss_iterations=2)
    assert rough.info["loss_converged"] is False
    assert "had not settled after 2 rounds" in _loss_warning(rough)
    assert _loss_warning(solve_dcopf(net, net.snapshots[:1], losses=True)) is None
    assert _loss_warning(solve_dcopf(net, net.snapshots[:1])) is None


def test_the_page_builds_a_study_once_when_its_callbacks_ask_together():
    import threading
    import time

    from callbacks import nodal

    calls, results = [], []

    def build():
        calls.append(1)
        time.sleep(0.2)
        return "solved"

    threads = [threading.Thread(target=lambda: results.append(nodal._memo(("test-together",), build)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and results == ["solved"] * 4
