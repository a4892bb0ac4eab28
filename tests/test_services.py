"""The accessor pages and callbacks use: answers cached per data version, and operations that refuse
nonsense with a message before anything starts."""
from __future__ import annotations

import pandas as pd
import pytest

from app.services import services
from app.settings import Settings
from engine.store import write_tables


def _count_prices(store, market: str) -> int:
    _count_prices.calls += 1
    return int(store.scalar("SELECT count() FROM prices FINAL WHERE market = {m:String}", {"m": market}))


@pytest.fixture(scope="module")
def shared_app(make_module_app):
    """One app for the module: the tests count their own calls and write prices only where they read them."""
    return make_module_app(auth=True)


@pytest.fixture
def app(shared_app):
    with shared_app.server.app_context():
        yield shared_app


@pytest.fixture
def fresh_app(make_app):
    """An app of its own, for the tests that count prices from an empty store."""
    dash_app = make_app(auth=True)
    with dash_app.server.app_context():
        yield dash_app


def _prices(n: int) -> dict[str, pd.DataFrame]:
    starts = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    return {"prices": pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement",
                                    "interval_start": starts, "interval_minutes": 5, "price": 50.0})}


def test_a_cached_answer_is_reused_until_a_load_changes_the_data(fresh_app):
    svc = services(fresh_app.server)
    _count_prices.calls = 0
    assert svc.cached(_count_prices, "NEM") == 0
    assert svc.cached(_count_prices, "NEM") == 0
    assert _count_prices.calls == 1, "the second ask is answered from the cache"
    write_tables(svc.ready_store(), _prices(12))
    assert svc.cached(_count_prices, "NEM") == 12, "a load is seen at once"
    assert _count_prices.calls == 2


def test_cached_answers_are_kept_apart_by_argument(fresh_app):
    svc = services(fresh_app.server)
    write_tables(svc.ready_store(), _prices(3))
    _count_prices.calls = 0
    assert svc.cached(_count_prices, "NEM") == 3
    assert svc.cached(_count_prices, "IESO") == 0
    assert _count_prices.calls == 2


@pytest.mark.parametrize(("start", "end", "source", "message"), [
    (None, "2018-01-31", "", "Choose a start and an end date."),
    ("2018-02-01", "2018-01-01", "", "is before start"),
    ("2018-01-01", "2018-01-31", "/etc", "relative to the data folder"),
    ("2018-01-01", "2018-01-31", "markets/../../x", "without '..'"),
    ("2018-01-01", "2018-01-31", "no/such/folder", "no such file or folder"),
])
def test_a_backfill_that_makes_no_sense_is_refused_with_a_message(app, start, end, source, message):
    with pytest.raises(ValueError, match=message):
        services(app.server).operations.start_backfill("nem", None, start, end, source)


def test_an_unknown_connector_has_no_datasets_and_cannot_be_backfilled(app):
    ops = services(app.server).operations
    assert ops.datasets("nope") == ()
    with pytest.raises(ValueError, match="unknown connector"):
        ops.start_backfill("nope", None, "2018-01-01", "2018-01-31", "")


def test_every_scheduled_job_is_listed_with_its_state(app):
    statuses = services(app.server).operations.job_statuses()
    assert [s.job for s in statuses[-3:]] == ["model_training", "forecast_issue", "signal_record"]
    from app.scheduler import JOBS

    assert [s.job for s in statuses[:-3]] == [spec.id for spec in JOBS]
    assert {s.last_status for s in statuses} == {"never run"}
    assert not any(s.scheduled for s in statuses), "the scheduler is off in this app"
    assert all(s.next_run is None for s in statuses)


def test_a_store_process_worker_gives_the_next_runs_of_the_scheduler_in_the_store_process(make_app):
    """Its workers run no scheduler (C254_SCHEDULER=0); the store process does: the admin page said "scheduler
    off" for every job while each ran on time."""
    import datetime as dt

    from app import store_process
    from app.scheduler import job_triggers

    env = store_process.web_env(Settings(store_url="chdb:///x/store"), 8124)
    assert (env["C254_SCHEDULER"], env["C254_SCHEDULER_ELSEWHERE"]) == ("0", "1")
    assert store_process.web_env(Settings(store_url="chdb:///x/store", scheduler=False),
                                 8124)["C254_SCHEDULER_ELSEWHERE"] == "0", "none runs anywhere: none is shown"
    worker = Settings.from_env({"C254_STORE": "chdb:///x/store", "C254_SCHEDULER": "0",
                                "C254_SCHEDULER_ELSEWHERE": "1"})
    assert (worker.scheduler, worker.scheduler_elsewhere) == (False, True)
    before = dt.datetime.now(dt.UTC)
    statuses = services(make_app(scheduler_elsewhere=True).server).operations.job_statuses()
    triggers = job_triggers()
    assert all(s.scheduled for s in statuses)
    for s in statuses:
        assert s.next_run == triggers[s.job].get_next_fire_time(None, s.next_run - dt.timedelta(microseconds=1))
        assert before < s.next_run <= before + dt.timedelta(days=1), (s.job, s.next_run)


# --- users and the audit log through the operations the admin page calls --------------------------------

@pytest.fixture
def local_ops(make_app):
    """The operations of an app in local mode, inside a request from the loopback address."""
    dash_app = make_app()
    with dash_app.server.test_request_context("/admin", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        yield services(dash_app.server).operations


def test_user_operations_are_audited_with_who_and_from_where(local_ops):
    from engine import accounts, audit

    user, password = local_ops.create_user("Ann@Example.com", "trader")
    assert accounts.verify_password(services().store, "ann@example.com", password) == user
    local_ops.set_role("ann@example.com", "analyst")
    local_ops.disable_user("ann@example.com")
    log = local_ops.audit_log()
    assert list(log["action"]) == [audit.USER_DISABLED, audit.ROLE_CHANGED, audit.USER_CREATED]
    assert list(log["detail"]) == ["ann@example.com", "ann@example.com: trader → analyst", "ann@example.com as trader"]
    assert set(log["actor"]) == {"local"}
    assert set(log["address"]) == {"127.0.0.1"}
    assert password not in log.to_csv()
    assert [(u.email, u.role, u.active) for u in local_ops.users()] == [("ann@example.com", "analyst", False)]


def test_refused_user_operations_change_nothing_and_are_not_audited(local_ops):
    local_ops.create_user("ann@example.com", "admin")
    for refused in (lambda: local_ops.create_user("x'; DROP TABLE users--", "trader"),
                    lambda: local_ops.create_user("ann@example.com", "trader"),
                    lambda: local_ops.create_user({"email": "b@x.com"}, "trader"),
                    lambda: local_ops.set_role("ann@example.com", "root"),
                    lambda: local_ops.set_role("ann@example.com", "trader"),  # the last admin
                    lambda: local_ops.disable_user("<script>@x.com")):
        with pytest.raises(ValueError):
            refused()
    assert len(local_ops.audit_log()) == 1, "only the one create"
    assert [(u.email, u.role, u.active) for u in local_ops.users()] == [("ann@example.com", "admin", True)]


def test_run_now_is_audited_and_an_unknown_job_refused(local_ops, monkeypatch):
    from app import scheduler
    from engine import audit

    started = []
    monkeypatch.setattr(scheduler, "run_now", lambda server, job_id: started.append(job_id))
    with pytest.raises(ValueError, match="No such job"):
        local_ops.run_now("'; DROP TABLE job_runs; --")
    assert local_ops.audit_log().empty
    local_ops.run_now("model_training")
    assert started == ["model_training"]
    log = local_ops.audit_log()
    assert list(zip(log["action"], log["detail"], strict=True)) == [(audit.JOB_RUN_NOW, "model_training")]


@pytest.mark.realdata
def test_a_backfill_started_and_cancelled_is_audited(make_app, data_dir):
    import time

    from engine import audit, jobs

    dash_app = make_app(data_dir=data_dir)
    with dash_app.server.test_request_context("/admin", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        ops = services().operations
        run_id = ops.start_backfill("nem", None, "2018-01-01", "2018-03-31", "markets/aemo/price_and_demand")
        assert ops.cancel_backfill(run_id)
        assert not ops.cancel_backfill("no-such-run"), "nothing to cancel: no record"
        deadline = time.monotonic() + 60
        while jobs.get_run(services().store, run_id)["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
        log = ops.audit_log()
    assert list(log["action"]) == [audit.BACKFILL_CANCELLED, audit.BACKFILL_STARTED]
    assert jobs.get_run(services(dash_app.server).store, run_id)["status"] == "cancelled"
    assert log["detail"].iloc[0] == f"run {run_id}"
    assert log["detail"].iloc[1].startswith("nem ")
    assert run_id in log["detail"].iloc[1]
    assert set(log["actor"]) == {"local"}


def test_a_serving_process_runs_blas_on_one_thread(make_app):
    """BLAS's spinning threads fought the request threads under load (case118's PTDF 2 ms → 300 ms)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):
        make_app()
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)


def test_a_cancel_for_a_backfill_another_worker_runs_is_asked_through_the_store(make_app):
    from engine import audit, jobs

    dash_app = make_app()
    with dash_app.server.test_request_context("/admin", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        store = services().ready_store()
        elsewhere = jobs.JobRun(job="backfill:nem", market="NEM")  # saved as running, by no backfill of this one
        elsewhere.save(store)
        assert not jobs.cancel_requested(store, elsewhere.run_id)
        ops = services().operations
        assert ops.cancel_backfill(elsewhere.run_id)
        assert jobs.cancel_requested(store, elsewhere.run_id)
        assert ops.audit_log()["action"].iloc[0] == audit.BACKFILL_CANCELLED
        elsewhere.finish(store, "succeeded")
        assert not ops.cancel_backfill(elsewhere.run_id), "finished: nothing to ask"
