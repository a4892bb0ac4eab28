"""Basis to a hub: node price minus hub price, and its statistics over time (the "basis surface").

Works on long tables of prices, one row per time and node, in the layout of the store's ``nodal_lmp`` table
(``interval_start``, ``node``, ``lmp``, ``energy``, ``congestion``, ``loss``) as the PJM and ISO-NE connectors
parse it, or from a model (:func:`model_prices` renames ``OpfResult.nodes``). Column names are arguments.
The hub is a node or a weighted set of nodes (weights need not sum to 1: the hub price is the weighted
average), the weights fixed or varying with time (a model's load-weighted system hub weighs each bus by its
demand at each snapshot); a time at which a hub node has no price gets no basis.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: A hub: one node, fixed weights per node (a mapping or Series), or weights per time and node (a DataFrame,
#: times x nodes: e.g. each bus's demand, for a load-weighted hub).
Hub = str | Mapping[str, float] | pd.Series | pd.DataFrame


def hub_price(prices: pd.DataFrame, hub: Hub, *, time: str = "interval_start", node: str = "node",
              price: str = "lmp") -> pd.Series:
    """Hub price per time: the node's price, or the weighted average over the hub's nodes.

    A time at which a node of the hub with weight has no price gets no hub price (it is left out, with a
    warning); with weights per time, a time whose weights are all zero has a hub price of NaN."""
    weights = _hub_weights(hub)
    nodes = weights.columns if isinstance(weights, pd.DataFrame) else weights.index
    known = set(prices[node].unique())
    unknown = [n for n in nodes if n not in known]
    if unknown:
        raise KeyError(f"hub nodes not in the prices: {unknown[:5]}")
    wide = prices[prices[node].isin(nodes)].pivot_table(index=time, columns=node, values=price, aggfunc="mean")
    wide = wide.reindex(columns=nodes)
    if isinstance(weights, pd.DataFrame):
        w = weights.reindex(index=wide.index)
    else:
        w = pd.DataFrame(np.broadcast_to(weights.to_numpy(), wide.shape), index=wide.index, columns=nodes)
    complete = (wide.notna() | (w == 0)).all(axis=1) & w.notna().all(axis=1)
    if not complete.all():
        log.warning("hub price missing at %d of %d times (a hub node has no price)", (~complete).sum(), len(wide))
    wide, w = wide[complete], w[complete]
    total = w.sum(axis=1)
    return ((wide.fillna(0.0) * w).sum(axis=1) / total.where(total > 0)).rename("hub")


def _hub_weights(hub: Hub) -> pd.Series | pd.DataFrame:
    """Fixed weights as a Series by node; weights per time as the frame they came in."""
    if isinstance(hub, pd.DataFrame):
        weights = hub.astype(float)
        if weights.empty or not (weights >= 0).to_numpy().all():
            raise ValueError("hub weights must be non-negative numbers")
        return weights
    fixed = pd.Series({hub: 1.0}) if isinstance(hub, str) else pd.Series(hub, dtype=float)
    if fixed.empty or (fixed < 0).any() or fixed.sum() <= 0:
        raise ValueError("hub weights must be non-negative and not all zero")
    return fixed


def basis(prices: pd.DataFrame, hub: Hub, *, time: str = "interval_start", node: str = "node",
          price: str = "lmp") -> pd.DataFrame:
    """``time, node, price, hub, basis`` with basis = node price - hub price ($/MWh)."""
    hub_series = hub_price(prices, hub, time=time, node=node, price=price)
    out = prices[[time, node, price]].merge(hub_series, left_on=time, right_index=True, how="inner")
    out["basis"] = out[price] - out["hub"]
    return out.reset_index(drop=True)


def basis_statistics(frame: pd.DataFrame, *, node: str = "node", value: str = "basis",
                     by: str | None = None, time: str = "interval_start") -> pd.DataFrame:
    """Statistics of ``value`` per node (and per ``by``: "hour", "month", "weekday" of ``time``).

    Columns: ``count``, ``mean``, ``std`` (volatility, sample standard deviation), ``p5``, ``p50``, ``p95``,
    ``min``, ``max``.
    """
    keys = [node]
    data = frame
    if by is not None:
        stamps = pd.to_datetime(frame[time])
        parts = {"hour": stamps.dt.hour, "month": stamps.dt.month, "weekday": stamps.dt.weekday}
        if by not in parts:
            raise ValueError(f"by must be one of {sorted(parts)}, got {by!r}")
        data = frame.assign(**{by: parts[by].to_numpy()})
        keys.append(by)
    grouped = data.groupby(keys, sort=True)[value]
    stats = pd.DataFrame({
        "count": grouped.count(),
        "mean": grouped.mean(),
        "std": grouped.std(ddof=1),
        "p5": grouped.quantile(0.05),
        "p50": grouped.quantile(0.50),
        "p95": grouped.quantile(0.95),
        "min": grouped.min(),
        "max": grouped.max(),
    })
    return stats.reset_index()


def basis_surface(frame: pd.DataFrame, *, node: str = "node", value: str = "basis", time: str = "interval_start",
                  by: str = "hour", statistic: str = "mean") -> pd.DataFrame:
    """A node x period table of one basis statistic (e.g. mean basis by hour of day)."""
    stats = basis_statistics(frame, node=node, value=value, by=by, time=time)
    if statistic not in stats.columns:
        raise ValueError(f"unknown statistic {statistic!r}")
    return stats.pivot(index=node, columns=by, values=statistic)


def model_prices(nodes: pd.DataFrame) -> pd.DataFrame:
    """An ``OpfResult.nodes`` table renamed to the store layout (``interval_start``, ``node``, components)."""
    out = nodes.rename(columns={"snapshot": "interval_start", "bus": "node"})
    return out[[c for c in ("interval_start", "node", "lmp", "energy", "congestion", "loss") if c in out.columns]]
