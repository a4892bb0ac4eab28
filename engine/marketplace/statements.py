"""Partners' monthly statements from what the store holds: their products, the products' price plans, the
months' metered usage and the subscriptions (the arithmetic and the rounding rule are revenue.py's).

The usage is summed in the store: one row per partner, product, UTC month and price plan in force (the plan is
found for each call by an ASOF join on the plan's start), with its calls, billable calls, rows and billable rows.
Every amount is a plan's price times such whole counts, so the figures are those of the calls taken one by one
(``revenue.statement``), while only the sums, not millions of calls, come to Python.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from engine.marketplace import products, subscriptions
from engine.marketplace.revenue import (Statement, StatementError, Subscription, UsageGroup, month_bounds,
                                        statement_from_groups)
from engine.store import Store

# charged calls (revenue.py): production keys, HTTP 2xx; ``every`` true reads every owner's, else ``owners``
_TOTALS_SQL = (
    "SELECT u.partner AS partner, u.product AS product, formatDateTime(u.at, '%Y-%m', 'UTC') AS month, "
    "min(u.at) AS time, count() AS calls, "
    "countIf(u.key_kind = 'production' AND u.status BETWEEN 200 AND 299) AS billable_calls, sum(u.rows) AS rows, "
    "sumIf(u.rows, u.key_kind = 'production' AND u.status BETWEEN 200 AND 299) AS billable_rows, "
    "countIf(u.key_kind NOT IN ('sandbox', 'production')) AS unknown_kinds "
    "FROM (SELECT partner, product, at, key_kind, rows, status FROM api_usage WHERE at >= {a:DateTime64(3, 'UTC')} "
    "AND at < {b:DateTime64(3, 'UTC')} AND product IN {ids:Array(String)} AND ({every:Bool} OR partner IN "
    "{owners:Array(String)})) AS u "
    "ASOF LEFT JOIN (SELECT product_id, effective_from FROM price_plans FINAL WHERE product_id IN "
    "{ids:Array(String)}) AS p ON u.product = p.product_id AND u.at >= p.effective_from "
    "GROUP BY u.partner, u.product, month, p.effective_from")


def partner_statement(store: Store, partner: str, month: str) -> Statement:
    """The statement of ``partner`` (a partner_id, or "platform" for the platform's own products) for
    ``month`` (YYYY-MM, UTC). Lines are by product slug."""
    made = monthly_statements(store, [month], [partner])[partner][month]
    if isinstance(made, str):
        raise StatementError(made)
    return made


def monthly_statements(store: Store, months: Sequence[str], owners: Sequence[str] | None = None
                       ) -> dict[str, dict[str, Statement | str]]:
    """owner → month → the owner's statement (or why it could not be made), for each of ``months`` (YYYY-MM, in
    time order) and each of ``owners`` (partner ids or "platform"; None: every owner of a product), from one read
    of the products, plans and subscriptions and one sum of the months' usage."""
    months = list(months)
    start, end = month_bounds(months[0])[0], month_bounds(months[-1])[1]
    wanted = None if owners is None else list(dict.fromkeys(owners))
    chosen = {"every": wanted is None, "owners": wanted or []}
    owned = store.query_df("SELECT product_id, slug, owner FROM products FINAL WHERE {every:Bool} OR owner IN "
                           "{owners:Array(String)} ORDER BY created_at, product_id", chosen)
    ids = list(owned["product_id"])
    slugs = dict(zip(owned["product_id"], owned["slug"], strict=True))
    owner_of = dict(zip(owned["product_id"], owned["owner"], strict=True))
    totals = store.query_df(_TOTALS_SQL, {"a": start, "b": end, "ids": ids, **chosen})
    plans = products.plans_of(store, ids)
    subs = subscriptions.of_products(store, ids) if ids else []
    # the sums sorted once by (owner, month) → product, in plain Python: a statement then reads only its own
    groups: dict[tuple[str, str], dict[str, list[UsageGroup]]] = {}
    unknown: set[tuple[str, str]] = set()
    for partner, product, month, time, calls, billable_calls, rows, billable_rows, other_kinds in zip(
            totals["partner"], totals["product"], totals["month"], pd.to_datetime(totals["time"], utc=True),
            totals["calls"], totals["billable_calls"], totals["rows"], totals["billable_rows"],
            totals["unknown_kinds"], strict=True):
        if owner_of.get(product) != partner:  # a call counts for the partner that owns its product
            continue
        if other_kinds:
            unknown.add((partner, month))
        groups.setdefault((partner, month), {}).setdefault(slugs[product], []).append(
            (time, int(calls), int(billable_calls), int(rows), int(billable_rows)))
    products_of: dict[str, list[str]] = {}
    for pid in ids:
        products_of.setdefault(owner_of[pid], []).append(pid)
    subs_of: dict[str, list[Subscription]] = {}
    for sub in subs:
        subs_of.setdefault(owner_of[sub.product], []).append(replace(sub, product=slugs[sub.product]))
    out: dict[str, dict[str, Statement | str]] = {}
    for owner in (wanted if wanted is not None else list(products_of)):
        mine = products_of.get(owner, [])
        own_plans = [replace(plan, product=slugs[pid]) for pid in mine for plan in plans.get(pid, ())]
        by_month = out.setdefault(owner, {})
        for month in months:
            if (owner, month) in unknown:
                by_month[month] = (f"usage of {owner} in {month}: calls with a key kind other than sandbox or "
                                   "production")
                continue
            try:
                by_month[month] = statement_from_groups(owner, month, [slugs[pid] for pid in mine], own_plans,
                                                        groups.get((owner, month), {}), subs_of.get(owner, []))
            except StatementError as exc:
                by_month[month] = str(exc)
    return out
