"""Connector names as the CLI, the scheduler and the admin page know them. What each connector publishes (its
label, market, datasets and how far back they go) is declared once, on its class (:class:`ingest.base.Connector`),
and read from there."""
from __future__ import annotations

import datetime as dt
import functools
import importlib
from dataclasses import dataclass

from ingest.base import Connector

#: Connector name -> (module, class); a module is imported only when its connector is asked for.
_CONNECTORS = {
    "nem": ("ingest.nem", "NemConnector"),
    "ieso": ("ingest.ieso", "IesoConnector"),
    "brazil": ("ingest.brazil", "BrazilConnector"),
    "pjm": ("ingest.pjm", "PjmConnector"),
    "isone": ("ingest.isone", "IsoneConnector"),
    "caiso": ("ingest.caiso", "CaisoConnector"),
}


@dataclass(frozen=True)
class ConnectorInfo:
    """What a connector publishes, as its class declares it."""

    name: str
    label: str
    market: str
    earliest: dt.date  # the first day the operator publishes in the formats we parse
    kinds: tuple[str, ...]
    earliest_by_kind: tuple[tuple[str, dt.date], ...] = ()  # where a dataset starts later than the connector

    def earliest_for(self, kind: str | None) -> dt.date:
        return dict(self.earliest_by_kind).get(kind or (self.kinds[0] if self.kinds else ""), self.earliest)


def connector_names() -> list[str]:
    return sorted(_CONNECTORS)


def _key(name: str) -> str:
    key = name.lower() if isinstance(name, str) else None  # a form or API value may be any JSON
    if key not in _CONNECTORS:
        raise KeyError(f"unknown connector {name!r}; known: {', '.join(connector_names())}")
    return key


def connector_class(name: str) -> type[Connector]:
    return _class_of(_key(name))


@functools.cache
def _class_of(key: str) -> type[Connector]:
    module, cls = _CONNECTORS[key]
    return getattr(importlib.import_module(module), cls)


def connector_info(name: str) -> ConnectorInfo:
    cls = connector_class(name)
    return ConnectorInfo(name=_key(name), label=cls.label, market=cls.market, earliest=cls.earliest,
                         kinds=tuple(cls.datasets), earliest_by_kind=tuple(cls.earliest_by_dataset.items()))


def get_connector(name: str) -> Connector:
    return connector_class(name)()
