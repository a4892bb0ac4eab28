"""Partner data in the store: an upload is checked, stored whole as the next version and served by time; a bad
file leaves the store and the product as they were."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.marketplace import data, products
from engine.marketplace.partners import MarketplaceError

COLUMNS = [{"name": "time", "type": "datetime"}, {"name": "region", "type": "text"},
           {"name": "mw", "type": "float", "unit": "MW"}]


def _product(store):
    return products.create_product(store, editor="p1", actor="p", slug="acme-wind", title="Acme wind",
                                   description="", markets=["NEM"], category="generation", update_frequency="hourly",
                                   columns=COLUMNS)


def test_uploads_are_versions_and_the_current_one_is_served_by_time(store):
    product = _product(store)
    first = "time,region,mw\n2026-03-01T00:00:00Z,SA1,1.5\n2026-03-01T01:00:00Z,SA1,\n2026-03-02T00:00:00Z,SA1,3\n"
    assert data.upload(store, product, first.encode(), "a.csv", actor="p") == (1, 3)
    product = products.get_product(store, product.product_id)
    assert product.version == 1
    got = data.rows(store, product, pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-03-02", tz="UTC"))
    assert list(got.columns) == ["time", "region", "mw"] and len(got) == 2 and pd.isna(got["mw"].iloc[1])
    second = "time,region,mw\n2026-03-01T00:00:00Z,SA1,9\n"
    assert data.upload(store, product, second.encode(), "b.csv", actor="p") == (2, 1)
    product = products.get_product(store, product.product_id)
    got = data.rows(store, product, pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2027-01-01", tz="UTC"))
    assert list(got["mw"]) == [9.0]


def test_a_bad_file_stores_nothing_and_keeps_the_version(store):
    product = _product(store)
    data.upload(store, product, b"time,region,mw\n2026-03-01T00:00:00Z,SA1,1\n", "a.csv", actor="p")
    product = products.get_product(store, product.product_id)
    bad = b"time,region,mw\n2026-03-01T02:00:00Z,SA1,2\n2026-03-01T03:00:00Z,SA1,lots\n"
    with pytest.raises(MarketplaceError, match="line 3, column mw"):
        data.upload(store, product, bad, "b.csv", actor="p")
    assert products.get_product(store, product.product_id).version == 1
    assert store.scalar(f"SELECT count() FROM `{data.table_name(product)}`") == 1
    with pytest.raises(MarketplaceError, match="platform product"):
        data.upload(store, products.Product(**{**product.__dict__, "owner": "platform"}), b"x", "a.csv", actor="p")
