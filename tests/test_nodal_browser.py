"""The nodal page in headless Chromium: the SciGRID-de map draws, a click on a node shows its series, and the
congestion forecast runs on its button (its table, weights and map appear)."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains

from app.factory import create_app
from app.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.realdata]

_NODE_PIXEL = """
var gd = document.querySelector('#nd-map .js-plotly-plot');
if (!gd || !gd._fullData) return null;
var t = gd._fullData.findIndex(function (d) { return d.name === 'nodes'; });
if (t < 0) return null;
var tr = gd._fullData[t], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
var i = arguments[0];
// offsets from the top-left of the plot area (selenium 4.2's element offsets)
return {x: xa.l2p(tr.x[i]), y: ya.l2p(tr.y[i]), kind: tr.customdata[i][0], bus: tr.customdata[i][1],
        n: tr.x.length};
"""


def test_map_draws_and_node_click_shows_its_series(dash_duo, store_url, data_dir):
    app = create_app(Settings(store_url=store_url, scheduler=False, demo=True, data_dir=data_dir, auth=False))
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/nodal")
    dash_duo.wait_for_contains_text("#nd-map", "scigrid-de", timeout=60)
    end = time.time() + 30
    pixel = None
    while time.time() < end and not pixel:
        pixel = dash_duo.driver.execute_script(_NODE_PIXEL, 10)
        time.sleep(0.3)
    assert pixel, "the map drew no nodes"
    assert pixel["n"] == 585  # every SciGRID-de bus is drawn
    assert pixel["kind"] == "bus"
    plot_area = dash_duo.find_element("#nd-map .nsewdrag")
    ActionChains(dash_duo.driver).move_to_element_with_offset(plot_area, pixel["x"], pixel["y"]).click().perform()
    dash_duo.wait_for_element("#nd-node-series", timeout=20)
    dash_duo.wait_for_contains_text("#nd-node-series", f"Bus {pixel['bus']}", timeout=20)
    drawn = dash_duo.driver.execute_script(
        "var gd = document.querySelector('#nd-node-series .js-plotly-plot');"
        "return gd._fullData.map(function (d) { return [d.name, d.x.length]; });")
    assert drawn == [["energy", 24], ["congestion", 24], ["loss", 24], ["LMP", 24]]
    dash_duo.wait_for_contains_text("#nd-binding", "Shadow price", timeout=10)

    # The congestion forecast runs only on its button: then its table, map and weights appear.
    assert not dash_duo.find_element("#nd-cf-body").is_displayed()
    assert not dash_duo.find_element("#nd-cf-dl-constraints-btn").is_enabled()  # nothing to download yet
    run = dash_duo.find_element("#nd-cf-run")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", run)  # not under the header
    # a click by script: a loading overlay of the sections below may still cover the button for a moment
    dash_duo.driver.execute_script("arguments[0].click()", run)
    dash_duo.wait_for_element("#nd-cf-table", timeout=60)
    dash_duo.wait_for_contains_text("#nd-cf-source", "The 24 snapshots of the day, equally weighted", timeout=10)
    rows = dash_duo.find_elements("#nd-cf-table tbody tr")
    assert len(rows) > 10  # SciGRID-de's day binds dozens of limits
    assert rows[0].find_elements("css selector", "td")[4].text == "100.0"  # bound in every hour: first
    assert len(dash_duo.find_elements("#nd-cf-weights tbody tr")) == 24
    assert dash_duo.find_element("#nd-cf-dl-constraints-btn").is_enabled()
    drawn = dash_duo.driver.execute_script(
        "var gd = document.querySelector('#nd-cf-map .js-plotly-plot');"
        "return gd._fullData.filter(function (d) { return d.name === 'nodes'; })[0].x.length;")
    assert drawn == 585
    store = app.server.extensions["c254"].store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
