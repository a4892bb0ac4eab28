"""Dash's first-request setup under gunicorn's threads: the requests that come while one is setting the app up
wait for it, instead of being served by a half set-up app (dash issue 3971: Dash raises its "done" flag before
doing the work, so a worker's first burst of requests after a restart got 500s)."""
from __future__ import annotations

import threading
import time

import dash._validate

SUITE = "/_dash-component-suites/dash/dcc/dash_core_components.js"


def test_requests_during_the_first_requests_setup_wait_for_it(make_app, monkeypatch):
    app = make_app()
    validate = dash._validate.validate_layout

    def slow_validate(*args, **kwargs):  # the setup's longest step, made long enough to arrive during it
        time.sleep(0.6)
        return validate(*args, **kwargs)

    monkeypatch.setattr(dash._validate, "validate_layout", slow_validate)
    answers: dict[str, int] = {}

    def ask(name: str, path: str) -> None:
        answers[name] = app.server.test_client().get(path).status_code

    first = threading.Thread(target=ask, args=("first", "/healthz"))
    first.start()
    time.sleep(0.2)
    others = [threading.Thread(target=ask, args=(f"suite{i}", SUITE)) for i in range(4)]
    others += [threading.Thread(target=ask, args=("deps", "/_dash-dependencies"))]
    for thread in others:
        thread.start()
    for thread in (first, *others):
        thread.join(30)
    assert answers == {"first": 200, "deps": 200, **{f"suite{i}": 200 for i in range(4)}}, answers
