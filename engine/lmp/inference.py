"""Binding constraints inferred from published congestion components.

Operators publish each node's congestion component but not the constraints behind it. With the network model,
the congestion component of bus ``i`` in hour ``t`` is (sign convention of :mod:`engine.lmp.opf`)::

    congestion[t, i] = sum_l shadow_price[t, l] * PTDF[l, i] + c[t, island(i)]

where ``c`` absorbs the choice of reference (0 at a slack reference bus, a constant for a distributed or
load-weighted reference, one per island). Few limits bind in an hour, so the shadow prices are recovered as
the sparsest vector that fits the published figures to within their rounding:

1. **Corridors.** Branches whose PTDF rows are equal up to scale (and up to the free constant) move every
   price identically, so no price can tell them apart: parallel circuits, or a branch listed twice. They are
   grouped into one corridor; the fit has one column per corridor, the corridor's *pattern* ``v_c`` -- its
   PTDF row with each island's mean removed, scaled to a spread (max - min) of 1, sign fixed by its largest
   entry. A corridor's coefficient ``nu_c`` is then the price spread ($/MWh) it opens across the network,
   which makes one threshold meaningful for every corridor.
2. **Minimum L1** of ``nu`` subject to ``|fit - published| <= tolerance`` at every published bus (a linear
   programme, HiGHS), with the constants free.
3. **Reweighted L1** (Candès, Wakin & Boyd 2008): a few rounds with weights ``1 / (|nu_c| + epsilon)``, which
   push the small spurious coefficients of plain L1 to zero while keeping the large true ones.
4. **Debias and prune**: coefficients with ``|nu_c| < threshold`` are dropped, the rest refitted by least
   squares on that support (L1 shrinks them); if the refit misses a published figure by more than twice the
   tolerance, the pruned corridors are put back one by one, largest first. (Twice: a least-squares fit on
   the right support can exceed the rounding bound at a few buses -- it minimises the sum of squares, not the
   largest miss -- and on SciGRID-de, 24 hours, the true support misses by up to 1.3 tolerances.)

Reporting: one row per member branch of every inferred corridor. The corridor's effect is ``nu_c v_c``; a
member branch ``l`` with centred PTDF row ``s_l v_c`` would carry it alone with ``shadow_price = nu_c /
s_l``, and that is what its row reports -- in the engine's sign and units, so where a corridor is a single
branch (or one member binds, the usual case with unequal parallel circuits) it is that branch's dual. The
member rows are alternatives, not parts: how the operator split the dual between identical parallel circuits
is not in the prices (the DC-OPF leaves it to the solver too, see :func:`engine.lmp.opf.unique_prices`).
Their sum over members in any split ``sum_l mu_l s_l`` equals ``nu_c``.
"""
from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.lmp.network import Network
from engine.lmp.opf import _new_highs
from engine.lmp.ptdf import dc_model

COMPONENT_COLUMNS = ("time", "bus", "congestion")
RESULT_COLUMNS = ["time", "branch", "corridor", "shadow_price"]
_FLAT_SPREAD = 1e-9      # a PTDF row with a smaller spread moves no price relative to the others
_PATTERN_DECIMALS = 8    # rounding of normalised patterns before hashing them into corridors


@dataclass(frozen=True)
class Corridors:
    """Branches grouped by PTDF pattern over the published buses."""

    buses: pd.Index              # columns of the patterns
    patterns: np.ndarray         # corridors x buses, island means removed, spread 1
    names: list[str]             # corridor id = its first member branch
    members: list[np.ndarray]    # branch positions per corridor
    branches: pd.Index           # candidate branch names (positions index into this)
    scale: np.ndarray            # per candidate branch: s_l with centred PTDF row = s_l * pattern
    island: np.ndarray           # island number per bus in ``buses``


def corridors(ptdf_table: pd.DataFrame, islands: pd.Series | None = None) -> Corridors:
    """Group the branches (rows of ``ptdf_table``, columns = buses) whose rows are equal up to scale and a
    constant per island. ``islands`` gives an island label per bus (one island when omitted). Rows that move
    no price (spread below 1e-9, e.g. out of service) are left out: no price can show them binding."""
    buses = pd.Index(ptdf_table.columns.astype(str))
    rows = ptdf_table.to_numpy(float)
    if islands is None:
        island = np.zeros(len(buses), dtype=int)
    else:
        island = pd.factorize(pd.Series(islands).reindex(buses).to_numpy())[0]
        if (island < 0).any():
            raise ValueError("islands must give an island for every bus of the PTDF table")
    centred = rows.copy()
    for k in np.unique(island):
        cols = island == k
        centred[:, cols] -= centred[:, cols].mean(axis=1, keepdims=True)
    spread = centred.max(axis=1) - centred.min(axis=1) if len(buses) else np.zeros(len(rows))
    live = np.flatnonzero(spread > _FLAT_SPREAD)
    pattern = centred[live] / spread[live, None]
    peak = np.argmax(np.abs(np.round(pattern, _PATTERN_DECIMALS - 2)), axis=1)
    sign = np.sign(pattern[np.arange(len(live)), peak])
    pattern *= sign[:, None]
    scale = spread[live] * sign
    keys = np.round(pattern, _PATTERN_DECIMALS) + 0.0
    groups: dict[bytes, list[int]] = {}
    for pos, key in enumerate(keys):
        groups.setdefault(key.tobytes(), []).append(pos)
    branch_names = pd.Index(ptdf_table.index.astype(str))[live]
    members = [np.array(g) for g in groups.values()]
    return Corridors(buses=buses, patterns=np.array([pattern[g[0]] for g in members]).reshape(-1, len(buses)),
                     names=[str(branch_names[g[0]]) for g in members], members=members,
                     branches=branch_names, scale=scale, island=island)


def network_ptdf(network: Network, candidates: str = "limited") -> tuple[pd.DataFrame, pd.Series]:
    """The case's PTDF rows of the branches that may bind, and the island of each bus.

    ``candidates``: "limited" (in service with a finite limit, the only ones a DC-OPF can bind) or "all"
    (every in-service branch, for when the operator's limits are not those of the case)."""
    if candidates not in ("limited", "all"):
        raise ValueError(f"candidates must be 'limited' or 'all', not {candidates!r}")
    model = dc_model(network)
    h = model.ptdf()
    keep = model.in_service.copy()
    if candidates == "limited":
        keep &= np.isfinite(network.branches["rate_a"].to_numpy(float))
        if not keep.any():
            raise ValueError(f"{network.name}: no in-service branch has a limit, so none can bind; "
                             "let every branch be a candidate (candidates='all', --all-branches)")
    table = pd.DataFrame(h[keep], index=model.branches[keep].astype(str), columns=model.buses.astype(str))
    return table, pd.Series(model.island, index=model.buses.astype(str))


def read_components(frame: pd.DataFrame, buses: pd.Index | None = None, source: str = "components") -> pd.DataFrame:
    """Check a ``time,bus,congestion`` table: columns present, numeric congestion, buses known, no duplicate
    (time, bus). Returns it with ``bus`` as str and ``congestion`` as float."""
    missing = [c for c in COMPONENT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing columns {missing}; expected 'time,bus,congestion'")
    out = frame[list(COMPONENT_COLUMNS)].copy()
    out["bus"] = out["bus"].astype(str).str.strip()
    values = pd.to_numeric(out["congestion"], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(float, na_value=np.nan))
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{source}: congestion {frame['congestion'].iloc[k]!r} at row {k + 1} "
                         f"(time {out['time'].iloc[k]}, bus {out['bus'].iloc[k]}) is not a finite number")
    out["congestion"] = values.astype(float)
    if out["time"].isna().any():
        raise ValueError(f"{source}: empty time at row {int(np.flatnonzero(out['time'].isna())[0]) + 1}")
    if buses is not None:
        unknown = pd.Index(out["bus"].unique()).difference(buses)
        if len(unknown):
            raise ValueError(f"{source}: {len(unknown)} bus name(s) not in the case, e.g. {list(unknown[:5])}")
    dup = out.duplicated(["time", "bus"])
    if dup.any():
        k = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"{source}: bus {out['bus'].iloc[k]} is listed twice for time {out['time'].iloc[k]}")
    return out


def infer_constraints(case: Network | pd.DataFrame, components: pd.DataFrame, *, tolerance: float = 0.005,
                      rounds: int = 4, epsilon: float = 0.1, threshold: float = 0.02,
                      candidates: str = "limited", islands: pd.Series | None = None) -> pd.DataFrame:
    """The binding branches and shadow prices that reproduce published congestion components, hour by hour.

    ``case`` is a network (its PTDF is computed; ``candidates`` as in :func:`network_ptdf`) or a PTDF table
    (index branch, columns bus; ``islands`` optionally labels each bus's island). ``components`` has columns
    ``time, bus, congestion`` ($/MWh). ``tolerance`` is how far the fit may miss each published figure (half
    the last published digit: 0.005 for two decimals); ``epsilon`` ($/MWh of spread) damps the reweighting;
    corridors opening a price spread below ``threshold`` $/MWh are dropped. Returns ``time, branch,
    corridor, shadow_price`` (one row per member branch of each inferred corridor; see the module docstring
    for how a corridor's dual is reported per member) and, in ``attrs["fit"]``, per hour the number of
    corridors and the largest misfit.
    """
    if not tolerance > 0:
        raise ValueError(f"tolerance must be positive, not {tolerance!r}")
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, not {rounds!r}")
    if not epsilon > 0 or threshold < 0:
        raise ValueError("epsilon must be positive and threshold non-negative")
    if isinstance(case, Network):
        table, islands = network_ptdf(case, candidates)
    elif isinstance(case, pd.DataFrame):
        table = case.copy()
        table.index, table.columns = table.index.astype(str), table.columns.astype(str)
    else:
        raise ValueError(f"case must be a Network or a PTDF DataFrame, not {type(case).__name__}")
    comps = read_components(components, pd.Index(table.columns))
    observed = pd.Index(pd.unique(comps["bus"]))
    wide = comps.pivot(index="time", columns="bus", values="congestion").reindex(columns=observed)
    island_obs = None if islands is None else pd.Series(islands).set_axis(
        pd.Index(pd.Series(islands).index.astype(str))).reindex(observed)
    groups = corridors(table[observed], island_obs)
    solver = _SparseFit(groups, tolerance)
    records, fit = [], []
    for time, row in wide.iterrows():
        seen = row.notna().to_numpy()
        nu, misfit = solver.solve(row.to_numpy(float), seen, rounds, epsilon, threshold)
        fit.append((time, int(np.count_nonzero(nu)), misfit))
        for c in np.flatnonzero(nu):
            for pos in groups.members[c]:
                records.append((time, groups.branches[pos], groups.names[c], nu[c] / groups.scale[pos]))
    out = pd.DataFrame(records, columns=RESULT_COLUMNS)
    out = out.sort_values(["time", "shadow_price"], key=lambda s: s if s.name == "time" else -s.abs(),
                          kind="stable").reset_index(drop=True)
    out.attrs["fit"] = pd.DataFrame(fit, columns=["time", "corridors", "max_misfit"])
    return out


class _SparseFit:
    """One LP over (nu+, nu-, island constants) kept between hours; only bounds and costs change."""

    def __init__(self, groups: Corridors, tolerance: float) -> None:
        self.groups = groups
        self.tol = tolerance
        n_bus = len(groups.buses)
        n_c = len(groups.names)
        n_isl = int(groups.island.max()) + 1 if n_bus else 0
        self.n_c, self.n_isl = n_c, n_isl
        a = groups.patterns.T                                           # buses x corridors
        e = np.zeros((n_bus, n_isl))
        e[np.arange(n_bus), groups.island] = 1.0
        self.design = np.hstack([a, e])                                 # for the least-squares refit
        matrix = sp.csc_matrix(np.hstack([a, -a, e]))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = matrix.shape[1], matrix.shape[0]
        lp.col_cost_ = np.concatenate([np.ones(2 * n_c), np.zeros(n_isl)])
        lp.col_lower_ = np.concatenate([np.zeros(2 * n_c), np.full(n_isl, -highspy.kHighsInf)])
        lp.col_upper_ = np.full(matrix.shape[1], highspy.kHighsInf)
        lp.row_lower_ = np.zeros(n_bus)
        lp.row_upper_ = np.zeros(n_bus)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(float)
        self.h = _new_highs()
        self.h.passModel(lp)
        self.cols = np.arange(matrix.shape[1], dtype=np.int32)
        self.rows = np.arange(n_bus, dtype=np.int32)

    def _l1(self, weights: np.ndarray) -> np.ndarray:
        self.h.changeColsCost(2 * self.n_c, self.cols[:2 * self.n_c], np.concatenate([weights, weights]))
        self.h.run()
        status = self.h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise ValueError(f"the sparse fit is not solved ({self.h.modelStatusToString(status)}); "
                             "are the components from this case?")
        x = np.asarray(self.h.getSolution().col_value)
        return x[:self.n_c] - x[self.n_c:2 * self.n_c]

    def solve(self, published: np.ndarray, seen: np.ndarray, rounds: int, epsilon: float,
              threshold: float) -> tuple[np.ndarray, float]:
        if self.n_c == 0 or not seen.any():
            return np.zeros(self.n_c), 0.0
        lo = np.where(seen, published - self.tol, -highspy.kHighsInf)
        hi = np.where(seen, published + self.tol, highspy.kHighsInf)
        self.h.changeRowsBounds(len(self.rows), self.rows, lo, hi)
        nu = self._l1(np.ones(self.n_c))
        for _ in range(rounds):
            nu = self._l1(1.0 / (np.abs(nu) + epsilon))
        return self._debias(nu, published, seen, threshold)

    def _refit(self, support: np.ndarray, published: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, float]:
        cols = np.concatenate([support, self.n_c + np.arange(self.n_isl)])
        design = self.design[seen][:, cols]
        coef = np.linalg.lstsq(design, published[seen], rcond=None)[0]
        misfit = float(np.max(np.abs(design @ coef - published[seen])))
        nu = np.zeros(self.n_c)
        nu[support] = coef[:len(support)]
        return nu, misfit

    def _debias(self, nu: np.ndarray, published: np.ndarray, seen: np.ndarray,
                threshold: float) -> tuple[np.ndarray, float]:
        order = np.argsort(-np.abs(nu))
        kept = [c for c in order if abs(nu[c]) >= threshold]
        dropped = [c for c in order if 0 < abs(nu[c]) < threshold]
        refit, misfit = self._refit(np.array(kept, dtype=int), published, seen)
        # A pruned corridor that the figures need shows as a misfit well beyond the rounding: restore it.
        while misfit > 2 * self.tol and dropped:
            kept.append(dropped.pop(0))
            refit, misfit = self._refit(np.array(kept, dtype=int), published, seen)
        return refit, misfit


def corridor_of(case: Network | pd.DataFrame, buses: pd.Index | None = None, candidates: str = "limited",
                islands: pd.Series | None = None) -> pd.Series:
    """Corridor id per candidate branch (grouped over ``buses``, all by default), as :func:`infer_constraints`
    names them."""
    if isinstance(case, Network):
        table, islands = network_ptdf(case, candidates)
    else:
        table = case.set_axis(case.index.astype(str)).set_axis(case.columns.astype(str), axis=1)
    cols = pd.Index(table.columns) if buses is None else pd.Index(buses).astype(str)
    groups = corridors(table[cols], None if islands is None else pd.Series(islands).reindex(cols))
    out = {}
    for name, members in zip(groups.names, groups.members, strict=True):
        for pos in members:
            out[groups.branches[pos]] = name
    return pd.Series(out, name="corridor", dtype=str)


def corridor_scores(inferred: pd.DataFrame, binding: pd.DataFrame, corridor: pd.Series,
                    min_dual: float) -> dict[str, float]:
    """Precision and recall of inferred (time, corridor) pairs against a solved binding table (``snapshot,
    branch, shadow_price``); a corridor counts as truly binding in an hour when one of its branches has
    ``|shadow_price| > min_dual``. Branches outside ``corridor`` (e.g. unlimited) count as their own corridor."""
    true_rows = binding[binding["shadow_price"].abs() > min_dual]
    names = true_rows["branch"].astype(str)
    truth = set(zip(true_rows["snapshot"], names.map(corridor).fillna(names), strict=True))
    found = set(zip(inferred["time"], inferred["corridor"], strict=True))
    hits = len(truth & found)
    return {"true": len(truth), "inferred": len(found), "hits": hits,
            "precision": hits / len(found) if found else 1.0, "recall": hits / len(truth) if truth else 1.0}
