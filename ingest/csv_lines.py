"""Operators' CSV text as physical lines, so every problem is reported at the line it is on.

``read_csv`` alone pads a short row with blanks and loses line numbers once blank lines are skipped, so
the lines are first found and their fields counted (outside quotes) with numpy over the bytes; only then
are the chosen lines handed to ``read_csv`` (numbers parsed by its C parser when they all are numbers,
otherwise everything as text so the check below can name the bad line). :class:`Rows` keeps each row's
line number for the value checks that follow (numbers, dates, duplicates).
"""
from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd

from engine.files import IngestError, RawFile, decode_text

_QUOTE = ord('"')
_NEWLINE = ord("\n")
_CR = ord("\r")


class CsvLines:
    """The physical lines of one CSV report (CRLF, LF or CR line ends) and their field counts."""

    def __init__(self, raw: RawFile, sep: str = ",", encodings: tuple[str, ...] = ("utf-8-sig",)):
        self.source = raw.name
        text = decode_text(raw, encodings)
        nul = text.find("\x00")
        if nul >= 0:
            raise IngestError(self.source, text.count("\n", 0, nul) + 1, "NUL byte in a text report")
        self.sep = sep
        if text.isascii():  # the bytes already are the text (minus a BOM): spare an encode
            self.data = raw.data[3:] if raw.data.startswith(b"\xef\xbb\xbf") else raw.data
        else:
            self.data = text.encode("utf-8")
        if self.data.count(b"\r") != self.data.count(b"\r\n"):  # old Mac line ends: make them LF
            self.data = self.data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = np.frombuffer(self.data, dtype=np.uint8)
        newlines = np.flatnonzero(buf == _NEWLINE)
        self.starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [len(buf)]))
        ends[:-1] -= (buf[np.maximum(newlines - 1, 0)] == _CR).astype(np.int64)  # a CRLF line ends at its CR
        self.ends = ends
        if self.starts[-1] == len(buf):  # the text ends with a line break: no line after it
            self.starts, self.ends = self.starts[:-1], self.ends[:-1]
        seps = np.flatnonzero(buf == ord(sep))
        quotes = np.flatnonzero(buf == _QUOTE)
        if len(quotes):
            per_line = np.searchsorted(quotes, self.ends) - np.searchsorted(quotes, self.starts)
            odd = np.flatnonzero(per_line % 2)
            if len(odd):
                raise IngestError(self.source, int(odd[0]) + 1, "unbalanced quote")
            # Every line's quotes pair up, so an even count of quotes before a separator means "outside".
            seps = seps[np.searchsorted(quotes, seps) % 2 == 0]
        self.field_counts = np.searchsorted(seps, self.ends) - np.searchsorted(seps, self.starts) + 1
        self.blank = self.ends == self.starts

    def __len__(self) -> int:
        return len(self.starts)

    def text(self, i: int) -> str:
        """Line ``i`` (0-based) as text."""
        return self.data[self.starts[i]:self.ends[i]].decode("utf-8")

    def fields(self, i: int) -> list[str]:
        """Line ``i`` split into fields, quotes removed."""
        try:
            return next(csv.reader([self.text(i)], delimiter=self.sep))
        except (csv.Error, StopIteration) as exc:
            raise IngestError(self.source, i + 1, f"unreadable line ({exc})") from exc

    def first_bytes(self, k: int) -> np.ndarray:
        """The first ``k`` bytes of every line as a (lines, k) array, zero past a line's end."""
        buf = np.frombuffer(self.data, dtype=np.uint8)
        out = np.zeros((len(self), k), dtype=np.uint8)
        pos = self.starts[:, None] + np.arange(k)
        inside = pos < self.ends[:, None]
        out[inside] = buf[pos[inside]]
        return out

    def rows(self, idx: np.ndarray, names: list[str], keep: list[str] | None = None,
             floats: tuple[str, ...] | list[str] = ()) -> Rows:
        """Lines ``idx`` (0-based, ascending) with columns ``names`` (only ``keep`` if given), as strings
        except ``floats``, which the C parser reads as numbers (blank -> NaN) when it can."""
        idx = np.asarray(idx, dtype=np.int64)
        wrong = np.flatnonzero(self.field_counts[idx] != len(names))
        if len(wrong):
            i = int(idx[wrong[0]])
            raise IngestError(self.source, i + 1,
                              f"{self.field_counts[i]} fields where the header has {len(names)}")
        positions = [names.index(k) for k in keep] if keep else list(range(len(names)))
        if len(idx) == 0:
            frame = pd.DataFrame({names[p]: pd.Series(dtype=object) for p in positions})
            return Rows(self.source, frame, idx + 1)
        first, last = int(idx[0]), int(idx[-1])
        if len(idx) == int((~self.blank[first:last + 1]).sum()):
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
            raise IngestError(self.source, None, f"unreadable CSV ({exc})") from exc
        if len(frame) != len(idx):
            raise IngestError(self.source, None, f"read {len(frame)} rows from {len(idx)} lines")
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
        raise IngestError(lines.source, i + 1, f"column(s) {dup} appear twice in the header")
    return names


def require(lines: CsvLines, names: list[str], required: list[str] | tuple[str, ...], what: str,
            line: int = 1) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        raise IngestError(lines.source, line, f"{what} lacks column(s) {missing}; header is {names}")
