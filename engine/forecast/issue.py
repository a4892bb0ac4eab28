"""Issuing forecasts from the store, and training the transformer of every series that has the history for it.

A run is issued for a market day once the day before it has landed: it is made from the prices up to the day's
start (its ``issued_at``, the knowledge cut-off, in UTC) and stored as issued (engine.forecast.runs), never
overwritten. Issuing catches up: the days since the newest stored run of a model (at most
``RECORD_DAYS`` back) are issued in turn, each from the data before it, so that a fresh store gets a month of
day-ahead runs to judge the models by, and the latest run covers the week ahead.

Calibration is always out of sample: before the first day issued, ``WARMUP_DAYS`` days are forecast the same
way (not stored) to give the calibrator residuals, and a trained transformer has seen no price after the
start of that warm-up (``training_cutoff``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.forecast import registry, runs
from engine.forecast.base import PRICE, Forecast, Model, visible
from engine.forecast.calibration import Calibrator
from engine.forecast.ensemble import Ensemble
from engine.forecast.history import TRAINING_MIN_DAYS, Series, history_frame, stored_series, to_utc
from engine.forecast.lear import LEAR
from engine.forecast.naive import WeeklyNaive
from engine.forecast.views import training_job
from engine.jobs import JobRun
from engine.markets import MARKETS
from engine.store import Store

log = logging.getLogger(__name__)

DAY = 24
#: The latest run of each model forecasts this far ahead; the day-ahead runs before it, one day.
HORIZON_HOURS = 7 * DAY
#: A fresh store is given this many days of past day-ahead runs.
RECORD_DAYS = 28
#: Days forecast (not stored) before the first issued day so the calibrator starts with residuals.
WARMUP_DAYS = 28
#: Baselines refit this often while catching up (LEAR's four windows take about a second).
REFIT_DAYS = 7
BASELINES = ("naive", "lear")
TRAINED = ("transformer", "ensemble")
#: The transformer as the product trains it (settings beyond the model's defaults), for a week-ahead fan.
TRANSFORMER_SETTINGS = {"seed": 0, "horizon": HORIZON_HOURS}


class IssueError(ValueError):
    """A forecast cannot be issued; the message says why (too little history, no trained model)."""


@dataclass(frozen=True)
class Issued:
    series: Series
    model: str
    run_ids: tuple[str, ...]
    seconds: float


def _day_bounds(frame: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first full day of the frame and the day after its last full day (local midnights)."""
    prices = frame[PRICE].dropna()
    if prices.empty:
        raise IssueError("no prices stored")
    first = prices.index[0].ceil("D")
    after_last = (prices.index[-1] + pd.Timedelta(hours=1)).floor("D")
    return first, after_last


def next_issue_day(frame: pd.DataFrame) -> pd.Timestamp:
    """The market day the next run forecasts: the day after the last complete day of prices."""
    return _day_bounds(frame)[1]


def training_cutoff(frame: pd.DataFrame) -> pd.Timestamp:
    """The last hour (exclusive) a transformer trained now may see: the start of the catch-up's warm-up."""
    return next_issue_day(frame) - pd.Timedelta(days=RECORD_DAYS + WARMUP_DAYS)


def _issue_days(store: Store, series: Series, model: str, frame: pd.DataFrame) -> list[pd.Timestamp]:
    issue_day = next_issue_day(frame)
    first = issue_day - pd.Timedelta(days=RECORD_DAYS)
    latest = runs.latest_run(store, series.market, series.location, model)
    if latest is not None:
        tz = MARKETS[series.market].timezone
        done = latest.issued_at.tz_convert(tz).tz_localize(None).floor("D")
        first = max(first, done + pd.Timedelta(days=1))
    return list(pd.date_range(first, issue_day, freq="D"))


def issue(store: Store, series: Series, model_name: str, model: Model, *, refit: bool, model_version: str,
          settings: dict | None = None) -> Issued:
    """Issue the runs ``model`` owes ``series`` (see the module docstring). ``refit``: fit the model on the
    data before each day (every ``REFIT_DAYS`` days); otherwise it is used as trained."""
    started = time.perf_counter()
    frame = history_frame(store, series)
    days = _issue_days(store, series, model_name, frame)
    if not days:
        return Issued(series, model_name, (), 0.0)
    first_data, _ = _day_bounds(frame)
    warmup_start = max(days[0] - pd.Timedelta(days=WARMUP_DAYS), first_data + pd.Timedelta(days=14))
    if warmup_start >= days[0] and refit:
        raise IssueError(f"{series.market} {series.location}: too little history to issue {model_name} runs "
                         f"({(days[0] - first_data).days} days before {days[0].date()})")
    tz = MARKETS[series.market].timezone
    calibrator = Calibrator(model_name)
    issued: list[str] = []
    last_fit: pd.Timestamp | None = None
    for day in pd.date_range(warmup_start, days[-1], freq="D"):
        if refit and (last_fit is None or day - last_fit >= pd.Timedelta(days=REFIT_DAYS)):
            model.fit(frame.loc[frame.index < day])
            last_fit = day
        hours = HORIZON_HOURS if day == days[-1] else DAY
        local = pd.date_range(day, periods=hours, freq="h")
        seen = visible(frame.reindex(frame.index.union(local)), day, hours)
        members = model.predict_members(seen, day, hours) if isinstance(model, Ensemble) else None
        prediction = model.predict(seen, day, hours) if members is None else model.combine(members)
        if day >= days[0]:
            shaped = calibrator.forecast(prediction, local)
            utc = to_utc(local, tz)
            real = ~utc.isna()  # a DST market's spring day has no 02:00
            forecast = Forecast(times=utc[real], point=shaped.point[real], quantiles=shaped.quantiles[real],
                                model=model_name)
            issued.append(runs.save_run(store, series.market, series.location, forecast, forecast.times[0],
                                        model_version, settings or {}, price_kind=series.price_kind))
        actual = frame[PRICE].reindex(local).to_numpy(float)
        calibrator.update(local, actual, prediction)
        if members is not None:  # its members' weights, learned from the days already forecast (warm-up first)
            model.observe(members, actual)
    return Issued(series, model_name, tuple(issued), time.perf_counter() - started)


def issue_naive(store: Store, series: Series) -> list[Issued]:
    """Weekly naive runs of one series (a second or so)."""
    return [issue(store, series, "naive", WeeklyNaive(), refit=True, model_version="naive-weekly")]


def issue_lear(store: Store, series: Series) -> list[Issued]:
    """LEAR runs of one series (its four windows refitted weekly: about 5 s a fit on two years)."""
    model = LEAR()
    return [issue(store, series, "lear", model, refit=True, model_version="lear-epftoolbox",
                  settings={"windows": list(model.windows)})]


def issue_baselines(store: Store, series: Series) -> list[Issued]:
    return issue_naive(store, series) + issue_lear(store, series)


def issue_trained(store: Store, series: Series) -> list[Issued]:
    """Transformer and ensemble runs of one series from its latest trained transformer (none if untrained)."""
    record = registry.latest_model(store, series.market, series.location, "transformer")
    if record is None:
        return []
    version = f"transformer-v{record.version}-{record.model_id[:8]}"
    transformer = registry.load_model(record)
    out = [issue(store, series, "transformer", transformer, refit=False, model_version=version,
                 settings=record.settings)]
    # The ensemble refits LEAR as the baseline does and keeps the trained transformer as it is.
    out.append(issue(store, series, "ensemble", Ensemble(_Frozen(transformer), LEAR()), refit=True,
                     model_version=f"ensemble-{version}", settings=record.settings))
    return out


class _Frozen:
    """A trained model that ignores ``fit`` (the ensemble refits only its LEAR half)."""

    def __init__(self, model: Model):
        self.model, self.name = model, model.name

    def fit(self, history: pd.DataFrame) -> None:
        pass

    def predict(self, seen: pd.DataFrame, start: pd.Timestamp, hours: int = DAY):
        return self.model.predict(seen, start, hours)


def issue_all(store: Store, series: list[Series] | None = None) -> list[Issued]:
    """Every model's owed runs for every stored series, the quickest model first for all series (so a fresh
    store shows naive fans within seconds, LEAR's within minutes). A failure is logged; the rest still issue."""
    todo = stored_series(store, min_days=WARMUP_DAYS + 14) if series is None else series
    out: list[Issued] = []
    for make in (issue_naive, issue_lear, issue_trained):
        for one in todo:
            try:
                out.extend(make(store, one))
            except Exception:
                log.exception("issuing %s forecasts of %s failed", make.__name__, one.key)
    return out


def transformer_settings(market: str) -> dict:
    """The product's transformer settings for a market: its public holidays from the market registry (the
    history frame is already in market-local hours)."""
    country, subdiv = MARKETS[market].holidays or (None, None)
    return {**TRANSFORMER_SETTINGS, "country": country, "subdiv": subdiv}


Trainer = Callable[[pd.DataFrame, dict, Callable[[int, int, str], None]], tuple[bytes, dict]]


def train_series(store: Store, series: Series, models_folder: str | Path, train: Trainer,
                 progress: Callable[[int, int, str], None] | None = None) -> registry.ModelRecord:
    """Train the transformer of one series on its data before :func:`training_cutoff` with ``train`` (the
    spawned worker in the app: engine.forecast.worker.train_in_worker), record it, issue its runs. Progress
    goes to the series' job_runs row (the page and the admin page read it)."""
    run = JobRun(job=training_job(series.market, series.location), market=series.market)
    run.save(store)
    last_saved = [0.0]

    def report(done: int, total: int, message: str) -> None:
        run.progress_done, run.progress_total = int(done), int(total)
        if time.monotonic() - last_saved[0] > 2 or done >= total:  # a row per update would flood job_runs
            run.save(store)
            last_saved[0] = time.monotonic()
        if progress is not None:
            progress(done, total, message)

    try:
        frame = history_frame(store, series)
        cutoff = training_cutoff(frame)
        window = frame.loc[frame.index < cutoff]
        days = len(window[PRICE].dropna()) // DAY
        if days < TRAINING_MIN_DAYS:
            raise IssueError(f"{series.key}: {days} days of prices before {cutoff.date()}; the transformer "
                             f"trains on at least {TRAINING_MIN_DAYS}")
        started = time.perf_counter()
        settings = transformer_settings(series.market)
        artefact, metrics = train(window, dict(settings), report)
        tz = MARKETS[series.market].timezone
        record = registry.record_model(
            store, models_folder, market=series.market, location=series.location, kind="transformer",
            artefact=artefact, settings=settings, window_start=to_utc(window.index[:1], tz)[0],
            window_end=to_utc(window.index[-1:], tz)[0], metrics=metrics, seconds=time.perf_counter() - started)
        issued = issue_trained(store, series)
        run.rows_written = sum(len(i.run_ids) for i in issued)
        run.finish(store, "succeeded")
        return record
    except Exception as exc:
        run.finish(store, "failed", f"{type(exc).__name__}: {exc}")
        raise


def trainable_series(store: Store) -> list[Series]:
    """The stored series with the year of history (before the catch-up window) a transformer trains on."""
    return stored_series(store, min_days=TRAINING_MIN_DAYS + RECORD_DAYS + WARMUP_DAYS)
