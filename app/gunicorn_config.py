"""gunicorn's settings for the app's workers (the Procfile's ``--config python:app.gunicorn_config``)."""
from __future__ import annotations

import gc
import os


def worker_exit(arbiter, worker) -> None:
    """A worker stopping (SIGTERM, Ctrl-C) stops its scheduler and background work, and ends within
    C254_STOP_GRACE_SECONDS even if a forecast model is training, instead of Python waiting for that thread at
    exit until gunicorn's graceful timeout kills it (app.scheduler.end_background)."""
    app = getattr(worker, "wsgi", None)
    if app is None or worker.pid != os.getpid():  # the app never loaded, or the master tidying up a dead worker
        return
    from app.scheduler import end_background

    end_background(app)


def post_worker_init(worker) -> None:
    """The objects a worker holds once its app is loaded (about 290,000: modules, the pages' layouts, the callback
    map) are moved out of the garbage collector's sight: they live as long as the worker, and every full
    collection walked them all with the GIL held, pausing every request 150-190 ms several times a minute under
    the load bench. With them frozen a full collection takes 5-20 ms."""
    gc.freeze()
