"""Commit statuses as GitHub keeps them, and GitHub's rule for combining them (no I/O).

A status belongs to a commit sha and a context (compared case-insensitively); posting again
for the same context adds a newer status rather than replacing the old one, and the newest
per context is the one that counts. The combined state of a commit is `failure` if any
context's latest is `error` or `failure`, else `pending` if there are none or any is
`pending`, else `success`.
"""

from __future__ import annotations

from dataclasses import dataclass

STATES = ("error", "failure", "pending", "success")
DEFAULT_CONTEXT = "default"
MAX_DESCRIPTION = 140  # characters; GitHub answers 422 beyond it
MAX_PER_CONTEXT = 1000  # statuses per sha and context ("a validation error" beyond it)


@dataclass(frozen=True)
class CommitStatus:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    login: str
    created_at: str


def newest_first(statuses: list[CommitStatus]) -> list[CommitStatus]:
    """`statuses` in reverse order of creation (ids grow with every status created)."""
    return sorted(statuses, key=lambda s: s.id, reverse=True)


def latest_per_context(statuses: list[CommitStatus]) -> list[CommitStatus]:
    """The newest status of each context, newest first."""
    seen: set[str] = set()
    latest = []
    for status in newest_first(statuses):
        if status.context.lower() not in seen:
            seen.add(status.context.lower())
            latest.append(status)
    return latest


def combined_state(latest: list[CommitStatus]) -> str:
    states = {s.state for s in latest}
    if states & {"error", "failure"}:
        return "failure"
    if not latest or "pending" in states:
        return "pending"
    return "success"


def count_for_context(statuses: list[CommitStatus], context: str) -> int:
    return sum(1 for s in statuses if s.context.lower() == context.lower())
