"""An app whose product API a test can call: demo NEM rows, the platform's products, and a trader holding a
production key for the SA1 five-minute prices product (its meter closed before the test's database goes)."""
from __future__ import annotations

from dataclasses import dataclass

from app import marketplace_api
from app.services import services
from engine import accounts, demo
from engine.marketplace import keys, platform, products
from engine.store import write_tables
from tests.support.signin import PASSWORD


@dataclass(frozen=True)
class ProductApi:
    dash_app: object
    store: object
    user: accounts.User
    url: str
    key: keys.NewKey
    headers: dict[str, str]


def product_api(make_app, request, email: str, **settings) -> ProductApi:
    dash_app = make_app(**settings)
    meter = marketplace_api.meter_of(dash_app.server)
    request.addfinalizer(meter.close)  # its queue written before the database is dropped
    store = services(dash_app.server).ready_store()
    write_tables(store, demo.nem_demo_frames(days=3), source="demo")
    platform.ensure_platform_products(store)
    user = accounts.create_user(store, email, "trader", PASSWORD)
    product = products.by_slug(store, "nem-sa1-5min-prices")
    live = keys.issue_key(store, user_id=user.user_id, kind="production", products=[product.product_id], actor="t")
    return ProductApi(dash_app, store, user, f"/api/v1/products/{product.slug}/data", live,
                      {"Authorization": f"Bearer {live.token}"})
