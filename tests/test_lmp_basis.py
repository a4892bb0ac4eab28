"""Basis to a hub on PJM's published hub prices (parsed by the PJM connector) and on model results.
Expected values were read from the CSV with the csv module, independently of the connector."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.lmp.basis import basis, basis_statistics, basis_surface, hub_price, model_prices
from engine.lmp.cases import load_case
from engine.lmp.opf import solve_dcopf
from engine.files import RawFile
from ingest.isone import IsoneConnector
from ingest.pjm import PjmConnector

DA_HUBS = "da_hrl_lmps_hubs_20250501-20250801.csv"
WESTERN, EASTERN, DOMINION = "51288", "51217", "35010337"  # pnode ids of WESTERN, EASTERN, DOMINION HUB


@pytest.fixture(scope="module")
def pjm(data_dir: Path) -> pd.DataFrame:
    return PjmConnector().parse(RawFile.from_path(data_dir / "markets" / "pjm" / DA_HUBS)).tables["nodal_lmp"]


@pytest.fixture(scope="module")
def raw_rows(data_dir: Path) -> list[dict[str, str]]:
    with (data_dir / "markets" / "pjm" / DA_HUBS).open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.realdata
def test_basis_to_western_hub(pjm: pd.DataFrame, raw_rows: list[dict[str, str]]) -> None:
    out = basis(pjm, WESTERN)
    assert len(out) == 26508
    assert out["interval_start"].nunique() == 2209
    assert (out.loc[out["node"] == WESTERN, "basis"] == 0).all()
    first = {r["pnode_name"]: float(r["total_lmp_da"]) for r in raw_rows
             if r["datetime_beginning_utc"] == "5/1/2025 4:00:00 AM"}
    row = out[(out["node"] == EASTERN) & (out["interval_start"] == pd.Timestamp("2025-05-01 04:00", tz="UTC"))]
    assert row["basis"].item() == pytest.approx(first["EASTERN HUB"] - first["WESTERN HUB"], abs=1e-9)
    # Statistics against a plain numpy reading of the file.
    by_time: dict[str, dict[str, float]] = {}
    for r in raw_rows:
        by_time.setdefault(r["datetime_beginning_utc"], {})[r["pnode_name"]] = float(r["total_lmp_da"])
    eastern = np.array([v["EASTERN HUB"] - v["WESTERN HUB"] for v in by_time.values()])
    stats = basis_statistics(out).set_index("node").loc[EASTERN]
    assert stats["count"] == 2209 == len(eastern)
    assert stats["mean"] == pytest.approx(eastern.mean(), abs=1e-9)
    assert stats["std"] == pytest.approx(eastern.std(ddof=1), abs=1e-9)
    assert stats["p5"] == pytest.approx(np.percentile(eastern, 5), abs=1e-9)
    assert stats["p95"] == pytest.approx(np.percentile(eastern, 95), abs=1e-9)
    assert stats["max"] == pytest.approx(eastern.max(), abs=1e-9)


@pytest.mark.realdata
def test_weighted_hub_and_surface(pjm: pd.DataFrame) -> None:
    hub = {WESTERN: 3.0, EASTERN: 1.0}
    price = hub_price(pjm, hub)
    wide = pjm.pivot(index="interval_start", columns="node", values="lmp")
    assert np.abs(price - (3 * wide[WESTERN] + wide[EASTERN]) / 4).max() < 1e-9
    surface = basis_surface(basis(pjm, hub), by="hour")
    assert surface.shape == (12, 24)
    hours = pd.DatetimeIndex(wide.index).hour
    dominion = (wide[DOMINION] - (3 * wide[WESTERN] + wide[EASTERN]) / 4).groupby(hours).mean()
    assert np.abs(surface.loc[DOMINION].to_numpy() - dominion.to_numpy()).max() < 1e-9
    with pytest.raises(KeyError, match="hub nodes not in the prices"):
        basis(pjm, "NO SUCH HUB")
    with pytest.raises(ValueError, match="non-negative"):
        basis(pjm, {WESTERN: -1.0})


@pytest.mark.realdata
def test_hub_missing_at_some_hours(pjm: pd.DataFrame) -> None:
    first_hour = pjm["interval_start"].min()
    gap = pjm[~((pjm["node"] == WESTERN) & (pjm["interval_start"] == first_hour))]
    out = basis(gap, WESTERN)
    assert len(out) == 26508 - 12
    assert first_hour not in set(out["interval_start"])


@pytest.mark.realdata
def test_isone_basis_to_the_hub(data_dir: Path) -> None:
    raw = RawFile.from_path(data_dir / "markets" / "isone" / "WW_DALMP_ISO_20260604.csv")
    prices = IsoneConnector().parse(raw).tables["nodal_lmp"]
    out = basis(prices, ".H.INTERNAL_HUB")
    assert len(out) == 29016
    assert out["node"].nunique() == 1209
    # HE01: .Z.MAINE 46.32, hub 47.82 (file lines "D","06/04/2026","01","4001" and "4000").
    he01 = out[(out["node"] == ".Z.MAINE") & (out["interval_start"] == pd.Timestamp("2026-06-04 04:00", tz="UTC"))]
    assert he01["basis"].item() == pytest.approx(46.32 - 47.82, abs=1e-9)
    # Loss and congestion components have their own basis: the loss part of Maine's basis.
    loss = basis(prices, ".H.INTERNAL_HUB", price="loss")
    row = loss[(loss["node"] == ".Z.MAINE") & (loss["interval_start"] == pd.Timestamp("2026-06-04 04:00", tz="UTC"))]
    assert row["basis"].item() == pytest.approx(-1.24 - 0.26, abs=1e-9)


@pytest.mark.realdata
def test_model_basis(data_dir: Path) -> None:
    net = load_case(data_dir / "grids" / "case14.m").with_demand_profile(
        pd.Series([0.8, 1.0, 1.2], index=pd.RangeIndex(3, name="snapshot")))
    net = net.with_rate_a(pd.Series({"1": 120.0}))
    res = solve_dcopf(net)
    prices = model_prices(res.nodes)
    out = basis(prices, {"4": 1.0, "9": 1.0})
    lmp = res.lmp_matrix()
    assert np.abs(out.pivot(index="interval_start", columns="node", values="basis").to_numpy()
                  - (lmp.to_numpy() - ((lmp["4"] + lmp["9"]) / 2).to_numpy()[:, None])).max() < 1e-9
    stats = basis_statistics(out, by=None).set_index("node")
    assert (stats["count"] == 3).all()
    assert len(stats) == 14


def _two_hours() -> pd.DataFrame:
    return pd.DataFrame({"interval_start": [0, 0, 0, 1, 1, 1], "node": ["a", "b", "c"] * 2,
                         "lmp": [10.0, 20.0, np.nan, 30.0, 50.0, 70.0]})


def test_weights_per_time_weigh_each_hour_by_its_own_weights() -> None:
    weights = pd.DataFrame({"a": [1.0, 1.0], "b": [3.0, 0.0], "c": [0.0, 1.0]}, index=[0, 1])
    hub = hub_price(_two_hours(), weights)
    assert hub.loc[0] == pytest.approx((10 + 3 * 20) / 4), "node c weighs nothing at 0: its missing price is no gap"
    assert hub.loc[1] == pytest.approx((30 + 70) / 2)


def test_a_time_without_weight_has_no_hub_price() -> None:
    weights = pd.DataFrame({"a": [0.0, 1.0], "b": [0.0, 1.0]}, index=[0, 1])
    hub = hub_price(_two_hours(), weights)
    assert np.isnan(hub.loc[0])
    assert hub.loc[1] == pytest.approx(40.0)


def test_a_weighted_node_without_a_price_leaves_the_time_out() -> None:
    hub = hub_price(_two_hours(), {"a": 1.0, "c": 1.0})
    assert list(hub.index) == [1]


@pytest.mark.parametrize("weights", [
    pd.DataFrame({"a": [1.0, -1.0]}, index=[0, 1]), pd.DataFrame(), {"a": -1.0}, {"a": 0.0}, {}])
def test_bad_hub_weights_are_refused(weights) -> None:
    with pytest.raises(ValueError, match="hub weights must be non-negative"):
        hub_price(_two_hours(), weights)
