"""Signing in and out through the /login form: one message for every failure, the destination kept (and only
on this site), the session cookie's flags and lifetimes, a disabled user's live session, the rate limit on
failed sign-ins, local mode on loopback only, and the first start's admin."""
from __future__ import annotations

import logging
import os
import re
import stat
import time
import uuid
from datetime import timedelta
from urllib.parse import unquote

import pandas as pd
import pytest
import time_machine

import callbacks.shell
from app import auth
from app.factory import create_app
from app.services import services
from app.settings import Settings
from engine import accounts, queries
from tests.support.signin import NAVIGATION, PASSWORD, csrf_token, email_for, sign_in
from tests.support.schema_template import migrated_url

ORIGIN = {"Origin": "http://localhost"}


def _app(store_dir, name: str, users: tuple[str, ...] = accounts.ROLES, **settings):
    """An app on its own database with ``users`` (one per role named) made before its first request."""
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"auth_{name}_{os.getpid()}"),
                                   scheduler=False, demo=False, **settings))
    store = services(dash_app.server).ready_store()
    for role in users:
        accounts.create_user(store, email_for(role), role, PASSWORD)
    return dash_app


def _drop(dash_app) -> None:
    store = services(dash_app.server).store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


# Apps are built once per module (a fresh database costs seconds): tests that change a user make their own
# (``_new_user``), and those that count failed sign-ins use addresses and emails no other test uses.
@pytest.fixture(scope="module")
def site(store_dir):
    """Sign-in on, default settings, a trader, an analyst, a partner and an admin."""
    dash_app = _app(store_dir, "site", auth=True)
    yield dash_app
    _drop(dash_app)


@pytest.fixture(scope="module")
def configured(store_dir):
    """Sign-in on with the cookie always Secure and short lifetimes (2 min idle, 1 h in all)."""
    dash_app = _app(store_dir, "configured", ("trader",), auth=True, secure_cookies=True, session_idle_minutes=2,
                    session_max_hours=1)
    yield dash_app
    _drop(dash_app)


@pytest.fixture(scope="module")
def local(store_dir):
    dash_app = _app(store_dir, "local", (), auth=False)
    yield dash_app
    _drop(dash_app)


def _new_user(dash_app, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    accounts.create_user(services(dash_app.server).store, email, role, PASSWORD)
    return email


def _client(dash_app, address: str = "127.0.0.1", **kwargs):
    client = dash_app.server.test_client(**kwargs)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _freshness_tick(client, link: object = None):
    """The navigation bar's minute tick, as the browser sends it with nobody at the keyboard."""
    body = {"output": "freshness-badges.children", "outputs": {"id": "freshness-badges", "property": "children"},
            "inputs": [{"id": "url", "property": "pathname", "value": "/"},
                       {"id": "freshness-tick", "property": "n_intervals", "value": 3}],
            "state": [{"id": "freshness-link", "property": "data", "value": link}],
            "changedPropIds": ["freshness-tick.n_intervals"]}
    return client.post("/_dash-update-component", json=body, headers=ORIGIN)


def _nodes(layout: object, kind: str) -> list[dict]:
    """Every component of type ``kind`` in a layout as Dash serialises it."""
    if isinstance(layout, list):
        return [n for item in layout for n in _nodes(item, kind)]
    if not isinstance(layout, dict):
        return []
    own = [layout] if layout.get("type") == kind else []
    return own + [n for value in layout.get("props", {}).values() for n in _nodes(value, kind)]


def _to_login(answer) -> bool:
    return answer.status_code == 302 and answer.headers["Location"].startswith("/login")


# ----------------------------------------------------------------------------------------- sign in and out

def test_sign_in_lands_on_the_role_start_page_and_opens_it(site):
    client = _client(site)
    answer = sign_in(client, email_for("trader"))
    assert answer.headers["Location"] == "/"
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("role", sorted(NAVIGATION))
def test_each_role_is_sent_exactly_its_navigation(site, role):
    client = _client(site)
    sign_in(client, email_for(role))
    layout = client.get("/_dash-layout").get_json()
    bar = [n for n in _nodes(layout, "Nav") if n["props"].get("id") == "shell-nav"]
    assert len(bar) == 1
    assert {link["props"]["id"] for link in _nodes(bar[0], "NavLink")} == NAVIGATION[role]


@pytest.mark.parametrize("role", sorted(NAVIGATION))
def test_the_freshness_badges_lead_to_the_admin_page_only_for_those_who_may_open_it(site, role, monkeypatch):
    stored = queries.Freshness("NEM", "prices", pd.Timestamp("2026-01-01", tz="UTC"), pd.Timedelta(minutes=3),
                               pd.Timedelta(minutes=15), is_demo=False)
    monkeypatch.setattr(callbacks.shell, "freshness", lambda: [stored])
    client = _client(site)
    sign_in(client, email_for(role))
    stores = [n for n in _nodes(client.get("/_dash-layout").get_json(), "Store")
              if n["props"].get("id") == "freshness-link"]
    link = stores[0]["props"]["data"]
    assert link == ("/admin" if role == "admin" else None)
    badges = _nodes(_freshness_tick(client, link).get_json()["response"]["freshness-badges"]["children"], "Badge")
    assert badges and {b["props"].get("href") for b in badges} == {link}
    # a link the page was not given (a forged state) is not drawn
    forged = _freshness_tick(client, "javascript:alert(1)").get_json()["response"]["freshness-badges"]["children"]
    forged = _nodes(forged, "Badge")
    assert {b["props"].get("href") for b in forged} == {None}


def test_a_partner_lands_on_the_marketplace(site):
    assert sign_in(_client(site), email_for("partner")).headers["Location"] == "/marketplace"


def test_the_email_is_not_case_sensitive(site):
    assert sign_in(_client(site), "  Analyst@Example.COM ").status_code == 302


def test_sign_out_ends_the_session(site):
    client = _client(site)
    sign_in(client, email_for("analyst"))
    answer = client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")})
    assert answer.status_code == 200
    assert _to_login(client.get("/"))


def test_a_session_cookie_written_back_after_sign_out_is_refused(site):
    """A request already under way at sign-out answers with the cookie it read, user and all: the browser then
    holds a signed-in cookie again. The session's id was recorded as ended, so that cookie signs nobody in;
    the same user's session in another browser goes on."""
    email = _new_user(site, "trader")
    client, elsewhere = _client(site), _client(site)
    sign_in(client, email)
    sign_in(elsewhere, email)
    before = client.get_cookie("session").value
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/logout")}).status_code == 200
    client.set_cookie("session", before)
    assert _to_login(client.get("/"))
    assert elsewhere.get("/").status_code == 200


def test_sign_out_works_hours_after_the_page_was_loaded(site):
    client = _client(site)
    with time_machine.travel(time.time(), tick=False) as clock:
        sign_in(client, email_for("analyst"))
        token = csrf_token(client, "/logout")
        for _ in range(6):  # two and a half hours of use
            clock.shift(timedelta(minutes=25))
            client.get("/")
        assert client.post("/logout", data={"csrf_token": token}).status_code == 200
        assert _to_login(client.get("/"))


def test_sign_out_by_get_only_asks(site):
    client = _client(site)
    sign_in(client, email_for("analyst"))
    client.get("/logout")
    assert client.get("/").status_code == 200


def test_the_signed_in_page_offers_sign_out_with_a_token(site):
    client = _client(site)
    sign_in(client, email_for("analyst"))
    forms = _nodes(client.get("/_dash-layout").get_json(), "Form")
    assert [f["props"]["action"] for f in forms] == ["/logout"]
    fields = _nodes(forms[0], "Input")
    assert [(f["props"]["name"], bool(f["props"]["value"])) for f in fields] == [("csrf_token", True)]


def test_unknown_email_and_wrong_password_get_the_same_answer(site):
    unknown = sign_in(_client(site), "nobody@example.com", "whatever-password")
    wrong = sign_in(_client(site), email_for("trader"), "not-the-password")
    assert (unknown.status_code, wrong.status_code) == (401, 401)
    assert auth.WRONG in unknown.get_data(as_text=True)
    assert auth.WRONG in wrong.get_data(as_text=True)


def test_a_sign_in_without_the_csrf_token_is_refused(site):
    client = _client(site)
    answer = client.post("/login", data={"email": email_for("admin"), "password": PASSWORD})
    assert 400 <= answer.status_code < 500
    assert _to_login(client.get("/admin"))


def test_sign_in_goes_where_the_user_was_going(site):
    client = _client(site)
    first = client.get("/nodal?network=case14")
    target = first.headers["Location"].split("next=", 1)[1]
    answer = sign_in(client, email_for("analyst"), next_path=unquote(target))
    assert answer.headers["Location"] == "/nodal?network=case14"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "http:/evil",
                                    "javascript:alert(1)", "evil.example", "/login", "/\t/evil.example",
                                    "/" + "a" * 3000])
def test_sign_in_never_sends_the_user_off_site(site, target):
    answer = sign_in(_client(site), email_for("trader"), next_path=target)
    assert answer.headers["Location"] == "/"


def test_the_login_page_sends_a_signed_in_user_on(site):
    client = _client(site)
    sign_in(client, email_for("admin"))
    assert client.get("/login?next=/admin").headers["Location"] == "/admin"


# ------------------------------------------------------------------------------------------- the cookie

def _session_cookie(answer) -> str:
    cookies = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "no session cookie set"
    return cookies[-1]


def test_the_session_cookie_is_httponly_and_samesite_lax(site):
    cookie = _session_cookie(sign_in(_client(site), email_for("trader")))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_the_session_cookie_is_not_secure_over_http(site):
    assert "Secure" not in _session_cookie(sign_in(_client(site), email_for("trader")))


def test_the_session_cookie_is_secure_over_https(site):
    client = _client(site)
    token = csrf_token(client, "https://localhost/login")
    answer = client.post("https://localhost/login", data={"email": email_for("trader"), "password": PASSWORD,
                                                          "csrf_token": token},
                         headers={"Referer": "https://localhost/login"})
    assert "Secure" in _session_cookie(answer)


def test_the_session_cookie_is_secure_when_the_setting_says_so(configured):
    assert "Secure" in _session_cookie(sign_in(_client(configured), email_for("trader")))


def test_the_secret_key_is_made_once_and_kept_private(tmp_path):
    path = tmp_path / "var" / "secret_key"
    first = auth.secret_key(Settings(), path)
    assert auth.secret_key(Settings(), path) == first
    assert len(first) >= 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_configured_secret_key_is_used(tmp_path):
    assert auth.secret_key(Settings(secret_key="configured"), tmp_path / "unused") == "configured"


# ------------------------------------------------------------------------------------------ lifetimes

def test_a_session_idle_too_long_goes_back_to_sign_in(site):
    client = _client(site)
    with time_machine.travel(time.time(), tick=False) as clock:
        sign_in(client, email_for("trader"))
        clock.shift(timedelta(minutes=29))
        assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=29))
        assert client.get("/").status_code == 200  # the request before kept it alive
        clock.shift(timedelta(minutes=31))
        assert _to_login(client.get("/"))


def test_the_session_cookie_is_written_again_only_when_the_idle_clock_steps(site):
    """Re-signing the cookie on every request cost CPU for nothing: it is written when the idle clock moves,
    in steps of a sixtieth of the idle lifetime (30 s of 30 min)."""
    client = _client(site)
    with time_machine.travel(time.time(), tick=False) as clock:
        sign_in(client, email_for("trader"))
        clock.shift(timedelta(seconds=20))
        quiet = client.get("/")
        assert quiet.status_code == 200 and "Set-Cookie" not in quiet.headers
        clock.shift(timedelta(seconds=20))
        stepped = client.get("/")
        assert stepped.status_code == 200 and stepped.headers.get("Set-Cookie", "").startswith("session=")


def test_an_expired_session_answers_callbacks_401(site):
    client = _client(site)
    with time_machine.travel(time.time(), tick=False) as clock:
        sign_in(client, email_for("trader"))
        clock.shift(timedelta(minutes=31))
        assert _freshness_tick(client).status_code == 401


def test_interval_ticks_do_not_keep_a_session_alive(site):
    client = _client(site)
    with time_machine.travel(time.time(), tick=False) as clock:
        sign_in(client, email_for("trader"))
        for _ in range(3):
            clock.shift(timedelta(minutes=10))
            assert _freshness_tick(client).status_code == 200
        clock.shift(timedelta(minutes=5))
        assert _to_login(client.get("/"))


def test_a_session_ends_after_its_absolute_lifetime_however_busy(site):
    client = _client(site)
    with time_machine.travel(time.time(), tick=False) as clock:
        sign_in(client, email_for("trader"))
        for step in range(24):  # 24 × 29 min = 11 h 36 min, a request each time
            clock.shift(timedelta(minutes=29))
            assert client.get("/").status_code == 200, f"refused after {(step + 1) * 29} minutes"
        clock.shift(timedelta(minutes=29))  # 12 h 05 min
        assert _to_login(client.get("/"))


def test_the_idle_lifetime_comes_from_the_settings(configured):
    client = _client(configured)
    with time_machine.travel(time.time(), tick=False) as clock:
        sign_in(client, email_for("trader"))
        clock.shift(timedelta(minutes=3))
        assert _to_login(client.get("/"))


def test_the_absolute_lifetime_comes_from_the_settings(configured):
    client = _client(configured)
    with time_machine.travel(time.time(), tick=False) as clock:
        sign_in(client, email_for("trader"))
        for step in range(31):  # 31 × 1.9 min = 58.9 min, a request each time
            clock.shift(timedelta(minutes=1.9))
            assert client.get("/").status_code == 200, f"refused after {(step + 1) * 1.9:.1f} minutes"
        clock.shift(timedelta(minutes=1.9))  # 60.8 min
        assert _to_login(client.get("/"))


# --------------------------------------------------------------------------------- the user changes meanwhile

def test_a_disabled_users_live_session_is_refused_at_the_next_request(site):
    client, email = _client(site), _new_user(site, "analyst")
    sign_in(client, email)
    assert client.get("/").status_code == 200
    accounts.disable_user(services(site.server).store, email)
    assert _to_login(client.get("/"))
    assert _freshness_tick(client).status_code == 401
    assert client.get("/api/v1/health").status_code == 401


def test_a_disabled_user_cannot_sign_in(site):
    email = _new_user(site, "analyst")
    accounts.disable_user(services(site.server).store, email)
    answer = sign_in(_client(site), email)
    assert (answer.status_code, auth.WRONG in answer.get_data(as_text=True)) == (401, True)


def test_a_changed_role_holds_from_the_next_request(site):
    client, email = _client(site), _new_user(site, "trader")
    sign_in(client, email)
    accounts.set_role(services(site.server).store, email, "partner")
    assert client.get("/").status_code == 403


# -------------------------------------------------------------------------------------------- rate limit

def test_twenty_wrong_passwords_limit_the_account_until_the_window_passes(site):
    email = _new_user(site, "trader")
    with time_machine.travel(time.time(), tick=False) as clock:
        for n in range(20):  # from twenty addresses: the account's own limit
            answer = sign_in(_client(site, f"10.0.0.{n + 1}"), email, "not-the-password")
            assert answer.status_code == 401, f"wrong password {n + 1} answered {answer.status_code}"
        limited = sign_in(_client(site, "10.0.1.1"), email)
        assert limited.status_code == 429
        assert auth.LIMITED in limited.get_data(as_text=True)
        clock.shift(timedelta(minutes=16))
        assert sign_in(_client(site, "10.0.1.1"), email).status_code == 302


def test_a_limited_sign_in_says_when_to_try_again(site):
    """A 429 carries Retry-After (RFC 9110): the seconds until the window that refuses frees up, counted from its
    first failure, so a client (or a person reading the page's headers) waits no longer than needed."""
    email = _new_user(site, "trader")
    window = int(site.server.extensions[auth.STATE_KEY].limit.get_expiry())
    with time_machine.travel(time.time(), tick=False) as clock:
        for n in range(20):
            sign_in(_client(site, f"10.0.2.{n + 1}"), email, "not-the-password")
        limited = sign_in(_client(site, "10.0.3.1"), email)
        assert limited.status_code == 429
        assert abs(int(limited.headers["Retry-After"]) - window) <= 1, limited.headers.get("Retry-After")
        clock.shift(timedelta(minutes=5))
        later = sign_in(_client(site, "10.0.3.1"), email)
        assert later.status_code == 429
        assert abs(int(later.headers["Retry-After"]) - (window - 300)) <= 1, later.headers.get("Retry-After")


def test_twenty_failures_from_one_address_limit_that_address(site):
    with time_machine.travel(time.time(), tick=False):
        for n in range(20):
            sign_in(_client(site, "10.9.9.9"), f"guess{n}@example.com", "not-the-password")
        assert sign_in(_client(site, "10.9.9.9"), email_for("admin")).status_code == 429
        assert sign_in(_client(site, "10.9.9.10"), email_for("admin")).status_code == 302


def test_a_correct_password_clears_the_accounts_failures(site):
    email = _new_user(site, "analyst")
    for n in range(19):
        sign_in(_client(site, f"10.1.0.{n + 1}"), email, "not-the-password")
    assert sign_in(_client(site, "10.1.1.1"), email).status_code == 302
    sign_in(_client(site, "10.1.1.2"), email, "not-the-password")
    assert sign_in(_client(site, "10.1.1.3"), email).status_code == 302


# -------------------------------------------------------------------------------------------- local mode

@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com", ""])
def test_local_mode_refuses_to_start_off_loopback(host):
    # no request is made, so the store named is never opened
    with pytest.raises(RuntimeError, match="local mode"):
        create_app(Settings(store_url="chdb:///nonexistent", scheduler=False, demo=False, auth=False, host=host))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_local_mode_starts_on_loopback(host):
    dash_app = create_app(Settings(store_url="chdb:///nonexistent", scheduler=False, demo=False, auth=False,
                                   host=host))
    assert dash_app.server.extensions[auth.STATE_KEY].settings.host == host


def test_local_mode_is_the_default_host_of_the_settings():
    assert auth.is_loopback(Settings.from_env({}).host)


def test_local_mode_needs_no_sign_in(local):
    assert _client(local).get("/admin").status_code == 200


def test_local_mode_says_so_on_every_page(local):
    assert "sign-in off (local mode)" in _client(local).get("/_dash-layout").get_data(as_text=True)


def test_local_mode_refuses_clients_from_elsewhere(local):
    assert _client(local, "192.168.1.20").get("/").status_code == 403


@pytest.mark.parametrize("header", [{"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"},
                                    {"X-Real-IP": "203.0.113.9"}])
def test_local_mode_refuses_clients_a_proxy_on_this_machine_forwards(local, header):
    # a reverse proxy on this machine connects from loopback for every client it serves
    answer = _client(local).get("/", headers=header)
    assert answer.status_code == 403
    assert "this machine only" in answer.get_data(as_text=True)


def test_local_mode_login_page_goes_to_the_app(local):
    assert _client(local).get("/login").headers["Location"] == "/"


def test_local_mode_is_read_from_c254_auth():
    assert Settings.from_env({"C254_AUTH": "off"}).auth is False


# -------------------------------------------------------------------------------------- who did it, first start

def test_current_actor_is_the_signed_in_email_and_address(site):
    client = _client(site, "10.2.3.4")
    sign_in(client, email_for("admin"))
    with client:
        client.get("/admin")
        assert auth.current_actor() == (email_for("admin"), "10.2.3.4")


@pytest.fixture(scope="module")
def proxied(store_dir):
    """Sign-in on behind one trusted reverse proxy."""
    dash_app = _app(store_dir, "proxied", ("admin",), auth=True, trusted_proxies=1)
    yield dash_app
    _drop(dash_app)


def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address(proxied):
    client = _client(proxied, "10.0.0.1")  # the proxy
    sign_in(client, email_for("admin"))
    with client:
        client.get("/admin", headers={"X-Forwarded-For": "203.0.113.9"})
        assert auth.current_actor() == (email_for("admin"), "203.0.113.9")


def test_without_a_trusted_proxy_a_forwarded_address_is_not_believed(site):
    client = _client(site, "10.2.3.5")
    sign_in(client, email_for("admin"))
    with client:
        client.get("/admin", headers={"X-Forwarded-For": "203.0.113.9"})
        assert auth.current_actor() == (email_for("admin"), "10.2.3.5")


def test_trusted_proxies_are_read_from_the_environment():
    assert Settings.from_env({"C254_TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    assert Settings.from_env({}).trusted_proxies == 0


def test_current_actor_in_local_mode_is_local(local):
    client = _client(local)
    with client:
        client.get("/")
        assert auth.current_actor() == ("local", "127.0.0.1")


def test_the_first_start_creates_an_admin_and_logs_the_password_once(store_dir, caplog):
    dash_app = _app(store_dir, "first", (), auth=True)
    client = _client(dash_app)
    with caplog.at_level(logging.WARNING, logger="app.auth"):
        client.get("/login")
        client.get("/login")
    shown = [r.getMessage() for r in caplog.records if "first start" in r.getMessage()]
    assert len(shown) == 1
    password = re.search(r"password (\S+)", shown[0]).group(1)
    answer = sign_in(client, accounts.FIRST_ADMIN_EMAIL, password)
    _drop(dash_app)
    assert answer.headers["Location"] == "/"


def test_no_first_admin_when_users_exist(site):
    _client(site).get("/login")
    assert accounts.find_user(services(site.server).store, accounts.FIRST_ADMIN_EMAIL) is None


def test_a_store_that_cannot_answer_gives_503_not_a_stack_trace(site, monkeypatch):
    client = _client(site)
    sign_in(client, email_for("trader"))

    def broken(*_args, **_kwargs):
        from engine.store import StoreError

        raise StoreError("connection refused")

    monkeypatch.setattr(accounts, "session_user", broken)
    page = client.get("/")
    assert page.status_code == 503 and page.mimetype == "text/html" and page.headers["Retry-After"] == "15"
    text = page.get_data(as_text=True)  # as the pages say it when the store fails under them, with the request id
    assert "<h1" in text and "Data temporarily unavailable" in text and "Traceback" not in text
    assert f"Request id: {page.headers['X-Request-ID']}" in text and 'http-equiv="refresh"' in text
    tick = _freshness_tick(client)
    assert tick.get_json() == {"error": "Data temporarily unavailable: the database did not answer. Try again in a "
                                        "minute.", "request_id": tick.headers["X-Request-ID"]}
