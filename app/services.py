"""The long-lived objects of one app instance (settings, store, cache, operations), reachable from pages,
callbacks, the REST API and the CLI through the Flask app they were created with.

This is the one module of ``app`` that pages and callbacks may import (the layer test holds them to it):
``services()`` hands them the store and settings, ``cached`` answers an engine function once per data
version, and ``operations`` starts and watches jobs without the callbacks knowing the scheduler."""
from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, current_app, has_request_context, request
from flask_caching import Cache

from app import system
from app.counters import count_cache
from app.settings import REDIS_CLIENT_OPTIONS, Settings
from engine import caching
from engine.queries import Reader
from engine.store import MigrationsPending, Store, migrate
from engine.store.migrations import pending_migrations
from engine.store.tables import TABLES
from engine.store.versions import split_key, versions_of_market

if TYPE_CHECKING:
    from app.operations import Operations
    from app.routing import Routing

log = logging.getLogger(__name__)
EXTENSION_KEY = "c254"
#: How long the cache is passed by after it failed (Redis down or hung), before one call tries it again
CACHE_RETRY_SECONDS = 1.0
#: While that call tries (up to the clients' timeout), the others keep passing the cache by
_CACHE_PROBE_SECONDS = REDIS_CLIENT_OPTIONS["socket_timeout"] + CACHE_RETRY_SECONDS
#: The tables whose contents the pages show: the series, their aggregates, the markets' metadata and the stored
#: forecast runs (a newly issued run is seen at once).
_DATA_TABLES = sorted({"markets", *TABLES, *(agg.table for spec in TABLES.values() for agg in spec.aggregates),
                        "forecast_runs", "forecast_values"})
#: Set while warming computes views ahead of any user (app/warming.py): its lookups are counted as "warmed", not
#: as the misses and hits of users, so the System page's hit rate is what users got.
_warming = contextvars.ContextVar("c254_warming", default=False)


@contextmanager
def counted_as_warming() -> Iterator[None]:
    """Count the cached lookups made inside as warming's (see ``_warming``)."""
    token = _warming.set(True)
    try:
        yield
    finally:
        _warming.reset(token)

#: Set while monitoring reads through the cache (``Services.monitored``): its lookups are not counted as hits or
#: misses, so a scrape or a refresh does not move the hit rate it reports. Errors are counted still.
_monitoring = contextvars.ContextVar("c254_monitoring", default=False)


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
    cache_error: str = ""  # the last failure to read or write the cache (the System page shows it) ...
    cache_error_at: float = 0.0  # ... when it happened (epoch seconds); a read that works clears it
    _cache_failing: bool = False  # the cache's last use failed: it is tried by one call at a time (_cache_turn)
    _cache_retry_at: float = 0.0  # ... the next of them not before then (time.monotonic())
    _cache_turn_lock: threading.Lock = field(default_factory=threading.Lock)

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

    def cached(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(store, *args, **kwargs)``, answered from the cache while the data it reads is unchanged.

        What the call reads decides (``engine.caching``): its data class sets how long the answer lives, and an
        answer about one market is keyed on that market's data version, any other on the whole store's. A function
        declared ``pieced`` is computed on each call, reading its pieces through the cache (``reader``); one
        declared ``reads_pieces`` reads them so on a miss. Arguments must have a stable ``repr`` (text, numbers,
        None). A cache that cannot be reached (Redis down) costs the answer's computation, never the answer.

        Within a request each version is looked up once, at its first use (``_versions``): a load landing
        later in the request is seen by the next one. What the request computes after the load is then kept
        under the older version, which no later request asks for: never stale data under a newer version."""
        if caching.pieced(fn):
            return fn(self.ready_store(), *args, read=self.reader(), **kwargs)
        return self._cached(fn, args, kwargs, self._versions())

    def monitored(self, fn: Callable[..., T], *args: Any) -> T:
        """``cached(fn, *args)`` for monitoring's own reads (``/metrics``, the System page): left out of the hit
        and miss counts, so a scrape or a refresh does not move the hit rate it reports."""
        token = _monitoring.set(True)
        try:
            return self.cached(fn, *args)
        finally:
            _monitoring.reset(token)

    def reader(self) -> Reader:
        """``read(fn, *args)``: ``cached(fn, *args)``, each market's data version looked up once per reader (a
        reader serves one answer, so the pieces it reads are of one version) or, in a request, once per request."""
        return self._reader(self._versions())

    def _reader(self, versions: dict[str | None, Any]) -> Reader:
        return lambda fn, *args: self._cached(fn, args, {}, versions)

    @staticmethod
    def _versions() -> dict[str | None, Any]:
        """The data versions looked up so far: the request's (every cached call of a request shares them: the
        lookup is a store query, and a page's callback makes several calls), else a new set for one answer."""
        # Held in the request's own environ: flask.g belongs to the app context, which a request shares with an
        # app context already pushed around it (a test's, the CLI's).
        return request.environ.setdefault("c254.versions", {}) if has_request_context() else {}

    def _cached(self, fn: Callable[..., T], args: tuple, kwargs: dict, versions: dict[str | None, Any]) -> T:
        found = caching.classify(fn, args, kwargs)
        version = "" if caching.versioned_by_argument(fn) else "|".join(
            self._version(key, versions) for key in found.version_keys)
        named = (caching.name_of(fn), version, _keyed(args), _keyed(sorted(kwargs.items())))
        key = "view:" + hashlib.sha256(repr(named).encode()).hexdigest()
        if not self._cache_turn():  # it failed a moment ago, or another call is trying it: answer without it
            count_cache(found.data_class, "error")
            return fn(self.ready_store(), *args, **kwargs)
        try:
            held = self.cache.get(key)
        except Exception as exc:  # the cache backend is down: answer without it
            self._cache_failed("read", exc, found.data_class)
            return fn(self.ready_store(), *args, **kwargs)
        if self._cache_failing:  # the cache answers again: every call uses it, the System page stops saying so
            self._cache_failing = False
            self.cache_error = ""
        ahead, counted = _warming.get(), not _monitoring.get()
        if held is not None:
            if counted and not ahead:
                count_cache(found.data_class, "hit")
            return held[0]
        if counted:
            count_cache(found.data_class, "warmed" if ahead else "miss")
        if caching.reads_pieces(fn):
            value = fn(self.ready_store(), *args, read=self._reader(versions), **kwargs)
        else:
            value = fn(self.ready_store(), *args, **kwargs)
        try:
            self.cache.set(key, (value,), timeout=found.timeout)
        except Exception as exc:
            self._cache_failed("write", exc, found.data_class)
        return value

    def _version(self, key: str | None, versions: dict[str | None, Any]) -> str:
        """The data version ``key`` names (engine.store.versions; None: the whole store's), looked up once per
        ``versions`` (which holds the store's under None, and each market's keys under its code): every key of a
        market at the first asked of them, since a range's month pieces each ask for their month's."""
        if key is None:
            found = versions.get(None)
            if found is None:
                found = versions[None] = self.data_version()
            return found
        market = split_key(key)[0]
        held = versions.get(market)
        if held is None:
            held = versions[market] = versions_of_market(self.ready_store(), market)
        return f"{key}:{held.get(key, 0)}"

    def _cache_failed(self, what: str, exc: Exception, data_class: str) -> None:
        count_cache(data_class, "error")
        self.cache_error, self.cache_error_at = f"{type(exc).__name__}: {exc}", time.time()
        with self._cache_turn_lock:
            self._cache_failing = True
            self._cache_retry_at = time.monotonic() + CACHE_RETRY_SECONDS
        log.warning("cache %s failed (%s data); answering without the cache: %s", what, data_class, exc)

    def _cache_turn(self) -> bool:
        """Whether this call uses the cache: every call while it works; after a failure one call at a time, a
        second after the last failed, while the others pass it by (a hung Redis costs each try its socket timeout:
        one call waits for it, not every call arriving meanwhile)."""
        if not self._cache_failing:
            return True
        with self._cache_turn_lock:
            now = time.monotonic()
            if now < self._cache_retry_at:
                return False
            self._cache_retry_at = now + _CACHE_PROBE_SECONDS
            return True

    def system_figures(self) -> system.SystemFigures:
        """What the System page draws (app/system.py): latencies and cache counts, job runs, data age, and
        whether the store and the cache answer."""
        return system.read_figures(self)


def _keyed(value: Any) -> Any:
    """``value`` as the cache keys it: a whole float as the int it equals, within lists, tuples and dicts too. A
    browser's JSON has one number type, so a number input the page drew as 1.0 comes back as 1, and the same
    answer was computed again under a second key (warming's, and every view asked first with a float)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _keyed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_keyed(v) for v in value)
    return value


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions[EXTENSION_KEY]
