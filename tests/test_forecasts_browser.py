"""The forecasts page in headless Chromium: it draws the fan of the newest run, draws an older run when "as issued
at" is switched, and downloads the quantiles shown."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.services import services
from engine.forecast import runs
from tests.test_forecasts_page import save_demo_runs

pytestmark = pytest.mark.browser


def _median(dash_duo) -> list | None:
    # Plotly 6 encodes arrays in the figure JSON; the drawn, decoded values are in _fullData.
    return dash_duo.driver.execute_script(
        "var gd = document.querySelector('#fc-fan .js-plotly-plot');"
        "if (!gd || !gd._fullData) return null;"
        "var t = gd._fullData.find(function (d) { return d.name === 'Median forecast'; });"
        "return t ? Array.from(t.y) : null;")


def _trace_names(dash_duo) -> list:
    return dash_duo.driver.execute_script(
        "var gd = document.querySelector('#fc-fan .js-plotly-plot');"
        "return gd && gd._fullData ? gd._fullData.map(function (d) { return d.name; }) : [];")


def _wait_for(predicate, timeout=20.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_fan_switch_issue_time_and_csv_download(dash_duo, make_app):
    app = make_app()
    store = services(app.server).ready_store()
    ids = save_demo_runs(store, locations=("SA1",), run_days=4)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/forecasts")

    newest = _wait_for(lambda: _median(dash_duo), what="the fan")
    stored = runs.run_forecast(store, ids["SA1"][-1]).forecast
    assert np.allclose(newest, stored.quantile(0.5)[:24])
    names = _trace_names(dash_duo)
    assert {"98 % band (q01–q99)", "50 % band (q25–q75)", "Actual price"} <= set(names)
    dash_duo.wait_for_contains_text("#fc-issued-zone", "NEM time (UTC+10)", timeout=10)

    # the options are newest first: the third is the run issued two days before the newest
    dash_duo.select_dcc_dropdown("#fc-issued", index=2)
    older = _wait_for(lambda: (y := _median(dash_duo)) and y != newest and y, what="the fan to change")
    assert np.allclose(older, runs.run_forecast(store, ids["SA1"][1]).forecast.quantile(0.5)[:24])

    dash_duo.find_element("#fc-download-btn").click()
    folder = Path(dash_duo.download_path)
    csv = _wait_for(lambda: next(iter(folder.glob("*.csv")), None), what="CSV download")
    time.sleep(0.5)
    frame = pd.read_csv(csv)
    assert csv.name.startswith("NEM_SA1_naive_issued_") and csv.name.endswith("_24h_market-time.csv")
    assert list(frame.columns[:3]) == ["hour_start (NEM time (UTC+10))", "forecast (AUD/MWh)", "q01 (AUD/MWh)"]
    assert frame.columns[-2:].tolist() == ["q99 (AUD/MWh)", "actual (AUD/MWh)"]
    # the hours forecast follow the 24 before them, whose actual prices the fan draws for context
    assert frame["q50 (AUD/MWh)"].iloc[:24].isna().all()
    assert np.allclose(frame["q50 (AUD/MWh)"].iloc[24:], older)
    assert not [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
