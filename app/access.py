"""Who may open what: issue 10's role table as data, and the one check every request to the server passes.

Pages by path; a Dash callback by the page whose module declared it (``callbacks/<page>.py`` belongs to the
page registered by ``pages/<page>.py``), found from the request's output id in the app's callback map; Dash's
own page router by the path it is asked to render; the REST API by prefix. Anything the table does not name
is refused (a new page or callbacks module must be added here before anyone can reach it).

Nobody signed in: a page redirects to ``/login?next=...``, a callback or the API answers 401. Signed in but
not allowed: 403, a plain "not allowed" page for a page, JSON for a callback or the API. The navigation shows
each role only the pages it may open, but that is a courtesy: this check is what holds."""
from __future__ import annotations

import html
import json
import logging
from functools import partial
from urllib.parse import quote

import dash
# the renderer names a pattern-matching id in changedPropIds as this does (dash is pinned: pyproject.toml)
from dash._utils import stringify_id
from flask import Response, jsonify, redirect, request
from flask_wtf.csrf import generate_csrf

from app import auth, health, marketplace_api, security
from engine.store import StoreError
from components.shell import NAV, shell
from engine.accounts import ROLES

log = logging.getLogger(__name__)
EVERYONE = frozenset(ROLES)
DATA_ROLES = frozenset({"trader", "analyst", "admin"})
ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()

#: Pages (and their callbacks) → the roles that may open them.
PAGES: dict[str, frozenset[str]] = {
    "/": DATA_ROLES,
    "/nodal": DATA_ROLES,
    "/forecasts": DATA_ROLES,
    "/signals": DATA_ROLES,
    "/marketplace": EVERYONE,
    "/partner": frozenset({"partner"}),  # the partner portal: a partner's own products, keys, usage, statements
    "/admin": ADMIN,
    "/admin/marketplace": ADMIN,  # partners' and products' approval, platform revenue
    "/admin/system": ADMIN,  # latency, cache hit rate, job failures, data age (app/system.py)
    "/404": EVERYONE,  # what an address naming no page shows (pages/not_found_404.py)
}
#: Actions within a page that not everyone who may open it may take → the roles that may.
ACTIONS: dict[str, frozenset[str]] = {
    "send_orders": frozenset({"trader", "admin"}),  # over FIX, from the signals page (app/routing.py)
    "switch_routing": ADMIN,  # order routing on or off
}
#: Callbacks modules that belong to no one page → roles (every other ``callbacks.<page>`` goes with its page).
CALLBACK_MODULES: dict[str, frozenset[str]] = {
    "callbacks.shell": EVERYONE,  # the navigation bar's freshness badges, on every page
}
#: The REST API by prefix, for signed-in sessions. The marketplace's product routes are not in it: they are
#: judged by their API key (partners reach their own products that way), see KEY_PREFIXES below.
API: dict[str, frozenset[str]] = {"/api/v1/": DATA_ROLES}
#: Reachable by anyone: the sign-in page, static files, Dash's component scripts (so /login renders), the
#: health probes and the API's OpenAPI description (JSON, and the page that renders it).
PUBLIC_PATHS = frozenset({"/login", "/logout", "/_favicon.ico", *health.PATHS, marketplace_api.OPENAPI_PATH,
                          marketplace_api.DOCS_PATH})
#: The marketplace's product data and partner uploads pass this boundary and are judged by the request's API
#: key instead (app/marketplace_api.py: 401 without a live key, 403 for a product it is not entitled to).
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/vendor/", *marketplace_api.KEY_PREFIXES)
#: Paths whose route decides who may read them: /metrics (admins, or this machine's Prometheus agent).
SELF_GUARDED = frozenset({"/metrics"})
#: Dash's own requests that every signed-in user makes on every page.
DASH_INTERNAL = ("/_dash-layout", "/_dash-dependencies", "/_reload-hash")
CALLBACK_PATH = "/_dash-update-component"
#: The output of the callback with which Dash's pages feature renders a page for a path.
PAGE_ROUTER_OUTPUT = "_pages_content.children"


class BadCallbackRequest(ValueError):
    pass


def _registered_page(path: str) -> str | None:
    """The registered page Dash renders for ``path`` (its declared path), as Dash's router matches it."""
    wanted = path.strip("/")
    for page in dash.page_registry.values():
        if page["path"].strip("/") == wanted:
            return page["path"]
    return None


def page_roles(path: str) -> frozenset[str]:
    """Who may open ``path``: a registered page by the table (nobody if the table leaves it out); a path
    that is no page yet by the table too (e.g. /forecasts before it is built), else any signed-in user,
    who gets Dash's "not found"."""
    registered = _registered_page(path)
    if registered is not None:
        return PAGES.get(registered, NOBODY)
    return PAGES.get("/" + path.strip("/"), EVERYONE)


def callback_roles(callback_map: dict, body: object) -> frozenset[str]:
    """Who may call the callback a ``/_dash-update-component`` body asks for. BadCallbackRequest when the
    body names no callback of this app."""
    output = body.get("output") if isinstance(body, dict) else None
    if not isinstance(output, str) or output not in callback_map:
        raise BadCallbackRequest("not a callback of this app")
    if PAGE_ROUTER_OUTPUT in output:
        paths = [i.get("value") for i in body.get("inputs") or () if isinstance(i, dict)
                 and i.get("property") == "pathname"]
        return page_roles(paths[0]) if paths and isinstance(paths[0], str) else NOBODY
    module = getattr(callback_map[output].get("callback"), "__module__", "") or ""
    if module in CALLBACK_MODULES:
        return CALLBACK_MODULES[module]
    package, _, page_module = module.rpartition(".")
    if package != "callbacks":
        return NOBODY
    for key, page in dash.page_registry.items():
        if key.rpartition(".")[2] == page_module:
            return PAGES.get(page["path"], NOBODY)
    return NOBODY


def check_callback_body(callback_map: dict, body: dict) -> None:
    """BadCallbackRequest unless the body of a request for a callback of this app (``callback_roles`` found it)
    lists the inputs and state the callback declares, each the component and property it declares, and as many
    outputs. Dash reads these lists by position and their items by key, and a callback reads which input fired from
    the ids a request names (ctx.triggered_id): a body of another shape, which no page of this site sends, would
    otherwise fail inside Dash or the callback, a 500 where the sender's error is meant. Checked once the sender
    may call the callback: one who may not is told only that."""
    declared = callback_map[body["output"]]
    for field in ("inputs", "state"):
        given, wanted = body.get(field, []), declared.get(field) or []
        if not isinstance(given, list) or len(given) != len(wanted):
            raise BadCallbackRequest(f"'{field}' must be a list of this callback's {len(wanted)} {field}, "
                                     "each an object with an id and a property")
        for spec, item in zip(wanted, given, strict=True):
            if not _fits(spec, item):
                raise BadCallbackRequest(f"'{field}' names another component than the callback's "
                                         f"{spec['id']}.{spec['property']}")
    if not declared.get("no_output"):  # which outputs they are, Dash's own check compares (security.py)
        output, outputs = body["output"], body.get("outputs")
        wanted = len(output.strip(".").split("...")) if output.startswith("..") else 1  # "..a.children...b.figure.."
        listed = outputs if output.startswith("..") and isinstance(outputs, list) else [outputs]
        if len(listed) != wanted or not all(_is_spec(one) for one in listed):
            raise BadCallbackRequest(f"'outputs' must name this callback's {wanted} output(s), "
                                     "each an object with an id and a property")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(one, str) for one in changed):
        raise BadCallbackRequest("'changedPropIds' must be a list of texts like 'id.property'")
    named = {f"{stringify_id(one['id'])}.{one['property']}" for item in body["inputs"]
             for one in (item if isinstance(item, list) else [item])}
    if not set(changed) <= named:
        raise BadCallbackRequest("'changedPropIds' may name only the request's own inputs")


def _is_spec(item: object) -> bool:
    """One component and property as Dash's renderer names it: an id (text, or a dict for a pattern-matching id)
    and a property; a pattern-matching ALL names a list of them."""
    def one(spec: object) -> bool:
        return isinstance(spec, dict) and isinstance(spec.get("id"), str | dict) and isinstance(spec.get("property"),
                                                                                                str)

    return all(one(spec) for spec in item) if isinstance(item, list) else one(item)


def _fits(spec: dict, item: object) -> bool:
    """Whether ``item`` (one input or state of a request) is the component and property ``spec`` declares: its
    id itself, or for a pattern-matching id (ALL: a list) ids with the pattern's keys, its fixed values, and a
    text or number where it has a wildcard."""
    if not _is_spec(item):
        return False
    declared = spec["id"]
    pattern = json.loads(declared) if declared.startswith("{") else None
    if pattern is None:
        return isinstance(item, dict) and item["id"] == declared and item["property"] == spec["property"]
    return all(isinstance(one["id"], dict) and one["id"].keys() == pattern.keys()
               and one["property"] == spec["property"]
               and all(isinstance(one["id"][key], str | int | float) if isinstance(value, list)
                       else one["id"][key] == value for key, value in pattern.items())
               for one in (item if isinstance(item, list) else [item]))


def may_open(role: str | None, path: str) -> bool:
    return role is not None and role in page_roles(path)


def may(role: str | None, action: str) -> bool:
    """Whether ``role`` may take ``action`` (a key of ACTIONS; any other name is a bug, and says so)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}")
    return role is not None and role in ACTIONS[action]


def nav_for(role: str | None) -> list[tuple[str, str]]:
    return [(label, path) for label, path in NAV if may_open(role, path)]


def home_for(role: str | None) -> str:
    """Where a user lands after sign-in without a destination: the first page of their navigation that is
    built, else the first one they may open."""
    allowed = [path for _label, path in nav_for(role)]
    built = [path for path in allowed if _registered_page(path) is not None]
    return (built or allowed or ["/"])[0]


# ------------------------------------------------------------------------------------------------ the check

def _not_allowed_page():
    role = auth.current_role()
    body = ('<p>Your account ({{ role }}) may not open this page.</p>'
            '<p><a href="{{ home }}">Go to your start page</a> · <a href="/logout">Sign out</a></p>')
    return auth.page("Not allowed", body, "Not allowed.", 403, role=role, home=home_for(role))


def _store_down_page() -> Response:
    """A page's place while the signed-in user cannot be read (a ClickHouse server gone): plain HTML of its own,
    since a template would ask flask-login for the user again and fail again, saying what the pages say when the
    store fails under them, with the request id the log names, and trying again by itself every 15 s."""
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">'
            f'<title>{security.STORE_DOWN_TITLE} · 254Carbon</title></head>'
            f'<body style="font-family: system-ui, sans-serif; margin: 2rem">'
            f'<h1 style="font-size: 1.4rem">{security.STORE_DOWN_TITLE}</h1>'
            f'<p>{security.STORE_DOWN_DETAIL} This page tries again every 15 seconds.</p>'
            f'<p style="color: #666">Request id: {html.escape(security.request_id())}</p></body></html>')
    return Response(page, 503, mimetype="text/html", headers={"Retry-After": "15"})


def _json(status: int, message: str):
    return jsonify({"error": message}), status


def enforce(app: dash.Dash):
    """The one before-request check: the role table for every page, callback, Dash request and API route."""
    path = request.path
    if auth.local_mode() and not auth.from_this_machine():
        return _json(403, "local mode (sign-in off) serves this machine only")
    if path in PUBLIC_PATHS or path in SELF_GUARDED or path.startswith(PUBLIC_PREFIXES):
        return None
    is_page = not (path == CALLBACK_PATH or path in DASH_INTERNAL or path.startswith("/api/"))
    try:
        role = auth.current_role()  # reads the user from the store
    except StoreError as exc:
        log.error("could not read the signed-in user: %s", exc)
        if is_page:
            return _store_down_page()
        return _json(503, security.STORE_DOWN)
    if role is None:
        if is_page:
            query = request.query_string.decode("utf-8", "replace")
            return redirect("/login?next=" + quote(path + (f"?{query}" if query else ""), safe=""))
        return _json(401, "sign in first")
    if path == CALLBACK_PATH:
        body = request.get_json(silent=True)
        try:
            roles = callback_roles(app.callback_map, body)
            if role in roles:
                check_callback_body(app.callback_map, body)
        except BadCallbackRequest as exc:
            return _json(400, str(exc))
    elif path in DASH_INTERNAL:
        roles = EVERYONE
    elif path.startswith("/api/"):
        roles = next((r for prefix, r in API.items() if path.startswith(prefix)), NOBODY)
    else:
        roles = page_roles(path)
    if role in roles:
        return None
    return _not_allowed_page() if is_page else _json(403, "not allowed")


def frame():
    """The app's layout, made per page load for whoever asks: the shell with the navigation their role has."""
    role = auth.current_role()
    if auth.local_mode():
        account, notice = None, "sign-in off (local mode)"
    else:
        signed_in = auth.current_account()
        account, notice = (f"{signed_in.user.email} ({role})" if signed_in else None), None
    return shell(nav_for(role), home=home_for(role), account=account, notice=notice,
                 sign_out_token=None if auth.local_mode() else generate_csrf())


def init_app(app: dash.Dash) -> None:
    """Sign-in (``app.auth``), the per-user layout and the check, on the Dash app's server."""
    auth.init_app(app.server)
    app.layout = frame
    app.server.before_request(partial(enforce, app))
