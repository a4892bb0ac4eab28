"""Dash's first-request setup, done once before any request is served by the app it sets up.

Dash sets its app up in two ``before_request`` hooks (``_setup_server``: the asset and script paths, the
callbacks; the pages router: the page callback), each of which raises its "done" flag *before* doing the work.
Under gunicorn's threads a worker's first burst of requests, after any start or restart under load, then has
requests that pass the flag and are served by a half set-up app: component bundles answered 500 ("not a
registered library"), a page without its callbacks, or two threads in the setup at once ("dictionary changed
size during iteration", seen from ``bench/load.py``). Known upstream as plotly/dash#3971. Here both hooks run
under one lock, and the app's own flag is raised after they return, so the others wait for them."""
from __future__ import annotations

import threading

import dash


def serialize(app: dash.Dash) -> None:
    """Replaces Dash's first-request hooks on ``app``'s server by one that runs them under a lock, once."""
    hooks = app.server.before_request_funcs.setdefault(None, [])
    dash_hooks = [hook for hook in hooks
                  if hook == app._setup_server or getattr(hook, "__qualname__", "").endswith(".router_sync")]
    if len(dash_hooks) != 2:  # a Dash that sets itself up otherwise: what is guarded here must be looked at again
        raise RuntimeError(f"Dash's first-request hooks are not the two this app guards (found {dash_hooks})")
    lock = threading.Lock()
    done = threading.Event()

    def set_up_once() -> None:
        if done.is_set():
            return
        with lock:
            if not done.is_set():
                for hook in dash_hooks:
                    hook()
                done.set()

    hooks[hooks.index(dash_hooks[0])] = set_up_once
    hooks.remove(dash_hooks[1])
