"""Read MATPOWER case files (``.m``, format version 2), including pglib-opf cases, into a :class:`Network`.

Only the numeric assignments are read: ``mpc.baseMVA`` and the matrices ``mpc.bus``, ``mpc.gen``,
``mpc.branch`` and ``mpc.gencost``. Comments (``%``), rows ended by ``;`` or a line break, tabs, commas,
``...`` continuations and gen tables of 10, 21 or 25 columns are all accepted; cell arrays such as
``mpc.bus_name`` are skipped.

Mapping to the DC model (as MATPOWER's ``makeBdc`` and ``opf_setup``): bus demand is ``PD + GS`` (the
shunt conductance draws ``GS`` MW at 1 p.u. voltage); isolated buses (type 4) and the branches and
generators on them are left out; a branch TAP of 0 means ratio 1; ``RATE_A`` 0 means unlimited; branch and
generator status 0 keeps the row with ``in_service`` False. Names are the case's own numbers: buses by
``BUS_I``, branches and generators by their 1-based row in the case's table.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from engine.lmp.network import Network, empty_cost_points
from engine.files import IngestError, RawFile, decode_text

log = logging.getLogger(__name__)

_ASSIGN = re.compile(r"^\s*mpc\.(\w+)\s*=\s*(.*)$")
_FUNCTION = re.compile(r"^\s*function\s+mpc\s*=\s*(\w+)")
_MIN_COLUMNS = {"bus": 13, "gen": 10, "branch": 11, "gencost": 4}


def read_matpower(path: str | Path) -> Network:
    """Load a MATPOWER case file; raise IngestError naming file, line and problem on bad input."""
    p = Path(path)
    if not p.is_file():
        raise IngestError(str(p), None, "case file not found")
    return parse_matpower(RawFile(name=str(p), data=p.read_bytes()))


def parse_matpower(raw: RawFile) -> Network:
    text = decode_text(raw, ("utf-8-sig", "latin-1"))
    scalars, matrices, name = _scan(raw.name, text)
    for required in ("bus", "gen", "branch"):
        if required not in matrices:
            raise IngestError(raw.name, None, f"no mpc.{required} matrix")
    if "baseMVA" not in scalars:
        raise IngestError(raw.name, None, "no mpc.baseMVA")
    case_name = name or Path(raw.name).stem
    return _build(raw.name, case_name, scalars["baseMVA"][0], matrices, scalars["baseMVA"][1])


def _strip_comment(line: str) -> str:
    # '%' starts a comment except inside a quoted string (cell arrays of names).
    out, quoted = [], False
    for ch in line:
        if ch == "'":
            quoted = not quoted
        elif ch == "%" and not quoted:
            break
        out.append(ch)
    return "".join(out)


def _number(source: str, line: int, token: str, where: str) -> float:
    low = token.lower()
    if low in ("inf", "+inf"):
        return np.inf
    if low == "-inf":
        return -np.inf
    if low == "nan":
        return np.nan
    try:
        return float(token)
    except ValueError:
        raise IngestError(source, line, f"{where}: {token!r} is not a number") from None


def _scan(source: str, text: str) -> tuple[dict[str, tuple[float, int]], dict[str, tuple[np.ndarray, list[int]]],
                                           str | None]:
    """Find scalar and matrix assignments; matrices come with the file line of each row."""
    scalars: dict[str, tuple[float, int]] = {}
    matrices: dict[str, tuple[np.ndarray, list[int]]] = {}
    case_name: str | None = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = _strip_comment(lines[i])
        i += 1
        if case_name is None and (m := _FUNCTION.match(line)):
            case_name = m.group(1)
            continue
        m = _ASSIGN.match(line)
        if not m:
            continue
        key, rest = m.group(1), m.group(2).strip()
        if rest.startswith("{"):
            # A cell array (names, fuel types): skip to its closing brace.
            while "}" not in rest and i < len(lines):
                rest = _strip_comment(lines[i])
                i += 1
            continue
        if not rest.startswith("["):
            value = rest.rstrip(";").strip()
            if value.startswith("'"):
                continue
            scalars[key] = (_number(source, lineno, value, f"mpc.{key}"), lineno)
            continue
        body = rest[1:]
        rows: list[list[float]] = []
        row_lines: list[int] = []
        current: list[float] = []
        current_line = lineno
        closed = False
        body_line = lineno
        while True:
            if "..." in body:
                body = body.split("...")[0]
                cont = True
            else:
                cont = False
            end = body.find("]")
            if end >= 0:
                body, closed = body[:end], True
            for k, chunk in enumerate(body.split(";")):
                if k > 0 and current:
                    rows.append(current)
                    row_lines.append(current_line)
                    current = []
                for token in chunk.replace(",", " ").split():
                    if not current:
                        current_line = body_line
                    current.append(_number(source, body_line, token, f"mpc.{key} row {len(rows) + 1}"))
            if not cont and current:
                rows.append(current)
                row_lines.append(current_line)
                current = []
            if closed:
                break
            if i >= len(lines):
                raise IngestError(source, lineno, f"mpc.{key} matrix is never closed with ']'")
            body = _strip_comment(lines[i])
            body_line = i + 1
            i += 1
        if not rows:
            matrices[key] = (np.zeros((0, _MIN_COLUMNS.get(key, 0))), [])
            continue
        width = len(rows[0])
        for r, rl in zip(rows, row_lines, strict=True):
            if len(r) != width:
                raise IngestError(source, rl, f"mpc.{key} row has {len(r)} columns, the first row has {width}")
        if key in _MIN_COLUMNS and width < _MIN_COLUMNS[key]:
            raise IngestError(source, row_lines[0],
                              f"mpc.{key} has {width} columns, MATPOWER needs at least {_MIN_COLUMNS[key]}")
        matrices[key] = (np.array(rows, dtype=float), row_lines)
    return scalars, matrices, case_name


def _build(source: str, case_name: str, base_mva: float, matrices: dict[str, tuple[np.ndarray, list[int]]],
           base_line: int) -> Network:
    if not np.isfinite(base_mva) or base_mva <= 0:
        raise IngestError(source, base_line, f"mpc.baseMVA must be positive, got {base_mva}")
    buses, known, isolated = _buses(source, *matrices["bus"])

    def bus_of(value: float, line: int, what: str) -> str:
        b = int(value)
        if value != b or b not in known:
            raise IngestError(source, line, f"{what} refers to bus {value:g}, which is not in mpc.bus")
        return str(b)

    branches = _branches(source, *matrices["branch"], bus_of, isolated)
    generators, cost_points = _generators(source, matrices, bus_of, isolated)
    return Network(name=case_name, base_mva=float(base_mva), buses=buses, branches=branches,
                   generators=generators, cost_points=cost_points)


def _buses(source: str, bus: np.ndarray, bus_lines: list[int]) -> tuple[pd.DataFrame, set[int], set[int]]:
    """The buses in service, the numbers of all buses, and those of the isolated ones (type 4)."""
    bus_ids = bus[:, 0]
    for k in range(len(bus_ids)):
        if bus_ids[k] != int(bus_ids[k]) or bus_ids[k] <= 0:
            raise IngestError(source, bus_lines[k], f"bus number {bus_ids[k]} is not a positive integer")
    uniq, counts = np.unique(bus_ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        raise IngestError(source, bus_lines[int(np.flatnonzero(bus_ids == dup)[1])], f"bus {int(dup)} is listed twice")
    types = bus[:, 1].astype(int)
    bad_type = ~np.isin(types, (1, 2, 3, 4))
    if bad_type.any():
        k = int(np.flatnonzero(bad_type)[0])
        raise IngestError(source, bus_lines[k], f"bus type {types[k]} is not 1, 2, 3 or 4")
    isolated = {int(b) for b, t in zip(bus_ids, types, strict=True) if t == 4}
    buses = pd.DataFrame({
        "v_nom": bus[:, 9],
        "x": np.nan,
        "y": np.nan,
        "is_ref": types == 3,
        "demand": bus[:, 2] + bus[:, 4],
    }, index=pd.Index([str(int(b)) for b in bus_ids], name="bus"))[types != 4]
    if not buses["is_ref"].any():
        log.warning("%s: no reference bus (type 3); the solver picks one per island", source)
    return buses, {int(b) for b in bus_ids}, isolated


def _branches(source: str, branch: np.ndarray, branch_lines: list[int], bus_of: Callable[[float, int, str], str],
              isolated: set[int]) -> pd.DataFrame:
    n_br = len(branch)
    f_names = [bus_of(branch[k, 0], branch_lines[k], "branch") for k in range(n_br)]
    t_names = [bus_of(branch[k, 1], branch_lines[k], "branch") for k in range(n_br)]
    tap = branch[:, 8].copy()
    shift = branch[:, 9].copy()
    kind = np.where((tap != 0) | (shift != 0), "transformer", "line")
    tap[tap == 0] = 1.0
    rate = branch[:, 5].copy()
    if (rate < 0).any():
        k = int(np.flatnonzero(rate < 0)[0])
        raise IngestError(source, branch_lines[k], f"RATE_A {rate[k]:g} is negative")
    rate[rate == 0] = np.inf
    status = branch[:, 10] > 0
    touches_isolated = np.array([int(branch[k, 0]) in isolated or int(branch[k, 1]) in isolated
                                 for k in range(n_br)], dtype=bool)
    if (touches_isolated & status).any():
        k = int(np.flatnonzero(touches_isolated & status)[0])
        log.warning("%s line %d: in-service branch to an isolated bus is left out", source, branch_lines[k])
    zero_x = (branch[:, 3] == 0) & status & ~touches_isolated
    if zero_x.any():
        k = int(np.flatnonzero(zero_x)[0])
        raise IngestError(source, branch_lines[k], "in-service branch has zero reactance (BR_X = 0)")
    columns = {"from_bus": f_names, "to_bus": t_names, "r": branch[:, 2], "x": branch[:, 3], "tap": tap,
               "shift_deg": shift, "rate_a": rate, "in_service": status, "kind": kind,
               "source_row": np.arange(1, n_br + 1)}
    index = pd.Index([str(k + 1) for k in range(n_br)], name="branch")
    return pd.DataFrame(columns, index=index)[~touches_isolated]


def _generators(source: str, matrices: dict[str, tuple[np.ndarray, list[int]]],
                bus_of: Callable[[float, int, str], str], isolated: set[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The generators not on an isolated bus, and the points of their piecewise-linear costs."""
    gen, gen_lines = matrices["gen"]
    n_gen = len(gen)
    g_bus = [bus_of(gen[k, 0], gen_lines[k], "generator") for k in range(n_gen)]
    g_status = gen[:, 7] > 0
    on_isolated = np.array([int(gen[k, 0]) in isolated for k in range(n_gen)], dtype=bool)
    g_names = [str(k + 1) for k in range(n_gen)]
    if "gencost" in matrices:
        c0, c1, c2, points = _costs(source, *matrices["gencost"], g_names)
    else:
        log.warning("%s: no mpc.gencost; every generator costs nothing", source)
        c0, c1, c2, points = np.zeros(n_gen), np.zeros(n_gen), np.zeros(n_gen), []
    generators = pd.DataFrame({
        "bus": g_bus,
        "p_min": gen[:, 9],
        "p_max": gen[:, 8],
        "c0": c0,
        "c1": c1,
        "c2": c2,
        "in_service": g_status,
        "carrier": "",
    }, index=pd.Index(g_names, name="generator"))
    bad = g_status & ~on_isolated & (gen[:, 9] > gen[:, 8] + 1e-9)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise IngestError(source, gen_lines[k], f"PMIN {gen[k, 9]:g} is above PMAX {gen[k, 8]:g}")
    generators = generators[~on_isolated]
    cost_points = (pd.DataFrame(points, columns=["generator", "point", "p_mw", "cost"]) if points
                   else empty_cost_points())
    return generators, cost_points[cost_points["generator"].isin(generators.index)].reset_index(drop=True)


def _costs(source: str, cost: np.ndarray, cost_lines: list[int], g_names: list[str]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, int, float, float]]]:
    """Polynomial coefficients (c0, c1, c2) per generator and the points of piecewise-linear costs."""
    n_gen = len(g_names)
    if len(cost) < n_gen:
        raise IngestError(source, cost_lines[-1] if cost_lines else None,
                          f"mpc.gencost has {len(cost)} rows for {n_gen} generators")
    c0, c1, c2 = np.zeros(n_gen), np.zeros(n_gen), np.zeros(n_gen)
    points: list[tuple[str, int, float, float]] = []
    for k in range(n_gen):
        model, ncost, line = int(cost[k, 0]), int(cost[k, 3]), cost_lines[k]
        width = ncost if model == 2 else 2 * ncost
        if cost.shape[1] < 4 + width:
            raise IngestError(source, line, f"gencost row needs {4 + width} columns for NCOST {ncost}")
        params = cost[k, 4:4 + width]
        if model == 2:
            coeffs = params[::-1]  # lowest order first
            if len(coeffs) > 3 and np.any(coeffs[3:] != 0):
                raise IngestError(source, line, "polynomial costs above degree 2 are not supported")
            coeffs = np.pad(coeffs, (0, max(0, 3 - len(coeffs))))
            c0[k], c1[k], c2[k] = coeffs[:3]
            if c2[k] < 0:
                raise IngestError(source, line, "negative quadratic cost coefficient (non-convex cost)")
        elif model == 1:
            xs, ys = params[0::2], params[1::2]
            if ncost < 2 or np.any(np.diff(xs) <= 0):
                raise IngestError(source, line, "piecewise-linear cost needs 2+ points with increasing MW")
            slopes = np.diff(ys) / np.diff(xs)
            if np.any(np.diff(slopes) < -1e-9):
                raise IngestError(source, line, "piecewise-linear cost is not convex")
            points.extend((g_names[k], j, float(xs[j]), float(ys[j])) for j in range(ncost))
        else:
            raise IngestError(source, line, f"gencost model {model} is not 1 (piecewise) or 2 (polynomial)")
    return c0, c1, c2, points
