"""Connector names as the CLI, the scheduler and the admin page know them."""
from __future__ import annotations

import importlib
from typing import Any

_CONNECTORS = {
    "nem": ("ingest.nem", "NemConnector"),
}


def connector_names() -> list[str]:
    return sorted(_CONNECTORS)


def get_connector(name: str) -> Any:
    key = name.lower()
    if key not in _CONNECTORS:
        raise KeyError(f"unknown connector {name!r}; known: {', '.join(connector_names())}")
    module, cls = _CONNECTORS[key]
    return getattr(importlib.import_module(module), cls)()
