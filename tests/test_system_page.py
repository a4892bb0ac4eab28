"""The admin System page: percentiles from histogram buckets (against numpy's over the values observed), the
tables read from prometheus-client's families, and the page's callback through the HTTP callback endpoint as an
admin: latency by route and callback, cache hit rate by data class, job runs and failures, data age against the
expected delay, "store down" while the store does not answer and "cache unavailable" (with the error) while the
cache fails, cleared once it works again. Non-admins are refused by tests/test_access.py (the role table)."""
from __future__ import annotations

import json
import re
import math
import os
import time
import uuid

import dash
import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from app import system
from app.factory import create_app
from app.services import CACHE_RETRY_SECONDS, services
from app.settings import Settings
from engine import accounts, queries
from engine.demo import nem_demo_frames
from engine.jobs import JobRun
from engine.store import StoreError, write_tables
from tests.support.signin import PASSWORD, sign_in
from tests.test_hardening import callback_key, post_callback
from tests.support.schema_template import migrated_url

REFRESH = "sys-status.children"


@pytest.fixture(scope="module")
def site(store_dir):
    """One app with sign-in over a store with two days of NEM demo prices, and an admin's signed-in client."""
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"syspage_{os.getpid()}"), scheduler=False,
                                   demo=False, auth=True, secret_key="test-secret"))
    store = services(dash_app.server).ready_store()
    frames = nem_demo_frames(days=2, end=pd.Timestamp.now(tz="Etc/GMT-10").floor("h"))
    write_tables(store, {"prices": frames["prices"]})
    accounts.create_user(store, "sys-admin@example.com", "admin", PASSWORD)
    client = dash_app.server.test_client()
    assert sign_in(client, "sys-admin@example.com").status_code == 302
    yield dash_app, store, client
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
    store.close()


def _refresh(site) -> dict:
    dash_app, _, client = site
    answer = post_callback(client, dash_app, callback_key(dash_app, REFRESH), {"sys-tick.n_intervals": 1})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_json()["response"]


def _text(component) -> str:
    return json.dumps(component)


# ------------------------------------------------------------------------------------------------ percentiles

def test_quantile_interpolates_within_the_bucket_the_rank_falls_in():
    buckets = [(0.1, 10.0), (0.5, 30.0), (math.inf, 40.0)]
    assert system.histogram_quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * (20 - 10) / 20)
    assert system.histogram_quantile(0.25, buckets) == pytest.approx(0.1 * 10 / 10)
    assert system.histogram_quantile(0.99, buckets) == 0.5  # in the +Inf bucket: the highest finite bound
    assert math.isnan(system.histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))


@pytest.mark.parametrize(("q", "buckets", "why"), [
    (1.5, [(math.inf, 1.0)], "quantile"), (-0.1, [(math.inf, 1.0)], "quantile"),
    (0.5, [(0.1, 1.0), (0.2, 2.0)], r"\+Inf"), (0.5, [], r"\+Inf")])
def test_quantile_refuses_what_is_no_histogram(q, buckets, why):
    with pytest.raises(ValueError, match=why):
        system.histogram_quantile(q, buckets)


def test_percentiles_from_buckets_match_the_values_observed():
    registry = CollectorRegistry()
    bounds = tuple(np.round(np.arange(0.01, 1.01, 0.01), 2))
    timing = Histogram("t_seconds", "test", ["route", "method", "status"], buckets=bounds, registry=registry)
    observed = np.random.default_rng(7).gamma(2.0, 0.08, 4000)
    for i, value in enumerate(observed):
        timing.labels("/a", "GET" if i % 2 else "POST", "5xx" if i % 10 == 0 else "2xx").observe(value)
    timing.labels("/b", "GET", "2xx").observe(0.2)
    table = system.latency_table(registry.collect(), "t_seconds", "route").set_index("route")
    assert table.loc["/a", "count"] == 4000 and table.loc["/a", "errors"] == 400
    for q in (50, 95, 99):  # within one bucket's width of the exact percentile
        assert table.loc["/a", f"p{q}"] == pytest.approx(np.percentile(observed, q), abs=0.01)
    assert table.loc["/a", "mean"] == pytest.approx(observed.mean())  # the histogram's sum over its count: exact
    assert list(table.columns) == list(system.LATENCY_COLUMNS)


def test_a_percentile_of_too_few_answers_is_not_given_but_the_mean_is():
    """One answer of 1.2 s used to read p50 1,750, p95 2,425, p99 2,485 ms: points inside its 1–2.5 s bucket,
    none of them measured. A percentile is given from 1 / (1 - q) answers on, the mean always."""
    assert system.MIN_ANSWERS == {0.5: 2, 0.95: 20, 0.99: 100}
    registry = CollectorRegistry()
    timing = Histogram("t_seconds", "test", ["route"], buckets=(0.1, 1.0, 2.5), registry=registry)
    timing.labels("/once").observe(1.2)
    for value in np.linspace(0.01, 0.09, 19):
        timing.labels("/nineteen").observe(value)
    for value in np.linspace(0.01, 0.09, 20):
        timing.labels("/twenty").observe(value)
    table = system.latency_table(registry.collect(), "t_seconds", "route").set_index("route")
    once, nineteen, twenty = table.loc["/once"], table.loc["/nineteen"], table.loc["/twenty"]
    assert once["mean"] == pytest.approx(1.2) and once[["p50", "p95", "p99"]].isna().all()
    assert nineteen["p50"] == pytest.approx(0.1 * 9.5 / 19) and nineteen[["p95", "p99"]].isna().all()
    assert twenty["p95"] == pytest.approx(0.1 * 19 / 20) and math.isnan(twenty["p99"])
    from components.system_figures import latency_figure, latency_table, percentile_note

    figure = latency_figure(table.reset_index(), "route", "t")
    bars = {t["name"]: dict(zip(t["y"], t["x"], strict=True)) for t in figure["data"]}
    assert bars["p95"]["/once"] is None and bars["mean"]["/once"] == pytest.approx(1200.0)
    assert figure["data"][0]["y"][-1] == "/once"  # the slowest on top, by its mean when it has no p95
    def text(cell) -> str:
        inner = getattr(cell, "children", cell)
        return inner if isinstance(inner, str) else text(inner)

    rows = latency_table(table.reset_index(), "route", "t").children[1].children
    assert [text(cell) for cell in rows[0].children] == ["/nineteen", "19", "0", "50", "50", "–", "–"]
    assert "p50 from 2, p95 from 20, p99 from 100" in percentile_note(system.MIN_ANSWERS_BY_COLUMN)


def test_cache_table_counts_and_hit_rate():
    registry = CollectorRegistry()
    asked = Counter("c254_cache_requests", "test", ["data_class", "result"], registry=registry)
    asked.labels("static", "hit").inc(3)
    asked.labels("static", "miss").inc(1)
    asked.labels("static", "warmed").inc(20)  # computed ahead of any user: not a user's miss
    asked.labels("realtime", "error").inc(2)
    table = system.cache_table(registry.collect()).set_index("data_class")
    assert table.loc["static", "hit_rate"] == pytest.approx(0.75)
    assert table.loc["static", "warmed"] == 20
    assert table.loc["realtime", "error"] == 2 and math.isnan(table.loc["realtime", "hit_rate"])


def test_job_table_and_age_table():
    runs = pd.DataFrame({"job": ["a", "a", "b"], "status": ["succeeded", "failed", "running"],
                         "value": [4.0, 1.0, 1.0]})
    jobs = system.job_table(runs).set_index("job")
    assert jobs.loc["a", ["runs", "succeeded", "failed"]].tolist() == [5, 4, 1]
    assert jobs.loc["b", ["runs", "running", "failed"]].tolist() == [1, 1, 0]
    age = system.age_table(pd.DataFrame({"market": ["NEM", "XX"], "dataset": ["prices", "prices"],
                                         "seconds": [600.0, float("nan")], "is_demo": [False, False]}))
    from engine.markets import MARKETS

    assert age["expected_seconds"].tolist() == [60.0 * MARKETS["NEM"].expected_delay("prices"), 86400.0]
    assert math.isnan(age["age_seconds"].iloc[1])
    assert age["state"].tolist() == ["on time", "empty"]


def test_demo_data_is_grey_not_late():
    """Demo data is never updated, so it is always older than its market's delay: drawn grey, not red."""
    from components.system_figures import AGE_COLOURS, age_figure

    age = system.age_table(pd.DataFrame({"market": ["NEM", "NEM", "PJM"], "dataset": ["prices", "demand", "nodal"],
                                         "seconds": [3.0e6, 60.0, 3.0e6], "is_demo": [True, False, False]}))
    figure = age_figure(age)
    bars = figure["data"][0]
    colour = dict(zip(bars["y"], bars["marker"]["color"], strict=True))
    assert colour == {"NEM · prices": AGE_COLOURS["demo"], "NEM · demand": AGE_COLOURS["on time"],
                      "PJM · nodal": AGE_COLOURS["late"]}
    assert dict(zip(bars["y"], bars["customdata"], strict=True))["NEM · prices"] == "demo"
    assert "grey: demo data" in figure["layout"]["title"]["text"]
    real = age_figure(system.age_table(pd.DataFrame({"market": ["NEM"], "dataset": ["prices"], "seconds": [3.0e6],
                                                     "is_demo": [False]})))
    assert real["data"][0]["marker"]["color"][real["data"][0]["y"].index("NEM · prices")] == AGE_COLOURS["late"]
    assert "grey" not in real["layout"]["title"]["text"]


# ------------------------------------------------------------------------------------------------ the page

def test_a_table_with_nothing_in_it_has_its_csv_button_disabled(make_app):
    app = make_app()  # no connector has run (the latency figures are the process's: requests were answered)
    client = app.server.test_client()
    assert client.get("/healthz").status_code == 200
    answer = post_callback(client, app, callback_key(app, REFRESH), {"sys-tick.n_intervals": 1})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    response = answer.get_json()["response"]
    assert response["sys-dl-ingested-btn"]["disabled"] is True
    assert response["sys-dl-requests-btn"]["disabled"] is False


def test_the_page_draws_latency_cache_jobs_and_data_age(site):
    dash_app, store, client = site
    job = f"sys-test-{uuid.uuid4().hex[:6]}"
    JobRun(job, "NEM").finish(store, "succeeded")
    JobRun(job, "NEM").finish(store, "failed", "boom")
    connector = f"conn{uuid.uuid4().hex[:6]}"
    for rows in (1200, 34):
        loaded = JobRun(f"backfill:{connector}", "NEM", connector=connector)
        loaded.add_written({"prices": rows, "demand": 0})
        loaded.finish(store, "succeeded")
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    svc = services(dash_app.server)
    with dash_app.server.app_context():
        svc.cached(queries.nodal_runs)
        svc.cached(queries.nodal_runs)  # the second answer comes from the cache: a "static" hit
    _refresh(site)  # so the page's own callback has been timed once
    out = _refresh(site)

    status = _text(out["sys-status"]["children"])
    assert "store up" in status and "cache ok" in status
    routes = {t["name"]: dict(zip(t["y"], t["x"], strict=True)) for t in out["sys-requests-chart"]["figure"]["data"]}
    assert set(routes) == {"mean", "p50", "p95", "p99"}
    assert routes["p50"]["/healthz"] > 0 and routes["p95"]["/healthz"] is None  # 3 answers: no p95 yet
    assert "p95 from 20" in _text(out["sys-latency-note"]["children"])
    callbacks = out["sys-callbacks-chart"]["figure"]["data"][0]["y"]
    assert any(label.startswith("sys-status.children") for label in callbacks)
    assert "/healthz" in _text(out["sys-requests-table"]["children"])
    assert out["sys-dl-ingested-btn"]["disabled"] is False  # the connector's rows above

    cache = out["sys-cache-chart"]["figure"]["data"][0]
    assert "static" in cache["x"] and cache["y"][cache["x"].index("static")] > 0

    jobs = {t["name"]: dict(zip(t["y"], t["x"], strict=True)) for t in out["sys-jobs-chart"]["figure"]["data"]}
    assert jobs["succeeded"][job] == 1 and jobs["failed"][job] == 1
    ingested = _text(out["sys-ingested-table"]["children"])
    assert all(f'"{cell}"' in ingested for cell in (connector, "prices", "demand", "1,234")), ingested

    age = out["sys-age-chart"]["figure"]["data"]
    bars, marks = age[0], age[1]
    assert "NEM · prices" in bars["y"]
    at = bars["y"].index("NEM · prices")
    fresh = queries.dataset_freshness(store)
    nem = next(f for f in fresh if (f.market, f.dataset) == ("NEM", "prices"))
    assert bars["x"][at] == pytest.approx(nem.age.total_seconds() / 3600, abs=0.05)
    assert marks["x"][at] == pytest.approx(nem.expected_delay.total_seconds() / 3600)
    assert nem.is_demo and bars["customdata"][at] == "demo"  # the site holds the demo's prices: grey, not late


def test_store_down_is_shown_not_a_500(site, monkeypatch):
    dash_app, _, _ = site
    svc = services(dash_app.server)

    def unreachable(**_kw):
        raise StoreError("connection refused (test)")

    out_ok = _refresh(site)
    assert "store up" in _text(out_ok["sys-status"]["children"])
    monkeypatch.setattr(svc, "ready_store", unreachable)
    figures = svc.system_figures()
    assert not figures.store_up and "connection refused (test)" in figures.store_error
    assert figures.jobs.empty and figures.data_age.empty and figures.ingested.empty
    monkeypatch.undo()
    assert services(dash_app.server).system_figures().store_up


class _BrokenCache:
    def get(self, _key):
        raise ConnectionError("redis went away (test)")

    def set(self, *_a, **_kw):
        raise ConnectionError("redis went away (test)")


def test_cache_unavailable_is_shown_with_its_error_and_clears(site, monkeypatch):
    dash_app, _, _ = site
    svc = services(dash_app.server)
    working = svc.cache
    monkeypatch.setattr(svc, "cache", _BrokenCache())
    with dash_app.server.app_context():
        assert svc.cached(queries.nodal_runs) == queries.nodal_runs(svc.store)  # answered without the cache
    status = _text(_refresh(site)["sys-status"]["children"])
    assert "cache unavailable" in status and "redis went away (test)" in status

    shown = svc.system_figures()
    assert shown.cache_error and shown.cache_error_at is not None
    later = system.read_figures(svc, now=svc.cache_error_at + system.CACHE_ERROR_SHOWN_SECONDS + 1)
    assert later.cache_error == ""  # an old failure is not the cache's state any more

    monkeypatch.setattr(svc, "cache", working)
    time.sleep(CACHE_RETRY_SECONDS)  # right after a failure the cache is passed by, not tried
    with dash_app.server.app_context():
        svc.cached(queries.nodal_runs)  # a read that works
    status = _text(_refresh(site)["sys-status"]["children"])
    assert "cache ok" in status and "cache unavailable" not in status


def test_admin_page_links_to_the_system_page(site):
    dash_app, _, _ = site
    admin = next(page for page in dash.page_registry.values() if page["path"] == "/admin")
    with dash_app.server.test_request_context("/admin"):
        layout = json.dumps(admin["layout"]().to_plotly_json(), default=lambda c: c.to_plotly_json())
    assert '"href": "/admin/system"' in layout


def test_each_chart_saves_as_a_png_named_for_what_it_shows(site):
    dash_app, _, _ = site
    system = next(page for page in dash.page_registry.values() if page["path"] == "/admin/system")
    with dash_app.server.test_request_context("/admin/system"):
        found = re.findall(r'"filename": "([^"]+)"', json.dumps(system["layout"]().to_plotly_json(),
                                                                 default=lambda c: c.to_plotly_json()))
    assert sorted(found) == ["system_age", "system_cache", "system_callbacks", "system_jobs", "system_requests"]


# ------------------------------------------------------------------------------------------------ CSV

def _download(site, table: str, client=None):
    dash_app, _, admin = site
    return post_callback(client or admin, dash_app, callback_key(dash_app, f"sys-dl-{table}.data"),
                         {f"sys-dl-{table}-btn.n_clicks": 1}, changed=f"sys-dl-{table}-btn.n_clicks")


def _read(answer, table: str) -> tuple[str, pd.DataFrame]:
    import io

    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    response = answer.get_json()["response"]
    assert set(response) == {f"sys-dl-{table}"}  # the clicked table's file alone
    data = response[f"sys-dl-{table}"]["data"]
    assert data["filename"].startswith(f"system_{table}_")
    return data["filename"], pd.read_csv(io.StringIO(data["content"]), keep_default_na=False, na_values=[""])


def test_each_table_downloads_with_its_units_in_the_headers(site):
    dash_app, store, client = site
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    loaded = JobRun("backfill:sysdl", "NEM", connector="sysdl")
    loaded.add_written({"prices": 4321})
    loaded.finish(store, "succeeded")
    _refresh(site)

    name, requests = _read(_download(site, "requests"), "requests")
    assert name.startswith("system_requests_") and name.endswith("Z.csv")
    assert list(requests.columns) == ["route", "answers", "answers_5xx", "mean (ms)", "p50 (ms)", "p95 (ms)",
                                      "p99 (ms)"]
    shown = services(dash_app.server).system_figures().requests.set_index("route")
    health = requests.set_index("route").loc["/healthz"]
    assert health["answers"] >= 3 and health["answers_5xx"] == 0
    # milliseconds, unrounded: the table's seconds times 1000 (the histogram moves only with new answers)
    assert health["p50 (ms)"] == pytest.approx(shown.loc["/healthz", "p50"] * 1000)
    assert health["mean (ms)"] == pytest.approx(shown.loc["/healthz", "mean"] * 1000)

    _, callbacks = _read(_download(site, "callbacks"), "callbacks")
    assert list(callbacks.columns)[:3] == ["callback", "answers", "answers_5xx"]
    # the callback's full output key (the page shortens a many-output key to its first output and a count)
    assert any("sys-status.children" in label for label in callbacks["callback"])

    _, ingested = _read(_download(site, "ingested"), "ingested")
    assert list(ingested.columns) == ["connector", "table", "rows_written"]
    assert ingested.set_index(["connector", "table"]).loc[("sysdl", "prices"), "rows_written"] == 4321

    _, age = _read(_download(site, "age"), "age")
    assert list(age.columns) == ["market", "dataset", "age (h)", "late after (h)", "state"]
    nem = age.set_index(["market", "dataset"]).loc[("NEM", "prices")]
    fresh = next(f for f in queries.dataset_freshness(store) if (f.market, f.dataset) == ("NEM", "prices"))
    assert nem["age (h)"] == pytest.approx(fresh.age.total_seconds() / 3600, abs=0.05)
    assert nem["late after (h)"] == pytest.approx(fresh.expected_delay.total_seconds() / 3600)
    assert nem["state"] == "demo"


@pytest.mark.parametrize("role", ["trader", "analyst", "partner"])
def test_only_admins_get_the_system_csvs(site, client_as, role):
    dash_app, store, _ = site
    client = client_as(dash_app, role)
    for table in ("requests", "callbacks", "ingested", "age"):
        assert _download(site, table, client).status_code == 403


# ------------------------------------------------------------------------------------------------ the window

def _timing() -> tuple[CollectorRegistry, Histogram, Counter]:
    registry = CollectorRegistry()
    timing = Histogram("c254_request_seconds", "test", ["route", "method", "status"],
                       buckets=(0.05, 0.1, 0.5, 1.0, 2.5), registry=registry)
    asked = Counter("c254_cache_requests", "test", ["data_class", "result"], registry=registry)
    return registry, timing, asked


def test_the_figures_cover_the_last_five_minutes_not_since_start():
    """A process slow for its first hour and fast since read p95 2.4 s on the page for hours after: the figures
    were since start. Now they are the last WINDOW_SECONDS: the values less the sample that old."""
    registry, timing, asked = _timing()
    history, t0 = system.FigureHistory(), 1_000_000.0
    for _ in range(100):
        timing.labels("/", "GET", "2xx").observe(2.0)
        asked.labels("dynamic", "miss").inc()
    history.record(t0, registry.collect())
    assert history.baseline(t0 + system.WINDOW_SECONDS - 1) is None, "younger than the window: since start"
    for _ in range(40):
        timing.labels("/", "GET", "2xx").observe(0.02)
        asked.labels("dynamic", "hit").inc()
    since = history.baseline(t0 + system.WINDOW_SECONDS)
    assert since is not None and since[0] == t0
    families = system.windowed(registry.collect(), since[1])
    latency = system.latency_table(families, "c254_request_seconds", "route").set_index("route")
    assert latency.loc["/", "count"] == 40 and latency.loc["/", "p95"] < 0.05
    assert latency.loc["/", "mean"] == pytest.approx(0.02)
    cache = system.cache_table(families).set_index("data_class")
    assert (cache.loc["dynamic", "hit"], cache.loc["dynamic", "miss"], cache.loc["dynamic", "hit_rate"]) == (40, 0, 1.0)
    whole = system.latency_table(registry.collect(), "c254_request_seconds", "route").set_index("route")
    assert whole.loc["/", "count"] == 140 and whole.loc["/", "p95"] > 1.0, "since start, as the page read before"


def test_the_history_keeps_one_sample_a_window_old_and_a_clock_set_back_is_survived():
    registry, timing, _ = _timing()
    history, t0 = system.FigureHistory(), 1_000_000.0
    for second in range(0, 1000, 5):  # every 5 s: kept every SAMPLE_SECONDS
        timing.labels("/", "GET", "2xx").observe(0.02)
        history.record(t0 + second, registry.collect())
    kept = [at - t0 for at, _ in history._samples]
    assert kept[0] == 990 - system.WINDOW_SECONDS - (990 - system.WINDOW_SECONDS) % system.SAMPLE_SECONDS
    assert all(b - a == system.SAMPLE_SECONDS for a, b in zip(kept, kept[1:], strict=False))
    assert history.baseline(t0 + 995)[0] == t0 + 690
    history.record(t0 + 500, registry.collect())  # the clock set back: the later samples are dropped
    assert max(at for at, _ in history._samples) == t0 + 500
    assert history.baseline(t0 + 800)[0] == t0 + 500


def test_a_worker_replaced_since_the_sample_is_taken_whole():
    registry, timing, _ = _timing()
    for _ in range(10):
        timing.labels("/", "GET", "2xx").observe(0.02)
    baseline = system._values(registry.collect())
    fresh, timing2, _ = _timing()  # a new process's figures start again from 0
    for _ in range(3):
        timing2.labels("/", "GET", "2xx").observe(0.02)
    latency = system.latency_table(system.windowed(fresh.collect(), baseline), "c254_request_seconds", "route")
    assert latency["count"].tolist() == [3]


def test_the_page_says_what_span_its_figures_cover(site, monkeypatch):
    dash_app, _, _ = site
    svc = services(dash_app.server)
    history = system.FigureHistory()
    monkeypatch.setattr(system, "HISTORY", history)
    monkeypatch.setattr(history, "start_sampling", lambda: None)
    assert "since start" in _text(_refresh(site)["sys-status"]["children"]), "no sample a window old yet"
    assert system.read_figures(svc).window_start is None
    first = history._samples[0][0]
    later = system.read_figures(svc, now=first + system.WINDOW_SECONDS)
    assert later.window_start == pd.Timestamp(first, unit="s", tz="UTC")
    history.record(time.time() - system.WINDOW_SECONDS - 1, [])  # as if the page had been read six minutes ago
    status = _text(_refresh(site)["sys-status"]["children"])
    assert "over the last 5 minutes (since " in status and "since start" not in status
