"""Per-request bookkeeping: request id, timing, metrics and one structured log line."""

from __future__ import annotations

import os
import re
import time
from collections import deque

from flask import Flask, Response, g, request

from app.logging import log_request, request_id_var
from app.metrics import get_metrics

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is echoed only if it is short and plain (it ends up in logs).
_CLEAN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# New request ids: 16 bytes from os.urandom as 32 hex digits, drawn 64 at a time (one getrandom
# call instead of one per request). deque.pop is atomic, so threads never share an id; a forked
# child drops the ids its parent drew (they would repeat in both processes).
_ID_BATCH = 64
_fresh_ids: deque[str] = deque()
os.register_at_fork(after_in_child=_fresh_ids.clear)


def _new_id() -> str:
    try:
        return _fresh_ids.pop()
    except IndexError:
        digits = os.urandom(16 * _ID_BATCH).hex()
        _fresh_ids.extend(digits[i : i + 32] for i in range(32, len(digits), 32))
        return digits[:32]


def request_id_for(incoming: str | None) -> str:
    """The incoming id if it is clean, else a new random one (the regex only runs when a client
    sent one)."""
    if incoming and _CLEAN_ID.match(incoming):
        return incoming
    return _new_id()


def _before() -> None:
    g.started = time.perf_counter()
    request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
    g.request_id = request_id
    request_id_var.set(request_id)


def _after(response: Response) -> Response:
    started = g.get("started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    get_metrics().observe(route, request.method, response.status_code, seconds)
    request_id = g.get("request_id")
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    log_request(
        {
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000.0, 3),
            "rows": g.get("rows"),
        }
    )
    return response


def _teardown(_exc: BaseException | None) -> None:
    request_id_var.set(None)


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)
