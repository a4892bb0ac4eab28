"""The API reference page (/api/v1/docs): made from the OpenAPI description, so every operation, parameter and
answer the description holds is on the page; public, as the JSON is; whatever the description says is escaped;
each operation's curl line asks for what the operation requires."""
from __future__ import annotations

import re
from html import unescape

from app import api_docs
from app.marketplace_api import DOCS_PATH, OPENAPI_PATH, openapi_document
from app.services import services
from engine import accounts
from tests.support.signin import PASSWORD, sign_in


def test_the_page_shows_every_operation_parameter_and_answer(make_app):
    app = make_app()
    answer = app.server.test_client().get(DOCS_PATH)
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    page = unescape(answer.get_data(as_text=True))
    described = app.server.test_client().get(OPENAPI_PATH).get_json()
    for path, operations in described["paths"].items():
        for method, operation in operations.items():
            assert f"{method.upper()} {path}" in page, path
            assert operation["summary"] in page
            for parameter in operation.get("parameters", []):
                assert parameter["description"] in page, (path, parameter["name"])
                for value in parameter["schema"].get("enum", []):
                    assert value in page
            for code, response in operation["responses"].items():
                assert response["description"] in page, (path, code)
    assert "/vendor/bootstrap/" in page  # the app's own stylesheet: nothing fetched from elsewhere
    assert not re.search(r"(src|href)=['\"]https?://", page)


def test_curl_lines_carry_the_required_parameters_and_credentials():
    paths = openapi_document()["paths"]
    prices = api_docs.curl_line("https://c254.example/", "/api/v1/prices", "get", paths["/api/v1/prices"]["get"])
    assert prices.startswith('curl -b "session=$C254_SESSION" ') and "#" not in prices  # one command, no comment
    assert prices.endswith('"https://c254.example/api/v1/prices?market=<market>&location=<location>&start=<start>'
                           '&end=<end>"')
    product = api_docs.curl_line("https://c254.example", "/api/v1/products/{slug}/data", "get",
                                 paths["/api/v1/products/{slug}/data"]["get"])
    assert product == ('curl -H "Authorization: Bearer $C254_API_KEY" '
                       '"https://c254.example/api/v1/products/<slug>/data"')
    upload = api_docs.curl_line("https://c254.example", "/api/v1/partner/products/{slug}/data", "post",
                                paths["/api/v1/partner/products/{slug}/data"]["post"])
    assert upload.startswith("curl -X POST -H \"Authorization: Bearer") and "--data-binary @data.csv" in upload


def test_what_the_description_says_is_escaped():
    hostile = {"info": {"title": "<script>alert(1)</script>"}, "paths": {"/x/{id}": {"get": {
        "summary": "<img src=x onerror=alert(1)>", "parameters": [
            {"name": "q\"'><b>", "in": "query", "required": True, "description": "<i>", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "<b>ok</b>"}}}}}}
    page = api_docs.render(hostile, "http://h/", "/css")
    assert "<script>" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;" in page


def test_the_marketplace_pages_link_to_it(make_app):
    import dash

    from engine.marketplace.serving import API_DOCS_PATH

    app = make_app()
    assert API_DOCS_PATH == DOCS_PATH
    for path, query in (("/marketplace", {}), ("/marketplace", {"product": "nem-sa1-5min-prices"}),
                        ("/partner", {})):
        page = next(p for p in dash.page_registry.values() if p["path"] == path)
        with app.server.test_request_context(path):
            layout = page["layout"](**query)
        assert f"href='{DOCS_PATH}'" in repr(layout), (path, query)


def test_what_the_routes_answer_a_partners_session_and_a_session_upload_without_its_token_is_described(make_app):
    """A partner's session may not read prices (its keys do), and a session's upload needs its CSRF token: both
    refusals are answers a client meets, so the description lists them."""
    app = make_app(auth=True)
    accounts.create_user(services(app.server).ready_store(), "seller@docs.example", "partner", PASSWORD)
    client = app.server.test_client()
    assert sign_in(client, "seller@docs.example").status_code == 302
    described = openapi_document()["paths"]
    for path in ("/api/v1/health", "/api/v1/prices", "/api/v1/latest"):
        answer = client.get(f"{path}?market=NEM&location=SA1&start=2026-01-01&end=2026-01-02")
        assert answer.status_code == 403, path
        assert "403" in described[path]["get"]["responses"], path
    upload = client.post("/api/v1/partner/products/some-product/data", data=b"time\n",
                         headers={"Content-Type": "text/csv", "Origin": "http://localhost"})
    assert upload.status_code == 403
    assert "CSRF" in described["/api/v1/partner/products/{slug}/data"]["post"]["responses"]["403"]["description"]
    for operations in described.values():
        for operation in operations.values():
            if operation["security"]:  # every route that reads the store or the limits may find them away
                assert "503" in operation["responses"]
