"""The record of job runs (scheduled pulls, backfills): one row per run in ``job_runs``, updated as it goes.

Rows are versioned by ``updated_at`` (ReplacingMergeTree), so each update is an insert and readers see the
latest state with FINAL.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field

import pandas as pd

from engine.clock import now_ms, wall_ms
from engine.queries import iso_times
from engine.spreadsheet_cells import safe_frame
from engine.store import Store, StoreError

log = logging.getLogger(__name__)
STATUSES = ("running", "succeeded", "failed", "cancelled")
_process: tuple[int, str] | None = None
#: A run of a process on another host (whose pid cannot be asked about) that has not saved its progress for this
#: long is taken as interrupted.
SILENT_RUN = pd.Timedelta(hours=1)
#: Seconds between the tries to record how a run ended while the store does not answer (a server restarting):
#: about five minutes in all. A run left 'running' by a live process is never taken as interrupted, so a lost
#: outcome would read 'running' until the process restarted.
FINISH_RETRY_SECONDS = (1, 2, 4, 8, 15, 30, 30, 30, 60, 60, 60)


def this_process() -> str:
    """This process, as the owner of the runs it starts: host, pid, and a token that tells it from an earlier
    process that had the same pid (a restarted container is pid 1 again). Made in the process itself, not at
    import: workers forked from a preloading parent each get their own."""
    global _process
    if _process is None or _process[0] != os.getpid():
        _process = (os.getpid(), f"{socket.gethostname()[:200]}:{os.getpid()}:{uuid.uuid4().hex[:12]}")
    return _process[1]


@dataclass
class JobRun:
    job: str
    market: str
    range_start: pd.Timestamp | None = None
    range_end: pd.Timestamp | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "running"
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    #: a connector's run: the connector, and the rows it wrote into each series table (``add_written``)
    connector: str = ""
    rows_by_table: dict[str, int] = field(default_factory=dict)
    progress_done: int = 0
    progress_total: int = 0
    error: str = ""
    owner: str = field(default_factory=this_process)
    started_at: pd.Timestamp = field(default_factory=now_ms)
    finished_at: pd.Timestamp | None = None

    def add_written(self, by_table: dict[str, int]) -> None:
        """Count rows a batch of this run wrote, by table."""
        for table, rows in by_table.items():
            self.rows_by_table[table] = self.rows_by_table.get(table, 0) + int(rows)

    def save(self, store: Store) -> None:
        # The dataclass's fields are job_runs' columns (migrations 003, 020, 022), plus the row version; as rows
        # of Python values, since a frame cannot carry the Map of rows by table into chDB.
        row = {**asdict(self), "updated_at": now_ms()}
        for col in ("range_start", "range_end", "started_at", "finished_at", "updated_at"):
            row[col] = None if row[col] is None or pd.isna(row[col]) else pd.Timestamp(row[col]).to_pydatetime()
        store.insert_rows("job_runs", [list(row.values())], list(row))

    def finish(self, store: Store, status: str, error: str = "", at: pd.Timestamp | None = None, *,
               retry: bool = True) -> None:
        """End the run with ``status``, finished now or ``at`` (an interrupted run: when it was last heard of).
        While the store does not answer, saving is tried again for some minutes (``FINISH_RETRY_SECONDS``) unless
        ``retry`` is False: a caller that a user waits on, and that is itself tried again later, fails at once."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self.status, self.error, self.finished_at = status, error[:4000], now_ms() if at is None else at
        for wait in (*(FINISH_RETRY_SECONDS if retry else ()), None):
            try:
                self.save(store)
                return
            except StoreError as exc:
                if wait is None:
                    raise
                log.warning("could not record run %s of %s as %s (%s); trying again in %d s", self.run_id, self.job,
                            status, exc, wait)
                time.sleep(wait)


def recent_runs(store: Store, limit: int | None = 50, job: str | None = None) -> pd.DataFrame:
    """The newest ``limit`` runs (every one for None), newest first."""
    where = "WHERE job = {job:String}" if job else ""
    bound = "" if limit is None else "LIMIT {n:UInt32}"
    return store.query_df(
        f"SELECT * EXCEPT updated_at FROM job_runs FINAL {where} ORDER BY started_at DESC {bound}",  # noqa: S608 -- the optional filter and bound are fixed clauses; values are bound parameters
        {"n": limit or 0, "job": job or ""})


#: The counts of a run, written whole in the export.
_COUNTS = ("progress_done", "progress_total", "rows_read", "rows_written", "rows_rejected")


def runs_export(store: Store) -> pd.DataFrame:
    """Every recorded run (the table keeps a year), newest first, as an admin downloads it: times as ISO 8601 in
    UTC with the offset (the headers name the zone; "" where there is none, such as a running run's finish), the
    counts, the duration in seconds unrounded (empty while running), the whole error, and the run id the audit
    log names a backfill by."""
    runs = recent_runs(store, None)
    frame = pd.DataFrame({"job": runs["job"].to_numpy(),
                          "range_start (UTC)": iso_times(runs["range_start"], "UTC"),
                          "range_end (UTC)": iso_times(runs["range_end"], "UTC"),
                          "status": runs["status"].to_numpy()})
    for column in _COUNTS:
        frame[column] = runs[column].to_numpy(dtype="int64")
    frame["started_at (UTC)"] = iso_times(runs["started_at"], "UTC")
    frame["finished_at (UTC)"] = iso_times(runs["finished_at"], "UTC")
    frame["duration (s)"] = (runs["finished_at"] - runs["started_at"]).dt.total_seconds().to_numpy(dtype=float)
    frame["error"] = runs["error"].to_numpy()
    frame["run_id"] = runs["run_id"].to_numpy()
    # An error quotes the file or form value that caused it: kept from running as a formula.
    return safe_frame(frame)


def request_cancel(store: Store, run_id: str) -> bool:
    """Ask the running backfill ``run_id`` to stop after its current period, wherever it runs; False (nothing
    asked) when no such backfill is running (other jobs, such as a model's training, do not read the request)."""
    run = get_run(store, run_id)
    if run is None or run["status"] != "running" or not str(run["job"]).startswith("backfill:"):
        return False
    store.command("INSERT INTO job_cancels (run_id, requested_at) VALUES ({r:String}, {at:DateTime64(3, 'UTC')})",
                  {"r": run_id, "at": now_ms().to_pydatetime()})
    return True


def cancel_requested(store: Store, run_id: str) -> bool:
    """Whether an admin asked run ``run_id`` to stop (request_cancel). A store that does not answer asks nothing:
    the run's next write finds out for itself, and a scheduled pull is not failed by this look alone."""
    try:
        return bool(store.scalar("SELECT count() FROM job_cancels WHERE run_id = {r:String}", {"r": run_id}))
    except StoreError as exc:
        log.warning("could not read whether run %s was cancelled: %s", run_id, exc)
        return False


def get_run(store: Store, run_id: str) -> dict | None:
    df = store.query_df("SELECT * EXCEPT updated_at FROM job_runs FINAL WHERE run_id = {r:String}", {"r": run_id})
    return None if df.empty else df.iloc[0].to_dict()


def last_run_per_job(store: Store) -> pd.DataFrame:
    """Each job's newest run: its status, start, finish (none while it runs), rows written and error."""
    # argMax skips a NULL argument, so a running run's missing finish read as the run before's: wrapped in a
    # tuple, the NULL is kept (the admin page showed a running pull's duration as -17,685.9 s)
    return store.query_df(
        "SELECT job, argMax(status, started_at) AS last_status, max(started_at) AS last_started, "
        "argMax(tuple(finished_at), started_at).1 AS last_finished, argMax(rows_written, started_at) AS last_rows, "
        "argMax(error, started_at) AS last_error FROM job_runs FINAL GROUP BY job")


def _owner_gone(owner: str, last_saved: pd.Timestamp, now: pd.Timestamp) -> bool:
    """Whether the process that owns a 'running' run has stopped."""
    host, _, rest = owner.partition(":")
    pid, _, token = rest.partition(":")
    if not (host and pid.isdigit() and token):  # a run saved before runs had owners
        return True
    if host != this_process().split(":", 1)[0]:
        return now - last_saved > SILENT_RUN
    if int(pid) == os.getpid():
        return owner != this_process()  # this pid, an earlier process
    try:
        os.kill(int(pid), 0)  # signal 0 asks whether the process exists, and sends nothing
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # it exists (another user's), or was never a pid
        return False
    return False


def mark_interrupted(store: Store) -> int:
    """Runs left 'running' by a process that has stopped are failed, so nobody waits on them forever; those of a
    live process beside this one (another web worker on the same store) are left to it."""
    stale = store.query_df("SELECT run_id, owner, updated_at FROM job_runs FINAL WHERE status = 'running'")
    # The wall clock, not the version clock: after a burst of writes this process's versions run ahead of the
    # time of day, and another host's run would be taken as silent that much too early.
    now = wall_ms()
    n = 0
    for run_id, owner, last_saved in stale.itertuples(index=False, name=None):
        if not _owner_gone(owner, last_saved, now):
            continue
        data = get_run(store, run_id)
        if data is None:
            continue
        run = JobRun(**{k: (None if pd.isna(v) else v) if k in ("range_start", "range_end", "finished_at")
                        else v for k, v in data.items()})
        # It ended when its process did, some time after it last saved its progress and maybe long before this
        # start: its duration runs to that last save (never past the time of day, nor before its start), not
        # across the time the app was down.
        ended = max(min(pd.Timestamp(last_saved), now), pd.Timestamp(run.started_at))
        # no retry: the start-up's catch-up, or its sweep (app.scheduler), tries it all again seconds later
        run.finish(store, "failed", "interrupted: the process running it stopped", at=ended, retry=False)
        n += 1
    return n
