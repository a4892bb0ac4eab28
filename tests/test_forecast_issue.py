"""Issuing forecasts from the store: a fresh store gets its record of day-ahead runs and a week-ahead run, each
issued at the cut-off of the data it used; issuing again adds nothing until a new day lands; the transformer
trains on data before the calibration window, is recorded, reports progress and issues its runs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.demo import nem_demo_frames
from engine.forecast import issue as issuing
from engine.forecast import registry, runs
from engine.forecast.history import Series, history_frame, stored_series, to_local_hours, to_utc
from engine.forecast.views import training_job
from engine.jobs import recent_runs
from engine.store import DEMO_SOURCE, write_tables

NSW = Series("NEM", "NSW1", "settlement")
DAYS = 120
END = pd.Timestamp("2026-11-01", tz="Australia/Brisbane")


@pytest.fixture
def short_record(monkeypatch):
    """Three days of record and a week of warm-up: the same path as the product's 28 + 28, in less time."""
    monkeypatch.setattr(issuing, "RECORD_DAYS", 3)
    monkeypatch.setattr(issuing, "WARMUP_DAYS", 7)


def _load(store, days: int = DAYS, end: pd.Timestamp = END) -> None:
    frames = nem_demo_frames(days=days, end=end)
    frames = {name: f[f["location"] == "NSW1"] for name, f in frames.items()}
    write_tables(store, frames, source=DEMO_SOURCE)


def test_the_history_frame_is_market_hours_of_the_stored_prices(store):
    _load(store, days=20)
    frame = history_frame(store, NSW)
    assert len(frame) == 20 * 24 and frame.index[0] == pd.Timestamp("2026-10-12 00:00")
    # The hourly mean of the twelve 5-minute prices of NEM's 10:00-11:00 (market time) on the first day.
    raw = nem_demo_frames(days=20, end=END)["prices"]
    raw = raw[(raw["location"] == "NSW1")].set_index("interval_start")["price"]
    hour = pd.Timestamp("2026-10-12 10:00", tz="Australia/Brisbane").tz_convert("UTC")
    assert frame.loc["2026-10-12 10:00", "price"] == pytest.approx(raw[hour: hour + pd.Timedelta(minutes=55)].mean())


def test_a_dst_market_keeps_24_local_hours_a_day():
    utc = pd.date_range("2026-10-31 00:00", "2026-11-03 00:00", freq="h", tz="UTC", inclusive="left")
    prices = pd.Series(np.arange(len(utc), dtype=float), index=utc)
    local = to_local_hours(prices, "America/New_York")  # autumn: 01:00 happens twice on 1 November
    assert local.index.is_unique and (np.diff(local.index.asi8) == 3_600 * 10**9).all()
    back = to_utc(local.index, "America/New_York")
    assert back.is_monotonic_increasing and back.is_unique and back.tz is not None


def test_the_spring_hour_that_never_happened_has_no_utc_instant():
    local = pd.date_range("2026-03-08 00:00", periods=24, freq="h")  # New York skips 02:00 that day
    utc = to_utc(local, "America/New_York")
    assert utc.isna().sum() == 1 and pd.isna(utc[2])
    assert utc.dropna().is_unique


def test_a_fresh_store_gets_a_record_and_a_week_ahead(store, short_record):
    _load(store)
    issued = issuing.issue(store, NSW, "naive", issuing.WeeklyNaive(), refit=True, model_version="naive-weekly")
    stored = runs.runs(store, "NEM", "NSW1", "naive")
    assert len(issued.run_ids) == len(stored) == 3 + 1
    newest = max(stored, key=lambda r: r.issued_at)
    # Issued at the cut-off of its data, the start of the day after the last stored day (market midnight).
    assert newest.issued_at == END.tz_convert("UTC")
    assert newest.horizon_hours == issuing.HORIZON_HOURS
    assert all(r.horizon_hours == 24 for r in stored if r is not newest)
    # A day-ahead run of a past day forecast exactly the weekly naive of that day.
    first = min(stored, key=lambda r: r.issued_at)
    forecast = runs.run_forecast(store, first.run_id).forecast
    frame = history_frame(store, NSW)
    day = first.issued_at.tz_convert("Australia/Brisbane").tz_localize(None)
    week_before = frame.loc[day - pd.Timedelta(days=7): day - pd.Timedelta(hours=169 - 24), "price"]
    np.testing.assert_allclose(forecast.point, week_before.to_numpy())


def test_issuing_again_adds_nothing_until_a_day_lands(store, short_record):
    _load(store)
    issuing.issue(store, NSW, "naive", issuing.WeeklyNaive(), refit=True, model_version="naive-weekly")
    again = issuing.issue(store, NSW, "naive", issuing.WeeklyNaive(), refit=True, model_version="naive-weekly")
    assert again.run_ids == ()
    _load(store, days=1, end=END + pd.Timedelta(days=1))  # the next day's prices land
    later = issuing.issue(store, NSW, "naive", issuing.WeeklyNaive(), refit=True, model_version="naive-weekly")
    assert len(later.run_ids) == 1
    assert len(runs.runs(store, "NEM", "NSW1", "naive")) == 5


def test_lear_runs_are_out_of_sample_and_calibrated_bands_contain_their_median(store, short_record):
    _load(store)
    issued = issuing.issue_baselines(store, NSW)
    assert [i.model for i in issued] == ["naive", "lear"]
    lear_run = runs.latest_run(store, "NEM", "NSW1", "lear")
    forecast = runs.run_forecast(store, lear_run.run_id).forecast
    assert np.isfinite(forecast.point).all() and (np.diff(forecast.quantiles, axis=1) >= 0).all()


def test_too_little_history_is_a_clear_error(store):
    _load(store, days=20)
    with pytest.raises(issuing.IssueError, match="too little history"):
        issuing.issue(store, NSW, "lear", issuing.LEAR(), refit=True, model_version="lear")


def _tiny_trainer(frame, settings, progress):
    from engine.forecast.transformer import TransformerModel

    model = TransformerModel(seed=settings["seed"], horizon=settings["horizon"], width=16, depth=1, heads=8,
                             window_days=8, val_days=14, max_epochs=3, patience=2, batch=64, samples=20)
    model.fit(frame, progress=progress)
    return model.to_bytes(), dict(model.metrics)


@pytest.mark.slow
def test_training_records_the_model_reports_progress_and_issues_its_runs(store, short_record, tmp_path):
    pytest.importorskip("torch")
    _load(store, days=400)
    assert stored_series(store, min_days=380) == [NSW]
    assert issuing.trainable_series(store) == [NSW]
    seen = []
    record = issuing.train_series(store, NSW, tmp_path, _tiny_trainer, lambda d, t, m: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1]
    # Trained on nothing after the start of the calibration window's warm-up.
    frame = history_frame(store, NSW)
    cutoff = to_utc(pd.DatetimeIndex([issuing.training_cutoff(frame)]), "Australia/Brisbane")[0]
    assert record.window_end < cutoff
    assert registry.latest_model(store, "NEM", "NSW1", "transformer").model_id == record.model_id
    job = recent_runs(store, job=training_job("NEM", "NSW1")).iloc[0]
    assert job["status"] == "succeeded" and job["progress_done"] == job["progress_total"] > 0
    for model in ("transformer", "ensemble"):
        assert len(runs.runs(store, "NEM", "NSW1", model)) == 3 + 1


def test_a_series_without_the_year_is_not_trained(store, short_record, tmp_path):
    _load(store, days=60)
    assert issuing.trainable_series(store) == []
    with pytest.raises(issuing.IssueError, match="trains on at least"):
        issuing.train_series(store, NSW, tmp_path, _tiny_trainer)
    assert recent_runs(store, job=training_job("NEM", "NSW1")).iloc[0]["status"] == "failed"


# ------------------------------------------------------------------------------------ in the app and the CLI

@pytest.fixture
def app_with_prices(make_app, short_record):
    from app.services import services

    dash_app = make_app()
    _load(services(dash_app.server).ready_store(), days=60)
    return dash_app


def test_the_first_start_issues_the_baselines_in_the_background(app_with_prices):
    from app.forecasting import forecasting
    from app.services import services

    trained = forecasting(app_with_prices.server).first_start().result(timeout=600)
    assert trained == 0  # two months: too little for a transformer
    store = services(app_with_prices.server).store
    assert {r.model for r in runs.runs(store, "NEM", "NSW1")} == {"naive", "lear"}


def test_the_cli_issues_and_says_what(app_with_prices):
    runner = app_with_prices.server.test_cli_runner()
    result = runner.invoke(args=["forecast", "issue"])
    assert result.exit_code == 0, result.output
    assert "NEM NSW1 naive: 4 runs" in result.output and "NEM NSW1 lear: 4 runs" in result.output


def test_the_cli_train_explains_why_nothing_trains(app_with_prices):
    runner = app_with_prices.server.test_cli_runner()
    result = runner.invoke(args=["forecast", "train"])
    assert result.exit_code == 1 and "no stored price series has the history" in result.output
    result = runner.invoke(args=["forecast", "train", "--market", "NEM"])
    assert result.exit_code == 2 and "--market and --location" in result.output
    result = runner.invoke(args=["forecast", "train", "--market", "NEM", "--location", "NSW1"])
    assert result.exit_code == 1 and "trains on at least 365" in result.output
