"""A store process: the one process that opens an embedded chDB directory, serving it to other processes over
the part of ClickHouse's HTTP interface that clickhouse-connect's HTTP client uses.

chDB lets one OS process hold a directory, so on the embedded store every web worker would otherwise have to
be that process. With this one holding it, any number of workers reach the store as they would a ClickHouse
server (``Store("http://127.0.0.1:PORT/c254")``), and their Python runs on every core.

    python -m engine.store.server chdb:///path/to/dir [--host 127.0.0.1] [--port 8123] [--user NAME]

A password, if any, is read from ``C254_STORE_PASSWORD`` (never from the command line, where ``ps`` shows it).

What is served: ``GET``/``POST /`` with the statement in the ``query`` parameter, the body, or both (the
parameter first, as ClickHouse joins them); ``param_<name>`` bind parameters; ``database``;
``default_format`` and a trailing ``FORMAT`` clause; settings as parameters (each applied to that request
alone; a name chDB does not know is refused with ClickHouse's ``UNKNOWN_SETTING``); ``INSERT ... FORMAT f``
with the rows in the body, streamed into chDB; request bodies plain or with ``Content-Encoding`` lz4, zstd,
gzip or deflate; ``/ping``. Answers carry the headers the client reads (``X-ClickHouse-Summary``,
``-Query-Id``, ``-Format``, ``-Timezone``) and errors are ClickHouse's: an HTTP status by error kind, the
body ``Code: N. DB::Exception: ...`` and ``X-ClickHouse-Exception-Code``.

Not served: sessions (each request stands alone, as on ClickHouse without ``session_id``: a ``SET`` or
``USE`` statement lasts for its own request), ClickHouse's own block compression (``compress``/``decompress``
parameters), external data, streaming of results (an answer is built whole before it is sent, as ClickHouse
does with ``wait_end_of_query=1``, which clickhouse-connect asks for).
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import hmac
import ipaddress
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from engine.store.client import share_directory, wrote
from engine.store.writes import WriteCounts

log = logging.getLogger(__name__)

DEFAULT_PORT = 8123
PASSWORD_ENV = "C254_STORE_PASSWORD"  # noqa: S105 -- the variable's name, not a password
#: Statements served at once; a request beyond waits for a connection to come free.
DEFAULT_CONNECTIONS = 16

#: URL parameters that steer the HTTP exchange itself, not the query: consumed here, never passed to chDB.
#: clickhouse-connect sends the progress, compression and cancel ones because chDB's system.settings lists them
#: as writable; answers are built whole and sent uncompressed, which ClickHouse also does when it may.
_TRANSPORT = frozenset({
    "query", "database", "default_format", "query_id", "user", "password", "quota_key",
    "session_id", "session_timeout", "session_check", "wait_end_of_query", "buffer_size",
    "client_protocol_version", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    "enable_http_compression", "http_zlib_compression_level", "cancel_http_readonly_queries_on_client_close",
})
#: Transport parameters whose meaning is not served: refused rather than silently ignored.
_UNSERVED = {"compress": "ClickHouse's block compression of answers (compress=1)",
             "decompress": "ClickHouse's block compression of request bodies (decompress=1)"}
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_ERROR_CODE = re.compile(r"Code: (\d+)\.")
_ERROR_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")
#: The first words of statements that answer with rows (and so name their format in X-ClickHouse-Format).
_RESULT_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK", "("})
#: Statements that change a connection's session state, which must not outlive their request.
_SESSION_STATEMENTS = frozenset({"SET", "USE"})
#: A statement (as opposed to the rows of an insert) read into memory: larger is refused.
_MAX_STATEMENT_BYTES = 64 << 20
_READ_CHUNK = 1 << 20

# ClickHouse's HTTP status for an exception, by error name (HTTPHandler's exceptionCodeToHTTPStatus).
_STATUS_BY_ERROR = {
    **dict.fromkeys(("UNKNOWN_USER", "WRONG_PASSWORD", "REQUIRED_PASSWORD", "AUTHENTICATION_FAILED"),
                    HTTPStatus.UNAUTHORIZED),
    **dict.fromkeys(("ACCESS_DENIED", "READONLY"), HTTPStatus.FORBIDDEN),
    **dict.fromkeys(("BAD_ARGUMENTS", "SYNTAX_ERROR", "CANNOT_PARSE_TEXT", "CANNOT_PARSE_QUOTED_STRING",
                     "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER",
                     "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "INCORRECT_DATA", "TYPE_MISMATCH",
                     "ILLEGAL_TYPE_OF_ARGUMENT", "NUMBER_OF_ARGUMENTS_DOESNT_MATCH",
                     "UNKNOWN_QUERY_PARAMETER", "BAD_QUERY_PARAMETER", "CANNOT_READ_ALL_DATA"),
                    HTTPStatus.BAD_REQUEST),
    **dict.fromkeys(("UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE", "UNKNOWN_STORAGE",
                     "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT",
                     "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY"), HTTPStatus.NOT_FOUND),
    "NOT_IMPLEMENTED": HTTPStatus.NOT_IMPLEMENTED,
}
# Codes of the refusals made here rather than by chDB (ClickHouse's numbers for the same errors).
BAD_ARGUMENTS = (36, "BAD_ARGUMENTS")
AUTHENTICATION_FAILED = (516, "AUTHENTICATION_FAILED")
QUERY_IS_TOO_LARGE = (62, "SYNTAX_ERROR")


class StoreServerError(RuntimeError):
    """The store process could not start (the directory is held elsewhere, the address is taken, ...)."""


class ClickHouseError(Exception):
    """An error answered as ClickHouse answers it: ``Code: N. DB::Exception: message (NAME)``."""

    def __init__(self, code: int, name: str, message: str, *, text: str | None = None):
        super().__init__(text or f"Code: {code}. DB::Exception: {message} ({name})")
        self.code, self.name = code, name

    @classmethod
    def of(cls, kind: tuple[int, str], message: str) -> ClickHouseError:
        return cls(kind[0], kind[1], message)

    @classmethod
    def from_engine(cls, exc: BaseException) -> ClickHouseError:
        """chDB's error as ClickHouse words it: its text from ``Code:`` on (chDB puts words of its own first)."""
        text = str(exc)
        start = text.find("Code: ")
        code = _ERROR_CODE.match(text, start) if start >= 0 else None
        if code is None:
            return cls(1001, "STD_EXCEPTION", text.strip())
        message = text[start:].strip()
        names = _ERROR_NAME.findall(message)
        return cls(int(code.group(1)), names[-1] if names else "", "", text=message)

    @property
    def status(self) -> int:
        return int(_STATUS_BY_ERROR.get(self.name, HTTPStatus.INTERNAL_SERVER_ERROR))


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _quote_value(value: str) -> str:
    # Quoted always: ClickHouse turns a quoted literal back into a number where the setting wants one, while a
    # bare word would not parse for a String setting.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---- reading statements ------------------------------------------------------------------------------------

_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def _tokens(text: bytes, start: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, word) of each top-level word or bracket of a statement: quoted strings, quoted names and
    comments are stepped over, so a keyword inside one is never taken for a clause. An unfinished quote or
    comment ends the walk (the caller reads more of the statement, or hands chDB the whole text)."""
    i, n = start, len(text)
    while i < n:
        c = text[i:i + 1]
        if c.isspace():
            i += 1
        elif text.startswith(b"--", i) or c == b"#":
            end = text.find(b"\n", i)
            if end < 0:
                return
            i = end + 1
        elif text.startswith(b"/*", i):
            end = text.find(b"*/", i + 2)
            if end < 0:
                return
            i = end + 2
        elif c in (b"'", b'"', b"`"):
            j = i + 1
            while j < n:
                if text[j:j + 1] == b"\\":
                    j += 2
                elif text[j:j + 1] == c:
                    if text[j + 1:j + 2] == c:  # a doubled quote stands for itself
                        j += 2
                    else:
                        break
                else:
                    j += 1
            if j >= n:
                return
            i = j + 1
        else:
            m = _WORD.match(text, i)
            if m:
                yield m.start(), m.end(), m.group(0).upper()
                i = m.end()
            else:
                yield i, i + 1, c
                i += 1


def first_keyword(text: bytes) -> str:
    """The statement's first word, upper-cased ("" for none)."""
    for _, _, word in _tokens(text):
        return word.decode("ascii", "replace")
    return ""


@dataclass(frozen=True)
class InsertWithData:
    """``INSERT INTO t (cols) FORMAT f`` followed by rows: the statement, the format and where the rows start."""

    statement: str
    fmt: str
    data_start: int


def split_insert(text: bytes) -> InsertWithData | None:
    """The INSERT whose rows follow its ``FORMAT`` clause in ``text``, or None for any other statement (an
    ``INSERT ... VALUES`` or ``INSERT ... SELECT`` goes to chDB whole).

    The rows start after the format's name, one line break and any blanks before it: binary rows may begin
    with bytes that read as blanks, so nothing after the line break is skipped."""
    tokens = _tokens(text)
    first = next(tokens, None)
    if first is None or first[2] != b"INSERT":
        return None
    for start, end, word in tokens:
        if word in (b"VALUES", b"SELECT", b"WITH"):
            return None
        if word != b"FORMAT":
            continue
        m = re.compile(rb"\s+([A-Za-z_][A-Za-z0-9_]*)").match(text, end)
        if not m:
            return None
        i = m.end()
        while text[i:i + 1] in (b" ", b"\t"):
            i += 1
        if text.startswith(b"\r\n", i):
            i += 2
        elif text.startswith(b"\n", i):
            i += 1
        return InsertWithData(text[:start].decode().strip(), m.group(1).decode(), i)
    return None


# ---- request bodies ----------------------------------------------------------------------------------------

def _multi_frame(make: Callable[[], Any]) -> Callable[[Iterator[bytes]], Iterator[bytes]]:
    """A decoder for a body of frames one after another (clickhouse-connect compresses each block apart)."""
    def decode(chunks: Iterator[bytes]) -> Iterator[bytes]:
        decoder = make()
        for chunk in chunks:
            while chunk:
                out = decoder.decompress(chunk)
                if out:
                    yield out
                if not decoder.eof:
                    break
                chunk = decoder.unused_data
                decoder = make()
    return decode


def _lz4() -> Any:
    import lz4.frame

    return lz4.frame.LZ4FrameDecompressor()


def _zstd() -> Any:
    if sys.version_info >= (3, 14):
        from compression import zstd
    else:
        from backports import zstd
    return zstd.ZstdDecompressor()


_DECODERS: dict[str, Callable[[Iterator[bytes]], Iterator[bytes]]] = {
    "lz4": _multi_frame(_lz4),
    "zstd": _multi_frame(_zstd),
    "gzip": _multi_frame(lambda: zlib.decompressobj(wbits=31)),
    "deflate": _multi_frame(lambda: zlib.decompressobj()),
}


# ---- the engine and its connections ------------------------------------------------------------------------

@dataclass(eq=False)
class _Connection:
    """One chDB connection and the session state set on it for the request it last served."""

    conn: Any
    database: str = "default"
    settings: dict[str, str] = field(default_factory=dict)
    #: Left in a state no later request may inherit: closed rather than pooled.
    dirty: bool = False


class Engine:
    """The chDB directory this process holds, and a pool of connections to it.

    chDB runs statements of separate connections side by side (one statement at a time on each), so each
    request takes a connection of its own for as long as it runs."""

    def __init__(self, directory: Path, max_connections: int = DEFAULT_CONNECTIONS):
        import chdb

        self.directory = directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._connect = chdb.connect
        # The first connection holds the engine (and the directory's lock) for the life of the process.
        try:
            self._holder = chdb.connect(str(self.directory))
        except Exception as exc:
            holder = _holder_of(self.directory)
            if holder is not None:
                raise StoreServerError(
                    f"the store directory {self.directory} is held by another process ({holder}): a store "
                    "process, or an app or command opened on chdb:// with this directory. chDB lets one process "
                    "hold it: stop that process, or point clients at the store process that holds it.") from exc
            raise StoreServerError(f"cannot open the store directory {self.directory}: {exc}") from exc
        # Other processes write to it through this one from now on: this process's Stores remember nothing of it,
        # and every write is counted in a file beside the directory, where the processes served read the counts.
        self.counts = _fresh_counts(counts_file(self.directory))
        share_directory(self.directory, self.counts)
        row = self._holder.query("SELECT version(), timezone()", "TabSeparated").bytes().decode().strip()
        self.version, self.timezone = row.split("\t")
        self._idle: list[_Connection] = []
        self._open = 0
        self._max = max_connections
        self._cond = threading.Condition()
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[_Connection]:
        """A connection for one request; one that may have been left in an unknown state is closed after."""
        with self._cond:
            while not self._idle and self._open >= self._max and not self._closed:
                self._cond.wait()
            if self._closed:
                raise ClickHouseError(210, "NETWORK_ERROR", "the store process is shutting down")
            if self._idle:
                held = self._idle.pop()
            else:
                self._open += 1
                held = None
        if held is None:
            try:
                held = _Connection(self._connect(str(self.directory)))
            except Exception:
                with self._cond:
                    self._open -= 1
                    self._cond.notify()
                raise
        finished = False
        try:
            yield held
            finished = True
        except ClickHouseError:
            finished = True  # the statement failed, the connection did not
            raise
        finally:
            with self._cond:
                if finished and not held.dirty and not self._closed:
                    self._idle.append(held)
                else:
                    self._open -= 1
                    with contextlib.suppress(Exception):
                        held.conn.close()
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for held in idle:
            with contextlib.suppress(Exception):
                held.conn.close()
        with contextlib.suppress(Exception):
            self._holder.close()


def _holder_of(directory: Path) -> str | None:
    """Who holds the directory, if another process does: chDB, as ClickHouse, keeps an exclusive lock on its
    ``status`` file, which names the holder's PID."""
    import fcntl

    status = directory / "status"
    try:
        with status.open("rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pid = re.search(rb"PID: (\d+)", f.read(4096))
                return f"PID {int(pid.group(1))}" if pid else "its PID unknown"
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


def _prepare(held: _Connection, database: str, settings: dict[str, str]) -> None:
    """Put the connection in the request's database with exactly the request's settings (those of the request
    before it reset): a connection serves many requests, each of which must see only its own."""
    try:
        if database != held.database:
            held.conn.query(f"USE {_quote_identifier(database)}", "TabSeparated")
            held.database = database
        stale = [k for k in held.settings if k not in settings]
        changed = {k: v for k, v in settings.items() if held.settings.get(k) != v}
        if stale or changed:
            assignments = [f"{k} = DEFAULT" for k in stale] + [f"{k} = {_quote_value(v)}" for k, v in changed.items()]
            held.dirty = True  # a SET that fails part way leaves settings unknown: the connection goes
            held.conn.query("SET " + ", ".join(assignments), "TabSeparated")
            held.dirty = False
            held.settings = dict(settings)
    except ClickHouseError:
        raise
    except Exception as exc:
        raise ClickHouseError.from_engine(exc) from exc


# ---- the HTTP side -----------------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    fmt: str | None = None
    summary: dict[str, str] = field(default_factory=dict)
    code: int | None = None


_TSV = "text/tab-separated-values; charset=UTF-8"
_CONTENT_TYPES = {"TabSeparated": _TSV, "TSV": _TSV,
                  "CSV": "text/csv; charset=UTF-8", "JSON": "application/json; charset=UTF-8",
                  "JSONEachRow": "application/x-ndjson; charset=UTF-8"}


class StoreServer(ThreadingHTTPServer):
    daemon_threads = True
    # Many short-lived connections from several workers' pools: the default backlog of 5 drops some.
    request_queue_size = 128

    def __init__(self, engine: Engine, host: str, port: int, user: str = "default", password: str = ""):
        self.engine, self.user, self.password = engine, user, password
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise StoreServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away mid-answer
            log.debug("client %s went away", client_address)
        else:
            log.exception("store process: a request from %s failed", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's pool reuses connections
    # Headers and body leave in two writes: with Nagle's algorithm the body waits for the client's delayed ACK
    # of the headers, 40 ms a request.
    disable_nagle_algorithm = True
    server: StoreServer
    timeout = 600  # an idle kept-alive connection is dropped after this long

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve(has_body=False)

    def do_POST(self) -> None:
        self._serve(has_body=True)

    def _serve(self, has_body: bool) -> None:
        url = urlsplit(self.path)
        body = self._raw_body() if has_body else iter(())
        if url.path == "/ping":
            self._drain(body)
            return self._send(Answer(body=b"Ok.\n"))
        if url.path != "/":
            self._drain(body)
            return self._send(Answer(HTTPStatus.NOT_FOUND, f"There is no handle {url.path}\n\nUse / or /ping.\n"
                                                           .encode()))
        args = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = args.get("query_id") or str(uuid.uuid4())
        try:
            answer = self._run(args, body)
        except Exception as exc:
            if not isinstance(exc, ClickHouseError):
                log.exception("query %s failed in the store process", query_id)
                exc = ClickHouseError(1001, "STD_EXCEPTION", f"{type(exc).__name__}: {exc}")
            self._drain(body)
            answer = Answer(exc.status, f"{exc} (version {self.server.engine.version})\n".encode(), code=exc.code)
            log.info("query %s refused: %s", query_id, exc)
        self._send(answer, query_id)

    def _run(self, args: dict[str, str], raw: Iterator[bytes]) -> Answer:
        self._authenticate(args)
        for name, what in _UNSERVED.items():
            if args.get(name, "0") not in ("0", "", "false", "False"):
                raise ClickHouseError.of(BAD_ARGUMENTS, f"the store process does not serve {what}: connect "
                                                        "without it (clickhouse-connect: compress=False)")
        body = self._decoded(raw)
        fields: dict[str, str] = {}
        if self.headers.get_content_type() == "multipart/form-data":
            # clickhouse-connect sends the query and its parameters as a form when they are too long for a URL.
            fields = self._form(b"".join(body))
            body = iter(())
        params = {k[len("param_"):]: v for k, v in {**args, **fields}.items() if k.startswith("param_")}
        settings = {k: v for k, v in args.items()
                    if not k.startswith("param_") and k not in _TRANSPORT and k not in _UNSERVED}
        for name in settings:
            if not _SETTING_NAME.fullmatch(name):
                raise ClickHouseError(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
        database = args.get("database") or "default"
        head = (args.get("query", "") + fields.get("query", "")).encode()

        insert = split_insert(head) if head else None
        if insert is not None and insert.data_start >= len(head):
            return self._insert(insert, body, database, settings)
        # ClickHouse's statement is the query parameter followed by the body.
        text = bytearray(head)
        for chunk in body:
            text += chunk
            if len(text) > _MAX_STATEMENT_BYTES and split_insert(text) is None:
                raise ClickHouseError.of(QUERY_IS_TOO_LARGE, f"a statement over {_MAX_STATEMENT_BYTES} bytes "
                                                             "(rows go after INSERT ... FORMAT, which has no limit)")
            insert = split_insert(text)
            if insert is not None and insert.data_start < len(text):  # else the format's name may go on
                return self._insert(insert, _chain([bytes(text[insert.data_start:])], body), database, settings)
        insert = split_insert(text)
        if insert is not None:
            rest = text[insert.data_start:]
            return self._insert(insert, iter([bytes(rest)] if rest else []), database, settings)
        if not text.strip():
            raise ClickHouseError(62, "SYNTAX_ERROR", "Empty query")
        return self._query(bytes(text), args.get("default_format") or "TabSeparated", params, database, settings)

    def _query(self, text: bytes, default_format: str, params: dict[str, str], database: str,
               settings: dict[str, str]) -> Answer:
        sql = text.decode("utf-8", "surrogateescape")
        keyword = first_keyword(text)
        trailing = _TRAILING_FORMAT.search(sql)
        fmt = trailing.group(1) if trailing else default_format
        with self.server.engine.connection() as held:
            _prepare(held, database, settings)
            if keyword in _SESSION_STATEMENTS:
                held.dirty = True  # its effect belongs to this request alone
            started = time.perf_counter_ns()
            try:
                result = held.conn.query(sql, fmt, params=params)
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from exc
            finally:  # counted before the answer goes out, failed or not (a failed write may have written)
                wrote(self.server.engine.directory, sql)
            out = result.bytes() or b""
            summary = _summary(result, started)
        produces_rows = trailing is not None or keyword in _RESULT_STATEMENTS
        summary["result_bytes"] = str(len(out))
        return Answer(body=out, fmt=fmt if produces_rows else None, summary=summary)

    def _insert(self, insert: InsertWithData, rows: Iterator[bytes], database: str,
                settings: dict[str, str]) -> Answer:
        # The whole body is read before any of it is written: a client that dies mid-send (a backfill killed)
        # must leave nothing, where a streamed insert kept the blocks the engine had formed from what arrived
        # (half a batch's rows, and none of their hourly buckets, until a rerun). Holding no connection meanwhile.
        rows = iter(list(rows))
        with self.server.engine.connection() as held:
            _prepare(held, database, settings)
            started = time.perf_counter_ns()
            try:
                inserter = held.conn.send_insert(insert.statement, insert.fmt)
            except Exception as exc:
                raise ClickHouseError.from_engine(exc) from exc
            try:
                for chunk in rows:
                    inserter.append(chunk)
                result = inserter.finish()
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    inserter.cancel()
                if isinstance(exc, ClickHouseError):
                    raise
                if not isinstance(exc, Exception):
                    raise
                raise ClickHouseError.from_engine(exc) from exc
            finally:  # counted before the answer goes out, failed or not
                wrote(self.server.engine.directory, insert.statement)
        elapsed = time.perf_counter_ns() - started
        return Answer(summary={"read_rows": str(result.rows_written), "read_bytes": str(result.bytes_written),
                               "written_rows": str(result.rows_written), "written_bytes": str(result.bytes_written),
                               "total_rows_to_read": "0", "result_rows": str(result.rows_written),
                               "result_bytes": str(result.bytes_written), "elapsed_ns": str(elapsed)})

    # -- the exchange --

    def _authenticate(self, args: dict[str, str]) -> None:
        user, password = "default", ""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError as exc:
                raise ClickHouseError.of(AUTHENTICATION_FAILED, "malformed Authorization header") from exc
        elif auth:
            raise ClickHouseError.of(AUTHENTICATION_FAILED, "only Basic authorization is served")
        user = self.headers.get("X-ClickHouse-User") or args.get("user") or user
        password = self.headers.get("X-ClickHouse-Key") or args.get("password") or password
        expected_user, expected_password = self.server.user, self.server.password
        if not (hmac.compare_digest(user.encode(), expected_user.encode())
                and hmac.compare_digest(password.encode(), expected_password.encode())):
            raise ClickHouseError.of(AUTHENTICATION_FAILED, f"{user}: Authentication failed: password is "
                                                            "incorrect, or there is no user with such name.")

    def _raw_body(self) -> Iterator[bytes]:
        """The request body as sent, chunked or of a stated length."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline(1024)
                if not line:  # the connection closed before the last chunk: not the end of the body
                    raise ClickHouseError(33, "CANNOT_READ_ALL_DATA", "the request body ended early")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                yield from self._read(size)
                self.rfile.readline(1024)
        else:
            yield from self._read(int(self.headers.get("Content-Length") or 0))

    def _read(self, size: int) -> Iterator[bytes]:
        """``size`` bytes of the body, in pieces."""
        while size:
            part = self.rfile.read(min(size, _READ_CHUNK))
            if not part:
                raise ClickHouseError(33, "CANNOT_READ_ALL_DATA", "the request body ended early")
            size -= len(part)
            yield part

    def _decoded(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if encoding in ("", "identity"):
            return raw
        decoder = _DECODERS.get(encoding)
        if decoder is None:
            raise ClickHouseError.of(BAD_ARGUMENTS, f"Content-Encoding {encoding!r} is not served "
                                                    f"(served: {', '.join(_DECODERS)})")
        return _engine_errors(decoder(raw))

    def _form(self, body: bytes) -> dict[str, str]:
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename() is not None:
                raise ClickHouseError.of(BAD_ARGUMENTS, "external data (a file in the form) is not served")
            if name:
                fields[name] = part.get_payload(decode=True).decode()
        return fields

    def _drain(self, body: Iterator[bytes]) -> None:
        """Read what is left of the body, so the connection can serve the next request."""
        try:
            for _ in body:
                pass
        except Exception:
            self.close_connection = True

    def _send(self, answer: Answer, query_id: str | None = None) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Content-Type", _CONTENT_TYPES.get(answer.fmt or "", "application/octet-stream")
                         if answer.fmt else "text/plain; charset=UTF-8")
        if query_id is not None:
            self.send_header("X-ClickHouse-Query-Id", query_id)
            self.send_header("X-ClickHouse-Timezone", self.server.engine.timezone)
            self.send_header("X-ClickHouse-Server-Display-Name", "c254-store")
            self.send_header("X-ClickHouse-Summary", json.dumps(answer.summary or {}))
        if answer.fmt:
            self.send_header("X-ClickHouse-Format", answer.fmt)
        if answer.code is not None:
            self.send_header("X-ClickHouse-Exception-Code", str(answer.code))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer.body)


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


def _engine_errors(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A body that fails to decode is the client's error, answered as ClickHouse would."""
    try:
        yield from chunks
    except ClickHouseError:
        raise
    except Exception as exc:
        raise ClickHouseError(271, "CANNOT_DECOMPRESS", f"the request body does not decode: {exc}") from exc


def _summary(result: Any, started: int) -> dict[str, str]:
    elapsed = time.perf_counter_ns() - started
    summary = {"read_rows": "0", "read_bytes": "0", "written_rows": "0", "written_bytes": "0",
               "total_rows_to_read": "0", "elapsed_ns": str(elapsed)}
    with contextlib.suppress(Exception):
        summary["read_rows"] = str(result.rows_read())
        summary["read_bytes"] = str(result.bytes_read())
    return summary


def _fresh_counts(path: Path) -> WriteCounts | None:
    """The write counts made afresh at ``path``; None (workers then remember nothing) if the file cannot be made,
    provided no older one is left there, whose counts would never move again."""
    try:
        return WriteCounts(path, create=True)
    except OSError as exc:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            raise StoreServerError(f"cannot make the write counts file {path} ({exc}) nor remove the old one: "
                                   "make its directory writable") from exc
        log.warning("no write counts file at %s (%s): the workers will ask the store for every lookup", path, exc)
        return None


def counts_file(directory: Path) -> Path:
    """The file of write counts the store process keeps for ``directory`` (``engine.store.writes``): beside it."""
    return directory.with_name(f"{directory.name}.writes")


def directory_of(dsn: str) -> Path:
    """The directory a ``chdb:///path`` store URL names."""
    parts = urlsplit(dsn)
    if parts.scheme != "chdb" or not parts.path or parts.path == "/" or parts.netloc:
        raise StoreServerError(f"store URL {dsn!r}: expected chdb:///path/to/dir (the directory this process holds)")
    return Path(parts.path)


def serve(dsn: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT, user: str = "default",
          password: str = "", max_connections: int = DEFAULT_CONNECTIONS,
          ready: Callable[[StoreServer], None] | None = None) -> None:
    """Hold the store directory and answer on ``host:port`` until SIGTERM or SIGINT."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not password:
        raise StoreServerError(f"listening on {host} (beyond this machine) needs a password: set {PASSWORD_ENV}")
    engine = Engine(directory_of(dsn), max_connections)
    try:
        server = StoreServer(engine, host, port, user, password)
    except BaseException:
        engine.close()
        raise
    stopping = threading.Event()

    def stop(*_: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("store process for %s listening on http://%s:%d", engine.directory, host, server.server_port)
        if ready is not None:
            ready(server)
        server.serve_forever(poll_interval=0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
        engine.close()


def freeze_for_life() -> None:
    """Move what this process has built so far (its modules, the store, a scheduler's app) out of the garbage
    collector's sight, as each web worker does once loaded (app.gunicorn_config.post_worker_init): every full
    collection walked it all with the GIL held, a pause in which no worker's query was answered (27 ms for the
    store server alone, 120-130 ms with the app's scheduler beside it)."""
    gc.freeze()
    log.info("%d objects held for the process's life frozen out of the garbage collector", gc.get_freeze_count())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.store.server",
                                     description="Hold an embedded store directory and serve it over ClickHouse's "
                                                 "HTTP interface to the app's other processes.")
    parser.add_argument("dsn", help="the store, chdb:///path/to/dir")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--user", default="default", help=f"the one user served (password from {PASSWORD_ENV})")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS,
                        help=f"statements run at once (default {DEFAULT_CONNECTIONS})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("C254_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready(server: StoreServer) -> None:
        freeze_for_life()
        print(f"listening on http://{args.host}:{server.server_port}", flush=True)

    try:
        serve(args.dsn, args.host, args.port, args.user, os.environ.get(PASSWORD_ENV, ""), args.connections, ready)
    except StoreServerError as exc:
        print(f"store process: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
