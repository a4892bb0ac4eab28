"""Partner uploads checked against the declared schema: CSV and Parquet read into typed columns, and a bad file
refused with its line, column and problem."""
from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.marketplace.partners import MarketplaceError
from engine.marketplace.products import Column
from engine.marketplace import uploads
from engine.marketplace.uploads import read_upload
from tests.support.processes import all_ended, children, running

COLUMNS = (Column("time", "datetime"), Column("region", "text"), Column("mw", "float", "MW"),
           Column("units", "integer"))
GOOD = ("time,region,mw,units\n"
        "2026-03-01T00:00:00Z,SA1,-12.5,3\n"
        "2026-03-01T10:30:00+10:30,VIC1,1e3,4\n"
        "2026-03-01T01:00:00Z,,,\n")


def test_a_good_csv_becomes_typed_columns_in_utc():
    frame = read_upload(GOOD.encode(), "wind.csv", COLUMNS)
    assert list(frame.columns) == ["time", "region", "mw", "units"]
    assert list(frame["time"]) == list(pd.to_datetime(["2026-03-01T00:00Z", "2026-03-01T00:00Z",
                                                        "2026-03-01T01:00Z"], utc=True))
    assert frame["mw"].iloc[0] == -12.5 and frame["mw"].iloc[1] == 1000.0 and pd.isna(frame["mw"].iloc[2])
    assert str(frame["units"].dtype) == "Int64" and pd.isna(frame["region"].iloc[2])
    # columns in another order are fine; a BOM is fine
    shuffled = "\ufeffregion,units,mw,time\nSA1,1,2.0,2026-03-01T00:00:00Z\n"
    assert read_upload(shuffled.encode(), "x.csv", COLUMNS)["region"].iloc[0] == "SA1"


def test_parquet_is_read_the_same_way():
    frame = pd.DataFrame({"time": pd.to_datetime(["2026-03-01T00:00Z"], utc=True), "region": ["SA1"],
                          "mw": [1.5], "units": [2]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    read = read_upload(buffer.getvalue(), "wind.parquet", COLUMNS)
    assert read["mw"].iloc[0] == 1.5 and read["time"].iloc[0] == pd.Timestamp("2026-03-01", tz="UTC")
    naive = frame.assign(time=frame["time"].dt.tz_localize(None))
    buffer = io.BytesIO()
    naive.to_parquet(buffer)
    with pytest.raises(MarketplaceError, match="row 1, column time: a time without a time zone"):
        read_upload(buffer.getvalue(), "wind.parquet", COLUMNS)


@pytest.mark.parametrize(("body", "message"), [
    ("time,region,mw\n2026-03-01T00:00:00Z,SA1,1\n", "line 1: the columns must be the declared ones .*missing units"),
    ("time,region,mw,units,extra\n", "not declared extra"),
    (GOOD + "2026-03-01 02:00,SA1,1,1\n", "line 5, column time: a time needs its UTC offset"),
    (GOOD + "yesterday Z,SA1,1,1\n", "line 5, column time: not an ISO 8601 time"),
    (GOOD + "2026-03-01T02:00:00Z,SA1,lots,1\n", "line 5, column mw: not a finite number"),
    (GOOD + "2026-03-01T02:00:00Z,SA1,inf,1\n", "line 5, column mw: not a finite number"),
    (GOOD + "2026-03-01T02:00:00Z,SA1,1,1.5\n", "line 5, column units: not a whole number"),
    (GOOD + ",SA1,1,1\n", "line 5, column time: a time is needed"),
    ("", "empty"),
])
def test_a_bad_file_is_refused_with_its_line_and_problem(body, message):
    with pytest.raises(MarketplaceError, match=message):
        read_upload(body.encode(), "wind.csv", COLUMNS)


def test_not_utf8_and_not_csv_or_parquet_are_refused():
    with pytest.raises(MarketplaceError, match="line 2: not UTF-8"):
        read_upload(b"time,region,mw,units\n\xff\xfe,SA1,1,1\n", "x.csv", COLUMNS)
    with pytest.raises(MarketplaceError, match=".csv or .parquet"):
        read_upload(b"hello", "x.xlsx", COLUMNS)
    with pytest.raises(MarketplaceError, match="Parquet"):
        read_upload(b"PAR1 broken", "x.parquet", COLUMNS)


ROW = "2026-03-01T00:00:00Z,SA1,1.5,3"


@pytest.mark.parametrize(("body", "message"), [
    # a surplus leading field was taken for pandas' index: "EXTRA" lost, the row stored shifted back
    (f"time,region,mw,units\nEXTRA,{ROW}\n", "line 2 has 5 fields, the header has 4"),
    (f"time,region,mw,units\nEXTRA,{ROW}\n{ROW}\n", "line 2 has 5 fields, the header has 4"),
    (f"time,region,mw,units\n{ROW}\nEXTRA,{ROW}\n", "line 3 has 5 fields, the header has 4"),
    (f"time,region,mw,units\n{ROW},\n{ROW},X\n", "line 3 has 5 fields, the header has 4"),
    (f"time,region,mw,units\n{ROW},\n{ROW},,\n", "line 3 has 6 fields, the header has 4"),
])
def test_a_row_with_more_fields_than_the_header_is_refused_with_its_line(body, message):
    with pytest.raises(MarketplaceError, match=f"^{message}$"):
        read_upload(body.encode(), "wind.csv", COLUMNS)


def test_a_comma_ending_every_line_is_an_empty_field_and_nothing_is_lost():
    for ending in (",", ",,"):
        body = "time,region,mw,units\n" + "".join(f"2026-03-01T0{h}:00:00Z,SA{h},{h}.5,{h}{ending}\n"
                                                  for h in range(3))
        frame = read_upload(body.encode(), "wind.csv", COLUMNS)
        assert list(frame["region"]) == ["SA0", "SA1", "SA2"] and list(frame["units"]) == [0, 1, 2]
        assert list(frame["time"]) == list(pd.date_range("2026-03-01", periods=3, freq="h", tz="UTC"))


def _parquet_of(**columns) -> bytes:
    frame = pd.DataFrame({"time": pd.to_datetime(["2026-03-01T00:00Z"], utc=True), "region": ["SA1"],
                          "mw": [1.5], "units": [2], **columns})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("columns", "message"), [
    ({"region": [b"\xff\xfe"]}, r"row 1, column region: not UTF-8 text \(got b'\\xff\\xfe'\)"),
    ({"time": [b"\xff"]}, "row 1, column time: not UTF-8 text"),
    ({"region": [[1, 2]]}, "column region: one value per row is needed, not a list"),
    ({"mw": [{"a": 1.0}]}, "column mw: one value per row is needed, not a struct"),
    ({"mw": pd.to_datetime(["2026-03-01"])}, "row 1, column mw: a time, not a number"),
    ({"units": pd.to_timedelta(["1h"])}, "row 1, column units: a time, not a number"),
])
def test_a_parquet_value_of_the_wrong_kind_is_refused_naming_its_column(columns, message):
    with pytest.raises(MarketplaceError, match=message):
        read_upload(_parquet_of(**columns), "wind.parquet", COLUMNS)
    assert read_upload(_parquet_of(region=[b"SA1"]), "wind.parquet", COLUMNS)["region"].iloc[0] == "SA1"


@pytest.mark.parametrize("time", ["1949-12-31T23:59:59Z", "2100-12-31T00:00:00Z", "1700-01-01T00:00:00Z"])
def test_a_time_the_product_api_could_never_serve_is_refused(time):
    said = "line 2, column time: a time from 1950-01-01T00:00Z to before 2100-12-31T00:00Z"
    with pytest.raises(MarketplaceError, match=said):
        read_upload(f"time,region,mw,units\n{time},SA1,1,1\n".encode(), "wind.csv", COLUMNS)
    stamps = pd.DatetimeIndex(np.array([time.rstrip("Z")], dtype="datetime64[us]")).tz_localize("UTC")
    with pytest.raises(MarketplaceError, match="row 1, column time: a time from 1950-01-01T00:00Z"):
        read_upload(_parquet_of(time=stamps), "wind.parquet", COLUMNS)


def test_the_first_and_last_plausible_instants_are_taken():
    body = "time,region,mw,units\n1950-01-01T00:00:00Z,SA1,1,1\n2100-12-30T23:59:59Z,SA1,1,1\n"
    assert len(read_upload(body.encode(), "wind.csv", COLUMNS)) == 2


def test_a_large_file_is_read_in_a_child_process_with_the_same_checks(monkeypatch, caplog):
    """Read in the serving process, a 144 MB file held the GIL for seconds at a stretch (no other request was
    answered) and 1.3 GB; above IN_PROCESS_BYTES a spawned child reads it: the same frame, the same refusals."""
    monkeypatch.setattr(uploads, "IN_PROCESS_BYTES", 64)
    body = (GOOD + "2026-03-01T02:00:00Z,NSW1,7.25,5\n").encode()
    assert len(body) > uploads.IN_PROCESS_BYTES
    with caplog.at_level(logging.INFO, logger="engine.marketplace.uploads"):
        frame = uploads.checked_upload(body, "wind.csv", COLUMNS)
    pd.testing.assert_frame_equal(frame, read_upload(body, "wind.csv", COLUMNS))
    read_by = [int(m) for m in re.findall(r"in child process (\d+)", caplog.text)]
    assert read_by and read_by[0] != os.getpid(), caplog.text
    with pytest.raises(MarketplaceError, match="line 6, column mw: not a finite number"):
        uploads.checked_upload(body + b"2026-03-01T03:00:00Z,SA1,lots,1\n", "wind.csv", COLUMNS)
    caplog.clear()
    with pytest.raises(MarketplaceError, match="line 1: the columns must be the declared ones .*missing units"):
        uploads.checked_upload(b"time,region,mw\n", "wind.csv", COLUMNS)  # under the bound: read here
    assert "child process" not in caplog.text


def test_the_reading_process_ends_when_the_serving_process_is_killed():
    """A serving process killed while a child reads its upload (gunicorn kills a worker past its graceful
    timeout) must not leave the child reading on, orphaned."""
    serving = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import numpy as np, pandas as pd
        from engine.marketplace import uploads
        from engine.marketplace.products import Column
        n = 4_000_000  # some 11 s to read: far longer than the child may outlive its parent
        times = pd.date_range("2020-01-01", periods=n, freq="5min", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        body = pd.DataFrame({"time": times, "mw": np.arange(n) % 97}).to_csv(index=False).encode()
        print("reading", flush=True)
        uploads.checked_upload(body, "big.csv", [Column("time", "datetime"), Column("mw", "float")])
    """)], cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    try:
        assert serving.stdout.readline().strip() == "reading"
        deadline = time.monotonic() + 30
        while not (readers := children(serving.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # the child is started and reading
        readers = children(serving.pid)
        assert readers and all(running(pid) for pid in readers)
    finally:
        serving.kill()
        serving.wait()
    assert all_ended(readers, seconds=8)  # at most the longest stretch pandas holds the GIL (3 s at this size)
