"""Shared by the Brazil connector tests: the connector, its output columns and areas, and small helpers."""
from __future__ import annotations

import pandas as pd

from engine.files import RawFile
from ingest.brazil import BrazilConnector

PRICE_COLUMNS = ["market", "location", "price_kind", "interval_start", "interval_minutes", "price", "source"]
AREAS = {"SE/CO", "S", "NE", "N"}

brazil = BrazilConnector()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def parse_bytes(name: str, data: bytes):
    return brazil.parse(RawFile(name=name, data=data))
