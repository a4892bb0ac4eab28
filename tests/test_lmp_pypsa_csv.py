"""Reading PyPSA CSV folders: the SciGRID-de network exactly, and broken folders refused with file and line.
Expected numbers were read from the CSV files with the csv module (or head/awk) and SOURCES.md."""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from engine.lmp.cases import load_case
from engine.lmp.pypsa_csv import read_pypsa_csv
from engine.files import IngestError


@pytest.fixture(scope="module")
def scigrid(data_dir: Path):
    return read_pypsa_csv(data_dir / "grids" / "scigrid-de")


@pytest.mark.realdata
def test_scigrid_tables(scigrid, data_dir: Path) -> None:
    net = scigrid
    assert net.name == "SciGrid-DE"
    assert net.base_mva == 1.0
    assert len(net.buses) == 585
    assert len(net.generators) == 1423
    assert (net.branches["kind"] == "line").sum() == 852
    assert (net.branches["kind"] == "transformer").sum() == 96
    assert len(net.snapshots) == 24
    assert net.snapshots[0] == pd.Timestamp("2011-01-01 00:00")
    assert net.buses.loc["1", ["x", "y", "v_nom"]].tolist() == [9.52257596986, 52.3604090558, 220.0]
    # Line 1: Al/St 240/40 2-bundle 220.0 (x 0.301 ohm/km, r 0.06 ohm/km), 43.379 km, 1 circuit, 220 kV.
    line = net.branches.loc["1"]
    assert line["x"] == pytest.approx(0.301 * 43.379 / 220**2, rel=1e-12)
    assert line["r"] == pytest.approx(0.06 * 43.379 / 220**2, rel=1e-12)
    assert line["rate_a"] == pytest.approx(495.366530965)
    # Line 2: 4-bundle 380 kV, 72.686 km, num_parallel 2.
    assert net.branches.loc["2", "x"] == pytest.approx(0.246 * 72.686 / 2 / 380**2, rel=1e-12)
    # Transformer 2: x = 0.1 on its own 2000 MVA.
    assert net.branches.loc["T2", ["x", "rate_a"]].tolist() == [pytest.approx(0.1 / 2000), 2000.0]
    gen = net.generators.loc["1 Gas"]
    assert gen[["bus", "p_max", "c1", "carrier"]].tolist() == ["1", 121.0, 50.0, "Gas"]
    # Demand per snapshot is the sum of loads-p_set.csv's row (485 loads with series, 4 without p_set).
    with (data_dir / "grids" / "scigrid-de" / "loads-p_set.csv").open() as fh:
        rows = list(csv.reader(fh))
    for t in (0, 13, 23):
        assert net.demand.iloc[t].sum() == pytest.approx(sum(float(v) for v in rows[t + 1][1:]), rel=1e-12)
    with (data_dir / "grids" / "scigrid-de" / "generators-p_max_pu.csv").open() as fh:
        head = next(csv.reader(fh))
    assert head[1] == "218 Wind Offshore"
    assert net.p_max_pu.loc[net.snapshots[0], "218 Wind Offshore"] == 0.999999979268
    assert net.p_max_pu.loc[net.snapshots[5], "1 Gas"] == 1.0  # no series: static p_max_pu


def write_folder(root: Path, **changes: str) -> Path:
    files = {
        "buses.csv": "name,v_nom,x,y,control\na,110,10.0,50.0,Slack\nb,110,11.0,50.5,PQ\nc,220,11.5,51.0,PQ\n",
        "lines.csv": "name,bus0,bus1,type,s_nom,length,num_parallel,x\nl1,a,b,,100,,1,12.1\n"
                     "l2,a,b,Al/St 240/40 2-bundle 220.0,200,10,2,\n",
        "transformers.csv": "name,bus0,bus1,x,s_nom,tap_ratio\nt1,b,c,0.1,300,1.02\n",
        "generators.csv": "name,bus,p_nom,marginal_cost,carrier\ng1,a,100,10,Gas\ng2,c,50,0,Wind\n",
        "loads.csv": "name,bus,p_set\nd1,b,30\nd2,c,20\n",
        "snapshots.csv": ",snapshot\n0,2020-01-01 00:00:00\n1,2020-01-01 01:00:00\n",
        "loads-p_set.csv": ",d1\n0,30\n1,40\n",
        "generators-p_max_pu.csv": ",g2\n0,0.5\n1,0.25\n",
    }
    files.update(changes)
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        if text:
            (root / name).write_text(text)
    return root


def test_small_folder(tmp_path: Path) -> None:
    net = load_case(write_folder(tmp_path / "net"))
    assert net.buses["is_ref"].tolist() == [True, False, False]
    assert net.branches.loc["l1", "x"] == pytest.approx(12.1 / 110**2)
    assert net.branches.loc["l2", "x"] == pytest.approx(0.301 * 10 / 2 / 110**2)
    assert net.branches.loc["Tt1", ["x", "tap", "rate_a"]].tolist() == [pytest.approx(0.1 / 300), 1.02, 300.0]
    assert net.branches["source_row"].tolist() == [1, 2, 3]
    assert net.demand.to_numpy().tolist() == [[0, 30, 20], [0, 40, 20]]
    assert net.p_max_matrix().tolist() == [[100, 25], [100, 12.5]]


@pytest.mark.parametrize("changes, where, problem", [
    ({"lines.csv": "name,bus0,bus1,type,s_nom,length\nl1,a,b,Unknown type,100,1\n"}, "lines.csv, line 2",
     "unknown standard line type 'Unknown type'"),
    ({"lines.csv": "name,bus0,bus1,s_nom,x\nl1,a,z,100,1\n"}, "net", "connects unknown bus 'z'"),
    ({"lines.csv": "name,bus0,bus1,s_nom,x\nl1,a,b,100,\n"}, "lines.csv, line 2", "neither x nor a standard type"),
    ({"generators.csv": "name,bus,p_nom,marginal_cost\ng1,a,abc,10\n"}, "generators.csv, line 2",
     "p_nom value 'abc' is not a number"),
    ({"buses.csv": "name,v_nom\na,110\na,110\n"}, "buses.csv, line 3", "name 'a' appears twice"),
    ({"loads-p_set.csv": ",d1\n0,30\n7,40\n"}, "loads-p_set.csv, line 3", "row '7' is not in snapshots.csv"),
    ({"loads-p_set.csv": ",d9\n0,30\n1,40\n"}, "loads-p_set.csv, line 1", "unknown loads"),
    ({"generators-p_max_pu.csv": ",g2\n0,0.5\n1,\n"}, "generators-p_max_pu.csv, line 3", "empty or non-numeric"),
    ({"buses.csv": ""}, "buses.csv", "required file is missing"),
])
def test_bad_folders(tmp_path: Path, changes: dict[str, str], where: str, problem: str) -> None:
    with pytest.raises(IngestError) as err:
        read_pypsa_csv(write_folder(tmp_path / "net", **changes))
    assert where in str(err.value)
    assert problem in str(err.value)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="case not found"):
        load_case(tmp_path / "nothing")
