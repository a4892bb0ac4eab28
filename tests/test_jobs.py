"""Backfills, job-run records and the scheduler's once-per-trigger guarantee (with a real Redis)."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

from engine import clock, jobs
from engine.markets import MARKETS
from ingest.backfill import BackfillError, BackfillRequest, run_backfill, validate
from ingest.nem import NemConnector

TODAY = dt.date(2026, 11, 25)


@pytest.mark.parametrize("start, end, message", [
    ("2024-02-01", "2024-01-01", "is before start"),
    ("2027-01-01", "2027-01-02", "in the future"),
    ("2026-11-01", "2026-12-01", "in the future"),
    ("1990-01-01", "1990-02-01", "publishes nothing before 1998-12-07"),
    ("2024-13-01", "2024-12-01", "must be a date"),
])
def test_backfill_requests_that_make_no_sense_are_refused(start, end, message):
    with pytest.raises(BackfillError, match=message):
        validate("nem", start, end, today=TODAY)


def test_a_market_s_today_is_its_own_day_not_utc_s():
    late_on_the_6th = dt.datetime(2026, 12, 6, 23, 0, tzinfo=dt.UTC)
    assert MARKETS["NEM"].today(late_on_the_6th) == dt.date(2026, 12, 7)  # 09:00 on the 7th, UTC+10
    early_on_the_7th = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    assert MARKETS["IESO"].today(early_on_the_7th) == dt.date(2026, 12, 6)  # 22:00 on the 6th, EST all year
    assert MARKETS["PJM"].today(dt.datetime(2026, 7, 1, 3, 30, tzinfo=dt.UTC)) == dt.date(2026, 6, 30)  # EDT


@pytest.mark.parametrize("server_zone", ["Etc/GMT+12", "Etc/GMT-14"])  # the server's day ends before / after NEM's
def test_backfill_dates_are_checked_against_the_market_s_day_not_the_server_s(monkeypatch, server_zone):
    monkeypatch.setenv("TZ", server_zone)
    time.tzset()
    try:
        nem_today, ieso_today = MARKETS["NEM"].today(), MARKETS["IESO"].today()
        assert validate("nem", nem_today, nem_today).end == nem_today  # NEM's own day has begun: its files are out
        with pytest.raises(BackfillError, match=r"in the future: today is .* in NEM time \(UTC\+10\)"):
            validate("nem", nem_today + dt.timedelta(days=1), nem_today + dt.timedelta(days=1))
        with pytest.raises(BackfillError, match=r"in Eastern Standard Time \(UTC-5\)"):
            validate("ieso", ieso_today, ieso_today + dt.timedelta(days=1))
    finally:
        monkeypatch.undo()
        time.tzset()


def test_backfill_refuses_unknown_connector_kind_and_paths_outside_the_data_folder(tmp_path):
    with pytest.raises(BackfillError, match="unknown connector"):
        validate("nope", "2024-01-01", "2024-01-02", today=TODAY)
    with pytest.raises(BackfillError, match="no dataset 'x'"):
        validate("nem", "2024-01-01", "2024-01-02", today=TODAY, kind="x")
    with pytest.raises(BackfillError, match="under the configured data folder"):
        validate("nem", "2024-01-01", "2024-01-02", today=TODAY, source=tmp_path, allowed_roots=(tmp_path / "d",))


@pytest.mark.realdata
def test_backfill_replays_local_files_and_records_progress(store, data_dir):
    folder = data_dir / "markets" / "aemo" / "price_and_demand"
    req = validate("nem", "2018-01-01", "2018-01-31", today=TODAY, source=folder, allowed_roots=(data_dir,))
    run = jobs.JobRun(job="backfill:nem", market="NEM")
    run.save(store)
    run_backfill(store, req, run)
    saved = jobs.get_run(store, run.run_id)
    assert saved["status"] == "succeeded", saved["error"]
    assert (saved["progress_done"], saved["progress_total"]) == (5, 5)  # five regions' files of 2018-01
    assert saved["rows_read"] == 5 * 1488
    assert saved["rows_written"] == 2 * 5 * 1488
    assert store.scalar("SELECT count() FROM prices FINAL") == 5 * 1488
    assert saved["connector"] == "nem"
    assert saved["rows_by_table"] == {"prices": 5 * 1488, "demand": 5 * 1488}


class _FailingConnector(NemConnector):
    def fetch(self, start, end, **_):
        raise ConnectionError("aemo.com.au unreachable (simulated)")


class _SlowConnector(NemConnector):
    """Each period takes a while; the user presses cancel during the ``cancel_during``-th."""

    def __init__(self, cancel: threading.Event | None = None, cancel_during: int = 0):
        self.calls = 0
        self.cancel, self.cancel_during = cancel, cancel_during

    def fetch(self, start, end, **_):
        self.calls += 1
        if self.cancel is not None and self.calls == self.cancel_during:
            self.cancel.set()
        time.sleep(0.2)
        return []

    def parse(self, raw):  # pragma: no cover - fetch returns nothing
        raise AssertionError


def test_a_backfill_fetches_each_of_the_operators_files_once(store):
    """Brazil publishes yearly files: a 2019-03..2022-02 backfill of plant generation fetches the yearly files
    of 2019-2021 once each and the monthly ones of 2022, not one download per month."""
    from ingest.brazil import BrazilConnector

    class Recording(BrazilConnector):
        def __init__(self):
            self.asked = []

        def fetch(self, start, end, **kwargs):
            self.asked.append((start, end, kwargs["kind"]))
            return []

    conn = Recording()
    run = jobs.JobRun(job="backfill:brazil", market="BRAZIL")
    req = BackfillRequest("brazil", dt.date(2019, 3, 10), dt.date(2022, 2, 5), kind="geracao_usina")
    run_backfill(store, req, run, connector=conn)
    d = dt.date
    assert {kind for _, _, kind in conn.asked} == {"geracao_usina"}
    assert [(a, b) for a, b, _ in conn.asked] == [
        (d(2019, 3, 10), d(2019, 12, 31)), (d(2020, 1, 1), d(2020, 12, 31)), (d(2021, 1, 1), d(2021, 12, 31)),
        (d(2022, 1, 1), d(2022, 1, 31)), (d(2022, 2, 1), d(2022, 2, 5))]
    assert conn.fetch_spans(d(2005, 6, 1), d(2012, 1, 1), kind="pld_semanal") == [(d(2005, 6, 1), d(2012, 1, 1))]
    assert len(conn.fetch_spans(d(2023, 12, 20), d(2024, 1, 10), kind="carga_energia")) == 2  # two yearly files
    assert len(conn.fetch_spans(d(2024, 1, 20), d(2024, 3, 10), kind="carga_programada")) == 3  # API by month


def test_failing_job_is_recorded_failed_with_its_error(store):
    run = jobs.JobRun(job="nem_price_demand", market="NEM")
    run_backfill(store, BackfillRequest("nem", dt.date(2024, 1, 1), dt.date(2024, 2, 15)), run,
                 connector=_FailingConnector())
    saved = jobs.get_run(store, run.run_id)
    assert saved["status"] == "failed"
    assert "unreachable (simulated)" in saved["error"]
    last = jobs.last_run_per_job(store).set_index("job")
    assert last.at["nem_price_demand", "last_status"] == "failed"


def test_cancel_stops_between_periods(store):
    # cancelled while the second month is fetched (not by a timer, which raced the run's first save on a busy
    # machine): that month is finished, and nothing after it starts
    cancel = threading.Event()
    conn = _SlowConnector(cancel, cancel_during=2)
    run = jobs.JobRun(job="backfill:nem", market="NEM")
    run_backfill(store, BackfillRequest("nem", dt.date(2024, 1, 1), dt.date(2024, 12, 31)), run, cancel, conn)
    saved = jobs.get_run(store, run.run_id)
    assert saved["status"] == "cancelled"
    assert saved["progress_total"] == 12
    assert saved["progress_done"] == 2
    assert conn.calls == saved["progress_done"]


def test_a_cancel_that_reached_another_worker_stops_the_run_through_the_store(store):
    """With several web workers the admin's cancel may land on one that does not run the backfill: it asked
    nothing ("No backfill of this session is running.") while the run went on. Now it asks through the store,
    and the run stops after its current period wherever it runs."""
    run = jobs.JobRun(job="backfill:nem", market="NEM")

    class AskedElsewhere(_SlowConnector):
        def fetch(self, start, end, **kw):
            if self.calls == 1:  # during the second month, another process asks
                assert jobs.request_cancel(store, run.run_id)
            return super().fetch(start, end, **kw)

    conn = AskedElsewhere()
    run_backfill(store, BackfillRequest("nem", dt.date(2024, 1, 1), dt.date(2024, 12, 31)), run, None, conn)
    saved = jobs.get_run(store, run.run_id)
    assert (saved["status"], saved["progress_done"], conn.calls) == ("cancelled", 2, 2)
    assert not jobs.request_cancel(store, run.run_id), "a finished run is not asked"
    assert not jobs.request_cancel(store, "no-such-run")
    training = jobs.JobRun(job="train:NEM:NSW1", market="NEM")
    training.save(store)
    assert not jobs.request_cancel(store, training.run_id), "only a backfill reads the request"


def test_interrupted_runs_are_marked_failed_and_live_workers_runs_left(store, monkeypatch):
    """At start a process fails the runs whose process has stopped, and leaves those of live workers beside it
    (several web workers share one store)."""
    host = jobs.this_process().split(":")[0]
    stopped = subprocess.Popen([sys.executable, "-c", "pass"])
    stopped.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owners = {"this process": jobs.this_process(), "a live worker": f"{host}:{live.pid}:feedfeedfeed",
                  "a stopped worker": f"{host}:{stopped.pid}:feedfeedfeed",
                  "an earlier process with this pid": f"{host}:{os.getpid()}:0ld0ld0ld0ld",
                  "a run from before owners": "", "another host, saving": "elsewhere:12:feedfeedfeed",
                  "another host, silent for 2 hours": "elsewhere:13:feedfeedfeed"}
        runs = {}
        for what, owner in owners.items():
            if what.endswith("silent for 2 hours"):
                two_hours_ago = pd.Timestamp.now(tz="UTC").floor("ms") - pd.Timedelta(hours=2)
                monkeypatch.setattr(jobs, "now_ms", lambda t=two_hours_ago: t)
            runs[what] = jobs.JobRun(job="backfill:nem", market="NEM", owner=owner, connector="nem")
            runs[what].add_written({"prices": 10, "demand": 8})
            runs[what].save(store)
            monkeypatch.undo()
        # This process's version clock an hour and a half ahead of the time of day (after a burst of writes)
        # must not make another host's saving run look silent.
        monkeypatch.setattr(clock, "_last_ms", clock.wall_ms().value // 1_000_000 + 90 * 60_000)
        assert jobs.mark_interrupted(store) == 4
        status = {what: jobs.get_run(store, run.run_id)["status"] for what, run in runs.items()}
        assert status == {"this process": "running", "a live worker": "running", "a stopped worker": "failed",
                          "an earlier process with this pid": "failed", "a run from before owners": "failed",
                          "another host, saving": "running", "another host, silent for 2 hours": "failed"}
        failed = jobs.get_run(store, runs["a stopped worker"].run_id)
        assert failed["owner"] == owners["a stopped worker"]
        assert (failed["connector"], failed["rows_by_table"]) == ("nem", {"prices": 10, "demand": 8})  # kept
    finally:
        live.kill()
        live.wait()


def test_an_interrupted_runs_duration_ends_at_its_last_saved_progress_not_at_the_restart(store, monkeypatch):
    """A run whose process was stopped, marked at a start two hours later, lasted until it last saved its
    progress: the admin's duration does not count the time the app was down."""
    run = jobs.JobRun(job="train:NEM:NSW1", market="NEM", owner="gone-host:1:feedfeedfeed", progress_total=120)
    run.save(store)
    time.sleep(0.05)
    run.progress_done = 120
    run.save(store)
    last_saved = jobs.wall_ms()
    restart = last_saved + pd.Timedelta(hours=2)
    monkeypatch.setattr(jobs, "wall_ms", lambda: restart)  # the other host's run, silent for two hours
    monkeypatch.setattr(jobs, "now_ms", lambda: restart)
    assert jobs.mark_interrupted(store) == 1
    saved = jobs.get_run(store, run.run_id)
    assert saved["status"] == "failed" and saved["error"] == "interrupted: the process running it stopped"
    duration = saved["finished_at"] - saved["started_at"]
    assert pd.Timedelta(milliseconds=50) <= duration < pd.Timedelta(seconds=30), duration
    assert saved["finished_at"] <= last_saved + pd.Timedelta(seconds=1)



def test_a_run_s_end_is_saved_again_while_the_store_is_away_but_not_in_a_request(store, monkeypatch):
    """A job's end is tried again while the store does not answer (a server restarting), so the run does not read
    'running' for ever; the start-up's marking of interrupted runs, which a request makes and which is itself tried
    again seconds later, fails at once instead of holding that request for minutes."""
    from engine.store import StoreError

    waits: list[float] = []
    monkeypatch.setattr(jobs.time, "sleep", waits.append)
    monkeypatch.setattr(jobs, "FINISH_RETRY_SECONDS", (1, 2, 4))
    real_insert, failures = store.insert_rows, {"left": 0}

    def insert_rows(*args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise StoreError("Connection refused")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(store, "insert_rows", insert_rows)
    job = jobs.JobRun(job="pull:nem", market="NEM")
    job.save(store)
    failures["left"] = 2  # away for two tries, back at the third
    job.finish(store, "succeeded")
    assert waits == [1, 2] and jobs.get_run(store, job.run_id)["status"] == "succeeded"

    failures["left"] = 10  # away for longer than the tries: said, not swallowed
    late = jobs.JobRun(job="pull:ieso", market="IESO")
    monkeypatch.setattr(store, "insert_rows", real_insert)
    late.save(store)
    monkeypatch.setattr(store, "insert_rows", insert_rows)
    waits.clear()
    with pytest.raises(StoreError):
        late.finish(store, "failed", "no file")
    assert waits == [1, 2, 4]

    monkeypatch.setattr(store, "insert_rows", real_insert)
    gone = jobs.JobRun(job="backfill:nem", market="NEM", owner="gone-host:1:feedfeedfeed")
    gone.save(store)
    monkeypatch.setattr(jobs, "wall_ms", lambda: jobs.now_ms() + pd.Timedelta(hours=2))
    monkeypatch.setattr(store, "insert_rows", insert_rows)
    failures["left"], waits[:] = 10, []
    with pytest.raises(StoreError):
        jobs.mark_interrupted(store)
    assert waits == []


def test_what_background_work_raises_is_logged_not_left_in_an_unread_future(caplog):
    """A run now from the admin page, a backfill or a training is submitted and never waited on: what it raises
    (its run's end not recorded, the store away past the retries) reaches the log, once, with its traceback."""
    import logging

    from engine.workers import BackgroundPool

    def record_signals():
        raise ConnectionRefusedError("the store did not answer")

    pool = BackgroundPool(max_workers=1, thread_name_prefix="test-background")
    with caplog.at_level(logging.ERROR, logger="engine.workers"):
        assert pool.submit(lambda: 42).result() == 42
        failed = pool.submit(record_signals)
        assert isinstance(failed.exception(timeout=10), ConnectionRefusedError)
        pool.shutdown(wait=True)
    (record,) = [r for r in caplog.records if r.name == "engine.workers"]
    assert "record_signals" in record.getMessage() and record.exc_info[0] is ConnectionRefusedError

WORKER = textwrap.dedent("""
    import sys, time, datetime as dt, os
    import redis
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from app.trigger_lock import RedisTriggerLock
    url = sys.argv[1]
    lock = RedisTriggerLock(url, {"probe": CronTrigger(second="*/2", timezone="UTC")})
    r = redis.Redis.from_url(url)
    def job():
        fired = dt.datetime.now(dt.timezone.utc)
        if lock.acquire("probe", fired):
            r.rpush("runs", lock.key("probe", fired) + "|" + str(os.getpid()))
    s = BackgroundScheduler(timezone="UTC")
    s.add_job(job, lock.triggers["probe"])
    s.start()
    r.rpush("ready", os.getpid())
    time.sleep(float(sys.argv[2]))
""")


def test_each_trigger_runs_once_across_three_workers(redis_server):
    import redis

    redis_url = redis_server.url
    r = redis.Redis.from_url(redis_url)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, redis_url, "9"]) for _ in range(3)]
    try:
        deadline = time.time() + 20
        while r.llen("ready") < 3 and time.time() < deadline:
            time.sleep(0.1)
        assert r.llen("ready") == 3, "workers did not start"
        r.delete("runs")
        time.sleep(6.5)
        runs = [x.decode() for x in r.lrange("runs", 0, -1)]
    finally:
        for w in workers:
            w.terminate()
            w.wait(10)
    keys = [x.split("|")[0] for x in runs]
    assert len(keys) >= 2, runs  # triggers every 2 s for 6.5 s
    assert len(keys) == len(set(keys)), f"a trigger ran more than once: {runs}"
    slots = sorted(int(k.rsplit(":", 1)[1]) for k in keys)
    assert [b - a for a, b in zip(slots, slots[1:], strict=False)] == [2] * (len(slots) - 1), \
        f"a trigger was missed: {slots}"


def test_a_worker_starting_a_trigger_late_takes_the_same_lock(redis_server):
    from apscheduler.triggers.cron import CronTrigger

    from app.trigger_lock import RedisTriggerLock

    triggers = {"pull": CronTrigger(minute="*/5", timezone="UTC"), "nightly": CronTrigger(hour=2, minute=0,
                                                                                           timezone="UTC")}
    on_time, late = (RedisTriggerLock(redis_server.url, triggers) for _ in range(2))
    at = dt.datetime(2026, 12, 6, 12, 5, 0, 40_000, tzinfo=dt.UTC)
    assert on_time.acquire("pull", at)
    # the other worker's scheduler thread was busy: it starts the 12:05 firing 4 min 30 s late, in the grace
    assert not late.acquire("pull", at + dt.timedelta(minutes=4, seconds=30))
    assert late.acquire("pull", dt.datetime(2026, 12, 6, 12, 10, 0, 900_000, tzinfo=dt.UTC))  # the next firing
    assert on_time.key("nightly", dt.datetime(2026, 12, 6, 2, 3, tzinfo=dt.UTC)) == \
        on_time.key("nightly", dt.datetime(2026, 12, 6, 2, 0, 0, 5_000, tzinfo=dt.UTC))
    assert on_time.acquire("nightly", dt.datetime(2026, 12, 6, 2, 3, tzinfo=dt.UTC))
    assert not late.acquire("nightly", dt.datetime(2026, 12, 6, 2, 0, 0, 5_000, tzinfo=dt.UTC))


def test_a_trigger_whose_lock_cannot_be_reached_is_recorded_not_run(make_app, redis_server):
    from app.scheduler import job_spec, run_scheduled
    from app.signalling import record_signals
    from app.trigger_lock import RedisTriggerLock

    dash_app = make_app(redis_url=redis_server.url)
    store = dash_app.server.extensions["c254"].store
    redis_server.kill()  # between the scheduler's start and the trigger
    lock = RedisTriggerLock(redis_server.url)
    fired = dt.datetime(2026, 12, 6, 12, 5, tzinfo=dt.UTC)
    started = time.monotonic()
    assert run_scheduled(dash_app.server, job_spec("nem_dispatch_5min"), lock, now=lambda: fired) is None
    assert record_signals(dash_app.server, lock, now=lambda: fired) is None
    assert time.monotonic() - started < 10
    runs = jobs.recent_runs(store).set_index("job")
    for job, market in (("nem_dispatch_5min", "NEM"), ("signal_record", "")):
        assert runs.loc[job, "status"] == "failed" and runs.loc[job, "market"] == market
        assert runs.loc[job, "error"].startswith("not run: Redis, which settles which worker runs each trigger, "
                                                 "did not answer (ConnectionError"), runs.loc[job, "error"]
        assert runs.loc[job, "rows_written"] == 0


@pytest.mark.realdata
def test_cli_backfill_lists_and_runs(make_app, data_dir):
    runner = make_app().server.test_cli_runner()
    folder = data_dir / "markets" / "aemo" / "price_and_demand"
    r = runner.invoke(args=["jobs", "backfill", "nem", "2016-02-01", "2016-02-29", "--source", str(folder)])
    assert r.exit_code == 0, r.output
    assert "succeeded; 5/5 done, read 6,960, written 13,920" in r.output
    r = runner.invoke(args=["jobs", "backfill", "nem", "2016-03-01", "2016-02-01"])
    assert r.exit_code != 0
    assert "is before start" in r.output
    r = runner.invoke(args=["jobs", "runs"])
    assert r.exit_code == 0, r.output
    for shown in ("backfill:nem", "succeeded"):
        assert shown in r.output, shown
    r = runner.invoke(args=["jobs", "list"])
    assert r.exit_code == 0, r.output
    for shown in ("nem_price_demand", "ieso_hoep"):
        assert shown in r.output, shown
    r = runner.invoke(args=["jobs", "run", "no_such_job"])
    assert r.exit_code != 0
    assert "unknown job" in r.output


def test_scheduled_run_pulls_the_operators_today_with_its_fetch_options(store, monkeypatch):
    """A 5-minute NEM job fired at 20:00 UTC asks for NEM's today (already the next day) and the newest 2."""
    from app import scheduler

    calls = []

    class Recorder(NemConnector):
        def fetch(self, start, end, **kwargs):
            calls.append((start, end, kwargs))
            return []

    class FakeServices:
        def ready_store(self):
            return store

    monkeypatch.setattr(scheduler, "get_connector", lambda name: Recorder())
    monkeypatch.setattr("ingest.backfill.get_connector", lambda name: Recorder())
    monkeypatch.setattr(scheduler, "services", lambda server: FakeServices())
    spec = scheduler.job_spec("nem_dispatch_5min")
    fired = dt.datetime(2026, 11, 24, 20, 0, tzinfo=dt.UTC)
    run = scheduler.run_scheduled(None, spec, now=lambda: fired)
    assert run.status == "succeeded"
    assert calls == [(dt.date(2026, 11, 24), dt.date(2026, 11, 25), {"kind": "dispatch_is", "latest": 2})]


def test_nightly_training_runs_every_registered_trainer_and_records_failures(store, monkeypatch):
    from app import scheduler
    from engine import training

    class FakeServices:
        def ready_store(self):
            return store

    def broken(_store):
        raise RuntimeError("no data to train on (simulated)")

    monkeypatch.setattr(scheduler, "services", lambda server: FakeServices())
    monkeypatch.setattr(training, "TRAINERS", {"fan": lambda s: 42, "broken": broken})
    runs = scheduler.train_models(None)
    assert [(r.job, r.status, r.rows_written) for r in runs] == [("train:fan", "succeeded", 42),
                                                               ("train:broken", "failed", 0)]
    saved = jobs.get_run(store, runs[1].run_id)
    assert saved["status"] == "failed"
    assert "simulated" in saved["error"]


def test_stopping_drops_queued_work_and_names_what_runs_past_the_grace(make_app):
    """app.scheduler.stop_background, as the store process stops: what is queued never starts, a running
    backfill is asked to stop, and what is still under way after the grace is named for the process to end
    without it."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from app.forecasting import forecasting
    from app.scheduler import SCHEDULER_KEY, backfills, stop_background

    server = make_app().server
    sched = BackgroundScheduler(timezone="UTC")
    sched.start()
    server.extensions[SCHEDULER_KEY] = sched
    release, started = threading.Event(), threading.Event()
    pool = forecasting(server).pool
    pool.submit(lambda: started.set() or release.wait(30))  # a forecast under way, minutes long
    queued = pool.submit(time.sleep, 0)
    cancel = threading.Event()
    running = backfills(server)
    running.cancels["run-1"] = cancel
    stopped_between_periods = running.pool.submit(cancel.wait, 30)  # a backfill that checks its cancel event
    assert started.wait(10)
    began = time.monotonic()
    assert stop_background(server, grace=0.3) == ["forecasting"]
    assert time.monotonic() - began < 5
    assert queued.cancelled()
    assert stopped_between_periods.result(timeout=1) is True
    assert not sched.running
    release.set()
    assert stop_background(server, grace=5) == []  # once it ends, nothing is left


class _Ended(Exception):
    pass


def test_a_process_ending_with_work_under_way_ends_at_once_after_the_grace(make_app, monkeypatch):
    """app.scheduler.end_background, as the store process and each gunicorn worker (app/gunicorn_config.py) call
    it on the way out: nothing under way, it returns; a forecast still training after the grace, the process
    ends there with its exit code instead of Python waiting for the thread."""
    import types

    from app import gunicorn_config
    from app.forecasting import forecasting
    from app.scheduler import end_background

    exits: list[int] = []

    def ended(code):
        exits.append(code)
        raise _Ended

    monkeypatch.setattr(os, "_exit", ended)
    server = make_app(stop_grace_seconds=0.2).server
    end_background(server, 3)
    assert exits == []
    release = threading.Event()
    forecasting(server).pool.submit(release.wait, 30)
    try:
        with pytest.raises(_Ended):
            end_background(server, 3)
        assert exits == [3]
        master = types.SimpleNamespace(wsgi=server, pid=os.getpid() + 1)  # the master tidying up a dead worker
        gunicorn_config.worker_exit(None, master)
        assert exits == [3]
        with pytest.raises(_Ended):
            gunicorn_config.worker_exit(None, types.SimpleNamespace(wsgi=server, pid=os.getpid()))
        assert exits == [3, 0]
        gunicorn_config.worker_exit(None, types.SimpleNamespace(wsgi=None, pid=os.getpid()))  # never loaded
    finally:
        release.set()


@pytest.mark.parametrize(("value", "message"), [("soon", "C254_STOP_GRACE_SECONDS must be 0 or more seconds"),
                                                ("-1", "C254_STOP_GRACE_SECONDS must be 0 or more seconds"),
                                                ("nan", "C254_STOP_GRACE_SECONDS must be 0 or more seconds")])
def test_the_stop_grace_is_a_setting_refused_when_it_is_not_seconds(value, message):
    from app.settings import Settings

    assert Settings.from_env({}).stop_grace_seconds == 10
    assert Settings.from_env({"C254_STOP_GRACE_SECONDS": "2.5"}).stop_grace_seconds == 2.5
    with pytest.raises(ValueError, match=message):
        Settings.from_env({"C254_STOP_GRACE_SECONDS": value})


def test_runs_whose_process_ends_after_the_boot_catch_up_are_marked_within_a_sweep(make_app, monkeypatch):
    """A reloaded worker's predecessor gets some seconds to finish its runs, and on a ClickHouse server the new
    worker's catch-up finds the store at once, while the predecessor still lives: its run is left to it. And in
    the store process's set-up, a web worker that gunicorn replaces after a kill mid-backfill runs no scheduler,
    so no catch-up of its own. Either run read 'running' until the next restart of a process running the
    scheduler; now that process's start-up sweeps for them (app.scheduler.SWEEP_SECONDS) and marks each within
    seconds of its process's end. No request is made."""
    from app import scheduler
    from app.services import services

    monkeypatch.setattr(scheduler, "SWEEP_SECONDS", 0.1)
    server = make_app(scheduler=True).server
    store = services(server).ready_store()
    host = jobs.this_process().split(":")[0]

    def run_of(process: subprocess.Popen) -> jobs.JobRun:
        run = jobs.JobRun(job="backfill:nem", market="NEM", owner=f"{host}:{process.pid}:feedfeedfeed",
                          connector="nem")
        run.save(store)
        return run

    def marked(run: jobs.JobRun) -> None:
        deadline = time.monotonic() + 30
        while (saved := jobs.get_run(store, run.run_id))["status"] == "running":
            assert time.monotonic() < deadline, "the run was not marked after its process ended"
            time.sleep(0.05)
        assert saved["error"] == "interrupted: the process running it stopped"

    predecessor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sibling = None
    try:
        left = run_of(predecessor)
        scheduler.start_at_boot(server)
        startup = server.extensions[scheduler.STARTUP_KEY]
        deadline = time.monotonic() + 30
        while not startup.caught_up:
            assert time.monotonic() < deadline, "the catch-up did not run"
            time.sleep(0.05)
        time.sleep(0.5)  # sweeps while the predecessor lives leave its run alone
        assert jobs.get_run(store, left.run_id)["status"] == "running"
        predecessor.kill()
        predecessor.wait()
        marked(left)
        # a run begun after the boot by another process (a web worker of the store process) that is then killed
        sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        started_later = run_of(sibling)
        time.sleep(0.3)
        assert jobs.get_run(store, started_later.run_id)["status"] == "running"
        sibling.kill()
        sibling.wait()
        marked(started_later)
    finally:
        for process in (predecessor, sibling):
            if process is not None:
                process.kill()
                process.wait()
        assert scheduler.stop_background(server, grace=10) == []


def test_a_running_run_has_no_finish_not_the_run_before_s(store):
    """argMax skips NULLs: the newest run, still running, read the finish of the run before it, and the admin page
    showed its duration as -17,685.9 s."""
    done = jobs.JobRun(job="pull:nem", market="NEM", started_at=pd.Timestamp("2026-12-07 23:00", tz="UTC"))
    done.save(store)
    done.finish(store, "failed", "unreachable")
    running = jobs.JobRun(job="pull:nem", market="NEM", started_at=pd.Timestamp("2026-12-08 03:55", tz="UTC"))
    running.save(store)
    last = jobs.last_run_per_job(store).set_index("job").loc["pull:nem"]
    assert last["last_status"] == "running" and last["last_started"] == pd.Timestamp("2026-12-08 03:55", tz="UTC")
    assert pd.isna(last["last_finished"]) and last["last_error"] == ""
