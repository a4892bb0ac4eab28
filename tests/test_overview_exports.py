"""The overview's CSVs through Dash's callback endpoint: the series drawn, the duration curve and the hour-of-day
heatmap, each header naming its unit (the market's currency per MWh, per cent, MW) and the zone its times are in,
the numbers unrounded and those the page drew; each chart's CSV button live only while the chart is drawn; and
for no role that may not open the page (a partner)."""
from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest

from engine import overview, queries
from engine.store import write_tables
from tests.test_hardening import assert_answered, callback_key, post_callback

#: SA1's January 2018 at 30 minutes (market days 1-31, NEM time), demand missing on the 3rd.
START, END = "2018-01-01", "2018-01-31"
SHOWN = {"ov-market.value": "NEM", "ov-location.value": "SA1", "ov-kind.value": "settlement",
         "ov-dates.start_date": "2018-01-02", "ov-dates.end_date": "2018-01-08", "ov-tz.value": "market",
         "ov-scale.value": "linear", "ov-download-btn.n_clicks": 1, "ov-download-duration-btn.n_clicks": 1,
         "ov-download-heatmap-btn.n_clicks": 1}
#: What the page's charts draw from no prices at all.
NOTHING = {"ov-dates.start_date": "2016-01-01", "ov-dates.end_date": "2016-01-07"}


@pytest.fixture(scope="module")
def site(make_module_app):
    dash_app = make_module_app(secret_key="test-secret")
    store = dash_app.server.extensions["c254"].ready_store()
    idx = pd.date_range("2017-12-31 14:00", "2018-01-31 13:30", freq="30min", tz="UTC")
    rng = np.random.default_rng(7)
    price = np.round(rng.normal(80, 40, len(idx)), 3) + 1 / 3  # not round: the CSVs must not round them
    demand = 1500.0 + 100 * np.sin(np.arange(len(idx)) / 7)
    keep = (idx < pd.Timestamp("2018-01-02 14:00", tz="UTC")) | (idx >= pd.Timestamp("2018-01-03 14:00", tz="UTC"))
    write_tables(store, {
        "prices": pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement", "interval_start": idx,
                                "interval_minutes": 30, "price": price, "source": "t.csv"}),
        "demand": pd.DataFrame({"market": "NEM", "location": "SA1", "interval_start": idx[keep],
                                "interval_minutes": 30, "demand_mw": demand[keep], "source": "t.csv"})})
    return dash_app, store


def _ask(site, output: str, **changes) -> dict:
    dash_app, _ = site
    answer = assert_answered(post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app, output),
                                           {**SHOWN, **changes}), output)
    return answer["response"] if answer else {}


def _csv(site, download: str, **changes) -> tuple[str, pd.DataFrame]:
    data = _ask(site, f"{download}.data", **changes)[download]["data"]
    return data["filename"], pd.read_csv(io.StringIO(data["content"]), keep_default_na=False, na_values=[""],
                                        float_precision="round_trip")  # the digits written, exactly


def _view(site, tz: str = "market", start: str = SHOWN["ov-dates.start_date"],
          end: str = SHOWN["ov-dates.end_date"]) -> overview.OverviewView:
    return overview.overview_view(site[1], "NEM", "SA1", start, end, tz, "settlement")


def test_the_series_csv_names_the_zone_and_the_prices_currency(site):
    for tz, label, offset in (("market", "NEM time (UTC+10)", "+10:00"), ("utc", "UTC", "+00:00")):
        name, frame = _csv(site, "ov-download", **{"ov-tz.value": tz})
        assert name == f"NEM_SA1_settlement_2018-01-02_2018-01-08_{'UTC' if tz == 'utc' else 'market-time'}.csv"
        header = f"interval_start ({label})"
        assert list(frame.columns) == [header, "interval_minutes", "price (AUD/MWh)", "demand_mw"]
        view = _view(site, tz)
        assert len(frame) == len(view.series) == 7 * 48
        assert frame[header].str.endswith(offset).all()
        assert (pd.to_datetime(frame[header], utc=True) == pd.DatetimeIndex(view.series["interval_start"])).all()
        np.testing.assert_array_equal(frame["price (AUD/MWh)"], view.series["price"])  # unrounded
        assert frame["demand_mw"].isna().sum() == 48  # the 3rd has no demand stored: empty, not 0
    # the REST API keeps the bare names its clients read
    api = pd.read_csv(io.StringIO(site[0].server.test_client().get(
        "/api/v1/prices?market=NEM&location=SA1&start=2018-01-02&end=2018-01-09&format=csv").get_data(as_text=True)))
    assert list(api.columns) == ["interval_start", "interval_minutes", "price", "demand_mw"]


def test_the_duration_curve_downloads_as_drawn(site):
    answer = _ask(site, "ov-duration.figure")
    assert answer["ov-download-duration-btn"]["disabled"] is False
    name, frame = _csv(site, "ov-download-duration")
    assert name == "NEM_SA1_settlement_2018-01-02_2018-01-08_duration.csv"
    assert list(frame.columns) == ["share_priced_higher (% of intervals)", "price (AUD/MWh)"]
    view = _view(site)
    assert len(frame) == len(view.curve) == 201
    np.testing.assert_array_equal(frame["share_priced_higher (% of intervals)"], view.curve["exceedance_pct"])
    np.testing.assert_array_equal(frame["price (AUD/MWh)"], view.curve["price"])
    prices = np.sort(view.series["price"].to_numpy())
    assert frame["price (AUD/MWh)"].iloc[0] == prices[-1] and frame["price (AUD/MWh)"].iloc[-1] == prices[0]
    assert (frame["share_priced_higher (% of intervals)"].iloc[[0, -1]] == [0.0, 100.0]).all()


def test_a_curve_of_means_says_what_it_is_of():
    """A long range is drawn as hourly or daily means, and its curve is of those: the headers say so."""
    curve = pd.DataFrame({"exceedance_pct": [0.0, 50.0, 100.0], "price": [90.5, 40.25, -3.0]})
    base = overview.OverviewView("USD", "UTC", "UTC", pd.DataFrame(), "hour", "hour", queries.PriceStats(), curve,
                                 "month", pd.DataFrame())
    hourly = overview.duration_export(base)
    assert list(hourly.columns) == ["share_priced_higher (% of hours)", "hourly_mean_price (USD/MWh)"]
    assert hourly["hourly_mean_price (USD/MWh)"].tolist() == [90.5, 40.25, -3.0]
    daily = overview.duration_export(dataclasses.replace(base, resolution="day", basis="day"))
    assert list(daily.columns) == ["share_priced_higher (% of days)", "daily_mean_price (USD/MWh)"]


def test_the_heatmap_downloads_each_day_and_hour_in_the_zone_shown(site):
    answer = _ask(site, "ov-heatmap.figure")
    assert answer["ov-download-heatmap-btn"]["disabled"] is False
    _, store = site
    for tz, label, first_day in (("market", "NEM time (UTC+10)", "2018-01-02"), ("utc", "UTC", "2018-01-01")):
        name, frame = _csv(site, "ov-download-heatmap", **{"ov-tz.value": tz})
        assert name == (f"NEM_SA1_settlement_2018-01-02_2018-01-08_heatmap_"
                        f"{'UTC' if tz == 'utc' else 'market-time'}.csv")
        assert list(frame.columns) == [f"day ({label})", f"hour_of_day ({label})", "mean_price (AUD/MWh)"]
        view = _view(site, tz)
        assert len(frame) == view.heatmap.size  # every cell drawn, 24 hours a day
        assert frame[f"day ({label})"].iloc[0] == first_day
        assert frame[f"hour_of_day ({label})"].tolist()[:24] == list(range(24))
        np.testing.assert_array_equal(frame["mean_price (AUD/MWh)"], view.heatmap.to_numpy().ravel())
        # one cell against the raw prices: the two half hours of 05:00 on 4 January, in the zone shown
        start = pd.Timestamp("2018-01-04 05:00", tz="Etc/GMT-10" if tz == "market" else "UTC").tz_convert("UTC")
        brute = store.query_df("SELECT avg(price) AS p FROM prices FINAL WHERE interval_start >= "
                               "{s:DateTime64(3, 'UTC')} AND interval_start < {s:DateTime64(3, 'UTC')} + "
                               "toIntervalHour(1)", {"s": start.to_pydatetime()})["p"].iat[0]
        cell = frame.loc[(frame[f"day ({label})"] == "2018-01-04") & (frame[f"hour_of_day ({label})"] == 5)]
        assert cell["mean_price (AUD/MWh)"].iat[0] == pytest.approx(brute, rel=1e-12)
    # in UTC the NEM week starts at 14:00 on its first day and ends at 14:00 on its last: the hours outside the
    # range are empty, not 0
    _, frame = _csv(site, "ov-download-heatmap", **{"ov-tz.value": "utc"})
    assert frame["mean_price (AUD/MWh)"].isna().sum() == 14 + 10


def test_a_long_range_heatmap_is_by_month(site):
    view = _view(site, "market", START, END)
    assert view.heatmap_rows == "day"
    by_month = overview.heatmap_export(dataclasses.replace(
        view, heatmap_rows="month", heatmap=queries.hour_day_heatmap(site[1], "NEM", "SA1", *queries.parse_range(
            queries.known_market("NEM"), START, "2018-02-01"), tz=view.tz, rows="month")))
    assert list(by_month.columns) == ["month (NEM time (UTC+10))", "hour_of_day (NEM time (UTC+10))",
                                      "mean_price (AUD/MWh)"]
    assert by_month["month (NEM time (UTC+10))"].unique().tolist() == ["2018-01"]
    assert len(by_month) == 24


def test_the_chart_csv_buttons_are_disabled_while_nothing_is_drawn(site):
    for changes in (NOTHING, {"ov-tz.value": "mars"}, {"ov-market.value": None}):
        shown = _ask(site, "ov-series.figure", **changes)
        assert shown["ov-download-duration-btn"]["disabled"] is True, changes
        assert shown["ov-download-heatmap-btn"]["disabled"] is True, changes
    # and a click on one sends nothing
    assert _ask(site, "ov-download-duration.data", **NOTHING) == {}
    assert _ask(site, "ov-download-heatmap.data", **NOTHING) == {}
    assert _ask(site, "ov-download-heatmap.data", **{"ov-tz.value": "mars"}) == {}


def test_partners_get_no_chart_csv(make_app, client_as):
    """The page's downloads go with the page (app.access): an analyst gets them, a partner a 403."""
    dash_app = make_app(auth=True, secret_key="test-secret")
    for role, status in (("analyst", 200), ("partner", 403)):
        client = client_as(dash_app, role)
        for output in ("ov-download-duration.data", "ov-download-heatmap.data"):
            answer = post_callback(client, dash_app, callback_key(dash_app, output), SHOWN)
            assert answer.status_code in ((200, 204) if status == 200 else (403,)), (role, output)
