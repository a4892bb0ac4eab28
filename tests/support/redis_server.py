"""A real redis-server for tests (several workers coordinate through Redis; the faults tests kill it and start it
again on the same port). Its port is from this xdist worker's block (tests/support/ports.py)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.ports import FAULT_SERVERS, free_port


class RedisServer:
    """A redis-server on a fixed port, with nothing saved to disk, which a test can kill and start again."""

    def __init__(self, folder: Path):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail("redis-server is missing: apt-get install -y redis-server (make test does this)")
        self.folder, self.port = folder, free_port(FAULT_SERVERS)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        # a socket's path must fit in 108 bytes, which a test's tmp_path need not
        self.socket = Path(tempfile.mkdtemp(prefix="c254-redis-")) / "redis.sock"
        self.unix_url = f"unix://{self.socket}?db=0"
        self.proc: subprocess.Popen | None = None

    def start(self, seconds: float = 15.0) -> None:
        import redis

        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder),
                                      "--unixsocket", str(self.socket)], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server on port {self.port} did not answer within {seconds} s")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None
