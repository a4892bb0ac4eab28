"""``/metrics`` in Prometheus' text format, and the in-process figures behind it.

Two kinds of figure. What happens inside a web worker (request and callback latency, cache hits, misses and
errors by data class, product API calls answered) is counted here with prometheus-client, in multiprocess mode
when gunicorn runs several workers (``PROMETHEUS_MULTIPROC_DIR`` set before start: each worker writes its own
files, a scrape sums them); these are true counters. What the store records (job runs and failures, rows
written, data age, forecasts, signals, orders, marketplace calls) is read from the store at scrape time
(:mod:`engine.telemetry`), so it is the same whichever worker answers, survives restarts, and includes what the
scheduler did in a process no scrape reaches (the store process of ``make run-store-process``). Those are what
the store holds now, which falls when rows are replaced or expire, so every one of them is a gauge named for
what it counts (``_stored``, ``_recorded``), never a ``_total``.

Served to admins, or to anyone on this machine (a Prometheus agent beside the app); everyone else gets 403."""
from __future__ import annotations

import logging
import os
import time
from functools import partial

import dash
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app import auth
from app.counters import API_CALLS, CACHE_REQUESTS, CALLBACK_SECONDS, REQUEST_SECONDS
from app.logs import callback_of_request, route_of_request
from app.services import services
from engine import queries, telemetry

log = logging.getLogger(__name__)
PATH = "/metrics"
CALLBACK_PATH = "/_dash-update-component"
# HTTP's methods; any other token a client sends is counted as "other", so it cannot add series at will
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
metrics = Blueprint("metrics", __name__)


#: The store's figures given as they are: what it holds now (telemetry key, metric, help). None is a counter: a
#: backfill replacing demo rows, or a run expiring after its year, lowers them, which Prometheus would read as a
#: counter reset (rate() and increase() then count the whole figure again).
_STORED = (
    ("job_last_finished", "c254_job_last_finished_timestamp_seconds", "When each job last finished with each "
     "outcome (Unix seconds), by job and status"),
    ("rows_ingested", "c254_rows_ingested_recorded", "Rows written by the connector runs the store holds (a "
     "year's scheduled loads and backfills), by connector and table"),
    ("rows_written", "c254_job_rows_written_recorded", "What each job reports written, summed over the runs the "
     "store holds (a load's rows, a training's models, an issue's forecast runs, a signal run's signals), by job"),
    ("stored_rows", "c254_stored_rows", "Rows held, by table"),
    ("forecasts_issued", "c254_forecast_runs_stored", "Forecast runs stored, by market and model"),
    ("signals_recorded", "c254_signals_stored", "Signals stored, by market and strategy"),
    ("orders", "c254_fix_orders", "FIX orders by current state"),
    ("api_calls", "c254_marketplace_api_calls_recorded", "Product API calls the usage meter holds, by status and "
     "key kind (c254_marketplace_api_calls_total counts them as they are answered)"),
    ("api_rows", "c254_marketplace_api_rows_recorded", "Rows served by the product API, as the usage meter holds "
     "them, by key kind"),
)


def _gauge(frame, metric: str, text: str) -> GaugeMetricFamily:
    labels = [c for c in frame.columns if c != "value"]
    out = GaugeMetricFamily(metric, text, labels=labels)
    for row in frame.itertuples(index=False):
        out.add_metric([str(getattr(row, c)) for c in labels], float(row.value))
    return out


class StoreCollector(Collector):
    """The store's figures, read at each scrape of the app it belongs to."""

    def __init__(self, server: Flask):
        self._server = server

    def collect(self):
        with self._server.app_context():
            try:
                svc = services()
                store = svc.ready_store()
                # the newest interval ends cached until a write (keyed on the data version), the ages taken now
                figures = telemetry.store_figures(store, svc.monitored(queries.dataset_freshness))
                month_revenue = telemetry.revenue_month_to_date(store)
            except Exception as exc:  # a scrape during an outage says so instead of failing
                log.warning("metrics: the store could not answer: %s", exc)
                up = GaugeMetricFamily("c254_store_up", "Whether the store answered this scrape")
                up.add_metric([], 0)
                yield up
                return
        up = GaugeMetricFamily("c254_store_up", "Whether the store answered this scrape")
        up.add_metric([], 1)
        yield up
        for name, metric, text in _STORED:
            yield _gauge(figures.counts[name], metric, text)
        runs = figures.counts["job_runs"]
        finished, running = runs[runs["status"] != "running"], runs[runs["status"] == "running"]
        yield _gauge(finished, "c254_job_runs_recorded", "Finished job runs the store holds (a year's), by job and "
                     "outcome; falls as old runs expire: alert on c254_job_last_finished_timestamp_seconds")
        # every job the store knows, at 0 when none of its runs is under way, so the series does not vanish
        in_progress = running.groupby("job")["value"].sum().reindex(sorted(set(runs["job"])), fill_value=0.0)
        now_running = GaugeMetricFamily("c254_job_runs_running", "Job runs under way now, by job", labels=["job"])
        for job, value in in_progress.items():
            now_running.add_metric([job], float(value))
        yield now_running
        age = GaugeMetricFamily("c254_data_age_seconds", "Age of the newest stored interval end, by market and "
                                "dataset", labels=["market", "dataset"])
        for row in figures.data_age.dropna().itertuples(index=False):
            age.add_metric([row.market, row.dataset], float(row.seconds))
        yield age
        revenue = GaugeMetricFamily("c254_marketplace_revenue_month_to_date", "The marketplace's revenue in this UTC "
                                    "month so far, from the statements partners are paid by: partner_sales (gross), "
                                    "paid_to_partners (their 70 %), platform_share (30 %), platform_products (the "
                                    "platform's own, kept whole); by currency", labels=["part", "currency"])
        for row in month_revenue.itertuples(index=False):
            revenue.add_metric([row.part, row.currency], row.amount)
        yield revenue


def _allowed() -> bool:
    if auth.from_this_machine():
        return True
    try:
        return auth.current_role() == "admin"
    except Exception:  # the store holding users is down: only this machine may read
        return False


@metrics.get(PATH)
def serve():
    if not _allowed():
        return Response("metrics are for admins and this machine\n", 403, mimetype="text/plain")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUEST_SECONDS, CALLBACK_SECONDS, CACHE_REQUESTS, API_CALLS):
            registry.register(collector)
    registry.register(StoreCollector(current_app._get_current_object()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _finished(app: dash.Dash, response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None or request.path == PATH:
        return response
    seconds = time.perf_counter() - started
    status = f"{response.status_code // 100}xx"
    if request.path == CALLBACK_PATH:
        CALLBACK_SECONDS.labels(callback_of_request(app), status).observe(seconds)
    method = request.method if request.method in METHODS else "other"
    REQUEST_SECONDS.labels(route_of_request(), method, status).observe(seconds)
    return response


def init_app(app: dash.Dash) -> None:
    """Before any other check, so a request refused early is timed too."""
    app.server.register_blueprint(metrics)
    app.server.before_request(_started)
    app.server.after_request(partial(_finished, app))
