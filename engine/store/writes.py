"""Counts of writes per table, kept by the process that holds an embedded store and read by the processes it
serves: a small file of counters mapped into each one's memory.

The store process (``engine.store.server``) raises a table's count once a statement writing it has finished, before
it answers; a web worker reading the counts afterwards sees the raise (the processes share the page). A worker
then keeps the answers of its per-request lookups (``Store.remember``) until a count they depend on moves, as a
process holding the store does with its own counts: a lookup is a read of a few counters instead of a round trip
to the store process.

Layout: unsigned 64-bit counters; slot 0 an epoch drawn when the file is made (a store process started again
makes a new file, and a worker's stamps of the old one never match the new), slot 1 statements that name no table
written (DDL: every answer depends on it), then ``SLOTS`` table slots by a CRC of the table's name (two tables
sharing a slot only cost each other's remembered answers a recomputation)."""
from __future__ import annotations

import mmap
import os
import secrets
import struct
import threading
import zlib
from pathlib import Path

SLOTS = 509
_HEAD = 2
_SIZE = 8 * (_HEAD + SLOTS)


def _slot(table: str) -> int:
    return _HEAD + zlib.crc32(table.encode()) % SLOTS


class WriteCounts:
    """The counters at ``path``: ``create=True`` (the holder) makes the file afresh; a reader maps the file there
    and follows it to a new one when the holder makes another. A reader whose file is missing has no counts
    (``stamp`` returns None: nothing is remembered)."""

    def __init__(self, path: str | Path, *, create: bool = False):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._map: mmap.mmap | None = None
        self._inode: int | None = None
        if create:
            part = self.path.with_name(f"{self.path.name}.{os.getpid()}.new")
            part.write_bytes(struct.pack("<Q", secrets.randbits(63) + 1) + bytes(_SIZE - 8))
            os.replace(part, self.path)  # readers see the whole new file or the old one
            self._open()

    def _open(self) -> bool:
        try:
            with open(self.path, "r+b") as f:
                found = os.fstat(f.fileno())
                if found.st_size < _SIZE:
                    return False
                self._map, self._inode = mmap.mmap(f.fileno(), _SIZE), found.st_ino
            return True
        except OSError:
            self._map = self._inode = None
            return False

    def _current(self) -> mmap.mmap | None:
        try:
            inode = os.stat(self.path).st_ino
        except OSError:
            return None
        if inode != self._inode:
            with self._lock:
                if inode != self._inode and not self._open():
                    return None
        return self._map

    def bump(self, table: str | None) -> None:
        """One more write of ``table`` (None: a statement naming no table it writes, which every answer depends
        on). Called by the holder only, after the statement has finished."""
        held = self._map
        if held is None:
            return
        offset = 8 * (_slot(table) if table else 1)
        with self._lock:
            held[offset:offset + 8] = struct.pack("<Q", struct.unpack_from("<Q", held, offset)[0] + 1)

    def stamp(self, tables: tuple[str, ...]) -> tuple[int, ...] | None:
        """The epoch, the count of writes naming no table and each of ``tables``' counts; None without a file."""
        held = self._current()
        if held is None:
            return None
        return (*struct.unpack_from("<QQ", held, 0), *(struct.unpack_from("<Q", held, 8 * _slot(t))[0]
                                                       for t in tables))
