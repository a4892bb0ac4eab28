"""The marketplace at the engine level, through the store: a partner registered and approved, a product listed
and priced (with a change mid-month), a buyer's sandbox and production calls metered through the meter into the
usage table, subscriptions, and the month's statement with the 70/30 split to the cent."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest

from engine.marketplace import keys, partners, products, subscriptions
from engine.marketplace.metering import Meter
from engine.marketplace.partners import MarketplaceError
from engine.marketplace.statements import partner_statement


def _listed(store, editor: str, slug: str, kind: str, price: str):
    made = products.create_product(
        store, editor=editor, actor="p@acme.example", slug=slug, title=f"Product {slug}", description="Test data.",
        markets=["NEM"], category="prices", update_frequency="hourly",
        columns=[{"name": "time", "type": "datetime"}, {"name": "value", "type": "float"}])
    products.set_price(store, made.product_id, kind=kind, price=price, editor=editor, actor="p@acme.example")
    return products.set_status(store, made.product_id, "listed", editor=editor, actor="p@acme.example")


def _plan_from(store, product_id: str, kind: str, price: str, start: datetime) -> None:
    """A plan starting at a past instant, written as a migration of old data would (set_price refuses the past)."""
    store.command("INSERT INTO price_plans (product_id, effective_from, kind, price, currency, created_by, created_at) "
                  "VALUES ({p:String}, {f:DateTime64(3, 'UTC')}, {k:String}, {v:Decimal(18, 6)}, 'USD', 'test', "
                  "now64(3))", {"p": product_id, "f": start, "k": kind, "v": Decimal(price)})


def test_a_month_of_metered_calls_becomes_a_statement_split_to_the_cent(store):
    partner = partners.register_partner(store, organisation="Acme Grid Data", contact_email="p@acme.example",
                                        payout_reference="GB33BUKB20201555555555", user_id="partner-user",
                                        actor="p@acme.example")
    per_call = _listed(store, partner.partner_id, "acme-calls", "per_call", "0.005")
    # a suspended (or not yet approved) partner's products cannot be subscribed to
    with pytest.raises(MarketplaceError, match="no listed product"):
        subscriptions.subscribe(store, user_id="buyer", slug="acme-calls", actor="buyer@x")
    partners.set_status(store, partner.partner_id, "active", "admin@example.com")
    monthly = _listed(store, partner.partner_id, "acme-monthly", "monthly", "10.00")
    # March 2026 as it was billed: per call 0.005 until the 16th, then a third of a unit per call
    march, change = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC)
    for product, kind, price, start in ((per_call, "per_call", "0.005", march),
                                        (per_call, "per_call", "0.333333", change),
                                        (monthly, "monthly", "10.00", march)):
        _plan_from(store, product.product_id, kind, price, start)
    store.command("INSERT INTO subscriptions (subscription_id, product_id, user_id, start_at, end_at, updated_at) "
                  "VALUES ('s1', {p:String}, 'buyer', '2026-03-10 00:00:00', NULL, now64(3))",
                  {"p": monthly.product_id})
    meter = Meter(lambda frame: store.insert_df("api_usage", frame), batch=3, interval=0.05)
    calls = [(datetime(2026, 3, day, tzinfo=UTC), kind, status) for day, kind, status in (
        (5, "production", 200), (20, "production", 200), (21, "production", 200), (22, "production", 200),
        (23, "sandbox", 200), (24, "production", 429))] + [(datetime(2026, 4, 1, tzinfo=UTC), "production", 200)]
    for at, kind, status in calls:
        meter.record({"at": pd.Timestamp(at), "key_id": "k", "key_kind": kind, "user_id": "buyer",
                      "product": per_call.product_id, "partner": partner.partner_id, "rows": 24, "bytes": 900,
                      "latency_ms": 2.0, "status": status})
    meter.close()
    assert meter.written == len(calls)
    made = partner_statement(store, partner.partner_id, "2026-03")
    by_line = {(line.product, line.unit_price): line for line in made.lines}
    assert by_line[("acme-calls", Decimal("0.005"))].billable_calls == 1
    assert by_line[("acme-calls", Decimal("0.333333"))].billable_calls == 3
    assert by_line[("acme-calls", Decimal("0.333333"))].calls == 5
    assert by_line[("acme-monthly", Decimal("10.00"))].subscriptions == 1
    # 0.005 + 3 × 0.333333 + 10 = 11.004999 → gross 11.00; partner 7.7034993 → 7.70; platform 3.30
    assert made.exact_total == Decimal("11.004999")
    assert (made.gross, made.partner_share, made.platform_share) == (Decimal("11.00"), Decimal("7.70"),
                                                                     Decimal("3.30"))
    # April holds one call at the new price; a month with no usage owes nothing but the subscription
    april = partner_statement(store, partner.partner_id, "2026-04")
    assert april.exact_total == Decimal("10.333333")
    assert partner_statement(store, partner.partner_id, "2026-02").gross == Decimal("0.00")
    # re-running a past month gives the same statement
    assert partner_statement(store, partner.partner_id, "2026-03").to_csv() == made.to_csv()


def test_subscribing_then_a_production_key_for_the_subscribed_products(store):
    made = products.create_product(
        store, editor="platform", actor="admin", slug="nem-prices", title="NEM prices", description="5-minute.",
        markets=["NEM"], category="prices", update_frequency="5 minutes", source="prices",
        columns=[{"name": "time", "type": "datetime"}, {"name": "price", "type": "float"}])
    products.set_price(store, made.product_id, kind="per_call", price="0.01", editor="platform", actor="admin")
    products.set_status(store, made.product_id, "listed", editor="platform", actor="admin")
    first = subscriptions.subscribe(store, user_id="buyer", slug="nem-prices", actor="buyer@x")
    assert subscriptions.subscribe(store, user_id="buyer", slug="nem-prices", actor="buyer@x") == first
    entitled = [p for _, p in subscriptions.active_subscriptions(store, "buyer")]
    live = keys.issue_key(store, user_id="buyer", kind="production", products=entitled, actor="buyer@x")
    assert keys.stored_key(store, live.token).products == {made.product_id}
    with pytest.raises(MarketplaceError, match="no such subscription"):
        subscriptions.unsubscribe(store, first, user_id="intruder", actor="x")
    subscriptions.unsubscribe(store, first, user_id="buyer", actor="buyer@x")
    assert subscriptions.active_subscriptions(store, "buyer") == []
    with pytest.raises(MarketplaceError, match="no listed product"):
        subscriptions.subscribe(store, user_id="buyer", slug="nothing-here", actor="buyer@x")


def test_the_statement_command_prints_the_split_and_the_csv(make_app):
    from app.services import services

    app = make_app()
    store = services(app.server).ready_store()
    partner = partners.register_partner(store, organisation="Acme Grid Data", contact_email="p@acme.example",
                                        payout_reference="GB33BUKB20201555555555", user_id="u", actor="p")
    partners.set_status(store, partner.partner_id, "active", "admin")
    product = _listed(store, partner.partner_id, "acme-calls", "per_call", "0.005")
    _plan_from(store, product.product_id, "per_call", "0.333333", datetime(2026, 3, 1, tzinfo=UTC))
    usage = pd.DataFrame({"at": pd.to_datetime(["2026-03-02", "2026-03-03", "2026-03-04"], utc=True),
                          "key_id": "k", "key_kind": "production", "user_id": "b", "product": product.product_id,
                          "partner": partner.partner_id, "rows": 1, "bytes": 10, "latency_ms": 1.0, "status": 200})
    store.insert_df("api_usage", usage)
    runner = app.server.test_cli_runner()
    shown = runner.invoke(args=["marketplace", "statement", partner.partner_id, "2026-03"])
    assert shown.exit_code == 0, shown.output
    assert "gross 1.00; partner (70 %) 0.70; platform (30 %) 0.30" in shown.output
    as_csv = runner.invoke(args=["marketplace", "statement", partner.partner_id, "2026-03", "--csv"])
    assert as_csv.output.splitlines()[-3:] == [f"{partner.partner_id},2026-03,gross,,,USD,,,,,,,,,1.00",
                                               f"{partner.partner_id},2026-03,partner_70,,,USD,,,,,,,,,0.70",
                                               f"{partner.partner_id},2026-03,platform_30,,,USD,,,,,,,,,0.30"]
    for args, message in ((["nobody", "2026-03"], "no partner"), ([partner.partner_id, "March"], "YYYY-MM")):
        failed = runner.invoke(args=["marketplace", "statement", *args])
        assert failed.exit_code != 0 and message in failed.output
