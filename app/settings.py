"""Settings from environment variables, read once into one object (documented in README)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from limits import parse

from engine.urls import redacted

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Every Redis client's timeouts (cache, trigger locks, warming claims, rate limits, the FIX lease): a Redis that
#: hangs (paused, a network partition) costs a request seconds and is answered without it, never a thread stuck
#: on a socket. A Redis on the same network answers in well under a millisecond.
REDIS_CLIENT_OPTIONS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}


def _flag(value: str | None, name: str, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be on or off (1/0, true/false, yes/no), got {value!r}")


#: The largest TCP port number.
MAX_PORT = 65535


def whole_number(value: str | None, name: str, *, minimum: int = 1, maximum: int | None = None) -> int | None:
    if value is None or not value.strip():
        return None
    if not value.strip().isdecimal() or int(value) < minimum:
        raise ValueError(f"{name} must be a whole number of {minimum} or more, got {value!r}")
    if maximum is not None and int(value) > maximum:
        raise ValueError(f"{name} must be a whole number of {maximum} or less, got {value!r}")
    return int(value)


def _choice(value: str | None, name: str, choices: tuple[str, ...], default: str) -> str:
    if value is None or not value.strip():
        return default
    if value.strip().lower() not in choices:
        allowed = " or ".join(choices) if len(choices) == 2 else "one of " + ", ".join(choices)
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value.strip().lower()


def _number(value: str | None, name: str, default: float, *, zero: bool, what: str) -> float:
    """A finite number above 0, or 0 or more where ``zero`` allows it; ``what`` says which in the message."""
    if value is None or not value.strip():
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")  # refused below, with the same message
    if not ((number >= 0) if zero else (number > 0)) or number == float("inf"):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return number


def _rate_limit(value: str | None, name: str, default: str) -> str:
    """A rate in flask-limiter's notation ("20 per 15 minutes"), refused at start rather than at the first
    sign-in."""
    if value is None or not value.strip():
        return default
    try:
        parse(value)
    except ValueError:
        raise ValueError(f"{name} must be a rate such as '20 per 15 minutes', got {value!r}") from None
    return value.strip()


def _redis_url(value: str | None, name: str) -> str | None:
    if value is None or not value.strip():
        return None
    if not value.strip().startswith(REDIS_SCHEMES):
        raise ValueError(f"{name} must start with {', '.join(REDIS_SCHEMES)}, got {redacted(value)!r}")
    return value.strip()


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

#: When a process computes the views users open first (app.warming): see Settings.warming.
WARMING_MODES = ("loads", "watch", "off")


@dataclass(frozen=True)
class Settings:
    store_url: str = field(default_factory=lambda: f"chdb://{REPO_ROOT / 'var' / 'store'}")
    redis_url: str | None = None
    data_dir: Path = field(default_factory=lambda: (REPO_ROOT.parent / "shared" / "data"))
    log_level: str = "INFO"
    #: Log records as one JSON object per line ("json", for a log pipeline) or as plain lines ("text", for a
    #: person at a terminal): C254_LOG_FORMAT, see app/logs.py.
    log_format: str = "json"
    #: Signs the session cookie. Unset: a random key kept in var/secret_key (made on first start), never a
    #: known default, which would let anyone forge a session.
    secret_key: str | None = None
    scheduler: bool = True
    #: Another process on this store runs the scheduler (the store process, for its web workers; set by it as
    #: C254_SCHEDULER_ELSEWHERE): the admin page gives the jobs' next runs from their triggers.
    scheduler_elsewhere: bool = False
    #: When this process computes the views users open first (app.warming; C254_WARMING): "loads", at start and
    #: after each load, where the scheduler runs; "watch", as the worker boots and whenever a market's data
    #: version moves, for web workers with a cache of their own while another process loads (app.store_process
    #: starts its workers so when there is no Redis); "off", for a process whose cache no page reads.
    warming: str = "loads"
    #: When the process stops, how long background work under way (a scheduled load, a backfill, a forecast
    #: being issued or trained) gets to finish before the process ends anyway (C254_STOP_GRACE_SECONDS).
    stop_grace_seconds: float = 10.0
    demo: bool = True
    #: Sign-in required (C254_AUTH). Off is local single-user mode: everyone is a local admin, and the app
    #: refuses to start unless it binds to a loopback address and refuses clients from any other.
    auth: bool = True
    #: The address the server binds to (HOST, as the Procfile's --bind uses it): checked in local mode.
    host: str = "127.0.0.1"
    #: A session ends after this long without a request the user made (interval refreshes do not count) ...
    session_idle_minutes: float = 30.0
    #: ... and this long after sign-in, whatever happens.
    session_max_hours: float = 12.0
    #: Session cookie's Secure flag: None sets it when the request came over HTTPS; on behind a proxy that
    #: ends TLS and forwards plain HTTP (C254_SECURE_COOKIES).
    secure_cookies: bool | None = None
    #: Failed sign-ins allowed per account and per address in a window (flask-limiter's notation).
    login_limit: str = "20 per 15 minutes"
    #: Largest request body accepted (C254_MAX_REQUEST_BYTES); a larger one is answered 413. Dash's callback
    #: requests are a few kB, a sign-in form less.
    max_request_bytes: int = 1_000_000
    #: Reverse proxies in front of the app that set X-Forwarded-For/-Proto/-Host (C254_TRUSTED_PROXIES). With 0
    #: the client address is the socket's; behind one proxy set 1, or every client is the proxy's address to the
    #: sign-in rate limit, the audit log and local mode. Never more than there are: clients could forge it.
    trusted_proxies: int = 0
    #: Where trained forecast models are kept (C254_MODELS_DIR); every worker reads them from here.
    models_dir: Path = field(default_factory=lambda: REPO_ROOT / "var" / "models")
    #: The FIX 4.4 counterparty orders are routed to (C254_FIX_HOST, C254_FIX_PORT, C254_FIX_SENDER_COMP_ID,
    #: C254_FIX_TARGET_COMP_ID, C254_FIX_HEARTBEAT_SECONDS). Without host, port and target no session runs; with
    #: them, one runs only while an admin has switched routing on.
    fix_host: str | None = None
    fix_port: int | None = None
    fix_sender_comp_id: str = "C254"
    fix_target_comp_id: str | None = None
    fix_heartbeat_seconds: int = 30
    #: Ask the counterparty to start both sequence numbers at 1 on every Logon (141=Y), for venues that reset
    #: daily rather than resend: off by default, since it gives up gap recovery across a reconnect.
    fix_reset_on_logon: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        base = cls()
        data_dir = env.get("C254_DATA_DIR")
        return cls(
            store_url=env.get("C254_STORE") or base.store_url,
            redis_url=_redis_url(env.get("C254_REDIS_URL"), "C254_REDIS_URL"),
            data_dir=Path(data_dir).resolve() if data_dir else base.data_dir.resolve(),
            log_level=_choice(env.get("C254_LOG_LEVEL"), "C254_LOG_LEVEL", LOG_LEVELS, base.log_level).upper(),
            log_format=_choice(env.get("C254_LOG_FORMAT"), "C254_LOG_FORMAT", ("json", "text"), base.log_format),
            secret_key=env.get("C254_SECRET_KEY") or None,
            scheduler=_flag(env.get("C254_SCHEDULER"), "C254_SCHEDULER", base.scheduler),
            scheduler_elsewhere=_flag(env.get("C254_SCHEDULER_ELSEWHERE"), "C254_SCHEDULER_ELSEWHERE",
                                      base.scheduler_elsewhere),
            warming=_choice(env.get("C254_WARMING"), "C254_WARMING", WARMING_MODES, base.warming),
            stop_grace_seconds=_number(env.get("C254_STOP_GRACE_SECONDS"), "C254_STOP_GRACE_SECONDS",
                                       base.stop_grace_seconds, zero=True, what="0 or more seconds"),
            demo=_flag(env.get("C254_DEMO"), "C254_DEMO", base.demo),
            auth=_flag(env.get("C254_AUTH"), "C254_AUTH", base.auth),
            host=(env.get("HOST") or base.host).strip(),
            session_idle_minutes=_number(env.get("C254_SESSION_IDLE_MINUTES"), "C254_SESSION_IDLE_MINUTES",
                                         base.session_idle_minutes, zero=False, what="a number above 0"),
            session_max_hours=_number(env.get("C254_SESSION_MAX_HOURS"), "C254_SESSION_MAX_HOURS",
                                      base.session_max_hours, zero=False, what="a number above 0"),
            secure_cookies=(_flag(env["C254_SECURE_COOKIES"], "C254_SECURE_COOKIES", False)
                            if (env.get("C254_SECURE_COOKIES") or "").strip() else None),
            login_limit=_rate_limit(env.get("C254_LOGIN_LIMIT"), "C254_LOGIN_LIMIT", base.login_limit),
            max_request_bytes=whole_number(env.get("C254_MAX_REQUEST_BYTES"), "C254_MAX_REQUEST_BYTES")
            or base.max_request_bytes,
            trusted_proxies=whole_number(env.get("C254_TRUSTED_PROXIES"), "C254_TRUSTED_PROXIES", minimum=0)
            or base.trusted_proxies,
            models_dir=Path(env["C254_MODELS_DIR"]).resolve() if env.get("C254_MODELS_DIR") else base.models_dir,
            fix_host=(env.get("C254_FIX_HOST") or "").strip() or None,
            fix_port=whole_number(env.get("C254_FIX_PORT"), "C254_FIX_PORT", maximum=MAX_PORT),
            fix_sender_comp_id=(env.get("C254_FIX_SENDER_COMP_ID") or "").strip() or base.fix_sender_comp_id,
            fix_target_comp_id=(env.get("C254_FIX_TARGET_COMP_ID") or "").strip() or None,
            fix_heartbeat_seconds=whole_number(env.get("C254_FIX_HEARTBEAT_SECONDS"), "C254_FIX_HEARTBEAT_SECONDS")
            or base.fix_heartbeat_seconds,
            fix_reset_on_logon=_flag(env.get("C254_FIX_RESET_ON_LOGON"), "C254_FIX_RESET_ON_LOGON",
                                     base.fix_reset_on_logon),
        )

    @property
    def fix_configured(self) -> bool:
        """Whether a FIX counterparty is set (host, port and its CompID)."""
        return bool(self.fix_host and self.fix_port and self.fix_target_comp_id)
