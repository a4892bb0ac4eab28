"""Forecasts kept as issued: a run reads back exactly, is never overwritten, is found as it stood at a time, and
its day-ahead accuracy (MAE, rMAE, band coverage, error by hour) matches figures worked out by hand."""
from __future__ import annotations

import itertools
import os

import numpy as np
import pandas as pd
import pytest

from engine.forecast import runs
from engine.forecast.base import QUANTILE_LEVELS, Forecast
from engine.store import Store, migrate, write_tables

NEM = "Etc/GMT-10"  # NEM time, UTC+10 all year


def local(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=NEM).tz_convert("UTC")


def spread_forecast(start: pd.Timestamp, point, widths, model: str = "lear") -> Forecast:
    """A forecast of len(point) hours from ``start`` whose quantile at level τ is point + (τ − 0.5) × width."""
    point = np.asarray(point, dtype=float)
    quantiles = point[:, None] + (QUANTILE_LEVELS[None, :] - 0.5) * np.asarray(widths, dtype=float)[:, None]
    return Forecast(pd.date_range(start, periods=len(point), freq="h"), point, quantiles, model)


def random_forecast(start: pd.Timestamp, hours: int = 48, seed: int = 0, model: str = "lear") -> Forecast:
    rng = np.random.default_rng(seed)
    quantiles = np.sort(rng.normal(80, 30, size=(hours, len(QUANTILE_LEVELS))), axis=1)
    return Forecast(pd.date_range(start, periods=hours, freq="h"), rng.normal(80, 20, hours), quantiles, model)


def store_prices(store, location: str, prices: dict[pd.Timestamp, float]) -> None:
    times = pd.DatetimeIndex(list(prices))
    write_tables(store, {"prices": pd.DataFrame({
        "market": "NEM", "location": location, "price_kind": "settlement", "interval_start": times,
        "interval_minutes": 60, "price": list(prices.values()), "source": "test"})})


@pytest.fixture(scope="module")
def shared(store_dir):
    """One database for the module (migrating a fresh one per test costs seconds); each test keeps to its own
    location, so tests see only their own runs."""
    store = Store(f"chdb://{store_dir}?database=forecast_runs_{os.getpid()}")
    migrate(store)
    yield store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


_places = itertools.count()


@pytest.fixture
def place(shared) -> str:
    """A location of its own for one test."""
    return f"T{next(_places)}"


@pytest.fixture
def priced(shared, place) -> str:
    """The test's location, holding a settlement price, so runs have a default price series."""
    store_prices(shared, place, {local("2026-09-01 00:00"): 50.0})
    return place


def counts(store, location: str) -> tuple[int, int]:
    params = {"l": location}
    return (int(store.scalar("SELECT count() FROM forecast_runs WHERE location = {l:String}", params)),
            int(store.scalar("SELECT count() FROM forecast_values WHERE location = {l:String}", params)))


def test_a_run_reads_back_exactly_as_saved(shared, priced):
    forecast = random_forecast(local("2026-09-10 00:00"))
    issued = local("2026-09-09 12:00")
    run_id = runs.save_run(shared, "NEM", priced, forecast, issued, "lear-v1",
                           {"windows": [56, 84], "alpha": np.float64(0.5), "trained": pd.Timestamp("2026-09-01")})
    stored = runs.run_forecast(shared, run_id)
    assert stored.forecast.times.equals(forecast.times)
    assert np.array_equal(stored.forecast.point, forecast.point)
    assert np.array_equal(stored.forecast.quantiles, forecast.quantiles)
    assert stored.forecast.model == "lear"
    run = stored.run
    assert (run.market, run.location, run.model, run.model_version, run.price_kind) == \
        ("NEM", priced, "lear", "lear-v1", "settlement")
    assert (run.issued_at, run.first_target, run.horizon_hours, run.interval_minutes) == \
        (issued, forecast.times[0], 48, 60)
    assert run.settings == {"windows": [56, 84], "alpha": 0.5, "trained": "2026-09-01T00:00:00"}
    assert runs.run_forecast(shared, "no-such-run") is None


def test_a_stored_run_is_never_overwritten(shared, priced):
    start, issued = local("2026-09-10 00:00"), local("2026-09-09 12:00")
    first = random_forecast(start, seed=1)
    run_id = runs.save_run(shared, "NEM", priced, first, issued, "lear-v1")
    before = counts(shared, priced)
    with pytest.raises(runs.RunError, match="already stored; a stored run is never overwritten"):
        runs.save_run(shared, "NEM", priced, random_forecast(start, seed=2), issued, "lear-v2")
    assert counts(shared, priced) == before == (1, 48)
    kept = runs.run_forecast(shared, run_id)
    assert np.array_equal(kept.forecast.quantiles, first.quantiles)
    assert kept.run.model_version == "lear-v1"
    # the same issue time of another model, or of another location, is another run
    runs.save_run(shared, "NEM", priced, random_forecast(start, seed=3, model="naive"), issued, "naive")
    assert counts(shared, priced) == (2, 96)


def test_a_dst_day_with_an_hour_left_out_in_utc_is_kept(shared, place):
    """New York's autumn day: 24 local hours from midnight, the repeated 01:00 taken once, are 24 UTC hours with a
    gap of two hours; stored as given, with the price series named (no prices are stored for it)."""
    local_hours = pd.date_range("2026-11-01 00:00", periods=25, freq="h")
    times = local_hours.tz_localize("America/New_York", ambiguous=np.ones(25, bool)).tz_convert("UTC")
    times = times[~times.duplicated()][:24]
    assert (np.diff(times.asi8) == 7200 * 10**9).sum() == 1
    forecast = random_forecast(times[0], hours=24, model="lear")
    forecast = Forecast(times, forecast.point, forecast.quantiles, "lear")
    run_id = runs.save_run(shared, "PJM", place, forecast, times[0] - pd.Timedelta(hours=12), "v",
                           price_kind="DA_LMP")
    stored = runs.run_forecast(shared, run_id)
    assert stored.forecast.times.equals(times)
    assert (stored.run.horizon_hours, stored.run.interval_minutes, stored.run.price_kind) == (25, 60, "DA_LMP")


def test_runs_at_different_issue_times_are_all_kept_newest_first(shared, priced):
    start = local("2026-09-10 00:00")
    ids = [runs.save_run(shared, "NEM", priced, random_forecast(start, seed=i), local("2026-09-09 12:00")
                         + pd.Timedelta(hours=i), "lear-v1") for i in range(3)]
    found = runs.runs(shared, "NEM", priced, "lear")
    assert [r.run_id for r in found] == ids[::-1]
    assert counts(shared, priced) == (3, 144)
    for i, run_id in enumerate(ids):
        assert np.array_equal(runs.run_forecast(shared, run_id).forecast.point, random_forecast(start, seed=i).point)


def test_latest_run_is_the_one_issued_at_or_before_a_time(shared, priced):
    start = local("2026-09-10 00:00")
    issued = [local("2026-09-08 12:00"), local("2026-09-09 06:00"), local("2026-09-09 12:00")]
    ids = [runs.save_run(shared, "NEM", priced, random_forecast(start, seed=i), t, "v") for i, t in enumerate(issued)]
    assert runs.latest_run(shared, "NEM", priced, "lear").run_id == ids[2]
    assert runs.latest_run(shared, "NEM", priced, "lear", issued[1]).run_id == ids[1]
    assert runs.latest_run(shared, "NEM", priced, "lear", issued[1] + pd.Timedelta(hours=5)).run_id == ids[1]
    assert runs.latest_run(shared, "NEM", priced, "lear", issued[0] - pd.Timedelta(minutes=1)) is None
    assert runs.latest_run(shared, "NEM", priced, "naive") is None


def test_accuracy_matches_the_hand_worked_example(shared, place):
    """Day D = 2026-09-10 (NEM time). Actual prices: 00:00 → 100, 01:00 → 120; a week earlier 90 and 150, so the
    weekly naive errs by 10 and 30 (MAE 20). The lear run issued on D−1 at 12:00 says 104 and 110 (errors 4 and
    10: MAE 7, rMAE 7/20 = 0.35). Its quantiles are point + (τ − 0.5) × width, width 20 at 00:00 (50 % band
    99–109 holds 100) and 24 at 01:00 (the 80 % band reaches 119.6 and misses 120; the 90 % band reaches 120.8):
    coverage 50 % → 1/2, 80 % → 1/2, 90 % → 2/2, 98 % → 2/2."""
    store_prices(shared, place, {local("2026-09-03 00:00"): 90.0, local("2026-09-03 01:00"): 150.0,
                         local("2026-09-10 00:00"): 100.0, local("2026-09-10 01:00"): 120.0})
    day = local("2026-09-10 00:00")
    # an earlier run of the day before (superseded by the later one), and one forecasting from 06:00 of D (it
    # saw D's first hours: the day-ahead run of D+1, which has no prices yet): neither is scored for D
    runs.save_run(shared, "NEM", place, spread_forecast(day, [0.0] * 24, [1.0] * 24), local("2026-09-09 06:00"), "v")
    runs.save_run(shared, "NEM", place, spread_forecast(day, [104.0, 110.0] + [0.0] * 22, [20.0, 24.0] + [1.0] * 22),
                  local("2026-09-09 12:00"), "v")
    runs.save_run(shared, "NEM", place, spread_forecast(local("2026-09-10 06:00"), [0.0] * 48, [1.0] * 48),
                  local("2026-09-10 06:00"), "v")
    # the weekly naive model's own run: its rMAE is 1 by definition
    runs.save_run(shared, "NEM", place, spread_forecast(day, [90.0, 150.0] + [0.0] * 22, [40.0] * 24, "naive"),
                  local("2026-09-09 13:00"), "naive")
    # issued 20 minutes into the day, but forecasting from its start (it saw no price of the day): D's run
    runs.save_run(shared, "NEM", place, spread_forecast(day, [101.0, 121.0] + [0.0] * 22, [4.0] * 24, "late"),
                  local("2026-09-10 00:20"), "late")

    acc = runs.accuracy(shared, "NEM", place, window=7)
    assert acc.models == ("late", "lear", "naive")
    assert (acc.summary.loc["late", "mae"], acc.summary.loc["late", "rmae"]) == (1.0, 0.05)
    lear, naive = acc.summary.loc["lear"], acc.summary.loc["naive"]
    assert (lear["hours"], lear["mae"], lear["naive_mae"]) == (2, pytest.approx(7.0), pytest.approx(20.0))
    assert lear["rmae"] == pytest.approx(0.35)
    assert (naive["mae"], naive["rmae"]) == (pytest.approx(20.0), pytest.approx(1.0))
    lear_cover = acc.coverage.loc[acc.coverage["model"] == "lear"].set_index("nominal")["observed"]
    assert lear_cover.to_dict() == {0.5: 0.5, 0.8: 0.5, 0.9: 1.0, 0.98: 1.0}
    by_hour = acc.by_hour.loc[acc.by_hour["model"] == "lear"].set_index("hour")["mae"]
    assert by_hour.to_dict() == {0: pytest.approx(4.0), 1: pytest.approx(10.0)}
    rolling = acc.rolling.loc[acc.rolling["model"] == "lear"]
    assert rolling["day"].tolist() == [day]
    assert (rolling["mae"].iloc[0], rolling["rmae"].iloc[0]) == (pytest.approx(7.0), pytest.approx(0.35))
    assert acc.baseline["mae"].tolist() == [pytest.approx(20.0)]
    # the naive run forecast the price 168 h earlier on the very hours the baseline covers: it is the baseline
    assert acc.baseline_model == "naive"


def test_rolling_accuracy_sums_the_window_not_the_daily_means(shared, place):
    """Two days scored a day apart, window 7: the second day's figure pools both days' hours."""
    prices = {}
    for d, (actual, week_before) in enumerate([(100.0, 90.0), (100.0, 70.0)]):
        prices[local(f"2026-09-{10 + d} 00:00")] = actual
        prices[local(f"2026-09-{3 + d} 00:00")] = week_before
    store_prices(shared, place, prices)
    for d, point in enumerate([98.0, 106.0]):
        runs.save_run(shared, "NEM", place, spread_forecast(local(f"2026-09-{10 + d} 00:00"), [point] * 24,
                                                                   [1.0] * 24),
                      local(f"2026-09-{9 + d} 12:00"), "v")
    rolling = runs.accuracy(shared, "NEM", place, window=7).rolling
    assert rolling["mae"].tolist() == [pytest.approx(2.0), pytest.approx(4.0)]  # (2 + 6) / 2
    assert rolling["rmae"].tolist() == [pytest.approx(0.2), pytest.approx(8 / 40)]
    one_day = runs.accuracy(shared, "NEM", place, window=1).rolling
    assert one_day["mae"].tolist() == [pytest.approx(2.0), pytest.approx(6.0)]


def test_a_naive_run_is_the_baseline_only_where_it_covers_the_baselines_hours(shared, place):
    """The baseline pools the hours any model forecast: a naive run of the first day only is not it (its rolling
    MAE differs on the second day), nor is a model that strays from the price 168 h earlier on one hour."""
    prices = {}
    for d, (actual, week_before) in enumerate([(100.0, 90.0), (100.0, 70.0)]):
        prices[local(f"2026-09-{10 + d} 00:00")] = actual
        prices[local(f"2026-09-{3 + d} 00:00")] = week_before
    store_prices(shared, place, prices)
    for d, point in enumerate([98.0, 106.0]):
        runs.save_run(shared, "NEM", place, spread_forecast(local(f"2026-09-{10 + d} 00:00"), [point] * 24,
                                                                   [1.0] * 24), local(f"2026-09-{9 + d} 12:00"), "v")
    runs.save_run(shared, "NEM", place, spread_forecast(local("2026-09-10 00:00"), [90.0] * 24, [1.0] * 24, "naive"),
                  local("2026-09-09 12:00"), "naive")
    assert runs.accuracy(shared, "NEM", place, window=7).baseline_model is None
    runs.save_run(shared, "NEM", place, spread_forecast(local("2026-09-11 00:00"), [70.5] * 24, [1.0] * 24, "naive"),
                  local("2026-09-10 12:00"), "naive")
    assert runs.accuracy(shared, "NEM", place, window=7).baseline_model is None
    runs.save_run(shared, "NEM", place, spread_forecast(local("2026-09-11 00:00"), [70.0] * 24, [1.0] * 24, "naive"),
                  local("2026-09-10 13:00"), "naive")
    acc = runs.accuracy(shared, "NEM", place, window=7)
    assert acc.baseline_model == "naive"
    naive = acc.rolling.loc[acc.rolling["model"] == "naive", "mae"].to_numpy()
    assert np.array_equal(naive, acc.baseline["mae"].to_numpy())


def test_no_runs_no_accuracy(shared, place):
    acc = runs.accuracy(shared, "NEM", place)
    assert acc.empty and acc.models == ()
    assert runs.runs(shared, "NEM", place) == []


def _bad(forecast: Forecast, **changes) -> Forecast:
    return Forecast(**{"times": forecast.times, "point": forecast.point, "quantiles": forecast.quantiles,
                       "model": forecast.model, **changes})


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: _bad(f, quantiles=f.quantiles[:, :98]), "quantiles must be 48 × 99"),
    (lambda f: _bad(f, point=f.point[:47]), "one value per target time"),
    (lambda f: _bad(f, point=np.where(np.arange(48) == 5, np.nan, f.point)), "not finite"),
    (lambda f: _bad(f, quantiles=np.where(np.arange(99) == 3, np.inf, f.quantiles)), "not finite"),
    (lambda f: _bad(f, quantiles=f.quantiles[:, ::-1]), "must not decrease"),
    (lambda f: _bad(f, times=f.times.tz_localize(None)), "tz-aware"),
    (lambda f: _bad(f, times=f.times[[0, 1, 1, *range(3, 48)]]), "must increase"),
    (lambda f: _bad(f, times=f.times + pd.to_timedelta(np.where(np.arange(48) == 5, 7, 0), unit="min")),
     "whole intervals of 53 minutes apart"),
    (lambda f: _bad(f, model="LEAR; DROP TABLE"), "is not a name"),
])
def test_bad_runs_are_refused_and_nothing_is_written(shared, priced, change, message):
    good = random_forecast(local("2026-09-10 00:00"))
    with pytest.raises(runs.RunError, match=message):
        runs.save_run(shared, "NEM", priced, change(good), local("2026-09-09 12:00"), "v")
    assert counts(shared, priced) == (0, 0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"market": "MARS"}, "unknown market"),
    ({"location": "SA1' OR 1=1"}, "is not a name"),
    ({"issued_at": pd.Timestamp("2026-09-09 12:00")}, "has no time zone"),
    ({"issued_at": local("2026-09-10 01:00")}, "after the first interval forecast .* had ended"),
    ({"model_version": ""}, "model_version"),
    ({"settings": {"x": float("nan")}}, "JSON"),
    ({"location": "VIC1"}, "no NEM VIC1 prices are stored"),
])
def test_bad_run_details_are_refused(shared, priced, kwargs, message):
    args = {"market": "NEM", "location": priced, "forecast": random_forecast(local("2026-09-10 00:00")),
            "issued_at": local("2026-09-09 12:00"), "model_version": "v", "settings": None, **kwargs}
    with pytest.raises(runs.RunError, match=message):
        runs.save_run(shared, **args)
    assert counts(shared, priced) == (0, 0)


def test_the_day_a_run_forecasts_ahead_follows_the_market_calendar():
    """The first market day starting at or after the run's first target hour, in the market's own zone: New York
    across the spring change (a 23-hour day), and Sao Paulo's 2018 change, when midnight did not exist."""
    first = pd.Series(pd.to_datetime(["2026-03-07 17:00", "2026-03-08 05:00", "2026-03-08 06:00"], utc=True))
    assert runs.day_ahead_of(first, "America/New_York").tolist() == [
        pd.Timestamp("2026-03-08 05:00", tz="UTC"), pd.Timestamp("2026-03-08 05:00", tz="UTC"),
        pd.Timestamp("2026-03-09 04:00", tz="UTC")]
    brazil = runs.day_ahead_of(pd.Series(pd.to_datetime(["2018-11-03 15:00"], utc=True)), "America/Sao_Paulo")
    assert brazil.tolist() == [pd.Timestamp("2018-11-04 03:00", tz="UTC")]  # 01:00 local, the day's first hour


def store_predispatch(store, location: str, issued: pd.Timestamp, values: dict[pd.Timestamp, float]) -> None:
    """One AEMO pre-dispatch price run (30-minute intervals) of a location, as the NEM connector stores it."""
    write_tables(store, {"operator_forecasts": pd.DataFrame({
        "market": "NEM", "location": location, "variable": "price", "report": "predispatch", "issued_at": issued,
        "interval_minutes": 30, "interval_start": pd.DatetimeIndex(list(values)), "value": list(values.values()),
        "source": "test"})})


def test_the_operators_forecast_is_scored_beside_ours_on_the_same_hours(shared, place):
    """Day D = 2026-09-10 (NEM time). Actual prices 00:00 → 100, 01:00 → 120, 02:00 → 80, 05:00 → 70; a week
    earlier 90, 150, 60, 70 (the weekly naive errs by 10, 30, 20 on the hours lear forecast: MAE 20). Lear's run
    (issued D−1 12:00) forecasts 00:00–02:00 only: 104, 110, 85 (MAE 19/3).
    AEMO pre-dispatch runs: one of D−1 11:30 (all 1000; superseded), one of D−1 23:30 (the newest issued by D's
    start: half hours 00:00 96, 00:30 100 → 98, error 2; 01:00 124, 01:30 128 → 126, error 6; 02:00 only, its
    02:30 missing, so hour 02 is not whole and not scored; 05:00 whole, but lear did not forecast it), and one of
    D 00:30 (all 0; issued after D began). So the operator: 2 hours, MAE 4, naive MAE (10 + 30) / 2 = 20, rMAE 0.2."""
    store_prices(shared, place, {
        local("2026-09-03 00:00"): 90.0, local("2026-09-03 01:00"): 150.0, local("2026-09-03 02:00"): 60.0,
        local("2026-09-03 05:00"): 70.0, local("2026-09-10 00:00"): 100.0, local("2026-09-10 01:00"): 120.0,
        local("2026-09-10 02:00"): 80.0, local("2026-09-10 05:00"): 70.0})
    day = local("2026-09-10 00:00")
    runs.save_run(shared, "NEM", place, spread_forecast(day, [104.0, 110.0, 85.0], [10.0] * 3),
                  local("2026-09-09 12:00"), "v")
    half_hours = pd.date_range(local("2026-09-09 12:00"), local("2026-09-11 04:00"), freq="30min", inclusive="left")
    store_predispatch(shared, place, local("2026-09-09 11:30"), dict.fromkeys(half_hours, 1000.0))
    late = {t: 50.0 for t in half_hours if t >= local("2026-09-09 23:30") and t != local("2026-09-10 02:30")}
    late.update({local("2026-09-10 00:00"): 96.0, local("2026-09-10 00:30"): 100.0,
                 local("2026-09-10 01:00"): 124.0, local("2026-09-10 01:30"): 128.0})
    store_predispatch(shared, place, local("2026-09-09 23:30"), late)
    store_predispatch(shared, place, local("2026-09-10 00:30"),
                      {t: 0.0 for t in half_hours if t >= local("2026-09-10 00:30")})

    acc = runs.accuracy(shared, "NEM", place, window=7)
    assert acc.models == ("lear", "operator")
    assert acc.labels == {"lear": "LEAR", "operator": "AEMO pre-dispatch"}
    lear, operator = acc.summary.loc["lear"], acc.summary.loc["operator"]
    assert (lear["hours"], lear["mae"], lear["naive_mae"]) == (3, pytest.approx(19 / 3), pytest.approx(20.0))
    assert (operator["hours"], operator["mae"], operator["naive_mae"]) == (2, pytest.approx(4.0), pytest.approx(20.0))
    assert operator["rmae"] == pytest.approx(0.2)
    assert set(acc.coverage["model"]) == {"lear"}, "no quantiles, no coverage"
    by_hour = acc.by_hour.loc[acc.by_hour["model"] == "operator"].set_index("hour")["mae"]
    assert by_hour.to_dict() == {0: pytest.approx(2.0), 1: pytest.approx(6.0)}
    rolling = acc.rolling.loc[acc.rolling["model"] == "operator"]
    assert rolling["day"].tolist() == [day]
    assert (rolling["mae"].iloc[0], rolling["rmae"].iloc[0]) == (pytest.approx(4.0), pytest.approx(0.2))
    assert acc.baseline["mae"].tolist() == [pytest.approx(20.0)], "the naive over the hours our runs forecast"
    # asked for by name, alone or beside a model; left out when not asked for
    alone = runs.accuracy(shared, "NEM", place, models=["operator"], window=7)
    assert alone.models == ("operator",) and alone.summary.loc["operator", "mae"] == pytest.approx(4.0)
    assert runs.accuracy(shared, "NEM", place, models=["lear"], window=7).models == ("lear",)


def test_no_operator_forecast_before_the_day_no_operator_row(shared, place):
    """Only a run issued after the day began: nothing the operator knew before the day to score."""
    store_prices(shared, place, {local("2026-09-03 00:00"): 90.0, local("2026-09-10 00:00"): 100.0})
    runs.save_run(shared, "NEM", place, spread_forecast(local("2026-09-10 00:00"), [104.0], [10.0]),
                  local("2026-09-09 12:00"), "v")
    store_predispatch(shared, place, local("2026-09-10 00:30"),
                      {local("2026-09-10 00:00"): 1.0, local("2026-09-10 00:30"): 1.0})
    acc = runs.accuracy(shared, "NEM", place, window=7)
    assert acc.models == ("lear",) and acc.labels == {"lear": "LEAR"}


def test_the_operators_name_is_not_a_runs_name(shared, priced):
    with pytest.raises(runs.RunError, match="kept for the operator's own forecast"):
        runs.save_run(shared, "NEM", priced, random_forecast(local("2026-09-10 00:00"), model="operator"),
                      local("2026-09-09 12:00"), "v")
    assert counts(shared, priced) == (0, 0)
