"""Congestion forecast: over a set of scenario snapshots, which limits bind, how often, at what price, and the
expected congestion component of every node.

Scenarios are snapshots of a network (demand and renewable availability per snapshot: historical hours, or
load/renewable scenarios from a forecast) solved by the DC-OPF; each may carry a probability weight (equal by
default). Statistics per limit: ``frequency`` (weighted share of scenarios in which it binds), ``scenarios_binding``
(a count: of hours only when the scenarios are hours), ``mean_shadow_price`` (average over the scenarios where it
binds) and ``expected_shadow_price`` (weighted over all). Per node: ``expected_congestion`` (weighted mean of the
congestion component), its ``p5``/``p95`` over scenarios and ``frequency_congested`` (share with |congestion| > 0.01
$/MWh). Where parallel limits bind together only their combined dual is fixed (see
:func:`engine.lmp.opf.unique_prices`), so how one scenario splits it between them is the solver's choice.

A node's **exposure** to a limit is what that limit adds to the node's expected congestion: the limit's
expected shadow price times its PTDF row at the node (relative to the slack reference, whose PTDF does not
change between scenarios). Summed over the limits, a node's exposures are its expected congestion.

Scaled scenarios (:func:`scaled_scenarios`) stand for a distribution by three points, its 10th, 50th and 90th
percentiles, weighted 0.3/0.4/0.3 (Swanson's rule, the usual three-point discretisation). The demand spread
comes from the latest stored operational demand forecast (AEMO's POE90/POE50/POE10, ``operator_forecasts``)
when the store holds one (:func:`stored_demand_spread`), else from :data:`FALLBACK_DEMAND_SCALES`. A scenario
whose demand the network cannot serve within its limits makes the solve fail (OpfError naming it): the DC-OPF
has no load shedding, and leaving the scenario out would understate congestion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.lmp.network import Network
from engine.lmp.opf import OpfResult, Reference, solve_dcopf
from engine.markets import MARKETS
from engine.store import Store

CONGESTED = 0.01  # $/MWh
#: The three scenario levels of a scaled set, as the 10th, 50th and 90th percentiles of demand.
LEVELS = ("low", "mid", "high")
#: Swanson's rule: the probability each of LEVELS stands for.
LEVEL_WEIGHTS = (0.3, 0.4, 0.3)
#: Demand per level when no stored forecast gives its spread: ±5 % taken as the 10th/90th percentiles
#: (SciGRID-de's evening hours cannot serve 10 % more demand within its line limits).
FALLBACK_DEMAND_SCALES = (0.95, 1.0, 1.05)
#: Renewable availability per level: as in each snapshot, since no stored renewable forecast carries quantiles
#: (IESO's VG forecast is a single value). ``scaled_scenarios`` takes other scales, capped at full availability.
RENEWABLE_SCALES = (1.0, 1.0, 1.0)
#: The stored demand forecast a spread is read from, and its three probability-of-exceedance series
#: in LEVELS order (POE90 is exceeded nine times in ten: the low scenario).
DEMAND_REPORT = "demand_hh"
DEMAND_SERIES = ("demand_poe90", "demand_poe50", "demand_poe10")


@dataclass
class CongestionForecast:
    #: branch, from_bus, to_bus, limit_mw, scenarios_binding, frequency, mean/expected shadow price
    constraints: pd.DataFrame
    nodes: pd.DataFrame         # bus, expected_congestion, p5, p95, frequency_congested
    result: OpfResult
    exposure: pd.DataFrame | None = None  # branch (binding limits, as in constraints) x bus, $/MWh


def with_scenarios(network: Network, demand: pd.DataFrame | None = None,
                   p_max_pu: pd.DataFrame | None = None) -> Network:
    """The network with one snapshot per scenario row of ``demand`` (MW per bus) and/or ``p_max_pu``."""
    return network.replace(demand=network.demand if demand is None else demand,
                           p_max_pu=network.p_max_pu if p_max_pu is None else p_max_pu)


def normalised_weights(snapshots: pd.Index, weights: pd.Series | None) -> pd.Series:
    """Weights by snapshot summing to one (equal without ``weights``); ValueError when they cannot be."""
    w = pd.Series(1.0, index=snapshots) if weights is None else weights.reindex(snapshots).astype(float)
    if w.isna().any() or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError("scenario weights must cover every snapshot, be non-negative and not all zero")
    return w / w.sum()


def summarise(result: OpfResult, weights: pd.Series | None = None) -> CongestionForecast:
    """Congestion statistics of an already solved set of scenarios."""
    snaps = result.snapshots
    w = normalised_weights(snaps, weights)
    binding = result.binding.copy()
    binding["weight"] = binding["snapshot"].map(w)
    binding["weighted"] = binding["shadow_price"] * binding["weight"]
    grouped = binding.groupby("branch", sort=False)
    weight_sum = grouped["weight"].sum()
    expected = grouped["weighted"].sum()
    # A limit binding only in scenarios of weight zero gets its plain mean: the price it had there.
    mean_price = (expected / weight_sum.where(weight_sum > 0)).fillna(grouped["shadow_price"].mean())
    constraints = pd.DataFrame({
        "branch": weight_sum.index.astype(str),
        "from_bus": grouped["from_bus"].first().to_numpy(),
        "to_bus": grouped["to_bus"].first().to_numpy(),
        "limit_mw": grouped["limit_mw"].first().to_numpy(float),
        "scenarios_binding": grouped.size().to_numpy(int),
        "frequency": weight_sum.to_numpy(float),
        "mean_shadow_price": mean_price.to_numpy(float),
        "expected_shadow_price": expected.to_numpy(float),
    })
    constraints = constraints.sort_values(["frequency", "expected_shadow_price"], ascending=[False, True],
                                          key=lambda s: s if s.name == "frequency" else -s.abs())
    constraints = constraints.reset_index(drop=True)
    wide = result.lmp_matrix("congestion").reindex(snaps)
    weights_arr = w.to_numpy()[:, None]
    nodes = pd.DataFrame({
        "bus": wide.columns,
        "expected_congestion": (wide.to_numpy() * weights_arr).sum(axis=0),
        "p5": wide.quantile(0.05).to_numpy(),
        "p95": wide.quantile(0.95).to_numpy(),
        "frequency_congested": ((wide.abs().to_numpy() > CONGESTED) * weights_arr).sum(axis=0),
    })
    return CongestionForecast(constraints=constraints, nodes=nodes, result=result,
                              exposure=exposure_matrix(result, constraints, nodes))


def exposure_matrix(result: OpfResult, constraints: pd.DataFrame, nodes: pd.DataFrame) -> pd.DataFrame:
    """$/MWh each binding limit (rows, in ``constraints`` order) adds to each bus's expected congestion
    (columns): its expected shadow price times its PTDF row. NaN at buses without a price."""
    if result.info.get("reference", "slack") != "slack":
        raise ValueError("node exposures need the slack reference: a weighted reference's PTDF changes with "
                         "each scenario's demand")
    rows = result.ptdf.reindex(index=constraints["branch"].astype(str), columns=nodes["bus"])
    matrix = rows.to_numpy(float) * constraints["expected_shadow_price"].to_numpy(float)[:, None]
    matrix[:, ~np.isfinite(nodes["expected_congestion"].to_numpy(float))] = np.nan
    frame = pd.DataFrame(matrix + 0.0, index=rows.index, columns=rows.columns)
    frame.index.name, frame.columns.name = "branch", "bus"
    return frame


def congestion_forecast(network: Network, snapshots: pd.Index | None = None, weights: pd.Series | None = None,
                        *, reference: Reference = "slack") -> CongestionForecast:
    """Solve every scenario snapshot and summarise which limits bind and the expected congestion per node."""
    result = solve_dcopf(network, snapshots, reference=reference)
    return summarise(result, weights)


@dataclass(frozen=True)
class Scenarios:
    """Scenario snapshots of a network and their probability weights."""

    network: Network            # one snapshot per scenario
    table: pd.DataFrame         # scenario, snapshot (of the base network), level, demand_scale, renewable_scale, weight
    source: str                 # where the scenarios and their weights come from, as the page says it

    @property
    def weights(self) -> pd.Series:
        return pd.Series(self.table["weight"].to_numpy(float), index=self.network.snapshots, name="weight")


def _levels_ok(values: Any, what: str, *, positive: bool) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape[-1:] != (len(LEVELS),) or not np.isfinite(array).all() or (
            (array <= 0).any() if positive else (array < 0).any()):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{what} must be {len(LEVELS)} finite {kind} numbers per snapshot ({', '.join(LEVELS)})")
    return array


def scaled_scenarios(network: Network, snapshots: pd.Index, demand_scales: pd.DataFrame | tuple[float, ...],
                     *, renewable_scales: tuple[float, ...] = RENEWABLE_SCALES,
                     level_weights: tuple[float, ...] = LEVEL_WEIGHTS, source: str = "") -> Scenarios:
    """One scenario per snapshot of ``snapshots`` and level of :data:`LEVELS`: demand times the level's scale
    (``demand_scales``: the same three for every snapshot, or a frame by snapshot with one column per level)
    and, where the network has ``p_max_pu``, renewable availability times ``renewable_scales`` (capped at 1).
    Each snapshot weighs the same; within it, the levels weigh ``level_weights``."""
    if len(snapshots) == 0:
        raise ValueError("scenarios need at least one snapshot")
    missing = pd.Index(snapshots).difference(network.snapshots)
    if len(missing):
        raise ValueError(f"snapshot {missing[0]!r} is not a snapshot of {network.name}")
    if isinstance(demand_scales, pd.DataFrame):
        scales = _levels_ok(demand_scales.reindex(index=snapshots, columns=list(LEVELS)).to_numpy(float),
                            "demand scales", positive=True)
    else:
        scales = np.tile(_levels_ok(demand_scales, "demand scales", positive=True), (len(snapshots), 1))
    renewables = _levels_ok(renewable_scales, "renewable scales", positive=False)
    level_w = _levels_ok(level_weights, "level weights", positive=False)
    if level_w.sum() <= 0:
        raise ValueError("level weights must not all be zero")
    demand = pd.DataFrame(network.demand_matrix(snapshots), index=snapshots, columns=network.buses.index)
    labels, rows, pu_rows = [], [], []
    for i, snap in enumerate(snapshots):
        for j, level in enumerate(LEVELS):
            labels.append(f"{snap} {level}")
            rows.append(demand.loc[snap].to_numpy(float) * scales[i, j])
            if network.p_max_pu is not None:
                pu_rows.append(np.minimum(network.p_max_pu.loc[snap].to_numpy(float) * renewables[j], 1.0))
    index = pd.Index(labels, name="snapshot")
    scenario_demand = pd.DataFrame(np.vstack(rows), index=index, columns=network.buses.index)
    scenario_pu = None if network.p_max_pu is None else pd.DataFrame(np.vstack(pu_rows), index=index,
                                                                      columns=network.p_max_pu.columns)
    scen = network.replace(demand=scenario_demand, p_max_pu=scenario_pu)
    n = len(snapshots)
    table = pd.DataFrame({
        "scenario": labels,
        "snapshot": np.repeat(np.asarray(snapshots, dtype=object), len(LEVELS)),
        "level": np.tile(LEVELS, n),
        "demand_scale": scales.ravel(),
        "renewable_scale": np.tile(renewables if network.p_max_pu is not None else np.ones(len(LEVELS)), n),
        "weight": np.tile(level_w / level_w.sum(), n) / n,
    })
    return Scenarios(scen, table, source)


@dataclass(frozen=True)
class DemandSpread:
    """Demand of the three LEVELS relative to the median, by hour of day (market time), from one stored run."""

    scales: pd.DataFrame        # index hour 0..23, columns LEVELS
    market: str
    issued_at: pd.Timestamp     # UTC
    zone: str


def stored_demand_spread(store: Store, market: str = "NEM") -> DemandSpread | None:
    """The spread of the latest stored operational demand forecast of ``market`` (all its regions summed), over
    the first day it forecasts: POE90/POE50 and POE10/POE50 by hour of day. None when the store holds none."""
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}")
    frame = store.query_df(
        "SELECT toStartOfHour(interval_start) AS hour, variable, sum(value) / uniqExact(interval_start) AS mw, "
        "any(issued_at) AS run_issued FROM operator_forecasts FINAL "
        "WHERE market = {market:String} AND report = {report:String} AND variable IN {series:Array(String)} "
        "AND issued_at = (SELECT max(issued_at) FROM operator_forecasts WHERE market = {market:String} "
        "AND report = {report:String} AND variable = {median:String}) "
        "GROUP BY hour, variable ORDER BY hour",
        {"market": market, "report": DEMAND_REPORT, "series": list(DEMAND_SERIES), "median": DEMAND_SERIES[1]})
    if frame.empty:
        return None
    wide = frame.pivot(index="hour", columns="variable", values="mw").reindex(columns=list(DEMAND_SERIES))
    wide = wide.dropna()
    wide = wide[wide.index < wide.index.min() + pd.Timedelta(hours=24)] if len(wide) else wide
    if wide.empty or (wide[DEMAND_SERIES[1]] <= 0).any():
        return None
    zone = MARKETS[market].timezone
    starts = pd.DatetimeIndex(wide.index)
    hours = (starts.tz_localize("UTC") if starts.tz is None else starts).tz_convert(zone).hour
    ratios = wide.div(wide[DEMAND_SERIES[1]], axis=0)
    ratios.columns = list(LEVELS)
    ratios.index = hours
    scales = ratios.groupby(level=0).mean().reindex(range(24)).interpolate(limit_direction="both")
    issued = pd.Timestamp(frame["run_issued"].iat[0])
    issued = issued.tz_localize("UTC") if issued.tz is None else issued.tz_convert("UTC")
    return DemandSpread(scales, market, issued, zone)
