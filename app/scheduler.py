"""APScheduler inside the app process: connector pulls on the operators' cadences, and admin backfills.

The scheduler starts as a gunicorn worker boots (or at the first request another server receives), never at
import or in a CLI command, so a forked gunicorn worker (not the master) owns it and the embedded store is opened in
that same process.
With several workers or hosts (Redis configured), every trigger takes a Redis lock named after the job and
the time it was scheduled to fire (app.trigger_lock), so exactly one worker runs it, even one that starts it late.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from collections.abc import Callable

import pandas as pd
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from app.forecasting import FORECASTING_KEY, ISSUE_JOB, forecasting
from app.services import services
from app import system
from app.signalling import SIGNAL_JOB, record_signals
from app.trigger_lock import MISFIRE_GRACE_SECONDS, RedisTriggerLock, TriggerLock, claim
from app.warming import WATCH_KEY, start_watch, warms_after_loads
from engine.jobs import JobRun, mark_interrupted, request_cancel
from engine.training import train_all
from engine.workers import BackgroundPool
from ingest.backfill import BackfillRequest, run_backfill
from ingest.registry import get_connector

log = logging.getLogger(__name__)
SCHEDULER_KEY = "c254_scheduler"
BACKFILLS_KEY = "c254_backfills"


@dataclass(frozen=True)
class JobSpec:
    id: str
    label: str
    connector: str
    kind: str | None
    cron: dict  # CronTrigger fields, UTC
    lookback_days: int  # each run pulls this many days back to today (operators revise recent data)
    fetch_options: tuple[tuple[str, object], ...] = ()


# The operators' cadences. NEM aggregated price-and-demand files are rebuilt through the day: pull every 30 min.
JOBS: tuple[JobSpec, ...] = (
    # NEMweb publishes a DispatchIS report every 5 minutes; the two newest cover one missed run.
    JobSpec("nem_dispatch_5min", "NEM 5-minute dispatch prices, demand, interconnectors", "nem", "dispatch_is",
            {"minute": "*/5"}, 1, (("latest", 2),)),
    JobSpec("nem_price_demand", "NEM prices and demand", "nem", "price_and_demand", {"minute": "*/30"}, 2),
    JobSpec("nem_dispatch_price", "NEM dispatch prices (MMSDM)", "nem", "DISPATCHPRICE", {"hour": "3", "minute": "10"},
            35),
    JobSpec("nem_interconnectors", "NEM interconnector flows (MMSDM)", "nem", "DISPATCHINTERCONNECTORRES",
            {"hour": "3", "minute": "20"}, 35),
    # IESO publishes hourly; the yearly HOEP and zonal-demand files grow by an hour each hour.
    JobSpec("ieso_hoep", "IESO HOEP, predispatch and OR prices", "ieso", "PriceHOEPPredispOR", {"minute": "15"}, 1),
    JobSpec("ieso_demand", "IESO zonal demand", "ieso", "DemandZonal", {"minute": "20"}, 1),
    JobSpec("ieso_generation", "IESO generator output and capability", "ieso", "GenOutputCapability",
            {"minute": "25"}, 1),
    JobSpec("ieso_interties", "IESO intertie schedules and flows", "ieso", "IntertieScheduleFlow",
            {"minute": "30"}, 1),
    # Brazil publishes daily: CCEE's hourly PLD for the next day in the evening (Brasilia, UTC-3),
    # ONS's verified load and reservoir levels for the previous day in the morning.
    JobSpec("brazil_pld", "Brazil hourly PLD (CCEE)", "brazil", "pld_horario", {"hour": "23", "minute": "40"}, 7),
    JobSpec("brazil_load", "Brazil daily load (ONS)", "brazil", "carga_energia", {"hour": "13", "minute": "10"}, 7),
    JobSpec("brazil_reservoirs", "Brazil reservoir storage (ONS)", "brazil", "ear_subsistema",
            {"hour": "13", "minute": "20"}, 7),
    JobSpec("brazil_generation", "Brazil generation by plant (ONS)", "brazil", "geracao_usina", {"minute": "40"}, 2),
    JobSpec("brazil_load_forecast", "Brazil programmed load (ONS forecast)", "brazil", "carga_programada",
            {"hour": "21", "minute": "30"}, 1),
    # The operators' own forecasts, each run kept as issued: AEMO publishes a pre-dispatch and an operational
    # demand forecast run every 30 minutes (a few minutes into the half hour) and a P5MIN run every 5; IESO
    # rewrites the day's VGForecastSummary with each hourly forecast.
    JobSpec("nem_predispatch", "NEM pre-dispatch forecast (PredispatchIS)", "nem", "predispatch",
            {"minute": "5,35"}, 1, (("latest", 2),)),
    JobSpec("nem_p5min", "NEM 5-minute pre-dispatch forecast (P5MIN)", "nem", "p5min", {"minute": "*/5"}, 1,
            (("latest", 2),)),
    JobSpec("nem_demand_forecast", "NEM operational demand forecast", "nem", "demand_hh", {"minute": "5,35"}, 1,
            (("latest", 2),)),
    JobSpec("ieso_vg_forecast", "IESO wind and solar forecast (VGForecastSummary)", "ieso", "VGForecastSummary",
            {"minute": "5"}, 0),
)


TRAINING_JOB = ("model_training", "Nightly model training", {"hour": "2", "minute": "0"})
#: the jobs besides the connectors' pulls: (job id, label, cron fields in UTC)
OTHER_JOBS = (TRAINING_JOB, ISSUE_JOB, SIGNAL_JOB)


def train_models(server: Flask, lock: TriggerLock | None = None,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> list[JobRun]:
    """Run every trainer registered in :mod:`engine.training` once (at most once per firing across workers)."""
    if not claim(server, lock, TRAINING_JOB[0], now()):
        return []
    return train_all(services(server).ready_store())


def job_spec(job_id: str) -> JobSpec:
    for spec in JOBS:
        if spec.id == job_id:
            return spec
    raise KeyError(f"unknown job {job_id!r}")


def run_scheduled(server: Flask, spec: JobSpec, lock: TriggerLock | None = None,
                  now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> JobRun | None:
    """One scheduled run of ``spec``: recorded in job_runs; failures are recorded, never raised."""
    fired = now()
    if not claim(server, lock, spec.id, fired, spec.connector.upper()):
        return None
    store = services(server).ready_store()
    # "Today" is the operator's today: a NEM day starts at 14:00 UTC.
    tz = get_connector(spec.connector).timezone
    end = pd.Timestamp(fired).tz_convert(tz).date()
    start = end - dt.timedelta(days=spec.lookback_days)
    run = JobRun(job=spec.id, market=spec.connector.upper(), range_start=pd.Timestamp(start, tz="UTC"),
                 range_end=pd.Timestamp(end, tz="UTC"))
    run.save(store)
    done = run_backfill(store, BackfillRequest(spec.connector, start, end, kind=spec.kind,
                                               fetch_options=spec.fetch_options), run)
    return done  # its market's hot views are warmed by this process's VersionWatch (app.warming)


class Backfills:
    """Admin backfills, one at a time in a background thread, each cancellable."""

    def __init__(self, server: Flask):
        self.server = server
        self.pool = BackgroundPool(max_workers=1, thread_name_prefix="backfill")
        self.cancels: dict[str, threading.Event] = {}

    def start(self, req: BackfillRequest) -> JobRun:
        store = services(self.server).ready_store()
        run = JobRun(job=f"backfill:{req.connector}" + (f":{req.kind}" if req.kind else ""),
                     market=req.connector.upper(), range_start=pd.Timestamp(req.start, tz="UTC"),
                     range_end=pd.Timestamp(req.end, tz="UTC"))
        run.save(store)
        cancel = threading.Event()
        self.cancels[run.run_id] = cancel
        self.pool.submit(run_backfill, store, req, run, cancel).add_done_callback(
            lambda _, run_id=run.run_id: self.cancels.pop(run_id, None))
        return run

    def cancel(self, run_id: str) -> bool:
        """Stop the backfill ``run_id`` after its current period: this process's at once, another's (a web worker
        the cancel did not reach) through the store, where it looks between periods. False when none runs."""
        event = self.cancels.get(run_id)
        if event is None:
            return request_cancel(services(self.server).ready_store(), run_id)
        event.set()
        return True


def backfills(server: Flask) -> Backfills:
    if BACKFILLS_KEY not in server.extensions:
        server.extensions[BACKFILLS_KEY] = Backfills(server)
    return server.extensions[BACKFILLS_KEY]


def job_triggers() -> dict[str, CronTrigger]:
    """Each scheduled job's trigger (UTC), by job id."""
    return {job_id: CronTrigger(timezone="UTC", **cron) for job_id, cron in
            [*((spec.id, spec.cron) for spec in JOBS), *((job[0], job[2]) for job in OTHER_JOBS)]}


def build_scheduler(server: Flask) -> BackgroundScheduler:
    settings = services(server).settings
    triggers = job_triggers()
    lock = RedisTriggerLock(settings.redis_url, triggers) if settings.redis_url else None
    sched = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                              "misfire_grace_time": MISFIRE_GRACE_SECONDS})
    for spec in JOBS:
        sched.add_job(run_scheduled, triggers[spec.id], args=[server, spec, lock], id=spec.id, name=spec.label)
    for (job_id, label, _cron), run in zip(OTHER_JOBS, (train_models, issue_forecasts, record_signals), strict=True):
        # the signals also once at start, so a fresh store has a live record at once
        at_start = {"next_run_time": dt.datetime.now(dt.UTC)} if job_id == SIGNAL_JOB[0] else {}
        sched.add_job(run, triggers[job_id], args=[server, lock], id=job_id, name=label, **at_start)
    return sched


def issue_forecasts(server: Flask, lock: TriggerLock | None = None,
                    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
    """Issue every series' owed forecast runs on the forecasting thread (once per firing across workers)."""
    if not claim(server, lock, ISSUE_JOB[0], now()):
        return
    forecasting(server).issue()


def run_now(server: Flask, job_id: str) -> None:
    """Run a scheduled job at once, in the backfill thread (so the request returns immediately)."""
    if job_id == TRAINING_JOB[0]:
        forecasting(server).pool.submit(train_models, server)
        return
    if job_id == ISSUE_JOB[0]:
        forecasting(server).issue()
        return
    if job_id == SIGNAL_JOB[0]:
        backfills(server).pool.submit(record_signals, server)
        return
    spec = job_spec(job_id)
    backfills(server).pool.submit(run_scheduled, server, spec)


#: How long after a failed try the start-up catch-up waits before it is tried again (by a request, or by the
#: start-up's own thread in a gunicorn worker).
CATCH_UP_RETRY_SECONDS = 5.0
STARTUP_KEY = "c254_startup"
#: How often a process running the scheduler looks for runs whose process has ended (one small read of job_runs):
#: such a run is marked failed within this, not at the next restart.
SWEEP_SECONDS = 10.0


@dataclass
class _StartUp:
    """A serving process's start: the scheduler once, then the catch-up once the store has answered."""

    started: bool = False
    caught_up: bool = False
    next_try: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    catch_up_lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def start(self, server: Flask) -> None:
        """The scheduler, once (and the warming that follows loads, where this process warms)."""
        if self.started:
            return
        with self.lock:
            if self.started:
                return
            sched = build_scheduler(server)
            sched.start()
            if warms_after_loads(server):  # now, and after every load, backfill or forecast run of a market
                start_watch(server)
            server.extensions[SCHEDULER_KEY] = sched
            self.started = True
            log.info("scheduler started with %d jobs", len(sched.get_jobs()))

    def try_catch_up(self, server: Flask) -> None:
        """One try at the catch-up, unless it is done, another thread is trying, or the last try was too recent:
        a caller never queues behind a store that hangs."""
        if self.caught_up or time.monotonic() < self.next_try or not self.catch_up_lock.acquire(blocking=False):
            return
        try:
            if not self.caught_up:
                self.caught_up = _catch_up(server)
                self.next_try = time.monotonic() + CATCH_UP_RETRY_SECONDS
        finally:
            self.catch_up_lock.release()


def start_on_first_request(server: Flask) -> None:
    """The scheduler and the catch-up start at the first request, for a server that does not start them itself
    (``flask run``, a test client); a gunicorn worker starts them as it boots (``start_at_boot``)."""
    state = server.extensions.setdefault(STARTUP_KEY, _StartUp())

    @server.before_request
    def _start_scheduler() -> None:
        if state.caught_up:
            return
        state.start(server)
        state.try_catch_up(server)


def start_at_boot(server: Flask) -> None:
    """For a gunicorn worker as it boots (app.gunicorn_config.post_worker_init): what its first request would
    start, started now, so that an app nobody has opened yet still pulls the operators' data on schedule, marks
    the runs its predecessor left, has its hot views warm before the first user asks, and, with order routing
    on, holds its FIX session. The catch-up is tried in a thread of its own until the store answers (a
    predecessor still holding the embedded store, a server still starting); the worker answers requests
    meanwhile. Then the same thread sweeps every SWEEP_SECONDS for runs whose process has ended since (a
    reloaded worker's predecessor that spent its grace with a backfill unfinished, a web worker killed
    mid-backfill and replaced by gunicorn while the store process runs on): before, such a run read 'running'
    until the next restart of a process running the scheduler."""
    svc = services(server)
    system.HISTORY.start_sampling()  # the System page's last minutes are ready when an admin first opens it
    state: _StartUp | None = server.extensions.get(STARTUP_KEY)  # registered when this process runs the scheduler
    if state is not None:
        state.start(server)
    if svc.settings.warming == "watch":  # a web worker warming its own cache (app.warming)
        start_watch(server)
    if state is None and not svc.settings.fix_configured:
        return

    def start_up() -> None:
        if state is not None:
            while not state.caught_up and not state.stopping.is_set():
                state.try_catch_up(server)
                state.stopping.wait(max(0.05, state.next_try - time.monotonic()))
        if svc.settings.fix_configured and not (state and state.stopping.is_set()):
            try:  # after the catch-up: the store has answered
                svc.routing.ensure_session()
            except Exception:  # as at a first request: routing waits for the admin switch or a request
                log.exception("could not start the FIX session")
        if state is not None:
            while not state.stopping.wait(SWEEP_SECONDS):
                _sweep(server)

    threading.Thread(target=start_up, name="start-up", daemon=True).start()


def _catch_up(server: Flask) -> bool:
    """What a start owes, once the store answers: runs left 'running' by a stopped process are failed, then
    forecasts owed since the store last served are issued and series without a transformer trained, in the
    background. False when the store did not answer (a ClickHouse server still starting, a reloading worker's
    predecessor still holding the embedded store): a later request tries again."""
    try:
        mark_interrupted(services(server).ready_store())
    except Exception as exc:  # a store problem must not stop the page from answering
        log.warning("could not mark interrupted runs (%s); tried again after %.0f s", exc,
                    CATCH_UP_RETRY_SECONDS)
        return False
    forecasting(server).first_start()
    return True


def _sweep(server: Flask) -> None:
    """Fail the runs whose process has ended (``mark_interrupted``); a store that does not answer is tried at the
    next sweep."""
    try:
        mark_interrupted(services(server).ready_store())
    except Exception as exc:  # a store problem must not end the sweeping
        log.debug("could not sweep for interrupted runs: %s", exc)


def stop_background(server: Flask, grace: float) -> list[str]:
    """Stop this app's background work so that its process can end: the scheduler starts nothing more, queued
    work is dropped, a running backfill is asked to stop between periods, and what is under way gets ``grace``
    seconds to finish. Returns what still runs after that (its threads cannot be interrupted: a process that
    ends anyway leaves those runs to ``mark_interrupted`` at its next start, as a killed one does)."""
    stoppers: dict[str, Callable[[], None]] = {}
    if STARTUP_KEY in server.extensions:  # its catch-up stops trying
        server.extensions[STARTUP_KEY].stopping.set()
    if WATCH_KEY in server.extensions:  # a worker's warming: its cache goes with it
        stoppers["warming"] = server.extensions[WATCH_KEY].stop
    sched = server.extensions.get(SCHEDULER_KEY)
    if sched is not None and sched.running:
        stoppers["scheduled jobs"] = lambda: sched.shutdown(wait=True)
    if BACKFILLS_KEY in server.extensions:
        running = server.extensions[BACKFILLS_KEY]
        for cancel in list(running.cancels.values()):
            cancel.set()
        stoppers["a backfill"] = lambda: running.pool.shutdown(wait=True, cancel_futures=True)
    if FORECASTING_KEY in server.extensions:
        pool = server.extensions[FORECASTING_KEY].pool
        stoppers["forecasting"] = lambda: pool.shutdown(wait=True, cancel_futures=True)
    threads = {what: threading.Thread(target=stop, name=f"stopping {what}", daemon=True)
               for what, stop in stoppers.items()}
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + grace
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    return [what for what, thread in threads.items() if thread.is_alive()]


def end_background(server: Flask, exit_code: int = 0) -> None:
    """For a process about to exit: ``stop_background`` with the settings' grace, and if work is still under
    way, end the process at once with ``exit_code``, as a kill would, rather than let Python wait for those
    threads at exit (a transformer's training takes minutes) while the process holds its store."""
    left = stop_background(server, services(server).settings.stop_grace_seconds)
    if left:
        log.warning("stopping with %s still running: ended with this process, marked interrupted at the next "
                    "start", " and ".join(left))
        logging.shutdown()
        os._exit(exit_code)
