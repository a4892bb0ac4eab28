"""What the admin page may ask of the running app, as plain values: the connectors and their datasets, the
scheduled jobs with their state, starting, cancelling and running jobs. Callbacks reach it as
``services().operations`` and so know nothing of the scheduler or of ``ingest``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from flask import Flask

from app import scheduler
from app.services import services
from engine import jobs, training
from ingest.backfill import BackfillError, validate
from ingest.registry import connector_info, connector_names


@dataclass(frozen=True)
class JobStatus:
    """One scheduled job as the admin table shows it (times are UTC; None where not known)."""

    job: str
    label: str
    next_run: datetime | None
    scheduled: bool  # False when the scheduler is off in this process
    last_status: str  # "never run" before the first run
    last_started: pd.Timestamp | None
    last_finished: pd.Timestamp | None
    last_rows: int | None
    last_error: str


class Operations:
    def __init__(self, server: Flask):
        self.server = server

    @staticmethod
    def connectors() -> list[str]:
        return connector_names()

    @staticmethod
    def datasets(connector: str | None) -> tuple[str, ...]:
        """The datasets ``connector`` publishes (empty for an unknown connector)."""
        try:
            return connector_info(connector or "").kinds
        except KeyError:
            return ()

    def start_backfill(self, connector: str, kind: str | None, start: str | None, end: str | None,
                       source: str | None) -> str:
        """Start a backfill in the background and return its run id. ``source`` is a folder relative to the
        data folder to replay (empty: the operator's site). Raises ValueError saying what is wrong."""
        if not (start and end):
            raise BackfillError("Choose a start and an end date.")
        data_dir = services(self.server).settings.data_dir
        path: Path | None = None
        if source and source.strip():
            if source.strip().startswith(("/", "~")) or ".." in source:
                raise BackfillError("Give the folder relative to the data folder, without '..'.")
            path = data_dir / source.strip()
        req = validate(connector, start, end, source=path, kind=kind, allowed_roots=(data_dir,))
        return scheduler.backfills(self.server).start(req).run_id

    def cancel_backfill(self, run_id: str | None) -> bool:
        """Ask a backfill of this process to stop after its current period; False if none such runs."""
        return bool(run_id) and scheduler.backfills(self.server).cancel(run_id)

    def run_now(self, job_id: str) -> None:
        scheduler.run_now(self.server, job_id)

    def job_statuses(self) -> list[JobStatus]:
        """Every scheduled job (the connector pulls and nightly training) with its next and last run."""
        last = jobs.last_run_per_job(services(self.server).ready_store()).set_index("job")
        sched = self.server.extensions.get(scheduler.SCHEDULER_KEY)
        listed = [(spec.id, spec.label) for spec in scheduler.JOBS]
        job_id, label, _ = scheduler.TRAINING_JOB
        listed.append((job_id, f"{label} ({len(training.TRAINERS)} models registered)"))
        out = []
        for job_id, label in listed:
            job = sched.get_job(job_id) if sched else None
            info = last.loc[job_id] if job_id in last.index else None
            out.append(JobStatus(
                job=job_id, label=label, next_run=job.next_run_time if job else None, scheduled=sched is not None,
                last_status=info["last_status"] if info is not None else "never run",
                last_started=info["last_started"] if info is not None else None,
                last_finished=info["last_finished"] if info is not None else None,
                last_rows=int(info["last_rows"]) if info is not None else None,
                last_error=info["last_error"] if info is not None else ""))
        return out
