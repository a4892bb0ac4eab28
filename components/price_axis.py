"""The price axis of the price charts: linear, or compressed (PriceAxis) so that spikes and ordinary prices are
both readable; the traces and axis layout it draws, and the control that picks it."""
from __future__ import annotations

from dataclasses import dataclass

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import html

#: The price axis's scales, with their labels and what each does: as the prices are, or linear up to a bound and
#: logarithmic beyond it (PriceAxis).
PRICE_SCALES = {"linear": ("Linear", "Prices as they are"),
                "compressed": ("Compressed", "Linear up to the price 99 % of those drawn stay within, logarithmic "
                                             "beyond: spikes and the ordinary prices both readable")}


@dataclass(frozen=True)
class PriceAxis:
    """A price axis linear within ±``bound`` and logarithmic beyond: each tenfold of price past the bound takes
    as much height as the bound itself (p ↦ sign(p)·bound·(1 + log10(|p|/bound))), continuous at ±bound. So a
    NEM day with a few intervals near the market price cap (over 17,000 AUD/MWh) keeps its ordinary prices
    readable, where a linear axis flattens them to its floor; negative prices fold the same way. The bound is
    where 99 % of the prices drawn stay, on a 1-2-5 step, so it suits each market's currency and level
    (for_prices: None when nothing reaches past it, and the axis stays linear)."""

    bound: float

    @classmethod
    def for_prices(cls, prices: pd.Series | np.ndarray) -> PriceAxis | None:
        values = np.abs(np.asarray(prices, dtype=float))
        values = values[np.isfinite(values)]
        if not values.size:
            return None
        bound = _nice_step_up(float(np.quantile(values, 0.99)))
        return cls(bound) if values.max() > bound else None

    def __call__(self, prices: pd.Series | np.ndarray) -> np.ndarray:
        """The prices' heights on this axis (NaN stays NaN)."""
        p = np.asarray(prices, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            beyond = np.sign(p) * self.bound * (1 + np.log10(np.abs(p) / self.bound))
        return np.where(np.abs(p) > self.bound, beyond, p)

    def layout(self, currency: str, shown: pd.Series | np.ndarray) -> dict:
        """The y axis's title and ticks (at round prices, labelled with them) for the prices ``shown``."""
        p = np.asarray(shown, dtype=float)
        p = p[np.isfinite(p)]
        low, high = (float(p.min()), float(p.max())) if p.size else (0.0, self.bound)
        ticks = [f * self.bound for f in (-1, -0.5, 0, 0.5, 1)]
        ticks += [sign * f * 10.0 ** k for sign in (-1, 1) for k in range(8) for f in (1, 2, 5)
                  if f * 10.0 ** k > self.bound]
        ticks = sorted(t for t in set(ticks) if low <= t <= high or t == 0)
        places = 0 if self.bound >= 10 else 1  # a bound of 1, 2 or 5 has ticks at its halves
        return {"title": {"text": f"{currency}/MWh (log beyond ±{self.bound:,.0f})"}, "tickmode": "array",
                "tickvals": list(self(np.array(ticks))), "ticktext": [f"{t:,.{places}f}" for t in ticks],
                "zeroline": True}


def _nice_step_up(value: float) -> float:
    """The least of 1, 2, 5, 10, 20, 50, ... that is at least ``value`` (at least 1)."""
    if value <= 1:
        return 1.0
    exponent = 10.0 ** np.floor(np.log10(value))
    return next(float(f * exponent) for f in (1, 2, 5, 10) if f * exponent >= value - 1e-9)


def price_heights(prices: pd.Series | np.ndarray, axis: PriceAxis | None) -> pd.Series | np.ndarray:
    """The prices' heights on ``axis`` (None: linear, the prices as they are)."""
    return prices if axis is None else axis(prices)


def price_trace_values(prices: pd.Series | np.ndarray, axis: PriceAxis | None, hover: str | None = None) -> dict:
    """A price trace's y values, and its hover template ``hover`` (None: Plotly's own), in which ``{price}``
    stands for the price: on a compressed axis the y values are heights, and hover reads the prices themselves
    from the trace's customdata."""
    if axis is None:
        values = {"y": prices}
        if hover is not None:
            values["hovertemplate"] = hover.replace("{price}", "%{y:,.2f}")
        return values
    return {"y": axis(prices), "customdata": np.asarray(prices, dtype=float),
            "hovertemplate": (hover or "{price}").replace("{price}", "%{customdata:,.2f}")}


def price_yaxis(axis: PriceAxis | None, currency: str, prices: pd.Series) -> dict:
    return {"title": {"text": f"{currency}/MWh"}} if axis is None else axis.layout(currency, prices)


def scale_control(ident: str, asked: str | None) -> tuple[dbc.RadioItems, str | None]:
    """The radio buttons choosing the price axis, set to ``asked`` (a link's ``scale``), and a note for the page
    when ``asked`` names no scale (the axis is then linear)."""
    known = asked in PRICE_SCALES
    note = None if asked is None or known else (
        f"Price axis {asked[:20]!r} is neither {' nor '.join(map(repr, PRICE_SCALES))}; showing it linear.")
    radio = dbc.RadioItems(id=ident, options=[{"label": html.Span(label, title=does), "value": value}
                                              for value, (label, does) in PRICE_SCALES.items()],
                           value=asked if known else "linear", inline=True)
    return radio, note


def refused_scale(scale: object) -> str | None:
    """Why a callback cannot draw the price axis ``scale`` a request sent (None, from a page older than the
    control, is linear)."""
    if scale is None or (isinstance(scale, str) and scale in PRICE_SCALES):
        return None
    return f"Price axis must be one of {', '.join(PRICE_SCALES)}."


def axis_for(prices: pd.Series | np.ndarray, scale: str | None) -> PriceAxis | None:
    """The compressed axis for ``prices`` when ``scale`` asks for it and they have spikes to compress, else None."""
    return PriceAxis.for_prices(prices) if scale == "compressed" else None
