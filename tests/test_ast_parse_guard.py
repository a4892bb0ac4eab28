"""``ast.parse`` guarded on the CPython releases whose AST converter is not thread-safe (app/ast_parse_guard.py):
the race reproduced in a fresh interpreter without the guard, and gone with it."""
from __future__ import annotations

import ast
import gc
import subprocess
import sys
import textwrap

import pytest

from app import ast_parse_guard
from tests.conftest import REPO_ROOT

# Two threads parsing while garbage with finalizers piles up: a collection inside one thread's parse runs a
# finalizer, which lets the other thread in. On an affected release this fails within a few dozen parses.
PARSES_BESIDE_GARBAGE = textwrap.dedent("""
    import ast, sys, threading
    if sys.argv[1] == "guarded":
        from app import ast_parse_guard
        ast_parse_guard.install()
    sys.setswitchinterval(1e-6)
    source = "\\n".join(f"def f{i}(a, b=[1, {{2: 3}}]):\\n    return [x * y for x in a if x for y in b]"
                       for i in range(60))

    class Cycle:
        def __del__(self):
            sum(range(50))

    failures = []

    def parse_beside_garbage():
        for _ in range(150):
            for _ in range(20):
                cycle = Cycle()
                cycle.me = cycle
            del cycle
            try:
                ast.parse(source)
            except SystemError as exc:
                failures.append(str(exc))
                return

    threads = [threading.Thread(target=parse_beside_garbage) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(failures[0] if failures else "no failure")
""")


def _parses_beside_garbage(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", PARSES_BESIDE_GARBAGE, mode], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_threads_parse_without_the_interpreters_spurious_error():
    assert _parses_beside_garbage("guarded") == "no failure"
    if ast_parse_guard.AFFECTED:
        # the same threads without the guard: the interpreter's bug, so the line above is the guard's doing
        assert "AST constructor recursion depth mismatch" in _parses_beside_garbage("unguarded")


def test_the_guard_is_installed_once_and_parses_as_the_interpreter_does():
    ast_parse_guard.install()  # conftest installed it already: a second install must not wrap it twice
    if ast_parse_guard.AFFECTED:
        assert ast.parse.__wrapped__ is not None
        assert getattr(ast.parse.__wrapped__, "__wrapped__", None) is None
    else:
        assert not hasattr(ast.parse, "__wrapped__")
    tree = ast.parse("x: int = 1", filename="<test>", mode="exec", type_comments=True)
    assert ast.dump(tree) == ast.dump(compile("x: int = 1", "<test>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True))
    assert ast.literal_eval("[1, {'a': -2.5}]") == [1, {"a": -2.5}]


def test_the_collector_is_left_as_it_was_found():
    assert gc.isenabled()
    ast.parse("x = 1")
    assert gc.isenabled()
    gc.disable()
    try:
        ast.parse("x = 1")
        assert not gc.isenabled(), "a parse turned on a collector that was off"
    finally:
        gc.enable()
    with pytest.raises(SyntaxError):
        ast.parse("x = (")
    assert gc.isenabled(), "a parse that failed left the collector off"
