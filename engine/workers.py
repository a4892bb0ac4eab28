"""Long-lived worker threads for work that runs side by side against the store.

Each worker keeps its own store connection from task to task (the Store hands one client to each thread), so
a pool is made once, on first use (after any fork), and its threads live as long as the process.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar


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


#: Tables of one batch are written side by side (a batch rarely holds more than a few tables).
STORE_WRITERS = WorkerPool("store-writer", 4)
#: The queries behind one page view run side by side.
PAGE_QUERIES = WorkerPool("page-query", 4)
