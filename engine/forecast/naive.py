"""The weekly naive forecast: each hour's price a week (168 h) earlier; beyond 168 h the last known week
repeats. The reference of rMAE (epftoolbox's m='W')."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.forecast.base import PRICE, Prediction

WEEK = 168


def weekly_naive(prices: pd.Series, start: pd.Timestamp, hours: int) -> np.ndarray:
    """The last full week of ``prices`` before ``start``, repeated over ``hours`` hours."""
    index = prices.index
    week = prices.iloc[index.searchsorted(start - pd.Timedelta(hours=WEEK)): index.searchsorted(start)]
    if len(week) < WEEK or week.isna().any():
        raise ValueError(f"the weekly naive forecast from {start} needs the {WEEK} hourly prices before it; "
                         f"{int(week.notna().sum())} are known")
    return np.resize(week.to_numpy(float), hours)


class WeeklyNaive:
    name = "naive"

    def fit(self, history: pd.DataFrame) -> None:
        """Nothing to learn."""

    def predict(self, seen: pd.DataFrame, start: pd.Timestamp, hours: int = 24) -> Prediction:
        return Prediction(start=start, point=weekly_naive(seen[PRICE], start, hours))
