"""REST API and the overview's data path: the API returns exactly what the chart draws."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from engine import queries
from engine.markets import MARKETS
from engine.overview import (Dates, Pick, initial_choice, latest_view, locations, overview_view, price_kinds,
                             series_dates)
from engine.store import write_tables


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.server.test_client()


def _write_sa_january(store) -> tuple[pd.DatetimeIndex, np.ndarray]:
    idx = pd.date_range("2017-12-31 14:00", "2018-01-31 13:30", freq="30min", tz="UTC")
    price = np.round(np.sin(np.arange(len(idx)) / 7) * 50 + 80, 2)
    demand = pd.DataFrame({"market": "NEM", "location": "SA1", "interval_start": idx[::2], "interval_minutes": 30,
                           "demand_mw": 1500.0, "source": "t.csv"})
    write_tables(store, {
        "prices": pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement",
                                "interval_start": idx, "interval_minutes": 30, "price": price, "source": "t.csv"}),
        "demand": demand})
    return idx, price


@pytest.fixture
def sa_january(app):
    """SA1, 2018-01 at 30 minutes (interval start in UTC), with demand on every other interval."""
    return _write_sa_january(app.server.extensions["c254"].ready_store())


@pytest.fixture(scope="module")
def january(make_module_app):
    """An app holding only SA1's January (as ``sa_january``), shared by the tests that only read it."""
    app = make_module_app()
    return app, _write_sa_january(app.server.extensions["c254"].ready_store())


@pytest.fixture
def january_client(january):
    return january[0].server.test_client()


def test_prices_csv_is_in_market_time_with_offsets(january_client, january):
    _idx, price = january[1]
    r = january_client.get("/api/v1/prices?market=NEM&location=SA1&start=2018-01-01&end=2018-02-01&format=csv")
    assert r.status_code == 200, r.get_data(as_text=True)
    df = pd.read_csv(io.StringIO(r.get_data(as_text=True)))
    assert list(df.columns) == ["interval_start", "interval_minutes", "price", "demand_mw"]
    assert len(df) == 1488
    assert df.at[0, "interval_start"] == "2018-01-01T00:00:00+10:00"
    assert df.iloc[-1]["interval_start"] == "2018-01-31T23:30:00+10:00"
    assert df["price"].tolist() == price.tolist()
    assert df.at[0, "demand_mw"] == 1500.0
    assert np.isnan(df.at[1, "demand_mw"])


def test_prices_json_utc(january_client):
    r = january_client.get("/api/v1/prices?market=NEM&location=SA1&start=2018-01-01&end=2018-01-02&format=json&tz=utc")
    body = r.get_json()
    assert r.status_code == 200
    assert body["timezone"] == "UTC"
    assert body["resolution"] == "raw"
    assert len(body["rows"]) == 48
    assert body["rows"][0]["interval_start"] == "2017-12-31T14:00:00+00:00"
    assert body["rows"][1]["demand_mw"] is None


@pytest.mark.parametrize("query, message", [
    ("market=NEM&location=SA1&start=2018-02-01&end=2018-01-01", "must be after start"),
    ("market=NEM&location=SA1&start=yesterday&end=2018-01-01", "YYYY-MM-DD"),
    ("market=XYZ&location=SA1&start=2018-01-01&end=2018-02-01", "unknown market"),
    ("market=NEM&location=ZZ9&start=2018-01-01&end=2018-02-01", "no prices stored for NEM location"),
    ("market=NEM&location=SA1&start=2018-01-01&end=2018-02-01&format=xml", "must be one of json, csv"),
    ("market=NEM&location=SA1%27%20OR%201%3D1&start=2018-01-01&end=2018-02-01", "not allowed"),
    ("market=NEM&start=2018-01-01&end=2018-02-01", "'location' is required"),
    ("market=NEM&location=SA1&start=2018-01-01&end=2018-02-01&price_kind=dispatch", "no 'dispatch' prices"),
])
def test_bad_parameters_get_a_clear_400(january_client, query, message):
    r = january_client.get(f"/api/v1/prices?{query}")
    assert r.status_code == 400
    assert message in r.get_json()["error"]


def test_api_matches_what_the_overview_chart_draws(app, client, sa_january):
    view = overview_view(app.server.extensions["c254"].ready_store(), "NEM", "SA1", "2018-01-01", "2018-01-31")
    r = client.get("/api/v1/prices?market=NEM&location=SA1&start=2018-01-01&end=2018-02-01&format=csv")
    api = pd.read_csv(io.StringIO(r.get_data(as_text=True)))
    drawn = view.series
    assert len(api) == len(drawn)
    assert api["price"].tolist() == drawn["price"].tolist()
    assert (pd.to_datetime(api["interval_start"], utc=True) == drawn["interval_start"].reset_index(drop=True)).all()
    assert view.stats.intervals == 1488
    heat = view.heatmap  # market-local days by hour: 31 days x 24 hours, each hour the mean of two intervals
    assert heat.shape == (31, 24)
    assert heat.index[0] == "2018-01-01"
    assert heat.at["2018-01-01", 0] == pytest.approx(float(api["price"].iloc[0:2].mean()))
    assert view.stats.max_price == pytest.approx(float(api["price"].max()))
    weighted = api.dropna(subset=["demand_mw"])
    expected_vwap = (weighted["price"] * weighted["demand_mw"]).sum() / weighted["demand_mw"].sum()
    assert view.stats.volume_weighted_price == pytest.approx(expected_vwap)


def test_long_ranges_are_drawn_from_hourly_means(app, client):
    store = app.server.extensions["c254"].ready_store()
    idx = pd.date_range("2023-12-31 14:00", periods=288 * 80, freq="5min", tz="UTC")
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "VIC1", "price_kind": "settlement", "interval_start": idx,
        "interval_minutes": 5, "price": np.arange(len(idx)) % 12 * 1.0, "source": "t.csv"})})
    body = client.get("/api/v1/prices?market=NEM&location=VIC1&start=2024-01-01&end=2024-03-20").get_json()
    assert body["resolution"] == "hour"
    assert len(body["rows"]) == 79 * 24
    assert body["rows"][0] == {"interval_start": "2024-01-01T00:00:00+10:00", "interval_minutes": 60,
                               "price": 5.5, "demand_mw": None}
    raw = client.get("/api/v1/prices?market=NEM&location=VIC1&start=2024-01-01&end=2024-01-02&resolution=raw")
    assert len(raw.get_json()["rows"]) == 288


def test_a_raw_answer_longer_than_one_call_carries_is_refused_with_how_to_ask(app, client, monkeypatch):
    """Nineteen years of 5-minute prices asked raw held a serving worker 11 s and 1.1 GB: refused before the
    store reads them, saying how many the range holds and how to ask instead; shorter ranges and means answer."""
    store = app.server.extensions["c254"].ready_store()
    idx = pd.date_range("2023-12-31 14:00", periods=288 * 80, freq="5min", tz="UTC")
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "VIC1", "price_kind": "settlement", "interval_start": idx,
        "interval_minutes": 5, "price": 1.0, "source": "t.csv"})})
    monkeypatch.setattr(queries, "MAX_RAW_ANSWER", 20_000)
    asked = []
    monkeypatch.setattr(queries, "range_prices", lambda *a, **k: asked.append(a) or pd.DataFrame())
    whole = "/api/v1/prices?market=NEM&location=VIC1&start=2024-01-01&end=2024-03-21&resolution=raw"
    for fmt in ("json", "csv"):
        refused = client.get(f"{whole}&format={fmt}")
        assert refused.status_code == 400 and not asked
        error = refused.get_json()["error"]
        assert "about 23,040 intervals" in error and "20,000" in error and "resolution=hour or day" in error, error
    monkeypatch.undo()
    assert client.get(whole.replace("resolution=raw", "resolution=hour")).status_code == 200
    part = client.get(whole.replace("2024-03-21", "2024-03-01")).get_json()
    assert part["resolution"] == "raw" and len(part["rows"]) == 60 * 288
    assert queries.MAX_RAW_ANSWER >= 366 * 288  # a year of 5-minute prices is one call


def test_demo_data_fills_an_empty_store_and_is_labelled(make_app):
    client = make_app(demo=True).server.test_client()
    body = client.get("/api/v1/prices?market=NEM&location=SA1&start=2026-10-01&end=2026-10-02").get_json()
    assert body["is_demo"] is True
    assert len(body["rows"]) == 288
    again = client.get("/api/v1/prices?market=NEM&location=SA1&start=2026-10-01&end=2026-10-02").get_json()
    assert again["rows"] == body["rows"]  # deterministic
    latest = client.get("/api/v1/latest?market=NEM").get_json()["rows"]
    assert [r["location"] for r in latest] == ["NSW1", "QLD1", "SA1", "TAS1", "VIC1"]
    assert [r["is_demo"] for r in latest] == [True] * 5


def test_hourly_statistics_equal_the_exact_ones_and_weigh_hourly_means(app):
    """The aggregate statistics equal the raw ones; weighting and ranking the hourly series equals pandas."""
    store = app.server.extensions["c254"].ready_store()
    idx = pd.date_range("2024-01-01", periods=12 * 48, freq="5min", tz="UTC")
    price = (np.arange(len(idx)) % 17) * 3.0 - 5
    demand = 1000 + (np.arange(len(idx)) % 7) * 50.0
    write_tables(store, {
        "prices": pd.DataFrame({"market": "NEM", "location": "QLD1", "price_kind": "settlement", "interval_start": idx,
                                "interval_minutes": 5, "price": price, "source": "t.csv"}),
        "demand": pd.DataFrame({"market": "NEM", "location": "QLD1", "interval_start": idx, "interval_minutes": 5,
                                "demand_mw": demand, "source": "t.csv"})})
    s, e = idx[0], idx[-1] + pd.Timedelta(minutes=5)
    exact = queries.price_stats(store, "NEM", "QLD1", s, e)
    hourly = queries.hourly_price_stats(store, "NEM", "QLD1", s, e)
    assert exact.volume_weighted_price == pytest.approx((price * demand).sum() / demand.sum())
    for k in ("intervals", "min_price", "mean_price", "max_price", "negative_intervals"):
        assert getattr(hourly, k) == pytest.approx(getattr(exact, k)), k
    assert hourly.volume_weighted_price is None
    assert exact.negative_intervals == int((price < 0).sum())
    series, resolution = queries.price_series(store, "NEM", "QLD1", s, e, resolution="hour")
    frame = pd.DataFrame({"p": price, "d": demand}, index=idx).resample("1h").mean()
    assert resolution == "hour"
    assert len(series) == len(frame)
    assert queries.weighted_mean_price(series) == pytest.approx((frame.p * frame.d).sum() / frame.d.sum())
    curve = queries.duration_curve_of(series["price"], points=3)
    assert curve["price"].tolist() == pytest.approx([frame.p.max(), sorted(frame.p)[len(frame) // 2], frame.p.min()])


def test_heatmap_by_month_for_long_ranges(app):
    store = app.server.extensions["c254"].ready_store()
    idx = pd.date_range("2023-12-31 14:00", periods=24 * 200, freq="60min", tz="UTC")  # 200 NEM days from 2024
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "TAS1", "price_kind": "settlement", "interval_start": idx,
        "interval_minutes": 60, "price": (np.arange(len(idx)) % 24) * 1.0, "source": "t.csv"})})
    view = overview_view(store, "NEM", "TAS1", "2024-01-01", "2024-07-18")
    heat = view.heatmap
    assert view.heatmap_rows == "month"
    assert list(heat.index) == [f"2024-{m:02d}" for m in range(1, 8)]
    assert heat.at["2024-03", 5] == 5.0  # by construction each price equals its NEM hour of day


def test_long_range_overview_weighs_and_ranks_the_means_it_draws(app, monkeypatch):
    """A range drawn as daily means: counts, extremes and mean are exact; the demand weighting and duration
    curve are of the daily means drawn, as pandas computes them over NEM days."""
    monkeypatch.setattr(queries, "MAX_RAW_POINTS", 100)  # 30 days of 5-minute data then draws daily means
    store = app.server.extensions["c254"].ready_store()
    idx = pd.date_range("2023-12-31 14:00", periods=288 * 30, freq="5min", tz="UTC")  # NEM days 1-30 Jan 2024
    rng = np.random.default_rng(7)
    price = rng.normal(60, 40, len(idx))
    demand = 1000 + 300 * np.sin(np.arange(len(idx)) / 40) + rng.uniform(0, 50, len(idx))
    write_tables(store, {
        "prices": pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement", "interval_start": idx,
                                "interval_minutes": 5, "price": price, "source": "t.csv"}),
        "demand": pd.DataFrame({"market": "NEM", "location": "SA1", "interval_start": idx, "interval_minutes": 5,
                                "demand_mw": demand, "source": "t.csv"})})
    view = overview_view(store, "NEM", "SA1", "2024-01-01", "2024-01-30")
    assert view.resolution == "day"
    assert view.basis == "day"
    stats = view.stats
    assert stats.intervals == len(idx)
    assert stats.negative_intervals == int((price < 0).sum())
    assert stats.min_price == pytest.approx(price.min())
    assert stats.max_price == pytest.approx(price.max())
    assert stats.mean_price == pytest.approx(price.mean())
    local_day = (idx + pd.Timedelta(hours=10)).floor("D")
    daily = pd.DataFrame({"p": price, "d": demand}).groupby(local_day).mean()
    assert stats.volume_weighted_price == pytest.approx((daily.p * daily.d).sum() / daily.d.sum())
    curve = view.curve
    assert len(curve) == 201
    assert curve["price"].iloc[0] == pytest.approx(daily.p.max())
    assert curve["price"].iloc[-1] == pytest.approx(daily.p.min())
    assert curve["price"].iloc[100] == pytest.approx(np.sort(daily.p.to_numpy())[round(29 * 0.5)])


def test_duration_curve_of_means_at_hand_ranks_as_the_database_does(app):
    store = app.server.extensions["c254"].ready_store()
    idx = pd.date_range("2024-01-01", periods=24 * 9 + 7, freq="60min", tz="UTC")  # hourly intervals
    price = np.random.default_rng(3).gamma(2.0, 30.0, len(idx))
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "VIC1", "price_kind": "settlement", "interval_start": idx, "interval_minutes": 60,
        "price": price, "source": "t.csv"})})
    s, e = idx[0], idx[-1] + pd.Timedelta(minutes=60)
    in_db = queries.duration_curve(store, "NEM", "VIC1", s, e)
    at_hand = queries.duration_curve_of(pd.Series(price))
    np.testing.assert_allclose(at_hand["price"], in_db["price"], rtol=1e-12)
    np.testing.assert_allclose(at_hand["exceedance_pct"], in_db["exceedance_pct"])


def test_overview_link_names_the_view_and_bad_values_fall_back(app):
    store = app.server.extensions["c254"].ready_store()
    idx = pd.date_range("2023-12-31 14:00", periods=48 * 10, freq="30min", tz="UTC")  # NEM 1-10 Jan 2024
    for loc in ("SA1", "VIC1"):
        write_tables(store, {"prices": pd.DataFrame({
            "market": "NEM", "location": loc, "price_kind": "settlement", "interval_start": idx,
            "interval_minutes": 30, "price": 1.0, "source": "t.csv"})})
    asked = initial_choice(store, "NEM", "VIC1", "settlement", "2024-01-03", "2024-01-05")
    assert (asked.location.chosen, asked.dates.start, asked.dates.end) == ("VIC1", "2024-01-03", "2024-01-05")
    assert asked.notes == ()
    clipped = initial_choice(store, "NEM", "VIC1", None, "2020-01-01", "2030-01-01")
    assert (clipped.dates.start, clipped.dates.end) == ("2024-01-01", "2024-01-10")
    assert clipped.notes == ("Dates clipped to the stored 2024-01-01 to 2024-01-10.",)
    hostile = initial_choice(store, "NEM'--", "<script>", "x", "2024-01-05", "not a date")
    assert (hostile.market.chosen, hostile.location.chosen, hostile.dates.start, hostile.dates.end) == (
        "NEM", "SA1", "2024-01-01", "2024-01-10")
    assert hostile.notes == (
        "No market \"NEM'--\" is stored; showing NEM.", "No NEM location '<script>' is stored; showing SA1.",
        "No SA1 price series 'x' is stored; showing settlement.",
        "The link's dates ('2024-01-05' to 'not a date') are not YYYY-MM-DD dates in order within the stored "
        "2024-01-01 to 2024-01-10; showing the latest days.")
    # A link may give one end of the range: a start runs to the latest stored day, an end opens the usual 14 days
    # ending there (clipped to what is stored, and said so only when a date given was moved)
    from_start = initial_choice(store, "NEM", "VIC1", None, "2024-01-04", None)
    assert (from_start.dates.start, from_start.dates.end, from_start.notes) == ("2024-01-04", "2024-01-10", ())
    to_end = initial_choice(store, "NEM", "VIC1", None, None, "2024-01-08")
    assert (to_end.dates.start, to_end.dates.end, to_end.notes) == ("2024-01-01", "2024-01-08", ())
    late_start = initial_choice(store, "NEM", "VIC1", None, "2023-12-01", None)
    assert (late_start.dates.start, late_start.dates.end) == ("2024-01-01", "2024-01-10")
    assert late_start.notes == ("Dates clipped to the stored 2024-01-01 to 2024-01-10.",)
    after = initial_choice(store, "NEM", "VIC1", None, None, "2030-01-01")  # its 14 days hold nothing stored
    assert (after.dates.start, after.dates.end) == ("2024-01-01", "2024-01-10")
    assert after.notes == ("The link's end date '2030-01-01' is not a YYYY-MM-DD date within the stored "
                           "2024-01-01 to 2024-01-10; showing the latest days.",)
    bad_start = initial_choice(store, "NEM", "VIC1", None, "2026-13-40", None)
    assert (bad_start.dates.start, bad_start.dates.end) == ("2024-01-01", "2024-01-10")
    assert bad_start.notes == ("The link's start date '2026-13-40' is not a YYYY-MM-DD date within the stored "
                               "2024-01-01 to 2024-01-10; showing the latest days.",)


def test_latest_prices_are_each_series_newest_interval(app, client, sa_january):
    """The latest_prices view against a brute-force reading of the raw rows: series ending on different days,
    a revision of the last interval, and a 30-minute row starting with the last 5-minute one."""
    store = app.server.extensions["c254"].ready_store()
    idx, price = sa_january
    five = pd.date_range("2018-01-10 00:00", "2018-01-15 03:55", freq="5min", tz="UTC")
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "VIC1", "price_kind": "settlement", "interval_start": five,
        "interval_minutes": 5, "price": np.arange(len(five), dtype=float), "source": "v.csv"})})
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "VIC1", "price_kind": "settlement", "interval_start": [five[-1]],
        "interval_minutes": [30], "price": [-999.0], "source": "v30.csv"})})
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "SA1", "price_kind": "settlement", "interval_start": [idx[-1]],
        "interval_minutes": [30], "price": [price[-1] + 1000], "source": "revision.csv"})})
    snowy = pd.date_range("2008-06-01 14:00", "2008-06-30 13:30", freq="30min", tz="UTC")  # a region since gone
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "SNOWY1", "price_kind": "settlement", "interval_start": snowy,
        "interval_minutes": 30, "price": np.linspace(10, 20, len(snowy)), "source": "s.csv"})})
    body = client.get("/api/v1/latest?market=nem").get_json()
    assert body["timezone"] == "Etc/GMT-10"
    assert body["rows"] == [
        {"location": "SA1", "price_kind": "settlement", "interval_start": "2018-01-31T23:30:00+10:00",
         "interval_minutes": 30, "price": float(price[-1] + 1000), "is_demo": False},
        {"location": "SNOWY1", "price_kind": "settlement", "interval_start": "2008-06-30T23:30:00+10:00",
         "interval_minutes": 30, "price": 20.0, "is_demo": False},
        {"location": "VIC1", "price_kind": "settlement", "interval_start": "2018-01-15T13:55:00+10:00",
         "interval_minutes": 5, "price": float(len(five) - 1), "is_demo": False}]
    brute = store.query_df("SELECT location, argMax(price, (interval_start, -toInt32(interval_minutes))) AS p "
                           "FROM prices FINAL GROUP BY location ORDER BY location")
    assert brute["p"].tolist() == [r["price"] for r in body["rows"]]
    csv = pd.read_csv(io.StringIO(client.get("/api/v1/latest?market=NEM&format=csv&tz=utc").get_data(as_text=True)))
    assert csv["interval_start"].tolist() == ["2018-01-31T13:30:00+00:00", "2008-06-30T13:30:00+00:00",
                                              "2018-01-15T03:55:00+00:00"]
    # the overview's table downloads as the API answers it, in the zone the page shows
    from tests.test_hardening import assert_answered, callback_key, post_callback
    for tz in ("utc", "market"):
        answer = assert_answered(post_callback(client, app, callback_key(app, "ov-download-latest.data"),
                                               {"ov-market.value": "NEM", "ov-tz.value": tz,
                                                "ov-download-latest-btn.n_clicks": 1}), f"latest CSV {tz}")
        data = answer["response"]["ov-download-latest"]["data"]
        assert data["filename"] == f"NEM_latest_prices_{'UTC' if tz == 'utc' else 'market-time'}.csv"
        assert data["content"] == client.get(f"/api/v1/latest?market=NEM&format=csv&tz={tz}").get_data(as_text=True)


@pytest.mark.parametrize("query, message", [
    ("market=XX", "unknown market 'XX'"), ("", "parameter 'market' is required"),
    ("market=NEM'--", "characters that are not allowed"), ("market=NEM&tz=mars", "must be one of market, utc")])
def test_latest_prices_refuse_bad_parameters(january_client, query, message):
    r = january_client.get(f"/api/v1/latest?{query}")
    assert r.status_code == 400
    assert message in r.get_json()["error"]


def test_cache_version_follows_the_data_not_the_job_log(app, sa_january):
    """A scheduled run that wrote nothing must not empty the page cache; a batch of prices must."""
    from engine.jobs import JobRun

    svc = app.server.extensions["c254"]
    store = svc.ready_store()
    before = svc.data_version()
    run = JobRun(job="nem:5min", market="NEM")
    run.save(store)
    run.finish(store, "succeeded")
    assert svc.data_version() == before
    idx, price = sa_january
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": "SA1", "price_kind": "settlement", "interval_start": [idx[-1]],
        "interval_minutes": [30], "price": [price[-1] + 1], "source": "revision.csv"})})
    assert svc.data_version() != before


def _hourly_prices(store, location: str, kind: str, first_day: str, days: int, market: str = "NEM") -> None:
    start = pd.Timestamp(first_day, tz=MARKETS[market].timezone).tz_convert("UTC")
    write_tables(store, {"prices": pd.DataFrame({
        "market": market, "location": location, "price_kind": kind,
        "interval_start": pd.date_range(start, periods=24 * days, freq="60min"), "interval_minutes": 60,
        "price": 1.0, "source": "t.csv"})})


def test_a_new_price_series_keeps_the_dates_it_has_data_in(store):
    _hourly_prices(store, "SA1", "settlement", "2024-01-01", 10)
    _hourly_prices(store, "SA1", "dispatch", "2024-01-05", 16)  # 5 to 20 January
    kept = series_dates(store, "NEM", "SA1", "dispatch", "2024-01-03", "2024-01-06")
    assert kept == Dates("2024-01-03", "2024-01-06", "2024-01-05", "2024-01-20")
    latest = series_dates(store, "NEM", "SA1", "dispatch", "2023-12-01", "2023-12-05")
    assert latest == Dates("2024-01-07", "2024-01-20", "2024-01-05", "2024-01-20")  # the last 14 days
    assert series_dates(store, "NEM", "VIC1", "dispatch", "2024-01-03", "2024-01-06") is None


def test_controls_offer_what_is_stored_and_keep_a_value_they_offer(store):
    _hourly_prices(store, "SA1", "settlement", "2024-01-01", 2)
    _hourly_prices(store, "SA1", "dispatch", "2024-01-01", 2)
    _hourly_prices(store, "ONZP", "HOEP", "2024-01-01", 2, market="IESO")
    assert queries.markets_with_prices(store) == ["NEM", "IESO"]  # the registry's order, not the alphabet's
    assert locations(store, "NEM", "VIC1") == Pick(("SA1",), "SA1")
    assert locations(store, None, "SA1") == Pick((), None)
    assert price_kinds(store, "NEM", "SA1", "dispatch") == Pick(("settlement", "dispatch"), "dispatch")
    assert price_kinds(store, "NEM", "SA1", None) == Pick(("settlement", "dispatch"), "settlement")


def test_an_unknown_market_is_a_query_error_naming_the_known_ones(store):
    with pytest.raises(queries.QueryError, match="known markets: BRAZIL, CAISO"):
        overview_view(store, "XX", "SA1", "2024-01-01", "2024-01-02")


def test_latest_prices_of_an_empty_market_have_columns_and_the_display_zone(store):
    found = latest_view(store, "IESO", "utc")
    assert found.rows.empty
    assert list(found.rows.columns) == ["location", "price_kind", "interval_start", "interval_minutes", "price",
                                        "is_demo"]
    assert (found.tz, found.tz_label, found.currency) == ("UTC", "UTC", "CAD")


@pytest.mark.parametrize(("day", "hours"), [("2018-11-04", 23), ("2019-02-16", 25), ("2018-11-05", 24)])
def test_a_daily_mean_says_how_long_its_day_was(app, day, hours):
    """Daily means in a market that kept daylight saving: Brazil's 2018-11-04 began at 01:00 (23 hours) and
    2019-02-16 had 23:00 twice (25 hours); each said 1,440 minutes. PJM's and ISO-NE's days change so too."""
    store = app.server.extensions["c254"].ready_store()
    start, end = queries.parse_range(MARKETS["BRAZIL"], day, (pd.Timestamp(day) + pd.Timedelta(days=1)).date())
    idx = pd.date_range(start, end, freq="60min", inclusive="left")
    assert len(idx) == hours
    write_tables(store, {"prices": pd.DataFrame({
        "market": "BRAZIL", "location": "SE", "price_kind": "PLD_test", "interval_start": idx, "interval_minutes": 60,
        "price": np.arange(hours, dtype=float), "source": "t.csv"})})
    series, resolution = queries.price_series(store, "BRAZIL", "SE", start, end, price_kind="PLD_test",
                                              resolution="day")
    assert resolution == "day" and len(series) == 1
    assert series["interval_start"].iloc[0] == start
    assert int(series["interval_minutes"].iloc[0]) == hours * 60
    assert series["price"].iloc[0] == pytest.approx((hours - 1) / 2)
    answer = app.server.test_client().get(f"/api/v1/prices?market=BRAZIL&location=SE&price_kind=PLD_test"
                                          f"&start={day}&end={(pd.Timestamp(day) + pd.Timedelta(days=1)).date()}"
                                          "&resolution=day&format=csv")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert f",{hours * 60}," in answer.get_data(as_text=True).splitlines()[1]


@pytest.mark.parametrize(("query", "message"), [
    ("/api/v1/prices?market=NEM&location=SA1&kind=settlement&start=2018-01-01&end=2018-01-02",
     "unknown parameter 'kind' (did you mean 'price_kind'?)"),
    ("/api/v1/prices?market=NEM&location=SA1&start=2018-01-01&end=2018-01-02&timezone=utc",
     "unknown parameter 'timezone' (did you mean 'tz'?)"),
    ("/api/v1/prices?market=NEM&location=SA1&start=2018-01-01&end=2018-01-02&res=day",
     "unknown parameter 'res' (did you mean 'resolution'?)"),
    ("/api/v1/latest?market=NEM&location=SA1", "unknown parameter 'location'; this endpoint takes market, format, tz"),
    ("/api/v1/health?x=1", "unknown parameter 'x'; this endpoint takes "),
])
def test_a_parameter_an_endpoint_does_not_take_is_refused_naming_it(app, query, message):
    """A misremembered name (the overview's link says kind, the API price_kind) was ignored: the answer, for the
    default series, came back 200 with no rows or another series' rows."""
    answer = app.server.test_client().get(query)
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert message in answer.get_json()["error"]
