"""Statements from usage summed in the store (engine/marketplace/statements.py) give exactly the figures of the
calls billed one by one (the calculation as it stood before the sums moved into SQL, kept here as the
reference): awkward prices, a price change mid-month with a call at its very instant, calls before a product's
first price, sandbox and failed calls, month edges, subscriptions, a month of no usage, a product never priced
but called; and all owners' statements read at once equal each partner's own."""
from __future__ import annotations

import itertools
import os
from datetime import datetime
from decimal import Decimal

import pandas as pd
import pytest

from engine.marketplace import partners, products, subscriptions
from engine.marketplace.revenue import (PricePlan, Statement, StatementError, Subscription, _check_usage, _periods,
                                        month_bounds)
from engine.marketplace.statements import monthly_statements, partner_statement
from engine.store import Store
from tests.support.schema_template import copy_schema

_ids = itertools.count(1)
MONTHS = ("2026-02", "2026-03", "2026-04")


def former_statement(partner: str, month: str, slugs: list[str], plans: list[PricePlan], usage: pd.DataFrame,
                     subs: list[Subscription]) -> Statement:
    """The statement computed call by call over the raw usage rows (revenue.statement before the SQL sums)."""
    from engine.marketplace.revenue import StatementLine

    start, end = month_bounds(month)
    usage = _check_usage(usage)
    usage = usage[(usage["time"] >= pd.Timestamp(start)) & (usage["time"] < pd.Timestamp(end))]
    lines, currencies = [], set()
    for product in slugs:
        periods = _periods(product, [p for p in plans if p.product == product], start, end)
        used = usage[usage["product"] == product]
        if periods is None:
            if len(used):
                raise StatementError(f"{product} was called in {month} but has no price plan in force then")
            continue
        for plan, valid_from, valid_to in periods:
            currencies.add(plan.currency)
            inside = used[(used["time"] >= pd.Timestamp(valid_from)) & (used["time"] < pd.Timestamp(valid_to))]
            billable = inside[(inside["key_kind"] == "production") & inside["status"].between(200, 299)]
            subscribed = sum(1 for s in subs if s.product == product and
                             valid_from <= max(s.start, start) < valid_to and (s.end is None or s.end > start))
            amount = {"per_call": plan.price * len(billable),
                      "per_1000_rows": plan.price * int(billable["rows"].sum()) / Decimal(1000),
                      "monthly": plan.price * subscribed}.get(plan.kind, Decimal(0))
            lines.append(StatementLine(product, plan.kind, plan.price, plan.currency, valid_from, valid_to,
                                       len(inside), len(billable), int(inside["rows"].sum()),
                                       int(billable["rows"].sum()), subscribed if plan.kind == "monthly" else 0,
                                       amount))
    return Statement(partner, month, currencies.pop() if currencies else "USD", tuple(lines))


@pytest.fixture(scope="module")
def store(store_dir):
    s = Store(f"chdb://{store_dir}?database=mkstmt_{os.getpid()}")
    copy_schema(s, str(store_dir))
    yield s
    s.command(f"DROP DATABASE IF EXISTS `{s.database}`")
    s.close()


def _at(text: str) -> datetime:
    return pd.Timestamp(text, tz="UTC").to_pydatetime()


def _partner(store: Store, name: str) -> str:
    n = next(_ids)
    made = partners.register_partner(store, organisation=f"{name} {n}", contact_email=f"{name}{n}@stmt.example",
                                     payout_reference="GB00STMT0001", user_id=f"stmt-{name}-{n}", actor="t")
    return made.partner_id


def _product(store: Store, owner: str, slug: str, plans: list[tuple[str, str, str]]) -> products.Product:
    """A product with price plans (kind, price, start), written as stored (starts in the past allowed here)."""
    made = products.create_product(
        store, editor=owner, actor="t", slug=f"{slug}-{next(_ids)}", title=f"Product {slug}", description="Test.",
        markets=["NEM"], category="prices", update_frequency="hourly",
        columns=[{"name": "time", "type": "datetime"}, {"name": "value", "type": "float"}])
    for kind, price, start in plans:
        store.command("INSERT INTO price_plans (product_id, effective_from, kind, price, currency, created_by, "
                      "created_at) VALUES ({p:String}, {f:DateTime64(3, 'UTC')}, {k:String}, {v:Decimal(18, 6)}, "
                      "'USD', 't', now64(3))", {"p": made.product_id, "f": _at(start), "k": kind, "v": Decimal(price)})
    return made


def _calls(store: Store, owner: str, product: products.Product, rows: list[tuple[str, str, int, int]]) -> None:
    """(time, key kind, rows, status) calls of ``product`` metered into api_usage."""
    store.insert_df("api_usage", pd.DataFrame({
        "at": pd.to_datetime([r[0] for r in rows], utc=True, format="ISO8601"), "key_id": "k",
        "key_kind": [r[1] for r in rows],
        "user_id": "buyer", "product": product.product_id, "partner": owner, "rows": [r[2] for r in rows],
        "bytes": 10, "latency_ms": 1.0, "status": [r[3] for r in rows]}))


def _reference(store: Store, owner: str, month: str) -> Statement:
    """``former_statement`` over the owner's raw usage rows, read one by one from the store."""
    owned = products.owned_by(store, owner)
    slugs = {p.product_id: p.slug for p in owned}
    usage = store.query_df("SELECT at AS time, product, key_kind, rows, status FROM api_usage WHERE partner = "
                           "{p:String}", {"p": owner})
    usage["product"] = usage["product"].map(slugs)
    plans = [PricePlan(slugs[p.product_id], x.kind, x.price, x.effective_from, x.currency) for p in owned
             for x in p.plans]
    subs = [Subscription(slugs[s.product], s.subscriber, s.start, s.end)
            for s in subscriptions.of_products(store, list(slugs))]
    return former_statement(owner, month, list(slugs.values()), plans, usage, subs)


def _figures(made: Statement) -> tuple:
    return (made.currency, made.exact_total, made.gross, made.partner_share, made.platform_share,
            [(line.product, line.kind, line.unit_price, line.valid_from, line.valid_to, line.calls,
              line.billable_calls, line.rows, line.billable_rows, line.subscriptions, line.amount)
             for line in made.lines])


@pytest.fixture(scope="module")
def awkward(store):
    """Two partners whose usage holds every awkward case; returns their partner ids."""
    first, second = _partner(store, "first"), _partner(store, "second")
    half_cent = _product(store, first, "half-cent", [("per_call", "0.005", "2026-01-01")])
    _calls(store, first, half_cent, [("2026-03-05 12:00", "production", 3, 200)])
    thirds = _product(store, first, "thirds", [("per_call", "0.333333", "2026-01-01")])
    _calls(store, first, thirds, [(f"2026-03-0{d} 08:00", "production", 1, 200) for d in (2, 3, 4)])
    # a price change mid-month, a call at its very instant (the new price), sandbox and failed calls, and calls
    # on both edges of the month (the last millisecond of February, the first of April)
    change = "2026-03-16 09:30:00.250"
    changing = _product(store, first, "changing", [("per_call", "0.10", "2026-01-01"), ("per_call", "0.25", change)])
    _calls(store, first, changing, [
        *[(f"2026-03-1{d} 10:00", "production", 5, 200) for d in range(7)], (change, "production", 1, 200),
        ("2026-03-16 09:30:00.249", "production", 1, 200), ("2026-03-20 00:00", "sandbox", 40, 200),
        ("2026-03-21 00:00", "production", 7, 429), ("2026-03-22 00:00", "production", 2, 204),
        ("2026-02-28 23:59:59.999", "production", 1, 200), ("2026-04-01 00:00:00", "production", 1, 200),
        ("2026-03-31 23:59:59.999", "production", 1, 200)])
    # rows priced per 1,000 with awkward counts; the price changes to another kind mid-month
    rows = _product(store, first, "rows", [("per_1000_rows", "0.0175", "2026-01-01"),
                                            ("per_call", "0.003", "2026-03-10 00:00:00.001")])
    _calls(store, first, rows, [("2026-03-01 00:00", "production", 333, 200), ("2026-03-09 23:59", "production",
                                                                               1, 299),
                                ("2026-03-10 00:00", "production", 999, 200), ("2026-03-10 00:00:00.001",
                                                                               "production", 17, 200)])
    # a product first priced mid-month: calls before its first price are not billed (nor listed)
    late = _product(store, first, "late", [("per_call", "0.07", "2026-03-20")])
    _calls(store, first, late, [("2026-03-10 00:00", "production", 1, 200), ("2026-03-25 00:00", "production", 1,
                                                                             200)])
    # a monthly subscription, with a price change in the month (billed at the price at its first instant)
    monthly = _product(store, second, "monthly", [("monthly", "19.99", "2026-01-01"),
                                                   ("monthly", "24.99", "2026-03-15")])
    for user, start, end in (("b1", "2026-02-10", None), ("b2", "2026-03-20", "2026-04-05"),
                             ("b3", "2026-01-01", "2026-03-01")):
        store.command("INSERT INTO subscriptions (subscription_id, product_id, user_id, start_at, end_at, "
                      "updated_at) VALUES ({i:String}, {p:String}, {u:String}, {s:DateTime64(3, 'UTC')}, "
                      "{e:Nullable(DateTime64(3, 'UTC'))}, now64(3))",
                      {"i": f"sub-{user}-{next(_ids)}", "p": monthly.product_id, "u": user, "s": _at(start),
                       "e": _at(end) if end else None})
    _calls(store, second, monthly, [("2026-03-03 00:00", "production", 10, 200)])
    free = _product(store, second, "free", [("free", "0", "2026-01-01")])
    _calls(store, second, free, [("2026-03-03 00:00", "production", 10, 200)] * 3)
    # another partner's call of this product is not this partner's usage
    _calls(store, first, free, [("2026-03-04 00:00", "production", 10, 200)])
    return first, second


@pytest.mark.parametrize("month", MONTHS)
def test_sums_in_the_store_give_the_figures_of_the_calls_one_by_one(store, awkward, month):
    for owner in awkward:
        summed, one_by_one = partner_statement(store, owner, month), _reference(store, owner, month)
        assert _figures(summed) == _figures(one_by_one)
        assert summed.to_csv() == one_by_one.to_csv()
    if month == "2026-03":
        first = partner_statement(store, awkward[0], month)
        amounts = {line.product.rsplit("-", 1)[0]: line.amount for line in first.lines}
        assert amounts["half-cent"] == Decimal("0.005") and amounts["thirds"] == Decimal("0.999999")
        assert [line.billable_calls for line in first.lines if line.product.startswith("changing")] == [7, 4]


def test_all_owners_at_once_equal_each_partners_own_statement(store, awkward):
    every = monthly_statements(store, list(MONTHS))
    for owner in awkward:
        for month in MONTHS:
            assert _figures(every[owner][month]) == _figures(partner_statement(store, owner, month))
    assert set(awkward) <= set(every)


def test_calls_of_a_product_never_priced_are_refused_as_before(store):
    owner = _partner(store, "unpriced")
    unpriced = _product(store, owner, "unpriced", [])
    _calls(store, owner, unpriced, [("2026-03-05 00:00", "production", 1, 200)])
    with pytest.raises(StatementError, match="was called in 2026-03 but has no price plan") as summed:
        partner_statement(store, owner, "2026-03")
    with pytest.raises(StatementError) as one_by_one:
        _reference(store, owner, "2026-03")
    assert str(summed.value) == str(one_by_one.value)
    assert partner_statement(store, owner, "2026-04").gross == Decimal("0.00")  # a month without calls
    assert isinstance(monthly_statements(store, ["2026-03"], [owner])[owner]["2026-03"], str)
