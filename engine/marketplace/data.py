"""Partner products' data in the store: one table per product, its declared columns plus the upload version.

The table is made on the first upload from the product's declared schema (``products.COLUMN_TYPES``), named by
the product id (``partner_data_<id>``, never by anything a partner typed). Each upload is a new version, written
in one insert (a file lands whole or not at all) and then the product's version moves to it; readers serve the
product's current version, so an upload half written is never seen and an older version stays readable until it
is dropped. Only this module writes these tables, and it is given the product (checked by the caller to be the
partner's own).
"""
from __future__ import annotations

import re

import pandas as pd

from engine.marketplace import products
from engine.marketplace.partners import MarketplaceError, audit
from engine.marketplace.products import COLUMN_TYPES, Product
from engine.marketplace.uploads import checked_upload
from engine.store import Store
from engine.store.engines import for_database

VERSION_COLUMN = "_version"
_ID = re.compile(r"[0-9a-f]{32}")


def table_name(product: Product) -> str:
    if not _ID.fullmatch(product.product_id):
        raise MarketplaceError("not a stored product")
    return f"partner_data_{product.product_id}"


def upload(store: Store, product: Product, data: bytes, filename: str, *, actor: str) -> tuple[int, int]:
    """Check ``data`` against ``product``'s schema and store it as the next version; (version, rows)."""
    if product.owner == products.PLATFORM:
        raise MarketplaceError("a platform product serves the store's own data: nothing to upload")
    frame = checked_upload(data, filename, product.columns)
    _ensure_table(store, product)
    version = product.version + 1
    frame[VERSION_COLUMN] = version
    store.insert_df(table_name(product), frame)
    products.set_version(store, product, version)
    audit(store, actor, "product", product.product_id, "data uploaded",
          {"version": version, "rows": len(frame), "file": filename[:200]})
    return version, len(frame)


def rows(store: Store, product: Product, start: pd.Timestamp, end: pd.Timestamp, limit: int = 1_000_000
         ) -> pd.DataFrame:
    """The current version's rows with the first datetime column in [start, end), in time order (at most
    ``limit``); the declared columns only."""
    names = [c.name for c in product.columns]
    if product.version == 0:
        return pd.DataFrame(columns=names)
    time_column = next(c.name for c in product.columns if c.type == "datetime")
    cols = ", ".join(f"`{n}`" for n in names)
    # the table name comes from the product id (32 hex digits) and the columns from the checked schema
    sql = (f"SELECT {cols} FROM `{table_name(product)}` WHERE {VERSION_COLUMN} = {{v:UInt32}} AND "  # noqa: S608
           f"`{time_column}` >= {{a:DateTime64(3, 'UTC')}} AND `{time_column}` < {{b:DateTime64(3, 'UTC')}} "
           f"ORDER BY `{time_column}` LIMIT {{n:UInt64}}")
    return store.query_df(sql, {"v": product.version, "a": start.to_pydatetime(), "b": end.to_pydatetime(),
                                "n": int(limit)})


def _ensure_table(store: Store, product: Product) -> None:
    # times are never empty (uploads refuse a row without one) and the first is the sort key; the rest may be
    columns = ", ".join(f"`{c.name}` {COLUMN_TYPES[c.type] if c.type == 'datetime' else _nullable(c.type)}"
                        for c in product.columns)
    time_column = next(c.name for c in product.columns if c.type == "datetime")
    store.command(for_database(store, f"CREATE TABLE IF NOT EXISTS `{table_name(product)}` ({columns}, "
                                      f"`{VERSION_COLUMN}` UInt32) ENGINE = MergeTree "
                                      f"ORDER BY ({VERSION_COLUMN}, `{time_column}`)"))


def _nullable(kind: str) -> str:
    return f"Nullable({COLUMN_TYPES[kind]})"


def span(store: Store, product: Product) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """[first, last + 1 ms) of the current version's first datetime column; None before the first upload."""
    if product.version == 0:
        return None
    time_column = next(c.name for c in product.columns if c.type == "datetime")
    # the table name comes from the product id (32 hex digits) and the column from the checked schema
    found = store.query_df(f"SELECT min(`{time_column}`) AS first, max(`{time_column}`) AS last, count() AS n "  # noqa: S608
                           f"FROM `{table_name(product)}` WHERE {VERSION_COLUMN} = {{v:UInt32}}",
                           {"v": product.version})
    if int(found.at[0, "n"]) == 0:
        return None
    return pd.Timestamp(found.at[0, "first"]), pd.Timestamp(found.at[0, "last"]) + pd.Timedelta(milliseconds=1)
