"""The forecasts page as typed results: which series, model and run it opens on, the fan of one stored run with
the actual prices and the operator's own forecast beside it, the accuracy panel, the quantiles as exported, and
a transformer's training progress. Everything is read from stored runs: no model is fitted or sampled here."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import jobs, queries
from engine.forecast import runs
from engine.forecast.base import QUANTILE_LEVELS, Forecast
from engine.forecast.operator import operator_forecast
from engine.markets import MARKETS, TZ_CHOICES
from engine.overview import Pick
from engine.store import Store

#: The horizons the page offers, in hours.
HORIZONS = (24, 48, 168)
#: Actual prices drawn before the first hour forecast, for context: as many hours as are forecast, up to this.
CONTEXT_HOURS = 48
#: The newest issue times offered in the "as issued at" control.
ISSUE_CHOICES = 400
#: Which model a page shows first when a series has several: the product's forecast before the baselines.
MODEL_PREFERENCE = ("transformer", "ensemble", "lear", "naive")
#: The rolling windows (days) of the accuracy panel.
WINDOWS = (7, 28)
#: How long a written issue time may be ("2026-10-04T04:00:00Z" and the like).
_MAX_TIME_TEXT = 40


def training_job(market: str, location: str) -> str:
    """The job_runs name of a series' transformer training (the trainer writes its progress there)."""
    return f"train:{market}:{location}"


def checked_issue_time(value: object) -> pd.Timestamp:
    """An issue time from a request (ISO 8601; without an offset, UTC) as a UTC instant; a QueryError otherwise."""
    if not isinstance(value, str) or len(value) > _MAX_TIME_TEXT:
        raise queries.QueryError(f"issue time must be an ISO 8601 time like 2026-10-04T04:00:00Z (got "
                                 f"{queries.shown(value)})")
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        raise queries.QueryError(f"issue time {queries.shown(value)} is not an ISO 8601 time") from None
    if ts is pd.NaT or pd.isna(ts):
        raise queries.QueryError(f"issue time {queries.shown(value)} is not an ISO 8601 time")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if not queries.EARLIEST_DATE <= ts.date() <= queries.LATEST_DATE:
        raise queries.QueryError(f"issue time {ts.date().isoformat()} is outside {queries.EARLIEST_DATE} to "
                                 f"{queries.LATEST_DATE}")
    return ts


def issue_value(ts: pd.Timestamp) -> str:
    """How an issue time travels in the page's control: ISO 8601, UTC, to the millisecond when it has one."""
    utc = ts.tz_convert("UTC")
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{utc.microsecond // 1000:03d}" if utc.microsecond else "") + "Z"


def check_choice(market: object = None, location: object = None, model: object = None, issued_at: object = None,
                 horizon: object = None, tz_choice: object = None, window: object = None) -> None:
    """The forecasts page's one check of what a browser sent: a QueryError naming the first bad value. None or ""
    stands for a control not chosen yet."""
    if market not in (None, ""):
        queries.known_market(market)
    for value, what in ((location, "location"), (model, "model")):
        if value not in (None, ""):
            queries.checked_name(value, what)
    if issued_at not in (None, ""):
        checked_issue_time(issued_at)
    if horizon is not None and (type(horizon) is not int or horizon not in HORIZONS):
        raise queries.QueryError(f"horizon must be one of {', '.join(map(str, HORIZONS))} hours (got "
                                 f"{queries.shown(horizon)})")
    if tz_choice not in (None, "", *TZ_CHOICES):
        raise queries.QueryError(f"time zone must be one of {', '.join(TZ_CHOICES)} (got {queries.shown(tz_choice)})")
    if window is not None and (type(window) is not int or window not in WINDOWS):
        raise queries.QueryError(f"window must be one of {', '.join(map(str, WINDOWS))} days (got "
                                 f"{queries.shown(window)})")


# ------------------------------------------------------------------------------------------------ choices


@dataclass(frozen=True)
class Choice:
    """The series, model and run a page opens on."""
    market: Pick
    location: Pick
    model: Pick
    notes: tuple[str, ...] = ()


def model_options(pick: Pick) -> list[dict[str, str]]:
    """A model dropdown's options: each stored model by the name readers know it by, valued by its identifier."""
    return [{"label": runs.model_label(m), "value": m} for m in pick.offered]


def _pick(asked: str | None, offered: list[str]) -> Pick:
    return Pick(tuple(offered), asked if asked in offered else (offered[0] if offered else None))


def _models_in_order(models: list[str]) -> list[str]:
    rank = {m: i for i, m in enumerate(MODEL_PREFERENCE)}
    return sorted(models, key=lambda m: (rank.get(m, len(rank)), m))


def _markets_in_order(found: set[str]) -> list[str]:
    return [m for m in MARKETS if m in found] + sorted(found - set(MARKETS))


def locations(store: Store, market: str | None, current: str | None = None) -> Pick:
    """The market's locations with stored runs, holding ``current`` if it has runs, else the first."""
    check_choice(market, current)
    stored = runs.series_with_runs(store)
    return _pick(current, sorted(set(stored.loc[stored["market"] == market, "location"])) if market else [])


def models(store: Store, market: str | None, location: str | None, current: str | None = None) -> Pick:
    """The models with stored runs of a location, the product's forecast first."""
    check_choice(market, location, current)
    stored = runs.series_with_runs(store)
    found = stored.loc[(stored["market"] == market) & (stored["location"] == location), "model"].tolist()
    return _pick(current, _models_in_order(found))


def initial_choice(store: Store, market: str | None = None, location: str | None = None,
                   model: str | None = None) -> Choice:
    """What the page opens on: what a link asked for where runs are stored, else the defaults (with a note)."""
    notes: list[str] = []

    def pick(asked: str | None, offered: list[str], what: str, name: Callable[[str], str] = str) -> Pick:
        chosen = _pick(asked, offered)
        if asked is not None and asked != chosen.chosen:
            notes.append(f"No forecasts of {what} {queries.shown(asked)} are stored; showing "
                         f"{name(chosen.chosen) if chosen.chosen else 'nothing'}.")
        return chosen

    stored = runs.series_with_runs(store)
    markets = pick(market, _markets_in_order(set(stored["market"])), "market")
    in_market = stored.loc[stored["market"] == markets.chosen]
    places = pick(location, sorted(set(in_market["location"])), f"{markets.chosen} location")
    held = pick(model, _models_in_order(in_market.loc[in_market["location"] == places.chosen, "model"].tolist()),
                "model", runs.model_label)
    return Choice(markets, places, held, tuple(notes))


@dataclass(frozen=True)
class IssueTimes:
    """The "as issued at" control: (label in the chosen zone, value) pairs, newest first, and the one held."""
    options: tuple[tuple[str, str], ...]
    chosen: str | None


def issue_times(store: Store, market: str | None, location: str | None, model: str | None,
                current: str | None = None, tz_choice: str | None = "market") -> IssueTimes:
    """The stored issue times of a model's runs, newest first, labelled in the market's zone or UTC; holds
    ``current`` while it is one of them, else the newest."""
    check_choice(market, location, model, current, tz_choice=tz_choice)
    if not (market and location and model):
        return IssueTimes((), None)
    tz = queries.known_market(market).display_zone(tz_choice)
    found = runs.runs(store, market, location, model, limit=ISSUE_CHOICES)
    options = tuple((r.issued_at.tz_convert(tz).strftime("%Y-%m-%d %H:%M"), issue_value(r.issued_at))
                    for r in found)
    values = [v for _, v in options]
    held = issue_value(checked_issue_time(current)) if current else None
    return IssueTimes(options, held if held in values else (values[0] if values else None))


# ------------------------------------------------------------------------------------------------- the fan


@dataclass(frozen=True)
class ForecastView:
    """Everything the fan chart and its export show for one stored run."""
    market: str
    location: str
    currency: str
    tz: str
    tz_label: str
    run: runs.Run
    forecast: Forecast  # the run cut to the horizon shown
    horizon: int  # hours shown
    actual: pd.Series  # hourly actual prices (UTC index) from before the first target (context) to the end
    operator: pd.DataFrame  # the operator's own price forecast issued at or before ours: interval_start, value
    operator_issued_at: pd.Timestamp | None
    notes: tuple[str, ...] = ()


def forecast_view(store: Store, market: str, location: str, model: str, issued_at: str | None = None,
                  horizon: int = 24, tz_choice: str = "market") -> ForecastView | None:
    """The run of ``model`` issued at ``issued_at`` (or, if none was then, the newest issued before it; the newest
    of all when None), cut to ``horizon`` hours, with the actual prices and the operator's price forecast of the
    same hours. None when the model has no run issued by then. A QueryError for any value check_choice refuses."""
    check_choice(market, location, model, issued_at, horizon, tz_choice)
    info = queries.known_market(market)
    asked = checked_issue_time(issued_at) if issued_at else None
    run = runs.latest_run(store, market, location, model, asked)
    if run is None:
        return None
    notes = []
    if asked is not None and run.issued_at != asked:
        notes.append(f"No {model} run was issued at {issued_at}; showing the one issued before it.")
    stored = runs.run_forecast(store, run.run_id)
    full = stored.forecast
    shown_until = run.first_target + pd.Timedelta(hours=horizon)
    keep = full.times < shown_until
    forecast = Forecast(full.times[keep], full.point[keep], full.quantiles[keep], full.model)
    if run.horizon_hours < horizon:
        notes.append(f"This run forecasts {run.horizon_hours} hours; all of them are shown.")
    end = min(shown_until, run.end)
    context = pd.Timedelta(hours=min(CONTEXT_HOURS, horizon))
    actual = runs.actuals(store, market, location, run.first_target - context, end, run.price_kind)
    operator, operator_issued = operator_prices(store, market, location, run.issued_at, run.first_target, end)
    return ForecastView(market, location, info.currency, info.display_zone(tz_choice),
                        info.display_label(tz_choice), run, forecast, horizon, actual, operator, operator_issued,
                        tuple(notes))


def operator_prices(store: Store, market: str, location: str, issued_at: pd.Timestamp, start: pd.Timestamp,
                    end: pd.Timestamp) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The operator's own price forecast (e.g. AEMO pre-dispatch) issued at or before our run, over the hours
    we forecast: (interval_start, value) and its issue time; no rows when the operator publishes none."""
    found = operator_forecast(store, market, location, "price", issued_at)
    found = found.loc[(found["interval_start"] >= start) & (found["interval_start"] < end)]
    issued = found["issued_at"].iloc[0] if len(found) else None
    return found[["interval_start", "value"]].reset_index(drop=True), issued


def export_frame(view: ForecastView) -> pd.DataFrame:
    """The fan shown, as analysts download it: one row per hour the chart draws, its start in the zone shown (ISO
    8601 with its offset; the header names the zone), the point forecast, q01 … q99 and the actual price, all in the
    market's currency per MWh (the headers say which) and unrounded. The hours before the first one forecast that
    the chart draws the actual prices of, for context, come first, with no forecast; an hour forecast whose price is
    not stored yet has no actual."""
    unit = f"({view.currency}/MWh)"
    times = _utc_ns(view.forecast.times)
    actual = pd.Series(view.actual.to_numpy(dtype=float), index=_utc_ns(view.actual.index))
    hours = times.union(actual.index)

    def at_hours(values) -> np.ndarray:
        return pd.Series(values, index=times).reindex(hours).to_numpy(dtype=float)

    columns = {f"hour_start ({view.tz_label})": queries.iso_times(hours, view.tz),
               f"forecast {unit}": at_hours(view.forecast.point)}
    columns.update({f"q{round(level * 100):02d} {unit}": at_hours(view.forecast.quantiles[:, j])
                    for j, level in enumerate(QUANTILE_LEVELS)})
    columns[f"actual {unit}"] = actual.reindex(hours).to_numpy(dtype=float)
    return pd.DataFrame(columns)


def _utc_ns(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Instants as one index type (UTC, nanoseconds, unnamed), so that the run's hours and the stored ones align."""
    times = pd.DatetimeIndex(times)
    return (times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")).as_unit("ns").rename(None)


# ---------------------------------------------------------------------------------------------- accuracy


@dataclass(frozen=True)
class AccuracyView:
    currency: str
    tz_label: str  # the market's zone: hours of day are the market's
    accuracy: runs.Accuracy
    tz: str  # that zone, by name


def accuracy_view(store: Store, market: str, location: str, window: int = 28) -> AccuracyView:
    """Rolling MAE and rMAE, calibration and error by hour of day of every model's day-ahead runs."""
    check_choice(market, location, window=window)
    info = queries.known_market(market)
    return AccuracyView(info.currency, info.timezone_label, runs.accuracy(store, market, location, None, window),
                        info.timezone)


def accuracy_export(view: AccuracyView) -> pd.DataFrame:
    """The accuracy table as analysts download it: one row per model, over every day scored; errors in the
    currency per MWh, each band's share of actual prices inside it as a fraction (none for the operator's
    forecast, which has no bands)."""
    acc = view.accuracy
    unit = f"{view.currency}/MWh"
    frame = pd.DataFrame({"model": acc.summary.index, "label": [acc.labels.get(m, m) for m in acc.summary.index],
                          "hours_scored": acc.summary["hours"].to_numpy(dtype=int),
                          f"mae ({unit})": acc.summary["mae"].to_numpy(dtype=float),
                          f"weekly_naive_mae ({unit})": acc.summary["naive_mae"].to_numpy(dtype=float),
                          "rmae": acc.summary["rmae"].to_numpy(dtype=float)})
    cover = acc.coverage.pivot(index="model", columns="nominal", values="observed")
    for nominal in cover.columns:
        frame[f"band_{nominal * 100:g}_covered (fraction)"] = cover[nominal].reindex(acc.summary.index).to_numpy()
    return frame


def daily_accuracy_export(view: AccuracyView) -> pd.DataFrame:
    """The rolling scores as analysts download them: per market day (the market's date) and model, MAE, the
    weekly naive's MAE and rMAE over the ``window`` days ending that day; the weekly naive's own MAE over every
    hour any model forecast as the rows of model ``weekly_naive``."""
    acc = view.accuracy
    unit = f"{view.currency}/MWh"
    baseline = acc.baseline.assign(model="weekly_naive", naive_mae=acc.baseline["mae"], rmae=1.0)
    rows = pd.concat([acc.rolling, baseline[acc.rolling.columns]], ignore_index=True)
    days = pd.DatetimeIndex(rows["day"]).tz_convert(view.tz).strftime("%Y-%m-%d")
    return pd.DataFrame({f"day ({view.tz_label})": days, "model": rows["model"].to_numpy(),
                         f"mae_{acc.window}d ({unit})": rows["mae"].to_numpy(dtype=float),
                         f"weekly_naive_mae_{acc.window}d ({unit})": rows["naive_mae"].to_numpy(dtype=float),
                         f"rmae_{acc.window}d": rows["rmae"].to_numpy(dtype=float)}
                        ).sort_values([f"day ({view.tz_label})", "model"], kind="stable", ignore_index=True)


# ---------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingProgress:
    """The latest training run of a series' transformer (job_runs), as the page reports it."""
    status: str
    done: int = 0
    total: int = 0
    started_at: pd.Timestamp | None = None
    error: str = ""
    finished_at: pd.Timestamp | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def share(self) -> float:
        return self.done / self.total if self.total else 0.0


def training_progress(store: Store, market: str, location: str) -> TrainingProgress | None:
    """The newest run of the series' training job, None if it has never trained. Read uncached: the job log is
    not part of the data version."""
    check_choice(market, location)
    found = jobs.recent_runs(store, limit=1, job=training_job(market, location))
    if found.empty:
        return None
    row = found.iloc[0]
    return TrainingProgress(str(row["status"]), int(row["progress_done"]), int(row["progress_total"]),
                            row["started_at"], str(row["error"]))

