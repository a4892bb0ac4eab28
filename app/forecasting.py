"""Forecasting inside the serving process: the hourly issue job, the nightly transformer trainer, and the first
start's catch-up (baselines at once, then each series' transformer, trained in a spawned worker process).

Training runs one series at a time in its own thread pool, never on a request thread or the backfill thread,
and the worker process uses ``TRAINING_THREADS`` torch threads, so on two cores one stays free for the pages.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future
from functools import partial
from pathlib import Path

import pandas as pd
from flask import Flask

from app.services import services
from engine.forecast import registry
from engine.forecast.history import Series
from engine.forecast.issue import IssueError, Issued, issue_all, train_series, trainable_series
from engine.store import Store
from engine.training import register_trainer
from engine.workers import BackgroundPool

log = logging.getLogger(__name__)
FORECASTING_KEY = "c254_forecasting"
#: Torch threads of the training worker process.
TRAINING_THREADS = 1
#: The hourly job: each series' runs are issued once its day has landed (a run a day per model).
ISSUE_JOB = ("forecast_issue", "Issue forecasts (each series' next day, once its data has landed)", {"minute": "50"})


def train_in_worker_process(frame: pd.DataFrame, settings: dict, progress) -> tuple[bytes, dict]:
    from engine.forecast.worker import train_in_worker  # multiprocessing and torch only when training

    return train_in_worker(frame, settings, threads=TRAINING_THREADS, progress=progress)


def train_transformers(store: Store, folder: Path, only: list[Series] | None = None, progress=None) -> int:
    """Train (and issue from) the transformer of every series with the history for one; returns how many
    trained. A series that fails is logged and recorded in its job run; the others still train."""
    trained = 0
    for series in trainable_series(store) if only is None else only:
        try:
            train_series(store, series, folder, train_in_worker_process, progress)
            trained += 1
        except IssueError as exc:  # the data says no (too little history): a condition, not a fault to trace
            log.warning("not training the transformer of %s: %s", series.key, exc)
        except Exception:
            log.exception("training the transformer of %s failed", series.key)
    return trained


def untrained_series(store: Store) -> list[Series]:
    return [s for s in trainable_series(store)
            if registry.latest_model(store, s.market, s.location, "transformer") is None]


class Forecasting:
    """The one thread forecasting work runs on in this process (issuing and training queue behind each other)."""

    def __init__(self, server: Flask):
        self.server = server
        self.pool = BackgroundPool(max_workers=1, thread_name_prefix="forecasting")

    @property
    def folder(self) -> Path:
        return services(self.server).settings.models_dir

    def issue(self) -> Future:
        return self.pool.submit(self._issue)

    def _issue(self) -> list[Issued]:
        return issue_all(services(self.server).ready_store())

    def first_start(self) -> Future:
        """Issue what is owed, then train each series that has no transformer yet (and issue its runs)."""
        def catch_up() -> int:
            store = services(self.server).ready_store()
            issue_all(store)
            return train_transformers(store, self.folder, untrained_series(store))
        return self.pool.submit(catch_up)


def forecasting(server: Flask) -> Forecasting:
    if FORECASTING_KEY not in server.extensions:
        server.extensions[FORECASTING_KEY] = Forecasting(server)
    return server.extensions[FORECASTING_KEY]


def init_app(server: Flask) -> None:
    """Register the transformer's nightly trainer with the app's models folder."""
    register_trainer("transformer", partial(train_transformers, folder=services(server).settings.models_dir))
