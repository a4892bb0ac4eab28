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
from dataclasses import dataclass
from datetime import datetime

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


def judge(token: str | None, stored: StoredKey | None, product: str, now: datetime) -> Verdict:
    """What ``token`` (from the request; None: none sent) may do with ``product`` at ``now``, given the row
    stored under its key id (None: no such row)."""
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
    if product not in stored.products:
        return Verdict(403, f"This API key is not entitled to the product {product!r}.")
    return Verdict(200, "ok", stored)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
