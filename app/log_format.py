"""How a log record is written (``C254_LOG_FORMAT``): one JSON object per line, or a plain line for a person at a
terminal. Apart from app/logs.py, which adds a request's context to each record, so that the gunicorn master, which
loads no app, writes its own lines (start, workers booted, signals) the same way (app/gunicorn_config.py)."""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

FORMATS = ("json", "text")
#: The fields a record carries in every format (empty outside a request).
CONTEXT_FIELDS = ("request_id", "user", "route")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(user)s %(route)s]: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601, ms), level, logger, message, the request context, the
    access fields of an access line, and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        entry.update({name: getattr(record, name, "") for name in CONTEXT_FIELDS})
        entry.update(getattr(record, "access", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")
    return JsonFormatter() if log_format == "json" else logging.Formatter(
        TEXT_FORMAT, defaults=dict.fromkeys(CONTEXT_FIELDS, ""))
