"""Command line for batch nodal-price studies.

    python -m engine.lmp solve CASE [--rate-a LIMITS.csv] [--losses] [--reference slack|load] [--out RESULT.csv]

CASE is a MATPOWER ``.m`` file or a PyPSA CSV folder. LIMITS.csv has columns ``branch,rate_a_mw`` (branch =
1-based row of the case's branch table; for a PyPSA folder, lines.csv rows then transformers.csv rows)
overriding those limits (0 = unlimited). The solve is a lossless DC-OPF unless ``--losses``, so the loss
column is 0 by default.

RESULT.csv has one row per bus (and snapshot, for cases with time series): ``[snapshot,]bus,lmp,energy,
congestion,loss`` in $/MWh. The binding branches go to ``RESULT_binding.csv`` beside it: ``[snapshot,]
branch,from_bus,to_bus,flow_mw,limit_mw,shadow_price`` (sign conventions in :mod:`engine.lmp.opf`). Without
``--out`` both tables are written to standard output, the binding table after a blank line. Bad input
ends with exit status 2 and a message naming the file, line and problem.

    python -m engine.lmp infer-constraints COMPONENTS.csv --case CASE [--tolerance 0.005] [--all-branches]
        [--out CONSTRAINTS.csv]

infers the binding branches behind published congestion components (:mod:`engine.lmp.inference`).
COMPONENTS.csv has columns ``time,bus,congestion`` (bus names as in CASE, $/MWh); CONSTRAINTS.csv gets
``time,branch,corridor,shadow_price``, one row per inferred binding branch and hour (standard output without
``--out``).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from engine.lmp.cases import load_case, read_rate_a_overrides
from engine.lmp.opf import OpfError, OpfResult, solve_dcopf
from engine.files import IngestError

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.lmp", description="Nodal prices by DC optimal power flow")
    sub = parser.add_subparsers(dest="command", required=True)
    solve = sub.add_parser("solve", help="solve a case and write LMP components and binding branches")
    solve.add_argument("case", type=Path, help="MATPOWER .m file or PyPSA CSV folder")
    solve.add_argument("--rate-a", type=Path, dest="rate_a", help="CSV branch,rate_a_mw overriding branch limits")
    solve.add_argument("--losses", action="store_true", help="price marginal losses (default: lossless)")
    solve.add_argument("--reference", choices=("slack", "load"), default="slack",
                       help="energy reference: the slack bus or the load-weighted average (default slack)")
    solve.add_argument("--out", type=Path, help="RESULT.csv; binding branches go to RESULT_binding.csv")
    infer = sub.add_parser("infer-constraints", help="infer binding branches from published congestion components")
    infer.add_argument("components", type=Path, help="CSV time,bus,congestion ($/MWh)")
    infer.add_argument("--case", type=Path, required=True, help="MATPOWER .m file or PyPSA CSV folder")
    infer.add_argument("--tolerance", type=float, default=0.005,
                       help="how far the fit may miss a published figure, $/MWh (default 0.005: two decimals)")
    infer.add_argument("--all-branches", action="store_true", dest="all_branches",
                       help="let every in-service branch bind, not only those with a limit in the case")
    infer.add_argument("--out", type=Path, help="CONSTRAINTS.csv (default: standard output)")
    return parser


def binding_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}_binding{out.suffix or '.csv'}")


def result_tables(result: OpfResult, timed: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The node and binding tables as the CLI writes them (snapshot column only for timed cases)."""
    nodes = result.nodes[["snapshot", "bus", "lmp", "energy", "congestion", "loss"]]
    binding = result.binding[["snapshot", "branch", "from_bus", "to_bus", "flow_mw", "limit_mw", "shadow_price"]]
    if not timed:
        nodes = nodes.drop(columns="snapshot")
        binding = binding.drop(columns="snapshot")
    return nodes, binding


def run_solve(args: argparse.Namespace) -> int:
    network = load_case(args.case)
    if args.rate_a is not None:
        network = network.with_rate_a(read_rate_a_overrides(args.rate_a, network))
    result = solve_dcopf(network, losses=args.losses, reference=args.reference)
    timed = network.demand is not None or network.p_max_pu is not None
    nodes, binding = result_tables(result, timed)
    if args.out is None:
        nodes.to_csv(sys.stdout, index=False, float_format="%.6f")
        sys.stdout.write("\n")
        binding.to_csv(sys.stdout, index=False, float_format="%.6f")
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        nodes.to_csv(args.out, index=False, float_format="%.6f")
        binding.to_csv(binding_path(args.out), index=False, float_format="%.6f")
    log.info("%s: %d buses x %d snapshots, %d binding limits, cost %.2f", network.name, len(network.buses),
             len(result.snapshots), len(binding), result.objective)
    return 0


def run_infer(args: argparse.Namespace) -> int:
    from engine.lmp.inference import infer_constraints

    path = args.components
    if not path.is_file():
        raise IngestError(str(path), None, "components file not found")
    try:
        # Everything as text first so that a non-numeric congestion is reported, not silently NaN.
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise IngestError(str(path), None, f"not a readable CSV ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    network = load_case(args.case)
    try:
        out = infer_constraints(network, frame, tolerance=args.tolerance,
                                candidates="all" if args.all_branches else "limited")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if args.out is None:
        out.to_csv(sys.stdout, index=False, float_format="%.6f")
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(args.out, index=False, float_format="%.6f")
    fit = out.attrs["fit"]
    log.info("%s: %d hours, %d binding branch-hours, largest misfit %.4f $/MWh", network.name, len(fit), len(out),
             fit["max_misfit"].max() if len(fit) else 0.0)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        return run_infer(args) if args.command == "infer-constraints" else run_solve(args)
    except (IngestError, OpfError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        sys.stderr.write(f"error: {message}\n")
        return 2
