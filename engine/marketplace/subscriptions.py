"""Subscriptions: a buyer subscribes to a listed product (and may then hold a production key for it), and
ends the subscription; a monthly plan charges each subscription active in a month once (revenue.py).

One row per subscription in ``subscriptions`` (migration 016), versioned by ``updated_at``."""
from __future__ import annotations

import uuid
from datetime import datetime

import pandas as pd

from engine.clock import now_ms, wall_ms
from engine.marketplace import products
from engine.marketplace.partners import MarketplaceError, audit, get_partner
from engine.marketplace.revenue import Subscription
from engine.store import Store


def subscribe(store: Store, *, user_id: str, slug: str, actor: str) -> str:
    """Subscribe ``user_id`` to the listed product ``slug``; the subscription id. Subscribing again while
    subscribed answers the existing subscription."""
    product = products.by_slug(store, slug)
    if product is None or product.status != "listed" or not _owner_active(store, product.owner):
        raise MarketplaceError(f"no listed product {slug!r}")
    current = [s for s in active_subscriptions(store, user_id) if s[1] == product.product_id]
    if current:
        return current[0][0]
    subscription_id, stamp = uuid.uuid4().hex, now_ms()
    _save(store, subscription_id, product.product_id, user_id, min(stamp, wall_ms()).to_pydatetime(), None, stamp)
    audit(store, actor, "subscription", subscription_id, "subscribed", {"product": slug, "user_id": user_id})
    return subscription_id


def unsubscribe(store: Store, subscription_id: str, *, user_id: str | None, actor: str) -> None:
    """End a subscription now (``user_id``: the subscriber asking; None: an admin)."""
    row = _row(store, subscription_id)
    if row is None or (user_id is not None and row["user_id"] != user_id):
        raise MarketplaceError("no such subscription")
    if row["end_at"] is not None:
        return
    stamp = now_ms()
    _save(store, subscription_id, row["product_id"], row["user_id"], row["start_at"],
          min(stamp, wall_ms()).to_pydatetime(), stamp)
    audit(store, actor, "subscription", subscription_id, "ended", {})


def active_subscriptions(store: Store, user_id: str, at: datetime | None = None) -> list[tuple[str, str]]:
    """(subscription_id, product_id) of ``user_id``'s subscriptions active at ``at`` (now)."""
    at = at or wall_ms().to_pydatetime()
    df = store.query_df("SELECT subscription_id, product_id FROM subscriptions FINAL WHERE user_id = {u:String} "
                        "AND start_at <= {t:DateTime64(3, 'UTC')} AND (end_at IS NULL OR end_at > "
                        "{t:DateTime64(3, 'UTC')}) ORDER BY start_at", {"u": str(user_id), "t": at})
    return list(df.itertuples(index=False, name=None))


def of_products(store: Store, product_ids: list[str]) -> list[Subscription]:
    """Every subscription to ``product_ids`` (any time), for statements."""
    df = store.query_df("SELECT product_id, user_id, start_at, end_at FROM subscriptions FINAL WHERE product_id IN "
                        "{p:Array(String)} ORDER BY start_at", {"p": list(product_ids)})
    return [Subscription(r["product_id"], r["user_id"], pd.Timestamp(r["start_at"]).to_pydatetime(),
                         None if pd.isna(r["end_at"]) else pd.Timestamp(r["end_at"]).to_pydatetime())
            for r in df.to_dict("records")]


def _owner_active(store: Store, owner: str) -> bool:
    if owner == products.PLATFORM:
        return True
    partner = get_partner(store, owner)
    return partner is not None and partner.status == "active"


def _row(store: Store, subscription_id: str) -> dict | None:
    df = store.query_df("SELECT product_id, user_id, start_at, end_at FROM subscriptions FINAL WHERE "
                        "subscription_id = {s:String}", {"s": str(subscription_id)}, columns_if_empty=False)
    if df.empty:
        return None
    row = df.iloc[0].to_dict()
    row["start_at"] = pd.Timestamp(row["start_at"]).to_pydatetime()
    row["end_at"] = None if pd.isna(row["end_at"]) else pd.Timestamp(row["end_at"]).to_pydatetime()
    return row


def _save(store: Store, subscription_id: str, product_id: str, user_id: str, start: datetime,
          end: datetime | None, stamp: pd.Timestamp) -> None:
    store.command(
        "INSERT INTO subscriptions (subscription_id, product_id, user_id, start_at, end_at, updated_at) VALUES "
        "({s:String}, {p:String}, {u:String}, {a:DateTime64(3, 'UTC')}, {e:Nullable(DateTime64(3, 'UTC'))}, "
        "{t:DateTime64(3, 'UTC')})",
        {"s": subscription_id, "p": product_id, "u": user_id, "a": start, "e": end, "t": stamp.to_pydatetime()})
