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
    earliest_by_kind: tuple[tuple[str, dt.date], ...] = ()  # where a dataset starts later than the connector

    def earliest_for(self, kind: str | None) -> dt.date:
        return dict(self.earliest_by_kind).get(kind or (self.kinds[0] if self.kinds else ""), self.earliest)


_CONNECTORS = {c.name: c for c in (
    # Aggregated price and demand files start with the NEM's first day of trading.
    ConnectorInfo("nem", "AEMO NEM", "NEM", "ingest.nem", "NemConnector", dt.date(1998, 12, 7),
                  ("price_and_demand", "DISPATCHPRICE", "DISPATCHREGIONSUM", "DISPATCHINTERCONNECTORRES",
                   "TRADINGPRICE", "TRADINGINTERCONNECT", "dispatch_is", "all")),
    # IESO's market opened on 1 May 2002 (first HOEP).
    ConnectorInfo("ieso", "IESO Ontario", "IESO", "ingest.ieso", "IesoConnector", dt.date(2002, 5, 1),
                  ("PriceHOEPPredispOR", "DemandZonal", "GenOutputCapabilityMonth", "GenOutputCapability",
                   "GenOutputbyFuelHourly", "IntertieScheduleFlow", "PredispConstTotals", "RealtimeConstTotals",
                   "Adequacy2", "DAHourlyEnergyLMP", "RealtimeEnergyLMP", "DAHourlyOntarioZonalPrice",
                   "RealtimeOntarioZonalPrice"),
                  (("DAHourlyEnergyLMP", dt.date(2025, 5, 1)), ("RealtimeEnergyLMP", dt.date(2025, 5, 1)),
                   ("DAHourlyOntarioZonalPrice", dt.date(2025, 5, 1)),
                   ("RealtimeOntarioZonalPrice", dt.date(2025, 5, 1)))),
    # ONS open data series start in 2000; CCEE's hourly PLD in 2021.
    ConnectorInfo("brazil", "Brazil ONS/CCEE", "BRAZIL", "ingest.brazil", "BrazilConnector", dt.date(2000, 1, 1),
                  ("carga_energia", "ear_subsistema", "pld_horario", "pld_semanal", "geracao_usina",
                   "carga_programada"),
                  (("pld_horario", dt.date(2021, 1, 1)), ("pld_semanal", dt.date(2001, 7, 1)),
                   ("carga_programada", dt.date(2021, 3, 5)))),
    # PJM's nodal LMPs with components start with its LMP market in 1998 (day-ahead from June 2000).
    ConnectorInfo("pjm", "PJM", "PJM", "ingest.pjm", "PjmConnector", dt.date(1998, 4, 1),
                  ("da_hrl_lmps", "rt_hrl_lmps", "rt_fivemin_hrl_lmps"),
                  (("da_hrl_lmps", dt.date(2000, 6, 1)), ("rt_fivemin_hrl_lmps", dt.date(2018, 1, 1)))),
    # ISO-NE's Standard Market Design (nodal LMPs with components) began on 1 March 2003.
    ConnectorInfo("isone", "ISO New England", "ISONE", "ingest.isone", "IsoneConnector", dt.date(2003, 3, 1),
                  ("da", "rt_final")),
    ConnectorInfo("caiso", "CAISO node locations", "CAISO", "ingest.caiso", "CaisoConnector", dt.date(2009, 4, 1),
                  ("node_locations",)),
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
