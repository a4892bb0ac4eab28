"""The platform's own data products: series of our store sold through the marketplace, declared once here.

Each declared product names its ``source``, ``prices/<market>/<location>/<price_kind>/<resolution>``: the price
series (with the location's demand beside it) that ``engine.queries.price_series`` draws for the overview, at
``raw`` (the stored intervals), ``hour`` or ``day`` resolution. ``ensure_platform_products`` creates, updates,
prices and lists the declared products whose series the store holds (the rest are left alone until their data
is loaded), and writes nothing when everything is already as declared, so it can run at every start. They
declare no sample rows: their series is stored, so a sample is read live (``serving.sample_window``).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from engine import queries
from engine.marketplace import products
from engine.marketplace.products import PLATFORM, Product
from engine.store import Store

RESOLUTIONS = ("raw", "hour", "day")
ACTOR = "platform"


@dataclass(frozen=True)
class Source:
    market: str
    location: str
    price_kind: str
    resolution: str

    def __str__(self) -> str:
        return f"prices/{self.market}/{self.location}/{self.price_kind}/{self.resolution}"


@dataclass(frozen=True)
class Declared:
    slug: str
    title: str
    description: str
    source: Source
    update_frequency: str
    plan: tuple[str, str]  # (kind, price)
    tags: tuple[str, ...]
    category: str = "prices"


def parse_source(text: str) -> Source:
    """The series a platform product's ``source`` names; ValueError for anything else."""
    parts = (text or "").split("/")
    if len(parts) != 5 or parts[0] != "prices" or parts[4] not in RESOLUTIONS or not all(parts[1:4]):
        raise ValueError(f"not a platform source: {text!r}")
    return Source(*parts[1:])


def columns(source: Source) -> list[dict]:
    currency = queries.known_market(source.market).currency
    return [{"name": "interval_start", "type": "datetime", "unit": "UTC"},
            {"name": "interval_minutes", "type": "integer", "unit": "min"},
            {"name": "price", "type": "float", "unit": f"{currency}/MWh"},
            {"name": "demand_mw", "type": "float", "unit": "MW"}]


_NEM_NAMES = {"NSW1": "New South Wales", "QLD1": "Queensland", "VIC1": "Victoria", "SA1": "South Australia",
              "TAS1": "Tasmania"}


def _nem(region: str) -> tuple[Declared, ...]:
    name = _NEM_NAMES[region]
    return (
        Declared(f"nem-{region.lower()}-5min-prices", f"NEM {name} 5-minute prices and demand",
                 f"AEMO settlement prices of the {name} region ({region}) for every 5-minute interval, with the "
                 "region's operational demand. Times are interval starts in UTC.",
                 Source("NEM", region, "settlement", "raw"), "5 minutes", ("per_1000_rows", "0.05"),
                 ("nem", "5-minute", region.lower(), "spot")),
        Declared(f"nem-{region.lower()}-hourly-prices", f"NEM {name} hourly prices",
                 f"Hourly means of the {name} region's ({region}) 5-minute settlement prices and demand, from the "
                 "platform's hourly aggregates. Times are hour starts in UTC.",
                 Source("NEM", region, "settlement", "hour"), "hourly", ("per_call", "0.002"),
                 ("nem", "hourly", region.lower(), "spot")),
    )


#: Every platform product, by slug.
DECLARED: dict[str, Declared] = {d.slug: d for d in (
    *(p for region in _NEM_NAMES for p in _nem(region)),
    Declared("ieso-hoep-hourly", "IESO Ontario hourly energy price (HOEP)",
             "The Hourly Ontario Energy Price as IESO publishes it, one value per hour, with Ontario demand where "
             "stored. Times are hour starts in UTC.",
             Source("IESO", "ONTARIO", "HOEP", "raw"), "hourly", ("per_call", "0.002"), ("ieso", "ontario", "hoep")),
)}


def stored_series(store: Store) -> set[tuple[str, str, str]]:
    """(market, location, price_kind) of every stored price series."""
    found = store.query_df("SELECT DISTINCT market, location, price_kind FROM prices_daily")
    return set(found.itertuples(index=False, name=None))


def ensure_platform_products(store: Store) -> list[Product]:
    """Create, update, price and list every declared product whose series is stored; the listed products.
    Nothing is written for a product already as declared."""
    stored = stored_series(store)
    existing = {p.slug: p for p in products.owned_by(store, PLATFORM)}
    # a declared slug a partner holds stops the whole run before anything is written, not half way through
    taken = store.query_df("SELECT slug FROM products FINAL WHERE slug IN {s:Array(String)} AND owner != "
                           "{p:String} ORDER BY slug", {"s": list(DECLARED), "p": PLATFORM}, columns_if_empty=False)
    if len(taken):
        raise ValueError(f"the slug {taken['slug'].iat[0]} belongs to a partner product, not the platform's")
    listed = []
    for declared in DECLARED.values():
        source = declared.source
        if (source.market, source.location, source.price_kind) in stored:
            listed.append(_ensure(store, declared, existing.get(declared.slug)))
    return listed


def _ensure(store: Store, declared: Declared, product: Product | None) -> Product:
    wanted = {"title": declared.title, "description": declared.description, "markets": (declared.source.market,),
              "category": declared.category, "update_frequency": declared.update_frequency,
              "tags": declared.tags}
    # a partner's product of this slug was refused above; one made since is refused by create_product
    if product is None:
        product = products.create_product(
            store, editor=PLATFORM, actor=ACTOR, slug=declared.slug, columns=columns(declared.source),
            source=str(declared.source),
            **{**wanted, "markets": list(wanted["markets"]), "tags": list(wanted["tags"])})
    elif any(getattr(product, name) != value for name, value in wanted.items()):
        product = products.edit_product(store, product.product_id, editor=PLATFORM, actor=ACTOR,
                                        **{k: list(v) if isinstance(v, tuple) else v for k, v in wanted.items()})
    kind, price = declared.plan
    current = product.plan_at(pd.Timestamp.now(tz="UTC").to_pydatetime())
    if current is None or current.kind != kind or current.price != Decimal(price):
        products.set_price(store, product.product_id, kind=kind, price=price, editor=PLATFORM, actor=ACTOR)
    if product.status != "listed":
        product = products.set_status(store, product.product_id, "listed", editor=PLATFORM, actor=ACTOR)
    return product


def rows(store: Store, source: Source, start: pd.Timestamp, end: pd.Timestamp, *,
         read: queries.Reader | None = None) -> pd.DataFrame:
    """The series in [start, end) (UTC instants), in time order, as the product's declared columns. ``read``: the
    app's cache, through which a raw or hourly range is cut from the month pieces the overview reads."""
    pieced = None if read is None else queries.pieced_series(read, source.market, source.location, start, end,
                                                             price_kind=source.price_kind,
                                                             resolution=source.resolution)
    series, _ = pieced or queries.price_series(store, source.market, source.location, start, end,
                                               price_kind=source.price_kind, resolution=source.resolution)
    out = series[["interval_start", "interval_minutes", "price", "demand_mw"]].copy()
    out["interval_minutes"] = out["interval_minutes"].astype("int64")
    return out


def span(store: Store, source: Source) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """[first, end) of the stored series, by whole days of the daily aggregate."""
    found = queries.data_span(store, source.market, source.location, source.price_kind)
    if found is None:
        return None
    return pd.Timestamp(found[0]), pd.Timestamp(found[1]) + pd.Timedelta(days=1)
