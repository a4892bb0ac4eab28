"""Property-based tests of the public API (issue 14): schemathesis reads ``/api/v1/openapi.json`` from the app
itself and generates requests for the prices, latest and product-data routes, sent through the app's WSGI
interface; every one must be answered 2xx or 4xx, never 5xx. Product-data requests go twice: as generated (any
slug, any Authorization header schemathesis makes up) and with a valid production key on a served product, so
that the generated ranges and formats reach the code that serves rows."""
from __future__ import annotations

import collections
import contextlib
import importlib
import os
import pkgutil

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from app import marketplace_api
from app.factory import create_app
from app.services import services
from app.settings import Settings
from engine import accounts, demo, queries
from engine.marketplace import keys, partners, platform, products
from engine.store import write_tables
from tests.support.schema_template import migrated_url

# schemathesis imports modules on first use, and pytest compiles them then (it rewrites a plugin's asserts).
# Compiled in a test, beside the app's threads, CPython 3.11.7 failed twice with "AST constructor recursion depth
# mismatch" (its AST recursion guard is not per thread), each time in another lazily imported module: every one
# of its modules is imported here, at collection (1.6 s), but the optional Allure reporter's.
for _module in pkgutil.walk_packages(schemathesis.__path__, "schemathesis."):
    with contextlib.suppress(ModuleNotFoundError):
        importlib.import_module(_module.name)

SERVED = "nem-sa1-5min-prices"  # a platform product over the demo prices written below
UPLOADED = "props-wind-hourly"  # a partner's product that generated files are uploaded to
#: the routes under test: every described route but the description itself
ROUTES = r"^/api/v1/(health|prices|latest|products/\{slug\}/data|partner/products/\{slug\}/data)$"


class Site:
    def __init__(self, store_dir):
        # local mode (sign-in off): the session routes answer as for a signed-in user, so the generated
        # parameters reach the queries instead of stopping at 401
        self.app = create_app(Settings(store_url=migrated_url(store_dir, f"api_props_{os.getpid()}"),
                                       scheduler=False, demo=False, auth=False))
        self.server = self.app.server
        self.store = services(self.server).ready_store()
        write_tables(self.store, demo.nem_demo_frames(days=5), source="demo")
        platform.ensure_platform_products(self.store)
        buyer = accounts.create_user(self.store, "schemathesis@example.com", "trader", "not-used-0123456")
        first, last = queries.data_span(self.store, "NEM", "SA1")  # instants, UTC
        # whole market days inside the stored span (NEM's day starts at 14:00 UTC the day before)
        self.days = {"start": str((first + pd.Timedelta(days=1)).date()), "end": str(last.date())}
        product = products.by_slug(self.store, SERVED)
        assert product is not None
        # a rate no run of this module reaches: a 429 would be a right answer, but would stop the request short
        self.key = keys.issue_key(self.store, user_id=buyer.user_id, kind="production",
                                  products=[product.product_id], actor="test", rate_per_minute=1_000_000)
        # a partner with a product of its own and a key of its account, which generated files are uploaded with
        seller = accounts.create_user(self.store, "partner-props@example.com", "partner", "not-used-0123456")
        partner = partners.register_partner(self.store, organisation="Props Wind", contact_email=seller.email,
                                            payout_reference="GB33BUKB20201555555555", user_id=seller.user_id,
                                            actor=seller.email)
        partner = partners.set_status(self.store, partner.partner_id, "active", "admin@example.com")
        self.uploaded = products.create_product(
            self.store, editor=partner.partner_id, actor="p", slug=UPLOADED, title="Wind output",
            description="Hourly wind output.", markets=["NEM"], category="generation", update_frequency="hourly",
            columns=[{"name": "time", "type": "datetime"}, {"name": "site", "type": "text"},
                     {"name": "mw", "type": "float", "unit": "MW"}])
        self.partner_key = keys.issue_partner_key(self.store, user_id=seller.user_id, partner_id=partner.partner_id,
                                                  actor="p")


@pytest.fixture(scope="module")
def site(store_dir):
    made = Site(store_dir)
    yield made
    marketplace_api.meter_of(made.server).close()
    made.store.command(f"DROP DATABASE IF EXISTS `{made.store.database}`")
    made.store.close()


@pytest.fixture
def api_schema(site):
    server = site.server

    def from_this_machine(environ, start_response):
        # schemathesis' WSGI client sends no client address (Flask's test client says 127.0.0.1); local mode
        # answers this machine only
        environ.setdefault("REMOTE_ADDR", "127.0.0.1")
        return server(environ, start_response)

    return schemathesis.openapi.from_wsgi(marketplace_api.OPENAPI_PATH, from_this_machine).include(path_regex=ROUTES)


def _no_server_error(response, what: str) -> None:
    assert response.status_code < 500, (f"{what}: {response.request.method} {response.request.url} answered "
                                        f"{response.status_code}: {response.text[:500]}")


def test_the_described_routes_are_the_ones_under_test(api_schema):
    found = sorted(op.ok().path for op in api_schema.get_all_operations())
    assert found == ["/api/v1/health", "/api/v1/latest", "/api/v1/partner/products/{slug}/data", "/api/v1/prices",
                     "/api/v1/products/{slug}/data"]


# schemathesis' own pytest wiring (``schemathesis.pytest.from_fixture``) renames pytest's nodes through an
# attribute pytest 9 no longer has; each operation's strategy is run through hypothesis directly instead.
@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/prices", "/api/v1/latest",
                                  "/api/v1/products/{slug}/data"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_generated_request_is_answered_5xx(api_schema, site, path, mode):
    operation = api_schema[path]["GET"]
    answered: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def every_request(case):
        response = case.call()
        _no_server_error(response, "as generated")
        answered.append(response.status_code)
        if "slug" in (case.path_parameters or {}):
            case.path_parameters["slug"] = SERVED
            response = case.call(headers={"Authorization": f"Bearer {site.key.token}"})
            _no_server_error(response, "with a valid key")
            answered.append(response.status_code)
        elif isinstance(case.query, dict) and "market" in case.query:
            # a stored series, so the generated dates, resolutions and formats reach the queries
            stored = {"market": "NEM", "location": "SA1", "price_kind": "settlement", **site.days}
            case.query = {**case.query, **{name: value for name, value in stored.items()
                                           if name == "market" or name in case.query}}
            response = case.call()
            _no_server_error(response, "on a stored series")
            answered.append(response.status_code)

    every_request()
    assert len(answered) >= 20, f"only {len(answered)} requests were generated"
    assert 200 in answered, f"no generated request was served: {sorted(collections.Counter(answered).items())}"
    documented = {int(code) for code in operation.definition.raw["responses"]}
    assert set(answered) <= documented, f"answered {sorted(set(answered) - documented)}, not described"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_generated_upload_is_answered_5xx_and_a_refused_one_stores_nothing(api_schema, site, mode):
    """The partner upload route with generated bodies of every described type (CSV text, Parquet bytes,
    multipart): as generated (any slug, any key), then with the partner's key on its product, where a file the
    product's schema refuses must be a 400 that stores no version and one it accepts a 201 that stores one."""
    operation = api_schema["/api/v1/partner/products/{slug}/data"]["POST"]
    answered: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def every_upload(case):
        response = case.call()
        _no_server_error(response, "as generated")
        before = products.get_product(site.store, site.uploaded.product_id).version
        case.path_parameters["slug"] = UPLOADED
        response = case.call(headers={"Authorization": f"Bearer {site.partner_key.token}"})
        _no_server_error(response, "with the partner's key")
        answered.append(response.status_code)
        after = products.get_product(site.store, site.uploaded.product_id).version
        assert after == before + (response.status_code == 201), (response.status_code, before, after)
        if response.status_code == 400:
            assert response.json()["error"], "a refused file is not told what is wrong"

    every_upload()
    assert len(answered) >= 20, f"only {len(answered)} uploads were generated"
    assert 400 in answered, f"no generated file reached the schema check: {collections.Counter(answered)}"
