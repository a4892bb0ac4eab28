"""The admin page's two CSV downloads: the whole audit log and every recorded job run, not only the newest rows
its tables show; times as ISO 8601 in UTC with the offset, counts whole, durations in seconds unrounded, each
header naming its unit or zone. Only admins get them: anyone else who asks the callback gets no file."""
from __future__ import annotations

import io

import dash
import pandas as pd
import pytest

from app.services import services
from callbacks.admin import RUNS_SHOWN, audit_table, runs_table
from engine import audit, jobs
from tests.test_hardening import assert_answered, callback_key, post_callback

AUDIT_COLUMNS = ["at (UTC)", "actor", "action", "detail", "address"]
RUN_COLUMNS = ["job", "range_start (UTC)", "range_end (UTC)", "status", "progress_done", "progress_total",
               "rows_read", "rows_written", "rows_rejected", "started_at (UTC)", "finished_at (UTC)", "duration (s)",
               "error", "run_id"]
#: More records and runs than the admin page's tables show (50 and 15).
AUDIT_RECORDS, RUNS = 60, 17
LONG_ERROR = "ConnectorError: " + "the operator's file ended early; " * 100  # the table shows 300 characters
T0 = pd.Timestamp("2026-03-01 00:00:00.250", tz="UTC")


def _audit_records(store) -> None:
    for i in range(AUDIT_RECORDS):
        audit.record(store, f"admin{i}@example.com", audit.JOB_RUN_NOW, f"pull:nem #{i}", "10.0.0.7")


def _runs(store) -> None:
    """Finished backfills an hour apart (the newest failed with a long error), and a scheduled pull still running
    (no range, no finish) that is newest of all."""
    for i in range(RUNS - 1):
        started = T0 + pd.Timedelta(hours=i)
        jobs.JobRun(job=f"backfill:nem#{i}", market="NEM", run_id=f"run{i:02d}",
                    range_start=pd.Timestamp("2018-01-01", tz="UTC"), range_end=pd.Timestamp("2018-01-31", tz="UTC"),
                    status="failed" if i == RUNS - 2 else "succeeded", rows_read=1_234_567 + i, rows_written=1_234_000,
                    rows_rejected=567, progress_done=31, progress_total=31, started_at=started,
                    finished_at=started + pd.Timedelta(seconds=62.345),
                    error=LONG_ERROR if i == RUNS - 2 else "").save(store)
    jobs.JobRun(job="pull:nem", market="NEM", run_id="running", progress_done=1, progress_total=4,
                started_at=T0 + pd.Timedelta(days=2)).save(store)


def _read(csv: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)


# --- the engine's frames ----------------------------------------------------------------------------------------

def test_the_audit_export_holds_every_record_with_its_stamped_time_in_utc(store):
    _audit_records(store)
    stored = audit.recent(store, 1000)
    frame = audit.log_export(store)
    assert list(frame.columns) == AUDIT_COLUMNS
    assert len(frame) == AUDIT_RECORDS
    assert list(frame["detail"]) == [f"pull:nem #{i}" for i in reversed(range(AUDIT_RECORDS))], "newest first"
    assert set(frame["actor"]) == {f"admin{i}@example.com" for i in range(AUDIT_RECORDS)}
    assert set(frame["address"]) == {"10.0.0.7"}
    assert all(text.endswith("+00:00") and "T" in text for text in frame["at (UTC)"])
    assert [pd.Timestamp(text) for text in frame["at (UTC)"]] == list(stored["at"]), "to the millisecond"


def test_the_audit_export_is_not_cut_where_the_page_s_reads_are(store):
    """recent() bounds what it reads at 10,000 records; the export reads past that."""
    store.command("INSERT INTO audit_log (at, actor, action, detail, address) SELECT toDateTime64('2025-01-01', 3, "
                  "'UTC') + toIntervalSecond(number), 'cli', 'job run now', toString(number), 'console' "
                  "FROM numbers(10001)")
    assert len(audit.recent(store, 1_000_000)) == 10_000
    frame = audit.log_export(store)
    assert len(frame) == 10_001
    assert frame.iloc[-1].tolist() == ["2025-01-01T00:00:00+00:00", "cli", "job run now", "0", "console"]
    assert frame.iloc[0]["at (UTC)"] == "2025-01-01T02:46:40+00:00"


def test_the_runs_export_holds_every_run_with_whole_counts_and_unrounded_durations(store):
    _runs(store)
    frame = jobs.runs_export(store)
    assert list(frame.columns) == RUN_COLUMNS
    assert list(frame["run_id"]) == ["running", *(f"run{i:02d}" for i in reversed(range(RUNS - 1)))]
    running, failed, oldest = frame.iloc[0], frame.iloc[1], frame.iloc[-1]
    assert running[["job", "range_start (UTC)", "range_end (UTC)", "status", "finished_at (UTC)"]].tolist() == \
        ["pull:nem", "", "", "running", ""]
    assert running["started_at (UTC)"] == "2026-03-03T00:00:00.250000+00:00"
    assert pd.isna(running["duration (s)"])
    assert (failed["status"], failed["error"]) == ("failed", LONG_ERROR), "the whole error, not the table's 300"
    assert oldest.tolist() == ["backfill:nem#0", "2018-01-01T00:00:00+00:00", "2018-01-31T00:00:00+00:00",
                               "succeeded", 31, 31, 1_234_567, 1_234_000, 567, "2026-03-01T00:00:00.250000+00:00",
                               "2026-03-01T00:01:02.595000+00:00", 62.345, "", "run00"]
    assert all(frame[column].dtype == "int64" for column in RUN_COLUMNS[4:9])


def test_an_empty_store_exports_the_headers(store):
    for frame, columns in ((audit.log_export(store), AUDIT_COLUMNS), (jobs.runs_export(store), RUN_COLUMNS)):
        assert (list(frame.columns), len(frame)) == (columns, 0)


# --- the page and its callbacks ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(make_module_app):
    """One app with sign-in on, holding more audit records and runs than the page's tables show."""
    dash_app = make_module_app(auth=True)
    store = services(dash_app.server).ready_store()
    _audit_records(store)
    _runs(store)
    return dash_app


DOWNLOADS = {"admin-audit-download": ("audit_log_UTC.csv", "Audit log"),
             "admin-runs-download": ("job_runs_UTC.csv", "Recent runs")}


def _download(client, dash_app, ident: str):
    return post_callback(client, dash_app, callback_key(dash_app, f"{ident}.data"), {f"{ident}-btn.n_clicks": 1})


def test_each_table_heading_has_its_csv_button(site):
    page = next(p for p in dash.page_registry.values() if p["path"] == "/admin")
    with site.server.test_request_context():
        layout = page["layout"]()
    for ident, (_name, title) in DOWNLOADS.items():
        [heading] = [c for c in layout._traverse() if isinstance(getattr(c, "children", None), list)
                     and any(getattr(child, "id", None) == f"{ident}-btn" for child in c.children)]
        assert [type(c).__name__ for c in heading.children] == ["H5", "Button", "Download"]
        assert (heading.children[0].children, heading.children[1].children, heading.children[2].id) == \
            (title, "CSV", ident)


def _downloaded(site, client_as, ident: str) -> pd.DataFrame:
    """The CSV an admin's click downloads, read back as text, after checking its file name."""
    answer = assert_answered(_download(client_as(site, "admin"), site, ident), ident)
    data = answer["response"][ident]["data"]
    assert data["filename"] == DOWNLOADS[ident][0]
    return _read(data["content"])


def _rows_shown(site, table) -> int:
    with site.server.app_context():
        return len(table().children[1].children)


def _runs_shown() -> object:
    return runs_table(jobs.recent_runs(services().ready_store(), RUNS_SHOWN))


def test_the_audit_log_downloads_whole(site, client_as):
    assert _rows_shown(site, audit_table) == 50
    frame = _downloaded(site, client_as, "admin-audit-download")
    assert list(frame.columns) == AUDIT_COLUMNS
    assert [d for d in frame["detail"] if d.startswith("pull:nem #")] == \
        [f"pull:nem #{i}" for i in reversed(range(AUDIT_RECORDS))]
    assert all(text.endswith("+00:00") for text in frame["at (UTC)"])


def test_the_runs_download_whole(site, client_as):
    assert _rows_shown(site, _runs_shown) == RUNS_SHOWN == 15
    shown = post_callback(client_as(site, "admin"), site, callback_key(site, "admin-runs.children"),
                          {"admin-tick.n_intervals": 1, "bf-run-id.data": None})
    assert assert_answered(shown, "job tables")["response"]["admin-runs-download-btn"]["disabled"] is False
    frame = _downloaded(site, client_as, "admin-runs-download")
    assert list(frame.columns) == RUN_COLUMNS
    assert len(frame) == RUNS
    assert frame.iloc[-1].tolist() == ["backfill:nem#0", "2018-01-01T00:00:00+00:00", "2018-01-31T00:00:00+00:00",
                                       "succeeded", "31", "31", "1234567", "1234000", "567",
                                       "2026-03-01T00:00:00.250000+00:00", "2026-03-01T00:01:02.595000+00:00",
                                       "62.345", "", "run00"]
    assert frame.iloc[0][["finished_at (UTC)", "duration (s)"]].tolist() == ["", ""], "running: no finish yet"
    assert frame.iloc[1]["error"] == LONG_ERROR


@pytest.mark.parametrize("ident", DOWNLOADS)
@pytest.mark.parametrize("who", ["trader", "analyst", "partner", None], ids=lambda w: w or "nobody")
def test_only_an_admin_gets_a_download(site, client_as, ident, who):
    client = site.server.test_client() if who is None else client_as(site, who)
    answer = _download(client, site, ident)
    assert answer.status_code == (401 if who is None else 403)
    text = answer.get_data(as_text=True)
    assert DOWNLOADS[ident][0] not in text and "pull:nem" not in text and "backfill:nem" not in text


def test_a_store_with_no_runs_says_so_instead_of_a_bare_header(make_app):
    app = make_app()
    response = post_callback(app.server.test_client(), app, callback_key(app, "admin-runs.children"),
                             {"admin-tick.n_intervals": 1, "bf-run-id.data": None})
    answer = assert_answered(response, "job tables")["response"]
    assert "No job has run yet" in str(answer["admin-runs"]["children"])
    assert answer["admin-runs-download-btn"]["disabled"] is True  # nothing to download: the button says so
    from engine import training

    count = len(training.TRAINERS)
    assert f"({count} model{'' if count == 1 else 's'} registered)" in str(answer["admin-jobs"]["children"])
