"""The admin page in headless Chromium: a backfill over replayed local files, watched to the end, and a transformer's
training progress in the forecast models section."""
from __future__ import annotations

import pytest

from app.factory import create_app
from app.settings import Settings
from engine.forecast.views import training_job
from engine.jobs import JobRun

pytestmark = [pytest.mark.browser, pytest.mark.realdata]


def test_backfill_from_the_admin_page_runs_to_completion(dash_duo, store_url, data_dir):
    app = create_app(Settings(store_url=store_url, scheduler=False, demo=True, data_dir=data_dir, auth=False))
    dash_duo.start_server(app)
    dash_duo.wait_for_page(
        f"{dash_duo.server_url}/admin?connector=nem&start=2018-01-01&end=2018-01-31"
        "&source=markets/aemo/price_and_demand")
    dash_duo.wait_for_element("#bf-start", timeout=10).click()
    dash_duo.wait_for_contains_text("#bf-status", "succeeded", timeout=30)
    status = dash_duo.find_element("#bf-status").text
    for fact in ("5 of 5 done", "rows read 7,440", "written 14,880"):
        assert fact in status, f"{fact!r} not in the backfill status {status!r}"
    dash_duo.wait_for_contains_text("#admin-runs-table", "backfill:nem", timeout=10)
    store = app.server.extensions["c254"].store
    # a transformer training that starts is seen on the page's next refresh, with its progress
    JobRun(job=training_job("NEM", "SA1"), market="NEM", progress_done=3, progress_total=10).save(store)
    dash_duo.wait_for_contains_text("#admin-training-table", "NEM SA1", timeout=15)
    assert "3/10" in dash_duo.find_element("#admin-training-table").text
    assert store.scalar("SELECT count() FROM prices FINAL WHERE source != 'demo'") == 7440
    # a nonsense range is refused with a message, and nothing starts
    dash_duo.wait_for_page(f"{dash_duo.server_url}/admin?connector=nem&start=2018-02-01&end=2018-01-01")
    dash_duo.wait_for_element("#bf-start", timeout=10).click()
    dash_duo.wait_for_contains_text("#bf-message", "is before start", timeout=10)
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
