"""NEMweb's 5-minute DispatchIS reports: parsing (nested zips too), the Current listing, range selection and
fetching from Current and Archive with a fake session (no network). The fixtures are built to AEMO's layout by
tests/fixtures/nem/make_dispatchis_fixture.py; the numbers below were read from those files."""
from __future__ import annotations

import io
import logging
import zipfile
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import requests

from engine.files import IngestError, RawFile
from ingest.nem import (
    DISPATCHIS_ARCHIVE_URL,
    DISPATCHIS_CURRENT_URL,
    NemConnector,
    dispatchis_file,
    parse_dispatchis_listing,
    select_dispatchis,
)

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
def test_parse_one_report_keeps_the_pricing_run_of_each_mapped_section():
    result = NemConnector().parse(RawFile.from_path(ONE))
    assert set(result.tables) == {"prices", "demand", "interconnector_flows"}
    # PRICE 10 + REGIONSUM 10 + INTERCONNECTORRES 12 rows; the other sections are not counted
    assert (result.rows_read, result.rows_rejected) == (32, 16)
    start = pd.Timestamp("2026-04-01 00:25", tz="UTC")  # interval ending 10:30 NEM time
    prices = result.tables["prices"]
    assert prices["location"].tolist() == ["NSW1", "QLD1", "SA1", "TAS1", "VIC1"]
    assert prices["price"].tolist() == [63.0, 70.25, 77.5, 84.75, 92.0]  # INTERVENTION=0, not 213.5...
    assert (prices["price_kind"] == "dispatch").all() and (prices["interval_start"] == start).all()
    assert (prices["interval_minutes"] == 5).all()
    assert (prices["source"] == ONE.name).all()
    demand = result.tables["demand"].set_index("location")["demand_mw"]
    assert demand.to_dict() == {"NSW1": 1001.5, "QLD1": 2001.5, "SA1": 3001.5, "TAS1": 4001.5, "VIC1": 5001.5}
    flows = result.tables["interconnector_flows"].set_index("interconnector")
    assert flows.index.tolist() == ["N-Q-MNSP1", "NSW1-QLD1", "T-V-MNSP1", "V-S-MNSP1", "V-SA", "VIC1-NSW1"]
    assert flows.loc["VIC1-NSW1", ["mw_flow", "metered_mw_flow", "mw_losses", "export_limit", "import_limit"]
                     ].tolist() == [308.625, 305.125, 7.71563, 750.0, -650.0]
    assert flows.loc["N-Q-MNSP1", "mw_flow"] == -247.0


def test_an_intervention_only_interval_keeps_the_intervention_rows():
    text = _csv().decode()
    lines = [ln for ln in text.split("\r\n")
             if not (ln.startswith("D,DISPATCH,PRICE,5") and ",20260401078,0," in ln)]
    result = NemConnector().parse(RawFile("only_intervention.CSV", "\r\n".join(lines).encode()))
    assert result.tables["prices"]["price"].tolist() == [213.5, 220.75, 228.0, 235.25, 242.5]
    assert result.tables["demand"]["demand_mw"].tolist()[0] == 1001.5


def test_parse_an_archive_day_of_nested_zips():
    result = NemConnector().parse(RawFile.from_path(DAY))
    assert (result.rows_read, result.rows_rejected) == (48, 0)
    prices = result.tables["prices"]
    assert len(prices) == 15 and len(result.tables["interconnector_flows"]) == 18
    nsw = prices[prices["location"] == "NSW1"]
    assert nsw["interval_start"].tolist() == [pd.Timestamp(t, tz="UTC") for t in
                                              ("2026-03-31 13:55", "2026-03-31 14:00", "2026-03-31 14:05")]
    assert nsw["price"].tolist() == [60.0, 61.0, 62.0]
    assert result.tables["demand"].set_index(["location", "interval_start"]).loc[
        ("VIC1", pd.Timestamp("2026-03-31 14:05", tz="UTC")), "demand_mw"] == 5001.0


def test_a_reissued_report_inside_an_archive_is_superseded():
    with zipfile.ZipFile(DAY) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    older = "PUBLIC_DISPATCHIS_202604010005_0000000512300001.zip"
    reissue = _zip({"PUBLIC_DISPATCHIS_202604010005_0000000512399999.CSV": _csv().replace(
        b'"2026/04/01 10:30:00"', b'"2026/04/01 00:05:00"')})
    members["PUBLIC_DISPATCHIS_202604010005_0000000512399999.zip"] = reissue
    result = NemConnector().parse(RawFile("PUBLIC_DISPATCHIS_20260401.zip", _zip(members)))
    nsw = result.tables["prices"].set_index(["location", "interval_start"])["price"]
    assert nsw[("NSW1", pd.Timestamp("2026-03-31 14:00", tz="UTC"))] == 63.0  # the re-issue, not 61.0
    assert older in members and len(result.tables["prices"]) == 15


def test_bad_dispatchis_input_raises_ingest_error_naming_file_and_line():
    nem = NemConnector()
    bad = _csv().replace(b",NSW1,20260401078,0,63.00000,", b",NSW1,20260401078,0,sixty,", 1)
    with pytest.raises(IngestError) as err:
        nem.parse(RawFile("x.zip", _zip({INNER: bad})))
    assert err.value.source == f"x.zip/{INNER}" and err.value.line == 9 and "RRP" in err.value.problem
    damaged = _zip({"PUBLIC_DISPATCHIS_202604011030_1.zip": b"PK\x03\x04 not really a zip"})
    with pytest.raises(IngestError, match="not a readable zip"):
        nem.parse(RawFile("PUBLIC_DISPATCHIS_20260401.zip", damaged))
    too_deep = _zip({"a.zip": _zip({"b.zip": _zip({INNER: _csv()})})})
    with pytest.raises(IngestError, match="nested more than 2 deep"):
        nem.parse(RawFile("deep.zip", too_deep))
    cut = _csv()[:-60]
    with pytest.raises(IngestError, match="truncated"):
        nem.parse(RawFile("cut.zip", _zip({INNER: cut})))
    with pytest.raises(IngestError, match="holds no files"):
        nem.parse(RawFile("outer.zip", _zip({"inner.zip": _zip({})})))


# -- listing and selection -------------------------------------------------------------------------------
def test_listing_links_one_report_per_interval_sorted():
    reports = parse_dispatchis_listing(LISTING.read_text())
    assert len(reports) == 19  # 20 links to reports, the 00:30 one issued twice
    assert reports[0].interval_end == datetime(2026, 4, 1, 23, 30)
    assert reports[-1].interval_end == datetime(2026, 4, 2, 1, 0)
    assert reports[0].url == (DISPATCHIS_CURRENT_URL + "PUBLIC_DISPATCHIS_202604012330_0000000512500000.zip")
    reissued = [r for r in reports if r.interval_end == datetime(2026, 4, 2, 0, 30)]
    assert [r.file_id for r in reissued] == [512500100]
    assert parse_dispatchis_listing("<html><pre><A HREF=\"/Reports/Current/\">up</A></pre></html>") == []


def test_selection_by_nem_day_uses_interval_start():
    reports = parse_dispatchis_listing(LISTING.read_text())
    april_1 = select_dispatchis(reports, date(2026, 4, 1), date(2026, 4, 1))
    # intervals ending 23:30 .. 24:00 start on 1 April; the one ending 00:00 on 2 April is its last
    assert [r.interval_end.strftime("%d %H:%M") for r in april_1] == [
        "01 23:30", "01 23:35", "01 23:40", "01 23:45", "01 23:50", "01 23:55", "02 00:00"]
    assert len(select_dispatchis(reports, date(2026, 4, 2), date(2026, 4, 2))) == 12
    assert select_dispatchis(reports, date(2026, 4, 3), date(2026, 4, 5)) == []
    with pytest.raises(ValueError, match="before start"):
        select_dispatchis(reports, date(2026, 4, 2), date(2026, 4, 1))
    assert dispatchis_file("PUBLIC_DISPATCHIS_202613011030_1.zip") is None  # month 13
    assert dispatchis_file("PUBLIC_DISPATCHSCADA_202604011030_1.zip") is None


# -- fetch with a fake session ----------------------------------------------------------------------------
class _Response:
    def __init__(self, status: int, content: bytes = b""):
        self.status_code = status
        self.content = content


class _FakeNemweb:
    """Answers by URL (a list is served in order, for retries) and records every request."""

    def __init__(self, routes: dict[str, object]):
        self.routes = routes
        self.calls: list[str] = []

    def get(self, url, headers=None, timeout=None):
        self.calls.append(url)
        answer = self.routes.get(url, _Response(404))
        if isinstance(answer, list):
            answer = answer.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _current_routes() -> dict[str, object]:
    routes: dict[str, object] = {DISPATCHIS_CURRENT_URL: _Response(200, LISTING.read_bytes())}
    for report in parse_dispatchis_listing(LISTING.read_text()):
        routes[report.url] = _Response(200, ONE.read_bytes())
    return routes


def test_fetch_takes_current_files_and_older_intervals_from_the_archive(caplog):
    routes = _current_routes()
    routes[DISPATCHIS_ARCHIVE_URL.format(yyyymmdd="20260401")] = _Response(200, DAY.read_bytes())
    session = _FakeNemweb(routes)
    with caplog.at_level(logging.WARNING, logger="ingest.nem"):
        files = NemConnector(session, backoff_seconds=0).fetch(date(2026, 4, 1), date(2026, 4, 1),
                                                               kind="dispatch_is")
    assert [f.name for f in files] == [
        "PUBLIC_DISPATCHIS_202604010005_0000000512300001.zip",  # from the Archive day (00:00 is 31 March's)
        "PUBLIC_DISPATCHIS_202604010010_0000000512300002.zip",
        *[f"PUBLIC_DISPATCHIS_20260401{hm}_00000005125000{k:02d}.zip"
          for k, hm in enumerate(("2330", "2335", "2340", "2345", "2350", "2355"))],
        "PUBLIC_DISPATCHIS_202604020000_0000000512500006.zip"]
    assert files[2].data == ONE.read_bytes()
    assert NemConnector().parse(files[0]).tables["prices"]["price"].tolist()[0] == 61.0
    archive_calls = [c for c in session.calls if "Archive" in c]
    # the day named after the intervals' end date, then the day before for what is still missing (404 here)
    assert archive_calls == [DISPATCHIS_ARCHIVE_URL.format(yyyymmdd="20260401"),
                             DISPATCHIS_ARCHIVE_URL.format(yyyymmdd="20260331")]
    assert session.calls[0] == DISPATCHIS_CURRENT_URL
    assert "279 of 288 intervals" in caplog.text


def test_fetch_latest_downloads_only_the_newest_listed_intervals():
    session = _FakeNemweb(_current_routes())
    files = NemConnector(session).fetch(date(2026, 4, 2), date(2026, 4, 2), kind="dispatch_is", latest=2)
    assert [f.name[18:30] for f in files] == ["202604020055", "202604020100"]
    assert len(session.calls) == 3 and not any("Archive" in c for c in session.calls)


def test_fetch_retries_a_busy_server_and_reports_bad_answers():
    routes = _current_routes()
    routes[DISPATCHIS_CURRENT_URL] = [_Response(503), requests.ConnectionError("reset"),
                                      _Response(200, LISTING.read_bytes())]
    session = _FakeNemweb(routes)
    files = NemConnector(session, backoff_seconds=0).fetch(date(2026, 4, 2), date(2026, 4, 2),
                                                           kind="dispatch_is", latest=1)
    assert len(files) == 1 and session.calls.count(DISPATCHIS_CURRENT_URL) == 3
    empty = _FakeNemweb({DISPATCHIS_CURRENT_URL: _Response(200, b"<html><pre></pre></html>")})
    with pytest.raises(IngestError, match="links no PUBLIC_DISPATCHIS"):
        NemConnector(empty).fetch(date(2026, 4, 2), date(2026, 4, 2), kind="dispatch_is")
    gone = _FakeNemweb({DISPATCHIS_CURRENT_URL: _Response(404)})
    with pytest.raises(IngestError, match="HTTP 404"):
        NemConnector(gone).fetch(date(2026, 4, 2), date(2026, 4, 2), kind="dispatch_is")
    nothing = _FakeNemweb(_current_routes())
    with pytest.raises(IngestError, match="no DispatchIS reports for 2026-03-01"):
        NemConnector(nothing).fetch(date(2026, 3, 1), date(2026, 3, 1), kind="dispatch_is")
    html_instead = _current_routes()
    html_instead[next(k for k in html_instead if k.endswith("0000000512500018.zip"))] = _Response(200, b"<html>")
    with pytest.raises(IngestError, match="did not send a zip"):
        NemConnector(_FakeNemweb(html_instead)).fetch(date(2026, 4, 2), date(2026, 4, 2), kind="dispatch_is",
                                                      latest=1)
    with pytest.raises(ValueError, match="use fetch"):
        NemConnector().urls(date(2026, 4, 1), date(2026, 4, 1), kind="dispatch_is")


def test_fetch_from_a_local_folder_takes_reports_and_archive_days(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "PUBLIC_DISPATCHIS_202604011030_0000000512345678.zip").write_bytes(ONE.read_bytes())
    (tmp_path / "PUBLIC_DISPATCHIS_20260401.zip").write_bytes(DAY.read_bytes())
    (tmp_path / "PUBLIC_DISPATCHIS_202604021030_0000000512345999.zip").write_bytes(ONE.read_bytes())
    files = NemConnector().fetch(date(2026, 4, 1), date(2026, 4, 1), source=tmp_path, kind="dispatch_is")
    assert [f.name for f in files] == ["PUBLIC_DISPATCHIS_202604010005_0000000512300001.zip",
                                       "PUBLIC_DISPATCHIS_202604010010_0000000512300002.zip",
                                       "PUBLIC_DISPATCHIS_202604011030_0000000512345678.zip"]
    march = NemConnector().fetch(date(2026, 3, 31), date(2026, 3, 31), source=tmp_path, kind="dispatch_is")
    assert [f.name[18:30] for f in march] == ["202604010000"]
    with pytest.raises(IngestError, match="no AEMO dispatch_is files"):
        NemConnector().fetch(date(2026, 5, 1), date(2026, 5, 1), source=tmp_path, kind="dispatch_is")
