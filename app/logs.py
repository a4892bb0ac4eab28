"""The app's log: every record as one JSON object per line (time, level, logger, message, and within a request
its id, user and route), or as plain text for a person at a terminal (``C254_LOG_FORMAT``); one access line per
request (method, route, status, duration, request id, user), which replaces gunicorn's access log; and the
request id on every error answer, so the line a user quotes is the line in the log.

The setting decides for the ``flask`` CLI too: its commands print their results with ``click.echo``, which is
never a log record, and the records they do log (a job run from cron, ``store init`` before the web workers
start) belong in the same pipeline as the server's."""
from __future__ import annotations

import contextlib
import html
import json
import logging
import sys
import time
from typing import TextIO

import dash
from flask import Response, current_app, g, has_request_context, request, session

from app import auth
from app.log_format import CONTEXT_FIELDS, formatter
from app.security import request_id

ACCESS_LOGGER = "c254.access"
access_log = logging.getLogger(ACCESS_LOGGER)
#: Marks the handler this module installed, so building another app (tests, benches) replaces it.
_OURS = "_c254_handler"
#: Longest error body the request id is added to: error pages are small, a large body is some other answer.
_MAX_ERROR_BODY = 65536


def _key_holder() -> str:
    """Who a request to the product API or a partner's upload is made by, as app/marketplace_api.py read it: on
    those routes the Authorization key speaks for them and the session is not looked at. The key's owner once the
    route has judged the key (``g.api_key``); before that, or when it is refused, the key id the request names
    (``g.api_key_id``: not proof of anything, but the line to look for when a key holder reports a refused call)."""
    judged = g.get("api_key")
    if judged is not None:
        return f"user {judged.owner} key:{judged.key_id}"
    named = g.get("api_key_id")
    return f"key:{named}" if named else ""


def _user() -> str:
    """Who the request is made by, as far as it is known without asking the store (a log line must not query):
    the API key the request was made with, else the account flask-login already loaded, else the user id in the
    session; "local" in local mode (sign-in off, everyone is this machine's admin)."""
    holder = _key_holder()
    if holder:
        return holder
    loaded = g.get("_login_user")
    account = getattr(loaded, "user", None)
    if account is not None:
        return account.email
    user_id = session.get("_user_id")
    if user_id:
        return f"user {user_id}"
    return "local" if auth.local_mode() else ""


#: the URL rule through which Dash serves every page of the app (its pages are told apart by their own paths)
_DASH_PAGES_RULE = "/<path:path>"


def route_of_request() -> str:
    """The request's route: its URL rule, or for a page of the app the page's registered path (``/nodal``), so
    pages are told apart in the logs and metrics while a path no page has stays the rule (a bounded label)."""
    if request.url_rule is None:
        return "unmatched"
    rule = request.url_rule.rule
    if rule == _DASH_PAGES_RULE:
        path = "/" + request.path.strip("/")
        if any(page.get("path") == path for page in dash.page_registry.values()):
            return path
    return rule


class RequestContext(logging.Filter):
    """Puts the request's id, user and route on each record (empty outside a request), for either format."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = dict.fromkeys(CONTEXT_FIELDS, "")
        if has_request_context():
            # a record is never lost for want of its context (a session that cannot be read, say)
            with contextlib.suppress(Exception):
                route = route_of_request() if request.url_rule is not None else request.path  # a 404's own path
                values = {"request_id": request_id(), "user": _user(), "route": route}
        for name, value in values.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class _StreamHandler(logging.StreamHandler):
    """Writes to ``stream`` when given, else to whatever ``sys.stderr`` is when a record comes: a stream taken
    once at start would outlive a replaced stderr (pytest's capture, closed while worker threads still log)."""

    def __init__(self, stream: TextIO | None = None):
        logging.Handler.__init__(self)
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._stream = value


def configure(log_format: str, level: str, stream: TextIO | None = None) -> logging.Handler:
    """The root logger writes to ``stream`` (stderr) in ``log_format`` at ``level``; the handler, for tests.

    Replaces the handler an earlier call installed (and no one else's: pytest's capture stays). gunicorn's
    own error log, when it runs us, is given the same format, so a worker's start and stop read like the rest."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    handler = _StreamHandler(stream)
    setattr(handler, _OURS, True)
    handler.addFilter(RequestContext())
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
    for gunicorn_handler in logging.getLogger("gunicorn.error").handlers:
        if not any(isinstance(f, RequestContext) for f in gunicorn_handler.filters):
            gunicorn_handler.addFilter(RequestContext())
        gunicorn_handler.setFormatter(formatter(log_format))
    return handler


def installed_handler() -> logging.Handler | None:
    return next((h for h in logging.getLogger().handlers if getattr(h, _OURS, False)), None)


# ------------------------------------------------------------------------------------------------ per request

def _started() -> None:
    g.log_started = time.perf_counter()


def callback_of_request(app: dash.Dash) -> str:
    """The Dash callback this request asks for, by its output id; "unknown" for anything that is not one of the
    app's callbacks, so a client cannot invent log fields or metric labels of its choosing."""
    try:
        body = request.get_json(silent=True)
    except Exception:  # a body over the size limit (answered 413) is not read, here either
        body = None
    output = body.get("output") if isinstance(body, dict) else None
    return output if isinstance(output, str) and output in app.callback_map else "unknown"


def _access_line(app: dash.Dash, response: Response) -> Response:
    started = g.pop("log_started", None)
    if started is None:
        return response
    fields: dict[str, object] = {"method": request.method, "path": request.path, "status": response.status_code,
                                 "duration_ms": round((time.perf_counter() - started) * 1e3, 1)}
    if request.path == app.config.routes_pathname_prefix + "_dash-update-component":
        fields["callback"] = callback_of_request(app)
    level = logging.ERROR if response.status_code >= 500 else logging.INFO
    access_log.log(level, "%s %s %s %.1f ms", request.method, request.path, response.status_code,
                   fields["duration_ms"], extra={"access": fields})
    return response


def _show_request_id(response: Response) -> Response:
    """Error answers come from several places (our handlers, the sign-in pages, werkzeug's own 404 and 405,
    plain-text 503s, each route's JSON errors): each gets the request id here, if it does not show it already:
    a line of a page, ``request_id`` beside a JSON object's ``error`` (the ``X-Request-ID`` header carries it
    too, but a client that logs the body alone would lose it)."""
    rid = request_id()
    # werkzeug's own pages (404, 405) arrive as a body iterable ("streamed"), so only files sent as they are
    # (direct passthrough) are left alone
    if (response.status_code < 400 or not rid or response.direct_passthrough
            or (response.content_length or 0) > _MAX_ERROR_BODY):
        return response
    body = response.get_data(as_text=True)
    if rid in body or len(body) > _MAX_ERROR_BODY:
        return response
    if response.mimetype == "text/html":
        line = f'<p class="small text-muted">Request id: <code>{html.escape(rid)}</code></p>'
        # inside the page's main column where it has one (the sign-in pages' centred card), not at the window's edge
        lowered = body.lower()
        at = lowered.rfind("</main>")
        if at < 0:
            # Dash's page (its "not found" page, with a 404): set in as far as the page's content is
            line = f'<div class="container-fluid">{line}</div>'
            at = lowered.rfind("</body>")
        response.set_data(body[:at] + line + body[at:] if at >= 0 else body + line)
    elif response.mimetype == "text/plain":
        response.set_data(body.rstrip("\n") + f"\nRequest id: {rid}\n")
    elif response.is_json:
        try:
            answer = json.loads(body)
        except ValueError:  # not the JSON it says it is: left as it is rather than made worse
            return response
        if isinstance(answer, dict) and "error" in answer and "request_id" not in answer:
            response.set_data(current_app.json.response({**answer, "request_id": rid}).get_data())
    return response


def init_app(app: dash.Dash) -> None:
    """Early, so a request refused by a later check still gets its access line."""
    app.server.before_request(_started)
    app.server.after_request(_show_request_id)
    app.server.after_request(lambda response: _access_line(app, response))
