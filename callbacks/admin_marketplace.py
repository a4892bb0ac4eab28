"""Marketplace admin callbacks: the partners and products tables, approving, suspending, listing and delisting,
and the platform's revenue by month. The role table lets admins alone reach these callbacks."""
from __future__ import annotations

from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from app.services import services
from callbacks.marketplace import signed_in
from components import marketplace as mc
from engine.marketplace import views
from engine.marketplace.partners import MarketplaceError

_PARTNER_MOVES = {"am-approve": "active", "am-suspend": "suspended"}
_PRODUCT_MOVES = {"am-list": "listed", "am-delist": "delisted"}


@callback(output={"partners": Output("am-partners", "children"), "partner_options": Output("am-partner", "options"),
                  "products": Output("am-products", "children"), "product_options": Output("am-product", "options")},
          inputs={"_changed": Input("am-changed", "data")})
def tables(_changed):
    """Read fresh: the buttons of this page change them, and the cache follows the market series."""
    store = services().ready_store()
    partners = views.all_partners(store)
    products = views.all_products(store)
    return {"partners": mc.partners_table(partners),
            "partner_options": [{"label": f"{p.organisation} ({p.status})", "value": p.partner_id} for p in partners],
            "products": mc.products_table(products),
            "product_options": [{"label": f"{r.title} ({r.slug}, {r.status})", "value": r.product_id}
                                for r in products.itertuples()]}


@callback(output={"message": Output("am-partner-message", "children"), "open": Output("am-partner-message", "is_open"),
                  "colour": Output("am-partner-message", "color"),
                  "changed": Output("am-changed", "data", allow_duplicate=True)},
          inputs={"_approve": Input("am-approve", "n_clicks"), "_suspend": Input("am-suspend", "n_clicks")},
          state={"partner_id": State("am-partner", "value")}, prevent_initial_call=True)
def change_partner(_approve, _suspend, partner_id):
    status = _PARTNER_MOVES.get(ctx.triggered_id)
    if status is None:
        return {"message": no_update, "open": no_update, "colour": no_update, "changed": no_update}
    try:
        partner = views.set_partner_status(services().ready_store(), actor=signed_in()[1], partner_id=partner_id,
                                           status=status)
    except MarketplaceError as exc:
        return {"message": str(exc), "open": True, "colour": "warning", "changed": no_update}
    return {"message": f"{partner.organisation} is {partner.status}.", "open": True, "colour": "success",
            "changed": f"{partner.partner_id}/{partner.status}"}


@callback(output={"message": Output("am-product-message", "children"), "open": Output("am-product-message", "is_open"),
                  "colour": Output("am-product-message", "color"),
                  "changed": Output("am-changed", "data", allow_duplicate=True)},
          inputs={"_list": Input("am-list", "n_clicks"), "_delist": Input("am-delist", "n_clicks")},
          state={"product_id": State("am-product", "value")}, prevent_initial_call=True)
def change_product(_list, _delist, product_id):
    status = _PRODUCT_MOVES.get(ctx.triggered_id)
    if status is None:
        return {"message": no_update, "open": no_update, "colour": no_update, "changed": no_update}
    try:
        product = views.set_product_status(services().ready_store(), actor=signed_in()[1], product_id=product_id,
                                           status=status)
    except MarketplaceError as exc:
        return {"message": str(exc), "open": True, "colour": "warning", "changed": no_update}
    return {"message": f"{product.slug} is {product.status}.", "open": True, "colour": "success",
            "changed": f"{product.product_id}/{product.status}"}


@callback(Output("am-revenue", "children"), Output("am-revenue-chart", "figure"), Input("am-changed", "data"))
def revenue(_changed):
    found = views.platform_revenue(services().ready_store())
    problems = [html.Div(f"Left out: {p}", className="small text-danger") for p in found.problems]
    return [*problems, mc.revenue_table(found.months)], mc.revenue_figure(found.months)


@callback(Output("am-revenue-download", "data"), Input("am-revenue-csv", "n_clicks"), prevent_initial_call=True)
def revenue_csv(_n):
    found = views.platform_revenue(services().ready_store())
    return dcc.send_string(views.revenue_csv(found.months), "platform-revenue.csv", type="text/csv")
