"""Commit statuses on Azure Repos: a status's context is its `name`; the `genre` names the
tool (`fluxcd` for Flux, `promotion-bot` for the bot's own statuses). Azure Repos has no
separate check runs: pipelines and policies report statuses."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bot.adapters.azure_repos.transport import Transport, creator, is_sha
from bot.forge import CommitStatus, ForgeError, StatusState

_TO_ADO = {
    StatusState.PENDING: "pending",
    StatusState.SUCCESS: "succeeded",
    StatusState.FAILURE: "failed",
    StatusState.ERROR: "error",
}
_FROM_ADO = {v: k for k, v in _TO_ADO.items()} | {
    "notSet": StatusState.PENDING,
    "notApplicable": StatusState.SUCCESS,
}
GENRE = "promotion-bot"


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _context(name: str) -> dict[str, str]:
    """The bot's own statuses: genre `promotion-bot`, the forge's context as the name."""
    return {"genre": GENRE, "name": name}


def _context_name(context: dict[str, Any]) -> str:
    """A status's context is its name: the genre names the tool (Flux's notification-controller
    posts genre `fluxcd`, name `kustomization/<name>/<cluster>`, the context it posts on GitHub),
    so the same deployment reads the same on both forges."""
    return str(context.get("name") or "")


class CommitStatuses(Transport):
    """The commit-status part of `AzureReposForge`."""

    def _statuses(self, sha: str) -> list[dict[str, Any]]:
        url = self._repo_url(f"/commits/{sha}/statuses")
        return self._values(f"list statuses of {sha[:12]}", "GET", url)

    def _resolve(self, ref: str) -> str:
        """A branch or tag name as the commit it names (statuses are kept per commit)."""
        if is_sha(ref):
            return ref
        url = self._repo_url("/commitsbatch")
        kind = "tag" if ref.startswith(("refs/tags/", "tags/")) else "branch"
        name = re.sub(r"^(refs/)?(heads|tags)/", "", ref)
        found = self._values(
            f"resolve {ref}",
            "POST",
            url,
            params={"$top": 1},
            json={"itemVersion": {"versionType": kind, "version": name}},
        )
        if not found:
            raise ForgeError(f"resolve {ref} on {self.repository}: no commit", 404)
        return str(found[0]["commitId"])

    def list_statuses(self, ref: str) -> list[CommitStatus]:
        """Every status on `ref`'s commit, newest first."""
        return [
            CommitStatus(
                context=_context_name(s.get("context") or {}),
                state=_FROM_ADO.get(str(s.get("state")), StatusState.PENDING),
                description=str(s.get("description") or ""),
                target_url=s.get("targetUrl") or None,
                created_at=_parse_time(s.get("creationDate")),
                creator=creator(s.get("createdBy")),
            )
            for s in self._statuses(self._resolve(ref))
        ]

    def create_status(self, sha: str, status: CommitStatus) -> CommitStatus:
        payload: dict[str, Any] = {
            "state": _TO_ADO[status.state],
            "description": status.description,
            "context": _context(status.context),
        }
        if status.target_url:
            payload["targetUrl"] = status.target_url
        url = self._repo_url(f"/commits/{sha}/statuses")
        self._call(f"create status {status.context} on {sha[:12]}", "POST", url, json=payload)
        return status

    def head_checks(self, sha: str) -> dict[str, StatusState]:
        """The newest status of each context on `sha` (Azure Repos has no separate check runs:
        pipelines and policies report statuses)."""
        found: dict[str, StatusState] = {}
        for s in self._statuses(sha):  # newest first
            found.setdefault(
                _context_name(s.get("context") or {}),
                _FROM_ADO.get(str(s.get("state")), StatusState.PENDING),
            )
        return found
