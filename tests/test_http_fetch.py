"""A failed download says why in words an admin acts on (the job's error column shows it), from the exceptions
requests really raises: a host with no DNS answer, a port that refuses, no answer in time, a dropped download,
a busy server."""
from __future__ import annotations

import socket

import pytest
import requests

from engine.files import IngestError
from ingest import http_fetch
from tests.support.fakes import FakeResponse, FakeSession


def _failure(session, url: str) -> str:
    with pytest.raises(IngestError) as caught:
        http_fetch.http_get(session, url)
    return caught.value.problem


def _direct() -> requests.Session:
    """A real session that ignores any proxy settings of the machine, so the failure is the host's own."""
    session = requests.Session()
    session.trust_env = False
    return session


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


def test_a_host_with_no_dns_answer(no_wait):
    # .invalid is reserved (RFC 2606): no resolver answers it, with or without a network
    problem = _failure(_direct(), "http://nemweb.invalid/Reports/Current/file.zip")
    assert problem == ("download failed after 4 attempts: could not look up nemweb.invalid (no network, or no DNS "
                       "answer)")


def test_a_port_that_refuses(no_wait):
    problem = _failure(_direct(), f"http://127.0.0.1:{_closed_port()}/file.csv")
    assert problem == "download failed after 4 attempts: 127.0.0.1 refused the connection"


@pytest.mark.parametrize(("raised", "said"), [
    (requests.ReadTimeout("read timed out"), "reports.example did not answer within 10 s to connect or 120 s to send"),
    (requests.exceptions.ChunkedEncodingError("incomplete read"), "the connection to reports.example dropped "
                                                                  "mid-download"),
    (requests.ConnectionError("reset by peer"), "could not connect to reports.example (ConnectionError: reset by "
                                                "peer)"),
])
def test_each_transient_failure_is_named(no_wait, raised, said):
    url = "https://reports.example/file.csv"
    assert _failure(FakeSession({url: [raised]}), url) == f"download failed after 4 attempts: {said}"


def test_a_busy_server(no_wait):
    url = "https://reports.example/file.csv"
    session = FakeSession({url: [FakeResponse(503, b"")]})
    assert _failure(session, url) == "download failed after 4 attempts: reports.example answered HTTP 503 (busy or " \
                                     "failing)"
    assert len(session.calls) == http_fetch.ATTEMPTS


def test_each_retry_is_logged_with_its_url_and_reason(no_wait, caplog):
    """tenacity's own line read "Retrying <unknown> in 2 seconds ..." (it names a function, and a block has none)."""
    url = f"http://127.0.0.1:{_closed_port()}/file.csv"
    with caplog.at_level("WARNING", logger="ingest.http_fetch"):
        _failure(_direct(), url)
    retries = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert retries == [f"download of {url} failed (attempt {n} of 4: 127.0.0.1 refused the connection); trying "
                       "again in 0 s" for n in (1, 2, 3)]
    assert not any("<unknown>" in r.getMessage() for r in caplog.records)
