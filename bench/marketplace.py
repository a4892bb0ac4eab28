"""Marketplace latency at size: fills a bench store with 10,000 products (500 partners, a price plan each) and
10 million api_usage rows (generated with numpy, inserted a million at a time) if it holds fewer, then prints
p50/p95 of the catalog search, the product lookup, the catalog search and product page callbacks (through Dash's
callback endpoint, cache emptied before each call and not timed), and the product API call through the Flask
test client with metering on and off (the calls alternate, so the two see the same machine); then the seconds
of a partner's monthly statement and of the platform's revenue over every partner (10 M usage rows summed).

Targets (issue 13): p95 under 150 ms for each; metering adds at most 5 ms to an API call.

    python bench/marketplace.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.marketplace.metering import Meter
from engine.store import Store, migrate, write_tables

REPO = Path(__file__).resolve().parent.parent
STORE_URL = os.environ.get("C254_BENCH_MARKETPLACE_STORE") or f"chdb://{REPO / 'var' / 'bench-marketplace'}"
PRODUCTS, PARTNERS, USAGE_ROWS, BATCH = 10_000, 500, 10_000_000, 1_000_000
WORDS = ("wind", "solar", "rooftop", "forecast", "price", "demand", "nodal", "congestion", "hourly", "daily",
         "outage", "weather", "temperature", "hydro", "gas", "battery", "storage", "carbon", "emissions", "load",
         "spot", "futures", "basis", "hub", "interconnector", "constraint", "ramp", "curtailment", "reserve", "fcas")
MARKETS = ("NEM", "IESO", "PJM", "ISONE", "CAISO", "BRAZIL")
CATEGORIES = ("prices", "demand", "generation", "forecasts", "congestion", "weather", "other")
FREQUENCIES = ("5 minutes", "hourly", "daily", "weekly", "monthly", "irregular")
KINDS = ("free", "per_call", "per_1000_rows", "monthly")
SEARCHES = [("wind", {}), ("solar forecast", {}), ("", {"market": "NEM"}), ("price", {"category": "prices"}),
            ("", {"price_kind": "per_call"}), ("hub basis", {"market": "PJM", "price_kind": "monthly"}),
            ("temperature", {"update_frequency": "daily"}), ("", {})]


def fill(store: Store) -> None:
    """Products, partners and plans, then usage rows up to USAGE_ROWS, in big vectorised batches."""
    rng = np.random.default_rng(254)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    if int(store.scalar("SELECT count() FROM products FINAL") or 0) < PRODUCTS:
        partner_ids = np.array([f"{i:032x}" for i in range(1, PARTNERS + 1)])
        store.insert_df("partners", pd.DataFrame({
            "partner_id": partner_ids, "organisation": [f"Bench Partner {i}" for i in range(PARTNERS)],
            "contact_email": [f"p{i}@bench.example" for i in range(PARTNERS)], "payout_reference": "BENCH-0001",
            "status": "active", "user_id": [f"bench-user-{i}" for i in range(PARTNERS)], "created_at": now,
            "updated_at": now}))
        # array columns do not pass through chDB's frame reader: the store generates the products itself
        columns = '[{"name": "time", "type": "datetime", "unit": ""}, {"name": "value", "type": "float", "unit": ""}]'

        def word(i: int, among: str = "w") -> str:
            return f"{among}[1 + cityHash64(number, {i}) % length({among})]"

        # fixed bench text; every value is a bound parameter
        store.command(
            "INSERT INTO products (product_id, slug, owner, title, description, markets, category, update_frequency, "  # noqa: S608
            "columns_json, sample_json, tags, source, status, version, created_at, updated_at) "
            "WITH {w:Array(String)} AS w, {m:Array(String)} AS m, {c:Array(String)} AS c, {f:Array(String)} AS f "
            "SELECT leftPad(lower(hex(1000000 + number)), 32, '0'), "
            f"concat('bench-', toString(number), '-', {word(1)}), "
            f"leftPad(lower(hex(1 + number % {PARTNERS})), 32, '0'), "
            f"concat(initcap({word(1)}), ' ', {word(2)}, ' ', {word(3)}, ' data'), "
            f"concat('Bench product: ', {word(4)}, ' and ', {word(5)}, ' series for ', {word(6)}, ' studies.'), "
            f"[{word(7, 'm')}], {word(8, 'c')}, {word(9, 'f')}, {{cols:String}}, '[]', [{word(2)}, {word(5)}], '', "
            "if(cityHash64(number, 10) % 10 = 0, 'draft', 'listed'), 0, {now:DateTime64(3, 'UTC')}, "
            f"{{now:DateTime64(3, 'UTC')}} FROM numbers({PRODUCTS})",
            {"cols": columns, "now": now.to_pydatetime(), "w": list(WORDS), "m": list(MARKETS),
             "c": list(CATEGORIES), "f": list(FREQUENCIES)})
        store.command(
            "INSERT INTO price_plans (product_id, effective_from, kind, price, currency, created_by, created_at) "  # noqa: S608
            "SELECT leftPad(lower(hex(1000000 + number)), 32, '0'), {since:DateTime64(3, 'UTC')}, "
            "{k:Array(String)}[1 + cityHash64(number, 11) % 4] AS kind, if(kind = 'free', 0, 0.005), 'USD', "
            f"'bench', {{now:DateTime64(3, 'UTC')}} FROM numbers({PRODUCTS})",
            {"since": (now - pd.Timedelta(days=60)).to_pydatetime(), "now": now.to_pydatetime(), "k": list(KINDS)})
    have = int(store.scalar("SELECT count() FROM api_usage") or 0)
    start = (now - pd.Timedelta(days=90)).value // 10**6
    while have < USAGE_ROWS:
        n = min(BATCH, USAGE_ROWS - have)
        product = rng.integers(10**6, 10**6 + PRODUCTS, n)
        store.insert_df("api_usage", pd.DataFrame({
            "at": pd.to_datetime(np.sort(rng.integers(start, start + 90 * 86_400_000, n)), unit="ms", utc=True),
            "key_id": np.char.mod("%016x", rng.integers(0, 50_000, n)),
            "key_kind": np.where(rng.random(n) < 0.2, "sandbox", "production"),
            "user_id": np.char.mod("bench-buyer-%d", rng.integers(0, 5_000, n)),
            "product": np.char.mod("%032x", product),
            "partner": np.char.mod("%032x", product % PARTNERS + 1),
            "rows": rng.integers(0, 5_000, n), "bytes": rng.integers(100, 500_000, n),
            "latency_ms": rng.gamma(2.0, 10.0, n).astype("float32"),
            "status": np.where(rng.random(n) < 0.95, 200, 429)}))
        have += n
        print(f"  api_usage: {have:,} rows", flush=True)


def percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), q[18]


def timed(fn, repeats: int, before=None) -> list[float]:
    out = []
    for i in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    from engine import demo
    from engine.marketplace import data, keys, partners, platform, products

    store = Store(STORE_URL)
    migrate(store)
    t0 = time.perf_counter()
    fill(store)
    if store.query_df("SELECT 1 FROM prices LIMIT 1").empty:
        write_tables(store, demo.nem_demo_frames(days=30), source="demo")
    platform.ensure_platform_products(store)
    if partners.partner_for_user(store, "bench-api-partner") is None:
        partner = partners.register_partner(store, organisation="Bench API Partner", contact_email="b@bench.example",
                                            payout_reference="BENCH-0002", user_id="bench-api-partner", actor="bench")
        partners.set_status(store, partner.partner_id, "active", "bench")
        made = products.create_product(
            store, editor=partner.partner_id, actor="bench", slug="bench-api-wind", title="Bench API wind",
            description="Hourly wind for the API bench.", markets=["NEM"], category="generation",
            update_frequency="hourly", columns=[{"name": "time", "type": "datetime"},
                                                {"name": "mw", "type": "float"}])
        hours = pd.date_range("2026-09-01", periods=24 * 60, freq="h", tz="UTC")
        body = pd.DataFrame({"time": hours.strftime("%Y-%m-%dT%H:%M:%SZ"), "mw": np.arange(len(hours)) % 97 * 1.5})
        data.upload(store, made, body.to_csv(index=False).encode(), "wind.csv", actor="bench")
        products.set_price(store, made.product_id, kind="per_call", price="0.005", editor=partner.partner_id,
                           actor="bench")
        products.set_status(store, made.product_id, "listed", editor=partner.partner_id, actor="bench")
    n_products = int(store.scalar("SELECT count() FROM products FINAL"))
    n_usage = int(store.scalar("SELECT count() FROM api_usage"))
    print(f"store: {n_products:,} products, {n_usage:,} api_usage rows (ready in {time.perf_counter() - t0:.0f} s)")
    store.close()

    from app import marketplace_api
    from app.factory import create_app
    from app.services import services
    from app.settings import Settings

    # WARNING: the access line of each timed request would bury the figures
    app = create_app(Settings(store_url=STORE_URL, scheduler=False, demo=False, auth=False, log_level="WARNING"))
    server = app.server
    store = services(server).ready_store()
    slugs = store.query_df("SELECT slug FROM products FINAL WHERE status = 'listed' ORDER BY rand() LIMIT 200"
                           )["slug"].tolist()
    print(f"{'what':<60}{'p50 ms':>9}{'p95 ms':>9}{'n':>6}")

    def show(label: str, samples: list[float]) -> None:
        p50, p95 = percentiles(samples)
        print(f"{label:<60}{p50:>9.1f}{p95:>9.1f}{len(samples):>6}", flush=True)

    products.catalog(store, "warm up")
    catalog = timed(lambda i: products.catalog(store, SEARCHES[i % len(SEARCHES)][0],
                                               **SEARCHES[i % len(SEARCHES)][1]), 80)
    show("catalog search (engine, 8 queries)", catalog)
    show("product lookup by slug (engine)", timed(lambda i: products.by_slug(store, slugs[i % len(slugs)]), 80))

    # the catalog page's callbacks as the browser calls them (Dash's endpoint: the JSON of the cards included),
    # cold: the cache emptied before each call (not timed)
    import json

    cache = services(server).cache
    caller = server.test_client()

    def post(outputs: str, inputs: list[dict], changed: str) -> None:
        key = next(k for k in app.callback_map if outputs in k)
        body = {"output": key, "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]}
                                           for o in key.strip(".").split("...") if o],
                "inputs": inputs, "changedPropIds": [changed], "state": []}
        answer = caller.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                             headers={"Origin": "http://localhost"})  # as from a page of the site
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]

    def search_cold(i: int) -> None:
        text, filters = SEARCHES[i % len(SEARCHES)]
        page = 1 + (i // len(SEARCHES)) % 3  # first pages and further ones
        values = {"mk-search": text, "mk-market": filters.get("market"), "mk-category": filters.get("category"),
                  "mk-price": filters.get("price_kind"), "mk-frequency": filters.get("update_frequency")}
        inputs = [{"id": k, "property": "value", "value": v} for k, v in values.items()]
        inputs.append({"id": "mk-pager", "property": "active_page", "value": page})
        post("mk-results.children", inputs, "mk-pager.active_page" if page > 1 else "mk-search.value")

    def product_cold(i: int) -> None:
        post("mk-detail.children", [{"id": "mk-product", "property": "data", "value": slugs[i % len(slugs)]},
                                    {"id": "mk-subscribed", "property": "data", "value": None}], "mk-product.data")

    search_cold(0)
    show("catalog search callback (Dash endpoint, cold cache)", timed(search_cold, 80, cache.clear))
    show("product page callback (Dash endpoint, cold cache)", timed(product_cold, 80, cache.clear))

    client = server.test_client()
    targets = {"partner product, 7 days hourly (168 rows)": ("bench-api-wind", "?start=2026-10-01&end=2026-10-08"),
               "platform 5-min SA1, 1 day (288 rows)": ("nem-sa1-5min-prices", None)}
    ids = [products.by_slug(store, slug).product_id for slug, _ in targets.values()]
    key = keys.issue_key(store, user_id="bench-buyer", kind="production", products=ids, actor="bench",
                         rate_per_minute=1_000_000)
    first_day = store.query_df("SELECT max(bucket) AS last FROM prices_daily WHERE location = 'SA1'").at[0, "last"]
    day = pd.Timestamp(first_day).tz_convert("UTC")
    headers = {"Authorization": f"Bearer {key.token}"}
    state = server.extensions[marketplace_api.STATE_KEY]
    meter = marketplace_api.meter_of(server)
    for label, (slug, query) in targets.items():
        url = f"/api/v1/products/{slug}/data" + (query or f"?start={day:%Y-%m-%dT%H:%M:%SZ}&end="
                                                 f"{day + pd.Timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}")
        assert client.get(url, headers=headers).status_code == 200
        on, off = [], []
        for i in range(120):  # alternate, so both see the same load on the machine
            state.metering = i % 2 == 0
            t0 = time.perf_counter()
            answer = client.get(url, headers=headers)
            (on if i % 2 == 0 else off).append((time.perf_counter() - t0) * 1000)
            assert answer.status_code == 200, answer.get_data(as_text=True)
        state.metering = True
        show(f"API {label}, metering on", on)
        show(f"API {label}, metering off", off)
        print(f"{'  metering adds (p50 on - p50 off)':<60}{statistics.median(on) - statistics.median(off):>9.2f}")
    t0 = time.perf_counter()
    record = {"key_id": "k", "key_kind": "production", "user_id": "u", "product": "p", "partner": "q", "rows": 1,
              "bytes": 1, "latency_ms": 1.0, "status": 200}
    probe = Meter(lambda frame: None, interval=60)
    for _ in range(10_000):
        probe.record(record)
    print(f"Meter.record alone: {(time.perf_counter() - t0) * 100:.1f} µs per call (10,000 calls)")
    probe.close()
    meter.close()
    print(f"metered calls written to api_usage: {meter.written:,}")

    from engine.marketplace.statements import monthly_statements, partner_statement

    month = (pd.Timestamp.now(tz="UTC").tz_localize(None).to_period("M") - 1).strftime("%Y-%m")  # the last whole month
    busiest = store.query_df("SELECT partner, count() AS calls FROM api_usage GROUP BY partner ORDER BY calls DESC "
                             "LIMIT 1").at[0, "partner"]
    seconds = []
    for _ in range(5):
        t0 = time.perf_counter()
        made = partner_statement(store, busiest, month)
        seconds.append(time.perf_counter() - t0)
    print(f"statement of the busiest partner for {month}: {statistics.median(seconds):.3f} s (median of 5; "
          f"{sum(line.calls for line in made.lines):,} calls, gross {made.gross})")
    months = [(pd.Timestamp.now(tz="UTC").tz_localize(None).to_period("M") - k).strftime("%Y-%m") for k in (3, 2, 1, 0)]
    t0 = time.perf_counter()
    every = monthly_statements(store, months)
    print(f"statements of all {len(every):,} owners for {months[0]}..{months[-1]} ({n_usage:,} usage rows): "
          f"{time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
