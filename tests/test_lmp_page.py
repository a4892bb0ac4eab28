"""The nodal page's pieces outside the browser: map markers tell their kind, the colour scale, the loss
warning, the binding table, and the basis of published prices as the page shows it; the congestion forecast
panel through Dash's callback endpoint (the engine's figures shown, exposures adding up, the CSVs, bad choices
answered with a message and forged ones with nothing)."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from callbacks.nodal import binding_table, clicked, loss_warning
from components import nodal_figures as nf
from engine.lmp.opf import solve_dcopf
from engine.lmp.published import published_basis, published_basis_export
from engine.lmp.study import SYSTEM_HUB, Studies, grid_folder, study_network
from tests.support.schema_template import migrated_url


def _small_map() -> dict:
    nodes = pd.DataFrame({"bus": ["1", "2"], "lmp": [10.0, 12.0], "energy": [10.0, 10.0],
                          "congestion": [0.0, 2.0], "loss": [0.0, 0.0], "basis": [-1.0, 1.0]})
    coords = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}, index=["1", "2"])
    branches = pd.DataFrame({"from_bus": ["1"], "to_bus": ["2"]}, index=["L1"])
    flows = pd.DataFrame({"branch": ["L1"], "flow_mw": [50.0], "limit_mw": [50.0]})
    fig = nf.network_map(nodes, coords, branches, flows, field="lmp", centre=11.0, span=1.0, geographic=False,
                         title="t")
    return {trace["name"]: trace for trace in fig["data"]}


def _click(trace, i: int) -> dict:
    return {"points": [{"customdata": list(trace["customdata"][i])}]}


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

    # the download: each node's statistics over the window, unrounded, against the operator's file itself
    frame = published_basis_export(found)
    assert list(frame.columns) == [
        "node", "name", "hub", "hub_name", "intervals", *(f"{s}_basis (USD/MWh)" for s in
                                                          ("mean", "std", "p5", "p50", "p95", "min", "max")),
        "first_interval_start (Eastern Prevailing Time)", "last_interval_start (Eastern Prevailing Time)"]
    times = pd.to_datetime(raw["datetime_beginning_utc"], format="%m/%d/%Y %I:%M:%S %p").dt.tz_localize("UTC")
    wide = raw.assign(t=times).pivot_table(index="t", columns="pnode_id", values="total_lmp_rt")
    wide = wide[wide.index > wide.index.max() - pd.Timedelta(days=31)]
    assert frame["hub"].unique().tolist() == [west] and frame["hub_name"].iat[0].startswith("WESTERN HUB")
    for r in frame.to_dict("records"):
        node_basis = (wide[int(r["node"])] - wide[int(west)]).dropna()
        assert r["name"] == raw.loc[raw["pnode_id"] == int(r["node"]), "pnode_name"].iat[0]
        assert r["intervals"] == len(node_basis)
        assert r["mean_basis (USD/MWh)"] == pytest.approx(node_basis.mean(), abs=1e-9)
        assert r["std_basis (USD/MWh)"] == pytest.approx(node_basis.std(), abs=1e-9)
        assert r["p95_basis (USD/MWh)"] == pytest.approx(node_basis.quantile(0.95), abs=1e-9)
        assert r["min_basis (USD/MWh)"] == pytest.approx(node_basis.min(), abs=1e-9)
        assert r["first_interval_start (Eastern Prevailing Time)"] == \
            node_basis.index.min().tz_convert("America/New_York").isoformat()
        assert r["last_interval_start (Eastern Prevailing Time)"] == \
            node_basis.index.max().tz_convert("America/New_York").isoformat()


# --- the congestion forecast panel, through Dash's callback endpoint ---------------------------------------------

CF_GOOD = {"nd-network.value": "scigrid-de", "nd-cf-set.value": "hours", "nd-cf-hours.value": [17, 20],
           "nd-cf-run.n_clicks": 1, "nd-selected.data": None, "nd-cf-spec.data": None,
           "nd-cf-dl-constraints-btn.n_clicks": 1, "nd-cf-dl-exposure-btn.n_clicks": 1,
           "nd-cf-dl-scenarios-btn.n_clicks": 1}


@pytest.fixture(scope="module")
def site(store_dir, data_dir):
    """One app (sign-in off) over an empty store: the forecast reads the grid folder, and stored forecasts."""
    import os

    from app.factory import create_app
    from app.services import services
    from app.settings import Settings

    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"lmppage_{os.getpid()}"), scheduler=False,
                                   demo=False, auth=False, secret_key="test-secret", data_dir=data_dir))
    store = services(dash_app.server).ready_store()
    yield dash_app, store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


def _post(site, output: str, changed: str | None = None, **values) -> dict:
    from tests.test_hardening import assert_answered, callback_key, post_callback

    dash_app, _ = site
    response = post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app, output),
                             {**CF_GOOD, **values}, changed=changed)
    body = assert_answered(response, output)
    return body["response"] if body else {}


def _rows(table: dict) -> list[list[str]]:
    body = table["props"]["children"][-1]["props"]["children"]
    return [[str(cell["props"]["children"]) for cell in row["props"]["children"]] for row in body]


def _text(component) -> str:
    if isinstance(component, dict):
        return _text(component.get("props", {}).get("children"))
    if isinstance(component, list):
        return " ".join(_text(c) for c in component)
    return "" if component is None else str(component)


@pytest.mark.realdata
def test_the_forecast_panel_runs_on_the_button_and_shows_the_engines_figures(site, data_dir):
    from engine.lmp.study import congestion_study

    answer = _post(site, "nd-cf-constraints.children")
    found = congestion_study(site[1], str(data_dir / "grids"), "scigrid-de", "hours", 17, 20)
    assert answer["nd-cf-body"]["style"] == {"display": "block"}
    assert answer["nd-cf-spec"]["data"] == {"name": "scigrid-de", "set": "hours", "first": 17, "last": 20}
    assert {kind: answer[f"nd-cf-dl-{kind}-btn"]["disabled"] for kind in ("constraints", "exposure", "scenarios")} \
        == {"constraints": False, "exposure": False, "scenarios": False}
    rows = _rows(answer["nd-cf-constraints"]["children"])
    assert len(rows) == len(found.constraints) > 5
    first = found.constraints.iloc[0]
    assert rows[0][0] == str(first["branch"])
    assert rows[0][4] == f"{100 * first['frequency']:,.1f}"
    assert rows[0][6] == f"{first['expected_shadow_price']:,.2f}"
    weights = _rows(answer["nd-cf-scenarios"]["children"])
    assert [r[0] for r in weights] == ["17:00", "18:00", "19:00", "20:00"]
    assert {r[4] for r in weights} == {"25.00"}
    assert "Snapshots 2011-01-01 17:00:00 to 2011-01-01 20:00:00 (4), equally weighted" in _text(
        answer["nd-cf-source"]["children"])
    nodes = next(t for t in answer["nd-cf-map"]["figure"]["data"] if t.get("name") == "nodes")
    assert len(nodes["customdata"]) == 585
    top = found.nodes.loc[found.nodes["expected_congestion"].abs().idxmax()]
    hover = next(c for c in nodes["customdata"] if c[1] == top["bus"])
    assert [float(v) for v in hover[2:5]] == pytest.approx(
        [round(top["expected_congestion"], 2), round(top["p5"], 2), round(top["p95"], 2)])


@pytest.mark.realdata
def test_a_clicked_node_shows_exposures_that_add_up_to_its_expected_congestion(site, data_dir):
    from engine.lmp.study import congestion_study

    spec = {"name": "scigrid-de", "set": "hours", "first": 17, "last": 20}
    found = congestion_study(site[1], str(data_dir / "grids"), "scigrid-de", "hours", 17, 20)
    top = found.nodes.loc[found.nodes["expected_congestion"].abs().idxmax()]
    answer = _post(site, "nd-cf-exposure.figure", **{"nd-cf-spec.data": spec,
                                                     "nd-selected.data": {"kind": "bus", "id": top["bus"]}})
    (bars,) = answer["nd-cf-exposure"]["figure"]["data"]
    assert sum(bars["x"]) == pytest.approx(top["expected_congestion"], abs=1e-6)
    assert bars["y"][-1] == f"line {found.node_exposure(top['bus']).index[0]}"  # the largest at the top
    prompt = _post(site, "nd-cf-exposure.figure", **{"nd-cf-spec.data": spec,
                                                     "nd-selected.data": {"kind": "line", "id": "1"}})
    assert "Click a node" in prompt["nd-cf-exposure"]["figure"]["layout"]["annotations"][0]["text"]


@pytest.mark.realdata
def test_the_csvs_hold_the_constraint_table_and_the_node_exposures(site, data_dir):
    import io

    from engine.lmp.study import congestion_study

    spec = {"name": "scigrid-de", "set": "hours", "first": 17, "last": 20}
    found = congestion_study(site[1], str(data_dir / "grids"), "scigrid-de", "hours", 17, 20)
    limits = _post(site, "nd-cf-dl-constraints.data", **{"nd-cf-spec.data": spec})["nd-cf-dl-constraints"]["data"]
    assert limits["filename"] == "scigrid-de_congestion_hours_limits.csv"
    table = pd.read_csv(io.StringIO(limits["content"]), dtype={"branch": str, "from_bus": str, "to_bus": str},
                        float_precision="round_trip")
    # each header names its unit: prices as the page labels a grid case's ($/MWh), the frequency a fraction
    assert list(table.columns) == ["branch", "from_bus", "to_bus", "limit_mw", "scenarios_binding",
                                   "frequency (fraction)", "mean_shadow_price ($/MWh)",
                                   "expected_shadow_price ($/MWh)"]
    pd.testing.assert_frame_equal(table, found.constraints.set_axis(table.columns, axis=1), check_dtype=False,
                                  check_exact=True)
    exposures = _post(site, "nd-cf-dl-exposure.data", **{"nd-cf-spec.data": spec})["nd-cf-dl-exposure"]["data"]
    frame = pd.read_csv(io.StringIO(exposures["content"]), dtype={"bus": str, "branch": str})
    assert list(frame.columns) == ["bus", "expected_congestion ($/MWh)", "branch", "exposure ($/MWh)"]
    sums = frame.groupby("bus")["exposure ($/MWh)"].sum()
    expected = found.nodes.set_index("bus")["expected_congestion"]
    assert np.abs(sums - expected.reindex(sums.index)).max() < 1e-6
    assert set(expected[expected.abs() > 1e-6].index) <= set(sums.index)
    scenarios = _post(site, "nd-cf-dl-scenarios.data", **{"nd-cf-spec.data": spec})["nd-cf-dl-scenarios"]["data"]
    assert scenarios["filename"] == "scigrid-de_congestion_hours_scenarios.csv"
    frame = pd.read_csv(io.StringIO(scenarios["content"]))
    assert list(frame.columns) == ["scenario", "snapshot", "level", "demand_scale (factor)",
                                   "renewable_scale (factor)", "weight (fraction)"]
    assert len(frame) == 4 and frame["weight (fraction)"].sum() == pytest.approx(1.0)  # 17 to 20, weighted alike
    assert frame["snapshot"].astype(str).tolist() == found.scenarios["snapshot"].astype(str).tolist()
    # No run yet: nothing to download, nothing sent.
    assert _post(site, "nd-cf-dl-constraints.data", **{"nd-cf-spec.data": None}) == {}
    assert _post(site, "nd-cf-dl-scenarios.data", **{"nd-cf-spec.data": None}) == {}


@pytest.mark.realdata
@pytest.mark.parametrize("values, message", [
    ({"nd-cf-set.value": "week"}, "scenario set must be one of day, hours, demand"),
    ({"nd-cf-hours.value": [20, 17]}, "the first snapshot (20) comes after the last (17)"),
    ({"nd-cf-hours.value": ["0", 3]}, "a range of snapshots is two whole numbers"),
    ({"nd-network.value": "case14"}, "case14 has one snapshot of its own"),
    ({"nd-network.value": "no such network"}, "no network named 'no such network'"),
])
def test_a_forecast_that_cannot_be_run_says_why_and_shows_nothing(site, values, message):
    answer = _post(site, "nd-cf-constraints.children", **values)
    assert message in _text(answer["nd-cf-message"]["children"])
    assert answer["nd-cf-body"]["style"] == {"display": "none"}
    assert answer["nd-cf-spec"]["data"] is None
    assert all(answer[f"nd-cf-dl-{kind}-btn"]["disabled"] for kind in ("constraints", "exposure", "scenarios"))


@pytest.mark.realdata
def test_a_range_of_snapshots_is_offered_only_where_the_network_has_its_own(site):
    def offered(name: str) -> dict:
        answer = _post(site, "nd-cf-set.options", **{"nd-network.value": name})
        return {o["value"]: o["disabled"] for o in answer["nd-cf-set"]["options"]}

    assert offered("scigrid-de") == {"day": False, "hours": False, "demand": False}
    assert offered("case14") == {"day": False, "hours": True, "demand": False}


@pytest.mark.realdata
def test_a_forged_forecast_spec_changes_nothing(site):
    from tests.test_hardening import HOSTILE, row_counts

    before = row_counts(site[1])
    for spec in [*HOSTILE, {"name": "scigrid-de", "set": "day", "first": 3, "last": None},
                 {"name": "scigrid-de", "set": "hours", "first": "1; DROP", "last": 2}, {"name": None}]:
        for output in ("nd-cf-exposure.figure", "nd-cf-dl-constraints.data", "nd-cf-dl-exposure.data",
                       "nd-cf-dl-scenarios.data"):
            assert _post(site, output, **{"nd-cf-spec.data": spec,
                                          "nd-selected.data": {"kind": "bus", "id": "1"}}) == {}
    assert row_counts(site[1]) == before


# --- congestion patterns of published prices, through Dash's callback endpoint ----------------------------------

def _values(encoded) -> np.ndarray:
    """A figure's array as plotly sends it: a list, or typed binary ({"dtype", "bdata"} in base64)."""
    import base64

    if isinstance(encoded, dict):
        return np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"])
    return np.asarray(encoded)


@pytest.mark.realdata
def test_published_patterns_are_offered_and_drawn_for_a_loaded_run(site, data_dir):
    from engine.lmp.patterns import recent_patterns
    from ingest.load import load_raw, raw_files_at
    from ingest.pjm import PjmConnector

    _, store = site
    # nothing loaded for the run yet: a message, no patterns
    missing = _post(site, "np-summary.children", **{"nb-run.value": "PJM|DA"})
    assert "no published congestion components for PJM DA" in _text(missing["np-summary"]["children"])
    assert missing["np-pattern"]["options"] == []
    assert missing["np-dl-loadings-btn"]["disabled"] is True and missing["np-dl-activations-btn"]["disabled"] is True
    assert _post(site, "np-dl-loadings.data", **{"nb-run.value": "PJM|DA", "np-dl-loadings-btn.n_clicks": 1}) == {}
    hubs = data_dir / "markets" / "pjm" / "rt_hrl_lmps_hubs_20250501-20250801.csv"
    load_raw(store, PjmConnector(), raw_files_at(hubs))
    found = _post(site, "np-summary.children", **{"nb-run.value": "PJM|RT"})
    engine = recent_patterns(store, "PJM", "RT")
    options = found["np-pattern"]["options"]
    assert [o["value"] for o in options] == list(engine.explained.index) and found["np-pattern"]["value"] == "P1"
    assert f"{engine.k} pattern" in found["np-summary"]["children"]
    assert found["np-dl-loadings-btn"]["disabled"] is False and found["np-dl-activations-btn"]["disabled"] is False
    # the CSVs: every node's loadings and every hour's activations, unrounded; hours in market time with offset
    sent = _post(site, "np-dl-loadings.data", **{"nb-run.value": "PJM|RT", "np-dl-loadings-btn.n_clicks": 1})
    data = sent["np-dl-loadings"]["data"]
    assert data["filename"] == "PJM_RT_congestion_patterns_loadings.csv"
    loadings = pd.read_csv(io.StringIO(data["content"]), dtype={"node": str}).set_index("node")
    assert list(loadings.columns) == [f"{p}_loading" for p in engine.loadings.columns]
    assert np.allclose(loadings.to_numpy(), engine.loadings.loc[loadings.index].to_numpy(), rtol=0, atol=1e-12)
    assert np.allclose(loadings.to_numpy().T @ loadings.to_numpy(), np.eye(engine.k), atol=1e-9)  # orthonormal
    sent = _post(site, "np-dl-activations.data", **{"nb-run.value": "PJM|RT", "np-dl-activations-btn.n_clicks": 1})
    activations = pd.read_csv(io.StringIO(sent["np-dl-activations"]["data"]["content"]))
    zone_column = activations.columns[0]
    assert zone_column.startswith("hour_start (") and list(activations.columns[1:]) == [
        f"{p}_activation (USD/MWh)" for p in engine.activations.columns]
    hours = pd.to_datetime(activations[zone_column], utc=True)
    assert (hours == engine.activations.index.tz_convert("UTC")).all()
    assert activations[zone_column].str.endswith(("-04:00", "-05:00")).all()  # PJM: Eastern time, EDT in summer
    assert np.allclose(activations.iloc[:, 1:].to_numpy(), engine.activations.to_numpy(), rtol=0, atol=1e-9)
    shown = _post(site, "np-loadings.figure", **{"nb-run.value": "PJM|RT", "np-pattern.value": "P1"})
    bars = shown["np-loadings"]["figure"]["data"][0]
    assert len(_values(bars["y"])) == len(engine.loadings)  # 12 hubs: every one shown
    activation = _values(shown["np-activation"]["figure"]["data"][0]["y"])
    assert np.allclose(activation, engine.activations["P1"].to_numpy())
    # a forged run or pattern changes nothing
    assert _post(site, "np-loadings.figure", **{"nb-run.value": "PJM|RT", "np-pattern.value": {"x": 1}}) == {}
    forged = _post(site, "np-summary.children", **{"nb-run.value": "PJM|RT; DROP"})
    assert forged["np-pattern"]["options"] == []


def test_the_published_basis_table_names_its_units_and_downloads(site, data_dir):
    from ingest.load import load_raw, raw_files_at
    from ingest.pjm import PjmConnector

    _, store = site
    path = data_dir / "markets" / "pjm" / "rt_hrl_lmps_hubs_20250501-20250801.csv"
    load_raw(store, PjmConnector(), raw_files_at(path))
    raw = pd.read_csv(path)
    west = str(raw.loc[raw["pnode_name"].str.startswith("WESTERN HUB"), "pnode_id"].iat[0])
    chosen = {"nb-run.value": "PJM|RT", "nb-hub.value": west, "nb-dl-stats-btn.n_clicks": 1}
    answer = _post(site, "nb-stats.children", **chosen)
    assert answer["nb-dl-stats-btn"]["disabled"] is False
    assert _post(site, "nb-stats.children", **{**chosen, "nb-hub.value": "no such hub"})["nb-dl-stats-btn"][
        "disabled"] is True  # no table, nothing to download: the button says so
    shown = answer["nb-stats"]["children"]
    unit, table = shown["props"]["children"]
    assert unit["props"]["children"].startswith("Basis to WESTERN HUB in USD/MWh")
    head = table["props"]["children"][0]["props"]["children"]["props"]["children"]
    assert [str(cell["props"]["children"]) for cell in head] == ["Node", "Mean", "Std", "p5", "p50", "p95",
                                                                 "Intervals"]
    surface = _post(site, "nb-surface.figure", **chosen)["nb-surface"]["figure"]
    assert surface["data"][0]["colorbar"]["title"]["text"] == "USD/MWh"
    sent = _post(site, "nb-dl-stats.data", **chosen)["nb-dl-stats"]["data"]
    assert sent["filename"] == f"PJM_RT_basis_to_{west}_market-time.csv"
    expected = published_basis_export(published_basis(store, "PJM", "RT", west))
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(sent["content"]), dtype={"node": str, "hub": str}),
                                  expected)
    # a hub the run does not have, or a forged run, sends nothing
    assert _post(site, "nb-dl-stats.data", **{**chosen, "nb-hub.value": "no such hub"}) == {}
    assert _post(site, "nb-dl-stats.data", **{**chosen, "nb-run.value": "PJM|RT; DROP"}) == {}


@pytest.mark.realdata
def test_a_link_to_a_network_not_in_the_grid_folder_says_so(site):
    import dash

    dash_app, _ = site
    page = next(p for p in dash.page_registry.values() if p["path"] == "/nodal")
    with dash_app.server.test_request_context("/nodal"):
        asked = page["layout"](network="<nope>")
        plain = page["layout"]()
        named = page["layout"](network="case14")
    notes = {name: next(c for c in layout.children if getattr(c, "id", None) == "nd-link-notes")
             for name, layout in (("asked", asked), ("plain", plain), ("named", named))}
    assert notes["asked"].is_open and notes["asked"].children == [
        "No network '<nope>' is in the grid folder; showing scigrid-de."]
    assert not notes["plain"].is_open and not notes["named"].is_open


@pytest.mark.realdata
def test_the_node_table_and_component_series_csvs_name_their_unit(site, data_dir):
    """The snapshot's node table and the day's component series, unrounded, each price header naming the unit the
    page labels a grid case's prices with ($/MWh); the node table's file named by its snapshot without a space."""
    study = Studies().open(grid_folder(data_dir), "scigrid-de")
    chosen = {"nd-hub.value": SYSTEM_HUB, "nd-losses.value": [], "nd-whatif.data": None, "nd-snapshot.value": 18,
              "nd-dl-nodes-btn.n_clicks": 1, "nd-dl-series-btn.n_clicks": 1}
    sent = _post(site, "nd-dl-nodes.data", **chosen)["nd-dl-nodes"]["data"]
    snapshot = study.snapshot(18)
    assert str(snapshot) == "2011-01-01 18:00:00"
    assert sent["filename"] == "scigrid-de_nodes_2011-01-01T180000.csv"  # as the other CSVs write times: no space
    nodes = pd.read_csv(io.StringIO(sent["content"]), dtype={"snapshot": str, "bus": str},
                        float_precision="round_trip")
    assert list(nodes.columns) == ["snapshot", "bus", "lmp ($/MWh)", "energy ($/MWh)", "congestion ($/MWh)",
                                   "loss ($/MWh)", "hub_price ($/MWh)", "basis ($/MWh)",
                                   "lmp_change_vs_base ($/MWh)"]
    view = study.node_view(snapshot, SYSTEM_HUB)
    assert (nodes["snapshot"] == str(snapshot)).all() and nodes["bus"].tolist() == view.table["bus"].tolist()
    for column in ("lmp", "energy", "congestion", "loss", "basis"):
        np.testing.assert_array_equal(nodes[f"{column} ($/MWh)"], view.table[column], err_msg=column)
    assert (nodes["hub_price ($/MWh)"] == view.hub_price).all()
    assert (nodes["lmp_change_vs_base ($/MWh)"] == 0).all()  # no what-if: the base case itself
    series = _post(site, "nd-dl-series.data", **chosen)["nd-dl-series"]["data"]
    assert series["filename"] == "scigrid-de_components.csv"
    frame = pd.read_csv(io.StringIO(series["content"]), dtype={"bus": str}, float_precision="round_trip")
    assert list(frame.columns) == ["snapshot", "bus", "lmp ($/MWh)", "energy ($/MWh)", "congestion ($/MWh)",
                                   "loss ($/MWh)"]
    assert len(frame) == len(study.result.nodes)
    np.testing.assert_array_equal(frame["lmp ($/MWh)"], study.result.nodes["lmp"])


def test_a_snapshot_names_its_file_without_spaces_or_colons():
    from callbacks.nodal import snapshot_tag

    assert snapshot_tag(pd.Timestamp("2011-01-01 18:00")) == "2011-01-01T180000"
    assert snapshot_tag("18:00") == "1800"  # a single-snapshot case's shaped day
