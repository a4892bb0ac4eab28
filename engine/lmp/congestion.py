"""Congestion forecast: over a set of scenario snapshots, which limits bind, how often, at what price, and the
expected congestion component of every node.

Scenarios are snapshots of a network (demand and renewable availability per snapshot: historical hours, or
load/renewable scenarios from a forecast) solved by the DC-OPF; each may carry a probability weight
(equal by default). Statistics per limit: ``frequency`` (weighted share of scenarios in which it binds),
``hours`` (count), ``mean_shadow_price`` (average over the scenarios where it binds) and
``expected_shadow_price`` (weighted over all). Per node: ``expected_congestion`` (weighted mean of the
congestion component), its ``p5``/``p95`` over scenarios and ``frequency_congested`` (share with
|congestion| > 0.01 $/MWh). Where parallel limits bind together only their combined dual is fixed (see
:func:`engine.lmp.opf.unique_prices`), so how one scenario splits it between them is the solver's choice.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.lmp.network import Network
from engine.lmp.opf import OpfResult, Reference, solve_dcopf

CONGESTED = 0.01  # $/MWh


@dataclass
class CongestionForecast:
    constraints: pd.DataFrame   # branch, from_bus, to_bus, limit_mw, hours, frequency, mean/expected shadow price
    nodes: pd.DataFrame         # bus, expected_congestion, p5, p95, frequency_congested
    result: OpfResult


def with_scenarios(network: Network, demand: pd.DataFrame | None = None,
                   p_max_pu: pd.DataFrame | None = None) -> Network:
    """The network with one snapshot per scenario row of ``demand`` (MW per bus) and/or ``p_max_pu``."""
    return network.replace(demand=network.demand if demand is None else demand,
                           p_max_pu=network.p_max_pu if p_max_pu is None else p_max_pu)


def summarise(result: OpfResult, weights: pd.Series | None = None) -> CongestionForecast:
    """Congestion statistics of an already solved set of scenarios."""
    snaps = result.snapshots
    w = pd.Series(1.0, index=snaps) if weights is None else weights.reindex(snaps).astype(float)
    if w.isna().any() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("scenario weights must cover every snapshot, be non-negative and not all zero")
    w = w / w.sum()
    binding = result.binding.copy()
    binding["weight"] = binding["snapshot"].map(w)
    grouped = binding.groupby("branch", sort=False)
    constraints = pd.DataFrame({
        "from_bus": grouped["from_bus"].first(),
        "to_bus": grouped["to_bus"].first(),
        "limit_mw": grouped["limit_mw"].first(),
        "hours": grouped.size(),
        "frequency": grouped["weight"].sum(),
        "mean_shadow_price": grouped.apply(lambda g: np.average(g["shadow_price"], weights=g["weight"])
                                           if g["weight"].sum() > 0 else g["shadow_price"].mean(),
                                           include_groups=False),
        "expected_shadow_price": grouped.apply(lambda g: (g["shadow_price"] * g["weight"]).sum(),
                                               include_groups=False),
    }).reset_index()
    constraints = constraints.sort_values(["frequency", "expected_shadow_price"], ascending=[False, True],
                                          key=lambda s: s if s.name == "frequency" else -s.abs())
    wide = result.lmp_matrix("congestion").reindex(snaps)
    weights_arr = w.to_numpy()[:, None]
    nodes = pd.DataFrame({
        "bus": wide.columns,
        "expected_congestion": (wide.to_numpy() * weights_arr).sum(axis=0),
        "p5": wide.quantile(0.05).to_numpy(),
        "p95": wide.quantile(0.95).to_numpy(),
        "frequency_congested": ((wide.abs().to_numpy() > CONGESTED) * weights_arr).sum(axis=0),
    })
    return CongestionForecast(constraints=constraints.reset_index(drop=True), nodes=nodes, result=result)


def congestion_forecast(network: Network, snapshots: pd.Index | None = None, weights: pd.Series | None = None,
                        *, reference: Reference = "slack") -> CongestionForecast:
    """Solve every scenario snapshot and summarise which limits bind and the expected congestion per node."""
    result = solve_dcopf(network, snapshots, reference=reference)
    return summarise(result, weights)
