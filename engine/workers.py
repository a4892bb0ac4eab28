"""Long-lived worker threads for work that runs side by side against the store.

Each worker keeps its own store connection from task to task (the Store hands one client to each thread), so
a pool is made once, on first use (after any fork), and its threads live as long as the process.
"""
from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar

log = logging.getLogger(__name__)


def exit_with_parent() -> None:
    """In a spawned child: end as soon as the process that spawned it has ended, however that ended. Being
    daemonic is not enough: a gunicorn worker killed after its graceful timeout (it waits for its threads) runs
    no exit handler, and a child went on training for minutes, orphaned, while the restarted app spawned another."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()


class WorkerPool:
    pools: ClassVar[list[WorkerPool]] = []

    def __init__(self, name: str, workers: int):
        self.name = name
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        WorkerPool.pools.append(self)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._executor().submit(fn, *args, **kwargs)

    def prestart(self) -> None:
        """Start every worker now rather than on demand."""
        barrier = threading.Barrier(self.workers + 1)
        for _ in range(self.workers):
            self.submit(barrier.wait)
        barrier.wait()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.name)
            return self._pool


class BackgroundPool(ThreadPoolExecutor):
    """Threads for work nobody waits on (backfills, training, a job run from the admin page): what a task raises
    is logged as it ends, not kept in a future nobody reads. The tasks record their own failures in job_runs; what
    gets here is what they could not record (the store away past the retries of a run's end)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future = super().submit(fn, *args, **kwargs)
        what = getattr(fn, "__qualname__", repr(fn))
        future.add_done_callback(lambda done: _log_failure(done, what))
        return future


def _log_failure(done: Future, what: str) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.error("background task %s ended with an error nothing recorded", what, exc_info=exc)


#: Tables of one batch are written side by side (a batch rarely holds more than a few tables).
STORE_WRITERS = WorkerPool("store-writer", 4)
#: The queries behind one page view run side by side.
PAGE_QUERIES = WorkerPool("page-query", 4)
