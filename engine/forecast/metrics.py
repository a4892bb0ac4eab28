"""Forecast accuracy: point errors (MAE, RMSE, sMAPE, rMAE), the pinball loss and CRPS of the 99 quantiles, and
the coverage of central intervals. Pure NumPy over arrays; :func:`score` gives them all at once.

- sMAPE is epftoolbox's: the mean of 2|y − ŷ| / (|y| + |ŷ|), a fraction (0.12, not 12 %); an hour where both
  are 0 counts as 0.
- rMAE is epftoolbox's with m='W': MAE over the MAE of the weekly naive forecast (price 168 h earlier) on the
  same hours.
- CRPS is approximated from the quantiles: CRPS = ∫₀¹ 2·pinball_τ dτ, taken as 2 × the mean pinball loss over
  the 99 levels 0.01 … 0.99 (a midpoint rule; it leaves out the outer 0.5 % of each tail).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from engine.forecast.base import BANDS, QUANTILE_LEVELS, Forecast


def _pair(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(actual, dtype=float).ravel()
    f = np.asarray(forecast, dtype=float).ravel()
    if y.shape != f.shape:
        raise ValueError(f"actual has {y.size} values, the forecast {f.size}")
    if y.size == 0:
        raise ValueError("no values to score")
    return y, f


def mae(actual, forecast) -> float:
    y, f = _pair(actual, forecast)
    return float(np.mean(np.abs(y - f)))


def rmse(actual, forecast) -> float:
    y, f = _pair(actual, forecast)
    return float(np.sqrt(np.mean((y - f) ** 2)))


def smape(actual, forecast) -> float:
    """epftoolbox's sMAPE as a fraction: mean of 2|y − ŷ| / (|y| + |ŷ|)."""
    y, f = _pair(actual, forecast)
    denominator = np.abs(y) + np.abs(f)
    ratio = np.divide(2 * np.abs(y - f), denominator, out=np.zeros_like(y), where=denominator > 0)
    return float(np.mean(ratio))


def rmae(actual, forecast, naive) -> float:
    """MAE relative to the weekly naive forecast's MAE on the same hours (epftoolbox m='W')."""
    reference = mae(actual, naive)
    if reference == 0:
        raise ValueError("the naive forecast is exact on every hour: rMAE is undefined")
    return mae(actual, forecast) / reference


def _quantile_grid(actual, quantiles, levels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(actual, dtype=float).ravel()
    q = np.asarray(quantiles, dtype=float)
    tau = np.asarray(QUANTILE_LEVELS if levels is None else levels, dtype=float)
    if q.ndim != 2 or q.shape != (y.size, tau.size):
        raise ValueError(f"quantiles must be {y.size} × {tau.size}, got {q.shape}")
    return y, q, tau


def pinball(actual, quantiles, levels=None) -> float:
    """Pinball (quantile) loss averaged over hours and levels (default the 99 of ``QUANTILE_LEVELS``)."""
    y, q, tau = _quantile_grid(actual, quantiles, levels)
    diff = y[:, None] - q
    return float(np.mean(np.maximum(tau * diff, (tau - 1) * diff)))


def crps(actual, quantiles, levels=None) -> float:
    """CRPS from the quantiles: 2 × the mean pinball loss over the quantile grid."""
    return 2 * pinball(actual, quantiles, levels)


def coverage(actual, lower, upper) -> float:
    """Share of hours whose actual lies in [lower, upper]."""
    y = np.asarray(actual, dtype=float).ravel()
    lo = np.asarray(lower, dtype=float).ravel()
    hi = np.asarray(upper, dtype=float).ravel()
    return float(np.mean((y >= lo) & (y <= hi)))


def band_columns(width: float) -> tuple[int, int]:
    """Indices in ``QUANTILE_LEVELS`` of the central interval of ``width`` (0.90 → q05, q95)."""
    lower = round((1 - width) / 2, 2)
    return int(np.argmin(np.abs(QUANTILE_LEVELS - lower))), int(np.argmin(np.abs(QUANTILE_LEVELS - (1 - lower))))


@dataclass(frozen=True)
class Scores:
    hours: int
    mae: float
    rmse: float
    smape: float
    rmae: float
    pinball: float
    crps: float
    coverage50: float
    coverage80: float
    coverage90: float
    coverage98: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def summary(self) -> str:
        return (f"hours {self.hours}  MAE {self.mae:.3f}  rMAE {self.rmae:.3f}  sMAPE {self.smape:.4f}  "
                f"RMSE {self.rmse:.3f}  pinball {self.pinball:.3f}  CRPS {self.crps:.3f}  coverage 50/80/90/98 "
                f"{self.coverage50:.3f}/{self.coverage80:.3f}/{self.coverage90:.3f}/{self.coverage98:.3f}")


def _point_and_quantiles(forecast) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(forecast, Forecast):
        return forecast.point, forecast.quantiles
    if isinstance(forecast, pd.DataFrame):
        names = [f"q{round(q * 100):02d}" for q in QUANTILE_LEVELS]
        missing = [c for c in ["forecast", *names] if c not in forecast.columns]
        if missing:
            raise ValueError(f"forecast frame lacks columns {missing[:5]}")
        return forecast["forecast"].to_numpy(float), forecast[names].to_numpy(float)
    point, quantiles = forecast
    return np.asarray(point, dtype=float), np.asarray(quantiles, dtype=float)


def score(actual, forecast, naive) -> Scores:
    """Every metric at once. ``forecast``: a :class:`Forecast`, a frame with ``forecast`` and ``q01``…``q99``,
    or a pair (point, hours × 99 quantiles); ``naive``: the weekly naive forecast of the same hours."""
    point, quantiles = _point_and_quantiles(forecast)
    y, f = _pair(actual, point)
    covered = {}
    for width in BANDS:
        lo, hi = band_columns(width)
        covered[width] = coverage(y, quantiles[:, lo], quantiles[:, hi])
    return Scores(hours=int(y.size), mae=mae(y, f), rmse=rmse(y, f), smape=smape(y, f), rmae=rmae(y, f, naive),
                  pinball=pinball(y, quantiles), crps=crps(y, quantiles), coverage50=covered[0.50],
                  coverage80=covered[0.80], coverage90=covered[0.90], coverage98=covered[0.98])
