"""Connector names as the CLI, the scheduler and the admin page know them, with what each publishes."""
from __future__ import annotations

import datetime as dt
import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConnectorInfo:
    name: str
    label: str
    market: str
    module: str
    cls: str
    earliest: dt.date  # the first day the operator publishes in the formats we parse
    kinds: tuple[str, ...] = ()


_CONNECTORS = {c.name: c for c in (
    # Aggregated price and demand files start with the NEM's first day of trading.
    ConnectorInfo("nem", "AEMO NEM", "NEM", "ingest.nem", "NemConnector", dt.date(1998, 12, 7),
                  ("price_and_demand", "DISPATCHPRICE", "DISPATCHREGIONSUM", "DISPATCHINTERCONNECTORRES",
                   "TRADINGPRICE", "TRADINGINTERCONNECT", "all")),
    # IESO's market opened on 1 May 2002 (first HOEP).
    ConnectorInfo("ieso", "IESO Ontario", "IESO", "ingest.ieso", "IesoConnector", dt.date(2002, 5, 1),
                  ("PriceHOEPPredispOR", "DemandZonal", "GenOutputCapabilityMonth", "GenOutputCapability",
                   "GenOutputbyFuelHourly", "IntertieScheduleFlow", "PredispConstTotals", "RealtimeConstTotals",
                   "Adequacy2", "DAHourlyEnergyLMP", "RealtimeEnergyLMP", "DAHourlyOntarioZonalPrice",
                   "RealtimeOntarioZonalPrice")),
)}


def connector_names() -> list[str]:
    return sorted(_CONNECTORS)


def connector_info(name: str) -> ConnectorInfo:
    key = (name or "").lower()
    if key not in _CONNECTORS:
        raise KeyError(f"unknown connector {name!r}; known: {', '.join(connector_names())}")
    return _CONNECTORS[key]


def get_connector(name: str) -> Any:
    info = connector_info(name)
    return getattr(importlib.import_module(info.module), info.cls)()
