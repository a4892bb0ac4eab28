"""NEM end to end: the CLI loads the real AEMO files into the store, re-loads change nothing, the API serves
them, and a bad file loads nothing."""
from __future__ import annotations

import io
import os

import pandas as pd
import pytest

from app.factory import create_app
from app.settings import Settings
from tests.support.schema_template import migrated_url


@pytest.fixture(scope="module")
def app(make_module_app):
    """One demo app for the module (a demo store costs seconds): the tests below load into it once each."""
    return make_module_app(demo=True)


def _cli(app, *args):
    return app.server.test_cli_runner().invoke(args=list(args))


_PRICES = "SELECT * FROM prices FINAL ORDER BY location, price_kind, interval_minutes, interval_start"


@pytest.fixture(scope="module")
def loaded_app(store_dir):
    """An app of its own for the tests below, which share one (slow) load of every real file."""
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, f"nem_load_{os.getpid()}"),
                                   scheduler=False, demo=True))
    yield dash_app
    store = dash_app.server.extensions["c254"].store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")


@pytest.fixture(scope="module")
def loaded_twice(loaded_app, data_dir):
    """Every real AEMO file loaded from the CLI, then loaded again: (first output, second output, prices
    after the first load, prices after the second)."""
    store = loaded_app.server.extensions["c254"].ready_store()
    folder = str(data_dir / "markets" / "aemo")
    first = _cli(loaded_app, "ingest", "load", "nem", folder)
    before = store.query_df(_PRICES)
    second = _cli(loaded_app, "ingest", "load", "nem", folder)
    return first, second, before, store.query_df(_PRICES)


@pytest.mark.realdata
def test_cli_loads_every_real_nem_file(loaded_twice):
    first, _, _, _ = loaded_twice
    assert first.exit_code == 0, first.output


@pytest.mark.realdata
@pytest.mark.parametrize("said", [
    # 15 PRICE_AND_DEMAND files (48,960 rows) + 17 MMSDM zips (42,475 D rows) + TRADINGREGIONSUM (7,200)
    # + DispatchSCADA (325) + the intervention DispatchIS (32) + 20 DispatchIS zips of 2018 (320), per
    # markets/SOURCES.md; and the operators' forecasts: PredispatchIS (1,140 region rows, half of them the
    # intervention re-run), P5MIN (60), the operational demand forecast (1,985)
    "files 58; rows read 102,497,",
    "rejected: 4,901 intervention re-run rows (INTERVENTION=1)",
])
def test_cli_load_says(loaded_twice, said):
    first, _, _, _ = loaded_twice
    assert said in first.output


@pytest.mark.realdata
def test_cli_load_stores_unit_output(loaded_app, loaded_twice):
    store = loaded_app.server.extensions["c254"].store
    assert store.scalar("SELECT count() FROM generation FINAL WHERE market = 'NEM'") == 325


@pytest.mark.realdata
def test_real_data_replaces_demo_data(loaded_app, loaded_twice):
    store = loaded_app.server.extensions["c254"].store
    assert store.scalar("SELECT count() FROM prices WHERE source = 'demo'") == 0


@pytest.mark.realdata
def test_cli_reload_writes_nothing(loaded_twice):
    _, second, _, _ = loaded_twice
    assert "written 0," in second.output


@pytest.mark.realdata
def test_cli_reload_leaves_the_prices_as_they_were(loaded_twice):
    _, _, before, after = loaded_twice
    pd.testing.assert_frame_equal(before, after)


@pytest.fixture(scope="module")
def sa1_201801(app, data_dir):
    path = data_dir / "markets" / "aemo" / "price_and_demand" / "PRICE_AND_DEMAND_201801_SA1.csv"
    result = _cli(app, "ingest", "load", "nem", str(path))
    r = app.server.test_client().get(
        "/api/v1/prices?market=NEM&location=SA1&start=2018-01-01&end=2018-02-01&format=csv")
    return result, pd.read_csv(io.StringIO(r.get_data(as_text=True))), pd.read_csv(path)


@pytest.mark.realdata
def test_cli_loads_one_file(sa1_201801):
    result, _, _ = sa1_201801
    assert "rows read 1,488, written 2,976, rejected 0" in result.output  # prices + demand


@pytest.mark.realdata
def test_api_serves_every_row_of_the_loaded_file(sa1_201801):
    _, api, source = sa1_201801
    assert (len(api), len(source)) == (1488, 1488)


@pytest.mark.realdata
def test_api_gives_interval_starts_in_nem_time(sa1_201801):
    _, api, source = sa1_201801
    # SETTLEMENTDATE is the interval end in NEM time; the API gives the start, with the +10:00 offset
    assert (api.at[0, "interval_start"], source.at[0, "SETTLEMENTDATE"]) == ("2018-01-01T00:00:00+10:00",
                                                                             "2018/01/01 00:30:00")


@pytest.mark.realdata
@pytest.mark.parametrize("served, published", [("price", "RRP"), ("demand_mw", "TOTALDEMAND")])
def test_api_serves_the_published_values(sa1_201801, served, published):
    _, api, source = sa1_201801
    assert api[served].tolist() == source[published].tolist()


@pytest.mark.realdata
def test_api_serves_half_hours(sa1_201801):
    _, api, _ = sa1_201801
    assert api["interval_minutes"].unique().tolist() == [30]


@pytest.fixture(scope="module")
def bad_folder_load(app, data_dir, tmp_path_factory):
    """A folder of a good file and one with a bad price on line 11, loaded: (output, prices before, after)."""
    folder = data_dir / "markets" / "aemo" / "price_and_demand"
    lines = (folder / "PRICE_AND_DEMAND_201801_VIC1.csv").read_bytes().split(b"\r\n")
    lines[10] = lines[10].replace(lines[10].split(b",")[3], b"abc")
    drop = tmp_path_factory.mktemp("drop")
    (drop / "PRICE_AND_DEMAND_201801_NSW1.csv").write_bytes((folder / "PRICE_AND_DEMAND_201801_NSW1.csv").read_bytes())
    (drop / "PRICE_AND_DEMAND_201801_VIC1.csv").write_bytes(b"\r\n".join(lines))
    store = app.server.extensions["c254"].ready_store()
    before = store.scalar("SELECT count() FROM prices")
    return _cli(app, "ingest", "load", "nem", str(drop)), before, store.scalar("SELECT count() FROM prices")


@pytest.mark.realdata
def test_bad_file_exits_non_zero(bad_folder_load):
    result, _, _ = bad_folder_load
    assert result.exit_code != 0


@pytest.mark.realdata
@pytest.mark.parametrize("said", ["PRICE_AND_DEMAND_201801_VIC1.csv, line 11", "nothing loaded"])
def test_bad_file_is_named_with_its_line(bad_folder_load, said):
    result, _, _ = bad_folder_load
    assert said in result.output


@pytest.mark.realdata
def test_bad_file_writes_nothing(bad_folder_load):
    _, before, after = bad_folder_load
    assert after == before  # not even the good NSW1 file


@pytest.mark.parametrize("connector, path, message", [("xyz", ".", "unknown connector"),
                                                      ("nem", "nope", "no such file or folder")])
def test_unknown_connector_and_missing_path_are_refused(app, tmp_path, connector, path, message):
    r = _cli(app, "ingest", "load", connector, str(tmp_path / path))
    assert r.exit_code != 0
    assert message in r.output


_HEADER = "REGION,SETTLEMENTDATE,TOTALDEMAND,RRP,PERIODTYPE\n"


@pytest.fixture
def store_held(app, monkeypatch):
    from app.services import Services
    from engine.store import StoreError

    def held(self):
        raise StoreError("Unable to open the chdb engine: Error initializing EmbeddedServer: . (BAD_ARGUMENTS)")

    monkeypatch.setattr(Services, "ready_store", held)


def test_store_held_by_the_running_app_gets_a_clear_message(app, store_held, tmp_path):
    good = tmp_path / "PRICE_AND_DEMAND_201801_SA1.csv"
    good.write_text(_HEADER + "SA1,2018/01/01 00:30:00,1400,80.5,TRADE\n")
    r = _cli(app, "ingest", "load", "nem", str(good))
    assert r.exit_code != 0
    assert "held by another process (is the app running?)" in r.output


@pytest.mark.parametrize("said", ["line 2", "nothing loaded"])
def test_bad_files_are_still_named_while_the_store_is_held(app, store_held, tmp_path, said):
    bad = tmp_path / "PRICE_AND_DEMAND_201801_SA1.csv"
    bad.write_text(_HEADER + "SA1,2018/01/01 00:30:00,1400,abc,TRADE\n")
    r = _cli(app, "ingest", "load", "nem", str(bad))
    assert said in r.output


# ------------------------------------------------------------------------------------------------------------
# A replayed backfill writes its files in batches (ingest/backfill.py: replay_batches)
# ------------------------------------------------------------------------------------------------------------
def test_replayed_files_are_cut_into_batches_by_their_text_size(monkeypatch):
    from engine.files import RawFile
    from ingest import backfill

    monkeypatch.setattr(backfill, "REPLAY_BATCH_BYTES", 100)
    files = [RawFile(f"{i}.csv", b"x" * size) for i, size in enumerate([40, 40, 30, 150, 10])]
    zipped = RawFile("z.zip", b"PK\x03\x04" + b"x" * 6)  # ten bytes, read as 160 of text
    batches = backfill.replay_batches([*files, zipped, RawFile("last.csv", b"x" * 5)])
    assert [[f.name for f in b] for b in batches] == [["0.csv", "1.csv"], ["2.csv"], ["3.csv"], ["4.csv"],
                                                      ["z.zip"], ["last.csv"]]


def _replay(store, folder, start, end):
    import datetime as dt

    from engine import jobs
    from ingest.backfill import BackfillRequest, run_backfill

    run = jobs.JobRun(job="backfill:nem", market="NEM")
    run.save(store)
    run_backfill(store, BackfillRequest("nem", dt.date.fromisoformat(start), dt.date.fromisoformat(end), folder),
                 run)
    return jobs.get_run(store, run.run_id)


@pytest.mark.realdata
def test_a_replayed_backfill_in_one_batch_stores_what_file_by_file_loads_store(store, store_url, store_dir,
                                                                                data_dir, monkeypatch):
    """The ten PRICE_AND_DEMAND files of 2016-02 and 2018-01 replayed as one batch leave the store as ten
    batches of one file each do (rows, values and every aggregate); progress still counts files."""
    from engine.store import Store
    from ingest import backfill
    from tests.support.schema_template import copy_schema
    from tests.test_faults import fingerprint

    folder = data_dir / "markets" / "aemo" / "price_and_demand"
    saved = _replay(store, folder, "2016-02-01", "2018-01-31")
    assert saved["status"] == "succeeded", saved["error"]
    assert (saved["progress_done"], saved["progress_total"]) == (10, 10)
    assert store.scalar("SELECT uniqExact(batch_id) FROM prices") == 1

    one_by_one = Store(f"{store_url}_files")
    copy_schema(one_by_one, str(store_dir))
    try:
        monkeypatch.setattr(backfill, "REPLAY_BATCH_BYTES", 1)  # every file a batch of its own
        alone = _replay(one_by_one, folder, "2016-02-01", "2018-01-31")
        assert alone["status"] == "succeeded" and (alone["progress_done"], alone["progress_total"]) == (10, 10)
        assert one_by_one.scalar("SELECT uniqExact(batch_id) FROM prices") == 10
        assert fingerprint(store) == fingerprint(one_by_one)
        assert saved["rows_written"] == alone["rows_written"] > 0
    finally:
        one_by_one.command(f"DROP DATABASE IF EXISTS `{one_by_one.database}`")
        one_by_one.close()


@pytest.mark.realdata
@pytest.mark.parametrize("one_batch", [True, False])
def test_a_bad_file_fails_its_whole_batch_and_leaves_the_batches_before_it(store, data_dir, tmp_path, monkeypatch,
                                                                           one_batch):
    """The last of ten replayed files is damaged: replayed as one batch nothing is stored; file by file, the nine
    before it are."""
    from ingest import backfill

    source = data_dir / "markets" / "aemo" / "price_and_demand"
    folder = tmp_path / "replay"
    folder.mkdir()
    names = sorted(p.name for p in source.glob("PRICE_AND_DEMAND_201*.csv"))  # 2016-02, then 2018-01
    assert names[-1] == "PRICE_AND_DEMAND_201801_VIC1.csv" and len(names) == 10
    for name in names:
        (folder / name).write_bytes((source / name).read_bytes())
    damaged = folder / names[-1]
    lines = damaged.read_bytes().split(b"\n")
    lines[10] = lines[10].replace(b",", b";", 2)
    damaged.write_bytes(b"\n".join(lines))
    if not one_batch:
        monkeypatch.setattr(backfill, "REPLAY_BATCH_BYTES", 1)
    saved = _replay(store, folder, "2016-02-01", "2018-01-31")
    assert saved["status"] == "failed" and f"{names[-1]}, line 11" in saved["error"]
    stored = store.query_df("SELECT DISTINCT location FROM prices FINAL")["location"].tolist()
    if one_batch:
        assert (saved["progress_done"], saved["progress_total"]) == (0, 10)
        assert stored == [] and store.scalar("SELECT count() FROM prices_hourly") == 0
    else:
        assert (saved["progress_done"], saved["progress_total"]) == (9, 10)
        assert sorted(stored) == ["NSW1", "QLD1", "SA1", "TAS1", "VIC1"]  # VIC1 from 2016-02 only
        assert store.scalar("SELECT count() FROM prices FINAL WHERE location = 'VIC1'") == 29 * 48
