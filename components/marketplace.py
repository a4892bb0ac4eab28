"""The marketplace drawn: catalog cards, a product's schema and sample, the sample chart, a partner's usage
chart and statement, the admin's partners, products and revenue. Builders take what the engine returned
(records with the attributes named, frames with the columns named) and know nothing of where it came from."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import dcc, html

from components.figures import empty_figure, export_config, legend_below, overlaid_axis, plain_figure
from components.tables import Column, data_table
from components.times import utc_time

STATUS_COLOURS = {"listed": "success", "draft": "secondary", "delisted": "dark", "active": "success",
                  "pending": "warning", "suspended": "danger"}
_SHORT = 220


def badge(status: str) -> dbc.Badge:
    return dbc.Badge(status, color=STATUS_COLOURS.get(status, "secondary"), className="me-1")


def _short(text: str, length: int = _SHORT) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def updated(frequency: str) -> str:
    """A product's update frequency as a phrase: "updated every 5 minutes", "updated hourly", "updated
    irregularly" ("updated 5 minutes" read as "5 minutes ago")."""
    return "updated " + {"5 minutes": "every 5 minutes", "irregular": "irregularly"}.get(frequency, frequency)


def catalog_card(card: Any) -> dbc.Card:
    """One product of the catalog (a CatalogCard), linking to its page."""
    return dbc.Card(dbc.CardBody([
        html.Div([dbc.Badge(card.category, color="info", className="me-1"),
                  *[dbc.Badge(m, color="light", text_color="dark", className="me-1") for m in card.markets]],
                 className="mb-2"),
        html.H6(dcc.Link(card.title, href=f"/marketplace?product={card.slug}", className="stretched-link"),
                className="card-title mb-1"),
        html.Div(f"by {card.provider} · {updated(card.update_frequency)}", className="small text-muted mb-2"),
        html.P(_short(card.description), className="small mb-2"),
        html.Div(card.price, className="fw-semibold small"),
    ]), className="h-100 shadow-sm mk-card", id={"type": "mk-card", "slug": card.slug})


def catalog_count(first: int, shown: int, total: int) -> str:
    """Which products a page shows of how many: "1–24 of 3,412 products"."""
    noun = "product" if total == 1 else "products"
    if shown >= total:
        return f"{total:,} {noun}"
    return f"{first:,}–{first + shown - 1:,} of {total:,} {noun}"


def catalog_grid(results: Any) -> html.Div:
    """One page of the catalog (a CatalogResults: cards, first, total) with how many match."""
    if not results.cards:
        return html.Div("No listed product matches: try fewer words or clear a filter.",
                        className="text-muted", id="mk-no-results")
    return html.Div([html.Div(catalog_count(results.first, len(results.cards), results.total),
                              className="small text-muted mb-2", id="mk-count"),
                     html.Div([catalog_card(c) for c in results.cards], id="mk-cards",
                              style={"display": "grid", "gap": "1rem",
                                     "gridTemplateColumns": "repeat(auto-fill, minmax(20rem, 1fr))"})])


def schema_table(columns: Sequence[Any]) -> dbc.Table:
    """The declared columns (records with name, type, unit)."""
    return data_table(["Column", "Type", "Unit"], [(c.name, c.type, c.unit or "—") for c in columns],
                      table_id="mk-schema-table", striped=True, style={"maxWidth": "40rem"})


def _cell(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    if isinstance(value, pd.Timestamp):
        return utc_time(value)
    if isinstance(value, float | np.floating):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.2f}"
    return str(value)


def sample_table(sample: pd.DataFrame, numeric: Sequence[str], rows: int) -> dbc.Table:
    """The newest ``rows`` rows of the sample, newest first."""
    shown = sample.tail(rows).iloc[::-1]
    columns = [Column(c, numeric=c in numeric) for c in sample.columns]
    return data_table(columns, [[_cell(v) for v in row] for row in shown.itertuples(index=False, name=None)],
                      table_id="mk-sample-table", striped=True)


def _iso(times: pd.Series) -> np.ndarray:
    naive = pd.to_datetime(times, utc=True).dt.tz_localize(None)
    return np.datetime_as_string(naive.to_numpy(dtype="datetime64[s]"), unit="s")


def sample_figure(sample: pd.DataFrame, time_column: str, values: Sequence[str], units: dict[str, str],
                  title: str, group: str | None = None) -> dict:
    """The sample's numeric columns over time (UTC): the first on the left axis, a second on the right; with a
    ``group`` column, the first value column once per group (e.g. per region)."""
    if sample.empty or not values:
        return empty_figure("No sample rows yet")
    first = values[0]
    traces = []
    if group is not None:
        values = values[:1]
        for name, part in sample.groupby(group, sort=True):
            traces.append({"type": "scatter", "mode": "lines", "name": str(name), "x": _iso(part[time_column]),
                           "y": pd.to_numeric(part[first], errors="coerce").to_numpy(dtype=float)})
    else:
        iso = _iso(sample[time_column])
        for i, name in enumerate(values):
            label = f"{name} ({units[name]})" if units.get(name) else name
            traces.append({"type": "scatter", "mode": "lines", "name": label, "x": iso,
                           "y": pd.to_numeric(sample[name], errors="coerce").to_numpy(dtype=float),
                           **({"yaxis": "y2"} if i else {})})
    layout = {"height": 320, "margin": {"l": 60, "r": 60, "t": 40, "b": 40}, "title": {"text": title},
              "xaxis": {"title": {"text": "UTC"}}, "legend": legend_below(-0.3),
              "yaxis": {"title": {"text": f"{first} ({units[first]})" if units.get(first) else first}}}
    if len(values) > 1:
        layout["yaxis2"] = overlaid_axis(units.get(values[1]) or values[1])
    return plain_figure(traces, **layout)


def key_notice(token: str, kind: str, detail: str, ident: str, example: str | None = None) -> html.Div:
    """A new key, shown this once, with a copy button; ``example``: a command that calls the API with it."""
    return html.Div([
        html.Div(f"Your {kind} key — copy it now: it is shown this once and cannot be shown again.",
                 className="fw-semibold mb-1"),
        html.Div([html.Code(token, id=ident, className="me-2 text-break"),
                  dcc.Clipboard(target_id=ident, title="Copy the key", style={"display": "inline-block"})]),
        html.Div(detail, className="small text-muted mt-1"),
        html.Div([html.Div("Try it:", className="small mt-2"),
                  html.Div([html.Code(example, id=f"{ident}-example", className="me-2 text-break small"),
                            dcc.Clipboard(target_id=f"{ident}-example", title="Copy the command",
                                          style={"display": "inline-block"})])]) if example else None,
    ])


def keys_table(found: pd.DataFrame) -> object:
    """An account's keys (columns of engine keys_of, products as text)."""
    if found.empty:
        return html.Div("No keys yet.", className="text-muted small")
    rows = []
    for r in found.itertuples():
        state = "revoked" if not pd.isna(r.revoked_at) else "active"
        rows.append((html.Code(r.key_id), r.kind, r.products, "—" if not r.quota_calls else f"{int(r.quota_calls):,}",
                     f"{int(r.rate_per_minute):,}", utc_time(r.created_at), utc_time(r.expires_at),
                     dbc.Badge(state, color="secondary" if state == "revoked" else "success")))
    columns = ["Key id", "Kind", "Products", Column("Quota (calls)", numeric=True), Column("Per minute", numeric=True),
               "Created", "Expires", "State"]
    return data_table(columns, rows, table_id="pt-keys-table", striped=True)


_DAY_MS = 86_400_000


def usage_figure(usage: pd.DataFrame, days: int, now: pd.Timestamp | None = None) -> dict:
    """Calls per UTC day, a bar per product stacked (frame: day, product, calls), on an axis of the ``days``
    days asked for (left to itself, Plotly spans a single day's bar over a millisecond), each product named."""
    if usage.empty:
        return empty_figure(f"No calls of your products in the last {days} days")
    traces = []
    for product, part in usage.groupby("product", sort=True):
        day = pd.to_datetime(part["day"], utc=True).dt.strftime("%Y-%m-%d").to_numpy()
        # a bar's width in ms on a date axis: left to itself, Plotly makes a lone bar a millisecond wide
        traces.append({"type": "bar", "name": product, "x": day, "y": part["calls"].to_numpy(dtype=float),
                       "width": 0.8 * _DAY_MS})
    last = max((now or pd.Timestamp.now(tz="UTC")).floor("D"), pd.to_datetime(usage["day"], utc=True).max())
    first = last - pd.Timedelta(days=days - 1)
    half = pd.Timedelta(hours=12)  # a bar is a day wide, centred on its day
    xaxis = {"type": "date", "range": [f"{first - half:%Y-%m-%d %H:%M}", f"{last + half:%Y-%m-%d %H:%M}"],
             "title": {"text": "day (UTC)"}, **({"dtick": _DAY_MS} if days <= 14 else {})}
    return plain_figure(traces, barmode="stack", height=320, margin={"l": 60, "r": 20, "t": 40, "b": 40},
                        title={"text": f"API calls per day (UTC), last {days} days"}, xaxis=xaxis,
                        yaxis={"title": {"text": "calls"}}, showlegend=True, legend=legend_below(-0.25))


def statement_table(statement: Any, plan_labels: dict[str, str]) -> html.Div:
    """A partner's statement (lines and the split), every amount in the statement's one currency."""
    currency = statement.currency
    rows = [(line.product, plan_labels.get(line.kind, line.kind), f"{line.unit_price.normalize():f}",
             html.Span(utc_time(line.valid_from)[:10] + " → " + utc_time(line.valid_to)[:10], className="text-nowrap"),
             f"{line.calls:,}",
             f"{line.billable_calls:,}", f"{line.rows:,}", f"{line.subscriptions:,}", f"{line.amount.normalize():f}",
             f"{line.amount_rounded:,.2f}")
            for line in statement.lines]
    columns = ["Product", "Plan", Column(f"Unit price ({currency})", numeric=True), "Period (UTC)",
               Column("Calls", numeric=True), Column("Billable", numeric=True), Column("Rows", numeric=True),
               Column("Subscriptions", numeric=True), Column(f"Exact amount ({currency})", numeric=True),
               Column(f"Amount ({currency})", numeric=True)]
    totals = data_table(["", Column(currency, numeric=True)],
                        [("Gross (exact total rounded half up)", f"{statement.gross:,.2f} {currency}"),
                         ("Your share (70 %)", f"{statement.partner_share:,.2f} {currency}"),
                         ("Platform (30 %)", f"{statement.platform_share:,.2f} {currency}")],
                        table_id="pt-statement-totals", header=False, style={"maxWidth": "28rem"})
    body = data_table(columns, rows, table_id="pt-statement-table", striped=True) if rows else \
        html.Div("No priced product in this month.", className="text-muted small")
    return html.Div([body, totals])


def partners_table(found: Sequence[Any]) -> object:
    if not found:
        return html.Div("No partner has registered yet.", className="text-muted small")
    rows = [(p.organisation, p.contact_email, p.payout_reference, badge(p.status), utc_time(p.created_at),
             html.Code(p.partner_id)) for p in found]
    return data_table(["Organisation", "Contact", "Payout reference", "Status", "Registered", "Partner id"], rows,
                      table_id="am-partners-table", striped=True)


def data_label(version: int, live: bool) -> str:
    """What a product serves: "live" for the platform's own (a query over the store, never uploaded), else its
    uploaded data version, or "none yet" before the first upload."""
    if live:
        return "live"
    return f"v{int(version)}" if int(version) > 0 else "none yet"


def products_table(found: pd.DataFrame, table_id: str = "am-products-table") -> object:
    """``views.all_products``'s frame as a table."""
    if found.empty:
        return html.Div("No products yet.", className="text-muted small")
    rows = [(r.slug, r.title, r.provider, r.category, badge(r.status), data_label(r.version, r.live),
             utc_time(r.created_at))
            for r in found.itertuples()]
    return data_table(["Slug", "Title", "Provider", "Category", "Status", "Data", "Created"], rows,
                      table_id=table_id, striped=True)


def my_products_table(found: Sequence[Any], prices: dict[str, str]) -> object:
    if not found:
        return html.Div("No products yet: create one below.", className="text-muted small")
    rows = [(p.slug, p.title, badge(p.status), prices.get(p.product_id, "No price yet"),
             data_label(p.version, bool(p.source)),
             ", ".join(c.name for c in p.columns)) for p in found]
    return data_table(["Slug", "Title", "Status", "Price", "Data", "Columns"], rows, table_id="pt-products-table",
                      striped=True)


def revenue_table(found: Sequence[Any]) -> dbc.Table:
    """The platform's revenue, newest month first, a row per month and currency (amounts in two currencies are
    never added)."""
    rows = [(r.month, r.currency, f"{r.partner_sales:,.2f}", f"{r.paid_to_partners:,.2f}",
             f"{r.platform_share:,.2f}", f"{r.platform_products:,.2f}", f"{r.platform_total:,.2f}")
            for r in sorted(found, key=lambda r: r.month, reverse=True)]
    columns = ["Month (UTC)", "Currency", Column("Partner sales", numeric=True),
               Column("Paid to partners (70 %)", numeric=True), Column("Platform share (30 %)", numeric=True),
               Column("Platform products", numeric=True), Column("Platform total", numeric=True)]
    return data_table(columns, rows, table_id="am-revenue-table", striped=True)


def revenue_figure(found: Sequence[Any]) -> dict:
    """Each month's platform revenue as a bar per currency: its share of partner sales with its own products
    stacked on top."""
    if not any(r.platform_total for r in found):
        return empty_figure("No platform revenue in these months")
    currencies = sorted({r.currency for r in found})
    traces = []
    for currency in currencies:
        rows = [r for r in found if r.currency == currency]
        months, share = [r.month for r in rows], [float(r.platform_share) for r in rows]
        traces += [
            {"type": "bar", "name": f"Platform share of partner sales (30 %), {currency}", "x": months, "y": share,
             "offsetgroup": currency},
            {"type": "bar", "name": f"Platform products, {currency}", "x": months,
             "y": [float(r.platform_products) for r in rows], "base": share, "offsetgroup": currency},
        ]
    unit = currencies[0] if len(currencies) == 1 else "each bar in its currency"
    return plain_figure(traces, barmode="group", height=320, margin={"l": 60, "r": 20, "t": 40, "b": 40},
                        title={"text": "Platform revenue by month (UTC)"},
                        yaxis={"title": {"text": f"amount ({unit})"}},
                        xaxis={"type": "category", "categoryorder": "category ascending"},
                        legend=legend_below(-0.2))


GRAPH_CONFIG = export_config("marketplace")
