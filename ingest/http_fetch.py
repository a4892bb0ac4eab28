"""Downloading an operator's published file: a timeout on every request and retries on transient failures.

Connection errors (also one dropped mid-download), timeouts, HTTP 429 and 5xx are retried with exponential
backoff; any other non-200 answer is final. Callers pass a ``requests``-like session (tests pass a fake one;
nothing here opens a connection by itself).
"""
from __future__ import annotations

import logging
from typing import Any

import requests
from tenacity import Retrying, before_sleep_log, retry_if_exception_type, stop_after_attempt, wait_exponential

from engine.files import IngestError

log = logging.getLogger(__name__)

TIMEOUT = (10, 120)  # seconds: connect, read
ATTEMPTS = 4
RETRY_WAIT = wait_exponential(multiplier=2, min=2, max=60)
USER_AGENT = "254Carbon-market-intelligence/0.1"


class _ServerBusy(Exception):
    """A 5xx or 429 answer: worth another try."""


def http_get(session: Any, url: str, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> requests.Response:
    """The 200 answer for ``url``; anything else (after retries) is an IngestError naming the URL."""
    # ChunkedEncodingError: the connection dropped mid-download, as it does on large files
    transient = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, _ServerBusy)
    retrying = Retrying(stop=stop_after_attempt(ATTEMPTS), wait=RETRY_WAIT, reraise=True,
                        retry=retry_if_exception_type(transient),
                        before_sleep=before_sleep_log(log, logging.WARNING))
    try:
        for attempt in retrying:
            with attempt:
                resp = session.get(url, params=params, timeout=TIMEOUT,
                                   headers={"User-Agent": USER_AGENT, **(headers or {})})
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise _ServerBusy(f"HTTP {resp.status_code}")
    except (requests.RequestException, _ServerBusy) as exc:
        raise IngestError(url, None, f"download failed after {ATTEMPTS} attempts: {exc}") from exc
    if resp.status_code != 200:
        raise IngestError(url, None, f"download failed: HTTP {resp.status_code}")
    return resp
