"""The demo's PJM hub prices: published as PJM splits them, read by the nodal page's basis and congestion patterns,
labelled as demo on the page, and replaced by the first real PJM load."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine import demo, queries
from engine.lmp.patterns import recent_patterns
from engine.lmp.published import published_basis
from engine.store import DEMO_SOURCE, write_tables

EASTERN, CHICAGO_GEN, AEP_GEN = "51217", "33092311", "34497125"


def test_the_demo_hub_prices_add_up_and_are_deterministic():
    frames = demo.pjm_demo_frames()
    lmp = frames["nodal_lmp"]
    assert set(lmp["node"]) == set(demo.PJM_DEMO_HUBS) and set(lmp["market_run"]) == {"DA"}
    assert len(lmp) == len(demo.PJM_DEMO_HUBS) * demo.PJM_DEMO_DAYS * 24  # August to October: no clock change
    np.testing.assert_allclose(lmp["lmp"], lmp["energy"] + lmp["congestion"] + lmp["loss"], atol=2e-6)
    # one system energy price per hour, as PJM's day-ahead market clears it
    assert lmp.groupby("interval_start")["energy"].nunique().max() == 1
    local_end = lmp["interval_start"].max().tz_convert("America/New_York")
    assert local_end == pd.Timestamp("2026-10-31 23:00", tz="America/New_York")
    assert set(frames["node_metadata"]["node_type"]) == {"HUB"}
    pd.testing.assert_frame_equal(lmp, demo.pjm_demo_frames()["nodal_lmp"])


@pytest.mark.realdata
def test_the_page_reads_the_demo_and_a_real_load_replaces_it(store, data_dir):
    from ingest.load import load_raw, raw_files_at
    from ingest.pjm import PjmConnector

    write_tables(store, demo.pjm_demo_frames(), source=DEMO_SOURCE)
    assert queries.nodal_runs(store) == [("PJM", "DA")]
    assert queries.demo_nodal_markets(store) == {"PJM"}
    assert len(queries.nodal_hubs(store, "PJM")) == len(demo.PJM_DEMO_HUBS)
    found = published_basis(store, "PJM", "DA", AEP_GEN)
    # the east-west pattern loads the Eastern hub most and Chicago's generation hub most against it
    assert found.nodes["node"].iat[0] == EASTERN and found.nodes.set_index("node").at[CHICAGO_GEN, "mean"] < 0
    assert (found.nodes["count"] == 31 * 24).all()
    patterns = recent_patterns(store, "PJM", "DA")
    assert patterns.k == 2  # two patterns drawn (east-west afternoons, night wind), two found
    assert patterns.hubs.query("pattern == 'P1'").set_index("node").at[EASTERN, "loading"] > 0
    # PJM's own file: the demo's rows of PJM go, every one, and its aggregates with them
    real = data_dir / "markets" / "pjm" / "rt_hrl_lmps_hubs_20250501-20250801.csv"
    load_raw(store, PjmConnector(), raw_files_at(real))
    assert queries.nodal_runs(store) == [("PJM", "RT")]
    assert queries.demo_nodal_markets(store) == frozenset()
    for table in ("nodal_lmp", "node_metadata"):
        assert store.scalar(f"SELECT count() FROM {table} WHERE source = {{d:String}}", {"d": DEMO_SOURCE}) == 0
    assert store.scalar("SELECT count() FROM nodal_lmp_hourly WHERE market_run = 'DA'") == 0


def _post(dash_app, output: str, **values) -> dict:
    from tests.test_hardening import assert_answered, callback_key, post_callback

    body = assert_answered(post_callback(dash_app.server.test_client(), dash_app, callback_key(dash_app, output),
                                         values), output)
    return body["response"] if body else {}


def test_the_page_says_the_published_prices_are_demo(make_app):
    from app.services import services

    dash_app = make_app()
    store = services(dash_app.server).ready_store()
    write_tables(store, demo.pjm_demo_frames(), source=DEMO_SOURCE)
    runs = _post(dash_app, "nb-run.options", **{"nd-network.id": "nd-network"})["nb-run"]
    assert runs["options"] == [{"label": "PJM day-ahead (demo)", "value": "PJM|DA"}]
    hubs = _post(dash_app, "nb-hub.options", **{"nb-run.value": "PJM|DA"})
    assert "Demo data" in str(hubs["nb-demo"]["children"]) and len(hubs["nb-hub"]["options"]) == 12
