"""The strategies a backtest, the page and the command line can name, in the order the page lists them."""
from __future__ import annotations

from engine.signals.base import Strategy
from engine.signals.mean_reversion import MeanReversion
from engine.signals.ml_ensemble import MLEnsemble
from engine.signals.momentum import Momentum
from engine.signals.spread import Spread
from engine.signals.volatility import VolatilityRegime

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (MeanReversion(), Momentum(), Spread(), VolatilityRegime(),
                                                       MLEnsemble())}


def strategy(name: str) -> Strategy:
    """The strategy called ``name``; ValueError naming the choices otherwise."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}") from None


def labels() -> dict[str, str]:
    """Each strategy's name and the label the page shows for it."""
    return {name: s.label for name, s in STRATEGIES.items()}
