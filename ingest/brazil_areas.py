"""Brazil's four price and load areas, as every ONS and CCEE publication names them.

ONS calls them subsystems (``id_subsistema`` ``SE``, ``nom_subsistema`` ``Sudeste/Centro-Oeste``), CCEE
submarkets (``SUDESTE``); ONS's load API writes ``SECO``. All are stored as one code each: ``SE/CO``, ``S``,
``NE``, ``N``. The CSV reports and CCEE's workbooks read names through :func:`area_code`.
"""
from __future__ import annotations

import unicodedata
from types import MappingProxyType

#: One code per area, whatever the source calls it (ids, or names in capitals without accents: see
#: :func:`plain_name`).
AREA_CODES: MappingProxyType[str, str] = MappingProxyType({
    "SE": "SE/CO", "SE/CO": "SE/CO", "SECO": "SE/CO", "SUDESTE": "SE/CO", "SUDESTE/CENTRO-OESTE": "SE/CO",
    "SUDESTE/CENTRO OESTE": "SE/CO", "SUDESTE / CENTRO-OESTE": "SE/CO", "SUDESTE E CENTRO-OESTE": "SE/CO",
    "S": "S", "SUL": "S",
    "NE": "NE", "NORDESTE": "NE",
    "N": "N", "NORTE": "N",
})


def plain_name(name: str) -> str:
    """Upper case without accents, single spaces: 'Sudeste/Centro-Oeste' -> 'SUDESTE/CENTRO-OESTE'."""
    stripped = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return " ".join(stripped.upper().split())


def area_code(name: str) -> str | None:
    """The stored code of the area ``name`` spells (any case, with or without accents), or None."""
    return AREA_CODES.get(plain_name(name))
