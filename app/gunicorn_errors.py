"""gunicorn's own error answers (malformed or over-long request lines and headers: 400, 414,
431, ...) in the service's JSON error shape instead of gunicorn's HTML page.

gunicorn writes these before any app code runs, through `gunicorn.util.write_error`, which its
workers look up at call time; `install()` replaces that one function in the master before the
workers fork (from `gunicorn_conf.on_starting`). Its signature and the socket write it ends with
are gunicorn's; only the body and its content type change.
"""

from __future__ import annotations

import socket
from typing import Any

from app.jsonio import dumps


def error_body(status: int, reason: str, message: str) -> bytes:
    """`{"error": {"status", "code", "message"}}`, like `app.errors` (no request id: none yet)."""
    code = reason.lower().replace(" ", "_").replace("'", "") or "error"
    return dumps({"error": {"status": status, "code": code, "message": message or reason}})


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for `gunicorn.util.write_error` (same arguments, same connection handling)."""
    from gunicorn import util

    body = error_body(status_int, reason, mesg)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    from gunicorn import util

    patched: Any = write_json_error
    util.write_error = patched
