"""Benchmark of the nodal LMP engine against PyPSA on the real grid cases.

    python bench/lmp.py [--data-dir DIR] [--pypsa-python PYTHON] [--pandapower-python PYTHON] [--repeat N]
                        [--cases case118.m,case2383wp.m]

For case118 (with the limits of tests/oracles/case118_limits.csv), pglib-opf 500, ACTIVSg2000, pglib-opf 2000
and case2383wp it prints: PTDF time (median of ``--repeat`` runs after one warm-up), DC-OPF solve time for 1 and 24
snapshots (24 = the case's demand scaled by a daily profile between 0.85 and 1.0), and end to end (read the
case + solve). The same is done by PyPSA (linopy + HiGHS, same snapshots, same limits, from the same case
file read by matpowercaseframes) in the same run, and the ratio PyPSA / engine is printed. pandapower's
sparse ``makePTDF`` (``using_sparse_solver=True``, the same median of ``--repeat`` runs after a warm-up, the
case read by matpowercaseframes beforehand) is timed beside the engine's PTDF. PTDF times are also given as the
best run and as CPU seconds: on a shared machine the wall time mostly measures the other programs; the load
average is printed at the start and the end of the run.

PyPSA needs pandas >= 3, so it runs in another interpreter: ``--pypsa-python`` or the environment variable
``C254_PYPSA_PYTHON`` names a Python with pypsa, highspy and matpowercaseframes (see
tests/oracles/pypsa_reference.py for the versions). pandapower needs pandas < 3: ``--pandapower-python``
or ``C254_PANDAPOWER_PYTHON`` names a Python with pandapower and matpowercaseframes (versions in
tests/oracles/pandapower_reference.py). Without them, the engine figures are printed and the other columns
say they were not available. ``--data-dir`` defaults to C254_DATA_DIR or ../shared/data.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = ["case118.m", "pglib_opf_case500_goc.m", "case_ACTIVSg2000.m", "pglib_opf_case2000_goc.m", "case2383wp.m"]
LIMITS = {"case118.m": REPO / "tests" / "oracles" / "case118_limits.csv"}
HOURS = 24


def profile() -> list[float]:
    import math

    return [0.85 + 0.15 * (1 - math.cos(2 * math.pi * h / HOURS)) / 2 for h in range(HOURS)]


def _limits(case: str) -> dict[int, float]:
    path = LIMITS.get(case)
    if path is None:
        return {}
    rows = path.read_text().splitlines()[1:]
    return {int(r.split(",")[0]): float(r.split(",")[1]) for r in rows if r.strip()}


# ----------------------------------------------------------------------------------------------- PyPSA side


def pypsa_worker(case_path: str, case: str) -> None:
    """Runs inside the PyPSA interpreter; prints one JSON line of timings."""
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(REPO / "tests" / "oracles"))
    from pypsa_cases import matpower_network, optimize, with_profile

    out: dict[str, float | list[float]] = {}
    started = time.perf_counter()
    n, _ = matpower_network(Path(case_path), _limits(case))
    out["build"] = time.perf_counter() - started
    t0 = time.perf_counter()
    _optimize_retrying(optimize, n, out)
    out["solve1"] = time.perf_counter() - t0
    out["end_to_end1"] = time.perf_counter() - started
    out["lmp1"] = [float(v) for v in n.buses_t.marginal_price.iloc[0].to_numpy()]
    # the 1-snapshot figures stand if the 24-snapshot solve times out; printed_at bounds how long that one ran
    print(json.dumps({**out, "printed_at": time.time()}), flush=True)
    started = time.perf_counter()
    n24, _ = matpower_network(Path(case_path), _limits(case))
    with_profile(n24, profile())
    t0 = time.perf_counter()
    _optimize_retrying(optimize, n24, out)
    out["solve24"] = time.perf_counter() - t0
    out["end_to_end24"] = time.perf_counter() - started
    print(json.dumps(out))


def _optimize_retrying(optimize, n, out: dict) -> None:
    """HiGHS's QP solver sometimes ends a large QP about 2e-7 MW outside a bound and reports a solve error;
    the same model then solves with a looser feasibility tolerance. The time of every attempt is counted."""
    for k, tol in enumerate((None, 1e-6, 1e-5)):
        try:
            optimize(n) if tol is None else optimize(n, primal_feasibility_tolerance=tol)
            out["retries"] = out.get("retries", 0) + k
            return
        except RuntimeError:
            if tol == 1e-5:
                raise


def pandapower_worker(case_path: str, repeat: str) -> None:
    """Runs inside the pandapower interpreter: times the sparse makePTDF; prints one JSON line."""
    import warnings

    import numpy as np
    from matpowercaseframes import CaseFrames
    from pandapower.pypower.makePTDF import makePTDF

    warnings.simplefilter("ignore")
    raw = CaseFrames(case_path).to_dict()
    bus = np.array(raw["bus"], dtype=float)
    branch = np.array(raw["branch"], dtype=float)
    # PYPOWER numbers buses 0..n-1 in its internal tables
    index = {int(b): k for k, b in enumerate(bus[:, 0])}
    bus[:, 0] = np.arange(len(bus))
    branch[:, 0] = [index[int(b)] for b in branch[:, 0]]
    branch[:, 1] = [index[int(b)] for b in branch[:, 1]]
    base = float(raw["baseMVA"])
    makePTDF(base, bus, branch, using_sparse_solver=True)
    times, cpu = [], []
    for _ in range(int(repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        makePTDF(base, bus, branch, using_sparse_solver=True)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(json.dumps({"ptdf": statistics.median(times), "ptdf_best": min(times), "ptdf_cpu": statistics.median(cpu)}))


def run_worker(python: str, flag: str, *args: str, what: str, timeout: float = 1800) -> dict | None:
    """Run this file's ``flag`` worker in another interpreter; its last JSON line, None when it failed. On a
    timeout, the last line it printed before (if any) with ``stopped_at``, the time it was stopped."""
    try:
        done = subprocess.run([python, str(Path(__file__).resolve()), flag, *args],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        printed = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        partial = [ln for ln in printed.splitlines() if ln.startswith("{")]
        print(f"  {what} run stopped after {timeout:.0f} s", file=sys.stderr)
        return {**json.loads(partial[-1]), "stopped_at": time.time()} if partial else None
    except OSError as exc:
        print(f"  {what} run failed: {exc}", file=sys.stderr)
        return None
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        print(f"  {what} run failed ({done.returncode}): {' | '.join(tail)}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def run_pypsa(python: str, case_path: Path, case: str, timeout: float) -> dict | None:
    return run_worker(python, "--pypsa-worker", str(case_path), case, what="PyPSA", timeout=timeout)


def run_pandapower(python: str, case_path: Path, repeat: int) -> dict | None:
    return run_worker(python, "--pandapower-worker", str(case_path), str(repeat), what="pandapower")


# ---------------------------------------------------------------------------------------------- engine side


def run_engine(case_path: Path, case: str, repeat: int) -> dict:
    import numpy as np
    import pandas as pd

    from engine.lmp.cases import load_case, read_rate_a_overrides
    from engine.lmp.opf import solve_dcopf
    from engine.lmp.ptdf import dc_model

    out: dict = {}
    started = time.perf_counter()
    net = load_case(case_path)
    if case in LIMITS:
        net = net.with_rate_a(read_rate_a_overrides(LIMITS[case], net))
    out["load"] = time.perf_counter() - started
    model = dc_model(net)
    model.ptdf()
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        dc_model(net).ptdf()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    out["ptdf"] = statistics.median(times)
    out["ptdf_best"] = min(times)
    out["ptdf_cpu"] = statistics.median(cpu)
    solve1, solve24 = [], []
    net24 = net.with_demand_profile(pd.Series(profile(), index=pd.RangeIndex(HOURS, name="snapshot")))
    res1 = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res1 = solve_dcopf(net)
        solve1.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res24 = solve_dcopf(net24)
        solve24.append(time.perf_counter() - t0)
    out["solve1"] = statistics.median(solve1)
    out["solve24"] = statistics.median(solve24)
    out["end_to_end1"] = out["load"] + out["solve1"]
    out["end_to_end24"] = out["load"] + out["solve24"]
    out["lmp1"] = res1.nodes["lmp"].to_numpy()
    out["buses"] = len(net.buses)
    out["binding24"] = len(res24.binding)
    out["np"] = np
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("C254_DATA_DIR") or REPO.parent / "shared" / "data"))
    parser.add_argument("--pypsa-python", default=os.environ.get("C254_PYPSA_PYTHON"))
    parser.add_argument("--pandapower-python", default=os.environ.get("C254_PANDAPOWER_PYTHON"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pypsa-timeout", type=float, default=1800,
                        help="seconds a PyPSA case may take; past it the 24-snapshot figures are lower bounds")
    parser.add_argument("--cases", default=",".join(CASES),
                        help="comma-separated case files of the grids folder (default: the five above)")
    parser.add_argument("--pypsa-worker", nargs=2, metavar=("CASE_PATH", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--pandapower-worker", nargs=2, metavar=("CASE_PATH", "REPEAT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pypsa_worker:
        pypsa_worker(*args.pypsa_worker)
        return 0
    if args.pandapower_worker:
        pandapower_worker(*args.pandapower_worker)
        return 0
    sys.path.insert(0, str(REPO))
    import engine.lmp.opf  # noqa: F401 -- loads numpy's and scipy's BLAS, which threadpoolctl limits only once loaded
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # as the app runs the engine (app.factory)
    if not args.pypsa_python:
        print("PyPSA: not available (set --pypsa-python or C254_PYPSA_PYTHON); engine figures only")
    if not args.pandapower_python:
        print("pandapower: not available (set --pandapower-python or C254_PANDAPOWER_PYTHON)")
    print("load average at start (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    header = (f"{'case':<24}{'buses':>6} {'PTDF s':>8} {'best':>6} {'cpu':>6} {'pp PTDF':>8} {'best':>6} {'cpu':>6}"
              f" {'1h s':>8} {'24h s':>8} {'e2e 1h':>8}"
              f" {'e2e 24h':>8}"
              f" | {'PyPSA 1h':>9} {'PyPSA 24h':>9} {'x 1h':>6} {'x 24h':>6} {'x e2e24':>7} {'max dLMP':>9}")
    print(header)
    print("-" * len(header))
    for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
        path = args.data_dir / "grids" / case
        eng = run_engine(path, case, args.repeat)
        pp = run_pandapower(args.pandapower_python, path, args.repeat) if args.pandapower_python else None
        pp_ptdf = (f"{pp['ptdf']:>8.3f} {pp['ptdf_best']:>6.3f} {pp['ptdf_cpu']:>6.3f}" if pp
                   else f"{'n/a':>8} {'':>6} {'':>6}")
        line = (f"{case:<24}{eng['buses']:>6} {eng['ptdf']:>8.3f} {eng['ptdf_best']:>6.3f} {eng['ptdf_cpu']:>6.3f}"
                f" {pp_ptdf} {eng['solve1']:>8.3f}"
                f" {eng['solve24']:>8.3f}"
                f" {eng['end_to_end1']:>8.3f} {eng['end_to_end24']:>8.3f}")
        ref = run_pypsa(args.pypsa_python, path, case, args.pypsa_timeout) if args.pypsa_python else None
        if ref is None:
            line += " | PyPSA not available"
        else:
            np = eng["np"]
            dlmp = float(np.abs(np.asarray(ref["lmp1"]) - eng["lmp1"]).max())
            if "solve24" in ref:
                day = (f"{ref['solve24']:>9.3f}", f"{ref['solve24'] / eng['solve24']:>6.1f}",
                       f"{ref['end_to_end24'] / eng['end_to_end24']:>7.1f}")
            else:  # stopped in the 24-snapshot run: it took at least the time since the first was printed
                e2e = ref["stopped_at"] - ref["printed_at"]
                solve = e2e - ref["build"]  # less building the network, as long as for one snapshot
                day = (f"{'>' + format(solve, '.0f'):>9}", f"{'>' + format(solve / eng['solve24'], '.0f'):>6}",
                       f"{'>' + format(e2e / eng['end_to_end24'], '.0f'):>7}")
            line += (f" | {ref['solve1']:>9.3f} {day[0]} {ref['solve1'] / eng['solve1']:>6.1f}"
                     f" {day[1]} {day[2]} {dlmp:>9.2g}")
        print(line, flush=True)
    print("times in seconds (medians; best = fastest run; cpu = median CPU seconds of the process, which the "
          "other programs on a shared machine do not inflate); pp PTDF = pandapower's sparse makePTDF; "
          "x = PyPSA time / engine time ('>' where PyPSA's 24-snapshot solve was stopped at --pypsa-timeout); "
          "e2e = read case + solve; max dLMP = largest |LMP difference| $/MWh on the "
          "1-snapshot solve (includes buses whose price is not unique)")
    print("load average at end (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
