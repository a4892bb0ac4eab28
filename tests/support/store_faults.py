"""Failures of the writer's statements, for tests of what a failed or killed load leaves behind."""
from __future__ import annotations

import pytest

from engine.store import Store, StoreError


def fail_insert_into(monkeypatch: pytest.MonkeyPatch, table: str, message: str = "process killed (simulated)", *,
                     killed: bool = True) -> list[str]:
    """Make every insert into ``table`` raise StoreError(message); the returned list records each failed insert.

    ``killed``: as a process killed in that statement, nothing after it runs, the writer's take-back included;
    otherwise the writer sees an ordinary failure and takes the batch back. ``monkeypatch.undo()`` ends it."""
    from engine.store import writer

    original = Store.insert_df
    failed: list[str] = []

    def insert_df(self, name, df):
        if name == table:
            failed.append(name)
            raise StoreError(message)
        return original(self, name, df)

    monkeypatch.setattr(Store, "insert_df", insert_df)
    if killed:
        monkeypatch.setattr(writer, "_take_back", lambda *args: None)
    return failed
