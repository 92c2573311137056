"""Structured logs: one JSON object per line on stdout, with the request id when there is one.

Call sites use the standard library (`logging.getLogger("app")`) and pass structured data as
`extra={"fields": {...}}`; the request id comes from a context variable set per request.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


# The last whole second formatted, shared by every thread (one tuple, replaced whole).
_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """`2026-11-27T20:12:54.123Z` (UTC, milliseconds); the date and time are formatted once per
    second, not per line."""
    global _second  # noqa: PLW0603 (a cache replaced atomically)
    whole = int(created)
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{int(created % 1 * 1000):03d}Z"


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
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


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_level(value: str) -> str:
    """A `LOG_LEVEL` value as a level name (case-insensitive); ValueError names the choices."""
    level = value.strip().upper()
    if level not in LEVELS:
        raise ValueError(f"must be one of {', '.join(LEVELS)}, got {value!r}")
    return level


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


_logger = logging.getLogger("app")


def log_request(fields: dict[str, Any]) -> None:
    """The per-request line, in the same JSON shape as `JSONFormatter`, on the hot path.

    It skips the logging machinery (record, caller lookup, handler lock): one `orjson.dumps`
    and one `write(2)` of a whole line to stdout, which is atomic for a line this short.
    """
    if not _logger.isEnabledFor(logging.INFO):
        return
    entry: dict[str, Any] = {
        "ts": _timestamp(time.time()),
        "level": "info",
        "logger": "app",
        "message": "request",
    }
    request_id = request_id_var.get()
    if request_id is not None:
        entry["request_id"] = request_id
    entry.update(fields)
    line = orjson.dumps(entry, default=str, option=orjson.OPT_APPEND_NEWLINE)
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # stdout replaced by an in-memory stream
        sys.stdout.write(line.decode())
        return
    os.write(fd, line)
