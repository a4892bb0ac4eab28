"""The app's boundary with the browser: CSRF for Flask forms, a same-origin check for Dash's callback POSTs,
security headers (a Content-Security-Policy Dash runs under), the request size limit, and error answers that
carry a request id and never a stack trace. ``init_app(dash_app)`` wires it all onto the app's Flask server."""
from __future__ import annotations

import html
import json
import logging
import uuid
from urllib.parse import urlsplit

import dash
from dash.exceptions import CallbackException, DependencyException, UnsupportedRelativePath
from flask import Flask, Response, g, has_request_context, jsonify, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from plotly.utils import PlotlyJSONEncoder
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from app.marketplace_api import BEARER_WRITE_PREFIXES
from app.services import services
from engine.store import MigrationsPending, StoreError

log = logging.getLogger(__name__)
csrf = CSRFProtect()
#: Methods that may change something: each needs a CSRF token (Flask forms) or a same-origin request (Dash).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REQUEST_ID_HEADER = "X-Request-ID"
#: What a page, a callback or an API call is told while the store does not answer (the cause goes to the log)
STORE_DOWN_TITLE = "Data temporarily unavailable"
STORE_DOWN_DETAIL = "The database did not answer. Try again in a minute."
STORE_DOWN = f"{STORE_DOWN_TITLE}: the database did not answer. Try again in a minute."
NOT_SET_UP = "The store is not set up yet: an operator runs `flask --app app.wsgi store init`."


def init_app(app: dash.Dash) -> None:
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = services(server).settings.max_request_bytes
    # CSRFProtect checks nothing on its own (CHECK_DEFAULT off): ``_guard`` below decides, per request, between
    # the token (Flask forms) and the origin check (Dash), so the two rules live in one place.
    server.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(server)
    dash_path = app.config.routes_pathname_prefix + "_dash-update-component"
    server.before_request(_request_id)
    server.before_request(lambda: _guard(dash_path))
    server.after_request(_headers(app))
    _error_handlers(server, dash_path)


def _request_id() -> None:
    request_id()


def request_id() -> str:
    """The id of the request being served, as the log and the user's error page show it; made on first use, so
    a request refused by a hook that runs before this module's has one too. Outside a request: empty."""
    if not has_request_context():
        return ""
    if "request_id" not in g:
        g.request_id = uuid.uuid4().hex
    return g.request_id


def same_origin() -> bool:
    """Whether the request came from a page of this site: its Origin header, or its Referer when a browser sent
    no Origin, names this host. Host and port are compared, not the scheme: behind a proxy that ends TLS the
    app sees plain HTTP while the browser's Origin says https (the proxy must pass the Host header on)."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc.lower() == request.host.lower()


def _guard(dash_path: str) -> None:
    """CSRF: Flask forms (the sign-in form) need flask-wtf's token; Dash's callback requests need to come from
    this site. Dash's renderer cannot add a token header without a custom renderer, so its POSTs are exempt
    from the token. They are JSON: a cross-site page cannot send them without a CORS preflight this app never
    grants, and the session cookie is SameSite=Lax, so a cross-site POST carries no session anyway; the Origin
    check is the defence in depth behind both (an old browser, a misconfigured cookie)."""
    if request.method not in UNSAFE_METHODS:
        return None
    if isinstance(request.routing_exception, MethodNotAllowed):
        # no route takes this method here: nothing will run, and the answer is the 405 saying which methods do
        # (app/not_found.py), not a complaint about a token the request could never have needed
        return None
    if request.path.startswith(BEARER_WRITE_PREFIXES) and "Authorization" in request.headers:
        # A key in the Authorization header authenticates these, and their handler then ignores the session:
        # a cross-site page cannot set that header (it would need a CORS preflight this app never grants), so
        # there is no ambient credential to forge with and no token to ask for. Without the header the request
        # is a session's, and is checked below like any form.
        return None
    if request.path == dash_path:
        if not same_origin():
            return error_answer(403, "not allowed: this request did not come from a page of this site "
                                "(Origin/Referer missing or another site's)", as_json=True)
        return None
    if any(not isinstance(name, str) for name in request.form):  # flask-wtf's token lookup fails on it
        return error_answer(400, "a part of this multipart form has no name: each needs "
                            "'Content-Disposition: form-data; name=...'",
                       as_json=request.path.startswith("/api/") or request.path == dash_path)
    csrf.protect()  # raises CSRFError, answered by _csrf_failed
    return None


def _csp(app: dash.Dash) -> str:
    # Scripts: this site's files and Dash's own inline scripts by hash, never 'unsafe-inline', so injected markup
    # cannot run script. 'unsafe-eval' is needed by Plotly's WebGL traces (scattergl, which the overview's series
    # and the nodal map draw): regl compiles its draw calls with new Function, and without it the chart shows
    # "WebGL is not supported" (checked in headless Chromium). Styles need 'unsafe-inline': Dash's renderer and
    # dcc set style attributes and Plotly writes <style> elements (each refused under style-src 'self').
    script_src = " ".join(["'self'", "'unsafe-eval'", *app.csp_hashes()])
    return "; ".join([
        "default-src 'self'", f"script-src {script_src}", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:", "font-src 'self' data:", "connect-src 'self'", "worker-src 'self' blob:",
        "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'"])


def _headers(app: dash.Dash):
    policy: list[str] = []  # built on the first response, once every page and inline script is known

    def add_headers(response: Response) -> Response:
        if not policy:
            policy.append(_csp(app))
        response.headers["Content-Security-Policy"] = policy[0]
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        response.headers[REQUEST_ID_HEADER] = request_id()
        return response

    return add_headers


def error_answer(status: int, message: str, *, as_json: bool) -> tuple[Response | str, int]:
    """An error answer, JSON (scripts, Dash's renderer) or a plain page (a browser): the message and the
    request id, nothing else."""
    rid = request_id()
    if as_json:
        return jsonify({"error": message, "request_id": rid}), status
    page = (f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{html.escape(message)}</p>"
            f"<p>Request id: <code>{rid}</code></p>")
    return page, status


#: the element Dash's pages fill with the page's layout (``dash.page_container``)
_PAGE_CONTENT = "_pages_content.children"


def _page_unavailable(message: str) -> Response:
    """The answer to the callback that draws a page's layout when the layout could not be built: the message and
    the request id in the page's place. A failed callback shows nothing in the browser (the renderer reports
    errors in debug mode only), so a 503 here would leave a blank page under the navigation bar."""
    notice = dash.html.Div([dash.html.H2(STORE_DOWN_TITLE, className="h5"),
                            dash.html.P(message, className="mb-1"),
                            dash.html.P(["Request id: ", dash.html.Code(request_id())], className="small mb-0")],
                           className="alert alert-warning m-4", role="alert", id="store-unavailable")
    body = {"multi": True, "response": {_PAGE_CONTENT.split(".")[0]: {"children": notice}}}
    return Response(json.dumps(body, cls=PlotlyJSONEncoder), status=200, mimetype="application/json")


def _error_handlers(server: Flask, dash_path: str) -> None:
    def answer(status: int, message: str):
        as_json = request.path == dash_path or request.path.startswith("/api/") or request.is_json
        return error_answer(status, message, as_json=as_json)

    @server.errorhandler(CSRFError)
    def _csrf_failed(exc: CSRFError):
        log.warning("request %s: CSRF check failed on %s %s: %s", request_id(), request.method, request.path,
                    exc.description)
        return answer(403, f"not allowed: {exc.description} Reload the page and try again.")

    @server.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge):
        limit = server.config["MAX_CONTENT_LENGTH"]
        return answer(413, f"the request is larger than this site accepts ({limit:,} bytes at most)")

    @server.errorhandler(StoreError)
    def _store_down(exc: StoreError):
        # The store's message can name tables and SQL: the log has it, the visitor the request id. It recovers
        # by itself: the next request opens a new connection.
        log.error("request %s: the store failed on %s %s: %s", request_id(), request.method, request.path, exc)
        pending = isinstance(exc, MigrationsPending)  # an operator's step, not an outage
        if request.path == dash_path and _PAGE_CONTENT in str((request.get_json(silent=True) or {}).get("output")):
            return _page_unavailable(NOT_SET_UP if pending else STORE_DOWN_DETAIL)
        return answer(503, NOT_SET_UP if pending else STORE_DOWN)

    # Dash's own checks of what a request asks for, failed: the sender's error, said as one (a 4xx), not ours.
    @server.errorhandler(CallbackException)
    def _callback_refused(exc: CallbackException):
        if isinstance(exc, UnsupportedRelativePath):  # the page router asked for a path outside this site
            return answer(400, "no page of this site has the path asked for: a page's path starts with /")
        if type(exc) is not CallbackException:  # a subclass: a callback of ours returned what Dash refuses
            return _unhandled(exc)
        # only Dash's comparison of the request with the callback's definition raises the class itself
        return answer(400, f"this request does not match the callback it names: {exc}")

    @server.errorhandler(DependencyException)
    def _no_such_script(_exc: DependencyException):
        return answer(404, "no such script: not a library this site serves")

    @server.errorhandler(Exception)
    def _unhandled(exc: Exception):
        if isinstance(exc, HTTPException):  # a deliberate answer (404, 405, ...): werkzeug's page, no trace
            return exc
        log.exception("request %s: %s %s failed", request_id(), request.method, request.path)
        return answer(500, "something went wrong on our side; it has been logged. Quote the request id if you "
                           "report it.")
