"""DC sensitivities: PTDF (any slack bus or a distributed slack) and LODF, from a sparse factorisation.

Conventions (MATPOWER ``makeBdc``/``makePTDF``): branch susceptance ``b = 1 / (x * tap)`` p.u.; the flow from
``from_bus`` to ``to_bus`` is ``base_mva * (b * (theta_f - theta_t - shift))``. ``PTDF[l, i]`` is the MW
change of that flow when 1 MW is injected at bus ``i`` and withdrawn at the slack (or spread over the slack
weights). ``LODF[l, k]`` is the change of flow on ``l`` per MW flowing on ``k`` before ``k`` is taken out;
``LODF[k, k] = -1``; it is NaN for an outage that splits an island.

Each island (connected set of buses through in-service branches) has its own slack: the caller's choice,
else the case's reference bus in that island, else the island's bus with the most generating capacity.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.linalg import lapack
from scipy.sparse.linalg import splu

from engine.lmp.network import Network

log = logging.getLogger(__name__)

Slack = str | Mapping[str, float] | pd.Series | None


@dataclass(frozen=True)
class DcModel:
    """The network's DC matrices in bus/branch index order (internal arrays for the solvers)."""

    buses: pd.Index
    branches: pd.Index
    from_idx: np.ndarray
    to_idx: np.ndarray
    b: np.ndarray            # p.u. susceptance, 0 for branches out of service
    in_service: np.ndarray
    shift: np.ndarray        # radians
    island: np.ndarray       # island number per bus
    n_islands: int
    ref_bus: np.ndarray      # one bus index per island
    bf: sp.csr_matrix        # branch x bus, b at from, -b at to
    bbus: sp.csc_matrix      # bus x bus
    base_mva: float

    def shift_flow(self, ptdf: np.ndarray | None = None, factor: PtdfFactor | None = None) -> np.ndarray:
        """MW flow on each branch caused by phase shifters alone (all injections zero), with the dense PTDF or
        the factorisation when one is at hand (forming either is most of the cost on a large case)."""
        pfinj = -self.b * self.shift
        if not np.any(pfinj):
            return np.zeros(len(self.branches))
        pbusinj = np.zeros(len(self.buses))
        np.add.at(pbusinj, self.from_idx, pfinj)
        np.add.at(pbusinj, self.to_idx, -pfinj)
        if ptdf is not None:
            return self.base_mva * (pfinj - ptdf @ pbusinj)
        return self.base_mva * (pfinj - (factor or PtdfFactor(self)).apply(pbusinj))

    def ptdf(self, weights: np.ndarray | None = None, method: str = "auto") -> np.ndarray:
        """Dense PTDF (branches x buses); ``weights`` per bus gives a distributed slack (normalised per island).

        ``method`` picks how the reduced susceptance matrix is inverted: "sparse" (SuperLU's factors, then
        triangular solves a level of rows at a time: :func:`_sparse_inverse`), "dense" (LAPACK Cholesky) or
        "auto" (dense up to ``DENSE_MAX_BUSES`` buses per island, sparse above).
        """
        if method not in ("auto", "sparse", "dense"):
            raise ValueError(f"unknown PTDF method {method!r}")
        n_br, n_bus = len(self.branches), len(self.buses)
        branch_island = self.island[self.from_idx]
        single = self.n_islands == 1 and bool(self.in_service.all())
        out = None if single else np.zeros((n_br, n_bus))
        for k in range(self.n_islands):
            members = np.flatnonzero(self.island == k)
            rows = np.flatnonzero(self.in_service & (branch_island == k))
            if len(members) < 2 or len(rows) == 0:
                continue
            local = np.full(n_bus, -1)
            local[members] = np.arange(len(members))
            matrix = self.bbus if len(members) == n_bus else self.bbus[members][:, members]
            use_dense = method == "dense" or (method == "auto" and len(members) <= DENSE_MAX_BUSES)
            inverse, row_of = _reduced_inverse(sp.csc_matrix(matrix), int(local[self.ref_bus[k]]), use_dense)
            block = _branch_rows(inverse, self.b[rows], row_of[local[self.from_idx[rows]]],
                                 row_of[local[self.to_idx[rows]]])
            if weights is not None:
                w = weights[members]
                total = w.sum()
                if total <= 0:
                    raise ValueError(f"slack weights of island {k} sum to {total}; they must be positive")
                block -= (block @ (w / total))[:, None]
            if out is None:
                return block
            out[np.ix_(rows, members)] = block
        return np.zeros((n_br, n_bus)) if out is None else out


#: Above this many buses in an island the sparse inverse is faster (2,383 buses: 0.1-0.2 s against 0.5-2 s
#: for the dense Cholesky on the shared 2-core machine, whose BLAS threads compete with everything else).
DENSE_MAX_BUSES = 300


class PtdfFactor:
    """PTDF products by sparse solves with the reduced susceptance matrix, factorised once: flows, chosen PTDF
    rows and combinations of rows, without forming the dense PTDF (branches x buses, about 50 MB on a
    2,000-bus case) that a DC-OPF needs only a few rows of.

    Every island's slack row and column are replaced by the identity's, so one sparse LU serves all islands
    (the matrix is block diagonal by island) and a right-hand side that is zero at the slacks gives angles
    that are zero there. Single-slack PTDF; ``weights`` (per bus, normalised per island) refer it to a
    distributed slack as :meth:`DcModel.ptdf` does.
    """

    def __init__(self, model: DcModel, weights: np.ndarray | None = None):
        self.model = model
        self.weights = None if weights is None else _normalised(model, weights)
        n_bus = len(model.buses)
        keep = np.ones(n_bus)
        keep[model.ref_bus] = 0.0
        mask = sp.diags(keep)
        self._keep = keep
        self._bf = (model.bf @ mask).tocsr()       # slack columns zero: the slack's angle is fixed
        self._pinned = (mask @ model.bbus @ mask + sp.diags(1.0 - keep)).tocsc()
        self._lu = None
        # SuperLU's solve is not documented as thread-safe and the page's callbacks share one result.
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_lu"], state["_lock"] = None, None  # a SuperLU object cannot be pickled: factorised again
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.model.branches), len(self.model.buses)

    def _solve(self, rhs: np.ndarray) -> np.ndarray:
        with self._lock:
            if self._lu is None:
                self._lu = splu(self._pinned, permc_spec="MMD_AT_PLUS_A")
            return self._lu.solve(np.ascontiguousarray(rhs, dtype=float))

    def rows(self, branches: np.ndarray) -> np.ndarray:
        """PTDF rows of ``branches`` (positions), one per branch, over every bus."""
        branches = np.asarray(branches, dtype=int)
        if len(branches) == 0:
            return np.zeros((0, self.shape[1]))
        # B symmetric: row l of Bf B^-1 is (B^-1 Bf[l]^T)^T
        out = self._solve(self._bf[branches].T.toarray()).T
        return self._refer(out, branches)

    def combine(self, coef: np.ndarray) -> np.ndarray:
        """``coef @ PTDF`` for ``coef`` (k x branches, or one vector): weighted sums of rows."""
        coef = np.asarray(coef, dtype=float)
        single = coef.ndim == 1
        coef = np.atleast_2d(coef)
        out = self._solve(np.asarray(self._bf.T @ coef.T)).T
        if self.weights is not None:
            branch_island = self.model.island[self.model.from_idx]
            shift = self.row_shift()                                      # branches
            for k in range(self.model.n_islands):
                members = self.model.island == k
                out[:, members] -= (coef[:, branch_island == k] @ shift[branch_island == k])[:, None]
        return out[0] if single else out

    def apply(self, injection: np.ndarray) -> np.ndarray:
        """``PTDF @ injection`` for injections per bus (buses, or buses x k): MW flows, phase shifters aside."""
        injection = np.asarray(injection, dtype=float)
        flows = self._bf @ self._solve(injection * (self._keep if injection.ndim == 1 else self._keep[:, None]))
        if self.weights is not None:
            branch_island = self.model.island[self.model.from_idx]
            shift = self.row_shift()
            for k in range(self.model.n_islands):
                rows = branch_island == k
                total = injection[self.model.island == k].sum(axis=0)
                flows[rows] -= np.multiply.outer(shift[rows], total)
        return flows

    def row_shift(self) -> np.ndarray:
        """Single-slack ``PTDF @ weights`` per branch: what a distributed slack takes off each row."""
        if self.weights is None:
            return np.zeros(self.shape[0])
        if not hasattr(self, "_row_shift"):
            self._row_shift = self._bf @ self._solve(self.weights * self._keep)
        return self._row_shift

    def _refer(self, block: np.ndarray, branches: np.ndarray) -> np.ndarray:
        if self.weights is None:
            return block
        same = self.model.island[None, :] == self.model.island[self.model.from_idx[branches]][:, None]
        return block - self.row_shift()[branches][:, None] * same

    def dense(self) -> np.ndarray:
        """The whole PTDF (branches x buses)."""
        return self.model.ptdf(self.weights)


def _normalised(model: DcModel, weights: np.ndarray) -> np.ndarray:
    """Slack weights scaled to sum to one in every island; ValueError for an island (of two buses or more)
    whose weights do not sum to a positive number."""
    out = np.asarray(weights, dtype=float).copy()
    for k in range(model.n_islands):
        members = model.island == k
        total = out[members].sum()
        if members.sum() < 2:
            continue
        if total <= 0:
            raise ValueError(f"slack weights of island {k} sum to {total}; they must be positive")
        out[members] /= total
    return out


def _reduced_inverse(matrix: sp.csc_matrix, slack: int, dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of the island's susceptance matrix with the slack angle fixed (zero slack row and column), as
    ``(rows, row_of)``: bus ``i``'s row of the inverse is ``rows[row_of[i]]``.

    The slack row and column are replaced by the identity's, so the matrix stays square and symmetric; the
    slack's 1 is then zeroed.
    """
    n = matrix.shape[0]
    keep = np.ones(n)
    keep[slack] = 0.0
    mask = sp.diags(keep)
    pinned = (mask @ matrix @ mask + sp.diags(1.0 - keep)).tocsc()
    if not dense:
        return _sparse_inverse(pinned, slack)
    inverse = None
    if dense:
        factor, info = lapack.dpotrf(pinned.toarray(order="F"), lower=1, overwrite_a=1)
        if info == 0:
            inverse, info = lapack.dpotri(factor, lower=1, overwrite_c=1)
            if info == 0:
                # dpotri fills the lower triangle only.
                lower = np.tril(inverse)
                inverse = lower + np.tril(lower, -1).T
            else:
                inverse = None
        # A matrix that is not positive definite (negative series reactances) takes the LU path.
    if inverse is None:
        return _sparse_inverse(pinned, slack)
    inverse[slack, slack] = 0.0
    return inverse, np.arange(n)


def _sparse_inverse(pinned: sp.csc_matrix, slack: int) -> tuple[np.ndarray, np.ndarray]:
    """The inverse from SuperLU's factors ``Pr A Pc = L U``: ``A^-1 = Pc U^-1 L^-1 Pr``.

    SuperLU's own solve takes the n right-hand sides one at a time. Here the triangular solves run over all
    of them at once, a level of rows at a time: rows of a level depend only on rows of earlier levels, so
    each level is one sparse-times-dense product. A grid's elimination tree is shallow (66 levels for 2,383
    buses), so that is a few dozen products instead of n column sweeps. The rows come back in the factor's
    order; ``row_of`` maps a bus to its row, which saves permuting the n x n result.
    """
    n = pinned.shape[0]
    lu = splu(pinned, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.01, options={"SymmetricMode": True})
    strict_lower = sp.tril(lu.L, -1, format="csr")
    upper = lu.U.tocsr()
    diag = upper.diagonal()
    scaled_upper = (sp.diags(1.0 / diag) @ sp.triu(upper, 1)).tocsr()
    out = np.zeros((n, n))
    out[lu.perm_r, np.arange(n)] = 1.0
    _sweep(strict_lower, out)
    out /= diag[:, None]
    _sweep(scaled_upper, out)
    row_of = np.asarray(lu.perm_c)
    out[row_of[slack]] = 0.0
    return out, row_of


def _sweep(triangle: sp.csr_matrix, out: np.ndarray) -> None:
    """``out <- (I + triangle)^-1 out`` in place, a level of rows at a time (see :func:`_levels`)."""
    order, bounds = _levels(triangle)
    # rows in level order once, so that each level's rows are a contiguous slice: no sparse fancy indexing
    by_level = triangle[order]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        rows = order[lo:hi]
        out[rows] -= by_level[lo:hi] @ out


def _levels(triangle: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a strictly (lower or upper) triangular matrix in the order a triangular solve can do them:
    ``(order, bounds)``, level ``k``'s rows being ``order[bounds[k]:bounds[k + 1]]``. A row's level is one more
    than the highest level among the rows it refers to; rows without off-diagonal entries (level 0) need
    nothing done and are left out.

    Found by relaxation, all rows at once: a round raises every row to one above its highest reference, and
    the levels are final after as many rounds as there are levels (a few dozen on a grid), far cheaper than a
    Python loop over the rows.
    """
    n = triangle.shape[0]
    indptr, indices = triangle.indptr, triangle.indices
    has = np.flatnonzero(np.diff(indptr) > 0)
    starts = indptr[has]
    level = np.zeros(n, dtype=np.int64)
    if len(has):
        while True:
            raised = np.maximum.reduceat(level[indices], starts) + 1
            if np.array_equal(raised, level[has]):
                break
            level[has] = raised
    order = np.argsort(level, kind="stable")
    bounds = np.searchsorted(level[order], np.arange(1, level.max() + 2))
    return order[bounds[0]:], bounds - bounds[0]


def _branch_rows(inverse: np.ndarray, b: np.ndarray, f: np.ndarray, t: np.ndarray) -> np.ndarray:
    """PTDF rows ``b * (X[f] - X[t])``, as one sparse-times-dense product (no temporaries of the rows)."""
    k = np.arange(len(b))
    pick = sp.csr_matrix((np.concatenate([b, -b]), (np.concatenate([k, k]), np.concatenate([f, t]))),
                         shape=(len(b), inverse.shape[0]))
    return pick @ inverse


def dc_model(network: Network, slack: str | None = None) -> DcModel:
    """Build the DC matrices; ``slack`` names a bus to use as the reference of its island."""
    buses = network.buses.index
    br = network.branches
    pos = pd.Series(np.arange(len(buses)), index=buses)
    f = pos[br["from_bus"]].to_numpy()
    t = pos[br["to_bus"]].to_numpy()
    live = br["in_service"].to_numpy(bool)
    b = np.where(live, 1.0 / (br["x"].to_numpy(float) * br["tap"].to_numpy(float)), 0.0)
    shift = np.deg2rad(br["shift_deg"].to_numpy(float))
    n_br, n_bus = len(br), len(buses)
    rows = np.arange(n_br)
    bf = sp.csr_matrix((np.concatenate([b, -b]), (np.concatenate([rows, rows]), np.concatenate([f, t]))),
                       shape=(n_br, n_bus))
    cft = sp.csr_matrix((np.concatenate([np.ones(n_br), -np.ones(n_br)]),
                         (np.concatenate([rows, rows]), np.concatenate([f, t]))), shape=(n_br, n_bus))
    bbus = (cft.T @ bf).tocsc()
    adjacency = sp.csr_matrix((np.ones(live.sum()), (f[live], t[live])), shape=(n_bus, n_bus))
    n_islands, island = connected_components(adjacency, directed=False)
    ref = _choose_refs(network, island, n_islands, slack)
    return DcModel(buses=buses, branches=br.index, from_idx=f, to_idx=t, b=b, in_service=live, shift=shift,
                   island=island, n_islands=n_islands, ref_bus=ref, bf=bf, bbus=bbus,
                   base_mva=network.base_mva)


def _choose_refs(network: Network, island: np.ndarray, n_islands: int, slack: str | None) -> np.ndarray:
    buses = network.buses.index
    is_ref = network.buses["is_ref"].to_numpy(bool)
    gens = network.generators[network.generators["in_service"]]
    capacity = gens.groupby("bus")["p_max"].sum().reindex(buses, fill_value=0.0).to_numpy(float)
    refs = np.empty(n_islands, dtype=int)
    for k in range(n_islands):
        members = np.flatnonzero(island == k)
        marked = members[is_ref[members]]
        refs[k] = marked[0] if len(marked) else members[np.argmax(capacity[members])]
    if slack is not None:
        if slack not in buses:
            raise KeyError(f"slack bus {slack!r} is not in the network")
        k = buses.get_loc(slack)
        refs[island[k]] = k
    return refs


def slack_weights(network: Network, slack: Slack) -> tuple[str | None, np.ndarray | None]:
    """Split a slack choice into a single bus name or a weight vector over buses (in bus order)."""
    if slack is None or isinstance(slack, str):
        return slack, None
    weights = pd.Series(slack, dtype=float)
    unknown = weights.index.difference(network.buses.index)
    if len(unknown):
        raise KeyError(f"slack weights for unknown buses: {list(unknown[:5])}")
    if (weights < 0).any():
        raise ValueError("slack weights must be non-negative")
    return None, weights.reindex(network.buses.index, fill_value=0.0).to_numpy(float)


def ptdf(network: Network, slack: Slack = None) -> pd.DataFrame:
    """PTDF table (index branch, columns bus); ``slack`` is a bus name, a weight per bus, or None."""
    bus, weights = slack_weights(network, slack)
    model = dc_model(network, bus)
    return pd.DataFrame(model.ptdf(weights), index=model.branches, columns=model.buses)


def lodf(network: Network, ptdf_matrix: np.ndarray | None = None) -> pd.DataFrame:
    """LODF table (index monitored branch, columns outaged branch), from the single-slack PTDF."""
    model = dc_model(network)
    h = model.ptdf() if ptdf_matrix is None else ptdf_matrix
    # Flow change on every branch per MW of transfer from the outaged branch's from-bus to its to-bus.
    transfer = h[:, model.from_idx] - h[:, model.to_idx]
    denom = 1.0 - np.diag(transfer)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = transfer / denom[None, :]
    splits = np.abs(denom) < 1e-10
    out[:, splits] = np.nan
    out[:, ~model.in_service] = 0.0
    out[~model.in_service, :] = 0.0
    idx = np.arange(len(model.branches))
    out[idx[model.in_service], idx[model.in_service]] = -1.0
    out[idx[splits], idx[splits]] = np.nan
    return pd.DataFrame(out, index=model.branches, columns=model.branches)


def post_outage_flows(flows: pd.Series, lodf_table: pd.DataFrame, outage: str) -> pd.Series:
    """Branch flows after taking ``outage`` out: ``f + LODF[:, k] * f[k]`` (the outaged branch goes to 0)."""
    after = flows + lodf_table[outage] * flows[outage]
    after[outage] = 0.0
    return after
