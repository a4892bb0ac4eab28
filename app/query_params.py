"""The query parameters an API endpoint takes, and the refusal of any other: a misspelt or misremembered name
(``kind`` for ``price_kind``) was ignored, and the answer, for the default it fell back to, looked like the
one asked for (no rows, or another series) with a 200."""
from __future__ import annotations

import difflib

from flask import request

#: Names other APIs give the parameters ours take, for the hint.
_ALSO_CALLED = {"timezone": "tz", "time_zone": "tz", "zone": "tz", "from": "start", "begin": "start", "to": "end",
                "until": "end", "fmt": "format", "res": "resolution", "node": "location", "region": "location"}


def unknown_parameter(*taken: str) -> str | None:
    """Why the request cannot be answered when it names a query parameter outside ``taken`` (the first such,
    with the likeliest one meant), None when it names none."""
    for name in request.args:
        if name not in taken:
            lowered = name.lower()
            meant = [t for t in taken if t == _ALSO_CALLED.get(lowered)] or \
                [t for t in taken if lowered in t.lower() or t.lower() in lowered] or \
                difflib.get_close_matches(lowered, taken, n=1, cutoff=0.6)
            hint = f" (did you mean {meant[0]!r}?)" if meant else ""
            return f"unknown parameter {name[:40]!r}{hint}; this endpoint takes {', '.join(taken)}"
    return None
