"""The API reference page (/api/v1/docs): made from the OpenAPI description, so every operation, parameter and
answer the description holds is on the page; public, as the JSON is; whatever the description says is escaped;
each operation's curl line asks for what the operation requires."""
from __future__ import annotations

import re
from html import unescape

from app import api_docs
from app.marketplace_api import DOCS_PATH, OPENAPI_PATH, openapi_document


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
