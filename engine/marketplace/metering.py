"""Metering off the request path: an API call hands its usage record to a queue and returns; a background thread
writes the queued records in batches.

One insert per call would cost the call a store round trip (milliseconds on the embedded store, more on a
server) and make one ClickHouse part per call; a batch every ``interval`` seconds or ``batch`` records, whichever
comes first, costs the call an append to a deque. Records are kept in order; a failed write keeps its batch and
tries again at the next flush (the queue is bounded by ``capacity``: beyond it the oldest unsent records are
dropped and counted, so a store that stays down cannot exhaust the process's memory). ``close`` writes what
is left.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

#: the fields of a usage record, in the order the writer receives them as columns
USAGE_FIELDS = ("at", "key_id", "key_kind", "user_id", "product", "partner", "rows", "bytes", "latency_ms",
                "status")


class Meter:
    """Queue usage records and write them in batches from a background thread."""

    def __init__(self, write: Callable[[pd.DataFrame], None], *, batch: int = 5000, interval: float = 1.0,
                 capacity: int = 1_000_000):
        if batch < 1 or interval <= 0 or capacity < batch:
            raise ValueError("a meter needs batch >= 1, interval > 0 and capacity >= batch")
        self._write, self._batch, self._interval, self._capacity = write, batch, interval, capacity
        self._queue: deque[tuple] = deque()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time, so batches are written in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="usage meter", daemon=True)
        self._thread.start()

    def record(self, usage: Mapping[str, Any]) -> None:
        """Queue one call's usage (keys: USAGE_FIELDS; ``at`` defaults to now, UTC). Returns at once."""
        row = tuple(usage.get(name) for name in USAGE_FIELDS)
        if row[0] is None:
            row = (pd.Timestamp.now(tz="UTC"), *row[1:])
        with self._lock:
            self._queue.append(row)
            self._drop_beyond_capacity()
            full = len(self._queue) >= self._batch
        if full:
            self._wake.set()

    def _drop_beyond_capacity(self) -> None:
        """Drop the oldest records beyond ``capacity`` (the lock held)."""
        over = len(self._queue) - self._capacity
        for _ in range(over):
            self._queue.popleft()
        self.dropped += max(0, over)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def flush(self) -> int:
        """Write everything queued now (in batches); the number of records written. A failed batch stays queued
        at the front."""
        done = 0
        with self._flushing:
            while True:
                with self._lock:
                    rows = [self._queue.popleft() for _ in range(min(self._batch, len(self._queue)))]
                if not rows:
                    return done
                try:
                    self._write(pd.DataFrame(rows, columns=list(USAGE_FIELDS)))
                except Exception:  # the store may be down: keep the records and try later
                    self.failures += 1
                    log.exception("usage meter: writing %d records failed; kept for the next flush", len(rows))
                    with self._lock:
                        self._queue.extendleft(reversed(rows))
                        # records queued while this batch was out count against the bound too
                        self._drop_beyond_capacity()
                    return done
                done += len(rows)
                self.written += len(rows)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            failures = self.failures
            self.flush()
            if self.failures > failures:  # a store that is down is tried once an interval, not in a tight loop
                self._stop.wait(self._interval)
