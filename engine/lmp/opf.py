"""DC optimal power flow with HiGHS, and the LMP split into energy, congestion and loss.

Problem, per snapshot ``t`` (snapshots are independent and solved as one block model)::

    min   sum_j  c0_j + c1_j g_j + c2_j g_j^2          (or a convex piecewise-linear curve per generator)
    s.t.  sum_{j in island} (1 - MLF_j) g_j = sum_{i in island} (1 - MLF_i) d_i + L0 - MLF . P0   (lambda)
          -F_l <= f_l = sum_i PTDF[l, i] (g_i - d_i) + f_shift_l <= F_l                           (y_l)
          p_min_j <= g_j <= p_max_j * p_max_pu_jt

Lossless (the default) has MLF = 0 and L0 = 0. Line limits enter lazily: the model starts without them and
adds the limits that the solution violates until none is (constraint generation; the result is the same
optimum as with every limit present). Demand, availability, flows and prices are arrays over snapshots; the
optimisation itself runs one snapshot at a time, seeded with the previous snapshot's binding limits. Where
every cost is strictly convex (lossless, slack reference) a snapshot is first solved from the optimality
conditions with the bounds that held in the one before, and by HiGHS only where that does not reach the
optimum.
``formulation="angle"`` instead solves the textbook B-theta model
with every limit and one balance row per bus, whose duals are the LMPs directly; the tests use it as an
independent check of the PTDF formulation.

Sign conventions (all prices in $/MWh):

- ``lmp[i] = d(total cost) / d(demand at i)``.
- ``shadow_price[l] = d(total cost) / d(flow limit in the direction the flow takes)`` evaluated as HiGHS's
  row dual: it is <= 0 when branch ``l`` binds in its from->to direction and >= 0 when it binds to->from.
  Its magnitude is the value of one more MW of capacity. It equals PyPSA's ``mu_upper + mu_lower`` (same
  signs) and ``mu_St - mu_Sf`` of MATPOWER/pandapower (which report both as magnitudes).
- ``energy[i] = lambda``, the price at the reference: the slack bus of the island (``reference="slack"``)
  or the demand-weighted (``"load"``) or caller-weighted average over the island's buses.
- ``congestion[i] = sum_l shadow_price[l] * PTDF_ref[l, i]`` with the PTDF of the same reference; it is
  0 at a slack reference bus and raises the price where extra withdrawal would load a congested branch
  further.
- ``loss[i] = -lambda * MLF[i]`` with ``MLF[i] = d(losses)/d(injection at i) = sum_l 2 r_l f_l PTDF[l,i] /
  base_mva``: losses are ``sum_l r_l f_l^2 / base_mva`` (DC approximation, r in p.u.), re-linearised around
  the last solution until the loss factors settle. Injecting where it adds to losses (MLF > 0) is worth
  less, so the loss component is negative there.
- ``lmp = energy + congestion + loss`` exactly, for every bus and snapshot.
"""
from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.lmp.network import Network
from engine.lmp.ptdf import DcModel, PtdfFactor, dc_model

log = logging.getLogger(__name__)

Reference = str | Mapping[str, float] | pd.Series

_COEF_DROP = 1e-10       # PTDF entries below this are left out of the model rows
_DUAL_TOL = 1e-7         # a limit with a smaller |dual| is not reported as binding
_FLOW_TOL = 1e-6         # MW over a limit that triggers adding it to the model
_BOUND_TOL = 1e-7        # relative: a generator this near a limit in HiGHS's solution is taken to be at it
_KKT_TOL = 1e-9          # relative MW a generator may exceed a limit at a solution of the optimality conditions
_KKT_DUAL_TOL = 1e-9     # $/MWh of wrong sign tolerated in a dual of those conditions
_KKT_COND = 1e10         # above this condition number their linear system counts as singular
_KKT_ROUNDS = 10         # active-set corrections tried before HiGHS solves the snapshot


class OpfError(ValueError):
    """The DC-OPF has no solution (infeasible, unbounded) or the solver failed; says which and why."""


@dataclass
class OpfResult:
    """Tables of one DC-OPF solve. Long tables carry a ``snapshot`` column."""

    network: str
    snapshots: pd.Index
    nodes: pd.DataFrame          # snapshot, bus, lmp, energy, congestion, loss
    dispatch: pd.DataFrame       # snapshot, generator, bus, p_mw
    flows: pd.DataFrame          # snapshot, branch, flow_mw, limit_mw
    binding: pd.DataFrame        # snapshot, branch, from_bus, to_bus, flow_mw, limit_mw, shadow_price
    objective: float             # $ over all snapshots (one hour each), fixed costs c0 included
    losses_mw: pd.Series         # per snapshot
    factor: PtdfFactor           # the reference PTDF (last snapshot's weights) the congestion component used
    info: dict = field(default_factory=dict)

    @property
    def ptdf(self) -> pd.DataFrame:
        """The reference PTDF table (index branch, columns bus), formed on each call from the factorisation
        the result keeps: on a 2,000-bus case it is about 50 MB, more than a cache of results should hold
        for the few rows a page shows (:meth:`ptdf_rows`)."""
        model = self.factor.model
        return pd.DataFrame(self.factor.dense(), index=model.branches, columns=model.buses)

    def ptdf_rows(self, branches: list[str] | pd.Index) -> pd.DataFrame:
        """Rows of :attr:`ptdf` for some branches (by name), by sparse solves; KeyError for a name not in the
        network."""
        model = self.factor.model
        positions = model.branches.get_indexer(pd.Index(branches))
        if (positions < 0).any():
            missing = pd.Index(branches)[positions < 0]
            raise KeyError(f"branches not in the network: {list(missing[:5])}")
        return pd.DataFrame(self.factor.rows(positions), index=model.branches[positions], columns=model.buses)

    def lmp_matrix(self, column: str = "lmp") -> pd.DataFrame:
        """One column of ``nodes`` as a snapshot x bus table."""
        return self.nodes.pivot(index="snapshot", columns="bus", values=column)


def solve_dcopf(network: Network, snapshots: pd.Index | None = None, *, reference: Reference = "slack",
                losses: bool = False, formulation: str = "ptdf", max_loss_iterations: int = 200,
                loss_tolerance: float = 1e-3, slack_bus: str | None = None) -> OpfResult:
    """Solve the DC-OPF over ``snapshots`` (all by default) and split each LMP into its components.

    ``reference`` chooses the energy price: "slack" (the island's slack bus, ``slack_bus`` or the case's
    reference bus), "load" (demand-weighted average, per snapshot) or a weight per bus. ``losses`` turns
    on the marginal-loss model (PTDF formulation only); it stops when no loss factor moves by more than
    ``loss_tolerance`` between rounds (1e-3 by default: about 0.05 $/MWh at 50 $/MWh; SciGRID-de's
    linear-cost day reaches it in under 20 rounds, not always 1e-4).
    """
    started = time.perf_counter()
    snaps = network.snapshots if snapshots is None else pd.Index(snapshots)
    if formulation not in ("ptdf", "angle"):
        raise ValueError(f"unknown formulation {formulation!r}")
    if losses and formulation == "angle":
        raise ValueError("the angle formulation is lossless; use formulation='ptdf' with losses")
    model = dc_model(network, slack_bus)
    problem = _Problem.build(network, model, snaps, reference)
    if formulation == "angle":
        solution = _solve_angle(problem)
    else:
        solution = _solve_by_snapshot(problem, losses, max_loss_iterations, loss_tolerance)
    result = _tables(problem, solution)
    result.info.update(solve_seconds=time.perf_counter() - started, formulation=formulation, losses=losses)
    return result


# --------------------------------------------------------------------------------------------------------
# Problem data


@dataclass(frozen=True)
class _CostCurve:
    """A convex piecewise-linear cost: breakpoints ``xs`` (MW, increasing) and the cost at each."""

    gen: int                     # position among the in-service generators
    xs: np.ndarray
    ys: np.ndarray

    @property
    def slopes(self) -> np.ndarray:
        return np.diff(self.ys) / np.diff(self.xs)

    @property
    def intercepts(self) -> np.ndarray:
        return self.ys[:-1] - self.slopes * self.xs[:-1]

    def at_breakpoint(self, p_mw: float, tol: float) -> bool:
        return bool(np.min(np.abs(self.xs - p_mw)) <= tol)


def _cost_curves(network: Network, in_service: pd.Index) -> list[_CostCurve]:
    if not len(network.cost_points):
        return []
    gpos = pd.Series(np.arange(len(in_service)), index=in_service)
    curves = []
    for name, pts in network.cost_points.groupby("generator", sort=False):
        if name in gpos.index:
            pts = pts.sort_values("point")
            curves.append(_CostCurve(int(gpos[name]), pts["p_mw"].to_numpy(float), pts["cost"].to_numpy(float)))
    return curves


@dataclass
class _Problem:
    network: Network
    model: DcModel
    snapshots: pd.Index
    demand: np.ndarray           # T x n_bus
    gen_names: pd.Index
    gen_bus: np.ndarray          # bus index per generator
    lower: np.ndarray            # T x G
    upper: np.ndarray            # T x G
    c0: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    pwl: list[_CostCurve]        # generators with a piecewise-linear cost
    factor: PtdfFactor           # single-slack PTDF products (sparse solves)
    weights: np.ndarray | None   # T x n_bus reference weights (normalised per island) or None for slack
    ptdf_w: np.ndarray | None    # T x branches: PTDF @ weights, the shift to the weighted reference
    limited: np.ndarray          # indices of in-service branches with a finite limit
    limit: np.ndarray            # MW per branch (inf = none)
    shift_flow: np.ndarray       # MW per branch
    gen_island: np.ndarray
    branch_island: np.ndarray
    islands: list[int]           # islands with generation (they get a balance row)

    @classmethod
    def build(cls, network: Network, model: DcModel, snaps: pd.Index, reference: Reference) -> _Problem:
        gens = network.generators[network.generators["in_service"].to_numpy(bool)]
        pos = pd.Series(np.arange(len(model.buses)), index=model.buses)
        gen_bus = pos[gens["bus"]].to_numpy()
        full_upper = network.p_max_matrix(snaps)
        live = network.generators["in_service"].to_numpy(bool)
        upper = full_upper[:, live]
        p_min = gens["p_min"].to_numpy(float)
        lower = np.minimum(np.tile(p_min, (len(snaps), 1)), upper)
        pwl = _cost_curves(network, gens.index)
        demand = network.demand_matrix(snaps)
        factor = PtdfFactor(model)
        limit = np.where(model.in_service, network.branches["rate_a"].to_numpy(float), np.inf)
        limited = np.flatnonzero(np.isfinite(limit))
        weights = _reference_weights(network, model, demand, reference)
        ptdf_w = None if weights is None else factor.apply(weights.T).T
        gen_island = model.island[gen_bus]
        islands = sorted(set(gen_island.tolist()))
        for k in range(model.n_islands):
            if k in islands:
                continue
            members = model.island == k
            if np.any(demand[:, members] > 1e-9):
                sample = model.buses[np.flatnonzero(members)[0]]
                raise OpfError(f"{network.name}: island with bus {sample!r} has demand but no generator")
        return cls(network=network, model=model, snapshots=snaps, demand=demand, gen_names=gens.index,
                   gen_bus=gen_bus, lower=lower, upper=upper, c0=gens["c0"].to_numpy(float),
                   c1=gens["c1"].to_numpy(float), c2=gens["c2"].to_numpy(float), pwl=pwl, factor=factor,
                   weights=weights, ptdf_w=ptdf_w, limited=limited, limit=limit,
                   shift_flow=model.shift_flow(factor=factor), gen_island=gen_island,
                   branch_island=model.island[model.from_idx], islands=islands)

    @property
    def n_t(self) -> int:
        return len(self.snapshots)

    @property
    def n_g(self) -> int:
        return len(self.gen_names)

    def ref_ptdf_rows(self, rows: np.ndarray, t: int) -> np.ndarray:
        """PTDF rows (branches ``rows``) referred to the snapshot's reference."""
        block = self.factor.rows(rows)
        if self.ptdf_w is None:
            return block
        same = self.model.island[None, :] == self.branch_island[rows][:, None]
        return block - self.ptdf_w[t, rows][:, None] * same

    def flows(self, injection: np.ndarray) -> np.ndarray:
        """MW flows (T x branches) for nodal injections (T x buses), referred to the reference."""
        f = self.factor.apply(injection.T).T + self.shift_flow
        if self.ptdf_w is not None:
            for k in range(self.model.n_islands):
                rows = self.branch_island == k
                total = injection[:, self.model.island == k].sum(axis=1)
                f[:, rows] -= self.ptdf_w[:, rows] * total[:, None]
        return f


def _reference_weights(network: Network, model: DcModel, demand: np.ndarray,
                       reference: Reference) -> np.ndarray | None:
    n_t, n_bus = demand.shape
    if isinstance(reference, str):
        if reference == "slack":
            return None
        if reference != "load":
            raise ValueError(f"unknown reference {reference!r}: use 'slack', 'load' or weights per bus")
        raw = np.clip(demand, 0.0, None)
    else:
        w = pd.Series(reference, dtype=float)
        unknown = w.index.difference(model.buses)
        if len(unknown):
            raise KeyError(f"reference weights for unknown buses: {list(unknown[:5])}")
        if (w < 0).any():
            raise ValueError("reference weights must be non-negative")
        raw = np.tile(w.reindex(model.buses, fill_value=0.0).to_numpy(float), (n_t, 1))
    out = np.zeros((n_t, n_bus))
    for k in range(model.n_islands):
        members = model.island == k
        total = raw[:, members].sum(axis=1)
        share = np.where(total[:, None] > 0, raw[:, members] / np.where(total > 0, total, 1.0)[:, None], 0.0)
        # An island without weight (no demand) falls back to its slack bus.
        share[total <= 0, np.flatnonzero(np.flatnonzero(members) == model.ref_bus[k])[0]] = 1.0
        out[:, members] = share
    return out


# --------------------------------------------------------------------------------------------------------
# PTDF formulation with lazy line limits and the loss iteration


@dataclass
class _Solution:
    g: np.ndarray                 # T x G
    lam: np.ndarray               # T x islands (balance duals, nan where an island has no row)
    rows: list[tuple[int, int]]   # monitored (branch, snapshot)
    row_dual: np.ndarray          # dual per monitored row
    mlf: np.ndarray               # T x n_bus
    loss_mw: np.ndarray           # T (DC loss estimate at the solution)
    objective: float
    lmp: np.ndarray | None = None  # T x n_bus, set by the angle formulation from nodal duals
    info: dict = field(default_factory=dict)


_banner_lock = threading.Lock()
_banner_done = False


def _new_highs() -> highspy.Highs:
    global _banner_done
    with _banner_lock:
        if _banner_done:
            h = highspy.Highs()
        else:
            # HiGHS prints a copyright banner on stdout when the first instance is made; it would corrupt
            # CSV written to stdout by the CLI, so that one construction writes to /dev/null instead.
            h = _silently(highspy.Highs)
            _banner_done = True
    h.setOptionValue("output_flag", False)
    # HiGHS regularises QPs by default (1e-7), which shifts prices; the OPF Hessian is already PSD.
    h.setOptionValue("qp_regularization_value", 0.0)
    return h


def _silently(make: type[highspy.Highs]) -> highspy.Highs:
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = make()
        ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    return h


def _run(h: highspy.Highs, problem: _Problem) -> None:
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        name = h.modelStatusToString(status)
        raise OpfError(f"{problem.network.name}: DC-OPF over {problem.n_t} snapshot(s) is not solved: {name}")


def _solve_by_snapshot(problem: _Problem, losses: bool, max_iter: int, tol: float) -> _Solution:
    """Solve the snapshots one after another and stack the solutions.

    The snapshots share no constraint, and HiGHS's active-set QP solver slows down far more than linearly
    with the number of columns (case118 over 24 snapshots: 0.5 s as one model, 0.1 s one by one). Each
    snapshot starts with the limits that bound in the previous one, which saves most of the rounds of
    constraint generation on a daily profile.
    """
    strictly_convex = not problem.pwl and bool((problem.c2 > 0).all())
    if not losses and problem.ptdf_w is None and strictly_convex and problem.n_t > 1:
        return _stack(_solve_reusing_model(problem))
    parts: list[_Solution] = []
    seed: list[tuple[int, int]] = []
    for t in range(problem.n_t):
        try:
            part = _solve_ptdf(_snapshot(problem, t), losses, max_iter, tol, seed)
        except OpfError as exc:
            raise OpfError(f"{exc} (snapshot {problem.snapshots[t]})") from exc
        parts.append(part)
        seed = [(br, 0) for (br, _), y in zip(part.rows, part.row_dual, strict=True) if abs(y) > _DUAL_TOL]
    return _stack(parts)


def _stack(parts: list[_Solution]) -> _Solution:
    """One solution over all snapshots from one per snapshot (each with its rows tagged snapshot 0)."""
    rows = [(br, t) for t, part in enumerate(parts) for (br, _) in part.rows]
    info = {
        "loss_iterations": max(p.info["loss_iterations"] for p in parts),
        "loss_converged": all(p.info["loss_converged"] for p in parts),
        "loss_factor_gap": max(p.info["loss_factor_gap"] for p in parts),
        "constraint_generation_rounds": sum(p.info["constraint_generation_rounds"] for p in parts),
        "monitored_rows": len(rows),
    }
    return _Solution(g=np.vstack([p.g for p in parts]), lam=np.vstack([p.lam for p in parts]), rows=rows,
                     row_dual=np.concatenate([p.row_dual for p in parts]),
                     mlf=np.vstack([p.mlf for p in parts]), loss_mw=np.concatenate([p.loss_mw for p in parts]),
                     objective=float(sum(p.objective for p in parts)), info=info)


def _solve_reusing_model(problem: _Problem) -> list[_Solution]:
    """Lossless snapshots against the slack reference, solved one after another, sharing one HiGHS model.

    On a small case building the model is most of a snapshot's time (case118: about 4 ms of 6 ms). With the
    slack reference the PTDF rows of the line limits do not depend on the snapshot, so between snapshots only
    bounds change: the generator limits, the balance right-hand sides (the demand) and the line rows' bounds
    (limit plus the demand's flow). Limits added for one snapshot stay in the model for the next ones: they
    are constraints of every snapshot, and the ones that bound in a day's profile mostly bind again.

    HiGHS's QP solver does not start from a previous solution (each run is a phase-1 LP and some 100
    active-set steps, about 1 ms on case118), so a snapshot is first tried from the bounds that held in the
    one before (:func:`_solve_kkt`); HiGHS solves it when that does not end at a point that meets the
    optimality conditions.

    Only for strictly convex costs (every generator quadratic): the dispatch is then the unique optimum
    whatever rows the model holds. Where costs are linear the optimum is often a face, and a model with
    more rows or another starting basis can end on another vertex of it (same prices, other flows at
    their limits).
    """
    n_g, n_bus = problem.n_g, len(problem.model.buses)
    no_loss = np.zeros((1, n_bus))
    no_island_loss = np.zeros((1, problem.model.n_islands))
    gen_cols = np.arange(n_g, dtype=np.int32)
    balance_rows = np.arange(len(problem.islands), dtype=np.int32)
    monitored = _Monitored(problem)
    rows = monitored.rows
    h, n_cols, n_base, in_model = None, 0, 0, 0
    active: _Active | None = None
    parts: list[_Solution] = []
    for t in range(problem.n_t):
        one = _snapshot(problem, t)
        found = None if active is None else _solve_kkt(one, monitored, active)
        if found is not None:
            part, active = found
            part.info.update(constraint_generation_rounds=0)
        else:
            if h is None:
                h, n_cols = _build_base(one, no_loss, no_island_loss, no_loss)
                n_base = h.getNumRow()
            else:
                h.changeColsBounds(n_g, gen_cols, one.lower[0], one.upper[0])
                rhs = monitored.island_demand(one.demand[0])
                h.changeRowsBounds(len(rhs), balance_rows, rhs, rhs)
                if in_model:
                    lo, hi = monitored.row_bounds(one.demand[0])
                    h.changeRowsBounds(in_model, np.arange(n_base, n_base + in_model, dtype=np.int32),
                                       lo[:in_model], hi[:in_model])
            _add_line_rows(h, one, rows[in_model:])          # limits the optimality-condition steps added
            try:
                try:
                    rounds = _constraint_generation(h, one, rows)
                except OpfError:
                    # a warm start can leave HiGHS stuck where a cold start solves: build this snapshot afresh
                    h, n_cols = _build_base(one, no_loss, no_island_loss, no_loss)
                    _add_line_rows(h, one, rows)
                    rounds = _constraint_generation(h, one, rows)
            except OpfError as exc:
                raise OpfError(f"{exc} (snapshot {problem.snapshots[t]})") from exc
            in_model = len(rows)
            part = _extract(h, one, rows, no_loss, n_cols)
            part.info.update(constraint_generation_rounds=rounds)
            active = _Active.of(one, part)
        part.info.update(loss_iterations=0, loss_converged=True, loss_factor_gap=0.0, monitored_rows=len(rows))
        parts.append(part)
    return parts


class _Monitored:
    """The monitored limits of snapshots solved one by one against the slack reference, where a limit's PTDF
    row is the same in every snapshot: kept once, with the row's generator coefficients as the model has
    them."""

    def __init__(self, problem: _Problem):
        self.problem = problem
        self.rows: list[tuple[int, int]] = []       # (branch, 0): the rows of a one-snapshot problem
        self.branches = np.zeros(0, dtype=int)
        self.ptdf = np.zeros((0, len(problem.model.buses)))
        self.coef = np.zeros((0, problem.n_g))
        self._island_members = [problem.model.island == k for k in problem.islands]

    def sync(self) -> None:
        """Take in the rows constraint generation appended to ``rows``."""
        if len(self.branches) < len(self.rows):
            self._extend(np.array([b for b, _ in self.rows[len(self.branches):]], dtype=int))

    def add(self, branches: np.ndarray) -> None:
        self.sync()
        self.rows.extend((int(b), 0) for b in branches)
        self._extend(branches)

    def rows_of(self, branches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """PTDF rows of some branches, and their generator columns without the entries the model drops."""
        block = self.problem.factor.rows(branches)
        coef = block[:, self.problem.gen_bus]
        coef[np.abs(coef) <= _COEF_DROP] = 0.0
        return block, coef

    def _extend(self, branches: np.ndarray) -> None:
        block, coef = self.rows_of(branches)
        self.branches = np.concatenate([self.branches, branches])
        self.ptdf = np.vstack([self.ptdf, block])
        self.coef = np.vstack([self.coef, coef])

    def row_bounds(self, demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the monitored rows (MW of generator injection) for one snapshot's demand."""
        self.sync()
        offset = self.ptdf @ demand - self.problem.shift_flow[self.branches]
        lim = self.problem.limit[self.branches]
        return offset - lim, offset + lim

    def island_demand(self, demand: np.ndarray) -> np.ndarray:
        return np.array([demand[m].sum() for m in self._island_members])


@dataclass
class _Active:
    """The bounds that hold at a one-snapshot solution: generators at their lower or upper limit, and the
    monitored limits (positions among the monitored rows) that bind, +1 at the upper bound, -1 at the lower."""

    at_lower: np.ndarray
    at_upper: np.ndarray
    lines: dict[int, int]

    @classmethod
    def of(cls, one: _Problem, part: _Solution) -> _Active:
        g, lo, hi = part.g[0], one.lower[0], one.upper[0]
        tol = _BOUND_TOL * (1.0 + np.abs(hi))
        at_lower = g <= lo + tol
        at_upper = ~at_lower & (g >= hi - tol)
        lines = {k: (1 if y < 0 else -1) for k, y in enumerate(part.row_dual) if abs(y) > _DUAL_TOL}
        return cls(at_lower, at_upper, lines)


def _solve_kkt(one: _Problem, monitored: _Monitored, guess: _Active) -> tuple[_Solution, _Active] | None:
    """A one-snapshot optimum from a guess of the bounds that hold there, by the optimality conditions.

    With every cost strictly convex and quadratic, fixing the guessed generators at their limits and the
    guessed line rows at their bounds leaves a linear system (generators' marginal cost = price at their bus,
    the balance and the fixed rows met) whose unknowns are the free generators and the row duals. Its solution
    is the optimum when it is feasible (every free generator within its limits, every limited branch within
    its rating) and its duals have the signs of the bounds they price; then no solver run is needed. Else the
    guess is corrected (violated bounds and limits in, wrong-signed ones out; the primal-dual active-set
    step) and solved again, at most ``_KKT_ROUNDS`` times. None when that does not end at an optimum or the
    system is singular (binding limits that are not independent, whose dual split only a solver picks):
    the caller runs HiGHS.
    """
    lo, hi = one.lower[0], one.upper[0]
    c1, hess = one.c1, 2.0 * one.c2
    demand = one.demand[0]
    isl = np.array(one.islands)
    balance = (one.gen_island[None, :] == isl[:, None]).astype(float)
    need = monitored.island_demand(demand)
    lo_rows, hi_rows = monitored.row_bounds(demand)
    coef = monitored.coef
    position = {int(b): k for k, b in enumerate(monitored.branches)}
    new: list[int] = []                                   # limits to monitor from here on
    at_lower, at_upper, lines = guess.at_lower.copy(), guess.at_upper.copy(), dict(guess.lines)
    at_upper &= ~at_lower
    movable = lo < hi
    limited = one.limited
    tol_g = _KKT_TOL * (1.0 + np.abs(hi))
    for _ in range(_KKT_ROUNDS):
        fixed = at_lower | at_upper | ~movable
        free = ~fixed
        g = np.where(at_upper, hi, lo)
        w = np.array(sorted(lines), dtype=int)
        side = np.array([lines[k] for k in w], dtype=float)
        a = np.vstack([balance, coef[w]])
        b = np.concatenate([need, np.where(side > 0, hi_rows[w], lo_rows[w])])
        af = a[:, free]
        inv = 1.0 / hess[free]
        m = (af * inv) @ af.T
        if not np.linalg.cond(m) <= _KKT_COND:           # a nan condition number counts as singular too
            return None
        y = np.linalg.solve(m, b - a[:, fixed] @ g[fixed] + af @ (c1[free] * inv))
        g[free] = (af.T @ y - c1[free]) * inv
        z = c1 + hess * g - a.T @ y                       # reduced costs: >= 0 at a lower limit, <= 0 at upper
        flow = one.flows(_injection(one, g[None, :]))[0, limited]
        over = free & (g > hi + tol_g)
        under = free & (g < lo - tol_g)
        release = movable & ((at_lower & (z < -_KKT_DUAL_TOL)) | (at_upper & (z > _KKT_DUAL_TOL)))
        wrong = side * y[len(isl):] > _KKT_DUAL_TOL        # a row at its upper bound has a dual <= 0
        violated = np.abs(flow) - one.limit[limited] > _FLOW_TOL
        if not (over.any() or under.any() or release.any() or wrong.any() or violated.any()):
            break
        at_upper = (at_upper | over) & ~release
        at_lower = (at_lower | under) & ~release
        for k in w[wrong]:
            del lines[int(k)]
        fresh = [int(br) for br in limited[violated] if int(br) not in position]
        if fresh:
            block, extra = monitored.rows_of(np.array(fresh, dtype=int))
            offset = block @ demand - one.shift_flow[fresh]
            lim = one.limit[fresh]
            coef = np.vstack([coef, extra])
            lo_rows = np.concatenate([lo_rows, offset - lim])
            hi_rows = np.concatenate([hi_rows, offset + lim])
            for br in fresh:
                position[br] = len(monitored.branches) + len(new)
                new.append(br)
        for br, f in zip(limited[violated], flow[violated], strict=True):
            lines[position[int(br)]] = 1 if f > 0 else -1
    else:
        return None
    if new:
        monitored.add(np.array(new, dtype=int))
    row_dual = np.zeros(len(monitored.rows))
    row_dual[w] = y[len(isl):]
    lam = np.full((1, one.model.n_islands), np.nan)
    lam[0, isl] = y[:len(isl)]
    objective = float(one.c0.sum() + c1 @ g + one.c2 @ (g * g))
    part = _Solution(g=g[None, :], lam=lam, rows=list(monitored.rows), row_dual=row_dual, mlf=np.zeros_like(one.demand),
                     loss_mw=np.zeros(1), objective=objective)
    return part, _Active(at_lower & movable, at_upper & movable, lines)


def _snapshot(problem: _Problem, t: int) -> _Problem:
    one = slice(t, t + 1)
    return dataclasses.replace(
        problem, snapshots=problem.snapshots[one], demand=problem.demand[one], lower=problem.lower[one],
        upper=problem.upper[one], weights=None if problem.weights is None else problem.weights[one],
        ptdf_w=None if problem.ptdf_w is None else problem.ptdf_w[one])


def _solve_ptdf(problem: _Problem, losses: bool, max_iter: int, tol: float,
                seed: list[tuple[int, int]] | None = None) -> _Solution:
    """Lossless: one solve. With losses: successive linearisation of the loss balance, stabilised.

    Each round prices losses with the loss factors at the last dispatch ``g_k`` and solves again. A plain
    successive LP does not settle where costs are linear (SciGRID-de ran 200 rounds to a gap of 0.068): at
    the loss factors of the optimum several generators tie, the LP answers with a vertex of the tied face,
    the loss factors there differ, and the dispatch jumps between vertices. So the steps are held back:

    - generators with a linear (or piecewise-linear) cost move at most ``share`` of their range from
      ``g_k`` (a trust region);
    - generators with a quadratic cost get the curvature the linearisation drops, as a proximal term
      ``rho_j/2 (g_j - g_kj)^2`` with ``rho_j = lambda * d^2L/dg_j^2`` (the balance price times the loss
      curvature at the generator's bus: the diagonal of the Lagrangian's Hessian). It vanishes at a fixed
      point, and boxing these generators instead makes HiGHS's QP solver fail on tiny boxes.

    When the loss-factor gap does not shrink the box halves and ``rho`` doubles. Once the loss factors at
    the solution equal those that priced it to ``tol``, the same linearisation is solved without box and
    proximal term: an objective no lower than the loss-factor tolerance can explain shows that they were
    not holding the dispatch back, and that solve's duals (valid for every optimum of that problem, the
    stabilised one included) give the prices with the stabilised dispatch. Otherwise the box widens again
    and the rounds go on.
    """
    n_t, n_bus = problem.n_t, len(problem.model.buses)
    r = problem.network.branches["r"].to_numpy(float) * problem.model.in_service
    rows: list[tuple[int, int]] = list(seed or [])
    h, n_cols = _build_base(problem, np.zeros((n_t, n_bus)), np.zeros((n_t, problem.model.n_islands)),
                            np.zeros((n_t, n_bus)))
    _add_line_rows(h, problem, rows)
    total_cg = _constraint_generation(h, problem, rows)
    solution = _extract(h, problem, rows, np.zeros((n_t, n_bus)), n_cols)
    iterations, converged, gap = 1, not losses, 0.0
    if losses:
        smooth = problem.c2 > 0
        smooth[[c.gen for c in problem.pwl]] = False
        span = np.where(smooth[None, :], np.inf, np.maximum(problem.upper - problem.lower, 0.0))
        curvature = np.where(smooth, _loss_curvature(problem, r), 0.0)       # G, per MW
        share, scale, last_gap = 0.25, 1.0, np.inf
        basis = None if problem.c2.any() else h.getBasis()
        for rounds in range(2, max_iter + 1):
            iterations = rounds
            p0 = _injection(problem, solution.g)
            mlf, l0 = _linearise(problem, p0, r)
            box = (np.maximum(problem.lower, solution.g - share * span),
                   np.minimum(problem.upper, solution.g + share * span))
            price = np.nan_to_num(solution.lam[:, problem.gen_island], nan=0.0)           # T x G
            rho = scale * np.maximum(price, 0.0) * curvature[None, :]
            previous_g = solution.g
            h, n_cols, total_cg, basis = _loss_round(problem, mlf, l0, p0, rows, box, (rho, previous_g), basis,
                                                     total_cg)
            solution = _extract(h, problem, rows, mlf, n_cols)
            # the proximal term is no cost: take it out of the objective
            solution.objective -= float((0.5 * rho * (solution.g - previous_g) ** 2).sum())
            gap = float(np.abs(_linearise(problem, _injection(problem, solution.g), r)[0] - mlf).max())
            if gap < tol:
                free, _, total_cg, _ = _loss_round(problem, mlf, l0, p0, rows, None, None, basis, total_cg)
                unboxed = _extract(free, problem, rows, mlf, n_cols)
                # a loss-factor error of tol moves the value of each MW by up to tol * lambda: within that
                # the stabilised dispatch is as good as the free one
                slack = tol * float((np.maximum(price, 0.0) * np.abs(solution.g)).sum()) + 1e-6
                if unboxed.objective >= solution.objective - slack:
                    converged = True
                    unboxed.g, unboxed.objective = solution.g, solution.objective
                    solution = unboxed
                    break
                share, last_gap = min(4.0 * share, 1.0), np.inf
                continue
            if gap > last_gap:
                share, scale = max(share / 2.0, 1e-6), min(2.0 * scale, 1e6)
            last_gap = gap
        if not converged:
            log.warning("%s: loss factors moved %.2g after %d rounds (tolerance %.2g)", problem.network.name, gap,
                        iterations, tol)
        flows = problem.flows(_injection(problem, solution.g))
        solution.loss_mw = (r * flows**2 / problem.model.base_mva).sum(axis=1)
    solution.info.update(loss_iterations=iterations if losses else 0, loss_converged=converged,
                         loss_factor_gap=gap, constraint_generation_rounds=total_cg, monitored_rows=len(rows))
    return solution


def _loss_round(problem: _Problem, mlf: np.ndarray, l0: np.ndarray, p0: np.ndarray, rows: list[tuple[int, int]],
                box: tuple[np.ndarray, np.ndarray] | None, prox: tuple[np.ndarray, np.ndarray] | None,
                basis: highspy.HighsBasis | None,
                total_cg: int) -> tuple[highspy.Highs, int, int, highspy.HighsBasis | None]:
    """One linearised solve, with the trust region ``box`` and proximal term ``prox`` of _build_base."""
    h, n_cols = _build_base(problem, mlf, l0, p0, box, prox)
    _add_line_rows(h, problem, rows)
    if basis is not None:
        h.setBasis(basis)
    try:
        total_cg += _constraint_generation(h, problem, rows)
    except OpfError:
        if basis is None:
            raise
        # the previous round's basis can leave HiGHS stuck ("Unknown" status) where a cold start solves
        h, n_cols = _build_base(problem, mlf, l0, p0, box, prox)
        _add_line_rows(h, problem, rows)
        total_cg += _constraint_generation(h, problem, rows)
    return h, n_cols, total_cg, None if problem.c2.any() else h.getBasis()


def _loss_curvature(problem: _Problem, r: np.ndarray) -> np.ndarray:
    """``d^2 L / d g_j^2 = 2 sum_l r_l PTDF[l, bus_j]^2 / base_mva`` per generator.

    With the slack-bus PTDF whatever the reference: it only sets a step size.
    """
    units = np.zeros((len(problem.model.buses), problem.n_g))
    units[problem.gen_bus, np.arange(problem.n_g)] = 1.0
    h = problem.factor.apply(units)                                      # PTDF columns of the generators
    return 2.0 * (r[:, None] * h**2).sum(axis=0) / problem.model.base_mva


def _linearise(problem: _Problem, injection: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loss factors (T x buses) and losses per island (T x islands) at the given injections."""
    flows = problem.flows(injection)
    per_branch = r * flows**2 / problem.model.base_mva
    l0 = np.stack([per_branch[:, problem.branch_island == k].sum(axis=1)
                   for k in range(problem.model.n_islands)], axis=1)
    return _loss_factors(problem, flows, r), l0


def _injection(problem: _Problem, g: np.ndarray) -> np.ndarray:
    inj = -problem.demand.copy()
    for t in range(problem.n_t):
        np.add.at(inj[t], problem.gen_bus, g[t])
    return inj


def _loss_factors(problem: _Problem, flows: np.ndarray, r: np.ndarray) -> np.ndarray:
    weight = 2.0 * r[None, :] * flows / problem.model.base_mva      # T x branches
    mlf = problem.factor.combine(weight)
    if problem.ptdf_w is not None:
        for k in range(problem.model.n_islands):
            rows = problem.branch_island == k
            members = problem.model.island == k
            mlf[:, members] -= (weight[:, rows] * problem.ptdf_w[:, rows]).sum(axis=1)[:, None]
    return mlf


def _build_base(problem: _Problem, mlf: np.ndarray, l0: np.ndarray, p0: np.ndarray,
                box: tuple[np.ndarray, np.ndarray] | None = None,
                prox: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[highspy.Highs, int]:
    """Generator columns, piecewise-cost epigraph columns and rows, and the balance rows.

    For the loss iteration: ``box`` (lower, upper; T x G) replaces the generator limits, and ``prox`` =
    (rho, g_k), both T x G, adds ``rho/2 (g - g_k)^2`` to the objective.
    """
    n_t, n_g = problem.n_t, problem.n_g
    n_gen_cols = n_t * n_g
    pwl_gens = [c.gen for c in problem.pwl]
    n_cols = n_gen_cols + n_t * len(pwl_gens)
    cost = np.tile(problem.c1, n_t)
    if pwl_gens:
        cost[np.concatenate([t * n_g + np.array(pwl_gens) for t in range(n_t)])] = 0.0
    cost = np.concatenate([cost, np.ones(n_t * len(pwl_gens))])
    g_lower, g_upper = (problem.lower, problem.upper) if box is None else box
    col_lower = np.concatenate([g_lower.ravel(), np.full(n_t * len(pwl_gens), -highspy.kHighsInf)])
    col_upper = np.concatenate([g_upper.ravel(), np.full(n_t * len(pwl_gens), highspy.kHighsInf)])

    r_idx, c_idx, vals, row_lo, row_hi = [], [], [], [], []
    n_rows = 0
    # Balance rows: one per (snapshot, island with generation).
    for t in range(n_t):
        for k in problem.islands:
            gens = np.flatnonzero(problem.gen_island == k)
            members = problem.model.island == k
            coef = 1.0 - mlf[t, problem.gen_bus[gens]]
            rhs = ((1.0 - mlf[t, members]) * problem.demand[t, members]).sum() + l0[t, k] - (
                mlf[t, members] * p0[t, members]).sum()
            r_idx.append(np.full(len(gens), n_rows))
            c_idx.append(t * n_g + gens)
            vals.append(coef)
            row_lo.append(rhs)
            row_hi.append(rhs)
            n_rows += 1
    # Piecewise-linear costs: z >= slope_k * g + intercept_k for every segment.
    for t in range(n_t):
        for p, curve in enumerate(problem.pwl):
            z = n_gen_cols + t * len(pwl_gens) + p
            for slope, intercept in zip(curve.slopes, curve.intercepts, strict=True):
                r_idx.append(np.array([n_rows, n_rows]))
                c_idx.append(np.array([z, t * n_g + curve.gen]))
                vals.append(np.array([1.0, -slope]))
                row_lo.append(intercept)
                row_hi.append(highspy.kHighsInf)
                n_rows += 1
    a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))),
                      shape=(n_rows, n_cols))
    c2 = np.tile(problem.c2, n_t)
    if pwl_gens:
        c2[np.concatenate([t * n_g + np.array(pwl_gens) for t in range(n_t)])] = 0.0
    hess = 2.0 * c2
    offset = float(problem.c0.sum() * n_t)
    if prox is not None:
        rho, g_k = (np.asarray(x, dtype=float).ravel() for x in prox)
        hess = hess + rho
        cost[:n_gen_cols] -= rho * g_k
        offset += float((0.5 * rho * g_k**2).sum())
    h = _highs_model(cost, col_lower, col_upper, a, np.array(row_lo, dtype=float), np.array(row_hi, dtype=float),
                     offset=offset, hessian_diag=np.concatenate([hess, np.zeros(n_cols - n_gen_cols)]))
    return h, n_cols


def _highs_model(cost: np.ndarray, col_lower: np.ndarray, col_upper: np.ndarray, a: sp.csr_matrix,
                 row_lower: np.ndarray, row_upper: np.ndarray, *, offset: float,
                 hessian_diag: np.ndarray) -> highspy.Highs:
    """A HiGHS instance holding ``min cost.x + offset (+ x'Hx/2)`` over the rows ``a`` and the bounds."""
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, col_lower, col_upper
    lp.row_lower_, lp.row_upper_ = row_lower, row_upper
    lp.offset_ = offset
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    h = _new_highs()
    _pass_model(h, lp, hessian_diag)
    return h


def _pass_model(h: highspy.Highs, lp: highspy.HighsLp, hessian_diag: np.ndarray) -> None:
    """Give HiGHS the LP, or the QP whose Hessian is this diagonal when any entry is non-zero."""
    if not hessian_diag.any():
        h.passModel(lp)
        return
    nz = np.flatnonzero(hessian_diag)
    hess = highspy.HighsHessian()
    hess.dim_ = len(hessian_diag)
    hess.format_ = highspy.HessianFormat.kTriangular
    hess.start_ = np.searchsorted(nz, np.arange(len(hessian_diag) + 1)).astype(np.int32)
    hess.index_ = nz.astype(np.int32)
    hess.value_ = hessian_diag[nz]
    qp = highspy.HighsModel()
    qp.lp_ = lp
    qp.hessian_ = hess
    h.passModel(qp)


def _line_row_block(problem: _Problem, rows: list[tuple[int, int]]) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    n_t, n_g = problem.n_t, problem.n_g
    n_cols_total = n_t * n_g
    r_idx, c_idx, vals = [], [], []
    lo = np.empty(len(rows))
    hi = np.empty(len(rows))
    by_t: dict[int, list[int]] = {}
    for k, (_, t) in enumerate(rows):
        by_t.setdefault(t, []).append(k)
    for t, ks in by_t.items():
        branches = np.array([rows[k][0] for k in ks])
        h = problem.ref_ptdf_rows(branches, t)                 # rows x buses
        coef = h[:, problem.gen_bus]                           # rows x gens
        offset = h @ problem.demand[t] - problem.shift_flow[branches]
        lim = problem.limit[branches]
        lo[ks] = -lim + offset
        hi[ks] = lim + offset
        keep = np.abs(coef) > _COEF_DROP
        rr, cc = np.nonzero(keep)
        r_idx.append(np.array(ks)[rr])
        c_idx.append(t * n_g + cc)
        vals.append(coef[rr, cc])
    a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))),
                      shape=(len(rows), n_cols_total))
    return a, lo, hi


def _add_line_rows(h: highspy.Highs, problem: _Problem, rows: list[tuple[int, int]]) -> None:
    if not rows:
        return
    a, lo, hi = _line_row_block(problem, rows)
    h.addRows(len(rows), lo, hi, a.nnz, a.indptr[:-1].astype(np.int32), a.indices.astype(np.int32),
              a.data.astype(float))


def _constraint_generation(h: highspy.Highs, problem: _Problem, rows: list[tuple[int, int]]) -> int:
    """Solve, add the violated limits, repeat; ``rows`` grows in place. Returns the number of solves."""
    lim_rows = problem.limited
    seen = set(rows)
    rounds = 0
    while True:
        _run(h, problem)
        rounds += 1
        if len(lim_rows) == 0:
            return rounds
        g = np.asarray(h.getSolution().col_value)[: problem.n_t * problem.n_g].reshape(problem.n_t, problem.n_g)
        flows = problem.flows(_injection(problem, g))[:, lim_rows]       # T x limited
        excess = np.abs(flows) - problem.limit[lim_rows][None, :]
        t_idx, l_idx = np.nonzero(excess > _FLOW_TOL)
        pairs = [(int(lim_rows[k]), int(t)) for t, k in zip(t_idx, l_idx, strict=True)]
        new = [p for p in pairs if p not in seen]
        if not new:
            return rounds
        if rounds > 200:
            raise OpfError(f"{problem.network.name}: line limits did not settle after 200 rounds")
        seen.update(new)
        rows.extend(new)
        _add_line_rows(h, problem, new)


def _extract(h: highspy.Highs, problem: _Problem, rows: list[tuple[int, int]], mlf: np.ndarray,
             n_cols: int) -> _Solution:
    sol = h.getSolution()
    col = np.asarray(sol.col_value)
    dual = np.asarray(sol.row_dual)
    n_t, n_g = problem.n_t, problem.n_g
    g = col[: n_t * n_g].reshape(n_t, n_g)
    lam = np.full((n_t, problem.model.n_islands), np.nan)
    k = 0
    for t in range(n_t):
        for island in problem.islands:
            lam[t, island] = dual[k]
            k += 1
    n_base = h.getNumRow() - len(rows)
    return _Solution(g=g, lam=lam, rows=list(rows), row_dual=dual[n_base:].copy(), mlf=mlf.copy(),
                     loss_mw=np.zeros(n_t), objective=float(h.getInfo().objective_function_value))


# --------------------------------------------------------------------------------------------------------
# Angle (B-theta) formulation: every limit present, LMPs straight from nodal balance duals


def _solve_angle(problem: _Problem) -> _Solution:
    if problem.pwl:
        raise ValueError("the angle formulation does not take piecewise-linear costs")
    model = problem.model
    n_t, n_g, n_bus = problem.n_t, problem.n_g, len(model.buses)
    base = model.base_mva
    n_th = n_t * n_bus
    pfinj = -model.b * model.shift
    pbusinj = np.zeros(n_bus)
    np.add.at(pbusinj, model.from_idx, pfinj)
    np.add.at(pbusinj, model.to_idx, -pfinj)
    lim = problem.limited
    bf_lim = model.bf[lim]
    injects = sp.csr_matrix((-np.ones(n_g), (problem.gen_bus, np.arange(n_g))), shape=(n_bus, n_g))
    # Columns: theta (T x n_bus) then g (T x G). Rows: nodal balance (T x n_bus) then limits (T x |lim|).
    bal = sp.block_diag([base * model.bbus] * n_t, format="csr")
    gen = sp.block_diag([injects] * n_t, format="csr")
    flow = sp.block_diag([base * bf_lim] * n_t, format="csr")
    a = sp.vstack([sp.hstack([bal, gen]), sp.hstack([flow, sp.csr_matrix((n_t * len(lim), n_t * n_g))])],
                  format="csr")
    rhs = (-problem.demand - base * pbusinj[None, :]).ravel()
    flim = np.tile(problem.limit[lim], n_t)
    foff = np.tile(base * pfinj[lim], n_t)
    row_lo = np.concatenate([rhs, -flim - foff])
    row_hi = np.concatenate([rhs, flim - foff])
    th_lo = np.full(n_th, -highspy.kHighsInf)
    th_hi = np.full(n_th, highspy.kHighsInf)
    for t in range(n_t):
        th_lo[t * n_bus + model.ref_bus] = 0.0
        th_hi[t * n_bus + model.ref_bus] = 0.0
    h = _highs_model(np.concatenate([np.zeros(n_th), np.tile(problem.c1, n_t)]),
                     np.concatenate([th_lo, problem.lower.ravel()]), np.concatenate([th_hi, problem.upper.ravel()]),
                     a, row_lo, row_hi, offset=float(problem.c0.sum() * n_t),
                     hessian_diag=np.concatenate([np.zeros(n_th), 2.0 * np.tile(problem.c2, n_t)]))
    _run(h, problem)
    sol = h.getSolution()
    col = np.asarray(sol.col_value)
    dual = np.asarray(sol.row_dual)
    g = col[n_th:].reshape(n_t, n_g)
    # Balance row: base*B*theta - C*g = -d, so d(cost)/d(d_i) is minus the row dual.
    lmp = -dual[:n_th].reshape(n_t, n_bus)
    line_dual = dual[n_th:].reshape(n_t, len(lim))
    rows, row_dual = [], []
    for t in range(n_t):
        for k, br in enumerate(lim):
            if abs(line_dual[t, k]) > 0:
                rows.append((int(br), t))
                row_dual.append(line_dual[t, k])
    lam = np.full((n_t, model.n_islands), np.nan)
    for k in problem.islands:
        members = model.island == k
        if problem.weights is None:
            lam[:, k] = lmp[:, model.ref_bus[k]]
        else:
            lam[:, k] = (lmp[:, members] * problem.weights[:, members]).sum(axis=1)
    return _Solution(g=g, lam=lam, rows=rows, row_dual=np.array(row_dual), mlf=np.zeros((n_t, n_bus)),
                     loss_mw=np.zeros(n_t), objective=float(h.getInfo().objective_function_value), lmp=lmp)


# --------------------------------------------------------------------------------------------------------
# Result tables


def _tables(problem: _Problem, sol: _Solution) -> OpfResult:
    model = problem.model
    n_t, n_bus = problem.n_t, len(model.buses)
    snaps = problem.snapshots
    lam_bus = sol.lam[:, model.island]                                  # T x n_bus
    no_price = np.isnan(lam_bus)
    energy = np.where(no_price, np.nan, lam_bus)
    loss = np.where(no_price, np.nan, -lam_bus * sol.mlf) + 0.0  # + 0.0 turns -0.0 into 0.0
    congestion = np.zeros((n_t, n_bus))
    if problem.ptdf_w is None and sol.rows:
        # the slack-referred rows are the same in every snapshot: one solve for all of them
        branch, snap = (np.array(x) for x in zip(*sol.rows, strict=True))
        unique, where = np.unique(branch, return_inverse=True)
        duals = np.zeros((n_t, len(unique)))
        np.add.at(duals, (snap, where), sol.row_dual)
        congestion = duals @ problem.factor.rows(unique)
    for t in range(n_t) if problem.ptdf_w is not None else ():
        ks = [k for k, (_, tt) in enumerate(sol.rows) if tt == t]
        if ks:
            branches = np.array([sol.rows[k][0] for k in ks])
            congestion[t] = sol.row_dual[ks] @ problem.ref_ptdf_rows(branches, t)
    congestion[no_price] = np.nan
    lmp = energy + congestion + loss if sol.lmp is None else np.where(no_price, np.nan, sol.lmp)
    snap_col = np.repeat(np.asarray(snaps), n_bus)
    nodes = pd.DataFrame({
        "snapshot": snap_col,
        "bus": np.tile(np.asarray(model.buses), n_t),
        "lmp": lmp.ravel(),
        "energy": energy.ravel(),
        "congestion": congestion.ravel(),
        "loss": loss.ravel(),
    })
    dispatch = pd.DataFrame({
        "snapshot": np.repeat(np.asarray(snaps), problem.n_g),
        "generator": np.tile(np.asarray(problem.gen_names), n_t),
        "bus": np.tile(np.asarray(model.buses[problem.gen_bus]), n_t),
        "p_mw": sol.g.ravel(),
    })
    flow = problem.flows(_injection(problem, sol.g))
    flows = pd.DataFrame({
        "snapshot": np.repeat(np.asarray(snaps), len(model.branches)),
        "branch": np.tile(np.asarray(model.branches), n_t),
        "flow_mw": flow.ravel(),
        "limit_mw": np.tile(problem.limit, n_t),
    })
    br = problem.network.branches
    keep = np.abs(sol.row_dual) > _DUAL_TOL
    b, t = np.array(sol.rows, dtype=int).reshape(-1, 2)[keep].T
    binding = pd.DataFrame({
        "snapshot": snaps[t], "branch": model.branches[b], "from_bus": br["from_bus"].to_numpy()[b],
        "to_bus": br["to_bus"].to_numpy()[b], "flow_mw": flow[t, b], "limit_mw": problem.limit[b],
        "shadow_price": sol.row_dual[keep]})
    binding = binding.sort_values(["snapshot", "shadow_price"], key=None).reset_index(drop=True)
    last_weights = None if problem.weights is None else problem.weights[n_t - 1]
    info = dict(sol.info)
    info["reference"] = "slack" if problem.weights is None else "weighted"
    info["slack_buses"] = [str(model.buses[b]) for b in model.ref_bus]
    return OpfResult(network=problem.network.name, snapshots=snaps, nodes=nodes, dispatch=dispatch, flows=flows,
                     binding=binding, objective=sol.objective,
                     losses_mw=pd.Series(sol.loss_mw, index=snaps, name="losses_mw"),
                     factor=problem.factor if last_weights is None else PtdfFactor(model, last_weights), info=info)


def congestion_component(binding: pd.DataFrame, ptdf_table: pd.DataFrame) -> pd.DataFrame:
    """``sum_l shadow_price[l] * PTDF[l, i]`` per snapshot and bus, from a binding table and a PTDF table."""
    out = {}
    for snap, group in binding.groupby("snapshot", sort=False):
        rows = ptdf_table.loc[group["branch"].astype(str)]
        out[snap] = group["shadow_price"].to_numpy(float) @ rows.to_numpy(float)
    frame = pd.DataFrame(out, index=ptdf_table.columns).T
    frame.index.name = "snapshot"
    return frame


def unique_prices(network: Network, result: OpfResult, mw_tol: float = 1e-5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which LMPs and shadow prices the optimum fixes uniquely (lossless solves).

    Every optimal dual solution satisfies, for each generator strictly inside its limits, ``price at its bus
    = its marginal cost``, and has a zero dual on every limit the (any) optimal flow does not reach. So the
    duals lie in the affine set ``A y = mc`` with unknowns ``y`` = (island energy prices, duals of the
    limits at their bound). A bus price ``a_i . y`` (or a limit's dual) is unique when ``a_i`` is orthogonal
    to the null space of ``A``. This is sufficient, not necessary: a price reported non-unique may still be
    pinned by the generators at their bounds. Degenerate cases are parallel or series limits binding
    together (only their combined dual is fixed) and a bus with no load or generation between them.

    Returns ``(nodes, limits)``: ``snapshot, bus, unique`` and ``snapshot, branch, unique`` (limits at bound).
    """
    if result.info.get("losses"):
        raise ValueError("uniqueness is assessed for lossless solves")
    problem = _Problem.build(network, dc_model(network), result.snapshots, "slack")
    model = problem.model
    curves = {c.gen: c for c in problem.pwl}
    dispatch = result.dispatch["p_mw"].to_numpy(float).reshape(problem.n_t, problem.n_g)
    flows = result.flows["flow_mw"].to_numpy(float).reshape(problem.n_t, len(model.branches))
    node_rows, limit_rows = [], []
    for t, snap in enumerate(result.snapshots):
        g = dispatch[t]
        inside = (g > problem.lower[t] + mw_tol) & (g < problem.upper[t] - mw_tol)
        for j in np.flatnonzero(inside):
            # at a breakpoint the price may lie anywhere between the two slopes: that generator fixes nothing
            if j in curves and curves[j].at_breakpoint(g[j], mw_tol):
                inside[j] = False
        active = np.flatnonzero(np.abs(flows[t]) >= problem.limit - mw_tol)
        bus_free, lim_free = _free_directions(model, problem.factor.rows(active),
                                              problem.gen_bus[np.flatnonzero(inside)])
        node_rows.append(pd.DataFrame({"snapshot": snap, "bus": model.buses, "unique": bus_free <= 1e-8}))
        limit_rows.append(pd.DataFrame({"snapshot": snap, "branch": model.branches[active],
                                        "unique": lim_free <= 1e-8}))
    return pd.concat(node_rows, ignore_index=True), pd.concat(limit_rows, ignore_index=True)


def _free_directions(model: DcModel, h_active: np.ndarray,
                     marginal_bus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far each bus price and each active limit's dual (PTDF rows ``h_active``) can move within the null
    space of the marginal generators' conditions (0 where the optimum fixes it)."""
    n_isl = model.n_islands
    n_active = len(h_active)
    a = np.zeros((len(marginal_bus), n_isl + n_active))
    a[np.arange(len(marginal_bus)), model.island[marginal_bus]] = 1.0
    a[:, n_isl:] = h_active[:, marginal_bus].T
    if a.size:
        _, s, vt = np.linalg.svd(a, full_matrices=True)
        rank = int(np.sum(s > 1e-9 * max(1.0, s.max() if len(s) else 1.0)))
        null = vt[rank:].T
    else:
        null = np.eye(n_isl + n_active)
    coef = np.zeros((len(model.buses), n_isl + n_active))
    coef[np.arange(len(model.buses)), model.island] = 1.0
    coef[:, n_isl:] = h_active.T
    bus_free = np.linalg.norm(coef @ null, axis=1) if null.size else np.zeros(len(model.buses))
    lim_free = np.linalg.norm(null[n_isl:], axis=1) if null.size else np.zeros(n_active)
    return bus_free, lim_free
