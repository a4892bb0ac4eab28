"""The overview page in headless Chromium: it draws, follows the region, and downloads what it shows."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
import pytest


pytestmark = pytest.mark.browser


def _trace_y(dash_duo, graph_id: str, trace: int = 0) -> list:
    # Plotly 6 encodes arrays in the figure JSON; the drawn, decoded values are in _fullData.
    return dash_duo.driver.execute_script(
        f"var gd = document.querySelector('#{graph_id} .js-plotly-plot');"
        f"return gd && gd._fullData && gd._fullData.length > {trace} ? Array.from(gd._fullData[{trace}].y) : null;")


def _wait_for(predicate, timeout=20.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _choose(dash_duo, dropdown: str, value: str) -> None:
    """Choose in a dropdown by typing into its search box, as a user does (a click on an option can land on the
    sticky search box above it when the list is scrolled)."""
    from selenium.webdriver.common.keys import Keys

    dash_duo.find_element(dropdown).click()
    search = dash_duo.wait_for_element(".dash-dropdown-search", timeout=5)
    search.send_keys(value)
    search.send_keys(Keys.ENTER)


def test_overview_region_change_and_csv_download(dash_duo, make_app, monkeypatch):
    app = make_app(demo=True)
    dash_duo.start_server(app)
    first = _wait_for(lambda: _trace_y(dash_duo, "ov-series"), what="price chart")
    assert len(first) == 14 * 288  # the last 14 days of demo data at 5 minutes
    # The demand axis (right, over the price axis) is labelled at round values: Plotly 4 would otherwise sync its
    # ticks to the price axis's grid (5,800, 6,572, 7,345 MW). A round step is 1, 2 or 5 times a power of ten.
    ticks = _wait_for(lambda: dash_duo.driver.execute_script(
        "var gd = document.querySelector('#ov-series .js-plotly-plot');"
        "return gd && gd._fullLayout.yaxis2 && gd._fullLayout.yaxis2._vals"
        " ? gd._fullLayout.yaxis2._vals.map(function (t) { return t.x; }) : null;"), what="demand axis ticks")
    step = ticks[1] - ticks[0]
    assert len(ticks) >= 3 and step > 0
    assert f"{step:.0e}"[0] in "125" and all(t % step == 0 for t in ticks), ticks
    dash_duo.wait_for_contains_text("#ov-demo-badge", "Demo data", timeout=10)
    dash_duo.wait_for_contains_text("#freshness-badges", "NEM prices: demo data", timeout=10)

    dash_duo.select_dcc_dropdown("#ov-location", value="SA1")
    second = _wait_for(lambda: (y := _trace_y(dash_duo, "ov-series")) and y != first and y, what="chart to change")
    assert len(second) == len(first)
    assert second != first
    # the latest stored price of each region, the chosen one in bold: SA1's is the chart's last interval
    bold = _wait_for(lambda: dash_duo.driver.find_elements("css selector", "#ov-latest-table tr.fw-bold"),
                     what="latest prices")
    cells = [td.text for td in bold[0].find_elements("css selector", "td")]
    assert cells[0] == "SA1"
    assert cells[2].endswith("23:55")
    assert float(cells[4].replace(",", "")) == round(second[-1], 2)
    assert len(dash_duo.driver.find_elements("css selector", "#ov-latest-table tbody tr")) == 5

    dash_duo.find_element("#ov-download-btn").click()
    folder = Path(dash_duo.download_path)
    csv = _wait_for(lambda: next(iter(folder.glob("*.csv")), None), what="CSV download")
    time.sleep(0.5)
    df = pd.read_csv(csv)
    assert csv.name.startswith("NEM_SA1_")
    assert csv.name.endswith("market-time.csv")
    zone = "interval_start (NEM time (UTC+10))"
    assert list(df.columns) == [zone, "interval_minutes", "price (AUD/MWh)", "demand_mw"]
    assert df["price (AUD/MWh)"].round(6).tolist() == pd.Series(second).round(6).tolist()
    assert df[zone].str.endswith("+10:00").all()
    # the duration curve and the heatmap each download from the button beside them
    for button, header in (("#ov-download-duration-btn", "share_priced_higher (% of intervals)"),
                           ("#ov-download-heatmap-btn", "day (NEM time (UTC+10))")):
        before = set(folder.glob("*.csv"))
        _wait_for(lambda b=button: dash_duo.find_element(b).is_enabled(), what=f"{button} enabled")
        dash_duo.find_element(button).click()
        made = _wait_for(lambda b=before: set(folder.glob("*.csv")) - b, what=f"the CSV of {button}")
        time.sleep(0.5)
        chart = pd.read_csv(next(iter(made)))
        assert chart.columns[0] == header and chart.columns[-1].endswith("(AUD/MWh)")
        assert next(iter(made)).name.startswith("NEM_SA1_")
    assert not [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]

    # The store stops answering: the page says so above the figures it keeps, and stops saying so once a
    # callback is answered again.
    from app.services import Services
    from engine.store import StoreError

    def store_down(*_args, **_kwargs):
        raise StoreError("connection refused")

    monkeypatch.setattr(Services, "cached", store_down)
    _choose(dash_duo, "#ov-location", "VIC1")
    notice = dash_duo.wait_for_element("#callback-error", timeout=10)
    _wait_for(lambda: "Data temporarily unavailable" in notice.text, what="the store-down notice")
    assert "may be out of date" in notice.text and "connection refused" not in notice.text
    assert re.search(r"\(request [0-9a-f]{32}\)", notice.text), notice.text
    monkeypatch.undo()
    _choose(dash_duo, "#ov-location", "NSW1")
    _wait_for(lambda: not notice.is_displayed(), what="the notice to go")

    # A fault of ours (a 500) in the series' callback alone: said the same way, with the request id the log has it
    # under and no trace, and still said after the latest-prices card, changed by the same choice, is answered
    from engine import overview

    cached = Services.cached

    def series_broken(self, fn, *args, **kwargs):
        if fn is overview.overview_view:
            raise ZeroDivisionError("a bug")
        return cached(self, fn, *args, **kwargs)

    monkeypatch.setattr(Services, "cached", series_broken)
    _choose(dash_duo, "#ov-location", "VIC1")
    _wait_for(lambda: notice.is_displayed() and "Something went wrong on our side" in notice.text,
              what="the server-error notice")
    assert "ZeroDivisionError" not in notice.text and "a bug" not in notice.text
    assert "alert-danger" in notice.get_attribute("class")
    assert re.search(r"\(request [0-9a-f]{32}\)", notice.text), notice.text
    _wait_for(lambda: "VIC1" in dash_duo.find_element("#ov-latest-table tr.fw-bold").text, what="the latest card")
    downloads = set(folder.glob("*.csv"))
    dash_duo.find_element("#ov-download-latest-btn").click()  # another callback, answered
    _wait_for(lambda: set(folder.glob("*.csv")) - downloads, what="the latest prices' CSV")
    time.sleep(0.5)
    assert notice.is_displayed(), "the notice went when another callback was answered"
    monkeypatch.undo()
    _choose(dash_duo, "#ov-location", "NSW1")
    _wait_for(lambda: not notice.is_displayed(), what="the notice to go")
