"""The connector contract and what every connector shares: the parse result, the table columns, date spans and
reading local files (the raw file and the error type are :mod:`engine.files`, which the grid readers share).

A connector is a subclass of :class:`Connector` (see ARCHITECTURE.md): it declares its market (the id in
``engine.markets.MARKETS``, which gives its time zone), its datasets and how far back they go; ``fetch``
returns :class:`RawFile` objects (from the operator's URL or from a local file/folder), ``parse`` turns one
RawFile into a :class:`ParseResult` (pure, no I/O), ``fetch_spans`` says how a backfill cuts a range into
fetches, and the shared loader (:func:`ingest.load.load_raw`) writes parsed files to the store as one batch.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import unquote

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from engine.files import IngestError, RawFile
from engine.markets import market as market_named
from engine.store.tables import TABLES

#: Years a market's data can carry: a date outside them is a typo or a damaged file, and near pandas' limits
#: (1677, 2262) arithmetic on it would overflow instead of failing with a message.
PLAUSIBLE_YEARS = (1990, 2200)


@dataclass
class ParseResult:
    """Rows parsed from one file, by destination table.

    ``tables`` maps a store table name (e.g. ``"prices"``) to a frame with that table's columns
    (:func:`table_columns`). ``rows_read`` counts the data rows in the file; ``rejected`` counts, by reason,
    the rows deliberately left out by a documented rule (e.g. NEM intervention re-runs) -- bad rows never
    land here, they raise.
    """

    source: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    rows_read: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    #: Why the whole file was left unread (:class:`ReportNotRead`); empty for a file that was read.
    not_read: str = ""

    @property
    def rows_parsed(self) -> int:
        return sum(len(f) for f in self.tables.values())

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    def reject(self, rows: int, why: str) -> None:
        """Count ``rows`` left out because ``why`` (a phrase the load summary prints)."""
        if rows:
            self.rejected[why] = self.rejected.get(why, 0) + rows


class ReportNotRead(IngestError):
    """A file the connector recognises as a report it deliberately does not read (yet), e.g. an operator's
    forecast: not bad input, so a load skips the file and says why instead of refusing the whole batch."""


class Connector(ABC):
    """One operator's published files: what they hold, how to fetch them and how to read them.

    A subclass declares ``label``, ``market`` (its time zone then comes from the market registry),
    ``datasets`` (the first is the default), ``earliest`` and, where a dataset starts later,
    ``earliest_by_dataset``; it implements ``fetch`` and ``parse``, and overrides ``fetch_spans`` where the
    operator cuts its files otherwise than by calendar month.
    """

    label: ClassVar[str]
    market: ClassVar[str]
    timezone: ClassVar[str]
    datasets: ClassVar[tuple[str, ...]]
    earliest: ClassVar[date]  # the first day the operator publishes in the formats parsed here
    earliest_by_dataset: ClassVar[Mapping[str, date]] = MappingProxyType({})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "market" in cls.__dict__:
            cls.timezone = market_named(cls.market).timezone

    @classmethod
    def dataset(cls, kind: str | None) -> str:
        """The dataset ``kind`` names (any letter case; None is the first dataset), or a ValueError."""
        if kind is None:
            return cls.datasets[0]
        for name in cls.datasets:
            if name.lower() == kind.lower():
                return name
        raise ValueError(f"unknown kind {kind!r} for {cls.label}; supported: {', '.join(cls.datasets)}")

    @classmethod
    def earliest_for(cls, kind: str | None) -> date:
        return cls.earliest_by_dataset.get(cls.dataset(kind), cls.earliest)

    def fetch_spans(self, start: date, end: date, kind: str | None = None) -> list[tuple[date, date]]:
        """The periods a backfill of ``start``..``end`` fetches one by one: calendar months, unless the
        operator cuts its files otherwise (a yearly file fetched once per month would be downloaded,
        parsed and written twelve times)."""
        return date_spans(start, end, "month")

    @abstractmethod
    def fetch(self, start: date, end: date, *, source: str | Path | None = None, kind: str | None = None,
              session: Any = None) -> list[RawFile]:
        """The files of dataset ``kind`` covering ``start``..``end`` (inclusive): from ``source`` (a local file,
        returned as it is, or folder) if given, else from the operator through ``session`` (anything with
        requests.Session's ``get``; a new Session by default). Subclasses may take more keyword options."""

    @abstractmethod
    def parse(self, raw: RawFile) -> ParseResult:
        """Rows of one file by store table: pure, the report type told from the content."""


def check_range(start: date, end: date) -> None:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")


def date_spans(start: date, end: date, unit: str = "month") -> list[tuple[date, date]]:
    """``start``..``end`` (inclusive) cut at calendar day, month or year boundaries, each span inclusive."""
    if unit not in ("day", "month", "year"):
        raise ValueError(f"unit must be day, month or year, not {unit!r}")
    check_range(start, end)
    out, cur = [], start
    while cur <= end:
        if unit == "day":
            nxt = cur + timedelta(days=1)
        elif unit == "year" or cur.month == 12:
            nxt = date(cur.year + 1, 1, 1)
        else:
            nxt = date(cur.year, cur.month + 1, 1)
        out.append((cur, min(nxt - timedelta(days=1), end)))
        cur = nxt
    return out


def local_paths(path: str | Path, keep: Callable[[str], bool] = lambda name: True, *, recursive: bool = False,
                unquote_names: bool = False) -> list[Path]:
    """Files to replay from disk: a file as itself; from a folder, its files (below it too if ``recursive``),
    not hidden, whose name ``keep`` accepts, sorted by path. ``unquote_names``: names are judged with
    %-escapes decoded (NEMOSIS keeps AEMO's '#' as '%23' on disk). A path that does not exist is an
    IngestError naming it."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise IngestError(str(p), None, "no such file or folder")
    found = p.rglob("*") if recursive else p.iterdir()
    return sorted(f for f in found if f.is_file() and not f.name.startswith(".")
                  and keep(unquote(f.name) if unquote_names else f.name))


def local_files(path: str | Path, keep: Callable[[str], bool] = lambda name: True, *, recursive: bool = False,
                unquote_names: bool = False) -> list[RawFile]:
    """The files :func:`local_paths` finds, read, each named as ``keep`` saw its name."""
    return [RawFile(name=unquote(f.name) if unquote_names else f.name, data=f.read_bytes())
            for f in local_paths(path, keep, recursive=recursive, unquote_names=unquote_names)]


def table_columns(table: str) -> tuple[str, ...]:
    """The columns a connector hands over for store table ``table``: its key and values, then the file."""
    return (*TABLES[table].columns, "source")


def table_frame(table: str, market: str, source: str, columns: Mapping[str, Any]) -> pd.DataFrame:
    """A frame with exactly :func:`table_columns` of ``table``: ``market`` and ``source`` filled in, a single
    value repeated, value columns not given left NaN (an optional text column: its default), interval starts
    as tz-aware UTC (naive ones are taken as UTC)."""
    spec = TABLES[table]
    n = len(next(v for v in columns.values() if not np.isscalar(v)))
    data: dict[str, Any] = {}
    for col in table_columns(table):
        value = {"market": market, "source": source}.get(col, columns.get(col, spec.optional.get(col)))
        if col == spec.time_column:
            starts = pd.DatetimeIndex(value.array if isinstance(value, pd.Series) else value)
            data[col] = starts.tz_localize("UTC") if starts.tz is None else starts.tz_convert("UTC")
        elif value is None:
            data[col] = np.full(n, np.nan)
        elif isinstance(value, str):  # np.full fills an object array item by item: 2 ms a text column in
            data[col] = np.array([value], dtype=object).repeat(n)  # bench/ingest_brazil.py's PLD year
        elif np.isscalar(value):
            data[col] = np.full(n, value)
        elif isinstance(value, list):  # text keys, or numbers (an empty list is still a float column)
            data[col] = np.asarray(value, dtype=object if col in spec.key else np.float64)
        else:
            values = value.to_numpy() if isinstance(value, pd.Series) else np.asarray(value)
            data[col] = values.astype(object) if values.dtype.kind == "U" else values
    # The columns as they are: copying them into one block per type cost more than the rest of this function.
    return pd.DataFrame(data, copy=False)


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
            out[col] = union_sorted_categoricals([s.array for s in parts])
        elif isinstance(dtype, pd.DatetimeTZDtype) and all(s.dtype == dtype for s in parts):
            out[col] = type(parts[0].array)._concat_same_type([s.array for s in parts])
        elif isinstance(dtype, np.dtype) and dtype.kind in "biuf" and all(s.dtype == dtype for s in parts):
            out[col] = np.concatenate([s.to_numpy() for s in parts])
        else:
            out[col] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(out, copy=False)


def union_sorted_categoricals(parts: list[pd.Categorical]) -> pd.Categorical:
    """The parts one after the other as one categorical with the union of their categories, sorted: what
    union_categoricals(sort_categories=True) gives, without its per-part checks and copies (a batch joins
    a few parts of a few categories each, where those dominate: bench/ingest_nem.py's parse + store)."""
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
