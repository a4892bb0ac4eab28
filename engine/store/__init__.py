"""The ClickHouse store: one client for chDB or a server, versioned migrations, idempotent batch writes."""
from engine.store.client import MigrationsPending, Store, StoreError
from engine.store.migrations import migrate
from engine.store.writer import DEMO_SOURCE, WriteReport, write_tables

__all__ = ["DEMO_SOURCE", "MigrationsPending", "Store", "StoreError", "WriteReport", "migrate", "write_tables"]
