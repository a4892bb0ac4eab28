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


def test_stored_keys_are_issued_judged_listed_and_revoked_by_their_owner_only(store):
    from engine.marketplace import keys
    from engine.marketplace.partners import MarketplaceError, trail

    new = keys.issue_key(store, user_id="buyer", kind="sandbox", products=["nem-prices"], actor="buyer@x")
    stored = keys.stored_key(store, new.token)
    assert stored.owner == "buyer" and stored.products == {"nem-prices"} and stored.expires_at is not None
    assert keys.key_limits(store, new.key_id) == (keys.SANDBOX_QUOTA, keys.SANDBOX_RATE)
    now = datetime.now(UTC)
    assert judge(new.token, stored, "nem-prices", now).allowed
    assert not judge(new.token, stored, "nem-prices", now + timedelta(days=keys.SANDBOX_DAYS + 1)).allowed
    listed = keys.keys_of(store, "buyer")
    assert list(listed["key_id"]) == [new.key_id] and "secret_sha256" not in listed.columns
    with pytest.raises(MarketplaceError, match="no such key"):
        keys.revoke_key(store, new.key_id, user_id="someone else", actor="x")
    assert keys.stored_key(store, new.token).revoked_at is None
    keys.revoke_key(store, new.key_id, user_id="buyer", actor="buyer@x")
    assert judge(new.token, keys.stored_key(store, new.token), "nem-prices", datetime.now(UTC)).status == 401
    assert list(trail(store, "key", new.key_id)["action"]) == ["issued", "revoked"]
    live = keys.issue_key(store, user_id="buyer", kind="production", products=["a", "b"], actor="buyer@x")
    assert keys.key_limits(store, live.key_id) == (0, keys.PRODUCTION_RATE)
    assert keys.stored_key(store, live.token).expires_at is None
    assert keys.stored_key(store, "c254_live_0123456789abcdef_" + "A" * 43) is None
    with pytest.raises(MarketplaceError, match="names one product"):
        keys.issue_key(store, user_id="buyer", kind="production", products=[], actor="x")


def test_a_revocation_holds_at_once_while_the_version_clock_runs_ahead(store, monkeypatch):
    """Row versions may run ahead of the wall clock (a burst of writes, a clock stepped back); the revocation
    is an instant of the wall clock all the same, so the key is refused at the next request."""
    import engine.clock
    from engine.marketplace import keys

    new = keys.issue_key(store, user_id="buyer", kind="production", products=["nem-prices"], actor="buyer@x")
    monkeypatch.setattr(engine.clock, "_last_ms", engine.clock.wall_ms().value // 1_000_000 + 3_600_000)
    keys.revoke_key(store, new.key_id, user_id="buyer", actor="buyer@x")
    verdict = judge(new.token, keys.stored_key(store, new.token), "nem-prices", datetime.now(UTC))
    assert verdict.status == 401 and "revoked" in verdict.message
