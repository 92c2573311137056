"""The forge seam: what the bot needs from the service hosting its GitOps repository.

One Protocol (`Forge`), its errors and neutral frozen data, and nothing forge-specific: the bot's
core, `bot.release`, `bot.runner` and `bot.api` import only this module. Each forge is one
adapter behind it (`bot.adapters.github` today), built by `bot.adapters.forges.make_forge` from
the `forge` setting — the shape of Renovate's `Platform` interface with one folder per platform,
and of Flux notification-controller's small notifier interface picked by a factory.

Adapters translate their library's failures into `ForgeError` (or a subclass), always with a
one-line message naming the operation and the repository, and never a token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Protocol

from bot.core.policy import Reviewer
from bot.errors import BotError


class ForgeError(BotError):
    """The forge refused or failed a request (`status`: its HTTP status, if any)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ForgeConflictError(ForgeError):
    """The request raced another writer (e.g. the PR head moved before the merge)."""


class ForgeUnreachableError(ForgeError):
    """No answer from the forge after the adapter's bounded retries."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    body: str
    head_ref: str
    head_sha: str
    base_ref: str
    state: str
    merged: bool
    labels: tuple[str, ...]
    url: str
    # reviews asked for and not yet given (a user who reviewed drops out, as on GitHub)
    requested: tuple[Reviewer, ...] = ()


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    state: str
    labels: tuple[str, ...]
    url: str
    # who opened it as the forge names them (GitHub's `user.login`, Azure Boards'
    # `System.CreatedBy` unique name), if known: compare with `Forge.identity()`
    author: str | None = None


@dataclass(frozen=True)
class Comment:
    """A comment on a pull request or issue (`author`: the forge's login, if known)."""

    id: int
    body: str
    author: str | None = None


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str


@dataclass(frozen=True)
class CommitRange:
    """Commits from `base` (exclusive) to `head`, oldest first, or why they are unknown."""

    base: str | None
    head: str | None
    commits: tuple[Commit, ...] = ()
    unavailable: str | None = None


class StatusState(StrEnum):
    """A commit status, as GitHub and Azure Repos both know it."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True)
class CommitStatus:
    """One status on a commit: `context` names what reports (e.g. `deploy/prod`); `creator`
    is who posted it as the forge stores it (GitHub's `creator.login`, Azure DevOps'
    `createdBy.uniqueName`). Anyone with write access can post any context: a decision that
    trusts a status (a deployment confirmed) should also check its creator.
    `id` is the forge's too (ids grow with time: they order statuses of the same second)."""

    context: str
    state: StatusState
    description: str = ""
    target_url: str | None = None
    created_at: datetime | None = None
    id: int | None = None
    creator: str | None = None


def http_date(value: object) -> datetime | None:
    """An HTTP `Date` header (`Fri, 27 Nov 2026 23:30:00 GMT`) as an aware UTC time, or None
    when absent or not a date (the callers then say the forge's clock is unknown)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else None


def newer(known: datetime | None, seen: datetime | None) -> datetime | None:
    """The later of two forge times (an adapter keeps the newest `Date` it saw)."""
    if seen is None:
        return known
    return seen if known is None or seen > known else known


class Forge(Protocol):
    """Pull requests, issues, comments, commit ranges and commit statuses of ONE repository.

    Writes may be retried by the adapter only where repeating them cannot duplicate anything;
    the callers make each write idempotent (find-before-create, compare-before-update).
    """

    @property
    def name(self) -> str:
        """How messages name the forge (`GitHub`)."""
        ...

    # ------------------------------------------------------------ pull requests
    def open_prs(self, base: str, head_prefix: str = "") -> dict[str, PullRequest]:
        """Open PRs into `base` whose head branch starts with `head_prefix`, by head branch."""
        ...

    def find_open_pr(self, head_branch: str, base: str) -> PullRequest | None: ...

    def closed_prs(self, head_branch: str, base: str) -> list[PullRequest]:
        """PRs from `head_branch` into `base` closed WITHOUT merging, newest first."""
        ...

    def get_pr(self, number: int) -> PullRequest: ...

    def create_pr(
        self,
        *,
        title: str,
        body: str,
        head: str,
        base: str,
        labels: Sequence[str] = (),
        reviewers: Sequence[Reviewer] = (),
    ) -> PullRequest:
        """Open the PR, then label it and request every reviewer (users and teams) at once."""
        ...

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        """Add `labels` to PR `number` (labels it already has stay; idempotent)."""
        ...

    def request_reviews(self, number: int, reviewers: Sequence[Reviewer]) -> None:
        """Ask `reviewers` (users and teams, in one request) to review PR `number`."""
        ...

    def reviewed(self, number: int) -> bool:
        """True once anyone submitted a review on PR `number` (it answers requests)."""
        ...

    def update_pr(
        self, number: int, *, title: str, body: str, add_labels: Sequence[str] = ()
    ) -> None: ...

    def comment(self, number: int, body: str) -> None:
        """Comment on pull request `number`."""
        ...

    def comments(self, number: int) -> list[Comment]:
        """The comments on pull request `number`, oldest first."""
        ...

    def close_pr(self, number: int, comment: str) -> None:
        """Comment (the why), then close without merging."""
        ...

    def merge_pr(self, number: int, *, sha: str, method: str = "squash") -> str:
        """Merge only if the head is still `sha` (else `ForgeConflictError`); the merge sha."""
        ...

    def compare(self, base: str, head: str) -> CommitRange: ...

    # ------------------------------------------------------------ issues
    def find_open_issue(
        self, *, label: str, marker: str = "", author: str | None = None
    ) -> Issue | None:
        """The oldest open issue (not PR) labelled `label` whose body holds `marker` (and,
        given `author`, that `author` opened)."""
        ...

    def identity(self) -> str | None:
        """The name the forge gives the bot's own writes (an issue's `author`), or None when
        the adapter cannot learn it."""
        ...

    def is_own_account(self, email: str) -> bool:
        """Whether a commit author's `email` is the bot's own account (`identity()`) as the
        forge writes it into the commits it makes: GitHub authors a squash merge by the PR's
        author (whoever merges it), as `<id>+<login>@users.noreply.github.com`; Azure Repos
        authors a completion by whoever completes it. False when the identity is unknown.
        Git authorship is not authenticated: this says who the commit names, as the bot's git
        identity does (docs/decisions.md 24)."""
        ...

    def create_issue(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue: ...

    def update_issue(self, number: int, body: str) -> None: ...

    def close_issue(self, number: int, comment: str) -> None:
        """Comment (the why), then close as completed."""
        ...

    # ------------------------------------------------------------ commit statuses
    def list_statuses(self, ref: str) -> list[CommitStatus]:
        """Every status reported on `ref` (a sha, branch or tag), newest first."""
        ...

    def create_status(self, sha: str, status: CommitStatus) -> CommitStatus: ...

    def server_time(self) -> datetime | None:
        """The forge's own clock: the newest `Date` header (RFC 9110 6.6.1: an origin server
        with a clock sends it) of the responses the adapter read statuses from, or None when
        there was none or it did not parse. A lower bound on the forge's time at any later
        moment: `Date` is truncated to the second and stamped before the response traveled.
        What soak is measured against (the statuses' `created_at` are on the same clock)."""
        ...

    def head_checks(self, sha: str) -> dict[str, StatusState]:
        """The checks on commit `sha` by name: the newest status of each context, and each
        check run (queued or running: pending; success, neutral, skipped: success; anything
        else: failure). A name reported both ways keeps the worse."""
        ...
