"""A partner's monthly statement from what the store holds: its products, their price plans, the month's
metered usage and the subscriptions (the arithmetic and the rounding rule are revenue.py's)."""
from __future__ import annotations

from dataclasses import replace

from engine.marketplace import products, subscriptions
from engine.marketplace.revenue import Statement, month_bounds, statement
from engine.store import Store


def partner_statement(store: Store, partner: str, month: str) -> Statement:
    """The statement of ``partner`` (a partner_id, or "platform" for the platform's own products) for
    ``month`` (YYYY-MM, UTC). Lines are by product slug."""
    start, end = month_bounds(month)
    owned = products.owned_by(store, partner)
    ids = [p.product_id for p in owned]
    usage = store.query_df(
        "SELECT at AS time, product, key_kind, rows, status FROM api_usage WHERE partner = {p:String} AND at >= "
        "{a:DateTime64(3, 'UTC')} AND at < {b:DateTime64(3, 'UTC')} AND product IN {ids:Array(String)}",
        {"p": partner, "a": start, "b": end, "ids": ids})
    slugs = {p.product_id: p.slug for p in owned}
    usage["product"] = usage["product"].map(slugs)
    plans = [replace(plan, product=slugs[plan.product]) for p in owned for plan in p.plans]
    subs = [replace(s, product=slugs[s.product]) for s in subscriptions.of_products(store, ids)]
    return statement(partner, month, [p.slug for p in owned], plans, usage, subs)
