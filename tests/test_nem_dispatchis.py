"""NEMweb's 5-minute DispatchIS reports: parsing (nested zips too), the Current listing, range selection and
fetching from Current and Archive with a fake session (no network). The fixtures are built to AEMO's layout by
tests/fixtures/nem/make_dispatchis_fixture.py; the numbers below were read from those files."""
from __future__ import annotations

import io
import logging
import zipfile
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import requests

from engine.files import IngestError, RawFile
from ingest.base import ParseResult
from ingest.nem import NemConnector
from ingest.nem.rows import INTERVENTION_RUN
from tests.support.fakes import FakeResponse, FakeSession
from ingest.nem.nemweb import DISPATCH_IS, interval_report, parse_listing, select_intervals

FIXTURES = Path(__file__).parent / "fixtures" / "nem"
ONE = FIXTURES / "specbuilt_PUBLIC_DISPATCHIS_202604011030_0000000512345678.zip"
DAY = FIXTURES / "specbuilt_PUBLIC_DISPATCHIS_20260401.zip"
LISTING = FIXTURES / "specbuilt_DispatchIS_Reports_listing.html"
INNER = "PUBLIC_DISPATCHIS_202604011030_0000000512345678.CSV"


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _csv() -> bytes:
    with zipfile.ZipFile(ONE) as zf:
        return zf.read(INNER)


# -- parse -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one() -> ParseResult:
    return NemConnector().parse(RawFile.from_path(ONE))


def test_one_report_fills_prices_demand_and_flows(one):
    assert set(one.tables) == {"prices", "demand", "interconnector_flows"}


def test_one_report_counts_the_mapped_sections_rows_only(one):
    # PRICE 10 + REGIONSUM 10 + INTERCONNECTORRES 12 rows; the other sections are not counted
    assert one.rows_read == 32


def test_one_report_leaves_out_the_intervention_run_by_reason(one):
    assert one.rejected == {INTERVENTION_RUN: 16}


def test_one_report_keeps_the_pricing_run_prices(one):
    prices = one.tables["prices"].set_index("location")["price"]
    assert prices.to_dict() == {"NSW1": 63.0, "QLD1": 70.25, "SA1": 77.5, "TAS1": 84.75, "VIC1": 92.0}


@pytest.mark.parametrize("column, value", [
    ("price_kind", "dispatch"), ("interval_start", pd.Timestamp("2026-04-01 00:25", tz="UTC")),  # ends 10:30 NEM
    ("interval_minutes", 5), ("source", ONE.name)])
def test_one_report_price_rows_share(one, column, value):
    assert one.tables["prices"][column].eq(value).all()


def test_one_report_demand_by_region(one):
    demand = one.tables["demand"].set_index("location")["demand_mw"]
    assert demand.to_dict() == {"NSW1": 1001.5, "QLD1": 2001.5, "SA1": 3001.5, "TAS1": 4001.5, "VIC1": 5001.5}


def test_one_report_flows_of_every_interconnector(one):
    flows = one.tables["interconnector_flows"]
    assert flows["interconnector"].tolist() == ["N-Q-MNSP1", "NSW1-QLD1", "T-V-MNSP1", "V-S-MNSP1", "V-SA",
                                                "VIC1-NSW1"]


def test_one_report_flow_values(one):
    flows = one.tables["interconnector_flows"].set_index("interconnector")
    columns = ["mw_flow", "metered_mw_flow", "mw_losses", "export_limit", "import_limit"]
    assert flows.loc["VIC1-NSW1", columns].tolist() == [308.625, 305.125, 7.71563, 750.0, -650.0]


def test_one_report_negative_flow(one):
    assert one.tables["interconnector_flows"].set_index("interconnector").loc["N-Q-MNSP1", "mw_flow"] == -247.0


def test_an_intervention_only_interval_keeps_the_intervention_rows():
    text = _csv().decode()
    lines = [ln for ln in text.split("\r\n")
             if not (ln.startswith("D,DISPATCH,PRICE,5") and ",20260401078,0," in ln)]
    result = NemConnector().parse(RawFile("only_intervention.CSV", "\r\n".join(lines).encode()))
    assert result.tables["prices"]["price"].tolist() == [213.5, 220.75, 228.0, 235.25, 242.5]


@pytest.fixture(scope="module")
def day() -> ParseResult:
    return NemConnector().parse(RawFile.from_path(DAY))


def test_an_archive_day_of_nested_zips_reads_every_interval(day):
    assert (day.rows_read, day.rows_rejected) == (48, 0)


@pytest.mark.parametrize("table, rows", [("prices", 15), ("demand", 15), ("interconnector_flows", 18)])
def test_an_archive_day_rows_by_table(day, table, rows):
    assert len(day.tables[table]) == rows


def test_an_archive_day_prices_of_one_region(day):
    prices = day.tables["prices"]
    nsw = prices[prices["location"] == "NSW1"].set_index("interval_start")["price"]
    assert nsw.to_dict() == {pd.Timestamp("2026-03-31 13:55", tz="UTC"): 60.0,
                             pd.Timestamp("2026-03-31 14:00", tz="UTC"): 61.0,
                             pd.Timestamp("2026-03-31 14:05", tz="UTC"): 62.0}


def test_an_archive_day_demand_value(day):
    demand = day.tables["demand"].set_index(["location", "interval_start"])["demand_mw"]
    assert demand[("VIC1", pd.Timestamp("2026-03-31 14:05", tz="UTC"))] == 5001.0


def _archive_with_a_reissue() -> dict[str, bytes]:
    with zipfile.ZipFile(DAY) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    reissue = _zip({"PUBLIC_DISPATCHIS_202604010005_0000000512399999.CSV": _csv().replace(
        b'"2026/04/01 10:30:00"', b'"2026/04/01 00:05:00"')})
    members["PUBLIC_DISPATCHIS_202604010005_0000000512399999.zip"] = reissue
    return members


def test_a_reissued_report_inside_an_archive_supersedes_the_first_issue():
    members = _archive_with_a_reissue()
    assert "PUBLIC_DISPATCHIS_202604010005_0000000512300001.zip" in members  # the first issue is there too
    result = NemConnector().parse(RawFile("PUBLIC_DISPATCHIS_20260401.zip", _zip(members)))
    prices = result.tables["prices"].set_index(["location", "interval_start"])["price"]
    assert prices[("NSW1", pd.Timestamp("2026-03-31 14:00", tz="UTC"))] == 63.0  # the re-issue, not 61.0


def test_a_reissued_report_inside_an_archive_adds_no_rows():
    result = NemConnector().parse(RawFile("PUBLIC_DISPATCHIS_20260401.zip", _zip(_archive_with_a_reissue())))
    assert len(result.tables["prices"]) == 15


def test_a_bad_value_names_the_member_and_line():
    bad = _csv().replace(b",NSW1,20260401078,0,63.00000,", b",NSW1,20260401078,0,sixty,", 1)
    with pytest.raises(IngestError) as err:
        NemConnector().parse(RawFile("x.zip", _zip({INNER: bad})))
    assert (err.value.source, err.value.line) == (f"x.zip/{INNER}", 9)
    assert "RRP" in err.value.problem


@pytest.mark.parametrize("name, data, message", [
    ("PUBLIC_DISPATCHIS_20260401.zip", _zip({"PUBLIC_DISPATCHIS_202604011030_1.zip": b"PK\x03\x04 not a zip"}),
     "not a readable zip"),
    ("deep.zip", _zip({"a.zip": _zip({"b.zip": _zip({INNER: _csv()})})}), "nested more than 2 deep"),
    ("cut.zip", _zip({INNER: _csv()[:-60]}), "truncated"),
    ("outer.zip", _zip({"inner.zip": _zip({})}), "holds no files"),
])
def test_damaged_archives_raise_ingest_error(name, data, message):
    with pytest.raises(IngestError, match=message):
        NemConnector().parse(RawFile(name, data))


# -- listing and selection -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def listed() -> list:
    return parse_listing(LISTING.read_text())


def test_listing_links_one_report_per_interval(listed):
    assert len(listed) == 19  # 20 links to reports, the 00:30 one issued twice


def test_listing_is_sorted_by_interval_end(listed):
    assert (listed[0].interval_end, listed[-1].interval_end) == (datetime(2026, 4, 1, 23, 30),
                                                                  datetime(2026, 4, 2, 1, 0))


def test_listing_links_are_absolute(listed):
    assert listed[0].url == DISPATCH_IS.current_url + "PUBLIC_DISPATCHIS_202604012330_0000000512500000.zip"


def test_listing_keeps_the_latest_issue_of_an_interval(listed):
    reissued = [r for r in listed if r.interval_end == datetime(2026, 4, 2, 0, 30)]
    assert [r.file_id for r in reissued] == [512500100]


def test_a_listing_without_reports_is_empty():
    assert parse_listing("<html><pre><A HREF=\"/Reports/Current/\">up</A></pre></html>") == []


def test_selection_by_nem_day_uses_interval_start(listed):
    april_1 = select_intervals(listed, date(2026, 4, 1), date(2026, 4, 1))
    # intervals ending 23:30 .. 24:00 start on 1 April; the one ending 00:00 on 2 April is its last
    assert [r.interval_end.strftime("%d %H:%M") for r in april_1] == [
        "01 23:30", "01 23:35", "01 23:40", "01 23:45", "01 23:50", "01 23:55", "02 00:00"]


def test_selection_of_the_next_day(listed):
    assert len(select_intervals(listed, date(2026, 4, 2), date(2026, 4, 2))) == 12


def test_selection_of_days_not_listed(listed):
    assert select_intervals(listed, date(2026, 4, 3), date(2026, 4, 5)) == []


def test_selection_refuses_a_backwards_range(listed):
    with pytest.raises(ValueError, match="before start"):
        select_intervals(listed, date(2026, 4, 2), date(2026, 4, 1))


@pytest.mark.parametrize("name", ["PUBLIC_DISPATCHIS_202613011030_1.zip",  # month 13
                                  "PUBLIC_DISPATCHIS_20260401.zip", "PUBLIC_P5MIN_202604011030_1.zip"])
def test_names_that_are_not_interval_reports(name):
    assert interval_report(name) is None


def test_a_dispatchscada_name_is_a_report_of_its_own_family():
    assert interval_report("PUBLIC_DISPATCHSCADA_202604011030_1.zip").family.kind == "dispatch_scada"


# -- fetch with a fake session ----------------------------------------------------------------------------
def _nemweb(routes: dict[str, list]) -> FakeSession:
    """NEMweb answering ``routes`` (a list is served in order, for retries) and 404 for anything else."""
    return FakeSession(defaultdict(lambda: [FakeResponse(404)], routes))


def _urls(session: FakeSession) -> list[str]:
    return [call[0] for call in session.calls]


def _current_routes() -> dict[str, list]:
    routes = {DISPATCH_IS.current_url: [FakeResponse(200, LISTING.read_bytes())]}
    for report in parse_listing(LISTING.read_text()):
        routes[report.url] = [FakeResponse(200, ONE.read_bytes())]
    return routes


def _fetch(session, start: date, end: date, **options) -> list[RawFile]:
    return NemConnector().fetch(start, end, kind="dispatch_is", session=session, **options)


@pytest.fixture
def from_current_and_archive(no_wait, caplog) -> tuple[list[RawFile], FakeSession, str]:
    routes = _current_routes()
    routes[DISPATCH_IS.archive_url(date(2026, 4, 1))] = [FakeResponse(200, DAY.read_bytes())]
    session = _nemweb(routes)
    with caplog.at_level(logging.WARNING, logger="ingest.nem"):
        files = _fetch(session, date(2026, 4, 1), date(2026, 4, 1))
    return files, session, caplog.text


def test_fetch_takes_current_files_and_older_intervals_from_the_archive(from_current_and_archive):
    files, _, _ = from_current_and_archive
    assert [f.name for f in files] == [
        "PUBLIC_DISPATCHIS_202604010005_0000000512300001.zip",  # from the Archive day (00:00 is 31 March's)
        "PUBLIC_DISPATCHIS_202604010010_0000000512300002.zip",
        *[f"PUBLIC_DISPATCHIS_20260401{hm}_00000005125000{k:02d}.zip"
          for k, hm in enumerate(("2330", "2335", "2340", "2345", "2350", "2355"))],
        "PUBLIC_DISPATCHIS_202604020000_0000000512500006.zip"]


def test_fetch_returns_current_files_as_served(from_current_and_archive):
    files, _, _ = from_current_and_archive
    assert files[2].data == ONE.read_bytes()


def test_fetch_takes_an_interval_out_of_its_archive_day(from_current_and_archive):
    files, _, _ = from_current_and_archive
    assert NemConnector().parse(files[0]).tables["prices"]["price"].tolist()[0] == 61.0


def test_fetch_reads_the_listing_first(from_current_and_archive):
    _, session, _ = from_current_and_archive
    assert _urls(session)[0] == DISPATCH_IS.current_url


def test_fetch_asks_the_archive_day_of_the_end_date_then_the_day_before(from_current_and_archive):
    _, session, _ = from_current_and_archive
    assert [c for c in _urls(session) if "Archive" in c] == [DISPATCH_IS.archive_url(date(2026, 4, 1)),
                                                            DISPATCH_IS.archive_url(date(2026, 3, 31))]


def test_fetch_warns_of_intervals_published_nowhere(from_current_and_archive):
    _, _, logged = from_current_and_archive
    assert "279 of 288 intervals" in logged


def test_fetch_latest_downloads_only_the_newest_listed_intervals():
    session = _nemweb(_current_routes())
    files = _fetch(session, date(2026, 4, 2), date(2026, 4, 2), latest=2)
    assert [f.name[18:30] for f in files] == ["202604020055", "202604020100"]


def test_fetch_latest_asks_for_nothing_else():
    session = _nemweb(_current_routes())
    _fetch(session, date(2026, 4, 2), date(2026, 4, 2), latest=2)
    assert len(session.calls) == 3  # the listing and two reports: no Archive day


def test_fetch_retries_a_busy_server(no_wait):
    routes = _current_routes()
    routes[DISPATCH_IS.current_url] = [FakeResponse(503), requests.ConnectionError("reset"),
                                       FakeResponse(200, LISTING.read_bytes())]
    session = _nemweb(routes)
    files = _fetch(session, date(2026, 4, 2), date(2026, 4, 2), latest=1)
    assert (len(files), _urls(session).count(DISPATCH_IS.current_url)) == (1, 3)


@pytest.mark.parametrize("routes, start, message", [
    ({DISPATCH_IS.current_url: [FakeResponse(200, b"<html><pre></pre></html>")]}, date(2026, 4, 2),
     "links no PUBLIC_DISPATCHIS"),
    ({DISPATCH_IS.current_url: [FakeResponse(404)]}, date(2026, 4, 2), "HTTP 404"),
    (None, date(2026, 3, 1), "no DispatchIS reports for 2026-03-01"),
])
def test_fetch_reports_bad_answers(routes, start, message):
    with pytest.raises(IngestError, match=message):
        _fetch(_nemweb(routes or _current_routes()), start, start)


def test_fetch_refuses_a_page_instead_of_a_zip():
    routes = _current_routes()
    routes[next(k for k in routes if k.endswith("0000000512500018.zip"))] = [FakeResponse(200, b"<html>")]
    with pytest.raises(IngestError, match="did not send a zip"):
        _fetch(_nemweb(routes), date(2026, 4, 2), date(2026, 4, 2), latest=1)


def test_interval_reports_have_no_monthly_urls():
    with pytest.raises(ValueError, match="use fetch"):
        NemConnector().urls(date(2026, 4, 1), date(2026, 4, 1), kind="dispatch_is")


@pytest.fixture
def replay_folder(tmp_path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "PUBLIC_DISPATCHIS_202604011030_0000000512345678.zip").write_bytes(ONE.read_bytes())
    (tmp_path / "PUBLIC_DISPATCHIS_20260401.zip").write_bytes(DAY.read_bytes())
    (tmp_path / "PUBLIC_DISPATCHIS_202604021030_0000000512345999.zip").write_bytes(ONE.read_bytes())
    return tmp_path


def test_fetch_from_a_local_folder_takes_reports_and_archive_days(replay_folder):
    files = NemConnector().fetch(date(2026, 4, 1), date(2026, 4, 1), source=replay_folder, kind="dispatch_is")
    assert [f.name for f in files] == ["PUBLIC_DISPATCHIS_202604010005_0000000512300001.zip",
                                       "PUBLIC_DISPATCHIS_202604010010_0000000512300002.zip",
                                       "PUBLIC_DISPATCHIS_202604011030_0000000512345678.zip"]


def test_fetch_from_a_local_folder_selects_by_interval_start(replay_folder):
    march = NemConnector().fetch(date(2026, 3, 31), date(2026, 3, 31), source=replay_folder, kind="dispatch_is")
    assert [f.name[18:30] for f in march] == ["202604010000"]


def test_fetch_from_a_local_folder_without_those_days(replay_folder):
    with pytest.raises(IngestError, match="no AEMO dispatch_is files"):
        NemConnector().fetch(date(2026, 5, 1), date(2026, 5, 1), source=replay_folder, kind="dispatch_is")
