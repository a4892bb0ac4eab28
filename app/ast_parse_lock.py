"""``ast.parse`` one thread at a time on the CPython releases whose AST converter shares its recursion count
between threads (3.11.0–3.11.7 and 3.12.0–3.12.1; gh-106905, fixed in 3.11.8 and 3.12.2).

On those, a garbage collection during one thread's parse can run another thread's code, and when that thread
parses too, one of the two fails with ``SystemError: AST constructor recursion depth mismatch``. The app parses
from many threads without asking to: every traceback 3.11 formats parses its lines for the ``^^^`` markers (a
request's error, a failed scheduled job or backfill, each logged from its own thread), and werkzeug parses as
it compiles URL rules. So a log record could be lost, or a request answered 500, because another thread logged
an error at that moment. Holding a lock across the parse keeps the converters apart; a parse takes
microseconds to a few milliseconds, and only parses wait for each other. Compiles that do not build AST
objects (imports, ``exec``) are not affected and do not take it.
"""
from __future__ import annotations

import ast
import functools
import sys
import threading

AFFECTED = (3, 11) <= sys.version_info[:3] < (3, 11, 8) or (3, 12) <= sys.version_info[:3] < (3, 12, 2)

# Re-entrant: a collection inside a parse can run a finalizer that logs a traceback on the same thread.
_lock = threading.RLock()


def install() -> None:
    """Wrap ``ast.parse`` (which ``ast.literal_eval``, ``traceback`` and werkzeug look up at each call) in the
    lock, once per process, on the affected releases only."""
    if not AFFECTED or getattr(ast.parse, "__wrapped__", None) is not None:
        return
    interpreters_parse = ast.parse

    @functools.wraps(interpreters_parse)
    def parse_one_at_a_time(*args, **kwargs):
        with _lock:
            return interpreters_parse(*args, **kwargs)

    ast.parse = parse_one_at_a_time
