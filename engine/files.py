"""Published files as the engine and the connectors both read them: the bytes of one file, its text, and the
error that names the file, line and problem. Here, not in ``ingest``, because the grid-case readers of
``engine.lmp`` read files too, and the engine imports nothing of ours above it."""
from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path


class IngestError(ValueError):
    """Bad input: names the file, the line (1-based, when known) and the problem."""

    def __init__(self, source: str, line: int | None, problem: str):
        self.source = source
        self.line = line
        self.problem = problem
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class RawFile:
    """The bytes of one published file and the name it was published under."""

    name: str
    data: bytes

    @classmethod
    def from_path(cls, path: str | Path) -> RawFile:
        p = Path(path)
        return cls(name=p.name, data=p.read_bytes())

    def members(self) -> list[RawFile]:
        """The CSV/XML files inside, if this is a zip; otherwise itself."""
        if self.data[:4] != b"PK\x03\x04":
            return [self]
        try:
            with zipfile.ZipFile(io.BytesIO(self.data)) as zf:
                return [
                    RawFile(name=f"{self.name}/{info.filename}", data=zf.read(info))
                    for info in zf.infolist()
                    if not info.is_dir()
                ]
        # zlib.error: damaged compressed data; NotImplementedError: an unsupported compression method;
        # RuntimeError: an encrypted member
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError, RuntimeError,
                ValueError) as exc:
            raise IngestError(self.name, None, f"not a readable zip archive ({exc})") from exc


def decode_text(raw: RawFile, encodings: tuple[str, ...] = ("utf-8-sig",)) -> str:
    """Decode a text report, refusing bytes that are not text in any of ``encodings``."""
    if not raw.data.strip():
        raise IngestError(raw.name, None, "file is empty")
    if b"\x00" in raw.data[:4096]:
        raise IngestError(raw.name, None, "file is binary, not a text report")
    last: UnicodeDecodeError | None = None
    for enc in encodings:
        try:
            return raw.data.decode(enc)
        except UnicodeDecodeError as exc:
            last = exc
    if last is None:  # unreachable: the loop returned or recorded a decode error
        raise ValueError("no encodings to try")
    line = raw.data[: last.start].count(b"\n") + 1
    raise IngestError(raw.name, line, f"not valid {'/'.join(encodings)} text ({last.reason})")
