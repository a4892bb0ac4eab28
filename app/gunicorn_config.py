"""gunicorn's settings for the app's workers (the Procfile's ``--config python:app.gunicorn_config``)."""
from __future__ import annotations

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
