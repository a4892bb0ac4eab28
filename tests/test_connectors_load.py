"""Every connector loads its real files through the CLI; loading twice leaves the same tables."""
from __future__ import annotations

import re

import pytest

from app.factory import create_app
from app.settings import Settings
from engine.store.tables import TABLES
from tests.support.schema_template import migrated_url

pytestmark = pytest.mark.realdata

CASES = [
    ("ieso", "markets/ieso/reports"),
    ("ieso", "markets/ieso/pyiso_fixtures_xml"),
    ("ieso", "markets/ieso/reports_more"),
    ("brazil", "markets/brazil/ons_carga_energia"),
    ("brazil", "markets/brazil/ons_ear_subsistema"),
    ("brazil", "markets/brazil/ccee_pld"),
    ("brazil", "markets/brazil/ccee_official"),
    ("pjm", "markets/pjm"),
    ("isone", "markets/isone"),
    ("caiso", "markets/caiso_node_locations"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory, store_dir):
    dash_app = create_app(Settings(store_url=migrated_url(store_dir, "connectors_load"), scheduler=False,
                                   demo=False))
    yield dash_app
    store = dash_app.server.extensions["c254"].store
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")


def _snapshot(store) -> dict:
    out = {}
    for spec in TABLES.values():
        cols = ", ".join(f"`{c}`" for c in spec.columns)
        out[spec.name] = store.query_df(f"SELECT {cols} FROM `{spec.name}` FINAL ORDER BY {cols}")
    return out


@pytest.mark.parametrize("connector, folder", CASES)
def test_real_files_load_and_reload_identically(app, data_dir, connector, folder):
    runner = app.server.test_cli_runner()
    first = runner.invoke(args=["ingest", "load", connector, str(data_dir / folder)])
    assert first.exit_code == 0, first.output
    written = int(re.search(r"written ([\d,]+),", first.output).group(1).replace(",", ""))
    assert written > 0, first.output
    store = app.server.extensions["c254"].store
    before = _snapshot(store)
    second = runner.invoke(args=["ingest", "load", connector, str(data_dir / folder)])
    assert second.exit_code == 0, second.output
    assert "written 0," in second.output, second.output
    after = _snapshot(store)
    for name in TABLES:
        assert before[name].equals(after[name]), name


def test_the_load_summary_says_why_rows_are_rejected(app, data_dir):
    folder = data_dir / "markets/ieso/reports_more"
    result = app.server.test_cli_runner().invoke(args=["ingest", "load", "ieso", str(folder)])
    assert result.exit_code == 0, result.output
    assert "24 hourly <RampStatus> entries without a MW value (Y/N flags, not quantities)" in result.output
