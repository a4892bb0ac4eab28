"""One client for both ways of running the store: embedded chDB (``chdb:///dir``) or a ClickHouse server
(``http://user:pass@host:8123/db``), through ``clickhouse_connect.get_client(dsn=...)``.

The connection opens lazily on first use: importing chDB or opening it before gunicorn forks makes the child
hang, and only one OS process may hold a chDB directory.
"""
from __future__ import annotations

import contextlib
import logging
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd

from engine.store.writes import WriteCounts
from engine.urls import redacted

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "c254"
#: The join key of the query that reads an empty result's columns (a name no query of ours uses).
_PROBE = "__c254_probe"


T = TypeVar("T")

#: Statements that change no table's rows; any other statement is counted as a write (``_Directory.wrote``).
#: Each client opening asks CREATE DATABASE IF NOT EXISTS: counted, it would make every new connection forget.
_READS = re.compile(r"\s*(?:SELECT|WITH|SHOW|DESCRIBE|DESC|EXISTS|EXPLAIN|CREATE\s+DATABASE)\b", re.IGNORECASE)
#: A statement that writes one table, named after INSERT INTO or ALTER TABLE (optionally database-qualified).
_ONE_TABLE = re.compile(r"\s*(?:INSERT\s+INTO(?:\s+TABLE)?|ALTER\s+TABLE)\s+(?:`?\w+`?\.)?`?(\w+)`?",
                        re.IGNORECASE)
#: Settings sent with every statement to a ClickHouse server. A Replicated table drops an inserted block equal to one
#: of those inserted before it (``insert_deduplicate``). That guards nothing here, where a batch is made idempotent by
#: its own identity (batch ids, the writer's key matching), and it would lose rows: buckets of an aggregate deleted
#: and rebuilt from unchanged rows (the writer's take-back, the demo's replacement) make the block an earlier
#: rebuild made.
_SERVER_SETTINGS = {"insert_deduplicate": 0}
#: Every session runs in UTC, whatever the zone of the machine (or of the ClickHouse server): a DateTime without a
#: zone of its own (a bare literal, a string compared with a time) is read as UTC. And every answer is given in UTC
#: (``_ANSWER_ZONE``): clickhouse-connect otherwise gives a time a query computed (``toStartOfHour(max(t))``,
#: ``now()``) in the local zone, where ``.floor("D")`` or ``.date()`` of it is the local day, not the UTC day the
#: stored days are.
_SESSION_SETTINGS = {"session_timezone": "UTC"}
_ANSWER_ZONE = "UTC"
#: Answers remembered per embedded directory (``Store.remember``): a few per signed-in session and market.
MEMO_SIZE = 4096


class StoreError(RuntimeError):
    """The store refused or failed a statement."""


class MigrationsPending(StoreError):
    """A shared store has schema migrations not yet applied: an operator runs ``store init`` first."""


def split_dsn(dsn: str) -> tuple[str, str, bool]:
    """Return (dsn to connect with, database name, is_embedded)."""
    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        path = parts.path or ""
        if not path or path == "/":
            raise StoreError(f"store URL {redacted(dsn)!r} names no directory (expected chdb:///path/to/dir)")
        # chDB holds one directory per process, so separate databases in one directory are how tests (and
        # side-by-side studies) keep apart: chdb:///dir?database=name
        query = dict(parse_qsl(parts.query))
        database = query.pop("database", DEFAULT_DATABASE)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
            raise StoreError(f"store URL {redacted(dsn)!r}: database name {database!r} is not a plain identifier")
        rest = urlencode(query)
        return f"chdb://{parts.netloc}{path}" + (f"?{rest}" if rest else ""), database, True
    if parts.scheme not in ("http", "https", "clickhouse", "clickhouses"):
        raise StoreError(f"store URL {redacted(dsn)!r}: scheme must be chdb, http or https")
    database = parts.path.strip("/") or DEFAULT_DATABASE
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise StoreError(f"store URL {redacted(dsn)!r}: database name {database!r} is not a plain identifier")
    # ``writes``: the store process's counts file (engine.store.writes), read by Store, not a client setting
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "writes"])
    server_dsn = urlunsplit((parts.scheme, parts.netloc, "/default", query, parts.fragment))
    return server_dsn, database, False


class _Memo:
    """Answers remembered with the stamp (counts of writes) they were computed under, the least recently used
    dropped beyond ``MEMO_SIZE``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[Hashable, tuple[tuple, Any]] = OrderedDict()

    def answer(self, key: Hashable, stamp: Callable[[], tuple | None], compute: Callable[[], T]) -> T:
        with self.lock:
            before = stamp()
            held = self.items.get(key)
            if before is not None and held is not None and held[0] == before:
                self.items.move_to_end(key)
                return held[1]
        value = compute()
        with self.lock:  # kept only if no write landed while it was computed
            if before is not None and stamp() == before:
                self.items[key] = (before, value)
                self.items.move_to_end(key)
                while len(self.items) > MEMO_SIZE:
                    self.items.popitem(last=False)
        return value


class _Directory:
    """What this process knows of an embedded store directory it holds: a count of its own writes per table, and
    answers remembered until one of the tables they read is written.

    Exact because chDB lets one OS process hold a directory: every write to it is this process's own, made
    through a ``Store`` (``wrote`` is called once the statement has finished). A directory served to other
    processes (``engine.store.server``) is ``shared``: they write through the server, which counts their writes
    here too and in the shared counts the other processes read (``engine.store.writes``); this process then
    remembers nothing itself."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.shared = False
        self.counts: WriteCounts | None = None
        self.writes: dict[str, int] = {}
        self.any_write = 0  # raised by a statement whose table is not read from it (DDL, a mutation's kin)
        self.memo = _Memo()

    def stamp(self, tables: tuple[str, ...]) -> tuple:
        return (self.any_write, *(self.writes.get(t, 0) for t in tables))

    def wrote(self, sql: str) -> None:
        """``sql`` has run: a write of the table it inserts into or alters, of every table if it names none."""
        if not _READS.match(sql):
            one = _ONE_TABLE.match(sql)
            self.wrote_table(one.group(1) if one else None)

    def wrote_table(self, table: str | None) -> None:
        with self.lock:
            if table:
                self.writes[table] = self.writes.get(table, 0) + 1
            else:
                self.any_write += 1
        if self.counts is not None:
            self.counts.bump(table)


#: Per embedded directory (its path) held by this process.
_DIRECTORIES: dict[str, _Directory] = {}
_DIRECTORIES_LOCK = threading.Lock()


def _directory(path: str | Path) -> _Directory:
    with _DIRECTORIES_LOCK:
        return _DIRECTORIES.setdefault(str(Path(path).resolve()), _Directory())


def share_directory(path: str | Path, counts: WriteCounts | None = None) -> None:
    """The embedded directory is served to other processes from now on: nothing read from it is remembered here,
    and each write to it is counted in ``counts`` (the file the served processes read), if given."""
    found = _directory(path)
    with found.lock:
        found.shared = True
        found.counts = counts
    with found.memo.lock:
        found.memo.items.clear()


def wrote(path: str | Path, sql: str) -> None:
    """A statement has run on the embedded directory at ``path`` (by the store process, for another process)."""
    _directory(path).wrote(sql)


class Store:
    """A ClickHouse database reached through clickhouse-connect; results come back as DataFrames.

    Every statement takes its values as bind parameters (``{name:Type}``), never formatted into SQL.
    """

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._connect_dsn, self.database, self.embedded = split_dsn(dsn)
        self._directory = _directory(urlsplit(self._connect_dsn).path) if self.embedded else None
        counts_file = None if self.embedded else dict(parse_qsl(urlsplit(dsn).query)).get("writes")
        self._counts = WriteCounts(counts_file) if counts_file else None
        #: The directory of the embedded store this process reaches, held or through its store process (whose
        #: counts file is ``<directory>.writes``, engine.store.server.counts_file); None for a server.
        self.shared_directory: str | None = (str(Path(urlsplit(self._connect_dsn).path).resolve()) if self.embedded
                                             else counts_file.removesuffix(".writes") if counts_file else None)
        #: Which store this is, for locks kept per store in this process: its directory or server, and database.
        self.identity = f"{self.shared_directory or redacted(self._connect_dsn)}#{self.database}"
        #: A lock per market across hosts (engine.store.write_locks), supplied by the app (Redis's) or None.
        self.market_lock: Callable[[str], contextlib.AbstractContextManager[None]] | None = None
        self._remote_memo = _Memo()
        self._open_lock = threading.Lock()
        # One client per thread: a client (chDB handle or HTTP session) must not be shared mid-query, and
        # separate chDB connections to the same directory run statements side by side, so a page's queries
        # and a batch's inserts into several tables can overlap on both cores.
        self._local = threading.local()
        self._generation = 0
        self._clients: list[tuple[weakref.ref, Any]] = []

    @property
    def client(self) -> Any:
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == self._generation:
            return held[1]
        with self._open_lock:
            self._close_orphans()
            client = self._open()
            self._clients.append((weakref.ref(threading.current_thread()), client))
            self._local.held = (self._generation, client)
        return client

    def _close_orphans(self) -> None:
        """Close the clients of threads that have ended (worker pools come and go)."""
        alive = []
        for thread, client in self._clients:
            t = thread()
            if t is not None and t.is_alive():
                alive.append((thread, client))
            else:
                with contextlib.suppress(Exception):
                    client.close()
        self._clients = alive

    def _open(self) -> Any:
        import clickhouse_connect

        if self.embedded:
            Path(urlsplit(self._connect_dsn).path).mkdir(parents=True, exist_ok=True)
        log.info("opening store %s (database %s)", redacted(self.dsn), self.database)
        settings = dict(_SESSION_SETTINGS) if self.embedded else {**_SESSION_SETTINGS, **_SERVER_SETTINGS}
        client = clickhouse_connect.get_client(dsn=self._connect_dsn, settings=settings)
        client.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        client.database = self.database
        return client

    def query_df(self, sql: str, params: dict[str, Any] | None = None, *,
                 columns_if_empty: bool = True) -> pd.DataFrame:
        """Run a SELECT; the frame has the query's columns even when no row matches, and DateTime64 columns
        come back as tz-aware UTC timestamps.

        Reading an empty answer's columns takes a second statement; ``columns_if_empty=False`` spares it for a
        caller that never reads the columns of an empty answer (the frame then has none)."""
        try:
            df = self._call(lambda client: client.query_df(sql, parameters=params or {}, query_tz=_ANSWER_ZONE))
            if columns_if_empty and not len(df.columns):
                df = self._no_rows(sql, params)
        except Exception as exc:  # clickhouse-connect raises several types; callers want one
            raise StoreError(str(exc)) from exc
        finally:
            self._wrote(sql)  # nothing unless the "query" was a write
        for col in df.columns:
            if pd.api.types.is_datetime64_dtype(df[col]) and getattr(df[col].dt, "tz", None) is None:
                df[col] = df[col].dt.tz_localize("UTC")
        return df

    def _no_rows(self, sql: str, params: dict[str, Any] | None) -> pd.DataFrame:
        """The columns of a query that matched no row, typed as any answer of that query is.

        The Native format carries an empty result as no block at all, so neither names nor types come back.
        Joined to one row, the query yields a row of its columns' default values, read the usual way (so the
        dtypes are the ones real rows get), then dropped. ``LIMIT 0`` spares reading the tables again."""
        probe = (f"SELECT * EXCEPT `{_PROBE}` FROM (SELECT *, 1 AS `{_PROBE}` FROM ({sql}) LIMIT 0) AS q "  # noqa: S608 -- wraps the caller's own parameterised query; values stay bound
                 f"RIGHT JOIN (SELECT 1 AS `{_PROBE}`) AS one USING `{_PROBE}` SETTINGS join_use_nulls = 0")
        return self.client.query_df(probe, parameters=params or {}, query_tz=_ANSWER_ZONE).iloc[0:0]

    def _call(self, run: Any) -> Any:
        """``run(client)`` on this thread's client, once more on a fresh one if the client had left its database."""
        try:
            return run(self.client)
        except Exception as exc:
            if not self._left_database(exc):
                raise
        return run(self.client)

    def _left_database(self, exc: Exception) -> bool:
        """Whether a table-not-found error came from a chDB connection no longer in this store's database (seen
        once in a test run, cause unknown: the connection's USE state is per handle); if so that connection is
        dropped, so the caller's retry opens a fresh one, and the database it was in is logged."""
        if not self.embedded or "UNKNOWN_TABLE" not in str(exc):
            return False
        held = getattr(self._local, "held", None)
        if held is None:
            return False
        try:
            current = held[1].command("SELECT currentDatabase()")
        except Exception:  # a connection that cannot say is replaced too
            current = None
        if current == self.database:
            return False
        log.warning("a store connection was in database %r instead of %r: reopening it", current, self.database)
        self._local.held = None
        with contextlib.suppress(Exception):
            held[1].close()
        return True

    def command(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return self._call(lambda client: client.command(sql, parameters=params or {}))
        except Exception as exc:
            raise StoreError(str(exc)) from exc
        finally:  # a failed statement may still have written: counted either way
            self._wrote(sql)

    def _wrote(self, sql: str) -> None:
        if self._directory is not None:
            self._directory.wrote(sql)

    def remember(self, tables: tuple[str, ...], key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, an answer that reads only ``tables`` (with any materialized view's source tables): kept
        until one of ``tables`` is written (or any DDL runs) where the writes can be counted, else computed on
        every call. Counted: on an embedded store this process holds alone, its own writes; through a store
        process whose URL names its counts file (``writes=``, as ``app.store_process`` gives its workers), the
        writes the store process counts (``engine.store.writes``).

        For the small lookups every request makes (its session's user, a market's data version): each is a
        statement of a few milliseconds, a large share of a cached page's cost. An answer computed while a write
        lands is not kept (the counts moved under it)."""
        found = self._directory
        if found is not None and not found.shared:
            return found.memo.answer((self.database, tables, key), lambda: found.stamp(tables), compute)
        if self._counts is not None:
            counts = self._counts
            return self._remote_memo.answer((tables, key), lambda: counts.stamp(tables), compute)
        return compute()

    def query_rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Run a SELECT; its rows as tuples of plain Python values (DateTime64 as naive UTC datetimes). For a
        few rows asked on every request: a frame of one row costs more to build than the query takes."""
        try:
            return self._call(lambda client: client.query(sql, parameters=params or {},
                                                          query_tz=_ANSWER_ZONE).result_rows)
        except Exception as exc:  # clickhouse-connect raises several types; callers want one
            raise StoreError(str(exc)) from exc
        finally:
            self._wrote(sql)

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        df = self.query_df(sql, params, columns_if_empty=False)
        return None if df.empty else df.iat[0, 0]

    def insert_df(self, table: str, df: pd.DataFrame) -> None:
        """Insert a frame as one block (one part, so it lands whole or not at all).

        The frame must hold each key once (the writer sees to it), so the insert skips ClickHouse's
        deduplication of the block (optimize_on_insert), and the views it feeds run side by side. On the
        embedded store each insert keeps to one thread: the writer runs a batch's tables at once, and two
        inserts each spreading over both cores were slower together than one thread each. A backfill of
        years spans hundreds of monthly partitions, and is still one batch: no limit on partitions per block."""
        if df.empty:
            return
        try:
            if self.embedded:
                # chDB reads the frame in place: about 3x faster than shipping it as Native blocks. The
                # settings ride on the statement: passed as client settings they cost a SET round trip each.
                frame = df  # noqa: F841 -- referenced by name in the SQL below
                cols = ", ".join(f"`{c}`" for c in df.columns)
                self.client.command(
                    f"INSERT INTO `{table}` ({cols}) SELECT {cols} FROM Python(frame) "  # noqa: S608 -- table and columns come from the table registry (TABLES)
                    f"SETTINGS max_insert_block_size = {max(len(df), 1_048_576)}, min_insert_block_size_rows = 0, "
                    "max_partitions_per_insert_block = 0, parallel_view_processing = 1, optimize_on_insert = 0, "
                    "max_threads = 1, max_insert_threads = 1")
            else:
                self.client.insert_df(table, df, settings={"max_insert_block_size": max(len(df), 1_048_576),
                                                           "max_partitions_per_insert_block": 0,
                                                           "parallel_view_processing": 1, "optimize_on_insert": 0})
        except Exception as exc:
            raise StoreError(f"insert into {table} failed: {exc}") from exc
        finally:
            if self._directory is not None:
                self._directory.wrote_table(table)

    def insert_rows(self, table: str, rows: list[list], columns: list[str]) -> None:
        """Insert rows given as lists of Python values, as one block (for columns a frame cannot carry into
        chDB, such as arrays)."""
        try:
            self.client.insert(table, rows, column_names=list(columns))
        except Exception as exc:
            raise StoreError(f"insert into {table} failed: {exc}") from exc
        finally:
            if self._directory is not None:
                self._directory.wrote_table(table)

    def close(self) -> None:
        """Close every thread's client; a thread that uses the store again opens a new one."""
        with self._open_lock:
            self._generation += 1
            clients, self._clients = self._clients, []
            for _, client in clients:
                with contextlib.suppress(Exception):
                    client.close()
