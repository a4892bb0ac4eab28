"""Products: created and edited field by field, priced (never in the past), listed only with a price, found in
the catalog by words and filters, and a partner kept out of another partner's products."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.marketplace import products
from engine.marketplace.partners import MarketplaceError

COLUMNS = [{"name": "time", "type": "datetime"}, {"name": "price", "type": "float", "unit": "AUD/MWh"}]


def _make(store, slug="nem-wind-forecast", editor="p1", **changes):
    fields = dict(title="NEM wind forecast", description="Hourly wind output forecasts for every NEM region.",
                  markets=["NEM"], category="forecasts", update_frequency="hourly", columns=COLUMNS,
                  sample=[{"time": "2026-01-01T00:00:00Z", "price": 41.5}], tags=["Wind", "forecast"])
    return products.create_product(store, editor=editor, actor="someone", slug=slug, **{**fields, **changes})


def test_a_product_is_a_draft_until_priced_and_listed_and_the_catalog_finds_it(store):
    made = _make(store)
    assert (made.status, made.owner, made.tags, made.version) == ("draft", "p1", ("wind", "forecast"), 0)
    with pytest.raises(MarketplaceError, match="price plan before listing"):
        products.set_status(store, made.product_id, "listed", editor="p1", actor="a")
    plan = products.set_price(store, made.product_id, kind="per_call", price="0.005", editor="p1", actor="a")
    assert plan.price == Decimal("0.005")
    products.set_status(store, made.product_id, "listed", editor="p1", actor="a")
    other = _make(store, "ieso-demand", title="IESO zonal demand", description="Demand by zone.", markets=["IESO"],
                  category="demand", tags=[])
    products.set_price(store, other.product_id, kind="monthly", price="99.99", editor="p1", actor="a")
    products.set_status(store, other.product_id, "listed", editor="p1", actor="a")
    assert [p.slug for p in products.catalog(store, "WIND")] == ["nem-wind-forecast"]
    assert [p.slug for p in products.catalog(store, "zone demand")] == ["ieso-demand"]
    assert [p.slug for p in products.catalog(store, market="IESO")] == ["ieso-demand"]
    assert [p.slug for p in products.catalog(store, price_kind="per_call")] == ["nem-wind-forecast"]
    assert [p.slug for p in products.catalog(store, category="forecasts", update_frequency="hourly")] == \
        ["nem-wind-forecast"]
    assert products.catalog(store, "'; DROP TABLE products; --") == []
    products.set_status(store, made.product_id, "delisted", editor="p1", actor="a")
    assert [p.slug for p in products.catalog(store)] == ["ieso-demand"]
    found = products.by_slug(store, "nem-wind-forecast")
    assert found.status == "delisted" and found.plan_at(datetime.now(UTC)).kind == "per_call"


def test_a_price_change_is_a_new_plan_and_never_starts_in_the_past(store):
    made = _make(store)
    later = datetime.now(UTC) + timedelta(days=3)
    products.set_price(store, made.product_id, kind="per_call", price="0.01", editor="p1", actor="a")
    products.set_price(store, made.product_id, kind="per_1000_rows", price="0.333333", effective_from=later,
                       editor="p1", actor="a")
    product = products.get_product(store, made.product_id)
    assert [p.kind for p in product.plans] == ["per_call", "per_1000_rows"]
    assert product.plan_at(datetime.now(UTC)).price == Decimal("0.01")
    assert product.plan_at(later).price == Decimal("0.333333")
    for kwargs, message in [
        ({"price": "1", "effective_from": datetime.now(UTC) - timedelta(days=1)}, "past"),
        ({"price": "0.0000001"}, "6 decimal places"),
        ({"price": "-1"}, "0 or more"),
        ({"price": 0.1}, "not float"),
        ({"price": "0"}, "above 0"),
        ({"price": "1", "currency": "dollars"}, "ISO 4217"),
        ({"price": "1", "kind": "per_byte"}, "kind must be"),
    ]:
        with pytest.raises(MarketplaceError, match=message):
            products.set_price(store, made.product_id, **{"kind": "per_call", **kwargs}, editor="p1", actor="a")
    assert len(products.get_product(store, made.product_id).plans) == 2


def test_a_partner_cannot_touch_another_partners_product(store):
    made = _make(store)
    for attempt in (lambda: products.edit_product(store, made.product_id, editor="p2", actor="x", title="Mine now"),
                    lambda: products.set_price(store, made.product_id, kind="free", price="0", editor="p2", actor="x"),
                    lambda: products.set_status(store, made.product_id, "listed", editor="p2", actor="x")):
        with pytest.raises(MarketplaceError, match="no such product"):
            attempt()
    assert products.get_product(store, made.product_id).title == "NEM wind forecast"
    assert [p.slug for p in products.owned_by(store, "p2")] == []
    # the platform (an admin) may edit any product
    edited = products.edit_product(store, made.product_id, editor="platform", actor="admin", title="NEM wind")
    assert edited.title == "NEM wind" and edited.owner == "p1"


@pytest.mark.parametrize(("changes", "message"), [
    ({"slug": "Bad Slug"}, "slug"),
    ({"title": "x"}, "title: 3 to 120"),
    ({"markets": []}, "markets"),
    ({"category": "gossip"}, "category"),
    ({"update_frequency": "sometimes"}, "update frequency"),
    ({"columns": [{"name": "price", "type": "float"}]}, "a datetime column is needed"),
    ({"columns": [{"name": "Time", "type": "datetime"}]}, "lower-case"),
    ({"columns": [{"name": "t", "type": "datetime"}, {"name": "t", "type": "float"}]}, "declared twice"),
    ({"columns": [{"name": "t", "type": "blob"}]}, "the type must be one of"),
    ({"sample": [{"time": "2026-01-01"}]}, "exactly the declared columns"),
    ({"tags": ["<b>"]}, "tag"),
])
def test_bad_products_are_refused_and_nothing_is_stored(module_store, changes, message):
    """One store for every case: each is refused, so each finds it as empty as the first did."""
    with pytest.raises(MarketplaceError, match=message):
        _make(module_store, **changes)
    assert products.owned_by(module_store, "p1") == []


def test_slugs_are_unique_and_the_schema_is_fixed_once_data_is_uploaded(store):
    made = _make(store)
    with pytest.raises(MarketplaceError, match="taken"):
        _make(store, editor="p2")
    changed = products.edit_product(store, made.product_id, editor="p1", actor="a",
                                    columns=[*COLUMNS, {"name": "region", "type": "text"}],
                                    sample=[])
    assert [c.name for c in changed.columns] == ["time", "price", "region"]
    with pytest.raises(MarketplaceError, match="cannot change"):
        products.edit_product(store, made.product_id, editor="p1", actor="a", owner="p2")
    with pytest.raises(MarketplaceError, match="names the store query"):
        _make(store, "platform-thing", editor="platform")
