"""The store on embedded chDB: migrations, round trips, idempotent and whole-batch writes, aggregates."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.store import Store, StoreError, migrate, versions, write_tables
from engine.store.client import split_dsn
from engine.store.migrations import Migration, discover
from engine.store.tables import TABLES, SeriesTable
from tests.support.store_faults import fail_insert_into


def _prices(location="SA1", n=48, start="2024-01-01", minutes=30, price=None, source="file.csv"):
    idx = pd.date_range(start, periods=n, freq=f"{minutes}min", tz="UTC")
    return pd.DataFrame({"market": "NEM", "location": location, "price_kind": "settlement", "interval_start": idx,
                         "interval_minutes": minutes,
                         "price": np.arange(n, dtype=float) if price is None else price, "source": source})


def test_split_dsn_embedded_and_server():
    assert split_dsn("chdb:///x/store") == ("chdb:///x/store", "c254", True)
    assert split_dsn("chdb:///x/store?database=abc")[1:] == ("abc", True)
    dsn, db, embedded = split_dsn("http://u:p@host:8123/market")
    assert (dsn, db, embedded) == ("http://u:p@host:8123/default", "market", False)
    with pytest.raises(StoreError, match="scheme"):
        split_dsn("postgres://x")
    with pytest.raises(StoreError, match="plain identifier"):
        split_dsn("chdb:///x?database=a;drop")


def test_migrations_apply_once_and_record_versions(store: Store):
    versions = store.query_df("SELECT version FROM schema_migrations ORDER BY version")["version"].tolist()
    assert versions == [m.version for m in discover()]
    assert migrate(store) == []
    tables = set(store.query_df("SELECT name FROM system.tables WHERE database = currentDatabase()")["name"])
    assert {"prices", "demand", "interconnector_flows", "prices_hourly", "prices_daily",
            "market_dict", "node_dict", "nodal_lmp", "job_runs", "latest_prices"} <= tables
    assert store.scalar("SELECT dictGet('market_dict', 'timezone', tuple('NEM'))") == "Etc/GMT-10"


def test_migration_edited_after_apply_is_refused(store: Store, tmp_path):
    (tmp_path / "001_core.sql").write_text("CREATE TABLE IF NOT EXISTS x (a UInt8) ENGINE = Memory")
    with pytest.raises(StoreError, match="changed after it was applied"):
        migrate(store, tmp_path)


def test_a_batch_spanning_years_is_written_whole(store: Store):
    """A backfill of twelve years is one batch over 144 monthly partitions (ClickHouse stops at 100 a block
    unless told otherwise)."""
    days = pd.date_range("2005-01-01 03:00", "2016-12-31 03:00", freq="D", tz="UTC")  # Brasilia days
    frame = pd.DataFrame({"market": "BRAZIL", "location": "SE", "interval_start": days, "interval_minutes": 1440,
                          "demand_mw": 1.0, "source": "carga.csv"})
    assert write_tables(store, {"demand": frame}).rows_written == len(days)
    assert store.scalar("SELECT uniqExact(partition) FROM system.parts WHERE database = currentDatabase() "
                        "AND table = 'demand' AND active") == 144


def test_a_store_made_with_the_once_edited_001_still_opens(store: Store):
    """001 was edited in place once; a store that recorded that text is accepted, any other edit is not."""
    store.command("INSERT INTO schema_migrations (version, name, checksum) VALUES (1, 'core', '1ad24f865ef67056')")
    assert migrate(store) == []
    store.command("INSERT INTO schema_migrations (version, name, checksum) VALUES (1, 'core', 'something-else')")
    with pytest.raises(StoreError, match="changed after it was applied"):
        migrate(store)


def test_migration_statements_split_and_template():
    m = Migration(9, "x", "-- c\nCREATE TABLE a (x UInt8) ENGINE=Memory;\nSELECT '${DB}';\n")
    assert m.statements("db1") == ["CREATE TABLE a (x UInt8) ENGINE=Memory", "SELECT 'db1'"]


def test_round_trip_keeps_utc_instants_and_values(store: Store):
    frame = _prices(n=5)
    write_tables(store, {"prices": frame})
    back = store.query_df("SELECT interval_start, price FROM prices FINAL ORDER BY interval_start")
    assert back["interval_start"].dt.tz is not None
    assert list(back["interval_start"]) == list(frame["interval_start"])
    assert back["price"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_reloading_the_same_batch_changes_nothing(store: Store):
    frame = _prices()
    first = write_tables(store, {"prices": frame})
    before = store.query_df("SELECT * FROM prices FINAL ORDER BY interval_start")
    hourly_before = store.query_df("SELECT bucket, sum(samples) s, sum(price_sum) p FROM prices_hourly "
                                   "GROUP BY bucket ORDER BY bucket")
    second = write_tables(store, {"prices": frame})
    assert first.written == {"prices": 48}
    assert second.written == {"prices": 0}
    after = store.query_df("SELECT * FROM prices FINAL ORDER BY interval_start")
    pd.testing.assert_frame_equal(before, after)
    assert store.scalar("SELECT count() FROM prices") == 48  # not even an unmerged duplicate
    hourly_after = store.query_df("SELECT bucket, sum(samples) s, sum(price_sum) p FROM prices_hourly "
                                  "GROUP BY bucket ORDER BY bucket")
    pd.testing.assert_frame_equal(hourly_before, hourly_after)


def test_revision_replaces_value_and_rebuilds_aggregates(store: Store):
    write_tables(store, {"prices": _prices()})
    revised = _prices()
    revised.loc[3, "price"] = 1000.0
    report = write_tables(store, {"prices": revised})
    assert report.written == {"prices": 1}
    assert report.revised == {"prices": 1}
    assert store.scalar("SELECT price FROM prices FINAL WHERE price > 999") == 1000.0
    hourly = store.query_df("SELECT bucket, sum(price_sum) p, sum(samples) n FROM prices_hourly GROUP BY bucket "
                            "ORDER BY bucket")
    truth = store.query_df("SELECT toStartOfHour(interval_start) bucket, sum(price) p, count() n FROM prices FINAL "
                           "GROUP BY bucket ORDER BY bucket")
    pd.testing.assert_frame_equal(hourly.reset_index(drop=True), truth.reset_index(drop=True), check_dtype=False)
    assert int(hourly["n"].sum()) == 48


def test_daily_buckets_start_at_market_midnight(store: Store):
    write_tables(store, {"prices": _prices(n=48, start="2023-12-31 14:00")})  # one NEM day, 00:00..24:00 +10
    daily = store.query_df("SELECT bucket, sum(samples) n FROM prices_daily GROUP BY bucket")
    assert len(daily) == 1
    assert daily.at[0, "bucket"] == pd.Timestamp("2023-12-31 14:00", tz="UTC")
    assert int(daily.at[0, "n"]) == 48


def test_batch_with_duplicate_keys_is_refused_and_writes_nothing(store: Store):
    frame = pd.concat([_prices(n=3), _prices(n=1)])
    with pytest.raises(StoreError, match="one key twice"):
        write_tables(store, {"prices": frame})
    assert store.scalar("SELECT count() FROM prices") == 0


def test_failed_second_table_takes_back_the_first(store: Store, monkeypatch):
    demand = _prices(n=4).rename(columns={"price": "demand_mw"}).drop(columns=["price_kind"])
    fail_insert_into(monkeypatch, "demand", "disk full (simulated)", killed=False)
    with pytest.raises(StoreError, match="simulated"):
        write_tables(store, {"prices": _prices(n=4), "demand": demand})
    assert store.scalar("SELECT count() FROM prices") == 0
    assert store.scalar("SELECT count() FROM prices_hourly WHERE samples > 0") == 0


def test_real_data_replaces_demo_rows_of_that_market(store: Store):
    write_tables(store, {"prices": _prices(n=10, source="demo")})
    write_tables(store, {"prices": _prices(location="VIC1", n=4, start="2018-01-01")})
    rows = store.query_df("SELECT location, count() n FROM prices FINAL GROUP BY location")
    assert rows.to_dict("records") == [{"location": "VIC1", "n": 4}]
    assert store.scalar("SELECT sum(samples) FROM prices_hourly") == 4


def test_real_rows_of_another_kind_leave_the_demo_prices(store: Store):
    """An operator's forecast or a flow is real data, but no replacement for the demo's prices."""
    write_tables(store, {"prices": _prices(n=10, source="demo")})
    flows = pd.DataFrame({"market": "NEM", "interconnector": "NSW1-QLD1", "interval_minutes": 5,
                          "interval_start": pd.date_range("2018-01-01", periods=3, freq="5min", tz="UTC"),
                          "mw_flow": [1.0, 2.0, 3.0], "metered_mw_flow": np.nan, "mw_losses": np.nan,
                          "export_limit": np.nan, "import_limit": np.nan, "source": "file.csv"})
    write_tables(store, {"interconnector_flows": flows})
    assert store.scalar("SELECT count() FROM prices FINAL") == 10


def test_a_failed_demo_drop_is_tried_again_by_the_next_batch(store: Store, monkeypatch):
    write_tables(store, {"prices": _prices(n=10, source="demo")})
    command = Store.command

    def failing_delete(self, sql, params=None):
        if "DELETE" in sql:
            raise StoreError("disk full")
        return command(self, sql, params)

    monkeypatch.setattr(Store, "command", failing_delete)
    with pytest.raises(StoreError, match="disk full"):
        write_tables(store, {"prices": _prices(location="VIC1", n=4, start="2018-01-01")})
    monkeypatch.setattr(Store, "command", command)
    write_tables(store, {"prices": _prices(location="VIC1", n=4, start="2018-01-01")})
    assert store.scalar("SELECT count() FROM prices FINAL WHERE source = 'demo'") == 0


def test_parameters_are_bound_not_formatted(store: Store):
    write_tables(store, {"prices": _prices(n=2)})
    hostile = "SA1' OR '1'='1"
    assert store.scalar("SELECT count() FROM prices WHERE location = {l:String}", {"l": hostile}) == 0


def test_blank_required_values_are_not_stored_as_zero(store: Store):
    frame = _prices(n=4)
    frame.loc[1, "price"] = np.nan
    report = write_tables(store, {"prices": frame})
    assert report.written == {"prices": 3}
    assert report.empty == {"prices": 1}
    assert store.scalar("SELECT countIf(price = 0) FROM prices") == 1  # only the real 0.0 at row 0
    assert write_tables(store, {"prices": frame}).written == {"prices": 0}


def test_demand_aggregate_follows_revisions(store: Store):
    demand = _prices(n=48, start="2023-12-31 14:00").rename(columns={"price": "demand_mw"}).drop(
        columns=["price_kind"])
    write_tables(store, {"demand": demand})
    revised = demand.copy()
    revised.loc[5, "demand_mw"] = 5000.0
    write_tables(store, {"demand": revised})
    hourly = store.query_df("SELECT sum(demand_sum) s, sum(samples) n FROM demand_hourly")
    assert hourly.at[0, "s"] == pytest.approx(revised["demand_mw"].sum())
    assert hourly.at[0, "n"] == 48


def test_aggregates_count_negatives_and_demo_rows_through_revisions(store: Store):
    prices = np.array([-5.0, 3.0, -1.0, 7.0] * 12)
    write_tables(store, {"prices": _prices(n=48, price=prices, start="2023-12-31 14:00")})
    revised = _prices(n=48, price=prices, start="2023-12-31 14:00")
    revised.loc[1, "price"] = -2.0  # one more negative, in the first hour
    write_tables(store, {"prices": revised})
    for table in ("prices_hourly", "prices_daily"):
        row = store.query_df(f"SELECT sum(negatives) n, sum(demo_samples) d, sum(samples) s FROM {table}")
        assert row.iloc[0].tolist() == [25, 0, 48], table
    write_tables(store, {"prices": _prices(location="VIC1", n=4, source="demo")})
    assert store.scalar("SELECT sum(demo_samples) FROM prices_hourly WHERE location = 'VIC1'") == 4


def test_migration_006_fills_the_new_counts_of_an_existing_store(store_url: str, tmp_path):
    """A store made before the counts existed gets them from its raw rows when it migrates."""
    s = Store(store_url)
    try:
        assert migrate(s, _migrations_before(6, tmp_path)) == [1, 2, 3, 4, 5]
        frame = _prices(n=24, price=np.linspace(-3, 20, 24), source="demo")
        cols = ["market", "location", "price_kind", "interval_minutes", "interval_start", "price", "source"]
        s.insert_df("prices", frame[cols].assign(interval_minutes=frame["interval_minutes"].astype("uint16"),
                                                 batch_id=np.uint64(1)))
        assert migrate(s) == [m.version for m in discover() if m.version >= 6]
        row = s.query_df("SELECT sum(negatives) n, sum(demo_samples) d, sum(samples) s FROM prices_daily")
        assert row.iloc[0].tolist() == [int((frame["price"] < 0).sum()), 24, 24]
    finally:
        s.command(f"DROP DATABASE IF EXISTS `{s.database}`")
        s.close()


def _migrations_before(version: int, tmp_path) -> Path:
    from engine.store.migrations import MIGRATIONS_DIR

    old = tmp_path / f"migrations_before_{version}"
    old.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:3]) < version:
            (old / path.name).write_text(path.read_text())
    return old


def _contents(s: Store) -> dict[str, list]:
    """Every series and aggregate table as FINAL reads it, by column name, sorted."""
    out = {}
    for spec in TABLES.values():
        for table in (spec.name, *(agg.table for agg in spec.aggregates)):
            frame = s.query_df(f"SELECT * FROM `{table}` FINAL")
            out[table] = sorted(tuple(sorted(r.items())) for r in frame.astype(str).to_dict("records"))
    return out


def _some_rows(spec: SeriesTable, n: int = 6) -> pd.DataFrame:
    """n rows for any series table, a distinct value in every column (so a column moved to another place
    would show)."""
    frame = pd.DataFrame({col: [f"{col[:6].upper()}{i % 2}" for i in range(n)] for col in spec.key})
    frame["market"] = "IESO"
    if spec.time_column:
        frame[spec.time_column] = pd.date_range("2024-01-31 20:00", periods=n, freq="h", tz="UTC")
        frame["interval_minutes"] = 60
    for j, col in enumerate(spec.values):
        frame[col] = np.arange(n) + 10.0 * (j + 1) + 0.25
    return frame


@pytest.mark.parametrize("stop_after", [None, "EXCHANGE TABLES prices AND", "DROP TABLE demand__repartitioned"])
def test_migration_008_moves_every_row_into_market_month_partitions(store_url: str, tmp_path, stop_after,
                                                                   monkeypatch):
    """A store made before 008 keeps every row and aggregate; a NEM month becomes one partition; the aggregates
    are filled again afterwards (the hourly ones by the writer since 018). A migration stopped half way
    (``stop_after``) completes on rerun."""
    from engine.store.migrations import discover

    s = Store(store_url)
    try:
        assert migrate(s, _migrations_before(8, tmp_path)) == list(range(1, 8))
        # Series tables a later migration creates are not there yet: the writer must not look for them.
        for name in [n for n in TABLES if not s.scalar("EXISTS TABLE {t:Identifier}", {"t": n})]:
            monkeypatch.delitem(TABLES, name)
        monkeypatch.setattr(versions, "bump", lambda *_: None)  # nor are the data versions (017)
        # and until 018 the views fill the hourly aggregates: the writer must not add the batch's buckets too;
        # aggregates a later migration creates (021) are not there yet either
        for name, spec in list(TABLES.items()):
            monkeypatch.setitem(TABLES, name, dataclasses.replace(spec, aggregates=tuple(
                dataclasses.replace(agg, from_batch=()) for agg in spec.aggregates
                if s.scalar("EXISTS TABLE {t:Identifier}", {"t": agg.table}))))
        # January in NEM time: from 14:00 UTC on 31 December; a revision of some of its hours; IESO hours
        write_tables(s, {"prices": _prices(n=48 * 31, start="2023-12-31 14:00"),
                         "demand": _prices(n=48 * 31, start="2023-12-31 14:00").rename(columns={"price": "demand_mw"})
                         .drop(columns="price_kind")})
        write_tables(s, {"prices": _prices(n=6, start="2024-01-05 00:00", price=np.full(6, 99.0))})
        ieso = _prices(location="ONZP", n=24, start="2024-01-31 05:00", minutes=60).assign(market="IESO")
        write_tables(s, {"prices": ieso})
        lmp = pd.DataFrame({"market": "IESO", "node": "NODE.A", "market_run": "RT",
                            "interval_start": pd.date_range("2024-03-01", periods=12, freq="h", tz="UTC"),
                            "interval_minutes": 60, "lmp": np.linspace(10, 40, 12), "energy": 10.0,
                            "congestion": np.nan, "loss": 0.5})
        write_tables(s, {"nodal_lmp": lmp})
        write_tables(s, {name: _some_rows(spec) for name, spec in TABLES.items()
                         if name not in ("prices", "demand", "nodal_lmp") and spec.time_column})
        days = pd.date_range("2008-01-01", "2016-12-31", freq="D", tz="UTC")  # 108 months in one copy block
        write_tables(s, {"system_totals": pd.DataFrame({
            "market": "BRAZIL", "location": "SE", "metric": "load", "interval_start": days, "interval_minutes": 1440,
            "value_mw": np.arange(len(days), dtype=float)})})
        before = _contents(s)
        assert [name for name, spec in TABLES.items() if spec.time_column and not before[name]] == []
        if stop_after:  # run the migration's statements up to and including the first that matches, as a crash
            mig = next(m for m in discover() if m.version == 8)
            for stmt in mig.statements(s.database):
                s.command(stmt)
                if stmt.startswith(stop_after):
                    break
        assert migrate(s) == [m.version for m in discover() if m.version >= 8]
        assert _contents(s) == before
        parts = s.query_df("SELECT table, groupUniqArray(partition) AS p FROM system.parts "
                           "WHERE database = currentDatabase() AND active GROUP BY table")
        partitions = {r.table: sorted(r.p) for r in parts.itertuples()}
        assert partitions["demand"] == ["202401"]  # the NEM month, not December and January in UTC
        assert partitions["prices"] == ["202401"]  # and 31 January in EST, to 04:00 UTC on 1 February
        assert partitions["prices_hourly"] == ["2024"]
        assert partitions["prices_daily"] == ["2024"]
        assert not {t for t in partitions if t.endswith("__repartitioned")}
        monkeypatch.undo()  # the store is up to date: the writer as it is
        write_tables(s, {"prices": _prices(location="VIC1", n=48, start="2024-02-29 14:00", price=np.full(48, 2.0))})
        day = s.query_df("SELECT bucket, price_sum, samples FROM prices_daily FINAL WHERE location = 'VIC1'")
        assert day.to_dict("records") == [{"bucket": pd.Timestamp("2024-02-29 14:00", tz="UTC"),
                                           "price_sum": 96.0, "samples": 48}]
        assert s.scalar("SELECT sum(samples) FROM demand_hourly") == 48 * 31
    finally:
        s.command(f"DROP DATABASE IF EXISTS `{s.database}`")
        s.close()


def test_market_calendar_macros_expand_to_each_markets_zone():
    m = Migration(9, "x", "CREATE TABLE a (t DateTime) ENGINE = MergeTree PARTITION BY ${MARKET_MONTH(t)} "
                          "ORDER BY t;\nSELECT ${MARKET_YEAR(bucket)}, ${MARKET_DAY_START(bucket)};\n")
    create, select = m.statements("db")
    assert "market = 'NEM', toYYYYMM(t, 'Etc/GMT-10')" in create
    assert "toYYYYMM(t, 'America/New_York'))" in create
    assert "toYear(bucket, 'America/Sao_Paulo')" in select
    assert "toStartOfDay(bucket, 'Etc/GMT+5')" in select
    assert "${" not in select


def test_each_thread_gets_its_own_connection_and_parameters(store: Store):
    """Threads query side by side on their own connections; none sees another's bound parameters."""
    import threading

    wrong, clients = [], []  # the clients themselves, so no id is reused while the test runs

    def ask(k: int) -> None:
        clients.append(store.client)
        for j in range(40):
            got = store.scalar("SELECT {x:UInt32}", {"x": k * 1000 + j})
            if got != k * 1000 + j:
                wrong.append((k, j, got))

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert len({id(c) for c in clients}) == 4
    store.close()  # every connection closed; the next use opens a new one
    assert store.scalar("SELECT 1") == 1


def test_batches_from_several_threads_land_whole(store: Store):
    """Jobs and backfills write at the same time; each batch lands whole and the aggregates add up."""
    import threading

    errors = []

    def load(location: str) -> None:
        try:
            demand = _prices(location=location, n=96).rename(columns={"price": "demand_mw"}).drop(
                columns=["price_kind"])
            write_tables(store, {"prices": _prices(location=location, n=96), "demand": demand})
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(loc,)) for loc in ("NSW1", "QLD1", "SA1", "TAS1", "VIC1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = store.query_df("SELECT location, count() n FROM prices FINAL GROUP BY location ORDER BY location")
    assert counts["n"].tolist() == [96] * 5
    assert store.scalar("SELECT sum(samples) FROM prices_hourly") == 96 * 5
    assert store.scalar("SELECT sum(samples) FROM demand_hourly") == 96 * 5


def test_categorical_text_columns_are_stored_as_their_labels(store: Store):
    frame = pd.concat([_prices(location="SA1", n=3), _prices(location="VIC1", n=2)], ignore_index=True)
    for col in ("market", "location", "price_kind", "source"):
        frame[col] = pd.Categorical(frame[col], categories=sorted(set(frame[col])) + ["unused"])
    assert write_tables(store, {"prices": frame}).written == {"prices": 5}
    rows = store.query_df("SELECT location, source, count() n FROM prices GROUP BY ALL ORDER BY location")
    assert rows.to_dict("records") == [{"location": "SA1", "source": "file.csv", "n": 3},
                                       {"location": "VIC1", "source": "file.csv", "n": 2}]
    frame["location"] = frame["location"].astype(object)  # the same rows as plain strings change nothing
    assert write_tables(store, {"prices": frame}).written == {"prices": 0}


def test_an_answer_without_rows_has_the_columns_and_types_of_one_with_rows(store: Store):
    """A query that matches nothing still names its columns, typed as they are when rows come back (so
    readers need no special case for an empty store)."""
    write_tables(store, {"prices": _prices(n=3)})
    sql = ("SELECT p.location AS location, p.interval_start AS interval_start, p.price AS price, "
           "p.interval_minutes AS interval_minutes, d.demand_mw AS demand_mw, p.source = 'demo' AS is_demo "
           "FROM (SELECT * FROM prices FINAL WHERE location = {l:String}) AS p "
           "LEFT JOIN demand AS d ON p.interval_start = d.interval_start SETTINGS join_use_nulls = 1")
    found = store.query_df(sql, {"l": "SA1"})
    none = store.query_df(sql, {"l": "nowhere"})
    assert len(found) == 3
    assert len(none) == 0
    assert none.dtypes.to_dict() == found.dtypes.to_dict()


def test_each_tables_text_columns_are_among_its_values():
    for spec in TABLES.values():
        assert set(spec.text) <= set(spec.values), spec.name


def test_numbers_that_come_as_text_are_stored_as_numbers_and_text_columns_as_text(store: Store):
    nodes = pd.DataFrame({"market": "PJM", "node": ["A", "B"], "node_type": ["HUB", "BUS"], "zone": ["Z1", "Z2"],
                          "voltage_kv": ["345", "138.5"], "latitude": ["40.1", "39.9"], "longitude": ["-75", "-76"],
                          "node_name": ["Hub A", ""]})
    assert write_tables(store, {"node_metadata": nodes}).written == {"node_metadata": 2}
    back = store.query_df("SELECT node, node_type, zone, voltage_kv, node_name FROM node_metadata FINAL ORDER BY node")
    assert back["voltage_kv"].tolist() == [345.0, 138.5]
    assert back["node_type"].tolist() == ["HUB", "BUS"]
    assert back["node_name"].tolist() == ["Hub A", ""]


# --- hourly aggregates filled from each batch (migration 018) --------------------------------------------------

def _rebuild_equals_stored(s: Store) -> None:
    """Every aggregate table, its parts summed per bucket, equals the same buckets rebuilt from the base table."""
    for spec in TABLES.values():
        for agg in spec.aggregates:
            rebuilt = s.query_df(agg.select.format(where=""))
            keys = [c for c in rebuilt.columns if c in (*spec.series_columns, "bucket")]
            merged = {c: (c.split("_")[-1] if c.endswith(("_min", "_max")) else "sum")
                      for c in rebuilt.columns if c not in keys}
            stored = s.query_df(f"SELECT {', '.join(keys)}, "
                                + ", ".join(f"{f}({c}) AS {c}" for c, f in merged.items())
                                + f" FROM `{agg.table}` GROUP BY {', '.join(keys)}")
            pd.testing.assert_frame_equal(stored.sort_values(keys).reset_index(drop=True)[rebuilt.columns],
                                          rebuilt.sort_values(keys).reset_index(drop=True),
                                          check_dtype=False, obj=agg.table)


def _nodal(nodes: list[str], start: str, n: int, run: str = "DA", shift: float = 0.0,
           minutes: int = 60) -> pd.DataFrame:
    idx = pd.date_range(start, periods=n, freq=f"{minutes}min", tz="UTC")
    frames = []
    for i, node in enumerate(nodes):
        lmp = np.arange(n, dtype=float) + 10 * i + shift
        energy = np.where(np.arange(n) % 5 == 0, np.nan, 20.0)  # a published price without its components
        frames.append(pd.DataFrame({"market": "PJM", "market_run": run, "node": node, "interval_start": idx,
                                    "interval_minutes": minutes, "lmp": lmp, "energy": energy,
                                    "congestion": lmp - 20.0, "loss": 0.25}))
    return pd.concat(frames, ignore_index=True)


def test_aggregates_equal_a_rebuild_after_new_loads_reloads_and_revisions(store: Store):
    five = _prices(location="SA1", n=36, minutes=5, price=np.linspace(-20, 80, 36), start="2024-01-01 13:00")
    half = _prices(location="SA1", n=4, minutes=30, price=np.array([5.0, -1.0, 7.5, 9.0]), start="2024-01-01 13:00")
    demand = five.drop(columns="price_kind").rename(columns={"price": "demand_mw"})
    write_tables(store, {"prices": _prices(location="QLD1", n=12, source="demo")})  # demo data first
    # one batch: two interval lengths of one region interleave in the key order, real data replaces the demo
    write_tables(store, {"prices": pd.concat([five, half, _prices(location="QLD1", n=12, price=np.full(12, 3.0))]),
                         "demand": demand, "nodal_lmp": pd.concat([_nodal(["B", "A"], "2024-03-01", 30),
                                                                   _nodal(["A"], "2024-03-01", 30, run="RT")])})
    _rebuild_equals_stored(store)
    reload = write_tables(store, {"prices": five, "demand": demand, "nodal_lmp": _nodal(["B", "A"], "2024-03-01", 30)})
    assert reload.rows_written == 0
    revised = five.copy()
    revised.loc[[2, 20], "price"] = [500.0, -300.0]
    later = _prices(location="SA1", n=12, minutes=5, price=np.full(12, 1.5), start="2024-01-01 16:00")
    report = write_tables(store, {"prices": pd.concat([revised, later]),  # revisions, new rows and unchanged ones
                                  "nodal_lmp": _nodal(["A", "C"], "2024-03-02", 10, shift=0.5)})
    assert report.revised == {"prices": 2, "nodal_lmp": 6}  # A's first 6 hours are stored, C is new
    assert report.written == {"prices": 14, "nodal_lmp": 20}
    _rebuild_equals_stored(store)
    assert store.scalar("SELECT sum(samples) FROM prices_hourly WHERE location = 'SA1'") == 36 + 4 + 12
    assert store.scalar("SELECT sum(demo_samples) FROM prices_daily") == 0


def test_batch_buckets_do_not_depend_on_row_order():
    from engine.store.writer import _conform, batch_aggregate

    spec = TABLES["nodal_lmp"]
    rows = _conform(spec, pd.concat([_nodal(["B", "A"], "2024-03-01 00:30", 7, minutes=15),
                                     _nodal(["A"], "2024-03-01", 5, "RT", minutes=15)]), "x.csv")
    shuffled = rows.sample(frac=1.0, random_state=3).reset_index(drop=True)
    agg = spec.aggregates[0]
    key = ["market", "node", "market_run", "bucket"]
    in_order = batch_aggregate(agg, rows, spec.time_column).sort_values(key).reset_index(drop=True)
    mixed = batch_aggregate(agg, shuffled, spec.time_column).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(in_order, mixed, check_categorical=False)
    assert len(in_order) == 2 * 3 + 2  # DA 00:30..02:00 spans 3 hours, RT 00:00..01:00 two
    assert in_order["samples"].sum() == len(rows)
    # energy is missing (NULL) every fifth hour: counted in the samples, summed as 0 (ifNull(energy, 0))
    assert in_order["energy_sum"].sum() == pytest.approx(20.0 * np.count_nonzero(rows["energy"].notna()))


def _hourly_by_groupby(rows: pd.DataFrame) -> pd.DataFrame:
    """prices_hourly's buckets of ``rows`` by a plain pandas groupby: the oracle for batch_aggregate."""
    frame = rows.assign(bucket=rows["interval_start"].dt.floor("h"), location=rows["location"].astype(str),
                        negative=rows["price"] < 0, demo=rows["source"].astype(str) == "demo")
    out = frame.groupby(["market", "location", "price_kind", "bucket"], observed=True).agg(
        price_sum=("price", "sum"), price_min=("price", "min"), price_max=("price", "max"),
        samples=("price", "size"), negatives=("negative", "sum"), demo_samples=("demo", "sum"))
    return out.reset_index().astype({"market": str, "price_kind": str, "samples": "uint64",
                                     "negatives": "uint64", "demo_samples": "uint64"})


@pytest.mark.parametrize("layout", ["runs out of order", "overlapping runs", "categorical runs"])
def test_batch_buckets_of_a_batch_of_files_match_a_groupby(layout):
    """A batch of several files comes as runs each in key order (one series over one file's span), in file
    order: the runs are put in order without sorting every row, and runs whose hours overlap (here a 15-minute
    series beside a 5-minute one of the same location) are sorted row by row; the buckets are the same."""
    from engine.store.writer import _conform, batch_aggregate

    def run(location, start, minutes=5, n=30, source="file.csv"):
        return _prices(location=location, n=n, minutes=minutes, start=start, source=source,
                       price=np.linspace(-20.0, 40.0, n) + len(location))

    runs = [run("SA1", "2024-02-01"), run("VIC1", "2024-02-01", source="demo"), run("SA1", "2024-01-01"),
            run("VIC1", "2024-01-01")]
    if layout == "overlapping runs":
        runs.append(run("SA1", "2024-01-01 00:30", minutes=15, n=8))
    rows = pd.concat(runs, ignore_index=True)
    if layout == "categorical runs":  # as the NEM parser's frames come: labels and sources as categoricals
        rows = rows.astype({"market": "category", "location": "category", "price_kind": "category",
                            "source": "category"})
    spec = TABLES["prices"]
    got = batch_aggregate(spec.aggregates[0], _conform(spec, rows, "x.csv", unique=True), spec.time_column)
    key = ["location", "bucket"]
    got = got.astype({"market": str, "location": str, "price_kind": str}).sort_values(key).reset_index(drop=True)
    expected = _hourly_by_groupby(rows).sort_values(key).reset_index(drop=True)[list(got.columns)]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["demo_samples"].sum() == 30 and got["samples"].sum() == len(rows)


def test_labels_of_a_column_are_the_values_its_rows_use():
    from engine.store.writer import _labels

    column = pd.Series(pd.Categorical(["b", "a", None, "b"], categories=["a", "b", "c"]))
    assert _labels(column)[:2] == ["a", "b"] and len(_labels(column)) == 3 and pd.isna(_labels(column)[2])
    assert _labels(column.iloc[[0, 3]]) == ["b"]  # "c" is a category no row uses
    assert _labels(pd.Series(["x", "y", "x"])) == ["x", "y"]


def test_a_reload_repairs_aggregates_left_short_by_a_kill_between_rows_and_buckets(store: Store, monkeypatch):
    prices = _prices(location="VIC1", n=60, minutes=5, price=np.linspace(-5, 90, 60), start="2024-02-03 22:00")
    demand = prices.drop(columns="price_kind").rename(columns={"price": "demand_mw"})
    # A killed process runs nothing after the statement it died in: no take-back either.
    failed = fail_insert_into(monkeypatch, "prices_hourly")
    with pytest.raises(StoreError, match="killed"):
        write_tables(store, {"prices": prices, "demand": demand})
    monkeypatch.undo()
    assert failed == ["prices_hourly"]
    assert store.scalar("SELECT count() FROM prices FINAL WHERE location = 'VIC1'") == 60
    assert store.scalar("SELECT sum(samples) FROM prices_hourly WHERE location = 'VIC1'") == 0
    with pytest.raises(AssertionError):  # the state the kill leaves: base rows no bucket counts
        _rebuild_equals_stored(store)

    before = versions.market_version(store, "NEM")
    reload = write_tables(store, {"prices": prices, "demand": demand})
    assert reload.rows_written == 0 and reload.unchanged == {"prices": 60, "demand": 60}
    assert reload.repaired == {"prices"}  # demand's buckets were written before the kill
    _rebuild_equals_stored(store)
    assert store.scalar("SELECT sum(samples) FROM prices_hourly WHERE location = 'VIC1'") == 60
    assert store.scalar("SELECT sum(samples) FROM prices_daily WHERE location = 'VIC1'") == 60
    assert versions.market_version(store, "NEM") > before  # answers cached from the short buckets are stale

    again = versions.market_version(store, "NEM")
    steady = write_tables(store, {"prices": prices, "demand": demand})
    assert steady.rows_written == 0 and steady.repaired == set()
    assert versions.market_version(store, "NEM") == again


def test_a_batch_meeting_stored_rows_repairs_the_buckets_around_its_new_rows(store: Store, monkeypatch):
    """A kill after the rows of a batch; the next batch holds those rows and new ones for the same series."""
    first = _prices(location="TAS1", n=24, minutes=5, start="2024-03-01 00:00")
    fail_insert_into(monkeypatch, "prices_hourly")
    with pytest.raises(StoreError, match="killed"):
        write_tables(store, {"prices": first})
    monkeypatch.undo()
    more = _prices(location="TAS1", n=48, minutes=5, start="2024-03-01 00:00",
                   price=np.r_[np.arange(24.0), np.full(24, 7.0)])  # the first 24 as stored, then new ones
    report = write_tables(store, {"prices": more})
    assert report.written == {"prices": 24} and report.repaired == {"prices"}
    _rebuild_equals_stored(store)
    assert store.scalar("SELECT sum(samples) FROM prices_hourly WHERE location = 'TAS1'") == 48


def test_key_matching_agrees_with_a_join_of_the_frames(store: Store):
    """The int64 key match of the duplicate check finds the same stored rows as joining the frames on the key
    does (the path taken when a key does not fit one int64), with stored labels the batch lacks. The stored rows
    come back with their key as integers (label positions, milliseconds): decoded, they are the rows as stored."""
    from engine.store.writer import _conform, _decoded, _match_keys, _same_by_merge, _stored_rows

    spec = TABLES["prices"]
    stored = pd.concat([_prices(location=loc, n=30, minutes=5, start="2024-04-01") for loc in ("NSW1", "QLD1")]
                       + [_prices(location="NSW1", n=4, minutes=30, start="2024-04-01")])
    write_tables(store, {"prices": stored})
    batch = pd.concat([_prices(location="NSW1", n=40, minutes=5, start="2024-04-01", price=np.r_[np.arange(30.0),
                                                                                                np.full(10, 2.0)]),
                       _prices(location="SA1", n=5, minutes=5, start="2024-04-01")], ignore_index=True)
    batch.loc[3, "price"] = 99.0  # a revision of a stored NSW1 row
    frame = _conform(spec, batch.astype({"location": "category"}), "x.csv")
    existing, labels = _stored_rows(store, spec, frame)
    assert labels == {"market": ["NEM"], "location": ["NSW1", "SA1"], "price_kind": ["settlement"]}
    as_stored = store.query_df("SELECT market, location, price_kind, interval_minutes, interval_start, price "
                               "FROM prices FINAL WHERE location = 'NSW1' ORDER BY interval_minutes, interval_start")
    decoded = _decoded(spec, existing, labels).sort_values(["interval_minutes", "interval_start"], ignore_index=True)
    pd.testing.assert_frame_equal(decoded.astype({"interval_start": "datetime64[ms, UTC]"}),
                                  as_stored.astype({"interval_start": "datetime64[ms, UTC]"}), check_dtype=False)
    present, at = _match_keys(spec, frame, existing, labels)
    joined = _same_by_merge(spec, frame, _decoded(spec, existing, labels))
    np.testing.assert_array_equal(present, joined["__present"])
    assert present.sum() == 30  # NSW1's first 30 five-minute rows; its 30-minute rows and QLD1 are not in the batch
    same = present & (frame["price"].to_numpy() == existing["price"].to_numpy()[at])
    np.testing.assert_array_equal(same, joined["__present"] & joined["price"])
    assert same.sum() == 29


def test_a_key_too_wide_for_one_integer_is_matched_by_joining_the_decoded_rows(store: Store, monkeypatch):
    """Forecasts issued years apart for intervals years apart: the key does not fit one int64, so the stored rows
    (read back with their key as integers) are decoded and joined to the batch; a reload writes nothing and a
    revision is found."""
    from engine.store import writer

    issued = pd.to_datetime(["2019-01-01 00:00", "2025-06-01 00:30"], utc=True)
    frame = pd.DataFrame({
        "market": "NEM", "location": np.repeat(["NSW1", "QLD1", "SA1", "TAS1", "VIC1"], 4),
        "variable": "price", "report": "predispatch", "issued_at": np.tile(np.repeat(issued, 2), 5),
        "interval_minutes": 30, "interval_start": np.tile(pd.to_datetime(["2019-01-01 01:00", "2030-12-31 23:30"],
                                                                          utc=True), 10),
        "value": np.arange(20.0), "source": "run.csv"})
    joins = []
    join = writer._same_by_merge
    monkeypatch.setattr(writer, "_same_by_merge", lambda *args: joins.append(1) or join(*args))
    assert write_tables(store, {"operator_forecasts": frame}).written == {"operator_forecasts": 20}
    assert write_tables(store, {"operator_forecasts": frame}).rows_written == 0
    revised = frame.assign(value=np.where(np.arange(20) == 7, -1.0, frame["value"]))
    report = write_tables(store, {"operator_forecasts": revised})
    assert report.written == {"operator_forecasts": 1} and report.revised == {"operator_forecasts": 1}
    assert len(joins) == 2  # the reload and the revision met stored rows, and joined them
    assert store.scalar("SELECT value FROM operator_forecasts FINAL WHERE location = 'QLD1' "
                        "AND interval_start > '2030-01-01'  AND issued_at > '2025-01-01'") == -1.0


@pytest.mark.parametrize("nodes", [3, 70])  # labels read back by position in the list, and through a hash table
def test_a_reload_of_many_or_few_series_finds_every_stored_row_and_each_revision(store: Store, nodes):
    from engine.store.writer import _SCANNED_LABELS

    names = [f"N{i:03d}" for i in range(nodes)][::-1]  # not in label order
    assert (nodes > _SCANNED_LABELS) == (nodes == 70)
    frame = _nodal(names, "2024-05-01", 6)
    assert write_tables(store, {"nodal_lmp": frame}).written == {"nodal_lmp": 6 * nodes}
    assert write_tables(store, {"nodal_lmp": frame}).rows_written == 0
    revised = frame.copy()
    revised.loc[revised["node"] == "N001", "energy"] = 21.5  # its NaN energy too: a value where there was none
    more = _nodal(["N001", "X"], "2024-05-01 06:00", 2)  # new rows after the stored ones, and a new node
    report = write_tables(store, {"nodal_lmp": pd.concat([revised, more], ignore_index=True)})
    assert report.revised == {"nodal_lmp": 6} and report.written == {"nodal_lmp": 10}
    assert store.scalar("SELECT count() FROM nodal_lmp FINAL WHERE node = 'N001' AND energy = 21.5") == 6
    _rebuild_equals_stored(store)


def test_a_version_moves_whatever_the_writing_hosts_clock_says(store: Store, monkeypatch):
    """Versions come from the store's clock: a host whose clock is behind (one of several writing to a server)
    still moves a market's version, so cached answers about it are dropped."""
    import time

    versions.bump(store, ["NEM"])
    before = versions.market_version(store, "NEM")
    monkeypatch.setattr(time, "time_ns", lambda: 1_000_000_000)  # 1970, a second after the epoch
    versions.bump(store, ["NEM"])
    assert versions.market_version(store, "NEM") > before


def test_a_version_bump_raises_each_market_named_and_no_other(store: Store):
    versions.bump(store, ["IESO"])
    ieso = versions.market_version(store, "IESO")
    versions.bump(store, ["NEM", "PJM", "", "NEM"])  # repeats and blanks name no other market
    assert versions.market_version(store, "NEM") == versions.market_version(store, "PJM") > ieso
    assert versions.market_version(store, "IESO") == ieso
    assert store.scalar("SELECT count() FROM data_versions WHERE market = ''") == 0
    changed = store.scalar("SELECT max(changed_at) FROM data_versions WHERE market = 'PJM'")
    assert changed.tzinfo is not None and abs(pd.Timestamp.now(tz="UTC") - changed) < pd.Timedelta(minutes=1)
