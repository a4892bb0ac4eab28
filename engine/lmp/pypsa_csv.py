"""Read a PyPSA CSV folder (as written by ``Network.export_to_csv_folder``) into a :class:`Network`.

Read: ``buses.csv`` (``x``/``y`` coordinates, ``v_nom``, ``control``), ``lines.csv`` (``x``/``r`` in ohm,
or a standard ``type`` with ``length`` and ``num_parallel``), ``transformers.csv`` (``x``/``r`` in p.u. of
their own ``s_nom``, ``tap_ratio``, ``phase_shift``), ``generators.csv`` (``p_nom``, ``p_min_pu``,
``p_max_pu``, ``marginal_cost``, ``marginal_cost_quadratic``), ``loads.csv``, and the time series
``loads-p_set.csv`` and ``generators-p_max_pu.csv`` whose rows ``snapshots.csv`` maps to timestamps.

The per-unit system is PyPSA's: base 1 MVA, so a line's ``x`` p.u. is ohms / v_nom(kV)^2 and a
transformer's is ``x / s_nom``. Branch limits are ``s_nom * s_max_pu``. Storage units, stores and links are
not part of the DC model here: they are reported in the log and left out.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from engine.lmp.line_types import LINE_TYPES
from engine.lmp.network import Network, empty_cost_points
from engine.files import IngestError, RawFile, decode_text

log = logging.getLogger(__name__)

_IGNORED = ("storage_units.csv", "stores.csv", "links.csv")


def _demand(root: Path, loads: pd.DataFrame | None, bus_index: pd.Index,
            snapshots: pd.Series | None) -> tuple[pd.Series, pd.DataFrame | None]:
    """Static demand per bus, and demand per snapshot and bus when the folder has a load series."""
    static_load = pd.Series(0.0, index=bus_index)
    if loads is None or not len(loads):
        return static_load, None
    _need(root / "loads.csv", loads, ["bus"])
    unknown = ~loads["bus"].isin(bus_index)
    if unknown.any():
        raise IngestError(str(root / "loads.csv"), _line(loads, unknown),
                          f"load bus {loads['bus'][unknown].iloc[0]!r} is not in buses.csv")
    p_set = _float(root / "loads.csv", loads, "p_set", 0.0)
    static_load = p_set.groupby(loads["bus"]).sum().reindex(bus_index, fill_value=0.0)
    series = _series(root / "loads-p_set.csv", snapshots, loads.index, "load")
    if series is None:
        return static_load, None
    full = pd.DataFrame(np.tile(p_set.to_numpy(float), (len(series), 1)), index=series.index, columns=loads.index)
    full[series.columns] = series
    demand = full.T.groupby(loads["bus"]).sum().T.reindex(columns=bus_index, fill_value=0.0)
    demand.index.name = "snapshot"
    return static_load, demand


def read_pypsa_csv(folder: str | Path, name: str | None = None) -> Network:
    """Load a PyPSA CSV folder; raise IngestError naming the file, line and problem on bad input."""
    root = Path(folder)
    if not root.is_dir():
        raise IngestError(str(root), None, "PyPSA CSV folder not found")
    for fname in ("buses.csv", "lines.csv", "generators.csv"):
        if not (root / fname).is_file():
            raise IngestError(str(root / fname), None, "required file is missing from the PyPSA CSV folder")
    buses = _read(root / "buses.csv", index=True)
    _need(root / "buses.csv", buses, ["v_nom"])
    lines = _read(root / "lines.csv", index=True)
    _need(root / "lines.csv", lines, ["bus0", "bus1", "s_nom"])
    trafos = _read(root / "transformers.csv", index=True) if (root / "transformers.csv").is_file() else None
    gens = _read(root / "generators.csv", index=True)
    _need(root / "generators.csv", gens, ["bus", "p_nom"])
    loads = _read(root / "loads.csv", index=True) if (root / "loads.csv").is_file() else None
    for fname in _IGNORED:
        if (root / fname).is_file():
            count = len(_read(root / fname, index=True))
            if count:
                log.warning("%s: %d rows in %s are not modelled by the DC-OPF", root.name, count, fname)

    v_nom = _float(root / "buses.csv", buses, "v_nom")
    if (v_nom <= 0).any():
        raise IngestError(str(root / "buses.csv"), _line(buses, v_nom <= 0), "v_nom must be positive")
    bus_table = pd.DataFrame({
        "v_nom": v_nom,
        "x": _float(root / "buses.csv", buses, "x", np.nan),
        "y": _float(root / "buses.csv", buses, "y", np.nan),
        "is_ref": buses.get("control", pd.Series("", index=buses.index)).fillna("").eq("Slack"),
        "demand": 0.0,
    }, index=pd.Index(buses.index, name="bus"))

    branch_parts = [_lines(root / "lines.csv", lines, v_nom)]
    if trafos is not None and len(trafos):
        branch_parts.append(_transformers(root / "transformers.csv", trafos))
    branches = pd.concat(branch_parts)
    branches["source_row"] = np.arange(1, len(branches) + 1)
    for end in ("from_bus", "to_bus"):
        unknown = ~branches[end].isin(bus_table.index)
        if unknown.any():
            name = branches.index[unknown.to_numpy()][0]
            raise IngestError(str(root), None, f"branch {name!r} connects unknown bus {branches.loc[name, end]!r}")

    generators, static_pu = _generators(root / "generators.csv", gens)

    snapshots = _snapshots(root)
    p_max_pu = None
    static_load, demand = _demand(root, loads, bus_table.index, snapshots)
    bus_table["demand"] = static_load.to_numpy(float)
    series = _series(root / "generators-p_max_pu.csv", snapshots, generators.index, "generator")
    if series is not None:
        p_max_pu = pd.DataFrame(np.tile(static_pu.to_numpy(float), (len(series), 1)), index=series.index,
                                columns=generators.index)
        p_max_pu[series.columns] = series
        p_max_pu.index.name = "snapshot"
    else:
        generators["p_max"] = generators["p_max"] * static_pu
    if demand is not None and p_max_pu is not None:
        p_max_pu = p_max_pu.reindex(demand.index)
    if demand is None and p_max_pu is not None:
        demand = pd.DataFrame(np.tile(static_load.to_numpy(float), (len(p_max_pu), 1)), index=p_max_pu.index,
                              columns=bus_table.index)
    network_name = name or _network_name(root)
    return Network(name=network_name, base_mva=1.0, buses=bus_table, branches=branches, generators=generators,
                   cost_points=empty_cost_points(), demand=demand, p_max_pu=p_max_pu)


def _read(path: Path, index: bool) -> pd.DataFrame:
    text = decode_text(RawFile(name=str(path), data=path.read_bytes()))
    try:
        frame = pd.read_csv(io.StringIO(text), dtype={0: str}, index_col=0 if index else None, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise IngestError(str(path), None, f"not a readable CSV ({exc})") from exc
    if index:
        frame.index = frame.index.astype(str)
        if frame.index.has_duplicates:
            dup = frame.index[frame.index.duplicated()][0]
            raise IngestError(str(path), _line(frame, frame.index == dup, nth=1), f"name {dup!r} appears twice")
    for col in ("bus", "bus0", "bus1"):
        if col in frame.columns:
            frame[col] = frame[col].astype(str)
    return frame


def _line(frame: pd.DataFrame, mask: object, nth: int = 0) -> int:
    """File line (1-based, header is line 1) of the nth row selected by ``mask``."""
    rows = np.flatnonzero(np.asarray(mask, dtype=bool))
    return int(rows[nth]) + 2


def _need(path: Path, frame: pd.DataFrame, cols: list[str]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise IngestError(str(path), 1, f"missing columns {missing}")


def _float(path: Path, frame: pd.DataFrame, col: str, default: float | None = None) -> pd.Series:
    if col not in frame.columns:
        if default is None:
            raise IngestError(str(path), 1, f"missing column {col!r}")
        return pd.Series(default, index=frame.index, dtype=float)
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        raise IngestError(str(path), _line(frame, bad), f"{col} value {frame[col][bad].iloc[0]!r} is not a number")
    if default is not None:
        values = values.fillna(default)
    elif values.isna().any():
        raise IngestError(str(path), _line(frame, values.isna()), f"{col} is empty")
    return values.astype(float)


def _lines(path: Path, lines: pd.DataFrame, v_nom: pd.Series) -> pd.DataFrame:
    unknown = ~lines["bus0"].isin(v_nom.index)
    if unknown.any():
        raise IngestError(str(path), _line(lines, unknown),
                          f"bus0 {lines['bus0'][unknown].iloc[0]!r} is not in buses.csv")
    n_par = _float(path, lines, "num_parallel", 1.0)
    length = _float(path, lines, "length", 0.0)
    x_ohm = _float(path, lines, "x", 0.0)
    r_ohm = _float(path, lines, "r", 0.0)
    types = lines["type"].fillna("").astype(str) if "type" in lines.columns else pd.Series("", index=lines.index)
    typed = types != ""
    unknown_type = typed & ~types.isin(list(LINE_TYPES))
    if unknown_type.any():
        raise IngestError(str(path), _line(lines, unknown_type),
                          f"unknown standard line type {types[unknown_type].iloc[0]!r}")
    if typed.any():
        per_km = np.array([LINE_TYPES[t] for t in types[typed]])
        x_ohm[typed] = per_km[:, 1] * length[typed] / n_par[typed]
        r_ohm[typed] = per_km[:, 0] * length[typed] / n_par[typed]
    active = (n_par > 0) & _active(lines)
    base_kv2 = lines["bus0"].map(v_nom).to_numpy(float) ** 2
    s_max_pu = _float(path, lines, "s_max_pu", 1.0)
    s_nom = _float(path, lines, "s_nom")
    zero = active & (x_ohm == 0)
    if zero.any():
        raise IngestError(str(path), _line(lines, zero), "line has neither x nor a standard type")
    return pd.DataFrame({
        "from_bus": lines["bus0"],
        "to_bus": lines["bus1"],
        "r": r_ohm.to_numpy(float) / base_kv2,
        "x": x_ohm.to_numpy(float) / base_kv2,
        "tap": 1.0,
        "shift_deg": 0.0,
        "rate_a": _limit(s_nom * s_max_pu),
        "in_service": active.to_numpy(bool),
        "kind": "line",
    }, index=pd.Index(lines.index, name="branch"))


def _transformers(path: Path, trafos: pd.DataFrame) -> pd.DataFrame:
    _need(path, trafos, ["bus0", "bus1", "x", "s_nom"])
    s_nom = _float(path, trafos, "s_nom")
    if (s_nom <= 0).any():
        raise IngestError(str(path), _line(trafos, s_nom <= 0), "transformer s_nom must be positive")
    tap = _float(path, trafos, "tap_ratio", 1.0)
    active = _active(trafos)
    frame = pd.DataFrame({
        "from_bus": trafos["bus0"],
        "to_bus": trafos["bus1"],
        "r": _float(path, trafos, "r", 0.0) / s_nom,
        "x": _float(path, trafos, "x") / s_nom,
        "tap": tap.replace(0.0, 1.0),
        "shift_deg": _float(path, trafos, "phase_shift", 0.0),
        "rate_a": _limit(s_nom * _float(path, trafos, "s_max_pu", 1.0)),
        "in_service": active.to_numpy(bool),
        "kind": "transformer",
    }, index=pd.Index(trafos.index, name="branch"))
    # Lines and transformers share one branch table, so a transformer named like a line gets a prefix.
    frame.index = pd.Index([f"T{n}" for n in frame.index], name="branch")
    return frame


def _active(components: pd.DataFrame) -> pd.Series:
    """PyPSA's ``active`` column (true where absent or blank)."""
    if "active" not in components.columns:
        return pd.Series(True, index=components.index)
    return components["active"].fillna(True).astype(bool)


def _limit(values: pd.Series) -> np.ndarray:
    out = values.to_numpy(float).copy()
    out[~np.isfinite(out) | (out <= 0)] = np.inf
    return out


def _generators(path: Path, gens: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    p_nom = _float(path, gens, "p_nom")
    static_pu = _float(path, gens, "p_max_pu", 1.0)
    active = _active(gens)
    frame = pd.DataFrame({
        "bus": gens["bus"],
        "p_min": p_nom * _float(path, gens, "p_min_pu", 0.0),
        "p_max": p_nom,
        "c0": 0.0,
        "c1": _float(path, gens, "marginal_cost", 0.0),
        "c2": _float(path, gens, "marginal_cost_quadratic", 0.0),
        "in_service": active.to_numpy(bool),
        "carrier": gens["carrier"].fillna("").astype(str) if "carrier" in gens.columns else "",
    }, index=pd.Index(gens.index, name="generator"))
    if (frame["c2"] < 0).any():
        raise IngestError(str(path), _line(gens, frame["c2"] < 0), "negative marginal_cost_quadratic")
    return frame, static_pu


def _snapshots(root: Path) -> pd.Series | None:
    path = root / "snapshots.csv"
    if not path.is_file():
        return None
    frame = _read(path, index=True)
    if "snapshot" not in frame.columns:
        raise IngestError(str(path), 1, "missing column 'snapshot'")
    stamps = pd.to_datetime(frame["snapshot"], errors="coerce")
    if stamps.isna().any():
        raise IngestError(str(path), _line(frame, stamps.isna()),
                          f"bad timestamp {frame['snapshot'][stamps.isna()].iloc[0]!r}")
    return stamps


def _series(path: Path, snapshots: pd.Series | None, names: pd.Index, what: str) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    frame = _read(path, index=True)
    unknown = frame.columns.difference(names)
    if len(unknown):
        raise IngestError(str(path), 1, f"columns for unknown {what}s: {list(unknown[:5])}")
    values = frame.apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().any():
        row = int(np.flatnonzero(values.isna().any(axis=1).to_numpy())[0])
        raise IngestError(str(path), row + 2, "empty or non-numeric value")
    if snapshots is not None:
        missing = frame.index.difference(snapshots.index)
        if len(missing):
            raise IngestError(str(path), _line(frame, frame.index.isin(missing)),
                              f"row {missing[0]!r} is not in snapshots.csv")
        values.index = pd.DatetimeIndex(snapshots.loc[frame.index].to_numpy(), name="snapshot")
    return values.astype(float)


def _network_name(root: Path) -> str:
    path = root / "network.csv"
    if path.is_file():
        frame = _read(path, index=False)
        if "name" in frame.columns and len(frame) and isinstance(frame["name"].iloc[0], str):
            return str(frame["name"].iloc[0])
    return root.name
