"""What the server keeps besides Git: tokens, users, issues, pull requests, comments, labels,
commit statuses, GitHub Apps and their installations, faults.

Git data (branches, commits) is never copied here; it is read from the bare repositories on
every request, so a `git push` by file path is visible at once. Everything here lives in memory
for the life of the server process, guarded by one lock.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from localworld.faults import take_fault
from localworld.github.apps import TOKEN_LIFETIME_SECONDS, App, AppRegistry, Installation
from localworld.github.commit_status import MAX_PER_CONTEXT, CommitStatus, count_for_context
from localworld.github.errors import BadTokenSpecError
from localworld.github.review import Review
from localworld.github.teams import Team, team_key

DEFAULT_LOGIN = "localworld-bot"
CLOSED_REASONS = ("completed", "not_planned", "duplicate")


def now_iso(offset: float = 0.0) -> str:
    return iso(time.time() + offset)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Clock:
    """The server's clock: real time plus `offset` seconds, which tests move forward (a test
    seam, `POST /_localworld/clock`) to see timestamps of the future without sleeping."""

    offset: float = 0.0

    def now(self) -> str:
        return now_iso(self.offset)

    def time(self) -> float:
        """Now on this clock, in seconds since the epoch (token and JWT expiry use it)."""
        return time.time() + self.offset


def stable_id(*parts: str) -> int:
    """A positive id that is the same for the same name in every run."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 900_000_000 + 1000


@dataclass(frozen=True)
class Token:
    """A personal access token (`permissions` None: whatever its user may do, never expires)
    or an installation token of a GitHub App (its permissions, expiring at `expires_at` on the
    server's clock)."""

    value: str
    login: str
    repos: tuple[str, ...]  # fnmatch patterns over "owner/name", case-insensitive
    permissions: Mapping[str, str] | None = None
    expires_at: float | None = None
    installation_id: int | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def may_see(self, full_name: str) -> bool:
        name = full_name.lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.repos)

    def may_see_owner(self, owner: str) -> bool:
        """Whether any repository pattern is one of `owner`'s (its teams are visible then)."""
        patterns = [pattern.split("/", 1)[0].lower() for pattern in self.repos]
        return any(fnmatch.fnmatchcase(owner.lower(), pattern) for pattern in patterns)


_TOKEN_RE = re.compile(r"^(?P<token>[^:\s]+):(?:(?P<login>[A-Za-z0-9-]+):)?(?P<repos>\S+)$")


def parse_token_spec(spec: str) -> Token:
    """`TOKEN:owner/repo[,owner/other]` or `TOKEN:LOGIN:owner/repo,...` (patterns like `org/*`)."""
    match = _TOKEN_RE.match(spec)
    if not match:
        raise BadTokenSpecError(
            f"bad token spec {spec!r}: expected TOKEN:OWNER/REPO[,...] or TOKEN:LOGIN:OWNER/REPO"
        )
    repos = tuple(r for r in match["repos"].split(",") if r)
    if not repos or any(r.count("/") != 1 for r in repos):
        raise BadTokenSpecError(f"bad token spec {spec!r}: repositories must be OWNER/NAME")
    return Token(match["token"], match["login"] or DEFAULT_LOGIN, repos)


@dataclass
class Comment:
    id: int
    body: str
    login: str
    created_at: str
    updated_at: str


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Pull:
    number: int
    id: int
    title: str
    body: str | None
    login: str
    head_ref: str
    base_ref: str
    head_sha: str  # last head seen (frozen once merged or when the branch is gone)
    base_sha: str
    draft: bool
    maintainer_can_modify: bool
    created_at: str
    updated_at: str
    state: str = "open"
    closed_at: str | None = None
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    team_reviewers: list[str] = field(default_factory=list)  # team slugs of the repo's owner
    comments: list[Comment] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)

    @property
    def merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class Issue:
    """A plain issue (not a PR). Issues and PRs share `RepoState.next_number`, as on GitHub."""

    number: int
    id: int
    title: str
    body: str | None
    login: str
    created_at: str
    updated_at: str
    state: str = "open"
    state_reason: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


@dataclass
class RepoState:
    full_name: str
    next_number: int = 1  # one sequence for issues and pull requests
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # by lower-cased name
    statuses: dict[str, list[CommitStatus]] = field(default_factory=dict)  # by commit sha
    clock: Clock = field(default_factory=Clock)

    def label(self, name: str, ids: IdCounter) -> Label:
        """The repository label `name`, created on first use as GitHub does."""
        key = name.lower()
        if key not in self.labels:
            self.labels[key] = Label(ids.next(), name)
        return self.labels[key]

    # Every change of an issue's or pull request's state is one of the methods below; the
    # routes validate a request, then call one of them under `ServerState.lock`.

    def take_number(self) -> int:
        number = self.next_number
        self.next_number += 1
        return number

    def add(self, item: Issue | Pull) -> None:
        if isinstance(item, Pull):
            self.pulls[item.number] = item
        else:
            self.issues[item.number] = item

    def open_pull_for(self, head_ref: str, base_ref: str) -> Pull | None:
        """The open pull request from `head_ref` into `base_ref`, if there is one."""
        for pr in self.pulls.values():
            if pr.state == "open" and pr.head_ref == head_ref and pr.base_ref == base_ref:
                return pr
        return None

    def apply_labels(
        self, item: Issue | Pull, names: list[str], ids: IdCounter, *, replace: bool
    ) -> None:
        """Add (or with `replace`, set) labels by name, creating repository labels on first
        use; names match case-insensitively and keep the repository label's spelling."""
        if replace:
            item.labels = []
        for name in names:
            canonical = self.label(name, ids).name
            if canonical.lower() not in {n.lower() for n in item.labels}:
                item.labels.append(canonical)

    @staticmethod
    def remove_label(item: Issue | Pull, name: str) -> bool:
        """Remove one label by name (case-insensitive); False when the item did not carry it."""
        kept = [n for n in item.labels if n.lower() != name.lower()]
        removed = len(kept) != len(item.labels)
        item.labels = kept
        return removed

    def close(self, item: Issue | Pull, login: str, reason: str | None = None) -> None:
        """Close an issue (`reason`: completed, not_planned, duplicate) or a pull request."""
        item.state, item.closed_at = "closed", self.clock.now()
        if isinstance(item, Issue):
            item.closed_by = login
            item.state_reason = reason if reason in CLOSED_REASONS else "completed"

    @staticmethod
    def reopen(item: Issue | Pull) -> None:
        item.state, item.closed_at = "open", None
        if isinstance(item, Issue):
            item.state_reason, item.closed_by = "reopened", None

    @staticmethod
    def add_comment(item: Issue | Pull, comment: Comment) -> None:
        item.comments.append(comment)
        item.updated_at = comment.created_at

    @staticmethod
    def request_reviews(pr: Pull, logins: list[str], slugs: list[str]) -> None:
        """Add review requests; a login or team already requested is not added twice."""
        have = {login.lower() for login in pr.reviewers}
        pr.reviewers += [x for x in dict.fromkeys(logins) if x.lower() not in have]
        have_teams = {slug.lower() for slug in pr.team_reviewers}
        pr.team_reviewers += [x for x in dict.fromkeys(slugs) if x.lower() not in have_teams]

    @staticmethod
    def remove_review_requests(pr: Pull, logins: list[str], slugs: list[str]) -> None:
        gone, gone_teams = {x.lower() for x in logins}, {x.lower() for x in slugs}
        pr.reviewers = [x for x in pr.reviewers if x.lower() not in gone]
        pr.team_reviewers = [x for x in pr.team_reviewers if x.lower() not in gone_teams]

    def add_status(self, status: CommitStatus, limit: int = MAX_PER_CONTEXT) -> bool:
        """Record a commit status; False (nothing recorded) when its sha and context already
        have `limit` statuses, which GitHub refuses."""
        existing = self.statuses.setdefault(status.sha, [])
        if count_for_context(existing, status.context) >= limit:
            return False
        existing.append(status)
        return True

    def mark_merged(self, pr: Pull, sha: str, login: str) -> None:
        stamp = self.clock.now()
        pr.state, pr.closed_at, pr.merged_at, pr.updated_at = "closed", stamp, stamp, stamp
        pr.merge_commit_sha, pr.merged_by = sha, login


class IdCounter:
    def __init__(self, start: int = 1000) -> None:
        self._next = start
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._next += 1
            return self._next


@dataclass
class RateWindow:
    limit: int
    used: int = 0
    reset: int = field(default_factory=lambda: int(time.time()) + 3600)

    def roll(self) -> None:
        now = int(time.time())
        if now >= self.reset:
            self.used = 0
            self.reset = now + 3600

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next `times` matching requests.

    kinds: `status` (answer `status`, e.g. 500/502/503/429, with `retry_after` if set),
    `rate_limit` (primary limit: 403, X-RateLimit-Remaining 0, reset in `reset_in` s),
    `secondary_rate_limit` (403 with Retry-After), `slow` (sleep `delay` s, then answer),
    `head_moved` (on a merge: push a commit to the head branch before the sha check).
    """

    kind: str
    method: str = "*"
    path: str = ".*"  # regex searched in the request path
    times: int = 1
    status: int = 500
    retry_after: int | None = None
    reset_in: int = 1
    delay: float = 0.0
    id: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and re.search(self.path, path) is not None


FAULT_KINDS = {"status", "rate_limit", "secondary_rate_limit", "slow", "head_moved"}


@dataclass
class LogEntry:
    seq: int
    method: str
    path: str
    query: str
    status: int
    operation: str | None
    login: str | None
    fault: str | None
    request_body: object
    response_body: object
    duration_ms: float

    def summary(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "operation": self.operation,
            "login": self.login,
            "fault": self.fault,
            "duration_ms": self.duration_ms,
        }


@dataclass
class ServerState:
    rate_limit: int = 5000
    tokens: dict[str, Token] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    repos: dict[str, RepoState] = field(default_factory=dict)
    rates: dict[str, RateWindow] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    ids: IdCounter = field(default_factory=IdCounter)
    lock: threading.RLock = field(default_factory=threading.RLock)
    merge_locks: dict[str, threading.Lock] = field(default_factory=dict)
    teams: dict[tuple[str, str], Team] = field(default_factory=dict)  # by team_key(org, slug)
    clock: Clock = field(default_factory=Clock)
    apps: AppRegistry = field(default_factory=AppRegistry)
    _seq: int = 0

    def merge_lock(self, full_name: str) -> threading.Lock:
        """One lock per repository: merges into it run one at a time."""
        with self.lock:
            return self.merge_locks.setdefault(full_name.lower(), threading.Lock())

    def add_token(self, token: Token) -> None:
        with self.lock:
            self.tokens[token.value] = token
            self.users.add(token.login)

    def seed_team(self, org: str, slug: str, members: tuple[str, ...]) -> Team:
        """Create the team `org/slug`, or replace its members; members become known users."""
        with self.lock:
            old = self.teams.get(team_key(org, slug))
            team = Team(
                org, slug, slug, old.id if old else stable_id("team", *team_key(org, slug)), members
            )
            self.teams[team.key] = team
            self.users.update(members)
            return team

    def register_app(
        self, app: App, repos: tuple[str, ...], installation_id: int = 0
    ) -> Installation:
        """Register `app` and install it on `repos` (see `AppRegistry.register`)."""
        account = repos[0].split("/", 1)[0].lower()
        with self.lock:
            self.users.add(app.bot_login)
            return self.apps.register(
                app, repos, installation_id or stable_id("installation", str(app.id), account)
            )

    def mint_installation_token(
        self, installation: Installation, repos: tuple[str, ...], permissions: Mapping[str, str]
    ) -> Token:
        """A new installation token for `repos` (owner/name patterns), written as the app's bot,
        expiring in an hour on the server's clock."""
        value, login = "ghs_" + secrets.token_hex(18), self.apps.apps[installation.app_id].bot_login
        expires = self.clock.time() + TOKEN_LIFETIME_SECONDS
        token = Token(value, login, repos, dict(permissions), expires, installation.id)
        self.add_token(token)
        return token

    def team(self, org: str, slug: str) -> Team | None:
        with self.lock:
            return self.teams.get(team_key(org, slug))

    def repo(self, full_name: str) -> RepoState:
        with self.lock:
            return self.repos.setdefault(full_name.lower(), RepoState(full_name, clock=self.clock))

    def now(self) -> str:
        """Now on the server's clock (what every timestamp the server writes is)."""
        return self.clock.now()

    def rate(self, login: str) -> RateWindow:
        with self.lock:
            window = self.rates.setdefault(login, RateWindow(self.rate_limit))
            window.roll()
            return window

    def take_fault(self, method: str, path: str, kinds: set[str]) -> Fault | None:
        """Consume one use of the first fault of `kinds` matching the request."""
        return take_fault(self.lock, self.faults, method, path, kinds)

    def record(self, entry: LogEntry) -> None:
        with self.lock:
            self._seq += 1
            entry.seq = self._seq
            self.log.append(entry)
