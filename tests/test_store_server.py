"""The server path of the store: the same migrations, writes and queries through clickhouse-connect's HTTP
client, against chDB behind ClickHouse's HTTP interface in another process (tests/support/chdb_http.py)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest

from engine import jobs
from engine.store import Store, migrate, write_tables
from engine.store.migrations import discover
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.chdb_http", str(port),
                             str(tmp_path_factory.mktemp("server-store"))], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    for _ in range(50):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://default:@127.0.0.1:{port}/c254_server?compress=false"
    proc.terminate()
    proc.wait(10)


def test_migrations_writes_and_queries_over_http(server_url):
    store = Store(server_url)
    assert not store.embedded
    assert store.database == "c254_server"
    assert migrate(store) == [m.version for m in discover()]
    assert migrate(store) == []
    idx = pd.date_range("2024-01-01", periods=96, freq="30min", tz="UTC")
    frame = pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement", "interval_start": idx,
                          "interval_minutes": 30, "price": np.arange(96.0), "source": "f.csv"})
    assert write_tables(store, {"prices": frame}).written == {"prices": 96}
    assert write_tables(store, {"prices": frame}).written == {"prices": 0}
    back = store.query_df("SELECT interval_start, price FROM prices FINAL WHERE location = {l:String} "
                          "ORDER BY interval_start", {"l": "SA1"})
    assert list(back["interval_start"]) == list(idx)
    assert back["price"].tolist() == list(np.arange(96.0))
    none = store.query_df("SELECT interval_start, price FROM prices FINAL WHERE location = {l:String} "
                          "ORDER BY interval_start", {"l": "nowhere"})
    assert none.dtypes.to_dict() == back.dtypes.to_dict(), "an answer without rows has the columns of one with rows"
    hourly = store.query_df("SELECT sum(samples) n FROM prices_hourly")
    assert int(hourly["n"].iat[0]) == 96
    run = jobs.JobRun(job="backfill:nem", market="NEM", connector="nem")  # its rows by table: a Map column
    run.add_written({"prices": 96, "demand": 0})
    run.finish(store, "succeeded")
    saved = jobs.get_run(store, run.run_id)
    assert (saved["status"], saved["rows_by_table"]) == ("succeeded", {"prices": 96, "demand": 0})


def test_statements_to_a_server_skip_replicated_block_deduplication(server_url):
    """A Replicated table would drop a block equal to one inserted before it (an aggregate rebuilt twice over the same
    rows); the store's batches carry their own identity, so every statement goes with ``insert_deduplicate = 0``."""
    store = Store(server_url)
    try:
        assert int(store.scalar("SELECT getSetting('insert_deduplicate')")) == 0
    finally:
        store.close()


def test_web_workers_on_a_server_do_not_migrate_but_store_init_does(server_url):
    """Several workers may share a server; a table rebuild must not run in two at once, so only the CLI's
    `store init` migrates there and a worker that finds a migration pending refuses to serve."""
    from app.factory import create_app
    from app.settings import Settings
    from engine.store import StoreError

    url = server_url.replace("/c254_server?", "/c254_workers?")
    app = create_app(Settings(store_url=url, scheduler=False, demo=False, auth=False))
    svc = app.server.extensions["c254"]
    with pytest.raises(StoreError, match="store init"):
        svc.ready_store()
    r = app.server.test_client().get("/api/v1/latest?market=NEM")
    assert r.status_code == 503
    assert "store init" in r.get_json()["error"]
    result = app.server.test_cli_runner().invoke(args=["store", "init"])
    assert result.exit_code == 0, result.output
    assert svc.ready_store().scalar("SELECT count() FROM schema_migrations FINAL") == len(discover())
    svc.store.command(f"DROP DATABASE IF EXISTS `{svc.store.database}`")
