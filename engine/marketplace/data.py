"""Partner products' data in the store: one table per product, its declared columns plus the upload version.

The table is made on the first upload from the product's declared schema (``products.COLUMN_TYPES``), named by
the product id (``partner_data_<id>``, never by anything a partner typed). Each upload is a new version, written
in one insert (a file lands whole or not at all) and then the product's version moves to it; readers serve the
product's current version, so an upload half written is never seen and an older version stays readable until it
is dropped. Only this module writes these tables, and it is given the product (checked by the caller to be the
partner's own).

Uploads to one product at the same moment (threads of a worker, or several workers on one ClickHouse server)
each get a version of their own: one process takes them in turn, and across processes each upload claims its
number in ``VERSIONS_TABLE`` before writing a row, keeping it only if no other claim on that number is seen
(ClickHouse has no compare-and-set; see ``_claim_version``).
"""
from __future__ import annotations

import random
import re
import time
import uuid

import pandas as pd

from engine.marketplace import products
from engine.marketplace.partners import MarketplaceError, audit
from engine.marketplace.products import COLUMN_TYPES, Product
from engine.marketplace.uploads import checked_upload
from engine.store import Store
from engine.store.engines import for_database

VERSION_COLUMN = "_version"
#: every version number an upload has claimed, per product (the claims of uploads that lost a race included;
#: migration 023)
VERSIONS_TABLE = "partner_data_versions"
#: claims an upload makes before giving up (each lost only to another upload claiming the same number)
CLAIM_ATTEMPTS = 20
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
    # held from the claim to the pointer's move, so this process's uploads of one product land in version order
    with products.product_lock(product.product_id):
        version = _claim_version(store, product)
        frame[VERSION_COLUMN] = version
        store.insert_df(table_name(product), frame)
        products.set_version(store, product, version)
    audit(store, actor, "product", product.product_id, "data uploaded",
          {"version": version, "rows": len(frame), "file": filename[:200]})
    return version, len(frame)


def _claim_version(store: Store, product: Product) -> int:
    """A version number no other upload of ``product`` gets, in whatever process it runs.

    The claim is a row of VERSIONS_TABLE, read back after it is written: it holds when it is the only claim on
    its number. Of two claims on one number, the one read back first either sees the other (both lose and
    claim again, higher) or was written before the other was read back, which then sees it: never do both
    hold. A claim is read back from the server that took it (as one ClickHouse server does; a Replicated
    database would need the insert quorum for it)."""
    upload_id = uuid.uuid4().hex
    for attempt in range(CLAIM_ATTEMPTS):
        version = _taken(store, product) + 1
        store.command(f"INSERT INTO {VERSIONS_TABLE} (product_id, version, upload_id, claimed_at) VALUES "  # noqa: S608
                      "({p:String}, {v:UInt32}, {u:String}, now64(3))",
                      {"p": product.product_id, "v": version, "u": upload_id})
        claims = store.query_rows(f"SELECT upload_id FROM {VERSIONS_TABLE} WHERE product_id = {{p:String}} "  # noqa: S608
                                  "AND version = {v:UInt32}", {"p": product.product_id, "v": version})
        if claims == [(upload_id,)]:
            return version
        # another upload wants the same number: both step back a random while, so the next claims differ in time
        time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 -- a back-off, not a secret
    raise MarketplaceError("other uploads to this product were being stored at the same moment; nothing of this "
                           "file is stored: send it again")


def _taken(store: Store, product: Product) -> int:
    """The highest version of ``product`` claimed, stored or pointed at (uploads made before claims were kept
    have rows and a pointer, no claim)."""
    return int(store.scalar(
        f"SELECT greatest((SELECT max(version) FROM {VERSIONS_TABLE} WHERE product_id = {{p:String}}), "  # noqa: S608
        f"(SELECT max({VERSION_COLUMN}) FROM `{table_name(product)}`), "
        "(SELECT max(version) FROM products WHERE product_id = {p:String}))", {"p": product.product_id}) or 0)


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
