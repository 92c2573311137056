"""The `/_localworld/*` controls both local forges share: health, the request log, faults.

Each forge keeps its own blueprint, state and JSON responder and registers these routes on it;
what differs between the forges (adding a fault, clearing the log, ...) stays in its admin.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from flask import Blueprint, Response, request


class LogRow(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def request_body(self) -> object: ...
    @property
    def response_body(self) -> object: ...
    def summary(self) -> dict[str, object]: ...


class AdminState(Protocol):
    """What these routes read of a forge's state."""

    @property
    def lock(self) -> AbstractContextManager[Any]: ...
    @property
    def log(self) -> Sequence[LogRow]: ...
    @property
    def faults(self) -> list[Any]: ...


JsonResponder = Callable[..., Response]  # (body, status=200) -> Response


def add_log_and_fault_routes(
    blueprint: Blueprint, state: Callable[[], AdminState], respond: JsonResponder
) -> None:
    """Register GET /health, GET /requests, GET /faults and DELETE /faults on `blueprint`."""

    @blueprint.get("/health")
    def health() -> Response:
        return respond({"ok": True})

    @blueprint.get("/requests")
    def requests_log() -> Response:
        st = state()
        since = request.args.get("since", 0, type=int)
        bodies = request.args.get("bodies") == "1"
        with st.lock:
            entries = [e for e in st.log if e.seq > since]
            last = st.log[-1].seq if st.log else since
        rows = []
        for entry in entries:
            row = entry.summary()
            if bodies:
                row |= {"request_body": entry.request_body, "response_body": entry.response_body}
            rows.append(row)
        return respond({"requests": rows, "last": max(last, since)})

    @blueprint.get("/faults")
    def list_faults() -> Response:
        st = state()
        with st.lock:
            return respond([dataclasses.asdict(f) for f in st.faults])

    @blueprint.delete("/faults")
    def clear_faults() -> Response:
        st = state()
        with st.lock:
            st.faults.clear()
        return Response(status=204)
