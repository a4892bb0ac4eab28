"""What the marketplace's pages show and do, as typed results: catalog cards, a product's page, a partner's own
products, keys, usage and statements, and the admin's partners, products and platform revenue.

Everything a partner sees or changes is found from the signed-in account (``user_id``): the partner record is
the account's own (``partners.partner_for_user``), and a product, key or statement is looked up under it, so
an id typed into a form that belongs to someone else is answered as "no such ..." and nothing changes.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd

from engine.marketplace import data, keys, partners, products, serving, subscriptions
from engine.marketplace.partners import MarketplaceError, Partner
from engine.marketplace.products import PLATFORM, Product
from engine.marketplace.revenue import (DEFAULT_CURRENCY, PLAN_KINDS, PricePlan, Statement, StatementError,
                                        month_bounds)
from engine.marketplace.statements import monthly_statements, partner_statement
from engine.store import Store

PLAN_LABELS = {"free": "Free", "per_call": "per call", "per_1000_rows": "per 1,000 rows", "monthly": "per month"}
PLATFORM_LABEL = "254Carbon"
#: rows of the live sample the product page shows in its table (the chart draws the whole sample window)
SAMPLE_TABLE_ROWS = 20
#: points the sample chart draws at most (the newest), so a 5-minute week stays light
SAMPLE_CHART_ROWS = 2016
#: series the sample chart draws at most, one per value of a text column
MAX_GROUPS = 12
_MONTH = re.compile(r"\d{4}-\d{2}")


def plan_text(plan: PricePlan | None) -> str:
    """A price plan as a buyer reads it: "Free", "0.005 USD per call"."""
    if plan is None:
        return "No price yet"
    if plan.kind == "free":
        return "Free"
    price = plan.price.normalize()
    if price.as_tuple().exponent > -2:  # money reads with its cents; finer prices keep their digits
        price = price.quantize(Decimal("0.01"))
    return f"{price:f} {plan.currency} {PLAN_LABELS[plan.kind]}"


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------------------ catalog

def catalog_version(store: Store) -> str:
    """Changes whenever a product, a price or a partner changes: the pages pass it to ``services().cached``
    with the catalog's queries, so a product just listed (or a partner just suspended) is seen at once (the
    store's data version follows the market series only)."""
    return store.remember(("products", "price_plans", "partners"), "catalog_version", lambda: str(store.scalar(
        "SELECT concat(toString((SELECT max(updated_at) FROM products)), '/', toString((SELECT count() FROM products)),"
        " '/', toString((SELECT max(created_at) FROM price_plans)), '/', toString((SELECT max(updated_at) FROM "
        "partners)))")))


@dataclass(frozen=True)
class CatalogCard:
    slug: str
    title: str
    description: str
    provider: str
    markets: tuple[str, ...]
    category: str
    update_frequency: str
    price: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class CatalogChoices:
    """What the catalog's filters offer: the markets of listed products, and the fixed lists."""
    markets: tuple[str, ...]
    categories: tuple[str, ...] = products.CATEGORIES
    price_kinds: tuple[str, ...] = PLAN_KINDS
    frequencies: tuple[str, ...] = products.FREQUENCIES


def catalog_choices(store: Store, version: str = "") -> CatalogChoices:
    del version  # the cache key only
    found = store.query_df("SELECT DISTINCT arrayJoin(markets) AS market FROM products FINAL "
                           "WHERE status = 'listed' ORDER BY market")
    return CatalogChoices(tuple(found["market"]))


def _active_owners(store: Store, owners: Sequence[str]) -> dict[str, str]:
    """owner → the provider name shown, for owners whose products may be served (platform, active partners)."""
    shown = {PLATFORM: PLATFORM_LABEL}
    wanted = sorted({o for o in owners if o != PLATFORM})
    if wanted:
        found = store.query_df("SELECT partner_id, organisation FROM partners FINAL WHERE status = 'active' AND "
                               "partner_id IN {p:Array(String)}", {"p": wanted})
        shown.update(zip(found["partner_id"], found["organisation"], strict=True))
    return shown


#: cards on one page of the catalog
CATALOG_PAGE_SIZE = 24


@dataclass(frozen=True)
class CatalogResults:
    """One page of the catalog: its cards, the page shown (from 1), how many pages and products match."""
    cards: tuple[CatalogCard, ...]
    page: int
    pages: int
    total: int
    first: int  # the number of the page's first product (from 1; 0 when nothing matches)


def catalog_cards(store: Store, version: str, text: str = "", market: str | None = None,
                  category: str | None = None, price_kind: str | None = None, update_frequency: str | None = None,
                  page: int = 1, page_size: int = CATALOG_PAGE_SIZE) -> CatalogResults:
    """Page ``page`` (from 1; a page past the last shows the last) of the listed products matching the search and
    filters whose provider is the platform or an active partner (a suspended partner's products are not on
    sale), best match first, with how many match in all. ``version``: catalog_version's, for the cache key
    only."""
    del version
    if category is not None and category not in products.CATEGORIES:
        raise MarketplaceError(f"category filter: one of {', '.join(products.CATEGORIES)}")
    if update_frequency is not None and update_frequency not in products.FREQUENCIES:
        raise MarketplaceError(f"update frequency filter: one of {', '.join(products.FREQUENCIES)}")
    if market is not None and (not isinstance(market, str) or len(market) > 20):
        raise MarketplaceError("market filter: a market id")
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise MarketplaceError(f"page: a whole number from 1, not {page!r}")
    def read(number: int) -> products.CatalogPage:
        return products.catalog_page(store, text or "", market=market or None, category=category,
                                     price_kind=price_kind or None, update_frequency=update_frequency,
                                     platform_label=PLATFORM_LABEL,
                                     offset=(number - 1) * page_size, limit=page_size)

    found = read(page)
    pages = max(1, -(-found.total // page_size))
    if found.found.empty and page > pages:
        page = pages
        found = read(page)
    plans = products.plans_in_force(store, list(found.found["product_id"]), _now()) if len(found.found) else {}
    cards = tuple(CatalogCard(row.slug, row.title, row.description, row.provider, tuple(row.markets), row.category,
                              row.update_frequency, plan_text(plans.get(row.product_id)), tuple(row.tags))
                  for row in found.found.itertuples(index=False))
    return CatalogResults(cards, page, pages, found.total, found.offset + 1 if cards else 0)


# ------------------------------------------------------------------------------------------- product page

@dataclass(frozen=True)
class ProductPage:
    product: Product
    provider: str
    price: str
    plan: PricePlan | None
    #: the live sample: the newest rows of the sandbox's window (or the declared sample rows when no data is
    #: stored yet), in time order, the declared columns
    sample: pd.DataFrame
    sample_source: str  # "live" | "declared" | "none"
    window: tuple[pd.Timestamp, pd.Timestamp] | None  # the sandbox's window (UTC)
    time_column: str
    value_columns: tuple[str, ...]  # numeric columns the chart draws
    #: a text column naming a few series (e.g. a region): the chart draws the first value column per value
    group_column: str | None = None


def _listed(store: Store, slug: object) -> tuple[Product, str]:
    if not isinstance(slug, str) or not slug or len(slug) > 64:
        raise MarketplaceError("no such product in the catalog")
    product = products.by_slug(store, slug)
    owners = _active_owners(store, [product.owner]) if product is not None else {}
    if product is None or product.status != "listed" or product.owner not in owners:
        raise MarketplaceError(f"no listed product {slug!r} in the catalog")
    return product, owners[product.owner]


def product_page(store: Store, version: str, slug: str) -> ProductPage:
    """A listed product with its price and live sample; MarketplaceError for anything not in the catalog.
    ``version``: catalog_version's, for the cache key only (a new upload moves the product's version)."""
    del version
    product, provider = _listed(store, slug)
    time_column = next(c.name for c in product.columns if c.type == "datetime")
    values = tuple(c.name for c in product.columns if c.type == "float")[:2] or \
        tuple(c.name for c in product.columns if c.type == "integer")[:1]
    window = serving.sample_window(serving.stored_span(store, product))
    sample, source = pd.DataFrame(columns=[c.name for c in product.columns]), "none"
    if window is not None:
        try:
            sample, source = serving.product_rows(store, product, *window).tail(SAMPLE_CHART_ROWS), "live"
        except serving.TooManyRows:
            start = window[1] - pd.Timedelta(days=1)
            sample, source = serving.product_rows(store, product, start, window[1]).tail(SAMPLE_CHART_ROWS), "live"
    if sample.empty and product.sample:
        sample, source = pd.DataFrame(list(product.sample), columns=[c.name for c in product.columns]), "declared"
        sample[time_column] = pd.to_datetime(sample[time_column], utc=True, errors="coerce")
    plan = product.plan_at(_now())
    texts = [c.name for c in product.columns if c.type == "text"]
    group = texts[0] if texts and not sample.empty and sample[texts[0]].nunique() <= MAX_GROUPS else None
    return ProductPage(product, provider, plan_text(plan), plan, sample.reset_index(drop=True), source, window,
                       time_column, values, group)


def sample_csv(page: ProductPage) -> str:
    """The product page's sample as the product API's CSV writes it (the same columns and times), so that a buyer
    can try their reader on it before asking for a key."""
    return serving.api_csv(page.sample)


@dataclass(frozen=True)
class IssuedKey:
    token: str  # shown once
    kind: str
    product: str
    expires_at: datetime | None
    quota_calls: int


def sandbox_key(store: Store, *, user_id: str, actor: str, slug: str) -> IssuedKey:
    """A sandbox key for one listed product (its sample window, SANDBOX_QUOTA calls, SANDBOX_DAYS days)."""
    if not user_id:
        raise MarketplaceError("sign in with an account to get a key")
    product, _ = _listed(store, slug)
    made = keys.issue_key(store, user_id=user_id, kind="sandbox", products=[product.product_id], actor=actor)
    stored = keys.stored_key(store, made.token)
    return IssuedKey(made.token, "sandbox", product.slug, stored.expires_at if stored else None,
                     keys.SANDBOX_QUOTA)


def subscribe(store: Store, *, user_id: str, actor: str, slug: str) -> str:
    """Subscribe the account to a listed product; the subscription id (the same one when already subscribed)."""
    if not user_id:
        raise MarketplaceError("sign in with an account to subscribe")
    product, _ = _listed(store, slug)
    return subscriptions.subscribe(store, user_id=user_id, slug=product.slug, actor=actor)


def is_subscribed(store: Store, user_id: str | None, slug: str) -> bool:
    if not user_id:
        return False
    product = products.by_slug(store, slug) if isinstance(slug, str) else None
    return product is not None and any(p == product.product_id
                                       for _, p in subscriptions.active_subscriptions(store, user_id))


def production_key(store: Store, *, user_id: str, actor: str, slug: str) -> IssuedKey:
    """A production key for a listed product the account is subscribed to."""
    if not user_id:
        raise MarketplaceError("sign in with an account to get a key")
    product, _ = _listed(store, slug)
    if not is_subscribed(store, user_id, product.slug):
        raise MarketplaceError("subscribe to the product first: a production key follows a subscription")
    made = keys.issue_key(store, user_id=user_id, kind="production", products=[product.product_id], actor=actor)
    return IssuedKey(made.token, "production", product.slug, None, 0)


# ---------------------------------------------------------------------------------------- partner portal

def my_partner(store: Store, user_id: str | None) -> Partner | None:
    """The partner record of the signed-in account (None when it has not registered)."""
    return partners.partner_for_user(store, user_id) if user_id else None


def _partner_of(store: Store, user_id: str | None) -> Partner:
    partner = my_partner(store, user_id)
    if partner is None:
        raise MarketplaceError("register as a partner first")
    if partner.status == "suspended":
        raise MarketplaceError("this partner account is suspended: ask the platform's admin")
    return partner


@dataclass(frozen=True)
class Portal:
    """What the partner portal lists for the signed-in account."""
    partner: Partner | None
    products: tuple[Product, ...]
    prices: dict[str, str]  # product_id → the price in force, as text
    keys: pd.DataFrame  # my_keys


def portal(store: Store, user_id: str | None) -> Portal:
    owned = my_products(store, user_id)
    now = _now()
    return Portal(my_partner(store, user_id), owned, {p.product_id: plan_text(p.plan_at(now)) for p in owned},
                  my_keys(store, user_id))


def register(store: Store, *, user_id: str, actor: str, organisation: object, contact_email: object,
             payout_reference: object) -> Partner:
    if not user_id:
        raise MarketplaceError("sign in with a partner account to register")
    return partners.register_partner(store, organisation=organisation, contact_email=contact_email,
                                     payout_reference=payout_reference, user_id=user_id, actor=actor)


def my_products(store: Store, user_id: str | None) -> tuple[Product, ...]:
    partner = my_partner(store, user_id)
    return tuple(products.owned_by(store, partner.partner_id)) if partner else ()


def my_product(store: Store, user_id: str | None, product_id: object) -> Product:
    """One of the account's partner's products; "no such product" for anyone else's (or none)."""
    partner = my_partner(store, user_id)
    product = products.get_product(store, product_id) if isinstance(product_id, str) and product_id else None
    if partner is None or product is None or product.owner != partner.partner_id:
        raise MarketplaceError("no such product")
    return product


def parse_schema(text: object) -> list[dict]:
    """Schema text, one column a line: ``name, type[, unit]`` (types: datetime, float, integer, text)."""
    if not isinstance(text, str) or not text.strip():
        raise MarketplaceError("schema: one column a line, written name, type, unit (e.g. time, datetime, UTC)")
    out = []
    for number, line in enumerate(text.strip().splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) not in (2, 3):
            raise MarketplaceError(f"schema line {number}: write name, type, unit (the unit may be left out)")
        out.append({"name": parts[0], "type": parts[1], "unit": parts[2] if len(parts) == 3 else ""})
    return out


def schema_text(product: Product) -> str:
    return "\n".join(f"{c.name}, {c.type}" + (f", {c.unit}" if c.unit else "") for c in product.columns)


def _words(text: object, what: str) -> list[str]:
    if text is None:
        return []
    if not isinstance(text, str) or len(text) > 1000:
        raise MarketplaceError(f"{what}: text, separated by commas")
    return [w.strip() for w in text.split(",") if w.strip()]


def save_product(store: Store, *, user_id: str, actor: str, product_id: str | None, slug: object, title: object,
                 description: object, markets: object, category: object, update_frequency: object, tags: object,
                 schema: object) -> Product:
    """Create a product (``product_id`` None) or edit one of the account's own; the schema as ``parse_schema``
    reads it (fixed once data is uploaded)."""
    partner = _partner_of(store, user_id)
    fields = {"title": title, "description": description or "", "markets": _words(markets, "markets"),
              "category": category, "update_frequency": update_frequency, "tags": _words(tags, "tags")}
    if not product_id:
        return products.create_product(store, editor=partner.partner_id, actor=actor, slug=slug,
                                       columns=parse_schema(schema), **fields)
    product = my_product(store, user_id, product_id)
    changes = dict(fields)
    if schema_text(product) != (schema or "").strip():
        changes["columns"] = parse_schema(schema)
    return products.edit_product(store, product.product_id, editor=partner.partner_id, actor=actor, **changes)


def set_my_price(store: Store, *, user_id: str, actor: str, product_id: str, kind: object, price: object
                 ) -> PricePlan:
    partner = _partner_of(store, user_id)
    product = my_product(store, user_id, product_id)
    if kind not in PLAN_KINDS:
        raise MarketplaceError(f"price plan: one of {', '.join(PLAN_KINDS)}")
    if kind != "free" and (not isinstance(price, str | int) or not str(price).strip()):
        raise MarketplaceError("price: a decimal amount, e.g. 0.005")
    return products.set_price(store, product.product_id, kind=kind, price=str(price or "0").strip(),
                              editor=partner.partner_id, actor=actor)


def set_my_status(store: Store, *, user_id: str, actor: str, product_id: str, status: str) -> Product:
    partner = _partner_of(store, user_id)
    product = my_product(store, user_id, product_id)
    return products.set_status(store, product.product_id, status, editor=partner.partner_id, actor=actor)


def upload_version(store: Store, *, user_id: str, actor: str, product_id: str, content: bytes,
                   filename: str) -> tuple[int, int]:
    """Check and store an upload as the product's next version: (version, rows)."""
    _partner_of(store, user_id)
    product = my_product(store, user_id, product_id)
    return data.upload(store, product, content, filename, actor=actor)


def my_keys(store: Store, user_id: str | None) -> pd.DataFrame:
    """The account's keys (no hashes), newest first, products by slug."""
    found = keys.keys_of(store, user_id or "")  # no account: no keys, but the columns
    slugs = dict(store.query_df("SELECT product_id, slug FROM products FINAL WHERE product_id IN "
                                "{p:Array(String)}", {"p": sorted({p for ps in found["products"] for p in ps})})
                 .itertuples(index=False, name=None)) if len(found) else {}
    found["products"] = [", ".join(slugs.get(p, p) for p in ps) for ps in found["products"]]
    return found


def revoke_my_key(store: Store, *, user_id: str, actor: str, key_id: object) -> None:
    if not user_id or not isinstance(key_id, str) or not key_id:
        raise MarketplaceError("no such key")
    keys.revoke_key(store, key_id, user_id=user_id, actor=actor)


def my_usage(store: Store, user_id: str | None, days: int = 30) -> pd.DataFrame:
    """Calls of the account's partner's products by UTC day and product over the last ``days`` days: day,
    product (slug), calls, billable (2xx production calls), rows."""
    partner = my_partner(store, user_id)
    days = max(1, min(int(days), 366))
    empty = pd.DataFrame({"day": pd.Series(dtype="datetime64[ms, UTC]"), "product": pd.Series(dtype=str),
                          "calls": pd.Series(dtype="int64"), "billable": pd.Series(dtype="int64"),
                          "rows": pd.Series(dtype="int64")})
    if partner is None:
        return empty
    found = store.query_df(
        "SELECT toStartOfDay(at) AS day, product, count() AS calls, "
        "countIf(key_kind = 'production' AND status BETWEEN 200 AND 299) AS billable, sum(rows) AS rows "
        "FROM api_usage WHERE partner = {p:String} AND at >= now64(3) - toIntervalDay({d:UInt32}) "
        "GROUP BY day, product ORDER BY day, product", {"p": partner.partner_id, "d": days})
    if found.empty:
        return empty
    slugs = {p.product_id: p.slug for p in products.owned_by(store, partner.partner_id)}
    found["product"] = found["product"].map(lambda p: slugs.get(p, p))
    found["day"] = pd.to_datetime(found["day"], utc=True)
    return found


def check_month(month: object) -> str:
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise MarketplaceError(f"month: write YYYY-MM, not {str(month)[:20]!r}")
    try:
        month_bounds(month)
    except StatementError as exc:
        raise MarketplaceError(str(exc)) from None
    return month


def recent_months(count: int = 12, until: datetime | None = None) -> list[str]:
    """The last ``count`` months (YYYY-MM, UTC), newest first."""
    at = pd.Timestamp(until or _now()).tz_convert("UTC").tz_localize(None).to_period("M")
    return [str(at - i) for i in range(count)]


def my_statement(store: Store, user_id: str | None, month: object) -> Statement:
    """The statement of the account's own partner for ``month`` (YYYY-MM)."""
    month = check_month(month)
    partner = my_partner(store, user_id)
    if partner is None:
        raise MarketplaceError("register as a partner first")
    try:
        return partner_statement(store, partner.partner_id, month)
    except StatementError as exc:
        raise MarketplaceError(str(exc)) from None


# ------------------------------------------------------------------------------------------------- admin

def all_partners(store: Store) -> tuple[Partner, ...]:
    return tuple(partners.list_partners(store))


def set_partner_status(store: Store, *, actor: str, partner_id: object, status: str) -> Partner:
    if not isinstance(partner_id, str) or not partner_id:
        raise MarketplaceError("choose a partner")
    return partners.set_status(store, partner_id, status, actor)


def all_products(store: Store) -> pd.DataFrame:
    """Every product: product_id, slug, title, provider, status, version, category, created_at, live (the
    platform's own: served from the store, with no uploaded version), newest first."""
    found = store.query_df(
        "SELECT p.product_id AS product_id, p.slug AS slug, p.title AS title, p.owner AS owner, p.status AS status, "
        "p.version AS version, p.category AS category, p.created_at AS created_at FROM products AS p FINAL "
        "ORDER BY p.created_at DESC")
    names = {pt.partner_id: pt.organisation for pt in partners.list_partners(store)}
    found["provider"] = [PLATFORM_LABEL if o == PLATFORM else names.get(o, o) for o in found["owner"]]
    found["live"] = found["owner"] == PLATFORM
    return found.drop(columns=["owner"])


def set_product_status(store: Store, *, actor: str, product_id: object, status: str) -> Product:
    if not isinstance(product_id, str) or not product_id:
        raise MarketplaceError("choose a product")
    return products.set_status(store, product_id, status, editor=PLATFORM, actor=actor)


@dataclass(frozen=True)
class MonthRevenue:
    month: str
    currency: str  # every amount's: a month with sales in two currencies has a row in each
    partner_sales: Decimal  # gross of every partner's statement
    paid_to_partners: Decimal  # their 70 %
    platform_share: Decimal  # the platform's 30 % of partner sales
    platform_products: Decimal  # the platform's own products (kept whole)

    @property
    def platform_total(self) -> Decimal:
        return self.platform_share + self.platform_products


@dataclass(frozen=True)
class PlatformRevenue:
    months: tuple[MonthRevenue, ...]  # oldest first; within a month, by currency
    #: statements that could not be made (e.g. calls of a product with no price in force then), left out of
    #: the sums and named here
    problems: tuple[str, ...] = ()


_REVENUE_PARTS = ("partner_sales", "paid_to_partners", "platform_share", "platform_products")


def _revenue_parts(owner: str, statement: Statement) -> tuple[tuple[str, Decimal], ...]:
    """What one owner's statement adds to each part of a month's revenue (MonthRevenue's fields)."""
    if owner == PLATFORM:
        return (("platform_products", statement.gross),)
    return (("partner_sales", statement.gross), ("paid_to_partners", statement.partner_share),
            ("platform_share", statement.platform_share))


def platform_revenue(store: Store, months: int = 12, until: datetime | None = None) -> PlatformRevenue:
    """The platform's revenue for each of the last ``months`` months, from the statements partners are paid by
    (each statement rounded by its own rule, then summed), kept apart by currency: amounts in two currencies are
    never added. A month in which nothing priced was sold has one row of zeros in the default currency."""
    names = {p.partner_id: p.organisation for p in partners.list_partners(store)}
    wanted = list(reversed(recent_months(months, until)))
    made = monthly_statements(store, wanted, [*names, PLATFORM])
    out, problems = [], []
    for month in wanted:
        sums: dict[str, dict[str, Decimal]] = {}
        for owner, by_month in made.items():
            found = by_month[month]
            if isinstance(found, str):
                problems.append(f"{names.get(owner, PLATFORM_LABEL)}, {month}: {found}")
                continue
            if not found.lines:  # nothing priced that month: its currency is only the default's
                continue
            parts = sums.setdefault(found.currency, dict.fromkeys(_REVENUE_PARTS, Decimal("0.00")))
            for part, amount in _revenue_parts(owner, found):
                parts[part] += amount
        sums = sums or {DEFAULT_CURRENCY: dict.fromkeys(_REVENUE_PARTS, Decimal("0.00"))}
        out += [MonthRevenue(month, currency, **sums[currency]) for currency in sorted(sums)]
    return PlatformRevenue(tuple(out), tuple(problems))


def revenue_to_date(store: Store, until: datetime | None = None) -> dict[tuple[str, str], Decimal]:
    """The month of ``until`` (UTC, default now) so far: (part of MonthRevenue, currency) → amount, from the
    statements partners are paid by, kept apart by currency (each owner's statement is in one). Statements that
    cannot be made are left out, as platform_revenue leaves them out of its sums."""
    month = recent_months(1, until)[0]
    sums: dict[tuple[str, str], Decimal] = {}
    for owner, by_month in monthly_statements(store, [month]).items():
        found = by_month[month]
        if isinstance(found, str):
            continue
        for part, amount in _revenue_parts(owner, found):
            sums[(part, found.currency)] = sums.get((part, found.currency), Decimal("0.00")) + amount
    return sums


def revenue_csv(rows: Sequence[MonthRevenue]) -> str:
    lines = ["month,currency,partner_sales,paid_to_partners,platform_share_30,platform_products,platform_total"]
    lines += [f"{r.month},{r.currency},{r.partner_sales},{r.paid_to_partners},{r.platform_share},"
              f"{r.platform_products},{r.platform_total}" for r in rows]
    return "\n".join(lines) + "\n"
