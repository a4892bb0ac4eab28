"""The API reference as a page a person reads: the OpenAPI document (``/api/v1/openapi.json``) rendered to HTML,
operation by operation, with its parameters, body, answers, the credentials it takes and a ``curl`` line to
start from. Made from the document itself, so the page and the description cannot disagree; served by the app
(no script or stylesheet from elsewhere: the app's own Bootstrap), so it reads the same on a machine without
internet."""
from __future__ import annotations

from typing import Any

from markupsafe import Markup

#: How each way of proving who calls reads in a curl line.
_CREDENTIALS = {"apiKey": '-H "Authorization: Bearer $C254_API_KEY"',
                "session": '-b "session=$C254_SESSION"'}
#: What to put in the curl line's variable for each way.
_WHERE_FROM = {"apiKey": "C254_API_KEY: a key from the marketplace (a product's page, or the partner portal)",
               "session": "C254_SESSION: the value of the session cookie of a browser signed in to the app"}
_METHOD_COLOUR = {"get": "primary", "post": "success", "put": "warning", "delete": "danger"}


def _schema_text(schema: dict[str, Any]) -> Markup:
    kind = schema.get("format") or schema.get("type", "")
    if "enum" in schema:
        return Markup("one of ") + Markup(", ").join(Markup("<code>{}</code>").format(v) for v in schema["enum"])
    return Markup("<span class='text-muted'>{}</span>").format(kind)


def _parameters(parameters: list[dict[str, Any]]) -> Markup:
    if not parameters:
        return Markup("")
    rows = Markup("").join(
        Markup("<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>").format(
            p["name"], Markup(" <span class='badge text-bg-secondary'>required</span>") if p.get("required") else "",
            p["in"], _schema_text(p.get("schema", {})), p.get("description", ""))
        for p in parameters)
    return Markup("<h6 class='mt-3'>Parameters</h6><table class='table table-sm'><thead><tr><th>Name</th>"
                  "<th>In</th><th>Values</th><th>Meaning</th></tr></thead><tbody>{}</tbody></table>").format(rows)


def _body(operation: dict[str, Any]) -> Markup:
    body = operation.get("requestBody")
    if not body:
        return Markup("")
    kinds = Markup(", ").join(Markup("<code>{}</code>").format(k) for k in body.get("content", {}))
    return Markup("<h6 class='mt-3'>Body{}</h6><p>{}</p>").format(
        " (required)" if body.get("required") else "", kinds)


def _responses(responses: dict[str, Any]) -> Markup:
    rows = Markup("").join(
        Markup("<tr><td><code>{}</code></td><td>{}</td></tr>").format(code, answer.get("description", ""))
        for code, answer in sorted(responses.items()))
    return Markup("<h6 class='mt-3'>Answers</h6><table class='table table-sm'><tbody>{}</tbody></table>").format(rows)


def _credentials(operation: dict[str, Any], schemes: dict[str, Any]) -> Markup:
    names = [name for requirement in operation.get("security", []) for name in requirement]
    if not names:
        return Markup("<p class='small text-muted'>Public: no credentials.</p>")
    shown = Markup(" or ").join(Markup("<a href='#auth-{}'>{}</a>").format(n, schemes.get(n, {}).get(
        "description", n)) for n in names)
    return Markup("<p class='small'>Credentials: {}</p>").format(shown)


def curl_line(base_url: str, path: str, method: str, operation: dict[str, Any]) -> str:
    """A curl command for the operation with its required parameters as placeholders (``<name>``), credentials
    as the first scheme it takes."""
    url = base_url.rstrip("/") + path.replace("{", "<").replace("}", ">")
    required = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")]
    if required:
        url += "?" + "&".join(f"{name}=<{name}>" for name in required)
    parts = ["curl"] + ([f"-X {method.upper()}"] if method != "get" else [])
    security = [name for requirement in operation.get("security", []) for name in requirement]
    if security:
        parts.append(_CREDENTIALS.get(security[0], ""))
    if operation.get("requestBody"):
        parts.append('-H "Content-Type: text/csv" --data-binary @data.csv')
    return " ".join([*parts, f'"{url}"'])


def _anchor(method: str, path: str) -> str:
    return f"{method}-{path.strip('/').replace('/', '-').replace('{', '').replace('}', '')}"


def _operation(base_url: str, path: str, method: str, operation: dict[str, Any], schemes: dict[str, Any]) -> Markup:
    anchor = _anchor(method, path)
    return Markup(
        "<section class='card mb-3' id='{anchor}'><div class='card-header'><span class='badge text-bg-{colour} "
        "me-2'>{method}</span><code class='fs-6'>{path}</code> <span class='ms-2'>{summary}</span></div>"
        "<div class='card-body'>{description}{credentials}{parameters}{body}{responses}"
        "<h6 class='mt-3'>Try it</h6><pre class='bg-light p-2 border rounded' style='white-space: pre-wrap; "
        "word-break: break-all'><code>{curl}</code></pre></div>"
        "</section>").format(
        anchor=anchor, colour=_METHOD_COLOUR.get(method, "secondary"), method=method.upper(), path=path,
        summary=operation.get("summary", ""),
        description=Markup("<p>{}</p>").format(operation["description"]) if operation.get("description") else "",
        credentials=_credentials(operation, schemes), parameters=_parameters(operation.get("parameters", [])),
        body=_body(operation), responses=_responses(operation.get("responses", {})),
        curl=curl_line(base_url, path, method, operation))


def render(document: dict[str, Any], base_url: str, stylesheet: str) -> str:
    """The whole page for ``document`` (an OpenAPI 3 dict), its curl lines aimed at ``base_url``."""
    info = document.get("info", {})
    schemes = document.get("components", {}).get("securitySchemes", {})
    operations = [(path, method, op) for path, ops in document.get("paths", {}).items() for method, op in ops.items()]
    contents = Markup("").join(
        Markup("<li><a href='#{}'><code>{} {}</code></a> {}</li>").format(_anchor(m, p), m.upper(), p,
                                                                          op.get("summary", ""))
        for p, m, op in operations)
    auth = Markup("").join(
        Markup("<dt id='auth-{}'><code>{}</code></dt><dd>{}<br><code class='small'>{}</code> "
               "<span class='small text-muted'>({})</span></dd>").format(
            name, name, scheme.get("description", ""), _CREDENTIALS.get(name, ""), _WHERE_FROM.get(name, ""))
        for name, scheme in schemes.items())
    body = Markup("").join(_operation(base_url, p, m, op, schemes) for p, m, op in operations)
    page = Markup(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        "content='width=device-width, initial-scale=1'><title>{title} · reference</title>"
        "<link rel='stylesheet' href='{css}'></head><body class='bg-light'><main class='container my-4'>"
        "<h1 class='h3'>{title} <span class='badge text-bg-secondary align-middle'>v{version}</span></h1>"
        "<p>{description}</p><p class='small'>Machine-readable: <a href='{openapi}'>OpenAPI 3 JSON</a>. Times are "
        "ISO 8601; each answer says whether its times are in market time or UTC. An error answers JSON "
        "<code>{{\"error\": …}}</code> naming what is wrong.</p>"
        "<h2 class='h5 mt-4'>Operations</h2><ul>{contents}</ul>"
        "<h2 class='h5 mt-4'>Credentials</h2><dl>{auth}</dl>"
        "<h2 class='h5 mt-4'>Reference</h2>{body}</main></body></html>").format(
        title=info.get("title", "API"), version=info.get("version", ""), description=info.get("description", ""),
        css=stylesheet, openapi=_openapi_path(document), contents=contents, auth=auth, body=body)
    return str(page)


def _openapi_path(document: dict[str, Any]) -> str:
    return next((p for p in document.get("paths", {}) if p.endswith("/openapi.json")), "openapi.json")
