"""API keys of the marketplace: how a key is made, shown once, stored, read from a request and judged.

A key reads ``c254_<kind>_<key_id>_<secret>``: ``kind`` is ``sbx`` (sandbox) or ``live`` (production), ``key_id``
names the stored row (so a key is found without scanning every hash) and ``secret`` is 32 random bytes in
URL-safe base64. Only the SHA-256 of the secret is stored: a key carries 256 random bits, so a fast hash is
as safe as a slow one (slow hashes are for passwords people choose), and checking it costs microseconds on
every API call. The whole key is shown once, when it is made.

What a request's key is worth is decided here, from the stored row, in the order a client needs to hear it:
no key or a malformed one, an unknown key, a revoked key, an expired key (all 401), a product the key is not
entitled to (403); quotas and rate limits (429) are the API layer's, which knows the counts.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

from engine.clock import now_ms, wall_ms
from engine.marketplace import products
from engine.marketplace.partners import MarketplaceError, audit

KINDS = {"sbx": "sandbox", "live": "production"}
_KEY = re.compile(r"^c254_(sbx|live)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``token`` is shown to its owner once; the rest is what is stored."""
    token: str
    key_id: str
    kind: str
    secret_sha256: str


@dataclass(frozen=True)
class StoredKey:
    """A key's stored row, as the judge reads it."""
    key_id: str
    kind: str  # sandbox | production
    secret_sha256: str
    owner: str
    products: frozenset[str]
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Verdict:
    """``status`` 200 with the key, or 401/403 with the message a client is told."""
    status: int
    message: str
    key: StoredKey | None = None

    @property
    def allowed(self) -> bool:
        return self.status == 200


def make_key(kind: str) -> NewKey:
    """A new key of ``kind`` (sandbox or production)."""
    prefix = {v: k for k, v in KINDS.items()}.get(kind)
    if prefix is None:
        raise ValueError(f"a key is sandbox or production, not {kind!r}")
    key_id = secrets.token_hex(8)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return NewKey(f"c254_{prefix}_{key_id}_{secret}", key_id, kind, _digest(secret))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None when there is none)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def parse_token(token: str | None) -> tuple[str, str, str] | None:
    """(kind, key_id, secret) of a well-formed key, None otherwise."""
    match = _KEY.match(token or "")
    if match is None:
        return None
    prefix, key_id, secret = match.groups()
    return KINDS[prefix], key_id, secret


def judge(token: str | None, stored: StoredKey | None, product: str, now: datetime, slug: str | None = None
          ) -> Verdict:
    """What ``token`` (from the request; None: none sent) may do with ``product`` (its id) at ``now``, given the
    row stored under its key id (None: no such row); a refusal names the product by ``slug``, the name its caller
    used, when given."""
    refused = _refused(token, stored, now)
    if refused is not None:
        return refused
    if product not in stored.products:
        return Verdict(403, f"This API key is not entitled to the product {slug or product!r}.")
    return Verdict(200, "ok", stored)


def judge_holder(token: str | None, stored: StoredKey | None, now: datetime) -> Verdict:
    """Whether ``token`` is a live key (known, not revoked, not expired) at ``now``, whatever it is entitled to:
    the check of a key that acts for its holder's account (a partner uploading to its own products)."""
    return _refused(token, stored, now) or Verdict(200, "ok", stored)


def _refused(token: str | None, stored: StoredKey | None, now: datetime) -> Verdict | None:
    if token is None:
        return Verdict(401, "An API key is needed: send Authorization: Bearer <key>.")
    parsed = parse_token(token)
    if parsed is None:
        return Verdict(401, "The API key is not one of ours (malformed).")
    kind, key_id, secret = parsed
    if stored is None or stored.key_id != key_id or stored.kind != kind or \
            not hmac.compare_digest(stored.secret_sha256, _digest(secret)):
        return Verdict(401, "Unknown API key.")
    if stored.revoked_at is not None and stored.revoked_at <= now:
        return Verdict(401, "This API key was revoked.")
    if stored.expires_at is not None and stored.expires_at <= now:
        return Verdict(401, f"This API key expired at {stored.expires_at.isoformat()}.")
    return None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# ------------------------------------------------------------------------------------------ stored keys

#: a sandbox key: this many calls over its life, for this long, at this rate
SANDBOX_QUOTA = 1000
SANDBOX_DAYS = 14
SANDBOX_RATE = 30
PRODUCTION_RATE = 600


def issue_key(store, *, user_id: str, kind: str, products: Iterable[str], actor: str,
              expires_at: datetime | None = None, quota_calls: int | None = None,
              rate_per_minute: int | None = None) -> NewKey:
    """Store a new key for ``user_id`` entitled to ``products`` and return it (its token is shown once).
    Sandbox keys get SANDBOX_QUOTA calls and expire after SANDBOX_DAYS unless told otherwise; production keys
    have no quota or expiry unless told."""
    entitled = sorted(set(products))
    if not user_id or not entitled:
        raise MarketplaceError("a key belongs to an account and names one product or more")
    new = make_key(kind)
    stamp = now_ms()
    if kind == "sandbox":
        expires_at = expires_at or (wall_ms() + pd.Timedelta(days=SANDBOX_DAYS)).to_pydatetime()
        quota_calls = SANDBOX_QUOTA if quota_calls is None else quota_calls
        rate_per_minute = rate_per_minute or SANDBOX_RATE
    row = StoredKey(new.key_id, kind, new.secret_sha256, user_id, frozenset(entitled), expires_at, None)
    _save_key(store, row, quota_calls or 0, rate_per_minute or PRODUCTION_RATE, stamp, stamp)
    audit(store, actor, "key", new.key_id, "issued", {"kind": kind, "products": entitled, "user_id": user_id})
    return new


def issue_partner_key(store, *, user_id: str, partner_id: str, actor: str) -> NewKey:
    """A production key for a partner's own account, entitled to the partner's products: with it the partner
    reads its products through the API and uploads their data (``POST /api/v1/partner/products/<slug>/data``
    accepts any live key of the partner's account for that partner's products)."""
    own = [p.product_id for p in products.owned_by(store, partner_id)]
    if not own:
        raise MarketplaceError("create a product first: a partner's key is entitled to its own products")
    return issue_key(store, user_id=user_id, kind="production", products=own, actor=actor)


def revoke_key(store, key_id: str, *, user_id: str | None, actor: str) -> None:
    """Revoke a key now; ``user_id``: the owner asking (None: an admin, any key). Another's key is 'no such
    key'."""
    row = _key_row(store, key_id)
    if row is None or (user_id is not None and row["user_id"] != user_id):
        raise MarketplaceError("no such key")
    if row["revoked_at"] is not None:
        return
    stamp = now_ms()  # the row's version; the revocation holds from the wall clock's now
    stored = replace(_stored(row), revoked_at=min(stamp, wall_ms()).to_pydatetime())
    _save_key(store, stored, int(row["quota_calls"]), int(row["rate_per_minute"]),
              pd.Timestamp(row["created_at"]), stamp)
    audit(store, actor, "key", key_id, "revoked", {})


def stored_key(store, token: str | None) -> StoredKey | None:
    """The stored row of the key ``token`` names (None for a malformed token or an unknown id)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    row = _key_row(store, parsed[1])
    return None if row is None else _stored(row)


def key_limits(store, key_id: str) -> tuple[int, int]:
    """(quota_calls over the key's life, 0: none; calls per minute) of a stored key."""
    row = _key_row(store, key_id)
    if row is None:
        raise KeyError(key_id)
    return int(row["quota_calls"]), int(row["rate_per_minute"])


def key_record(store, key_id: str) -> tuple[StoredKey, int, int] | None:
    """A stored key with its limits, (key, quota_calls over its life (0: none), calls per minute), in one read:
    what the API needs of a key on every call."""
    row = _key_row(store, key_id)
    if row is None:
        return None
    return _stored(row), int(row["quota_calls"]), int(row["rate_per_minute"])


def keys_of(store, user_id: str) -> pd.DataFrame:
    """An account's keys, newest first, without their hashes: key_id, kind, products, quota_calls,
    rate_per_minute, created_at, expires_at, revoked_at."""
    return store.query_df(
        "SELECT key_id, kind, products, quota_calls, rate_per_minute, created_at, expires_at, revoked_at FROM "
        "api_keys FINAL WHERE user_id = {u:String} ORDER BY created_at DESC", {"u": str(user_id)})


def _key_row(store, key_id: str) -> dict | None:
    df = store.query_df("SELECT key_id, kind, secret_sha256, user_id, products, quota_calls, rate_per_minute, "
                        "created_at, expires_at, revoked_at FROM api_keys FINAL WHERE key_id = {k:String}",
                        {"k": str(key_id)}, columns_if_empty=False)
    if df.empty:
        return None
    row = df.iloc[0].to_dict()
    for column in ("expires_at", "revoked_at"):
        row[column] = None if pd.isna(row[column]) else pd.Timestamp(row[column]).to_pydatetime()
    return row


def _stored(row: dict) -> StoredKey:
    return StoredKey(row["key_id"], row["kind"], row["secret_sha256"], row["user_id"], frozenset(row["products"]),
                     row["expires_at"], row["revoked_at"])


def _save_key(store, row: StoredKey, quota_calls: int, rate_per_minute: int, created_at: pd.Timestamp,
              stamp: pd.Timestamp) -> None:
    store.command(
        "INSERT INTO api_keys (key_id, kind, secret_sha256, user_id, products, quota_calls, rate_per_minute, "
        "expires_at, revoked_at, created_at, updated_at) VALUES ({k:String}, {kind:String}, {h:String}, {u:String}, "
        "{p:Array(String)}, {q:UInt64}, {r:UInt32}, {e:Nullable(DateTime64(3, 'UTC'))}, "
        "{x:Nullable(DateTime64(3, 'UTC'))}, {c:DateTime64(3, 'UTC')}, {t:DateTime64(3, 'UTC')})",
        {"k": row.key_id, "kind": row.kind, "h": row.secret_sha256, "u": row.owner, "p": sorted(row.products),
         "q": int(quota_calls), "r": int(rate_per_minute), "e": row.expires_at, "x": row.revoked_at,
         "c": pd.Timestamp(created_at).to_pydatetime(), "t": stamp.to_pydatetime()})
