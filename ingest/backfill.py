"""Backfills: pull one connector over a date range, period by period (or file by file when replaying a local
folder), recording progress in ``job_runs``. Each period's files are written as one batch, so a cancelled or
failed backfill leaves whole periods behind, never half a file."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from engine.files import IngestError
from engine.jobs import JobRun
from engine.store import Store
from ingest.base import Connector
from ingest.load import load_raw
from ingest.registry import connector_info, get_connector

log = logging.getLogger(__name__)


class BackfillError(ValueError):
    """A backfill request that makes no sense; the message says why."""


@dataclass(frozen=True)
class BackfillRequest:
    connector: str
    start: dt.date
    end: dt.date  # inclusive
    source: Path | None = None  # replay a local file/folder instead of the operator's site
    kind: str | None = None
    fetch_options: tuple[tuple[str, object], ...] = ()  # extra connector fetch arguments (e.g. latest=2)


def _as_date(value, what: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise BackfillError(f"{what} must be a date like 2024-01-31 (got {value!r})") from exc


def validate(connector: str, start, end, *, today: dt.date | None = None, source=None, kind: str | None = None,
             allowed_roots: tuple[Path, ...] = ()) -> BackfillRequest:
    """Refuse ranges that make no sense: end before start, in the future, before the operator publishes."""
    try:
        info = connector_info(connector)
    except KeyError as exc:
        raise BackfillError(str(exc.args[0])) from exc
    s, e = _as_date(start, "start"), _as_date(end, "end")
    today = today or dt.date.today()
    if e < s:
        raise BackfillError(f"end {e} is before start {s}")
    if s > today:
        raise BackfillError(f"start {s} is in the future (today is {today})")
    if e > today:
        raise BackfillError(f"end {e} is in the future (today is {today}); {info.label} publishes no data yet")
    if kind is not None and info.kinds and kind not in info.kinds:
        raise BackfillError(f"{info.label} has no dataset {kind!r}; choose one of {', '.join(info.kinds)}")
    earliest = info.earliest_for(kind)
    if s < earliest:
        what = f"{info.label} {kind}" if kind else info.label
        raise BackfillError(f"{what} publishes nothing before {earliest} (start {s})")
    path = None
    if source:
        path = Path(source).expanduser().resolve()
        # Roots resolved too: a data folder reached through a symlink holds what lies in its target.
        roots = [Path(r).resolve() for r in allowed_roots]
        if roots and not any(path == r or r in path.parents for r in roots):
            raise BackfillError("local replay files must lie under the configured data folder")
        if not path.exists():
            raise BackfillError(f"no such file or folder to replay: {source}")
    return BackfillRequest(info.name, s, e, path, kind)


def run_backfill(store: Store, req: BackfillRequest, run: JobRun, cancel: threading.Event | None = None,
                 connector: Connector | None = None) -> JobRun:
    """Run ``req`` to the end (or until ``cancel`` is set), saving progress on ``run`` after each unit."""
    conn = connector or get_connector(req.connector)
    kwargs = ({"kind": req.kind} if req.kind else {}) | dict(req.fetch_options)
    cancel = cancel or threading.Event()
    try:
        if req.source is not None:
            files = conn.fetch(req.start, req.end, source=req.source, **kwargs)
            units = [(f.name, lambda f=f: [f]) for f in files]
            if not units:
                raise BackfillError(f"no {req.connector} files for {req.start}..{req.end} under {req.source}")
        else:
            units = [(f"{a}..{b}", lambda a=a, b=b: conn.fetch(a, b, **kwargs))
                     for a, b in conn.fetch_spans(req.start, req.end, req.kind)]
        run.progress_total = len(units)
        run.save(store)
        for label, fetch in units:
            if cancel.is_set():
                run.finish(store, "cancelled", f"cancelled after {run.progress_done} of {run.progress_total}")
                return run
            report = load_raw(store, conn, fetch())
            run.rows_read += report.rows_read
            run.rows_written += report.rows_written
            run.rows_rejected += report.rows_rejected
            run.progress_done += 1
            run.save(store)
            log.info("backfill %s %s: %s", req.connector, label, report.summary())
        run.finish(store, "succeeded")
    except (IngestError, BackfillError) as exc:
        run.finish(store, "failed", str(exc))
    except Exception as exc:  # network, store: recorded and visible, never raised into the scheduler
        log.exception("backfill %s failed", req.connector)
        run.finish(store, "failed", f"{type(exc).__name__}: {exc}")
    return run
