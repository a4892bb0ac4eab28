"""The compressed price axis (components.figures.PriceAxis): linear within ±bound, a bound's height per tenfold
of price beyond it, drawn on the overview's price chart and duration curve when the reader asks for it."""
from __future__ import annotations

import dash
import numpy as np
import pandas as pd
import pytest

from components import figures
from components.price_axis import PriceAxis
from engine.store import write_tables
from tests.test_hardening import (  # noqa: F401 -- app, client, store and sa_january are fixtures
    OVERVIEW_GOOD, app, assert_answered, callback_key, client, post_callback, sa_january, store)

#: A fortnight of NEM 5-minute prices: ordinary prices between -20 and 300 AUD/MWh, and four spikes, one at the
#: market price cap.
ORDINARY = np.linspace(-20, 300, 4028)
PRICES = np.concatenate([ORDINARY, [4_571.59, 1_200.0, 17_500.0, -1_000.0]])


def test_the_bound_is_where_99_percent_of_the_prices_stay_on_a_1_2_5_step():
    assert PriceAxis.for_prices(PRICES).bound == 500  # the 99th percentile of |price| is 297: the next step is 500
    assert PriceAxis.for_prices(np.r_[np.linspace(0, 90, 1000), 2_000]).bound == 100
    assert PriceAxis.for_prices(np.r_[np.linspace(0, 150, 1000), 2_000]).bound == 200


def test_prices_without_spikes_keep_a_linear_axis():
    assert PriceAxis.for_prices(ORDINARY) is None  # nothing beyond the bound: nothing to compress
    assert PriceAxis.for_prices(np.array([np.nan, np.nan])) is None
    assert PriceAxis.for_prices(np.array([])) is None


def test_the_axis_is_linear_within_the_bound_and_a_bounds_height_per_tenfold_beyond():
    axis = PriceAxis(300.0)
    inside = np.array([-300.0, -57.5, 0.0, 12.25, 299.0, 300.0])
    np.testing.assert_array_equal(axis(inside), inside)
    np.testing.assert_allclose(axis(np.array([3_000.0, 30_000.0, -3_000.0])), [600.0, 900.0, -600.0])
    # the cap: 300 * (1 + log10(17500 / 300))
    assert axis(np.array([17_500.0]))[0] == pytest.approx(300 * (1 + np.log10(17_500 / 300)))
    nan = axis(np.array([np.nan]))
    assert np.isnan(nan).all()


def test_the_axis_is_continuous_and_keeps_the_order_of_prices():
    axis = PriceAxis(200.0)
    p = np.linspace(-20_000, 20_000, 400_001)
    h = axis(p)
    assert (np.diff(h) > 0).all()
    for edge in (-200.0, 200.0):
        below, above = axis(np.array([np.nextafter(edge, -np.inf), np.nextafter(edge, np.inf)]))
        assert above - below == pytest.approx(0, abs=1e-9)


def test_the_ticks_are_round_prices_at_their_heights():
    axis = PriceAxis.for_prices(PRICES)
    layout = axis.layout("AUD", PRICES)
    labels = [float(t.replace(",", "")) for t in layout["ticktext"]]
    assert labels == [-1_000, -500, -250, 0, 250, 500, 1_000, 2_000, 5_000, 10_000]  # within the prices drawn
    np.testing.assert_allclose(layout["tickvals"], axis(np.array(labels)))
    assert layout["title"]["text"] == "AUD/MWh (log beyond ±500)"


def _series(prices: np.ndarray) -> pd.DataFrame:
    starts = pd.date_range("2026-10-18", periods=len(prices), freq="5min")
    return pd.DataFrame({"interval_start": starts, "price": prices, "demand_mw": 7_000.0})


def test_the_price_chart_draws_heights_and_shows_prices_on_hover():
    series = _series(PRICES)
    compressed = figures.price_demand_figure(series, title="NEM NSW1", tz_label="NEM time", currency="AUD",
                                             resolution="raw", scale="compressed")
    price = compressed["data"][0]
    np.testing.assert_allclose(price["y"], PriceAxis(500.0)(PRICES))
    np.testing.assert_array_equal(price["customdata"], PRICES)
    assert price["hovertemplate"] == "%{customdata:,.2f}"  # after the trace's name, "Price (AUD/MWh)"
    assert "log beyond ±500" in compressed["layout"]["yaxis"]["title"]["text"]
    linear = figures.price_demand_figure(series, title="NEM NSW1", tz_label="NEM time", currency="AUD",
                                         resolution="raw")
    np.testing.assert_array_equal(linear["data"][0]["y"], PRICES)
    assert "customdata" not in linear["data"][0]
    assert linear["layout"]["yaxis"] == {"title": {"text": "AUD/MWh"}}


def test_the_duration_curve_follows_the_same_axis():
    curve = pd.DataFrame({"exceedance_pct": np.linspace(0, 100, len(PRICES)), "price": np.sort(PRICES)[::-1]})
    drawn = figures.duration_figure(curve, title="NEM NSW1", currency="AUD", scale="compressed")
    trace = drawn["data"][0]
    np.testing.assert_allclose(trace["y"], PriceAxis(500.0)(curve["price"]))
    assert trace["hovertemplate"] == "%{x:.1f} %: %{customdata:,.2f} AUD/MWh<extra></extra>"
    assert drawn["layout"]["yaxis"]["tickmode"] == "array"


@pytest.fixture
def sa_spike(store, sa_january):  # noqa: F811
    """SA1's January (10-90 AUD/MWh over the month: 10-28 in its first week) with one interval at 14,000."""
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "SA1", "price_kind": "settlement",
        "interval_start": [pd.Timestamp("2018-01-03 06:00", tz="UTC")], "interval_minutes": 30, "price": 14_000.0,
        "source": "spike.csv"})})


def test_the_overview_draws_the_axis_asked_for_and_refuses_another(client, app, sa_spike):  # noqa: F811
    key = callback_key(app, "ov-series.figure")
    body = assert_answered(post_callback(client, app, key, {**OVERVIEW_GOOD, "ov-scale.value": "compressed"}), "ok")
    drawn = body["response"]["ov-series"]["figure"]
    assert drawn["layout"]["yaxis"]["title"]["text"] == "AUD/MWh (log beyond ±50)"
    assert max(drawn["data"][0]["customdata"]) == 14_000
    assert max(drawn["data"][0]["y"]) == pytest.approx(50 * (1 + np.log10(280)))
    duration = body["response"]["ov-duration"]["figure"]
    assert duration["layout"]["yaxis"]["title"]["text"] == "AUD/MWh (log beyond ±50)"
    body = assert_answered(post_callback(client, app, key, OVERVIEW_GOOD), "linear")
    assert body["response"]["ov-series"]["figure"]["layout"]["yaxis"]["title"]["text"] == "AUD/MWh"
    body = assert_answered(post_callback(client, app, key, {**OVERVIEW_GOOD, "ov-scale.value": "log"}), "refused")
    assert body["response"]["ov-error"]["is_open"] is True
    assert body["response"]["ov-error"]["children"] == "Price axis must be one of linear, compressed."
    missing = {k: v for k, v in OVERVIEW_GOOD.items() if k != "ov-scale.value"}  # an older page's request
    body = assert_answered(post_callback(client, app, key, missing), "without a scale")
    assert body["response"]["ov-error"]["is_open"] is False


def test_a_link_may_ask_for_the_compressed_axis(app, sa_january):  # noqa: F811
    # the page as the app registered it (importing pages.overview again would register its path twice)
    layout = next(page["layout"] for page in dash.page_registry.values() if page["path"] == "/")
    with app.server.test_request_context("/?scale=compressed"):
        shown = layout(scale="compressed")
        odd = layout(scale="spiky")
    assert _find(shown, "ov-scale").value == "compressed"
    assert _find(odd, "ov-scale").value == "linear"
    assert "Price axis 'spiky' is neither 'linear' nor 'compressed'; showing it linear." in str(odd)


def _find(component, ident: str):
    if getattr(component, "id", None) == ident:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        found = _find(child, ident) if hasattr(child, "children") or hasattr(child, "id") else None
        if found is not None:
            return found
    return None


def test_a_small_bound_keeps_its_half_ticks_apart():
    """Prices of a few units (a spread, or a market quoted in small numbers) tick at the bound's halves: 0.5 is
    not written as 0 or 1."""
    axis = PriceAxis.for_prices(np.r_[np.linspace(0, 1.8, 1000), 40.0])
    assert axis.bound == 2
    assert axis.layout("AUD", np.r_[-1.0, 40.0])["ticktext"] == ["-1.0", "0.0", "1.0", "2.0", "5.0", "10.0", "20.0"]
