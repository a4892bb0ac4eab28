"""The long-lived objects of one app instance (settings, store, cache, operations), reachable from pages,
callbacks, the REST API and the CLI through the Flask app they were created with.

This is the one module of ``app`` that pages and callbacks may import (the layer test holds them to it):
``services()`` hands them the store and settings, ``cached`` answers an engine function once per data
version, and ``operations`` starts and watches jobs without the callbacks knowing the scheduler."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, current_app
from flask_caching import Cache

from app.settings import Settings
from engine.store import MigrationsPending, Store, migrate
from engine.store.migrations import pending_migrations
from engine.store.tables import TABLES

if TYPE_CHECKING:
    from app.operations import Operations
    from app.routing import Routing

log = logging.getLogger(__name__)
EXTENSION_KEY = "c254"
#: The tables whose contents the pages show: the series, their aggregates, the markets' metadata and the stored
#: forecast runs (a newly issued run is seen at once).
_DATA_TABLES = sorted({"markets", *TABLES, *(agg.table for spec in TABLES.values() for agg in spec.aggregates),
                        "forecast_runs", "forecast_values"})
#: How long a cached answer lives when nothing is loaded meanwhile (a load changes the data version at once).
VIEW_TIMEOUT = 300

T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    store: Store
    cache: Cache
    operations: Operations | None = None  # set by create_app: jobs, backfills, connectors
    routing: Routing | None = None  # set by create_app: order routing over FIX (app/routing.py)
    _ready: bool = False
    _ready_lock: threading.Lock = field(default_factory=threading.Lock)
    _memos: dict[tuple[Callable, int], Callable] = field(default_factory=dict)

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
                        raise MigrationsPending(f"the store has migrations not yet applied ({', '.join(pending)}): run "
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

    def cached(self, fn: Callable[..., T], *args: Any, timeout: int = VIEW_TIMEOUT, **kwargs: Any) -> T:
        """``fn(store, *args, **kwargs)``, answered from the cache (flask-caching ``memoize``) while the data
        version and the arguments are the same. Arguments must have a stable ``repr`` (text, numbers, None)."""
        key = (fn, timeout)
        memo = self._memos.get(key)
        if memo is None:
            def at_version(version: str, *a: Any, **kw: Any) -> T:  # the version is part of the memo key
                return fn(self.ready_store(), *a, **kw)

            # memoize names its keys after the function: give the wrapper the engine function's name (not
            # functools.wraps, whose __wrapped__ would make memoize read the engine function's parameters)
            at_version.__module__, at_version.__qualname__ = fn.__module__, fn.__qualname__
            memo = self._memos.setdefault(key, self.cache.memoize(timeout=timeout)(at_version))
        return memo(self.data_version(), *args, **kwargs)


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions[EXTENSION_KEY]
