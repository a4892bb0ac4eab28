"""Congestion patterns (engine/lmp/patterns.py) and their figures (components/pattern_figures.py).

- Synthetic data of known rank: the span of the patterns is the span of the true loadings (largest principal
  angle below 0.5 degree with noise of 1e-3 $/MWh on activations of order 10), through each SVD route (full,
  Gram, randomised), whatever the reference constant, and with gaps filled.
- Real published files (PJM hubs, ISO-NE all nodes), parsed by the connectors: the factorisation agrees with an
  independent SVD of the pivoted file; the PJM file read back from the store gives the same patterns.
- SciGRID-de, 24 hours, solved by this engine (as bench/infer_constraints.py prepares it): every pattern lies in
  the span of the PTDF rows of the corridors that bound (cosine >= 0.999; measured 1.0000: the components are
  sums of those rows, up to rounding to the cent), and the two corridors carrying half the day's congestion
  are close to the span of the patterns at the 99 % target (cosine >= 0.9; measured 0.952 and 0.975). Not
  every bound corridor can be: 24 hours give at most 24 directions against 56 corridors, and corridors whose
  duals move together are seen only as their sum; the share-weighted mean cosine (measured 0.780) must still
  be far above a random direction's sqrt(k / (n - 1)) = 0.10, so >= 0.7 is asked.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import subspace_angles

import engine.lmp.patterns as patterns_module
from components.pattern_figures import (explained_figure, pattern_activation_figure, pattern_loadings_figure,
                                        pattern_map)
from engine.files import RawFile
from engine.lmp.patterns import (CongestionPatterns, congestion_matrix, congestion_patterns, factorise,
                                 pattern_alignment, published_congestion, published_patterns)

HOURS0 = pd.Timestamp("2025-05-01", tz="UTC")


def synthetic(nodes: int, hours: int, rank: int = 4, noise: float = 1e-3, seed: int = 0,
              reference: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """A long table of ``rank`` centred spatial patterns with activations of decreasing size, a random constant
    per hour (the reference) and Gaussian noise; and the true loadings (nodes x rank)."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((nodes, rank))
    rows -= rows.mean(axis=0)
    act = rng.standard_normal((hours, rank)) * (10.0 * 0.5 ** np.arange(rank)) + 2.0
    x = rows @ act.T + noise * rng.standard_normal((nodes, hours))
    if reference:
        x += rng.uniform(-20, 20, hours)
    times = pd.date_range(HOURS0, periods=hours, freq="h")
    frame = pd.DataFrame({"interval_start": np.tile(times, nodes),
                          "node": pd.Index([f"N{i:04d}" for i in range(nodes)]).repeat(hours),
                          "congestion": x.ravel()})
    return frame, rows


def max_angle_deg(p: CongestionPatterns, truth: np.ndarray) -> float:
    return float(np.degrees(subspace_angles(p.loadings.to_numpy(), truth).max()))


# ---------------------------------------------------------------- synthetic recovery --------------------------

@pytest.mark.parametrize(("nodes", "hours", "route"), [(120, 60, "full"), (900, 400, "Gram")])
def test_recovers_known_rank(nodes: int, hours: int, route: str) -> None:
    frame, truth = synthetic(nodes, hours)
    p = congestion_patterns(frame, target=0.9999)
    assert route in p.method
    assert p.k == 4
    assert max_angle_deg(p, truth) < 0.5
    assert p.explained.is_monotonic_decreasing and 0.9999 <= p.total_explained <= 1.0
    # The rank-4 fit reproduces the hour-centred data to within the noise.
    wide = frame.pivot(index="node", columns="interval_start", values="congestion")
    centred = wide - wide.mean(axis=0)
    fit = p.loadings.to_numpy() @ p.activations.to_numpy().T
    assert np.abs(centred.to_numpy() - fit).max() < 0.01
    # Loadings orthonormal, sign chosen so the activations sum to a positive number.
    assert p.loadings.T.to_numpy() @ p.loadings.to_numpy() == pytest.approx(np.eye(4), abs=1e-9)
    assert (p.activations.sum() > 0).all()


def test_randomised_route(monkeypatch: pytest.MonkeyPatch) -> None:
    frame, truth = synthetic(500, 400)
    monkeypatch.setattr(patterns_module, "GRAM_MAX", 350)
    p = congestion_patterns(frame, k=4)
    assert "randomised" in p.method
    assert max_angle_deg(p, truth) < 0.5


def test_reference_constant_changes_nothing() -> None:
    with_ref, _ = synthetic(80, 40, reference=True, seed=3)
    without, _ = synthetic(80, 40, reference=False, seed=3)
    a, b = congestion_patterns(with_ref, k=3), congestion_patterns(without, k=3)
    assert a.loadings.to_numpy() == pytest.approx(b.loadings.to_numpy(), abs=1e-9)
    assert a.activations.to_numpy() == pytest.approx(b.activations.to_numpy(), abs=1e-6)


def test_k_by_target_and_cap() -> None:
    frame, _ = synthetic(60, 50)
    shares = congestion_patterns(frame, k=4).explained.cumsum()
    p = congestion_patterns(frame, target=0.95)
    assert p.k == int(np.argmax(shares.to_numpy() >= 0.95)) + 1
    assert congestion_patterns(frame, target=0.99999, max_k=2).k == 2


def test_gaps_are_filled_and_sparse_nodes_dropped() -> None:
    frame, truth = synthetic(200, 120, seed=5)
    rng = np.random.default_rng(7)
    holed = frame.drop(index=frame.sample(frac=0.05, random_state=7).index)
    sparse = holed["node"] == "N0007"
    holed = holed.drop(index=holed[sparse].index[rng.random(int(sparse.sum())) < 0.6])
    p = congestion_patterns(holed, k=4, min_coverage=0.8)
    assert p.dropped_nodes == ["N0007"]
    assert p.filled > 0.04 * 199 * 120
    keep = np.arange(200) != 7
    assert max_angle_deg(p, truth[keep] - truth[keep].mean(axis=0)) < 0.5
    # The gaps' values come back from the low-rank fit: compare with the full data, hour-centred.
    full = frame.pivot(index="node", columns="interval_start", values="congestion").drop(index="N0007")
    centred = full - full.mean(axis=0)
    fit = p.loadings.to_numpy() @ p.activations.to_numpy().T
    assert np.abs(centred.to_numpy() - fit).max() < 0.05


def test_exposed_nodes_and_hubs() -> None:
    frame, _ = synthetic(50, 30, rank=2, seed=9)
    p = congestion_patterns(frame, k=2, hubs={"N0003", "N0040"}, labels={"N0003": "ALPHA HUB"}, top=5)
    for name in ("P1", "P2"):
        top = p.exposed[p.exposed["pattern"] == name]
        assert list(top["rank"]) == [1, 2, 3, 4, 5]
        load = p.loadings[name].abs().sort_values(ascending=False)
        assert list(top["node"]) == list(load.index[:5])
        hubs = p.hubs[p.hubs["pattern"] == name].set_index("node")
        assert set(hubs.index) == {"N0003", "N0040"}
        assert hubs.loc["N0003", "label"] == "ALPHA HUB"
        assert hubs.loc["N0040", "rms_usd"] == pytest.approx(
            abs(p.loadings.at["N0040", name]) * np.sqrt((p.activations[name] ** 2).mean()))


# ---------------------------------------------------------------- bad input ------------------------------------

def _small() -> pd.DataFrame:
    return synthetic(5, 4, rank=1, seed=1)[0]


@pytest.mark.parametrize(("change", "words"), [
    (lambda f: f.drop(columns="congestion"), "missing column"),
    (lambda f: f.assign(congestion=f["congestion"].astype(object).where(f.index != 3, "n/a")), "'n/a' of node"),
    (lambda f: f.assign(congestion=f["congestion"].where(f.index != 2, np.inf)), "not a finite number"),
    (lambda f: pd.concat([f, f.iloc[[6]]]), "listed twice"),
    (lambda f: f[f["node"].isin(["N0000", "N0001"])], "too small to factorise"),
    (lambda f: f[f["interval_start"] == HOURS0], "too small to factorise"),
    (lambda f: f.assign(congestion=f["interval_start"].dt.hour * 1.5), "no congestion to factorise"),
])
def test_bad_input_names_what_is_wrong(change, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        congestion_patterns(change(_small()))


def test_bad_options() -> None:
    frame = _small()
    with pytest.raises(ValueError, match="k must be between 1 and 4"):
        congestion_patterns(frame, k=5)
    with pytest.raises(ValueError, match="target must be"):
        congestion_patterns(frame, target=1.5)
    with pytest.raises(ValueError, match="max_k"):
        congestion_patterns(frame, max_k=0)
    with pytest.raises(ValueError, match="min_coverage"):
        congestion_matrix(frame, min_coverage=0)
    # Every node too sparse: nothing left, and said so.
    holed = congestion_matrix(frame)[0]
    holed.loc["N0002"] = np.nan
    with pytest.raises(ValueError, match="node N0002 has no congestion component"):
        factorise(holed)
    matrix, dropped, _ = congestion_matrix(frame.iloc[::3], min_coverage=0.9)
    assert len(dropped) == 5
    with pytest.raises(ValueError, match="0 node"):
        factorise(matrix)


def test_alignment_input_checks() -> None:
    p = congestion_patterns(_small(), k=1)
    rows = pd.DataFrame(np.ones((1, 5)), index=["flat"], columns=p.loadings.index)
    with pytest.raises(ValueError, match="flat"):
        pattern_alignment(p, rows)
    with pytest.raises(ValueError, match="lack 1 of the patterns' nodes"):
        pattern_alignment(p, rows.drop(columns="N0004"))
    own = pd.DataFrame(p.loadings.T.to_numpy(), index=["own"], columns=p.loadings.index)
    assert pattern_alignment(p, own).loc["own", "subspace"] == pytest.approx(1.0)


# ---------------------------------------------------------------- figures --------------------------------------

def test_figures_draw_the_result() -> None:
    frame, _ = synthetic(40, 24, rank=2, seed=11)
    p = congestion_patterns(frame, k=2, hubs={"N0030"}, labels={"N0030": "BETA HUB"}, top=8)
    fig = pattern_loadings_figure(p, "P1", top=8)
    bars = fig.data[0]
    in_top = "N0030" in set(p.exposed.loc[p.exposed["pattern"] == "P1", "node"])
    assert len(bars.y) == 8 + (0 if in_top else 1)
    assert "BETA HUB (hub)" in list(bars.y)
    # Largest exposure at the top (plotly draws the last category highest).
    assert abs(bars.x[-1]) == pytest.approx(p.exposed[p.exposed["pattern"] == "P1"]["rms_usd"].iloc[0])
    act = pattern_activation_figure(p, "P2", zone="America/New_York")
    assert len(act.data[0].y) == 24 and str(pd.Timestamp(act.data[0].x[0]).tz) == "America/New_York"
    assert list(explained_figure(p).data[1].y) == pytest.approx(list(100 * p.explained.cumsum()))
    coords = pd.DataFrame({"x": np.arange(10.0), "y": np.arange(10.0) + 40}, index=[f"N{i:04d}" for i in range(10)])
    assert len(pattern_map(p, "P1", coords).data[0].x) == 10
    with pytest.raises(KeyError, match="P7"):
        pattern_loadings_figure(p, "P7")


# ---------------------------------------------------------------- real files -----------------------------------

def _independent_svd(lmp: pd.DataFrame) -> np.ndarray:
    wide = lmp.pivot(index="node", columns="interval_start", values="congestion")
    return np.linalg.svd((wide - wide.mean(axis=0)).to_numpy(), compute_uv=False)


@pytest.mark.realdata
def test_isone_all_nodes(data_dir: Path) -> None:
    from ingest.isone import IsoneConnector

    parsed = IsoneConnector().parse(RawFile.from_path(data_dir / "markets/isone/WW_DALMP_ISO_20260604.csv")).tables
    lmp, meta = parsed["nodal_lmp"], parsed["node_metadata"]
    hubs = set(meta.loc[meta["node_type"].str.upper() == "HUB", "node"])
    p = congestion_patterns(lmp, k=3, hubs=hubs)
    assert p.loadings.shape == (1209, 3) and p.activations.shape == (24, 3)
    s = _independent_svd(lmp)
    assert p.explained.to_numpy() == pytest.approx((s[:3] ** 2) / (s ** 2).sum(), rel=1e-9)
    assert list(p.hubs["node"].unique()) == [".H.INTERNAL_HUB"]
    # The day's congestion is one pattern (94 % of it: the Boston import constraint, as the loads named below).
    assert p.explained["P1"] > 0.9
    top = p.exposed[p.exposed["pattern"] == "P1"]
    assert top["node"].str.contains("KENDALL|ALEWIFE|CAMBRG").sum() >= 3


@pytest.fixture(scope="module")
def pjm_store(store_dir: Path, data_dir: Path):
    from engine.store import Store, migrate
    from ingest.load import load_raw, raw_files_at
    from ingest.pjm import PjmConnector

    store = Store(f"chdb://{store_dir}?database=patterns{os.getpid()}")
    migrate(store)
    path = data_dir / "markets" / "pjm" / "rt_hrl_lmps_hubs_20250501-20250801.csv"
    load_raw(store, PjmConnector(), raw_files_at(path))
    yield store, PjmConnector().parse(RawFile.from_path(path)).tables
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


@pytest.mark.realdata
def test_pjm_hubs_from_the_store_match_the_file(pjm_store) -> None:
    store, parsed = pjm_store
    start, end = pd.Timestamp("2025-06-01", tz="UTC"), pd.Timestamp("2025-07-01", tz="UTC")
    stored = published_congestion(store, "PJM", "RT", start, end)
    lmp = parsed["nodal_lmp"]
    june = lmp[(lmp["interval_start"] >= start) & (lmp["interval_start"] < end)]
    assert len(stored) == len(june) == 12 * 720
    key = ["node", "interval_start"]
    merged = stored.merge(june[[*key, "congestion"]], on=key, suffixes=("", "_file"))
    assert len(merged) == len(june)
    assert merged["congestion"].to_numpy() == pytest.approx(merged["congestion_file"].to_numpy(), abs=1e-9)
    from_store = published_patterns(store, "PJM", "RT", start, end, k=3)
    from_file = congestion_patterns(june, k=3)
    assert from_store.loadings.to_numpy() == pytest.approx(from_file.loadings.to_numpy(), abs=1e-9)
    assert from_store.explained.to_numpy() == pytest.approx((_independent_svd(june)[:3] ** 2)
                                                            / (_independent_svd(june) ** 2).sum(), rel=1e-9)
    # Every PJM node in the file is a hub, named from the stored metadata.
    assert set(from_store.hubs["node"]) == set(june["node"])
    assert "EASTERN HUB (51217)" in set(from_store.exposed["label"])
    with pytest.raises(ValueError, match="no published congestion components for PJM DA"):
        published_patterns(store, "PJM", "DA", start, end)


# ---------------------------------------------------------------- SciGRID-de alignment -------------------------

@pytest.mark.realdata
def test_scigrid_patterns_line_up_with_bound_corridors(data_dir: Path) -> None:
    from bench.congestion_patterns import scigrid_alignment

    (p90, p99), table, rows, _ = scigrid_alignment(data_dir)
    assert len(table) >= 40 and p90.k < p99.k <= 8
    h = rows[p99.loadings.index].to_numpy(float)
    span = np.linalg.qr((h - h.mean(axis=1, keepdims=True)).T)[0]
    assert np.linalg.norm(span.T @ p99.loadings.to_numpy(), axis=0).min() >= 0.999
    al = pattern_alignment(p99, rows).join(table).sort_values("share", ascending=False)
    big = al[al["share"].cumsum().shift(fill_value=0.0) < 0.5]
    assert len(big) == 2 and (big["subspace"] >= 0.9).all(), big
    assert float((al["subspace"] * al["share"]).sum()) >= 0.7
    assert (al["subspace"] >= al["best"] - 1e-12).all()


@pytest.mark.realdata
def test_recent_patterns_cover_the_days_the_network_is_there(store, data_dir: Path) -> None:
    """PJM's day-ahead samples: twelve hubs to 31 July 2025, one node (ALDENE) on to June 2026. The patterns are
    over the last 31 days on which the hubs are there too, not over ALDENE's months alone (a matrix of one node,
    too small to factorise, which the nodal page showed)."""
    from engine.lmp.patterns import recent_patterns
    from ingest.load import load_raw, raw_files_at
    from ingest.pjm import PjmConnector

    pjm = data_dir / "markets" / "pjm"
    for name in ("da_hrl_lmps_hubs_20250501-20250801.csv", "da_hrl_lmps_ALDENE_20250616-20260615.csv"):
        load_raw(store, PjmConnector(), raw_files_at(pjm / name))
    found = recent_patterns(store, "PJM", "DA")
    hours = pd.DatetimeIndex(found.activations.index)
    hubs_last = store.scalar("SELECT max(interval_start) FROM nodal_lmp WHERE market_run = 'DA' AND node != "
                             "(SELECT node FROM node_metadata FINAL WHERE node_name = 'ALDENE' LIMIT 1)")
    assert hours.max() == pd.Timestamp(hubs_last).tz_convert("UTC").floor("h") < pd.Timestamp("2025-08-02", tz="UTC")
    assert hours.min() > pd.Timestamp("2025-07-01", tz="UTC")
    assert len(found.loadings) == 13
