"""Data freshness per market and dataset: age of the newest measured interval against the market's delay."""
from __future__ import annotations

import pandas as pd

from engine import queries
from engine.store import write_tables

NOW = pd.Timestamp("2026-11-25 12:00", tz="UTC")


def _demand(location: str, start: str, n: int, minutes: int = 30, source: str = "f.csv") -> pd.DataFrame:
    idx = pd.date_range(start, periods=n, freq=f"{minutes}min", tz="UTC")
    return pd.DataFrame({"market": "BRAZIL", "location": location, "interval_start": idx,
                         "interval_minutes": minutes, "demand_mw": 1000.0, "source": source})


def test_forecasts_do_not_make_stale_measurements_look_fresh(store):
    measured = _demand("SE/CO", "2026-11-20 00:00", 48)
    forecast = _demand("SE/CO:forecast", "2026-11-25 00:00", 96)
    write_tables(store, {"demand": pd.concat([measured, forecast])})
    found = {(f.market, f.dataset): f for f in queries.dataset_freshness(store, now=NOW)}
    f = found[("BRAZIL", "demand")]
    assert f.latest_end == pd.Timestamp("2026-11-21 00:00", tz="UTC")
    assert f.status == "delayed"
    assert f.label() == "BRAZIL demand: delayed 4 d"


def test_fresh_prices_within_the_expected_delay_and_demo_labelled(store):
    idx = pd.date_range("2026-11-25 11:40", periods=3, freq="5min", tz="UTC")
    write_tables(store, {"prices": pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement",
                                                 "interval_start": idx, "interval_minutes": 5, "price": 50.0,
                                                 "source": "f.csv"})})
    f = {x.dataset: x for x in queries.dataset_freshness(store, now=NOW)}["prices"]
    assert f.status == "fresh"
    assert f.label() == "NEM prices: 5 min old"
