"""Partners: third-party data providers who register, are approved by an admin, and may be suspended.

One row per partner in ``partners`` (migration 016), versioned by ``updated_at``; every change is also a row of
``marketplace_audit`` (who, when, what). A partner belongs to the account that registered it (one partner per
account). Bad input is refused with ``MarketplaceError`` before anything is written.

Status moves: pending → active (approved) or suspended (refused); active ⇄ suspended. A suspended partner's
products are not served (the API checks the owner's status).
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

from engine.accounts import AccountError, normalise_email
from engine.clock import now_ms
from engine.store import Store

STATUSES = ("pending", "active", "suspended")
_MOVES = {("pending", "active"): "approved", ("pending", "suspended"): "refused",
          ("active", "suspended"): "suspended", ("suspended", "active"): "reinstated"}
# An IBAN, or an account reference of letters, digits, spaces, dots and dashes.
_PAYOUT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .\-/]{3,62}[A-Za-z0-9]")
_register_lock = threading.Lock()


class MarketplaceError(ValueError):
    """Input the marketplace refuses; the message says what is wrong."""


@dataclass(frozen=True)
class Partner:
    partner_id: str
    organisation: str
    contact_email: str
    payout_reference: str
    status: str
    user_id: str
    created_at: datetime


def register_partner(store: Store, *, organisation: object, contact_email: object, payout_reference: object,
                     user_id: str, actor: str) -> Partner:
    """A new partner, pending approval, owned by ``user_id``; MarketplaceError naming the field otherwise."""
    name = checked_text(organisation, "organisation", 2, 200)
    try:
        email = normalise_email(contact_email)
    except AccountError:
        raise MarketplaceError("contact email: not a valid email address") from None
    payout = checked_text(payout_reference, "payout reference", 5, 64)
    if not _PAYOUT.fullmatch(payout):
        raise MarketplaceError("payout reference: letters, digits, spaces, dots, dashes or slashes (an IBAN or an "
                               "account id)")
    if not user_id:
        raise MarketplaceError("a partner is registered by a signed-in account")
    with _register_lock:
        if partner_for_user(store, user_id) is not None:
            raise MarketplaceError("this account already has a partner registration")
        stamp = now_ms()
        partner = Partner(uuid.uuid4().hex, name, email, payout, "pending", user_id, stamp.to_pydatetime())
        _save(store, partner, stamp)
    audit(store, actor, "partner", partner.partner_id, "registered",
          {"organisation": name, "contact_email": email})
    return partner


def set_status(store: Store, partner_id: str, status: str, actor: str) -> Partner:
    """Approve, refuse, suspend or reinstate; MarketplaceError for an unknown partner or a move not allowed."""
    if status not in STATUSES:
        raise MarketplaceError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    partner = get_partner(store, partner_id)
    if partner is None:
        raise MarketplaceError("no such partner")
    action = _MOVES.get((partner.status, status))
    if action is None:
        raise MarketplaceError(f"a {partner.status} partner cannot become {status}")
    changed = replace(partner, status=status)
    _save(store, changed, now_ms())
    audit(store, actor, "partner", partner_id, action, {"from": partner.status, "to": status})
    return changed


def get_partner(store: Store, partner_id: str) -> Partner | None:
    rows = _select(store, "WHERE partner_id = {p:String}", {"p": str(partner_id)})
    return rows[0] if rows else None


def partner_for_user(store: Store, user_id: str) -> Partner | None:
    rows = _select(store, "WHERE user_id = {u:String}", {"u": str(user_id)})
    return rows[0] if rows else None


def list_partners(store: Store, status: str | None = None) -> list[Partner]:
    """Every partner (or those with ``status``), oldest first."""
    if status is None:
        return _select(store, "", {})
    if status not in STATUSES:
        raise MarketplaceError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    return _select(store, "WHERE status = {s:String}", {"s": status})


def audit(store: Store, actor: str, entity: str, entity_id: str, action: str, detail: dict) -> None:
    """One row of the marketplace's audit trail, stamped now (UTC)."""
    store.command(
        "INSERT INTO marketplace_audit (at, actor, entity, entity_id, action, detail) VALUES "
        "({at:DateTime64(3, 'UTC')}, {actor:String}, {entity:String}, {id:String}, {action:String}, {detail:String})",
        {"at": now_ms().to_pydatetime(), "actor": str(actor)[:320], "entity": entity, "id": entity_id,
         "action": action, "detail": json.dumps(detail, sort_keys=True, default=str)[:2000]})


def trail(store: Store, entity: str, entity_id: str) -> pd.DataFrame:
    """The audit trail of one thing, oldest first: at (UTC), actor, action, detail."""
    return store.query_df("SELECT at, actor, action, detail FROM marketplace_audit WHERE entity = {e:String} AND "
                          "entity_id = {i:String} ORDER BY at", {"e": entity, "i": entity_id})


def _select(store: Store, where: str, params: dict) -> list[Partner]:
    # where: a fixed clause of this module; values are bound parameters
    columns = "partner_id, organisation, contact_email, payout_reference, status, user_id, created_at"
    sql = f"SELECT {columns} FROM partners FINAL {where} ORDER BY created_at, partner_id"  # noqa: S608
    df = store.query_df(sql, params)
    return [Partner(**{**row, "created_at": pd.Timestamp(row["created_at"]).to_pydatetime()})
            for row in df.to_dict("records")]


def _save(store: Store, partner: Partner, stamp: pd.Timestamp) -> None:
    store.command(
        "INSERT INTO partners (partner_id, organisation, contact_email, payout_reference, status, user_id, "
        "created_at, updated_at) VALUES ({p:String}, {o:String}, {e:String}, {r:String}, {s:String}, {u:String}, "
        "{c:DateTime64(3, 'UTC')}, {t:DateTime64(3, 'UTC')})",
        {"p": partner.partner_id, "o": partner.organisation, "e": partner.contact_email,
         "r": partner.payout_reference, "s": partner.status, "u": partner.user_id,
         "c": partner.created_at, "t": stamp.to_pydatetime()})


def checked_text(value: object, what: str, shortest: int, longest: int, squeeze: bool = True) -> str:
    """``value`` trimmed (runs of white space made one space when ``squeeze``) and its length checked."""
    if not isinstance(value, str):
        raise MarketplaceError(f"{what}: text is needed")
    text = " ".join(value.split()) if squeeze else value.strip()
    if not shortest <= len(text) <= longest:
        raise MarketplaceError(f"{what}: {shortest} to {longest} characters, not {len(text)}")
    return text
