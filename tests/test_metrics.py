"""/metrics (issue 14): Prometheus text with the in-process figures (request and callback latency, cache by
data class) and the store's (job runs, rows, data age, forecasts, signals, orders, marketplace calls); for
admins and this machine only."""
from __future__ import annotations

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

import pytest

from app.services import services
from engine import jobs, overview
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
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    families = _families(answer.get_data(as_text=True))
    routes = {s.labels["route"] for s in families["c254_request_seconds"].samples if "route" in s.labels}
    assert "/api/v1/latest" in routes
    cache = {(s.labels["data_class"], s.labels["result"]) for s in families["c254_cache_requests"].samples}
    assert ("realtime", "miss") in cache
    assert [s.value for s in families["c254_store_up"].samples] == [1.0]
    ages = {(s.labels["market"], s.labels["dataset"]): s.value for s in families["c254_data_age_seconds"].samples}
    assert ages and all(v > 0 for v in ages.values()), ages
    stored = {s.labels["table"]: s.value for s in families["c254_stored_rows"].samples}
    assert stored["prices"] == 6
    for name in ("c254_job_runs", "c254_rows_ingested", "c254_forecasts_issued", "c254_signals", "c254_fix_orders",
                 "c254_marketplace_api_calls", "c254_marketplace_revenue_month_to_date"):
        assert name in families, name


@pytest.mark.realdata
def test_rows_ingested_are_counted_by_connector_and_table(make_app, data_dir):
    """c254_rows_ingested: what connector runs (backfills here, scheduled loads alike) wrote into each table,
    summed over runs; jobs that load nothing (a training's models) count only in c254_job_rows_written."""
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
    ingested = {(s.labels["connector"], s.labels["table"]): s.value for s in families["c254_rows_ingested"].samples
                if s.name == "c254_rows_ingested_total"}
    per_table = 5 * (29 * 48 + 31 * 48)  # five regions' February 2016 and January 2018, half-hourly
    assert ingested == {("nem", "prices"): per_table, ("nem", "demand"): per_table}
    by_job = {s.labels["job"]: s.value for s in families["c254_job_rows_written"].samples
              if s.name == "c254_job_rows_written_total"}
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
