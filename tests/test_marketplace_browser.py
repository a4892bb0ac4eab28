"""The marketplace in headless Chromium: a partner signs in, creates a product in the portal, prices and lists it
and uploads its data; a buyer finds it in the catalog, opens its page (the uploaded rows in the sample) and gets
a sandbox key, shown once, that the store holds for that product and that buyer."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from app.services import services
from engine import accounts
from engine.marketplace import keys, partners, products
from tests.support.signin import PASSWORD
from tests.test_signin_browser import _sign_in, _sign_out

pytestmark = pytest.mark.browser
CSV = "time,output_mw\n2026-03-01T00:00:00Z,101.5\n2026-03-01T01:00:00Z,99.25\n2026-03-01T02:00:00Z,97\n"


def _wait_for(predicate, timeout=20.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _type(dash_duo, ident: str, text: str) -> None:
    field = dash_duo.wait_for_element(f"#{ident}", timeout=10)
    field.clear()
    field.send_keys(text)


def test_a_partner_lists_and_uploads_a_buyer_finds_it_and_gets_a_sandbox_key(dash_duo, make_app, tmp_path):
    app = make_app(auth=True)
    store = services(app.server).ready_store()
    seller = accounts.create_user(store, "seller@mk.example", "partner", PASSWORD)
    buyer = accounts.create_user(store, "buyer@mk.example", "analyst", PASSWORD)
    partner = partners.register_partner(store, organisation="Breeze Data", contact_email="seller@mk.example",
                                        payout_reference="GB00BREEZE0001", user_id=seller.user_id, actor="t")
    partners.set_status(store, partner.partner_id, "active", "admin")
    dash_duo.start_server(app, navigate=False)

    _sign_in(dash_duo, "seller@mk.example", PASSWORD)
    dash_duo.wait_for_element("#shell-account", timeout=10)
    dash_duo.driver.get(f"{dash_duo.server.url}/partner")
    dash_duo.wait_for_contains_text("#pt-partner-status", "Breeze Data", timeout=15)
    _type(dash_duo, "pt-slug", "breeze-wind-output")
    _type(dash_duo, "pt-title", "Breeze wind farm output")
    _type(dash_duo, "pt-markets", "NEM")
    _type(dash_duo, "pt-description", "Hourly metered output of the Breeze wind farms.")
    _type(dash_duo, "pt-schema", "time, datetime, UTC\noutput_mw, float, MW")
    dash_duo.find_element("#pt-save").click()
    dash_duo.wait_for_contains_text("#pt-product-message", "Saved breeze-wind-output (draft)", timeout=15)
    _type(dash_duo, "pt-price", "0.01")
    dash_duo.find_element("#pt-set-price").click()
    dash_duo.wait_for_contains_text("#pt-product-message", "0.01 USD per call", timeout=15)
    dash_duo.find_element("#pt-list").click()
    dash_duo.wait_for_contains_text("#pt-product-message", "breeze-wind-output is listed", timeout=15)
    # a file larger than the box takes is not sent, and the page says so
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 1_300_000)
    dash_duo.driver.find_element(By.CSS_SELECTOR, "#pt-upload input[type=file]").send_keys(str(big))
    dash_duo.wait_for_contains_text("#pt-upload-message", "big.csv is 1.2 MB, larger than the 720 KB", timeout=15)
    assert products.by_slug(store, "breeze-wind-output").version == 0
    upload = tmp_path / "breeze.csv"
    upload.write_text(CSV)
    dash_duo.driver.find_element(By.CSS_SELECTOR, "#pt-upload input[type=file]").send_keys(str(upload))
    dash_duo.wait_for_contains_text("#pt-upload-message", "3 rows stored as version 1", timeout=15)
    dash_duo.wait_for_contains_text("#pt-products-table", "v1", timeout=15)
    product = products.by_slug(store, "breeze-wind-output")
    assert (product.owner, product.status, product.version) == (partner.partner_id, "listed", 1)
    _sign_out(dash_duo)

    _sign_in(dash_duo, "buyer@mk.example", PASSWORD)
    dash_duo.wait_for_element("#shell-account", timeout=10)
    dash_duo.driver.get(f"{dash_duo.server.url}/marketplace")
    _type(dash_duo, "mk-search", "breeze wind")
    dash_duo.wait_for_contains_text("#mk-results", "Breeze wind farm output", timeout=15)
    dash_duo.wait_for_contains_text("#mk-results", "0.01 USD per call", timeout=5)
    dash_duo.driver.find_element(By.LINK_TEXT, "Breeze wind farm output").click()
    dash_duo.wait_for_contains_text("#mk-title", "Breeze wind farm output", timeout=15)
    dash_duo.wait_for_contains_text("#mk-sample-table", "101.5", timeout=15)
    dash_duo.find_element("#mk-sandbox").click()
    token = _wait_for(lambda: (dash_duo.driver.find_elements(By.ID, "mk-new-key") or [None])[0], what="the key")
    text = _wait_for(lambda: token.text.strip(), what="the key's text")
    assert text.startswith("c254_sbx_")
    assert "shown this once" in dash_duo.find_element("#mk-key-message").text
    stored = keys.stored_key(store, text)
    assert stored.owner == buyer.user_id and stored.products == {product.product_id}
    dash_duo.driver.save_screenshot(str(tmp_path / "marketplace-product.png"))
    assert dash_duo.get_logs() == []
