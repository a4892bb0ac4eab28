"""The log: every record one JSON object per line with time, level, logger, message and, within a request, its
id, user and route; one access line per request (method, route, status, duration, request id, user) in place of
gunicorn's; text lines when C254_LOG_FORMAT=text. Error pages (500, 503, 403, 404) show the request id, and it
is the id in the log lines of that request."""
from __future__ import annotations

import contextlib
import http.client
import io
import json
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import flask
import pytest

from app import logs
from app.marketplace_api import meter_of
from app.factory import create_app
from app.services import services
from app.settings import REPO_ROOT, Settings
from engine import accounts
from engine.marketplace import keys
from engine.store import StoreError
from tests.support.signin import PASSWORD, sign_in
from tests.test_hardening import callback_key, post_callback
from tests.support.schema_template import migrated_url

ADMIN, ANALYST = "logs-admin@example.com", "logs-analyst@example.com"
KEYED = keys.StoredKey(key_id="00112233aabbccdd", kind="production", secret_sha256="", owner="u-keyholder",
                      products=frozenset(), expires_at=None, revoked_at=None)
_SHOWN_ID = re.compile(r"Request id: (?:<code>)?([0-9a-f]{32})")


@pytest.fixture(scope="module")
def site(store_dir):
    """An app with sign-in, a route that fails (added before the first request), an admin's and an analyst's
    signed-in clients."""
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"logs_{os.getpid()}"), scheduler=False,
                                   demo=False, auth=True, secret_key="test-secret"))

    @dash_app.server.get("/logs-test-failure")
    def fail():
        raise RuntimeError("deliberate failure (test)")

    @dash_app.server.get("/logs-test-keyed")
    def keyed():  # as the product API does once it has judged a request's key
        flask.g.api_key = KEYED
        return {"ok": True}

    store = services(dash_app.server).ready_store()
    clients = {}
    for email, role in ((ADMIN, "admin"), (ANALYST, "analyst")):
        accounts.create_user(store, email, role, PASSWORD)
        clients[role] = dash_app.server.test_client()
        assert sign_in(clients[role], email).status_code == 302
    yield dash_app, clients
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


@pytest.fixture
def captured():
    """What the app's log handler writes during the test, line by line."""
    handler = logs.installed_handler()
    assert handler is not None, "create_app installed no log handler"
    buffer = io.StringIO()
    handler.setStream(buffer)
    lines: list[str] = []

    def read() -> list[str]:
        lines[:] = [line for line in buffer.getvalue().splitlines() if line.strip()]
        return lines

    yield read
    handler.setStream(None)  # back to whatever stderr is


def _records(read) -> list[dict]:
    return [json.loads(line) for line in read()]  # every line is one JSON object, or this fails


def _of_request(read, request_id: str) -> list[dict]:
    return [r for r in _records(read) if r["request_id"] == request_id]


def _access(records: list[dict]) -> dict:
    found = [r for r in records if r["logger"] == logs.ACCESS_LOGGER]
    assert len(found) == 1, f"expected one access line, got {found}"
    return found[0]


def test_a_request_logs_json_lines_with_its_id_user_and_route(site, captured):
    _, clients = site
    answer = clients["admin"].get("/admin/system")
    assert answer.status_code == 200
    rid = answer.headers["X-Request-ID"]
    line = _access(_of_request(captured, rid))
    assert line["user"] == ADMIN and line["route"] == "/admin/system" and line["path"] == "/admin/system"
    assert (line["method"], line["status"], line["level"]) == ("GET", 200, "INFO")
    assert line["duration_ms"] >= 0 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert set(line) >= {"time", "level", "logger", "message", "request_id", "user", "route"}


def test_a_callback_line_names_the_callback(site, captured):
    dash_app, clients = site
    key = callback_key(dash_app, "sys-status.children")
    answer = post_callback(clients["admin"], dash_app, key, {"sys-tick.n_intervals": 1})
    assert answer.status_code == 200
    line = _access(_of_request(captured, answer.headers["X-Request-ID"]))
    assert (line["callback"], line["route"], line["user"]) == (key, "/_dash-update-component", ADMIN)


def test_a_500_page_shows_the_request_id_that_is_in_the_log(site, captured):
    _, clients = site
    answer = clients["admin"].get("/logs-test-failure")
    assert answer.status_code == 500
    body = answer.get_data(as_text=True)
    shown = _SHOWN_ID.search(body)
    assert shown and shown.group(1) == answer.headers["X-Request-ID"]
    assert "deliberate failure" not in body  # no trace for the user ...
    records = _of_request(captured, shown.group(1))
    failure = [r for r in records if r["level"] == "ERROR" and "exception" in r]
    assert failure and "RuntimeError: deliberate failure (test)" in failure[0]["exception"]  # ... all in the log
    assert failure[0]["user"] == ADMIN and failure[0]["route"] == "/logs-test-failure"
    assert _access(records)["status"] == 500


def test_a_403_page_shows_the_request_id_and_a_refused_callback_is_logged_with_it(site, captured):
    dash_app, clients = site
    page = clients["analyst"].get("/admin/system")
    assert page.status_code == 403 and "not allowed" in page.get_data(as_text=True).lower()
    shown = _SHOWN_ID.search(page.get_data(as_text=True))
    assert shown and shown.group(1) == page.headers["X-Request-ID"]
    # in the page's centred column with its message, not after it at the window's edge
    assert page.get_data(as_text=True).index(shown.group(0)) < page.get_data(as_text=True).index("</main>")
    line = _access(_of_request(captured, shown.group(1)))
    assert (line["status"], line["user"]) == (403, ANALYST)

    refused = post_callback(clients["analyst"], dash_app, callback_key(dash_app, "sys-status.children"),
                            {"sys-tick.n_intervals": 1})
    assert refused.status_code == 403 and refused.get_json()["error"] == "not allowed"
    assert _access(_of_request(captured, refused.headers["X-Request-ID"]))["status"] == 403


def test_a_503_and_a_404_page_show_the_request_id(site, captured, monkeypatch):
    dash_app, clients = site
    missing = clients["admin"].get("/vendor/bootstrap/no-such-file.css")
    assert missing.status_code == 404
    shown = _SHOWN_ID.search(missing.get_data(as_text=True))
    assert shown and shown.group(1) == missing.headers["X-Request-ID"]

    def unreachable(**_kw):
        raise StoreError("connection refused (test)")

    monkeypatch.setattr(services(dash_app.server), "ready_store", unreachable)
    down = clients["admin"].get("/admin/system")
    assert down.status_code == 503
    shown = _SHOWN_ID.search(down.get_data(as_text=True))
    assert shown and shown.group(1) == down.headers["X-Request-ID"]
    records = _of_request(captured, shown.group(1))
    assert any(r["level"] == "ERROR" and "connection refused (test)" in r["message"] for r in records)
    assert _access(records)["status"] == 503


def test_records_outside_a_request_and_the_text_format():
    out = io.StringIO()
    handler = logs.configure("json", "INFO", stream=out)
    try:
        logging.getLogger("c254.test").warning("plain %s", "record")
        record = json.loads(out.getvalue().splitlines()[-1])
        assert record["message"] == "plain record" and record["level"] == "WARNING"
        assert (record["request_id"], record["user"], record["route"]) == ("", "", "")
        text = io.StringIO()
        handler.setStream(text)
        handler.setFormatter(logs.formatter("text"))
        logging.getLogger("c254.test").info("as text")
        assert re.search(r"INFO c254\.test \[  \]: as text$", text.getvalue().strip())
        assert sum(getattr(h, "_c254_handler", False) for h in logging.getLogger().handlers) == 1
    finally:
        logs.configure("json", "INFO")  # back to stderr, as create_app leaves it


def test_the_log_format_setting():
    assert Settings.from_env({}).log_format == "json"
    assert Settings.from_env({"C254_LOG_FORMAT": " TEXT "}).log_format == "text"
    with pytest.raises(ValueError, match="C254_LOG_FORMAT must be json or text, got 'yaml'"):
        Settings.from_env({"C254_LOG_FORMAT": "yaml"})
    with pytest.raises(ValueError, match="log format"):
        logs.formatter("yaml")


def test_gunicorn_writes_no_access_log_of_its_own():
    """Our access line (JSON, with the request id and user) replaces gunicorn's; gunicorn writes none unless
    --access-logfile is given."""
    web = next(line for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    args = shlex.split(web.removeprefix("web:"))
    assert args[0] == "gunicorn" and not any(a.startswith("--access-log") for a in args)


@contextlib.contextmanager
def _procfile_server(tmp_path: Path, source: str, log: Path | None = None, **env_vars: str):
    """The Procfile's gunicorn line, as make run runs it, serving ``source``'s WSGI ``app`` instead of ours; yields
    the port once it accepts connections. Its stderr goes to ``log`` when given."""
    (tmp_path / "plain_app.py").write_text(source)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    web = next(line for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    line = web.removeprefix("web:").replace("app.wsgi:server", f"--chdir {tmp_path} plain_app:app")
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", **env_vars}
    with (log.open("w") if log else open(os.devnull, "w")) as stderr:
        server = subprocess.Popen(["bash", "-c", f"exec {line}"], env=env, stdout=subprocess.DEVNULL,  # noqa: S607 -- the Procfile line, as make run runs it
                                  stderr=stderr)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


_OK_APP = ("def app(environ, start_response):\n"
           "    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '2')])\n"
           "    return [b'ok']\n")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_gunicorns_own_lines_are_written_like_the_apps(tmp_path, log_format):
    """The master's lines (its start, a worker booted, the signal that stops it) were gunicorn's plain
    "[date] [pid] [INFO] ..." among the app's JSON objects, which a log pipeline could not read: each line the
    process writes is now one JSON object (or the app's text line, C254_LOG_FORMAT=text), from start to exit."""
    log = tmp_path / "stderr.log"
    with _procfile_server(tmp_path, _OK_APP, log, C254_LOG_FORMAT=log_format) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"ok"
        conn.close()
    lines = log.read_text().splitlines()
    messages = ["Starting gunicorn", "Listening at", "Booting worker", "Handling signal: term", "Shutting down"]
    for message in messages:
        assert any(message in line for line in lines), (message, lines)
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line, or this fails
        assert {r["logger"] for r in records} == {"gunicorn.error"}
        assert all(set(r) >= {"time", "level", "message", "request_id", "user", "route"} for r in records)
    else:
        assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) gunicorn\.error \[  \]: ",
                            line) for line in lines), lines
    assert "Traceback" not in log.read_text()


def test_a_connection_idle_between_two_clicks_is_still_open(tmp_path):
    """The Procfile's gunicorn keeps an idle connection open for seconds: with gunicorn's default of 2 s it closed
    one just as a user's next click went out on it, and that request failed with no answer (the load bench's
    only errors). The Procfile's own flags, on an app that answers "ok"."""
    source = ("def app(environ, start_response):\n"
              "    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '2')])\n"
              "    return [b'ok']\n")
    with _procfile_server(tmp_path, source) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"ok"
        time.sleep(3.5)  # a user reading the page
        conn.request("POST", "/", body=b"{}")  # on the same connection: no reconnect by http.client
        assert conn.getresponse().read() == b"ok"
        conn.close()


def test_a_worker_keeps_what_its_loaded_app_holds_out_of_the_collectors_sight(tmp_path):
    """Every full garbage collection walked all a worker's long-lived objects with the GIL held (150-190 ms
    pauses of every request under load): the Procfile's config freezes what the worker holds once its app is
    loaded. The app here answers the number of objects frozen, and holds some of its own."""
    source = ("import gc\n"
              "HELD = [[i] for i in range(50_000)]\n"
              "def app(environ, start_response):\n"
              "    body = str(gc.get_freeze_count()).encode()\n"
              "    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])\n"
              "    return [body]\n")
    with _procfile_server(tmp_path, source) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert int(conn.getresponse().read()) > 50_000
        conn.close()



def test_a_request_refused_before_any_page_code_still_has_its_id(site, captured):
    """Refused by the sign-in check, with its id in the answer and the access line."""
    dash_app, _ = site
    answer = dash_app.server.test_client().get("/api/v1/latest?market=NEM")
    assert answer.status_code == 401
    rid = answer.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert _access(_of_request(captured, rid))["status"] == 401


def test_the_request_id_is_made_by_whatever_asks_first_and_kept(site):
    """A hook running before the one that used to make it (or an error raised before any) still gets an id."""
    from app.security import request_id

    dash_app, _ = site
    assert request_id() == ""  # outside a request
    with dash_app.server.test_request_context("/"):
        first = request_id()
        assert re.fullmatch(r"[0-9a-f]{32}", first) and request_id() == first


# ------------------------------------------------------------------------------- addresses that name nothing

def _shows_its_id(answer) -> bool:
    shown = _SHOWN_ID.search(answer.get_data(as_text=True))
    return bool(shown) and shown.group(1) == answer.headers["X-Request-ID"]


def test_an_address_naming_no_page_answers_404_with_the_page_and_its_request_id(site, captured):
    """Dash draws its "not found" page for any path; the status says so too (a monitor or a crawler reads the
    status), the page still renders for a person, and shows the request id the log has the 404 under."""
    _, clients = site
    answer = clients["analyst"].get("/nonexistent")
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    body = answer.get_data(as_text=True)
    assert 'id="react-entry-point"' in body  # Dash's page, which draws pages/not_found_404.py
    assert _shows_its_id(answer)
    line = _access(_of_request(captured, answer.headers["X-Request-ID"]))
    assert (line["status"], line["user"], line["route"]) == (404, ANALYST, "/<path:path>")
    assert clients["analyst"].get("/nodal/nothing-here").status_code == 404


def test_pages_and_the_files_and_requests_they_need_are_not_404(site):
    dash_app, clients = site
    admin = clients["admin"]
    for path in ("/", "/nodal", "/forecasts/", "/signals", "/marketplace", "/admin/system", "/_dash-layout",
                 "/_dash-dependencies", "/_reload-hash", "/_favicon.ico", "/vendor/bootstrap/bootstrap.min.css",
                 "/api/v1/openapi.json", "/api/v1/docs", "/healthz"):
        assert admin.get(path).status_code == 200, path
    asset = next(p.name for p in (REPO_ROOT / "assets").iterdir() if p.is_file())
    assert admin.get(f"/assets/{asset}").status_code == 200
    signed_out = dash_app.server.test_client()
    for path in ("/nodal", "/nonexistent"):  # sign-in first, before being told what exists
        answer = signed_out.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), path


def test_an_api_address_no_route_takes_answers_json_404_with_its_request_id(site, captured):
    dash_app, clients = site
    signed_out = dash_app.server.test_client()
    for client, path in ((clients["analyst"], "/api/v1/nope"), (signed_out, "/api/v1/products/foo"),
                         (signed_out, "/api/v1/partner/zzz")):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.mimetype == "application/json", path
        assert answer.get_json()["request_id"] == answer.headers["X-Request-ID"] and answer.get_json()["error"]
        assert _access(_of_request(captured, answer.headers["X-Request-ID"]))["status"] == 404
    wrong_method = signed_out.get("/api/v1/partner/products/foo/data")  # a route that takes POST only
    assert wrong_method.status_code == 405 and wrong_method.is_json and "POST" in wrong_method.headers["Allow"]
    missing_file = signed_out.get("/vendor/x.js")
    assert missing_file.status_code == 404 and _shows_its_id(missing_file)
    # a method no route takes at an API address is a 405 naming those that do, not a complaint about a CSRF token
    key = {"Authorization": "Bearer c254_live_0123456789abcdef_" + "A" * 43, "Origin": "http://localhost"}
    for client, path, headers in ((clients["analyst"], "/api/v1/prices?market=NEM", {}),
                                  (signed_out, "/api/v1/products/foo/data", key)):
        answer = client.post(path, headers=headers)
        assert answer.status_code == 405 and answer.is_json and "GET" in answer.headers["Allow"], path


def test_every_json_error_carries_its_request_id(site):
    """Whichever part of the app answers: the role check, a route's own parameter check, the product API's key
    check; scripts that keep the body alone keep the id too."""
    dash_app, clients = site
    signed_out = dash_app.server.test_client()
    unknown_key = {"Authorization": "Bearer c254_live_0123456789abcdef_" + "A" * 43}
    for answer in (signed_out.get("/api/v1/latest?market=NEM"), clients["analyst"].get("/api/v1/prices"),
                   signed_out.get("/api/v1/products/foo/data", headers=unknown_key)):
        assert answer.status_code in (400, 401) and answer.is_json, answer.status_code
        body = answer.get_json()
        assert body["error"] and body["request_id"] == answer.headers["X-Request-ID"], body
    meter_of(dash_app.server).flush()  # the metered call written now, not after the test's database is gone


def test_a_product_api_call_is_logged_as_its_key_holders(site, captured):
    """The key, not the session, speaks for a product API call: before it is judged (or when refused) the key id
    it names; once the route has let it in, its owner and key."""
    dash_app, clients = site
    token = "c254_sbx_0123456789abcdef_" + "A" * 43
    refused = dash_app.server.test_client().get("/api/v1/products/foo/data",
                                                headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert _access(_of_request(captured, refused.headers["X-Request-ID"]))["user"] == "key:0123456789abcdef"
    judged = clients["admin"].get("/logs-test-keyed")
    assert judged.status_code == 200
    assert _access(_of_request(captured, judged.headers["X-Request-ID"]))["user"] == \
        "user u-keyholder key:00112233aabbccdd"
    assert _access(_of_request(captured, clients["admin"].get("/nodal").headers["X-Request-ID"]))["user"] == ADMIN
    meter_of(dash_app.server).flush()
