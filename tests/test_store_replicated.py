"""Tables in a ClickHouse database of the Replicated engine (docs/deploy.md, "A cluster"): the migration runner, and
the marketplace for a data product's table, create every table on the Replicated counterpart of its engine, since
open-source ClickHouse keeps a plain ``MergeTree`` table there as each replica's own."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import uuid

from engine.marketplace import data, products
from engine.store import Store, migrate
from engine.store.engines import is_replicated, replicated_engines
from engine.store.migrations import Migration, discover

_REPLICATED = re.compile(r"\bReplicated(\w*MergeTree)\b")
_ENGINE = re.compile(r"\bENGINE\s*=\s*(\w+)", re.IGNORECASE)


def _unreplicated(sql: str) -> str:
    return _REPLICATED.sub(r"\1", sql)


class _SeenAsReplicated:
    """A chDB store that says its database is of the Replicated engine, and records the statements the runner sends.

    chDB can create Replicated tables but not write them (a replica there has no interserver address, so it stays
    read-only), so each statement runs with its engines made plain again: what runs is checked to be the ordinary
    schema, what was sent to be replicated throughout."""

    def __init__(self, store: Store):
        self.store = store
        self.database = store.database
        self.sent: list[str] = []

    def scalar(self, sql: str, params=None):
        if "system.databases" in sql:
            return "Replicated"
        return self.store.scalar(sql, params)

    def command(self, sql: str, params=None):
        self.sent.append(sql)
        return self.store.command(_unreplicated(sql), params)

    def __getattr__(self, name: str):  # reads and row inserts go straight to the store
        return getattr(self.store, name)


def test_a_chdb_database_is_not_replicated(store: Store):
    assert not is_replicated(store)
    assert all(e.startswith(("Replacing", "Aggregating", "MergeTree"))
               for e in store.query_df("SELECT engine FROM system.tables WHERE database = currentDatabase() "
                                       "AND engine LIKE '%MergeTree'")["engine"])


def test_in_a_replicated_database_every_table_is_created_on_a_replicated_engine(store_url: str):
    plain = Store(store_url)
    seen = _SeenAsReplicated(plain)
    try:
        assert migrate(seen) == [m.version for m in discover()]
        engines = [e for sql in seen.sent for e in _ENGINE.findall(sql)]
        assert engines and all(e.startswith("Replicated") for e in engines), sorted(set(engines))
        assert {"ReplicatedReplacingMergeTree", "ReplicatedAggregatingMergeTree", "ReplicatedMergeTree"} <= set(engines)
        assert any("schema_migrations" in sql and "ReplicatedReplacingMergeTree" in sql for sql in seen.sent)
        # The checksums are of the files, as in any other store: a replica's ledger reads like a single node's.
        recorded = dict(plain.query_rows("SELECT version, checksum FROM schema_migrations FINAL"))
        assert recorded == {m.version: m.checksum for m in discover()}
        seen.sent.clear()
        assert migrate(seen) == []
        assert len(seen.sent) == 1 and "ENGINE = ReplicatedReplacingMergeTree" in seen.sent[0]  # the ledger's
    finally:
        plain.command(f"DROP DATABASE IF EXISTS `{plain.database}`")
        plain.close()


def test_a_data_products_table_in_a_replicated_database_is_replicated(store: Store):
    """A partner's upload makes its product's table at run time: on a replica, a plain table would keep the rows
    on the replica that took the upload."""
    seen = _SeenAsReplicated(store)
    product = products.create_product(store, editor="p1", actor="p", slug="acme-wind", title="Acme wind",
                                      description="", markets=["NEM"], category="generation",
                                      update_frequency="hourly",
                                      columns=[{"name": "time", "type": "datetime"}, {"name": "mw", "type": "float"}])
    assert data.upload(seen, product, b"time,mw\n2026-03-01T00:00:00Z,1.5\n", "a.csv", actor="p") == (1, 1)
    created = [sql for sql in seen.sent if "CREATE TABLE" in sql]
    assert len(created) == 1 and data.table_name(product) in created[0]
    assert _ENGINE.findall(created[0]) == ["ReplicatedMergeTree"]
    # what ran is the table with its engine made plain again (chDB cannot write a replica): the upload's rows are in it
    assert "ENGINE = MergeTree\n" in store.query_rows(f"SHOW CREATE TABLE `{data.table_name(product)}`")[0][0]


def test_the_replicated_schema_differs_from_the_single_node_one_by_engine_names_alone():
    for mig in discover():
        replicated = mig.statements("db", replicated=True)
        assert [_unreplicated(s) for s in replicated] == mig.statements("db"), mig.name
    assert replicated_engines("ENGINE = ReplacingMergeTree(batch_id) ORDER BY k") == (
        "ENGINE = ReplicatedReplacingMergeTree(batch_id) ORDER BY k")
    assert replicated_engines("ENGINE=MergeTree ORDER BY k") == "ENGINE = ReplicatedMergeTree ORDER BY k"
    once = replicated_engines("ENGINE = AggregatingMergeTree PARTITION BY y ORDER BY k")
    assert replicated_engines(once) == once  # already replicated: left alone
    assert replicated_engines("ENGINE = Memory") == "ENGINE = Memory"
    assert Migration(1, "x", "CREATE TABLE a (x UInt8) ENGINE = SummingMergeTree ORDER BY x;\n").statements(
        "db", replicated=True) == ["CREATE TABLE a (x UInt8) ENGINE = ReplicatedSummingMergeTree ORDER BY x"]


_CREATE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?\w+`?", re.IGNORECASE)

#: Runs in a process of its own (chDB reads a configuration once per process): ClickHouse's in-process test Keeper
#: and the {shard}/{replica} macros a cluster's servers define, then each CREATE TABLE given on stdin.
_CREATE_ON_REPLICATED_ENGINES = textwrap.dedent("""
    import json, os, sys
    import chdb
    work, statements = sys.argv[1], json.load(sys.stdin)
    with open(os.path.join(work, "config.xml"), "w") as f:
        f.write("<clickhouse><zookeeper><implementation>testkeeper</implementation></zookeeper>"
                "<macros><shard>01</shard><replica>r1</replica></macros></clickhouse>")
    conn = chdb.connect(f"file:{work}/store?config-file={work}/config.xml")
    cur = conn.cursor()
    cur.execute("CREATE DATABASE scratch ENGINE = Atomic")
    refused = []
    for sql in statements:
        try:
            cur.execute(sql)
        except Exception as exc:
            refused.append([sql[:200], str(exc)[:300]])
    cur.execute("SELECT table, engine, zookeeper_path, replica_name FROM system.replicas "
                "JOIN system.tables USING (database, table) WHERE database = 'scratch'")
    print(json.dumps({"refused": refused, "replicas": [list(r) for r in cur.fetchall()]}), flush=True)
    os._exit(0)  # a replicated table's shutdown waits on a Keeper session chDB never closes
""")


def test_clickhouse_accepts_every_replicated_table_the_runner_creates(tmp_path):
    """ClickHouse's own engine registration takes each replicated CREATE TABLE: engine arguments kept, the Keeper
    path and replica name the server's defaults (``/clickhouse/tables/{uuid}/{shard}``, ``{replica}``). Each table
    is named anew with an explicit UUID, which a Replicated database gives its tables itself."""
    creates = []
    for mig in discover():
        for sql in mig.statements("scratch", replicated=True):
            if _CREATE.match(sql):
                name = f"t{len(creates)}"
                creates.append((name, _CREATE.sub(f"CREATE TABLE scratch.{name} UUID '{uuid.uuid4()}'", sql, count=1)))
    ledger = ("CREATE TABLE schema_migrations (version UInt32) ENGINE = ReplacingMergeTree ORDER BY version")
    creates.append(("ledger", _CREATE.sub(f"CREATE TABLE scratch.ledger UUID '{uuid.uuid4()}'",
                                          replicated_engines(ledger), count=1)))
    assert len(creates) > 40
    done = subprocess.run([sys.executable, "-c", _CREATE_ON_REPLICATED_ENGINES, str(tmp_path)],
                          input=json.dumps([sql for _, sql in creates]), capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["refused"] == []
    replicas = {table: (engine, path, replica) for table, engine, path, replica in answer["replicas"]}
    assert set(replicas) == {name for name, _ in creates}
    for name, sql in creates:
        engine, path, replica = replicas[name]
        assert engine == _ENGINE.search(sql).group(1)
        table_uuid = re.search(r"UUID '([0-9a-f-]+)'", sql).group(1)
        assert (path, replica) == (f"/clickhouse/tables/{table_uuid}/01", "r1")
