"""APScheduler inside the app process: connector pulls on the operators' cadences.

It starts on the first request a serving process receives, never at import or in a CLI command, so a forked
gunicorn worker (not the master) owns it and the embedded store is opened in that same process.
"""
from __future__ import annotations

import logging
import threading

import pandas as pd
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app.services import services

log = logging.getLogger(__name__)
_started: set[int] = set()
_lock = threading.Lock()


def pull_nem_prices(server: Flask) -> None:
    """Fetch this month's AEMO aggregated price-and-demand files for the five regions and load them."""
    from ingest.nem import NemConnector

    from ingest.load import load_raw

    conn = NemConnector()
    today = pd.Timestamp.now(tz=conn.timezone).date()
    try:
        raws = conn.fetch(today.replace(day=1), today)
        report = load_raw(services(server).ready_store(), conn, raws)
        log.info("nem price pull: %s", report.summary())
    except Exception as exc:  # a failing pull must never take the scheduler down
        log.warning("nem price pull failed: %s", exc)


def build_scheduler(server: Flask) -> BackgroundScheduler:
    sched = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                              "misfire_grace_time": 300})
    sched.add_job(pull_nem_prices, "interval", minutes=30, args=[server], id="nem_prices",
                  name="NEM price and demand",
                  next_run_time=pd.Timestamp.now(tz="UTC").to_pydatetime() + pd.Timedelta(minutes=1))
    return sched


def start_on_first_request(server: Flask) -> None:
    @server.before_request
    def _start_scheduler() -> None:
        if id(server) in _started:
            return
        with _lock:
            if id(server) in _started:
                return
            sched = build_scheduler(server)
            sched.start()
            server.extensions["c254_scheduler"] = sched
            _started.add(id(server))
            log.info("scheduler started with %d jobs", len(sched.get_jobs()))
