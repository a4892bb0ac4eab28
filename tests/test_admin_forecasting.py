"""The admin page's "Forecast models" section: each series' transformer training (a progress bar while it runs,
the last run's outcome otherwise), the trained models of the registry with their validation MAE, and each model's
latest issued run, read through the operations the admin page calls."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from app.services import services
from engine import jobs
from engine.forecast import registry, runs, status
from engine.forecast.base import QUANTILE_LEVELS, Forecast
from engine.forecast.views import training_job
from tests.test_hardening import assert_answered, callback_key, post_callback

NEM = "Etc/GMT-10"


def _run(start: pd.Timestamp, hours: int, model: str) -> Forecast:
    point = np.full(hours, 80.0)
    return Forecast(pd.date_range(start, periods=hours, freq="h"), point,
                    point[:, None] + (QUANTILE_LEVELS[None, :] - 0.5) * 20, model)


@pytest.fixture
def forecasting_app(make_app, tmp_path):
    """SA1: a recorded transformer (v1), a failed training, naive runs; VIC1: training (3 of 10 steps); QLD1: a
    lear run and no training; and the nightly trainer's own job row, which is no series."""
    app = make_app()
    store = services(app.server).ready_store()
    registry.record_model(store, registry.models_dir(tmp_path), market="NEM", location="SA1", kind="transformer",
                          artefact=b"\x00weights", settings={"width": 64, "depth": 6},
                          window_start=pd.Timestamp("2024-09-01", tz="UTC"),
                          window_end=pd.Timestamp("2026-08-31 23:00", tz="UTC"),
                          metrics={"val_mae": 12.3456, "val_naive_mae": 20.5, "val_rmae": 0.6022, "epochs": 17},
                          seconds=83.4, trained_at=pd.Timestamp("2026-09-01 02:10", tz="UTC"))
    failed = jobs.JobRun(job=training_job("NEM", "SA1"), market="NEM", progress_done=40, progress_total=40,
                         started_at=pd.Timestamp("2026-09-02 02:00", tz="UTC"))
    failed.finish(store, "failed", "TrainingError: too little complete history to train")
    jobs.JobRun(job=training_job("NEM", "VIC1"), market="NEM", progress_done=3, progress_total=10,
                started_at=pd.Timestamp("2026-09-02 02:05", tz="UTC")).save(store)
    jobs.JobRun(job="train:transformer", market="").finish(store, "succeeded")
    day = pd.Timestamp("2026-09-10", tz=NEM).tz_convert("UTC")
    for issued in (day - pd.Timedelta(days=1), day):
        runs.save_run(store, "NEM", "SA1", _run(issued + pd.Timedelta(hours=1), 24, "naive"), issued,
                      "naive-weekly", price_kind="settlement")
    runs.save_run(store, "NEM", "QLD1", _run(day, 168, "lear"), day - pd.Timedelta(hours=12), "lear-epftoolbox",
                  price_kind="settlement")
    return app


def test_the_status_holds_training_models_and_latest_runs(forecasting_app):
    with forecasting_app.server.app_context():
        found = services().operations.forecasting()
    training = {(s.market, s.location): s for s in found.training}
    assert list(training) == [("NEM", "QLD1"), ("NEM", "SA1"), ("NEM", "VIC1")], "no series for train:transformer"
    assert training["NEM", "QLD1"].status == status.NEVER
    sa1, vic1 = training["NEM", "SA1"], training["NEM", "VIC1"]
    assert (sa1.status, sa1.error) == ("failed", "TrainingError: too little complete history to train")
    assert (vic1.running, vic1.done, vic1.total, vic1.share, vic1.finished_at) == (True, 3, 10, 0.3, None)
    [model] = found.models
    assert (model.market, model.location, model.kind, model.version) == ("NEM", "SA1", "transformer", 1)
    assert model.metrics["val_mae"] == 12.3456
    latest = found.latest_runs.set_index(["location", "model"])
    assert latest.loc[("SA1", "naive"), "runs"] == 2
    assert latest.loc[("SA1", "naive"), "latest"] == pd.Timestamp("2026-09-10", tz=NEM)
    assert latest.loc[("QLD1", "lear"), "horizon_hours"] == 168


def _cells(table: dict) -> list[list[str]]:
    """The body rows of a data_table as Dash sends it, each cell as JSON text."""
    body = table["props"]["children"][1]["props"]["children"]
    return [[json.dumps(cell["props"]["children"]) for cell in row["props"]["children"]] for row in body]


def _by_id(children: list, ident: str) -> dict:
    return next(c for c in children if isinstance(c, dict) and c["props"].get("id") == ident)


def test_the_admin_section_shows_progress_models_and_runs(forecasting_app):
    app = forecasting_app
    response = post_callback(app.server.test_client(), app, callback_key(app, "admin-forecasting.children"),
                             {"admin-tick.n_intervals": 1})
    section = assert_answered(response, "forecast models")["response"]["admin-forecasting"]["children"]
    training = {json.loads(row[0]): row for row in _cells(_by_id(section, "admin-training-table"))}
    assert list(training) == ["NEM QLD1", "NEM SA1", "NEM VIC1"]
    running = json.loads(training["NEM VIC1"][2])
    assert (running["type"], running["props"]["value"], running["props"]["label"]) == ("Progress", 30.0, "3/10")
    assert "running" in training["NEM VIC1"][1] and training["NEM VIC1"][4] == '"running"'
    assert "failed" in training["NEM SA1"][1] and "too little complete history" in training["NEM SA1"][5]
    assert "never trained" in training["NEM QLD1"][1]
    [model] = _cells(_by_id(section, "admin-models-table"))
    assert [json.loads(c) for c in model] == ["NEM", "SA1", "transformer", "v1", "2026-09-01 02:10:00 UTC", "83 s",
                                              "2024-09-01 → 2026-08-31", "12.35", "20.50"]
    latest = [[json.loads(c) for c in row] for row in _cells(_by_id(section, "admin-forecast-runs-table"))]
    assert latest == [["NEM", "QLD1", "lear", "1", "2026-09-09 02:00:00 UTC", "lear-epftoolbox",
                       "168 h from 2026-09-09 14:00 UTC"],
                      ["NEM", "SA1", "naive", "2", "2026-09-09 14:00:00 UTC", "naive-weekly",
                       "24 h from 2026-09-09 15:00 UTC"]]


def test_an_empty_store_says_nothing_is_trained_yet(make_app):
    app = make_app()
    response = post_callback(app.server.test_client(), app, callback_key(app, "admin-forecasting.children"),
                             {"admin-tick.n_intervals": 1})
    text = json.dumps(assert_answered(response, "forecast models")["response"])
    for said in ("No series has stored forecasts or a training run yet.", "No model has been trained yet.",
                 "No forecast run has been issued yet."):
        assert said in text


def test_a_series_without_the_history_is_a_warning_and_the_others_still_train(monkeypatch, caplog, tmp_path):
    """train_transformers: too little history (IssueError, e.g. demo prices replaced by a month of real ones
    while training was queued) is logged as a warning saying why, without a traceback; a fault is logged with
    one; either way the next series trains."""
    import logging

    from app import forecasting
    from engine.forecast.issue import IssueError
    from engine.forecast.history import Series

    def train(store, series, folder, trainer, progress):
        if series.location == "TAS1":
            raise IssueError("NEM:TAS1: 0 days of prices before 2016-01-05; the transformer trains on at least 365")
        if series.location == "SA1":
            raise RuntimeError("disk full")

    monkeypatch.setattr(forecasting, "train_series", train)
    chosen = [Series("NEM", place, "settlement") for place in ("TAS1", "SA1", "VIC1")]
    with caplog.at_level(logging.WARNING, logger="app.forecasting"):
        assert forecasting.train_transformers(None, tmp_path, only=chosen) == 1
    records = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert records == [
        ("WARNING", "not training the transformer of NEM:TAS1: NEM:TAS1: 0 days of prices before 2016-01-05; the "
                    "transformer trains on at least 365", False),
        ("ERROR", "training the transformer of NEM:SA1 failed", True)]
