"""Every chart the app draws saves a PNG named after what it shows (the brief: every chart as PNG): each
``dcc.Graph`` is built with an export config, or a callback writes its ``config`` beside its figure."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _calls(folder: str):
    for path in sorted((ROOT / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call):
                yield path, node


def _text(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is(call: ast.Call, name: str) -> bool:
    return (isinstance(call.func, ast.Attribute) and call.func.attr == name) or \
        (isinstance(call.func, ast.Name) and call.func.id == name)


def _configs_written() -> set[str]:
    """The ids whose ``config`` a callback outputs: Output("id", "config"), or Output(ident, "config") in a
    comprehension over literal (name, id) pairs."""
    found = set()
    for _, call in _calls("callbacks"):
        if _is(call, "Output") and len(call.args) == 2 and _text(call.args[1]) == "config" and \
                (ident := _text(call.args[0])) is not None:
            found.add(ident)
    for path in sorted((ROOT / "callbacks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.DictComp | ast.ListComp) and any(
                    isinstance(c, ast.Call) and _is(c, "Output") and len(c.args) == 2 and _text(c.args[1]) == "config"
                    for c in ast.walk(node)):
                found |= {_text(t.elts[1]) for g in node.generators if isinstance(g.iter, ast.Tuple)
                          for t in g.iter.elts if isinstance(t, ast.Tuple) and len(t.elts) == 2}
    return found


def test_every_chart_saves_a_named_png():
    written = _configs_written()
    graphs, bare = 0, []
    for folder in ("pages", "components", "callbacks"):
        for path, call in _calls(folder):
            if not (_is(call, "Graph") and isinstance(call.func, ast.Attribute)):
                continue
            graphs += 1
            keywords = {k.arg: k.value for k in call.keywords}
            ident = _text(keywords.get("id"))
            if "config" not in keywords and ident not in written:
                bare.append(f"{path.relative_to(ROOT)}:{call.lineno} {ident}")
    assert graphs >= 20
    assert not bare, f"charts whose camera button would save 'newplot.png': {bare}"
