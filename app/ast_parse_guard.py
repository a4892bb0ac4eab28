"""``ast.parse`` with the garbage collector paused, on the CPython releases whose AST converter shares its
recursion count between threads (3.11.0–3.11.7 and 3.12.0–3.12.1; gh-106905, fixed in 3.11.8 and 3.12.2).

On those, a garbage collection during one thread's parse runs finalizers, which let another thread in, and when
that thread parses too, one of the two fails with ``SystemError: AST constructor recursion depth mismatch``. The
app parses from many threads without asking to: every traceback 3.11 formats parses its lines for the ``^^^``
markers (a request's error, a failed scheduled job or backfill, each logged from its own thread), and werkzeug
parses as it compiles URL rules. So a log record could be lost, or a request answered 500, because another
thread logged an error at that moment.

With no collection inside a parse, no other thread's code runs within one, so no two converters interleave. The
collector is paused, not a lock held across the parse: a lock would be held while the parse runs, and a
finalizer waiting there for a lock of a thread that waits for the parse (a logging handler's, say) would hang
both. The collector stays off while any thread parses (a parse takes microseconds to a few milliseconds) and
comes back on when the last one ends, if it was on when the first began.
"""
from __future__ import annotations

import ast
import functools
import gc
import sys
import threading

AFFECTED = (3, 11) <= sys.version_info[:3] < (3, 11, 8) or (3, 12) <= sys.version_info[:3] < (3, 12, 2)

# Re-entrant: a collection just before the counter moves can run a finalizer that parses on the same thread.
_counting = threading.RLock()
_parsing = 0
_collector_was_on = False


def install() -> None:
    """Wrap ``ast.parse`` (which ``ast.literal_eval``, ``traceback`` and werkzeug look up at each call), once per
    process, on the affected releases only."""
    if not AFFECTED or getattr(ast.parse, "__wrapped__", None) is not None:
        return
    interpreters_parse = ast.parse

    @functools.wraps(interpreters_parse)
    def parse_with_the_collector_paused(*args, **kwargs):
        _enter()
        try:
            return interpreters_parse(*args, **kwargs)
        finally:
            _leave()

    ast.parse = parse_with_the_collector_paused


def _enter() -> None:
    global _parsing, _collector_was_on
    with _counting:
        if _parsing == 0:
            _collector_was_on = gc.isenabled()
            gc.disable()
        _parsing += 1


def _leave() -> None:
    global _parsing
    with _counting:
        _parsing -= 1
        if _parsing == 0 and _collector_was_on:
            gc.enable()
