"""NEM end to end: the CLI loads the real AEMO files into the store, re-loads change nothing, the API serves
them, and a bad file loads nothing."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from app.factory import create_app
from app.settings import Settings

pytestmark = pytest.mark.realdata


@pytest.fixture
def app(store_url):
    dash_app = create_app(Settings(store_url=store_url, scheduler=False, demo=True))
    yield dash_app
    store = dash_app.server.extensions["c254"].store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")


def _cli(app, *args):
    return app.server.test_cli_runner().invoke(args=list(args))


def test_cli_loads_every_real_nem_file_and_reload_is_a_no_op(app, data_dir):
    folder = data_dir / "markets" / "aemo"
    first = _cli(app, "ingest", "load", "nem", str(folder))
    assert first.exit_code == 0, first.output
    # 15 PRICE_AND_DEMAND files (48,960 rows) + 17 MMSDM zips (42,475 D rows), per markets/SOURCES.md
    assert "files 32; rows read 91,435," in first.output
    store = app.server.extensions["c254"].store
    counts = store.query_df("SELECT count() n FROM prices FINAL WHERE source != 'demo'")["n"].iat[0]
    assert counts > 0
    assert store.scalar("SELECT count() FROM prices WHERE source = 'demo'") == 0  # real data replaced demo
    before = store.query_df("SELECT * FROM prices FINAL ORDER BY location, price_kind, interval_minutes, "
                            "interval_start")
    second = _cli(app, "ingest", "load", "nem", str(folder))
    assert second.exit_code == 0, second.output
    assert "written 0," in second.output
    after = store.query_df("SELECT * FROM prices FINAL ORDER BY location, price_kind, interval_minutes, "
                           "interval_start")
    pd.testing.assert_frame_equal(before, after)


def test_api_serves_the_loaded_file_exactly(app, data_dir):
    path = data_dir / "markets" / "aemo" / "price_and_demand" / "PRICE_AND_DEMAND_201801_SA1.csv"
    result = _cli(app, "ingest", "load", "nem", str(path))
    assert result.exit_code == 0, result.output
    assert "rows read 1,488, written 2,976, rejected 0" in result.output  # prices + demand
    r = app.server.test_client().get(
        "/api/v1/prices?market=NEM&location=SA1&start=2018-01-01&end=2018-02-01&format=csv")
    api = pd.read_csv(io.StringIO(r.get_data(as_text=True)))
    source = pd.read_csv(path)
    assert len(api) == len(source) == 1488
    # SETTLEMENTDATE is the interval end in NEM time; the API gives the start, with the +10:00 offset
    assert api.at[0, "interval_start"] == "2018-01-01T00:00:00+10:00"
    assert source.at[0, "SETTLEMENTDATE"] == "2018/01/01 00:30:00"
    assert api["price"].tolist() == source["RRP"].tolist()
    assert api["demand_mw"].tolist() == source["TOTALDEMAND"].tolist()
    assert (api["interval_minutes"] == 30).all()


def test_bad_file_exits_non_zero_names_file_and_line_and_writes_nothing(app, data_dir, tmp_path):
    good = (data_dir / "markets" / "aemo" / "price_and_demand" / "PRICE_AND_DEMAND_201801_VIC1.csv").read_bytes()
    lines = good.split(b"\r\n")
    lines[10] = lines[10].replace(b",TRADE", b",TRADE").replace(lines[10].split(b",")[3], b"abc")
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "PRICE_AND_DEMAND_201801_NSW1.csv").write_bytes(
        (data_dir / "markets" / "aemo" / "price_and_demand" / "PRICE_AND_DEMAND_201801_NSW1.csv").read_bytes())
    (folder / "PRICE_AND_DEMAND_201801_VIC1.csv").write_bytes(b"\r\n".join(lines))
    store = app.server.extensions["c254"].ready_store()
    before = store.scalar("SELECT count() FROM prices")
    result = _cli(app, "ingest", "load", "nem", str(folder))
    assert result.exit_code != 0
    assert "PRICE_AND_DEMAND_201801_VIC1.csv" in result.output and "line 11" in result.output
    assert "nothing loaded" in result.output
    assert store.scalar("SELECT count() FROM prices") == before  # not even the good NSW1 file


def test_unknown_connector_and_missing_path_are_refused(app, tmp_path):
    r = _cli(app, "ingest", "load", "xyz", str(tmp_path))
    assert r.exit_code != 0 and "unknown connector" in r.output
    r = _cli(app, "ingest", "load", "nem", str(tmp_path / "nope"))
    assert r.exit_code != 0 and "no such file or folder" in r.output


def test_store_held_by_the_running_app_gets_a_clear_message_and_bad_files_are_still_named(app, data_dir,
                                                                                          tmp_path, monkeypatch):
    from app.services import Services
    from engine.store import StoreError

    def held(self):
        raise StoreError("Unable to open the chdb engine: Error initializing EmbeddedServer: . (BAD_ARGUMENTS)")

    monkeypatch.setattr(Services, "ready_store", held)
    good = data_dir / "markets" / "aemo" / "price_and_demand" / "PRICE_AND_DEMAND_201801_SA1.csv"
    r = _cli(app, "ingest", "load", "nem", str(good))
    assert r.exit_code != 0 and "held by another process (is the app running?)" in r.output
    bad = tmp_path / "PRICE_AND_DEMAND_201801_SA1.csv"
    bad.write_text("REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE\nSA1,2018/01/01 00:30:00,1400,abc,TRADE\n")
    r = _cli(app, "ingest", "load", "nem", str(bad))
    assert r.exit_code != 0 and "line 2" in r.output and "nothing loaded" in r.output
