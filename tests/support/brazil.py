"""Shared by the Brazil connector tests: the connector, its output columns and areas, and small helpers."""
from __future__ import annotations

import pandas as pd

from engine.files import RawFile
from ingest.base import table_columns
from ingest.brazil import BrazilConnector

AREAS = {"SE/CO", "S", "NE", "N"}

brazil = BrazilConnector()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def only_table(result, table: str) -> pd.DataFrame:
    """The frame of ``table``, checked to be the one table of ``result`` and to hold that table's columns."""
    assert list(result.tables) == [table]
    frame = result.tables[table]
    assert list(frame.columns) == list(table_columns(table)), table
    return frame


def parse_bytes(name: str, data: bytes):
    return brazil.parse(RawFile(name=name, data=data))
