"""The store process (engine/store/server.py): one process holds the chDB directory and the Store API works
against it over ClickHouse's HTTP interface, as it does against a ClickHouse server."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from engine import jobs
from engine.files import RawFile
from engine.store import Store, StoreError, migrate, write_tables
from engine.store.migrations import discover
from engine.store.server import PASSWORD_ENV, counts_file, first_keyword, split_insert
from ingest.nem import NemConnector
from tests.conftest import REPO_ROOT
from tests.support.ports import STORE_PROCESSES, free_port


class StoreProcess:
    def __init__(self, directory: Path, env: dict[str, str] | None = None):
        self.directory = directory
        self.port = free_port(STORE_PROCESSES)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.store.server", f"chdb://{directory}", "--port", str(self.port)],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "C254_LOG_LEVEL": "WARNING", **(env or {})})
        line = self.proc.stdout.readline()
        if not line.startswith("listening on"):
            self.proc.kill()
            raise AssertionError(f"store process did not start: {line}{self.proc.stderr.read()}")

    def url(self, database: str, credentials: str = "", query: str = "") -> str:
        return f"http://{credentials}127.0.0.1:{self.port}/{database}{query}"

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return err


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = StoreProcess(tmp_path_factory.mktemp("store-process") / "store")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def remote(server) -> Store:
    store = Store(server.url("c254_remote"))
    assert not store.embedded
    assert migrate(store) == [m.version for m in discover()]
    yield store
    store.close()


def test_migrations_run_once_through_the_store_process(remote: Store):
    assert migrate(remote) == []
    tables = set(remote.query_df("SELECT name FROM system.tables WHERE database = currentDatabase()")["name"])
    assert {"prices", "demand", "interconnector_flows", "prices_hourly", "schema_migrations"} <= tables
    assert remote.scalar("SELECT dictGet('market_dict', 'timezone', tuple('NEM'))") == "Etc/GMT-10"


def test_a_job_run_round_trips_with_its_rows_by_table(remote: Store):
    run = jobs.JobRun(job="backfill:nem", market="NEM", connector="nem",
                      range_start=pd.Timestamp("2024-01-01", tz="UTC"))
    run.add_written({"prices": 7, "demand": 5})
    run.finish(remote, "succeeded")
    saved = jobs.get_run(remote, run.run_id)
    assert (saved["connector"], saved["rows_by_table"]) == ("nem", {"prices": 7, "demand": 5})
    assert saved["range_start"] == pd.Timestamp("2024-01-01", tz="UTC") and saved["finished_at"] == run.finished_at


def test_an_interrupted_run_is_marked_through_the_store_process_and_ends_at_its_last_save(remote: Store,
                                                                                            monkeypatch):
    """The HTTP store's timestamps compare with the wall clock, and the run ends at its last save, not at a
    restart an hour later."""
    run = jobs.JobRun(job="train:NEM:NSW1", market="NEM", owner="")  # a run from before runs had owners: gone
    run.save(remote)
    restart = jobs.wall_ms() + pd.Timedelta(hours=1)
    monkeypatch.setattr(jobs, "wall_ms", lambda: restart)
    monkeypatch.setattr(jobs, "now_ms", lambda: restart)
    assert jobs.mark_interrupted(remote) >= 1
    saved = jobs.get_run(remote, run.run_id)
    assert saved["status"] == "failed" and saved["finished_at"] - saved["started_at"] < pd.Timedelta(seconds=5)


def test_every_column_type_round_trips(remote: Store):
    remote.command("CREATE TABLE IF NOT EXISTS kinds (k UInt64, lc LowCardinality(String), s String, "
                   "t DateTime64(3, 'UTC'), tn Nullable(DateTime64(3, 'UTC')), u32 UInt32, u16 UInt16, u8 UInt8, "
                   "i8 Int8, i32 Int32, f Float64, f32 Float32, fn Nullable(Float64), tags Array(String), "
                   "xs Array(Float64), b Bool, d Decimal(18, 6)) ENGINE = MergeTree ORDER BY k")
    n = 5
    t = pd.date_range("2024-03-31 14:00", periods=n, freq="5min", tz="UTC")
    frame = pd.DataFrame({
        "k": np.arange(n, dtype="uint64"), "lc": pd.Categorical(["NEM", "IESO", "NEM", "PJM", "NEM"]),
        "s": ["a", "it's", "", "ünï", "tab\there"], "t": t, "tn": [t[0], pd.NaT, t[2], pd.NaT, t[4]],
        "u32": np.array([0, 1, 2**32 - 1, 3, 4], dtype="uint32"), "u16": np.arange(n, dtype="uint16"),
        "u8": np.arange(n, dtype="uint8"), "i8": np.array([-128, -1, 0, 1, 127], dtype="int8"),
        "i32": np.array([-5, 0, 5, 2**31 - 1, -(2**31)], dtype="int32"), "f": [0.5, -1.25, 1e300, 0.0, 3.0],
        "f32": np.array([0.5, 1.5, 2.5, 3.5, 4.5], dtype="float32"), "fn": [1.0, None, np.nan, 4.0, None],
        "tags": [["a", "b"], [], ["c"], ["d", "e", "f"], [""]], "xs": [[1.0], [], [2.5, 3.5], [0.0], [-1.0]],
        "b": [True, False, True, True, False], "d": [0.5, 1.25, 2.0, 3.125, 4.0]})
    remote.insert_df("kinds", frame)
    back = remote.query_df("SELECT * FROM kinds ORDER BY k")
    assert back["k"].tolist() == list(range(n))
    assert back["lc"].astype(str).tolist() == ["NEM", "IESO", "NEM", "PJM", "NEM"]
    assert back["s"].tolist() == ["a", "it's", "", "ünï", "tab\there"]
    assert back["t"].dt.tz is not None and list(back["t"]) == list(t)
    assert back["tn"].isna().tolist() == [False, True, False, True, False]
    assert list(back["tn"].dropna()) == [t[0], t[2], t[4]]
    assert back["u32"].tolist() == [0, 1, 2**32 - 1, 3, 4]
    assert back["i8"].tolist() == [-128, -1, 0, 1, 127]
    assert back["i32"].tolist() == [-5, 0, 5, 2**31 - 1, -(2**31)]
    assert back["f"].tolist() == [0.5, -1.25, 1e300, 0.0, 3.0]
    assert back["f32"].tolist() == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert back["fn"].isna().tolist() == [False, True, True, False, True]
    assert [list(x) for x in back["tags"]] == [["a", "b"], [], ["c"], ["d", "e", "f"], [""]]
    assert [list(x) for x in back["xs"]] == [[1.0], [], [2.5, 3.5], [0.0], [-1.0]]
    assert back["b"].tolist() == [True, False, True, True, False]
    assert [float(x) for x in back["d"]] == [0.5, 1.25, 2.0, 3.125, 4.0]


def test_bind_parameters_and_an_empty_answer_keep_their_types(remote: Store):
    idx = pd.date_range("2024-01-01", periods=96, freq="30min", tz="UTC")
    frame = pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement", "interval_start": idx,
                          "interval_minutes": 30, "price": np.arange(96.0), "source": "f.csv"})
    assert write_tables(remote, {"prices": frame}).written == {"prices": 96}
    assert write_tables(remote, {"prices": frame}).written == {"prices": 0}
    sql = ("SELECT interval_start, price FROM prices FINAL WHERE location = {l:String} AND market = {m:String} "
           "AND interval_start >= {t:DateTime64(3, 'UTC')} ORDER BY interval_start")
    back = remote.query_df(sql, {"l": "SA1", "m": "NEM", "t": idx[90]})
    assert list(back["interval_start"]) == list(idx[90:])
    assert back["price"].tolist() == [90.0, 91.0, 92.0, 93.0, 94.0, 95.0]
    none = remote.query_df(sql, {"l": "nowhere", "m": "NEM", "t": idx[0]})
    assert none.empty and none.dtypes.to_dict() == back.dtypes.to_dict()
    # a parameter too long for a URL: clickhouse-connect sends the query and its parameters as a form
    assert remote.scalar("SELECT length({s:String})", {"s": "x" * 50_000}) == 50_000


@pytest.mark.realdata
def test_a_real_nem_batch_is_written_whole_and_once(remote: Store, data_dir: Path):
    aemo = data_dir / "markets" / "aemo"
    files = [aemo / "price_and_demand" / "PRICE_AND_DEMAND_201602_SA1.csv",
             aemo / "mmsdm_nemosis_filtered" / "PUBLIC_ARCHIVE#DISPATCHINTERCONNECTORRES#FILE01#202408010000.zip"]
    for path in files:
        tables = NemConnector().parse(RawFile.from_path(path)).tables
        report = write_tables(remote, tables)
        assert report.written == {name: len(frame) for name, frame in tables.items()}, path.name
        assert write_tables(remote, tables).written == dict.fromkeys(tables, 0)
        for name, frame in tables.items():
            value = {"prices": "price", "demand": "demand_mw", "interconnector_flows": "mw_flow"}[name]
            stored = remote.query_df(f"SELECT count() n, sum({value}) v FROM {name} FINAL "
                                     "WHERE source = {s:String}", {"s": str(frame["source"].iat[0])})
            assert int(stored["n"].iat[0]) == len(frame)
            assert stored["v"].iat[0] == pytest.approx(frame[value].sum())


@pytest.mark.parametrize("compress", ["false", "zstd", "gzip", "lz4"])
def test_inserts_arrive_with_each_body_encoding(server, compress):
    store = Store(server.url("c254_encodings", query=f"?compress={compress}"))
    store.command("CREATE TABLE IF NOT EXISTS e (k UInt32, s String, enc String) ENGINE = MergeTree ORDER BY k")
    n = 200_000  # several Native blocks, so several compressed frames in one body
    store.insert_df("e", pd.DataFrame({"k": np.arange(n, dtype="uint32"), "s": ["v"] * n, "enc": compress}))
    got = store.query_df("SELECT count() n, sum(k) total FROM e WHERE enc = {e:String}", {"e": compress})
    assert int(got["n"].iat[0]) == n and int(got["total"].iat[0]) == n * (n - 1) // 2
    store.close()


def test_errors_come_back_as_clickhouse_errors_and_the_server_goes_on(remote: Store):
    with pytest.raises(StoreError, match="no_such_table.*UNKNOWN_TABLE"):
        remote.scalar("SELECT count() FROM no_such_table")
    with pytest.raises(DatabaseError) as raised:
        remote.client.query("SELECT count() FROM no_such_table")
    assert raised.value.code == 60
    with pytest.raises(StoreError, match="insert into no_such_table failed"):
        remote.insert_df("no_such_table", pd.DataFrame({"a": [1]}))
    with pytest.raises(StoreError, match="Syntax error"):
        remote.command("SELEC 1")
    # and it still answers (a count of the migrated schema's tables: no other test's rows needed)
    assert remote.scalar("SELECT count() FROM system.tables WHERE database = currentDatabase()") > 10


def test_settings_last_for_their_request_and_unknown_ones_are_refused(remote: Store):
    client = remote.client
    default = client.command("SELECT getSetting('max_threads')")
    assert client.command("SELECT getSetting('max_threads')", settings={"max_threads": 1}) == 1
    assert client.command("SELECT getSetting('max_threads')") == default
    with pytest.raises(DatabaseError, match="Unknown setting"):
        client.query("SELECT 1", settings={"no_such_setting_anywhere": 1})
    # a SET statement lasts for its own request, as on a server without sessions
    client.command("SET max_threads = 1")
    assert client.command("SELECT getSetting('max_threads')") == default


def test_two_queries_run_side_by_side(remote: Store):
    """Each request gets a chDB connection of its own: two one-second sleeps end together, not one after the
    other (sleeping uses no CPU, so a loaded machine does not blur the difference)."""
    answers, errors, ended = {}, [], {}
    ready = threading.Barrier(3)

    def ask(name: str) -> None:
        try:
            remote.scalar("SELECT 1")  # this thread's client opened before the clock starts
            ready.wait()
            answers[name] = remote.scalar("SELECT count() FROM numbers(2) WHERE sleepEachRow(0.5) = 0")
            ended[name] = time.perf_counter()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    ready.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    assert not errors and answers == {"a": 2, "b": 2}
    elapsed = max(ended.values()) - started
    assert 0.95 < elapsed < 1.6, f"two 1 s queries took {elapsed:.2f} s together: they ran one after the other"


def test_a_second_store_process_on_the_same_directory_is_refused(server):
    port = str(free_port(STORE_PROCESSES))
    other = subprocess.run([sys.executable, "-m", "engine.store.server", f"chdb://{server.directory}",
                            "--port", port], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert other.returncode == 1
    assert "held by another process" in other.stderr and str(server.directory) in other.stderr
    assert f"PID {server.proc.pid}" in other.stderr
    assert Store(server.url("c254_remote")).scalar("SELECT 1") == 1  # the first one still serves


def test_the_store_server_keeps_what_it_holds_for_its_life_out_of_the_collectors_sight(tmp_path):
    """Every full garbage collection in the store server walked its modules and store with the GIL held, a pause
    of every worker's query: once it listens they are frozen (app.store_process does the same with the
    scheduler's app beside them, tested above)."""
    proc = StoreProcess(tmp_path / "store", env={"C254_LOG_LEVEL": "INFO"})
    assert Store(proc.url("c254_frozen")).scalar("SELECT 1") == 1
    err = proc.stop()
    frozen = re.search(r"(\d+) objects held for the process's life frozen", err)
    assert frozen and int(frozen[1]) > 20_000, err[-2000:]

def test_a_password_is_required_when_set(tmp_path):
    proc = StoreProcess(tmp_path / "guarded", env={PASSWORD_ENV: "s3cret"})
    try:
        assert Store(proc.url("c254", "default:s3cret@")).scalar("SELECT 2") == 2
        with pytest.raises(StoreError, match="Authentication failed"):
            Store(proc.url("c254", "default:wrong@")).scalar("SELECT 2")
        with pytest.raises(StoreError, match="Authentication failed"):
            Store(proc.url("c254")).scalar("SELECT 2")
    finally:
        proc.stop()


def test_listening_beyond_this_machine_needs_a_password(tmp_path):
    port = str(free_port(STORE_PROCESSES))
    run = subprocess.run([sys.executable, "-m", "engine.store.server", f"chdb://{tmp_path / 's'}", "--host",
                          "0.0.0.0", "--port", port], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=60, env={k: v for k, v in os.environ.items() if k != PASSWORD_ENV})
    assert run.returncode == 1 and PASSWORD_ENV in run.stderr


def test_statement_splitting():
    native = b"INSERT INTO `t` (`a`, `b`) FORMAT Native\n\x09\x02rest"
    insert = split_insert(native)
    assert insert.statement == "INSERT INTO `t` (`a`, `b`)" and insert.fmt == "Native"
    assert native[insert.data_start:] == b"\x09\x02rest"  # a first byte that reads as a blank is data
    header = b"INSERT INTO t (`format`) FORMAT TSV"
    assert split_insert(header).data_start == len(header)
    assert split_insert(b"INSERT INTO t VALUES (1, 'FORMAT x')") is None
    assert split_insert(b"INSERT INTO t SELECT * FROM u") is None
    assert split_insert(b"SELECT 'INSERT' FORMAT Native") is None
    assert split_insert(b"/* FORMAT Native */ INSERT INTO t -- FORMAT x\n FORMAT CSV\r\n1,2").fmt == "CSV"
    assert first_keyword(b"  -- note\n  set max_threads = 1") == "SET"
    assert first_keyword(b"(SELECT 1)") == "("


def _requests_counted(histograms: Path, route: str) -> float:
    """How many requests to ``route`` one worker's own file of histograms counts (prometheus-client's
    multiprocess files, one per process)."""
    if not histograms.exists():
        return 0.0
    counted = 0.0
    for key, value, *_ in MmapedDict.read_all_values_from_file(str(histograms)):
        _metric, sample, labels, *_ = json.loads(key)
        # a process's file holds each bucket's own count (the collector makes them cumulative and sums _count)
        if sample == "c254_request_seconds_bucket" and labels.get("route") == route:
            counted += value
    return counted


def test_the_app_serves_from_two_workers_through_the_store_process(tmp_path):
    """app/store_process.py: store init on the embedded store, then the store process with the scheduler, and
    two gunicorn workers whose store is the store process; SIGTERM stops them all (promptly even while a
    forecast model trains: tests/test_jobs.py, app.scheduler.end_background)."""
    import requests

    port, store_port = free_port(STORE_PROCESSES), free_port(STORE_PROCESSES)
    env = {**os.environ, "C254_STORE": f"chdb://{tmp_path / 'store'}", "C254_DEMO": "0", "C254_AUTH": "0",
           "C254_SECRET_KEY": "store-process-test", "C254_LOG_FORMAT": "text", "PORT": str(port),
           "C254_STORE_PORT": str(store_port), "WEB_WORKERS": "2", "WEB_THREADS": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir()
    # Its log goes to a file, not a pipe this test reads only at the end: every request logs a line, and a pipe's
    # 64 KiB fill after some hundreds of them, when a worker's next line blocks it mid-request.
    log = tmp_path / "store_process.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "app.store_process"], cwd=REPO_ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        for _ in range(360):
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        else:
            raise AssertionError("the app did not become ready")
        assert ready.json()["checks"] == {"store": "ok", "migrations": "ok", "cache": "ok"}
        remote = Store(f"http://127.0.0.1:{store_port}/c254")
        assert remote.scalar("SELECT count() FROM schema_migrations FINAL") == len(discover())
        master = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        workers = [int(p) for m in master for p in Path(f"/proc/{m}/task/{m}/children").read_text().split()]
        assert len(workers) == 2
        for pid in workers:
            environ = dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in v)
            assert environ["C254_STORE"] == (f"http://127.0.0.1:{store_port}/c254?compress=false&writes="
                                             f"{quote(str((tmp_path / 'store.writes').resolve()))}")
            assert environ["C254_SCHEDULER"] == "0"
            assert environ["C254_WARMING"] == "watch"  # no Redis: each worker warms its own cache (app.warming)
        for _ in range(6):  # either worker answers a page from the store it reaches over HTTP
            assert requests.get(f"http://127.0.0.1:{port}/", timeout=60).status_code == 200
        # side by side until both workers have answered some (the kernel hands each connection to either)
        answered: dict[int, float] = {}
        with ThreadPoolExecutor(8) as pool:
            for _ in range(20):
                assert set(pool.map(lambda _: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=60)
                                    .status_code, range(40))) == {200}
                answered = {pid: _requests_counted(tmp_path / "metrics" / f"histogram_{pid}.db", "/healthz")
                            for pid in workers}
                if all(answered.values()):
                    break
        assert all(answered.values()), f"a worker answered none: {answered}"
        # /metrics sums the workers (multiprocess mode): whichever answers the scrape counts every request
        for _ in range(4):
            families = {f.name: f for f in text_string_to_metric_families(
                requests.get(f"http://127.0.0.1:{port}/metrics", timeout=60).text)}
            counts = {s.labels["route"]: s.value for s in families["c254_request_seconds"].samples
                      if s.name == "c254_request_seconds_count"}
            every_file = sum(_requests_counted(f, "/healthz") for f in (tmp_path / "metrics").glob("histogram_*.db"))
            assert counts["/"] == 6 and counts["/healthz"] == every_file >= 40, (counts, answered)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    err = log.read_text()
    assert proc.returncode == 0, err
    assert "scheduler started" in err  # in the store process, on the embedded store
    assert "Traceback" not in err
    # what it holds for its life (the scheduler's app) is out of the collector's sight, as a web worker's is: each
    # full collection walked it all with the GIL held, a pause of every worker's queries
    frozen = re.search(r"(\d+) objects held for the process's life frozen", err)
    assert frozen and int(frozen[1]) > 100_000, err[-2000:]


def test_a_worker_remembers_a_lookup_until_the_store_process_writes_a_table_it_reads(server, remote: Store):
    """A worker's URL names the store process's counts of writes (as app.store_process gives it): a lookup is then
    answered from memory until a write through the store process (by any process) touches a table it reads."""
    remote.command("CREATE TABLE IF NOT EXISTS seen (k String) ENGINE = MergeTree ORDER BY k")
    remote.command("CREATE TABLE IF NOT EXISTS other (k String) ENGINE = MergeTree ORDER BY k")
    counts = counts_file(server.directory.resolve())
    assert counts.exists()
    worker = Store(server.url("c254_remote", query=f"?writes={quote(str(counts))}"))
    runs = []

    def ask():
        return worker.remember(("seen",), "count", lambda: runs.append(1) or worker.scalar("SELECT count() FROM seen"))

    try:
        assert (ask(), ask(), len(runs)) == (0, 0, 1)
        remote.command("INSERT INTO other VALUES ('a')")
        assert (ask(), len(runs)) == (0, 1), "a write to another table keeps the answer"
        remote.command("INSERT INTO seen VALUES ('a')")  # another process's write, through the store process
        assert (ask(), ask(), len(runs)) == (1, 1, 2), "seen by the next lookup"
        remote.insert_df("seen", pd.DataFrame({"k": ["b", "c"]}))  # rows in the body (INSERT ... FORMAT)
        assert (ask(), len(runs)) == (3, 3)
        remote.command("TRUNCATE TABLE seen")
        assert (ask(), len(runs)) == (0, 4)
    finally:
        worker.close()
    without = Store(server.url("c254_remote", query=f"?writes={quote(str(counts))}.missing"))
    try:
        assert [without.remember(("seen",), "count", lambda: runs.append(1)) for _ in range(2)] and len(runs) == 6
    finally:
        without.close()


def test_the_http_exchange_as_clickhouse_words_it(server):
    import requests

    base = f"http://127.0.0.1:{server.port}"
    assert requests.get(f"{base}/ping", timeout=10).text == "Ok.\n"
    ok = requests.post(f"{base}/?query=SELECT%20", data=b"{x:UInt8} + 1", params={"param_x": "41"}, timeout=10)
    assert ok.status_code == 200 and ok.text == "42\n"
    assert ok.headers["X-ClickHouse-Format"] == "TabSeparated" and ok.headers["X-ClickHouse-Query-Id"]
    assert json.loads(ok.headers["X-ClickHouse-Summary"])["read_rows"] == "1"
    missing = requests.post(f"{base}/", data=b"SELECT * FROM no_such_table", timeout=10)
    assert missing.status_code == 404 and missing.headers["X-ClickHouse-Exception-Code"] == "60"
    assert missing.text.startswith("Code: 60. DB::Exception:") and "(UNKNOWN_TABLE)" in missing.text
    refused = requests.post(f"{base}/", params={"compress": "1"}, data=b"SELECT 1", timeout=10)
    assert refused.status_code == 400 and refused.headers["X-ClickHouse-Exception-Code"] == "36"
    odd = requests.post(f"{base}/", data=b"SELECT 1", headers={"Content-Encoding": "br2"}, timeout=10)
    assert odd.status_code == 400 and "br2" in odd.text
    assert requests.get(f"{base}/elsewhere", timeout=10).status_code == 404


def test_the_web_servers_end_when_the_store_process_is_killed(tmp_path):
    """A store process killed outright (kill -9, the OOM killer) takes its gunicorn with it, rather than leave it
    answering 503 with no store behind it and holding the web port, which a new start could then not bind."""
    import requests

    port, store_port = free_port(STORE_PROCESSES), free_port(STORE_PROCESSES)
    env = {**os.environ, "C254_STORE": f"chdb://{tmp_path / 'store'}", "C254_DEMO": "0", "C254_AUTH": "0",
           "C254_SCHEDULER": "0", "C254_SECRET_KEY": "store-process-test", "C254_LOG_FORMAT": "text",
           "PORT": str(port), "C254_STORE_PORT": str(store_port), "WEB_WORKERS": "1", "WEB_THREADS": "2"}
    log = tmp_path / "store_process.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "app.store_process"], cwd=REPO_ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=log_file)
    master = None
    try:
        for _ in range(360):
            assert proc.poll() is None, log.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("the app did not become ready")
        (master,) = (int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split())
        proc.kill()
        proc.wait(timeout=30)
        for _ in range(300):
            if not Path(f"/proc/{master}").exists() or "Z" in Path(f"/proc/{master}/stat").read_text().split()[2]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("gunicorn went on without its store process")
        with socket.socket() as again:  # the port is free for the next start
            again.bind(("127.0.0.1", port))
    finally:
        if master is not None and Path(f"/proc/{master}").exists():
            os.kill(master, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_an_insert_whose_client_dies_mid_body_writes_nothing(server, remote: Store, framing):
    """A backfill killed while sending a batch: the store process wrote the blocks it had formed from what
    arrived (524,288 of a batch's rows, none of their hourly buckets) and, for a chunked body, took the closed
    connection for its end. Now it reads the whole body first; one that ends early writes nothing."""
    remote.command("CREATE TABLE IF NOT EXISTS cut_short (n UInt64) ENGINE = MergeTree ORDER BY n")
    remote.command("TRUNCATE TABLE cut_short")
    rows = b"".join(b"%d\n" % n for n in range(400_000))
    sent = rows[: len(rows) // 2]
    query = "INSERT INTO cut_short FORMAT TSV"
    head = (f"POST /?database=c254_remote&query={query.replace(' ', '%20')} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        if framing == "chunked":
            conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            for at in range(0, len(sent), 65_536):
                piece = sent[at:at + 65_536]
                conn.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        else:
            conn.sendall(head + b"Content-Length: %d\r\n\r\n" % len(rows) + sent)
        conn.shutdown(socket.SHUT_WR)  # the client dies: no more of the body, no last chunk
        conn.recv(65_536)
    time.sleep(0.5)
    assert remote.query_rows("SELECT count() FROM cut_short")[0][0] == 0
    whole = remote.client.raw_insert("cut_short", insert_block=rows, fmt="TSV")
    assert whole is not None and remote.query_rows("SELECT count() FROM cut_short")[0][0] == 400_000
