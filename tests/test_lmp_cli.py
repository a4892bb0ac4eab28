"""``python -m engine.lmp solve``: the files it writes, and bad input refused with exit status 2."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.lmp.cases import load_case, read_rate_a_overrides
from engine.lmp.cli import main
from engine.lmp.opf import solve_dcopf

REPO = Path(__file__).resolve().parent.parent
LIMITS = REPO / "tests" / "oracles" / "case118_limits.csv"


@pytest.mark.realdata
def test_solve_writes_nodes_and_binding(data_dir: Path, tmp_path: Path) -> None:
    case = data_dir / "grids" / "case118.m"
    out = tmp_path / "study" / "result.csv"
    assert main(["solve", str(case), "--rate-a", str(LIMITS), "--out", str(out)]) == 0
    nodes = pd.read_csv(out, dtype={"bus": str})
    binding = pd.read_csv(tmp_path / "study" / "result_binding.csv", dtype={"branch": str})
    assert list(nodes.columns) == ["bus", "lmp", "energy", "congestion", "loss"]
    assert len(nodes) == 118
    assert list(binding.columns) == ["branch", "from_bus", "to_bus", "flow_mw", "limit_mw", "shadow_price"]
    net = load_case(case)
    expected = solve_dcopf(net.with_rate_a(read_rate_a_overrides(LIMITS, net)))
    assert np.abs(nodes["lmp"].to_numpy() - expected.nodes["lmp"].to_numpy()).max() < 1e-6
    assert (nodes["loss"] == 0).all()
    assert sorted(binding["branch"]) == sorted(expected.binding["branch"])
    assert binding.set_index("branch").loc["141", "shadow_price"] == pytest.approx(-8.28032, abs=1e-5)


@pytest.mark.realdata
def test_losses_and_stdout(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(data_dir / "grids" / "case14.m"), "--losses"]) == 0
    text = capsys.readouterr().out
    node_part, binding_part = text.split("\n\n")
    nodes = pd.read_csv(io.StringIO(node_part), dtype={"bus": str}).set_index("bus")
    assert len(nodes) == 14
    assert nodes.loc["1", "loss"] == 0
    assert nodes["loss"].abs().max() > 0.5
    gap = nodes["energy"] + nodes["congestion"] + nodes["loss"] - nodes["lmp"]
    assert gap.abs().max() < 1e-5  # written with 6 decimals
    assert binding_part.startswith("branch,from_bus,to_bus,flow_mw,limit_mw,shadow_price")


def test_timed_case_has_snapshot_column(tmp_path: Path) -> None:
    folder = tmp_path / "net"
    folder.mkdir()
    (folder / "buses.csv").write_text("name,v_nom\na,110\nb,110\n")
    (folder / "lines.csv").write_text("name,bus0,bus1,s_nom,x\nl1,a,b,40,12.1\n")
    (folder / "generators.csv").write_text("name,bus,p_nom,marginal_cost\nga,a,100,10\ngb,b,100,30\n")
    (folder / "loads.csv").write_text("name,bus\nd,b\n")
    (folder / "snapshots.csv").write_text(",snapshot\n0,2020-01-01 00:00:00\n1,2020-01-01 01:00:00\n")
    (folder / "loads-p_set.csv").write_text(",d\n0,30\n1,60\n")
    out = tmp_path / "r.csv"
    assert main(["solve", str(folder), "--out", str(out), "--reference", "load"]) == 0
    nodes = pd.read_csv(out)
    assert list(nodes.columns[:2]) == ["snapshot", "bus"]
    assert len(nodes) == 4
    # Hour 0: the 40 MW line carries all 30 MW, both buses at 10. Hour 1: congested, bus b at 30.
    assert nodes["lmp"].tolist() == pytest.approx([10, 10, 10, 30])
    assert nodes["energy"].tolist() == pytest.approx([10, 10, 30, 30])  # load-weighted: all load at b
    binding = pd.read_csv(tmp_path / "r_binding.csv")
    assert binding[["snapshot", "branch", "shadow_price"]].values.tolist() == [["2020-01-01 01:00:00", "l1", -20.0]]


@pytest.mark.realdata
@pytest.mark.parametrize("content, message", [
    ("branch,rate_a_mw\n999,10\n", "line 2: branch 999 is out of range 1..186"),
    ("branch,rate_a_mw\n0,10\n", "line 2: branch 0 is out of range 1..186"),
    ("branch,rate\n1,10\n", "line 1: missing columns ['rate_a_mw']"),
    ("branch,rate_a_mw\n1,ten\n", "line 2: rate_a_mw 'ten' is not a number"),
    ("branch,rate_a_mw\n1,10\nx,5\n", "line 3: branch 'x' is not a row number"),
    ("branch,rate_a_mw\n1,-5\n", "line 2: rate_a_mw '-5' must be a non-negative number"),
    ("branch,rate_a_mw\n1,5\n1,6\n", "a branch is listed twice"),
    ("", "file is empty"),
])
def test_bad_limits_file(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                         message: str) -> None:
    limits = tmp_path / "limits.csv"
    limits.write_text(content)
    out = tmp_path / "never.csv"
    assert main(["solve", str(data_dir / "grids" / "case118.m"), "--rate-a", str(limits), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {limits}")
    assert message in err
    assert not out.exists()


def test_missing_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(tmp_path / "none.m")]) == 2
    assert "none.m: case file not found" in capsys.readouterr().err
    assert main(["solve", str(tmp_path / "folder")]) == 2
    assert "case not found" in capsys.readouterr().err


@pytest.mark.realdata
def test_module_entry_point(data_dir: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "engine.lmp", "solve", str(data_dir / "grids" / "case14.m")],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr
    # Nothing but the two CSV tables on stdout (no solver banner).
    assert run.stdout.startswith("bus,lmp,energy,congestion,loss\n1,")
    assert run.stdout.count("\n\n") == 1
    bad = subprocess.run([sys.executable, "-m", "engine.lmp", "solve", "nowhere.m"], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert bad.returncode == 2
    assert "nowhere.m: case file not found" in bad.stderr
