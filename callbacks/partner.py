"""Partner portal callbacks: registration, the account's own products (create, edit, price, list or delist,
upload a version), keys (revoke), usage and statements (CSV).

Every callback reads the signed-in account from the session (``signed_in``) and asks the engine for that
account's partner's things only; a product or key id sent in an input is looked up under the account, so
another partner's is "no such product" / "no such key". The portal's reads are the account's own state, which
its buttons change: they are read fresh, not from the cache (the cache follows the market series)."""
from __future__ import annotations

import base64
import binascii

from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from app.services import services
from callbacks.marketplace import signed_in
from components import marketplace as mc
from engine.marketplace import views
from engine.marketplace.partners import MarketplaceError

NEW = "__new__"
_FORM = ("slug", "title", "description", "markets", "category", "update_frequency", "tags", "schema")


def _store():
    return services().ready_store()


@callback(output={"status": Output("pt-status", "children"), "register_style": Output("pt-registration", "style"),
                  "products": Output("pt-products", "children"), "product_options": Output("pt-product", "options"),
                  "keys": Output("pt-keys", "children"), "key_options": Output("pt-key", "options"),
                  "no_revoke": Output("pt-revoke", "disabled")},
          inputs={"_changed": Input("pt-changed", "data")})
def portal(_changed):
    user_id, _ = signed_in()
    found = views.portal(_store(), user_id)
    partner = found.partner
    if partner is None:
        status = html.Div("You have not registered as a partner yet.", id="pt-partner-status")
    else:
        status = html.Div([html.Span(f"{partner.organisation} ", className="fw-semibold"), mc.badge(partner.status),
                           html.Span({"pending": "awaiting the platform's approval: your products go on sale once "
                                                 "approved.",
                                      "active": "approved: your listed products are in the catalog.",
                                      "suspended": "suspended: your products are off sale; ask the platform's "
                                                   "admin."}[partner.status], className="small text-muted")],
                          id="pt-partner-status")
    options = [{"label": "New product", "value": NEW}] + [{"label": f"{p.title} ({p.slug})", "value": p.product_id}
                                                          for p in found.products]
    live = found.keys[found.keys["revoked_at"].isna()] if len(found.keys) else found.keys
    return {"status": status, "register_style": {"display": "none"} if partner else None,
            "products": mc.my_products_table(found.products, found.prices), "product_options": options,
            "keys": mc.keys_table(found.keys),
            "key_options": [{"label": f"{k.key_id} ({k.kind}: {k.products})", "value": k.key_id}
                            for k in live.itertuples()],
            "no_revoke": live.empty}  # no live key: nothing to revoke


@callback(output={"message": Output("pt-register-message", "children"),
                  "open": Output("pt-register-message", "is_open"), "colour": Output("pt-register-message", "color"),
                  "changed": Output("pt-changed", "data", allow_duplicate=True)},
          inputs={"_n": Input("pt-register", "n_clicks")},
          state={"organisation": State("pt-organisation", "value"), "contact": State("pt-contact", "value"),
                 "payout": State("pt-payout", "value")},
          prevent_initial_call=True)
def register(_n, organisation, contact, payout):
    user_id, actor = signed_in()
    try:
        partner = views.register(_store(), user_id=user_id, actor=actor, organisation=organisation,
                                 contact_email=contact, payout_reference=payout)
    except MarketplaceError as exc:
        return {"message": str(exc), "open": True, "colour": "warning", "changed": no_update}
    return {"message": f"{partner.organisation} is registered and awaits approval.", "open": True,
            "colour": "success", "changed": partner.partner_id}


@callback(output={name: Output(f"pt-{'frequency' if name == 'update_frequency' else name}", "value")
                  for name in _FORM} | {"slug_fixed": Output("pt-slug", "disabled")},
          inputs={"product_id": Input("pt-product", "value")})
def fill_form(product_id):
    """The chosen product's fields (the account's own only); empty fields for a new product."""
    if not product_id or product_id == NEW:
        return {"slug": "", "title": "", "description": "", "markets": "", "category": "prices",
                "update_frequency": "daily", "tags": "", "schema": "", "slug_fixed": False}
    try:
        product = views.my_product(_store(), signed_in()[0], product_id)
    except MarketplaceError:
        return {**{name: no_update for name in _FORM}, "slug_fixed": no_update}
    return {"slug": product.slug, "title": product.title, "description": product.description,
            "markets": ", ".join(product.markets), "category": product.category,
            "update_frequency": product.update_frequency, "tags": ", ".join(product.tags),
            "schema": views.schema_text(product), "slug_fixed": True}


_ACTIONS = {"pt-save", "pt-set-price", "pt-list", "pt-delist"}


@callback(output={"message": Output("pt-product-message", "children"), "open": Output("pt-product-message", "is_open"),
                  "colour": Output("pt-product-message", "color"), "chosen": Output("pt-product", "value"),
                  "changed": Output("pt-changed", "data", allow_duplicate=True)},
          inputs={"_save": Input("pt-save", "n_clicks"), "_price": Input("pt-set-price", "n_clicks"),
                  "_list": Input("pt-list", "n_clicks"), "_delist": Input("pt-delist", "n_clicks")},
          state={"product_id": State("pt-product", "value"), "kind": State("pt-price-kind", "value"),
                 "price": State("pt-price", "value"),
                 **{name: State(f"pt-{'frequency' if name == 'update_frequency' else name}", "value")
                    for name in _FORM}},
          prevent_initial_call=True)
def change_product(_save, _price, _list, _delist, product_id, kind, price, **form):
    if ctx.triggered_id not in _ACTIONS:
        return {"message": no_update, "open": no_update, "colour": no_update, "chosen": no_update,
                "changed": no_update}
    user_id, actor = signed_in()
    store = _store()
    chosen = None if product_id in (None, NEW) else product_id
    try:
        if ctx.triggered_id == "pt-save":
            product = views.save_product(store, user_id=user_id, actor=actor, product_id=chosen, **form)
            message = f"Saved {product.slug} ({product.status})."
        elif chosen is None:
            raise MarketplaceError("choose one of your products first (save a new one before pricing or listing)")
        elif ctx.triggered_id == "pt-set-price":
            plan = views.set_my_price(store, user_id=user_id, actor=actor, product_id=chosen, kind=kind, price=price)
            product, message = views.my_product(store, user_id, chosen), f"Price set: {views.plan_text(plan)}."
        else:
            status = "listed" if ctx.triggered_id == "pt-list" else "delisted"
            product = views.set_my_status(store, user_id=user_id, actor=actor, product_id=chosen, status=status)
            message = f"{product.slug} is {product.status}."
    except MarketplaceError as exc:
        return {"message": str(exc), "open": True, "colour": "warning", "chosen": no_update, "changed": no_update}
    return {"message": message, "open": True, "colour": "success", "chosen": product.product_id,
            "changed": f"{product.product_id}/{ctx.triggered_id}/{message}"}


@callback(output={"message": Output("pt-upload-message", "children"), "open": Output("pt-upload-message", "is_open"),
                  "colour": Output("pt-upload-message", "color"),
                  "changed": Output("pt-changed", "data", allow_duplicate=True)},
          inputs={"contents": Input("pt-upload", "contents")},
          state={"filename": State("pt-upload", "filename"), "product_id": State("pt-product", "value")},
          prevent_initial_call=True)
def upload(contents, filename, product_id):
    """dcc.Upload sends ``data:<type>;base64,<data>``: decoded here, checked and stored by the engine."""
    def refused(text: str) -> dict:
        return {"message": text, "open": True, "colour": "danger", "changed": no_update}

    if not isinstance(contents, str) or "," not in contents:
        return refused("No file was received.")
    if product_id in (None, NEW):
        return refused("Choose one of your products before uploading its data.")
    try:
        content = base64.b64decode(contents.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        return refused("The file did not arrive whole (not base64): upload it again.")
    name = filename if isinstance(filename, str) else ""
    user_id, actor = signed_in()
    try:
        version, rows = views.upload_version(_store(), user_id=user_id, actor=actor, product_id=product_id,
                                             content=content, filename=name)
    except MarketplaceError as exc:
        return refused(f"{name or 'The file'} was refused, nothing of it is stored: {exc}")
    return {"message": f"{name}: {rows:,} rows stored as version {version}.", "open": True, "colour": "success",
            "changed": f"{product_id}/v{version}"}


@callback(output={"message": Output("pt-key-message", "children"), "open": Output("pt-key-message", "is_open"),
                  "colour": Output("pt-key-message", "color"),
                  "changed": Output("pt-changed", "data", allow_duplicate=True)},
          inputs={"_n": Input("pt-revoke", "n_clicks")}, state={"key_id": State("pt-key", "value")},
          prevent_initial_call=True)
def revoke(_n, key_id):
    user_id, actor = signed_in()
    try:
        views.revoke_my_key(_store(), user_id=user_id, actor=actor, key_id=key_id)
    except MarketplaceError as exc:
        return {"message": str(exc), "open": True, "colour": "warning", "changed": no_update}
    return {"message": f"Key {key_id} is revoked: calls with it are refused from now on.", "open": True,
            "colour": "success", "changed": f"revoked/{key_id}"}


@callback(Output("pt-usage-chart", "figure"), Input("pt-usage-days", "value"), Input("pt-changed", "data"))
def usage(days, _changed):
    days = days if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= 366 else 30
    return mc.usage_figure(views.my_usage(_store(), signed_in()[0], days), days)


@callback(output={"statement": Output("pt-statement", "children"), "no_csv": Output("pt-statement-csv", "disabled")},
          inputs={"month": Input("pt-month", "value"), "_changed": Input("pt-changed", "data")})
def statement(month, _changed):
    """The month's statement; with none to make (no partner yet, a bad month) its CSV button is disabled. A
    month with no sales is a statement all the same: zero owed, and its CSV says so."""
    try:
        made = views.my_statement(_store(), signed_in()[0], month)
    except MarketplaceError as exc:
        return {"statement": html.Div(str(exc), className="text-muted small", id="pt-statement-error"),
                "no_csv": True}
    return {"statement": mc.statement_table(made, views.PLAN_LABELS), "no_csv": False}


@callback(Output("pt-statement-download", "data"), Input("pt-statement-csv", "n_clicks"),
          State("pt-month", "value"), prevent_initial_call=True)
def statement_csv(_n, month):
    try:
        made = views.my_statement(_store(), signed_in()[0], month)
    except MarketplaceError:
        return no_update
    return dcc.send_string(made.to_csv(), f"statement-{made.month}.csv", type="text/csv")


# A file larger than the upload box takes is dropped by dcc.Upload without an event: assets/partner_upload.js
# watches the box and says so (its output is a placeholder; the message is set from the browser).
clientside_callback(ClientsideFunction("partner", "watchUploadSize"), Output("pt-upload-limit", "title"),
                    Input("pt-upload", "max_size"))
