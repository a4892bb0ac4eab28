"""The live signals job: every five minutes, two minutes after the NEM 5-minute dispatch pull (so the newest bar has
landed), every strategy decides on the newest bars of each market's default location and each new decision is
recorded (engine.signals.record). It also runs once when the scheduler starts, so a fresh demo store has a live
record at once. A run takes well under a second, on the scheduler's own thread; each is recorded in job_runs.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import pandas as pd
from flask import Flask

from app.services import services
from app.trigger_lock import TriggerLock, claim
from engine.jobs import JobRun
from engine.signals.record import record_live

log = logging.getLogger(__name__)
#: (job id, label, cron fields in UTC), as the scheduler registers it.
SIGNAL_JOB = ("signal_record", "Record live trading signals (each strategy on each market's default location)",
              {"minute": "2-59/5"})


def record_signals(server: Flask, lock: TriggerLock | None = None,
                   now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> JobRun | None:
    """Record the new live signals (at most once per firing across workers); failures are recorded, never
    raised."""
    fired = now()
    if not claim(server, lock, SIGNAL_JOB[0], fired):
        return None
    store = services(server).ready_store()
    run = JobRun(job=SIGNAL_JOB[0], market="")
    run.save(store)
    try:
        run.rows_written = len(record_live(store, pd.Timestamp(fired)))
        run.finish(store, "succeeded")
    except Exception as exc:
        log.exception("recording live signals failed")
        run.finish(store, "failed", f"{type(exc).__name__}: {exc}")
    return run
