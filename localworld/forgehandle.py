"""The test-side handle both local forges share: the `/_localworld` controls by HTTP."""

from __future__ import annotations

from typing import Any, ClassVar

import requests

from localworld.errors import LocalWorldError
from localworld.process import LOOPBACK

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class AdminClient:
    """Mixin for a forge handle with a `port`: the request log and faults of its server.

    `READ_OPERATIONS` names the operations that are reads although sent with a write method
    (e.g. Azure DevOps' WIQL query by POST); `writes` leaves them out."""

    READ_OPERATIONS: ClassVar[frozenset[str]] = frozenset()
    port: int

    def _admin(self, method: str, path: str, body: object = None) -> Any:
        url = f"http://{LOOPBACK}:{self.port}/_localworld{path}"
        resp = requests.request(method, url, json=body, timeout=10)
        if resp.status_code >= 400:
            raise LocalWorldError(f"{method} /_localworld{path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def requests(self, since: int = 0, *, bodies: bool = False) -> list[dict[str, Any]]:
        """Logged forge calls after sequence number `since` (method, path, status, ...)."""
        query = f"?since={since}" + ("&bodies=1" if bodies else "")
        rows: list[dict[str, Any]] = self._admin("GET", f"/requests{query}")["requests"]
        return rows

    def last_seq(self) -> int:
        """Sequence number of the newest logged call; pass it as `since` to see only later ones."""
        return int(self._admin("GET", "/requests?since=0")["last"])

    def writes(self, since: int = 0) -> list[dict[str, Any]]:
        """Logged calls that write (a call of `READ_OPERATIONS` is a read)."""
        return [
            r
            for r in self.requests(since)
            if r["method"] in WRITE_METHODS
            and (not self.READ_OPERATIONS or r["operation"] not in self.READ_OPERATIONS)
        ]

    def inject(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Add a fault (see the forge's `state.Fault`): e.g. `inject("status", status=502,
        path="/pulls$", times=2)`, `inject("slow", delay=1)`."""
        fault: dict[str, Any] = self._admin("POST", "/faults", {"kind": kind, **fields})
        return fault

    def faults(self) -> list[dict[str, Any]]:
        pending: list[dict[str, Any]] = self._admin("GET", "/faults")
        return pending

    def clear_faults(self) -> None:
        self._admin("DELETE", "/faults")
