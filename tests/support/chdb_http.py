"""A test stand-in for a ClickHouse server: chDB behind ClickHouse's HTTP interface.

No modern ClickHouse server installs from the package registries here, so the server path of the store
(``http://...`` URLs through clickhouse-connect's HTTP client) is tested against this: the same engine,
reached over HTTP in another process, as a server would be. It implements the part of the interface the
client uses: ``/ping``, queries in the ``query`` parameter or the body, ``param_*`` bind parameters,
``database``, and ``INSERT ... FORMAT Native`` with the rows in the body.

    python -m tests.support.chdb_http PORT DATA_DIR
"""
from __future__ import annotations

import re
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import chdb

_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(?P<target>.+?)\s+FORMAT\s+(?P<fmt>\w+)\s*$", re.I | re.S)
_FORMAT = re.compile(r"\s+FORMAT\s+(?P<fmt>\w+)\s*;?\s*$", re.I)
_SETTINGS_IGNORED = {"query", "database", "session_id", "compress", "decompress", "enable_http_compression",
                     "default_format", "query_id", "wait_end_of_query", "send_progress_in_http_headers",
                     "http_headers_progress_interval_ms", "client_protocol_version", "session_timeout",
                     "date_time_input_format", "session_check", "cancel_http_readonly_queries_on_client_close"}


class Handler(BaseHTTPRequestHandler):
    conn = None
    lock = threading.Lock()
    spool = Path(tempfile.mkdtemp(prefix="chdb-http-"))

    def log_message(self, *_args) -> None:  # quiet
        pass

    def _reply(self, status: int, body: bytes, fmt: str = "TabSeparated") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if fmt != "TabSeparated" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Format", fmt)
        self.send_header("X-ClickHouse-Timezone", "UTC")
        self.send_header("X-ClickHouse-Summary", '{"read_rows":"0","written_rows":"0"}')
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/ping":
            return self._reply(200, b"Ok.\n")
        return self._run(b"")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(parts)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        return self._run(body)

    def _run(self, body: bytes) -> None:
        args = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        import os
        if os.environ.get("CHDB_HTTP_DEBUG"):
            print("REQ", {k: v[:80] for k, v in args.items()}, len(body), file=sys.stderr)
        query = args.get("query")
        data = b""
        if query is None:
            # ClickHouse also takes "INSERT ... FORMAT Native" followed by the rows, in the body.
            m = re.match(rb"(?is)\s*INSERT\s.*?\bFORMAT\s+\w+[ \t]*\r?\n?", body)
            if m:
                query, data = m.group(0).decode().strip(), body[m.end():]
            else:
                query, data = body.decode(), b""
        else:
            data = body
        params = {k[6:]: v for k, v in args.items() if k.startswith("param_")}
        settings = {k: v for k, v in args.items() if not k.startswith("param_") and k not in _SETTINGS_IGNORED}
        database = args.get("database")
        try:
            with self.lock:
                if database:
                    self.conn.query(f"USE `{database}`")
                m = _INSERT.match(query)
                if m and data:
                    path = self.spool / "insert.bin"
                    path.write_bytes(data)
                    sql = (f"INSERT INTO {m['target']} SELECT * FROM file('{path}', '{m['fmt']}')"
                           + _settings_clause(settings))
                    self.conn.query(sql, "TabSeparated", params=params)
                    return self._reply(200, b"")
                fm = _FORMAT.search(query)
                fmt = fm["fmt"] if fm else args.get("default_format", "TabSeparated")
                sql = _FORMAT.sub("", query) if fm else query
                clause = _settings_clause(settings)
                if clause:  # a server applies URL settings to the query alone; SET is close enough here
                    self.conn.query("SET " + clause.replace(" SETTINGS ", "", 1))
                result = self.conn.query(sql, fmt, params=params)
                out = result.bytes() if hasattr(result, "bytes") else bytes(result)
            return self._reply(200, out, fmt)
        except Exception as exc:  # a server answers errors with 500 and ClickHouse's message
            return self._reply(500, f"Code: 1000. DB::Exception: {exc}".encode())


def _settings_clause(settings: dict) -> str:
    safe = {k: v for k, v in settings.items() if re.fullmatch(r"[a-z_0-9]+", k) and re.fullmatch(r"[\w.]+", v)}
    if not safe:
        return ""
    return " SETTINGS " + ", ".join(f"{k} = {v if v.replace('.', '').isdigit() else repr(v)}" for k, v in safe.items())


def main() -> None:
    port, data_dir = int(sys.argv[1]), sys.argv[2]
    Handler.conn = chdb.connect(data_dir)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
