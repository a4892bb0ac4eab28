"""Two clocks. ``now_ms`` is for row versions and ordering: UTC milliseconds, strictly increasing within the
process, so two writes in the same millisecond (a user created and at once given a role) are still told apart
in order; a burst of writes makes it run ahead of the wall clock for a while. ``wall_ms`` is for instants
compared with the time of day (when a price starts, when a key was revoked or expires, when a subscription
begins): the wall clock, to the millisecond."""
from __future__ import annotations

import threading
import time

import pandas as pd

_lock = threading.Lock()
_last_ms = 0


def now_ms() -> pd.Timestamp:
    global _last_ms
    with _lock:
        _last_ms = max(_last_ms + 1, time.time_ns() // 1_000_000)
        return pd.Timestamp(_last_ms, unit="ms", tz="UTC")


def wall_ms() -> pd.Timestamp:
    """Now, UTC, to the millisecond (never ahead of the wall clock, unlike ``now_ms``)."""
    return pd.Timestamp(time.time_ns() // 1_000_000, unit="ms", tz="UTC")
