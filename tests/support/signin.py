"""Signing in from tests: through the real /login form (CSRF token and all), as a browser would."""
from __future__ import annotations

import re

from flask.testing import FlaskClient

PASSWORD = "test-password-0123"
#: The navigation each role has, from issue 10's table (the ids the shell gives its links).
NAVIGATION = {
    "trader": {"nav-overview", "nav-nodal", "nav-forecasts", "nav-signals", "nav-marketplace"},
    "analyst": {"nav-overview", "nav-nodal", "nav-forecasts", "nav-signals", "nav-marketplace"},
    "partner": {"nav-marketplace", "nav-partner"},
    "admin": {"nav-overview", "nav-nodal", "nav-forecasts", "nav-signals", "nav-marketplace", "nav-admin"},
}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def email_for(role: str) -> str:
    return f"{role}@example.com"


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the form at ``path`` (the sign-in form, or the sign-out one at /logout)."""
    page = client.get(path)
    found = _TOKEN.search(page.get_data(as_text=True))
    assert found, f"no csrf_token field in {path} (status {page.status_code})"
    return found.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, next_path: str | None = None, **kwargs):
    """POST the sign-in form; the response (302 on success). ``kwargs`` go to the POST (e.g. environ_base)."""
    token = csrf_token(client)
    url = "/login" if next_path is None else "/login?" + _query(next_path)
    return client.post(url, data={"email": email, "password": password, "csrf_token": token}, **kwargs)


def _query(next_path: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": next_path})
