"""Walk-forward backtest of a day-ahead model, as the epftoolbox benchmark runs one.

For each test day: the model is refitted (``daily``: every day, as the benchmark does; ``weekly``: on the first
test day and every seventh after) on the rows before the day, forecasts the day's 24 hours from
:func:`visible` only (no look-ahead), the calibrator turns that into quantiles, and then, the day's prices
being known, learns from them. ``warmup_days`` days before the test period are forecast the same way (refitted
weekly whatever ``recalibrate`` says) so that the calibrator has residuals on the first test day; they are not
scored.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.forecast.base import PRICE, QUANTILE_LEVELS, Model, visible
from engine.forecast.calibration import Calibrator
from engine.forecast.lear import LEAR
from engine.forecast.metrics import Scores, score
from engine.forecast.naive import WEEK, WeeklyNaive, weekly_naive

HOURS = 24
RECALIBRATIONS = ("daily", "weekly")
QUANTILE_COLUMNS = [f"q{round(q * 100):02d}" for q in QUANTILE_LEVELS]


def _naive(country: str | None = None) -> Model:
    return WeeklyNaive()


def _lear(country: str | None = None) -> Model:
    return LEAR()


def _transformer(country: str | None = None) -> Model:
    from engine.forecast.transformer import TransformerModel  # torch is heavy: loaded only when asked for

    return TransformerModel(seed=0, horizon=HOURS, country=country)


#: days between the ensemble's transformer fits in a backtest, whatever the recalibration: LEAR follows it
#: (daily as the benchmark), the transformer (minutes per fit, fine-tuned after the first) weekly
ENSEMBLE_TRANSFORMER_DAYS = 7


def _ensemble(country: str | None = None) -> Model:
    from engine.forecast.ensemble import Ensemble

    return Ensemble(_transformer(country), LEAR(), transformer_every_days=ENSEMBLE_TRANSFORMER_DAYS)


#: model name -> factory taking the market's country (ISO code for the public holidays; None: no holidays)
MODELS: dict[str, Callable[..., Model]] = {
    "naive": _naive,
    "lear": _lear,
    "transformer": _transformer,
    "ensemble": _ensemble,
}
#: days of history the first forecast needs at least (beyond the warm-up), per model
MIN_HISTORY_DAYS = {"naive": 7, "lear": 56, "transformer": 56, "ensemble": 56}


@dataclass(frozen=True)
class BacktestResult:
    """One row per test hour (index: the hour; ``actual``, ``forecast``, ``naive``, ``q01``…``q99``), the
    scores over the test period and the seconds spent fitting and predicting. ``members``: for an ensemble,
    each member's scores over the same hours, its forecasts calibrated by a calibrator of its own;
    ``member_points``: each member's point forecast per test hour (a column per member, indexed as ``frame``)."""
    frame: pd.DataFrame
    scores: Scores
    fit_seconds: float
    predict_seconds: float
    fits: int
    members: dict[str, Scores] = field(default_factory=dict)
    member_points: pd.DataFrame | None = None


def _day(value: str | pd.Timestamp, what: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except ValueError as exc:
        raise ValueError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from exc
    if day != day.normalize():
        raise ValueError(f"{what} {value!r} must be a date, not a time of day")
    return day


def backtest(frame: pd.DataFrame, model: str | Callable[[], Model], test_start: str | pd.Timestamp,
             test_end: str | pd.Timestamp, recalibrate: str = "daily", warmup_days: int = 28,
             progress: Callable[[pd.Timestamp], None] | None = None,
             country: str | None = None) -> BacktestResult:
    """Walk forward over the days ``test_start`` … ``test_end`` (inclusive) of the hourly history ``frame``.
    ``model``: a name in :data:`MODELS`, or a factory of a configured model. ``country``: the market's ISO
    country code, whose public holidays the transformer sees (None: none)."""
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        named, min_history = MODELS[model], MIN_HISTORY_DAYS[model]

        def make() -> Model:
            return named(country)
    else:
        make, min_history, model = model, 7, getattr(model, "name", "model")
    if recalibrate not in RECALIBRATIONS:
        raise ValueError(f"--recalibrate must be daily or weekly, not {recalibrate!r}")
    first, last = _day(test_start, "test start"), _day(test_end, "test end")
    if last < first:
        raise ValueError(f"the test period ends ({last.date()}) before it starts ({first.date()})")
    data_first, data_last = frame.index[0], frame.index[-1]
    if first < data_first or last + pd.Timedelta(hours=HOURS - 1) > data_last:
        raise ValueError(f"the test period {first.date()}..{last.date()} lies outside the data "
                         f"({data_first} .. {data_last})")
    need = min_history + warmup_days
    have = (first - data_first) // pd.Timedelta(days=1)
    if have < need:
        raise ValueError(f"{model} needs {need} days of history before the test period "
                         f"({warmup_days} of them to calibrate the quantiles); the data has {have}")
    tested = frame.loc[(frame.index >= first - pd.Timedelta(hours=WEEK))
                       & (frame.index < last + pd.Timedelta(hours=HOURS)), PRICE]
    if tested.isna().any():
        raise ValueError(f"the prices of the test period (or the week before it) are missing at "
                         f"{tested.index[tested.isna().to_numpy()][0]}")

    forecaster = make()
    calibrator = Calibrator(forecaster.name)
    split = getattr(forecaster, "predict_members", None)
    member_calibrators: dict[str, Calibrator] = {}
    member_rows: dict[str, list[np.ndarray]] = {}
    rows: list[np.ndarray] = []
    index: list[pd.DatetimeIndex] = []
    fit_seconds = predict_seconds = 0.0
    fits = 0
    last_fit: pd.Timestamp | None = None
    day = first - pd.Timedelta(days=warmup_days)
    while day <= last:
        if day < first:
            due = last_fit is None or day - last_fit >= pd.Timedelta(days=7)
        else:
            due = recalibrate == "daily" or (day - first).days % 7 == 0
        if due:
            started = time.perf_counter()
            forecaster.fit(frame.loc[frame.index < day])
            fit_seconds += time.perf_counter() - started
            fits += 1
            last_fit = day
        times = pd.date_range(day, periods=HOURS, freq="h")
        started = time.perf_counter()
        if split is None:
            members = {}
            prediction = forecaster.predict(visible(frame, day, HOURS), day, HOURS)
        else:
            members = split(visible(frame, day, HOURS), day, HOURS)
            prediction = forecaster.combine(members)
        predict_seconds += time.perf_counter() - started
        forecast = calibrator.forecast(prediction, times)
        actual = frame[PRICE].reindex(times).to_numpy(float)
        calibrator.update(times, actual, prediction)
        if members:  # the ensemble learns its members' weights from days already forecast, as here
            forecaster.observe(members, actual)
        for name, own in members.items():
            member = member_calibrators.setdefault(name, Calibrator(name))
            calibrated = member.forecast(own, times)
            member.update(times, actual, own)
            if day >= first:
                member_rows.setdefault(name, []).append(np.column_stack([calibrated.point, calibrated.quantiles]))
        if day >= first:
            naive = weekly_naive(frame[PRICE], day, HOURS)
            rows.append(np.column_stack([actual, forecast.point, naive, forecast.quantiles]))
            index.append(times)
        if progress is not None:
            progress(day)
        day += pd.Timedelta(days=1)
    result = pd.DataFrame(np.vstack(rows), columns=["actual", "forecast", "naive", *QUANTILE_COLUMNS],
                          index=pd.DatetimeIndex(np.concatenate([t.to_numpy() for t in index]), name="time"))
    scores = score(result["actual"], (result["forecast"].to_numpy(), result[QUANTILE_COLUMNS].to_numpy()),
                   result["naive"])
    member_scores, member_points = {}, {}
    for name, parts in member_rows.items():
        stacked = np.vstack(parts)
        member_scores[name] = score(result["actual"], (stacked[:, 0], stacked[:, 1:]), result["naive"])
        member_points[name] = stacked[:, 0]
    return BacktestResult(frame=result, scores=scores, fit_seconds=fit_seconds, predict_seconds=predict_seconds,
                          fits=fits, members=member_scores,
                          member_points=pd.DataFrame(member_points, index=result.index) if member_points else None)

