"""Backfills: pull one connector over a date range, period by period (or, replaying a local folder, in batches
of its files), recording progress in ``job_runs``. Each period's files, or each batch of replayed files, are
written as one batch, so a cancelled or failed backfill leaves whole batches behind, never half a file."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.files import IngestError, RawFile
from engine.jobs import JobRun, cancel_requested
from engine.markets import market
from engine.store import Store
from ingest.base import Connector
from ingest.load import load_raw
from ingest.registry import connector_info, get_connector

log = logging.getLogger(__name__)

#: Replayed files are written in batches of up to this many bytes of text (a zipped file counting as
#: ZIPPED_TEXT_RATIO times its size). Every batch has fixed costs (a statement and a part per table and
#: aggregate, a version bump), which a year of monthly region files paid sixty times over, one file a batch:
#: a year of NEM's five regions (about 25 MB) is now one batch.
REPLAY_BATCH_BYTES = 32 * 2**20
ZIPPED_TEXT_RATIO = 16
_ZIP = b"PK\x03\x04"


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
    # Operators date their files by the market's day, not the server's: NEM's begins 10 hours before UTC's.
    zone = market(info.market)
    today = today or zone.today()
    if e < s:
        raise BackfillError(f"end {e} is before start {s}")
    if s > today:
        raise BackfillError(f"start {s} is in the future: today is {today} in {zone.timezone_label}")
    if e > today:
        raise BackfillError(f"end {e} is in the future: today is {today} in {zone.timezone_label}, and "
                            f"{info.label} has published no data for a later day")
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


def replay_batches(files: list[RawFile]) -> list[list[RawFile]]:
    """``files`` in order, cut into batches of at most REPLAY_BATCH_BYTES of text (a file larger than that is
    a batch of its own)."""
    batches: list[list[RawFile]] = []
    size = 0
    for f in files:
        weight = len(f.data) * (ZIPPED_TEXT_RATIO if f.data[:4] == _ZIP else 1)
        if not batches or size + weight > REPLAY_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(f)
        size += weight
    return batches


def run_backfill(store: Store, req: BackfillRequest, run: JobRun, cancel: threading.Event | None = None,
                 connector: Connector | None = None) -> JobRun:
    """Run ``req`` to the end (or until ``cancel`` is set), saving progress on ``run`` after each unit."""
    conn = connector or get_connector(req.connector)
    kwargs = ({"kind": req.kind} if req.kind else {}) | dict(req.fetch_options)
    run.connector = req.connector
    cancel = cancel or threading.Event()
    try:
        # (label, the unit's files, how many steps of progress it is: a period, or each replayed file)
        units: list[tuple[str, Callable[[], list[RawFile]], int]]
        if req.source is not None:
            files = conn.fetch(req.start, req.end, source=req.source, **kwargs)
            units = [(batch[0].name if len(batch) == 1 else f"{batch[0].name}..{batch[-1].name}",
                      lambda batch=batch: batch, len(batch)) for batch in replay_batches(files)]
            if not units:
                raise BackfillError(f"no {req.connector} files for {req.start}..{req.end} under {req.source}")
        else:
            units = [(f"{a}..{b}", lambda a=a, b=b: conn.fetch(a, b, **kwargs), 1)
                     for a, b in conn.fetch_spans(req.start, req.end, req.kind)]
        run.progress_total = sum(steps for _, _, steps in units)
        run.save(store)
        for label, fetch, steps in units:
            # asked here, or in the store by another worker that the admin's cancel reached
            if cancel.is_set() or cancel_requested(store, run.run_id):
                run.finish(store, "cancelled", f"cancelled after {run.progress_done} of {run.progress_total}")
                return run
            report = load_raw(store, conn, fetch())
            run.rows_read += report.rows_read
            run.rows_written += report.rows_written
            run.rows_rejected += report.rows_rejected
            run.add_written(report.by_table)
            run.progress_done += steps
            run.save(store)
            log.info("backfill %s %s: %s", req.connector, label, report.summary())
        run.finish(store, "succeeded")
    except (IngestError, BackfillError) as exc:
        run.finish(store, "failed", str(exc))
    except Exception as exc:  # network, store: recorded and visible, never raised into the scheduler
        log.exception("backfill %s failed", req.connector)
        run.finish(store, "failed", f"{type(exc).__name__}: {exc}")
    return run
