"""Forecasts kept as issued: each run stored with its issue time, model version, target hours and 99 quantiles
(migration 013), never overwritten, and read back as it was issued; the actual prices of the hours forecast;
and how accurate each model's day-ahead runs have been.

``save_run`` checks everything before writing and refuses a run whose (market, location, model, issue time)
is already stored, so backtests of signals can replay forecasts exactly as they were known at the time.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine import queries
from engine.forecast import metrics
from engine.forecast.base import BANDS, QUANTILE_LEVELS, Forecast
from engine.forecast.operator import REPORT_LABELS, hourly_runs_known_at, longest_report
from engine.markets import MARKETS
from engine.store import Store, versions

#: What a model's name (``Forecast.model``) may look like: naive, lear, transformer, ensemble, operator:...
_MODEL = re.compile(r"[a-z][a-z0-9_.:\-]{0,47}")
MAX_VERSION = 200
#: The accuracy panel's name for the operator's own price forecast (not a stored run: save_run refuses the name).
OPERATOR = "operator"
#: How the pages name our models (the stored name is the identifier: runs, files, links and CSVs keep it).
MODEL_LABELS = {"naive": "Naive (weekly)", "lear": "LEAR", "transformer": "Transformer", "ensemble": "Ensemble"}
_RUN_COLUMNS = ("run_id", "market", "location", "model", "model_version", "price_kind", "issued_at",
                "first_target", "horizon_hours", "interval_minutes", "settings")
_VALUE_COLUMNS = ("run_id", "market", "location", "model", "issued_at", "target_start", "point", "quantiles")
# The check for an earlier run with the same issue time and the write that follows must not interleave with
# another save in this process (only the serving process writes forecasts to the embedded store).
_save_lock = threading.Lock()


def model_label(model: str) -> str:
    """A model as a reader knows it: :data:`MODEL_LABELS`' name, or the stored name of a model it does not list."""
    return MODEL_LABELS.get(model, model)


class RunError(ValueError):
    """A forecast run that cannot be stored as given; the message says what is wrong."""


@dataclass(frozen=True)
class Run:
    """One stored forecast run (a row of ``forecast_runs``)."""
    run_id: str
    market: str
    location: str
    model: str
    model_version: str
    price_kind: str
    issued_at: pd.Timestamp  # UTC
    first_target: pd.Timestamp  # UTC start of the first hour forecast
    horizon_hours: int
    interval_minutes: int
    settings: dict

    @property
    def end(self) -> pd.Timestamp:
        """The end (exclusive) of the last interval forecast."""
        return self.first_target + pd.Timedelta(hours=self.horizon_hours)


@dataclass(frozen=True)
class StoredForecast:
    run: Run
    forecast: Forecast


@dataclass(frozen=True)
class Accuracy:
    """How each model's day-ahead runs (``day_ahead_hours``) did on the hours with an actual price and the price
    168 h earlier.

    ``summary``: index model; hours, mae, naive_mae (weekly naive on the same hours), rmae.
    ``rolling``: model, day (UTC instant of the market day's start), mae, naive_mae, rmae over the ``window``
    days ending that day. ``baseline``: day, mae of the weekly naive over the hours any model forecast.
    ``coverage``: model, nominal (0.5, 0.8, 0.9, 0.98), observed (models with quantiles only: not the
    operator's). ``by_hour``: model, hour (market time), mae. ``labels``: how the page names each scored model
    (:func:`model_label`; the operator's forecast by its publication, e.g. "AEMO pre-dispatch").
    ``baseline_model``: the scored model that is the baseline itself (it forecast the price 168 h earlier on every
    hour the baseline covers and no other), whose rolling MAE is the baseline's; or None.
    """
    window: int
    models: tuple[str, ...]
    summary: pd.DataFrame
    rolling: pd.DataFrame
    baseline: pd.DataFrame
    coverage: pd.DataFrame
    by_hour: pd.DataFrame
    labels: dict[str, str] = field(default_factory=dict)
    baseline_model: str | None = None

    @property
    def empty(self) -> bool:
        return self.summary.empty


# ------------------------------------------------------------------------------------------------- writing


def _utc(value: object, what: str) -> pd.Timestamp:
    """A tz-aware instant as UTC, to the millisecond the store keeps; a RunError for anything else."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise RunError(f"{what} must be a time (got {queries.shown(value)})") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise RunError(f"{what} is missing")
    if ts.tzinfo is None:
        raise RunError(f"{what} {ts} has no time zone: give a UTC instant")
    ts = ts.tz_convert("UTC")
    if ts != ts.floor("ms"):
        raise RunError(f"{what} {ts} is finer than the millisecond the store keeps")
    return ts


def _checked_times(times: object) -> tuple[pd.DatetimeIndex, int]:
    """The target interval starts (UTC) and their length in minutes: increasing, whole intervals apart (a gap is
    allowed: a DST market's local day maps to UTC hours with one left out in autumn)."""
    if not isinstance(times, pd.DatetimeIndex) or times.tz is None:
        raise RunError("the forecast's times must be a tz-aware DatetimeIndex of interval starts")
    if len(times) == 0:
        raise RunError("the forecast has no target times")
    utc = times.tz_convert("UTC").as_unit("ns")
    if (utc != utc.floor("ms")).any():
        raise RunError("the forecast's target times are finer than the millisecond the store keeps")
    if len(utc) == 1:
        return utc, 60
    steps = np.diff(utc.asi8)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0])
        raise RunError(f"the forecast's target times must increase: {utc[i + 1]} follows {utc[i]} (a local hour "
                       "that does not exist, mapped onto the next one?)")
    step = int(steps.min())
    minutes = step / 60e9
    if minutes != int(minutes) or not 1 <= minutes <= 1440:
        raise RunError(f"the forecast's interval of {minutes:g} minutes is not a whole number of minutes up to a day")
    if (steps % step).any():
        raise RunError(f"the forecast's target times must be whole intervals of {minutes:g} minutes apart")
    return utc, int(minutes)


def _checked_values(forecast: Forecast, n: int) -> tuple[np.ndarray, np.ndarray]:
    point = np.asarray(forecast.point, dtype=float)
    quantiles = np.asarray(forecast.quantiles, dtype=float)
    if point.shape != (n,):
        raise RunError(f"the point forecast must hold one value per target time ({n}), got shape {point.shape}")
    if quantiles.shape != (n, len(QUANTILE_LEVELS)):
        raise RunError(f"the quantiles must be {n} × {len(QUANTILE_LEVELS)} (one row per target time, one column "
                       f"per level 0.01 … 0.99), got shape {quantiles.shape}")
    if not np.isfinite(point).all():
        raise RunError(f"the point forecast has {int((~np.isfinite(point)).sum())} values that are not finite")
    if not np.isfinite(quantiles).all():
        raise RunError(f"the quantiles have {int((~np.isfinite(quantiles)).sum())} values that are not finite")
    falling = np.flatnonzero((np.diff(quantiles, axis=1) < 0).any(axis=1))
    if falling.size:
        raise RunError(f"the quantiles must not decrease along a row; {falling.size} rows do (first: row "
                       f"{int(falling[0])}, {forecast.times[falling[0]]})")
    return point, quantiles


def _checked_settings(settings: object) -> str:
    if settings is None:
        return "{}"
    if not isinstance(settings, Mapping):
        raise RunError(f"settings must be a mapping (got {type(settings).__name__})")
    try:
        return json.dumps(dict(settings), sort_keys=True, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise RunError(f"settings cannot be stored as JSON: {exc}") from exc


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def default_price_kind(store: Store, market: str, location: str) -> str | None:
    """The price series a forecast of this location is of when none is named: the one the overview shows first."""
    kinds = queries.price_kinds(store, market, location)
    return kinds[0] if kinds else None


def save_run(store: Store, market: str, location: str, forecast: Forecast, issued_at: object, model_version: str,
             settings: Mapping[str, Any] | None = None, *, price_kind: str | None = None) -> str:
    """Store a forecast run as issued and return its id. Everything is checked before anything is written: a
    RunError names what is wrong (unknown market, shapes, decreasing quantiles, values not finite, target times
    that repeat, an issue time after the first target interval had ended, or a run of the same market, location,
    model and issue time already stored: a run is never overwritten). ``price_kind`` defaults to the location's
    first price series."""
    if not isinstance(market, str) or market not in MARKETS:
        raise RunError(f"unknown market {queries.shown(market)}; known markets: {', '.join(sorted(MARKETS))}")
    try:
        queries.checked_name(location, "location")
    except queries.QueryError as exc:
        raise RunError(str(exc)) from None
    if not isinstance(forecast, Forecast):
        raise RunError(f"expected an engine.forecast.base.Forecast (got {type(forecast).__name__})")
    if not isinstance(forecast.model, str) or not _MODEL.fullmatch(forecast.model):
        raise RunError(f"model name {queries.shown(forecast.model)} is not a name: lower-case letters, digits "
                       "and _ . : - (at most 48)")
    if forecast.model == OPERATOR:
        raise RunError(f"model name {OPERATOR!r} is kept for the operator's own forecast in the accuracy panel; "
                       "name the run's model otherwise")
    if not isinstance(model_version, str) or not model_version.strip() or len(model_version) > MAX_VERSION:
        raise RunError(f"model_version must be non-empty text of at most {MAX_VERSION} characters")
    issued = _utc(issued_at, "issued_at")
    times, minutes = _checked_times(forecast.times)
    point, quantiles = _checked_values(forecast, len(times))
    if issued >= times[0] + pd.Timedelta(minutes=minutes):
        raise RunError(f"issued_at {issued} is after the first interval forecast ({times[0]}) had ended: a run "
                       "forecasts hours not yet over when it is issued")
    settings_json = _checked_settings(settings)
    kind = price_kind if price_kind is not None else default_price_kind(store, market, location)
    if kind is None:
        raise RunError(f"no {market} {location} prices are stored: name the price series the forecast is of")
    try:
        queries.checked_name(kind, "price series")
    except queries.QueryError as exc:
        raise RunError(str(exc)) from None
    horizon_minutes = (times[-1] - times[0]) / pd.Timedelta(minutes=1) + minutes
    run_id = uuid.uuid4().hex
    run_row = [run_id, market, location, forecast.model, model_version, kind, issued.to_pydatetime(),
               times[0].to_pydatetime(), math.ceil(horizon_minutes / 60), minutes, settings_json]
    value_rows = [[run_id, market, location, forecast.model, issued.to_pydatetime(), t.to_pydatetime(), float(p),
                   q.tolist()] for t, p, q in zip(times, point, quantiles, strict=True)]
    with _save_lock:
        if _already_stored(store, market, location, forecast.model, issued):
            raise RunError(f"a {forecast.model} run of {market} {location} issued at {issued} is already stored; "
                           "a stored run is never overwritten (issue a new run at a new time)")
        # The values first, then the run's row: readers find runs through forecast_runs, so a failure between
        # the two leaves values nobody reads, never a run without its values.
        _insert(store, "forecast_values", value_rows, _VALUE_COLUMNS)
        _insert(store, "forecast_runs", [run_row], _RUN_COLUMNS)
    versions.bump(store, [versions.forecast_runs_key(market)])  # the answers reading the market's runs are stale
    return run_id


def _already_stored(store: Store, market: str, location: str, model: str, issued: pd.Timestamp) -> bool:
    return bool(store.scalar(
        "SELECT count() FROM forecast_runs WHERE market = {m:String} AND location = {l:String} "
        "AND model = {f:String} AND issued_at = {t:DateTime64(3, 'UTC')}",
        {"m": market, "l": location, "f": model, "t": issued.to_pydatetime()}))


def _insert(store: Store, table: str, rows: list[list], columns: Sequence[str]) -> None:
    # Row inserts rather than Store.insert_df: chDB reads a DataFrame in place (Python()) and cannot take an
    # Array column from it. One insert is one block, so the rows land together or not at all.
    store.insert_rows(table, rows, list(columns))


# ------------------------------------------------------------------------------------------------- reading

_RUN_SELECT = ("SELECT run_id, market, location, model, model_version, price_kind, issued_at, first_target, "
               "horizon_hours, interval_minutes, settings FROM forecast_runs")


def _runs_of(df: pd.DataFrame) -> list[Run]:
    return [Run(r.run_id, r.market, r.location, r.model, r.model_version, r.price_kind, r.issued_at,
                r.first_target, int(r.horizon_hours), int(r.interval_minutes), json.loads(r.settings))
            for r in df.itertuples()]


def runs(store: Store, market: str, location: str, model: str | None = None, limit: int = 1000) -> list[Run]:
    """The stored runs of a location (of one model, or all), newest issue first."""
    where = "AND model = {f:String}" if model is not None else ""
    return _runs_of(store.query_df(
        f"{_RUN_SELECT} WHERE market = {{m:String}} AND location = {{l:String}} {where} "
        "ORDER BY issued_at DESC, model LIMIT {n:UInt32}",
        {"m": market, "l": location, "f": model or "", "n": limit}))


def series_with_runs(store: Store) -> pd.DataFrame:
    """Every (market, location, model) with stored runs: how many, and the newest issue time."""
    return store.query_df("SELECT market, location, model, count() AS runs, max(issued_at) AS latest FROM "
                          "forecast_runs GROUP BY market, location, model ORDER BY market, location, model")


def latest_runs(store: Store) -> pd.DataFrame:
    """Every (market, location, model) with stored runs, one row each: how many runs, and of the newest issued its
    issue time (``latest``), model version, first target hour and horizon."""
    return store.query_df(
        "SELECT market, location, model, count() AS runs, max(issued_at) AS latest, "
        "argMax(model_version, issued_at) AS model_version, argMax(first_target, issued_at) AS first_target, "
        "argMax(horizon_hours, issued_at) AS horizon_hours FROM forecast_runs "
        "GROUP BY market, location, model ORDER BY market, location, model")


def get_run(store: Store, run_id: str) -> Run | None:
    found = _runs_of(store.query_df(f"{_RUN_SELECT} WHERE run_id = {{r:String}}", {"r": run_id}))
    return found[0] if found else None


def latest_run(store: Store, market: str, location: str, model: str,
               issued_at_or_before: object = None) -> Run | None:
    """The newest run of a model issued at or before a time (now when None): what was known then."""
    before = "" if issued_at_or_before is None else "AND issued_at <= {t:DateTime64(3, 'UTC')}"
    params = {"m": market, "l": location, "f": model}
    if issued_at_or_before is not None:
        params["t"] = _utc(issued_at_or_before, "issued_at_or_before").to_pydatetime()
    found = _runs_of(store.query_df(
        f"{_RUN_SELECT} WHERE market = {{m:String}} AND location = {{l:String}} AND model = {{f:String}} "
        f"{before} ORDER BY issued_at DESC LIMIT 1", params))
    return found[0] if found else None


def run_forecast(store: Store, run_id: str) -> StoredForecast | None:
    """A stored run as it was issued: its times, point and 99 quantiles (None for an unknown id)."""
    run = get_run(store, run_id)
    if run is None:
        return None
    df = store.query_df(
        "SELECT target_start, point, quantiles FROM forecast_values WHERE market = {m:String} "
        "AND location = {l:String} AND model = {f:String} AND issued_at = {t:DateTime64(3, 'UTC')} "
        "AND run_id = {r:String} ORDER BY target_start",
        {"m": run.market, "l": run.location, "f": run.model, "t": run.issued_at.to_pydatetime(), "r": run_id})
    quantiles = np.vstack(df["quantiles"].to_numpy()).astype(float) if len(df) else \
        np.empty((0, len(QUANTILE_LEVELS)))
    times = pd.DatetimeIndex(df["target_start"], name="target_start").as_unit("ns")
    return StoredForecast(run, Forecast(times, df["point"].to_numpy(dtype=float), quantiles, run.model))


def actuals(store: Store, market: str, location: str, start: pd.Timestamp, end: pd.Timestamp,
            price_kind: str | None = None) -> pd.Series:
    """Hourly mean actual prices (from the hourly aggregate) of ``[start, end)``, indexed by the hour's UTC
    start; the location's first price series unless ``price_kind`` names one."""
    kind = price_kind or default_price_kind(store, market, location)
    if kind is None:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC", name="target_start"), name="price", dtype=float)
    df = store.query_df(
        "SELECT bucket AS target_start, sum(price_sum) / sum(samples) AS price FROM prices_hourly "
        "WHERE market = {m:String} AND location = {l:String} AND price_kind = {k:String} "
        "AND bucket >= {s:DateTime64(3, 'UTC')} AND bucket < {e:DateTime64(3, 'UTC')} "
        "GROUP BY bucket ORDER BY bucket",
        {"m": market, "l": location, "k": kind, "s": start.to_pydatetime(), "e": end.to_pydatetime()})
    return pd.Series(df["price"].to_numpy(dtype=float), index=pd.DatetimeIndex(df["target_start"], name="target_start"),
                     name="price")


# ------------------------------------------------------------------------------------------------ accuracy

#: The quantile levels the coverage of BANDS reads: (lower, upper) per band.
_BAND_LEVELS = {width: metrics.band_columns(width) for width in BANDS}


def day_ahead_of(first_target: pd.Series, tz: str) -> pd.Series:
    """The market day (its start, UTC) a run is the day-ahead forecast of: the first day starting at or after
    its first target hour. The run saw no price from its first target on, so it forecast that whole day with
    what was known before the day began."""
    local = first_target.dt.tz_convert(tz)
    midnight = (local.dt.hour == 0) & (local.dt.minute == 0) & (local.dt.second == 0) & (local.dt.microsecond == 0)
    days = [d if at_midnight else d + dt.timedelta(days=1)
            for d, at_midnight in zip(local.dt.date, midnight, strict=True)]
    return pd.Series([_day_start(d, tz) for d in days], index=first_target.index, dtype="datetime64[ns, UTC]")


def _day_start(day: dt.date, tz: str) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize(tz, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")


def day_ahead_hours(store: Store, market: str, location: str, models: Sequence[str] | None = None) -> pd.DataFrame:
    """Every hour of each market day as forecast by a model's day-ahead run of it: of the runs whose first target
    hour lies in the 24 h up to the day's start (``day_ahead_of``) and that reach into the day, the newest issued.
    With the actual price and the price 168 h earlier (the weekly naive forecast) where stored: model,
    target_start, point, the band quantiles (q01 … q99 of BANDS), actual, naive."""
    info = MARKETS[market]
    model_filter = "AND model IN {fs:Array(String)}" if models is not None else ""
    found = store.query_df(
        "SELECT run_id, model, issued_at, first_target, horizon_hours, price_kind FROM forecast_runs "  # noqa: S608 -- the optional filter is a fixed clause; values are bound parameters
        f"WHERE market = {{m:String}} AND location = {{l:String}} {model_filter}",
        {"m": market, "l": location, "fs": list(models or [])})
    columns = ["model", "target_start", "point", *_band_names(), "actual", "naive"]
    if found.empty:
        return pd.DataFrame(columns=columns)
    found["day"] = day_ahead_of(found["first_target"], info.timezone)
    ends = found["first_target"] + pd.to_timedelta(found["horizon_hours"].astype(int), unit="h")
    found = found.loc[ends > found["day"]]
    chosen = found.sort_values(["issued_at", "first_target"]).groupby(["model", "day"], as_index=False).last()
    levels = sorted({i for pair in _BAND_LEVELS.values() for i in pair})
    picks = ", ".join(f"quantiles[{i + 1}] AS q{round(QUANTILE_LEVELS[i] * 100):02d}" for i in levels)
    values = store.query_df(
        f"SELECT run_id, target_start, point, {picks} FROM forecast_values WHERE market = {{m:String}} "  # noqa: S608 -- the picked array indices are fixed code
        "AND location = {l:String} AND run_id IN {ids:Array(String)}",
        {"m": market, "l": location, "ids": chosen["run_id"].tolist()})
    hours = values.merge(chosen[["run_id", "model", "day", "price_kind"]], on="run_id")
    # the hours of the run's own day only (a week-long run's later days are not its day-ahead forecast)
    day_end = hours["day"].map(lambda d: _day_start(d.tz_convert(info.timezone).date() + dt.timedelta(days=1),
                                                    info.timezone))
    hours = hours.loc[(hours["target_start"] >= hours["day"]) & (hours["target_start"] < day_end)]
    if hours.empty:
        return pd.DataFrame(columns=columns)
    frames = []
    for kind, part in hours.groupby("price_kind"):
        prices = actuals(store, market, location, part["target_start"].min() - pd.Timedelta(hours=168),
                         part["target_start"].max() + pd.Timedelta(hours=1), kind)
        frames.append(part.assign(actual=part["target_start"].map(prices),
                                  naive=(part["target_start"] - pd.Timedelta(hours=168)).map(prices)))
    out = pd.concat(frames, ignore_index=True)
    return out[columns].sort_values(["model", "target_start"], ignore_index=True)


def _band_names() -> list[str]:
    levels = sorted({i for pair in _BAND_LEVELS.values() for i in pair})
    return [f"q{round(QUANTILE_LEVELS[i] * 100):02d}" for i in levels]


def _band_pair(width: float) -> tuple[str, str]:
    lo, hi = _BAND_LEVELS[width]
    return f"q{round(QUANTILE_LEVELS[lo] * 100):02d}", f"q{round(QUANTILE_LEVELS[hi] * 100):02d}"


def operator_day_ahead_hours(store: Store, market: str, location: str,
                             scored: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The operator's own price forecast (e.g. AEMO pre-dispatch) scored like a day-ahead run: for each market day
    of ``scored`` (``day_ahead_hours`` rows with an actual and a naive price), the operator's run newest at or
    before the day began, averaged to hours, on the hours of the day that ``scored`` holds. Rows as
    ``day_ahead_hours``' with model OPERATOR and no quantiles, and the forecast's label ("" when none is stored)."""
    columns = ["model", "target_start", "point", *_band_names(), "actual", "naive"]
    report = longest_report(store, market, location, "price")
    if report is None or scored.empty:
        return pd.DataFrame(columns=columns), ""
    tz = MARKETS[market].timezone
    ours = scored.drop_duplicates("target_start")[["target_start", "actual", "naive"]]
    ours = ours.assign(target_start=ours["target_start"].dt.as_unit("ns"))
    dates = ours["target_start"].dt.tz_convert(tz).dt.date
    starts = {d: _day_start(d, tz) for d in dates.unique()}
    ours = ours.assign(known_at=pd.to_datetime(dates.map(starts), utc=True).dt.as_unit("ns"))
    theirs = hourly_runs_known_at(store, market, location, "price", report, list(starts.values()))
    theirs = theirs.assign(target_start=pd.to_datetime(theirs["target_start"], utc=True).dt.as_unit("ns"),
                           known_at=pd.to_datetime(theirs["known_at"], utc=True).dt.as_unit("ns"))
    # the hours of the day the run was known at, as our hours are: a hour forecast is matched to its own day only
    both = ours.merge(theirs, on=["known_at", "target_start"])
    out = both.assign(model=OPERATOR, point=both["value"].astype(float))
    for name in _band_names():
        out[name] = np.nan
    return out[columns].sort_values("target_start", ignore_index=True), REPORT_LABELS.get(report, report)


def accuracy(store: Store, market: str, location: str, models: Sequence[str] | None = None,
             window: int = 28) -> Accuracy:
    """Accuracy of each model's day-ahead runs (``day_ahead_hours``), scored on the hours that have both an actual
    price and the price 168 h earlier, so MAE and rMAE are over the same hours (epftoolbox's m='W'). The operator's
    own price forecast, where stored, is scored beside them as the model OPERATOR on the hours our runs forecast
    (``operator_day_ahead_hours``); ``models`` may name it."""
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 366:
        raise ValueError(f"window must be a whole number of days from 1 to 366 (got {window!r})")
    tz = MARKETS[market].timezone
    ours = None if models is None else [m for m in models if m != OPERATOR]
    hours = day_ahead_hours(store, market, location, ours or None)
    hours = hours.dropna(subset=["actual", "naive"])
    labels = {}
    if models is None or OPERATOR in models:
        theirs, label = operator_day_ahead_hours(store, market, location, hours)
        if ours == []:  # only the operator was asked for: our hours only say which hours to score
            hours = hours.iloc[0:0]
        if not theirs.empty:
            hours = pd.concat([hours.astype({"target_start": theirs["target_start"].dtype}), theirs],
                              ignore_index=True)
            labels[OPERATOR] = label
    if hours.empty:
        return Accuracy(window, (), pd.DataFrame(columns=["hours", "mae", "naive_mae", "rmae"]).rename_axis("model"),
                        pd.DataFrame(columns=["model", "day", "mae", "naive_mae", "rmae"]),
                        pd.DataFrame(columns=["day", "mae"]), pd.DataFrame(columns=["model", "nominal", "observed"]),
                        pd.DataFrame(columns=["model", "hour", "mae"]))
    local = hours["target_start"].dt.tz_convert(tz)
    hours = hours.assign(error=(hours["actual"] - hours["point"]).abs(),
                         naive_error=(hours["actual"] - hours["naive"]).abs(),
                         day=local.dt.date, hour=local.dt.hour)
    summary, coverage_rows, rolling = [], [], []
    for model, part in hours.groupby("model", sort=True):
        summary.append({"model": model, "hours": len(part), "mae": metrics.mae(part["actual"], part["point"]),
                        "naive_mae": metrics.mae(part["actual"], part["naive"]),
                        "rmae": _ratio(metrics.mae(part["actual"], part["point"]),
                                       metrics.mae(part["actual"], part["naive"]))})
        for width in BANDS:
            lo, hi = _band_pair(width)
            if part[lo].isna().all():  # no quantiles (the operator's forecast): no coverage to speak of
                continue
            coverage_rows.append({"model": model, "nominal": width,
                                  "observed": metrics.coverage(part["actual"], part[lo], part[hi])})
        rolling.append(_rolling(part, window, tz).assign(model=model))
    by_hour = hours.groupby(["model", "hour"], as_index=False)["error"].mean().rename(columns={"error": "mae"})
    # the weekly naive's own error on every hour some model forecast, once per hour
    naive = hours.drop_duplicates("target_start")
    baseline = _rolling(naive.assign(error=naive["naive_error"]), window, tz)[["day", "mae"]]
    scored = tuple(sorted(hours["model"].unique()))
    labels = {**{m: model_label(m) for m in scored}, **labels}
    return Accuracy(window, scored, pd.DataFrame(summary).set_index("model"),
                    pd.concat(rolling, ignore_index=True)[["model", "day", "mae", "naive_mae", "rmae"]], baseline,
                    pd.DataFrame(coverage_rows, columns=["model", "nominal", "observed"]), by_hour, labels,
                    _baseline_model(hours, naive["target_start"]))


def _baseline_model(hours: pd.DataFrame, baseline_hours: pd.Series) -> str | None:
    """The model of ``hours`` whose every point is the price 168 h earlier, on exactly ``baseline_hours``. (Equal
    within a millionth of a unit: the run's hourly means and the store's may sum the intervals in another order.)"""
    for model, part in hours.groupby("model", sort=True):
        if (len(part) == len(baseline_hours) and part["target_start"].isin(baseline_hours).all()
                and np.allclose(part["point"].to_numpy(), part["naive"].to_numpy(), rtol=0, atol=1e-6)):
            return model
    return None


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def _rolling(hours: pd.DataFrame, window: int, tz: str) -> pd.DataFrame:
    """MAE, the naive's MAE and rMAE over the ``window`` market days ending on each day with hours scored."""
    daily = hours.groupby("day").agg(error=("error", "sum"), naive_error=("naive_error", "sum"),
                                     n=("error", "size"))
    daily.index = pd.DatetimeIndex([pd.Timestamp(d) for d in daily.index])
    summed = daily.rolling(f"{window}D").sum()
    return pd.DataFrame({
        "day": [_day_start(d.date(), tz) for d in summed.index],
        "mae": (summed["error"] / summed["n"]).to_numpy(),
        "naive_mae": (summed["naive_error"] / summed["n"]).to_numpy(),
        "rmae": (summed["error"] / summed["naive_error"].where(summed["naive_error"] > 0)).to_numpy(),
    })
