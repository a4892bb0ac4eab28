"""Partners: registration checked field by field, one per account, status moves an admin may make and the
audit trail of each."""
from __future__ import annotations

import json

import pytest

from engine.marketplace import partners
from engine.marketplace.partners import MarketplaceError


def _register(store, user_id: str = "u1", **changes):
    fields = {"organisation": "  Acme   Grid Data ", "contact_email": "Data@Acme.example",
              "payout_reference": "DE89 3704 0044 0532 0130 00", "user_id": user_id, "actor": "data@acme.example"}
    return partners.register_partner(store, **{**fields, **changes})


def test_a_registration_is_pending_until_an_admin_approves_and_every_step_is_in_the_trail(store):
    made = _register(store)
    assert (made.organisation, made.contact_email, made.status) == ("Acme Grid Data", "data@acme.example", "pending")
    assert partners.partner_for_user(store, "u1") == made
    assert [p.partner_id for p in partners.list_partners(store, "pending")] == [made.partner_id]
    approved = partners.set_status(store, made.partner_id, "active", "admin@example.com")
    assert approved.status == "active" and partners.get_partner(store, made.partner_id).status == "active"
    partners.set_status(store, made.partner_id, "suspended", "admin@example.com")
    partners.set_status(store, made.partner_id, "active", "admin@example.com")
    trail = partners.trail(store, "partner", made.partner_id)
    assert list(trail["action"]) == ["registered", "approved", "suspended", "reinstated"]
    assert list(trail["actor"]) == ["data@acme.example"] + ["admin@example.com"] * 3
    assert json.loads(trail["detail"].iat[1]) == {"from": "pending", "to": "active"}
    assert partners.list_partners(store, "pending") == []


@pytest.mark.parametrize(("changes", "message"), [
    ({"organisation": "A"}, "organisation: 2 to 200"),
    ({"organisation": None}, "organisation: text is needed"),
    ({"contact_email": "not an email"}, "contact email"),
    ({"payout_reference": "<script>alert(1)</script>"}, "payout reference"),
    ({"payout_reference": "abc"}, "payout reference: 5 to 64"),
    ({"user_id": ""}, "signed-in account"),
])
def test_bad_registrations_are_refused_and_nothing_is_stored(module_store, changes, message):
    """One store for every case: each is refused, so each finds it as empty as the first did."""
    with pytest.raises(MarketplaceError, match=message):
        _register(module_store, **changes)
    assert partners.list_partners(module_store) == []


def test_one_partner_per_account_and_only_allowed_moves(store):
    made = _register(store)
    with pytest.raises(MarketplaceError, match="already has a partner"):
        _register(store, organisation="Another name")
    with pytest.raises(MarketplaceError, match="a pending partner cannot become pending"):
        partners.set_status(store, made.partner_id, "pending", "admin")
    with pytest.raises(MarketplaceError, match="status must be one of"):
        partners.set_status(store, made.partner_id, "deleted", "admin")
    with pytest.raises(MarketplaceError, match="no such partner"):
        partners.set_status(store, "nobody", "active", "admin")
    refused = partners.set_status(store, made.partner_id, "suspended", "admin")
    assert refused.status == "suspended"
    assert list(partners.trail(store, "partner", made.partner_id)["action"]) == ["registered", "refused"]
