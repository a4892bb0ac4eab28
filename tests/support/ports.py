"""Ports for the servers tests start: free now, from a block of 1,000 of this xdist worker's own below the kernel's
ephemeral range (32768 and up). A port the kernel handed out (bind to 0) is also what it hands any other
process's outgoing connection, and another test's client once took a FIX acceptor's port between the check and
the acceptor's bind. Each kind of server has its own base, so the blocks never overlap (two workers each):

- FIX acceptors 21000 (tests/support/fix_acceptor.py), store processes 23000 (tests/test_store_process.py),
  Redis servers and the faults tests' servers 26000
  (tests/support/redis_server.py, tests/test_faults.py); Dash test servers count from 30050
  (tests/conftest.py)."""
from __future__ import annotations

import itertools
import os
import socket

from tests.conftest import xdist_worker

FIX_ACCEPTORS, STORE_PROCESSES, FAULT_SERVERS = 21000, 23000, 26000
_ports = itertools.count(int.from_bytes(os.urandom(2), "big"))


def free_port(base: int) -> int:
    """A port of this worker's block from ``base`` that nothing listens on now."""
    start = base + 1000 * xdist_worker()
    for _ in range(1000):
        port = start + next(_ports) % 1000
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}..{start + 999}")
