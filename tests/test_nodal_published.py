"""Basis of published nodal prices, read back from the store, against the operator's file itself."""
from __future__ import annotations

import pandas as pd
import pytest

from engine import queries
from engine.lmp.basis import basis, basis_statistics
from ingest.load import load_raw, raw_files_at
from ingest.pjm import PjmConnector

pytestmark = pytest.mark.realdata


def test_pjm_hub_basis_matches_the_file(store, data_dir):
    path = data_dir / "markets" / "pjm" / "rt_hrl_lmps_hubs_20250501-20250801.csv"
    load_raw(store, PjmConnector(), raw_files_at(path))
    assert queries.nodal_runs(store) == [("PJM", "RT")]
    hubs = queries.nodal_hubs(store, "PJM")
    assert len(hubs) == 12
    west = hubs[hubs["label"].str.startswith("WESTERN HUB")]["node"].iat[0]
    prices = queries.nodal_prices(store, "PJM", "RT", days=10_000)
    stats = basis_statistics(basis(prices, west)).set_index("node")
    raw = pd.read_csv(path)
    wide = raw.pivot_table(index="datetime_beginning_utc", columns="pnode_id", values="total_lmp_rt")
    expected = wide.sub(wide[int(west)], axis=0)
    for node in stats.index:
        col = expected[int(node)]
        assert stats.at[node, "mean"] == pytest.approx(col.mean(), abs=1e-9)
        assert stats.at[node, "p95"] == pytest.approx(col.quantile(0.95), abs=1e-9)
        assert stats.at[node, "count"] == col.count()
    assert stats.at[west, "mean"] == 0.0
