"""The admin page's users section and audit log in headless Chromium (local mode: the one user is admin)."""
from __future__ import annotations

import pytest

from app.factory import create_app
from app.settings import Settings
from engine import accounts

pytestmark = [pytest.mark.browser]


def _click(dash_duo, selector: str) -> None:
    """Click after scrolling the element to the middle of the window at once: the users card is below the
    fold, and Bootstrap's smooth scrolling would still be moving it when the click lands."""
    element = dash_duo.find_element(selector)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def test_an_admin_creates_a_user_changes_their_role_and_disables_them(dash_duo, store_url):
    app = create_app(Settings(store_url=store_url, scheduler=False, demo=False, auth=False))
    store = app.server.extensions["c254"].store
    dash_duo.start_server(app)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/admin")

    # the tables above the users card render after the page: wait for them, or the card moves under a click
    for table in ("#admin-jobs-table", "#admin-users-table", "#admin-audit-table"):
        dash_duo.wait_for_element(table, timeout=10)
    dash_duo.wait_for_contains_text("#admin-runs", "No job has run yet", timeout=10)  # a new store: no runs
    email = dash_duo.wait_for_element("#user-email", timeout=10)
    email.send_keys("Ann@Example.com")
    _click(dash_duo, "#user-create")
    dash_duo.wait_for_contains_text("#user-message", "Created ann@example.com as analyst", timeout=10)
    password = dash_duo.find_element("#user-password").text
    assert accounts.verify_password(store, "ann@example.com", password).role == "analyst"
    dash_duo.wait_for_contains_text("#admin-users-table", "ann@example.com", timeout=10)
    dash_duo.wait_for_contains_text("#admin-audit-table", "user created", timeout=10)

    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})",
                                   dash_duo.find_element("#user-role"))
    dash_duo.select_dcc_dropdown("#user-role", value="trader")
    _click(dash_duo, "#user-set-role")
    dash_duo.wait_for_contains_text("#user-message", "ann@example.com is now trader", timeout=10)
    _click(dash_duo, "#user-disable")
    dash_duo.wait_for_contains_text("#user-message", "ann@example.com is disabled", timeout=10)
    dash_duo.wait_for_contains_text("#admin-audit-table", "ann@example.com: analyst → trader", timeout=10)
    dash_duo.wait_for_contains_text("#admin-users-table", "disabled", timeout=10)
    assert accounts.verify_password(store, "ann@example.com", password) is None

    # a hostile address is refused with the form's own message, and nothing is written
    email.clear()
    email.send_keys("x'); DROP TABLE users; --")
    _click(dash_duo, "#user-create")
    dash_duo.wait_for_contains_text("#user-message", "Not a valid email address.", timeout=10)
    assert [u.email for u in accounts.list_users(store)] == ["ann@example.com"]
    assert dash_duo.get_logs() == [], "no errors in the browser console"
    dash_duo.driver.get("about:blank")  # the page's timers stop asking before their database goes
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
