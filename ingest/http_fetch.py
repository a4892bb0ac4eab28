"""Downloading an operator's published file: one User-Agent, a timeout on every request and retries on
transient failures.

Connection errors (also one dropped mid-download), timeouts, HTTP 429 and 5xx are retried with exponential
backoff; any other non-200 answer is final, and a 404 may mean "not published" where an operator simply has
no file for a period (``missing_ok``). Callers pass a ``requests``-like session (tests pass a fake one;
nothing here opens a connection by itself).
"""
from __future__ import annotations

import logging
import socket
from typing import Any, Literal, overload
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from engine.files import IngestError, RawFile

log = logging.getLogger(__name__)

TIMEOUT = (10, 120)  # seconds: connect, read
ATTEMPTS = 4
RETRY_WAIT = wait_exponential(multiplier=2, min=2, max=60)
USER_AGENT = "254Carbon-market-intelligence/0.1"


class _ServerBusy(Exception):
    """A 5xx or 429 answer: worth another try."""


def _causes(exc: BaseException):
    """``exc`` and the exceptions it was raised from, outermost first (requests wraps urllib3 wraps socket)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def plain_reason(exc: BaseException, url: str) -> str:
    """Why a download failed, in words an admin acts on, for the job's error column (the full exception chain
    goes to the log): no DNS answer, connection refused, no answer in time, a dropped download, a busy server."""
    host = urlsplit(url).hostname or url
    causes = list(_causes(exc))
    if any(isinstance(c, socket.gaierror) or type(c).__name__ == "NameResolutionError" for c in causes):
        return f"could not look up {host} (no network, or no DNS answer)"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return f"{host} refused the connection"
    if isinstance(exc, requests.Timeout):
        return f"{host} did not answer within {TIMEOUT[0]} s to connect or {TIMEOUT[1]} s to send"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"the connection to {host} dropped mid-download"
    if isinstance(exc, _ServerBusy):
        return f"{host} answered {exc} (busy or failing)"
    if isinstance(exc, requests.ConnectionError):
        return f"could not connect to {host} ({type(causes[-1]).__name__}: {causes[-1]})"
    return f"{type(exc).__name__}: {exc}"


def open_session(session: Any = None) -> Any:
    """``session``, or a new ``requests.Session`` when none is given."""
    return session if session is not None else requests.Session()


@overload
def http_get(session: Any, url: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
             *, missing_ok: Literal[False] = False) -> requests.Response: ...


@overload
def http_get(session: Any, url: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
             *, missing_ok: bool) -> requests.Response | None: ...


def http_get(session: Any, url: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
             *, missing_ok: bool = False) -> requests.Response | None:
    """The 200 answer for ``url``; with ``missing_ok``, None (logged) for a 404; anything else (after retries)
    is an IngestError naming the URL."""
    # ChunkedEncodingError: the connection dropped mid-download, as it does on large files
    transient = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, _ServerBusy)

    def say_why(state: RetryCallState) -> None:
        # tenacity's own line names the function it retries, "<unknown>" for a block: name the URL instead
        failed = state.outcome.exception() if state.outcome is not None else None
        log.warning("download of %s failed (attempt %d of %d: %s); trying again in %.0f s", url,
                    state.attempt_number, ATTEMPTS, plain_reason(failed, url) if failed else "no answer",
                    state.next_action.sleep if state.next_action is not None else 0.0)

    retrying = Retrying(stop=stop_after_attempt(ATTEMPTS), wait=RETRY_WAIT, reraise=True,
                        retry=retry_if_exception_type(transient), before_sleep=say_why)
    try:
        for attempt in retrying:
            with attempt:
                resp = session.get(url, params=params, timeout=TIMEOUT,
                                   headers={"User-Agent": USER_AGENT, **(headers or {})})
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise _ServerBusy(f"HTTP {resp.status_code}")
    except (requests.RequestException, _ServerBusy) as exc:
        log.warning("download of %s failed after %d attempts: %r", url, ATTEMPTS, exc)
        raise IngestError(url, None, f"download failed after {ATTEMPTS} attempts: {plain_reason(exc, url)}") from exc
    if resp.status_code == 404 and missing_ok:
        log.info("not published: %s (HTTP 404)", url)
        return None
    if resp.status_code != 200:
        raise IngestError(url, None, f"download failed: HTTP {resp.status_code}")
    log.info("downloaded %s (%d bytes)", url, len(resp.content))
    return resp


@overload
def download(session: Any, name: str, url: str, *, missing_ok: Literal[False] = False) -> RawFile: ...


@overload
def download(session: Any, name: str, url: str, *, missing_ok: bool) -> RawFile | None: ...


def download(session: Any, name: str, url: str, *, missing_ok: bool = False) -> RawFile | None:
    """The file ``name`` published at ``url`` (see :func:`http_get`), its body checked against its name: a
    ``.zip`` that is not a zip, or an HTML page for a ``.csv`` (what sites send for a file they refuse), is
    an IngestError naming the URL."""
    response = http_get(session, url, missing_ok=missing_ok)
    if response is None:
        return None
    data = response.content
    if name.lower().endswith(".zip") and data[:4] != b"PK\x03\x04":
        raise IngestError(url, None, "the server did not send a zip archive")
    if name.lower().endswith(".csv") and data.lstrip()[:1] == b"<":
        raise IngestError(url, None, "the server sent an HTML page instead of the CSV")
    return RawFile(name=name, data=data)
