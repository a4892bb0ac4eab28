"""Catalog callbacks: the search and filters answer cards; a product's page shows its schema, price and live
sample, issues a sandbox key, subscribes and then issues a production key.

Who asks is read from the signed-in session (``signed_in``), never from a form value: keys and subscriptions
are the account's own."""
from __future__ import annotations

from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from flask import request
from flask_login import current_user

from app.services import services
from components import marketplace as mc
from engine.marketplace import views
from engine.marketplace.partners import MarketplaceError
from engine.marketplace.serving import product_data_path


def signed_in() -> tuple[str, str]:
    """(user_id, email) of the signed-in account; ("", "local") when sign-in is off (local mode has no
    account: it may browse, not hold keys or a partner record)."""
    if current_user and current_user.is_authenticated:
        return current_user.user.user_id, current_user.user.email
    return "", "local"


def _text(value: object, longest: int = 200) -> str | None:
    return value if isinstance(value, str) and value and len(value) <= longest else None


@callback(Output("mk-results", "children"), Output("mk-pager", "max_value"), Output("mk-pager", "active_page"),
          Output("mk-pager-box", "style"),
          Input("mk-search", "value"), Input("mk-market", "value"), Input("mk-category", "value"),
          Input("mk-price", "value"), Input("mk-frequency", "value"), Input("mk-pager", "active_page"))
def search(text, market, category, price, frequency, page=1):
    hidden = {"display": "none"}
    if text is not None and not isinstance(text, str):
        return html.Div("The search is text.", className="text-danger"), 1, 1, hidden
    # a new search or filter starts at its first page; only the pager itself turns pages
    if ctx.triggered_id != "mk-pager" or isinstance(page, bool) or not isinstance(page, int) or page < 1:
        page = 1
    try:
        results = services().cached(views.catalog_cards, views.catalog_version(services().ready_store()),
                                    (text or "").strip(), _text(market, 20), _text(category),
                                    _text(price), _text(frequency), page)
    except MarketplaceError as exc:
        return html.Div(str(exc), className="text-danger", id="mk-search-error"), 1, 1, hidden
    return (mc.catalog_grid(results), results.pages, results.page,
            {"display": "flex", "justifyContent": "center"} if results.pages > 1 else hidden)


@callback(output={"detail": Output("mk-detail", "children"), "chart": Output("mk-sample-chart", "figure"),
                  "table": Output("mk-sample", "children"), "production_off": Output("mk-production", "disabled"),
                  "note": Output("mk-sample-note", "children"), "no_csv": Output("mk-sample-csv", "disabled"),
                  "body": Output("mk-product-body", "style")},
          inputs={"slug": Input("mk-product", "data"), "_subscribed": Input("mk-subscribed", "data")})
def product(slug, _subscribed):
    try:
        page = services().cached(views.product_page, views.catalog_version(services().ready_store()),
                                 slug if isinstance(slug, str) else "")
    except MarketplaceError as exc:
        return {"detail": html.Div([html.H4("Not in the catalog"), html.P(str(exc), id="mk-not-found"),
                                    dcc.Link("Browse the catalog", href="/marketplace")]),
                "chart": mc.empty_figure("No product"), "table": None, "production_off": True, "note": None,
                "no_csv": True, "body": {"display": "none"}}
    p = page.product
    units = {c.name: c.unit for c in p.columns}
    numeric = [c.name for c in p.columns if c.type in ("float", "integer")]
    note = {"live": "The newest rows the sandbox window holds (UTC), read from the store now.",
            "declared": "Sample rows the provider declared: no data is stored yet.",
            "none": "No data stored yet."}[page.sample_source]
    detail = html.Div([
        html.Div([mc.badge(p.category), *[mc.badge(m) for m in p.markets]], className="mb-1"),
        html.H4(p.title, id="mk-title", className="mb-1"),
        html.Div(f"by {page.provider} · {mc.updated(p.update_frequency)} · slug {p.slug}",
                 className="text-muted small"),
        html.P(p.description, className="mt-2", style={"whiteSpace": "pre-wrap"}),
        html.Div(["Price: ", html.Span(page.price, id="mk-price-plan", className="fw-semibold")], className="mb-2"),
        html.Div(f"Tags: {', '.join(p.tags)}", className="small text-muted mb-2") if p.tags else None,
        html.H5("Schema", className="mt-3"),
        mc.schema_table(p.columns),
    ])
    # the account's own state, changed by this page's buttons: read fresh, not from the cache
    subscribed = views.is_subscribed(services().ready_store(), signed_in()[0], p.slug)
    return {"detail": detail,
            "chart": mc.sample_figure(page.sample, page.time_column, page.value_columns, units, f"{p.title}: sample",
                                      page.group_column),
            "table": mc.sample_table(page.sample, numeric, views.SAMPLE_TABLE_ROWS) if not page.sample.empty else None,
            "production_off": not subscribed, "note": note, "no_csv": page.sample.empty, "body": {}}


@callback(output=Output("mk-sample-download", "data"), inputs={"_n": Input("mk-sample-csv", "n_clicks")},
          state={"slug": State("mk-product", "data")}, prevent_initial_call=True)
def download_sample(_n, slug):
    """The sample shown, as the product API's CSV writes it (times in UTC)."""
    try:
        page = services().cached(views.product_page, views.catalog_version(services().ready_store()),
                                 slug if isinstance(slug, str) else "")
    except MarketplaceError:
        return no_update
    if page.sample.empty:
        return no_update
    return dcc.send_string(views.sample_csv(page), f"{page.product.slug}_sample_UTC.csv", type="text/csv")


def _curl(token: str, product: str) -> str:
    """The command that reads the product with the new key: its sample window as CSV (no start or end given)."""
    return (f'curl -H "Authorization: Bearer {token}" '
            f'"{request.host_url.rstrip("/")}{product_data_path(product)}?format=csv"')


@callback(output={"message": Output("mk-key-message", "children"), "open": Output("mk-key-message", "is_open"),
                  "colour": Output("mk-key-message", "color"), "subscribed": Output("mk-subscribed", "data")},
          inputs={"_sandbox": Input("mk-sandbox", "n_clicks"), "_subscribe": Input("mk-subscribe", "n_clicks"),
                  "_production": Input("mk-production", "n_clicks")},
          state={"slug": State("mk-product", "data")}, prevent_initial_call=True)
def act(_sandbox, _subscribe, _production, slug):
    """Keys and subscriptions change the store: they are not cached, and they are the signed-in account's."""
    user_id, actor = signed_in()
    store = services().ready_store()
    slug = slug if isinstance(slug, str) else ""
    try:
        if ctx.triggered_id == "mk-sandbox":
            key = views.sandbox_key(store, user_id=user_id, actor=actor, slug=slug)
            detail = (f"Entitled to {key.product} only, within its sample window; {key.quota_calls:,} calls, until "
                      f"{key.expires_at:%Y-%m-%d %H:%M} UTC. Send it as Authorization: Bearer <key> to "
                      f"{product_data_path(key.product)}.")
            return {"message": mc.key_notice(key.token, "sandbox", detail, "mk-new-key", _curl(key.token, key.product)),
                    "open": True,
                    "colour": "info", "subscribed": no_update}
        if ctx.triggered_id == "mk-subscribe":
            subscription = views.subscribe(store, user_id=user_id, actor=actor, slug=slug)
            return {"message": f"Subscribed to {slug}: you may now get a production key.", "open": True,
                    "colour": "success", "subscribed": subscription}
        if ctx.triggered_id == "mk-production":
            key = views.production_key(store, user_id=user_id, actor=actor, slug=slug)
            detail = f"Entitled to {key.product}, the whole history, billed by its price plan."
            return {"message": mc.key_notice(key.token, "production", detail, "mk-new-key",
                                             _curl(key.token, key.product)), "open": True,
                    "colour": "success", "subscribed": no_update}
    except MarketplaceError as exc:
        return {"message": str(exc), "open": True, "colour": "warning", "subscribed": no_update}
    return {"message": no_update, "open": no_update, "colour": no_update, "subscribed": no_update}
