"""LEAR (Lago et al. 2021, epftoolbox): per hour of the day a LASSO-estimated ARX on the prices of days d−1,
d−2, d−3, d−7 (all 24 hours each), the exogenous inputs of days d, d−1, d−7 (24 hours each) and weekday
dummies, on asinh(median/MAD)-transformed data, λ by the AIC of the LARS path; the forecast is the mean of the
models calibrated on the last 56, 84, 1092 and 1456 days ("LEAR ensemble").

Same estimator as the toolbox (``LassoLarsIC(criterion='aic')`` then ``Lasso(alpha=alpha_)``), computed
faster: the 24 hour-models of a window share X, so its centred Gram matrix is formed once and each hour runs
``lars_path_gram`` (compiled: :mod:`engine.forecast.lars`); the LASSO solution at the AIC's λ is the LARS
path's knot there, which is the point the toolbox's coordinate-descent refit converges to (tests check both
against scikit-learn). As in current scikit-learn, the AIC takes ``noise_variance = var(y)``: the criterion
of the scikit-learn the toolbox was written for, whose λ it reproduces (the added term does not depend on λ),
and defined with fewer samples than features (the 56- and 84-day windows). That scikit-learn (< 1.2) also
had ``LassoLarsIC(normalize=True)`` by default: λ was chosen on centred columns scaled to unit norm, then
``Lasso`` refitted at that λ on the inputs as given, a far weaker penalty than the AIC's own, so denser
models. ``normalize=True`` (the default) reproduces that and comes closer to the published accuracy (first 91
test days, weekly refits: rMAE NP 0.432 against 0.465 without it, PJM 0.487 against 0.507);
``normalize=False`` is the criterion on the inputs as given.

A day in the frame's own clock is 24 rows from midnight. Forecasts past the first day are made day by day,
feeding the model's own forecasts back as the lagged prices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from engine.forecast.base import PRICE, Prediction
from engine.forecast.lars import lasso_path_gram

WINDOWS = (56, 84, 1092, 1456)
PRICE_LAGS = (1, 2, 3, 7)
EXOG_LAGS = (1, 7)  # and day d itself, appended after these as the toolbox orders them
MAX_LAG = 7
MAX_ITER = 2500  # the toolbox's LassoLarsIC max_iter
_NORMAL_MAD = 0.6744897501960817  # Φ⁻¹(3/4): statsmodels' mad, which the toolbox's scaler uses
_EPS = np.finfo(float).eps


class _InvariantScaler:
    """asinh((x − median) / MAD) per column, MAD scaled to σ for normal data (epftoolbox's 'Invariant')."""

    def __init__(self, data: np.ndarray):
        self.median = np.median(data, axis=0)
        mad = np.median(np.abs(data - self.median), axis=0) / _NORMAL_MAD
        # A column constant over most of the window has MAD 0 (the toolbox would divide by it): fall back to
        # its standard deviation, then to 1, so the column keeps its (small) information instead of a NaN.
        std = np.std(data, axis=0)
        self.mad = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))

    def transform(self, data: np.ndarray) -> np.ndarray:
        return np.arcsinh((data - self.median) / self.mad)

    def inverse(self, data: np.ndarray) -> np.ndarray:
        return np.sinh(data) * self.mad + self.median


def daily(frame: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """(days, prices days × 24, exogenous days × 24 × k) from the whole days of an hourly frame."""
    midnight = np.flatnonzero(frame.index.hour == 0)
    if midnight.size == 0:
        raise ValueError("LEAR needs whole days of hourly data starting at midnight")
    rows = frame.iloc[midnight[0]:]
    n_days = len(rows) // 24
    rows = rows.iloc[: n_days * 24]
    if n_days and (rows.index[-1] - rows.index[0]) != pd.Timedelta(hours=24 * n_days - 1):
        raise ValueError("LEAR needs a regular hourly frame without gaps")
    exog = [c for c in rows.columns if c != PRICE]
    prices = rows[PRICE].to_numpy(float).reshape(n_days, 24)
    exogenous = rows[exog].to_numpy(float).reshape(n_days, 24, len(exog))
    return rows.index[::24], prices, exogenous


def features(days: pd.DatetimeIndex, prices: np.ndarray, exogenous: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The toolbox's regressors for the target day positions ``targets`` (each ≥ 7), in its column order."""
    n_exog = exogenous.shape[2]
    blocks = [prices[targets - lag] for lag in PRICE_LAGS]                          # lag × (n, 24)
    x_prices = np.stack(blocks, axis=2).reshape(len(targets), 24 * len(PRICE_LAGS))  # hour-major, lag-minor
    per_hour = [exogenous[targets - lag] for lag in EXOG_LAGS] + [exogenous[targets]]  # (n, 24, k) each
    x_exog = np.stack(per_hour, axis=2).reshape(len(targets), 24 * (len(EXOG_LAGS) + 1) * n_exog)
    dummies = (days[targets].dayofweek.to_numpy()[:, None] == np.arange(7)).astype(float)
    return np.hstack([x_prices, x_exog, dummies])


def lasso_aic(x: np.ndarray, y: np.ndarray, normalize: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each column of ``y`` (n × m) the LASSO on ``x`` (n × p, intercept fitted) at the λ minimising the
    AIC along the LARS path, as ``LassoLarsIC(criterion='aic', noise_variance=var(y))`` (with ``normalize``:
    the path of unit-norm columns) then ``Lasso(alpha=λ)``: (λ (m), coefficients (m × p), intercepts (m))."""
    n = x.shape[0]
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ xc
    xy = xc.T @ yc
    norms = np.sqrt(np.diag(gram)) if normalize else np.ones(x.shape[1])
    norms = np.where(norms > 0, norms, 1.0)
    ic_gram, ic_xy = gram / np.outer(norms, norms), xy / norms[:, None]
    alphas, coefs = np.empty(y.shape[1]), np.empty((y.shape[1], x.shape[1]))
    for h in range(y.shape[1]):
        path_alphas, path = lasso_path_gram(ic_xy[:, h], ic_gram, n, MAX_ITER, 0.0, _EPS)
        # ‖y − Xβ‖² through the shared Gram matrix: p² per knot instead of n·p (n is up to 1449 days).
        rss = yc[:, h] @ yc[:, h] - 2 * (ic_xy[:, h] @ path) + np.einsum("ik,ik->k", path, ic_gram @ path)
        dof = np.sum(np.abs(path) > _EPS, axis=0)
        variance = np.var(yc[:, h])
        if variance == 0:  # a constant target: the intercept is the model
            alphas[h], coefs[h] = 0.0, 0.0
            continue
        criterion = n * np.log(2 * np.pi * variance) + rss / variance + 2 * dof
        best = int(np.argmin(criterion))
        alphas[h], coefs[h] = path_alphas[best], path[:, best]
        if normalize:  # the refit: the LASSO at that λ on the unnormalised inputs, read off their own path
            _, raw = lasso_path_gram(xy[:, h], gram, n, MAX_ITER, alphas[h], _EPS)
            coefs[h] = raw[:, -1]
    return alphas, coefs, y_mean - coefs @ x_mean


@dataclass(frozen=True)
class _Calibrated:
    """One window's 24 hour-models with the scalers they were fitted under."""
    x_scaler: _InvariantScaler
    y_scaler: _InvariantScaler
    alphas: np.ndarray
    coefs: np.ndarray
    intercepts: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        scaled = x.copy()
        scaled[:, :-7] = self.x_scaler.transform(x[:, :-7])
        return self.y_scaler.inverse(scaled @ self.coefs.T + self.intercepts)


def calibrate(days: pd.DatetimeIndex, prices: np.ndarray, exogenous: np.ndarray, window: int,
              normalize: bool = True) -> _Calibrated:
    """The toolbox's recalibration on the last ``window`` days (fewer if the history is shorter): targets are
    the window's days from its eighth on, so every lag lies inside the window."""
    first = max(0, len(days) - window)
    targets = np.arange(first + MAX_LAG, len(days))
    x, y = features(days, prices, exogenous, targets), prices[targets]
    keep = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    if keep.sum() < 2:
        raise ValueError(f"LEAR's {window}-day window holds {int(keep.sum())} complete days; it needs at least 2")
    x, y = x[keep], y[keep]
    x_scaler, y_scaler = _InvariantScaler(x[:, :-7]), _InvariantScaler(y)
    x = x.copy()
    x[:, :-7] = x_scaler.transform(x[:, :-7])
    alphas, coefs, intercepts = lasso_aic(x, y_scaler.transform(y), normalize)
    return _Calibrated(x_scaler, y_scaler, alphas, coefs, intercepts)


class LEAR:
    """The LEAR ensemble over ``windows`` (days of calibration)."""

    name = "lear"

    def __init__(self, windows: tuple[int, ...] = WINDOWS, min_days: int = 14, normalize: bool = True):
        self.windows = tuple(windows)
        self.normalize = normalize
        self.min_days = min_days
        self.models: list[_Calibrated] = []
        self.exogenous: list[str] = []

    def fit(self, history: pd.DataFrame) -> None:
        days, prices, exogenous = daily(history)
        if len(days) < self.min_days:
            raise ValueError(f"LEAR needs at least {self.min_days} whole days of history, got {len(days)}")
        self.exogenous = [c for c in history.columns if c != PRICE]
        # Windows longer than the history are all the whole history: calibrated once, still counted once each
        # in the average (as the toolbox's ensemble would weigh them).
        made: dict[int, _Calibrated] = {}
        for window in self.windows:
            length = min(window, len(days))
            if length not in made:
                made[length] = calibrate(days, prices, exogenous, length, self.normalize)
        self.models = [made[min(window, len(days))] for window in self.windows]

    def predict(self, seen: pd.DataFrame, start: pd.Timestamp, hours: int = 24) -> Prediction:
        if not self.models:
            raise RuntimeError("LEAR.predict before fit")
        if [c for c in seen.columns if c != PRICE] != self.exogenous:
            raise ValueError(f"LEAR was fitted with exogenous columns {self.exogenous}")
        first_day = start.normalize()
        end = start + pd.Timedelta(hours=hours)
        n_days = int(np.ceil((end - first_day) / pd.Timedelta(days=1)))
        lead = seen.loc[seen.index >= first_day - pd.Timedelta(days=MAX_LAG)]
        grid = pd.date_range(first_day - pd.Timedelta(days=MAX_LAG), periods=(MAX_LAG + n_days) * 24, freq="h")
        lead = lead.reindex(grid)
        days, prices, exogenous = daily(lead)
        prices = prices.copy()
        forecasts = []
        for d in range(MAX_LAG, MAX_LAG + n_days):
            x = features(days, prices, exogenous, np.array([d]))
            if not np.isfinite(x).all():
                raise ValueError(f"LEAR cannot forecast {days[d].date()}: inputs of the week before or "
                                 "the day's exogenous forecasts are missing")
            forecast = np.mean([m.predict(x)[0] for m in self.models], axis=0)
            # Hours of the day already known (a forecast starting after midnight) keep their price as a lag.
            prices[d] = np.where(np.isfinite(prices[d]), prices[d], forecast)
            forecasts.append(forecast)
        offset = int((start - first_day) / pd.Timedelta(hours=1))
        return Prediction(start=start, point=np.concatenate(forecasts)[offset: offset + hours])
