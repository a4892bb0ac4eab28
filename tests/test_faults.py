"""Faults survived (issue 14): Redis stopped mid-load, the store unreachable, a connector job failing mid-batch and
the process killed during a backfill. Real processes where the fault is a process: a redis-server started and
killed, chDB behind ClickHouse's HTTP interface (tests/support/chdb_http.py) stopped and started again, a backfill
in a subprocess killed with SIGKILL."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import marketplace_api
from app.counters import CACHE_REQUESTS
from app.services import services
from engine import caching, jobs
from engine.store import Store, StoreError, migrate, write_tables
from tests.conftest import REPO_ROOT
from tests.support.ports import FAULT_SERVERS, free_port
from tests.test_hardening import ORIGIN, callback_key, post_callback

OVERVIEW = {"ov-market.value": "NEM", "ov-location.value": "SA1", "ov-kind.value": "settlement",
            "ov-dates.start_date": "2018-01-01", "ov-dates.end_date": "2018-01-07", "ov-tz.value": "market"}
PRICES_URL = "/api/v1/prices?market=NEM&location=SA1&start=2018-01-01&end=2018-01-08"


def _wait_for(ready, what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def _sa_january(store: Store) -> None:
    idx = pd.date_range("2017-12-31 14:00", "2018-01-31 13:30", freq="30min", tz="UTC")
    write_tables(store, {
        "prices": pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement", "interval_start": idx,
                                "interval_minutes": 30, "price": np.linspace(10, 90, len(idx)), "source": "t.csv"}),
        "demand": pd.DataFrame({"market": "NEM", "location": "SA1", "interval_start": idx, "interval_minutes": 30,
                                "demand_mw": 1500.0, "source": "t.csv"})})


# ------------------------------------------------------------------------------------------------------ Redis

def _counted(result: str) -> float:
    return sum(CACHE_REQUESTS.labels(c, result)._value.get() for c in caching.DATA_CLASSES)


def _drive(dash_app, key: str, seconds: float, threads: int = 3, during=None) -> list[tuple[str, int, object]]:
    """Each of ``threads`` clients asks for the overview's render and the prices API in turn for ``seconds``
    (``during()`` is called half way, from this thread); every answer, as (what, status, body)."""
    answers: list[tuple[str, int, object]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def user() -> None:
        client = dash_app.server.test_client()
        while not stop.is_set():
            r = post_callback(client, dash_app, key, OVERVIEW, origin=ORIGIN)
            rendered = ("render", r.status_code, r.get_json(silent=True) or r.get_data(as_text=True))
            r = client.get(PRICES_URL)
            priced = ("prices", r.status_code, r.get_json(silent=True) or r.get_data(as_text=True))
            with lock:
                answers.extend([rendered, priced])

    workers = [threading.Thread(target=user) for _ in range(threads)]
    for w in workers:
        w.start()
    try:
        time.sleep(seconds / 2)
        if during is not None:
            during()
        time.sleep(seconds / 2)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    return answers


def _assert_all_right(answers, expected: dict[str, object], what: str) -> None:
    assert answers, f"{what}: nothing was answered"
    for name, status, body in answers:
        assert status == 200, f"{what}: {name} answered {status}: {str(body)[:300]}"
        assert body == expected[name], f"{what}: {name} answered something else than with the cache"


def _overview_on_redis(make_app, redis_server):
    """An app caching in ``redis_server`` over SA1's January 2018: (app, its services, a client, the overview
    render's callback key, the render's and the prices API's answers while Redis is up)."""
    dash_app = make_app(redis_url=redis_server.url)
    svc = services(dash_app.server)
    _sa_january(svc.ready_store())
    client = dash_app.server.test_client()
    key = callback_key(dash_app, "ov-series.figure")
    expected = {"render": post_callback(client, dash_app, key, OVERVIEW).get_json(),
                "prices": client.get(PRICES_URL).get_json()}
    return dash_app, svc, client, key, expected


def test_redis_stopped_mid_load_costs_the_cache_never_an_answer(make_app, redis_server):
    dash_app, svc, client, key, expected = _overview_on_redis(make_app, redis_server)
    assert expected["render"]["response"]["ov-error"]["is_open"] is False
    assert len(expected["prices"]["rows"]) == 7 * 48
    assert client.get("/readyz").status_code == 200

    hits = _counted("hit")
    _assert_all_right(_drive(dash_app, key, 0.8), expected, "Redis up")
    assert _counted("hit") > hits, "the overview's answers were not served from Redis"
    assert svc.cache_error == ""

    errors = _counted("error")
    answers = _drive(dash_app, key, 2.0, during=redis_server.kill)
    _assert_all_right(answers, expected, "Redis killed mid-load")
    assert _counted("error") > errors, "the cache's failures were not counted"
    assert "Connection" in svc.cache_error, svc.cache_error
    hits = _counted("hit")
    _assert_all_right(_drive(dash_app, key, 0.8), expected, "Redis down")
    assert _counted("hit") == hits, "answers counted as hits while the cache is down"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["cache"] == "unreachable"
    assert client.get("/healthz").status_code == 200

    redis_server.start()  # the same port, empty: the app's connection pool reconnects by itself
    _assert_all_right(_drive(dash_app, key, 1.2), expected, "Redis back")
    assert _counted("hit") > hits, "caching did not resume when Redis came back"
    assert client.get("/readyz").status_code == 200


def test_a_hung_redis_costs_a_request_its_timeout_never_a_stuck_thread(make_app, redis_server):
    """Redis paused (SIGSTOP: the socket accepts, nothing answers, as in a network partition): each answer comes
    without the cache within the clients' timeout (REDIS_CLIENT_OPTIONS), the calls after a failure pass the
    cache by for a moment instead of each waiting, and caching resumes when Redis does."""
    from app.settings import REDIS_CLIENT_OPTIONS

    dash_app, svc, client, key, expected = _overview_on_redis(make_app, redis_server)
    timeout = REDIS_CLIENT_OPTIONS["socket_timeout"]
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(2):
            for name, ask in (("render", lambda: post_callback(client, dash_app, key, OVERVIEW)),
                              ("prices", lambda: client.get(PRICES_URL))):
                started = time.monotonic()
                answer = ask()
                took = time.monotonic() - started
                assert answer.status_code == 200 and answer.get_json() == expected[name], name
                assert took < 2 * timeout + 1.5, f"{name} took {took:.1f} s with Redis hung"
        assert "Timeout" in svc.cache_error, svc.cache_error
        assert client.get("/readyz").get_json()["checks"]["cache"] == "unreachable"
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    time.sleep(1.1)  # past the moment the cache is passed by
    hits = _counted("hit")
    assert client.get(PRICES_URL).get_json() == expected["prices"]
    assert post_callback(client, dash_app, key, OVERVIEW).get_json() == expected["render"]
    assert _counted("hit") > hits, "caching did not resume when Redis answered again"
    assert client.get("/readyz").status_code == 200


def test_the_limits_on_redis_fail_safe_when_redis_is_down(make_app, redis_server, request):
    """Sign-in keeps counting failures in this process (neither open to guessing nor closed to everyone); the
    product API refuses what it cannot count (503 with Retry-After), and serves again once Redis is back."""
    from engine import accounts
    from tests.support.product_api import product_api
    from tests.support.signin import PASSWORD, sign_in

    served = product_api(make_app, request, "limits-trader@example.com", redis_url=redis_server.url, auth=True,
                         login_limit="3 per 15 minutes")
    dash_app, store, user, live, bearer, url = (served.dash_app, served.store, served.user, served.key,
                                                served.headers, served.url)
    meter = marketplace_api.meter_of(dash_app.server)
    other = accounts.create_user(store, "limits-analyst@example.com", "analyst", PASSWORD)
    api = dash_app.server.test_client()
    assert api.get(url, headers=bearer).status_code == 200

    redis_server.kill()
    guesser = dash_app.server.test_client()
    wrong = [sign_in(guesser, user.email, "not-the-password").status_code for _ in range(4)]
    assert wrong == [401, 401, 401, 429], "failed sign-ins were not limited while Redis was down"
    # the guessed account and the guessing address stay shut; anyone else signs in
    assert sign_in(dash_app.server.test_client(), user.email, environ_base={"REMOTE_ADDR": "127.0.0.9"}
                   ).status_code == 429
    assert sign_in(dash_app.server.test_client(), other.email, environ_base={"REMOTE_ADDR": "127.0.0.9"}
                   ).status_code == 302
    refused = api.get(url, headers=bearer)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"
    assert refused.get_json()["request_id"] == refused.headers["X-Request-ID"]

    redis_server.start()
    assert api.get(url, headers=bearer).status_code == 200
    # counted in Redis again (empty after the restart): the address may try again
    assert sign_in(dash_app.server.test_client(), user.email, "not-the-password").status_code == 401
    meter.flush()
    # the refused call is metered with its status, which no statement bills (only 2xx calls are)
    statuses = store.query_df("SELECT status FROM api_usage WHERE key_id = {k:String} ORDER BY at",
                              {"k": live.key_id})["status"].tolist()
    assert statuses == [200, 503, 200]


# -------------------------------------------------------------------------------------------------- the store

class StoreServer:
    """chDB behind ClickHouse's HTTP interface in another process, on a fixed port and data folder, so that it
    can be stopped and started again as a database server would be."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port(FAULT_SERVERS)
        self.url = f"http://default:@127.0.0.1:{self.port}/c254_faults?compress=false"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.chdb_http", str(self.port),
                                      str(self.folder)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

        def answers() -> bool:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=1).status == 200
            except OSError:
                return False

        _wait_for(answers, f"the store server on port {self.port} answering")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc.stdout.close()
            self.proc = None


@pytest.fixture
def store_server(tmp_path):
    server = StoreServer(tmp_path / "server-store")
    server.start()
    yield server
    server.stop()


def test_the_store_unreachable_says_so_and_recovers_by_itself(store_server):
    from app.factory import create_app
    from app.settings import Settings

    schema = Store(store_server.url)
    migrate(schema)
    _sa_january(schema)
    schema.close()
    dash_app = create_app(Settings(store_url=store_server.url, scheduler=False, demo=False, auth=False))
    client = dash_app.server.test_client()
    key = callback_key(dash_app, "ov-series.figure")
    assert client.get("/readyz").status_code == 200
    before = {"render": post_callback(client, dash_app, key, OVERVIEW), "prices": client.get(PRICES_URL)}
    assert {name: r.status_code for name, r in before.items()} == {"render": 200, "prices": 200}

    store_server.stop()
    render = post_callback(client, dash_app, key, OVERVIEW)
    assert render.status_code == 503
    assert render.get_json() == {"error": "Data temporarily unavailable: the database did not answer. Try again "
                                          "in a minute.", "request_id": render.headers["X-Request-ID"]}
    prices = client.get(PRICES_URL)
    assert prices.status_code == 503
    assert set(prices.get_json()) == {"error", "request_id"}
    assert prices.get_json()["request_id"] == prices.headers["X-Request-ID"] != ""
    # a page: the index is served without the store; the callback that draws the page's layout answers with
    # the notice in the page's place (a failed callback would leave the page blank)
    assert client.get("/").status_code == 200
    page = post_callback(client, dash_app, callback_key(dash_app, "_pages_content.children"),
                         {"_pages_location.pathname": "/", "_pages_location.search": ""})
    assert page.status_code == 200
    notice = json.dumps(page.get_json()["response"]["_pages_content"]["children"])
    for shown in ("Data temporarily unavailable", "The database did not answer", page.headers["X-Request-ID"]):
        assert shown in notice, shown
    for answer in (render, prices, page):
        body = answer.get_data(as_text=True)
        assert "Traceback" not in body and "127.0.0.1" not in body and "SELECT" not in body, body[:500]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["store"] == "unreachable"
    assert client.get("/healthz").status_code == 200

    store_server.start()  # no restart of the app: its next requests reach the store again
    assert client.get("/readyz").status_code == 200
    again = {"render": post_callback(client, dash_app, key, OVERVIEW), "prices": client.get(PRICES_URL)}
    for name, answer in again.items():
        assert answer.status_code == 200, name
        assert answer.get_json() == before[name].get_json(), name


def test_an_embedded_store_failing_is_answered_503_too(make_app, monkeypatch):
    """The embedded default, its client made to fail as a broken or locked store directory would."""
    dash_app = make_app()
    svc = services(dash_app.server)
    _sa_january(svc.ready_store())
    client = dash_app.server.test_client()
    key = callback_key(dash_app, "ov-series.figure")
    assert client.get(PRICES_URL).status_code == 200

    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("Code: 76. DB::ErrnoException: Cannot open file /srv/store/data (simulated)")

    monkeypatch.setattr(Store, "client", property(lambda self: Broken()))
    # February: no piece of it cached, so the store must answer (January's are, and the data version is
    # remembered until a write, which a broken store cannot take: January is still answered, exactly)
    render = post_callback(client, dash_app, key, {**OVERVIEW, "ov-dates.start_date": "2018-02-01",
                                                   "ov-dates.end_date": "2018-02-09"})
    assert render.status_code == 503 and "temporarily unavailable" in render.get_json()["error"]
    prices = client.get(PRICES_URL.replace("2018-01-01", "2018-02-01").replace("2018-01-08", "2018-02-08"))
    assert prices.status_code == 503 and "/srv/store" not in prices.get_data(as_text=True)
    assert client.get(PRICES_URL).status_code == 200
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    monkeypatch.undo()
    assert client.get(PRICES_URL).status_code == 200
    assert post_callback(client, dash_app, key, OVERVIEW).status_code == 200


# ----------------------------------------------------------------------------------------------- backfills

NEM_FILES = "markets/aemo/price_and_demand"


def fingerprint(store: Store) -> dict[str, object]:
    """What a load leaves behind in the tables a NEM price-and-demand file feeds: rows, values and the
    aggregates the pages read, per region."""
    base = store.query_df(
        "SELECT location, count() AS rows, round(sum(price), 4) AS price_sum FROM prices FINAL GROUP BY location "
        "ORDER BY location")
    demand = store.query_df(
        "SELECT location, count() AS rows, round(sum(demand_mw), 4) AS demand_sum FROM demand FINAL "
        "GROUP BY location ORDER BY location")
    aggs = {}
    for table, value in (("prices_hourly", "price_sum"), ("prices_daily", "price_sum"),
                         ("demand_hourly", "demand_sum")):
        aggs[table] = store.query_df(
            f"SELECT location, count() AS buckets, sum(n) AS samples, round(sum(v), 4) AS value FROM "
            f"(SELECT location, bucket, sum(samples) AS n, sum({value}) AS v FROM {table} "
            "GROUP BY market, location, bucket HAVING n > 0) GROUP BY location ORDER BY location").to_dict("records")
    return {"prices": base.to_dict("records"), "demand": demand.to_dict("records"), **aggs}


@pytest.fixture(scope="module")
def clean_loads(store_dir, data_dir):
    """Each file set loaded once into a fresh database of the shared chDB directory: what an exactly-once
    load leaves, by the name of the set."""
    from ingest.backfill import BackfillRequest, run_backfill
    from tests.support.schema_template import copy_schema

    found: dict[str, dict] = {}

    def load(name: str, start: str, end: str, source: Path) -> dict:
        if name not in found:
            store = Store(f"chdb://{store_dir}?database=faults_clean_{os.getpid()}_{len(found)}")
            copy_schema(store, str(store_dir))
            run = run_backfill(store, BackfillRequest("nem", pd.Timestamp(start).date(), pd.Timestamp(end).date(),
                                                      source), jobs.JobRun(job="backfill:nem", market="NEM"))
            assert run.status == "succeeded", run.error
            found[name] = fingerprint(store)
            store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
            store.close()
        return found[name]

    return load


@pytest.mark.realdata
def test_a_backfill_failing_mid_batch_leaves_nothing_half_written(store, store_dir, data_dir, clean_loads,
                                                                  monkeypatch):
    from ingest.backfill import BackfillRequest, run_backfill

    folder = data_dir / NEM_FILES
    january, february = folder / "PRICE_AND_DEMAND_201801_SA1.csv", folder / "PRICE_AND_DEMAND_201602_SA1.csv"

    def backfill(source: Path, start: str, end: str) -> jobs.JobRun:
        return run_backfill(store, BackfillRequest("nem", pd.Timestamp(start).date(), pd.Timestamp(end).date(),
                                                   source), jobs.JobRun(job="backfill:nem", market="NEM"))

    assert backfill(january, "2018-01-01", "2018-01-31").status == "succeeded"
    before = fingerprint(store)
    assert before == clean_loads("sa1-201801", "2018-01-01", "2018-01-31", january)

    prices_written = threading.Event()
    insert = store.insert_df

    def failing_insert(table: str, frame: pd.DataFrame) -> None:
        """The batch's prices land (and feed their aggregates); its demand then fails, as a store that went
        away mid-batch would."""
        if table == "demand":
            assert prices_written.wait(30), "the batch wrote no prices"
            raise StoreError(f"insert into {table} failed: Connection refused (simulated)")
        insert(table, frame)
        if table == "prices":
            prices_written.set()

    monkeypatch.setattr(store, "insert_df", failing_insert)
    failed = backfill(february, "2016-02-01", "2016-02-29")
    assert prices_written.is_set()
    assert failed.status == "failed" and "Connection refused (simulated)" in failed.error
    assert fingerprint(store) == before, "the failed batch was not taken back whole"

    monkeypatch.undo()
    again = backfill(february, "2016-02-01", "2016-02-29")
    assert again.status == "succeeded", again.error
    assert again.rows_written > 0
    both = fingerprint(store)
    assert both != before
    assert backfill(february, "2016-02-01", "2016-02-29").rows_written == 0  # a third run finds it all there
    assert fingerprint(store) == both
    # what one clean load of both files leaves: nothing of the failed attempt remains, nothing is counted twice
    from tests.support.schema_template import copy_schema

    store_b = Store(f"chdb://{store_dir}?database=faults_both_{os.getpid()}")
    try:
        copy_schema(store_b, str(store_dir))
        for source, start, end in ((january, "2018-01-01", "2018-01-31"), (february, "2016-02-01", "2016-02-29")):
            assert run_backfill(store_b, BackfillRequest("nem", pd.Timestamp(start).date(), pd.Timestamp(end).date(),
                                                         source), jobs.JobRun(job="backfill:nem", market="NEM")
                                ).status == "succeeded"
        assert fingerprint(store_b) == both
    finally:
        store_b.command(f"DROP DATABASE IF EXISTS `{store_b.database}`")
        store_b.close()


KILLED_BACKFILL = textwrap.dedent("""
    import sys, datetime as dt
    from pathlib import Path
    from engine.jobs import JobRun
    from engine.store import Store, migrate
    from ingest.backfill import BackfillRequest, run_backfill
    from ingest.nem import NemConnector

    store_url, folder, stall_at, stall_after = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    store = Store(store_url)
    migrate(store)

    def stall():  # the test kills the process here
        print("stalled", flush=True)
        import time
        time.sleep(120)

    class Watched(NemConnector):
        parsed = 0

        def parse(self, raw):
            Watched.parsed += 1
            if stall_after == "parse" and Watched.parsed == stall_at:  # this file half done
                stall()
            return super().parse(raw)

    if stall_after != "parse":  # a batch half written: its rows in this table, nothing after them
        insert, inserts = store.insert_df, []

        def stalling_insert(table, frame):
            insert(table, frame)
            inserts.append(table)
            if table == stall_after and inserts.count(table) == stall_at:
                stall()

        store.insert_df = stalling_insert

    run = JobRun(job="backfill:nem", market="NEM")
    run.save(store)
    print("run", run.run_id, flush=True)
    run_backfill(store, BackfillRequest("nem", dt.date(2016, 2, 1), dt.date(2018, 1, 31), folder), run,
                 connector=Watched())
    print("finished", run.status, flush=True)
""")

RESTART = textwrap.dedent("""
    import json, os, sys
    from app.factory import create_app
    from app.settings import Settings
    from engine import jobs

    store_url, folder, run_id = sys.argv[1], sys.argv[2], sys.argv[3]
    dash_app = create_app(Settings(store_url=store_url, scheduler=True, demo=False, auth=False))
    server = dash_app.server
    store = server.extensions["c254"].store
    seen = {"before": jobs.get_run(store, run_id)["status"]}
    assert server.test_client().get("/healthz").status_code == 200  # the first request starts the scheduler
    seen["after"] = jobs.get_run(store, run_id)["status"]
    seen["error"] = jobs.get_run(store, run_id)["error"]
    from tests.test_faults import fingerprint
    seen["left"] = fingerprint(store)  # what the killed run left
    done = server.test_cli_runner().invoke(args=["jobs", "backfill", "nem", "2016-02-01", "2018-01-31",
                                                 "--source", folder])
    seen["rerun"] = done.output.strip()
    seen["fingerprint"] = fingerprint(store)
    print(json.dumps(seen, default=str), flush=True)
    os._exit(0)  # the scheduler's and the forecasters' threads are not what this test waits for
""")


@pytest.mark.realdata
@pytest.mark.parametrize(("stall_after", "stall_at"), [
    # three files written, the fourth parsing
    pytest.param("parse", 4, id="between-files"),
    # the batch's prices stored (its demand is written beside them, on another connection, and may be done or
    # not) but not yet their hourly and daily aggregates: a batch half written, which the re-run must complete
    pytest.param("prices", 1, id="mid-batch"),
])
def test_a_backfill_killed_mid_run_is_marked_failed_and_rerun_loads_once(tmp_path, data_dir, clean_loads,
                                                                         stall_after, stall_at):
    folder = data_dir / NEM_FILES
    url = f"chdb://{tmp_path / 'killed-store'}"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BACKFILL, url, str(folder), str(stall_at), stall_after],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=env)
    try:
        said = [proc.stdout.readline().split() for _ in range(2)]
        assert said[0][0] == "run" and said[1] == ["stalled"], said
        run_id = said[0][1]
        proc.send_signal(signal.SIGKILL)  # no chance to record anything or take the batch back
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()

    restarted = subprocess.run([sys.executable, "-c", RESTART, url, str(folder), run_id], cwd=REPO_ROOT,
                               capture_output=True, text=True, env=env, timeout=300)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    seen = json.loads(restarted.stdout.strip().splitlines()[-1])
    assert seen["before"] == "running"  # as the killed process left it
    assert seen["after"] == "failed", "the interrupted run was not marked failed at restart"
    assert seen["error"] == "interrupted: the process running it stopped"
    assert "succeeded; 10/10 done" in seen["rerun"], seen["rerun"]
    clean = json.loads(json.dumps(clean_loads("nem-2016-2018", "2016-02-01", "2018-01-31", folder), default=str))
    left = seen["left"]
    if stall_after == "parse":  # the files are written as one batch once all are parsed: nothing was
        assert left["prices"] == left["demand"] == left["prices_hourly"] == [], left
    else:  # killed mid-write: the prices there, their aggregates short (the demand, beside them: done or not)
        assert left["prices"] == clean["prices"] and left["demand"] in ([], clean["demand"]), left
        assert left["prices_hourly"] != clean["prices_hourly"], "the kill did not fall between rows and aggregates"
    assert seen["fingerprint"] == clean, "the re-run did not load exactly once"


HOLDER = textwrap.dedent("""
    import sys
    from engine import jobs
    from engine.store import Store, migrate

    store = Store(sys.argv[1])  # made, and held, by this process: a predecessor that stops with a run under way
    migrate(store)
    run = jobs.JobRun(job="backfill:nem", market="NEM", connector="nem")
    run.save(store)
    print(run.run_id, flush=True)
    sys.stdin.readline()
    store.close()
    print("released", flush=True)
""")

HELD_AT_START = textwrap.dedent("""
    import json, os, subprocess, sys, time
    from app import scheduler
    from app.factory import create_app
    from app.settings import Settings
    from engine import jobs

    store_url, holder_script, start = sys.argv[1], sys.argv[2], sys.argv[3]
    scheduler.CATCH_UP_RETRY_SECONDS = scheduler.SWEEP_SECONDS = 0.2
    holder = subprocess.Popen([sys.executable, "-c", holder_script, store_url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    run_id = holder.stdout.readline().strip()
    server = create_app(Settings(store_url=store_url, scheduler=True, demo=False, auth=False)).server
    client = server.test_client()
    seen = {"statuses": []}
    if start == "request":  # the scheduler starts; the store is held elsewhere
        seen["statuses"].append(client.get("/healthz").status_code)
    else:  # as a gunicorn worker boots: no request is made
        scheduler.start_at_boot(server)
        time.sleep(1.0)  # some tries while the store is held elsewhere
    seen["scheduler"] = server.extensions[scheduler.SCHEDULER_KEY].running
    holder.stdin.write("stop\\n")
    holder.stdin.flush()
    seen["holder"] = holder.stdout.readline().strip()
    holder.wait(30)
    for _ in range(300):  # a try after the retry interval (the next request's, or the boot's own) finds it free
        if start == "request":
            seen["statuses"].append(client.get("/healthz").status_code)
        run = jobs.get_run(server.extensions["c254"].store, run_id)
        if run["status"] != "running":
            break
        time.sleep(0.1)
    seen["run"] = (run["status"], run["error"])
    print(json.dumps(seen), flush=True)
    os._exit(0)  # the scheduler's and the forecasters' threads are not what this test waits for
""")


@pytest.mark.parametrize("start", ["request", "boot"])
def test_runs_left_by_a_stopped_process_are_marked_once_a_store_held_at_the_start_is_free(tmp_path, start):
    """A worker that cannot open the store as it starts (a reloaded worker's predecessor still holding the
    embedded directory, a ClickHouse server still starting) marks the runs it left once the store is free, rather
    than leave them 'running' until the next restart: at a later request under a server that starts the scheduler
    at the first request, and by itself, with no request, in a gunicorn worker (app.scheduler.start_at_boot)."""
    url = f"chdb://{tmp_path / 'held-store'}"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", HELD_AT_START, url, HOLDER, start], cwd=REPO_ROOT,
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["scheduler"] is True and seen["holder"] == "released"
    assert "could not mark interrupted runs" in done.stderr
    assert seen["run"] == ["failed", "interrupted: the process running it stopped"], seen
    assert set(seen["statuses"]) == ({200} if start == "request" else set())


@pytest.mark.realdata
def test_a_backfill_whose_store_goes_away_for_a_while_records_its_failure_when_it_returns(store_server, data_dir,
                                                                                         monkeypatch):
    """The store server stops between two periods of a backfill and starts again seconds later. The backfill fails
    (it could not write), and that is what its run says once the store is back: before, recording the failure
    failed too, and the run read 'running' until the app restarted (its process lives, so nothing marked it)."""
    from ingest.backfill import BackfillRequest, run_backfill
    from ingest.nem import NemConnector

    monkeypatch.setattr(jobs, "FINISH_RETRY_SECONDS", (0.5,) * 40)
    store = Store(store_server.url)
    migrate(store)
    run = jobs.JobRun(job="backfill:nem", market="NEM")
    run.save(store)
    restarted = threading.Event()

    class StoreLeavesAfterTheFirstFile(NemConnector):
        files = 0

        def parse(self, raw):
            StoreLeavesAfterTheFirstFile.files += 1
            if StoreLeavesAfterTheFirstFile.files == 2:  # the first file is written; the store goes away
                store_server.stop()
                threading.Timer(3.0, lambda: (store_server.start(), restarted.set())).start()
            return super().parse(raw)

    folder = data_dir / NEM_FILES
    monkeypatch.setattr("ingest.backfill.REPLAY_BATCH_BYTES", 1)  # one file per batch: a period written, then the next
    done = run_backfill(store, BackfillRequest("nem", dt.date(2016, 2, 1), dt.date(2018, 1, 31), folder), run,
                        connector=StoreLeavesAfterTheFirstFile())
    assert restarted.wait(30)
    assert done.status == "failed" and done.error, done.error
    saved = jobs.get_run(store, run.run_id)
    assert (saved["status"], saved["progress_done"]) == ("failed", 1), saved
    assert saved["error"] == done.error
    store.close()
