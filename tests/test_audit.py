"""The audit log: records kept with who, what, when and from where, listed newest first; whatever text a
client sent is stored as text, cut to a bound, and runs nothing."""
from __future__ import annotations

import pandas as pd

from engine import audit


def test_records_are_listed_newest_first_with_who_what_and_where(store):
    before = pd.Timestamp.now(tz="UTC").floor("ms")
    audit.record(store, "ann@example.com", audit.BACKFILL_STARTED, "nem 2018-01-01..2018-01-31", "10.0.0.7")
    audit.record(store, "cli", audit.USER_CREATED, "bob@example.com as trader", "console")
    log = audit.recent(store)
    assert list(log.columns) == ["at", "actor", "action", "detail", "address"]
    assert list(log["action"]) == [audit.USER_CREATED, audit.BACKFILL_STARTED]
    assert list(log["actor"]) == ["cli", "ann@example.com"]
    assert list(log["address"]) == ["console", "10.0.0.7"]
    assert log["at"].min() >= before
    assert log["at"].iloc[0] > log["at"].iloc[1], "two records in one millisecond still have an order"


def test_recent_keeps_to_its_limit(store):
    for i in range(5):
        audit.record(store, "cli", audit.JOB_RUN_NOW, f"job {i}", "console")
    assert list(audit.recent(store, limit=2)["detail"]) == ["job 4", "job 3"]


def test_hostile_text_is_stored_as_text_and_cut_to_a_bound(store):
    tables = int(store.scalar("SELECT count() FROM system.tables WHERE database = currentDatabase()"))
    hostile = "x'); DROP TABLE audit_log; --<script>alert(1)</script>"
    audit.record(store, hostile, audit.USER_CREATED, hostile + "y" * 100_000, {"not": "text"})
    row = audit.recent(store).iloc[0]
    assert row["actor"] == hostile
    assert row["detail"].startswith(hostile)
    assert len(row["detail"]) == 2000
    assert row["address"] == "{'not': 'text'}"
    assert int(store.scalar("SELECT count() FROM system.tables WHERE database = currentDatabase()")) == tables
    assert len(audit.recent(store)) == 1
