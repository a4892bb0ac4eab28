"""One batch at a time per market (engine.store.write_locks): two loads of the same rows side by side both found
them new and both wrote them, so the hourly buckets counted every row twice (seen with a backfill started on two
workers of the store process: the overview said 210,238 intervals for a year of 105,119). Held in the process,
across the processes sharing an embedded store (flock beside its directory) and across hosts (Redis)."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from app.trigger_lock import RedisMarketLock, market_lock_for
from engine.store import Store, StoreError, write_tables
from engine.store import writer as store_writer
from engine.store.write_locks import lock_folder, markets_locked


def _prices(n: int = 288) -> pd.DataFrame:
    return pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement",
                         "interval_start": pd.date_range("2019-03-01", periods=n, freq="5min", tz="UTC"),
                         "interval_minutes": 5, "price": np.linspace(-20.0, 300.0, n), "source": "file.csv"})


def test_the_same_batch_written_twice_at_once_is_counted_once(store, monkeypatch):
    """Both writers are held after their check of the stored rows until the other has checked too (or a second
    has passed): unlocked, both found every row new and both filled the hours."""
    checked = threading.Barrier(2)
    changed_rows = store_writer._changed_rows

    def both_check_first(*args, **kwargs):
        found = changed_rows(*args, **kwargs)
        # the other writer may be waiting for the market's lock: it then checks after this one wrote
        with contextlib.suppress(threading.BrokenBarrierError):
            checked.wait(timeout=1.0)
        return found

    monkeypatch.setattr(store_writer, "_changed_rows", both_check_first)
    reports, errors = [], []

    def load() -> None:
        try:
            reports.append(write_tables(store, {"prices": _prices()}))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sorted(r.written.get("prices", 0) for r in reports) == [0, 288], "one wrote the rows, the other none"
    samples = store.query_rows("SELECT sum(samples) FROM prices_hourly WHERE market = 'NEM' AND location = 'SA1'")
    assert samples[0][0] == 288
    daily = store.query_rows("SELECT sum(samples) FROM prices_daily WHERE market = 'NEM' AND location = 'SA1'")
    assert daily[0][0] == 288


def test_other_markets_are_written_meanwhile(store):
    with markets_locked(store, ["NEM"]):
        started = time.monotonic()
        ieso = _prices().assign(market="IESO", location="ONTARIO", price_kind="hoep")
        assert write_tables(store, {"prices": ieso}).written["prices"] == 288
        assert time.monotonic() - started < 10


_HOLD = """
import sys, time
from engine.store import Store
from engine.store.write_locks import markets_locked
with markets_locked(Store(sys.argv[1]), ["NEM"]):
    print("held", flush=True)
    time.sleep(1.5)
"""


def test_processes_sharing_an_embedded_store_take_turns(tmp_path):
    """The store process's web workers name the store by its counts file; the store process by its directory:
    both lock the same file beside the directory."""
    directory = tmp_path / "store"
    worker = Store(f"http://127.0.0.1:9/c254?writes={directory}.writes")
    holder = Store(f"chdb://{directory}?database=c254")
    assert lock_folder(worker) == lock_folder(holder) == tmp_path / "store.locks"
    other = subprocess.Popen([sys.executable, "-c", _HOLD, f"http://127.0.0.1:9/c254?writes={directory}.writes"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        started = time.monotonic()
        with markets_locked(holder, ["NEM"]):
            waited = time.monotonic() - started
        with markets_locked(holder, ["IESO"]):  # another market's lock is free
            pass
    finally:
        other.wait(10)
    assert waited > 1.0, f"took the lock after {waited:.2f} s while the other process held it"
    assert lock_folder(Store("http://127.0.0.1:9/c254")) is None, "a server alone: Redis's lock, if any"


def test_workers_sharing_redis_take_turns_and_a_redis_that_does_not_answer_refuses_the_batch(redis_server,
                                                                                             monkeypatch):
    first, second = RedisMarketLock(redis_server.url, "c254"), RedisMarketLock(redis_server.url, "c254")
    order: list[str] = []

    def later() -> None:
        with second("NEM"):
            order.append("second")

    with first("NEM"):
        waiting = threading.Thread(target=later)
        waiting.start()
        time.sleep(0.5)
        with second("IESO"):  # another market: not held up
            order.append("other market")
        order.append("first done")
    waiting.join(10)
    assert order == ["other market", "first done", "second"]
    redis_server.kill()
    refused = "not written: Redis, which keeps two loads of NEM from writing at once"
    with pytest.raises(StoreError, match=refused), first("NEM"):
        pass


def test_redis_locks_only_a_server_s_batches(tmp_path):
    """An embedded store's processes share its machine and its flock: Redis down must not stop their loads
    (make run or the store process with C254_REDIS_URL for the cache). Workers on a server may be on several hosts."""
    url = "redis://127.0.0.1:9/0"
    assert market_lock_for(url, Store(f"chdb://{tmp_path}/store")) is None
    assert market_lock_for(url, Store(f"http://127.0.0.1:9/c254?writes={tmp_path}/store.writes")) is None
    assert isinstance(market_lock_for(url, Store("http://127.0.0.1:9/c254")), RedisMarketLock)
    assert market_lock_for(None, Store("http://127.0.0.1:9/c254")) is None

