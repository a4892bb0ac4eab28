"""Caching by data class (issue 14): lifetimes chosen from what a call reads, invalidation per market, the
cache's failures answered without it, and the counts of hits, misses and errors by class in /metrics."""
from __future__ import annotations

import time
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from app.counters import CACHE_REQUESTS
from app.services import services
from engine import caching, overview, queries
from engine.store import write_tables
from engine.signals import series as signal_series
from engine.store import versions
from engine.store.versions import market_version


def _prices(market: str, location: str, start: str, n: int = 24, price: float = 50.0) -> pd.DataFrame:
    return pd.DataFrame({"market": market, "location": location, "price_kind": "settlement" if market == "NEM"
                         else "hoep", "interval_start": pd.date_range(start, periods=n, freq="h", tz="UTC"),
                         "interval_minutes": 60, "price": price + np.arange(n, dtype=float), "source": "file.csv"})


def _count(data_class: str, result: str) -> float:
    return CACHE_REQUESTS.labels(data_class, result)._value.get()


def _total(result: str) -> float:
    """Cache answers of every data class with ``result`` (hit, miss, error or warmed) so far."""
    return sum(_count(c, result) for c in caching.DATA_CLASSES)


NOW = pd.Timestamp("2026-12-03 12:00", tz="UTC")


@pytest.mark.parametrize(("fn", "args", "expected"), [
    (overview.latest_view, ("NEM",), caching.Classified("realtime", "NEM")),
    (overview.locations, ("IESO",), caching.Classified("static", "IESO", series_set=True)),
    # a range ending before the market's current month reads closed months only
    (overview.overview_view, ("NEM", "SA1", "2026-10-01", "2026-11-30"), caching.Classified("semi_static", "NEM")),
    (overview.overview_view, ("NEM", "SA1", "2026-11-01", "2026-12-01"), caching.Classified("dynamic", "NEM")),
    (overview.overview_view, ("NEM", "SA1", "2026-11-01", "not a date"), caching.Classified("dynamic", "NEM")),
    (queries.dataset_freshness, (), caching.Classified("realtime", None)),
    # a market the registry does not know keys on the whole store (the function will refuse it anyway)
    (overview.latest_view, ("NOPE",), caching.Classified("realtime", None)),
    (queries.markets_with_prices, (), caching.Classified("dynamic", None)),  # not declared: safe default
])
def test_the_data_class_is_chosen_from_what_the_call_reads(fn, args, expected):
    assert caching.classify(fn, args, {}, now=NOW) == expected


def test_every_declared_policy_names_a_real_function_and_parameter():
    import importlib
    import inspect

    for name, policy in caching.POLICIES.items():
        module, _, qualname = name.rpartition(".")
        fn = getattr(importlib.import_module(module), qualname)
        params = inspect.signature(fn).parameters
        for wanted in (policy.market, policy.range_end, policy.version_arg):
            assert wanted is None or wanted in params, f"{name} has no parameter {wanted!r}"


@pytest.fixture
def app_with_two_markets(make_app):
    dash_app = make_app()
    with dash_app.server.app_context():
        store = services().ready_store()
        write_tables(store, {"prices": _prices("NEM", "SA1", "2026-11-01")})
        write_tables(store, {"prices": _prices("IESO", "ONZP", "2026-11-01")})
        yield dash_app


def test_a_load_of_one_market_leaves_the_others_cached(app_with_two_markets):
    with app_with_two_markets.server.app_context():
        svc = services()
        store = svc.ready_store()
        before = {m: svc.cached(overview.latest_view, m) for m in ("NEM", "IESO")}
        hits = _count("realtime", "hit")
        nem_version = market_version(store, "NEM")
        write_tables(store, {"prices": _prices("NEM", "SA1", "2026-11-02", price=80.0)})
        assert market_version(store, "NEM") > nem_version
        ieso = svc.cached(overview.latest_view, "IESO")
        assert _count("realtime", "hit") == hits + 1, "IESO's answer was not kept through a NEM load"
        assert ieso.rows.equals(before["IESO"].rows)
        misses = _count("realtime", "miss")
        nem = svc.cached(overview.latest_view, "NEM")
        assert _count("realtime", "miss") == misses + 1, "NEM's answer was not dropped by its own load"
        assert nem.rows["price"].max() > before["NEM"].rows["price"].max()
        # a reload that writes nothing changes no version
        version = market_version(store, "NEM")
        write_tables(store, {"prices": _prices("NEM", "SA1", "2026-11-02", price=80.0)})
        assert market_version(store, "NEM") == version


def test_a_stored_forecast_run_leaves_its_markets_price_answers_cached(app_with_two_markets):
    """A stored run raises the version of its market's runs, not the market's: the overview's answers stay, the
    answers that read runs (forecasts, signals) are computed again and see it."""
    from engine.forecast import runs
    from engine.forecast import views as forecast_views
    from engine.forecast.base import QUANTILE_LEVELS, Forecast
    from engine.store.versions import forecast_runs_key

    with app_with_two_markets.server.app_context():
        svc = services()
        store = svc.ready_store()
        latest = svc.cached(overview.latest_view, "NEM")
        assert svc.cached(forecast_views.models, "NEM", "SA1").offered == ()
        prices_version, runs_version = market_version(store, "NEM"), market_version(store, forecast_runs_key("NEM"))
        times = pd.date_range("2026-11-02", periods=24, freq="h", tz="UTC")
        quantiles = np.sort(np.random.default_rng(1).normal(60, 10, (24, len(QUANTILE_LEVELS))), axis=1)
        runs.save_run(store, "NEM", "SA1", Forecast(times, np.full(24, 60.0), quantiles, "lear"),
                      times[0] - pd.Timedelta(hours=12), "v1")
        assert market_version(store, "NEM") == prices_version
        assert market_version(store, forecast_runs_key("NEM")) > runs_version
        hits, misses = _count("realtime", "hit"), _count("dynamic", "miss")
        assert svc.cached(overview.latest_view, "NEM").rows.equals(latest.rows)
        assert _count("realtime", "hit") == hits + 1, "a stored run dropped the market's price answers"
        assert svc.cached(forecast_views.models, "NEM", "SA1").offered == ("lear",)
        assert _count("dynamic", "miss") == misses + 1


def test_warming_after_a_stored_run_computes_the_forecasts_views_not_the_overviews(make_app):
    from app.warming import warm
    from engine.store.versions import forecast_runs_key

    dash_app = make_app(demo=True)
    everything = warm(dash_app.server)
    # the forecasts page's views, the default choices, the badges and the nodal runs (keyed on the store's whole
    # version, which a stored run moves), not the overview's series and pieces
    assert warm(dash_app.server, [forecast_runs_key("NEM")]) < everything / 5
    assert warm(dash_app.server, ["NEM", "PJM"]) >= everything  # a load of each market warms all that start did


def test_the_data_classes_live_as_the_issue_sets_them():
    # static: market and node metadata 1 h; dynamic: recent prices 5 min; real-time: the latest interval 30 s;
    # semi-static (daily aggregates, closed months): a day, as a closed month changes only with a resettlement
    assert caching.DATA_CLASSES == {"static": 3600, "semi_static": 86400, "dynamic": 300, "realtime": 30}


#: a call of each data class (the store holds IESO ONZP hours of 2026-11-01; "now" is 2026-12-03, so November is
#: a closed month and December the current one)
_ONE_OF_EACH_CLASS = [
    pytest.param("realtime", overview.latest_view, ("IESO",), id="latest-interval"),
    pytest.param("static", overview.locations, ("IESO",), id="metadata"),
    pytest.param("dynamic", queries.month_prices, ("IESO", "ONZP", "hoep", "2026-12-01"), id="recent-prices"),
    pytest.param("semi_static", queries.month_prices, ("IESO", "ONZP", "hoep", "2026-11-01"), id="closed-month"),
]


@pytest.mark.parametrize(("data_class", "fn", "args"), _ONE_OF_EACH_CLASS)
def test_an_answer_lives_as_long_as_its_data_class(app_with_two_markets, time_machine, data_class, fn, args):
    lifetime = caching.DATA_CLASSES[data_class]
    time_machine.move_to(pd.Timestamp("2026-12-03 12:00", tz="UTC").to_pydatetime(), tick=False)
    with app_with_two_markets.server.app_context():
        svc = services()
        misses = _count(data_class, "miss")
        svc.cached(fn, *args)
        assert _count(data_class, "miss") == misses + 1, f"the call was not classed {data_class}"
        time_machine.shift(lifetime - 1)
        hits = _count(data_class, "hit")
        svc.cached(fn, *args)
        assert _count(data_class, "hit") == hits + 1, f"gone before its {lifetime} s"
        time_machine.shift(2)
        misses = _count(data_class, "miss")
        svc.cached(fn, *args)
        assert _count(data_class, "miss") == misses + 1, f"kept past its {lifetime} s"


def test_a_cache_that_fails_costs_the_computation_not_the_answer(app_with_two_markets, monkeypatch):
    with app_with_two_markets.server.app_context():
        svc = services()
        expected = svc.cached(overview.locations, "NEM")

        def down(*_a, **_k):
            raise ConnectionError("Redis is down")

        monkeypatch.setattr(svc.cache, "get", down)
        monkeypatch.setattr(svc.cache, "set", down)
        errors = _count("static", "error")
        assert svc.cached(overview.locations, "NEM") == expected
        assert _count("static", "error") == errors + 1
        assert "Redis is down" in svc.cache_error


def test_warming_fills_what_the_overview_asks_for_first(make_app):
    from app.warming import warm

    dash_app = make_app(demo=True)
    with dash_app.server.app_context():
        services().ready_store()
    hits, misses, warmed = _total("hit"), _total("miss"), _total("warmed")
    assert warm(dash_app.server) > 5
    # what warming computes is counted apart: the hit rate on the System page is what users got
    assert (_total("hit"), _total("miss")) == (hits, misses)
    assert _total("warmed") >= warmed + 5
    with dash_app.server.app_context():  # as the overview's layout and its first render ask
        choice = services().cached(overview.initial_choice, None, None, None, None, None)
        services().cached(overview.overview_view, choice.market.chosen, choice.location.chosen, choice.dates.start,
                          choice.dates.end, "market", choice.kind.chosen)
    assert _total("miss") == misses, "a warmed view was computed again"
    # the choice, then the view cut from its months' pieces: hourly sums, and raw intervals for a 14-day range
    info = queries.known_market(choice.market.chosen)
    months = queries.market_months(info, *queries.parse_range(info, choice.dates.start, choice.dates.end))
    assert _total("hit") == hits + 1 + 2 * len(months)


def test_warming_fills_what_each_pages_callbacks_ask_for_as_it_opens(make_app):
    """After warming, the callbacks the overview (latest prices), the forecasts page (fan and accuracy) and the
    nodal page (published basis and congestion patterns) run as they open are all answered from the cache."""
    from app.warming import warm
    from engine.forecast import views as forecast_views
    from tests.test_forecasts_page import save_demo_runs
    from tests.test_hardening import callback_key, post_callback

    dash_app = make_app(demo=True)
    with dash_app.server.app_context():
        svc = services()
        save_demo_runs(svc.ready_store(), locations=("NSW1",), run_days=2)
    warm(dash_app.server)
    with dash_app.server.app_context():  # the values each page's layout opens on (its first render)
        market = svc.cached(overview.initial_choice, None, None, None, None, None).market.chosen
        fc = svc.cached(forecast_views.initial_choice, None, None, None)
        issued = svc.cached(forecast_views.issue_times, fc.market.chosen, fc.location.chosen, fc.model.chosen, None,
                            "market").chosen
        run = "|".join(svc.cached(queries.nodal_runs)[0])
        hub = svc.cached(queries.nodal_hubs, run.split("|")[0])["node"].iloc[0]
    assert fc.market.chosen == "NEM" and issued is not None, "no stored forecast to warm"
    client = dash_app.server.test_client()
    misses, hits = _total("miss"), _total("hit")
    answers = {
        "latest prices": post_callback(client, dash_app, callback_key(dash_app, "ov-latest.children"),
                                       {"ov-market.value": market, "ov-tz.value": "market"}),
        "forecast fan": post_callback(client, dash_app, callback_key(dash_app, "fc-fan.figure"), {
            "fc-market.value": "NEM", "fc-location.value": fc.location.chosen, "fc-model.value": fc.model.chosen,
            "fc-issued.value": issued, "fc-horizon.value": forecast_views.HORIZONS[0], "fc-tz.value": "market",
            "fc-scale.value": "linear"}),
        "forecast accuracy": post_callback(client, dash_app, callback_key(dash_app, "fc-accuracy-table.children"), {
            "fc-market.value": "NEM", "fc-location.value": fc.location.chosen,
            "fc-window.value": forecast_views.WINDOWS[-1]}),
        "published basis": post_callback(client, dash_app, callback_key(dash_app, "nb-stats.children"),
                                         {"nb-run.value": run, "nb-hub.value": hub}),
        "congestion patterns": post_callback(client, dash_app, callback_key(dash_app, "np-pattern.options"),
                                             {"nb-run.value": run}),
    }
    for what, answer in answers.items():
        assert answer.status_code == 200, (what, answer.get_data(as_text=True)[:300])
    assert _total("miss") == misses, "a callback computed a view warming should have"
    assert _total("hit") >= hits + len(answers)


#: The account the signals page opens with, as the browser sends it back: JSON from JavaScript, whose numbers
#: have no integer type, so the layout's 1.0 and 100000.0 come back as 1 and 100000 (seen in Chromium). Warming
#: asks with the floats; the cache keys a whole float as the int it equals (app.services._keyed).
BROWSER_BOOK = {"size_mw": 1, "init_cash": 100000, "fee_per_mwh": 0, "fee_per_trade": 0, "fee_pct": 0}


def test_warming_fills_what_the_signals_page_asks_for_as_it_opens(make_app):
    """Cold, the signals page's panels each took a second or more on first opening (the walk-forward 1.5 s, the
    heatmap 1.4 s): after warming, its layout and the strategies, walk-forward and live panels it runs as it
    opens are answered from the cache, and so is the heatmap for the default strategy's parameters."""
    from app.warming import warm
    from callbacks.signals import BOOK
    from engine.signals import views as signal_views
    from tests.test_hardening import callback_key, post_callback

    dash_app = make_app(demo=True)
    warm(dash_app.server)
    svc = services(dash_app.server)
    misses = _total("miss")
    with dash_app.server.app_context():
        choice = svc.cached(signal_views.initial_choice, None, None, None, None, None, None)
        market, location, strategy = choice.market.chosen, choice.location.chosen, choice.strategy.chosen
        start, end = choice.dates.start, choice.dates.end
        heatmap = svc.cached(signal_views.heatmap_view, market, location, None, start, end, strategy, BROWSER_BOOK,
                             signal_views.OPENING_METRIC)
        assert heatmap.metric == signal_views.OPENING_METRIC
    opened = {"sg-market.value": market, "sg-location.value": location, "sg-other.value": None,
              "sg-dates.start_date": start, "sg-dates.end_date": end, "sg-strategy.value": strategy,
              "sg-tz.value": "market", "sg-wf-window.value": signal_views.OPENING_WINDOW,
              "sg-wf-metric.value": signal_views.OPENING_METRIC,
              **{f"{ident}.value": BROWSER_BOOK[name] for name, ident in BOOK.items()}}
    client = dash_app.server.test_client()
    for output, csv_button in (("sg-compare.figure", "sg-download-compare-btn"),
                               ("sg-wf-equity.figure", "sg-download-folds-btn"), ("sg-live.children", None)):
        answer = post_callback(client, dash_app, callback_key(dash_app, output), opened)
        assert answer.status_code == 200, (output, answer.get_data(as_text=True)[:300])
        if csv_button:  # drawn, not a message: its CSV button is live
            assert answer.get_json()["response"][csv_button]["disabled"] is False, output
    assert _total("miss") == misses, "a panel computed a view warming should have"


def test_each_watching_process_solves_the_default_nodal_study_once(make_app, monkeypatch):
    from app import warming
    from callbacks import nodal
    from engine.lmp import study
    from tests.test_hardening import callback_key, post_callback

    fresh = study.Studies()  # this process's studies may hold it already (another test): start from none
    monkeypatch.setattr(warming, "studies", fresh)
    monkeypatch.setattr(nodal, "studies", fresh)
    dash_app = make_app()
    solved = []
    solve = study.solve_what_if
    monkeypatch.setattr(study, "solve_what_if", lambda *a, **k: solved.append(a[0]) or solve(*a, **k))
    warming.warm_default_study(dash_app.server)
    assert len(solved) == 1
    names = list(study.networks_in(study.grid_folder(services(dash_app.server).settings.data_dir)))
    answer = post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app, "nd-map.figure"), {
        "nd-network.value": study.default_network(names), "nd-colour.value": "lmp", "nd-hub.value": study.SYSTEM_HUB,
        "nd-range.value": "fixed", "nd-losses.value": [], "nd-snapshot.value": 18, "nd-whatif.data": None})
    assert answer.status_code == 200 and answer.get_json()["response"]["nd-error"]["is_open"] is False
    assert len(solved) == 1, "the page solved the default study again"


def test_warming_reads_the_pieces_of_every_locations_latest_quarter(make_app):
    from app.warming import warm

    dash_app = make_app(demo=True)
    warm(dash_app.server)
    misses = _total("miss")
    with dash_app.server.app_context():
        svc = services()
        for location in ("NSW1", "VIC1"):  # not the default location: warmed all the same
            dates = svc.cached(overview.series_dates, "NEM", location, "settlement", None, None)
            last = pd.Timestamp(dates.last)
            for days in (7, 31, 92):
                start = (last - pd.Timedelta(days=days - 1)).date().isoformat()
                svc.cached(overview.overview_view, "NEM", location, start, dates.last, "market", "settlement")
    assert _total("miss") == misses, "a warmed piece was read again"


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("start", ["boot", "request"])
def test_a_watching_worker_warms_as_it_starts_then_each_market_another_process_loads(make_app, monkeypatch, start):
    """Settings.warming "watch" (app.store_process's workers without Redis): the worker's own cache holds each
    market's hot views from its start, and again after a load it did not make, before anyone asks. A gunicorn
    worker starts as it boots (app.scheduler.start_at_boot: no request is made; it waited for the first request
    before, which then raced the warming for the same views), another server at its first request."""
    from app import warming
    from app.scheduler import start_at_boot

    monkeypatch.setattr(warming, "WATCH_SECONDS", 0.05)
    warmed: list = []
    real_warm = warming.warm
    monkeypatch.setattr(warming, "warm", lambda server, markets=None: warmed.append(markets) or real_warm(server,
                                                                                                        markets))
    dash_app = make_app(warming="watch")
    server = dash_app.server
    store = services(server).ready_store()
    write_tables(store, {"prices": _prices("NEM", "SA1", "2026-11-20")}, source="file.csv")
    assert warming.WATCH_KEY not in server.extensions  # nothing runs before the start (the CLI makes none)
    if start == "boot":
        start_at_boot(server)
    else:
        assert server.test_client().get("/healthz").status_code == 200
    watch = server.extensions[warming.WATCH_KEY]
    try:
        _wait_for(lambda: warmed == [None], "the first warming")
        # a load by another process: it bumps the market's version in the store (here through the same store)
        write_tables(store, {"prices": _prices("IESO", "ONTARIO", "2026-11-20")}, source="file.csv")
        _wait_for(lambda: len(warmed) == 2, "the loaded market's warming")
        assert warmed[1] == ["IESO"], "only the market whose version moved is warmed again"
        _wait_for(lambda: not _busy(watch), "the warming to end")
        misses = _total("miss")
        with server.app_context():
            choice = services().cached(overview.initial_choice, "IESO", None, None, None, None)
            services().cached(overview.overview_view, "IESO", choice.location.chosen, choice.dates.start,
                              choice.dates.end, "market", choice.kind.chosen)
        assert _total("miss") == misses, "a view of the loaded market was computed on request"
        time.sleep(0.3)
        assert len(warmed) == 2, "nothing moved, nothing warmed"
        from app.scheduler import stop_background

        assert stop_background(server, grace=10) == []  # as the worker stops (app/gunicorn_config.py)
        assert not watch.thread.is_alive()
    finally:
        watch.stop()


def test_the_process_running_the_scheduler_warms_whatever_moved_a_markets_version(make_app, monkeypatch):
    """Settings.warming "loads" (make run): the scheduler's start starts the watch, so a market's views are
    warmed again after anything that moves a version, not only a scheduled load: here a stored forecast run's."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from app import scheduler, warming
    from engine.store.versions import bump, forecast_runs_key

    monkeypatch.setattr(warming, "WATCH_SECONDS", 0.05)
    monkeypatch.setattr(scheduler, "build_scheduler", lambda server: BackgroundScheduler(timezone="UTC"))
    monkeypatch.setattr(scheduler, "forecasting", lambda server: type("Idle", (), {"first_start": lambda s: None})())
    warmed: list = []
    monkeypatch.setattr(warming, "warm", lambda server, markets=None: warmed.append(markets))
    dash_app = make_app(scheduler=True)
    server = dash_app.server
    try:
        assert server.test_client().get("/healthz").status_code == 200  # starts the scheduler, and the watch
        _wait_for(lambda: warmed == [None], "the warming at start")
        bump(services(server).ready_store(), [forecast_runs_key("IESO")])  # as a stored forecast run does
        _wait_for(lambda: len(warmed) == 2, "the warming after the version moved")
        assert warmed[1] == [forecast_runs_key("IESO")]
    finally:
        assert scheduler.stop_background(server, grace=10) == []


def _busy(watch) -> bool:
    """Whether the watch thread is inside a warming (its stack holds ``warm``)."""
    import sys

    frame = sys._current_frames().get(watch.thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "warm":
            return True
        frame = frame.f_back
    return False


def test_a_watch_that_cannot_read_the_versions_says_so_once_and_goes_on(make_app, monkeypatch, caplog):
    from app import warming

    monkeypatch.setattr(warming, "WATCH_SECONDS", 0.02)
    down = {"on": True}
    real = warming.market_versions

    def versions(store):
        if down["on"]:
            raise ConnectionError("store unreachable")
        return real(store)

    monkeypatch.setattr(warming, "market_versions", versions)
    warmed: list = []
    monkeypatch.setattr(warming, "warm", lambda server, markets=None: warmed.append(markets))
    dash_app = make_app()
    watch = warming.VersionWatch(dash_app.server).start()
    try:
        _wait_for(lambda: warmed == [None], "the first warming")
        time.sleep(0.2)
        with dash_app.server.app_context():
            write_tables(services().ready_store(), {"prices": _prices("NEM", "SA1", "2026-11-20")}, source="f.csv")
        down["on"] = False  # the store back: every market it has a version for is warmed, once
        _wait_for(lambda: len(warmed) == 2, "the warming after recovery")
        assert warmed[1] == ["NEM"]
        assert watch.thread.is_alive()
    finally:
        watch.stop()
    said = [r.getMessage() for r in caplog.records if "data versions" in r.getMessage()]
    assert said == ["warming: could not read the markets' data versions: store unreachable"]


def test_workers_sharing_redis_warm_each_market_version_once_between_them(make_app, redis_server, monkeypatch):
    """With Redis every worker's watch sees the same versions move and every worker reads the same cache: the
    first to claim a market's version warms it, the others do not compute it again."""
    import threading

    from app import warming
    from engine.store.versions import bump

    monkeypatch.setattr(warming, "WATCH_SECONDS", 0.05)
    warmed: list = []
    lock = threading.Lock()

    def record(server, markets=None):
        with lock:
            warmed.append((threading.get_ident(), markets))

    monkeypatch.setattr(warming, "warm", record)
    dash_app = make_app(redis_url=redis_server.url)
    store = services(dash_app.server).ready_store()
    write_tables(store, {"prices": pd.concat([_prices("NEM", "SA1", "2026-11-20"),
                                              _prices("IESO", "ONTARIO", "2026-11-20")])}, source="file.csv")
    watches = [warming.VersionWatch(dash_app.server) for _ in range(3)]  # three workers' watches
    for watch in watches:
        watch.start()
    try:
        _wait_for(lambda: sorted(m for _, ms in warmed for m in ms) == ["IESO", "NEM"], "the warming at start")
        bump(store, ["IESO"])
        _wait_for(lambda: sum(ms.count("IESO") for _, ms in warmed) == 2, "the warming after IESO's version moved")
        time.sleep(0.3)  # every watch has looked several times since
        assert sorted(m for _, ms in warmed for m in ms) == ["IESO", "IESO", "NEM"], warmed
    finally:
        for watch in watches:
            watch.stop()
    redis_server.kill()  # Redis gone: a worker cannot tell who warms, so it warms what it saw move
    claims = warming.RedisWarmingClaims(redis_server.url)
    assert claims.claim({"NEM": 7, "IESO": 9}) == ["IESO", "NEM"]


def test_where_warming_runs_is_a_setting_refused_when_misspelt():
    from app.settings import Settings

    assert Settings.from_env({}).warming == "loads"
    assert Settings.from_env({"C254_WARMING": " Watch "}).warming == "watch"
    with pytest.raises(ValueError, match="C254_WARMING must be one of loads, watch, off, got 'sometimes'"):
        Settings.from_env({"C254_WARMING": "sometimes"})


def test_the_store_process_warms_in_its_workers_unless_their_cache_is_shared(monkeypatch):
    from app import store_process
    from app.settings import Settings

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "unused")
    assert store_process.web_env(Settings(store_url="chdb:///x/store"), 8124)["C254_WARMING"] == "watch"
    shared = store_process.web_env(Settings(store_url="chdb:///x/store", redis_url="redis://r:6379/0"), 8124)
    assert "C254_WARMING" not in shared or shared["C254_WARMING"] != "watch"


@pytest.mark.parametrize(("fn", "month", "expected"), [
    (queries.month_prices, "2026-10-01", "semi_static"),  # closed: before the market's current month
    (queries.month_hours, "2026-10-01", "semi_static"),
    (queries.month_prices, "2026-12-01", "dynamic"),  # the current month is still being filled
    (queries.month_hours, "2026-12-01", "dynamic"),
])
def test_a_closed_months_piece_is_semi_static(fn, month, expected):
    assert caching.classify(fn, ("NEM", "SA1", "settlement", month), {}, now=NOW) == caching.Classified(
        expected, "NEM", months=(month[:7],))
    assert not caching.pieced(fn)
    assert caching.pieced(overview.overview_view)


@pytest.mark.parametrize(("market", "start", "end", "months"), [
    # NEM market time is UTC+10 all year: its September opens at 14:00 UTC on 31 August
    ("NEM", "2026-08-31T14:00Z", "2026-09-30T14:00Z", ["2026-09-01"]),  # one whole month, end exclusive
    ("NEM", "2026-08-31T13:59Z", "2026-09-30T14:01Z", ["2026-08-01", "2026-09-01", "2026-10-01"]),
    ("NEM", "2026-11-20T00:00Z", "2027-02-03T00:00Z", ["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01"]),
    ("NEM", "2026-05-05T00:00Z", "2026-05-05T00:00Z", ["2026-05-01"]),  # an empty range: the month it is in
    # IESO market time is EST (UTC-5) all year: 04:59 UTC on 1 January is still December
    ("IESO", "2025-12-31T00:00Z", "2026-01-01T05:00Z", ["2025-12-01"]),
    ("IESO", "2025-12-31T00:00Z", "2026-01-01T05:01Z", ["2025-12-01", "2026-01-01"]),
])
def test_a_range_touches_the_market_months_of_its_market_time(market, start, end, months):
    info = queries.known_market(market)
    assert queries.market_months(info, pd.Timestamp(start), pd.Timestamp(end)) == months


def _nem_series(location: str, start: str, days: int, minutes: int = 5, seed: int = 1) -> dict:
    idx = pd.date_range(start, periods=days * 1440 // minutes, freq=f"{minutes}min", tz="UTC")
    rng = np.random.default_rng(seed)
    price = rng.normal(60, 40, len(idx)).round(2)
    demand = (1200 + 300 * np.sin(np.arange(len(idx)) / 50)).round(1)
    keep = rng.uniform(size=len(idx)) > 0.1  # demand missing at some intervals
    return {"prices": pd.DataFrame({"market": "NEM", "location": location, "price_kind": "settlement",
                                    "interval_start": idx, "interval_minutes": minutes, "price": price,
                                    "source": "t.csv"}),
            "demand": pd.DataFrame({"market": "NEM", "location": location, "interval_start": idx[keep],
                                    "interval_minutes": minutes, "demand_mw": demand[keep], "source": "t.csv"})}


@pytest.mark.parametrize(("start", "end", "tz_choice", "resolution"), [
    ("2024-01-20", "2024-02-09", "market", "raw"),  # across a month's end, interval by interval
    ("2024-01-20", "2024-02-09", "utc", "raw"),  # the heatmap's days in UTC, the pieces in market months
    ("2024-01-05", "2024-04-10", "market", "hour"),  # hourly means, the heatmap by month
    ("2024-02-29", "2024-02-29", "utc", "raw"),  # one day
])
def test_an_overview_cut_from_month_pieces_equals_one_read_from_the_store(store, start, end, tz_choice, resolution):
    write_tables(store, _nem_series("SA1", "2023-12-31 14:00", 120))
    view = overview.overview_view(store, "NEM", "SA1", start, end, tz_choice)
    info = queries.known_market("NEM")
    s, e = queries.parse_range(info, start, (pd.Timestamp(end) + pd.Timedelta(days=1)).date())
    tz = info.display_zone(tz_choice)
    assert view.resolution == resolution
    series, _ = queries.price_series(store, "NEM", "SA1", s, e, resolution=resolution)
    pd.testing.assert_frame_equal(view.series, series)
    exact = queries.price_stats(store, "NEM", "SA1", s, e) if resolution == "raw" else \
        queries.hourly_price_stats(store, "NEM", "SA1", s, e)
    for name in ("intervals", "min_price", "mean_price", "max_price", "negative_intervals"):
        assert getattr(view.stats, name) == pytest.approx(getattr(exact, name), rel=1e-12), name
    if resolution == "raw":
        assert view.stats.volume_weighted_price == pytest.approx(exact.volume_weighted_price, rel=1e-12)
        pd.testing.assert_frame_equal(view.curve, queries.duration_curve(store, "NEM", "SA1", s, e))
    else:
        assert view.stats.volume_weighted_price == pytest.approx(queries.weighted_mean_price(series), rel=1e-12)
    heat = queries.hour_day_heatmap(store, "NEM", "SA1", s, e, tz=tz, rows=view.heatmap_rows)
    pd.testing.assert_frame_equal(view.heatmap, heat, check_dtype=False, check_index_type=False,
                                  check_column_type=False, rtol=1e-12)


@pytest.mark.parametrize("rows", ["day", "month"])
@pytest.mark.parametrize("tz", ["America/Toronto", "UTC", "Asia/Kolkata"])
def test_a_heatmap_summed_from_hourly_pieces_equals_the_stores(store, rows, tz):
    """Across Toronto's autumn clock change (two UTC hours in one local hour) and a half-hour zone."""
    idx = pd.date_range("2024-10-20", "2024-11-12", freq="15min", tz="UTC", inclusive="left")
    price = np.random.default_rng(5).normal(40, 20, len(idx)).round(2)
    write_tables(store, {"prices": pd.DataFrame({"market": "IESO", "location": "ONZP", "price_kind": "hoep",
                                                 "interval_start": idx, "interval_minutes": 15, "price": price,
                                                 "source": "t.csv"})})
    s, e = queries.parse_range(queries.known_market("IESO"), "2024-10-25", "2024-11-10")
    hours = queries.range_hours(queries.reading(store), "IESO", "ONZP", "hoep", s, e)
    pd.testing.assert_frame_equal(queries.heatmap_of_hours(hours, tz=tz, rows=rows),
                                  queries.hour_day_heatmap(store, "IESO", "ONZP", s, e, tz=tz, price_kind="hoep",
                                                           rows=rows),
                                  check_dtype=False, check_column_type=False, rtol=1e-12)


def test_a_load_drops_the_pieces_of_its_own_market_only(make_app):
    dash_app = make_app()
    with dash_app.server.app_context():
        svc = services()
        store = svc.ready_store()
        write_tables(store, _nem_series("SA1", "2023-12-31 14:00", 60))
        write_tables(store, {"prices": _prices("IESO", "ONZP", "2024-01-10", n=24 * 20)})

        def asked() -> tuple:
            nem = svc.cached(overview.overview_view, "NEM", "SA1", "2024-01-10", "2024-02-05")
            ieso = svc.cached(overview.overview_view, "IESO", "ONZP", "2024-01-12", "2024-01-20", "market", "hoep")
            return nem, ieso

        asked()
        misses = _total("miss")
        nem, ieso = asked()  # every piece is held: nothing is read again
        assert _total("miss") == misses
        # a revised price inside a closed month of NEM
        revised = _nem_series("SA1", "2023-12-31 14:00", 60)["prices"]
        revised = revised[revised["interval_start"] == pd.Timestamp("2024-01-15 00:00", tz="UTC")].assign(price=9999.0)
        write_tables(store, {"prices": revised})
        hits, misses = _total("hit"), _total("miss")
        nem_after, ieso_after = asked()
        # NEM's January pieces (hours and intervals) read again; its February and IESO's pieces kept
        assert _total("miss") == misses + 2
        assert _total("hit") == hits + 4
        assert nem_after.stats.max_price == 9999.0 != nem.stats.max_price
        pd.testing.assert_frame_equal(ieso_after.series, ieso.series)


@pytest.mark.parametrize(("fn", "month", "keys"), [
    (queries.month_prices, "2026-10-01", ("NEM@2026-10", "NEM@*")),
    (queries.month_hours, "2026-12-01", ("NEM@2026-12", "NEM@*")),
    # not a month's first day: keyed on the whole market (and refused by the function itself)
    (queries.month_prices, "2026-10-05", ("NEM",)),
    (queries.month_prices, "October", ("NEM",)),
    # the as-issued forecasts of a month read the stored runs alone
    (signal_series.month_issued_hours, "2026-10-01", ("NEM/forecast_runs",)),
])
def test_a_month_piece_is_keyed_on_its_months_version(fn, month, keys):
    assert caching.classify(fn, ("NEM", "SA1", "settlement", month), {}, now=NOW).version_keys == keys
    assert caching.classify(overview.overview_view, ("NEM", "SA1", "2026-10-01", "2026-10-05"), {},
                            now=NOW).version_keys == ("NEM",)


@pytest.mark.parametrize(("start", "end", "keys"), [
    # the months of the days chosen, and of the day before (an as-issued forecast reaches back to it)
    ("2026-09-10", "2026-10-31", ("NEM@2026-09", "NEM@2026-10", "NEM#series", "NEM@*", "NEM/forecast_runs")),
    ("2026-09-01", "2026-09-30", ("NEM@2026-08", "NEM@2026-09", "NEM#series", "NEM@*", "NEM/forecast_runs")),
    # a range not understood, or reversed, or spanning centuries: keyed on the whole market
    ("2026-10-31", "2026-09-01", ("NEM", "NEM/forecast_runs")),
    ("2026-13-01", "2026-14-01", ("NEM", "NEM/forecast_runs")),
    ("0001-01-01", "9999-12-31", ("NEM", "NEM/forecast_runs")),
    (None, "2026-10-31", ("NEM", "NEM/forecast_runs")),
    # dates and datetimes, as a caller in Python may pass them
    (date(2026, 9, 10), datetime(2026, 10, 31, 12), ("NEM@2026-09", "NEM@2026-10", "NEM#series", "NEM@*",
                                                     "NEM/forecast_runs")),
])
def test_a_backtest_over_a_range_is_keyed_on_its_months_and_the_series_set(start, end, keys):
    from engine.signals import views

    for fn, args in ((views.comparison_view, ("NEM", "SA1", None, start, end, None)),
                     (views.heatmap_view, ("NEM", "SA1", None, start, end, "mean_reversion")),
                     (views.walk_forward_view, ("NEM", "SA1", None, start, end, "mean_reversion", "60/14")),
                     (views.backtest_prices, ("NEM", "SA1", None, start, end, "mean_reversion"))):
        assert caching.classify(fn, args, {}, now=NOW).version_keys == keys
    # the lists a backtest checks its choice against and picks its default kind from
    assert caching.classify(queries.price_kinds, ("NEM", "SA1"), {}).version_keys == ("NEM#series", "NEM@*")
    assert caching.classify(queries.price_locations, ("NEM",), {}).version_keys == ("NEM#series", "NEM@*")


def test_a_policy_that_could_never_go_stale_is_refused():
    with pytest.raises(ValueError, match="never go stale"):
        caching.Policy("dynamic", "market", series=False)


@pytest.mark.parametrize(("first", "last", "months"), [
    # a margin of a day each side: a month in any market's time, whether intervals are labelled by start or end
    ("2026-10-15 00:00", "2026-10-15 00:05", ["2026-10"]),
    ("2026-10-31 13:55", "2026-10-31 14:00", ["2026-10", "2026-11"]),  # NEM's November opens at 14:00 UTC
    ("2026-11-01 03:00", "2026-11-01 04:00", ["2026-10", "2026-11"]),  # still October in Ontario (UTC-5)
    ("2025-12-20 00:00", "2026-02-10 00:00", ["2025-12", "2026-01", "2026-02"]),
])
def test_a_batch_raises_the_months_its_rows_may_fall_in(first, last, months):
    assert versions.months_between(pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")) == months


def test_a_live_load_leaves_the_pieces_of_closed_months_cached(make_app):
    dash_app = make_app()
    with dash_app.server.app_context():
        svc = services()
        store = svc.ready_store()
        write_tables(store, _nem_series("SA1", "2023-12-31 14:00", 75))  # NEM January to mid-March 2024

        def asked():
            return svc.cached(overview.overview_view, "NEM", "SA1", "2024-01-10", "2024-02-20")

        before = asked()
        # the next intervals of March arrive, as a live pull brings them every five minutes
        live = _nem_series("SA1", "2024-03-14 14:00", 1, seed=2)
        write_tables(store, live)
        hits, misses = _total("hit"), _total("miss")
        after = asked()
        assert (_total("hit"), _total("miss")) == (hits + 4, misses), "a load into March dropped January's pieces"
        pd.testing.assert_frame_equal(after.series, before.series)
        # a backfill revising one interval of February drops February's pieces, and is seen at once
        revised = live["prices"].head(1).assign(interval_start=pd.Timestamp("2024-02-03 00:00", tz="UTC"),
                                                price=-1000.0)
        write_tables(store, {"prices": revised})
        hits, misses = _total("hit"), _total("miss")
        after = asked()
        assert (_total("hit"), _total("miss")) == (hits + 2, misses + 2)
        assert after.stats.min_price == -1000.0
        pd.testing.assert_frame_equal(
            after.series, overview.overview_view(store, "NEM", "SA1", "2024-01-10", "2024-02-20").series)


def test_a_batch_raises_each_of_its_markets_own_months(store):
    def raised(keys: list[str]) -> list[str]:
        return [key for key in keys if market_version(store, key) > held[key]]

    keys = ["NEM", "NEM@2024-01", "NEM@2024-02", "NEM@2024-03", "NEM@*", "IESO", "IESO@2024-01", "IESO@2024-02",
            "IESO@2024-03", "IESO@*", "PJM", "PJM@*"]
    held = {key: market_version(store, key) for key in keys}
    write_tables(store, {"prices": pd.concat([_prices("NEM", "SA1", "2024-02-10"),
                                              _prices("IESO", "ONZP", "2024-03-10")], ignore_index=True)})
    assert raised(keys) == ["NEM", "NEM@2024-02", "IESO", "IESO@2024-03"]
    held = {key: market_version(store, key) for key in keys}
    write_tables(store, {"prices": _prices("NEM", "SA1", "2024-02-10")})  # a reload that changes nothing
    assert raised(keys) == []
    # a table without a time column: the writer cannot tell which months, so every one of them
    write_tables(store, {"node_metadata": pd.DataFrame({"market": ["PJM"], "node": ["N1"], "node_type": ["bus"],
                                                        "zone": ["Z"], "voltage_kv": [230.0], "latitude": [40.0],
                                                        "longitude": [-75.0]})})
    assert raised(keys) == ["PJM", "PJM@*"]


def test_a_live_load_leaves_a_backtest_of_closed_months_cached_and_a_new_series_drops_it(make_app):
    from engine.signals import views

    dash_app = make_app()
    with dash_app.server.app_context():
        svc = services()
        store = svc.ready_store()
        dispatch = {name: frame.assign(price_kind="dispatch") if name == "prices" else frame
                    for name, frame in _nem_series("SA1", "2023-12-31 14:00", 60).items()}
        write_tables(store, dispatch)

        def compared():
            return svc.cached(views.comparison_view, "NEM", "SA1", None, "2024-01-10", "2024-02-20", None)

        before = compared()
        assert before.notes == views.comparison_view(store, "NEM", "SA1", None, "2024-01-10", "2024-02-20").notes
        # the next intervals of the same series, in March: the comparison of January and February stands
        live = _nem_series("SA1", "2024-03-14 14:00", 1, seed=2)["prices"].assign(price_kind="dispatch")
        write_tables(store, {"prices": live})
        hits, misses = _total("hit"), _total("miss")
        again = compared()
        assert (_total("hit"), _total("miss")) == (hits + 1, misses), "a load into March dropped the comparison"
        pd.testing.assert_frame_equal(again.metrics, before.metrics)
        # a revision inside February drops it
        write_tables(store, {"prices": live.head(1).assign(interval_start=pd.Timestamp("2024-02-03", tz="UTC"),
                                                           price=15000.0)})
        revised = compared()
        pd.testing.assert_frame_equal(
            revised.metrics, views.comparison_view(store, "NEM", "SA1", None, "2024-01-10", "2024-02-20").metrics)
        assert not revised.metrics.equals(before.metrics)
        # settlement prices arrive, in March only: the kind a backtest reads unasked (settlement leads), so the
        # comparison of January and February, which held none, now says so
        write_tables(store, {"prices": live.assign(price_kind="settlement")})
        assert svc.cached(queries.price_kinds, "NEM", "SA1") == ["settlement", "dispatch"]
        with pytest.raises(queries.QueryError, match="settlement"):
            compared()


def test_a_batch_raises_the_series_set_only_when_it_brings_a_new_series(store):
    def raised() -> bool:
        nonlocal held
        now = market_version(store, "NEM#series")
        moved, held = now > held, now
        return moved

    held = market_version(store, "NEM#series")
    write_tables(store, {"prices": _prices("NEM", "SA1", "2024-02-10")})
    assert raised()  # a location the store did not hold
    write_tables(store, {"prices": _prices("NEM", "SA1", "2024-02-11")})
    assert not raised()  # the next intervals of it
    write_tables(store, {"prices": _prices("NEM", "SA1", "2024-02-12").assign(price_kind="dispatch")})
    assert raised()  # a kind new at that location
    write_tables(store, {"prices": pd.concat([_prices("NEM", "SA1", "2024-02-13"), _prices("NEM", "VIC1", "2024-02-13")
                                              .assign(price_kind="dispatch")], ignore_index=True)})
    assert raised()  # each pairing of the batch's locations and kinds is not stored, though each value is
    write_tables(store, {"prices": pd.concat([_prices("NEM", "SA1", "2024-02-14"), _prices("NEM", "VIC1", "2024-02-14")
                                              .assign(price_kind="dispatch")], ignore_index=True)})
    assert not raised()


def test_a_live_load_leaves_the_lists_of_series_cached_and_a_new_series_is_listed_at_once(make_app):
    from engine.signals import views

    dash_app = make_app()
    with dash_app.server.app_context():
        svc = services()
        store = svc.ready_store()
        write_tables(store, _nem_series("SA1", "2024-01-31 14:00", 10))

        def lists():
            return (svc.cached(overview.locations, "NEM").offered,
                    svc.cached(overview.price_kinds, "NEM", "SA1").offered,
                    svc.cached(views.locations, "NEM").offered,
                    svc.cached(views.other_locations, "NEM", "SA1").offered)

        assert lists() == (("SA1",), ("settlement",), ("SA1",), ())
        # the next interval of the same series, as a live pull brings it every five minutes
        write_tables(store, {"prices": _nem_series("SA1", "2024-02-10 14:00", 1, seed=2)["prices"].head(1)})
        hits, misses = _total("hit"), _total("miss")
        assert lists() == (("SA1",), ("settlement",), ("SA1",), ())
        assert (_total("hit"), _total("miss")) == (hits + 4, misses), "a load of known series dropped the lists"
        # a region the store did not hold: every list that offers it says so at once
        write_tables(store, {"prices": _prices("NEM", "VIC1", "2024-02-10")})
        assert lists() == (("SA1", "VIC1"), ("settlement",), ("SA1", "VIC1"), ("VIC1",))


def test_real_data_replacing_demo_rows_drops_every_month_of_the_market(make_app):
    from engine.store.tables import DEMO_SOURCE

    dash_app = make_app()
    with dash_app.server.app_context():
        svc = services()
        store = svc.ready_store()
        demo = _nem_series("SA1", "2023-12-31 14:00", 45)
        write_tables(store, {name: frame.assign(source=DEMO_SOURCE) for name, frame in demo.items()})
        before = svc.cached(overview.overview_view, "NEM", "SA1", "2024-01-10", "2024-02-05")
        assert before.series["is_demo"].all()
        # real rows of March only: the demo rows of January and February are dropped with them
        write_tables(store, _nem_series("SA1", "2024-03-01 00:00", 2))
        misses = _total("miss")
        after = svc.cached(overview.overview_view, "NEM", "SA1", "2024-01-10", "2024-02-05")
        assert _total("miss") == misses + 4
        assert after.series.empty


def test_the_prices_api_is_cut_from_the_same_pieces(make_app):
    dash_app = make_app()
    with dash_app.server.app_context():
        store = services().ready_store()
        write_tables(store, _nem_series("VIC1", "2023-12-31 14:00", 45))
    client = dash_app.server.test_client()
    raw = client.get("/api/v1/prices?market=NEM&location=VIC1&start=2024-01-25&end=2024-02-03").get_json()
    misses = _total("miss")
    again = client.get("/api/v1/prices?market=NEM&location=VIC1&start=2024-01-27&end=2024-02-05").get_json()
    assert _total("miss") == misses, "another range read its pieces again"
    assert raw["resolution"] == again["resolution"] == "raw"
    s, e = queries.parse_range(queries.known_market("NEM"), "2024-01-27", "2024-02-05")
    series, _ = queries.price_series(store, "NEM", "VIC1", s, e)
    expected = queries.series_for_export(series, "Australia/Brisbane")
    assert [r["interval_start"] for r in again["rows"]] == expected["interval_start"].tolist()
    assert [r["price"] for r in again["rows"]] == expected["price"].tolist()
    assert [r["demand_mw"] for r in again["rows"]] == [None if pd.isna(d) else d for d in expected["demand_mw"]]


def test_a_backtest_comparison_is_kept_whole_and_computed_from_month_pieces(make_app):
    from engine.signals import views

    dash_app = make_app()
    with dash_app.server.app_context():
        svc = services()
        store = svc.ready_store()
        write_tables(store, _nem_series("SA1", "2023-12-31 14:00", 60))

        def counts() -> tuple[float, float]:
            return _total("hit"), _total("miss")

        first = svc.cached(views.comparison_view, "NEM", "SA1", None, "2024-01-10", "2024-02-05", None)
        hits, misses = counts()
        again = svc.cached(views.comparison_view, "NEM", "SA1", None, "2024-01-10", "2024-02-05", None)
        assert counts() == (hits + 1, misses), "the same comparison was computed again"
        other = svc.cached(views.comparison_view, "NEM", "SA1", None, "2024-01-12", "2024-02-08", None)
        # the new range is computed (one miss), from the months' prices, forecasts and names already held
        assert counts()[1] == misses + 1
        assert counts()[0] >= hits + 1 + 5
        for view, start, end in ((first, "2024-01-10", "2024-02-05"), (other, "2024-01-12", "2024-02-08")):
            read_whole = views.comparison_view(store, "NEM", "SA1", None, start, end)
            pd.testing.assert_frame_equal(view.metrics, read_whole.metrics)
            assert view.notes == read_whole.notes
        pd.testing.assert_frame_equal(again.metrics, first.metrics)


def test_a_request_looks_each_version_up_once(app_with_two_markets, monkeypatch):
    import app.services as app_services

    looked_up = []

    def counted(store, market):
        looked_up.append(market)
        return versions.versions_of_market(store, market)

    monkeypatch.setattr(app_services, "versions_of_market", counted)
    server = app_with_two_markets.server
    with server.test_request_context("/"):
        svc = services()
        for _ in range(3):
            svc.cached(overview.latest_view, "NEM")
            svc.cached(overview.locations, "NEM")
            svc.cached(overview.latest_view, "IESO")
            # a range's month pieces, each keyed on its own month: NEM's keys were all read at its first lookup
            svc.cached(overview.overview_view, "NEM", "SA1", "2026-09-20", "2026-11-10")
    assert sorted(looked_up) == ["IESO", "NEM"]
    # outside a request (warming, the CLI) each answer looks its version up: a long job sees each load
    looked_up.clear()
    with server.app_context():
        svc.cached(overview.latest_view, "NEM")
        svc.cached(overview.latest_view, "NEM")
    assert looked_up == ["NEM", "NEM"]
    # the next request sees a load the previous one could not
    with server.test_request_context("/"):
        before = svc.cached(overview.latest_view, "NEM")
    write_tables(svc.ready_store(), {"prices": _prices("NEM", "SA1", "2026-11-03", price=90.0)})
    with server.test_request_context("/"):
        after = svc.cached(overview.latest_view, "NEM")
    assert not after.rows.equals(before.rows)
    assert after.rows.equals(overview.latest_view(svc.ready_store(), "NEM").rows)


def test_the_catalog_is_keyed_on_the_catalogs_version_alone(app_with_two_markets, monkeypatch):
    from app.services import Services
    from engine.marketplace import views as market_views

    looked_up = []
    monkeypatch.setattr(Services, "data_version", lambda self: looked_up.append(1) or "whole")
    with app_with_two_markets.server.app_context():
        svc = services()
        misses = _count("dynamic", "miss")
        first = svc.cached(market_views.catalog_cards, "v1", "", None, None, None, None, 1)
        again = svc.cached(market_views.catalog_cards, "v1", "", None, None, None, None, 1)
        assert again == first and _count("dynamic", "miss") == misses + 1
        svc.cached(market_views.catalog_cards, "v2", "", None, None, None, None, 1)  # the catalog changed
        assert _count("dynamic", "miss") == misses + 2
        assert not looked_up, "the store's data version was looked up for the catalog"
        svc.cached(queries.dataset_freshness)  # a call of no one market is keyed on it, as before
        assert looked_up == [1]


class _HungCache:
    """A cache whose every read hangs ``seconds`` and then fails, as a paused Redis does under its clients'
    socket timeout; it notes how many reads are in flight at once."""

    def __init__(self, seconds: float):
        import threading

        self.seconds, self.lock = seconds, threading.Lock()
        self.in_flight, self.reads = 0, []  # (started, in flight then)

    def get(self, _key):
        with self.lock:
            self.in_flight += 1
            self.reads.append((time.monotonic(), self.in_flight))
        time.sleep(self.seconds)
        with self.lock:
            self.in_flight -= 1
        raise ConnectionError("Timeout reading from redis (test)")

    def set(self, *_args, **_kwargs):
        raise ConnectionError("Timeout writing to redis (test)")


def test_after_a_cache_failure_one_call_at_a_time_tries_it_while_the_others_pass_it_by(make_app, monkeypatch):
    import threading

    from app import services as services_module

    dash_app = make_app()
    svc = services(dash_app.server)
    hung = _HungCache(0.4)
    monkeypatch.setattr(svc, "cache", hung)
    monkeypatch.setattr(services_module, "CACHE_RETRY_SECONDS", 0.3)
    monkeypatch.setattr(services_module, "_CACHE_PROBE_SECONDS", 0.4 + 0.3)
    waited: list[float] = []
    stop = threading.Event()

    def user():
        with dash_app.server.app_context():
            while not stop.is_set():
                started = time.monotonic()
                assert svc.cached(queries.nodal_runs) == []  # answered without the cache
                waited.append(time.monotonic() - started)

    users = [threading.Thread(target=user) for _ in range(6)]
    for u in users:
        u.start()
    time.sleep(3.0)
    stop.set()
    for u in users:
        u.join(10)
    first_failed = hung.reads[0][0] + hung.seconds
    # the reads begun once the first failure is known (a margin for a thread already past the check meanwhile)
    after = [in_flight for started, in_flight in hung.reads if started > first_failed + 0.2]
    assert after and max(after) == 1, hung.reads  # one try at a time once the cache has failed
    assert len(after) <= 5, f"the cache was tried {len(after)} times in 2.5 s"  # each a retry period apart
    assert len(waited) > 3 * len(hung.reads), "most calls waited on the cache"  # the others passed it by
