"""Fault bookkeeping both local forges share (each forge has its own `Fault` kinds and fields)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar


class MatchingFault(Protocol):
    kind: str
    times: int

    def matches(self, method: str, path: str) -> bool: ...


F = TypeVar("F", bound=MatchingFault)


def take_fault(
    lock: AbstractContextManager[Any], faults: list[F], method: str, path: str, kinds: set[str]
) -> F | None:
    """Consume one use of the first fault of `kinds` matching the request (under `lock`)."""
    with lock:
        for fault in faults:
            if fault.kind in kinds and fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    faults.remove(fault)
                return fault
    return None
