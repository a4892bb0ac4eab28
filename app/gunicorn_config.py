"""gunicorn's settings for the app's workers (the Procfile's ``--config python:app.gunicorn_config``)."""
from __future__ import annotations

import gc
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from gunicorn import glogging

from app.log_format import formatter
from app.settings import Settings


class Logger(glogging.Logger):
    """gunicorn's own lines (the master's start, a worker booted or exiting, a signal handled) in the app's log
    format, one JSON object per line by default, so a log pipeline reads every line the process writes. The
    workers' app sets the same again when it loads (app/logs.py)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        try:
            log_format = Settings.from_env().log_format
        except ValueError:  # on_starting stops the master with the message, in gunicorn's format
            return
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter(log_format))


logger_class = Logger

#: Set by on_starting when it made the metrics directory itself (removed again at exit).
_OWN_METRICS_DIR: list[str] = []


def on_starting(server) -> None:
    """Refuses what cannot work before any worker starts, then sets up the workers' shared metrics."""
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a variable's value the app cannot take: said as gunicorn's own "Error: ..."
        raise RuntimeError(str(exc)) from None
    if server.cfg.workers > 1 and _embedded(settings.store_url):
        raise RuntimeError(
            f"{server.cfg.workers} workers cannot share the embedded store {settings.store_url}: chDB lets one "
            "process open it, so every other worker would fail its requests. Serve it with one worker and threads "
            "(WEB_WORKERS=1, the default), from every core with `make run-store-process`, or point C254_STORE at a "
            "ClickHouse server.")
    _share_metrics(server)
    _control_socket_per_address(server)


def _embedded(store_url: str) -> bool:
    return urlsplit(store_url).scheme == "chdb"


def nworkers_changed(server, new_value: int, old_value: int | None) -> None:
    """SIGTTIN, or ``gunicornc worker add``, on a running master: refused on the embedded store, whose second
    process would fail every request it took (the start refuses the same in on_starting)."""
    if old_value is None or new_value <= 1:  # the count set at start: on_starting judges it
        return
    try:
        store_url = Settings.from_env().store_url
    except ValueError:
        return
    if _embedded(store_url):
        server._num_workers = old_value  # not through the property, which would call this hook again
        server.log.error("not adding a worker: chDB lets one process open the embedded store %s; serve every core "
                         "with `make run-store-process` or a ClickHouse server", store_url)


def _control_socket_per_address(server) -> None:
    """gunicorn (24 and later) listens for gunicornc's commands (worker add, reload, shutdown) on one socket per
    user by default, so a second app of the same user took the first's over and a command reached whichever
    started last. Unless one is set, each app gets a socket named after the address it serves: one per app, since
    two cannot serve the same address."""
    setting = server.cfg.settings.get("control_socket")
    if setting is None or server.cfg.control_socket != setting.default:
        return
    address = "_".join(server.cfg.bind).replace("unix:", "").replace("/", "-").replace(":", "-").strip("-")
    name = f"c254-{address}.ctl"
    if len(name) > 60:  # a socket's path is limited to about 100 bytes
        name = f"c254-{hashlib.sha256(address.encode()).hexdigest()[:16]}.ctl"
    server.cfg.set("control_socket", os.path.join(os.path.dirname(setting.default), name))


def _share_metrics(server) -> None:
    """Several workers each count their own requests; prometheus-client's multiprocess mode has each write its
    figures to files in one directory that a scrape on any worker sums (app/metrics.py). Without it a scrape
    would report whichever worker answered it. So with more than one worker and no PROMETHEUS_MULTIPROC_DIR
    given, the master makes a fresh directory of its own before forking them (they inherit the variable) and
    removes it at exit. A directory that is given is emptied of the files a previous run left: a dead worker's
    files would be summed in otherwise."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
    elif server.cfg.workers > 1:
        made = tempfile.mkdtemp(prefix="c254-metrics-")
        _OWN_METRICS_DIR.append(made)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made


def on_exit(server) -> None:
    for made in _OWN_METRICS_DIR:
        shutil.rmtree(made, ignore_errors=True)


def worker_exit(arbiter, worker) -> None:
    """A worker stopping (SIGTERM, Ctrl-C) stops its scheduler and background work, and ends within
    C254_STOP_GRACE_SECONDS even if a forecast model is training, instead of Python waiting for that thread at
    exit until gunicorn's graceful timeout kills it (app.scheduler.end_background)."""
    app = getattr(worker, "wsgi", None)
    if app is None or worker.pid != os.getpid():  # the app never loaded, or the master tidying up a dead worker
        return
    if not hasattr(app, "extensions"):  # not our Flask app (a test's plain WSGI function): nothing of ours runs
        return
    from app.scheduler import end_background

    end_background(app)


def post_worker_init(worker) -> None:
    """The objects a worker holds once its app is loaded (about 290,000: modules, the pages' layouts, the callback
    map) are moved out of the garbage collector's sight: they live as long as the worker, and every full
    collection walked them all with the GIL held, pausing every request 150-190 ms several times a minute under
    the load bench. With them frozen a full collection takes 5-20 ms.

    Then the app's background work starts (app.scheduler.start_at_boot): the scheduler, the start-up catch-up
    and the warming, which waited for the worker's first request before: an app nobody had opened pulled nothing
    on schedule, and its first request raced the warming for the same views."""
    gc.freeze()
    app = getattr(worker, "wsgi", None)
    if hasattr(app, "extensions"):  # our Flask app (not a test's plain WSGI function)
        from app.scheduler import start_at_boot

        start_at_boot(app)
