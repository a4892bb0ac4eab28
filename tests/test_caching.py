"""Caching by data class (issue 14): lifetimes chosen from what a call reads, invalidation per market, the
cache's failures answered without it, and the counts of hits, misses and errors by class in /metrics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.counters import CACHE_REQUESTS
from app.services import services
from engine import caching, overview, queries
from engine.store import write_tables
from engine.store.versions import market_version


def _prices(market: str, location: str, start: str, n: int = 24, price: float = 50.0) -> pd.DataFrame:
    return pd.DataFrame({"market": market, "location": location, "price_kind": "settlement" if market == "NEM"
                         else "hoep", "interval_start": pd.date_range(start, periods=n, freq="h", tz="UTC"),
                         "interval_minutes": 60, "price": price + np.arange(n, dtype=float), "source": "file.csv"})


def _count(data_class: str, result: str) -> float:
    return CACHE_REQUESTS.labels(data_class, result)._value.get()


NOW = pd.Timestamp("2026-12-03 12:00", tz="UTC")


@pytest.mark.parametrize(("fn", "args", "expected"), [
    (overview.latest_view, ("NEM",), caching.Classified("realtime", "NEM")),
    (overview.locations, ("IESO",), caching.Classified("static", "IESO")),
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
        for wanted in (policy.market, policy.range_end):
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


def test_an_answer_lives_as_long_as_its_data_class(app_with_two_markets, time_machine):
    time_machine.move_to(pd.Timestamp("2026-12-03 12:00", tz="UTC").to_pydatetime(), tick=False)
    with app_with_two_markets.server.app_context():
        svc = services()
        svc.cached(overview.latest_view, "IESO")  # real-time: 30 s
        svc.cached(overview.locations, "IESO")  # static: 1 h
        time_machine.shift(31)
        misses, hits = _count("realtime", "miss"), _count("static", "hit")
        svc.cached(overview.latest_view, "IESO")
        svc.cached(overview.locations, "IESO")
        assert _count("realtime", "miss") == misses + 1
        assert _count("static", "hit") == hits + 1


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
    assert warm(dash_app.server) > 5
    hits = sum(_count(c, "hit") for c in caching.DATA_CLASSES)
    misses = sum(_count(c, "miss") for c in caching.DATA_CLASSES)
    with dash_app.server.app_context():  # as the overview's layout and its first render ask
        choice = services().cached(overview.initial_choice, None, None, None, None, None)
        services().cached(overview.overview_view, choice.market.chosen, choice.location.chosen, choice.dates.start,
                          choice.dates.end, "market", choice.kind.chosen)
    assert sum(_count(c, "miss") for c in caching.DATA_CLASSES) == misses, "a warmed view was computed again"
    assert sum(_count(c, "hit") for c in caching.DATA_CLASSES) == hits + 2
