"""A partner's upload checked against its product's declared schema, before anything is stored.

CSV (UTF-8, a header row naming exactly the declared columns, in any order) or Parquet (the declared columns,
types convertible). Every value is checked: a datetime must carry its UTC offset (or ``Z``) so no instant is
ambiguous, a float or integer must be a finite number, text at most MAX_TEXT characters. The first problem found
is reported with its line (CSV: the file's line number, header = line 1; Parquet: the row, first = 1) and column,
and nothing of the file is kept: a file is stored whole or not at all.
"""
from __future__ import annotations

import io
import logging
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.marketplace.partners import MarketplaceError
from engine.marketplace.products import Column
from engine.queries import PRODUCT_INSTANTS
from engine.workers import exit_with_parent

log = logging.getLogger(__name__)
MAX_BYTES = 200 * 1024 * 1024
MAX_ROWS = 5_000_000
MAX_TEXT = 10_000
#: A file larger than this is read in a spawned child process. Read in the serving process, a 144 MB CSV of
#: 4 million rows took 11 s, held the GIL for up to 2.8 s at a stretch (pandas' ISO 8601 parse), in which no other
#: request of the process was answered, and 1.3 GB at its peak; read apart, the serving process's longest stretch
#: was 0.16 s and its peak 0.34 GB (the bytes sent, the checked frame taken back). Below this a read takes under
#: 0.3 s, about what starting a child costs.
IN_PROCESS_BYTES = 4 * 1024 * 1024
#: One large file read at a time per serving process: on two cores the other stays the pages'.
_READING_APART = threading.BoundedSemaphore(1)


def checked_upload(data: bytes, filename: str, columns: Sequence[Column]) -> pd.DataFrame:
    """``read_upload``, in this process for a small file and in a spawned child for a large one (the same
    checks and messages either way)."""
    if len(data) <= IN_PROCESS_BYTES:
        return read_upload(data, filename, columns)
    with _READING_APART:
        started = time.perf_counter()
        context = multiprocessing.get_context("spawn")  # a fork would copy the store's handles and threads
        # the child ends with this process, however it ends (gunicorn kills a worker past its graceful timeout)
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=exit_with_parent) as pool:
            try:
                pid, frame = pool.submit(_read_in_child, data, filename, list(columns)).result()
            except BrokenProcessPool as exc:  # killed (the OOM killer): the upload fails, the server goes on
                raise MarketplaceError("the file could not be read: the process reading it ended") from exc
        log.info("read an upload of %.1f MB (%d rows) in child process %d in %.1f s", len(data) / 2**20, len(frame),
                 pid, time.perf_counter() - started)
        return frame


def _read_in_child(data: bytes, filename: str, columns: list[Column]) -> tuple[int, pd.DataFrame]:
    return os.getpid(), read_upload(data, filename, columns)


def read_upload(data: bytes, filename: str, columns: Sequence[Column]) -> pd.DataFrame:
    """The upload as a frame with the declared columns, in declared order and types (datetimes as UTC);
    MarketplaceError naming the line and the problem otherwise."""
    if not data:
        raise MarketplaceError("the file is empty")
    if len(data) > MAX_BYTES:
        raise MarketplaceError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    name = (filename or "").lower()
    if name.endswith(".parquet") or data[:4] == b"PAR1":
        raw, first_line, where = _parquet(data), 1, "row"
    elif name.endswith(".csv") or not name:
        raw, first_line, where = _csv(data), 2, "line"
    else:
        raise MarketplaceError("upload a .csv or .parquet file")
    declared = [c.name for c in columns]
    header = [str(c) for c in raw.columns]
    missing = [c for c in declared if c not in header]
    extra = [c for c in header if c not in declared]
    if missing or extra or len(set(header)) != len(header):
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"not declared {', '.join(extra)}"]
                                                                          if extra else [])
        raise MarketplaceError(f"{where} 1: the columns must be the declared ones "
                               f"({', '.join(declared)}): {'; '.join(parts) or 'a column is repeated'}")
    if len(raw) > MAX_ROWS:
        raise MarketplaceError(f"at most {MAX_ROWS:,} rows per upload")
    out = {}
    for column in columns:
        try:
            out[column.name] = _convert(raw[column.name], column, first_line, where)
        except MarketplaceError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:  # a value of a kind no check below foresaw
            raise MarketplaceError(f"column {column.name}: its values cannot be read as {column.type} "
                                   f"({type(exc).__name__})") from None
    return pd.DataFrame(out, columns=declared)


def _csv(data: bytes) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MarketplaceError(f"line {line}: not UTF-8 text") from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as exc:
        counts = _FIELD_COUNTS.search(str(exc))
        if counts:
            header = len(pd.read_csv(io.StringIO(text), nrows=0).columns)
            raise MarketplaceError(f"line {counts['line']} has {counts['saw']} fields, the header has {header}"
                                   ) from None
        raise MarketplaceError(f"not a CSV file the columns of which line up: {exc}") from None
    except pd.errors.EmptyDataError:
        raise MarketplaceError("line 1: no header row") from None
    return frame if isinstance(frame.index, pd.RangeIndex) else _without_empty_surplus(frame)


#: pandas' words for a row longer than the first: the file's line (header = 1) and its fields
_FIELD_COUNTS = re.compile(r"Expected \d+ fields in line (?P<line>\d+), saw (?P<saw>\d+)")


def _without_empty_surplus(frame: pd.DataFrame) -> pd.DataFrame:
    """A file whose first row has more fields than the header, as pandas reads it: the surplus leading fields
    taken for an index, every field shifted left by as many. Kept (shifted back) only when every surplus field is
    empty, as a comma at the end of each line (a spreadsheet's export) leaves them; a value in one would be lost,
    so the file is refused naming the first line that holds one."""
    header = [str(c) for c in frame.columns]
    surplus = frame.index.nlevels
    fields = [frame.index.get_level_values(i).to_numpy() for i in range(surplus)] + \
             [frame.iloc[:, j].to_numpy() for j in range(len(header))]
    held = np.column_stack([pd.notna(f) for f in fields[len(header):]])
    if held.any():
        row = int(np.flatnonzero(held.any(axis=1))[0])
        count = len(header) + int(np.flatnonzero(held[row])[-1]) + 1
        raise MarketplaceError(f"line {row + 2} has {count} fields, the header has {len(header)}")
    kept = pd.DataFrame(dict(enumerate(fields[:len(header)])))
    kept.columns = header  # positions first: a repeated name is kept for read_upload to refuse
    return kept


def _parquet(data: bytes) -> pd.DataFrame:
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise MarketplaceError(f"not a readable Parquet file: {exc}") from None
    for found in table.schema:
        if pa.types.is_nested(found.type):  # pandas would hand each over as an array, then as its printout
            raise MarketplaceError(f"column {found.name}: one value per row is needed, not a {found.type}")
    try:
        return table.to_pandas()
    except Exception as exc:  # a column pandas cannot hold (an extension type of another library)
        raise MarketplaceError(f"not a Parquet file of plain columns: {exc}") from None


def _convert(values: pd.Series, column: Column, first_line: int, where: str) -> pd.Series:
    missing = values.isna().to_numpy()

    def fail(at: np.ndarray, problem: str):
        row = int(np.flatnonzero(at)[0])
        shown = repr(values.iloc[row])[:60]
        raise MarketplaceError(f"{where} {row + first_line}, column {column.name}: {problem} (got {shown})")

    if column.type == "datetime":
        if pd.api.types.is_datetime64_any_dtype(values):
            if getattr(values.dt, "tz", None) is None:
                fail(np.ones(len(values), dtype=bool), "a time without a time zone")
            parsed = values.dt.tz_convert("UTC")
        else:
            text = _text(values, fail)
            zoned = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=True).to_numpy(dtype=bool)
            if (~zoned & ~missing).any():
                fail(~zoned & ~missing, "a time needs its UTC offset or Z (e.g. 2026-03-01T00:00:00Z)")
            parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        bad = parsed.isna().to_numpy() & ~missing
        if bad.any():
            fail(bad, "not an ISO 8601 time")
        if missing.any():
            fail(missing, "a time is needed")
        # the product API reads only these years: a row outside them would be stored and never served
        first, end = PRODUCT_INSTANTS
        outside = ((parsed < first) | (parsed >= end)).to_numpy(dtype=bool)
        if outside.any():
            fail(outside, f"a time from {first:%Y-%m-%dT%H:%MZ} to before {end:%Y-%m-%dT%H:%MZ} is needed")
        return parsed.astype("datetime64[ms, UTC]")
    if column.type in ("float", "integer"):
        if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
            fail(~missing, "a time, not a number")  # read as one, it would be nanoseconds
        numbers = pd.to_numeric(values, errors="coerce")
        bad = (numbers.isna().to_numpy() & ~missing) | ~np.isfinite(numbers.fillna(0).to_numpy(dtype=float))
        if bad.any():
            fail(bad, "not a finite number")
        if column.type == "integer":
            whole = numbers.fillna(0).to_numpy(dtype=float)
            if (whole != np.round(whole)).any() or (np.abs(whole) > 2**53).any():
                fail((whole != np.round(whole)) | (np.abs(whole) > 2**53), "not a whole number")
            return numbers.astype("Int64")
        return numbers.astype("float64")
    text = _text(values, fail)
    long = (text.str.len().fillna(0) > MAX_TEXT).to_numpy(dtype=bool)
    if long.any():
        fail(long, f"text longer than {MAX_TEXT:,} characters")
    return text


def _text(values: pd.Series, fail) -> pd.Series:
    """``values`` as text. A Parquet column of bytes holds them as written: each must be UTF-8."""
    try:
        return values.astype("string")
    except UnicodeDecodeError:
        fail(np.array([_not_utf8(v) for v in values], dtype=bool), "not UTF-8 text")
        raise  # every value decoded one by one: the whole column did not, so something else is wrong


def _not_utf8(value: object) -> bool:
    if not isinstance(value, bytes | bytearray):
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
