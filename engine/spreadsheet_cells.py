"""Text that people typed, made safe to open in a spreadsheet (CSV injection, OWASP): Excel, LibreOffice and
Google Sheets read a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula,
so a display name like ``=HYPERLINK("http://…","click")`` in an audit log or statement an admin downloads
would run there. Such a cell gets a leading apostrophe, which those programs show as text and do not display.
Numbers written as text (``-12.5``, ``+3``) are left alone: they start with a sign but no spreadsheet reads them
as anything but the number they are.

Only for the downloads people open (audit log, job runs, statements); the product API and its sample keep a
partner's data byte for byte, since programs read them."""
from __future__ import annotations

import re

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet shows it as text: a string that a spreadsheet would read as a formula gets a
    leading apostrophe; anything else (numbers, None, other strings) is returned as it came."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START) or _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text columns went through :func:`safe_cell`; numeric columns are untouched."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(safe_cell)
    return out
