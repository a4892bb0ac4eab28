"""Find and open networks: a MATPOWER ``.m`` file or a PyPSA CSV folder, and branch-limit override files."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from engine.lmp.matpower import read_matpower
from engine.lmp.network import Network
from engine.lmp.pypsa_csv import read_pypsa_csv
from engine.files import IngestError, RawFile, decode_text


def load_case(path: str | Path) -> Network:
    """Open a case by what it is: a ``.m`` file (MATPOWER/pglib-opf) or a folder of PyPSA CSVs."""
    p = Path(path)
    if p.is_dir():
        return read_pypsa_csv(p)
    if p.suffix.lower() == ".m":
        return read_matpower(p)
    if not p.exists():
        raise IngestError(str(p), None, "case not found")
    raise IngestError(str(p), None, "not a MATPOWER .m file or a PyPSA CSV folder")


def list_cases(folder: str | Path) -> pd.DataFrame:
    """The networks a folder offers (``.m`` files and PyPSA CSV folders): ``case``, ``kind``, ``path``."""
    root = Path(folder)
    rows = []
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        if p.is_file() and p.suffix.lower() == ".m":
            rows.append((p.stem, "matpower", str(p)))
        elif p.is_dir() and (p / "buses.csv").is_file():
            rows.append((p.name, "pypsa-csv", str(p)))
    return pd.DataFrame(rows, columns=["case", "kind", "path"])


def read_rate_a_overrides(path: str | Path, network: Network) -> pd.Series:
    """Read a ``branch,rate_a_mw`` CSV (branch = 1-based row of the case's branch table).

    Returns new limits indexed by branch name, for :meth:`Network.with_rate_a`. A ``rate_a_mw`` of 0 or
    ``inf`` means unlimited, as RATE_A 0 does in MATPOWER.
    """
    p = Path(path)
    if not p.is_file():
        raise IngestError(str(p), None, "limits file not found")
    text = decode_text(RawFile(name=str(p), data=p.read_bytes()))
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise IngestError(str(p), None, f"not a readable CSV ({exc})") from exc
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in ("branch", "rate_a_mw") if c not in frame.columns]
    if missing:
        raise IngestError(str(p), 1, f"missing columns {missing}; expected 'branch,rate_a_mw'")
    by_row = pd.Series(network.branches.index, index=network.branches["source_row"].to_numpy())
    n_rows = int(network.branches["source_row"].max()) if len(network.branches) else 0
    names, limits = [], []
    for k, (branch, rate) in enumerate(zip(frame["branch"], frame["rate_a_mw"], strict=True)):
        line = k + 2
        try:
            row = int(str(branch).strip())
        except ValueError:
            raise IngestError(str(p), line, f"branch {branch!r} is not a row number") from None
        if row < 1 or row > n_rows:
            raise IngestError(str(p), line, f"branch {row} is out of range 1..{n_rows}")
        if row not in by_row.index:
            raise IngestError(str(p), line, f"branch {row} is not in the network (isolated bus)")
        try:
            value = float(str(rate).strip())
        except ValueError:
            raise IngestError(str(p), line, f"rate_a_mw {rate!r} is not a number") from None
        if np.isnan(value) or value < 0:
            raise IngestError(str(p), line, f"rate_a_mw {rate!r} must be a non-negative number")
        names.append(by_row[row])
        limits.append(np.inf if value == 0 else value)
    if len(set(names)) != len(names):
        raise IngestError(str(p), None, "a branch is listed twice")
    return pd.Series(limits, index=pd.Index(names, name="branch"), name="rate_a", dtype=float)
