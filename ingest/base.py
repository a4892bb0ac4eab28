"""What every connector shares: the parse result, date spans and reading local files (the raw file and the
error type are :mod:`engine.files`, which the grid readers share).

A connector has three verbs (see ARCHITECTURE.md): ``fetch`` returns :class:`RawFile` objects (from a URL
or from a local file/folder), ``parse`` turns one RawFile into a :class:`ParseResult` (pure, no I/O), and
the shared loader (:func:`ingest.load.load_result`) writes a result to the store as one batch.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from engine.files import IngestError, RawFile

#: Years a market's data can carry: a date outside them is a typo or a damaged file, and near pandas' limits
#: (1677, 2262) arithmetic on it would overflow instead of failing with a message.
PLAUSIBLE_YEARS = (1990, 2200)


def date_spans(start: date, end: date, unit: str = "month") -> list[tuple[date, date]]:
    """``start``..``end`` (inclusive) cut at calendar month or year boundaries, each span inclusive."""
    if unit not in ("month", "year"):
        raise ValueError(f"unit must be month or year, not {unit!r}")
    out, cur = [], start
    while cur <= end:
        nxt = date(cur.year + 1, 1, 1) if unit == "year" or cur.month == 12 else date(cur.year, cur.month + 1, 1)
        out.append((cur, min(nxt - timedelta(days=1), end)))
        cur = nxt
    return out


def local_files(path: str | Path, keep: Callable[[str], bool]) -> list[RawFile]:
    """Files to replay from disk: a file as itself; from a folder, its files (not hidden, sorted by name)
    whose name ``keep`` accepts. A path that does not exist is an IngestError naming it."""
    p = Path(path)
    if p.is_file():
        return [RawFile.from_path(p)]
    if not p.is_dir():
        raise IngestError(str(p), None, "no such file or folder")
    return [RawFile.from_path(f) for f in sorted(p.iterdir())
            if f.is_file() and not f.name.startswith(".") and keep(f.name)]


@dataclass
class ParseResult:
    """Rows parsed from one file, by destination table.

    ``tables`` maps a store table name (e.g. ``"prices"``) to a frame with exactly that table's columns.
    ``rows_read`` counts the data rows in the file; ``rows_rejected`` counts the rows deliberately left out
    by a documented rule (e.g. NEM intervention re-runs) -- bad rows never land here, they raise.
    """

    source: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    rows_read: int = 0
    rows_rejected: int = 0

    @property
    def rows_parsed(self) -> int:
        return sum(len(f) for f in self.tables.values())


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames one under the other. A column categorical in every frame stays categorical, its categories in
    sorted order (pandas makes Python strings of it when the frames' categories differ, which every later
    step pays for). Frames with the same columns are joined column by column into a new frame: pd.concat
    of whole frames copies them block by block and consolidates, several times the cost for a batch."""
    first = frames[0]
    if any(list(f.columns) != list(first.columns) for f in frames[1:]):
        return _concat_unlike(frames)
    out: dict[str, object] = {}
    for col in first.columns:
        parts = [f[col] for f in frames]
        dtype = parts[0].dtype
        if all(isinstance(s.dtype, pd.CategoricalDtype) for s in parts):
            out[col] = _union_categoricals([s.array for s in parts])
        elif isinstance(dtype, pd.DatetimeTZDtype) and all(s.dtype == dtype for s in parts):
            out[col] = type(parts[0].array)._concat_same_type([s.array for s in parts])
        elif isinstance(dtype, np.dtype) and dtype.kind in "biuf" and all(s.dtype == dtype for s in parts):
            out[col] = np.concatenate([s.to_numpy() for s in parts])
        else:
            out[col] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(out, copy=False)


def _union_categoricals(parts: list[pd.Categorical]) -> pd.Categorical:
    """The parts one after the other as one categorical with the union of their categories, sorted: what
    union_categoricals(sort_categories=True) gives, without its per-part checks and copies (a batch joins
    a few parts of a few categories each, where those dominate)."""
    try:
        categories = sorted(set().union(*(p.categories for p in parts)))
    except TypeError:  # categories that do not sort against each other
        return union_categoricals(parts, sort_categories=True)
    dtype = pd.CategoricalDtype(categories)
    index = dtype.categories
    codes = []
    for part in parts:
        if part.categories.equals(index):
            codes.append(part.codes)
            continue
        recode = np.append(index.get_indexer(part.categories), -1)  # [-1]: a missing value stays missing
        codes.append(recode[part.codes])
    return pd.Categorical.from_codes(np.concatenate(codes), dtype=dtype)


def _concat_unlike(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """concat_frames for frames whose columns differ (missing columns are filled as pandas fills them)."""
    first = frames[0]
    categorical = [c for c in first.columns
                   if all(c in f.columns and isinstance(f[c].dtype, pd.CategoricalDtype) for f in frames)]
    out = pd.concat([f.drop(columns=categorical) for f in frames], ignore_index=True)
    for c in categorical:
        out[c] = union_categoricals([f[c] for f in frames], sort_categories=True)
    return out[list(first.columns) + [c for c in out.columns if c not in first.columns]]


def latest_row_per_node(meta: pd.DataFrame, starts) -> pd.DataFrame:
    """One node_metadata row per node: the row from the node's latest interval (an operator may re-zone or
    rename a node within a long export), sorted by node."""
    order = np.argsort(np.asarray(starts), kind="stable")
    return meta.iloc[order].drop_duplicates("node", keep="last").sort_values("node").reset_index(drop=True)
