"""The product's ensemble: the mean of the transformer's and LEAR's point forecasts; its spread is the
transformer's Monte Carlo samples, shifted by the difference between the ensemble's point and the transformer's."""
from __future__ import annotations

import pandas as pd

from engine.forecast.base import Model, Prediction


class Ensemble:
    name = "ensemble"

    def __init__(self, transformer: Model, lear: Model, transformer_every_days: int | None = None):
        """``transformer_every_days``: refit the transformer only when its last fit saw history ending at least
        that many days before this one (LEAR is refitted at every fit); None: at every fit."""
        self.transformer = transformer
        self.lear = lear
        self.transformer_every = None if transformer_every_days is None else pd.Timedelta(days=transformer_every_days)
        self._transformer_end: pd.Timestamp | None = None

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
        start = neural.start
        point = (neural.point + linear.point) / 2
        samples = None if neural.samples is None else neural.samples + (point - neural.point)[None, :]
        return Prediction(start=start, point=point, samples=samples)

    def predict(self, seen: pd.DataFrame, start: pd.Timestamp, hours: int = 24) -> Prediction:
        return self.combine(self.predict_members(seen, start, hours))
