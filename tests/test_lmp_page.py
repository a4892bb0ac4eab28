"""The nodal page's pieces outside the browser: map markers tell their kind, the colour scale, the loss
warning, the binding table, and the basis of published prices as the page shows it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from callbacks.nodal import binding_table, clicked, loss_warning
from components import nodal_figures as nf
from engine.lmp.opf import solve_dcopf
from engine.lmp.published import published_basis
from engine.lmp.study import SYSTEM_HUB, Studies, grid_folder, study_network


def _small_map() -> dict:
    nodes = pd.DataFrame({"bus": ["1", "2"], "lmp": [10.0, 12.0], "energy": [10.0, 10.0],
                          "congestion": [0.0, 2.0], "loss": [0.0, 0.0], "basis": [-1.0, 1.0]})
    coords = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}, index=["1", "2"])
    branches = pd.DataFrame({"from_bus": ["1"], "to_bus": ["2"]}, index=["L1"])
    flows = pd.DataFrame({"branch": ["L1"], "flow_mw": [50.0], "limit_mw": [50.0]})
    fig = nf.network_map(nodes, coords, branches, flows, field="lmp", centre=11.0, span=1.0, geographic=False,
                         title="t")
    return {trace.name: trace for trace in fig.data}


def _click(trace, i: int) -> dict:
    return {"points": [{"customdata": list(trace.customdata[i])}]}


def test_a_click_on_a_node_names_the_bus():
    traces = _small_map()
    assert nf.clicked_marker(_click(traces["nodes"], 1)) == (nf.BUS, "2")


def test_a_click_on_a_line_names_the_line():
    traces = _small_map()
    assert nf.clicked_marker(_click(traces["lines"], 0)) == (nf.LINE, "L1")


@pytest.mark.parametrize("click", [None, {}, {"points": []}, {"points": [{"x": 1}]},
                                   {"points": [{"customdata": ["other", "7"]}]}])
def test_a_click_on_nothing_of_ours_names_nothing(click):
    assert nf.clicked_marker(click) is None


def test_the_click_callback_keeps_the_line_for_the_what_if():
    traces = _small_map()
    on_line = clicked(_click(traces["lines"], 0))
    assert on_line["selected"] == {"kind": nf.LINE, "id": "L1"}
    assert on_line["line"] == "L1"
    on_bus = clicked(_click(traces["nodes"], 0))
    assert on_bus["selected"] == {"kind": nf.BUS, "id": "1"}


def test_the_colour_scale_centres_prices_on_the_hub_and_the_rest_on_zero():
    values = np.array([8.0, 13.0, np.nan])
    assert nf.colour_scale("lmp", values, 10.0) == (10.0, 3.0)
    assert nf.colour_scale("congestion", values, 10.0) == (0.0, 13.0)
    assert nf.colour_scale("basis", np.array([np.nan]), 10.0) == (0.0, 1.0)
    assert nf.colour_scale("delta", np.zeros(3), 10.0) == (0.0, 0.01)


@pytest.mark.realdata
def test_unsettled_loss_factors_are_said_on_the_page(data_dir):
    net = study_network(data_dir / "grids" / "case118.m")
    rough = solve_dcopf(net, net.snapshots[:1], losses=True, max_loss_iterations=2)
    assert rough.info["loss_converged"] is False
    assert "had not settled after 2 rounds" in loss_warning(rough)
    assert loss_warning(solve_dcopf(net, net.snapshots[:1], losses=True)) is None
    assert loss_warning(solve_dcopf(net, net.snapshots[:1])) is None


@pytest.mark.realdata
def test_the_binding_table_lists_the_most_expensive_limit_first(data_dir):
    study = Studies().open(grid_folder(data_dir), "scigrid-de")
    snapshot = study.snapshot(18)
    table = binding_table(study, snapshot)
    body = table.children[1].children
    first = body[0].children
    expected = study.binding_at(snapshot).iloc[0]
    assert table.id == "nd-binding-table"
    assert first[0].children == str(expected["branch"])
    assert first[4].children == f"{expected['shadow_price']:,.2f}"
    assert len(body) == min(25, len(study.binding_at(snapshot)))
    hub = study.node_view(snapshot, SYSTEM_HUB).hub_price
    assert np.isfinite(hub)


@pytest.mark.realdata
def test_published_basis_by_hub_in_market_time(store, data_dir):
    from ingest.load import load_raw, raw_files_at
    from ingest.pjm import PjmConnector

    path = data_dir / "markets" / "pjm" / "rt_hrl_lmps_hubs_20250501-20250801.csv"
    load_raw(store, PjmConnector(), raw_files_at(path))
    raw = pd.read_csv(path)
    west = str(raw.loc[raw["pnode_name"].str.startswith("WESTERN HUB"), "pnode_id"].iat[0])
    found = published_basis(store, "PJM", "RT", west, top=5)
    assert found.zone == "America/New_York"
    assert len(found.nodes) == 5
    means = found.nodes["mean"].abs().to_numpy()
    assert (np.diff(means) <= 0).all(), "largest mean basis first"
    assert sorted(found.surface.index) == sorted(found.nodes["label"])
    assert list(found.surface.columns) == list(range(24))
    with pytest.raises(KeyError, match="hub nodes not in the prices"):
        published_basis(store, "PJM", "RT", "no such hub")
