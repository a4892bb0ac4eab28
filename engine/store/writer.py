"""Whole-batch, idempotent writes of parsed frames into the series tables.

Only rows that are new or changed are inserted: re-loading a file writes nothing, so the hourly aggregates,
which the writer fills from each batch's inserted rows, never count a row twice. When a row is revised (same
key, new value), the ReplacingMergeTree keeps the newer version and the aggregate buckets the revision touched
are rebuilt from the base table. Real data replaces demo data of the same market.

A batch's rows and their hourly buckets are two statements, so a process killed between them leaves the
aggregates short, and a reload of the same files finds every row stored and inserts nothing. So whenever a
batch meets stored rows, the writer also checks that the hourly buckets over the batch's series and hours count
as many rows as the base table holds there, and rebuilds that span from the base table where they do not:
reloading the files repairs it.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.store import versions
from engine.store.client import Store, StoreError
from engine.store.tables import DEMO_SOURCE, TABLES, Aggregate, SeriesTable
from engine.store.write_locks import markets_locked
from engine.workers import STORE_WRITERS

log = logging.getLogger(__name__)

_batch_lock = threading.Lock()
_last_batch = 0
#: Per store, the markets found free of demo rows: the writer's own memo, kept off the store client (which
#: only runs statements) and gone with the store.
_DEMO_FREE: weakref.WeakKeyDictionary[Store, set[str]] = weakref.WeakKeyDictionary()
_demo_free_lock = threading.Lock()
#: Per store, the price series (market, location, price kind) known to be stored: a batch bringing one not among
#: them raises its market's series set (engine.store.versions.series_set_key), which the lists of locations and
#: kinds are keyed on. Read once from the daily aggregate, then kept by the writer. A series another process stored
#: since is missing from it, so a batch of it raises the series set once more than needed: never less.
_KNOWN_SERIES: weakref.WeakKeyDictionary[Store, set[tuple[str, str, str]]] = weakref.WeakKeyDictionary()
_known_series_lock = threading.Lock()
_SERIES_COLUMNS = ("market", "location", "price_kind")
#: The tables demo data fills: real rows of a market in one of them replace that market's demo rows.
DEMO_TABLES = frozenset({"prices", "demand", "nodal_lmp", "node_metadata"})


def next_batch_id() -> int:
    """A strictly increasing version: microseconds since the epoch, bumped if the clock stands still."""
    global _last_batch
    with _batch_lock:
        _last_batch = max(_last_batch + 1, time.time_ns() // 1000)
        return _last_batch


@dataclass
class WriteReport:
    written: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    revised: dict[str, int] = field(default_factory=dict)
    empty: dict[str, int] = field(default_factory=dict)  # rows without a required value, not stored
    # tables whose aggregates were found out of step with their base rows over the batch's span, and rebuilt
    repaired: set[str] = field(default_factory=set)

    @property
    def rows_written(self) -> int:
        return sum(self.written.values())


def _conform(spec: SeriesTable, frame: pd.DataFrame, source: str, unique: bool = False) -> pd.DataFrame:
    """The frame as the table stores it: its columns in order, UTC milliseconds, string keys, a source.

    Built column by column into a new frame: copying and re-typing in place makes pandas consolidate blocks,
    which cost more than the rest of a write of a month of NEM data."""
    missing = [c for c in spec.columns if c not in frame.columns and c not in spec.optional]
    if missing:
        raise StoreError(f"{spec.name}: frame lacks columns {missing}")
    out: dict[str, object] = {}
    for col in spec.columns:
        if col not in frame.columns:
            default = spec.optional[col]
            out[col] = np.full(len(frame), default, dtype=object if isinstance(default, str) else None)
            continue
        values = frame[col]
        if col == spec.time_column:
            if not isinstance(values.dtype, pd.DatetimeTZDtype):
                values = pd.to_datetime(values, utc=True)
            out[col] = values.array.tz_convert("UTC").as_unit("ms")
            continue
        elif col == "interval_minutes":
            values = values.astype("uint16")
        elif col in spec.key and isinstance(values.dtype, pd.DatetimeTZDtype):  # an instant in the key (issued_at)
            out[col] = values.array.tz_convert("UTC").as_unit("ms")
            continue
        elif col in spec.key:
            values = _strings(values)
        elif col in spec.values and values.dtype == object and col not in spec.text:
            values = pd.to_numeric(values)
        out[col] = _array(values)
    if "source" in frame.columns:
        out["source"] = _array(_strings(frame["source"]))
    else:
        out["source"] = np.full(len(frame), source, dtype=object)
    conformed = pd.DataFrame(out, copy=False)
    if spec.required:
        keep = ~np.logical_or.reduce([pd.isna(out[col]) for col in spec.required])
        if not keep.all():
            conformed = conformed[keep].reset_index(drop=True)
    if not unique and conformed.duplicated(list(spec.key)).any():
        dup = conformed[conformed.duplicated(list(spec.key), keep=False)].head(2)
        raise StoreError(f"{spec.name}: the batch holds one key twice, e.g. {dup[list(spec.key)].to_dict('records')}")
    return conformed


def _labels(values: pd.Series) -> list:
    """The distinct values of a column, as a list. For a categorical, the categories its codes use: a count per
    code, not the hash table pd.unique builds over every row (a year's batch asked this of a million rows
    several times, more than the rest of the writer's own work)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.array.codes
        used = np.bincount(codes[codes >= 0] if (codes < 0).any() else codes, minlength=len(values.cat.categories))
        labels = list(values.cat.categories[used > 0])
        return labels + [np.nan] if (codes < 0).any() else labels
    return pd.unique(values).tolist()


def _array(values: pd.Series) -> object:
    """A column's data without its index (tz-aware times and categoricals as pandas arrays: to_numpy would
    make Python objects of them)."""
    return values.array if isinstance(values.dtype, (pd.DatetimeTZDtype, pd.CategoricalDtype)) else values.to_numpy()


def _strings(values: pd.Series) -> pd.Series:
    """A text column as strings. Categorical columns of strings stay categorical: chDB reads their codes,
    not a Python string per row, and holds the GIL far less while inserting them."""
    labels = values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype) else values
    return values if pd.api.types.infer_dtype(labels, skipna=False) == "string" else values.astype(str)


def _series_filter(spec: SeriesTable, frame: pd.DataFrame, prefix: str = "f", *, whole_hours: bool = False,
                   time_column: str | None = None) -> tuple[str, dict]:
    """A WHERE clause (with its parameters) that covers every series and the time span of ``frame``
    (``whole_hours``: widened to the whole UTC hours it touches, the span of its hourly buckets; ``time_column``:
    the name the time goes by in the table read, when not the base table's, as ``bucket`` in an aggregate)."""
    clauses, params = [], {}
    for i, col in enumerate(c for c in spec.key if c not in (spec.time_column, "interval_minutes")):
        name = f"{prefix}{i}"
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):  # an instant in the key: its span, as for the time
            clauses.append(f"`{col}` >= {{{name}_0:DateTime64(3, 'UTC')}} "
                           f"AND `{col}` <= {{{name}_1:DateTime64(3, 'UTC')}}")
            params[f"{name}_0"], params[f"{name}_1"] = (frame[col].min().to_pydatetime(),
                                                         frame[col].max().to_pydatetime())
            continue
        clauses.append(f"`{col}` IN {{{name}:Array(String)}}")
        params[name] = sorted(_labels(frame[col]))
    if spec.time_column:
        t0, t1 = frame[spec.time_column].min(), frame[spec.time_column].max()
        if whole_hours:
            t0, t1 = t0.floor("h"), t1.floor("h") + pd.Timedelta(hours=1) - pd.Timedelta(milliseconds=1)
        time_name = time_column or spec.time_column
        clauses.append(f"`{time_name}` >= {{{prefix}_t0:DateTime64(3, 'UTC')}} "
                       f"AND `{time_name}` <= {{{prefix}_t1:DateTime64(3, 'UTC')}}")
        params[f"{prefix}_t0"], params[f"{prefix}_t1"] = t0.to_pydatetime(), t1.to_pydatetime()
    return " AND ".join(clauses), params


def _fills_hours(spec: SeriesTable) -> tuple[Aggregate, ...]:
    """The aggregates of ``spec`` the writer fills from its batches."""
    return tuple(agg for agg in spec.aggregates if agg.from_batch)


def _changed_rows(store: Store, spec: SeriesTable, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Split the batch into rows to insert, and the subset of those that revise a stored row; and how many rows
    the base table holds over the batch's series and span (whole hours for a table with hourly aggregates, so
    the count is what those buckets should count). With no stored row met, the very frame given is returned.
    """
    existing, labels = _stored_rows(store, spec, frame)
    if existing.empty:
        return frame, frame.iloc[0:0], 0
    matched = _match_keys(spec, frame, existing, labels)
    if matched is None:
        same = _same_by_merge(spec, frame, _decoded(spec, existing, labels))
        present = same.pop("__present")
    else:
        present, at = matched
        same = {col: _equal(frame[col], existing[col].iloc[at]) for col in spec.values}
    unchanged = present.copy()
    for eq in same.values():
        unchanged &= eq
    changed = ~unchanged
    return frame[changed], frame[changed & present], len(existing)


#: Up to this many labels, a text key column is read back as its label's position by indexOf, which scans the
#: list, but once per distinct value of a block (the columns are LowCardinality); past it by transform, which
#: looks each row up in a hash table: indexOf took 46 s for a million nodal rows of 11,000 nodes (transform
#: 0.2 s), and transform half again as long as indexOf for a month of NEM prices.
_SCANNED_LABELS = 64


def _stored_rows(store: Store, spec: SeriesTable, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list]]:
    """The stored rows (FINAL) over the series and span of ``frame``, their key as integers: each text key column
    as the 1-based position of its label in a list of the batch's labels (the lists are returned, by column),
    each instant as milliseconds since the epoch. (Read as text, every stored row's labels came back as Python
    strings that the match then hashed: on a reload of a month of NEM prices and demand, the writer's own work
    took 35 ms of CPU against 23 ms so.)"""
    where, params = _series_filter(spec, frame, whole_hours=bool(_fills_hours(spec)))
    selected, labels = [], {}
    for col in spec.key:
        if col == spec.time_column or isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            selected.append(f"toUnixTimestamp64Milli(`{col}`)")
        elif col == "interval_minutes":
            selected.append(f"`{col}`")
        else:  # the WHERE clause keeps to the batch's labels: every stored row's is in the list
            name = f"k{len(labels)}"
            params[name] = labels[col] = sorted(_labels(frame[col]))
            if len(labels[col]) <= _SCANNED_LABELS:
                selected.append(f"indexOf({{{name}:Array(String)}}, `{col}`)")
            else:
                selected.append(f"transform(`{col}`, {{{name}:Array(String)}}, "
                                f"range(1, length({{{name}:Array(String)}}) + 1), 0)")
    selected += [f"`{c}`" for c in spec.values]
    # The embedded store reads on one thread, as it inserts: the writer reads a batch's tables side by side, and
    # for a month of NEM prices one thread took a quarter less CPU time than spreading the read over the cores.
    one_thread = " SETTINGS max_threads = 1" if store.embedded else ""
    # No stored row means every row is new, whatever the columns: skip reading an empty answer's columns, a
    # second statement per table with which a load of new rows took up to half again as long (the median line
    # of bench/ingest_nem.py).
    existing = store.query_df(f"SELECT {', '.join(selected)} FROM `{spec.name}` FINAL WHERE {where}{one_thread}",  # noqa: S608 -- table, columns and key clause come from the table registry (TABLES)
                              params, columns_if_empty=False)
    if not existing.empty:
        existing.columns = list(spec.columns)  # the key's expressions by the names of their columns
    return existing, labels


def _decoded(spec: SeriesTable, existing: pd.DataFrame, labels: dict[str, list]) -> pd.DataFrame:
    """Stored rows as _stored_rows reads them, with their key's labels and instants back."""
    out = existing.copy()
    for col in spec.key:
        if col in labels:
            out[col] = np.asarray(labels[col], dtype=object)[existing[col].to_numpy().astype(np.int64) - 1]
        elif col != "interval_minutes":
            out[col] = pd.to_datetime(existing[col].to_numpy().astype(np.int64), unit="ms", utc=True)
    return out


def _equal(new: pd.Series, old: pd.Series) -> np.ndarray:
    """Row by row, whether a value column holds the same value in both (NaN equal to NaN)."""
    if pd.api.types.is_numeric_dtype(new) and pd.api.types.is_numeric_dtype(old):
        a, b = new.to_numpy(dtype=float), old.to_numpy(dtype=float)
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return new.astype(str).to_numpy() == old.astype(str).to_numpy()


def _key_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of a text key column and the labels (as text) they stand for."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.array.codes.astype(np.int64), pd.Index(values.cat.categories.astype(str))
    codes, labels = pd.factorize(values.astype(str) if values.dtype != object else values)
    return codes.astype(np.int64), pd.Index(labels)


def _epoch_ms(values: pd.Series) -> np.ndarray:
    """Instants as int64 milliseconds since the epoch (UTC)."""
    times = values.array if isinstance(values.dtype, pd.DatetimeTZDtype) else pd.to_datetime(values, utc=True).array
    return times.as_unit("ms").asi8


def _match_keys(spec: SeriesTable, frame: pd.DataFrame, existing: pd.DataFrame,
                labels: dict[str, list]) -> tuple[np.ndarray, np.ndarray] | None:
    """For each batch row, whether ``existing`` (stored rows, one per key, as _stored_rows reads them with
    ``labels``) holds its key, and at which position.

    The key becomes one int64 per row (the few series labels as codes, then the interval length and the
    instants in milliseconds), matched by a binary search: a join of frames on five columns took most of a
    reload's time. None when the key does not fit one int64 (the caller then joins the frames)."""
    new_key = np.zeros(len(frame), np.int64)
    old_key = np.zeros(len(existing), np.int64)
    width = 1.0
    for col in spec.key:
        new_values, old = frame[col], existing[col].to_numpy().astype(np.int64)
        if col in labels:
            codes, named = _key_codes(new_values)
            a = pd.Index([str(label) for label in labels[col]]).get_indexer(named)[codes]
            b, n = old - 1, max(len(labels[col]), 1)
        elif col == "interval_minutes":
            a, b = new_values.to_numpy().astype(np.int64), old
            n = int(max(a.max(), b.max())) + 1
            if min(a.min(), b.min()) < 0:
                return None
        else:  # an instant
            a, b = _epoch_ms(new_values), old
            low = min(a.min(), b.min())
            a, b, n = a - low, b - low, int(max(a.max(), b.max()) - low) + 1
        width *= n
        if width >= 2.0 ** 62:
            return None
        new_key = new_key * n + a
        old_key = old_key * n + b
    order = np.argsort(old_key, kind="stable")
    ranked = old_key[order]
    pos = np.minimum(np.searchsorted(ranked, new_key), len(ranked) - 1)
    return ranked[pos] == new_key, order[pos]


def _same_by_merge(spec: SeriesTable, frame: pd.DataFrame, existing: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per value column, which batch rows hold the stored value, by joining the frames on the key; and under
    ``__present`` which rows have a stored row at all."""
    for col in spec.key:
        if col == spec.time_column or isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            existing[col] = existing[col].astype("datetime64[ms, UTC]")
        elif col == "interval_minutes":
            existing[col] = existing[col].astype("uint16")
        else:
            existing[col] = existing[col].astype(str)
    merged = frame.merge(existing, on=list(spec.key), how="left", suffixes=("", "__old"), indicator=True)
    same = {"__present": (merged["_merge"] == "both").to_numpy()}
    same.update((col, _equal(merged[col], merged[f"{col}__old"])) for col in spec.values)
    return same


def _rebuild_spans(spec: SeriesTable, rows: pd.DataFrame) -> tuple[str, dict, list[tuple[Aggregate, str, str]]]:
    """What rebuilding the buckets of ``rows`` covers: a clause naming their series (with its parameters), and
    for each aggregate of ``spec`` its bucket clause and the base-table clause of the rows feeding those buckets.

    The spans reach a day beyond the rows on each side (days are market days, not UTC ones), and further for an
    aggregate fed from the hours (widen_days); each aggregate's parameters are suffixed with its position."""
    series = list(spec.series_columns)
    params: dict = {f"s{i}": sorted(_labels(rows[c])) for i, c in enumerate(series)}
    series_where = " AND ".join(f"`{c}` IN {{s{i}:Array(String)}}" for i, c in enumerate(series))
    day = pd.Timedelta(days=1)
    t0 = rows[spec.time_column].min().floor("D") - day
    t1 = rows[spec.time_column].max().floor("D") + 2 * day
    spans = []
    for k, agg in enumerate(spec.aggregates):
        b0, b1 = t0 - agg.widen_days * day, t1 + agg.widen_days * day
        params.update({f"b0_{k}": b0.to_pydatetime(), f"b1_{k}": b1.to_pydatetime(),
                       f"r0_{k}": (b0 - day).to_pydatetime(), f"r1_{k}": (b1 + day).to_pydatetime()})
        buckets = f"bucket >= {{b0_{k}:DateTime64(3, 'UTC')}} AND bucket < {{b1_{k}:DateTime64(3, 'UTC')}}"
        base = (f"WHERE {series_where} AND interval_start >= {{r0_{k}:DateTime64(3, 'UTC')}} "
                f"AND interval_start < {{r1_{k}:DateTime64(3, 'UTC')}}")
        spans.append((agg, buckets, base))
    return series_where, params, spans


def _rebuild_aggregates(store: Store, spec: SeriesTable, revised: pd.DataFrame) -> None:
    """Rebuild, from the base table, every aggregate bucket of the series and days of ``revised``."""
    if not spec.aggregates or revised.empty:
        return
    series_where, params, spans = _rebuild_spans(spec, revised)
    for agg, buckets, base in spans:  # in order: the days' view is fed by the hours rebuilt before them
        store.command(f"ALTER TABLE `{agg.table}` DELETE WHERE {series_where} AND {buckets} "
                      "SETTINGS mutations_sync = 2", params)
        store.command(f"INSERT INTO `{agg.table}` {agg.select.format(where=base)} HAVING {buckets}", params)


def _hours_in_step(store: Store, spec: SeriesTable, frame: pd.DataFrame, stored_rows: int) -> bool:
    """Whether the hourly buckets the writer fills count, over the series and whole hours of ``frame``, the
    ``stored_rows`` the base table holds there.

    A kill between a batch's rows and their buckets leaves the buckets short by the batch's rows, and a count
    sees that (as it sees a batch's buckets counted twice) without comparing every bucket's sums. The days are
    fed from the hours by a view, in the statement that inserts them: they follow the hours."""
    where, params = _series_filter(spec, frame, whole_hours=True, time_column="bucket")
    for agg in _fills_hours(spec):
        counted = store.scalar(f"SELECT sum(samples) FROM `{agg.table}` WHERE {where}", params)  # noqa: S608 -- table and clause come from TABLES; values are bound parameters
        if int(counted or 0) != stored_rows:
            return False
    return True


def _demo_free(store: Store) -> set[str]:
    """The markets of ``store`` known to hold no demo rows, so a load need not look for any."""
    with _demo_free_lock:
        return _DEMO_FREE.setdefault(store, set())


def _drop_demo(store: Store, markets: set[str]) -> set[str]:
    """Real data for a market replaces that market's demo rows (and the aggregates built from them); the
    markets whose demo rows were dropped."""
    demo_free = _demo_free(store)
    markets = markets - demo_free
    if not markets:
        return set()
    counts = " UNION ALL ".join(
        f"SELECT '{spec.name}' AS t, market FROM `{spec.name}` WHERE market IN {{m:Array(String)}} "  # noqa: S608 -- the table names come from TABLES; values are bound parameters
        "AND source = {d:String} GROUP BY market" for spec in TABLES.values())
    found = store.query_df(counts, {"m": sorted(markets), "d": DEMO_SOURCE})
    with_demo = set(found["market"])
    # Demo rows only ever enter an empty store, so once a market is found free of them it stays free (a
    # market whose demo rows are being dropped counts as free only once that has succeeded).
    demo_free |= markets - with_demo
    for market, tables in found.groupby("market")["t"]:
        for name in tables:
            store.command(f"ALTER TABLE `{name}` DELETE WHERE market = {{m:String}} AND source = {{d:String}} "
                          "SETTINGS mutations_sync = 2", {"m": market, "d": DEMO_SOURCE})
        for spec in TABLES.values():
            for agg in spec.aggregates:
                store.command(f"ALTER TABLE `{agg.table}` DELETE WHERE market = {{m:String}} "
                              "SETTINGS mutations_sync = 2", {"m": market})
                where = "WHERE market = {m:String}"
                store.command(f"INSERT INTO `{agg.table}` {agg.select.format(where=where)}", {"m": market})
        demo_free.add(market)
        log.info("replaced demo data of %s with real data", market)
    return with_demo


def write_tables(store: Store, tables: dict[str, pd.DataFrame], *, source: str = "",
                 unique_keys: bool = False) -> WriteReport:
    """Write one batch (all tables of one parsed file) whole: on failure, what it wrote is taken back.

    ``unique_keys`` says the caller has already made each table's keys unique (skips the check)."""
    unknown = set(tables) - set(TABLES)
    if unknown:
        raise StoreError(f"no such series table(s): {sorted(unknown)}")
    conformed = {name: _conform(TABLES[name], frame, source, unique_keys)
                 for name, frame in tables.items() if len(frame)}
    report = WriteReport(empty={name: len(tables[name]) - len(f) for name, f in conformed.items()})
    conformed = {name: f for name, f in conformed.items() if len(f)}
    # One batch at a time per market (engine.store.write_locks): two loads of the same rows side by side
    # both found them new and both filled their hours.
    with markets_locked(store, {m for f in conformed.values() for m in _labels(f["market"])}):
        return _write_locked(store, conformed, report)


def _write_locked(store: Store, conformed: dict[str, pd.DataFrame], report: WriteReport) -> WriteReport:
    markets: set[str] = set()
    real: set[str] = set()  # markets with rows that are not demo data
    for name, f in conformed.items():
        if name not in DEMO_TABLES:  # e.g. an operator's forecast: real, but no replacement for demo prices
            continue
        markets.update(_labels(f["market"]))
        demo = f["source"].eq(DEMO_SOURCE).to_numpy()
        real.update(_labels(f["market"]) if not demo.any() else _labels(f.loc[~demo, "market"]))
    demo_dropped = _drop_demo(store, real) if real else set()
    _demo_free(store).difference_update(markets - real)
    new_series = _new_series(store, conformed["prices"]) if "prices" in conformed else set()
    batch = next_batch_id()
    # Tables are written side by side, each on its own worker's connection: the inserts and the materialized
    # views they feed are most of a load's time, and each table's run is independent of the others'.
    reached_insert: set[str] = set()
    futures = {name: STORE_WRITERS.submit(_write_table, store, TABLES[name], frame, batch, reached_insert)
               for name, frame in conformed.items()}
    failure: BaseException | None = None
    for name, future in futures.items():
        try:
            inserted, revised, repaired = future.result()
        except BaseException as exc:  # every table's outcome is needed before taking the batch back
            failure = failure or exc
            continue
        report.written[name] = inserted
        report.revised[name] = revised
        report.unchanged[name] = len(conformed[name]) - inserted
        if repaired:
            report.repaired.add(name)
    # Cached answers about these markets are stale once the batch is in (or taken back: the aggregates moved
    # meanwhile, as they do when repaired); a reload that wrote nothing leaves every cached answer valid.
    changed = {name for name in conformed if report.written.get(name) or report.revised.get(name)}
    stale = {key for market in demo_dropped for key in (market, versions.all_months_key(market))}
    for name in changed | reached_insert | report.repaired:
        stale |= _stale_keys(TABLES[name], conformed[name])
    stale |= {versions.series_set_key(market) for market, _, _ in new_series}
    if failure is not None:
        for name in sorted(reached_insert):
            _take_back(store, TABLES[name], conformed[name], batch)
        versions.bump(store, stale)
        raise failure
    versions.bump(store, stale)
    if new_series:  # stored now: a later batch of them raises nothing
        known = _known_series(store)
        with _known_series_lock:
            known.update(new_series)
    return report


def _stale_keys(spec: SeriesTable, frame: pd.DataFrame) -> set[str]:
    """The data versions (engine.store.versions) that a batch's rows of one table make stale: each market's, and
    the market months its rows fall in (every month, for a table without a time column). Months are counted from
    each market's first and last row: a batch is a span of time, and two reductions over it cost far less than
    the month of every row."""
    markets = _labels(frame["market"])
    if spec.time_column is None:
        return {key for market in markets for key in (market, versions.all_months_key(market))}
    times = frame[spec.time_column]
    if len(markets) == 1:
        spans = [(markets[0], times.min(), times.max())]
    else:
        bounds = times.groupby(frame["market"], observed=True, sort=False).agg(["min", "max"])
        spans = list(bounds.itertuples(name=None))
    return {key for market, first, last in spans
            for key in (market, *(versions.month_key(market, month) for month in versions.months_between(first, last)))}


def _known_series(store: Store) -> set[tuple[str, str, str]]:
    with _known_series_lock:
        known = _KNOWN_SERIES.get(store)
        if known is None:
            known = _KNOWN_SERIES[store] = {(str(m), str(loc), str(k)) for m, loc, k in store.query_rows(
                "SELECT DISTINCT market, location, price_kind FROM prices_daily")}
        return known


def _new_series(store: Store, prices: pd.DataFrame) -> set[tuple[str, str, str]]:
    """The price series of a batch of ``prices`` that ``store`` is not known to hold. A live load brings the series
    the market has held all along, so every pairing of its markets, locations and kinds is known: that is checked
    on the columns' few distinct values, not on every row."""
    known = _known_series(store)
    markets, locations, kinds = (_labels(prices[column]) for column in _SERIES_COLUMNS)
    if all((str(m), str(loc), str(k)) in known for m in markets for loc in locations for k in kinds):
        return set()
    found = prices[list(_SERIES_COLUMNS)].drop_duplicates().astype(str)
    return {series for series in found.itertuples(index=False, name=None) if series not in known}


def _take_back(store: Store, spec: SeriesTable, frame: pd.DataFrame, batch: int) -> None:
    """Delete what batch ``batch`` inserted into ``spec``'s table, and rebuild the buckets of ``frame``'s span."""
    log.warning("taking back batch %s from %s", batch, spec.name)
    store.command(f"ALTER TABLE `{spec.name}` DELETE WHERE batch_id = {{b:UInt64}} SETTINGS mutations_sync = 2",
                  {"b": batch})
    # the aggregates may already count the batch's rows; rebuild those buckets from the base table
    _rebuild_aggregates(store, spec, frame)


def _write_table(store: Store, spec: SeriesTable, frame: pd.DataFrame, batch: int,
                 reached_insert: set[str]) -> tuple[int, int, bool]:
    """Insert the new and changed rows of one table; (rows inserted, rows revising a stored row, whether the
    aggregates over the batch's span had to be rebuilt)."""
    to_insert, revised, stored_rows = _changed_rows(store, spec, frame)
    # A batch that met stored rows may be the reload that follows a load killed between its rows and their
    # buckets: its one chance to notice. A batch of new rows only feeds every bucket it touches itself.
    in_step = not stored_rows or not _fills_hours(spec) or _hours_in_step(store, spec, frame, stored_rows)
    if not to_insert.empty:
        reached_insert.add(spec.name)
        if to_insert is frame:  # all new: the frame is the writer's own, so tag it in place (assign would copy it)
            to_insert["batch_id"] = np.uint64(batch)
        else:
            to_insert = to_insert.assign(batch_id=np.uint64(batch))
        store.insert_df(spec.name, to_insert)
        if in_step:
            for agg in _fills_hours(spec):
                store.insert_df(agg.table, batch_aggregate(agg, to_insert, spec.time_column))
            _rebuild_aggregates(store, spec, revised)
    if not in_step:  # the rebuild of the batch's span covers its new and revised rows' buckets too
        log.warning("%s: hourly aggregates out of step with the base rows over the batch's span; rebuilding them",
                    spec.name)
        _rebuild_aggregates(store, spec, frame)
    return len(to_insert), len(revised), not in_step


_HOUR_MS = 3_600_000


def _sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values.astype(np.float64, copy=False), starts)


def _counted(hits: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(hits, starts, dtype=np.uint64)


#: How an aggregate's value column is computed from one bucket's values of a base column (tables.Aggregate):
#: as the SQL of Aggregate.select computes it from the base table, so a rebuild gives the same buckets.
BATCH_OPS = {
    "sum": _sum,
    "sum_or_zero": lambda v, at: _sum(np.nan_to_num(v.astype(np.float64, copy=False), nan=0.0), at),  # ifNull(x, 0)
    "min": lambda v, at: np.minimum.reduceat(v.astype(np.float64, copy=False), at),
    "max": lambda v, at: np.maximum.reduceat(v.astype(np.float64, copy=False), at),
    "count": lambda v, at: np.diff(np.append(at, len(v))).astype(np.uint64),
    "negatives": lambda v, at: _counted(v.astype(np.float64, copy=False) < 0, at),
    "demo": _counted,  # of the rows' is-demo flags (_base_column gives them)
}


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of a series column and the labels they stand for (a categorical's own codes: no hashing)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.array.codes.astype(np.int64), values.cat.categories
    codes, labels = pd.factorize(values)
    return codes.astype(np.int64), pd.Index(labels)


def _base_column(rows: pd.DataFrame, name: str, op: str) -> np.ndarray:
    """The values of base column ``name`` that op ``op`` of BATCH_OPS reads: for "demo", whether each row is
    demo data (a categorical's few labels compared, not a Python string per row)."""
    values = rows[name]
    categorical = isinstance(values.dtype, pd.CategoricalDtype)
    if op == "demo":
        if categorical:  # [-1]: a missing label is no demo row
            return np.append(np.asarray(values.cat.categories, dtype=object) == DEMO_SOURCE, False)[values.array.codes]
        return values.to_numpy() == DEMO_SOURCE
    if categorical:
        return np.asarray(values.cat.categories, dtype=object)[values.array.codes]
    return values.to_numpy()


def _bucket_order(key: np.ndarray, series: np.ndarray) -> np.ndarray | None:
    """An order putting ``key`` (bucket keys, ``series`` their series part) in ascending order, or None when it
    already is. A batch of several files comes as runs each in order (one series over one file's span): the
    few runs are put in order by their first key, and only if they overlap is every key sorted (argsort of a
    year's million keys cost a third of the aggregation)."""
    down = key[1:] < key[:-1]
    if not down.any():
        return None
    breaks = np.flatnonzero(down | (series[1:] != series[:-1])) + 1
    if len(breaks) <= 4096:
        bounds = np.concatenate(([0], breaks, [len(key)]))
        runs = np.argsort(key[bounds[:-1]], kind="stable")
        order = np.concatenate([np.arange(bounds[r], bounds[r + 1]) for r in runs])
        ranked = key[order]
        if (ranked[1:] >= ranked[:-1]).all():
            return order
    return np.argsort(key, kind="stable")


def batch_aggregate(agg: Aggregate, rows: pd.DataFrame, time_column: str) -> pd.DataFrame:
    """The hourly buckets of ``rows`` (rows no bucket has counted yet) as ``agg.from_batch`` describes them,
    one row per series and hour, in the aggregate table's column order.

    The writer's rows come sorted by series and time (or as runs so sorted, one per file), so the buckets
    follow one another once the runs are in order, and summing them is one pass (np.*.reduceat); otherwise the
    rows are first put in bucket order."""
    hours = rows[time_column].array.as_unit("ms").asi8 // _HOUR_MS  # floor: hours before 1970 too
    coded = [_codes(rows[col]) for col in agg.group]
    sizes = [len(labels) for _, labels in coded]
    span = int(hours.max() - hours.min()) + 1
    new = np.ones(len(rows), dtype=bool)  # where a bucket starts (in bucket order): a new hour or a new series
    if np.prod([float(n) for n in sizes] + [float(span)]) < 2.0 ** 62:
        series = np.zeros(len(rows), np.int64)
        for (codes, _), n in zip(coded, sizes, strict=True):
            series = series * n + codes
        key = series * span + (hours - hours.min())
        order = _bucket_order(key, series)
        if order is not None:
            key = key[order]
        new[1:] = key[1:] != key[:-1]
    else:  # too many series x hours for one integer key: sort by the columns themselves
        order = np.lexsort([hours, *(codes for codes, _ in reversed(coded))])
        new[1:] = hours[order][1:] != hours[order][:-1]
        for codes, _ in coded:
            new[1:] |= codes[order][1:] != codes[order][:-1]
    starts = np.flatnonzero(new)
    first = starts if order is None else order[starts]  # each bucket's first row, where it is in ``rows``
    out: dict[str, object] = {}
    for col, (codes, labels) in zip(agg.group, coded, strict=True):
        dtype = rows[col].dtype
        out[col] = (pd.Categorical.from_codes(codes[first], dtype=dtype) if isinstance(dtype, pd.CategoricalDtype)
                    else np.asarray(labels, dtype=object)[codes[first]])
    out["bucket"] = pd.to_datetime(hours[first] * _HOUR_MS, unit="ms", utc=True)
    for column, op, base in agg.from_batch:
        values = _base_column(rows, base, op)
        out[column] = BATCH_OPS[op](values if order is None else values[order], starts)
    return pd.DataFrame(out, copy=False)
