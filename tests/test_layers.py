"""Imports run one way (docs/architecture.md): every import of every module, at any depth (inside functions
and TYPE_CHECKING blocks too), is checked against the table of what each layer may import."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("app", "callbacks", "pages", "components", "engine", "ingest")

#: What each layer may import of ours (a module or a package prefix); ``app`` wires everything.
ALLOWED: dict[str, tuple[str, ...]] = {
    "app": LAYERS,
    "pages": ("pages", "components", "engine", "app.services"),
    "callbacks": ("callbacks", "components", "engine", "app.services"),
    "components": ("components",),
    "ingest": ("ingest", "engine.files", "engine.markets", "engine.store", "engine.jobs"),
    "engine": ("engine",),
}
#: The engine and the connectors know nothing of the web: no Dash, Flask or figures.
WEB = ("dash", "dash_bootstrap_components", "flask", "flask_caching", "plotly")
FORBIDDEN_THIRD_PARTY = {"engine": WEB, "ingest": WEB}


def _module_name(path: Path, root: Path = REPO_ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, root: Path) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path, root: Path = REPO_ROOT) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file; ``from a import b`` names ``a.b`` when that is a
    module of ours, ``a`` otherwise. Relative imports are resolved against the file's package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add((node.lineno, full if _is_module(full, root) else base))
    return sorted(found)


def _layer(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in LAYERS else None


def _sources() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (REPO_ROOT / layer).rglob("*.py"))


def _allows(prefixes: tuple[str, ...], target: str) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def test_every_layer_has_modules():
    found = {_layer(_module_name(p)) for p in _sources()}
    assert found == set(LAYERS), f"layers without modules: {set(LAYERS) - found}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_imports_follow_the_layers(path: Path):
    source = _module_name(path)
    layer = _layer(source)
    wrong = []
    for line, target in _imports(path):
        target_layer = _layer(target)
        if target_layer is not None and not _allows(ALLOWED[layer], target):
            wrong.append(f"line {line}: {layer} may not import {target}")
        top = target.split(".")[0]
        if top in FORBIDDEN_THIRD_PARTY.get(layer, ()):
            wrong.append(f"line {line}: {layer} knows nothing of {top}")
    assert not wrong, f"{source}: " + "; ".join(wrong)


def test_the_checker_sees_every_kind_of_import(tmp_path: Path):
    """The reader finds imports in functions and relative ones, so the rule cannot be dodged."""
    fake = tmp_path / "engine" / "sub"
    fake.mkdir(parents=True)
    (tmp_path / "engine" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (tmp_path / "ingest").mkdir()
    (tmp_path / "ingest" / "__init__.py").write_text("")
    (tmp_path / "ingest" / "base.py").write_text("")
    (fake / "mod.py").write_text("def f():\n    from ingest import base\n    from .. import other\n"
                                 "import flask\n")
    assert _imports(fake / "mod.py", tmp_path) == [(2, "ingest.base"), (3, "engine"), (4, "flask")]
