"""Congestion patterns: published congestion components factorised into a few spatial patterns and their hourly
activations, for operators that publish nodal prices but no network model (PJM, ISO-NE).

Model. In a DC market clearing the congestion component of node ``i`` in hour ``t`` is (see
:mod:`engine.lmp.inference`)::

    congestion[i, t] = sum_l PTDF[l, i] * shadow_price[l, t] + c[t]

with ``c[t]`` set by the operator's reference (0 at a slack bus, a constant for a distributed one). Removing each
hour's mean over the nodes removes ``c[t]`` whatever the reference, and what is left, the *reference-free*
matrix ``X`` (nodes x hours), is a sum of one rank-one term per binding corridor: its mean-removed PTDF row
times its shadow prices. Only a few corridors carry most of the congestion, so ``X`` is close to low rank and
the natural factorisation is linear and low rank.

Method: **truncated SVD of the reference-free matrix** (PCA without the time centring),
``X ~ loadings @ activations.T`` with orthonormal loadings (nodes x k) and activations in $/MWh (hours x k);
pattern ``j`` explains ``s_j^2 / ||X||_F^2`` of the sum of squares. Why this one:

- it is the best rank-k fit in least squares (Eckart-Young), unique up to sign, deterministic, no tuning;
- the time mean is kept, not removed: a corridor that binds every hour is congestion, not an offset, and
  removing it would take its row out of the span of the patterns;
- no scaling per node: every column is in $/MWh already, and standardising would inflate nodes that barely
  move (a node at the reference, always 0, stays in and costs nothing);
- NMF needs non-negative data, and congestion components are signed (the two sides of a constraint move in
  opposite directions), so it would need the matrix split in two and the patterns would no longer be PTDF-like
  differences; sparse PCA trades explained variance for fewer nodes per pattern and adds a penalty to tune.
  The price of SVD: each pattern is an orthogonal mix of corridor rows, not one corridor, so its alignment with
  the corridors that bound is measured against the span of the patterns (:func:`pattern_alignment`).

Small matrices get a full thin SVD; PJM-sized ones (11,000 nodes x 744 hours) the eigenvectors of the Gram
matrix of the smaller side (the leading triplets to working precision at a fraction of a full SVD's cost);
matrices large on both sides a randomised SVD (Halko, Martinsson & Tropp 2011: range finder with oversampling
and power iterations). ``k`` is the smallest number of patterns that
explains ``target`` (default 90 %) of the sum of squares, capped at ``max_k``, or given.

Gaps: nodes (and hours) present in less than ``min_coverage`` of the matrix are left out and listed; the
remaining gaps are filled by iterated low-rank imputation (fill with the hour's mean, fit the rank that explains 99 %,
refill the gaps from the fit, until they stop moving), so a missing value neither biases the patterns towards zero nor
drops a whole node.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.store import Store

#: Below this many nodes or hours there is no pattern to speak of: 2 nodes give one difference, 1 hour one
#: snapshot.
MIN_NODES, MIN_HOURS = 3, 2
#: A full SVD up to this smaller dimension; the Gram matrix of the smaller side up to GRAM_MAX (a full SVD of
#: 11,000 x 744 takes ~15 s here, the Gram route ~0.5 s); a randomised SVD above.
FULL_SVD_MAX, GRAM_MAX = 300, 3000
_OVERSAMPLE, _POWER_ITERATIONS = 10, 4
_IMPUTE_ROUNDS, _IMPUTE_TOL, _IMPUTE_SHARE = 30, 1e-3, 0.99


@dataclass(frozen=True)
class CongestionPatterns:
    """A factorisation ``X ~ loadings @ activations.T`` of the reference-free congestion matrix ``X``."""

    loadings: pd.DataFrame       # node x pattern ("P1", ...): orthonormal columns, sign so activations sum >= 0
    activations: pd.DataFrame    # hour x pattern, $/MWh: loading x activation is the node's $/MWh from it
    explained: pd.Series         # per pattern: share of the sum of squares of X it explains
    exposed: pd.DataFrame        # pattern, rank, node, label, hub, loading, mean_usd, rms_usd: top nodes each
    #                              (mean_usd / rms_usd: the node's $/MWh from the pattern, on average / rms)
    hubs: pd.DataFrame           # the same columns, for every hub, per pattern (empty when no hub is known)
    dropped_nodes: list[str] = field(default_factory=list)   # too few hours to be used
    dropped_hours: list = field(default_factory=list)        # too few nodes to be used
    filled: int = 0              # gaps filled by low-rank imputation
    method: str = ""

    @property
    def k(self) -> int:
        return self.loadings.shape[1]

    @property
    def total_explained(self) -> float:
        return float(self.explained.sum())


def congestion_matrix(frame: pd.DataFrame, *, time: str = "interval_start", node: str = "node",
                      value: str = "congestion", min_coverage: float = 0.8) -> tuple[pd.DataFrame, list, list]:
    """The node x hour matrix of a long table of congestion components, with nodes then hours present in less
    than ``min_coverage`` of it left out. Returns (matrix with NaN at the remaining gaps, dropped nodes, dropped
    hours). Raises ValueError naming a missing column, a value that is not a finite number or a duplicate."""
    missing = [c for c in (time, node, value) if c not in frame.columns]
    if missing:
        raise ValueError(f"congestion table: missing column(s) {missing}; expected {time!r}, {node!r}, {value!r}")
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], not {min_coverage!r}")
    values = pd.to_numeric(frame[value], errors="coerce")
    raw = frame[value]
    bad = (values.isna() & raw.notna()) | np.isinf(values.to_numpy(float, na_value=0.0))
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"congestion table: {value} {raw.iloc[k]!r} of node {frame[node].iloc[k]} at "
                         f"{frame[time].iloc[k]} is not a finite number")
    keep = values.notna().to_numpy()
    # Codes instead of a pivot: a pivot of PJM's 8 million rows takes tens of seconds, this a few.
    nodes_col = frame[node][keep]
    node_codes, node_names = pd.factorize(nodes_col if nodes_col.dtype == object else nodes_col.astype(str))
    node_names = pd.Index(node_names.astype(str))
    time_codes, time_values = pd.factorize(frame[time][keep])
    node_codes, node_names = _sorted_codes(node_codes, node_names)
    time_codes, time_values = _sorted_codes(time_codes, pd.Index(time_values))
    cell = node_codes.astype(np.int64) * len(time_values) + time_codes
    counts = np.bincount(cell, minlength=len(node_names) * len(time_values))
    if (counts > 1).any():
        k = int(np.flatnonzero(counts[cell] > 1)[0])
        raise ValueError(f"congestion table: node {node_names[node_codes[k]]} is listed twice at "
                         f"{time_values[time_codes[k]]}")
    grid = np.full(len(node_names) * len(time_values), np.nan)
    grid[cell] = values.to_numpy(float)[keep]
    wide = pd.DataFrame(grid.reshape(len(node_names), len(time_values)), index=pd.Index(node_names, name="node"),
                        columns=pd.Index(time_values, name="hour"))
    present = wide.notna()
    node_ok = present.mean(axis=1) >= min_coverage
    dropped_nodes = list(wide.index[~node_ok])
    wide = wide[node_ok]
    hour_ok = wide.notna().mean(axis=0) >= min_coverage if len(wide) else pd.Series(False, index=wide.columns)
    dropped_hours = list(wide.columns[~hour_ok])
    return wide.loc[:, hour_ok], dropped_nodes, dropped_hours


def factorise(matrix: pd.DataFrame, *, k: int | None = None, target: float = 0.9, max_k: int = 8,
              labels: dict[str, str] | None = None, hubs: set[str] | frozenset[str] = frozenset(), top: int = 10,
              dropped_nodes: list | None = None, dropped_hours: list | None = None) -> CongestionPatterns:
    """Truncated SVD of ``matrix`` (nodes x hours, $/MWh, NaN at gaps) after removing each hour's mean over the
    nodes. ``k`` patterns, or the fewest explaining ``target`` of the sum of squares, at most ``max_k``.
    ``labels`` names nodes, ``hubs`` lists the hub nodes; ``top`` most exposed nodes are listed per pattern.
    Raises ValueError when the matrix is too small, has no congestion, or k is out of range."""
    n, t = matrix.shape
    if n < MIN_NODES or t < MIN_HOURS:
        raise ValueError(f"congestion matrix of {n} node(s) x {t} hour(s) is too small to factorise: at least "
                         f"{MIN_NODES} nodes and {MIN_HOURS} hours with prices are needed")
    rank_cap = min(n - 1, t)  # removing the hourly mean takes one dimension from the nodes
    if k is not None and not 1 <= k <= rank_cap:
        raise ValueError(f"k must be between 1 and {rank_cap} for {n} nodes x {t} hours, not {k!r}")
    if k is None and not 0.0 < target <= 1.0:
        raise ValueError(f"target must be a share of the sum of squares in (0, 1], not {target!r}")
    if k is None and max_k < 1:
        raise ValueError(f"max_k must be at least 1, not {max_k!r}")
    x = matrix.to_numpy(float, na_value=np.nan)
    gaps = np.isnan(x)
    for axis, what, names in ((1, "node", matrix.index), (0, "hour", matrix.columns)):
        empty = gaps.all(axis=axis)
        if empty.any():
            raise ValueError(f"{what} {names[int(np.flatnonzero(empty)[0])]} has no congestion component at all; "
                             f"leave it out (congestion_matrix drops {what}s below min_coverage)")
    scale = float(np.nanmax(np.abs(x))) if (~gaps).any() else 0.0
    x = _reference_free(np.where(gaps, np.nanmean(x, axis=0, keepdims=True), x))
    total = float(np.sum(x * x))
    if total <= (1e-9 * max(scale, 1.0)) ** 2 * x.size:
        raise ValueError(f"no congestion to factorise: the {n} nodes' congestion components are equal to each "
                         f"other in every one of the {t} hours (up to the reference constant)")
    want = k if k is not None else min(max_k, rank_cap)
    u, s, vt = _top_svd(x, want)
    if gaps.any():
        # Hard impute: refill the gaps from the rank-``want`` fit until they settle. Each round refines the
        # previous singular vectors by one block power step (a few thin products), not a new SVD; one exact
        # SVD at the end gives the reported triplets.
        rows, cols = np.nonzero(gaps)
        # The fit's rank: enough for 99 % (or the target, if higher) of the mean-filled matrix, no more. A
        # higher rank fits the first fill's errors instead of replacing them (on a PJM-like test, rank 4 of 4
        # significant patterns recovered them to 0.3 degree, rank 12 to 4.8, no imputation 5.9).
        share = np.cumsum(s * s) / total
        rank = min(int(np.searchsorted(share, max(target, _IMPUTE_SHARE) - 1e-12)) + 1, len(s))
        u, s, vt = u[:, :rank], s[:rank], vt[:rank]
        for _ in range(_IMPUTE_ROUNDS):
            before = x[rows, cols]
            # The fit at the gaps only: a full product would cost nodes x hours x k per round.
            x[rows, cols] = np.einsum("ij,ij->i", (u * s)[rows], vt.T[cols])
            x = _reference_free(x)
            u, s, vt = _power_step(x, vt)
            if np.max(np.abs(x[rows, cols] - before)) <= _IMPUTE_TOL * max(float(np.max(np.abs(x))), 1e-12):
                break
        u, s, vt = _top_svd(x, want)
        total = float(np.sum(x * x))
    share = s * s / total
    if k is None:
        reached = np.flatnonzero(np.cumsum(share) >= target - 1e-12)
        k = int(reached[0]) + 1 if len(reached) else len(share)
        k = min(k, max_k)
    u, s, vt, share = u[:, :k], s[:k], vt[:k], share[:k]
    act = vt.T * s
    # Sign so that a pattern's usual activation is positive: a positive loading then reads "this node's
    # congestion is above the network's when the pattern is on".
    sums = act.sum(axis=0)
    peak = u[np.argmax(np.abs(u), axis=0), np.arange(k)]
    sign = np.where(np.abs(sums) > 1e-9 * np.abs(act).sum(axis=0), np.sign(sums), np.sign(peak))
    sign[sign == 0] = 1.0
    u, act = u * sign, act * sign
    names = [f"P{j + 1}" for j in range(k)]
    nodes = pd.Index(matrix.index.astype(str), name="node")
    loadings = pd.DataFrame(u, index=nodes, columns=names)
    activations = pd.DataFrame(act, index=matrix.columns, columns=names)
    exposed, hub_rows = _exposure(loadings, activations, labels or {}, set(map(str, hubs)), top)
    method = (f"truncated SVD of the hour-centred congestion matrix ({n} nodes x {t} hours, "
              f"{_svd_route(min(n, t))}), k={k}")
    return CongestionPatterns(loadings, activations, pd.Series(share, index=names, name="explained"), exposed,
                              hub_rows, list(dropped_nodes or []), list(dropped_hours or []), int(gaps.sum()),
                              method)


def congestion_patterns(frame: pd.DataFrame, *, min_coverage: float = 0.8, **options) -> CongestionPatterns:
    """:func:`factorise` of a long table ``interval_start, node, congestion`` (one row per node and hour)."""
    matrix, dropped_nodes, dropped_hours = congestion_matrix(frame, min_coverage=min_coverage)
    return factorise(matrix, dropped_nodes=dropped_nodes, dropped_hours=dropped_hours, **options)


def published_congestion(store: Store, market: str, run: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """A market run's published congestion components averaged to the hour (``interval_start`` = the hour's
    start, UTC), one row per node and hour in [start, end); hours where a node published no component are left
    out, not zero."""
    # Aliases unlike the columns: ClickHouse would otherwise read them back into the WHERE clause.
    frame = store.query_df(
        "SELECT toStartOfHour(interval_start) AS hour, node, avg(congestion) AS mean_congestion "
        "FROM nodal_lmp FINAL WHERE market = {m:String} AND market_run = {r:String} "
        "AND interval_start >= {s:DateTime64(3, 'UTC')} AND interval_start < {e:DateTime64(3, 'UTC')} "
        "AND congestion IS NOT NULL GROUP BY hour, node ORDER BY node, hour",
        {"m": market, "r": run, "s": _utc(start).to_pydatetime(), "e": _utc(end).to_pydatetime()})
    return frame.rename(columns={"hour": "interval_start", "mean_congestion": "congestion"})


def published_patterns(store: Store, market: str, run: str, start: pd.Timestamp, end: pd.Timestamp,
                       **options) -> CongestionPatterns:
    """Congestion patterns of a market run's published prices in [start, end), nodes named and hubs marked from
    the stored node metadata. Raises ValueError when the store holds too little of it (naming what)."""
    frame = published_congestion(store, market, run, start, end)
    if frame.empty:
        raise ValueError(f"no published congestion components for {market} {run} between {_utc(start)} and "
                         f"{_utc(end)}")
    meta = store.query_df(
        "SELECT node, node_name, upper(node_type) = 'HUB' AS hub FROM node_metadata FINAL "
        "WHERE market = {m:String}", {"m": market})
    labels = {n: f"{name} ({n})" if name else n for n, name in zip(meta["node"], meta["node_name"], strict=True)}
    hubs = set(meta.loc[meta["hub"].astype(bool), "node"])
    return congestion_patterns(frame, labels=labels, hubs=hubs, **options)


def pattern_alignment(patterns: CongestionPatterns, rows: pd.DataFrame) -> pd.DataFrame:
    """How well the patterns line up with given PTDF rows (rows = constraints, columns = nodes; restricted to the
    patterns' nodes and each row's mean over them removed, so the reference does not matter).

    Per row: ``subspace`` = |cosine| between the row and its projection on the span of the k patterns, i.e.
    ||P h|| / ||h|| (1 when the row is a combination of the patterns, the cosine of the principal angle), and
    ``best`` = max_j |cos(h, pattern_j)| with ``best_pattern`` the j. Raises ValueError when the rows share no
    node with the patterns or a row is flat over them."""
    nodes = patterns.loadings.index
    cols = pd.Index(rows.columns.astype(str))
    missing = nodes.difference(cols)
    if len(missing):
        raise ValueError(f"PTDF rows lack {len(missing)} of the patterns' nodes, e.g. {list(missing[:5])}")
    h = rows.set_axis(cols, axis=1)[nodes].to_numpy(float)
    h = h - h.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(h, axis=1)
    flat = norm <= 1e-12
    if flat.any():
        raise ValueError(f"PTDF row {rows.index[int(np.flatnonzero(flat)[0])]} is flat over the patterns' nodes: "
                         "it moves no congestion component there")
    proj = h @ patterns.loadings.to_numpy()            # rows x k: coordinates in the orthonormal patterns
    cos = proj / norm[:, None]
    best = np.argmax(np.abs(cos), axis=1)
    return pd.DataFrame({"subspace": np.linalg.norm(proj, axis=1) / norm,
                         "best": np.abs(cos[np.arange(len(h)), best]),
                         "best_pattern": np.asarray(patterns.loadings.columns)[best]},
                        index=rows.index)


def _power_step(x: np.ndarray, vt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Singular triplets of ``x`` in the span ``x @ vt.T`` (one block power step from the right vectors ``vt``),
    orthonormalised through the small Gram matrix (no tall QR, which is slow on a busy machine)."""
    y = x @ vt.T
    w, v = np.linalg.eigh(y.T @ y)
    keep = w > 1e-12 * max(float(w.max()), 1e-300)
    q = (y @ v[:, keep]) / np.sqrt(w[keep])
    ub, s, vt_new = np.linalg.svd(q.T @ x, full_matrices=False)
    order = np.argsort(s)[::-1]
    return (q @ ub)[:, order], s[order], vt_new[order]


def _svd_route(small: int) -> str:
    return "full" if small <= FULL_SVD_MAX else "Gram" if small <= GRAM_MAX else "randomised"


def _sorted_codes(codes: np.ndarray, uniques: pd.Index) -> tuple[np.ndarray, pd.Index]:
    order = uniques.argsort()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], uniques[order]


def _reference_free(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=0, keepdims=True)


def _top_svd(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` leading singular triplets of ``x``."""
    small = min(x.shape)
    if small <= FULL_SVD_MAX:
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        return u[:, :k], s[:k], vt[:k]
    if small <= GRAM_MAX:
        # Eigenvectors of the Gram matrix of the smaller side: one matrix product and a small symmetric
        # eigenproblem. Squaring costs precision only below ~1e-8 of the largest singular value, far under
        # any pattern worth reporting.
        wide = x.shape[1] > x.shape[0]
        a = x.T if wide else x
        w, v = np.linalg.eigh(a.T @ a)
        top = np.argsort(w)[::-1][:k]
        s = np.sqrt(np.clip(w[top], 0.0, None))
        v = v[:, top]
        u = (a @ v) / np.where(s > 0, s, 1.0)
        return (v, s, u.T) if wide else (u, s, v.T)
    # Randomised range finder (both sides large, e.g. a year of hours); a fixed seed keeps it reproducible.
    rng = np.random.default_rng(0)
    width = min(k + _OVERSAMPLE, small)
    q, _ = np.linalg.qr(x @ rng.standard_normal((x.shape[1], width)))
    for _ in range(_POWER_ITERATIONS):
        q, _ = np.linalg.qr(x.T @ q)
        q, _ = np.linalg.qr(x @ q)
    ub, s, vt = np.linalg.svd(q.T @ x, full_matrices=False)
    return (q @ ub)[:, :k], s[:k], vt[:k]


def _exposure(loadings: pd.DataFrame, activations: pd.DataFrame, labels: dict[str, str], hubs: set[str],
              top: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    mean_act = activations.mean(axis=0)
    rms_act = np.sqrt((activations ** 2).mean(axis=0))
    parts, hub_parts = [], []
    for name in loadings.columns:
        col = loadings[name]
        order = col.abs().sort_values(ascending=False, kind="stable").index
        frame = pd.DataFrame({"pattern": name, "node": order, "loading": col[order].to_numpy()})
        frame["label"] = frame["node"].map(lambda n: labels.get(n) or n)
        frame["hub"] = frame["node"].isin(hubs)
        frame["mean_usd"] = frame["loading"] * mean_act[name]
        frame["rms_usd"] = frame["loading"].abs() * rms_act[name]
        frame.insert(1, "rank", np.arange(1, len(frame) + 1))
        parts.append(frame.head(top))
        hub_parts.append(frame[frame["hub"]])
    columns = ["pattern", "rank", "node", "label", "hub", "loading", "mean_usd", "rms_usd"]
    return (pd.concat(parts, ignore_index=True)[columns],
            pd.concat(hub_parts, ignore_index=True)[columns] if hub_parts else pd.DataFrame(columns=columns))


def _utc(when) -> pd.Timestamp:
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


#: the window the nodal page factorises: the last days a run holds (as its published basis, engine.lmp.published)
RECENT_DAYS = 31


def recent_patterns(store: Store, market: str, run: str, days: int = RECENT_DAYS) -> CongestionPatterns:
    """Congestion patterns of a market run's last ``days`` days held, up to its newest hour on a day when the
    network is there: at least half as many nodes priced as on the run's busiest day. An operator's files cover
    different months (PJM's samples: the hubs to August, one node on to the next June), and a window over the
    months only a few nodes reach holds no network to factorise. Raises ValueError when the store holds no
    published congestion components for the run."""
    newest = store.scalar("SELECT max(interval_start) FROM nodal_lmp WHERE market = {m:String} "
                          "AND market_run = {r:String} AND congestion IS NOT NULL", {"m": market, "r": run})
    if newest is None or pd.isna(newest):
        raise ValueError(f"no published congestion components for {market} {run} in the store")
    end = _utc(newest)
    per_day = store.query_df(
        "SELECT bucket, uniqExact(node) AS nodes, max(start_max) AS last FROM nodal_lmp_daily "
        "WHERE market = {m:String} AND market_run = {r:String} GROUP BY bucket ORDER BY bucket",
        {"m": market, "r": run}, columns_if_empty=False)
    if len(per_day):
        busy = per_day[per_day["nodes"] * 2 >= per_day["nodes"].max()]
        end = min(end, _utc(busy["last"].iat[-1]))
    end = end.floor("h") + pd.Timedelta(hours=1)
    return published_patterns(store, market, run, end - pd.Timedelta(days=days), end)
