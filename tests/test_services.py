"""The accessor pages and callbacks use: answers cached per data version, and operations that refuse
nonsense with a message before anything starts."""
from __future__ import annotations

import pandas as pd
import pytest

from app.factory import create_app
from app.services import services
from app.settings import Settings
from engine.store import write_tables


def _count_prices(store, market: str) -> int:
    _count_prices.calls += 1
    return int(store.scalar("SELECT count() FROM prices FINAL WHERE market = {m:String}", {"m": market}))


@pytest.fixture
def app(store_url):
    dash_app = create_app(Settings(store_url=store_url, scheduler=False, demo=False))
    with dash_app.server.app_context():
        yield dash_app
    store = services(dash_app.server).store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")


def _prices(n: int) -> dict[str, pd.DataFrame]:
    starts = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    return {"prices": pd.DataFrame({"market": "NEM", "location": "SA1", "price_kind": "settlement",
                                    "interval_start": starts, "interval_minutes": 5, "price": 50.0})}


def test_a_cached_answer_is_reused_until_a_load_changes_the_data(app):
    svc = services(app.server)
    _count_prices.calls = 0
    assert svc.cached(_count_prices, "NEM") == 0
    assert svc.cached(_count_prices, "NEM") == 0
    assert _count_prices.calls == 1, "the second ask is answered from the cache"
    write_tables(svc.ready_store(), _prices(12))
    assert svc.cached(_count_prices, "NEM") == 12, "a load is seen at once"
    assert _count_prices.calls == 2


def test_cached_answers_are_kept_apart_by_argument(app):
    svc = services(app.server)
    write_tables(svc.ready_store(), _prices(3))
    _count_prices.calls = 0
    assert svc.cached(_count_prices, "NEM") == 3
    assert svc.cached(_count_prices, "IESO") == 0
    assert _count_prices.calls == 2


@pytest.mark.parametrize(("start", "end", "source", "message"), [
    (None, "2018-01-31", "", "Choose a start and an end date."),
    ("2018-02-01", "2018-01-01", "", "is before start"),
    ("2018-01-01", "2018-01-31", "/etc", "relative to the data folder"),
    ("2018-01-01", "2018-01-31", "markets/../../x", "without '..'"),
    ("2018-01-01", "2018-01-31", "no/such/folder", "no such file or folder"),
])
def test_a_backfill_that_makes_no_sense_is_refused_with_a_message(app, start, end, source, message):
    with pytest.raises(ValueError, match=message):
        services(app.server).operations.start_backfill("nem", None, start, end, source)


def test_an_unknown_connector_has_no_datasets_and_cannot_be_backfilled(app):
    ops = services(app.server).operations
    assert ops.datasets("nope") == ()
    with pytest.raises(ValueError, match="unknown connector"):
        ops.start_backfill("nope", None, "2018-01-01", "2018-01-31", "")


def test_every_scheduled_job_is_listed_with_its_state(app):
    statuses = services(app.server).operations.job_statuses()
    assert statuses[-1].job == "model_training"
    assert {s.last_status for s in statuses} == {"never run"}
    assert not any(s.scheduled for s in statuses), "the scheduler is off in this app"
