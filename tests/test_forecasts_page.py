"""The forecasts page through the Flask test client, with runs saved into the store: the fan has its bands, the
median, the actual prices and the issue time; another "as issued at" draws another run; the CSV holds the 99
quantiles in the zone shown; hostile values get the page's own message; an empty store a clear one; training
progress polls only while a model trains."""
from __future__ import annotations

import base64
import io
import json
import os

import dash
import numpy as np
import pandas as pd
import pytest
from plotly.utils import PlotlyJSONEncoder

from components.price_axis import PriceAxis
from app.factory import create_app
from app.services import services
from app.settings import Settings
from engine import jobs
from engine.demo import nem_demo_frames
from engine.forecast import runs, views
from engine.forecast.base import QUANTILE_LEVELS, Forecast
from engine.forecast.naive import weekly_naive
from engine.store import DEMO_SOURCE, write_tables
from tests.test_hardening import HOSTILE, assert_answered, callback_key, post_callback, row_counts
from tests.support.schema_template import migrated_url

NEM = "Etc/GMT-10"
#: The demo's last 28 days of SA1 and VIC1 prices; runs are issued for its last RUN_DAYS days.
PRICE_DAYS, RUN_DAYS = 28, 8
LAST_DAY = pd.Timestamp("2026-10-31", tz=NEM)


def _hourly(prices: pd.DataFrame, location: str) -> pd.Series:
    part = prices.loc[prices["location"] == location].set_index("interval_start")["price"]
    return part.resample("h").mean()


def _residual_quantiles(prices: pd.Series, start: pd.Timestamp, lag: int) -> np.ndarray:
    """Quantiles of the errors a naive forecast with ``lag`` made over the two weeks before ``start``."""
    past = prices.loc[(prices.index >= start - pd.Timedelta(days=14)) & (prices.index < start)]
    errors = (past - prices.shift(lag).reindex(past.index)).dropna()
    return np.quantile(errors.to_numpy(), QUANTILE_LEVELS)


def naive_forecast(prices: pd.Series, start: pd.Timestamp, hours: int, daily: bool = False) -> Forecast:
    """The weekly naive forecast (or the daily one: the price 24 h earlier, repeated) with quantiles from its
    recent errors: simple, and honest about what it is."""
    if daily:
        day = prices.loc[(prices.index >= start - pd.Timedelta(hours=24)) & (prices.index < start)].to_numpy()
        point = np.resize(day, hours)
    else:
        point = weekly_naive(prices, start, hours)
    spread = _residual_quantiles(prices, start, 24 if daily else 168)
    return Forecast(pd.date_range(start, periods=hours, freq="h"), point, point[:, None] + spread[None, :],
                    "daily-naive" if daily else "naive")


def save_demo_runs(store, locations=("SA1", "VIC1"), run_days: int = RUN_DAYS) -> dict[str, list[str]]:
    """Demo prices of the locations, and a weekly and a daily naive run issued at 12:00 NEM time the day before
    each of the last ``run_days`` days (48 h each). Returns the weekly runs' ids per location, oldest first."""
    frames = nem_demo_frames(days=PRICE_DAYS, end=LAST_DAY + pd.Timedelta(days=1))
    prices = frames["prices"].loc[frames["prices"]["location"].isin(locations)]
    write_tables(store, {"prices": prices.reset_index(drop=True)})
    ids = {}
    for location in locations:
        hourly = _hourly(prices, location)
        ids[location] = []
        for day in pd.date_range(LAST_DAY - pd.Timedelta(days=run_days - 1), LAST_DAY, freq="D"):
            start = day.tz_convert("UTC")
            issued = start - pd.Timedelta(hours=12)
            seen = hourly.loc[hourly.index < start]  # what was known at the time
            ids[location].append(runs.save_run(store, "NEM", location, naive_forecast(seen, start, 48), issued,
                                               "weekly-naive-v1"))
            runs.save_run(store, "NEM", location, naive_forecast(seen, start, 48, daily=True), issued,
                          "daily-naive-v1")
    return ids


@pytest.fixture(scope="module")
def site(store_dir):
    """One app (sign-in off, local mode) over a store with demo prices and naive runs."""
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"fcpage_{os.getpid()}"), scheduler=False,
                                   demo=False, auth=False, secret_key="test-secret"))
    store = services(dash_app.server).ready_store()
    ids = save_demo_runs(store)
    yield dash_app, store, ids
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


def _issued(store, run_id: str) -> str:
    return views.issue_value(runs.get_run(store, run_id).issued_at)


def _good(store, ids) -> dict:
    return {"fc-market.value": "NEM", "fc-location.value": "SA1", "fc-model.value": "naive",
            "fc-issued.value": _issued(store, ids["SA1"][-1]), "fc-horizon.value": 24, "fc-tz.value": "market",
            "fc-window.value": 28, "fc-download-btn.n_clicks": 1, "fc-download-accuracy-btn.n_clicks": 1,
            "fc-download-daily-btn.n_clicks": 1}


def _render(site, **changes) -> dict:
    dash_app, store, ids = site
    response = post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app, "fc-fan.figure"),
                             {**_good(store, ids), **changes})
    return assert_answered(response, "render")["response"]


def _traces(figure: dict) -> dict[str, dict]:
    return {t["name"]: t for t in figure["data"] if t.get("name")}


def _values(trace: dict, key: str = "y") -> np.ndarray:
    """A trace's values as plotly's JSON encoder sends them (a list, or a typed array in base64)."""
    value = trace[key]
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def test_the_fan_has_its_bands_median_actual_and_issue_time(site):
    _, store, ids = site
    answer = _render(site)
    assert answer["fc-error"]["is_open"] is False
    figure = answer["fc-fan"]["figure"]
    traces = _traces(figure)
    for band in ("98 % band (q01–q99)", "90 % band (q05–q95)", "80 % band (q10–q90)", "50 % band (q25–q75)"):
        assert traces[band]["fill"] == "tonexty"
    run = runs.run_forecast(store, ids["SA1"][-1])
    assert np.allclose(_values(traces["Median forecast"]), run.forecast.quantile(0.5)[:24])
    assert np.allclose(_values(traces["98 % band (q01–q99)"]), run.forecast.quantile(0.99)[:24])
    # actual prices from 24 h (as many as are forecast) before the first hour forecast to the end, hourly means
    actual = _values(traces["Actual price"])
    assert len(actual) == 24 + 24
    expected = runs.actuals(store, "NEM", "SA1", run.run.first_target - pd.Timedelta(hours=24),
                            run.run.first_target + pd.Timedelta(hours=24))
    assert np.allclose(actual, expected.to_numpy())
    issue_line = figure["layout"]["shapes"][0]
    assert issue_line["x0"] == "2026-10-30T12:00:00"  # 12:00 NEM time the day before
    assert "issued 2026-10-30 12:00" in figure["layout"]["annotations"][0]["text"]
    assert figure["layout"]["xaxis"]["title"]["text"] == "Hour start (NEM time (UTC+10))"
    assert answer["fc-fan"]["config"]["toImageButtonOptions"]["format"] == "png"
    assert answer["fc-download-btn"]["disabled"] is False


def test_an_older_issue_time_draws_what_was_forecast_then(site):
    _, store, ids = site
    newest, older = _render(site), _render(site, **{"fc-issued.value": _issued(store, ids["SA1"][2])})
    new_median = _values(_traces(newest["fc-fan"]["figure"])["Median forecast"])
    old_median = _values(_traces(older["fc-fan"]["figure"])["Median forecast"])
    assert not np.allclose(new_median, old_median)
    assert np.allclose(old_median, runs.run_forecast(store, ids["SA1"][2]).forecast.quantile(0.5)[:24])
    assert "issued 2026-10-25 12:00" in older["fc-fan"]["figure"]["layout"]["annotations"][0]["text"]


def test_utc_and_horizon_change_the_axis_and_the_hours(site):
    answer = _render(site, **{"fc-tz.value": "utc", "fc-horizon.value": 168})
    figure = answer["fc-fan"]["figure"]
    assert figure["layout"]["shapes"][0]["x0"] == "2026-10-30T02:00:00"
    assert figure["layout"]["xaxis"]["title"]["text"] == "Hour start (UTC)"
    assert len(_values(_traces(figure)["Median forecast"])) == 48  # the run forecasts 48 h
    assert "This run forecasts 48 hours" in str(answer["fc-notes"]["children"])


def test_the_operators_own_forecast_issued_before_ours_is_drawn_beside_it(site):
    """AEMO pre-dispatch runs (30 min) issued at 11:30 and 12:30 NEM time: the fan of our run issued at 12:00 draws
    the 11:30 one, over the hours we forecast."""
    _, store, ids = site
    frames = []
    for issued, base in (("2026-10-30 11:30", 70.0), ("2026-10-30 12:30", 500.0)):
        starts = pd.date_range(pd.Timestamp("2026-10-30 12:00", tz=NEM), pd.Timestamp("2026-11-01 04:00", tz=NEM),
                               freq="30min", inclusive="left").tz_convert("UTC")
        frames.append(pd.DataFrame({"market": "NEM", "location": "SA1", "variable": "price", "report": "predispatch",
                                    "issued_at": pd.Timestamp(issued, tz=NEM).tz_convert("UTC"), "interval_minutes": 30,
                                    "interval_start": starts, "value": base + np.arange(len(starts)),
                                    # demo rows beside demo prices: real rows of a market replace its demo data
                                    "source": DEMO_SOURCE}))
    write_tables(store, {"operator_forecasts": pd.concat(frames, ignore_index=True)})
    traces = _traces(_render(site)["fc-fan"]["figure"])
    drawn = traces["Operator's forecast (issued 2026-10-30 11:30)"]
    assert len(_values(drawn)) == 48  # the half hours of the 24 h shown
    assert _values(drawn)[0] == 70.0 + 24  # 00:00 on the 31st is the 25th half hour from 12:00 on the 30th
    assert _values(drawn, "x")[0] == "2026-10-31T00:00:00"


def test_the_issue_times_are_offered_newest_first_in_the_zone_shown(site):
    dash_app, store, ids = site
    response = post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app, "fc-issued.options"),
                             {**_good(store, ids), "fc-tz.value": "utc", "fc-issued.value": None})
    options = assert_answered(response, "issue times")["response"]["fc-issued"]
    assert [o["value"] for o in options["options"]] == [_issued(store, i) for i in ids["SA1"][::-1]]
    assert options["options"][0]["label"] == "2026-10-30 02:00"
    assert options["value"] == _issued(store, ids["SA1"][-1])


def test_a_newly_saved_run_is_offered_at_once(site):
    """The forecast tables are part of the data version: a run saved after the page's answers were cached is seen."""
    dash_app, store, ids = site
    key = callback_key(dash_app, "fc-issued.options")
    values = {**_good(store, ids), "fc-location.value": "VIC1", "fc-issued.value": None}

    def offered() -> list[str]:
        response = post_callback(dash_app.server.test_client(), dash_app, key, values)
        return [o["value"] for o in assert_answered(response, "issue times")["response"]["fc-issued"]["options"]]

    before, version = offered(), services(dash_app.server).data_version()
    start = (LAST_DAY + pd.Timedelta(days=1)).tz_convert("UTC")
    stored = runs.run_forecast(store, ids["VIC1"][-1]).forecast
    issued = start - pd.Timedelta(hours=1)
    runs.save_run(store, "NEM", "VIC1", Forecast(stored.times + pd.Timedelta(days=1), stored.point, stored.quantiles,
                                                 "naive"), issued, "weekly-naive-v1")
    assert services(dash_app.server).data_version() != version
    assert offered() == [views.issue_value(issued), *before]


def test_the_csv_holds_the_quantiles_shown_in_the_zone_shown(site):
    dash_app, store, ids = site
    key = callback_key(dash_app, "fc-download.data")
    for tz, header, offset in (("market", "hour_start (NEM time (UTC+10))", "+10:00"),
                               ("utc", "hour_start (UTC)", "+00:00")):
        response = post_callback(dash_app.server.test_client(), dash_app, key,
                                 {**_good(store, ids), "fc-tz.value": tz, "fc-horizon.value": 48})
        data = assert_answered(response, "download")["response"]["fc-download"]["data"]
        assert data["filename"].endswith("_48h_" + ("UTC" if tz == "utc" else "market-time") + ".csv")
        frame = pd.read_csv(io.StringIO(data["content"]), float_precision="round_trip")
        # every price in the market's currency per MWh, and the headers say so
        names = [f"q{i:02d} (AUD/MWh)" for i in range(1, 100)]
        assert list(frame.columns) == [header, "forecast (AUD/MWh)", *names, "actual (AUD/MWh)"]
        assert frame[header].str.endswith(offset).all()
        # the 48 hours forecast, after the 48 hours before them whose actual prices the fan draws for context
        stored = runs.run_forecast(store, ids["SA1"][-1]).forecast
        view = views.forecast_view(store, "NEM", "SA1", "naive", _good(store, ids)["fc-issued.value"], 48, tz)
        assert len(frame) == 48 + 48
        forecast = frame.iloc[48:]
        assert frame["forecast (AUD/MWh)"].iloc[:48].isna().all() and forecast["forecast (AUD/MWh)"].notna().all()
        assert (pd.to_datetime(forecast[header], utc=True) == stored.times).all()
        np.testing.assert_array_equal(forecast[names].to_numpy(), stored.quantiles)  # unrounded
        np.testing.assert_array_equal(forecast["forecast (AUD/MWh)"], stored.point)
        # the actual prices where the fan draws them: the context hours and the first day forecast (the demo's
        # prices end there)
        assert frame["actual (AUD/MWh)"].notna().sum() == 48 + 24 == len(view.actual)
        assert (pd.to_datetime(frame[header], utc=True).iloc[:72] == view.actual.index).all()
        np.testing.assert_array_equal(frame["actual (AUD/MWh)"].iloc[:72], view.actual.to_numpy())


def test_the_accuracy_panel_scores_each_model(site):
    dash_app, store, ids = site
    response = post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app, "fc-rolling.figure"),
                             _good(store, ids))
    answer = assert_answered(response, "accuracy")["response"]
    rolling = _traces(answer["fc-rolling"]["figure"])
    # our models by the names readers know (MODEL_LABELS), a model it does not list by its stored name; the weekly
    # naive run, which is the baseline on every hour scored, drawn once as the baseline (its own line hid it)
    assert {"daily-naive", "Naive (weekly): the baseline, price 168 h earlier"} <= set(rolling)
    assert "Naive (weekly)" not in rolling
    calibration = _traces(answer["fc-calibration"]["figure"])
    assert set(calibration) == {"ideal", "Naive (weekly)", "daily-naive"}
    # an earlier test of the module may have stored AEMO pre-dispatch runs of SA1: then they are scored too
    operator = {"AEMO pre-dispatch"} if store.scalar(
        "SELECT count() FROM operator_forecasts WHERE location = 'SA1'") else set()
    assert set(_traces(answer["fc-by-hour"]["figure"])) == {"Naive (weekly)", "daily-naive", *operator}
    acc = runs.accuracy(store, "NEM", "SA1", window=28)
    # the weekly naive run is the price 168 h earlier: rMAE 1 on every hour scored
    assert acc.summary.loc["naive", "rmae"] == pytest.approx(1.0)
    assert acc.summary.loc["naive", "hours"] == RUN_DAYS * 24
    assert "fc-accuracy-summary" in str(answer["fc-accuracy-table"])
    assert (answer["fc-download-accuracy-btn"]["disabled"], answer["fc-download-daily-btn"]["disabled"]) == \
        (False, False)


def test_the_accuracy_table_and_daily_scores_download_as_numbers_with_their_units(site):
    dash_app, store, ids = site
    good = {**_good(store, ids), "fc-location.value": "SA1", "fc-window.value": 7,
            "fc-download-accuracy-btn.n_clicks": 1, "fc-download-daily-btn.n_clicks": 1}
    acc = runs.accuracy(store, "NEM", "SA1", window=7)
    response = post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app,
                                                                                   "fc-download-accuracy.data"), good)
    data = assert_answered(response, "accuracy table")["response"]["fc-download-accuracy"]["data"]
    assert data["filename"] == "NEM_SA1_day_ahead_accuracy.csv"
    table = pd.read_csv(io.StringIO(data["content"])).set_index("model")
    assert list(table.columns) == ["label", "hours_scored", "mae (AUD/MWh)", "weekly_naive_mae (AUD/MWh)", "rmae",
                                   "band_50_covered (fraction)", "band_80_covered (fraction)",
                                   "band_90_covered (fraction)", "band_98_covered (fraction)"]
    assert list(table.index) == list(acc.summary.index)
    assert table.loc["naive", "hours_scored"] == RUN_DAYS * 24
    assert table.loc["naive", "rmae"] == pytest.approx(1.0)  # the weekly naive run is the price 168 h earlier
    np.testing.assert_allclose(table["mae (AUD/MWh)"], acc.summary["mae"], rtol=1e-12)
    cover = acc.coverage.set_index(["model", "nominal"])["observed"]
    assert table.loc["daily-naive", "band_90_covered (fraction)"] == pytest.approx(cover[("daily-naive", 0.9)])
    response = post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app,
                                                                                   "fc-download-daily.data"), good)
    data = assert_answered(response, "daily scores")["response"]["fc-download-daily"]["data"]
    assert data["filename"] == "NEM_SA1_day_ahead_accuracy_daily_7d.csv"
    daily = pd.read_csv(io.StringIO(data["content"]))
    day = "day (NEM time (UTC+10))"
    assert list(daily.columns) == [day, "model", "mae_7d (AUD/MWh)", "weekly_naive_mae_7d (AUD/MWh)", "rmae_7d"]
    # the runs score the last RUN_DAYS market days, named by the market's date
    assert daily.loc[daily["model"] == "naive", day].tolist() == [
        d.strftime("%Y-%m-%d") for d in pd.date_range(LAST_DAY - pd.Timedelta(days=RUN_DAYS - 1), LAST_DAY)]
    naive = acc.rolling.loc[acc.rolling["model"] == "naive"]
    np.testing.assert_allclose(daily.loc[daily["model"] == "naive", "mae_7d (AUD/MWh)"], naive["mae"], rtol=1e-12)
    baseline = daily.loc[daily["model"] == "weekly_naive"]
    np.testing.assert_allclose(baseline["mae_7d (AUD/MWh)"], acc.baseline["mae"], rtol=1e-12)


def _table_rows(table: dict) -> list[list[str]]:
    """The body rows of a data_table as Dash sends it: each row's cells as text."""
    body = table["props"]["children"][1]["props"]["children"]
    return [[_text(cell["props"]["children"]) for cell in row["props"]["children"]] for row in body]


def _text(content) -> str:
    """A cell's text, through the spans that keep it on one line."""
    return _text(content["props"]["children"]) if isinstance(content, dict) else str(content)


def test_the_accuracy_panel_compares_the_operators_forecast_where_both_exist(site):
    """An AEMO pre-dispatch run of VIC1 issued at 23:00 NEM time on the 29th (the rest of that trading day and the
    next: to 04:00 on the 31st) says the actual hourly price + 5 in both half hours of every hour. Scored as the
    day-ahead forecast of the 30th (24 hours) and of the first 4 hours of the 31st (the newest run issued by then):
    28 hours, MAE 5, rMAE 5 over the weekly naive's MAE on the same hours. No quantiles: no coverage ("—")."""
    dash_app, store, ids = site
    start, end = pd.Timestamp("2026-10-30 00:00", tz=NEM), pd.Timestamp("2026-10-31 04:00", tz=NEM)
    hourly = runs.actuals(store, "NEM", "VIC1", start.tz_convert("UTC") - pd.Timedelta(hours=168),
                          end.tz_convert("UTC"))
    half_hours = pd.date_range(start, end, freq="30min", inclusive="left").tz_convert("UTC")
    write_tables(store, {"operator_forecasts": pd.DataFrame({
        "market": "NEM", "location": "VIC1", "variable": "price", "report": "predispatch",
        "issued_at": pd.Timestamp("2026-10-29 23:00", tz=NEM).tz_convert("UTC"), "interval_minutes": 30,
        "interval_start": half_hours, "value": hourly.reindex(half_hours.floor("h")).to_numpy() + 5.0,
        "source": DEMO_SOURCE})})
    scored = half_hours[::2]
    naive_mae = float(np.mean(np.abs(hourly.reindex(scored).to_numpy()
                                      - hourly.reindex(scored - pd.Timedelta(hours=168)).to_numpy())))

    acc = runs.accuracy(store, "NEM", "VIC1", window=28)
    assert acc.summary.loc["operator", "hours"] == 28
    assert acc.summary.loc["operator", "mae"] == pytest.approx(5.0)
    assert acc.summary.loc["operator", "rmae"] == pytest.approx(5.0 / naive_mae)

    response = post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app, "fc-rolling.figure"),
                             {**_good(store, ids), "fc-location.value": "VIC1"})
    answer = assert_answered(response, "accuracy")["response"]
    mae, rmae = [t for t in answer["fc-rolling"]["figure"]["data"] if t.get("name") == "AEMO pre-dispatch"]
    assert mae["line"]["color"] == "#ff7f0e"
    # the 28 days ending on the 31st hold every hour scored
    assert (_values(mae)[-1], _values(rmae)[-1]) == (pytest.approx(5.0), pytest.approx(5.0 / naive_mae))
    assert "AEMO pre-dispatch" not in _traces(answer["fc-calibration"]["figure"])
    assert "AEMO pre-dispatch" in _traces(answer["fc-by-hour"]["figure"])
    rows = {row[0]: row for row in _table_rows(answer["fc-accuracy-table"]["children"])}
    assert rows["AEMO pre-dispatch"][1:3] == ["28", "5.00"]
    assert rows["AEMO pre-dispatch"][5:] == ["—", "—"]
    assert rows["Naive (weekly)"][5] != "—"


def test_hostile_values_get_the_pages_message_and_change_nothing(site):
    dash_app, store, ids = site
    client = dash_app.server.test_client()
    before, good = row_counts(store), _good(store, ids)
    render_key, accuracy_key = callback_key(dash_app, "fc-fan.figure"), callback_key(dash_app, "fc-rolling.figure")
    for field in ("fc-market.value", "fc-location.value", "fc-model.value", "fc-issued.value", "fc-horizon.value",
                  "fc-tz.value", "fc-scale.value"):
        for value in HOSTILE:
            what = f"{field}={str(value)[:30]!r}"
            body = assert_answered(post_callback(client, dash_app, render_key, {**good, field: value}),
                                   what)
            assert body["response"]["fc-error"]["is_open"] is True, what
    for value in HOSTILE:
        body = assert_answered(post_callback(client, dash_app, accuracy_key, {**good,
                                                                             "fc-window.value": value}), "window")
        assert "window must be one of" in str(body["response"]["fc-accuracy-table"])
    # every callback of the page, every control it reads: the same check (views.check_choice) guards them
    # all, so a sample of the values suffices (text too long to be anything, an object, a boolean)
    sample = (HOSTILE[3], HOSTILE[8], HOSTILE[11])
    tried = 0
    for key in [k for k in dash_app.callback_map if "fc-" in k]:
        spec = dash_app.callback_map[key]
        for dep in spec["inputs"] + spec["state"]:
            field = f"{dep['id']}.{dep['property']}"
            if field.endswith("n_clicks"):
                continue
            for value in sample:
                assert_answered(post_callback(client, dash_app, key, {**good, field: value},
                                              changed=f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}"),
                                f"{key} {field}={str(value)[:30]!r}")
                tried += 1
    assert tried >= 25 * len(sample)
    assert row_counts(store) == before


def test_a_forecast_not_issued_by_then_is_said(site):
    answer = _render(site, **{"fc-issued.value": "2001-01-01T00:00:00Z"})
    assert answer["fc-error"]["is_open"] is True
    assert "No Naive (weekly) forecast of NEM SA1 was issued by 2001-01-01T00:00:00Z" in answer["fc-error"]["children"]
    assert answer["fc-download-btn"]["disabled"] is True  # no fan, nothing to download: the button says so


def test_training_progress_polls_only_while_training(site):
    dash_app, store, ids = site
    key = callback_key(dash_app, "fc-training.children")
    values = {**_good(store, ids), "fc-location.value": "VIC1"}

    def ask(**more):
        response = post_callback(dash_app.server.test_client(), dash_app, key, {**values, **more})
        return assert_answered(response, "training")["response"]

    assert ask()["fc-training-tick"]["disabled"] is True
    run = jobs.JobRun(job=views.training_job("NEM", "VIC1"), market="NEM", progress_done=3, progress_total=12)
    run.save(store)
    answer = ask()
    assert answer["fc-training-tick"]["disabled"] is False
    assert answer["fc-training-state"]["data"] == "running"
    assert "transformer is training (3/12 steps, 25 %" in str(answer["fc-training"]["children"])
    assert "its fan appears when it is ready" in str(answer["fc-training"]["children"])
    run.finish(store, "succeeded")
    done = ask(**{"fc-training-state.data": "running"})
    assert done["fc-training-tick"]["disabled"] is True
    assert done["fc-training-state"]["data"] == "succeeded"  # the model list is asked again


def test_the_page_opens_on_stored_runs_and_notes_what_a_link_asked_for(site):
    dash_app, store, ids = site
    client = dash_app.server.test_client()
    assert client.get("/forecasts?market=NEM&location=VIC1").status_code == 200
    choice = views.initial_choice(store, "NEM", "QLD1", "lear")
    assert (choice.market.chosen, choice.location.chosen, choice.model.chosen) == ("NEM", "SA1", "naive")
    assert choice.model.offered == ("naive", "daily-naive")
    assert len(choice.notes) == 2 and "QLD1" in choice.notes[0]
    # the layout as Dash's page registry holds it (importing the module again would register the page twice)
    layout = next(p["layout"] for p in dash.page_registry.values() if p["path"] == "/forecasts")
    with dash_app.server.test_request_context("/forecasts"):
        opened = json.dumps(layout(market="NEM", location="VIC1", model="daily-naive", issued="nonsense",
                                         horizon="7", tz="<script>"), cls=PlotlyJSONEncoder)
    for said in ("The link's issue time is not usable", "Horizon '7' is not one of 24, 48, 168 hours",
                 "Time zone '<script>' is neither"):
        assert said in opened
    assert '"value": "daily-naive"' in opened
    nav = _nav_forecasts(client.get("/_dash-layout").get_json())
    assert '"disabled": false' in nav  # the navigation links the page now that it is built


def _nav_forecasts(layout) -> str:
    """The navigation link of the forecasts page, as JSON."""
    if isinstance(layout, dict):
        if isinstance(layout.get("props"), dict) and layout["props"].get("id") == "nav-forecasts":
            return json.dumps(layout["props"])
        return "".join(_nav_forecasts(v) for v in layout.values())
    if isinstance(layout, list):
        return "".join(_nav_forecasts(v) for v in layout)
    return ""


def test_an_empty_store_gets_a_message_not_an_error(make_app):
    app = make_app()
    client = app.server.test_client()
    assert client.get("/forecasts").status_code == 200
    response = post_callback(client, app, callback_key(app, "fc-fan.figure"),
                             {"fc-horizon.value": 24, "fc-tz.value": "market"})
    answer = assert_answered(response, "render")["response"]
    assert answer["fc-error"]["is_open"] is False
    assert "No forecasts are stored yet" in answer["fc-notes"]["children"]
    accuracy = post_callback(client, app, callback_key(app, "fc-rolling.figure"), {"fc-window.value": 28})
    scored = assert_answered(accuracy, "accuracy")["response"]
    assert "No forecasts stored yet" in str(scored["fc-accuracy-table"])
    assert answer["fc-download-btn"]["disabled"] is True
    assert scored["fc-download-accuracy-btn"]["disabled"] is True
    assert scored["fc-download-daily-btn"]["disabled"] is True


def test_models_are_offered_by_the_names_readers_know():
    from engine.overview import Pick

    options = views.model_options(Pick(("transformer", "ensemble", "lear", "naive", "daily-naive"), "lear"))
    assert options == [{"label": "Transformer", "value": "transformer"}, {"label": "Ensemble", "value": "ensemble"},
                       {"label": "LEAR", "value": "lear"}, {"label": "Naive (weekly)", "value": "naive"},
                       {"label": "daily-naive", "value": "daily-naive"}]  # the stored name of a model not listed


def test_a_link_to_a_model_not_stored_says_which_is_shown_by_its_name(site):
    _, store, _ = site
    choice = views.initial_choice(store, "NEM", "SA1", "zzz")
    assert choice.model.chosen == "naive"  # preferred to the module's daily-naive runs
    assert choice.notes == ("No forecasts of model 'zzz' are stored; showing Naive (weekly).",)


def test_the_compressed_price_axis_draws_every_price_on_one_axis_and_hovers_the_prices(site):
    """On the compressed axis the bands, the median and the actual prices are drawn at their heights on one
    PriceAxis (chosen from every price the fan draws), with ticks labelled in prices; hover reads the prices. TAS1
    gets an hour at 14,000 AUD/MWh among its demo prices (the file's last test: it adds a location)."""
    _, store, _ = site
    frames = nem_demo_frames(days=PRICE_DAYS, end=LAST_DAY + pd.Timedelta(days=1))
    prices = frames["prices"].loc[frames["prices"]["location"] == "TAS1"].reset_index(drop=True)
    spike = prices["interval_start"].between(pd.Timestamp("2026-10-31 18:00", tz=NEM),
                                             pd.Timestamp("2026-10-31 18:55", tz=NEM))
    prices.loc[spike, "price"] = 14_000.0
    write_tables(store, {"prices": prices})
    start = LAST_DAY.tz_convert("UTC")
    hourly = _hourly(prices, "TAS1")
    runs.save_run(store, "NEM", "TAS1", naive_forecast(hourly.loc[hourly.index < start], start, 48),
                  start - pd.Timedelta(hours=12), "weekly-naive-v1")
    choice = {"fc-location.value": "TAS1", "fc-issued.value": None}
    linear = _render(site, **choice, **{"fc-scale.value": "linear"})["fc-fan"]["figure"]
    compressed = _render(site, **choice, **{"fc-scale.value": "compressed"})["fc-fan"]["figure"]
    before, after = _traces(linear), _traces(compressed)
    assert _values(before["Actual price"]).max() == pytest.approx(14_000.0)
    axis = PriceAxis.for_prices(np.concatenate([_values(before[name]) for name in before]))
    assert axis is not None
    for name in before:
        np.testing.assert_allclose(_values(after[name]), axis(_values(before[name])), err_msg=name)
    np.testing.assert_array_equal(_values(after["Actual price"], "customdata"), _values(before["Actual price"]))
    assert after["Actual price"]["hovertemplate"] == "actual %{customdata:,.2f}<extra></extra>"
    median = np.asarray(after["Median forecast"]["customdata"], dtype=float)
    np.testing.assert_allclose(median[:, 0], _values(before["Median forecast"]))  # hover: the median's price
    yaxis = compressed["layout"]["yaxis"]
    assert yaxis["title"]["text"] == f"AUD/MWh (log beyond ±{axis.bound:,.0f})"
    ticks = np.array([float(t.replace(",", "")) for t in yaxis["ticktext"]])
    assert 10_000 in ticks
    np.testing.assert_allclose(yaxis["tickvals"], axis(ticks))
    assert linear["layout"]["yaxis"] == {"title": {"text": "AUD/MWh"}}
    refused = _render(site, **{"fc-scale.value": "symlog"})
    assert refused["fc-error"]["children"] == "Price axis must be one of linear, compressed."
