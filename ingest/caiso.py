"""CAISO pricing-node locations (``LMPLocations*.csv``: ``latitude,type,name,longitude``) -> ``node_metadata``.

The files come from CAISO's price-map data as exported by third parties (there is no dated CAISO report of
this layout to download), so ``fetch`` replays local files only. A few nodes carry placeholder coordinates
of practically zero (``33E-15``, ``-12E-14``): a pricing node at latitude or longitude 0 is not in the
CAISO footprint, so that node's coordinates are read as unknown (NaN) and the count is logged.
"""
from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from engine.files import IngestError, RawFile
from ingest.base import Connector, ParseResult, check_range, local_files, table_frame
from ingest.csv_lines import CsvLines, header_names, require

log = logging.getLogger(__name__)

SUPPORTED = "LMPLocations*.csv (latitude,type,name,longitude)"
_REQUIRED = ["latitude", "type", "name", "longitude"]
_PLACEHOLDER = 1e-6  # degrees; well under any real coordinate's rounding


class CaisoConnector(Connector):
    """CAISO node coordinates -> ``node_metadata`` (market ``CAISO``)."""

    label = "CAISO node locations"
    market = "CAISO"
    datasets = ("node_locations",)
    earliest = date(2009, 4, 1)  # CAISO's nodal market (MRTU) opened in April 2009

    def parse(self, raw: RawFile) -> ParseResult:
        """The pricing nodes of one location file, with their type and coordinates."""
        lines = CsvLines(raw)
        header = header_names(lines, 0)
        if not set(_REQUIRED) & set(header):
            raise IngestError(raw.name, 1, f"not a CAISO node-location file; supported: {SUPPORTED}")
        require(lines, header, _REQUIRED, "CAISO node-location file")
        data = np.flatnonzero(~lines.blank[1:]) + 1
        if not len(data):
            raise IngestError(raw.name, None, "no data rows")
        rows = lines.rows(data, header, keep=_REQUIRED, floats=["latitude", "longitude"])
        node = rows.text("name")
        rows.fail((node == "").to_numpy(), "blank node name", "name")
        rows.check_unique({"node": node.to_numpy(dtype=object)}, "node", "name")
        latitude = rows.numbers("latitude")
        longitude = rows.numbers("longitude")
        rows.fail(np.abs(latitude) > 90, "latitude outside -90..90", "latitude")
        rows.fail(np.abs(longitude) > 180, "longitude outside -180..180", "longitude")
        placeholder = (np.abs(latitude) < _PLACEHOLDER) | (np.abs(longitude) < _PLACEHOLDER)
        if placeholder.any():
            log.warning("%s: %d node(s) with a zero placeholder coordinate, e.g. %s; coordinates left unknown",
                        raw.name, placeholder.sum(), node[placeholder].iloc[0])
        frame = table_frame("node_metadata", self.market, raw.name, {
            "node": node.to_numpy(dtype=object),
            "node_type": rows.text("type").to_numpy(dtype=object),
            "zone": "",
            "latitude": np.where(placeholder, np.nan, latitude),
            "longitude": np.where(placeholder, np.nan, longitude),
        })
        result = ParseResult(source=raw.name, rows_read=len(rows))
        result.tables["node_metadata"] = frame
        return result

    def fetch(self, start: date, end: date, *, source: str | Path | None = None, kind: str | None = None,
              session: Any = None) -> list[RawFile]:
        """Local replay of ``LMPLocations*.csv`` files (the dates do not apply: the files are undated, and
        there is nothing to download, so ``session`` is not used)."""
        self.dataset(kind)
        check_range(start, end)
        if source is None:
            raise ValueError("CAISO node locations are read from a local file or folder: pass source=...")
        pattern = re.compile(r"^LMPLocations.*\.csv$", re.I)
        return local_files(source, lambda name: bool(pattern.match(name)))
