"""The System page in headless Chromium (local mode: the user is this machine's admin): the state badges, and the
latency, cache, job and data-age charts drawn with the app's own figures; the page refreshes itself."""
from __future__ import annotations

import time

import pandas as pd
import pytest

from app.services import services
from engine import queries
from engine.demo import nem_demo_frames
from engine.jobs import JobRun
from engine.store import write_tables

pytestmark = pytest.mark.browser


def _wait_for(predicate, timeout=20.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _traces(dash_duo, ident: str) -> list[dict]:
    """The traces Plotly drew in the graph ``ident``: name and category labels (``_fullData``: plotly 6 sends
    arrays encoded, so ``data`` may read empty)."""
    return dash_duo.driver.execute_script(
        "var g = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "if (!g || !g._fullData) return [];"
        "return g._fullData.map(function (t) { return {name: t.name, y: Array.from(t.y || []),"
        " x: Array.from(t.x || [])}; });", ident)


def test_system_page_draws_its_charts(dash_duo, make_app):
    app = make_app()
    store = services(app.server).ready_store()
    frames = nem_demo_frames(days=2, end=pd.Timestamp.now(tz="Etc/GMT-10").floor("h"))
    write_tables(store, {"prices": frames["prices"]})
    JobRun("sys-browser-job", "NEM").finish(store, "failed", "boom")
    with app.server.app_context():
        services(app.server).cached(queries.nodal_runs)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/admin/system")

    dash_duo.wait_for_contains_text("#sys-store-state", "store up", timeout=20)
    # the same answer draws both badges; on a loaded machine the browser may read them a refresh apart
    try:
        _wait_for(lambda: "cache ok" in dash_duo.find_element("#sys-cache-state").text, what="'cache ok'")
    except AssertionError as exc:  # say what the page said instead
        raise AssertionError(f"{exc}; the status reads {dash_duo.find_element('#sys-status').text!r}") from None
    age = _wait_for(lambda: _traces(dash_duo, "sys-age-chart"), what="the data age chart")
    assert {t["name"] for t in age} == {"data age", "late after"} and "NEM · prices" in age[0]["y"]
    jobs = _wait_for(lambda: _traces(dash_duo, "sys-jobs-chart"), what="the jobs chart")
    assert any(t["name"] == "failed" and "sys-browser-job" in t["y"] for t in jobs)
    requests = _wait_for(lambda: _traces(dash_duo, "sys-requests-chart"), what="the request latency chart")
    assert [t["name"] for t in requests] == ["p50", "p95", "p99", "mean"] and "/_dash-layout" in requests[0]["y"]
    cache = _wait_for(lambda: _traces(dash_duo, "sys-cache-chart"), what="the cache chart")
    assert "static" in cache[0]["x"]
    # the interval's next tick (5 s) has timed the page's own callback
    _wait_for(lambda: any(y.startswith("sys-status.children") for t in _traces(dash_duo, "sys-callbacks-chart")
                          for y in t["y"]), timeout=15, what="the page's own callback in the callback chart")
    assert dash_duo.find_element("#sys-requests-table tbody tr")
    assert not [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
