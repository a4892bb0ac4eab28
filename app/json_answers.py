"""Dash's answers written as JSON in one pass of orjson.

Dash writes each callback's answer with plotly's ``to_json_plotly``: orjson when it is installed, but only for
an answer made wholly of types orjson knows. One Dash component (a table, a card) or one pandas column in the
answer, and plotly walks the whole answer value by value in Python (``clean_to_json_compatible``) before orjson
writes it: a nodal map's 1,500 markers took 12 ms that way, a month of five-minute prices 4-16 ms, a large share
of a cached answer's time. Here orjson writes the answer itself and asks ``_default`` only about the values it
does not know, converting each the way plotly's walk does, so the text is the same (numpy scalars excepted:
orjson writes those itself, as it does on plotly's own fast path, so a float32 reads 0.1 rather than the
widened 0.10000000149011612). A value neither knows falls back to plotly's own path, unchanged.

``install()`` points Dash (pinned in pyproject.toml) at ``dumps``; the tests check that the answers Dash sends
are these and that they equal plotly's.
"""
from __future__ import annotations

import datetime
import decimal
from itertools import repeat
from typing import Any

import numpy as np
import orjson
import pandas as pd

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
#: As plotly writes them: JSON that may be placed inside a <script> element stays inert there.
_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("/", "\\u002f"))


class _Unknown(TypeError):
    """A value neither orjson nor ``_default`` writes: the answer goes plotly's way."""


def _default(value: Any) -> Any:
    """``value`` in a form orjson writes, as plotly's ``clean_to_json_compatible`` converts it."""
    if hasattr(value, "to_plotly_json"):  # Dash components, plotly figures
        return value.to_plotly_json()
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "M":
            return np.datetime_as_string(value).tolist()
        if value.dtype.kind in "biuf" and not value.flags.c_contiguous:  # orjson writes contiguous ones only
            return np.ascontiguousarray(value)
        return value.tolist()  # text and mixed values (and float16): orjson writes the items
    if isinstance(value, (pd.Series, pd.DatetimeIndex)):
        if value.dtype.kind in "biuf":
            return np.ascontiguousarray(value.to_numpy())
        if value.dtype.kind == "M":  # datetimes with their offset, as plotly hands them to orjson
            return value.array.to_pydatetime().tolist()
        return value.tolist()
    if isinstance(value, pd.Index):
        return value.tolist()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.datetime64):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.date):  # a subclass of date or datetime orjson will not take as one
        return value.isoformat()
    raise _Unknown(type(value).__name__)


def dumps(value: Any) -> str:
    """``value`` (a callback's answer, a layout) as the JSON text plotly's ``to_json_plotly`` writes."""
    try:
        text = orjson.dumps(value, default=_default, option=_OPTIONS).decode()
    except TypeError:  # _Unknown, or a type orjson refuses outright
        from plotly.io.json import to_json_plotly

        return to_json_plotly(value)
    for plain, escaped in _ESCAPES:
        text = text.replace(plain, escaped)
    return text


def rows_json(frame: pd.DataFrame) -> bytes:
    """The frame's rows as a JSON array of objects, for the APIs: times in ISO 8601 to the millisecond as pandas'
    ``to_json(date_format="iso")`` writes them (tz-aware ones in UTC with ``Z``, naive ones as they are), numbers
    as stored (the shortest text that reads back the same), missing values null. Column by column, then one pass
    of orjson: pandas' writer boxed each time as a Timestamp, most of a product answer's time."""
    names = [str(name) for name in frame.columns]  # zipped with every row: a list, not the Index
    columns = []
    for _, values in frame.items():
        if values.dtype.kind == "M":
            aware = values.dt.tz is not None
            wall = values.dt.tz_convert("UTC").dt.tz_localize(None) if aware else values
            text = np.datetime_as_string(wall.to_numpy(dtype="datetime64[ms]"), unit="ms")
            column = (np.char.add(text, "Z") if aware else text).tolist()
        else:
            column = values.tolist()
        if values.hasnans:
            column = [None if missing else value for value, missing in zip(column, values.isna().tolist(),
                                                                           strict=True)]
        columns.append(column)
    # Rows paired by map, not a comprehension: half the time of a list of dicts built in Python bytecode. The
    # columns are checked for one length once, not each row against the names.
    rows = map(dict, map(zip, repeat(names), zip(*columns, strict=True)))
    return orjson.dumps(list(rows), default=_default)


def install() -> None:
    """Dash writes its answers with ``dumps`` from now on (callbacks, layouts, the page's config)."""
    from dash import _callback, _utils, _validate, dash

    for module in (_callback, _utils, _validate, dash):
        module.to_json = dumps
