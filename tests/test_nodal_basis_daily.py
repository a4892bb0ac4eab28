"""The published basis ranks nodes from whole UTC days of the daily nodal aggregate (migration 021) and joins the
other days from the base table: its means equal the straightforward join of every row to the hub, in pandas, on
a store with gaps, mixed and misaligned interval lengths, a reloaded and a revised batch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.lmp import published
from engine.lmp.basis import basis, basis_statistics
from engine.store import Store, migrate, write_tables
from engine.store.tables import TABLES

HUB = "HUB"
NODES = [f"N{i:02d}" for i in range(14)]
KEY = ["market", "market_run", "node", "interval_minutes", "interval_start"]


def _rows(nodes: list[str], start: str, periods: int, *, minutes: int = 60, seed: int = 0, offset: float = 0.0,
          run: str = "DA", market: str = "PJM") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=periods, freq=f"{minutes}min", tz="UTC")
    frames = []
    for i, node in enumerate(nodes):
        # each node's own mean basis, well apart from the others' (so the ranking is not decided by rounding)
        lmp = 30.0 + 10 * np.sin(np.arange(periods) / 5) + (i - 6) * 1.7 + offset + rng.normal(0, 3, periods)
        frames.append(pd.DataFrame({"market": market, "market_run": run, "node": node, "interval_start": times,
                                    "interval_minutes": minutes, "lmp": lmp, "energy": 30.0, "congestion": lmp - 30.0,
                                    "loss": 0.0}))
    return pd.concat(frames, ignore_index=True)


def _without(frame: pd.DataFrame, node: str, *times: str) -> pd.DataFrame:
    drop = (frame["node"] == node) & frame["interval_start"].isin(pd.to_datetime(list(times), utc=True))
    assert drop.sum() == len(times)
    return frame[~drop]


def _expected_means(rows: pd.DataFrame, hub: str) -> pd.Series:
    """The definition, in pandas over every stored row: the window starts after the latest hour held less 31
    days; the hub price at a time is the mean of the hub's prices then; a node's mean basis is over the times
    both hold."""
    latest = rows["interval_start"].max().floor("h")
    window = rows[rows["interval_start"] > latest - pd.Timedelta(days=published.DAYS)]
    hub_price = window[window["node"] == hub].groupby("interval_start")["lmp"].mean().rename("hub")
    joined = window.merge(hub_price, left_on="interval_start", right_index=True, how="inner")
    return (joined["lmp"] - joined["hub"]).groupby(joined["node"]).mean()


def _stored(batches: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows as the store keeps them: the last batch's value of each key."""
    return pd.concat(batches, ignore_index=True).drop_duplicates(KEY, keep="last").reset_index(drop=True)


@pytest.fixture
def gappy(store: Store, monkeypatch) -> tuple[Store, pd.DataFrame, dict]:
    """40 days of hourly DA prices ending at 13:00 UTC (so the window's first day is cut at 13:00), with:
    hours missing for some nodes, an hour missing at the hub, a node's day of 15-minute prices beside its
    hourly ones, a day of hourly prices starting at half past, a day of 24 rows of two lengths, a whole day of
    half hours, a node that starts late, the hub's own
    half-hourly prices on one day, a reload, a revision across midnight, and another run and market."""
    base = _rows([HUB, *NODES], "2025-01-01 00:00", 40 * 24 - 10)  # to 2025-02-09 13:00
    base = _without(base, "N03", "2025-01-20 05:00", "2025-01-20 06:00")
    base = _without(base, "N05", "2025-02-03 23:00")
    base = _without(base, HUB, "2025-01-25 12:00")
    base = base[~((base["node"] == "N07") & (base["interval_start"] < "2025-01-28 07:00"))]
    shifted = base["node"].eq("N09") & base["interval_start"].dt.strftime("%Y-%m-%d").eq("2025-01-30")
    base.loc[shifted, "interval_start"] += pd.Timedelta(minutes=30)  # 60-minute rows, not on the hour
    quarter = _rows(["N11"], "2025-02-01 00:00", 96, minutes=15, seed=5, offset=4.0)  # beside its hourly rows
    # a day of 24 rows on the hour but one of them a quarter hour long, starting a quarter past: not the hours
    base = _without(base, "N13", "2025-02-05 10:00")
    odd = _rows(["N13"], "2025-02-05 10:15", 1, minutes=15, seed=6)
    # a whole day of half hours, against the hub's whole day of hours
    base = base[~(base["node"].eq("N10") & base["interval_start"].dt.strftime("%Y-%m-%d").eq("2025-02-06"))]
    halves = _rows(["N10"], "2025-02-06 00:00", 48, minutes=30, seed=8, offset=2.0)
    hub_half = _rows([HUB], "2025-01-15 00:00", 48, minutes=30, seed=7)  # the hub price is the mean of both
    other_run = _rows([HUB, *NODES[:3]], "2025-01-01", 50 * 24, run="RT", seed=2, offset=9.0)
    other_market = _rows([HUB, *NODES[:3]], "2025-01-01", 50 * 24, market="MISO", seed=3, offset=-9.0)
    batches = [base, quarter, odd, halves, hub_half, other_run, other_market]
    for batch in batches:
        write_tables(store, {"nodal_lmp": batch})
    assert write_tables(store, {"nodal_lmp": base}).rows_written == 0  # a reload writes nothing
    revised = base[(base["node"].isin(["N01", "N12", HUB]))
                   & base["interval_start"].between("2025-01-31 20:00", "2025-02-01 03:00", inclusive="both")].copy()
    revised["lmp"] += np.where(revised["node"] == HUB, -5.0, 25.0)
    report = write_tables(store, {"nodal_lmp": revised})
    assert report.revised == {"nodal_lmp": len(revised)}
    batches.append(revised)
    calls: dict = {"every_node": set(), "pairs": set()}
    joined_days = published._joined_days

    def recording(store_, params, every_node, pairs):
        calls["every_node"].update(every_node)
        calls["pairs"].update(zip(pairs["node"], pairs["day"], strict=True))
        return joined_days(store_, params, every_node, pairs)

    monkeypatch.setattr(published, "_joined_days", recording)
    stored = _stored(batches)
    return store, stored[(stored["market"] == "PJM") & (stored["market_run"] == "DA")], calls


def test_mean_basis_equals_the_join_of_every_row(gappy):
    store, rows, calls = gappy
    window = published._window(store, "PJM", "DA")
    assert window["after"] == pd.Timestamp("2025-01-09 13:00", tz="UTC")
    found = published.mean_basis(store, window, HUB)
    expected = _expected_means(rows, HUB)
    pd.testing.assert_series_equal(found.sort_index(), expected.sort_index(), check_names=False, rtol=1e-12,
                                   atol=1e-9)
    day = pd.Timestamp
    # Only the days that are not whole on both sides were read from the base table: every node's on the
    # window's first and last days and on the hub's day missing an hour and its day of half hours; single
    # nodes' days (gaps, 15-minute rows beside hourly ones, rows off the hour, two lengths, half hours, N07's
    # first day) for that node alone.
    assert calls["every_node"] == {day(d).date() for d in ("2025-01-09", "2025-01-15", "2025-01-25", "2025-02-09")}
    assert calls["pairs"] == {(n, day(d).date()) for n, d in (
        ("N03", "2025-01-20"), ("N05", "2025-02-03"), ("N07", "2025-01-28"), ("N09", "2025-01-30"),
        ("N11", "2025-02-01"), ("N13", "2025-02-05"), ("N10", "2025-02-06"))}


def test_the_published_ranking_and_statistics_equal_pandas(gappy):
    store, rows, _ = gappy
    expected = _expected_means(rows, HUB)
    order = pd.DataFrame({"node": expected.index, "size": expected.abs().to_numpy()}).sort_values(
        ["size", "node"], ascending=[False, True])["node"].tolist()
    window = published._window(store, "PJM", "DA")
    assert published._largest_mean_basis(store, window, HUB, len(order)) == order

    found = published.published_basis(store, "PJM", "DA", HUB, top=5, zone_choice="utc")
    window_rows = rows[rows["interval_start"] > window["after"]]
    stats = basis_statistics(basis(window_rows, HUB)).set_index("node")
    assert found.nodes["node"].tolist() == order[:5]
    for r in found.nodes.itertuples():
        assert r.mean == pytest.approx(expected[r.node], abs=1e-9)
        assert r.mean == pytest.approx(stats.at[r.node, "mean"], abs=1e-9)
        assert r.count == stats.at[r.node, "count"]
        assert r.p95 == pytest.approx(stats.at[r.node, "p95"], abs=1e-9)


def test_a_hub_whole_on_every_day_ranks_from_one_pass_over_the_days(store: Store, monkeypatch):
    """The usual store: the hub holds every hour of the window. One pass over the daily aggregate gives each
    node's sums; nodes missing a day or starting late are summed day by day from it, and only a node's day
    missing an hour is joined from the base table."""
    rows = _rows([HUB, *NODES], "2025-01-01", 40 * 24)  # to 23:00 on 9 February: whole days
    rows = _without(rows, "N02", "2025-01-22 07:00")
    rows = rows[~(rows["node"].eq("N04") & rows["interval_start"].dt.strftime("%Y-%m-%d").eq("2025-01-27"))]
    rows = rows[~(rows["node"].eq("N06") & (rows["interval_start"] < "2025-02-05"))]
    write_tables(store, {"nodal_lmp": rows})
    revised = rows[rows["node"].eq("N08") & rows["interval_start"].between("2025-02-02 20:00", "2025-02-03 04:00")]
    write_tables(store, {"nodal_lmp": revised.assign(lmp=revised["lmp"] + 40.0)})
    stored = _stored([rows, revised.assign(lmp=revised["lmp"] + 40.0)])
    window = published._window(store, "PJM", "DA")
    read: list[str] = []
    query_df, joined_days = store.query_df, published._joined_days
    pairs: list = []
    monkeypatch.setattr(store, "query_df", lambda sql, *a, **k: read.append(sql) or query_df(sql, *a, **k))
    monkeypatch.setattr(published, "_joined_days", lambda s, p, every, own: pairs.append((every, own))
                        or joined_days(s, p, every, own))
    found = published.mean_basis(store, window, HUB)
    pd.testing.assert_series_equal(found.sort_index(), _expected_means(stored, HUB).sort_index(),
                                   check_names=False, rtol=1e-12, atol=1e-9)
    # the hub's days, one pass over every node, then N02, N04 and N06 day by day
    assert len([sql for sql in read if "nodal_lmp_daily" in sql]) == 3
    [(every, own)] = pairs
    assert every == []
    assert list(zip(own["node"], own["day"], strict=True)) == [("N02", pd.Timestamp("2025-01-22").date())]


def test_no_hub_prices_in_the_window_is_a_key_error(gappy):
    store, _, _ = gappy
    with pytest.raises(KeyError, match="hub nodes not in the prices"):
        published.published_basis(store, "PJM", "DA", "NO-SUCH-HUB")
    with pytest.raises(KeyError, match="hub nodes not in the prices"):
        published.published_basis(store, "PJM", "DAX", HUB)  # a run with no prices


def test_the_window_ends_at_the_hubs_latest_price(store: Store):
    """An operator's hub file and node file often cover different months (PJM's samples: hubs to August, a node
    on to June of the next year): the basis is over the hub's last 31 days, not the run's, where it has none."""
    hub = _rows([HUB], "2025-01-01", 60 * 24)                    # to 23:00 on 1 March
    nodes = _rows(NODES[:4], "2025-01-01", 120 * 24, seed=3)     # on to the end of April
    write_tables(store, {"nodal_lmp": pd.concat([hub, nodes])})
    found = published.published_basis(store, "PJM", "DA", HUB, top=10, zone_choice="utc")
    rows = pd.concat([hub, nodes], ignore_index=True)
    expected = _expected_means(rows[rows["interval_start"] <= hub["interval_start"].max()], HUB)
    assert sorted(found.nodes["node"]) == sorted(NODES[:4])  # not the hub itself, whose basis is 0
    for r in found.nodes.itertuples():
        assert r.mean == pytest.approx(expected[r.node], abs=1e-9)
        assert r.count == published.DAYS * 24


def test_a_node_sharing_no_instant_with_the_hub_has_no_basis(store: Store):
    hub = _rows([HUB], "2025-03-01", 10 * 24)
    apart = _rows(["APART"], "2025-03-01 00:30", 10 * 24, seed=4)  # hourly, but at half past
    write_tables(store, {"nodal_lmp": pd.concat([hub, apart, _rows(["NEAR"], "2025-03-01", 10 * 24, seed=6)])})
    found = published.mean_basis(store, published._window(store, "PJM", "DA"), HUB)
    assert sorted(found.index) == ["HUB", "NEAR"]


def _daily_rebuilt(s: Store) -> pd.DataFrame:
    agg = next(a for a in TABLES["nodal_lmp"].aggregates if a.table == "nodal_lmp_daily")
    return s.query_df(agg.select.format(where="") + " ORDER BY market, market_run, node, bucket")


def _daily_stored(s: Store) -> pd.DataFrame:
    return s.query_df(
        "SELECT market, market_run, node, bucket, sum(lmp_sum) AS lmp_sum, sum(samples) AS samples, "
        "sum(aligned) AS aligned, min(minutes_min) AS minutes_min, max(minutes_max) AS minutes_max, "
        "max(start_max) AS start_max FROM nodal_lmp_daily GROUP BY market, market_run, node, bucket "
        "ORDER BY market, market_run, node, bucket")


def test_the_daily_aggregate_follows_loads_and_revisions(gappy):
    store, _, _ = gappy
    stored, rebuilt = _daily_stored(store), _daily_rebuilt(store)
    assert len(stored) > 0
    pd.testing.assert_frame_equal(stored, rebuilt, check_dtype=False, check_categorical=False)


def test_migration_021_fills_the_days_of_a_store_holding_nodal_prices(store_url: str, tmp_path):
    from engine.store.migrations import MIGRATIONS_DIR, discover

    before = tmp_path / "migrations_before_21"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:3]) < 21:
            (before / path.name).write_text(path.read_text())
    s = Store(store_url)
    try:
        migrate(s, before)
        # the hourly buckets are the writer's; without the daily table, insert rows and hours as it does
        from engine.store.writer import _conform, batch_aggregate

        spec = TABLES["nodal_lmp"]
        for batch, frame in enumerate((_rows([HUB, "A"], "2025-01-01", 72),
                                       _rows(["A"], "2025-01-02", 24, seed=8, offset=3.0)), start=1):
            rows = _conform(spec, frame, "test.csv").assign(batch_id=np.uint64(batch))
            s.insert_df("nodal_lmp", rows)
            s.insert_df("nodal_lmp_hourly", batch_aggregate(spec.aggregates[0], rows, "interval_start"))
        assert migrate(s) == [m.version for m in discover() if m.version >= 21]
        pd.testing.assert_frame_equal(_daily_stored(s), _daily_rebuilt(s), check_dtype=False,
                                      check_categorical=False)
        assert s.scalar("SELECT sum(samples) FROM nodal_lmp_daily") == 72 * 2  # the revised day counted once
        # run again after a stop past its insert: the days are filled once, and the view feeds new loads
        for stmt in next(m for m in discover() if m.version == 21).statements(s.database):
            s.command(stmt)
        write_tables(s, {"nodal_lmp": _rows(["B"], "2025-01-05", 24, seed=9)})
        pd.testing.assert_frame_equal(_daily_stored(s), _daily_rebuilt(s), check_dtype=False,
                                      check_categorical=False)
        assert s.scalar("SELECT sum(samples) FROM nodal_lmp_daily") == 72 * 2 + 24
    finally:
        s.command(f"DROP DATABASE IF EXISTS `{s.database}`")
        s.close()
