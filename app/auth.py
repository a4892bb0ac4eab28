"""Sign-in: flask-login sessions, the ``/login`` form and ``/logout``, the session cookie's flags and lifetimes,
rate limiting of failed sign-ins, local single-user mode (``C254_AUTH=off``) and the first start's admin.

Who may open what is ``app.access``; this module only answers who is asking (``current_role``,
``current_actor``). The session is re-read against the store on every request (flask-login's user loader),
so a disabled user or a changed role takes effect at the user's next request."""
from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import redis
from flask import Flask, redirect, render_template_string, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from wtforms.validators import ValidationError

from app.services import services
from app.settings import REDIS_CLIENT_OPTIONS, REPO_ROOT, Settings
from engine import accounts, audit
from engine.store import StoreError

log = logging.getLogger(__name__)
#: what the rate limits' storage raises when it cannot be reached (Redis down, a timeout, a refused connection)
LIMIT_STORAGE_DOWN = (redis.RedisError, StorageError, OSError)
STATE_KEY = "c254_auth"
LOCAL_ACTOR = "local"
#: What the sign-in form says for an unknown email and for a wrong password alike.
WRONG = "Wrong email or password."
LIMITED = "Too many failed sign-ins for this account or from this address. Wait a few minutes and try again."
EXPIRED_FORM = "The sign-in form had expired. Please try again."
#: Session keys: when the user signed in and when they last did something (epoch seconds).
_SIGNED_IN_AT, _SEEN_AT = "c254_signed_in_at", "c254_seen_at"
_SESSION_ID = "c254_session_id"  # recorded as ended at sign-out (engine.accounts.end_session)
_SECRET_FILE = REPO_ROOT / "var" / "secret_key"


@dataclass
class AuthState:
    """Per app: its settings, the failed-sign-in counters and whether the first admin has been seen to."""

    settings: Settings
    limiter: Limiter
    limit: RateLimitItem
    #: where failed sign-ins are counted while the limiter's shared storage (Redis) cannot be reached
    fallback: RateLimiter = field(default_factory=lambda: FixedWindowRateLimiter(MemoryStorage()))
    first_admin_checked: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class Account(UserMixin):
    """The signed-in user as flask-login holds them for one request."""

    def __init__(self, user: accounts.User):
        self.user = user

    def get_id(self) -> str:
        return self.user.user_id

    @property
    def is_active(self) -> bool:
        return self.user.active


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure when the request came over HTTPS (or when the setting says so)."""

    def __init__(self, secure: bool | None):
        self.secure = secure

    def get_cookie_secure(self, app: Flask) -> bool:
        return self.secure if self.secure is not None else request.is_secure


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _state(app: Flask | None = None) -> AuthState:
    from flask import current_app

    return (app or current_app).extensions[STATE_KEY]


def secret_key(settings: Settings, path: Path = _SECRET_FILE) -> str:
    """C254_SECRET_KEY, or a random key made once and kept in ``var/secret_key`` (readable by the owner
    only), so that every worker of this checkout signs sessions alike and nobody else can."""
    if settings.secret_key:
        return settings.secret_key
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole under a private name, then linked into place: a worker starting at the same moment
        # reads either no file or the whole key, and if two race, both read the one that was linked first.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def init_app(server: Flask) -> None:
    settings = services(server).settings
    if not settings.auth and not is_loopback(settings.host):
        raise RuntimeError(f"C254_AUTH=off (local mode, no sign-in) serves this machine only, but HOST is "
                           f"{settings.host!r}: bind to 127.0.0.1 or turn sign-in on.")
    server.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_max_hours),
        # The cookie is written when the session changes (sign-in, the idle clock's step), not on every request:
        # its expiry, set at sign-in, is already the absolute lifetime, which is enforced here in any case.
        SESSION_REFRESH_EACH_REQUEST=False,
        # A CSRF token lives as long as the session it belongs to (which has its own lifetimes), so a page
        # open for hours can still sign out; flask-wtf's default would refuse it after one hour.
        WTF_CSRF_TIME_LIMIT=None,
    )
    server.session_interface = _SessionInterface(settings.secure_cookies)
    manager = LoginManager(server)
    manager.session_protection = "strong"  # a session cookie replayed from another address or browser dies
    manager.user_loader(_load_user)
    limiter = Limiter(get_remote_address, app=server, storage_uri=_limits_storage(settings.redis_url),
                      storage_options=dict(REDIS_CLIENT_OPTIONS) if settings.redis_url else {},
                      key_prefix="c254-signin", default_limits=[])
    server.extensions[STATE_KEY] = AuthState(settings=settings, limiter=limiter, limit=parse(settings.login_limit))
    server.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout, methods=["GET", "POST"])
    if settings.auth:
        server.before_request(_first_admin_once)


def _limits_storage(redis_url: str | None) -> str:
    """The sign-in counters' storage for flask-limiter: the app's Redis (limits names a Unix socket's scheme
    ``redis+unix``, where redis-py and the rest of the app say ``unix``), else this process's memory."""
    if not redis_url:
        return "memory://"
    return "redis+unix://" + redis_url.removeprefix("unix://") if redis_url.startswith("unix://") else redis_url


def _load_user(user_id: str) -> Account | None:
    user = accounts.session_user(services().ready_store(), user_id, session.get(_SESSION_ID))
    return Account(user) if user is not None else None


def _first_admin_once() -> None:
    """With an empty user table, create the first admin and log its password once (``store init`` does the
    same and prints it; this covers a store that was never initialised from the command line)."""
    state = _state()
    if state.first_admin_checked:
        return
    with state.lock:
        if state.first_admin_checked:
            return
        try:
            store = services().ready_store()
            first = accounts.ensure_first_admin(store)
            if first:
                audit.record(store, "first start", audit.USER_CREATED, f"{first[0]} as admin", "server")
                log.warning("first start: admin account %s, password %s -- shown once; change it with "
                            "`flask --app app.wsgi users set-password %s`", first[0], first[1], first[0])
        except StoreError as exc:  # tried again at the next request
            log.error("could not check for a first admin: %s", exc)
            return
        state.first_admin_checked = True


# ---------------------------------------------------------------------------------------------- who is asking

def local_mode() -> bool:
    return not _state().settings.auth


#: Headers a reverse proxy sets to name the client it forwards
_FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def from_this_machine() -> bool:
    """The request comes from a process on this machine: a loopback address that no reverse proxy forwarded.
    A proxy on this machine that the app is not told to trust (C254_TRUSTED_PROXIES=0) connects from loopback
    for every client it forwards; its forwarding headers show it. With trusted proxies the client address is
    already the one they name (ProxyFix)."""
    if not is_loopback(request.remote_addr):
        return False
    return bool(_state().settings.trusted_proxies) or not any(h in request.headers for h in _FORWARDING_HEADERS)


def _user_activity() -> bool:
    """False for a Dash callback that only an interval's tick fired: a page left open is not a user at work."""
    if request.path != "/_dash-update-component":
        return True
    body = request.get_json(silent=True)
    changed = body.get("changedPropIds") if isinstance(body, dict) else None
    if not isinstance(changed, list) or not changed:
        return True
    return not all(isinstance(c, str) and c.endswith(".n_intervals") for c in changed)


#: The idle lifetime is counted in this many steps
_IDLE_STEPS = 60


def _session_alive() -> bool:
    """The session's idle and absolute lifetimes; an expired one is ended here."""
    settings = _state().settings
    now = time.time()
    signed_in, seen = session.get(_SIGNED_IN_AT), session.get(_SEEN_AT)
    if not (isinstance(signed_in, (int, float)) and isinstance(seen, (int, float))
            and now - signed_in <= settings.session_max_hours * 3600
            and now - seen <= settings.session_idle_minutes * 60):
        if "_user_id" in session:
            end_session()
        return False
    # The idle clock moves in steps (30 s of 30 min): each move re-signs and sends the session cookie, which
    # every request did before, for nothing.
    if now - seen >= settings.session_idle_minutes * 60 / _IDLE_STEPS and _user_activity():
        session[_SEEN_AT] = now
    return True


def current_account() -> Account | None:
    """The signed-in user of this request (None for nobody, an expired session or a disabled user)."""
    if "_user_id" not in session or not _session_alive():
        return None
    return current_user if current_user.is_authenticated else None


def current_role() -> str | None:
    """The role this request is made with: "admin" in local mode, None for nobody."""
    if local_mode():
        return "admin"
    account = current_account()
    return account.user.role if account else None


def current_actor() -> tuple[str, str]:
    """(who, from which address) for the audit log: the user's email, or "local" in local mode."""
    address = (request.remote_addr or "")[:64]
    if local_mode():
        return LOCAL_ACTOR, address
    account = current_account()
    return (account.user.email if account else "anonymous"), address


def end_session() -> None:
    """Sign out: the session's id is recorded as ended first, so a cookie written back by a request that was
    already under way cannot sign the user in again."""
    if "_user_id" in session:
        try:
            accounts.end_session(services().ready_store(), session["_user_id"], session.get(_SESSION_ID))
        except StoreError as exc:  # the cookie is still cleared: only a request under way could revive it
            log.error("could not record the end of a session: %s", exc)
    logout_user()
    session.clear()


# ------------------------------------------------------------------------------------------ sign-in and out

def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site (so a crafted link cannot send a user elsewhere after
    sign-in), else None."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return None
    return target


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · 254Carbon</title><link rel="stylesheet" href="/vendor/bootstrap/bootstrap.min.css"></head>
<body class="bg-light"><main class="container" style="max-width: 26rem; margin-top: 12vh">
<h1 class="h4 mb-4">254Carbon Market Intelligence</h1>
{% if message %}<div class="alert alert-{{ tone }} py-2" role="alert" id="page-message">{{ message }}</div>{% endif %}
{{ body|safe }}
</main></body></html>"""

_FORM = """<form method="post" action="{{ action }}" class="card card-body shadow-sm" id="login-form">
<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<div class="mb-3"><label class="form-label" for="email">Email</label>
<input class="form-control" type="email" id="email" name="email" value="{{ email }}" maxlength="254"
 autocomplete="username" required autofocus></div>
<div class="mb-3"><label class="form-label" for="password">Password</label>
<input class="form-control" type="password" id="password" name="password" maxlength="1024"
 autocomplete="current-password" required></div>
<button class="btn btn-primary w-100" type="submit" id="login-submit">Sign in</button>
</form>"""

_SIGN_OUT = """<form method="post" action="/logout" class="card card-body shadow-sm">
<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<p>Sign out of 254Carbon?</p><button class="btn btn-secondary" type="submit" id="logout-submit">Sign out</button>
</form>"""


def page(title: str, body: str, message: str = "", status: int = 200, tone: str = "warning", **values):
    """A small Flask-rendered page in the app's Bootstrap (sign-in, sign-out, "not allowed")."""
    inner = render_template_string(body, **values)
    return render_template_string(_PAGE, title=title, body=inner, message=message, tone=tone), status


def _form(target: str | None, message: str = "", status: int = 200, email: str = ""):
    action = url_for("login", next=target) if target else url_for("login")
    return page("Sign in", _FORM, message, status, tone="danger", action=action, email=email,
                csrf_token=generate_csrf())


def login():
    target = safe_next(request.args.get("next"))
    if local_mode():
        return redirect(target or "/")
    if request.method == "GET":
        role = current_role()
        return redirect(target or _home(role)) if role else _form(target)
    try:
        validate_csrf(request.form.get("csrf_token"))
    except (ValidationError, CSRFError):
        return _form(target, EXPIRED_FORM, 400)
    email = request.form.get("email", "")[:300].strip().lower()
    state = _state()
    keys = (("c254-signin", "account", email), ("c254-signin", "address", request.remote_addr or "unknown"))
    if not _counting(state, lambda limits: all(limits.test(state.limit, *key) for key in keys)):
        log.warning("sign-in refused (rate limited) for %r from %s", email[:80], request.remote_addr)
        refused, status = _form(target, LIMITED, 429, email)
        return refused, status, {"Retry-After": str(_counting(state, lambda limits: _retry_after(limits, state, keys)))}
    user = accounts.verify_password(services().ready_store(), email, request.form.get("password", ""))
    if user is None:
        _counting(state, lambda limits: [limits.hit(state.limit, *key) for key in keys])
        log.info("sign-in failed for %r from %s", email[:80], request.remote_addr)
        return _form(target, WRONG, 401, email)
    _counting(state, lambda limits: limits.clear(state.limit, *keys[0]))
    session.clear()  # nothing from before sign-in carries over into the signed-in session
    session[_SESSION_ID] = accounts.new_session_id()
    login_user(Account(user))
    session.permanent = True
    session[_SIGNED_IN_AT] = session[_SEEN_AT] = time.time()
    # The session's CSRF token is made now, with the session: made later, by the first page's layout, it
    # could be lost to a concurrent callback's response writing the (cookie) session without it.
    generate_csrf()
    return redirect(target or _home(user.role))


def _retry_after(limits: RateLimiter, state: AuthState, keys) -> int:
    """Whole seconds until every limit that refuses now has a sign-in to spare again (the latest window's reset)."""
    now = time.time()
    resets = [stats.reset_time for key in keys
              if (stats := limits.get_window_stats(state.limit, *key)).remaining <= 0]
    return max(1, int(max(resets, default=now + state.limit.get_expiry()) - now + 0.999))


def _counting(state: AuthState, act: Callable[[RateLimiter], object]):
    """``act`` on the failed-sign-in counters: the shared ones (Redis when configured), or, while their storage
    cannot be reached, this process's own. Failing open would let a password be guessed at full speed for as
    long as Redis is down, failing closed would lock everyone out of the site for it; counted per process, the
    limit still holds per worker, and the log says why."""
    try:
        return act(state.limiter.limiter)
    except LIMIT_STORAGE_DOWN as exc:
        log.warning("sign-in rate limit: its storage did not answer (%s: %s); counting failed sign-ins in this "
                    "process until it does", type(exc).__name__, exc)
        return act(state.fallback)


def logout():
    """POST (with the CSRF token) signs out; GET asks first, so a link elsewhere cannot sign anyone out."""
    if request.method == "POST" and not local_mode():
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            return page("Sign out", _SIGN_OUT, EXPIRED_FORM, 400, csrf_token=generate_csrf())
        end_session()
        return page("Signed out", '<p>You are signed out. <a href="/login">Sign in again</a></p>', tone="info")
    if local_mode():
        return redirect("/")
    return page("Sign out", _SIGN_OUT, csrf_token=generate_csrf())


def _home(role: str | None) -> str:
    from app.access import home_for  # access asks this module who is signed in; imported here to break the cycle

    return home_for(role)
