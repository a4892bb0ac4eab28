"""Every environment variable the app reads is checked when settings are read: a value it cannot use stops the
process at start with a message naming the variable and what it takes, never a bare ValueError from deep inside
or a setting that misbehaves at the first request (the sign-in limit, the log level)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from app import store_process
from app.settings import REPO_ROOT, Settings

BAD_VALUES = [
    ("C254_SCHEDULER", "sometimes", "on or off"),
    ("C254_DEMO", "2", "on or off"),
    ("C254_AUTH", "disabled", "on or off"),
    ("C254_SECURE_COOKIES", "https", "on or off"),
    ("C254_FIX_RESET_ON_LOGON", "daily", "on or off"),
    ("C254_SESSION_IDLE_MINUTES", "half an hour", "a number above 0"),
    ("C254_SESSION_IDLE_MINUTES", "0", "a number above 0"),
    ("C254_SESSION_IDLE_MINUTES", "nan", "a number above 0"),
    ("C254_SESSION_MAX_HOURS", "-1", "a number above 0"),
    ("C254_SESSION_MAX_HOURS", "inf", "a number above 0"),
    ("C254_MAX_REQUEST_BYTES", "1MB", "a whole number of 1 or more"),
    ("C254_MAX_REQUEST_BYTES", "0", "a whole number of 1 or more"),
    ("C254_TRUSTED_PROXIES", "-1", "a whole number of 0 or more"),
    ("C254_TRUSTED_PROXIES", "one", "a whole number of 0 or more"),
    ("C254_FIX_PORT", "0", "a whole number of 1 or more"),
    ("C254_FIX_PORT", "65536", "a whole number of 65535 or less"),
    ("C254_FIX_PORT", "\u00b2", "a whole number of 1 or more"),  # a digit to str.isdigit, not to int()
    ("C254_FIX_HEARTBEAT_SECONDS", "30s", "a whole number of 1 or more"),
    ("C254_STOP_GRACE_SECONDS", "-5", "0 or more seconds"),
    ("C254_LOGIN_LIMIT", "lots", "a rate such as '20 per 15 minutes'"),
    ("C254_LOG_LEVEL", "verbose", "one of debug, info, warning, error, critical"),
    ("C254_LOG_FORMAT", "yaml", "json or text"),
    ("C254_WARMING", "always", "one of loads, watch, off"),
    ("C254_REDIS_URL", "localhost:6379", "redis://, rediss://, unix://"),
]


@pytest.mark.parametrize(("name", "value", "takes"), BAD_VALUES, ids=[f"{n}={v}" for n, v, _ in BAD_VALUES])
def test_a_value_the_app_cannot_use_is_refused_naming_the_variable(name, value, takes):
    with pytest.raises(ValueError) as refused:
        Settings.from_env({name: value})
    message = str(refused.value)
    assert message.startswith(f"{name} must ")
    assert takes in message
    assert repr(value) in message


def test_a_refused_url_is_quoted_without_its_password():
    with pytest.raises(ValueError, match=r"^C254_REDIS_URL must start with .*, got 'http://:\*\*\*@cache:6379/0'$"):
        Settings.from_env({"C254_REDIS_URL": "http://:s3cret@cache:6379/0"})


def test_the_values_each_variable_takes():
    settings = Settings.from_env({
        "C254_SCHEDULER": "off", "C254_DEMO": "no", "C254_AUTH": "TRUE", "C254_SECURE_COOKIES": "1",
        "C254_SESSION_IDLE_MINUTES": "7.5", "C254_SESSION_MAX_HOURS": "24", "C254_MAX_REQUEST_BYTES": "2048",
        "C254_TRUSTED_PROXIES": "0", "C254_LOGIN_LIMIT": " 5 per minute ", "C254_LOG_LEVEL": "warning",
        "C254_REDIS_URL": " redis://cache.internal:6379/0 "})
    assert (settings.scheduler, settings.demo, settings.auth, settings.secure_cookies) == (False, False, True, True)
    assert (settings.session_idle_minutes, settings.session_max_hours) == (7.5, 24.0)
    assert (settings.max_request_bytes, settings.trusted_proxies) == (2048, 0)
    assert (settings.login_limit, settings.log_level) == ("5 per minute", "WARNING")
    assert settings.redis_url == "redis://cache.internal:6379/0"


def test_unset_and_empty_variables_keep_the_defaults():
    defaults = Settings()
    names = {name for name, _, _ in BAD_VALUES}
    for env in ({}, dict.fromkeys(names, ""), dict.fromkeys(names, "  ")):
        read = Settings.from_env(env)
        for name in ("scheduler", "demo", "auth", "secure_cookies", "session_idle_minutes", "session_max_hours",
                     "max_request_bytes", "trusted_proxies", "fix_port", "fix_heartbeat_seconds", "login_limit",
                     "log_level", "log_format", "warming", "redis_url", "stop_grace_seconds"):
            assert getattr(read, name) == getattr(defaults, name), (name, env and next(iter(env.values())))


def test_the_store_process_port_is_checked_too(monkeypatch):
    """Before anything starts (no store init, no logging set up in this process)."""
    monkeypatch.setenv("C254_STORE_PORT", "81a4")
    with pytest.raises(ValueError, match="C254_STORE_PORT must be a whole number of 1 or more, got '81a4'"):
        store_process.main()
    monkeypatch.setenv("C254_STORE_PORT", "81240")
    with pytest.raises(ValueError, match="C254_STORE_PORT must be a whole number of 65535 or less, got '81240'"):
        store_process.main()


def test_the_store_command_stops_with_the_message_and_touches_nothing(tmp_path):
    """What an operator sees: `store init` (the first step of `make run`) ends with the message as its last
    line, before anything is created."""
    store = tmp_path / "store"
    env = {"PATH": "", "HOME": str(tmp_path), "C254_STORE": f"chdb://{store}", "C254_LOGIN_LIMIT": "lots"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app.wsgi", "store", "init"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "ValueError: C254_LOGIN_LIMIT must be a rate such as '20 per 15 minutes', got 'lots'")
    assert not store.exists()
