"""What the nodal price connectors (PJM, ISO-NE) share: the ``nodal_lmp`` and ``node_metadata`` tables of one
file, built from its rows once they are parsed and checked."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ingest.base import latest_row_per_node, table_frame


def nodal_tables(market: str, source: str, run: str, starts: pd.Series, minutes: int,
                 prices: Mapping[str, np.ndarray], nodes: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """``nodal_lmp`` rows (``prices``: lmp, energy, congestion, loss) of market run ``run`` at the UTC interval
    ``starts``, and one ``node_metadata`` row per node: ``nodes`` holds ``node`` and what the file says of each
    row's node (type, zone, ...), of which each node keeps its latest interval's."""
    lmp = table_frame("nodal_lmp", market, source, {
        "node": nodes["node"], "market_run": run, "interval_start": starts, "interval_minutes": minutes, **prices,
    })
    meta = table_frame("node_metadata", market, source, nodes)
    return {"nodal_lmp": lmp, "node_metadata": latest_row_per_node(meta, starts.to_numpy(dtype="datetime64[ns]"))}
