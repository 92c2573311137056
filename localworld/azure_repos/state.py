"""What the local Azure Repos keeps besides Git: identities, pull requests, threads, labels,
reviewers, commit statuses, work items, faults and the request log (in memory, per process).

Pull request and work item ids are collection-wide sequences, as on Azure DevOps.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from localworld.faults import take_fault


@dataclass
class Clock:
    """The server's clock: real time plus `offset` seconds, which tests move forward (a test
    seam, `POST /_localworld/clock`, as on the local GitHub) to see timestamps of the future
    (merges, statuses, PRs) without sleeping. One server per process: one clock."""

    offset: float = 0.0


CLOCK = Clock()


def now_iso() -> str:
    now = datetime.now(UTC) + timedelta(seconds=CLOCK.offset)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def stable_guid(*parts: str) -> str:
    """A GUID derived from names, so a restarted server names the same identity the same."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "localworld-azure-repos:" + "/".join(parts)))


@dataclass(frozen=True)
class Identity:
    """A user, or a team (`is_container`, display name `[project]\\team`)."""

    id: str
    display_name: str
    unique_name: str
    is_container: bool = False

    @classmethod
    def user(cls, name: str) -> Identity:
        return cls(stable_guid("user", name.lower()), name, name)

    @classmethod
    def team(cls, project: str, name: str) -> Identity:
        display = f"[{project}]\\{name}"
        return cls(stable_guid("team", project.lower(), name.lower()), display, display, True)


@dataclass
class Reviewer:
    identity: Identity
    is_required: bool
    vote: int = 0


@dataclass
class ThreadComment:
    id: int
    content: str
    author: Identity
    published: str
    comment_type: str = "text"


@dataclass
class Thread:
    id: int
    status: str
    comments: list[ThreadComment]
    published: str


@dataclass
class PullRequest:
    id: int
    repo_key: tuple[str, str, str]  # organization, project, repository (lowercase)
    title: str
    description: str
    source_ref: str
    target_ref: str
    created_by: Identity
    creation_date: str
    status: str = "active"  # active | abandoned | completed
    is_draft: bool = False
    labels: list[str] = field(default_factory=list)
    reviewers: list[Reviewer] = field(default_factory=list)
    threads: list[Thread] = field(default_factory=list)
    closed_date: str | None = None
    closed_by: Identity | None = None
    auto_complete_by: Identity | None = None
    completion_options: dict[str, Any] | None = None
    # frozen when the PR closes; while active they are read from the refs on every request
    source_commit: str | None = None
    target_commit: str | None = None
    merge_commit: str | None = None
    merge_status: str | None = None
    # a completion accepted but not done yet (fault `queued`): the source it must still be at
    queued_source: str | None = None
    completion_queue_time: str | None = None


@dataclass
class Status:
    id: int
    state: str
    description: str
    context_name: str
    context_genre: str | None
    target_url: str | None
    created_by: Identity
    creation_date: str


@dataclass
class WorkItem:
    id: int
    project: str
    fields: dict[str, Any]
    rev: int = 1


@dataclass
class Fault:
    """One injected misbehaviour for the next `times` matching requests: `status` (answer
    `status`, with `retry_after` if set), `slow` (sleep `delay` s first), `head_moved` (while
    completing a PR, a commit lands on its source branch before the sha check), `queued` (a
    completion is accepted and queued, as Azure DevOps does, and done at the PR's next GET)."""

    kind: str
    method: str = "*"
    path: str = ".*"
    times: int = 1
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0
    id: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and re.search(self.path, path) is not None


FAULT_KINDS = {"status", "slow", "head_moved", "queued"}


@dataclass
class LogEntry:
    seq: int
    method: str
    path: str
    query: str
    status: int
    operation: str | None
    spec: str | None
    identity: str | None
    fault: str | None
    request_body: object
    response_body: object

    def summary(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "operation": self.operation,
            "spec": self.spec,
            "identity": self.identity,
            "fault": self.fault,
        }


@dataclass
class ServerState:
    tokens: dict[str, Identity] = field(default_factory=dict)
    identities: dict[str, Identity] = field(default_factory=dict)  # by id
    members: dict[str, set[str]] = field(default_factory=dict)  # team id -> member ids
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    statuses: dict[tuple[tuple[str, str, str], str], list[Status]] = field(default_factory=dict)
    work_items: dict[int, WorkItem] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _next: dict[str, int] = field(default_factory=dict)

    def take_id(self, kind: str) -> int:
        with self.lock:
            self._next[kind] = self._next.get(kind, 0) + 1
            return self._next[kind]

    def add_token(self, token: str, name: str) -> Identity:
        identity = Identity.user(name)
        with self.lock:
            self.tokens[token] = identity
            self.identities[identity.id] = identity
        return identity

    def add_user(self, name: str) -> Identity:
        identity = Identity.user(name)
        with self.lock:
            self.identities[identity.id] = identity
        return identity

    def add_team(self, project: str, name: str, members: list[str]) -> Identity:
        team = Identity.team(project, name)
        with self.lock:
            self.identities[team.id] = team
            self.members[team.id] = {self.add_user(m).id for m in members}
        return team

    def search_identity(self, value: str) -> list[Identity]:
        """Azure DevOps' `General` search, exactly: a user's unique or display name, or a
        team's `[project]\\team` (case-insensitive)."""
        wanted = value.strip().lower()
        with self.lock:
            return [
                i
                for i in self.identities.values()
                if wanted in (i.unique_name.lower(), i.display_name.lower())
            ]

    def take_fault(self, method: str, path: str, kinds: set[str]) -> Fault | None:
        """Consume one use of the first fault of `kinds` matching the request."""
        return take_fault(self.lock, self.faults, method, path, kinds)

    def record(self, entry: LogEntry) -> None:
        with self.lock:
            entry.seq = self.take_id("log")
            self.log.append(entry)
