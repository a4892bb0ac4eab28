"""The marketplace's pages through the real callback endpoint, signed in as each role: the catalog's search and
filters, a product's page with its live sample, a sandbox key, a subscription and a production key; the partner
portal's registration, products, uploads (a good file stored, a bad one refused with its line and nothing
kept), keys, usage and statements (CSV); the admin's approvals and revenue. And partner isolation: a partner
who sends another partner's product, key or month through the portal's callbacks reads and changes nothing of
theirs."""
from __future__ import annotations

import base64
import itertools
import os
import shlex
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import pandas as pd
import pytest

from app import marketplace_api
from app.factory import create_app
from app.services import services
from app.settings import Settings
from components.marketplace import usage_figure
from engine import accounts
from engine.marketplace import data, keys, partners, products, subscriptions
from engine.marketplace.statements import partner_statement
from tests.support.signin import PASSWORD, sign_in
from tests.test_hardening import assert_answered, callback_key, post_callback
from tests.support.schema_template import migrated_url

USERS = {"alpha": "partner", "beta": "partner", "gamma": "partner", "delta": "partner", "buyer": "analyst",
         "admin": "admin"}
CSV = "time,value\n2026-03-01T00:00:00Z,1.5\n2026-03-01T01:00:00Z,2.5\n2026-03-01T02:00:00+10:00,3.5\n"
_ids = itertools.count(1)


def row_counts(store) -> dict[str, int]:
    """Rows of every table as readers see them (versioned tables read FINAL, so a background merge of their
    versions does not count as a change)."""
    tables = store.query_df("SELECT name, engine FROM system.tables WHERE database = currentDatabase() "
                            "AND engine LIKE '%MergeTree%' ORDER BY name")
    return {t: int(store.scalar(f"SELECT count() FROM `{t}`{' FINAL' if 'Replacing' in e else ''}"))
            for t, e in tables.itertuples(index=False, name=None)}


def _email(name: str) -> str:
    return f"{name}@mk.example"


@pytest.fixture(scope="module")
def site(store_dir):
    """One app with sign-in on, an account per name of USERS, each with a signed-in client."""
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"mkpages_{os.getpid()}"), scheduler=False,
                                   demo=False, auth=True, secret_key="test-secret"))
    store = services(dash_app.server).ready_store()
    users, clients = {}, {}
    for name, role in USERS.items():
        users[name] = accounts.create_user(store, _email(name), role, PASSWORD)
        clients[name] = dash_app.server.test_client()
        assert sign_in(clients[name], _email(name)).status_code == 302
    yield dash_app, store, users, clients
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


@pytest.fixture(scope="module")
def world(site):
    """alpha and beta: active partners, each with a listed per-call product holding uploaded data, a key of
    their own (as buyers of each other's product) and a month of metered calls."""
    _, store, users, _ = site
    made = {}
    for name in ("alpha", "beta"):
        partner = partners.register_partner(store, organisation=f"{name.title()} Data", contact_email=_email(name),
                                            payout_reference=f"GB00{name.upper()}0001", user_id=users[name].user_id,
                                            actor=_email(name))
        partners.set_status(store, partner.partner_id, "active", "admin")
        product = _listed(store, partner.partner_id, f"{name}-wind", "per_call", "0.005",
                          title=f"{name.title()} wind output")
        data.upload(store, product, CSV.encode(), "wind.csv", actor=_email(name))
        made[name] = {"partner": partner, "product": products.get_product(store, product.product_id)}
    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        made[name]["key"] = keys.issue_key(store, user_id=users[name].user_id, kind="sandbox",
                                           products=[made[other]["product"].product_id], actor=_email(name))
        usage = pd.DataFrame({"at": pd.to_datetime(["2026-03-02", "2026-03-03", "2026-03-04"], utc=True),
                              "key_id": "k", "key_kind": "production", "user_id": "someone",
                              "product": made[name]["product"].product_id, "partner": made[name]["partner"].partner_id,
                              "rows": 24, "bytes": 900, "latency_ms": 1.0, "status": 200})
        store.insert_df("api_usage", usage)
    return made


def _listed(store, owner: str, slug: str, kind: str, price: str, title: str = "", category: str = "generation"):
    product = products.create_product(
        store, editor=owner, actor="t", slug=slug, title=title or f"Product {slug}", description="Hourly output.",
        markets=["NEM"], category=category, update_frequency="hourly", tags=["wind"],
        columns=[{"name": "time", "type": "datetime", "unit": "UTC"}, {"name": "value", "type": "float",
                                                                       "unit": "MW"}])
    store.command("INSERT INTO price_plans (product_id, effective_from, kind, price, currency, created_by, created_at) "
                  "VALUES ({p:String}, '2026-01-01 00:00:00', {k:String}, {v:Decimal(18, 6)}, 'USD', 't', now64(3))",
                  {"p": product.product_id, "k": kind, "v": Decimal(price)})
    return products.set_status(store, product.product_id, "listed", editor=owner, actor="t")


def ask(site, who: str, output: str, values: dict, changed: str | None = None) -> dict:
    """One callback request by ``who`` (a name of USERS); the response's outputs by id."""
    dash_app, _, _, clients = site
    answer = assert_answered(post_callback(clients[who], dash_app, callback_key(dash_app, output), values,
                                           changed=changed), output)
    return answer["response"] if answer else {}


def _text(component) -> str:
    """Every text of a component tree as Dash sends it, joined."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list):
        return " ".join(_text(c) for c in component)
    if isinstance(component, dict):
        return _text(component.get("props", {}).get("children"))
    return ""


def _components(component) -> list[dict]:
    """Every component of a tree as Dash sends it, depth first."""
    if isinstance(component, list):
        return [c for child in component for c in _components(child)]
    if isinstance(component, dict):
        return [component, *_components(component.get("props", {}).get("children"))]
    return []


def _csv_upload(text: str) -> str:
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode()


# ------------------------------------------------------------------------------------------------ catalog

def _search(site, who: str = "buyer", **values) -> str:
    sent = {f"mk-{k}.value": v for k, v in values.items()}
    return _text(ask(site, who, "mk-results.children", sent)["mk-results"]["children"])


def test_catalog_search_and_filters_show_listed_products_of_active_partners(site, world):
    _, store, users, _ = site
    shown = _search(site)
    assert "Alpha wind output" in shown and "Beta wind output" in shown
    assert "0.005 USD per call" in shown and "by Alpha Data" in shown
    assert "Alpha wind output" in _search(site, search="ALPHA wind")
    assert "Beta wind output" not in _search(site, search="alpha")
    assert "No listed product matches" in _search(site, search="alpha", category="prices")
    assert "Alpha wind output" in _search(site, category="generation", market="NEM", price="per_call",
                                          frequency="hourly")
    assert "No listed product matches" in _search(site, price="monthly")
    # a pending partner's listed product is not on sale, nor is a draft
    pending = partners.register_partner(store, organisation="Gamma Grid", contact_email=_email("gamma"),
                                        payout_reference="GB00GAMMA0001", user_id="someone-else", actor="t")
    _listed(store, pending.partner_id, "gamma-solar", "free", "0", title="Gamma solar output")
    assert "Gamma solar output" not in _search(site)
    # a filter value the page never offers is refused with a message, for every role
    assert "category filter: one of" in _search(site, who="alpha", category="nonsense")
    assert "Alpha wind output" in _search(site, who="admin")


def test_product_page_shows_schema_price_and_the_live_sample(site, world):
    answer = ask(site, "buyer", "mk-detail.children", {"mk-product.data": "alpha-wind"})
    detail = _text(answer["mk-detail"]["children"])
    assert "Alpha wind output" in detail and "0.005 USD per call" in detail and "by Alpha Data" in detail
    assert "updated hourly" in detail
    assert "value" in detail and "MW" in detail  # the schema table
    assert "read from the store now" in _text(answer["mk-sample-note"]["children"])
    assert answer["mk-sample-csv"]["disabled"] is False
    figure = answer["mk-sample-chart"]["figure"]
    assert [t["name"] for t in figure["data"]] == ["value (MW)"]
    table = _text(answer["mk-sample"]["children"])
    # the uploaded rows, newest first, times in UTC (02:00+10:00 is 16:00 UTC the day before)
    assert "2026-03-01 01:00:00 UTC" in table and "2026-02-28 16:00:00 UTC" in table and "2.5" in table
    assert answer["mk-production"]["disabled"] is True
    missing = ask(site, "buyer", "mk-detail.children", {"mk-product.data": "no-such-thing"})
    assert "no listed product 'no-such-thing'" in _text(missing["mk-detail"]["children"])
    # nothing to try, subscribe to or sample: those are hidden, and the page links back to the catalog
    assert missing["mk-product-body"]["style"] == {"display": "none"} and answer["mk-product-body"]["style"] == {}
    assert "Browse the catalog" in _text(missing["mk-detail"]["children"])
    assert missing["mk-sample-csv"]["disabled"] is True


def test_the_sample_downloads_as_the_product_api_writes_its_csv(site, world):
    """The sample shown, in time order, with the declared columns and the API's times (UTC, ms, Z): the upload's
    02:00+10:00 is 16:00 UTC the day before."""
    answer = ask(site, "buyer", "mk-sample-download.data",
                 {"mk-product.data": "alpha-wind", "mk-sample-csv.n_clicks": 1})
    sent = answer["mk-sample-download"]["data"]
    assert sent["filename"] == "alpha-wind_sample_UTC.csv"
    assert sent["content"].splitlines() == ["time,value", "2026-02-28T16:00:00.000Z,3.5",
                                            "2026-03-01T00:00:00.000Z,1.5", "2026-03-01T01:00:00.000Z,2.5"]
    # a product not in the catalog, or a hostile value: no file
    for slug in ("no-such-thing", {"$gt": ""}, "x" * 100_000):
        assert ask(site, "buyer", "mk-sample-download.data", {"mk-product.data": slug, "mk-sample-csv.n_clicks": 1}) \
            in ({}, {"mk-sample-download": {"data": None}})


def _act(site, who: str, button: str, slug: str) -> dict:
    values = {"mk-product.data": slug, f"{button}.n_clicks": 1}
    return ask(site, who, "mk-key-message.children", values, changed=f"{button}.n_clicks")


def test_sandbox_key_subscribe_then_production_key(site, world):
    _, store, users, _ = site
    product = world["alpha"]["product"]
    answer = _act(site, "buyer", "mk-sandbox", "alpha-wind")
    message = answer["mk-key-message"]
    assert message["color"] == "info" and "shown this once" in _text(message["children"])
    token = next(word for word in _text(message["children"]).split() if word.startswith("c254_sbx_"))
    stored = keys.stored_key(store, token)
    assert stored.owner == users["buyer"].user_id and stored.products == {product.product_id}
    assert stored.kind == "sandbox" and stored.expires_at is not None
    # the command shown with the key works as written: the product's sample window as CSV
    [example] = [c["props"]["children"] for c in _components(message["children"])
                 if c.get("props", {}).get("id") == "mk-new-key-example"]
    words = shlex.split(example)
    assert words[:3] == ["curl", "-H", f"Authorization: Bearer {token}"]
    url = urlsplit(words[3])
    called = site[0].server.test_client().get(f"{url.path}?{url.query}", headers={"Authorization": f"Bearer {token}"})
    assert called.status_code == 200 and called.mimetype == "text/csv"
    assert called.get_data(as_text=True).splitlines()[0] == "time,value"
    marketplace_api.meter_of(site[0].server).flush()  # its usage record is written now, not amid a later test
    # no production key before subscribing
    refused = _act(site, "buyer", "mk-production", "alpha-wind")["mk-key-message"]
    assert "subscribe to the product first" in refused["children"]
    subscribed = _act(site, "buyer", "mk-subscribe", "alpha-wind")
    assert subscribed["mk-key-message"]["color"] == "success"
    assert [p for _, p in subscriptions.active_subscriptions(store, users["buyer"].user_id)] == [product.product_id]
    page = ask(site, "buyer", "mk-detail.children", {"mk-product.data": "alpha-wind", "mk-subscribed.data": "x"})
    assert page["mk-production"]["disabled"] is False
    live = _act(site, "buyer", "mk-production", "alpha-wind")["mk-key-message"]
    token = next(word for word in _text(live["children"]).split() if word.startswith("c254_live_"))
    assert keys.stored_key(store, token).products == {product.product_id}
    # nothing for a product not in the catalog
    before = row_counts(store)
    assert "no listed product" in _act(site, "buyer", "mk-sandbox", "gamma-solar")["mk-key-message"]["children"]
    assert row_counts(store) == before


# ---------------------------------------------------------------------------------------- partner portal

def _portal(site, who: str) -> dict:
    return ask(site, who, "pt-products.children", {"pt-changed.data": None})


def test_register_then_the_admin_approves(site):
    _, store, users, _ = site
    refused = ask(site, "gamma", "pt-register-message.children",
                  {"pt-register.n_clicks": 1, "pt-organisation.value": "Gamma Grid Data",
                   "pt-contact.value": "not an email", "pt-payout.value": "GB00GAMMA0002"})
    assert "contact email" in refused["pt-register-message"]["children"]
    assert partners.partner_for_user(store, users["gamma"].user_id) is None
    done = ask(site, "gamma", "pt-register-message.children",
               {"pt-register.n_clicks": 1, "pt-organisation.value": "Gamma Grid Data",
                "pt-contact.value": _email("gamma"), "pt-payout.value": "GB00GAMMA0002"})
    assert "awaits approval" in done["pt-register-message"]["children"]
    partner = partners.partner_for_user(store, users["gamma"].user_id)
    assert partner.status == "pending"
    portal = _portal(site, "gamma")
    assert "awaiting the platform's approval" in _text(portal["pt-status"]["children"])
    assert portal["pt-registration"]["style"] == {"display": "none"}
    tables = ask(site, "admin", "am-partners.children", {"am-changed.data": None})
    assert "Gamma Grid Data" in _text(tables["am-partners"]["children"])
    approved = ask(site, "admin", "am-partner-message.children",
                   {"am-approve.n_clicks": 1, "am-partner.value": partner.partner_id}, changed="am-approve.n_clicks")
    assert approved["am-partner-message"]["children"] == "Gamma Grid Data is active."
    assert partners.get_partner(store, partner.partner_id).status == "active"
    again = ask(site, "admin", "am-partner-message.children",
                {"am-approve.n_clicks": 1, "am-partner.value": partner.partner_id}, changed="am-approve.n_clicks")
    assert "cannot become active" in again["am-partner-message"]["children"]
    # the portal's callbacks are the partner role's; the admin page's the admin's
    dash_app, _, _, clients = site
    for who, output in (("buyer", "pt-products.children"), ("alpha", "am-partners.children")):
        assert post_callback(clients[who], dash_app, callback_key(dash_app, output), {}).status_code == 403


def _product_values(**changes) -> dict:
    values = {"pt-product.value": "__new__", "pt-slug.value": f"gamma-{next(_ids)}", "pt-title.value": "Gamma demand",
              "pt-description.value": "Hourly demand.", "pt-markets.value": "NEM, IESO", "pt-category.value": "demand",
              "pt-frequency.value": "hourly", "pt-tags.value": "demand, hourly",
              "pt-schema.value": "time, datetime, UTC\nvalue, float, MW\nsite, text", "pt-price-kind.value": "per_call",
              "pt-price.value": "0.01"}
    values.update(changes)
    return values


def _change(site, who: str, button: str, values: dict) -> dict:
    return ask(site, who, "pt-product-message.children", {**values, f"{button}.n_clicks": 1},
               changed=f"{button}.n_clicks")


def _gamma(site) -> str:
    _, store, users, _ = site
    partner = partners.partner_for_user(store, users["gamma"].user_id)
    if partner is None:
        partner = partners.register_partner(store, organisation="Gamma Grid Data", contact_email=_email("gamma"),
                                            payout_reference="GB00GAMMA0002", user_id=users["gamma"].user_id,
                                            actor="t")
    if partner.status != "active":
        partners.set_status(store, partner.partner_id, "active", "admin")
    return partner.partner_id


def test_partner_creates_prices_lists_and_uploads(site, world):
    _, store, _, _ = site
    owner = _gamma(site)
    values = _product_values()
    created = _change(site, "gamma", "pt-save", values)
    assert created["pt-product-message"]["color"] == "success", created
    product_id = created["pt-product"]["value"]
    product = products.get_product(store, product_id)
    assert (product.owner, product.status, product.markets) == (owner, "draft", ("NEM", "IESO"))
    assert [c.name for c in product.columns] == ["time", "value", "site"]
    values["pt-product.value"] = product_id
    # listing before pricing is refused; then priced and listed
    assert "price plan before listing" in _change(site, "gamma", "pt-list", values)["pt-product-message"]["children"]
    assert "0.01 USD per call" in _change(site, "gamma", "pt-set-price", values)["pt-product-message"]["children"]
    assert _change(site, "gamma", "pt-list", values)["pt-product-message"]["color"] == "success"
    # an edit keeps the slug and changes the title; the form fills from the stored product
    edited = _change(site, "gamma", "pt-save", {**values, "pt-title.value": "Gamma hourly demand"})
    assert edited["pt-product-message"]["color"] == "success"
    filled = ask(site, "gamma", "pt-title.value", {"pt-product.value": product_id})
    assert filled["pt-title"]["value"] == "Gamma hourly demand" and filled["pt-slug"]["disabled"] is True
    # a good file is stored as version 1
    good = "time,value,site\n2026-03-01T00:00:00Z,10.5,a\n2026-03-01T01:00:00Z,11,b\n"
    stored = ask(site, "gamma", "pt-upload-message.children",
                 {"pt-upload.contents": _csv_upload(good), "pt-upload.filename": "demand.csv",
                  "pt-product.value": product_id})
    assert stored["pt-upload-message"]["children"] == "demand.csv: 2 rows stored as version 1."
    product = products.get_product(store, product_id)
    assert product.version == 1
    assert list(data.rows(store, product, pd.Timestamp("2026-01-01", tz="UTC"),
                          pd.Timestamp("2027-01-01", tz="UTC"))["value"]) == [10.5, 11.0]
    # a bad file: the line and the problem, nothing kept, the version unchanged
    before = row_counts(store)
    bad = "time,value,site\n2026-03-01T02:00:00Z,12,c\n2026-03-01T03:00:00,13,d\n"
    refused = ask(site, "gamma", "pt-upload-message.children",
                  {"pt-upload.contents": _csv_upload(bad), "pt-upload.filename": "demand.csv",
                   "pt-product.value": product_id})["pt-upload-message"]
    assert refused["color"] == "danger"
    assert "nothing of it is stored" in refused["children"] and "line 3, column time" in refused["children"]
    assert row_counts(store) == before and products.get_product(store, product_id).version == 1
    wrong = ask(site, "gamma", "pt-upload-message.children",
                {"pt-upload.contents": _csv_upload("time,other\n2026-03-01T00:00:00Z,1\n"),
                 "pt-upload.filename": "x.csv", "pt-product.value": product_id})["pt-upload-message"]
    assert "line 1: the columns must be the declared ones" in wrong["children"]
    assert row_counts(store) == before
    # the buyer finds it in the catalog
    assert "Gamma hourly demand" in _search(site, search="gamma demand")


def test_bad_product_form_values_are_named_and_nothing_is_stored(site):
    _, store, _, _ = site
    _gamma(site)
    before = row_counts(store)
    for field, value, message in (("pt-slug.value", "Bad Slug", "slug:"),
                                  ("pt-schema.value", "time datetime", "schema line 1"),
                                  ("pt-schema.value", "value, float", "a datetime column is needed"),
                                  ("pt-category.value", "toys", "category:"),
                                  ("pt-title.value", "x", "title:"),
                                  ("pt-markets.value", 42, "markets:")):
        answer = _change(site, "gamma", "pt-save", _product_values(**{field: value}))["pt-product-message"]
        assert answer["color"] == "warning" and message in answer["children"], (field, answer)
    assert row_counts(store) == before


def test_keys_usage_and_statement_of_ones_own(site, world):
    _, store, users, _ = site
    portal = _portal(site, "alpha")
    key_id = world["alpha"]["key"].key_id
    assert [o["value"] for o in portal["pt-key"]["options"]] == [key_id]
    assert key_id in _text(portal["pt-keys"]["children"])
    assert portal["pt-revoke"]["disabled"] is False
    usage = ask(site, "alpha", "pt-usage-chart.figure", {"pt-usage-days.value": 30})
    assert usage["pt-usage-chart"]["figure"]["data"] == [] or all(
        t["name"] == "alpha-wind" for t in usage["pt-usage-chart"]["figure"]["data"])
    statement = ask(site, "alpha", "pt-statement.children", {"pt-month.value": "2026-03"})
    shown = _text(statement["pt-statement"]["children"])
    # three calls at 0.005: 0.015 → gross 0.02, partner 0.01 (0.0105 rounded half up), platform 0.01
    assert "alpha-wind" in shown and "0.015" in shown
    assert "per call" in shown and "per_call" not in shown  # the plan as the catalog names it
    assert "Amount (USD)" in str(statement["pt-statement"]["children"]) and "0.02 USD" in shown
    made = partner_statement(store, world["alpha"]["partner"].partner_id, "2026-03")
    assert (made.gross, made.partner_share, made.platform_share) == (Decimal("0.02"), Decimal("0.01"),
                                                                     Decimal("0.01"))
    csv = ask(site, "alpha", "pt-statement-download.data",
              {"pt-statement-csv.n_clicks": 1, "pt-month.value": "2026-03"})
    assert csv["pt-statement-download"]["data"]["content"] == made.to_csv()
    assert csv["pt-statement-download"]["data"]["filename"] == "statement-2026-03.csv"
    bad = ask(site, "alpha", "pt-statement.children", {"pt-month.value": "March"})
    assert "month: write YYYY-MM" in _text(bad["pt-statement"]["children"])
    assert bad["pt-statement-csv"]["disabled"] is True and statement["pt-statement-csv"]["disabled"] is False
    # revoke one's own key
    revoked = ask(site, "alpha", "pt-key-message.children", {"pt-revoke.n_clicks": 1, "pt-key.value": key_id})
    assert revoked["pt-key-message"]["color"] == "success"
    assert keys.stored_key(store, world["alpha"]["key"].token).revoked_at is not None
    after = _portal(site, "alpha")
    assert after["pt-key"]["options"] == [] and after["pt-revoke"]["disabled"] is True  # nothing left to revoke


def test_a_partner_never_reads_or_changes_another_partners_things(site, world):
    """beta sends alpha's product id, key id and asks for its things through every portal callback."""
    _, store, users, _ = site
    alpha = world["alpha"]
    theirs = alpha["product"].product_id
    before = row_counts(store)
    for button in ("pt-save", "pt-set-price", "pt-list", "pt-delist"):
        answer = _change(site, "beta", button, _product_values(**{"pt-product.value": theirs,
                                                                   "pt-title.value": "Taken over"}))
        assert answer["pt-product-message"]["children"] == "no such product", button
    filled = ask(site, "beta", "pt-title.value", {"pt-product.value": theirs})
    assert filled == {}  # nothing of theirs is sent back (204: every output left as it was)
    upload = ask(site, "beta", "pt-upload-message.children",
                 {"pt-upload.contents": _csv_upload(CSV), "pt-upload.filename": "w.csv", "pt-product.value": theirs})
    assert "no such product" in upload["pt-upload-message"]["children"]
    their_key = keys.issue_key(store, user_id=users["alpha"].user_id, kind="sandbox", products=[theirs], actor="t")
    before = row_counts(store)
    revoke = ask(site, "beta", "pt-key-message.children", {"pt-revoke.n_clicks": 1, "pt-key.value": their_key.key_id})
    assert revoke["pt-key-message"]["children"] == "no such key"
    assert row_counts(store) == before
    assert keys.stored_key(store, their_key.token).revoked_at is None
    after = products.get_product(store, theirs)
    assert (after.title, after.status, after.version) == (alpha["product"].title, "listed", alpha["product"].version)
    # what beta's portal shows is beta's alone
    portal = _portal(site, "beta")
    shown = _text(portal["pt-products"]["children"]) + _text(portal["pt-keys"]["children"])
    assert "beta-wind" in shown and "alpha-wind" not in _text(portal["pt-products"]["children"])
    assert their_key.key_id not in shown and alpha["key"].key_id not in shown
    assert {o["value"] for o in portal["pt-product"]["options"]} == {"__new__", world["beta"]["product"].product_id}
    usage = ask(site, "beta", "pt-usage-chart.figure", {"pt-usage-days.value": 366})
    assert all(t["name"] == "beta-wind" for t in usage["pt-usage-chart"]["figure"]["data"])
    statement = _text(ask(site, "beta", "pt-statement.children",
                          {"pt-month.value": "2026-03"})["pt-statement"]["children"])
    assert "beta-wind" in statement and "alpha-wind" not in statement
    csv = ask(site, "beta", "pt-statement-download.data", {"pt-statement-csv.n_clicks": 1, "pt-month.value": "2026-03"})
    assert world["beta"]["partner"].partner_id in csv["pt-statement-download"]["data"]["content"]
    assert alpha["partner"].partner_id not in csv["pt-statement-download"]["data"]["content"]


def test_admin_lists_delists_and_sees_revenue(site, world):
    _, store, _, _ = site
    product_id = world["beta"]["product"].product_id
    delisted = ask(site, "admin", "am-product-message.children",
                   {"am-delist.n_clicks": 1, "am-product.value": product_id}, changed="am-delist.n_clicks")
    assert delisted["am-product-message"]["children"] == "beta-wind is delisted."
    assert "Beta wind output" not in _search(site)
    relisted = ask(site, "admin", "am-product-message.children",
                   {"am-list.n_clicks": 1, "am-product.value": product_id}, changed="am-list.n_clicks")
    assert relisted["am-product-message"]["children"] == "beta-wind is listed."
    unknown = ask(site, "admin", "am-product-message.children",
                  {"am-list.n_clicks": 1, "am-product.value": "nope"}, changed="am-list.n_clicks")
    assert unknown["am-product-message"]["children"] == "no such product"
    from engine.marketplace import views

    listed = views.all_products(store).set_index("slug")
    assert not listed.loc["beta-wind", "live"] and listed.loc["beta-wind", "version"] == 1
    shown = ask(site, "admin", "am-products.children", {"am-changed.data": None})["am-products"]["children"]
    row = next(r for r in shown["props"]["children"][1]["props"]["children"] if "beta-wind" in _text(r))
    assert "v1" in _text(row)
    revenue = ask(site, "admin", "am-revenue.children", {"am-changed.data": None})
    assert revenue["am-revenue-chart"]["figure"]["data"]
    csv = ask(site, "admin", "am-revenue-download.data", {"am-revenue-csv.n_clicks": 1})
    lines = csv["am-revenue-download"]["data"]["content"].splitlines()
    assert lines[0] == ("month,currency,partner_sales,paid_to_partners,platform_share_30,platform_products,"
                        "platform_total")
    assert len(lines) == 13


def test_platform_revenue_sums_the_partners_statements(site, world):
    from engine.marketplace import views

    _, store, _, _ = site
    found = views.platform_revenue(store, 12, until=datetime(2026, 4, 15, tzinfo=UTC))
    assert found.problems == ()
    # each month is the sum of the statements the partners see, month by month
    owners = [p.partner_id for p in partners.list_partners(store)]
    for row in found.months[-3:]:  # February to April: before, with and after the usage
        made = [partner_statement(store, owner, row.month) for owner in owners]
        assert row.partner_sales == sum((m.gross for m in made), Decimal(0))
        assert row.platform_share == sum((m.platform_share for m in made), Decimal(0))
        assert row.platform_products == partner_statement(store, "platform", row.month).gross
    march = next(r for r in found.months if r.month == "2026-03")
    # alpha and beta: three calls at 0.005 each → gross 0.02, partner 0.01, platform 0.01 each
    assert (march.partner_sales, march.paid_to_partners, march.platform_share) == (Decimal("0.04"), Decimal("0.02"),
                                                                                   Decimal("0.02"))
    assert march.platform_total == Decimal("0.02")


def test_revenue_to_date_is_the_months_statements_by_currency(site, world):
    """The /metrics figure c254_marketplace_revenue_month_to_date: the month so far, as platform_revenue sums it."""
    from engine.marketplace import views

    _, store, _, _ = site
    march = views.revenue_to_date(store, until=datetime(2026, 3, 20, tzinfo=UTC))
    assert march == {("partner_sales", "USD"): Decimal("0.04"), ("paid_to_partners", "USD"): Decimal("0.02"),
                     ("platform_share", "USD"): Decimal("0.02")}  # the platform lists no product of its own here
    april = views.revenue_to_date(store, until=datetime(2026, 4, 2, tzinfo=UTC))
    assert set(april.values()) == {Decimal("0.00")}


#: Values every input of these pages must survive (the page's own message, never a 500, nothing stored).
HOSTILE = ["NSW1' OR 1=1--", "x" * 100_000, {"$gt": ""}]
#: Starting values under which no action can succeed (delta has no partner record; its registration's email
#: is bad; the buyer's slug and the admin's ids name nothing), so that each hostile value is what is judged.
HOSTILE_BASE = {
    "delta": {"pt-changed.data": None, "pt-organisation.value": "Delta Data", "pt-contact.value": "not-an-email",
              "pt-payout.value": "GB00DELTA0001", "pt-product.value": "__new__", "pt-slug.value": "delta-one",
              "pt-title.value": "Delta one", "pt-description.value": "", "pt-markets.value": "NEM",
              "pt-category.value": "prices", "pt-frequency.value": "hourly", "pt-tags.value": "",
              "pt-schema.value": "time, datetime", "pt-price-kind.value": "per_call", "pt-price.value": "0.01",
              "pt-upload.contents": _csv_upload(CSV), "pt-upload.filename": "a.csv", "pt-key.value": "k",
              "pt-usage-days.value": 30, "pt-month.value": "2026-03"},
    "buyer": {"mk-search.value": "", "mk-market.value": None, "mk-category.value": None, "mk-price.value": None,
              "mk-frequency.value": None, "mk-product.data": "no-such-product", "mk-subscribed.data": None},
    "admin": {"am-changed.data": None, "am-partner.value": "nobody", "am-product.value": "nothing"},
}


def test_every_marketplace_callback_survives_hostile_values(site, world):
    dash_app, store, _, _ = site
    before = row_counts(store)
    tried = 0
    for who, base in HOSTILE_BASE.items():
        module = {"delta": "callbacks.partner", "buyer": "callbacks.marketplace",
                  "admin": "callbacks.admin_marketplace"}[who]
        for key in [k for k, spec in dash_app.callback_map.items()
                    if getattr(spec.get("callback"), "__module__", "") == module]:
            spec = dash_app.callback_map[key]
            for dep in spec["inputs"] + spec["state"]:
                field = f"{dep['id']}.{dep['property']}"
                if field.endswith("n_clicks"):
                    continue
                for value in HOSTILE:
                    answer = post_callback(site[3][who], dash_app, key, {**base, field: value},
                                           changed=f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}")
                    body = assert_answered(answer, f"{key} {field}={str(value)[:30]!r}")
                    assert len(str(body)) < 60_000, f"{key} {field}: the answer repeats the value"
                    tried += 1
    assert tried > 30 * len(HOSTILE)
    assert row_counts(store) == before


def _page(site, page: int | None, changed: str = "mk-pager.active_page", **values) -> dict:
    sent = {"mk-search.value": "zephyr", "mk-pager.active_page": page,
            **{f"mk-{k}.value": v for k, v in values.items()}}
    return ask(site, "buyer", "mk-results.children", sent, changed=changed)


def test_the_catalog_shows_one_page_of_cards_with_a_pager(site, world):
    _, store, _, _ = site
    owner = world["alpha"]["partner"].partner_id
    # 30 matching products of an active partner, 2 of them under another category, and a draft and a suspended
    # partner's product that match but are not on sale (and so not counted)
    for i in range(30):
        _listed(store, owner, f"zephyr-{i:02d}", "free", "0", title=f"Zephyr gusts {i:02d}",
                category="weather" if i < 2 else "generation")
    products.create_product(store, editor=owner, actor="t", slug="zephyr-draft", title="Zephyr draft",
                            description="", markets=["NEM"], category="generation", update_frequency="hourly",
                            columns=[{"name": "time", "type": "datetime"}, {"name": "v", "type": "float"}])
    suspended = partners.register_partner(store, organisation="Zephyr Suspended", contact_email="z@mk.example",
                                          payout_reference="GB00ZEPH0001", user_id="zephyr-owner", actor="t")
    partners.set_status(store, suspended.partner_id, "active", "admin")
    _listed(store, suspended.partner_id, "zephyr-gone", "free", "0", title="Zephyr gusts gone")
    partners.set_status(store, suspended.partner_id, "suspended", "admin")

    first = _page(site, None, changed="mk-search.value")
    assert _text(first["mk-results"]["children"]).startswith("1–24 of 30 products")
    assert (first["mk-pager"]["max_value"], first["mk-pager"]["active_page"]) == (2, 1)
    assert first["mk-pager-box"]["style"]["display"] == "flex"
    shown = _text(first["mk-results"]["children"])
    assert "Zephyr gusts 00" in shown and "Zephyr gusts 23" in shown and "Zephyr gusts 24" not in shown
    second = _page(site, 2)
    shown = _text(second["mk-results"]["children"])
    assert shown.startswith("25–30 of 30 products") and second["mk-pager"]["active_page"] == 2
    assert "Zephyr gusts 24" in shown and "Zephyr gusts 29" in shown and "Zephyr gusts 23" not in shown
    assert "gone" not in shown and "draft" not in shown
    # a page past the last shows the last; a new search or filter starts again at page 1
    assert _page(site, 9)["mk-pager"]["active_page"] == 2
    narrowed = _page(site, 2, changed="mk-category.value", category="weather")
    assert _text(narrowed["mk-results"]["children"]).startswith("2 products")
    assert narrowed["mk-pager"]["active_page"] == 1 and narrowed["mk-pager-box"]["style"]["display"] == "none"


def test_the_data_column_says_live_uploaded_version_or_none_yet():
    from components.marketplace import data_label

    assert data_label(0, live=True) == "live"  # the platform's own: a query over the store, never uploaded
    assert data_label(3, live=False) == "v3"
    assert data_label(0, live=False) == "none yet"


def test_update_frequencies_read_as_phrases():
    from components.marketplace import updated
    from engine.marketplace.products import FREQUENCIES

    assert [updated(f) for f in FREQUENCIES] == ["updated every 5 minutes", "updated hourly", "updated daily",
                                                 "updated weekly", "updated monthly", "updated irregularly"]


def test_one_day_of_calls_is_drawn_on_the_axis_of_the_days_asked_for_with_its_product_named():
    one_day = pd.DataFrame({"day": [pd.Timestamp("2026-12-06", tz="UTC")], "product": ["alpha-wind"], "calls": [7],
                            "billable": [7], "rows": [70]})
    figure = usage_figure(one_day, 30, now=pd.Timestamp("2026-12-07 15:00", tz="UTC"))
    assert figure["data"][0]["width"] == 0.8 * 86_400_000  # most of a day wide, not Plotly's lone millisecond
    layout = figure["layout"]
    first, last = (pd.Timestamp(x) for x in layout["xaxis"]["range"])
    assert layout["xaxis"]["type"] == "date"
    assert (first, last) == (pd.Timestamp("2026-11-07 12:00"), pd.Timestamp("2026-12-07 12:00"))  # 30 days
    assert layout["showlegend"] is True
    week = usage_figure(one_day, 7, now=pd.Timestamp("2026-12-07", tz="UTC"))["layout"]["xaxis"]
    assert week["dtick"] == 86_400_000  # a tick a day, not hours
