"""Price series for signals (native bars, gaps left out, the forecast as it was issued), live signals recorded
once each, their record valued at the stored prices by hand-worked figures, and the scheduled job."""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import os

import numpy as np
import pandas as pd
import pytest

from engine.demo import nem_demo_frames
from engine.forecast import runs
from engine.forecast.base import QUANTILE_LEVELS, Forecast
from engine.signals import record, series
from engine.signals.registry import STRATEGIES
from engine.store import DEMO_SOURCE, Store, migrate, write_tables

NEM = "Etc/GMT-10"  # NEM time, UTC+10 all year


def local(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=NEM).tz_convert("UTC")


def store_prices(store: Store, location: str, times: pd.DatetimeIndex, prices, minutes: int = 5,
                 market: str = "NEM", source: str = "test") -> None:
    write_tables(store, {"prices": pd.DataFrame({
        "market": market, "location": location, "price_kind": "settlement", "interval_start": times,
        "interval_minutes": minutes, "price": np.asarray(prices, dtype=float), "source": source})})


def hourly_run(store: Store, location: str, first_hour: pd.Timestamp, values, model: str = "lear",
               issued: pd.Timestamp | None = None) -> str:
    """A run of len(values) hours from ``first_hour`` whose median is ``values`` (quantiles spread around it)."""
    values = np.asarray(values, dtype=float)
    quantiles = values[:, None] + (QUANTILE_LEVELS[None, :] - 0.5) * 10
    forecast = Forecast(pd.date_range(first_hour, periods=len(values), freq="h"), values + 0.25, quantiles, model)
    return runs.save_run(store, "NEM", location, forecast, issued if issued is not None else first_hour, "test-1")


@pytest.fixture(scope="module")
def shared(store_dir):
    """One database for the module's tests of series and the record (migrating one per test costs seconds); each
    test keeps to its own locations."""
    store = Store(f"chdb://{store_dir}?database=signals_{os.getpid()}")
    migrate(store)
    yield store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


_places = itertools.count()


@pytest.fixture
def place(shared) -> str:
    return f"T{next(_places):02d}"


# ------------------------------------------------------------------------------------------------ series


def test_prices_at_the_native_bar_with_gaps_left_out(shared, place):
    half_hours = pd.date_range(local("2026-03-01 00:00"), periods=4, freq="30min")  # before 5-minute settlement
    store_prices(shared, place, half_hours, [40, 41, 42, 43], minutes=30)
    bars = pd.date_range(local("2026-03-02 00:00"), periods=36, freq="5min")
    missing = [5, 6, 20]
    kept = bars.delete(missing)
    store_prices(shared, place, kept, np.arange(len(kept)) + 100.0)
    loaded = series.load_prices(shared, "NEM", place, "2026-03-01", "2026-03-03")
    assert loaded.freq == pd.Timedelta(minutes=5) and loaded.left_out == 4
    assert (loaded.currency, loaded.timezone, loaded.price_kind) == ("AUD", NEM, "settlement")
    assert list(loaded.frame.columns) == ["price"] and not loaded.is_demo
    # no bar is made up: the missing ones are absent, the rest as stored
    pd.testing.assert_index_equal(loaded.frame.index, pd.DatetimeIndex(kept, name="time").as_unit("ns"))
    np.testing.assert_array_equal(loaded.frame["price"], np.arange(len(kept)) + 100.0)
    # UTC instants select by bar start, end exclusive
    part = series.load_prices(shared, "NEM", place, bars[10], bars[12])
    assert list(part.frame["price"]) == [100.0 + 10 - 2, 100.0 + 11 - 2]


def test_a_second_leg_is_kept_on_the_bars_both_hold(shared, place):
    other = place + "B"
    bars = pd.date_range(local("2026-03-05 00:00"), periods=12, freq="5min")
    store_prices(shared, place, bars, np.arange(12.0))
    store_prices(shared, other, bars.delete([3, 4]), np.arange(10.0) * 2)
    loaded = series.load_prices(shared, "NEM", place, "2026-03-05", "2026-03-06", other=other)
    assert list(loaded.frame.columns) == ["price", "other"] and len(loaded.frame) == 10
    assert loaded.frame.loc[bars[5], "price"] == 5.0 and loaded.frame.loc[bars[5], "other"] == 6.0
    assert loaded.other == other and other in loaded.label
    hourly = place + "H"
    store_prices(shared, hourly, pd.date_range(local("2026-03-05 00:00"), periods=2, freq="h"), [1, 2], minutes=60)
    with pytest.raises(series.SeriesError, match="5-minute bars and .* 60-minute"):
        series.load_prices(shared, "NEM", place, "2026-03-05", "2026-03-06", other=hourly)


@pytest.mark.parametrize(("market", "location", "start", "end", "message"), [
    ("MARS", "NSW1", "2026-03-05", "2026-03-06", "unknown market"),
    ("NEM", "NOWHERE", "2026-03-05", "2026-03-06", "no NEM prices are stored for 'NOWHERE'"),
    ("NEM", None, "2026-03-06", "2026-03-05", "must be after"),
    ("NEM", None, "2020-01-01", "2020-01-02", "no NEM .* prices are stored between"),
    ("NEM", None, "someday", "2026-03-06", "start must be a time"),
])
def test_refusals_name_what_is_wrong(shared, place, market, location, start, end, message):
    store_prices(shared, place, pd.date_range(local("2026-03-05 00:00"), periods=3, freq="5min"), [1, 2, 3])
    with pytest.raises(series.SeriesError, match=message):
        series.load_prices(shared, market, location or place, start, end)


def test_the_forecast_column_is_the_run_issued_before_each_bars_day(shared, place):
    days = [local(f"2026-04-0{d} 00:00") for d in (1, 2, 3)]
    bars = pd.date_range(days[0], periods=3 * 288, freq="5min")
    store_prices(shared, place, bars, np.full(len(bars), 50.0))
    hours = np.arange(24.0)
    hourly_run(shared, place, days[0], 100 + hours)  # issued at the start of day 1
    hourly_run(shared, place, days[1], 200 + hours)
    # issued two hours into day 1 for the rest of it and day 2: too late for day 1, older than day 2's own run
    hourly_run(shared, place, days[0] + pd.Timedelta(hours=2), np.full(46, 999.0))
    hourly_run(shared, place, days[2], 300 + hours, model="naive")  # only the weekly naive has day 3
    first = series.load_prices(shared, "NEM", place, "2026-04-01", "2026-04-04", with_forecast=True)
    forecast = first.frame["forecast"]
    # every 5-minute bar carries its hour's median, as issued before its day began
    expected = np.concatenate([100 + hours, 200 + hours, 300 + hours]).repeat(12)
    np.testing.assert_array_equal(forecast.to_numpy(), expected)
    assert first.forecast_models == ("lear", "naive")
    # runs stored later (issued after the day began) change nothing already known
    hourly_run(shared, place, days[1] + pd.Timedelta(hours=5), np.full(19, -555.0))
    hourly_run(shared, place, days[2] + pd.Timedelta(hours=1), np.full(23, -777.0), model="ensemble")
    again = series.load_prices(shared, "NEM", place, "2026-04-01", "2026-04-04", with_forecast=True)
    pd.testing.assert_series_equal(again.frame["forecast"], forecast)
    # the product's ensemble, where it was issued in time, comes first
    hourly_run(shared, place, days[1], 400 + hours, model="ensemble", issued=days[1] - pd.Timedelta(hours=3))
    third = series.load_prices(shared, "NEM", place, "2026-04-01", "2026-04-04", with_forecast=True)
    np.testing.assert_array_equal(third.frame["forecast"].to_numpy(),
                                  np.concatenate([100 + hours, 400 + hours, 300 + hours]).repeat(12))
    assert third.forecast_models == ("ensemble", "lear", "naive")
    # no run at all: NaN, never a value from elsewhere
    bare = place + "N"
    store_prices(shared, bare, bars[:3], [1, 2, 3])
    assert series.load_prices(shared, "NEM", bare, days[0], days[1], with_forecast=True).frame["forecast"].isna().all()


def test_a_range_cut_from_month_pieces_is_the_range_read_whole(shared, place):
    """The app's cache hands load_prices month pieces (prices, as-issued forecasts): every range cut from them,
    across a month's end, is what the range's own queries return, the models its forecast came from included."""
    other = place + "B"
    half_hours = pd.date_range(local("2026-05-29 00:00"), periods=48, freq="30min")  # a day of another bar length
    bars = pd.date_range(local("2026-05-30 00:00"), periods=4 * 288, freq="5min")
    store_prices(shared, place, half_hours, np.arange(48.0), minutes=30)
    store_prices(shared, place, bars, 50 + np.sin(np.arange(len(bars))))
    store_prices(shared, other, bars[::2], 40 + np.cos(np.arange(len(bars[::2]))))
    hours = np.arange(48.0)
    hourly_run(shared, place, local("2026-05-30 00:00"), 100 + hours)  # lear: May's last two days
    hourly_run(shared, place, local("2026-06-01 00:00"), 200 + hours, model="naive")  # naive: June's first two
    hourly_run(shared, place, local("2026-06-02 00:00"), 300 + hours[:24], model="ensemble",
               issued=local("2026-06-01 12:00"))
    asked = []

    def read(fn, *args):
        asked.append(fn.__name__)
        return fn(shared, *args)

    models = set()
    for start, end, second in (("2026-05-29", "2026-06-03", None), ("2026-05-30", "2026-06-01", None),
                               ("2026-05-31", "2026-06-02", other), ("2026-06-02", "2026-06-03", None),
                               ("2026-05-30 06:00", "2026-06-01 00:05", other)):
        whole = series.load_prices(shared, "NEM", place, start, end, other=second, with_forecast=True)
        cut = series.load_prices(shared, "NEM", place, start, end, other=second, with_forecast=True, read=read)
        pd.testing.assert_frame_equal(cut.frame, whole.frame)
        assert cut == dataclasses.replace(whole, frame=cut.frame)  # the rest of it, field by field
        models.add(whole.forecast_models)
    assert {("lear",), ("lear", "naive"), ("ensemble", "naive")} <= models  # the models depend on the range
    assert {"month_prices", "month_issued_hours", "price_kinds", "price_locations"} <= set(asked)
    # without a reader nothing is read through one
    n = len(asked)
    series.load_prices(shared, "NEM", place, "2026-05-30", "2026-06-01", with_forecast=True)
    assert len(asked) == n


def test_locations_offer_each_stored_series_and_its_bar(shared, place):
    store_prices(shared, place, pd.date_range(local("2026-03-07 00:00"), periods=3, freq="5min"), [1, 2, 3])
    found = {(x.market, x.location): x for x in series.locations(shared)}
    mine = found[("NEM", place)]
    assert (mine.price_kind, mine.minutes, mine.currency) == ("settlement", 5, "AUD")
    assert mine.latest == local("2026-03-07 00:10")


# ------------------------------------------------------------------------------------------------ the record


def test_the_live_record_values_each_signal_at_the_stored_prices(shared, place):
    other = place + "B"
    bars = pd.date_range(local("2026-05-01 00:00"), periods=10, freq="5min")
    store_prices(shared, place, bars, [10, 12, 15, 11, 9, 20, 18, 25, 30, 28])
    store_prices(shared, other, bars, [5, 5, 6, 6, 7, 9, 9, 8, 8, 8])
    after = bars[-1] + pd.Timedelta(minutes=5)  # the close of the newest stored bar: nothing executes there yet
    now = pd.Timestamp.now(tz="UTC").floor("ms")
    rows = [  # strategy, other leg, decision time (a bar's close), direction, hedge
        ("mean_reversion", "", bars[2], 1, 0.0), ("mean_reversion", "", bars[5], -1, 0.0),
        ("mean_reversion", "", bars[8], 0, 0.0),
        ("momentum", "", bars[7], 1, 0.0),
        ("volatility", "", bars[3], -1, 0.0), ("volatility", "", after, 1, 0.0),
        ("spread", other, bars[1], 1, 0.5), ("spread", other, bars[6], 0, 0.5),
        ("ml_ensemble", "", now - pd.Timedelta(minutes=5), 1, 0.0),
    ]
    write_tables(shared, {"signals": pd.DataFrame({
        "market": "NEM", "location": place, "other": [r[1] for r in rows], "strategy": [r[0] for r in rows],
        "params": record.params_json({"lookback": 48.0, "entry": 2.0}), "time": [r[2] for r in rows],
        "price_kind": "settlement", "interval_minutes": 5, "direction": [r[3] for r in rows], "confidence": 0.5,
        "price": 1.0, "hedge": [r[4] for r in rows], "source": "test"})})
    got = record.live_record(shared, "NEM", place)
    assert list(got.columns) == list(record.RECORD_COLUMNS)
    assert got["time"].is_monotonic_increasing and len(got) == len(rows)
    by = {(r.strategy, r.time): r for r in got.itertuples()}
    # long at 15 (bar 2), reversed at 20 (bar 5): +5; short from 20 until flat at 30 (bar 8): −10
    mr = [by[("mean_reversion", bars[i])] for i in (2, 5, 8)]
    assert [(r.status, r.pnl, r.entry_price, r.exit_price) for r in mr[:2]] == [("closed", 5.0, 15.0, 20.0),
                                                                              ("closed", -10.0, 20.0, 30.0)]
    assert (mr[2].status, mr[2].pnl) == ("flat", 0.0) and pd.isna(mr[2].exit_time)
    # open: marked to the newest stored price (28)
    momentum = by[("momentum", bars[7])]
    assert (momentum.status, momentum.pnl, momentum.exit_time) == ("open", 3.0, bars[9])
    # a change not executed yet: pending, and the short before it still open
    vol = [by[("volatility", t)] for t in (bars[3], after)]
    assert (vol[0].status, vol[0].pnl) == ("open", -(28.0 - 11.0))
    assert vol[1].status == "pending" and np.isnan(vol[1].pnl) and pd.isna(vol[1].entry_time)
    # a spread holds the second leg at its hedge: long 12 → 18 less 0.5 × (5 → 9) of the other
    spread = by[("spread", bars[1])]
    assert (spread.other, spread.status, spread.pnl) == (other, "closed", (18.0 - 12.0) - 0.5 * (9.0 - 5.0))
    # recorded long after its decision is not live; one recorded within the market's delay is
    assert not mr[0].live and by[("ml_ensemble", now - pd.Timedelta(minutes=5))].live
    summary = record.live_summary(got).set_index("strategy")
    assert list(summary.columns) == list(record.SUMMARY_COLUMNS)[1:]
    assert list(summary.index) == ["mean_reversion", "momentum", "spread", "volatility", "ml_ensemble"]
    assert summary.loc["mean_reversion", ["signals", "trades", "closed", "wins"]].tolist() == [3, 2, 2, 1]
    assert summary.loc["mean_reversion", "hit_rate"] == 0.5 and summary.loc["mean_reversion", "realised_pnl"] == -5.0
    assert summary.loc["momentum", "open_pnl"] == 3.0 and np.isnan(summary.loc["momentum", "hit_rate"])
    assert summary.loc["volatility", "direction"] == 1 and summary.loc["volatility", "open_pnl"] == -17.0
    assert record.live_record(shared, "NEM", place + "Z").empty


def test_live_signals_are_recorded_once_and_go_with_the_demo_prices(store):
    write_tables(store, nem_demo_frames(days=21), source=DEMO_SOURCE)
    latest = pd.Timestamp(nem_demo_frames(days=1)["prices"]["interval_start"].max()) + pd.Timedelta(minutes=5)
    earlier = latest - pd.Timedelta(days=2)
    first = record.record_live(store, now=earlier)
    assert set(first["strategy"]) == set(STRATEGIES)  # the demo's default NSW1, its spread against QLD1
    assert (first["location"] == "NSW1").all() and set(first.loc[first["strategy"] == "spread", "other"]) == {"QLD1"}
    assert (first["source"] == DEMO_SOURCE).all() and first["time"].max() <= earlier
    assert first["time"].min() >= earlier - pd.Timedelta(days=record.CATCH_UP_DAYS)
    for name, strategy in STRATEGIES.items():
        mine = first.loc[first["strategy"] == name]
        assert (mine["params"] == record.params_json(strategy.defaults)).all()
        assert (np.diff(mine["direction"].to_numpy()) != 0).all()  # changes only
        assert json.loads(mine["params"].iloc[0]) == {k: float(v) for k, v in strategy.defaults.items()}
    stored = int(store.scalar("SELECT count() FROM signals"))
    assert stored == len(first)
    # the same run again records nothing; the same decisions written again are still stored once
    assert record.record_live(store, now=earlier).empty
    write_tables(store, {"signals": first})
    store.insert_df("signals", first.assign(batch_id=np.uint64(1)))
    assert int(store.scalar("SELECT count() FROM signals FINAL")) == stored
    # later runs record only what was decided since
    later = record.record_live(store)
    assert len(later) and later["time"].min() > first["time"].max() and later["time"].max() <= latest
    live = record.live_record(store, "NEM")
    assert len(live) == stored + len(later) and set(live["status"]) <= {"flat", "open", "closed", "pending"}
    assert (live.loc[live["status"] == "closed", "pnl"].notna()).all()
    summary = record.live_summary(live)
    assert set(summary["strategy"]) == set(STRATEGIES) and (summary["signals"] > 0).all()
    # real prices of the market replace the demo's, and the signals decided on demo prices go with them
    store_prices(store, "NSW1", pd.DatetimeIndex([latest]), [70.0])
    assert int(store.scalar("SELECT count() FROM signals")) == 0


class _Refuse:
    def acquire(self, job_id: str, fired_at: dt.datetime) -> bool:
        return False


def test_the_scheduled_job_records_and_runs_once_per_firing(store, store_url):
    from flask import Flask
    from flask_caching import Cache

    from app.scheduler import build_scheduler
    from app.services import EXTENSION_KEY, Services
    from app.settings import Settings
    from app.signalling import SIGNAL_JOB, record_signals
    from engine.jobs import recent_runs

    # the job reads the store through the app's services: a bare server holding them (no pages needed)
    server = Flask(__name__)
    server.extensions[EXTENSION_KEY] = Services(Settings(store_url=store_url, scheduler=False, demo=False), store,
                                                Cache())
    write_tables(store, nem_demo_frames(days=10), source=DEMO_SOURCE)
    fired = dt.datetime(2026, 10, 31, 14, 2, tzinfo=dt.UTC)
    run = record_signals(server, now=lambda: fired)
    assert run.status == "succeeded" and run.rows_written == int(store.scalar("SELECT count() FROM signals")) > 0
    assert recent_runs(store, job=SIGNAL_JOB[0]).iloc[0]["status"] == "succeeded"
    assert record_signals(server, lock=_Refuse(), now=lambda: fired) is None
    job = build_scheduler(server).get_job(SIGNAL_JOB[0])
    assert job is not None and job.name == SIGNAL_JOB[1]
