"""Structured logs: one JSON object per line on stdout, with the request id when there is one.

Call sites use the standard library (`logging.getLogger("app")`) and pass structured data as
`extra={"fields": {...}}`; the request id comes from a context variable set per request.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            # Logs may carry the trace for operators; responses never do.
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str) -> logging.Logger:
    """Route the `app` logger to stdout as JSON lines (idempotent: one handler, replaced)."""
    logger = logging.getLogger("app")
    for handler in list(logger.handlers):
        if getattr(handler, "_app_json", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONFormatter())
    handler._app_json = True  # type: ignore[attr-defined]  # marker for idempotent reconfiguration
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
