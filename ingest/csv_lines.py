"""Operators' CSV text as physical lines, so every problem is reported at the line it is on.

``read_csv`` alone pads a short row with blanks and loses line numbers once blank lines are skipped, so the
lines of a file are first found with numpy over its bytes (:class:`CsvLines`: byte offsets, blank lines,
field counts outside quotes); only then are chosen lines handed to a CSV reader in one piece: pandas'
``read_csv`` through :meth:`CsvLines.rows` (numbers parsed by its C parser when they all are numbers,
otherwise everything as text so the check below can name the bad line), or Arrow's reader for NEM's
reports (:mod:`ingest.nem.columns`). :class:`Rows` keeps each row's line number for the value checks that
follow (numbers, dates, duplicates).
"""
from __future__ import annotations

import csv
import functools
import io
import re
from typing import NoReturn

import numpy as np
import pandas as pd

from engine.files import IngestError, RawFile, decode_text

_QUOTE = ord('"')
_NEWLINE = ord("\n")
_CR = ord("\r")
_BOM = b"\xef\xbb\xbf"


class CsvLines:
    """The physical lines of one text report (CRLF or LF line ends) as byte offsets into its UTF-8 bytes.

    ``starts[i]``..``ends[i]`` is line i's content, ``stops[i]`` its line break (or the end of the data);
    ``blank[i]`` is true for an empty line or one of spaces and tabs. A lone CR is an error, unless
    ``lone_cr_ends_line`` (old Mac line ends, which some older exports have). Refuses empty, binary and
    undecodable files (:func:`engine.files.decode_text`) and NUL bytes.
    """

    def __init__(self, raw: RawFile, sep: str = ",", encodings: tuple[str, ...] = ("utf-8-sig",), *,
                 lone_cr_ends_line: bool = False):
        self.source = raw.name
        self.sep = sep
        text = decode_text(raw, encodings)
        if text.isascii():  # the bytes already are the text (minus a BOM): spare an encode
            data = raw.data[len(_BOM):] if raw.data.startswith(_BOM) else raw.data
        else:
            data = text.encode("utf-8")
        nul = data.find(b"\x00")
        if nul >= 0:
            self.fail(self.line_of_offset(nul, data), "NUL byte in a text report")
        arr = np.frombuffer(data, dtype=np.uint8)
        if b"\r" in data:
            carriage = np.flatnonzero(arr == _CR)
            lone = (carriage + 1 >= len(arr)) | (arr[np.minimum(carriage + 1, len(arr) - 1)] != _NEWLINE)
            if lone.any() and lone_cr_ends_line:
                data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                arr = np.frombuffer(data, dtype=np.uint8)
            elif lone.any():
                self.fail(self.line_of_offset(int(carriage[lone][0]), data),
                          "carriage return inside a line (only CRLF or LF line ends are allowed)")
        self.data, self.arr = data, arr
        newlines = np.flatnonzero(arr == _NEWLINE)
        starts = np.concatenate(([0], newlines + 1))
        stops = np.concatenate((newlines, [len(data)]))
        if starts[-1] == len(data):  # the data ends with a line break: there is no line after it
            starts, stops = starts[:-1], stops[:-1]
        ends = stops
        if b"\r" in data:
            ends = stops - ((stops > starts) & (arr[np.maximum(stops - 1, 0)] == _CR))
        self.starts, self.stops, self.ends = starts, stops, ends
        blank = ends == starts
        first = self.first
        for i in np.flatnonzero(((first == 32) | (first == 9)) & ~blank):  # rare: decide one by one
            blank[i] = not self.text(int(i)).strip(" \t")
        self.blank = blank

    def __len__(self) -> int:
        return len(self.starts)

    def fail(self, line: int | None, problem: str) -> NoReturn:
        """Raise the IngestError for ``problem`` at (1-based) ``line`` of this file."""
        raise IngestError(self.source, line, problem)

    def line_of_offset(self, offset: int, data: bytes | None = None) -> int:
        return (self.data if data is None else data).count(b"\n", 0, offset) + 1

    @functools.cached_property
    def first(self) -> np.ndarray:
        """The first byte of every line (0 for an empty one)."""
        return np.where(self.ends > self.starts, self.arr[np.minimum(self.starts, max(len(self.arr) - 1, 0))], 0)

    @functools.cached_property
    def field_counts(self) -> np.ndarray:
        """Fields per line, counting separators outside double quotes; a line with an odd number of quotes
        is an error at that line."""
        seps = np.flatnonzero(self.arr == ord(self.sep))
        quotes = np.flatnonzero(self.arr == _QUOTE)
        if len(quotes):
            per_line = np.searchsorted(quotes, self.ends) - np.searchsorted(quotes, self.starts)
            odd = np.flatnonzero(per_line % 2)
            if len(odd):
                self.fail(int(odd[0]) + 1, "unbalanced double quote")
            # Every line's quotes pair up, so an even count of quotes before a separator means "outside".
            seps = seps[np.searchsorted(quotes, seps) % 2 == 0]
        return np.searchsorted(seps, self.ends) - np.searchsorted(seps, self.starts) + 1

    def text(self, i: int) -> str:
        """Line ``i`` (0-based) as text."""
        return self.data[self.starts[i]:self.ends[i]].decode("utf-8", errors="replace")

    def fields(self, i: int) -> list[str]:
        """Line ``i`` split into fields, quotes removed."""
        try:
            return next(csv.reader([self.text(i)], delimiter=self.sep))
        except (csv.Error, StopIteration) as exc:
            self.fail(i + 1, f"unreadable line ({exc})")

    def block(self, first: int, last: int) -> bytes:
        """The bytes of lines first..last (inclusive), line breaks included."""
        return self.data[self.starts[first]:self.stops[last] + 1]

    def data_lines(self, header: int = 0) -> np.ndarray:
        """The non-blank lines after the header line ``header``; none is an error."""
        data = np.flatnonzero(~self.blank[header + 1:]) + header + 1
        if not len(data):
            self.fail(None, "no data rows")
        return data

    def first_bytes(self, k: int) -> np.ndarray:
        """The first ``k`` bytes of every line as a (lines, k) array, zero past a line's end."""
        out = np.zeros((len(self), k), dtype=np.uint8)
        pos = self.starts[:, None] + np.arange(k)
        inside = pos < self.ends[:, None]
        out[inside] = self.arr[pos[inside]]
        return out

    def rows(self, idx: np.ndarray, names: list[str], keep: list[str] | None = None,
             floats: tuple[str, ...] | list[str] = ()) -> Rows:
        """Lines ``idx`` (0-based, ascending) with columns ``names`` (only ``keep`` if given), as strings
        except ``floats``, which the C parser reads as numbers (blank -> NaN) when it can."""
        idx = np.asarray(idx, dtype=np.int64)
        wrong = np.flatnonzero(self.field_counts[idx] != len(names))
        if len(wrong):
            i = int(idx[wrong[0]])
            self.fail(i + 1, f"{self.field_counts[i]} fields where the header has {len(names)}")
        positions = [names.index(k) for k in keep] if keep else list(range(len(names)))
        if len(idx) == 0:
            frame = pd.DataFrame({names[p]: pd.Series(dtype=object) for p in positions})
            return Rows(self.source, frame, idx + 1)
        first, last = int(idx[0]), int(idx[-1])
        if last - first + 1 == len(idx):
            block = self.data[self.starts[first]:self.ends[last]]  # one slice: the lines are contiguous
        else:
            block = b"\n".join(self.data[self.starts[i]:self.ends[i]] for i in idx)
        numeric = {names.index(f) for f in floats} & set(positions)

        def read(as_numbers: set[int]) -> pd.DataFrame:
            return pd.read_csv(io.BytesIO(block), sep=self.sep, header=None, names=list(range(len(names))),
                               usecols=positions, keep_default_na=False, na_values={p: [""] for p in as_numbers},
                               dtype={p: ("float64" if p in as_numbers else "object") for p in positions},
                               skip_blank_lines=True, engine="c", encoding="utf-8")

        try:
            try:
                frame = read(numeric)
            except ValueError:  # a value that is not a number: read text, so the check names its line
                frame = read(set())
        except (pd.errors.ParserError, ValueError, csv.Error) as exc:
            self.fail(None, f"unreadable CSV ({exc})")
        if len(frame) != len(idx):
            self.fail(None, f"read {len(frame)} rows from {len(idx)} lines")
        frame.columns = [names[p] for p in frame.columns]
        return Rows(self.source, frame, idx + 1)


class Rows:
    """Rows of strings and the physical line (1-based) each came from."""

    def __init__(self, source: str, frame: pd.DataFrame, line_no: np.ndarray):
        self.source, self.frame, self.line_no = source, frame, line_no

    def __len__(self) -> int:
        return len(self.frame)

    def fail(self, mask: np.ndarray, problem: str, column: str | None = None) -> None:
        """Raise for the first row where ``mask`` holds, quoting its value in ``column`` if given."""
        idx = np.flatnonzero(mask)
        if len(idx):
            if column is not None:
                value = self.frame[column].iloc[idx[0]]
                problem = f"{problem}: {column}={value!r}" if isinstance(value, str) else f"{problem}: {column}={value}"
            raise IngestError(self.source, int(self.line_no[idx[0]]), problem)

    def text(self, column: str) -> pd.Series:
        """The column with surrounding blanks removed (stripping each distinct value once)."""
        codes, uniques = pd.factorize(self.frame[column])
        if not len(uniques):
            return pd.Series([], dtype=object)
        return pd.Series(pd.Index(uniques).str.strip().to_numpy(dtype=object)[codes], dtype=object)

    def matches(self, column: str, pattern: str) -> np.ndarray:
        """Whether each (stripped) value fully matches ``pattern``, testing each distinct value once."""
        codes, uniques = pd.factorize(self.text(column))
        if not len(uniques):
            return np.zeros(0, dtype=bool)
        return pd.Series(uniques, dtype=object).str.fullmatch(pattern).to_numpy(dtype=bool)[codes]

    def numbers(self, column: str, decimal_comma: bool = False) -> np.ndarray:
        """Floats; a blank is NaN, anything else that is not a finite number is an error at its line."""
        column_values = self.frame[column]
        if column_values.dtype == np.float64:  # already parsed by read_csv; only infinities to refuse
            values = column_values.to_numpy(copy=True)
            self.fail(np.isinf(values), "not a finite number", column)
            return values
        text = column_values
        if decimal_comma:
            text = text.str.replace(_COMMA_DECIMAL, _dot_decimal, regex=True)
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            # Only the failures pay for the blank test; most files have none.
            blank = np.zeros(len(values), dtype=bool)
            blank[bad] = (text[bad].str.strip() == "").to_numpy()
            self.fail(bad & ~blank, "not a number", column)
            values[blank] = np.nan
        return values

    def whole_numbers(self, column: str, low: int, high: int) -> np.ndarray:
        text = self.text(column)
        self.fail(~self.matches(column, r"\d{1,9}"), "not a whole number", column)
        values = text.astype(np.int64).to_numpy()
        self.fail((values < low) | (values > high), f"outside {low}..{high}", column)
        return values

    def check_unique(self, keys: dict[str, np.ndarray], what: str, column: str | None = None) -> None:
        """A repeated key is an error at the line where it repeats."""
        self.fail(pd.DataFrame(keys).duplicated().to_numpy(), f"{what} appears twice", column)

    def take(self, positions: np.ndarray) -> Rows:
        return Rows(self.source, self.frame.iloc[positions].reset_index(drop=True), self.line_no[positions])


# A decimal comma, optionally with dots grouping thousands: "205,25", "1.102,02".
_COMMA_DECIMAL = r"^\s*(-?(?:\d{1,3}(?:\.\d{3})+|\d+)),(\d+)\s*$"


def _dot_decimal(m: re.Match[str]) -> str:
    return m.group(1).replace(".", "") + "." + m.group(2)


def header_names(lines: CsvLines, i: int, lower: bool = True) -> list[str]:
    """Column names from header line ``i``; a name given twice is an error (lookups are by name)."""
    names = [n.strip().lower() if lower else n.strip() for n in lines.fields(i)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        lines.fail(i + 1, f"column(s) {dup} appear twice in the header")
    return names


def require(lines: CsvLines, names: list[str], required: list[str] | tuple[str, ...], what: str,
            line: int = 1) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        lines.fail(line, f"{what} lacks column(s) {missing}; header is {names}")
