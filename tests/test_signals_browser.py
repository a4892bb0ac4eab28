"""The signals page in headless Chromium: it opens on a backtest with its metrics, shows the engine's new metrics
when a parameter is changed, and downloads the trades CSV of the backtest shown."""
from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from selenium.webdriver.common.keys import Keys

from app.services import services
from components import signal_figures as sf
from engine.signals import backtest, registry, series
from engine.signals.base import METRIC_KINDS, Book
from tests.test_signals_page import LAST_DAY, NEM, save_demo_prices

pytestmark = pytest.mark.browser
DAYS = 14


def _wait_for(predicate, timeout=20.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _metrics(dash_duo) -> dict[str, str]:
    """The metrics table as shown: label → text."""
    return dash_duo.driver.execute_script(
        "var t = document.getElementById('sg-metrics-table'); if (!t) return {};"
        "var out = {}; t.querySelectorAll('tr').forEach(function (r) {"
        "  var c = r.querySelectorAll('th, td'); if (c.length == 2) out[c[0].innerText] = c[1].innerText; });"
        "return out;")


def _expected(store, params: dict) -> dict[str, str]:
    """The metrics of the page's opening range (the latest DAYS days stored) straight from the engine."""
    start = (LAST_DAY - pd.Timedelta(days=DAYS - 1)).tz_localize(None)
    prices = series.load_prices(store, "NEM", "SA1", start, LAST_DAY.tz_localize(None) + pd.Timedelta(days=1))
    made = registry.STRATEGIES["mean_reversion"].signals(prices.frame, {k: [v] for k, v in params.items()})
    row = backtest.run(made, Book(), prices.freq).metrics.iloc[0]
    return {sf.METRIC_LABELS[m]: sf.metric_text(METRIC_KINDS[m], row[m], "AUD") for m in row.index}


def test_change_a_parameter_see_new_metrics_and_download_the_trades(dash_duo, make_app):
    app = make_app()
    store = services(app.server).ready_store()
    save_demo_prices(store, locations=("SA1", "VIC1"), days=DAYS)
    dash_duo.start_server(app)
    dash_duo.wait_for_page(url=f"{dash_duo.server_url}/signals")

    defaults = dict(registry.STRATEGIES["mean_reversion"].defaults)
    opened = _wait_for(lambda: _metrics(dash_duo), what="the metrics")
    assert opened == _expected(store, defaults)
    dash_duo.wait_for_contains_text("#sg-zone", "NEM time (UTC+10)", timeout=10)

    entry = dash_duo.driver.execute_script(
        "return document.getElementById('{\"name\":\"entry\",\"type\":\"sg-param\"}');")
    entry.send_keys(Keys.CONTROL, "a")
    entry.send_keys("1.2", Keys.ENTER)
    changed = _wait_for(lambda: (m := _metrics(dash_duo)) and m != opened and m, what="new metrics")
    assert changed == _expected(store, {**defaults, "entry": 1.2})

    dash_duo.find_element("#sg-download-trades-btn").click()
    folder = Path(dash_duo.download_path)
    csv = _wait_for(lambda: next(iter(folder.glob("*.csv")), None), what="the trades CSV")
    time.sleep(0.5)
    frame = pd.read_csv(csv)
    assert csv.name.startswith("NEM_SA1_mean_reversion_") and csv.name.endswith("_trades_market-time.csv")
    assert len(frame) == int(changed["Trades"].replace(",", ""))
    assert frame["entry_time (NEM time (UTC+10))"].str.endswith("+10:00").all()
    assert pd.Timestamp(frame["entry_time (NEM time (UTC+10))"].iloc[0]).tz_convert(NEM) <= LAST_DAY + pd.Timedelta(
        days=1)
    assert "pnl (AUD)" in frame.columns and set(frame["status"]) <= {"open", "closed"}
    # the parameter heatmap downloads from the button beside it, once it is drawn
    before = set(folder.glob("*.csv"))
    button = _wait_for(lambda: (b := dash_duo.find_element("#sg-download-heatmap-btn")).is_enabled() and b,
                       what="the heatmap's CSV")
    # down the page, where the panels below it are still being drawn: brought to the middle of the window first
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    time.sleep(0.5)
    button.click()
    made = _wait_for(lambda: set(folder.glob("*.csv")) - before, what="the heatmap CSV")
    time.sleep(0.5)
    heat = pd.read_csv(next(iter(made)))
    assert list(heat.columns) == ["lookback", "entry", "exit", "sharpe"]
    assert next(iter(made)).name.startswith("NEM_SA1_mean_reversion_heatmap_sharpe_")

    # a lookback of 1.5 bars: the strategy's refusal beside the input, and no metrics
    lookback = dash_duo.driver.execute_script(
        "return document.getElementById('{\"name\":\"lookback\",\"type\":\"sg-param\"}');")
    lookback.send_keys(Keys.CONTROL, "a")
    lookback.send_keys("1.5", Keys.ENTER)
    _wait_for(lambda: "is-invalid" in (lookback.get_attribute("class") or ""), what="the input marked invalid")
    message = dash_duo.driver.execute_script(
        "return document.getElementById('{\"name\":\"lookback\",\"type\":\"sg-param-msg\"}').innerText;")
    assert "lookback must be a whole number of bars" in message
    assert not [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]
