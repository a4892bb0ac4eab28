"""Data products: what they hold (schema, sample), who owns them, how they are priced, and the catalog's search.

A product is owned by the platform (``owner`` "platform": it serves a query over our own store, ``source``) or
by a partner (``owner`` its partner_id: it serves the data the partner uploads). Rows live in ``products``
(migration 016), versioned by ``updated_at``; price plans in ``price_plans``, one row per price from an instant
on, never changed. Every change is in the marketplace audit trail.

Who may change what: a partner changes its own products only (``editor`` is the partner_id, or "platform" for
an admin, who may change any). A product that is not the editor's is reported as not found, so a partner
cannot even learn another partner's draft exists.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd

from engine.clock import now_ms, wall_ms
from engine.marketplace.partners import MarketplaceError, audit, checked_text
from engine.marketplace.revenue import DEFAULT_CURRENCY, PLAN_KINDS, PricePlan, StatementError, money
from engine.store import Store

PLATFORM = "platform"
STATUSES = ("draft", "listed", "delisted")
_MOVES = {("draft", "listed"): "listed", ("listed", "delisted"): "delisted", ("delisted", "listed"): "relisted"}
CATEGORIES = ("prices", "demand", "generation", "forecasts", "congestion", "weather", "other")
FREQUENCIES = ("5 minutes", "hourly", "daily", "weekly", "monthly", "irregular")
#: column types a partner may declare, as ClickHouse types of the product's data table
COLUMN_TYPES = {"datetime": "DateTime64(3, 'UTC')", "float": "Float64", "integer": "Int64", "text": "String"}
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])")
_COLUMN = re.compile(r"[a-z][a-z0-9_]{0,62}")
_TAG = re.compile(r"[a-z0-9][a-z0-9 .-]{0,30}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_FIELDS = ("product_id", "slug", "owner", "title", "description", "markets", "category", "update_frequency",
           "columns_json", "sample_json", "tags", "source", "status", "version", "created_at")
_lock = threading.Lock()
_product_locks: dict[str, threading.RLock] = {}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a key of COLUMN_TYPES
    unit: str = ""


@dataclass(frozen=True)
class Product:
    product_id: str
    slug: str
    owner: str
    title: str
    description: str
    markets: tuple[str, ...]
    category: str
    update_frequency: str
    columns: tuple[Column, ...]
    sample: tuple[dict, ...]
    tags: tuple[str, ...]
    source: str
    status: str
    version: int
    created_at: datetime
    plans: tuple[PricePlan, ...] = field(default=())

    def plan_at(self, when: datetime) -> PricePlan | None:
        """The price plan in force at ``when`` (UTC), None before the first."""
        current = None
        for plan in self.plans:
            if plan.effective_from <= when:
                current = plan
        return current


def product_lock(product_id: str) -> threading.RLock:
    """This process's lock on one product's stored row: held while the row is read, changed and written again,
    so two changes in one process never write back each other's older copy (the data version above all)."""
    with _lock:
        return _product_locks.setdefault(str(product_id), threading.RLock())


def check_columns(columns: object) -> tuple[Column, ...]:
    """Declared columns ([{name, type, unit}]) checked: names lower-case identifiers, unique, types from
    COLUMN_TYPES, at least one datetime column (the one the API's start/end select on comes first)."""
    if not isinstance(columns, Sequence) or isinstance(columns, str) or not columns:
        raise MarketplaceError("schema: a list of columns is needed")
    if len(columns) > 100:
        raise MarketplaceError("schema: at most 100 columns")
    out, seen = [], set()
    for i, column in enumerate(columns, 1):
        if not isinstance(column, dict):
            raise MarketplaceError(f"schema column {i}: name, type and unit are needed")
        name, kind, unit = column.get("name"), column.get("type"), column.get("unit", "") or ""
        if not isinstance(name, str) or not _COLUMN.fullmatch(name):
            raise MarketplaceError(f"schema column {i}: the name must be lower-case letters, digits and _, "
                                   f"starting with a letter, not {name!r}")
        if name in seen:
            raise MarketplaceError(f"schema column {i}: {name} is declared twice")
        if kind not in COLUMN_TYPES:
            raise MarketplaceError(f"schema column {name}: the type must be one of {', '.join(COLUMN_TYPES)}, "
                                   f"not {kind!r}")
        if not isinstance(unit, str) or len(unit) > 20:
            raise MarketplaceError(f"schema column {name}: the unit is text of at most 20 characters")
        seen.add(name)
        out.append(Column(name, kind, unit.strip()))
    if not any(c.type == "datetime" for c in out):
        raise MarketplaceError("schema: a datetime column is needed (the API selects rows by time)")
    return tuple(out)


def create_product(store: Store, *, editor: str, actor: str, slug: object, title: object, description: object,
                   markets: object, category: object, update_frequency: object, columns: object,
                   sample: object = (), tags: object = (), source: str = "") -> Product:
    """A new product in draft, owned by ``editor`` (a partner_id, or "platform" with a ``source``)."""
    slug = _check_slug(slug)
    values = _check_fields(title, description, markets, category, update_frequency, tags)
    declared = check_columns(columns)
    rows = _check_sample(sample, declared)
    if editor == PLATFORM and not source:
        raise MarketplaceError("a platform product names the store query it serves (source)")
    with _lock:
        if _select(store, "WHERE slug = {s:String}", {"s": slug}):
            raise MarketplaceError(f"the slug {slug} is taken")
        stamp = now_ms()
        product = Product(uuid.uuid4().hex, slug, editor, *values[:5], declared, rows, values[5],
                          source if editor == PLATFORM else "", "draft", 0, stamp.to_pydatetime())
        _save(store, product, stamp)
    audit(store, actor, "product", product.product_id, "created", {"slug": slug, "owner": editor})
    return product


def edit_product(store: Store, product_id: str, *, editor: str, actor: str, **changes) -> Product:
    """Change a product's description fields (title, description, markets, category, update_frequency, tags,
    sample); the schema is fixed once data is uploaded (version > 0)."""
    product = _editable(store, product_id, editor)
    allowed = {"title", "description", "markets", "category", "update_frequency", "tags", "sample", "columns"}
    unknown = set(changes) - allowed
    if unknown:
        raise MarketplaceError(f"cannot change {', '.join(sorted(unknown))}")
    merged = {name: changes.get(name, getattr(product, name)) for name in
              ("title", "description", "markets", "category", "update_frequency", "tags")}
    values = _check_fields(**merged)
    with product_lock(product.product_id):
        version = _version_now(store, product)  # an upload may have landed since the product was read
        declared = product.columns
        if "columns" in changes:
            if version > 0:
                raise MarketplaceError("the schema is fixed once data is uploaded: list a new product instead")
            declared = check_columns([c.__dict__ if isinstance(c, Column) else c for c in changes["columns"]])
        rows = _check_sample(changes.get("sample", product.sample), declared)
        changed = Product(product.product_id, product.slug, product.owner, *values[:5], declared, rows, values[5],
                          product.source, product.status, version, product.created_at, product.plans)
        _save(store, changed, now_ms())
    audit(store, actor, "product", product_id, "edited", {"fields": sorted(changes)})
    return changed


def set_status(store: Store, product_id: str, status: str, *, editor: str, actor: str) -> Product:
    """List, delist or relist; a product is listed only with a price plan."""
    product = _editable(store, product_id, editor)
    action = _MOVES.get((product.status, status))
    if action is None:
        raise MarketplaceError(f"a {product.status} product cannot become {status!r}")
    if status == "listed" and not product.plans:
        raise MarketplaceError("set a price plan before listing")
    with product_lock(product.product_id):
        changed = replace(product, status=status, version=_version_now(store, product))
        _save(store, changed, now_ms())
    audit(store, actor, "product", product_id, action, {"from": product.status, "to": status})
    return changed


def set_price(store: Store, product_id: str, *, kind: str, price: object, currency: str = DEFAULT_CURRENCY,
              effective_from: datetime | None = None, editor: str, actor: str) -> PricePlan:
    """A new price plan from ``effective_from`` (now by default; never in the past, so no billed month changes)."""
    product = _editable(store, product_id, editor)
    stamp, wall = now_ms(), wall_ms()  # the row's version; the time of day the price is compared with
    start = effective_from or wall.to_pydatetime()
    if start.tzinfo is None:
        raise MarketplaceError("the price's start needs a time zone")
    if start < wall.to_pydatetime() - pd.Timedelta(seconds=1):
        raise MarketplaceError("a price cannot start in the past (billed usage would change)")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise MarketplaceError(f"currency: a three-letter ISO 4217 code, not {currency!r}")
    if kind == "free":
        price = "0"
    try:
        plan = PricePlan(product.product_id, kind, money(price, "price"), start, currency)
    except StatementError as exc:
        raise MarketplaceError(str(exc)) from None
    if plan.price.as_tuple().exponent < -6:
        raise MarketplaceError("price: at most 6 decimal places")
    if plan.price > Decimal("1000000"):
        raise MarketplaceError("price: at most 1,000,000")
    if kind != "free" and plan.price == 0:
        raise MarketplaceError(f"a {kind} price must be above 0 (use the free plan)")
    store.command(
        "INSERT INTO price_plans (product_id, effective_from, kind, price, currency, created_by, created_at) VALUES "
        "({p:String}, {f:DateTime64(3, 'UTC')}, {k:String}, {v:Decimal(18, 6)}, {c:String}, {b:String}, "
        "{t:DateTime64(3, 'UTC')})",
        {"p": product.product_id, "f": plan.effective_from, "k": kind, "v": plan.price, "c": currency,
         "b": str(actor)[:320], "t": stamp.to_pydatetime()})
    audit(store, actor, "plan", product.product_id, "price set",
          {"kind": kind, "price": str(plan.price), "currency": currency, "from": plan.effective_from.isoformat()})
    return plan


def set_version(store: Store, product: Product, version: int) -> Product:
    """Point the product at its data version ``version`` (engine/marketplace/data.py, after an upload lands)."""
    with product_lock(product.product_id):
        current = get_product(store, product.product_id) or product  # as stored now, edits since it was read kept
        if current.version >= int(version):  # a later upload landed first: it stays the one served
            return current
        changed = replace(current, version=int(version))
        _save(store, changed, now_ms())
    return changed


def get_product(store: Store, product_id: str) -> Product | None:
    found = _select(store, "WHERE product_id = {p:String}", {"p": str(product_id)})
    return found[0] if found else None


def by_slug(store: Store, slug: str) -> Product | None:
    found = _select(store, "WHERE slug = {s:String}", {"s": str(slug)})
    return found[0] if found else None


def owned_by(store: Store, owner: str) -> list[Product]:
    return _select(store, "WHERE owner = {o:String}", {"o": str(owner)})


def _catalog_filters(text: str, market: str | None, category: str | None, price_kind: str | None,
                     update_frequency: str | None) -> tuple[list[str], dict[str, object], str]:
    """The WHERE conditions (fixed text, every value a bound parameter) and the ORDER BY of a catalog search."""
    if not isinstance(text, str) or len(text) > 200:
        raise MarketplaceError("search: text of at most 200 characters")
    if price_kind is not None and price_kind not in PLAN_KINDS:
        raise MarketplaceError(f"price filter: one of {', '.join(PLAN_KINDS)}")
    words = [w for w in text.lower().split() if w][:10]
    where = ["status = 'listed'"]
    params: dict[str, object] = {}
    for i, word in enumerate(words):
        params[f"w{i}"] = word
        where.append(f"positionCaseInsensitiveUTF8(concat(title, ' ', description, ' ', arrayStringConcat(tags, ' '), "
                     f"' ', slug), {{w{i}:String}}) > 0")
    if market:
        params["m"] = market
        where.append("has(markets, {m:String})")
    if category:
        params["c"] = category
        where.append("category = {c:String}")
    if update_frequency:
        params["f"] = update_frequency
        where.append("update_frequency = {f:String}")
    if price_kind is not None:
        # the plan in force now: the latest that has started (filtered here, before the LIMIT, not after it)
        params["pk"], params["now"] = price_kind, datetime.now(UTC)
        where.append("product_id IN (SELECT product_id FROM price_plans FINAL WHERE effective_from <= "
                     "{now:DateTime64(3, 'UTC')} GROUP BY product_id HAVING argMax(kind, effective_from) = "
                     "{pk:String})")
    score = " + ".join(f"(positionCaseInsensitiveUTF8(title, {{w{i}:String}}) > 0)" for i in range(len(words)))
    # the slug (unique) last, so equal titles keep one order and a page of results is the same page each time
    order = f"{score} DESC, title, slug" if score else "title, slug"
    return where, params, order


def catalog(store: Store, text: str = "", *, market: str | None = None, category: str | None = None,
            price_kind: str | None = None, update_frequency: str | None = None, limit: int = 50) -> list[Product]:
    """Listed products matching every word of ``text`` (in title, description, tags or slug, any case) and the
    filters, best match first (title hits before description hits), at most ``limit``."""
    where, params, order = _catalog_filters(text, market, category, price_kind, update_frequency)
    params["n"] = max(1, min(int(limit), 500))
    return _select(store, "WHERE " + " AND ".join(where), params, order=order, limit=True)


@dataclass(frozen=True)
class CatalogPage:
    """One page of a catalog search: ``found`` (columns CATALOG_COLUMNS, in the search's order) and ``total``,
    the number of products matching (on every page), counted by the same query."""
    found: pd.DataFrame
    total: int
    offset: int


#: what a catalog card needs of a product (not its schema or sample), with its provider's name
CATALOG_COLUMNS = ("product_id", "slug", "owner", "provider", "title", "description", "markets", "category",
                   "update_frequency", "tags")


def catalog_page(store: Store, text: str = "", *, market: str | None = None, category: str | None = None,
                 price_kind: str | None = None, update_frequency: str | None = None, platform_label: str,
                 offset: int = 0, limit: int = 24) -> CatalogPage:
    """The listed products on sale (owned by the platform, shown as ``platform_label``, or by an active partner,
    shown by its organisation) matching the search as ``catalog`` does: rows ``offset`` to ``offset + limit``
    and how many match in all, from one query, so the count and the page agree and one page of rows leaves
    the store."""
    where, params, order = _catalog_filters(text, market, category, price_kind, update_frequency)
    params.update({"platform": PLATFORM, "label": platform_label, "n": max(1, min(int(limit), 500)),
                   "o": max(0, int(offset))})
    where.append("(owner = {platform:String} OR owner IN (SELECT partner_id FROM partners FINAL WHERE status = "
                 "'active'))")
    # where and order: built in _catalog_filters from fixed text; every value is a bound parameter. The page is
    # cut first (the count over every match, a top-n sort for the page), then only its rows meet their providers.
    sql = ("SELECT product_id, slug, owner, if(owner = {platform:String}, {label:String}, organisation) AS provider, "  # noqa: S608
           "title, description, markets, category, update_frequency, tags, total FROM (SELECT product_id, slug, "
           "owner, title, description, markets, category, update_frequency, tags, count() OVER () AS total FROM "
           f"products FINAL WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {{n:UInt32}} OFFSET {{o:UInt64}}) AS "
           "found LEFT JOIN (SELECT partner_id, organisation FROM partners FINAL WHERE status = 'active') AS sellers "
           f"ON found.owner = sellers.partner_id ORDER BY {order}")
    found = store.query_df(sql, params)
    total = int(found["total"].iloc[0]) if len(found) else 0
    if not len(found) and offset > 0:  # past the last page: count alone, so the page can say how many there are
        total = int(store.scalar(f"SELECT count() FROM products FINAL WHERE {' AND '.join(where)}", params))  # noqa: S608
    return CatalogPage(found[list(CATALOG_COLUMNS)].reset_index(drop=True), total, max(0, int(offset)))


def plans_in_force(store: Store, product_ids: Sequence[str], at: datetime) -> dict[str, PricePlan]:
    """The price plan in force at ``at`` (the latest started by then) of each of ``product_ids`` that has one."""
    found = store.query_df(
        "SELECT product_id, argMax(kind, effective_from) AS kind, toString(argMax(price, effective_from)) AS price, "
        "argMax(currency, effective_from) AS currency, max(effective_from) AS started FROM price_plans FINAL "
        "WHERE product_id IN {ids:Array(String)} AND effective_from <= {at:DateTime64(3, 'UTC')} GROUP BY product_id",
        {"ids": list(product_ids), "at": at})
    return {r.product_id: PricePlan(r.product_id, r.kind, Decimal(r.price), pd.Timestamp(r.started)
                                    .to_pydatetime(), r.currency) for r in found.itertuples(index=False)}


def plans_of(store: Store, product_ids: Sequence[str]) -> dict[str, tuple[PricePlan, ...]]:
    """Each product's price plans, oldest first."""
    return _plans(store, list(product_ids)) if product_ids else {}


def _editable(store: Store, product_id: str, editor: str) -> Product:
    product = get_product(store, product_id)
    if product is None or (editor != PLATFORM and product.owner != editor):
        raise MarketplaceError("no such product")  # another partner's product is not even acknowledged
    return product


def _check_slug(slug: object) -> str:
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        raise MarketplaceError("slug: 3 to 64 lower-case letters, digits and dashes, not starting or ending with a "
                               "dash")
    return slug


def _check_fields(title, description, markets, category, update_frequency, tags):
    title = checked_text(title, "title", 3, 120)
    description = checked_text(description, "description", 0, 5000, squeeze=False)
    if isinstance(markets, str) or not isinstance(markets, Sequence) or not markets or len(markets) > 20 or \
            not all(isinstance(m, str) and re.fullmatch(r"[A-Za-z0-9_.-]{2,20}", m) for m in markets):
        raise MarketplaceError("markets: one to 20 market ids (letters, digits, dots, dashes)")
    if category not in CATEGORIES:
        raise MarketplaceError(f"category: one of {', '.join(CATEGORIES)}")
    if update_frequency not in FREQUENCIES:
        raise MarketplaceError(f"update frequency: one of {', '.join(FREQUENCIES)}")
    if isinstance(tags, str) or not isinstance(tags, Sequence) or len(tags) > 20:
        raise MarketplaceError("tags: a list of at most 20")
    cleaned = []
    for tag in tags:
        tag = tag.strip().lower() if isinstance(tag, str) else tag
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise MarketplaceError(f"tag {tag!r}: lower-case letters, digits, spaces, dots or dashes, at most 31")
        cleaned.append(tag)
    return (title, description, tuple(markets), category, update_frequency, tuple(dict.fromkeys(cleaned)))


def _check_sample(sample: object, columns: tuple[Column, ...]) -> tuple[dict, ...]:
    if isinstance(sample, dict | str) or not isinstance(sample, Sequence):
        raise MarketplaceError("sample: a list of rows")
    if len(sample) > 50:
        raise MarketplaceError("sample: at most 50 rows")
    names = {c.name for c in columns}
    out = []
    for i, row in enumerate(sample, 1):
        if not isinstance(row, dict) or set(row) != names:
            raise MarketplaceError(f"sample row {i}: exactly the declared columns ({', '.join(sorted(names))})")
        out.append(dict(row))
    try:
        json.dumps(out)
    except (TypeError, ValueError):
        raise MarketplaceError("sample: values must be numbers, text or null") from None
    return tuple(out)


def _select(store: Store, where: str, params: dict, order: str = "created_at, product_id",
            limit: bool = False) -> list[Product]:
    # where and order: clauses built in this module from fixed text; every value is a bound parameter
    sql = f"SELECT {', '.join(_FIELDS)} FROM products FINAL {where} ORDER BY {order}"  # noqa: S608
    df = store.query_df(sql + (" LIMIT {n:UInt32}" if limit else ""), params)
    if df.empty:
        return []
    plans = _plans(store, list(df["product_id"]))
    out = []
    for row in df.to_dict("records"):
        out.append(Product(
            row["product_id"], row["slug"], row["owner"], row["title"], row["description"], tuple(row["markets"]),
            row["category"], row["update_frequency"],
            tuple(Column(**c) for c in json.loads(row["columns_json"])), tuple(json.loads(row["sample_json"])),
            tuple(row["tags"]), row["source"], row["status"], int(row["version"]),
            pd.Timestamp(row["created_at"]).to_pydatetime(), plans.get(row["product_id"], ())))
    return out


def _plans(store: Store, product_ids: list[str]) -> dict[str, tuple[PricePlan, ...]]:
    df = store.query_df("SELECT product_id, effective_from, kind, toString(price) AS price, currency FROM "
                        "price_plans FINAL WHERE product_id IN {ids:Array(String)} ORDER BY product_id, "
                        "effective_from", {"ids": product_ids})
    out: dict[str, list[PricePlan]] = {}
    for row in df.to_dict("records"):
        out.setdefault(row["product_id"], []).append(PricePlan(
            row["product_id"], row["kind"], Decimal(row["price"]),
            pd.Timestamp(row["effective_from"]).to_pydatetime(), row["currency"]))
    return {k: tuple(v) for k, v in out.items()}


def _version_now(store: Store, product: Product) -> int:
    """The product's data version as stored now, or as it was read if that is later: a change saved with it keeps
    an upload that landed since the product was read the one served."""
    stored = store.scalar("SELECT version FROM products FINAL WHERE product_id = {p:String}",
                          {"p": product.product_id})
    return max(product.version, int(stored or 0))


def _save(store: Store, product: Product, stamp: pd.Timestamp) -> None:
    store.command(
        "INSERT INTO products (product_id, slug, owner, title, description, markets, category, update_frequency, "
        "columns_json, sample_json, tags, source, status, version, created_at, updated_at) VALUES ({p:String}, "
        "{s:String}, {o:String}, {t:String}, {d:String}, {m:Array(String)}, {c:String}, {f:String}, {cj:String}, "
        "{sj:String}, {g:Array(String)}, {src:String}, {st:String}, {v:UInt32}, {ca:DateTime64(3, 'UTC')}, "
        "{ua:DateTime64(3, 'UTC')})",
        {"p": product.product_id, "s": product.slug, "o": product.owner, "t": product.title,
         "d": product.description, "m": list(product.markets), "c": product.category, "f": product.update_frequency,
         "cj": json.dumps([c.__dict__ for c in product.columns]), "sj": json.dumps(list(product.sample)),
         "g": list(product.tags), "src": product.source, "st": product.status, "v": product.version,
         "ca": product.created_at, "ua": stamp.to_pydatetime()})
