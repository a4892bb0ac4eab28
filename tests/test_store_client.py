"""The store client's own behaviour on the embedded store (the schema and the writer: tests/test_store.py)."""
from __future__ import annotations

import logging

import pytest

from engine.store import Store, StoreError


def test_a_connection_that_left_its_database_is_replaced_and_the_statement_answered(store: Store, caplog):
    store.scalar("SELECT count() FROM markets")
    stray = store.client
    # Behind the client's back (its cached USE state still says this store's database), as seen once in a run.
    stray._backend._handle.conn.query("USE system", "TabSeparated")
    with caplog.at_level(logging.WARNING, logger="engine.store.client"):
        assert store.scalar("SELECT count() FROM markets") > 0
    assert store.client is not stray
    assert f"instead of '{store.database}'" in caplog.text


def test_a_missing_table_is_still_an_error_naming_it(store: Store):
    with pytest.raises(StoreError, match="no_such_table"):
        store.scalar("SELECT count() FROM no_such_table")
    assert store.scalar("SELECT count() FROM markets") > 0
