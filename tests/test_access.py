"""Issue 10's role table, held here as data (copied from the issue, not imported from app.access), tried against
the running app: every page path, Dash's page router for every path, every registered callback, Dash's own
requests and every API route, as each role and as nobody.

Allowed means the request passes the boundary (not 401/403); nobody gets a redirect to /login for a page and
401 for a callback or the API; a role not allowed gets 403 ("not allowed" page, or JSON)."""
from __future__ import annotations

import os
from urllib.parse import quote

import dash
import pytest

from app.factory import create_app
from app.services import services
from app.settings import Settings
from engine import accounts
from tests.support.signin import PASSWORD, email_for, sign_in
from tests.support.schema_template import migrated_url

ROLES = ("trader", "analyst", "partner", "admin")
DATA = frozenset({"trader", "analyst", "admin"})
EVERYONE = frozenset(ROLES)
ADMIN = frozenset({"admin"})
#: "overview, nodal map, forecasts, signals pages and their callbacks": trader, analyst, admin; "marketplace
#: catalog": everyone; "admin page": admin.
PAGE_ROLES = {"/": DATA, "/nodal": DATA, "/forecasts": DATA, "/signals": DATA, "/marketplace": EVERYONE,
              "/partner": frozenset({"partner"}), "/admin": ADMIN, "/admin/marketplace": ADMIN,
              "/admin/system": ADMIN, "/404": EVERYONE}
#: A callback goes with the page whose module declared it; the navigation bar's with every page.
CALLBACK_PAGE = {"callbacks.overview": "/", "callbacks.nodal": "/nodal", "callbacks.forecasts": "/forecasts",
                 "callbacks.signals": "/signals", "callbacks.admin": "/admin",
                 "callbacks.marketplace": "/marketplace", "callbacks.partner": "/partner",
                 "callbacks.admin_marketplace": "/admin/marketplace", "callbacks.system": "/admin/system"}
CALLBACK_EVERYWHERE = {"callbacks.shell"}
#: "/api/v1/*: by role": trader, analyst, admin, except the marketplace's product API, judged by the request's
#: API key whoever is signed in (so without a live key: 401 for everyone), and its public OpenAPI description.
API_ROLES = DATA
KEY_ROUTES = ("/api/v1/products/", "/api/v1/partner/")
PUBLIC_API = {"/api/v1/openapi.json", "/api/v1/docs"}
WHO = (*ROLES, None)  # None: nobody signed in
ORIGIN = {"Origin": "http://localhost"}


@pytest.fixture(scope="module")
def site(store_dir):
    """One app with sign-in on, a user per role, and a client per role signed in through the form."""
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"access_{os.getpid()}"), scheduler=False,
                                   demo=False, auth=True))
    store = services(dash_app.server).ready_store()
    clients = {None: dash_app.server.test_client()}
    for role in ROLES:
        accounts.create_user(store, email_for(role), role, PASSWORD)
        clients[role] = dash_app.server.test_client()
        assert sign_in(clients[role], email_for(role)).status_code == 302, f"could not sign in as {role}"
    clients[None].get("/login")  # a first request: Dash adds its page router callback then
    yield dash_app, clients
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


def _outputs(key: str) -> list[dict] | dict:
    if not key.startswith(".."):
        ident, _, prop = key.rpartition(".")
        return {"id": ident, "property": prop}
    return [{"id": part.rpartition(".")[0], "property": part.rpartition(".")[2]}
            for part in key.strip(".").split("...")]


def _body(callback_map: dict, key: str, values: dict | None = None) -> dict:
    """A minimal valid callback request: every input and state present, None unless ``values`` names it."""
    spec = callback_map[key]
    values = values or {}

    def items(kind):
        return [{**i, "value": values.get(f"{i['id']}.{i['property']}")} for i in spec[kind]]

    return {"output": key, "outputs": _outputs(key), "inputs": items("inputs"), "state": items("state"),
            "changedPropIds": []}


def _server_callbacks(dash_app) -> list[tuple[str, dict]]:
    """The callbacks that run on the server (clientside ones, such as Dash's page title, never reach it)."""
    return [(key, entry) for key, entry in dash_app.callback_map.items() if "callback" in entry]


def _router_key(callback_map: dict) -> str:
    return next(k for k in callback_map if "_pages_content.children" in k)


def _verdict(status: int) -> str:
    return {401: "nobody", 403: "refused"}.get(status, "allowed")


def _expected(who: str | None, roles: frozenset[str]) -> str:
    if who is None:
        return "nobody"
    return "allowed" if who in roles else "refused"


def test_every_built_page_is_in_the_table():
    built = {page["path"] for page in dash.page_registry.values()}
    assert built - set(PAGE_ROLES) == set(), "pages the issue's table does not name"


def test_every_callback_module_is_in_the_table(site):
    dash_app, _ = site
    modules = {entry["callback"].__module__ for key, entry in _server_callbacks(dash_app)
               if "_pages_content" not in key}
    assert modules - set(CALLBACK_PAGE) - CALLBACK_EVERYWHERE == set(), "callbacks whose page the table lacks"


@pytest.mark.parametrize("path", sorted(PAGE_ROLES))
@pytest.mark.parametrize("who", WHO, ids=lambda w: w or "nobody")
def test_page_path(site, path, who):
    _, clients = site
    answer = clients[who].get(path)
    if who is None:
        assert (answer.status_code, answer.headers.get("Location")) == (302, "/login?next=" + quote(path, safe=""))
    elif who in PAGE_ROLES[path]:
        assert answer.status_code == 200
    else:
        assert (answer.status_code, "not allowed" in answer.get_data(as_text=True).lower()) == (403, True)


def test_nobody_keeps_the_query_in_next(site):
    _, clients = site
    answer = clients[None].get("/nodal?network=case14")
    assert answer.headers.get("Location") == "/login?next=" + quote("/nodal?network=case14", safe="")


@pytest.mark.parametrize("path", [*sorted(PAGE_ROLES), "/admin/"])
@pytest.mark.parametrize("who", WHO, ids=lambda w: w or "nobody")
def test_page_router_renders_a_page_only_for_its_roles(site, path, who):
    """Dash renders a page's layout through its router callback: asked for a path, it is held to the table."""
    dash_app, clients = site
    key = _router_key(dash_app.callback_map)
    body = _body(dash_app.callback_map, key, {"_pages_location.pathname": path, "_pages_location.search": ""})
    answer = clients[who].post("/_dash-update-component", json=body, headers=ORIGIN)
    assert _verdict(answer.status_code) == _expected(who, PAGE_ROLES["/" + path.strip("/")])


@pytest.mark.parametrize("who", [w for w in WHO if w is not None])
def test_an_address_naming_no_page_says_so_to_anyone_signed_in(site, who):
    dash_app, clients = site
    key = _router_key(dash_app.callback_map)
    body = _body(dash_app.callback_map, key, {"_pages_location.pathname": "/no-such-page",
                                              "_pages_location.search": ""})
    answer = clients[who].post("/_dash-update-component", json=body, headers=ORIGIN)
    assert answer.status_code == 200
    shown = str(answer.get_json()["response"]["_pages_content"]["children"])
    assert "Page not found" in shown and "the navigation above lists the pages your account may open" in shown


@pytest.mark.parametrize("who", WHO, ids=lambda w: w or "nobody")
def test_every_callback(site, who):
    dash_app, clients = site
    wrong = []
    for key, entry in _server_callbacks(dash_app):
        module = entry["callback"].__module__
        if module not in CALLBACK_PAGE and module not in CALLBACK_EVERYWHERE:
            continue  # Dash's page router: tried path by path above
        roles = EVERYONE if module in CALLBACK_EVERYWHERE else PAGE_ROLES[CALLBACK_PAGE[module]]
        answer = clients[who].post("/_dash-update-component", json=_body(dash_app.callback_map, key), headers=ORIGIN)
        if _verdict(answer.status_code) != _expected(who, roles) or answer.status_code >= 500:
            wrong.append((module, key, answer.status_code))
    assert wrong == [], f"callbacks answering against the table as {who or 'nobody'} (module, output, status)"


def test_the_callbacks_tried_are_all_there_are(site):
    """The loop above skips only Dash's own router; every page module's callbacks are among those tried."""
    dash_app, _ = site
    tried = [k for k, e in _server_callbacks(dash_app) if e["callback"].__module__.startswith("callbacks.")]
    assert len(tried) == len(_server_callbacks(dash_app)) - 1


def test_an_unknown_callback_is_refused(site):
    _, clients = site
    answer = clients["admin"].post("/_dash-update-component", json={"output": "nothing.children"}, headers=ORIGIN)
    assert answer.status_code == 400


def _api_rules(dash_app) -> list[str]:
    return sorted(r.rule for r in dash_app.server.url_map.iter_rules() if r.rule.startswith("/api/v1"))


def test_the_api_has_routes(site):
    assert len(_api_rules(site[0])) >= 3


@pytest.mark.parametrize("who", WHO, ids=lambda w: w or "nobody")
def test_every_api_route(site, who):
    dash_app, clients = site
    wrong = []
    for rule in _api_rules(dash_app):
        if rule.startswith(KEY_ROUTES):
            methods = {r.rule: r.methods for r in dash_app.server.url_map.iter_rules()}[rule]
            send = clients[who].post if "POST" in methods else clients[who].get
            tries = [send(rule, headers={"Authorization": "Bearer not-a-key"})]
            if "GET" in methods:  # a session alone is no key either
                tries.append(send(rule))
            wrong += [(rule, a.status_code) for a in tries if a.status_code != 401]
            continue
        answer = clients[who].get(rule + "?market=NEM")
        expected = "allowed" if rule in PUBLIC_API else _expected(who, API_ROLES)
        if _verdict(answer.status_code) != expected or (rule in PUBLIC_API and answer.status_code >= 400) \
                or answer.status_code >= 500:
            wrong.append((rule, answer.status_code))
    assert wrong == [], f"API routes answering against the table as {who or 'nobody'} (route, status)"


@pytest.mark.parametrize("path", ["/_dash-layout", "/_dash-dependencies"])
@pytest.mark.parametrize("who", WHO, ids=lambda w: w or "nobody")
def test_dash_requests_need_a_signed_in_user(site, path, who):
    _, clients = site
    answer = clients[who].get(path)
    assert _verdict(answer.status_code) == _expected(who, EVERYONE)


@pytest.mark.parametrize("path", ["/login", "/assets/style.css", "/vendor/bootstrap/bootstrap.min.css",
                                  "/_favicon.ico"])
def test_sign_in_page_and_static_files_are_public(site, path):
    _, clients = site
    assert clients[None].get(path).status_code == 200


def test_dash_component_scripts_are_public(site):
    dash_app, clients = site
    page = clients["trader"].get("/").get_data(as_text=True)
    script = next(part.split('"')[0] for part in page.split('src="')[1:] if "_dash-component-suites" in part)
    assert clients[None].get(script).status_code == 200


def _nav_ids(layout: object) -> set[str]:
    found = set()
    if isinstance(layout, dict):
        ident = layout.get("props", {}).get("id") if isinstance(layout.get("props"), dict) else None
        if isinstance(ident, str) and ident.startswith("nav-"):
            found.add(ident)
        for value in layout.values():
            found |= _nav_ids(value)
    elif isinstance(layout, list):
        for value in layout:
            found |= _nav_ids(value)
    return found


@pytest.mark.parametrize("role", ROLES)
def test_navigation_shows_exactly_the_pages_the_role_may_open(site, role):
    _, clients = site
    shown = _nav_ids(clients[role].get("/_dash-layout").get_json())
    # /admin/marketplace is reached from the admin page, not from the bar; /404 is no page to go to
    expected = {f"nav-{path.strip('/') or 'overview'}" for path, roles in PAGE_ROLES.items()
                if role in roles and path.count("/") == 1 and path != "/404"}
    assert shown == expected
