"""Connection URLs as they may be shown in a log line or an error message: the password, if any, as ***.

Standard library only: the gunicorn master reads the settings (app.settings) before it loads the app."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redacted(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***`` (unchanged when it has none)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL urlsplit can read (a bad port, an unclosed IPv6 bracket): show none of it
        return "(a URL that cannot be read)" if "@" in url else url
    if not password:
        return url
    user_part, _, host_part = parts.netloc.rpartition("@")
    user = user_part.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host_part}"))
