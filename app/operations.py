"""What the admin page may ask of the running app, as plain values: the connectors and their datasets, the
scheduled jobs with their state, starting, cancelling and running jobs, the forecast models' training and
runs, the users and the audit log.
Callbacks reach it as ``services().operations`` and so know nothing of the scheduler, of ``ingest`` or of
the store's tables. Every action that changes something is written to the audit log with who asked and
from where."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
from flask import Flask, has_request_context

from app import scheduler
from app.auth import current_actor
from app.services import services
from engine import accounts, audit, jobs, training
from engine.forecast import status as forecast_status
from engine.markets import market
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


def _actor() -> tuple[str, str]:
    """(who, from which address) for the audit log: the signed-in user, or the app itself when no request
    is being answered (a script calling the operations)."""
    return current_actor() if has_request_context() else ("app", "")


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

    @staticmethod
    def today(connector: str | None) -> date:
        """Today in ``connector``'s market, the day its files are dated by (UTC's for an unknown connector)."""
        try:
            return market(connector_info(connector or "").market).today()
        except KeyError:
            return datetime.now(UTC).date()

    def start_backfill(self, connector: str, kind: str | None, start: str | None, end: str | None,
                       source: str | None) -> str:
        """Start a backfill in the background and return its run id. ``source`` is a folder relative to the
        data folder to replay (empty: the operator's site). Raises ValueError saying what is wrong."""
        if not all(v is None or isinstance(v, str) and len(v) <= 200 for v in (connector, kind, start, end, source)):
            raise BackfillError("Every field of the backfill form is text of at most 200 characters.")
        if not (start and end):
            raise BackfillError("Choose a start and an end date.")
        data_dir = services(self.server).settings.data_dir
        path: Path | None = None
        if source and source.strip():
            if source.strip().startswith(("/", "~")) or ".." in source:
                raise BackfillError("Give the folder relative to the data folder, without '..'.")
            path = data_dir / source.strip()
        req = validate(connector, start, end, source=path, kind=kind, allowed_roots=(data_dir,))
        run_id = scheduler.backfills(self.server).start(req).run_id
        self._audit(audit.BACKFILL_STARTED, f"{req.connector} {req.kind or 'default dataset'} {req.start}..{req.end} "
                    f"from {source.strip() if path else 'the operator'}; run {run_id}")
        return run_id

    def cancel_backfill(self, run_id: str | None) -> bool:
        """Ask a running backfill to stop after its current period (this process's, or another's through the store);
        False if none such runs."""
        if not (isinstance(run_id, str) and run_id and scheduler.backfills(self.server).cancel(run_id)):
            return False
        self._audit(audit.BACKFILL_CANCELLED, f"run {run_id}")
        return True

    def run_now(self, job_id: str) -> None:
        """Start a scheduled job at once; ValueError for a job that does not exist."""
        if job_id not in self.job_ids():
            raise ValueError("No such job.")
        scheduler.run_now(self.server, job_id)
        self._audit(audit.JOB_RUN_NOW, job_id)

    @staticmethod
    def job_ids() -> list[str]:
        return [spec.id for spec in scheduler.JOBS] + [scheduler.TRAINING_JOB[0], scheduler.ISSUE_JOB[0],
                                                   scheduler.SIGNAL_JOB[0]]

    def _audit(self, action: str, detail: str) -> None:
        actor, address = _actor()
        audit.record(services(self.server).ready_store(), actor, action, detail, address)

    def users(self) -> list[accounts.User]:
        return accounts.list_users(services(self.server).ready_store())

    def create_user(self, email: str, role: str) -> tuple[accounts.User, str]:
        """Create a user with a generated password, returned this once for the admin to pass on.
        AccountError (a ValueError) says what is wrong; nothing is written then."""
        password = accounts.generate_password()
        user = accounts.create_user(services(self.server).ready_store(), email, role, password)
        self._audit(audit.USER_CREATED, f"{user.email} as {user.role}")
        return user, password

    def set_role(self, email: str, role: str) -> accounts.User:
        store = services(self.server).ready_store()
        before = accounts.find_user(store, email)
        user = accounts.set_role(store, email, role)
        if before is not None and before.role != user.role:
            self._audit(audit.ROLE_CHANGED, f"{user.email}: {before.role} → {user.role}")
        return user

    def disable_user(self, email: str) -> accounts.User:
        store = services(self.server).ready_store()
        before = accounts.find_user(store, email)
        user = accounts.disable_user(store, email)
        if before is not None and before.active:
            self._audit(audit.USER_DISABLED, user.email)
        return user

    def audit_log(self, limit: int = 100) -> pd.DataFrame:
        """The newest records first: at, actor, action, detail, address."""
        return audit.recent(services(self.server).ready_store(), limit)

    def job_statuses(self) -> list[JobStatus]:
        """Every scheduled job (the connector pulls and nightly training) with its next and last run."""
        last = jobs.last_run_per_job(services(self.server).ready_store()).set_index("job")
        sched = self.server.extensions.get(scheduler.SCHEDULER_KEY)
        # a web worker of the store process runs none: the store process does, on the same triggers
        elsewhere = scheduler.job_triggers() if sched is None and services(self.server).settings.scheduler_elsewhere \
            else None
        now = datetime.now(UTC)
        listed = [(spec.id, spec.label) for spec in scheduler.JOBS]
        job_id, label, _ = scheduler.TRAINING_JOB
        count = len(training.TRAINERS)
        listed.append((job_id, f"{label} ({count} model{'' if count == 1 else 's'} registered)"))
        listed.append(scheduler.ISSUE_JOB[:2])
        listed.append(scheduler.SIGNAL_JOB[:2])
        out = []
        for job_id, label in listed:
            job = sched.get_job(job_id) if sched else None
            info = last.loc[job_id] if job_id in last.index else None
            next_run = job.next_run_time if job else \
                elsewhere[job_id].get_next_fire_time(None, now) if elsewhere and job_id in elsewhere else None
            out.append(JobStatus(
                job=job_id, label=label, next_run=next_run, scheduled=sched is not None or elsewhere is not None,
                last_status=info["last_status"] if info is not None else "never run",
                last_started=info["last_started"] if info is not None else None,
                last_finished=info["last_finished"] if info is not None else None,
                last_rows=int(info["last_rows"]) if info is not None else None,
                last_error=info["last_error"] if info is not None else ""))
        return out

    def forecasting(self) -> forecast_status.ForecastingStatus:
        """Each series' transformer training (running with its progress, or the last run's outcome), the trained
        models of the registry and the latest issued run of each model per series. Read uncached: the job log is
        not part of the data version, and training progress must show as it moves."""
        return forecast_status.forecasting_status(services(self.server).ready_store())
