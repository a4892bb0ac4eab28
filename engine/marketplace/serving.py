"""What the product API serves: a product's rows for a time range, whoever holds them (a partner's uploads or
the platform's own series), and the sandbox's sample window.

The sample window of a product is the last SAMPLE_DAYS whole UTC days holding its data: from midnight UTC
SAMPLE_DAYS - 1 days before the day of its newest stored instant to the midnight after it. A sandbox key sees
that window only: a request reaching outside it is cut to it, so a buyer tries the product on real, recent rows
without being served the history it would pay for.
"""
from __future__ import annotations

import pandas as pd

from engine import queries
from engine.marketplace import data, platform
from engine.marketplace.products import PLATFORM, Product
from engine.store import Store

SAMPLE_DAYS = 7
#: Where the app serves the API's reference page (app/marketplace_api.py; the pages link to it).
API_DOCS_PATH = "/api/v1/docs"
#: Where the app serves a product's data (OpenAPI's path template; app/marketplace_api.py routes it).
PRODUCT_DATA_PATH = "/api/v1/products/{slug}/data"
#: at most this many rows in one answer (a longer range is refused, not cut: the client asks in pieces); the same
#: bound as the REST API's raw prices
MAX_ROWS = queries.MAX_RAW_ANSWER


class TooManyRows(ValueError):
    """The range holds more rows than one answer may carry."""


def stored_span(store: Store, product: Product) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """[first, end) of the product's stored data (UTC); None when it holds none."""
    if product.owner == PLATFORM:
        return platform.span(store, platform.parse_source(product.source))
    return data.span(store, product)


def sample_window(span: tuple[pd.Timestamp, pd.Timestamp] | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The sandbox's window for a product's stored span [first, end): its last SAMPLE_DAYS UTC days."""
    if span is None:
        return None
    last_day = (span[1] - pd.Timedelta(milliseconds=1)).floor("D")
    return last_day - pd.Timedelta(days=SAMPLE_DAYS - 1), last_day + pd.Timedelta(days=1)


def product_rows(store: Store, product: Product, start: pd.Timestamp, end: pd.Timestamp, *,
                 read: queries.Reader | None = None) -> pd.DataFrame:
    """The product's declared columns for [start, end) (UTC), in time order; TooManyRows beyond MAX_ROWS.
    ``read``: the app's cache, for a platform product's series (``platform.rows``)."""
    if product.owner == PLATFORM:
        frame = platform.rows(store, platform.parse_source(product.source), start, end, read=read)
    else:
        frame = data.rows(store, product, start, end, limit=MAX_ROWS + 1)
    if len(frame) > MAX_ROWS:
        raise TooManyRows(f"the range holds more than {MAX_ROWS:,} rows: ask for a shorter one")
    return frame


def product_data_path(slug: str) -> str:
    """The address of ``slug``'s data in the product API."""
    return PRODUCT_DATA_PATH.format(slug=slug)


def api_csv(frame: pd.DataFrame) -> str:
    """The product API's CSV of ``frame``: the declared columns, times as its JSON answer writes them (ISO 8601
    in UTC, milliseconds, Z), not pandas' "2026-03-01 00:00:00+00:00"."""
    out = frame.copy()
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name]):
            times = out[name].dt.tz_localize("UTC") if out[name].dt.tz is None else out[name].dt.tz_convert("UTC")
            out[name] = times.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    return out.to_csv(index=False)
