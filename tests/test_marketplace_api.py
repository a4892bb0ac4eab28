"""The marketplace through its HTTP endpoints, sign-in on: a partner registered, approved and listing a product,
uploading its data (a good file, a bad one refused whole, by key and by session with CSRF), a buyer's sandbox key
on the sample window, metered calls landing in api_usage, the quota and the rate limit (429 with Retry-After),
expired, revoked, unknown and malformed keys (401), a product not entitled (403), subscribing, a production key,
the month's statement, the platform's own products, partners kept apart, and the OpenAPI description kept true.

One app and store for the module; each test uses slugs and keys of its own."""
from __future__ import annotations

import ast
import base64
import inspect
import io
import itertools
import logging
import os
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import dash
import pandas as pd
import pytest

from app import marketplace_api
from app.factory import create_app
from app.services import services
from app.settings import Settings
from engine import accounts, demo, queries
from engine.marketplace import keys, partners, platform, products, serving, subscriptions, uploads
from engine.marketplace.statements import partner_statement
from engine.store import write_tables
from tests.support.signin import PASSWORD, csrf_token, sign_in
from tests.test_hardening import callback_key, post_callback
from tests.support.schema_template import migrated_url

_ids = itertools.count()
DAY = pd.Timestamp("2026-03-01", tz="UTC")


class Site:
    def __init__(self, dash_app):
        self.app = dash_app
        self.server = dash_app.server
        self.store = services(dash_app.server).ready_store()
        self.anon = self.server.test_client()

    def account(self, role: str) -> tuple[accounts.User, object]:
        email = f"{role}{next(_ids)}@example.com"
        user = accounts.create_user(self.store, email, role, PASSWORD)
        client = self.server.test_client()
        assert sign_in(client, email).status_code == 302
        return user, client

    def partner(self, name: str) -> tuple[partners.Partner, accounts.User, object]:
        """A partner account, signed in, registered and approved by an admin."""
        user, client = self.account("partner")
        made = partners.register_partner(self.store, organisation=name, contact_email=user.email,
                                         payout_reference="GB33BUKB20201555555555", user_id=user.user_id,
                                         actor=user.email)
        return partners.set_status(self.store, made.partner_id, "active", "admin@example.com"), user, client

    def product(self, partner: partners.Partner, *, kind: str = "per_call", price: str = "0.005",
                listed: bool = True) -> products.Product:
        slug = f"acme-{next(_ids)}-hourly"
        made = products.create_product(
            self.store, editor=partner.partner_id, actor="p", slug=slug, title=f"Product {slug}",
            description="Hourly wind output.", markets=["NEM"], category="generation", update_frequency="hourly",
            columns=[{"name": "time", "type": "datetime"}, {"name": "site", "type": "text"},
                     {"name": "mw", "type": "float", "unit": "MW"}])
        products.set_price(self.store, made.product_id, kind=kind, price=price, editor=partner.partner_id,
                           actor="p")
        if listed:
            products.set_status(self.store, made.product_id, "listed", editor=partner.partner_id, actor="p")
        return products.get_product(self.store, made.product_id)

    def flush(self) -> None:
        assert marketplace_api.meter_of(self.server).flush() >= 0

    def usage(self, key_id: str) -> pd.DataFrame:
        self.flush()
        return self.store.query_df("SELECT key_kind, user_id, product, partner, rows, bytes, latency_ms, status "
                                   "FROM api_usage WHERE key_id = {k:String} ORDER BY at", {"k": key_id})


@pytest.fixture(scope="module")
def site(store_dir):
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"mapi_{os.getpid()}"), scheduler=False,
                                   demo=False, auth=True))
    made = Site(dash_app)
    # ten days of NEM prices, and the platform's products over them
    write_tables(made.store, demo.nem_demo_frames(days=10), source="demo")
    platform.ensure_platform_products(made.store)
    yield made
    marketplace_api.meter_of(dash_app.server).close()
    made.store.command(f"DROP DATABASE IF EXISTS `{made.store.database}`")
    made.store.close()


def _csv(start: pd.Timestamp = DAY, hours: int = 24 * 20, site: str = "north") -> bytes:
    times = pd.date_range(start, periods=hours, freq="h")
    frame = pd.DataFrame({"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "site": site,
                          "mw": [round(10 + i % 24 * 0.5, 1) for i in range(hours)]})
    return frame.to_csv(index=False).encode()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _upload(client, slug: str, token: str, body: bytes, content_type: str = "text/csv"):
    return client.post(f"/api/v1/partner/products/{slug}/data", data=body, headers=_bearer(token),
                       content_type=content_type)


def _listed_with_data(site: Site):
    partner, user, client = site.partner("Acme Wind")
    product = site.product(partner)
    key = keys.issue_partner_key(site.store, user_id=user.user_id, partner_id=partner.partner_id, actor="p")
    assert _upload(site.anon, product.slug, key.token, _csv()).status_code == 201
    return partner, user, client, products.get_product(site.store, product.product_id), key


# ------------------------------------------------------------------------------------------------ uploads

def test_a_partner_uploads_by_key_and_a_bad_file_is_refused_whole(site):
    partner, user, _client = site.partner("Acme Upload")
    product = site.product(partner, listed=False)
    key = keys.issue_partner_key(site.store, user_id=user.user_id, partner_id=partner.partner_id, actor="p")
    good = _upload(site.anon, product.slug, key.token, _csv(hours=48))
    assert good.status_code == 201, good.get_data(as_text=True)
    assert good.get_json() == {"product": product.slug, "version": 1, "rows": 48}
    bad = _csv(hours=5).replace(b"north,11.0", b"north,eleven")
    refused = _upload(site.anon, product.slug, key.token, bad)
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "line 4, column mw: not a finite number (got 'eleven')"
    stored = products.get_product(site.store, product.product_id)
    assert stored.version == 1  # nothing of the bad file is kept
    assert site.store.scalar(f"SELECT count() FROM partner_data_{product.product_id}") == 48
    # Parquet, as the body and as a multipart file
    frame = pd.read_csv(io.BytesIO(_csv(hours=3)))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    parquet = frame.to_parquet(index=False)
    assert _upload(site.anon, product.slug, key.token, parquet,
                   "application/vnd.apache.parquet").get_json()["version"] == 2
    as_file = site.anon.post(f"/api/v1/partner/products/{product.slug}/data", headers=_bearer(key.token),
                             data={"file": (io.BytesIO(parquet), "wind.parquet")}, content_type="multipart/form-data")
    assert as_file.status_code == 201 and as_file.get_json()["rows"] == 3
    empty = _upload(site.anon, product.slug, key.token, b"")
    assert empty.status_code == 400 and "empty" in empty.get_json()["error"]


def test_a_large_upload_read_in_a_child_process_is_stored_or_refused_as_any(site, monkeypatch, caplog):
    """The API's path to the child reader (files over uploads.IN_PROCESS_BYTES, lowered here): the same 201
    with the rows stored, the same 400 naming the line."""
    monkeypatch.setattr(uploads, "IN_PROCESS_BYTES", 1024)
    partner, user, _client = site.partner("Acme Large")
    product = site.product(partner, listed=False)
    key = keys.issue_partner_key(site.store, user_id=user.user_id, partner_id=partner.partner_id, actor="p")
    body = _csv(hours=96)
    assert len(body) > uploads.IN_PROCESS_BYTES
    with caplog.at_level(logging.INFO, logger="engine.marketplace.uploads"):
        good = _upload(site.anon, product.slug, key.token, body)
    assert good.status_code == 201 and good.get_json()["rows"] == 96, good.get_data(as_text=True)
    assert "in child process" in caplog.text
    assert site.store.scalar(f"SELECT count() FROM partner_data_{product.product_id}") == 96
    refused = _upload(site.anon, product.slug, key.token, body.replace(b"north,11.0", b"north,eleven", 1))
    assert refused.status_code == 400 and refused.get_json()["error"].startswith("line 4, column mw: not a finite")


def test_uploads_at_the_same_moment_are_each_a_whole_version(site):
    """Four files sent at once to one product: four versions, each one file's rows; the one served is whole."""
    partner, user, _client = site.partner("Acme Race")
    product = site.product(partner)
    key = keys.issue_partner_key(site.store, user_id=user.user_id, partner_id=partner.partner_id, actor="p")
    answers = {}

    def send(name):
        answers[name] = _upload(site.server.test_client(), product.slug, key.token, _csv(hours=24, site=name))

    threads = [threading.Thread(target=send, args=(name,)) for name in ("a", "b", "c", "d")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers.values()} == {201}
    versions = {name: a.get_json()["version"] for name, a in answers.items()}
    assert sorted(versions.values()) == [1, 2, 3, 4]
    stored = site.store.query_df(f"SELECT _version AS v, groupUniqArray(site) AS sites, count() AS n FROM "
                                 f"partner_data_{product.product_id} GROUP BY v")
    assert {int(r.v): (list(r.sites), int(r.n)) for r in stored.itertuples()} == {
        v: ([name], 24) for name, v in versions.items()}
    buyer, _ = site.account("trader")
    live = keys.issue_key(site.store, user_id=buyer.user_id, kind="production", products=[product.product_id],
                          actor="b")
    served = site.anon.get(f"/api/v1/products/{product.slug}/data?start=2026-03-01&end=2026-03-02",
                           headers=_bearer(live.token)).get_json()
    assert served["row_count"] == 24 and len({r["site"] for r in served["rows"]}) == 1
    # any year an upload may hold may be asked for (the reads stopped at 1990, the uploads at none)
    early = site.anon.get(f"/api/v1/products/{product.slug}/data?start=1950-01-01&end=1950-01-02",
                          headers=_bearer(live.token))
    assert early.status_code == 200 and early.get_json()["row_count"] == 0


def test_the_portal_takes_the_largest_file_it_offers_and_names_the_limit(site):
    """The upload box's size limit is what fits in one callback request under the site's cap, so a file the box
    takes is never refused unheard (413), and the page says how large a file may be and where larger ones go."""
    # the module as the app registered it (imported again under another name, it would be a second page)
    page = sys.modules[next(p["module"] for p in dash.page_registry.values() if p["path"] == "/partner")]
    partner, _user, client = site.partner("Acme Portal")
    product = site.product(partner, listed=False)
    with site.server.test_request_context():
        drawn = page.layout()
    found = {c.id: c for c in drawn._traverse() if getattr(c, "id", None) in (page.UPLOAD, page.UPLOAD_LIMIT)}
    largest = found[page.UPLOAD].max_size
    assert largest == page.largest_file(site.server.config["MAX_CONTENT_LENGTH"]) > 500 * 1024
    assert found[page.UPLOAD_LIMIT].children.startswith(f"Files up to {page.size_text(largest)} here; larger "
                                                         f"ones, up to 200 MB, through the API (POST ")
    header, row = "time,site,mw\n", "2026-03-01T00:00:00Z,north,1.5\n"
    rows, spare = divmod(largest - len(header), len(row))
    body = header + row * (rows - 1) + row.replace("north", "north" + "x" * spare)
    assert len(body) == largest
    answer = post_callback(client, site.app, callback_key(site.app, "pt-upload-message.children"),
                           {"pt-upload.contents": "data:application/vnd.ms-excel;base64,"
                                                  + base64.b64encode(body.encode()).decode(),
                            "pt-upload.filename": "largest.csv", "pt-product.value": product.product_id})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.get_json()["response"]["pt-upload-message"]["children"] == (
        f"largest.csv: {rows:,} rows stored as version 1.")


def test_a_file_with_bytes_that_are_not_text_or_a_surplus_field_is_refused_not_a_500(site):
    partner, user, client = site.partner("Acme Odd Files")
    product = site.product(partner, listed=False)
    key = keys.issue_partner_key(site.store, user_id=user.user_id, partner_id=partner.partner_id, actor="p")
    odd = pd.DataFrame({"time": [DAY], "site": [b"\xff\xfe"], "mw": [1.0]}).to_parquet(index=False)
    by_key = _upload(site.anon, product.slug, key.token, odd, "application/vnd.apache.parquet")
    assert by_key.status_code == 400
    assert by_key.get_json()["error"] == "row 1, column site: not UTF-8 text (got b'\\xff\\xfe')"
    shifted = b"time,site,mw\nEXTRA,2026-03-01T00:00:00Z,north,1.5\n"
    refused = _upload(site.anon, product.slug, key.token, shifted)
    assert refused.status_code == 400 and refused.get_json()["error"] == "line 2 has 4 fields, the header has 3"
    in_portal = post_callback(client, site.app, callback_key(site.app, "pt-upload-message.children"),
                              {"pt-upload.contents": "data:application/octet-stream;base64,"
                                                     + base64.b64encode(odd).decode(),
                               "pt-upload.filename": "odd.parquet", "pt-product.value": product.product_id})
    assert in_portal.status_code == 200, in_portal.get_data(as_text=True)[:300]
    assert in_portal.get_json()["response"]["pt-upload-message"]["children"] == (
        "odd.parquet was refused, nothing of it is stored: row 1, column site: not UTF-8 text (got b'\\xff\\xfe')")
    assert products.get_product(site.store, product.product_id).version == 0


def test_a_signed_in_partner_uploads_with_the_csrf_token_and_not_without(site):
    partner, _user, client = site.partner("Acme Session")
    product = site.product(partner, listed=False)
    url = f"/api/v1/partner/products/{product.slug}/data"
    refused = client.post(url, data=_csv(hours=2), content_type="text/csv")
    assert refused.status_code == 403 and "CSRF" in refused.get_json()["error"]  # cookie-auth is not exempt
    token = csrf_token(client, "/logout")
    done = client.post(url, data=_csv(hours=2), content_type="text/csv", headers={"X-CSRFToken": token})
    assert done.status_code == 201, done.get_data(as_text=True)
    # a bad key is judged as a key even with a signed-in session beside it: the session is not looked at
    assert client.post(url, data=_csv(hours=2), headers=_bearer("c254_live_nope")).status_code == 401
    # nobody, and a signed-in non-partner, have no product to upload to
    assert site.anon.post(url, data=_csv(hours=2), headers=_bearer("")).status_code == 401
    _trader, trader_client = site.account("trader")
    answer = trader_client.post(url, data=_csv(hours=2), content_type="text/csv",
                                headers={"X-CSRFToken": csrf_token(trader_client, "/logout")})
    assert answer.status_code == 404


# ------------------------------------------------------------------------------------------ sandbox and keys

def test_a_sandbox_key_sees_the_sample_window_and_every_call_is_metered(site):
    partner, _user, _client, product, _key = _listed_with_data(site)
    buyer, _ = site.account("trader")
    sandbox = keys.issue_key(site.store, user_id=buyer.user_id, kind="sandbox", products=[product.product_id],
                             actor=buyer.email)
    url = f"/api/v1/products/{product.slug}/data"
    answer = site.anon.get(url + "?start=2026-03-01&end=2026-04-01", headers=_bearer(sandbox.token))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    # 20 days stored from 1 March: the sample window is the last 7 of them, whatever was asked
    window = (DAY + pd.Timedelta(days=13), DAY + pd.Timedelta(days=20))
    assert body["sandbox_window"] == {"start": window[0].isoformat(), "end": window[1].isoformat()}
    assert body["row_count"] == len(body["rows"]) == 24 * 7
    assert body["rows"][0] == {"time": "2026-03-14T00:00:00.000Z", "site": "north", "mw": 10.0}
    assert answer.headers["X-Sandbox-Window"] == f"{window[0].isoformat()}/{window[1].isoformat()}"
    as_csv = site.anon.get(url + "?start=2026-03-19&format=csv", headers=_bearer(sandbox.token))
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    lines = as_csv.get_data(as_text=True).splitlines()
    assert lines[:2] == ["time,site,mw", "2026-03-19T00:00:00.000Z,north,10.0"]
    assert len(lines) == 1 + 48  # from the 19th, cut at the window's end (the 21st)
    outside = site.anon.get(url + "?start=2026-03-01&end=2026-03-05", headers=_bearer(sandbox.token)).get_json()
    assert outside["rows"] == []
    for query, parameter in (("?format=xml", "'format'"), ("?start=yesterday", "'start'"),
                             ("?start=2026-03-05&end=2026-03-01", "'end'"), ("?end=2026-13-40", "'end'"),
                             ("?start=2026-03-01T14:00:00+10:00", "'start'"),
                             ("?start=2020-01-01&end=2026-01-01", "'end'"),
                             ("?from=2026-03-19", "unknown parameter 'from' (did you mean 'start'?)")):
        bad = site.anon.get(url + query, headers=_bearer(sandbox.token))
        assert bad.status_code == 400 and parameter in bad.get_json()["error"], (query, bad.get_json())
    used = site.usage(sandbox.key_id)
    assert list(used["status"]) == [200, 200, 200] + [400] * 7
    assert list(used["rows"][:3]) == [24 * 7, 48, 0]
    assert set(used["key_kind"]) == {"sandbox"} and set(used["user_id"]) == {buyer.user_id}
    assert set(used["product"]) == {product.product_id} and set(used["partner"]) == {partner.partner_id}
    assert used["bytes"].iloc[0] == len(answer.get_data()) and (used["latency_ms"] > 0).all()


def test_the_quota_then_the_rate_limit_answer_429_with_retry_after(site):
    _partner, _user, _client, product, _key = _listed_with_data(site)
    buyer, _ = site.account("trader")
    url = f"/api/v1/products/{product.slug}/data"
    few = keys.issue_key(site.store, user_id=buyer.user_id, kind="sandbox", products=[product.product_id],
                         actor="b", quota_calls=3)
    assert [site.anon.get(url, headers=_bearer(few.token)).status_code for _ in range(3)] == [200] * 3
    spent = site.anon.get(url, headers=_bearer(few.token))
    assert spent.status_code == 429 and spent.get_json()["limit"] == "quota"
    assert "quota of 3 calls" in spent.get_json()["error"] and int(spent.headers["Retry-After"]) > 0
    slow = keys.issue_key(site.store, user_id=buyer.user_id, kind="production", products=[product.product_id],
                          actor="b", rate_per_minute=2)
    answers = [site.anon.get(url, headers=_bearer(slow.token)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].get_json()["limit"] == "rate" and 0 < int(answers[2].headers["Retry-After"]) <= 60
    assert list(site.usage(few.key_id)["status"]) == [200, 200, 200, 429]
    assert list(site.usage(slow.key_id)["status"]) == [200, 200, 429]


def test_missing_malformed_unknown_expired_and_revoked_keys_are_401_and_not_entitled_403(site):
    partner, _user, _client, product, _key = _listed_with_data(site)
    other = site.product(partner)
    buyer, _ = site.account("trader")
    url = f"/api/v1/products/{product.slug}/data"
    unknown = keys.make_key("sandbox").token
    for headers, words in (({}, "needed"), ({"Authorization": "Basic abc"}, "needed"),
                           (_bearer("c254_sbx_123"), "malformed"), (_bearer(unknown), "Unknown")):
        answer = site.anon.get(url, headers=headers)
        assert answer.status_code == 401 and words in answer.get_json()["error"], headers
    expired = keys.issue_key(site.store, user_id=buyer.user_id, kind="sandbox", products=[product.product_id],
                             actor="b", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    answer = site.anon.get(url, headers=_bearer(expired.token))
    assert answer.status_code == 401 and "expired" in answer.get_json()["error"]
    live = keys.issue_key(site.store, user_id=buyer.user_id, kind="production", products=[product.product_id],
                          actor="b")
    assert site.anon.get(url, headers=_bearer(live.token)).status_code == 200
    not_entitled = site.anon.get(f"/api/v1/products/{other.slug}/data", headers=_bearer(live.token))
    # named as the caller named it, not by the internal id
    assert not_entitled.status_code == 403 and repr(other.slug) in not_entitled.get_json()["error"]
    assert other.product_id not in not_entitled.get_json()["error"]
    assert site.anon.get("/api/v1/products/no-such-thing/data", headers=_bearer(live.token)).status_code == 404
    keys.revoke_key(site.store, live.key_id, user_id=buyer.user_id, actor="b")
    time.sleep(marketplace_api.KEY_TTL + 0.1)  # the revocation reaches every worker within KEY_TTL seconds
    revoked = site.anon.get(url, headers=_bearer(live.token))
    assert revoked.status_code == 401 and "revoked" in revoked.get_json()["error"]
    assert list(site.usage(expired.key_id)["status"]) == [401]
    assert list(site.usage(live.key_id)["status"]) == [200, 403, 404, 401]
    assert site.usage(unknown.split("_")[2])["status"].tolist() == [401]


# ------------------------------------------------------------------------------- subscription and statement

def test_subscribe_then_a_production_key_then_the_months_statement(site):
    partner, _user, _client, product, _key = _listed_with_data(site)
    buyer, _ = site.account("analyst")
    subscriptions.subscribe(site.store, user_id=buyer.user_id, slug=product.slug, actor=buyer.email)
    entitled = [p for _, p in subscriptions.active_subscriptions(site.store, buyer.user_id)]
    live = keys.issue_key(site.store, user_id=buyer.user_id, kind="production", products=entitled, actor="b")
    url = f"/api/v1/products/{product.slug}/data?start=2026-03-01T00:00:00Z&end=2026-03-21"
    answers = [site.anon.get(url, headers=_bearer(live.token)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert answers[0].get_json()["row_count"] == 24 * 20  # production: the whole range, no sample window
    assert answers[0].get_json()["sandbox_window"] is None and "X-Sandbox-Window" not in answers[0].headers
    site.flush()
    month = datetime.now(UTC).strftime("%Y-%m")
    statement = partner_statement(site.store, partner.partner_id, month)
    line = next(line for line in statement.lines if line.product == product.slug)
    assert (line.calls, line.billable_calls, line.unit_price) == (3, 3, Decimal("0.005"))
    assert statement.exact_total == Decimal("0.015")
    # 0.015 rounds half up to 0.02; the partner's 70 % (0.0105) to 0.01; the platform keeps the rest
    assert (statement.gross, statement.partner_share, statement.platform_share) == (
        Decimal("0.02"), Decimal("0.01"), Decimal("0.01"))


# ------------------------------------------------------------------------------------- platform products

def test_platform_products_serve_the_stores_series(site):
    slug = "nem-sa1-5min-prices"
    product = products.by_slug(site.store, slug)
    assert product is not None and product.status == "listed" and product.owner == "platform"
    assert products.by_slug(site.store, "ieso-hoep-hourly") is None  # its series is not stored: not created
    buyer, _ = site.account("trader")
    live = keys.issue_key(site.store, user_id=buyer.user_id, kind="production", products=[product.product_id],
                          actor="b")
    first_day = queries.data_span(site.store, "NEM", "SA1")[0]
    start, end = pd.Timestamp(first_day) + pd.Timedelta(days=1), pd.Timestamp(first_day) + pd.Timedelta(days=2)
    query = urlencode({"start": start.isoformat(), "end": end.isoformat()})  # the offset's + escaped
    answer = site.anon.get(f"/api/v1/products/{slug}/data?{query}", headers=_bearer(live.token))
    assert answer.status_code == 200
    rows = answer.get_json()["rows"]
    expected, _ = queries.price_series(site.store, "NEM", "SA1", start, end, resolution="raw")
    assert len(rows) == len(expected) == 288
    assert [r["price"] for r in rows] == expected["price"].tolist()
    assert rows[0]["interval_start"] == start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    # declaring again writes nothing
    parts = site.store.scalar("SELECT count() FROM products")
    platform.ensure_platform_products(site.store)
    assert site.store.scalar("SELECT count() FROM products") == parts
    sandbox = keys.issue_key(site.store, user_id=buyer.user_id, kind="sandbox", products=[product.product_id],
                             actor="b")
    sample = site.anon.get(f"/api/v1/products/{slug}/data", headers=_bearer(sandbox.token)).get_json()
    last = pd.Timestamp(queries.data_span(site.store, "NEM", "SA1")[1]) + pd.Timedelta(days=1)  # NEM days end 14:00 UTC
    window = (last.floor("D") - pd.Timedelta(days=serving.SAMPLE_DAYS - 1), last.floor("D") + pd.Timedelta(days=1))
    assert sample["sandbox_window"] == {"start": window[0].isoformat(), "end": window[1].isoformat()}
    in_window, _ = queries.price_series(site.store, "NEM", "SA1", *window, resolution="raw")
    assert sample["row_count"] == len(in_window) == 288 * (serving.SAMPLE_DAYS - 1) + 14 * 12


def test_a_range_the_engine_refuses_is_a_400_and_is_metered(site, monkeypatch):
    slug = "nem-sa1-5min-prices"
    product = products.by_slug(site.store, slug)
    buyer, _ = site.account("trader")
    live = keys.issue_key(site.store, user_id=buyer.user_id, kind="production", products=[product.product_id],
                          actor="b")
    december = site.anon.get(f"/api/v1/products/{slug}/data?start=2100-12-01&end=2100-12-02",
                             headers=_bearer(live.token))
    assert december.status_code == 200 and december.get_json()["row_count"] == 0
    # without an end, the end is 7 days on: in 2101, past the store's last day
    late = site.anon.get(f"/api/v1/products/{slug}/data?start=2100-12-31", headers=_bearer(live.token))
    assert late.status_code == 400
    assert late.get_json()["error"] == ("parameter 'end': at most 2100-12-31T00:00:00Z (without it, the end is "
                                        f"{serving.SAMPLE_DAYS} days after 'start')")
    statuses = [200, 400]
    monkeypatch.setattr(serving, "product_rows", _raises(queries.QueryError("month 2101-01-01 is outside it")))
    refused = site.anon.get(f"/api/v1/products/{slug}/data?start=2026-03-01", headers=_bearer(live.token))
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "parameters 'start' and 'end': month 2101-01-01 is outside it"
    statuses.append(400)
    # a failure no check foresaw is the app's 500, and the call is in api_usage all the same
    monkeypatch.setattr(serving, "product_rows", _raises(RuntimeError("a bug")))
    site.app.server.config["PROPAGATE_EXCEPTIONS"], propagate = False, site.app.server.config.get(
        "PROPAGATE_EXCEPTIONS")
    try:
        failed = site.anon.get(f"/api/v1/products/{slug}/data?start=2026-03-01", headers=_bearer(live.token))
    finally:
        site.app.server.config["PROPAGATE_EXCEPTIONS"] = propagate
    assert failed.status_code == 500, failed.get_data(as_text=True)
    statuses.append(500)
    assert list(site.usage(live.key_id)["status"]) == statuses


def _raises(exc: Exception):
    def fail(*_args, **_kwargs):
        raise exc
    return fail


@pytest.mark.parametrize("resolution", ["raw", "hour", "day"])
def test_a_platform_products_rows_cut_from_month_pieces_are_the_stores(site, resolution):
    source = platform.Source("NEM", "SA1", "settlement", resolution)
    first, last = (pd.Timestamp(t) for t in queries.data_span(site.store, "NEM", "SA1"))
    start, end = first + pd.Timedelta(hours=7), last + pd.Timedelta(hours=5)  # every stored month, cut mid-day
    asked = []

    def read(fn, *args):
        asked.append(fn.__name__)
        return fn(site.store, *args)

    cut = platform.rows(site.store, source, start, end, read=read)
    assert len(cut) > 0
    pd.testing.assert_frame_equal(cut, platform.rows(site.store, source, start, end))
    # raw and hourly series are cut from pieces; daily means are read in one query
    assert set(asked) == {"raw": {"month_prices"}, "hour": {"month_hours"}, "day": set()}[resolution]


# ----------------------------------------------------------------------------------------- partner isolation

def test_a_partner_cannot_read_or_upload_to_another_partners_products(site):
    _a, _a_user, _a_client, listed, a_key = _listed_with_data(site)
    partner_a = partners.get_partner(site.store, listed.owner)
    draft = site.product(partner_a, listed=False)
    partner_b, b_user, b_client = site.partner("Bee Data")
    site.product(partner_b)
    b_key = keys.issue_partner_key(site.store, user_id=b_user.user_id, partner_id=partner_b.partner_id,
                                   actor="b")
    # reading: A's listed product is not B's key's (403); A's draft is not served to B at all (404)
    assert site.anon.get(f"/api/v1/products/{listed.slug}/data", headers=_bearer(b_key.token)).status_code == 403
    assert site.anon.get(f"/api/v1/products/{draft.slug}/data", headers=_bearer(b_key.token)).status_code == 404
    # A's own key reads its draft (it may check an upload before listing)
    a_again = keys.issue_partner_key(site.store, user_id=_a_user.user_id, partner_id=partner_a.partner_id,
                                     actor="a")
    assert site.anon.get(f"/api/v1/products/{draft.slug}/data", headers=_bearer(a_again.token)).status_code == 200
    # uploading: another partner's product answers as a product that does not exist, by key and by session
    nothing = _upload(site.anon, "no-such-product", b_key.token, _csv(hours=2))
    for answer in (_upload(site.anon, listed.slug, b_key.token, _csv(hours=2)),
                   b_client.post(f"/api/v1/partner/products/{listed.slug}/data", data=_csv(hours=2),
                                 content_type="text/csv", headers={"X-CSRFToken": csrf_token(b_client, "/logout")})):
        assert answer.status_code == 404 == nothing.status_code
        assert answer.get_json()["error"] == nothing.get_json()["error"].replace("no-such-product", listed.slug)
    assert products.get_product(site.store, listed.product_id).version == 1
    # a suspended partner's products are not served, even to a key entitled to them
    buyer, _ = site.account("trader")
    held = keys.issue_key(site.store, user_id=buyer.user_id, kind="production", products=[listed.product_id],
                          actor="x")
    partners.set_status(site.store, partner_a.partner_id, "suspended", "admin")
    site.server.extensions[marketplace_api.STATE_KEY].products.clear()
    assert site.anon.get(f"/api/v1/products/{listed.slug}/data", headers=_bearer(held.token)).status_code == 404
    assert _upload(site.anon, listed.slug, a_key.token, _csv(hours=2)).status_code == 403


# ---------------------------------------------------------------------------------------------------- OpenAPI

def _read_parameters(fn, seen: set | None = None) -> set[str]:
    """The query parameters a handler reads: the literal names given to ``request.args.get``, ``_arg`` or
    ``_instant`` in its body and in the module functions it calls (followed through)."""
    seen = seen if seen is not None else set()
    if fn in seen:
        return set()
    seen.add(fn)
    module = inspect.getmodule(fn)
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        literal = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
        reads = called in ("_arg", "_instant") or (called == "get" and "args" in ast.unparse(node.func))
        if reads and isinstance(literal, str):
            names.add(literal)
        target = getattr(module, called, None) if called else None
        if inspect.isfunction(target) and target.__module__ == module.__name__:
            names |= _read_parameters(target, seen)
    return names


def test_the_openapi_description_is_public_and_true(site):
    answer = site.anon.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    described = answer.get_json()
    assert described["openapi"].startswith("3.")
    rules = {r.rule.replace("<", "{").replace(">", "}"): r for r in site.server.url_map.iter_rules()
             if r.rule.startswith("/api/v1")}
    assert set(described["paths"]) == set(rules), "routes and the description differ"
    for path, operations in described["paths"].items():
        rule = rules[path]
        assert {m.upper() for m in operations} == rule.methods - {"HEAD", "OPTIONS"}, path
        for operation in operations.values():
            parameters = operation.get("parameters", [])
            in_path = {p["name"] for p in parameters if p["in"] == "path"}
            in_query = {p["name"] for p in parameters if p["in"] == "query"}
            assert in_path == set(rule.arguments), path
            handler = site.server.view_functions[rule.endpoint]
            assert in_query == _read_parameters(handler), path
            assert {"200", "201"} & set(operation["responses"]), path


def test_the_demo_seeds_a_catalog_of_both_kinds_once(site):
    demo.seed_demo_marketplace(site.store)
    listed = {p.slug: p for p in products.catalog(site.store, limit=500)}
    ours = [p for p in listed.values() if p.owner == "platform"]
    theirs = [listed[slug] for slug in ("southern-rooftop-solar", "southern-daily-temperatures")]
    assert len(ours) == 10 and all(p.version == 1 and p.plans for p in theirs)
    partner = partners.partner_for_user(site.store, demo.DEMO_PARTNER_USER)
    assert partner.status == "active" and {p.owner for p in theirs} == {partner.partner_id}
    assert len(serving.product_rows(site.store, theirs[0], *serving.stored_span(site.store, theirs[0]))) == \
        24 * demo.DEMO_PARTNER_DAYS * 5
    rows = site.store.scalar("SELECT count() FROM products") + site.store.scalar("SELECT count() FROM price_plans")
    demo.seed_demo_marketplace(site.store)
    assert site.store.scalar("SELECT count() FROM products") + site.store.scalar("SELECT count() FROM price_plans") \
        == rows
