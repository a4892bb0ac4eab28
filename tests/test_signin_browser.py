"""Signing in through the /login form in headless Chromium, as each role: each sees exactly its navigation,
and signs out with the navigation bar's button."""
from __future__ import annotations

import contextlib
import time

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from app.services import services
from engine import accounts
from tests.support.signin import NAVIGATION, PASSWORD, email_for

pytestmark = pytest.mark.browser

def _sign_in(dash_duo, email: str, password: str) -> None:
    dash_duo.driver.get(f"{dash_duo.server.url}/login")
    dash_duo.wait_for_element("#email", timeout=10).send_keys(email)
    dash_duo.find_element("#password").send_keys(password)
    dash_duo.find_element("#login-submit").click()


def _shown_navigation(dash_duo) -> set[str]:
    dash_duo.wait_for_element("#shell-nav", timeout=10)
    links = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#shell-nav [id^='nav-']")
    return {link.get_attribute("id") for link in links}


def _sign_out(dash_duo) -> None:
    """Press "Sign out" and wait for the signed-out page (at /logout). A press while a busy machine is still
    rendering the page can be lost with the button it hit: pressed again every 5 s, up to 20 s (whether the
    session ended is checked by the caller, which asks for / and must land on the sign-in page)."""
    deadline = time.monotonic() + 20
    while "/logout" not in dash_duo.driver.current_url:
        assert time.monotonic() < deadline, "signing out did not reach the signed-out page"
        # re-rendered under the click, or already leaving the page: look again
        with contextlib.suppress(WebDriverException):
            dash_duo.driver.find_element(By.ID, "shell-sign-out").click()
        pressed = time.monotonic()
        while "/logout" not in dash_duo.driver.current_url and time.monotonic() - pressed < 5:
            time.sleep(0.1)
    dash_duo.wait_for_element("a[href='/login']", timeout=10)


def test_each_role_signs_in_through_the_form_and_sees_its_navigation(dash_duo, make_app, tmp_path):
    """Two roles here, one after the other in the same browser (each role's navigation, as the server sends it,
    is tested for every role in tests/test_auth.py)."""
    app = make_app(auth=True, demo=True)
    store = services(app.server).ready_store()
    roles = ("trader", "partner")
    for role in roles:
        accounts.create_user(store, email_for(role), role, PASSWORD)
    dash_duo.start_server(app, navigate=False)
    for role in roles:
        expected = NAVIGATION[role]
        _sign_in(dash_duo, email_for(role), PASSWORD)
        dash_duo.wait_for_contains_text("#shell-account", email_for(role), timeout=10)
        assert _shown_navigation(dash_duo) == expected, f"navigation shown to {role}"
        if role == "trader":
            dash_duo.driver.save_screenshot(str(tmp_path / "signed-in-trader.png"))
        _sign_out(dash_duo)
        dash_duo.driver.get(f"{dash_duo.server.url}/")
        assert "/login" in dash_duo.driver.current_url, f"after {role} signed out, / did not go to sign-in"


def test_a_wrong_password_shows_the_message_and_keeps_the_form(dash_duo, make_app):
    app = make_app(auth=True)
    accounts.create_user(services(app.server).ready_store(), email_for("analyst"), "analyst", PASSWORD)
    dash_duo.start_server(app, navigate=False)
    _sign_in(dash_duo, email_for("analyst"), "not-the-password")
    assert dash_duo.wait_for_element("#page-message", timeout=10).text == "Wrong email or password."
    assert dash_duo.find_element("#email").get_attribute("value") == email_for("analyst")


def test_a_page_asked_for_before_sign_in_opens_after_it(dash_duo, make_app):
    app = make_app(auth=True, demo=True)
    accounts.create_user(services(app.server).ready_store(), email_for("admin"), "admin", PASSWORD)
    dash_duo.start_server(app, navigate=False)
    dash_duo.driver.get(f"{dash_duo.server.url}/admin")
    dash_duo.wait_for_element("#email", timeout=10).send_keys(email_for("admin"))
    dash_duo.find_element("#password").send_keys(PASSWORD)
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#bf-start", timeout=15)
    assert dash_duo.driver.current_url == f"{dash_duo.server.url}/admin"


def test_a_page_open_when_the_session_ends_goes_back_to_sign_in(dash_duo, make_app):
    """The account is disabled while its page is open: the next callback answers 401 and the page goes to
    /login, to come back here afterwards."""
    app = make_app(auth=True, demo=True)
    store = services(app.server).ready_store()
    accounts.create_user(store, email_for("analyst"), "analyst", PASSWORD)
    accounts.create_user(store, email_for("admin"), "admin", PASSWORD)  # the last admin may not be disabled
    dash_duo.start_server(app, navigate=False)
    _sign_in(dash_duo, email_for("analyst"), PASSWORD)
    dash_duo.wait_for_element("#ov-location", timeout=15)
    accounts.disable_user(store, email_for("analyst"))
    dash_duo.select_dcc_dropdown("#ov-location", index=1)
    dash_duo.wait_for_element("#login-form", timeout=10)
    assert dash_duo.driver.current_url.endswith("/login?next=%2F")
