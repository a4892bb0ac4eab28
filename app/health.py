"""Probes for whatever runs the app (a load balancer, Kubernetes, a process supervisor), reachable without
signing in: ``/healthz`` answers while the process serves requests; ``/readyz`` answers 200 only when the
store answers, every migration is applied and the cache answers, else 503 naming what is not ready. Neither
says more than ready or not (no versions, no table names), so they can be public."""
from __future__ import annotations

import logging
import time

from flask import Blueprint, jsonify

from app.services import services
from engine.store import MigrationsPending, StoreError
from engine.store.migrations import pending_migrations

log = logging.getLogger(__name__)
health = Blueprint("health", __name__)
#: the paths, for the access check (app/access.py): public
PATHS = ("/healthz", "/readyz")


@health.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz():
    checks: dict[str, str] = {}
    started = time.perf_counter()
    svc = services()
    try:
        # as a request would: the embedded store migrates (and loads demo data) on first use, a server's
        # pending migrations are an operator's step (services.ready_store); a probe must not wait for a visitor
        store = svc.ready_store()
        store.scalar("SELECT 1")
        checks["store"] = "ok"
        checks["migrations"] = "pending" if pending_migrations(store) else "ok"
    except MigrationsPending:
        checks["store"], checks["migrations"] = "ok", "pending"
    except StoreError as exc:
        log.warning("readiness: the store did not answer: %s", exc)
        checks["store"] = "unreachable"
    try:
        probe = f"readyz-{time.monotonic_ns()}"
        svc.cache.set(probe, 1, timeout=5)
        checks["cache"] = "ok" if svc.cache.get(probe) == 1 else "unreachable"
        svc.cache.delete(probe)
    except Exception as exc:  # flask-caching's backends raise their own types (Redis: ConnectionError, ...)
        log.warning("readiness: the cache did not answer: %s", exc)
        checks["cache"] = "unreachable"
    ready = all(value == "ok" for value in checks.values()) and "migrations" in checks
    body = {"status": "ready" if ready else "not ready", "checks": checks,
            "ms": round((time.perf_counter() - started) * 1e3, 1)}
    return jsonify(body), 200 if ready else 503
