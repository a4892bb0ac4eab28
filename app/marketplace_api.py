"""The marketplace's product API under ``/api/v1``: a product's data for an API key, a partner's uploads, and the
OpenAPI description of the public API.

``GET /api/v1/products/<slug>/data?start=&end=&format=json|csv`` is judged by its ``Authorization: Bearer`` key
alone (the session boundary lets it through, app/access.py), in the order a client needs to hear it: 401 (no,
malformed, unknown, revoked or expired key), 403 (a product the key is not entitled to), 404 (no such product
served), 429 (the key's rate per minute or its lifetime quota, counted in flask-limiter's storage: Redis when
configured, this process's memory otherwise), 400 (a bad parameter, named). A sandbox key sees the product's
sample window only (``engine.marketplace.serving``). Every call whose key id is known is metered: a record handed
to the app's ``Meter``, which writes ``api_usage`` in batches off the request path.

A key's stored row and a product's description are read from the store at most once per KEY_TTL seconds per
process and key (or product): a revoked key is refused within KEY_TTL seconds on every worker.

``POST /api/v1/partner/products/<slug>/data`` takes a CSV or Parquet body (or a multipart ``file``) from a
partner: with ``Authorization: Bearer`` a live key of the partner's own account (``keys.issue_partner_key``;
no CSRF token, as no browser sends that header across sites), or else the signed-in partner's session (which
passes the CSRF check of app/security.py like any form). Another partner's product is "not found".
"""
from __future__ import annotations

import atexit
import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from limits import RateLimitItemPerMinute, RateLimitItemPerYear

from app import api_docs, auth, json_answers
from app.counters import API_CALLS
from app.query_params import unknown_parameter
from app.services import services
from engine import queries
from engine.marketplace import data, keys, partners, products, serving, uploads
from engine.marketplace.metering import Meter
from engine.marketplace.partners import MarketplaceError
from engine.marketplace.products import PLATFORM, Product
from engine.queries import QueryError
from engine.store import MigrationsPending, StoreError

log = logging.getLogger(__name__)
api = Blueprint("marketplace_api", __name__, url_prefix="/api/v1")
#: Paths judged by an API key (or, for uploads, the partner's session) instead of the session boundary.
KEY_PREFIXES = ("/api/v1/products/", "/api/v1/partner/")
OPENAPI_PATH = "/api/v1/openapi.json"
DOCS_PATH = serving.API_DOCS_PATH  # the same description as a page to read
#: Paths where a Bearer key, not a session cookie, authenticates an unsafe request (no CSRF token needed).
BEARER_WRITE_PREFIXES = ("/api/v1/partner/",)
STATE_KEY = "c254_marketplace_api"
#: seconds a key's stored row (and a product's description) is reused before the store is asked again
KEY_TTL = 2.0
#: the lifetime quota's window in flask-limiter's storage: longer than any key lives
QUOTA_YEARS = 20
#: the longest range one call may ask for
MAX_DAYS = 366
FORMATS = ("json", "csv")
#: the latest end a range may have (what an upload may hold ends there too)
LATEST_END = queries.PRODUCT_INSTANTS[1]
#: seconds a client is asked to wait when the limits' storage is down
LIMITS_RETRY = 30
_ISO = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:?\d\d)?)?")


class BadParameter(ValueError):
    pass


class _Recent:
    """Values loaded at most once per ``ttl`` seconds per key (a dict with a lock: a handful of keys and
    products per process, each a few hundred bytes)."""

    def __init__(self, ttl: float, capacity: int = 10_000):
        self.ttl, self._capacity = ttl, capacity
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        value = load()
        with self._lock:
            if len(self._items) >= self._capacity:
                self._items.clear()  # a crude bound: reloading everything once in a while is cheap
            self._items[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class ApiState:
    """Per app: the recent keys and products (the store read at most once per KEY_TTL seconds each), and the usage
    meter, started on the first metered call (an app that serves no product call, as most test apps, runs no
    meter thread) and closed, its queue written, when the process exits. ``metering`` off: calls are not
    recorded (the bench measures what recording costs)."""

    def __init__(self, write: Callable[[pd.DataFrame], None], *, metering: bool = True, ttl: float = KEY_TTL):
        self.keys = _Recent(ttl)
        self.products = _Recent(ttl)
        self.metering = metering
        self._write = write
        self._meter: Meter | None = None
        self._lock = threading.Lock()

    def meter(self) -> Meter | None:
        if not self.metering:
            return None
        if self._meter is None:
            with self._lock:
                if self._meter is None:
                    meter = Meter(self._write)
                    atexit.register(meter.close)
                    self._meter = meter
        return self._meter


def init_app(server: Flask, *, metering: bool = True) -> None:
    """Register the routes and the app's API state (its usage meter writes ``api_usage``)."""
    store = services(server).store

    def write(frame: pd.DataFrame) -> None:
        store.insert_df("api_usage", frame)

    server.register_blueprint(api)
    server.extensions[STATE_KEY] = ApiState(write, metering=metering)


def meter_of(server: Flask) -> Meter | None:
    """The app's usage meter (started now if it was not yet); None with metering off."""
    return server.extensions[STATE_KEY].meter()


# ------------------------------------------------------------------------------------------------ errors

def _error(status: int, message: str, **extra: Any) -> Response:
    answer = jsonify({"error": message, **extra})
    answer.status_code = status
    return answer


@api.errorhandler(BadParameter)
def _bad_parameter(exc: BadParameter):
    return _error(400, str(exc))


@api.errorhandler(QueryError)
def _query_refused(exc: QueryError):
    return _error(400, str(exc))


@api.errorhandler(StoreError)
def _store_failed(exc: StoreError):
    request_id = g.get("request_id", "")
    log.error("request %s: the store failed: %s", request_id, exc)
    error = ("the store is not set up yet: an operator runs `flask --app app.wsgi store init`"
             if isinstance(exc, MigrationsPending) else "the store could not answer; try again")
    return _error(503, error, request_id=request_id)


# ------------------------------------------------------------------------------------------ product data

def _instant(name: str) -> pd.Timestamp | None:
    """An ISO 8601 date or instant (UTC when it names no offset); None when the parameter is absent."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    stamp = pd.NaT
    if _ISO.fullmatch(value):  # pandas alone would read "2026-03-01T14:00:00 00:00" (a + sent unescaped) as midnight
        with contextlib.suppress(ValueError, TypeError, OverflowError):
            stamp = pd.Timestamp(value)
    first, last = queries.EARLIEST_DATE.year, queries.LATEST_DATE.year  # the years an upload may hold too
    if pd.isna(stamp) or not first <= stamp.year <= last:
        raise BadParameter(f"parameter {name!r}: an ISO 8601 date or time between {first} and {last}, e.g. "
                           f"2026-10-01 or 2026-10-01T00:00:00Z; send an offset's + as %2B (got {value[:40]!r})")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _range(window: tuple[pd.Timestamp, pd.Timestamp] | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) asked for. Neither given: the product's sample window (the last SAMPLE_DAYS days of its data,
    or of the calendar when it holds none); one given: SAMPLE_DAYS days from or to it."""
    start, end = _instant("start"), _instant("end")
    days = pd.Timedelta(days=serving.SAMPLE_DAYS)
    if start is None and end is None:
        if window is not None:
            return window
        end = pd.Timestamp.now(tz="UTC").ceil("D")
    if start is None:
        start = end - days
    if end is None:
        end = start + days
    if end <= start:
        raise BadParameter("parameter 'end' must be after 'start' (end is exclusive)")
    if end - start > pd.Timedelta(days=MAX_DAYS):
        raise BadParameter(f"parameter 'end': at most {MAX_DAYS} days after 'start' in one call")
    if end > LATEST_END:
        raise BadParameter(f"parameter 'end': at most {LATEST_END:%Y-%m-%dT%H:%M:%SZ} (without it, the end is "
                           f"{serving.SAMPLE_DAYS} days after 'start')")
    return start, end


def _format() -> str:
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise BadParameter(f"parameter 'format' must be one of {', '.join(FORMATS)} (got {fmt[:20]!r})")
    return fmt


def _served(store, slug: str) -> tuple[Product, str, bool, tuple | None] | None:
    """(product, its partner's user id ("" for the platform's), whether every entitled key may read it, its stored
    span) of a product the API serves at all; None for none or a suspended partner's."""
    product = products.by_slug(store, slug)
    if product is None:
        return None
    if product.owner == PLATFORM:
        return product, "", product.status == "listed", serving.stored_span(store, product)
    partner = partners.get_partner(store, product.owner)
    if partner is None or partner.status == "suspended":
        return None
    public = product.status == "listed" and partner.status == "active"
    return product, partner.user_id, public, serving.stored_span(store, product)


@api.get("/products/<slug>/data")
def product_data(slug: str):
    """``?start=&end=&format=json|csv`` with ``Authorization: Bearer <key>``: the product's rows in [start, end)."""
    began = time.perf_counter()
    server = current_app._get_current_object()  # type: ignore[attr-defined]
    usage: dict[str, Any] = {"at": pd.Timestamp.now(tz="UTC"), "key_id": None, "key_kind": "", "user_id": "",
                             "product": "", "partner": "", "rows": 0, "bytes": 0}
    try:
        answer = _product_data(server, slug, usage)
    except BadParameter as exc:
        answer = _error(400, str(exc))
    except (serving.TooManyRows, QueryError) as exc:  # the engine's refusal of the range asked for
        answer = _error(400, f"parameters 'start' and 'end': {exc}")
    except Exception as exc:
        # answered by the handlers (a 503, a 500), and metered all the same: every call of a known key is
        _meter(server, usage, began, 503 if isinstance(exc, StoreError) else 500, 0)
        raise
    _meter(server, usage, began, answer.status_code, answer.calculate_content_length() or 0)
    return answer


def _meter(server: Flask, usage: dict, began: float, status: int, size: int) -> None:
    API_CALLS.labels(str(status), usage["key_kind"] or "none").inc()
    if usage["key_id"] and (meter := meter_of(server)) is not None:
        usage["bytes"] = size
        usage["status"] = status
        usage["latency_ms"] = (time.perf_counter() - began) * 1000.0
        meter.record(usage)


def _product_data(server: Flask, slug: str, usage: dict) -> Response:
    store = services(server).ready_store()
    state: ApiState = server.extensions[STATE_KEY]
    token = keys.bearer_token(request.headers.get("Authorization"))
    parsed = keys.parse_token(token)
    record = None
    if parsed is not None:
        usage["key_id"], usage["key_kind"] = parsed[1], parsed[0]
        g.api_key_id = parsed[1]  # the key the request names, for its log line (app/logs.py)
        record = state.keys.get(parsed[1], lambda: keys.key_record(store, parsed[1]))
    stored = record[0] if record else None
    served = state.products.get(slug, lambda: _served(store, slug))
    product = served[0] if served else None
    now = datetime.now(UTC)
    verdict = keys.judge(token, stored, product.product_id if product else "", now, slug=slug)
    if stored is not None and verdict.status != 401:
        usage["user_id"] = stored.owner
        g.api_key = stored  # whose call it is, for the log line (app/logs.py)
    if verdict.status == 401:
        return _error(401, verdict.message)
    # a product not (yet) listed is its partner's own key's only: to any other it does not exist
    if product is None or (not served[2] and stored.owner != served[1]):
        return _error(404, f"no product {slug[:80]!r} is served")
    usage["product"], usage["partner"] = product.product_id, product.owner
    if verdict.status == 403:
        return _error(403, verdict.message)
    if problem := unknown_parameter("start", "end", "format"):  # before the call is counted against the quota
        raise BadParameter(problem)
    quota, rate = record[1], record[2]
    limited = _limit(server, stored.key_id, quota, rate)
    if limited is not None:
        return limited
    fmt = _format()
    window = serving.sample_window(served[3])
    start, end = _range(window)
    shown_start, shown_end = start, end
    if stored.kind == "sandbox":
        start, end = (max(start, window[0]), min(end, window[1])) if window else (start, start)
    # a platform product's series is cut from the month pieces the overview and the prices API read
    frame = serving.product_rows(store, product, start, end, read=services(server).reader()) if end > start else \
        pd.DataFrame(columns=[c.name for c in product.columns])
    usage["rows"] = len(frame)
    headers = {"X-Rows": str(len(frame))}
    sandbox = None
    if stored.kind == "sandbox":
        sandbox = {"start": window[0].isoformat(), "end": window[1].isoformat()} if window else None
        headers["X-Sandbox-Window"] = f"{sandbox['start']}/{sandbox['end']}" if sandbox else "none"
    if fmt == "csv":
        name = f"{product.slug}_{shown_start:%Y%m%dT%H%M}_{shown_end:%Y%m%dT%H%M}.csv"
        return Response(serving.api_csv(frame), mimetype="text/csv",
                        headers={**headers, "Content-Disposition": f'attachment; filename="{name}"'})
    head = json.dumps({"product": product.slug, "start": shown_start.isoformat(), "end": shown_end.isoformat(),
                       "sandbox_window": sandbox, "columns": [c.__dict__ for c in product.columns],
                       "row_count": len(frame)})
    return Response(head[:-1].encode() + b', "rows": ' + json_answers.rows_json(frame) + b"}",
                    mimetype="application/json", headers=headers)


def _limit(server: Flask, key_id: str, quota: int, rate: int) -> Response | None:
    """A 429 when the key's rate per minute or lifetime quota is spent, counting this call otherwise.

    The counters live in the sign-in limiter's storage (flask-limiter over Redis when configured, else this
    process's memory, which then counts per worker and restarts from zero with it). A call refused by the rate
    does not use up quota. A 503 when that storage cannot be reached."""
    strategy = server.extensions[auth.STATE_KEY].limiter.limiter
    try:
        return _counted(strategy, key_id, quota, rate)
    except auth.LIMIT_STORAGE_DOWN as exc:
        # Fail closed: a call that cannot be counted is not served. Served uncounted, a paid quota and the rate
        # that shields the store would lapse for as long as Redis is down; a client retries a 503.
        request_id = g.get("request_id", "")
        log.error("request %s: the API limits' storage did not answer (%s: %s); call refused", request_id,
                  type(exc).__name__, exc)
        answer = _error(503, "this key's usage cannot be counted right now, so the call was not served; try again "
                             "shortly", request_id=request_id, retry_after_seconds=LIMITS_RETRY)
        answer.headers["Retry-After"] = str(LIMITS_RETRY)
        return answer


def _counted(strategy, key_id: str, quota: int, rate: int) -> Response | None:
    per_minute = RateLimitItemPerMinute(max(1, rate))
    lifetime = RateLimitItemPerYear(quota, QUOTA_YEARS) if quota else None
    if lifetime is not None and not strategy.test(lifetime, "c254-api-quota", key_id):
        return _too_many(strategy, lifetime, ("c254-api-quota", key_id), "quota",
                         f"this key's quota of {quota:,} calls is used up; subscribe for a production key")
    if not strategy.hit(per_minute, "c254-api-rate", key_id):
        return _too_many(strategy, per_minute, ("c254-api-rate", key_id), "rate",
                         f"this key may make {rate:,} calls per minute; wait before the next")
    if lifetime is not None and not strategy.hit(lifetime, "c254-api-quota", key_id):
        return _too_many(strategy, lifetime, ("c254-api-quota", key_id), "quota",
                         f"this key's quota of {quota:,} calls is used up; subscribe for a production key")
    return None


def _too_many(strategy, item, identifiers: tuple[str, ...], which: str, message: str) -> Response:
    reset = strategy.get_window_stats(item, *identifiers).reset_time
    retry = max(1, int(reset - time.time() + 0.999))
    answer = _error(429, message, limit=which, limit_value=item.amount,
                    period=("minute" if which == "rate" else "key lifetime"), retry_after_seconds=retry)
    answer.headers["Retry-After"] = str(retry)
    return answer


# ------------------------------------------------------------------------------------------------ uploads

@api.post("/partner/products/<slug>/data")
def partner_upload(slug: str):
    """A new data version of the caller's own product: a CSV or Parquet body, or a multipart ``file``."""
    store = services().ready_store()
    if "Authorization" in request.headers:  # a key speaks for the request: the session is not looked at
        token = keys.bearer_token(request.headers.get("Authorization"))
        if (parsed := keys.parse_token(token)) is not None:
            g.api_key_id = parsed[1]  # the key the request names, for its log line (app/logs.py)
        verdict = keys.judge_holder(token, keys.stored_key(store, token), datetime.now(UTC))
        if not verdict.allowed:
            return _error(401, verdict.message)
        user_id, actor = verdict.key.owner, f"key {verdict.key.key_id}"
        g.api_key = verdict.key  # whose upload it is, for the log line (app/logs.py)
        # a key's upload may be as large as the engine accepts; a session's stays under the site's limit
        request.max_content_length = uploads.MAX_BYTES
    else:
        account = auth.current_account()
        if account is None:
            return _error(401, "send Authorization: Bearer <key> of the partner's account, or sign in as the "
                               "partner")
        user_id, actor = account.user.user_id, account.user.email
    partner = partners.partner_for_user(store, user_id)
    product = products.by_slug(store, slug)
    if partner is None or product is None or product.owner != partner.partner_id:
        return _error(404, f"you have no product {slug[:80]!r}")  # another partner's is not acknowledged
    if partner.status == "suspended":
        return _error(403, "this partner is suspended: uploads are refused")
    body, filename = _upload_body()
    try:
        version, rows = data.upload(store, product, body, filename, actor=actor)
    except MarketplaceError as exc:
        return _error(400, str(exc))
    server = current_app._get_current_object()  # type: ignore[attr-defined]
    server.extensions[STATE_KEY].products.clear()  # the new version is served at once by this process
    return jsonify({"product": slug, "version": version, "rows": rows}), 201


def _upload_body() -> tuple[bytes, str]:
    if request.mimetype == "multipart/form-data":
        sent = request.files.get("file")
        if sent is None:
            raise BadParameter("multipart upload: the file goes in a part named 'file'")
        return sent.read(), sent.filename or ""
    kind = request.mimetype
    filename = "upload.parquet" if "parquet" in kind else "upload.csv" if kind in ("text/csv", "text/plain") else ""
    return request.get_data(), filename


# ------------------------------------------------------------------------------------------------ OpenAPI

@api.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of the public API (public: it describes, it serves no data)."""
    return jsonify(openapi_document())


@api.get("/docs")
def docs():
    """The same description as a page: each operation's parameters, answers, credentials and a curl line aimed
    at the address this page was asked at (public, as the JSON is)."""
    from app.factory import BOOTSTRAP_CSS_URL  # here: app.factory imports this module

    page = api_docs.render(openapi_document(), request.host_url, BOOTSTRAP_CSS_URL)
    return Response(page, mimetype="text/html")


def _param(name: str, description: str, *, required: bool = False, enum: tuple[str, ...] | None = None,
           where: str = "query", string_format: str | None = None) -> dict:
    # a required name is never empty (the routes answer 400 to "market=")
    schema: dict[str, Any] = {"type": "string", **({"minLength": 1} if required or where == "path" else {})}
    if enum:
        schema["enum"] = list(enum)
    if string_format:
        schema["format"] = string_format
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": schema}


_ERROR = {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _errors(*codes: tuple[str, str]) -> dict:
    return {code: {**_ERROR, "description": text} for code, text in codes}


def openapi_document() -> dict:
    fmt = _param("format", "json (default) or csv", enum=FORMATS)
    tz = _param("tz", "times in the market's zone (default) or UTC", enum=("market", "utc"))
    market = _param("market", "a market id, e.g. NEM", required=True)
    slug = _param("slug", "the product's slug, as the catalog shows it", where="path")
    bad, unauth = ("400", "a parameter is wrong: the message names it"), ("401", "sign in / key missing or bad")
    # every route may answer these: the role table (a partner's session on a session route), and the store or
    # the limits' storage being unreachable for a moment
    role = ("403", "the signed-in account's role may not use this route (partners read through their keys)")
    unavailable = ("503", "the store, or the limits' storage, cannot answer just now: try again (Retry-After)")
    return {
        "openapi": "3.0.3",
        "info": {"title": "254Carbon Market Intelligence API", "version": "1",
                 "description": "Prices for signed-in users' scripts, and the marketplace's data products for "
                                "API keys. Data product calls are metered and limited per key."},
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/health": {"get": {
                "summary": "The API is up; the markets with stored prices", "security": [{"session": []}],
                "responses": {"200": {"description": "ok"}, **_errors(unauth, role, unavailable)}}},
            "/api/v1/prices": {"get": {
                "summary": "A price series (raw intervals or hourly/daily means)", "security": [{"session": []}],
                "parameters": [
                    market, _param("location", "a location of the market, e.g. SA1", required=True),
                    _param("start", "first day (YYYY-MM-DD, market time)", required=True, string_format="date"),
                    _param("end", "day after the last (YYYY-MM-DD, market time, exclusive)", required=True,
                           string_format="date"),
                    fmt, tz, _param("resolution", "auto (default), raw, hour or day; raw answers at most "
                                       f"{queries.MAX_RAW_ANSWER:,} intervals (400 above)", enum=queries.RESOLUTIONS),
                    _param("price_kind", "the price series (default: the one the overview shows first)")],
                "responses": {"200": {"description": "rows of interval_start, interval_minutes, price, "
                                                     "demand_mw, is_demo"},
                              **_errors(bad, unauth, role, unavailable)}}},
            "/api/v1/latest": {"get": {
                "summary": "The newest stored price of each of a market's series", "security": [{"session": []}],
                "parameters": [market, fmt, tz],
                "responses": {"200": {"description": "one row per location and price kind"},
                              **_errors(bad, unauth, role, unavailable)}}},
            serving.PRODUCT_DATA_PATH: {"get": {
                "summary": "A data product's rows in [start, end)", "security": [{"apiKey": []}],
                "description": "Sandbox keys see the product's sample window only: the last "
                               f"{serving.SAMPLE_DAYS} days of its stored data (a range reaching outside it is "
                               "cut to it; the window is in the X-Sandbox-Window header and the body). Each "
                               "call is metered.",
                "parameters": [
                    slug,
                    _param("start", "first instant, ISO 8601 (a date, or a time; UTC when no offset); "
                                    "default: the sample window's start"),
                    _param("end", "instant after the last, exclusive; default: the sample window's end; at most "
                                  f"{MAX_DAYS} days after start"),
                    fmt],
                "responses": {
                    "200": {"description": "the rows: JSON {product, start, end, sandbox_window, columns, "
                                           "row_count, rows} or CSV"},
                    **_errors(bad, ("401", "no key, or a malformed, unknown, revoked or expired key"),
                              ("403", "the key is not entitled to this product"),
                              ("404", "no such product is served"),
                              ("429", "the key's rate per minute or its lifetime quota is spent: see "
                                      "Retry-After and the body's 'limit' (rate or quota)"), unavailable)}}},
            "/api/v1/partner/products/{slug}/data": {"post": {
                "summary": "Upload a new data version of the partner's own product",
                "security": [{"apiKey": []}, {"session": []}],
                "description": "The body is the file (text/csv or application/vnd.apache.parquet), or "
                               "multipart/form-data with a part 'file'. It is checked against the product's "
                               "declared schema; a bad file is refused whole with its line and problem.",
                "parameters": [slug],
                "requestBody": {"required": True, "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": {"type": "object", "properties": {
                        "file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"201": {"description": "{product, version, rows}"},
                              **_errors(("400", "the file does not match the schema: line and problem"),
                                        ("401", "no live key of the partner's account, and no partner signed in"),
                                        ("403", "the partner is suspended, or the session's CSRF token is "
                                                "missing"),
                                        ("404", "the caller has no product of this slug"),
                                        ("413", f"the body is larger than {uploads.MAX_BYTES // 2**20} MB with a "
                                                "key, or than the site's request limit with a session"),
                                        unavailable)}}},
            OPENAPI_PATH: {"get": {"summary": "This description", "security": [],
                                   "responses": {"200": {"description": "OpenAPI 3 JSON"}}}},
            DOCS_PATH: {"get": {"summary": "This description as a page to read", "security": [],
                                "responses": {"200": {"description": "HTML",
                                                      "content": {"text/html": {"schema": {"type": "string"}}}}}}},
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "A marketplace key: c254_sbx_… (sandbox) or c254_live_… (production)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "The signed-in browser session (trader, analyst or admin)"}},
            "schemas": {"Error": {"type": "object", "properties": {
                "error": {"type": "string"}, "request_id": {"type": "string"},
                "limit": {"type": "string", "enum": ["rate", "quota"]},
                "retry_after_seconds": {"type": "integer"}}, "required": ["error"]}}},
    }
