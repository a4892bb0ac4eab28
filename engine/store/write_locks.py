"""One batch at a time per market: the writer checks which of a batch's rows the store holds, then inserts the
others and fills the hourly buckets from them, so two loads of the same rows side by side (a backfill started on
two workers, "run now" beside the scheduled run) both found the rows new and both wrote them: the base tables
collapse the copies, but the hourly and daily buckets counted every row twice until a later reload repaired them.

Held around the whole batch (engine.store.writer.write_tables), for each market it touches, in name order (so
two batches never wait on each other's):

- in this process, a lock per store and market (threads: the scheduler, a backfill, "run now");
- across processes on one machine sharing an embedded store (the store process and its web workers,
  ``app.store_process``): an ``flock`` on a file per market beside the store directory, released by the system
  if the holder dies;
- across hosts: a lock the app supplies (``Store.market_lock``: Redis's, with ``C254_REDIS_URL``)."""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from engine.store.client import Store, StoreError

#: How long a batch waits for another's lock on its market before failing (a year of 5-minute prices, the
#: largest batch a backfill writes, takes seconds).
WAIT_SECONDS = 600.0

_local_locks: dict[tuple[str, str], threading.Lock] = {}
_local_guard = threading.Lock()


def _local_lock(store: Store, market: str) -> threading.Lock:
    with _local_guard:
        return _local_locks.setdefault((store.identity, market), threading.Lock())


def lock_folder(store: Store) -> Path | None:
    """Where this machine's processes sharing ``store`` lock its markets: beside the embedded directory (the
    store process's too, as its workers name it by its counts file ``<directory>.writes``); None for a server."""
    base = store.shared_directory
    return None if base is None else Path(f"{base}.locks")


@contextlib.contextmanager
def _file_lock(folder: Path, name: str, deadline: float) -> Iterator[None]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot lock {name} for writing: {folder} must be a folder this process may write "
                         f"beside the store directory ({exc.strerror})") from exc
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(f"another process has been writing {name} for over {WAIT_SECONDS:.0f} s; "
                                     "try the load again later") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def markets_locked(store: Store, markets: Iterable[str]) -> Iterator[None]:
    """Hold every write lock of ``markets`` (see the module's text) while the block runs."""
    deadline = time.monotonic() + WAIT_SECONDS
    folder = lock_folder(store)
    remote: Callable[[str], AbstractContextManager[None]] | None = store.market_lock
    with contextlib.ExitStack() as held:
        for market in sorted(set(markets)):
            local = _local_lock(store, market)
            if not local.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise StoreError(f"another load has been writing {market} for over {WAIT_SECONDS:.0f} s; "
                                 "try the load again later")
            held.callback(local.release)
            if folder is not None:
                held.enter_context(_file_lock(folder, f"{store.database}.{market}", deadline))
            if remote is not None:
                held.enter_context(remote(market))
        yield
