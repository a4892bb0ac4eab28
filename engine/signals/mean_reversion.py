"""Mean reversion: trade a price back towards its rolling mean."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import pandas as pd

from engine.signals import rules
from engine.signals.base import Signals


class MeanReversion:
    """z = (price − rolling mean) / rolling std over ``lookback`` bars (the window ends at, and includes, the
    bar). Short once z > +``entry``, long once z < −``entry``, flat once |z| < ``exit`` or once z changes sign
    (the price crossed its mean); in between the position holds (``rules.band_positions``). Confidence
    |z| / (2 · entry), capped at 1, while positioned.

    Defaults: lookback 48 bars (two days of hourly bars, four hours of 5-minute ones), entry 2, exit 0.5."""

    name = "mean_reversion"
    label = "Mean reversion"
    legs = 1
    defaults = MappingProxyType({"lookback": 48.0, "entry": 2.0, "exit": 0.5})
    grid = MappingProxyType({
        "lookback": tuple(float(b) for b in range(12, 241, 12)),
        "entry": tuple(round(1.0 + 0.2 * i, 1) for i in range(20)),
        "exit": (0.5,),
    })

    def signals(self, prices: pd.DataFrame, params: Mapping[str, Sequence[float] | float]) -> Signals:
        (price,) = rules.check_prices(self.name, prices, self.legs)
        rows = rules.parameter_rows(self.name, self.defaults, params)
        rules.check_bars(self.name, rows, "lookback", 2)
        rules.check_bands(self.name, rows)
        decisions = rules.Decisions(len(price), rows, ["lookback", "exit"])
        rolling = rules.Rolling(price, int(rows["lookback"].max()))
        for lookback, with_lookback in decisions.groups("lookback"):
            z = rolling.zscore(price, int(lookback))
            for exit_, at in decisions.groups("exit", with_lookback):
                rules.band_positions(z, decisions.column("entry", at), exit_, decisions.position[at],
                                     decisions.confidence[at])
        return rules.signals(self.name, prices, rows, decisions, price)
