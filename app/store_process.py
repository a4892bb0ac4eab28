"""The embedded store on every core: one process holds the chDB directory and serves it over ClickHouse's HTTP
interface (``engine.store.server``) on loopback, and runs the scheduler there (scheduled loads write straight
to chDB); ``WEB_WORKERS`` gunicorn workers reach the store through it, as they would a ClickHouse server, so
the app's Python runs in several processes instead of one.

    .venv/bin/python -m app.store_process

reads the usual settings (``C254_STORE`` must be an embedded ``chdb://`` store) and ``WEB_WORKERS`` (2),
``WEB_THREADS`` (8), ``HOST``, ``PORT`` (the Procfile's), ``C254_STORE_PORT`` (8124, the store process's loopback
port). In order: ``flask store init`` on the embedded store in a child that exits (migrations, demo data, the
first admin), then this process opens the directory and serves it, starts the scheduler if ``C254_SCHEDULER``
is on, and starts gunicorn with ``C254_STORE=http://127.0.0.1:C254_STORE_PORT/<database>?compress=false`` and
``C254_SCHEDULER=0``. SIGTERM or SIGINT stops gunicorn, then the scheduler's work (``C254_STOP_GRACE_SECONDS``,
10, for what is under way), then the store; gunicorn ending stops the store.

Across workers: cached answers are keyed on the data versions held in the store, so a load is seen by every
worker at once; the lookups each request makes are remembered by a worker until the store process counts a write
to a table they read (``writes=`` in the workers' store URL: engine.store.writes); sessions are signed cookies
with the one secret key (``C254_SECRET_KEY`` or ``var/secret_key``, made by ``store init``); the page cache and
the sign-in rate limit are per worker unless ``C254_REDIS_URL`` is set; ``/metrics`` sums the workers through
``PROMETHEUS_MULTIPROC_DIR`` (a directory the gunicorn master makes unless one is given: app/gunicorn_config.py).
"""
from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from flask import Flask

from app import logs
from app.settings import MAX_PORT, REPO_ROOT, Settings, whole_number
from engine.store.client import split_dsn
from engine.store.server import (Engine, StoreServer, StoreServerError, counts_file, directory_of,
                                 freeze_for_life)
from engine.urls import redacted

log = logging.getLogger(__name__)

DEFAULT_STORE_PORT = 8124


def worker_store_url(store_url: str, store_port: int) -> str:
    """The URL the web workers reach the embedded store ``store_url`` by, through the store process on
    ``store_port``. Uncompressed: on loopback, compressing each insert would only cost CPU on both sides.
    ``writes``: the store process's counts of writes (engine.store.writes), which spare the workers a round trip
    for each lookup every request makes."""
    _, database, embedded = split_dsn(store_url)
    if not embedded:
        raise SystemExit(f"C254_STORE is {redacted(store_url.split('?')[0])}, not an embedded chdb:// store: "
                         "on a ClickHouse server run gunicorn with WEB_WORKERS directly (docs/deploy.md)")
    writes = quote(str(counts_file(directory_of(store_url).resolve())))
    return f"http://127.0.0.1:{store_port}/{database}?compress=false&writes={writes}"


def web_env(settings: Settings, store_port: int) -> dict[str, str]:
    """The web workers' environment: the store through the store process, no scheduler of their own."""
    env = {**os.environ, "C254_STORE": worker_store_url(settings.store_url, store_port),
           "C254_SCHEDULER": "0", "C254_SCHEDULER_ELSEWHERE": "1" if settings.scheduler else "0",
           "WEB_WORKERS": os.environ.get("WEB_WORKERS") or "2",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if not settings.redis_url:
        env["C254_WARMING"] = "watch"  # each worker's cache is its own: each warms it (app.warming)
    return env


def gunicorn_command() -> list[str]:
    """The Procfile's web line (as ``make run`` runs it), so the two ways of serving cannot drift apart."""
    line = next(row.removeprefix("web: ") for row in (REPO_ROOT / "Procfile").read_text().splitlines()
                if row.startswith("web: "))
    return ["bash", "-c", f"exec {line}"]


def _ends_with_this_process() -> Callable[[], None] | None:
    """For the web servers' child: SIGTERM when this process ends, however it ends. A store process killed (kill
    -9, the OOM killer, which picks the process holding chDB's memory) left gunicorn serving 503s with no store
    behind it, and holding the web port, so starting again failed with "Connection in use". Linux only
    (prctl(PR_SET_PDEATHSIG), kept across the exec of bash and gunicorn); looked up here, before the fork, so
    the child only makes the call."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)
    return lambda: prctl(pr_set_pdeathsig, sigterm, 0, 0, 0)


def start_scheduler(settings: Settings) -> Flask:
    """The app's scheduler in this process, on the embedded store this process holds, started as a gunicorn worker
    starts its own (app.scheduler.start_at_boot)."""
    from app.factory import create_app
    from app.scheduler import start_at_boot

    # it warms the shared cache as versions move; without Redis its cache is read by no page, and the workers warm
    app = create_app(dataclasses.replace(settings, scheduler=True, warming="loads" if settings.redis_url else "off"))
    start_at_boot(app.server)
    return app.server


def main() -> int:
    settings = Settings.from_env()
    store_port = (whole_number(os.environ.get("C254_STORE_PORT"), "C254_STORE_PORT", maximum=MAX_PORT)
                  or DEFAULT_STORE_PORT)
    logs.configure(settings.log_format, settings.log_level)
    env = web_env(settings, store_port)
    connect_dsn, _, _ = split_dsn(settings.store_url)
    flask = str(Path(sys.executable).parent / "flask")
    init = subprocess.run([flask, "--app", "app.wsgi", "store", "init"], cwd=REPO_ROOT,  # noqa: S603 -- this venv's own flask
                          check=False)
    if init.returncode:
        return init.returncode

    try:
        engine = Engine(directory_of(connect_dsn))
        try:
            server = StoreServer(engine, "127.0.0.1", store_port)
        except StoreServerError:
            engine.close()
            raise
    except StoreServerError as exc:
        print(f"store process: {exc}", file=sys.stderr)
        return 1
    threading.Thread(target=server.serve_forever, name="store-process", daemon=True).start()
    log.info("store %s served on http://127.0.0.1:%d", engine.directory, store_port)
    background = start_scheduler(settings) if settings.scheduler else None
    freeze_for_life()  # some 270,000 objects with the scheduler's app

    web = subprocess.Popen(gunicorn_command(), cwd=REPO_ROOT, env=env,  # noqa: S603 -- the Procfile's own line
                           preexec_fn=_ends_with_this_process())
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()
        if web.poll() is None:
            web.terminate()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    code = web.wait()
    result = 0 if stopping.is_set() else code
    server.shutdown()
    server.server_close()
    if background is not None:
        from app.scheduler import end_background

        end_background(background, result)  # returns once nothing runs, or ends the process
    engine.close()
    return result


if __name__ == "__main__":
    sys.exit(main())
