"""The platform's revenue keeps currencies apart: a partner selling in EUR gets rows of its own beside the USD
sales, each the sum of the statements in that currency, and no amount in one currency is added to another."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd

from components.marketplace import revenue_figure, revenue_table
from engine.marketplace import partners, products, views
from engine.marketplace.revenue import DEFAULT_CURRENCY
from engine.marketplace.statements import partner_statement

UNTIL = datetime(2026, 4, 15, tzinfo=UTC)


def _seller(store, name: str, currency: str, price: str, calls: int) -> str:
    """An active partner with one listed per-call product priced in ``currency`` and ``calls`` billable calls in
    March 2026; its partner id."""
    partner = partners.register_partner(store, organisation=f"{name} Data", contact_email=f"{name}@example.com",
                                        payout_reference=f"GB00{name.upper()}0001", user_id=f"user-{name}",
                                        actor="t")
    partners.set_status(store, partner.partner_id, "active", "admin")
    product = products.create_product(
        store, editor=partner.partner_id, actor="t", slug=f"{name}-wind", title=f"{name} wind",
        description="Hourly output.", markets=["NEM"], category="generation", update_frequency="hourly", tags=[],
        columns=[{"name": "time", "type": "datetime", "unit": "UTC"}])
    store.command("INSERT INTO price_plans (product_id, effective_from, kind, price, currency, created_by, created_at) "
                  "VALUES ({p:String}, '2026-01-01 00:00:00', 'per_call', {v:Decimal(18, 6)}, {c:String}, 't', "
                  "now64(3))", {"p": product.product_id, "v": Decimal(price), "c": currency})
    products.set_status(store, product.product_id, "listed", editor=partner.partner_id, actor="t")
    store.insert_df("api_usage", pd.DataFrame({
        "at": pd.date_range("2026-03-02", periods=calls, freq="h", tz="UTC"), "key_id": "k", "key_kind": "production",
        "user_id": "buyer", "product": product.product_id, "partner": partner.partner_id, "rows": 24, "bytes": 900,
        "latency_ms": 1.0, "status": 200}))
    return partner.partner_id


def test_each_currency_has_its_own_rows_and_sums(store):
    usd = _seller(store, "alpha", "USD", "0.50", 3)  # 1.50 USD in March
    eur = _seller(store, "beta", "EUR", "2.00", 5)  # 10.00 EUR in March
    found = views.platform_revenue(store, 3, until=UNTIL)
    assert found.problems == ()
    by_key = {(r.month, r.currency): r for r in found.months}
    assert sorted(by_key) == [(m, c) for m in ("2026-02", "2026-03", "2026-04") for c in ("EUR", "USD")]
    for (month, currency), row in by_key.items():
        made = partner_statement(store, eur if currency == "EUR" else usd, month)
        assert made.currency == currency
        assert (row.partner_sales, row.paid_to_partners, row.platform_share) == \
            (made.gross, made.partner_share, made.platform_share)
    march_eur, march_usd = by_key[("2026-03", "EUR")], by_key[("2026-03", "USD")]
    assert (march_eur.partner_sales, march_eur.platform_share) == (Decimal("10.00"), Decimal("3.00"))
    assert (march_usd.partner_sales, march_usd.platform_share) == (Decimal("1.50"), Decimal("0.45"))

    csv = views.revenue_csv(found.months).splitlines()
    assert csv[0].split(",")[:2] == ["month", "currency"]
    assert "2026-03,EUR,10.00,7.00,3.00,0.00,3.00" in csv and "2026-03,USD,1.50,1.05,0.45,0.00,0.45" in csv

    table = revenue_table(found.months)
    body = [[cell.children for cell in row.children] for row in table.children[1].children]
    assert [row[:2] for row in body[:2]] == [["2026-04", "EUR"], ["2026-04", "USD"]], "newest month first"
    figure = revenue_figure(found.months)
    share = {t["offsetgroup"]: t["y"] for t in figure["data"] if t["name"].startswith("Platform share")}
    assert share == {"EUR": [0.0, 3.0, 0.0], "USD": [0.0, 0.45, 0.0]}
    assert "each bar in its currency" in figure["layout"]["yaxis"]["title"]["text"]


def test_a_month_with_nothing_priced_is_one_row_of_zeros_in_the_default_currency(store):
    found = views.platform_revenue(store, 2, until=UNTIL)
    assert [(r.month, r.currency, r.platform_total) for r in found.months] == \
        [("2026-03", DEFAULT_CURRENCY, Decimal("0.00")), ("2026-04", DEFAULT_CURRENCY, Decimal("0.00"))]
    [note] = revenue_figure(found.months)["layout"]["annotations"]
    assert note["text"] == "No platform revenue in these months"
