"""The 404 of an address that names nothing here. Dash serves every path no other route takes (its pages'
``/<path:path>``) with its index and a status of 200, and draws its "not found" page in the browser: a
monitor, a crawler or a script would take any mistyped address for a page, and a request to an API route that
does not exist would get a page of HTML.

So: a path under ``/api/`` that no API route takes answers a JSON 404 (405 when a route takes it with another
method); one under the prefixes of files (``/assets/``, ``/vendor/``, Dash's own) a plain 404; any other path
Dash's router would draw as "not found" keeps Dash's page, which a person reads, with the status 404 (and the
request id, added to every error page by app/logs.py). The role check (app/access.py) runs first: a signed-out
visitor is still sent to sign in, and an API caller without a session told 401, before being told what exists."""
from __future__ import annotations

import dash
from dash._pages import _path_to_page
from flask import Response, request
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map

from app.security import error_answer

API_PREFIX = "/api/"
#: served as files by their own routes: a path there that none takes is a missing file, not a page
FILE_PREFIXES = ("/assets/", "/vendor/", "/_dash-")


def _is_dash_catch_all(app: dash.Dash) -> bool:
    rule = request.url_rule
    return rule is not None and rule.rule == app.config.routes_pathname_prefix + "<path:path>"


def _api_routes(app: dash.Dash) -> Map:
    """The server's own routes under /api/, without Dash's catch-all, to tell a 404 from a 405. Made at the
    first request: every blueprint is registered by then."""
    found = app.server.extensions.get("c254_api_routes")
    if found is None:
        url_map = app.server.url_map
        found = Map([rule.empty() for rule in url_map.iter_rules() if rule.rule.startswith(API_PREFIX)],
                    converters=url_map.converters, strict_slashes=url_map.strict_slashes,
                    merge_slashes=url_map.merge_slashes)
        app.server.extensions["c254_api_routes"] = found
    return found


def _api_answer(app: dash.Dash) -> tuple | None:
    try:
        _api_routes(app).bind("").match(request.path, method=request.method)
    except MethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        body, status = error_answer(405, f"{request.method} is not allowed here; allowed: {allowed}", as_json=True)
        return body, status, {"Allow": allowed}
    except NotFound:
        return error_answer(404, f"no API route at {request.path[:200]}; the API is described at "
                                 "/api/v1/openapi.json", as_json=True)
    return None  # a route of the API takes it after all: its own answer stands


def _refuse(app: dash.Dash):
    """Before the request is served: API paths and file paths that no route of theirs takes."""
    if not (request.url_rule is None or _is_dash_catch_all(app)):
        return None
    if request.path.startswith(API_PREFIX):
        return _api_answer(app)
    if request.url_rule is not None and request.path.startswith(FILE_PREFIXES):
        raise NotFound()
    return None


def _page_status(app: dash.Dash, response: Response) -> Response:
    """After Dash's index is made for a path: 404 when its router would draw the "not found" page there."""
    if response.status_code != 200 or not _is_dash_catch_all(app):
        return response
    page, _variables = _path_to_page(app.strip_relative_path(request.path))
    if not page:
        response.status_code = 404
    return response


def init_app(app: dash.Dash) -> None:
    """After app.metrics and app.logs (their after-request hooks then see the 404) and after app.access (the role
    check answers first)."""
    app.server.before_request(lambda: _refuse(app))
    app.server.after_request(lambda response: _page_status(app, response))
