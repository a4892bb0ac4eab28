"""Forecasting as the admin page reports it: each series' transformer training (its newest job run, with
progress), every trained model in the registry, and each model's latest issued run per series."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.forecast import registry, runs
from engine.forecast.views import TrainingProgress, training_job
from engine.store import Store

#: The status of a series whose transformer has never started training.
NEVER = "never trained"
_PREFIX = training_job("", "").split(":", 1)[0] + ":"


@dataclass(frozen=True)
class SeriesTraining(TrainingProgress):
    """A series' newest transformer training run (job_runs), or NEVER: the page's progress, named by series."""
    market: str = ""
    location: str = ""


@dataclass(frozen=True)
class ForecastingStatus:
    training: tuple[SeriesTraining, ...]  # by market, location
    models: tuple[registry.ModelRecord, ...]  # newest trained first
    latest_runs: pd.DataFrame  # runs.latest_runs: market, location, model, runs, latest, ...


def series_of_training_job(job: str) -> tuple[str, str] | None:
    """(market, location) of a job named by ``training_job``; None for any other job (the nightly
    "train:transformer" of engine.training has no location)."""
    if not job.startswith(_PREFIX):
        return None
    market, sep, location = job[len(_PREFIX):].partition(":")
    return (market, location) if sep and market and location else None


def training_states(store: Store, series: set[tuple[str, str]] | None = None) -> list[SeriesTraining]:
    """The newest training run of every series that has one, and NEVER for each of ``series`` that has none."""
    found = store.query_df(
        "SELECT job, argMax(status, started_at) AS status, argMax(progress_done, started_at) AS done, "
        "argMax(progress_total, started_at) AS total, max(started_at) AS last_started, "
        "argMax(finished_at, started_at) AS last_finished, argMax(error, started_at) AS error "
        "FROM job_runs FINAL WHERE startsWith(job, {p:String}) GROUP BY job", {"p": _PREFIX})
    states = {}
    for row in found.itertuples():
        key = series_of_training_job(row.job)
        if key is not None:
            finished = None if pd.isna(row.last_finished) or row.status == "running" else row.last_finished
            states[key] = SeriesTraining(str(row.status), int(row.done), int(row.total), row.last_started,
                                         str(row.error), finished, market=key[0], location=key[1])
    for key in (series or set()) - set(states):
        states[key] = SeriesTraining(NEVER, market=key[0], location=key[1])
    return [states[k] for k in sorted(states)]


def forecasting_status(store: Store, model_limit: int = 100) -> ForecastingStatus:
    """Everything the admin page's "Forecast models" section shows: the training of every series with a
    training run, a trained model or stored runs; the newest ``model_limit`` trained models; the latest runs."""
    models = registry.recorded_models(store, model_limit)
    latest = runs.latest_runs(store)
    series = {(m.market, m.location) for m in models} | set(zip(latest["market"], latest["location"], strict=True))
    return ForecastingStatus(tuple(training_states(store, series)), tuple(models), latest)
