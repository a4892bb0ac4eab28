"""The product's ensemble: a weighted mean of the transformer's and LEAR's point forecasts; its spread is the
transformer's Monte Carlo samples, shifted by the difference between the ensemble's point and the transformer's.

The weight is learned from the members' own out-of-sample record: after each forecast day whose prices are
known (:meth:`Ensemble.observe`), the transformer's weight becomes the one, on a grid of 0, 0.05, …, 1, whose
mix had the lowest mean absolute error over the last ``WEIGHT_DAYS`` observed days (0.5 before ``MIN_DAYS``).
Only forecasts made before their prices were known enter it, so the weight never looks ahead. On the
epftoolbox datasets this matters: the transformer alone is well behind LEAR (rMAE 0.63 against 0.54 on FR), and an
even mix is worse than LEAR alone there, while the best mix weighs the transformer about a quarter."""
from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

from engine.forecast.base import Model, Prediction

#: days of the members' record the weight is chosen on (a quarter: long enough to be stable, short enough to
#: follow a member that improves or degrades)
WEIGHT_DAYS = 91
#: days of record before the weight leaves its starting 0.5
MIN_DAYS = 7
WEIGHT_GRID = np.linspace(0.0, 1.0, 21)


class Ensemble:
    name = "ensemble"

    def __init__(self, transformer: Model, lear: Model, transformer_every_days: int | None = None):
        """``transformer_every_days``: refit the transformer only when its last fit saw history ending at least
        that many days before this one (LEAR is refitted at every fit); None: at every fit."""
        self.transformer = transformer
        self.lear = lear
        self.transformer_every = None if transformer_every_days is None else pd.Timedelta(days=transformer_every_days)
        self._transformer_end: pd.Timestamp | None = None
        # (transformer point, LEAR point, actual) of each observed hour, a day per entry
        self._record: deque[np.ndarray] = deque(maxlen=WEIGHT_DAYS)
        self.weight = 0.5  # the transformer's; LEAR's is 1 - weight

    def fit(self, history: pd.DataFrame) -> None:
        end = history.index[-1]
        if (self.transformer_every is None or self._transformer_end is None
                or end - self._transformer_end >= self.transformer_every):
            self.transformer.fit(history)
            self._transformer_end = end
        self.lear.fit(history)

    def predict_members(self, seen: pd.DataFrame, start: pd.Timestamp, hours: int = 24) -> dict[str, Prediction]:
        """Each member's own prediction, by name (a backtest scores them beside the ensemble at no extra cost)."""
        return {"transformer": self.transformer.predict(seen, start, hours),
                "lear": self.lear.predict(seen, start, hours)}

    def combine(self, members: dict[str, Prediction]) -> Prediction:
        neural, linear = members["transformer"], members["lear"]
        point = self.weight * neural.point + (1 - self.weight) * linear.point
        samples = None if neural.samples is None else neural.samples + (point - neural.point)[None, :]
        return Prediction(start=neural.start, point=point, samples=samples)

    def observe(self, members: dict[str, Prediction], actual: np.ndarray) -> None:
        """Learn from a forecast day whose prices are now known (``actual``, aligned with the members' points;
        NaN where unknown): the day joins the record and the weight is chosen again."""
        neural, linear = members["transformer"].point, members["lear"].point
        n = min(len(actual), len(neural), len(linear))
        day = np.column_stack([neural[:n], linear[:n], np.asarray(actual[:n], dtype=float)])
        day = day[np.isfinite(day).all(axis=1)]
        if not len(day):
            return
        self._record.append(day)
        if len(self._record) < MIN_DAYS:
            return
        rows = np.vstack(self._record)
        mixes = WEIGHT_GRID[:, None] * rows[None, :, 0] + (1 - WEIGHT_GRID[:, None]) * rows[None, :, 1]
        errors = np.abs(mixes - rows[None, :, 2]).mean(axis=1)
        self.weight = float(WEIGHT_GRID[int(np.argmin(errors))])

    def predict(self, seen: pd.DataFrame, start: pd.Timestamp, hours: int = 24) -> Prediction:
        return self.combine(self.predict_members(seen, start, hours))
