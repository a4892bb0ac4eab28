"""NEM time: AEMO's ``YYYY/MM/DD HH:MM:SS`` stamps (interval ENDS in NEM time, UTC+10 all year) read from
bytes, and the interval lengths the market used.

The stamps are checked strictly and computed from the digits of one byte matrix (no per-value parsing;
Arrow's own parser would roll 30 February over into March).
"""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

from engine.markets import market
from ingest.base import PLAUSIBLE_YEARS
from ingest.csv_lines import CsvLines

NEM = market("NEM")
# NEM time keeps no daylight saving, so one offset converts every stamp.
UTC_OFFSET = np.timedelta64(int(NEM.tz.utcoffset(datetime(2000, 1, 1)).total_seconds()), "s")
# Five-minute settlement began with the trading day of 1 Oct 2021, which starts at 04:00 NEM time: trading
# intervals ending after this instant are 5 minutes long, those ending at or before it 30 minutes.
FIVE_MINUTE_SETTLEMENT_AFTER = np.datetime64("2021-10-01T04:00:00", "ns")

DATE_EXAMPLE = "2018/01/01 00:30:00"
DATE_FORMAT = "%Y/%m/%d %H:%M:%S"
DATE_WIDTH = len(DATE_EXAMPLE)
_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_DATE_SEPARATORS = {4: ord("/"), 7: ord("/"), 10: ord(" "), 13: ord(":"), 16: ord(":")}
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)  # [0]: no month
_DAYS_BEFORE_MONTH = np.cumsum(np.concatenate(([0], _DAYS_IN_MONTH[:-1]))).astype(np.int64)
_DAYS_TO_1970 = 719_162  # days from 0001-01-01 to 1970-01-01


def trading_minutes(ends: np.ndarray) -> np.ndarray:
    """The length of the trading intervals ending at ``ends`` (NEM time): 30 minutes, 5 from 5-minute
    settlement on."""
    return np.where(ends > FIVE_MINUTE_SETTLEMENT_AFTER, 5, 30).astype(np.int16)


def interval_starts_utc(ends: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """UTC interval starts (naive datetime64[ns]) of intervals ending at ``ends`` in NEM time."""
    return (ends - minutes.astype("timedelta64[m]") - UTC_OFFSET).astype("datetime64[ns]")


def is_stamp(value: str) -> bool:
    if len(value) != DATE_WIDTH:
        return False
    try:
        return datetime.strptime(value, DATE_FORMAT).strftime(DATE_FORMAT) == value
    except ValueError:
        return False


def stamps(lines: CsvLines, column: pa.ChunkedArray, idx: np.ndarray, col: str) -> np.ndarray:
    """``YYYY/MM/DD HH:MM:SS`` values (Arrow fixed-width binary, read from lines ``idx``) as datetime64[ns]
    (NaT where empty); a value that is not such a date-time is an error at its line."""
    array = column.combine_chunks()
    n = len(array)
    valid = ~array.is_null().to_numpy(zero_copy_only=False)
    matrix = np.frombuffer(array.buffers()[1], dtype=np.uint8, count=n * DATE_WIDTH,
                           offset=array.offset * DATE_WIDTH).reshape(n, DATE_WIDTH)
    digits = matrix[:, _DATE_DIGITS] - np.uint8(48)  # a byte that is not a digit wraps round to above 9
    ok = (digits <= 9).all(axis=1)
    for at, byte in _DATE_SEPARATORS.items():
        ok &= matrix[:, at] == byte
    pairs = digits[:, 0::2].astype(np.int32) * 10 + digits[:, 1::2]  # century, year, month, day, h, m, s
    year = pairs[:, 0] * 100 + pairs[:, 1]
    month, day, hour, minute, second = (pairs[:, i] for i in range(2, 7))
    month_at = np.clip(month, 0, 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    ok &= ((month >= 1) & (month <= 12) & (day >= 1) & (day <= _DAYS_IN_MONTH[month_at] + (leap & (month == 2)))
           & (hour < 24) & (minute < 60) & (second < 60))
    bad = np.flatnonzero(valid & ~ok)
    if len(bad):
        shown = array[int(bad[0])].as_py().decode("utf-8", errors="replace")
        lines.fail(int(idx[bad[0]]) + 1, f"{col} {shown!r} is not a date-time like {DATE_EXAMPLE}")
    odd = np.flatnonzero(valid & ((year < PLAUSIBLE_YEARS[0]) | (year > PLAUSIBLE_YEARS[1])))
    if len(odd):
        lines.fail(int(idx[odd[0]]) + 1, f"{col} year {year[odd[0]]} is not plausible for NEM data")
    y = year.astype(np.int64) - 1  # days since 1970-01-01 in the proleptic Gregorian calendar
    days = (y * 365 + y // 4 - y // 100 + y // 400 - _DAYS_TO_1970 + _DAYS_BEFORE_MONTH[month_at]
            + (leap & (month > 2)) + day - 1)
    out = ((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000_000).view("datetime64[ns]")
    out[~valid] = np.datetime64("NaT")
    return out
