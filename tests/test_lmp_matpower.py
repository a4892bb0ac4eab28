"""Reading MATPOWER / pglib-opf case files: the real cases table by table, and bad files refused with file,
line and problem. Expected numbers were read from the case files with grep/awk and the shared SOURCES.md."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.lmp.cases import list_cases, load_case
from engine.lmp.matpower import parse_matpower, read_matpower
from engine.files import IngestError, RawFile

SMALL = """function mpc = tiny
%% a three-bus case written in the MATPOWER layout, with the awkward bits of real files
mpc.version = '2';
mpc.baseMVA = 100;
%	bus_i	type	Pd	Qd	Gs	Bs	area	Vm	Va	baseKV	zone	Vmax	Vmin
mpc.bus = [
	1	3	0	0	0	0	1	1	0	230	1	1.1	0.9;
	2	2	50	10	5	0	1	1	0	230	1	1.1	0.9;   % shunt draws 5 MW at 1 p.u.
	3,1,100,20,0,0,1,1,0,230,1,1.1,0.9
	4	4	0	0	0	0	1	1	0	230	1	1.1	0.9;
];
mpc.gen = [
	1	0	0	0	0	1	100	1	200	0	0	0	0	0	0	0	0	0	0	0	0;
	2	0	0	0	0	1	100	1	80	10	0	0	0	0	0	0	0	0	0	0	0;
	3	0	0	0	0	1	100	0	50	0	0	0	0	0	0	0	0	0	0	0	0;
];
mpc.branch = [
	1	2	0.01	0.1	0	0	0	0	0	0	1	-360	360;
	2	3	0.02	0.2	0	120	0	0	0.98	-3	1	-360	360;
	1	3	0.01	0.1	0	90	0	0	0	0	0	-360	360;
	3	4	0.01	0.1	0	90	0	0	0	0	0	-360	360;
];
mpc.gencost = [
	2	0	0	3	0.01	20	100	0	0	0;
	1	0	0	3	0	0	50	1000	80	2800;
	2	0	0	2	30 ...
		5	0	0	0	0;
];
mpc.bus_name = {
	'Bus 1 % not a comment';
};
"""


def parse(text: str, name: str = "tiny.m"):
    return parse_matpower(RawFile(name=name, data=text.encode()))


def test_small_case_every_field() -> None:
    net = parse(SMALL)
    assert net.name == "tiny"
    assert net.base_mva == 100
    assert list(net.buses.index) == ["1", "2", "3"]  # bus 4 is isolated (type 4) and left out
    assert net.buses.loc["2", "demand"] == 55.0  # PD + GS
    assert net.buses["is_ref"].tolist() == [True, False, False]
    br = net.branches
    assert list(br.index) == ["1", "2", "3"]  # branch 4 touches the isolated bus
    assert br.loc["1", "tap"] == 1.0
    assert br.loc["1", "kind"] == "line"
    assert np.isinf(br.loc["1", "rate_a"])
    assert br.loc["2", "tap"] == 0.98
    assert br.loc["2", "shift_deg"] == -3
    assert br.loc["2", "kind"] == "transformer"
    assert br.loc["2", "rate_a"] == 120
    assert not br.loc["3", "in_service"]
    g = net.generators
    assert g.loc["1", ["c2", "c1", "c0"]].tolist() == [0.01, 20, 100]
    assert g.loc["3", ["c2", "c1", "c0"]].tolist() == [0, 30, 5]  # NCOST 2, continued with '...'
    assert not g.loc["3", "in_service"]
    assert g.loc["2", "p_min"] == 10
    pts = net.cost_points
    assert pts["p_mw"].tolist() == [0, 50, 80]
    assert pts["cost"].tolist() == [0, 1000, 2800]
    assert set(pts["generator"]) == {"2"}


def tabs(row: str) -> str:
    """A matrix row as the case files write it: tab before every value."""
    return "".join(f"\t{v}" for v in row.split())


@pytest.mark.parametrize("old, new, line, problem", [
    ("2 2 50 10 5 0 1 1 0 230 1 1.1 0.9;", "2 2 5O 10 5 0 1 1 0 230 1 1.1 0.9;", 8, "'5O' is not a number"),
    ("2 3 0.02 0.2 0 120 0 0 0.98 -3 1 -360 360;", "2 3 0.02 0.2 0 120 0 0 0.98 -3 1 -360;", 19,
     "row has 12 columns, the first row has 13"),
    ("1 2 0.01 0.1 0 0 0 0 0 0 1 -360 360;", "1 9 0.01 0.1 0 0 0 0 0 0 1 -360 360;", 18, "refers to bus 9"),
    ("1 2 0.01 0.1 0 0 0 0 0 0 1 -360 360;", "1 2 0.01 0 0 0 0 0 0 0 1 -360 360;", 18, "zero reactance"),
    ("2 0 0 3 0.01 20 100 0 0 0;", "2 0 0 4 1 0.01 20 100 0 0;", 24, "above degree 2"),
    ("1 0 0 3 0 0 50 1000 80 2800;", "1 0 0 3 0 0 50 2000 80 2800;", 25, "not convex"),
    ("2 0 0 3 0.01 20 100 0 0 0;", "3 0 0 3 0.01 20 100 0 0 0;", 24, "gencost model 3"),
    ("2 2 50 10 5 0 1 1 0 230 1 1.1 0.9;", "1 2 50 10 5 0 1 1 0 230 1 1.1 0.9;", 8, "bus 1 is listed twice"),
    ("2 0 0 0 0 1 100 1 80 10 0", "2 0 0 0 0 1 100 1 8 10 0", 14, "PMIN 10 is above PMAX 8"),
])
def test_bad_rows_name_the_line(old: str, new: str, line: int, problem: str) -> None:
    old, new = tabs(old), tabs(new)
    assert old in SMALL
    with pytest.raises(IngestError) as err:
        parse(SMALL.replace(old, new, 1))
    assert err.value.source == "tiny.m"
    assert err.value.line == line
    assert problem in err.value.problem


def test_missing_and_unclosed_matrices() -> None:
    start, end = SMALL.index("mpc.branch = ["), SMALL.index("mpc.gencost")
    with pytest.raises(IngestError, match="no mpc.branch matrix"):
        parse(SMALL[:start] + SMALL[end:])
    with pytest.raises(IngestError, match=r"line 17: mpc.branch matrix is never closed"):
        parse(SMALL[:end].replace("];\nmpc.gencost", "") .rsplit("];", 1)[0])
    with pytest.raises(IngestError, match="no mpc.baseMVA"):
        parse(SMALL.replace("mpc.baseMVA = 100;", ""))
    with pytest.raises(IngestError, match="file is empty"):
        parse("")
    with pytest.raises(IngestError, match="case file not found"):
        read_matpower(Path("no/such/case.m"))
    with pytest.raises(IngestError, match="not a MATPOWER .m file"):
        load_case(Path(__file__))


CASES = {
    # file: buses, branches (in service), generators (in service), demand MW (PD + GS)
    "case14.m": (14, 20, 20, 5, 5, 259.0),
    "case118.m": (118, 186, 186, 54, 54, 4242.0),
    "case300.m": (300, 411, 411, 69, 69, None),
    "case2383wp.m": (2383, 2896, 2896, 327, 327, None),
    "case_ACTIVSg2000.m": (2000, 3206, 3206, 544, 432, None),
    "pglib_opf_case500_goc.m": (500, 733, 728, 224, None, None),
    "pglib_opf_case2000_goc.m": (2000, 3639, 3633, 384, None, None),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(CASES))
def test_real_case_sizes(data_dir: Path, name: str) -> None:
    buses, branches, live_br, gens, live_gens, demand = CASES[name]
    net = read_matpower(data_dir / "grids" / name)
    assert len(net.buses) == buses
    assert net.buses["is_ref"].sum() == 1
    assert len(net.branches) == branches
    assert net.branches["in_service"].sum() == live_br
    assert len(net.generators) == gens
    if live_gens is not None:
        assert net.generators["in_service"].sum() == live_gens
    if demand is not None:
        assert net.buses["demand"].sum() == pytest.approx(demand)


@pytest.mark.realdata
def test_real_case_spot_values(data_dir: Path) -> None:
    grids = data_dir / "grids"
    c14 = read_matpower(grids / "case14.m")
    # mpc.branch row 1: 1 2 0.01938 0.05917 ...; row 8 (4-7): ratio 0.978
    assert c14.branches.loc["1", ["from_bus", "to_bus", "r", "x"]].tolist() == ["1", "2", 0.01938, 0.05917]
    assert c14.branches.loc["8", "tap"] == 0.978
    assert c14.branches.loc["8", "kind"] == "transformer"
    assert c14.generators.loc["1", ["c2", "c1", "c0"]].tolist() == pytest.approx([0.0430293, 20, 0])
    assert c14.buses.loc["9", "demand"] == 29.5  # bus 9 has Bs = 19 but no Gs
    wp = read_matpower(grids / "case2383wp.m")
    assert (wp.branches["shift_deg"] != 0).sum() == 6
    assert (wp.generators["c2"] == 0).all()
    assert wp.generators.loc["1", "c1"] == 117.95
    pg = read_matpower(grids / "pglib_opf_case500_goc.m")
    # 10-column gen table; first generator: bus 272, PMAX 46.9, PMIN 22.026
    assert pg.generators.loc["1", ["bus", "p_max", "p_min"]].tolist() == ["272", 46.9, 22.026]
    assert pg.generators.loc["2", "c2"] == pytest.approx(0.001690)
    assert pg.generators.loc["2", "c1"] == 8.281
    sg = read_matpower(grids / "case_ACTIVSg2000.m")  # 25-column gen table
    assert sg.generators.loc["1", ["bus", "p_max", "p_min"]].tolist() == ["1004", 158.25, 158.25]


@pytest.mark.realdata
def test_list_cases(data_dir: Path) -> None:
    cases = list_cases(data_dir / "grids")
    assert {"case118", "pglib_opf_case500_goc", "scigrid-de"} <= set(cases["case"])
    assert cases.set_index("case").loc["scigrid-de", "kind"] == "pypsa-csv"
