"""The long-lived objects of one app instance (settings, store, cache), reachable from callbacks, the REST API
and the CLI through the Flask app they were created with."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from flask import Flask, current_app
from flask_caching import Cache

from app.settings import Settings
from engine.store import Store, StoreError, migrate
from engine.store.migrations import pending_migrations
from engine.store.tables import TABLES

log = logging.getLogger(__name__)
EXTENSION_KEY = "c254"
#: The tables whose contents the pages show: the series, their aggregates, and the markets' metadata.
_DATA_TABLES = sorted({"markets", *TABLES, *(agg.table for spec in TABLES.values() for agg in spec.aggregates)})


@dataclass
class Services:
    settings: Settings
    store: Store
    cache: Cache
    _ready: bool = False
    _ready_lock: threading.Lock = field(default_factory=threading.Lock)

    def ready_store(self, *, migrate_server: bool = False) -> Store:
        """The store, migrated (and seeded with demo data if empty and demo is on) on first use.

        The embedded store is held by this one process, so it migrates here. A ClickHouse server may be
        shared by several workers and processes, and a migration that rebuilds tables must not run in two of
        them at once: its migrations are applied by ``flask store init`` (``make run`` does that before
        starting gunicorn), and a worker that finds one pending refuses to serve rather than race."""
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    if self.store.embedded or migrate_server:
                        migrate(self.store)
                    elif pending := pending_migrations(self.store):
                        raise StoreError(f"the store has migrations not yet applied ({', '.join(pending)}): run "
                                         "`flask --app app.wsgi store init` once before starting the web workers")
                    if self.settings.demo:
                        from engine.demo import load_demo_if_empty

                        n = load_demo_if_empty(self.store)
                        if n:
                            log.info("loaded %d demo rows into the empty store", n)
                    self._ready = True
        return self.store

    def data_version(self) -> str:
        """Changes whenever a batch lands in a table the pages read (a new part, rows taken back, a revision):
        part of every cache key so nobody sees stale results. A background merge changes it too, harmlessly.
        The job log is left out: a scheduled run that wrote nothing must not empty the cache."""
        return str(self.ready_store().scalar(
            "SELECT concat(toString(max(modification_time)), '/', toString(count()), '/', toString(sum(rows))) "
            "FROM system.parts WHERE database = currentDatabase() AND active AND table IN {t:Array(String)}",
            {"t": _DATA_TABLES}))


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions[EXTENSION_KEY]
