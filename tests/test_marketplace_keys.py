"""API keys: made once and stored hashed, read from the Authorization header, and judged 401/403 in the order
a client needs (malformed, unknown, revoked, expired, not entitled)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.marketplace.keys import StoredKey, bearer_token, judge, make_key, parse_token

NOW = datetime(2026, 3, 5, 12, tzinfo=UTC)


def _stored(new, **changes) -> StoredKey:
    row = dict(key_id=new.key_id, kind=new.kind, secret_sha256=new.secret_sha256, owner="buyer@example.com",
               products=frozenset({"nem-prices"}), expires_at=NOW + timedelta(days=30), revoked_at=None)
    return StoredKey(**{**row, **changes})


def test_a_new_key_is_shown_once_and_only_its_hash_is_kept():
    new = make_key("sandbox")
    kind, key_id, secret = parse_token(new.token)
    assert (kind, key_id) == ("sandbox", new.key_id) and new.token.startswith("c254_sbx_")
    assert secret not in new.secret_sha256 and len(new.secret_sha256) == 64
    assert make_key("production").token.startswith("c254_live_")
    assert make_key("sandbox").token != new.token
    with pytest.raises(ValueError, match="sandbox or production"):
        make_key("trial")


@pytest.mark.parametrize(("header", "token"), [("Bearer abc", "abc"), ("bearer  abc ", "abc"), (None, None),
                                               ("", None), ("Basic abc", None), ("Bearer ", None)])
def test_the_bearer_token_is_read_from_the_header(header, token):
    assert bearer_token(header) == token


def test_each_refusal_says_why_with_its_status():
    new = make_key("sandbox")
    good = _stored(new)
    assert judge(new.token, good, "nem-prices", NOW).allowed
    cases = [
        (None, good, 401, "needed"),
        ("c254_sbx_nothex_x", good, 401, "malformed"),
        (new.token, None, 401, "Unknown"),
        (new.token[:-1] + ("A" if new.token[-1] != "A" else "B"), good, 401, "Unknown"),  # wrong secret
        (new.token.replace("c254_sbx_", "c254_live_"), good, 401, "Unknown"),  # kind changed by hand
        (new.token, _stored(new, revoked_at=NOW - timedelta(minutes=1)), 401, "revoked"),
        (new.token, _stored(new, expires_at=NOW), 401, "expired"),
        (new.token, good, 403, "not entitled"),
    ]
    for token, stored, status, words in cases:
        product = "ieso-demand" if status == 403 else "nem-prices"
        verdict = judge(token, stored, product, NOW)
        assert (verdict.status, verdict.allowed) == (status, False) and words in verdict.message, (token, words)
    # revoked beats expired beats not entitled: a client first hears that the key itself is no good
    both = _stored(new, revoked_at=NOW - timedelta(days=1), expires_at=NOW - timedelta(days=1))
    assert "revoked" in judge(new.token, both, "other", NOW).message
    # a revocation or expiry in the future does not count yet
    assert judge(new.token, _stored(new, revoked_at=NOW + timedelta(hours=1)), "nem-prices", NOW).allowed
