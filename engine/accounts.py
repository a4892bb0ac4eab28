"""User accounts: who may sign in, with which role, and the argon2 hash of their password.

One row per user in ``users`` (migration 010), versioned by ``updated_at`` (ReplacingMergeTree): a change of
role, password or state is an insert, read back with FINAL. The hash never leaves this module: ``User``
carries none, and no query but the password check selects it.

Mutations refuse bad input with ``AccountError`` (a ValueError) before anything is written; look-ups answer
None for anything that is not a known user, so a sign-in form cannot tell an unknown email from a wrong
password. Every statement takes its values as bind parameters.

Argon2 parameters are argon2-cffi's defaults (RFC 9106's low-memory profile). ``C254_ARGON2_FAST=1``, read
once when this module is imported, lowers them to the minimum so that a test suite signing in hundreds of
times stays fast; hashes made either way verify either way (the parameters are stored in the hash).
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.clock import now_ms
from engine.store import Store

log = logging.getLogger(__name__)

ROLES = ("trader", "analyst", "partner", "admin")
FIRST_ADMIN_EMAIL = "admin@localhost"
MIN_PASSWORD = 12
#: Longer than any passphrase a person types; refused so that nobody makes the server hash megabytes.
MAX_PASSWORD = 1024
MAX_EMAIL = 254
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
#: Deliberately narrower than RFC 5322 (no quotes, spaces or brackets): what people's addresses look like.
_EMAIL = re.compile(rf"[a-z0-9._%+-]{{1,64}}@{_LABEL}(?:\.{_LABEL})*")
# The first admin has a fixed id, so two processes creating it at once write one row, not two admins.
_FIRST_ADMIN_ID = "first-admin"


def _hasher() -> PasswordHasher:
    if os.environ.get("C254_ARGON2_FAST", "").strip().lower() in ("1", "true", "yes", "on"):
        log.warning("C254_ARGON2_FAST is on: passwords are hashed with minimal argon2 parameters (tests only)")
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


HASHER = _hasher()
_create_lock = threading.Lock()
_dummy: list[str] = []


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why and may be shown to the user."""


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    role: str
    active: bool
    created_at: datetime


def normalise_email(email: object) -> str:
    """The stored form of an email address (trimmed, lower-case); AccountError when it is not one."""
    if not isinstance(email, str) or len(email) > MAX_EMAIL + 10:
        raise AccountError("Not a valid email address.")
    text = email.strip().lower()
    if len(text) > MAX_EMAIL or not _EMAIL.fullmatch(text):
        raise AccountError("Not a valid email address.")
    return text


def _check_role(role: object) -> str:
    if not isinstance(role, str) or role not in ROLES:
        raise AccountError(f"Role must be one of: {', '.join(ROLES)}.")
    return role


def _check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"A password may have at most {MAX_PASSWORD} characters.")
    return password


def generate_password() -> str:
    """A random password of 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def _user(row: dict) -> User:
    created = pd.Timestamp(row["created_at"])  # a plain row's time is naive UTC, a frame's tz-aware
    created = created.tz_localize("UTC") if created.tzinfo is None else created.tz_convert("UTC")
    return User(user_id=str(row["user_id"]), email=str(row["email"]), role=str(row["role"]),
                active=bool(row["active"]), created_at=created.to_pydatetime())


def _row(store: Store, email: str) -> dict | None:
    """The stored row of ``email`` (already normalised), hash included: for this module only."""
    df = store.query_df("SELECT user_id, email, role, active, created_at, password_hash FROM users FINAL "
                        "WHERE email = {e:String} ORDER BY updated_at DESC LIMIT 1", {"e": email},
                        columns_if_empty=False)
    return None if df.empty else df.iloc[0].to_dict()


def _save(store: Store, row: dict) -> None:
    store.command(
        "INSERT INTO users (user_id, email, role, password_hash, active, created_at, updated_at) VALUES "
        "({u:String}, {e:String}, {r:String}, {h:String}, {a:Bool}, {c:DateTime64(3, 'UTC')}, "
        "{t:DateTime64(3, 'UTC')})",
        {"u": row["user_id"], "e": row["email"], "r": row["role"], "h": row["password_hash"],
         "a": bool(row["active"]), "c": pd.Timestamp(row["created_at"]).to_pydatetime(),
         "t": now_ms().to_pydatetime()})


def _existing(store: Store, email: object) -> dict:
    row = _row(store, normalise_email(email))
    if row is None:
        raise AccountError("No user has that email address.")
    return row


def create_user(store: Store, email: object, role: object, password: object, *, user_id: str | None = None) -> User:
    """Add a user; AccountError (nothing written) for a bad email, role or password or an email in use."""
    address, role, password = normalise_email(email), _check_role(role), _check_password(password)
    with _create_lock:
        if _row(store, address) is not None:
            raise AccountError("A user with that email address exists already.")
        row = {"user_id": user_id or uuid.uuid4().hex, "email": address, "role": role,
               "password_hash": HASHER.hash(password), "active": True, "created_at": now_ms()}
        _save(store, row)
    return _user(row)


def _dummy_hash() -> str:
    if not _dummy:
        _dummy.append(HASHER.hash(secrets.token_hex(16)))
    return _dummy[0]


def verify_password(store: Store, email: object, password: object) -> User | None:
    """The user whose email and password these are, if active; None otherwise. An unknown email costs the
    same argon2 work as a known one, so the answer's timing does not tell which emails exist."""
    try:
        row = _row(store, normalise_email(email))
    except AccountError:
        row = None
    usable = isinstance(password, str) and len(password) <= MAX_PASSWORD
    try:
        matched = HASHER.verify(row["password_hash"] if row else _dummy_hash(), password if usable else "")
    except (VerificationError, InvalidHashError):
        matched = False
    if not (matched and usable and row is not None and row["active"]):
        return None
    if HASHER.check_needs_rehash(row["password_hash"]):  # parameters raised since it was set
        _save(store, {**row, "password_hash": HASHER.hash(password)})
    return _user(row)


def get_user(store: Store, user_id: object) -> User | None:
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 64:
        return None
    df = store.query_df("SELECT user_id, email, role, active, created_at FROM users FINAL WHERE user_id = {u:String}",
                        {"u": user_id}, columns_if_empty=False)
    return None if df.empty else _user(df.iloc[0].to_dict())


def new_session_id() -> str:
    """The id a signed-in session carries, so that signing out can end that session for good."""
    return secrets.token_urlsafe(18)


def session_user(store: Store, user_id: object, session_id: object) -> User | None:
    """The active user a session belongs to, or None when the user is unknown or disabled, or the session was
    ended by signing out (or carries no id): one query at most, as every signed-in request asks it."""
    if not (isinstance(user_id, str) and 0 < len(user_id) <= 64 and isinstance(session_id, str)
            and 0 < len(session_id) <= 64):
        return None
    # Read as plain rows, not a frame: building a one-row DataFrame cost more than the query itself. Remembered
    # until users or ended sessions are next written, where the store allows it: a role changed, an account
    # disabled or a session ended is seen by the very next request.
    rows = store.remember(("users", "ended_sessions"), ("session_user", user_id, session_id), lambda: store.query_rows(
        "SELECT user_id, email, role, active, created_at FROM users FINAL WHERE user_id = {u:String} "
        "AND {s:String} NOT IN (SELECT session_id FROM ended_sessions WHERE session_id = {s:String})",
        {"u": user_id, "s": session_id}))
    if not rows:
        return None
    user = _user(dict(zip(("user_id", "email", "role", "active", "created_at"), rows[0], strict=True)))
    return user if user.active else None


def end_session(store: Store, user_id: str, session_id: object) -> None:
    """Signing out: the session is refused from now on, even if a request under way writes its cookie back."""
    if isinstance(session_id, str) and 0 < len(session_id) <= 64:
        store.command("INSERT INTO ended_sessions (session_id, user_id, ended_at) VALUES "
                      "({s:String}, {u:String}, {t:DateTime64(3, 'UTC')})",
                      {"s": session_id, "u": str(user_id)[:64], "t": now_ms().to_pydatetime()})


def find_user(store: Store, email: object) -> User | None:
    try:
        row = _row(store, normalise_email(email))
    except AccountError:
        return None
    return None if row is None else _user(row)


def list_users(store: Store) -> list[User]:
    """Every user, active or not, by email."""
    df = store.query_df("SELECT user_id, email, role, active, created_at FROM users FINAL ORDER BY email",
                        columns_if_empty=False)
    return [_user(row) for row in df.to_dict("records")]


def _refuse_last_admin(store: Store, row: dict, what: str) -> None:
    if row["role"] != "admin" or not row["active"]:
        return
    admins = store.scalar("SELECT count() FROM users FINAL WHERE role = 'admin' AND active")
    if int(admins or 0) <= 1:
        raise AccountError(f"{row['email']} is the last active admin: make another admin before you {what}.")


def set_role(store: Store, email: object, role: object) -> User:
    row, role = _existing(store, email), _check_role(role)
    if row["role"] == role:
        return _user(row)
    if role != "admin":
        _refuse_last_admin(store, row, "change their role")
    row = {**row, "role": role}
    _save(store, row)
    return _user(row)


def set_password(store: Store, email: object, password: object) -> User:
    row, password = _existing(store, email), _check_password(password)
    row = {**row, "password_hash": HASHER.hash(password)}
    _save(store, row)
    return _user(row)


def disable_user(store: Store, email: object) -> User:
    """The user can no longer sign in, and a session they hold is refused at its next request."""
    row = _existing(store, email)
    if not row["active"]:
        return _user(row)
    _refuse_last_admin(store, row, "disable them")
    row = {**row, "active": False}
    _save(store, row)
    return _user(row)


def ensure_first_admin(store: Store) -> tuple[str, str] | None:
    """With no user at all, create the admin ``admin@localhost`` with a random password and return (email,
    password) for the caller to show once; None when any user exists. There is no default password."""
    if int(store.scalar("SELECT count() FROM users FINAL") or 0):
        return None
    password = generate_password()
    try:
        create_user(store, FIRST_ADMIN_EMAIL, "admin", password, user_id=_FIRST_ADMIN_ID)
    except AccountError:  # another thread made it between the count and the create
        return None
    return FIRST_ADMIN_EMAIL, password
