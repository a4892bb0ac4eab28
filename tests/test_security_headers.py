"""The app's boundary with the browser (app/security.py): security headers on every response, CSRF for Flask
forms, the same-origin rule for Dash's callback POSTs, the request size limit, and errors that show a request id
and never a stack trace. The last test opens every page in headless Chromium under the CSP."""
from __future__ import annotations

import json
import logging
import time

import pytest
from flask_wtf.csrf import generate_csrf

from tests.test_hardening import DASH_PATH, ORIGIN, callback_key, client_settings, post_callback

PAGES = ("/", "/nodal", "/admin")


@pytest.fixture(scope="module")
def app(make_module_app, data_dir):
    """One app for the module (the tests change nothing stored)."""
    dash_app = make_module_app(data_dir=data_dir, secret_key="test-secret", max_request_bytes=100_000,
                               **client_settings())
    server = dash_app.server

    # Routes a test needs, added before the first request: a Flask form, a token to post it with, a failing view.
    @server.post("/test-form")
    def test_form():
        return "accepted"

    @server.get("/test-token")
    def test_token():
        return generate_csrf()

    @server.get("/test-boom")
    def test_boom():
        raise RuntimeError("secret internals: password=hunter2")

    return dash_app


@pytest.fixture
def client(app):
    return app.server.test_client()


def _csp(response) -> dict[str, list[str]]:
    directives = [d.split() for d in response.headers["Content-Security-Policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


@pytest.mark.parametrize("path", [*PAGES, "/api/v1/health", "/_dash-layout", "/_dash-dependencies",
                                  "/no-such-page", "/assets/no-such.css"])
def test_every_response_carries_the_security_headers(client, path):
    r = client.get(path)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert _csp(r)["frame-ancestors"] == ["'none'"]
    assert len(r.headers["X-Request-ID"]) == 32


def test_the_csp_allows_only_this_sites_scripts_and_dashs_inline_ones_by_hash(app, client):
    csp = _csp(client.get("/"))
    assert "'unsafe-inline'" not in csp["script-src"]
    assert csp["script-src"][0] == "'self'"
    assert set(app.csp_hashes()) <= set(csp["script-src"])
    assert csp["object-src"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]


def test_each_request_has_its_own_id(client):
    assert client.get("/api/v1/health").headers["X-Request-ID"] != client.get("/api/v1/health").headers["X-Request-ID"]


# --- CSRF and the same-origin rule ----------------------------------------------------------------------------------

def _render_request(client, app, **kwargs):
    return post_callback(client, app, callback_key(app, "ov-latest.children"),
                         {"ov-market.value": "NEM", "ov-tz.value": "market"}, **kwargs)


def test_a_dash_callback_from_this_site_is_served(client, app):
    assert _render_request(client, app).status_code == 200


def test_a_dash_callback_with_only_a_same_site_referer_is_served(client, app):
    assert _render_request(client, app, origin=None, headers={"Referer": f"{ORIGIN}/nodal"}).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Referer": "https://evil.example/page"},
                                     {"Origin": "http://localhost.evil.example"}],
                         ids=["no-origin", "other-origin", "null-origin", "other-referer", "look-alike"])
def test_a_dash_callback_from_elsewhere_is_refused_with_a_message(client, app, headers):
    r = _render_request(client, app, origin=None, headers=headers)
    assert r.status_code == 403
    assert "did not come from a page of this site" in r.get_json()["error"]


def test_a_form_post_without_the_csrf_token_is_refused_with_a_message(client):
    r = client.post("/test-form", data={"email": "a@example.com"}, headers={"Origin": ORIGIN})
    assert r.status_code == 403
    assert "CSRF token" in r.get_data(as_text=True)


def test_a_form_post_with_the_token_is_accepted(client):
    token = client.get("/test-token").get_data(as_text=True)
    r = client.post("/test-form", data={"csrf_token": token}, headers={"Origin": ORIGIN})
    assert r.status_code == 200


def test_a_form_post_with_another_sessions_token_is_refused(app, client):
    token = app.server.test_client().get("/test-token").get_data(as_text=True)
    r = client.post("/test-form", data={"csrf_token": token}, headers={"Origin": ORIGIN})
    assert r.status_code == 403


def test_every_flask_form_route_needs_the_token(app, client):
    """Every route other than Dash's that takes a POST (the sign-in form among them, once it is wired)."""
    routes = [r.rule for r in app.server.url_map.iter_rules()
              if "POST" in (r.methods or ()) and r.rule != DASH_PATH and "<" not in r.rule]
    assert "/test-form" in routes
    for rule in routes:
        r = client.post(rule, data={"email": "a@example.com", "password": "x"}, headers={"Origin": ORIGIN})
        assert r.status_code == 403, f"{rule}: {r.status_code}"


# --- size limit -------------------------------------------------------------------------------------------------------

def test_an_oversized_callback_body_is_a_413_with_a_message(client):
    body = json.dumps({"output": "x", "inputs": [{"id": "a", "property": "value", "value": "y" * 200_000}]})
    r = client.post(DASH_PATH, data=body, content_type="application/json", headers={"Origin": ORIGIN})
    assert r.status_code == 413
    assert "100,000 bytes" in r.get_json()["error"]


def test_an_oversized_form_is_a_413(client):
    r = client.post("/test-form", data={"field": "y" * 200_000}, headers={"Origin": ORIGIN})
    assert r.status_code == 413


def test_the_size_limit_is_a_setting_with_a_default_of_a_megabyte():
    from app.settings import Settings

    assert Settings.from_env({"C254_MAX_REQUEST_BYTES": "5000"}).max_request_bytes == 5000
    assert Settings.from_env({}).max_request_bytes == 1_000_000


# --- errors -----------------------------------------------------------------------------------------------------------

def test_an_error_shows_the_request_id_and_no_trace(client, caplog):
    with caplog.at_level(logging.ERROR, logger="app.security"):
        r = client.get("/test-boom")
    text = r.get_data(as_text=True)
    rid = r.headers["X-Request-ID"]
    assert r.status_code == 500
    assert rid in text
    assert "Traceback" not in text
    assert "hunter2" not in text
    logged = [rec for rec in caplog.records if rid in rec.getMessage()]
    assert logged, "the failure is logged with the request id"
    assert "hunter2" in logged[0].exc_text


def test_a_failing_callback_answers_json_with_the_request_id_only(client, app, caplog, monkeypatch):
    from engine import overview

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals in a callback")

    monkeypatch.setattr(overview, "latest_view", broken)
    with caplog.at_level(logging.ERROR, logger="app.security"):
        r = _render_request(client, app)
    body = r.get_json()
    assert r.status_code == 500
    assert set(body) == {"error", "request_id"}
    assert body["request_id"] == r.headers["X-Request-ID"]
    assert "secret internals" not in r.get_data(as_text=True)
    assert any(body["request_id"] in rec.getMessage() for rec in caplog.records)


def test_dash_debug_is_off(app):
    assert app.server.debug is False
    assert app._dev_tools.ui is not True


# --- in the browser ---------------------------------------------------------------------------------------------------

_PAGE_READY = {"/": "#ov-latest-table", "/nodal": "#nd-binding", "/admin": "#admin-jobs-table"}
#: What a page draws only when its scripts ran as they should: Plotly's WebGL series, the solved map.
_DRAWN = {"/": "return !!document.querySelector('#ov-series .gl-container canvas')",
          "/nodal": "var gd = document.querySelector('#nd-map .js-plotly-plot');"
                    "return !!(gd && gd._fullData && gd._fullData.some(function (t) { return t.name === 'nodes'; }))",
          "/admin": "return document.querySelectorAll('#admin-jobs-table tbody tr').length > 0"}


@pytest.mark.browser
@pytest.mark.realdata
def test_every_page_renders_under_the_csp_with_no_violation(dash_duo, make_app, data_dir, tmp_path):
    app = make_app(demo=True, data_dir=data_dir, secret_key="test-secret", **client_settings())
    dash_duo.start_server(app)
    for path in PAGES:
        dash_duo.driver.get(dash_duo.server_url + path)
        dash_duo.wait_for_element(_PAGE_READY[path], timeout=60)
        end = time.time() + 60
        while not dash_duo.driver.execute_script(_DRAWN[path]) and time.time() < end:
            time.sleep(0.3)
        dash_duo.driver.save_screenshot(str(tmp_path / f"page{path.replace('/', '_')}.png"))
        assert dash_duo.driver.execute_script(_DRAWN[path]), f"{path} did not draw"
        assert "WebGL is not supported" not in dash_duo.driver.find_element("css selector", "body").text, path
        # every level: Chromium logs a refused inline style as a warning, a refused script as an error
        logs = dash_duo.driver.get_log("browser")
        violations = [e["message"] for e in logs if "Content Security Policy" in e["message"]
                      or "Refused to" in e["message"]]
        assert violations == [], f"{path}: {violations}"
        assert [e["message"] for e in logs if e["level"] == "SEVERE"] == [], path
