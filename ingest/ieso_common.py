"""What the IESO report parsers share: the market's clock, checked numbers, and the table frames.

IESO reports count hours 1..24 ("hour ending") in Eastern Standard Time all year: there is no daylight
saving time in the market clock, so hour ending 1 of day D starts at D 00:00 EST = D 05:00 UTC on every
day of the year, including the days Toronto's wall clock changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd

from engine.files import IngestError
from engine.markets import market
from ingest.base import table_frame

IESO = market("IESO")
# The market clock keeps no daylight saving, so one offset converts every hour.
UTC_OFFSET_HOURS = -int(IESO.tz.utcoffset(datetime(2000, 1, 1)).total_seconds()) // 3600
ONTARIO = "ONTARIO"
# The IESO-administered market opened in 2002; anything far outside is a corrupt date, not a market day.
EARLIEST = pd.Timestamp("2000-01-01")
LATEST = pd.Timestamp("2100-12-31")
# What a published number looks like; Python's float() would also take '1_000', 'nan' or non-ASCII digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def interval_starts(
    dates: pd.Series | np.ndarray,
    hours: np.ndarray,
    intervals: np.ndarray | None = None,
    interval_minutes: int = 5,
) -> np.ndarray:
    """UTC interval starts (naive datetime64[ns] holding UTC; :func:`table` marks them UTC) from delivery
    dates (datetime64, midnight), hour ending 1..24 and, for sub-hourly reports, the interval number 1..n
    within that hour."""
    offset = (np.asarray(hours, dtype="int64") - 1 + UTC_OFFSET_HOURS) * 60
    if intervals is not None:
        offset = offset + (np.asarray(intervals, dtype="int64") - 1) * interval_minutes
    return np.asarray(dates, dtype="datetime64[ns]") + offset.astype("timedelta64[m]")


def refuse_first(source: str, bad: np.ndarray, lines: np.ndarray, problem: Callable[[int], str]) -> None:
    """If ``bad`` holds for any row, an IngestError at the file line of the first such row ``i`` (rows are
    numbered as ``lines``), saying ``problem(i)``."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise IngestError(source, int(lines[i]), problem(i))


def parse_hours(
    source: str, values: pd.Series, lines: np.ndarray, what: str = "hour", upper: int = 24
) -> np.ndarray:
    """Whole numbers 1..upper; anything else (blank, 25, '2X', 3.5) is an error naming the line."""
    text = values.astype(str).str.strip()
    ok = text.str.fullmatch(r"[0-9]{1,2}").to_numpy()
    numbers = np.zeros(len(text), dtype="int64")
    numbers[ok] = text[ok].astype("int64").to_numpy()
    ok &= (numbers >= 1) & (numbers <= upper)
    refuse_first(source, ~ok, lines, lambda i: f"{what} {text.iloc[i]!r} is not a whole number 1..{upper}")
    return numbers


def parse_dates(
    source: str, values: pd.Series, lines: np.ndarray, fmt: str = "%Y-%m-%d", what: str = "date"
) -> np.ndarray:
    text = values.astype(str).str.strip()
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = (parsed.isna() | (parsed < EARLIEST) | (parsed > LATEST)).to_numpy()
    refuse_first(source, bad, lines, lambda i: f"{what} {text.iloc[i]!r} is not a {fmt} date in "
                                               f"{EARLIEST:%Y}..{LATEST:%Y}")
    return parsed.to_numpy(dtype="datetime64[ns]")


def check_date(source: str, text: str, line: int | None, what: str) -> np.datetime64:
    """One yyyy-mm-dd date (from an XML element), within the years a market report can cover."""
    value = pd.to_datetime(text.strip(), format="%Y-%m-%d", errors="coerce")
    if pd.isna(value) or not EARLIEST <= value <= LATEST:
        raise IngestError(
            source, line, f"{what} {text.strip()!r} is not a yyyy-mm-dd date in {EARLIEST:%Y}..{LATEST:%Y}"
        )
    return np.datetime64(value.to_datetime64(), "ns")


def parse_numbers(source: str, values: pd.Series, lines: np.ndarray, what: str) -> np.ndarray:
    """Float64 values; a blank cell is NaN (the operator left it empty), any other non-number is an error."""
    return parse_number_block(source, values.to_frame(what), lines)[:, 0]


def parse_number_block(source: str, cells: pd.DataFrame, lines: np.ndarray) -> np.ndarray:
    """A rows x columns float64 block of numeric cells: a blank cell is NaN, any other non-number (text,
    'nan', 'inf', '1_000') is an error naming the file line and column."""
    raw = cells.to_numpy(dtype=object)
    numbers = pd.to_numeric(raw.ravel(), errors="coerce").astype("float64", copy=False).reshape(raw.shape)
    suspect = ~np.isfinite(numbers)
    if suspect.any():
        rows, cols = np.nonzero(suspect)
        for r, c in zip(rows, cols, strict=True):
            text = raw[r, c]
            if text is None or (isinstance(text, str) and not text.strip()):
                numbers[r, c] = np.nan
                continue
            raise IngestError(
                source, int(lines[r]), f"{cells.columns[c]} value {str(text).strip()!r} is not a number"
            )
    return numbers


def parse_number(source: str, text: str | None, line: int | None, what: str) -> float:
    """One value from an XML element: empty or missing is NaN, anything not a finite number is an error."""
    if text is None or not text.strip():
        return float("nan")
    value = float(text) if _NUMBER.fullmatch(text.strip()) else float("nan")
    if not np.isfinite(value):
        raise IngestError(source, line, f"{what} value {text.strip()!r} is not a number")
    return value


def reject_duplicates(source: str, keys: pd.DataFrame, lines: np.ndarray, what: str) -> None:
    def described(i: int) -> str:
        values = {c: keys.iloc[i][c] for c in keys.columns}
        return ", ".join(f"{c}={v:%Y-%m-%d}" if isinstance(v, pd.Timestamp) else f"{c}={v}" for c, v in values.items())

    refuse_first(source, keys.duplicated().to_numpy(), lines, lambda i: f"duplicated {what} ({described(i)})")


def table(name: str, source: str, columns: dict[str, object]) -> pd.DataFrame:
    """A frame with exactly the store's columns for ``name``, market IESO (see :func:`ingest.base.table_frame`)."""
    return table_frame(name, IESO.market, source, columns)
