"""What the nodal page studies: a network from the grid folder, a day of its snapshots, the solved DC-OPF
(and, for a what-if, the base case beside it), where to draw each bus, and the views a page shows: the node
table at one snapshot against a hub, one bus over the day, one line's shadow price and PTDF, and the
congestion forecast over a set of scenarios (:func:`congestion_study`).

Studies are solved once per process and kept (:class:`Studies`): they hold numpy tables not worth pickling to
a cache server, and the page's callbacks ask for the same study side by side.
"""
from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.lmp.basis import hub_price, model_prices
from engine.lmp.cases import list_cases, load_case
from engine.lmp.congestion import (FALLBACK_DEMAND_SCALES, LEVEL_WEIGHTS, LEVELS, RENEWABLE_SCALES,
                                   CongestionForecast, congestion_forecast, scaled_scenarios, stored_demand_spread,
                                   summarise)
from engine.lmp.layout import coordinates
from engine.lmp.network import Network
from engine.lmp.opf import OpfError, OpfResult, solve_dcopf
from engine.store import Store

#: A typical weekday load shape (share of the daily peak, hour 0..23): networks published as a single
#: snapshot are studied over these 24 hours so the page has a day to step through.
DAILY_LOAD_SHAPE = np.array([0.70, 0.66, 0.64, 0.63, 0.64, 0.68, 0.76, 0.86, 0.92, 0.95, 0.96, 0.97,
                             0.97, 0.96, 0.95, 0.95, 0.97, 1.00, 1.00, 0.98, 0.94, 0.88, 0.80, 0.74])
#: The snapshots of that day: a network studied over them has no snapshots of its own.
SHAPED_DAY = pd.Index([f"{h:02d}:00" for h in range(24)], name="snapshot")
#: The hub that weighs every bus by its demand at each snapshot.
SYSTEM_HUB = "__load_weighted__"
#: The network a page opens on when it is in the grid folder.
DEFAULT_NETWORK = "scigrid-de"
#: What the nodal page's map may be coloured by, its colour ranges, and the kinds of marker a click may name.
MAP_FIELDS = ("lmp", "energy", "congestion", "loss", "basis", "delta")
COLOUR_RANGES = ("fixed", "data")
MARKER_KINDS = ("bus", "line")
#: The congestion forecast's scenario sets: the day's snapshots, a range of them (networks with snapshots of
#: their own), demand (and renewable) scenarios scaled around each snapshot of a range.
SCENARIO_SETS = ("day", "hours", "demand")
#: A network, bus or line name as a request may give it: text of printable characters, not too long.
_ID = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
#: A published run as the page names it: ``MARKET|RUN``.
_RUN = re.compile(r"[A-Za-z0-9_]{1,16}\|[A-Za-z0-9_]{1,16}")


class ControlError(ValueError):
    """A value that none of the nodal page's controls could have sent: the page says so and changes nothing."""


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _check_id(value: object, what: str) -> None:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ControlError(f"{what} {_shown(value)} is not a name (text of at most 128 printable characters)")


def _check_choice(value: object, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ControlError(f"{what} must be one of {', '.join(choices)} (got {_shown(value)})")


def _check_whatif(data: object) -> None:
    """A what-if as the page keeps it (``dataclasses.asdict(WhatIf)``)."""
    if not isinstance(data, dict) or not set(data) <= {"branch", "limit", "out"} or "branch" not in data:
        raise ControlError("the what-if must name a line, and may give a limit and whether it is out")
    _check_id(data["branch"], "line")
    limit = data.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float)
                              or not math.isfinite(limit)):
        raise ControlError(f"a limit must be a number of MW (got {_shown(limit)})")
    if not isinstance(data.get("out", False), bool):
        raise ControlError("whether the line is out must be true or false")


def _check_click(click: object) -> None:
    """Plotly's clickData: ``{"points": [{"customdata": [kind, id, ...], ...}, ...]}``."""
    points = click.get("points", []) if isinstance(click, dict) else None
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points[:1]):
        raise ControlError("a click must name points of the map")
    data = points[0].get("customdata") if points else None
    if data is not None and not isinstance(data, list):
        raise ControlError("a clicked point must carry its marker's kind and id")


def check_controls(*, name: object = None, field: object = None, hub: object = None, scale: object = None,
                   losses: object = None, index: object = None, whatif: object = None, branch: object = None,
                   limit: object = None, out: object = None, selected: object = None, click: object = None,
                   run: object = None, scenario_set: object = None, hours: object = None) -> None:
    """The nodal page's one check of what a browser sent, whatever sent it: a ControlError saying what is wrong
    with the first value no control of the page could have sent. None stands for a control not chosen yet."""
    for value, what in ((name, "network"), (hub, "hub"), (branch, "line")):
        if value is not None:
            _check_id(value, what)
    if field is not None:
        _check_choice(field, MAP_FIELDS, "colour by")
    if scale is not None:
        _check_choice(scale, COLOUR_RANGES, "colour range")
    if losses is not None and not (isinstance(losses, list) and all(v == "losses" for v in losses)):
        raise ControlError("the model switch sends a list that is empty or holds 'losses'")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
        raise ControlError(f"a snapshot is a whole number (got {_shown(index)})")
    if whatif is not None:
        _check_whatif(whatif)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float | str)
                              or len(str(limit)) > 32):
        raise ControlError(f"a limit must be a number of MW (got {_shown(limit)})")
    if out is not None and not (isinstance(out, list) and all(v == "out" for v in out)):
        raise ControlError("the line-out switch sends a list that is empty or holds 'out'")
    if selected is not None:
        if not isinstance(selected, dict) or set(selected) != {"kind", "id"} or selected["kind"] not in MARKER_KINDS:
            raise ControlError("a selection names a bus or a line")
        _check_id(selected["id"], selected["kind"])
    if click is not None:
        _check_click(click)
    if run is not None and not (isinstance(run, str) and _RUN.fullmatch(run)):
        raise ControlError(f"a published run is named MARKET|RUN (got {_shown(run)})")
    if scenario_set is not None:
        _check_choice(scenario_set, SCENARIO_SETS, "scenario set")
    if hours is not None and not (isinstance(hours, list) and len(hours) == 2 and all(
            isinstance(h, int) and not isinstance(h, bool) and 0 <= h < 10_000 for h in hours)):
        raise ControlError(f"a range of snapshots is two whole numbers (got {_shown(hours)})")


def grid_folder(data_dir: Path) -> Path:
    """Where the networks are: the ``grids`` folder of the data directory."""
    return data_dir / "grids"


def networks_in(folder: Path) -> dict[str, Path]:
    """Networks the page can open: MATPOWER cases and PyPSA CSV folders in ``folder``, by name."""
    if not folder.is_dir():
        return {}
    cases = list_cases(folder)
    return {str(r.case): Path(r.path) for r in cases.itertuples()}


def default_network(names: Iterable[str]) -> str | None:
    """:data:`DEFAULT_NETWORK` when it is among ``names``, else the first name (None when there is none)."""
    names = list(names)
    return DEFAULT_NETWORK if DEFAULT_NETWORK in names else (names[0] if names else None)


def study_network(path: Path, max_snapshots: int = 24) -> Network:
    """The network with at most ``max_snapshots`` snapshots (a day); single-snapshot cases get the daily
    load shape, scaled so the peak hour is the case's own demand."""
    net = load_case(path)
    if len(net.snapshots) > 1:
        return net.select_snapshots(net.snapshots[:max_snapshots])
    return net.with_demand_profile(pd.Series(DAILY_LOAD_SHAPE, index=SHAPED_DAY))


@dataclass(frozen=True)
class WhatIf:
    """One line changed: a new limit (MW), or taken out of service."""

    branch: str
    limit: float | None = None
    out: bool = False

    def __post_init__(self) -> None:
        if not self.branch:
            raise ValueError("Pick a line first.")
        if self.limit is not None and (not np.isfinite(float(self.limit)) or float(self.limit) <= 0):
            raise ValueError("A limit must be a number of MW above 0 (to carry nothing, take the line out).")
        if self.limit is None and not self.out:
            raise ValueError("Give a new limit or take the line out.")


def solve_study(net: Network, *, rate_a: dict[str, float] | None = None, outage: str | None = None,
                losses: bool = False) -> OpfResult:
    """Solve the study, optionally with some line limits changed and one line out (the what-if)."""
    if rate_a:
        net = net.with_rate_a(pd.Series(rate_a, dtype=float))
    if outage:
        net = net.with_branch_out(outage)
    return solve_dcopf(net, losses=losses)


def solve_what_if(net: Network, whatif: WhatIf | None, losses: bool = False) -> OpfResult:
    """The day solved with ``whatif`` applied (the base day for None)."""
    if whatif is None:
        return solve_study(net, losses=losses)
    return solve_study(net, rate_a=None if whatif.limit is None else {whatif.branch: float(whatif.limit)},
                       outage=whatif.branch if whatif.out else None, losses=losses)


def hub_prices(result: OpfResult, net: Network, hub: str) -> pd.Series:
    """Hub price per snapshot: one bus's LMP, or the demand-weighted mean LMP (:data:`SYSTEM_HUB`); NaN at a
    snapshot without one (the hub bus has no price, or there is no demand)."""
    if hub == SYSTEM_HUB:
        demand = pd.DataFrame(net.demand_matrix(result.snapshots), index=result.snapshots, columns=net.buses.index)
        hub = demand.clip(lower=0.0)
    prices = hub_price(model_prices(result.nodes), hub)
    return prices.reindex(result.snapshots).rename_axis("snapshot")


def ptdf_row(result: OpfResult, branch: str) -> pd.Series:
    """MW of flow on ``branch`` per MW injected at each bus (withdrawn at the reference), largest first."""
    row = result.ptdf_rows([branch]).iloc[0]
    return row.reindex(row.abs().sort_values(ascending=False).index)


@dataclass(frozen=True)
class NodeView:
    table: pd.DataFrame   # bus, lmp, energy, congestion, loss, hub, basis (one snapshot)
    hub_price: float
    change: pd.Series     # LMP minus the base case's, by bus (zero without a what-if)


@dataclass(frozen=True)
class LineView:
    branch: str
    shadow_price: float   # $/MWh at the snapshot, 0 when the line is not binding
    ptdf: pd.Series       # by bus, largest effect first
    raises: pd.Series     # the buses whose price the limit raises most, with by how much (empty if not binding)
    lowers: pd.Series


@dataclass(eq=False)
class Study:
    """A network's solved day as the page shows it. ``base`` is the day without the what-if (``result``
    itself when there is none)."""

    name: str
    network: Network
    result: OpfResult
    base: OpfResult
    coords: pd.DataFrame       # bus -> x, y
    geographic: bool           # x, y are longitude, latitude
    whatif: WhatIf | None = None
    _hubs: dict[str, pd.Series] = field(default_factory=dict, repr=False)

    @property
    def snapshots(self) -> pd.Index:
        return self.result.snapshots

    def snapshot(self, index: int | None) -> Any:
        """The snapshot at position ``index`` (a slider's value), kept within the day."""
        return self.snapshots[min(max(int(index or 0), 0), len(self.snapshots) - 1)]

    @property
    def own_day(self) -> bool:
        """The network came with snapshots of its own (not a single one studied over :data:`SHAPED_DAY`)."""
        return not self.snapshots.equals(SHAPED_DAY)

    @property
    def cost_change(self) -> float:
        """$ over the day that the what-if adds to the total cost."""
        return self.result.objective - self.base.objective

    def check_hub(self, hub: object) -> None:
        """A ControlError unless ``hub`` is :data:`SYSTEM_HUB` or a bus of this network."""
        if hub != SYSTEM_HUB and hub not in set(map(str, self.network.buses.index)):
            raise ControlError(f"hub {_shown(hub)} is not a bus of {self.name}")

    def hub_prices(self, hub: str) -> pd.Series:
        if hub not in self._hubs:  # two threads may both compute it: the same value, no harm
            self._hubs[hub] = hub_prices(self.result, self.network, hub)
        return self._hubs[hub]

    def node_view(self, snapshot: Any, hub: str) -> NodeView:
        price = float(self.hub_prices(hub).loc[snapshot])
        table = _at(self.result, snapshot)
        table["hub"] = price
        table["basis"] = table["lmp"] - price
        base = _at(self.base, snapshot).set_index("bus")["lmp"]
        change = pd.Series(table["lmp"].to_numpy() - base.reindex(table["bus"]).to_numpy(), index=table["bus"])
        return NodeView(table, price, change)

    def day_values(self, field_name: str, hub: str) -> pd.Series | None:
        """A node field over every snapshot of the day (basis to ``hub`` included); None for the what-if change,
        which is shown one snapshot at a time."""
        nodes = self.result.nodes
        if field_name == "basis":
            return nodes["lmp"] - nodes["snapshot"].map(self.hub_prices(hub))
        return nodes.get(field_name)

    def node_series(self, bus: str, hub: str) -> pd.DataFrame:
        """One bus's components over every snapshot, with its basis to the hub."""
        nodes = self.result.nodes
        s = nodes[nodes["bus"] == bus].set_index("snapshot")[["lmp", "energy", "congestion", "loss"]]
        s["basis"] = s["lmp"] - self.hub_prices(hub).reindex(s.index)
        return s.reset_index()

    def binding_at(self, snapshot: Any) -> pd.DataFrame:
        """The lines at their limit at ``snapshot``, the most expensive first."""
        binding = self.result.binding
        return binding[binding["snapshot"] == snapshot].sort_values("shadow_price", key=np.abs, ascending=False)

    def binding_by_snapshot(self) -> pd.DataFrame:
        """Every snapshot's lines at their limit, in snapshot order and each snapshot's most expensive first (as
        binding_at orders them)."""
        binding = self.result.binding
        order = {snapshot: i for i, snapshot in enumerate(self.result.snapshots)}
        ranked = binding.assign(_at=binding["snapshot"].map(order), _cost=-binding["shadow_price"].abs())
        return ranked.sort_values(["_at", "_cost"], kind="stable").drop(columns=["_at", "_cost"]).reset_index(drop=True)

    def flows_at(self, snapshot: Any) -> pd.DataFrame:
        return self.result.flows[self.result.flows["snapshot"] == snapshot]

    def line_view(self, branch: str, snapshot: Any, top: int = 3) -> LineView | None:
        """A line's shadow price at ``snapshot`` and its effect on prices; None for a line not in the network."""
        if branch not in self.network.branches.index:
            return None
        binding = self.binding_at(snapshot)
        mine = binding[binding["branch"].astype(str) == branch]
        mu = float(mine["shadow_price"].iat[0]) if len(mine) else 0.0
        row = ptdf_row(self.result, branch)
        effect = (mu * row).sort_values() if mu else pd.Series(dtype=float)
        return LineView(branch, mu, row, raises=effect.tail(top)[::-1], lowers=effect.head(top))


def _at(result: OpfResult, snapshot: Any) -> pd.DataFrame:
    nodes = result.nodes
    return nodes[nodes["snapshot"] == snapshot].drop(columns="snapshot").reset_index(drop=True)


class SingleFlight:
    """Values by key, each built once and kept (the ``size`` most recently used): callers asking together for
    a missing key wait for the one build. A build that fails with one of ``kept_errors`` is kept as its
    error, raised to every caller (a failing solve can take as long as a good one); other errors are not kept."""

    def __init__(self, size: int, kept_errors: tuple[type[Exception], ...] = (Exception,)):
        self.size = size
        self.kept_errors = kept_errors
        self._items: OrderedDict[Hashable, Future] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            future = self._items.get(key)
            owner = future is None
            if owner:
                future = self._items[key] = Future()
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            else:
                self._items.move_to_end(key)
        if owner:
            try:
                future.set_result(build())
            except self.kept_errors as exc:
                future.set_exception(exc)
            except BaseException as exc:  # not kept, but the callers waiting for it must not hang
                with self._lock:
                    if self._items.get(key) is future:
                        del self._items[key]
                future.set_exception(exc)
                raise
        return future.result()


class Studies:
    """The studies of one process, solved on first use and kept."""

    def __init__(self, size: int = 12):
        self._memo = SingleFlight(size, kept_errors=(OpfError, KeyError, ValueError))

    def open(self, folder: Path, name: str, whatif: WhatIf | None = None, losses: bool = False) -> Study:
        """The network ``name`` of ``folder`` solved over its day, with ``whatif`` applied. Raises OpfError
        (no such network, or no solution), or the KeyError/ValueError of a what-if that does not fit it."""
        path = networks_in(folder).get(name)
        if path is None:
            raise OpfError(f"no network named {name!r} in the grid folder")
        return self._memo.get(("study", str(path), whatif, losses),
                              lambda: self._build(folder, path, name, whatif, losses))

    def _build(self, folder: Path, path: Path, name: str, whatif: WhatIf | None, losses: bool) -> Study:
        net = self._memo.get(("net", str(path)), lambda: study_network(path))
        coords, geographic = self._memo.get(("xy", str(path)), lambda: coordinates(net))
        result = solve_what_if(net, whatif, losses)
        base = result if whatif is None else self.open(folder, name, None, losses).result
        return Study(name, net, result, base, coords, geographic, whatif)


#: The studies of this process (every app of the process shares them: a network's day is the same for all).
studies = Studies()


@dataclass(frozen=True)
class CongestionStudy:
    """The congestion forecast of a network over one scenario set, as the nodal page shows it."""

    name: str
    scenario_set: str
    scenarios: pd.DataFrame     # scenario, snapshot, level, demand_scale, renewable_scale, weight (sums to 1)
    source: str                 # where the scenarios and their weights come from
    constraints: pd.DataFrame   # branch, from_bus, to_bus, limit_mw, hours, frequency, mean/expected shadow price
    nodes: pd.DataFrame         # bus, expected_congestion, p5, p95, frequency_congested
    exposure: pd.DataFrame      # branch x bus: $/MWh each binding limit adds to the bus's expected congestion
    seconds: float              # to build and solve the scenarios

    def node_exposure(self, bus: str) -> pd.Series:
        """What each limit adds to ``bus``'s expected congestion ($/MWh, largest first, limits adding nothing
        left out); the values sum to the bus's ``expected_congestion``. KeyError for a bus not in the network."""
        if bus not in self.exposure.columns:
            raise KeyError(f"bus {_shown(bus)} is not a bus of {self.name}")
        column = self.exposure[bus].dropna()
        column = column[column != 0.0]
        return column.reindex(column.abs().sort_values(ascending=False).index).rename("exposure")

    def exposure_table(self) -> pd.DataFrame:
        """Every node's exposures as rows (bus, expected_congestion, branch, exposure; limits adding nothing left
        out), the largest first within each bus: what the exposure CSV holds."""
        long = self.exposure.T.stack().rename("exposure").reset_index()
        long = long[long["exposure"] != 0.0]
        expected = self.nodes.set_index("bus")["expected_congestion"]
        long.insert(1, "expected_congestion", long["bus"].map(expected).to_numpy(float))
        order = long.assign(size=long["exposure"].abs()).sort_values(["bus", "size"], ascending=[True, False])
        return order.drop(columns="size").reset_index(drop=True)


def snapshot_hour(snapshot: Any, position: int) -> int:
    """The hour of day a snapshot stands for: a timestamp's hour, an ``HH:MM`` label's, else its position."""
    if isinstance(snapshot, pd.Timestamp):
        return snapshot.hour
    text = str(snapshot)
    if re.fullmatch(r"\d{2}:\d{2}", text):
        return int(text[:2]) % 24
    return position % 24


def _subset(result: OpfResult, snapshots: pd.Index) -> OpfResult:
    """The solved day cut to some of its snapshots (each snapshot is solved on its own, so nothing changes)."""
    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["snapshot"].isin(snapshots)].reset_index(drop=True)

    return dataclasses.replace(result, snapshots=snapshots, nodes=keep(result.nodes), dispatch=keep(result.dispatch),
                               flows=keep(result.flows), binding=keep(result.binding),
                               losses_mw=result.losses_mw.reindex(snapshots))


def _range(study: Study, first: object, last: object) -> pd.Index:
    n = len(study.snapshots)
    first = 0 if first is None else first
    last = n - 1 if last is None else last
    for value, what in ((first, "first snapshot"), (last, "last snapshot")):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
            raise ValueError(f"the {what} must be a whole number from 0 to {n - 1} (got {_shown(value)})")
    if first > last:
        raise ValueError(f"the first snapshot ({first}) comes after the last ({last})")
    return study.snapshots[first:last + 1]


def _as_solved(snapshots: pd.Index, source: str) -> tuple[pd.DataFrame, str]:
    n = len(snapshots)
    return pd.DataFrame({"scenario": [str(s) for s in snapshots], "snapshot": list(snapshots), "level": "as is",
                         "demand_scale": 1.0, "renewable_scale": 1.0, "weight": 1.0 / n}), source


def congestion_study(store: Store, folder: str, name: str, scenario_set: str = "day", first: int | None = None,
                     last: int | None = None) -> CongestionStudy:
    """The congestion forecast of network ``name`` of the grid ``folder`` over one of :data:`SCENARIO_SETS`:

    - ``day``: every snapshot of the study's day, equally weighted (the solved day itself, nothing re-solved);
    - ``hours``: the snapshots ``first`` to ``last`` (positions in the day) of a network with its own snapshots;
    - ``demand``: three scenarios around each snapshot ``first`` to ``last`` (the whole day by default): demand
      scaled by the spread of the latest stored operational demand forecast by hour of day, or by
      :data:`~engine.lmp.congestion.FALLBACK_DEMAND_SCALES` when the store holds none, and renewable
      availability by :data:`~engine.lmp.congestion.RENEWABLE_SCALES` where the network has it; weighted
      0.3/0.4/0.3 within each snapshot.

    ValueError names a scenario set or range that does not fit; OpfError a network that is not there or
    does not solve. Lossless and without the page's what-if: the base case's congestion."""
    if scenario_set not in SCENARIO_SETS:
        raise ValueError(f"scenario set must be one of {', '.join(SCENARIO_SETS)} (got {_shown(scenario_set)})")
    started = time.perf_counter()
    study = studies.open(Path(folder), name)
    if scenario_set == "day":
        snaps = study.snapshots
        forecast: CongestionForecast = summarise(study.result)
        table, source = _as_solved(snaps, f"The {len(snaps)} snapshots of the day, equally weighted.")
    elif scenario_set == "hours":
        if not study.own_day:
            raise ValueError(f"{name} has one snapshot of its own (its day is a load shape): use the day or "
                             "demand scenarios")
        snaps = _range(study, first, last)
        forecast = summarise(_subset(study.result, snaps))
        table, source = _as_solved(snaps, f"Snapshots {snaps[0]} to {snaps[-1]} ({len(snaps)}), equally weighted.")
    else:
        snaps = _range(study, first, last)
        spread = stored_demand_spread(store)
        weights = "/".join(f"{w:g}" for w in LEVEL_WEIGHTS)
        if spread is None:
            scales: pd.DataFrame | tuple[float, ...] = FALLBACK_DEMAND_SCALES
            source = (f"No stored demand forecast with quantiles: demand × {'/'.join(f'{s:g}' for s in scales)} "
                      f"({', '.join(LEVELS)}, taken as its 10th/50th/90th percentiles), weighted {weights}")
        else:
            by_hour = spread.scales
            scales = pd.DataFrame([by_hour.loc[snapshot_hour(s, i)].to_numpy(float) for i, s in enumerate(snaps)],
                                  index=snaps, columns=list(LEVELS))
            issued = spread.issued_at.tz_convert(spread.zone).strftime("%Y-%m-%d %H:%M")
            source = (f"Demand scaled by the spread of the {spread.market} operational demand forecast issued "
                      f"{issued} ({spread.zone}): POE90/POE50 and POE10/POE50 by hour of day "
                      f"({by_hour['low'].min():.3f}–{by_hour['high'].max():.3f}), weighted {weights} (Swanson)")
        if study.network.p_max_pu is not None:
            source += ("; renewable availability as in each snapshot (no stored renewable forecast has quantiles)"
                       if len(set(RENEWABLE_SCALES)) == 1 else
                       f"; renewable availability × {'/'.join(f'{s:g}' for s in RENEWABLE_SCALES)}")
        source += f"; {len(snaps)} snapshots × {len(LEVELS)} levels."
        scenarios = scaled_scenarios(study.network, snaps, scales, source=source)
        try:
            forecast = congestion_forecast(scenarios.network, weights=scenarios.weights)
        except OpfError as exc:
            raise OpfError(f"{exc}: the network cannot serve that scenario's demand within its line limits; "
                           "pick a range of snapshots without it") from exc
        table = scenarios.table
    return CongestionStudy(name=name, scenario_set=scenario_set, scenarios=table, source=source,
                           constraints=forecast.constraints, nodes=forecast.nodes, exposure=forecast.exposure,
                           seconds=time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------ the CSVs
# A grid case names no currency: its costs are in the units of its own data. The page's figures and tables label
# its prices "$/MWh", and the CSVs name them as the page does.

#: The unit of a grid study's prices (LMPs and their components, basis, shadow prices), as the page labels them.
GRID_PRICE_UNIT = "$/MWh"
#: The price columns of a study's node tables, in the order the CSVs write them.
_COMPONENTS = ("lmp", "energy", "congestion", "loss")


def _priced(name: str) -> str:
    return f"{name} ({GRID_PRICE_UNIT})"


def node_table_export(study: Study, snapshot: Any, hub: str) -> pd.DataFrame:
    """The node table of one snapshot as analysts download it: each bus's LMP and its energy, congestion and loss
    components, the hub's price, the bus's basis to it and its LMP's change from the base case (0 without a
    what-if), unrounded, each header naming the unit (:data:`GRID_PRICE_UNIT`)."""
    view = study.node_view(snapshot, hub)
    table = view.table
    frame = pd.DataFrame({"snapshot": str(snapshot), "bus": table["bus"].astype(str).to_numpy()})
    for column in _COMPONENTS:
        frame[_priced(column)] = table[column].to_numpy(dtype=float)
    frame[_priced("hub_price")] = table["hub"].to_numpy(dtype=float)
    frame[_priced("basis")] = table["basis"].to_numpy(dtype=float)
    frame[_priced("lmp_change_vs_base")] = view.change.to_numpy(dtype=float)
    return frame


def components_export(study: Study) -> pd.DataFrame:
    """Every bus's LMP and components at every snapshot of the day, unrounded, the headers naming the unit."""
    nodes = study.result.nodes
    return nodes[["snapshot", "bus", *_COMPONENTS]].rename(columns={c: _priced(c) for c in _COMPONENTS})


def binding_export(study: Study) -> pd.DataFrame:
    """Every snapshot's lines at their limit (Study.binding_by_snapshot: the day's order, each snapshot's most
    expensive first): flow and limit in MW, the shadow price unrounded in :data:`GRID_PRICE_UNIT`."""
    return study.binding_by_snapshot().rename(columns={"shadow_price": _priced("shadow_price")})


def constraints_export(found: CongestionStudy) -> pd.DataFrame:
    """The congestion forecast's limits as the table beside the map lists them: the scenarios each binds in, its
    binding frequency (the scenarios' weights summed: a fraction, 0.25 is 25 %), and its mean and expected shadow
    price, unrounded, in :data:`GRID_PRICE_UNIT`."""
    return found.constraints.rename(columns={"frequency": "frequency (fraction)",
                                             "mean_shadow_price": _priced("mean_shadow_price"),
                                             "expected_shadow_price": _priced("expected_shadow_price")})


def scenarios_export(found: CongestionStudy) -> pd.DataFrame:
    """The scenarios solved: the snapshot each is built on, its level, the factors its demand and renewable
    availability are scaled by (1 is as the snapshot has them) and its weight (a fraction; they sum to 1)."""
    return found.scenarios.rename(columns={"demand_scale": "demand_scale (factor)",
                                           "renewable_scale": "renewable_scale (factor)",
                                           "weight": "weight (fraction)"})


def exposure_export(found: CongestionStudy) -> pd.DataFrame:
    """Every node's exposure to each binding limit (CongestionStudy.exposure_table: limits adding nothing left
    out), what it adds to the node's expected congestion; per node they sum to it. Unrounded, in
    :data:`GRID_PRICE_UNIT`."""
    return found.exposure_table().rename(columns={"expected_congestion": _priced("expected_congestion"),
                                                  "exposure": _priced("exposure")})
