"""Shared by the connector tests: scripted HTTP answers, mangled copies of real files, and row lookup."""
from __future__ import annotations

import pandas as pd
from hypothesis import strategies as st

from engine.files import IngestError, RawFile


class FakeResponse:
    def __init__(self, status: int, content: bytes = b"", payload: dict | None = None):
        self.status_code, self.content, self._payload = status, content, payload

    def json(self) -> dict:
        if self._payload is None:
            raise ValueError("not JSON")
        return self._payload


class FakeSession:
    """Answers from a script of (url -> list of responses, or exceptions to raise); records every call."""

    def __init__(self, answers: dict[str, list[FakeResponse | BaseException]]):
        self.answers, self.calls = answers, []

    def get(self, url, params=None, timeout=None, headers=None):
        self.calls.append((url, params, timeout, headers))
        queue = self.answers[url]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def parsed_or_refused(connector, name: str, data: bytes):
    """What ``connector`` makes of ``data`` named ``name``: its ParseResult, or None where it refuses the
    file with an IngestError (anything else it raises fails the test)."""
    try:
        return connector.parse(RawFile(name=name, data=data))
    except IngestError:
        return None


@st.composite
def mangled(draw, data: bytes, rounds: int = 1) -> bytes:
    """``data`` truncated, with bytes flipped, or with a line dropped, duplicated or swapped; up to ``rounds``
    such changes, one after another."""
    for _ in range(draw(st.integers(1, rounds))):
        data = _mangle_once(draw, data)
    return data


def _mangle_once(draw, data: bytes) -> bytes:
    if not data:
        return data
    how = draw(st.sampled_from(["truncate", "flip", "drop", "duplicate", "swap"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip":
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        return bytes(buf)
    lines = data.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    if how == "drop":
        del lines[i]
    elif how == "duplicate":
        lines.insert(i, lines[i])
    else:
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def one(frame: pd.DataFrame, **match) -> pd.Series:
    """The single row of ``frame`` whose columns equal ``match`` (fails unless exactly one row does)."""
    hit = frame
    for column, value in match.items():
        hit = hit[hit[column] == value]
    assert len(hit) == 1, match
    return hit.iloc[0]
