"""Which worker runs a scheduled trigger, when several workers or hosts share a Redis: the first to take the
trigger's lock. A trigger is named by its job and the time it was scheduled to fire, so a worker whose run starts
late (a busy scheduler thread, within the misfire grace) takes the same lock as the one that ran on time.

Redis unreachable: no worker can tell whether another ran the trigger, and running it in every worker would load
the same batch twice at once (each passing the duplicate check before the other writes). The trigger is skipped and
a failed run saying why is recorded; the job's next trigger catches up, since each pull reaches back over days.

The same Redis keeps two batches of one market from being written at once by any two workers (``RedisMarketLock``,
engine.store.write_locks): a backfill or "run now" takes no trigger lock.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from typing import Protocol

from apscheduler.triggers.base import BaseTrigger
from flask import Flask

from app.services import services
from app.settings import REDIS_CLIENT_OPTIONS
from engine.jobs import JobRun
from engine.store import Store, StoreError
from engine.store.write_locks import WAIT_SECONDS

log = logging.getLogger(__name__)
#: How late a scheduled run may start and still run (APScheduler's misfire_grace_time for every job)
MISFIRE_GRACE_SECONDS = 300
#: A run of no registered trigger is named by its start floored to this (workers fire a few ms apart)
_SLOT_SECONDS = 60


class LockUnavailable(RuntimeError):
    """The lock's store (Redis) did not answer: whether another worker runs the trigger is unknown."""


class TriggerLock(Protocol):
    def acquire(self, job_id: str, fired_at: dt.datetime) -> bool: ...


class RedisTriggerLock:
    """At most one holder per (job, scheduled fire time) across every worker and host sharing the Redis."""

    def __init__(self, url: str, triggers: Mapping[str, BaseTrigger] | None = None):
        import redis

        self.redis = redis.Redis.from_url(url, **REDIS_CLIENT_OPTIONS)
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self.triggers = dict(triggers or {})

    def fire_time(self, job_id: str, at: dt.datetime) -> dt.datetime:
        """The scheduled time a run of ``job_id`` starting at ``at`` belongs to: its trigger's latest fire time at
        or before ``at`` within the misfire grace; for a job without a registered trigger (or a run outside any
        firing), ``at`` floored to the minute."""
        trigger = self.triggers.get(job_id)
        if trigger is not None:
            latest = None
            fire = trigger.get_next_fire_time(None, at - dt.timedelta(seconds=MISFIRE_GRACE_SECONDS))
            while fire is not None and fire <= at:
                latest = fire
                fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
            if latest is not None:
                return latest
        slot = int(at.timestamp()) // _SLOT_SECONDS * _SLOT_SECONDS
        return dt.datetime.fromtimestamp(slot, dt.UTC)

    def key(self, job_id: str, fired_at: dt.datetime) -> str:
        return f"c254:trigger:{job_id}:{int(self.fire_time(job_id, fired_at).timestamp())}"

    def acquire(self, job_id: str, fired_at: dt.datetime) -> bool:
        import redis

        try:
            return bool(self.redis.set(self.key(job_id, fired_at), self.me, nx=True, ex=6 * 3600))
        except redis.RedisError as exc:
            raise LockUnavailable(f"not run: Redis, which settles which worker runs each trigger, did not answer "
                                  f"({type(exc).__name__}: {exc})") from exc


def claim(server: Flask, lock: TriggerLock | None, job_id: str, fired_at: dt.datetime, market: str = "") -> bool:
    """Whether this worker runs the trigger of ``job_id`` fired at ``fired_at``: always without a lock (one
    worker); else if it takes the lock. A lock that cannot be reached records a failed run saying so."""
    if lock is None:
        return True
    try:
        if lock.acquire(job_id, fired_at):
            return True
    except LockUnavailable as exc:
        log.warning("%s at %s %s", job_id, fired_at, exc)
        store = services(server).ready_store()
        run = JobRun(job=job_id, market=market)
        run.save(store)
        run.finish(store, "failed", str(exc))
        return False
    log.debug("%s at %s runs on another worker", job_id, fired_at)
    return False


class RedisMarketLock:
    """``Store.market_lock`` across hosts (engine.store.write_locks): one batch at a time per market of a
    database, for every worker sharing the Redis. Held at most WAIT_SECONDS (a holder that died frees it then)."""

    def __init__(self, url: str, database: str):
        import redis

        self.redis = redis.Redis.from_url(url, **REDIS_CLIENT_OPTIONS)
        self.database = database

    @contextlib.contextmanager
    def __call__(self, market: str) -> Iterator[None]:
        import redis

        lock = self.redis.lock(f"c254:write:{self.database}:{market}", timeout=WAIT_SECONDS,
                               blocking_timeout=WAIT_SECONDS, sleep=0.05)
        try:
            taken = lock.acquire()
        except redis.RedisError as exc:
            # Unlocked, two workers loading the same rows could both count them in the hourly buckets
            raise StoreError(f"not written: Redis, which keeps two loads of {market} from writing at once, did "
                             f"not answer ({type(exc).__name__}: {exc})") from exc
        if not taken:
            raise StoreError(f"another load has been writing {market} for over {WAIT_SECONDS:.0f} s; try the "
                             "load again later")
        try:
            yield
        finally:
            with contextlib.suppress(redis.RedisError):  # expired or Redis gone: the lock frees itself
                lock.release()


def market_lock_for(redis_url: str | None, store: Store) -> RedisMarketLock | None:
    """The lock across hosts a store's batches take besides their own (engine.store.write_locks): Redis's, for
    workers reaching a server (possibly from several hosts); none for an embedded store, whose processes all run
    on its machine and take the flock beside it, so a Redis outage does not stop their loads."""
    return RedisMarketLock(redis_url, store.database) if redis_url and store.shared_directory is None else None
