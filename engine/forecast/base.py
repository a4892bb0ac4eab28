"""What every forecast model shares: the input frame, the quantile grid, a model's prediction, a forecast.

The **history frame** is a ``pd.DataFrame`` indexed by the hourly ``DatetimeIndex`` of each hour's start (one
row per hour, no gaps; in the market's own clock for the epftoolbox files, UTC instants for the store), with
the column ``price`` and zero or more exogenous columns (day-ahead forecasts the market publishes, known for
the forecast day before it starts). A model forecasting the hours from ``start`` sees :func:`visible`: every
row before ``start + hours`` with the price of the hours from ``start`` on masked, so no model can look ahead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

#: 0.01 … 0.99: every forecast carries these quantiles (the pinball loss averages over all 99; the bands use
#: the outer pairs).
QUANTILE_LEVELS = np.round(np.arange(1, 100) / 100, 2)
#: central interval widths drawn as the fan's bands: 50 % is q25..q75, 98 % is q01..q99.
BANDS = (0.50, 0.80, 0.90, 0.98)
PRICE = "price"


def visible(frame: pd.DataFrame, start: pd.Timestamp, hours: int) -> pd.DataFrame:
    """What a forecaster issuing for ``[start, start + hours)`` may know: earlier prices, and exogenous inputs
    up to the end of the horizon (they are the operator's own forecasts, published ahead)."""
    end = start + pd.Timedelta(hours=hours)
    seen = frame.loc[frame.index < end].copy()
    seen.loc[seen.index >= start, PRICE] = np.nan
    return seen


@dataclass(frozen=True)
class Prediction:
    """A model's raw answer for ``hours`` hours from ``start``: the point forecast and, for a stochastic model
    (Monte Carlo dropout), its ``samples`` (n × hours) before calibration."""
    start: pd.Timestamp
    point: np.ndarray
    samples: np.ndarray | None = None


@dataclass(frozen=True)
class Forecast:
    """A calibrated forecast: the point and the 99 quantiles (hours × 99, non-decreasing along each row)."""
    times: pd.DatetimeIndex
    point: np.ndarray
    quantiles: np.ndarray
    model: str

    def quantile(self, level: float) -> np.ndarray:
        return self.quantiles[:, int(np.argmin(np.abs(QUANTILE_LEVELS - level)))]

    def to_frame(self) -> pd.DataFrame:
        out = pd.DataFrame({"forecast": self.point}, index=self.times)
        for j, q in enumerate(QUANTILE_LEVELS):
            out[f"q{round(q * 100):02d}"] = self.quantiles[:, j]
        return out


class Model(Protocol):
    """A day-ahead (up to a week ahead) price model. ``fit`` sees only rows before the first hour it will be
    asked about; ``predict`` sees :func:`visible` for its horizon."""
    name: str

    def fit(self, history: pd.DataFrame) -> None: ...

    def predict(self, seen: pd.DataFrame, start: pd.Timestamp, hours: int = 24) -> Prediction: ...
