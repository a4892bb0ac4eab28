"""From a model's point (and Monte Carlo samples) to 99 calibrated quantiles, learnt from past residuals only.

Plain empirical quantiles of past errors under-cover when volatility shifts, and MC dropout alone measures the
model's uncertainty, not the noise. So each forecast hour gets

    q_τ = point + s · Z(τ′)

- ``s``, a local spread: the mean absolute residual of the last ``scale_days`` days at the same hour of the
  day (and the same day of the horizon), half-and-half with that of all hours, so it follows volatility
  within a fortnight; with MC samples, combined with their robust spread σ_mc (IQR/1.349) as sqrt(s² + σ_mc²).
- ``Z``, the empirical (split-conformal) distribution of the normalised residuals r / s of the last
  ``memory_days`` days, pooled over hours (the spread carries the hour-of-day shape).
- ``τ′``, each level's adaptive conformal correction (Gibbs & Candès 2021, ACI): after each day,
  τ′ ← τ′ + γ·(τ − share of that day's hours at or below q_τ), which steers every quantile's realised
  frequency, and so every central band's coverage, to its nominal value when the residuals drift.

Rows are sorted, so the quantiles never cross. Before any residual is known the spread falls back to the MC
robust spread (or 10 % of the mean |point|) and Z to the standard normal: an uncalibrated fan.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from engine.forecast.base import QUANTILE_LEVELS, Forecast, Prediction


_IQR_OF_NORMAL = 1.3489795003921634  # Φ⁻¹(3/4) − Φ⁻¹(1/4)


class Calibrator:
    def __init__(self, model: str, memory_days: int = 182, scale_days: int = 14, gamma: float = 0.02):
        self.model = model
        self.memory_days = memory_days
        self.scale_days = scale_days
        self.gamma = gamma
        self.levels = QUANTILE_LEVELS.astype(float).copy()  # τ′, one per level
        self._time = np.empty(0, dtype="datetime64[ns]")
        self._slot = np.empty(0, dtype=int)        # day of the horizon × 24 + hour of the day
        self._abs = np.empty(0)                    # |residual|
        self._z = np.empty(0)                      # residual / spread used for it

    @property
    def residuals(self) -> int:
        return int(self._z.size)

    def _leads(self, prediction: Prediction, times: pd.DatetimeIndex) -> np.ndarray:
        hour_ns = 3_600_000_000_000
        return ((times.asi8 - pd.Timestamp(prediction.start).as_unit("ns").value) // hour_ns).astype(int)

    def _spread(self, prediction: Prediction, times: pd.DatetimeIndex) -> np.ndarray:
        leads = self._leads(prediction, times)
        slots = (leads // 24) * 24 + times.hour.to_numpy()
        point = self._point(prediction, leads)
        mc = None
        if prediction.samples is not None:
            # A robust spread (IQR scaled to σ for normal data): samples mapped back through sinh from a
            # variance-stabilised scale have heavy tails that a standard deviation would let dominate.
            q75, q25 = np.percentile(np.asarray(prediction.samples, dtype=float)[:, leads], [75, 25], axis=0)
            mc = (q75 - q25) / _IQR_OF_NORMAL
        if self._abs.size == 0:
            fallback = np.full(len(times), 0.1 * max(float(np.mean(np.abs(point))), 1e-6))
            return mc if mc is not None and np.all(mc > 0) else fallback
        recent = self._time >= self._time.max() - np.timedelta64(self.scale_days, "D")
        overall = float(np.mean(self._abs[recent]))
        spread = np.empty(len(times))
        for i, slot in enumerate(slots):
            same = recent & (self._slot == slot)
            if not same.any():  # no record for this day of the horizon: the first day's, widened as √days
                same = recent & (self._slot == slot % 24)
                widen = np.sqrt(slot // 24 + 1)
            else:
                widen = 1.0
            by_hour = float(np.mean(self._abs[same])) if same.any() else overall
            spread[i] = widen * (0.5 * by_hour + 0.5 * overall)
        spread = np.maximum(spread, 1e-6 * max(overall, 1e-9))
        return np.sqrt(spread ** 2 + mc ** 2) if mc is not None else spread

    @staticmethod
    def _point(prediction: Prediction, leads: np.ndarray) -> np.ndarray:
        return np.asarray(prediction.point, dtype=float)[leads]

    def _quantiles(self, point: np.ndarray, spread: np.ndarray) -> np.ndarray:
        if self._z.size == 0:
            z = norm.ppf(QUANTILE_LEVELS)
        else:
            z = np.quantile(self._z, np.clip(self.levels, 0.0, 1.0))
        return np.sort(point[:, None] + spread[:, None] * z[None, :], axis=1)

    def forecast(self, prediction: Prediction, times: pd.DatetimeIndex) -> Forecast:
        """The calibrated forecast of ``times`` (hours of ``prediction``'s horizon)."""
        times = pd.DatetimeIndex(times)
        point = self._point(prediction, self._leads(prediction, times))
        quantiles = self._quantiles(point, self._spread(prediction, times))
        return Forecast(times=times, point=point, quantiles=quantiles, model=self.model)

    def update(self, times: pd.DatetimeIndex, actual: np.ndarray, prediction: Prediction) -> None:
        """Learn from the outcome of ``prediction`` at ``times`` (call once the prices are known, after
        forecasting them). Hours without a price are skipped."""
        times = pd.DatetimeIndex(times)
        actual = np.asarray(actual, dtype=float)
        known = np.isfinite(actual)
        if not known.any():
            return
        times, actual = times[known], actual[known]
        leads = self._leads(prediction, times)
        point = self._point(prediction, leads)
        spread = self._spread(prediction, times)
        below = actual[:, None] <= self._quantiles(point, spread)
        self.levels = np.clip(self.levels + self.gamma * (QUANTILE_LEVELS - below.mean(axis=0)), -0.5, 1.5)
        residual = actual - point
        self._time = np.concatenate([self._time, times.to_numpy(dtype="datetime64[ns]")])
        self._slot = np.concatenate([self._slot, (leads // 24) * 24 + times.hour.to_numpy()])
        self._abs = np.concatenate([self._abs, np.abs(residual)])
        self._z = np.concatenate([self._z, residual / spread])
        keep = self._time >= self._time.max() - np.timedelta64(self.memory_days, "D")
        self._time, self._slot, self._abs, self._z = (a[keep] for a in (self._time, self._slot, self._abs, self._z))
