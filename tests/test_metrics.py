"""/metrics (issue 14): Prometheus text with the in-process figures (request and callback latency, cache by
data class) and the store's (job runs, rows, data age, forecasts, signals, orders, marketplace calls); for
admins and this machine only."""
from __future__ import annotations

import functools
import time

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

import pytest

from app.services import services
from engine import jobs, overview, queries
from engine.store import write_tables
from ingest.backfill import run_backfill, validate


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_hold_latency_cache_and_the_stores_figures(make_app):
    dash_app = make_app()
    with dash_app.server.app_context():
        store = services().ready_store()
        write_tables(store, {"prices": pd.DataFrame({
            "market": "NEM", "location": "SA1", "price_kind": "settlement",
            "interval_start": pd.date_range("2026-11-01", periods=6, freq="30min", tz="UTC"),
            "interval_minutes": 30, "price": np.arange(6.0), "source": "file.csv"})})
        services().cached(overview.latest_view, "NEM")
    client = dash_app.server.test_client()
    assert client.get("/api/v1/latest?market=NEM").status_code == 200
    assert client.get("/nodal").status_code == 200 and client.get("/forecasts/").status_code == 200
    assert client.get("/no-such-page").status_code == 404  # Dash's page says "not found", and so does the status
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    families = _families(answer.get_data(as_text=True))
    routes = {s.labels["route"] for s in families["c254_request_seconds"].samples if "route" in s.labels}
    assert "/api/v1/latest" in routes
    assert {"/nodal", "/forecasts", "/<path:path>"} <= routes  # each page by its path; no page: the rule
    assert "/no-such-page" not in routes
    cache = {(s.labels["data_class"], s.labels["result"]) for s in families["c254_cache_requests"].samples}
    assert ("realtime", "miss") in cache
    assert [s.value for s in families["c254_store_up"].samples] == [1.0]
    ages = {(s.labels["market"], s.labels["dataset"]): s.value for s in families["c254_data_age_seconds"].samples}
    assert ages and all(v > 0 for v in ages.values()), ages
    stored = {s.labels["table"]: s.value for s in families["c254_stored_rows"].samples}
    assert stored["prices"] == 6
    for name in ("c254_job_runs_recorded", "c254_job_runs_running", "c254_job_last_finished_timestamp_seconds",
                 "c254_rows_ingested_recorded", "c254_forecast_runs_stored", "c254_signals_stored", "c254_fix_orders",
                 "c254_marketplace_api_calls_recorded", "c254_marketplace_revenue_month_to_date"):
        assert name in families, name


def test_a_client_cannot_add_metric_series_with_methods_of_its_own(make_app):
    """Werkzeug routes any token as a method (answered 405); each new label value would be a new series of
    sixteen samples held for the process's life, so a client could grow /metrics and the workers' files."""
    client = make_app().server.test_client()
    for i in range(5):
        assert client.open("/api/v1/latest", method=f"BOGUS{i}").status_code == 405
    assert client.open("/api/v1/latest", method="DELETE").status_code in (403, 405)
    client.get("/healthz")  # a GET counted before the scrape (the scrape's own is counted after it answers)
    families = _families(client.get("/metrics").get_data(as_text=True))
    methods = {s.labels["method"] for s in families["c254_request_seconds"].samples if "method" in s.labels}
    assert {"other", "DELETE", "GET"} <= methods and not any(m.startswith("BOGUS") for m in methods), methods
    other = [s.value for s in families["c254_request_seconds"].samples
             if s.name.endswith("_count") and s.labels.get("method") == "other"]
    assert other == [5.0]


def test_data_age_is_taken_at_each_scrape_from_newest_ends_read_once_per_write(make_app, monkeypatch):
    """The newest interval ends are read by scanning each series table (0.2 s at ten million prices): a scrape and
    the System page's refresh take them from the cache until a write moves the data version, and the age of each
    at the moment asked."""
    dash_app = make_app()
    store = services(dash_app.server).ready_store()

    def write(day: str) -> None:
        write_tables(store, {"prices": pd.DataFrame({
            "market": "NEM", "location": "SA1", "price_kind": "settlement",
            "interval_start": pd.date_range(day, periods=6, freq="30min", tz="UTC"),
            "interval_minutes": 30, "price": np.arange(6.0), "source": "file.csv"})})

    write("2026-11-01")
    scans = []
    read = queries.dataset_freshness
    monkeypatch.setattr(queries, "dataset_freshness",
                        functools.wraps(read)(lambda *a, **k: scans.append(1) or read(*a, **k)))
    client = dash_app.server.test_client()

    def nem_age() -> float:
        families = _families(client.get("/metrics").get_data(as_text=True))
        return _samples(families, "c254_data_age_seconds", "market", "dataset")[("NEM", "prices")]

    first = nem_age()
    time.sleep(1.1)
    second = nem_age()
    with dash_app.server.app_context():
        page = services().system_figures().data_age.set_index(["market", "dataset"]).loc[("NEM", "prices")]
    assert len(scans) == 1, scans
    assert second - first == pytest.approx(1.1, abs=0.5)
    assert page["age_seconds"] >= second
    newest_end = pd.Timestamp("2026-11-01 03:00", tz="UTC")
    assert first == pytest.approx((pd.Timestamp.now(tz="UTC") - newest_end).total_seconds(), abs=5)
    write("2026-11-20")  # a load: read again, and the age follows it
    assert len(scans) == 1 and nem_age() < first - 18 * 86400 and len(scans) == 2


def test_monitoring_does_not_move_the_hit_rate_it_reports(make_app):
    """A scrape and a System page refresh read the data age's newest ends through the cache: those lookups are
    not users' and are left out of the hits and misses (a second server's first scrape counted a miss)."""
    dash_app = make_app()
    with dash_app.server.app_context():
        write_tables(services().ready_store(), {"prices": pd.DataFrame({
            "market": "NEM", "location": "SA1", "price_kind": "settlement",
            "interval_start": pd.date_range("2026-11-01", periods=6, freq="30min", tz="UTC"),
            "interval_minutes": 30, "price": np.arange(6.0), "source": "file.csv"})})
    client = dash_app.server.test_client()

    def cache_counts() -> dict:
        families = _families(client.get("/metrics").get_data(as_text=True))
        return _samples(families, "c254_cache_requests", "data_class", "result")

    first = cache_counts()  # the counters are the process's: other tests' lookups are in them too
    with dash_app.server.app_context():
        assert not services().system_figures().data_age.empty
    assert cache_counts() == first
    with dash_app.server.app_context():
        services().cached(overview.latest_view, "NEM")  # a user's lookup is counted
    after = cache_counts()
    moved = {k: after[k] - first.get(k, 0.0) for k in after if after[k] != first.get(k, 0.0)}
    assert moved == {("realtime", "miss"): 1.0}, moved


def _samples(families: dict, family: str, *labels: str) -> dict:
    """A counter's or gauge's values keyed by ``labels`` (the counter's _total samples only)."""
    return {tuple(s.labels[label] for label in labels): s.value for s in families[family].samples
            if not s.name.endswith("_created")}


def test_metrics_count_forecasts_signals_orders_and_api_calls(make_app):
    """Each figure the store records, put there by the code that records it in the app: runs saved, the live
    signals job's decisions, orders and their states, the product API's metered calls."""
    from dataclasses import replace

    from app.marketplace_api import meter_of
    from engine import orders
    from engine.demo import nem_demo_frames
    from engine.signals.record import record_live
    from engine.store.tables import DEMO_SOURCE
    from tests.test_forecasts_page import save_demo_runs

    dash_app = make_app()
    with dash_app.server.app_context():
        store = services().ready_store()
        save_demo_runs(store, locations=("SA1",), run_days=2)  # a weekly and a daily naive run a day
        write_tables(store, nem_demo_frames(days=21), source=DEMO_SOURCE)
        signals = record_live(store)
        first = orders.save(store, orders.new_order("NEM-NSW1-DA", "buy", 5))
        orders.save(store, orders.new_order("NEM-NSW1-DA", "sell", 2))
        orders.save(store, replace(first, state="filled", filled_qty=5.0))  # its newest version counts
        meter = meter_of(dash_app.server)
        for status, rows in ((200, 10), (200, 30), (429, 0)):
            meter.record({"key_id": "k1", "key_kind": "sandbox", "user_id": "u1", "product": "p", "partner": "x",
                          "rows": rows, "bytes": 100, "latency_ms": 3.0, "status": status})
        meter.record({"key_id": "k2", "key_kind": "live", "user_id": "u2", "product": "p", "partner": "x",
                      "rows": 7, "bytes": 50, "latency_ms": 2.0, "status": 200})
        assert meter.flush() == 4
    families = _families(dash_app.server.test_client().get("/metrics").get_data(as_text=True))
    assert _samples(families, "c254_forecast_runs_stored", "market", "model") == {("NEM", "naive"): 2.0,
                                                                              ("NEM", "daily-naive"): 2.0}
    assert not signals.empty
    expected_signals = signals.groupby(["market", "strategy"]).size()
    assert _samples(families, "c254_signals_stored", "market", "strategy") == \
        {key: float(n) for key, n in expected_signals.items()}
    assert _samples(families, "c254_fix_orders", "state") == {("filled",): 1.0, ("pending",): 1.0}
    assert _samples(families, "c254_marketplace_api_calls_recorded", "status", "key_kind") == {
        ("200", "sandbox"): 2.0, ("429", "sandbox"): 1.0, ("200", "live"): 1.0}
    assert _samples(families, "c254_marketplace_api_rows_recorded", "key_kind") == {("sandbox",): 40.0, ("live",): 7.0}


#: What the app counts as it happens, in its web workers: the only families that may be counters.
IN_PROCESS_COUNTERS = {"c254_cache_requests", "c254_marketplace_api_calls"}


def test_every_total_is_a_counter_and_no_figure_of_the_store_is_one(make_app):
    """A counter only rises (Prometheus reads a fall as a restart of the process and counts the whole value again
    in rate() and increase()). What the store holds falls when a backfill replaces demo rows or a run expires
    after its year: those are gauges, named for what they count, and nothing else in the exposition ends _total."""
    dash_app = make_app()
    store = services(dash_app.server).ready_store()
    with dash_app.server.app_context():
        for _ in range(2):
            jobs.JobRun(job="pull:nem", market="NEM").finish(store, "succeeded")
        # a counter with no sample yet is not in the exposition (a process that has not served an API call)
        services().cached(queries.nodal_runs)
    client = dash_app.server.test_client()
    families = _families(client.get("/metrics").get_data(as_text=True))
    counters = {name for name, family in families.items() if family.type == "counter"}
    assert "c254_cache_requests" in counters and counters <= IN_PROCESS_COUNTERS, counters
    totals = {s.name for family in families.values() for s in family.samples if s.name.endswith("_total")}
    assert totals and all(name.removesuffix("_total") in IN_PROCESS_COUNTERS for name in totals), totals
    assert _samples(families, "c254_job_runs_recorded", "job", "status") == {("pull:nem", "succeeded"): 2.0}
    store.command("TRUNCATE TABLE job_runs")  # as the table's TTL drops a year-old run
    with dash_app.server.app_context():
        jobs.JobRun(job="pull:nem", market="NEM").finish(store, "succeeded")
    families = _families(client.get("/metrics").get_data(as_text=True))
    assert families["c254_job_runs_recorded"].type == "gauge"
    assert _samples(families, "c254_job_runs_recorded", "job", "status") == {("pull:nem", "succeeded"): 1.0}


def test_a_run_under_way_is_a_gauge_and_counted_once_when_it_ends(make_app):
    """A run in progress is a state: c254_job_runs_running says how many are under way (0, not gone, once they
    end); the recorded runs hold outcomes only, so a run is not counted once as running and again as it ends."""
    dash_app = make_app()
    store = services(dash_app.server).ready_store()
    client = dash_app.server.test_client()
    run = jobs.JobRun(job="pull:nem", market="NEM")
    with dash_app.server.app_context():
        run.save(store)
    families = _families(client.get("/metrics").get_data(as_text=True))
    assert families["c254_job_runs_running"].type == "gauge"
    assert _samples(families, "c254_job_runs_running", "job") == {("pull:nem",): 1.0}
    assert _samples(families, "c254_job_runs_recorded", "job", "status") == {}
    assert _samples(families, "c254_job_last_finished_timestamp_seconds", "job", "status") == {}
    with dash_app.server.app_context():
        run.finish(store, "failed", "deliberate (test)")
    families = _families(client.get("/metrics").get_data(as_text=True))
    assert _samples(families, "c254_job_runs_running", "job") == {("pull:nem",): 0.0}
    assert _samples(families, "c254_job_runs_recorded", "job", "status") == {("pull:nem", "failed"): 1.0}
    ended = _samples(families, "c254_job_last_finished_timestamp_seconds", "job", "status")
    assert ended == {("pull:nem", "failed"): pytest.approx(run.finished_at.timestamp(), abs=0.001)}


def test_product_api_calls_are_counted_as_they_are_answered(make_app):
    """c254_marketplace_api_calls_total: a true counter, raised by the worker that answers each call, by status and
    the kind of key sent; the meter's stored figure is the _recorded gauge."""
    from app.marketplace_api import meter_of

    client = make_app().server.test_client()

    def answered() -> dict:
        families = _families(client.get("/metrics").get_data(as_text=True))
        return {k: v for k, v in _samples(families, "c254_marketplace_api_calls", "status", "key_kind").items()}

    before = answered()
    fake = "c254_sbx_0123456789abcdef_" + "A" * 43
    assert client.get("/api/v1/products/none/data", headers={"Authorization": f"Bearer {fake}"}).status_code == 401
    assert client.get("/api/v1/products/none/data").status_code == 401
    after = answered()
    moved = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    assert moved == {("401", "sandbox"): 1.0, ("401", "none"): 1.0}, moved
    meter_of(client.application).flush()  # the metered call written now, not after the test's database is gone


def test_metrics_say_the_store_is_down_and_still_answer(make_app, monkeypatch):
    from engine import telemetry
    from engine.store import StoreError

    dash_app = make_app()
    client = dash_app.server.test_client()
    assert [s.value for s in _families(client.get("/metrics").get_data(as_text=True))["c254_store_up"].samples] \
        == [1.0]

    def unreachable(*_args, **_kwargs):
        raise StoreError("Connection refused")

    monkeypatch.setattr(telemetry, "store_figures", unreachable)
    answer = client.get("/metrics")
    assert answer.status_code == 200
    families = _families(answer.get_data(as_text=True))
    assert [s.value for s in families["c254_store_up"].samples] == [0.0]
    assert "c254_request_seconds" in families  # the process's own figures are still there
    assert "c254_job_runs_recorded" not in families


@pytest.mark.realdata
def test_rows_ingested_are_counted_by_connector_and_table(make_app, data_dir):
    """c254_rows_ingested_recorded: what connector runs (backfills here, scheduled loads alike) wrote into each
    table, summed over runs; jobs that load nothing (a training's models) count only in
    c254_job_rows_written_recorded."""
    dash_app = make_app()
    folder = data_dir / "markets" / "aemo" / "price_and_demand"
    with dash_app.server.app_context():
        store = services().ready_store()
        for month in ("2016-02", "2018-01"):
            run = jobs.JobRun(job="backfill:nem", market="NEM")
            req = validate("nem", f"{month}-01", f"{month}-28", today=pd.Timestamp("2026-01-01").date(),
                           source=folder, allowed_roots=(data_dir,))
            assert run_backfill(store, req, run).status == "succeeded", run.error
        training = jobs.JobRun(job="forecast_training", market="ALL", rows_written=4)
        training.finish(store, "succeeded")
    families = _families(dash_app.server.test_client().get("/metrics").get_data(as_text=True))
    ingested = _samples(families, "c254_rows_ingested_recorded", "connector", "table")
    per_table = 5 * (29 * 48 + 31 * 48)  # five regions' February 2016 and January 2018, half-hourly
    assert ingested == {("nem", "prices"): per_table, ("nem", "demand"): per_table}
    by_job = {job: v for (job,), v in _samples(families, "c254_job_rows_written_recorded", "job").items()}
    assert by_job == {"backfill:nem": 2 * per_table, "forecast_training": 4}


def test_metrics_are_for_admins_and_this_machine(make_app, client_as):
    dash_app = make_app(auth=True)
    elsewhere = {"REMOTE_ADDR": "10.1.2.3"}
    assert dash_app.server.test_client().get("/metrics", environ_base=elsewhere).status_code == 403
    trader = client_as(dash_app, "trader")
    assert trader.get("/metrics", environ_base=elsewhere).status_code == 403
    admin = client_as(dash_app, "admin")
    assert admin.get("/metrics", environ_base=elsewhere).status_code == 200
    assert dash_app.server.test_client().get("/metrics").status_code == 200  # loopback: the Prometheus agent
    # a reverse proxy on this machine, not declared trusted, connects from loopback for the clients it forwards
    proxied = dash_app.server.test_client().get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403


def test_behind_a_trusted_proxy_metrics_go_by_the_forwarded_address(make_app):
    server = make_app(auth=True, trusted_proxies=1).server
    from_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    assert server.test_client().get("/metrics", environ_base=from_proxy,
                                    headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert server.test_client().get("/metrics", environ_base=from_proxy,
                                    headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
