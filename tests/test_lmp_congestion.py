"""Congestion forecast over the 24 SciGRID-de snapshots: binding frequency and expected congestion, checked
against the solved snapshots and against PyPSA's binding limits (tests/oracles/reference); node exposures that
sum to the expected congestion; the nodal page's scenario sets (the day, a range of hours, demand scenarios
scaled by a stored forecast's spread or the fallback) with their weights; bad input refused by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.lmp.cases import load_case
from engine.lmp.congestion import congestion_forecast, scaled_scenarios, summarise, with_scenarios
from engine.lmp.opf import unique_prices

REFERENCE = Path(__file__).parent / "oracles" / "reference"


@pytest.fixture(scope="module")
def scigrid(data_dir: Path):
    net = load_case(data_dir / "grids" / "scigrid-de")
    s_nom = net.branches["rate_a"].copy()
    s_nom[["316", "527", "602"]] = 1715.0
    s_nom[net.branches["kind"] == "line"] *= 0.7
    net = net.with_rate_a(s_nom)
    return net, congestion_forecast(net)


@pytest.mark.realdata
def test_binding_frequency(scigrid) -> None:
    net, fc = scigrid
    res = fc.result
    counts = res.binding.groupby("branch").size()
    table = fc.constraints.set_index("branch")
    assert (table["scenarios_binding"] == counts.reindex(table.index)).all()
    assert table["scenarios_binding"].sum() == len(res.binding)
    assert np.allclose(table["frequency"], table["scenarios_binding"] / 24)
    assert table["frequency"].iloc[0] == table["frequency"].max() <= 1.0
    # Limits whose dual is unique must bind in the same hours as in PyPSA's solution.
    mu = pd.read_csv(REFERENCE / "scigrid_pypsa_mu.csv", dtype={"branch": str}, parse_dates=["snapshot"])
    _, limits = unique_prices(net, res)
    fixed = limits[limits["unique"]]
    ours = set(map(tuple, res.binding.merge(fixed, on=["snapshot", "branch"])[["snapshot", "branch"]].values))
    theirs = set(map(tuple, mu.merge(fixed, on=["snapshot", "branch"])[["snapshot", "branch"]].values))
    assert ours == theirs
    assert len(ours) > 500
    one = table.loc[table["scenarios_binding"] == 24].index[0]
    sp = res.binding.loc[res.binding["branch"] == one, "shadow_price"]
    assert table.loc[one, "mean_shadow_price"] == pytest.approx(sp.mean())
    assert table.loc[one, "expected_shadow_price"] == pytest.approx(sp.sum() / 24)


@pytest.mark.realdata
def test_expected_congestion(scigrid) -> None:
    net, fc = scigrid
    wide = fc.result.lmp_matrix("congestion")
    nodes = fc.nodes.set_index("bus")
    assert len(nodes) == 585
    assert np.abs(nodes["expected_congestion"] - wide.mean()).max() < 1e-9
    assert np.abs(nodes["p95"] - wide.quantile(0.95)).max() < 1e-9
    assert nodes["frequency_congested"].between(0, 1).all()
    assert nodes["frequency_congested"].max() == 1.0
    # All the weight on one scenario gives that scenario's congestion component.
    first = fc.result.snapshots[3]
    weights = pd.Series(0.0, index=fc.result.snapshots)
    weights[first] = 2.0
    single = summarise(fc.result, weights)
    assert np.abs(single.nodes.set_index("bus")["expected_congestion"] - wide.loc[first]).max() < 1e-9
    assert set(single.constraints.loc[single.constraints["frequency"] > 0, "branch"]) == set(
        fc.result.binding.loc[fc.result.binding["snapshot"] == first, "branch"])
    with pytest.raises(ValueError, match="scenario weights"):
        summarise(fc.result, weights.iloc[:5])


@pytest.mark.realdata
def test_scenarios_from_tables(scigrid) -> None:
    net, _ = scigrid
    demand = net.demand.iloc[:2] * 1.1
    scen = with_scenarios(net, demand=demand, p_max_pu=net.p_max_pu.iloc[:2])
    fc = congestion_forecast(scen)
    assert len(fc.result.snapshots) == 2
    assert fc.nodes["expected_congestion"].abs().max() > 1.0


# --- exposures, scenario sets and their weights (issue 15 §1) --------------------------------------------------

DEMAND_HH = "markets/aemo/forecasts/PUBLIC_FORECAST_OPERATIONAL_DEMAND_HH_202504011800_20250401173353.zip"


@pytest.fixture(scope="module")
def cf_store(store_dir: Path):
    """One store for the module's congestion studies (they read stored forecasts from it)."""
    import os

    from engine.store import Store, migrate

    store = Store(f"chdb://{store_dir}?database=lmpcong_{os.getpid()}")
    migrate(store)
    yield store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


def _exposure_sums(fc) -> float:
    expected = fc.nodes.set_index("bus")["expected_congestion"]
    sums = fc.exposure.sum(axis=0, min_count=1).reindex(expected.index)
    finite = expected.notna()
    assert (sums[~finite].isna()).all(), "a bus without a price has no exposure either"
    return float((sums[finite] - expected[finite]).abs().max())


@pytest.mark.realdata
def test_exposures_sum_to_the_expected_congestion(scigrid) -> None:
    net, fc = scigrid
    assert list(fc.exposure.index) == list(fc.constraints["branch"])
    assert fc.nodes["expected_congestion"].abs().max() > 10.0
    assert _exposure_sums(fc) < 1e-8
    # Unequal weights: still the weighted expectation, limit by limit.
    weights = pd.Series(np.linspace(0.0, 3.0, 24), index=fc.result.snapshots)
    weighted = summarise(fc.result, weights)
    assert _exposure_sums(weighted) < 1e-8
    mu = fc.result.binding.pivot_table(index="branch", columns="snapshot", values="shadow_price", fill_value=0.0)
    w = weights / weights.sum()
    branch = weighted.constraints["branch"].iat[0]
    bus = fc.result.ptdf.loc[branch].abs().idxmax()
    by_hand = float((mu.loc[branch].reindex(w.index, fill_value=0.0) * w).sum() * fc.result.ptdf.loc[branch, bus])
    assert weighted.exposure.loc[branch, bus] == pytest.approx(by_hand, rel=1e-9, abs=1e-12)


@pytest.mark.realdata
def test_scaled_scenarios_carry_their_weights_and_scales(scigrid) -> None:
    from engine.lmp.congestion import LEVEL_WEIGHTS, LEVELS

    net, _ = scigrid
    snaps = net.snapshots[5:9]
    scen = scaled_scenarios(net, snaps, (0.9, 1.0, 1.2), renewable_scales=(1.5, 1.0, 0.5))
    table = scen.table
    assert len(table) == len(scen.network.snapshots) == 12
    assert table["weight"].sum() == pytest.approx(1.0)
    assert np.allclose(table["weight"], np.tile(LEVEL_WEIGHTS, 4) / 4)
    assert list(table["level"][:3]) == list(LEVELS)
    high = scen.network.snapshots[table["level"].eq("high").to_numpy()][0]
    assert np.allclose(scen.network.demand.loc[high], net.demand.loc[snaps[0]] * 1.2)
    low = scen.network.snapshots[0]
    raised = scen.network.p_max_pu.loc[low]
    assert raised.max() <= 1.0, "availability is capped at the whole capacity"
    base = net.p_max_pu.loc[snaps[0]]
    assert np.allclose(raised, np.minimum(base * 1.5, 1.0))
    assert np.allclose(scen.network.p_max_pu.iloc[2], base * 0.5)
    assert scen.weights.index.equals(scen.network.snapshots)


@pytest.mark.realdata
@pytest.mark.parametrize("demand_scales, options, message", [
    ((1.0, 1.1), {}, "demand scales must be 3"),
    ((0.9, -1.0, 1.1), {}, "demand scales must be 3 finite positive"),
    ((0.9, 1.0, 1.1), {"snapshots": pd.Index(["not a snapshot"])}, "is not a snapshot"),
    ((0.9, 1.0, 1.1), {"level_weights": (0.0, 0.0, 0.0)}, "level weights must not all be zero"),
    ((0.9, 1.0, 1.1), {"renewable_scales": (1.0, float("nan"), 1.0)}, "renewable scales"),
])
def test_bad_scenarios_are_refused_by_name(scigrid, demand_scales, options, message) -> None:
    net, _ = scigrid
    options = dict(options)
    snapshots = options.pop("snapshots", net.snapshots[:2])
    with pytest.raises(ValueError, match=message):
        scaled_scenarios(net, snapshots, demand_scales, **options)


@pytest.mark.realdata
def test_negative_weights_are_refused(scigrid) -> None:
    _, fc = scigrid
    weights = pd.Series(1.0, index=fc.result.snapshots)
    weights.iloc[2] = -1.0
    with pytest.raises(ValueError, match="scenario weights"):
        summarise(fc.result, weights)


@pytest.mark.realdata
def test_the_study_day_and_a_range_of_hours(cf_store, data_dir) -> None:
    from engine.lmp.study import congestion_study, studies

    folder = str(data_dir / "grids")
    day = congestion_study(cf_store, folder, "scigrid-de", "day")
    assert len(day.scenarios) == 24 and day.scenarios["weight"].sum() == pytest.approx(1.0)
    assert _exposure_sums(day) < 1e-8
    study = studies.open(data_dir / "grids", "scigrid-de")
    wide = study.result.lmp_matrix("congestion")
    assert np.abs(day.nodes.set_index("bus")["expected_congestion"] - wide.mean()).max() < 1e-9
    evening = congestion_study(cf_store, folder, "scigrid-de", "hours", 17, 20)
    assert list(evening.scenarios["snapshot"]) == list(study.snapshots[17:21])
    assert np.abs(evening.nodes.set_index("bus")["expected_congestion"] - wide.iloc[17:21].mean()).max() < 1e-9
    binding = study.result.binding
    counts = binding[binding["snapshot"].isin(study.snapshots[17:21])].groupby("branch").size()
    assert evening.constraints.set_index("branch")["scenarios_binding"].to_dict() == counts.to_dict()
    assert _exposure_sums(evening) < 1e-8
    bus = evening.nodes.loc[evening.nodes["expected_congestion"].abs().idxmax(), "bus"]
    mine = evening.node_exposure(bus)
    assert mine.sum() == pytest.approx(evening.nodes.set_index("bus").loc[bus, "expected_congestion"], abs=1e-8)
    assert (np.diff(mine.abs().to_numpy()) <= 0).all(), "largest exposure first"
    table = evening.exposure_table()
    assert table.loc[table["bus"] == bus, "exposure"].sum() == pytest.approx(mine.sum(), abs=1e-8)
    assert list(table.columns) == ["bus", "expected_congestion", "branch", "exposure"]


@pytest.mark.realdata
@pytest.mark.parametrize("args, message", [
    (("case14", "week"), "scenario set must be one of day, hours, demand"),
    (("case14", "hours", 0, 5), "case14 has one snapshot of its own"),
    (("scigrid-de", "hours", 5, 2), r"the first snapshot \(5\) comes after the last \(2\)"),
    (("scigrid-de", "hours", 0, 24), "the last snapshot must be a whole number from 0 to 23"),
    (("scigrid-de", "demand", -1, 3), "the first snapshot must be a whole number"),
])
def test_a_scenario_set_that_does_not_fit_is_refused_by_name(cf_store, data_dir, args, message) -> None:
    from engine.lmp.study import congestion_study

    with pytest.raises(ValueError, match=message):
        congestion_study(cf_store, str(data_dir / "grids"), *args)


@pytest.mark.realdata
def test_demand_scenarios_without_and_with_a_stored_forecast(cf_store, data_dir) -> None:
    from engine.files import RawFile
    from engine.lmp.congestion import FALLBACK_DEMAND_SCALES, stored_demand_spread
    from engine.lmp.study import congestion_study
    from ingest.load import load_raw
    from ingest.nem import NemConnector

    folder = str(data_dir / "grids")
    plain = congestion_study(cf_store, folder, "case14", "demand", 17, 18)
    assert "No stored demand forecast" in plain.source
    assert np.allclose(plain.scenarios["demand_scale"], np.tile(FALLBACK_DEMAND_SCALES, 2))
    assert plain.scenarios["weight"].sum() == pytest.approx(1.0)

    raw = RawFile.from_path(data_dir / DEMAND_HH)
    load_raw(cf_store, NemConnector(), [raw])
    spread = stored_demand_spread(cf_store)
    assert spread.issued_at == pd.Timestamp("2025-04-01 07:27:41", tz="UTC")
    # By hand from the parsed file: the NEM's five regions summed, hour 18:00-19:00 NEM time (08:00 UTC).
    frame = NemConnector().parse(raw).tables["operator_forecasts"]
    hour = frame[(frame["interval_start"] >= pd.Timestamp("2025-04-01 08:00", tz="UTC"))
                 & (frame["interval_start"] < pd.Timestamp("2025-04-01 09:00", tz="UTC"))]
    total = hour.groupby("variable", observed=True)["value"].sum()
    assert spread.scales.loc[18, "low"] == pytest.approx(total["demand_poe90"] / total["demand_poe50"])
    assert spread.scales.loc[18, "high"] == pytest.approx(total["demand_poe10"] / total["demand_poe50"])
    assert (spread.scales["low"] < 1.0).all() and (spread.scales["high"] > 1.0).all()

    scaled = congestion_study(cf_store, folder, "case14", "demand", 17, 18)
    assert "NEM operational demand forecast issued 2025-04-01 17:27" in scaled.source
    at_18 = scaled.scenarios[scaled.scenarios["snapshot"] == "18:00"].set_index("level")["demand_scale"]
    assert at_18.to_dict() == pytest.approx(spread.scales.loc[18].to_dict())
    assert np.allclose(scaled.scenarios["weight"], np.tile((0.3, 0.4, 0.3), 2) / 2)
