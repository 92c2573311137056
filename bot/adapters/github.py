"""The GitHub forge (`bot.forge.Forge`) on PyGithub: pull requests, issues, statuses, retried.

PyGithub's own `GithubRetry` (urllib3) honours `Retry-After`, `X-RateLimit-Reset` and secondary
rate limits; we bound it (count and wait) and allow it on every method, because the runner makes
each write idempotent (find-before-create, compare-before-update).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import ParamSpec, TypeVar

import requests
from github import Auth, Github, GithubException, GithubIntegration, GithubRetry
from github.CommitStatus import CommitStatus as GithubStatus
from github.Issue import Issue as GithubIssue
from github.PullRequest import PullRequest as GithubPull
from github.Repository import Repository

from bot.adapters.github_auth import RefreshingInstallationAuth
from bot.core.policy import Reviewer
from bot.forge import (
    Comment,
    Commit,
    CommitRange,
    CommitStatus,
    ForgeConflictError,
    ForgeError,
    ForgeUnreachableError,
    Issue,
    PullRequest,
    StatusState,
    http_date,
    newer,
)

P = ParamSpec("P")
T = TypeVar("T")


class _NoBlindPostRetry(GithubRetry):
    """Retries reads and idempotent writes on 5xx, but never a POST that may have been applied.

    A POST refused with 429 or a rate-limit 403 was not applied, so it is repeated after the
    wait like everything else; a POST that failed with a 5xx or a broken connection is not
    repeated blindly (it could create a second comment or issue): the caller checks first.
    """

    def _is_method_retryable(self, method: str) -> bool:
        return method.upper() != "POST"

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST" and status_code in (403, 429):
            return super().is_retry("GET", status_code, has_retry_after)
        return super().is_retry(method, status_code, has_retry_after)


#: GitHub's noreply commit address of an account: `<id>+<login>@…`, or `<login>@…` for one
#: made before July 2017 (a GitHub App's bot user: `<id>+<slug>[bot]@…`).
_NOREPLY = re.compile(r"(?:[0-9]+\+)?([A-Za-z0-9-]+(?:\[bot\])?)@users\.noreply\.github\.com")


def noreply_login(email: str) -> str | None:
    """The login in a GitHub noreply address, or None for any other address."""
    found = _NOREPLY.fullmatch(email)
    return found.group(1) if found else None


def _info(pr: GithubPull, owner: str, *, listed_open: bool = False) -> PullRequest:
    """`listed_open`: the PR came from an open-PR listing, which has no `merged` field (reading
    it would cost one GET per PR); an open PR is never merged. Requested teams are teams of
    the repository's `owner` (GitHub names them by slug)."""
    requested = (
        *(Reviewer(user.login) for user in pr.requested_reviewers),
        *(Reviewer(team.slug, owner) for team in pr.requested_teams),
    )
    return PullRequest(
        number=pr.number,
        title=pr.title,
        body=pr.body or "",
        head_ref=pr.head.ref,
        head_sha=pr.head.sha,
        base_ref=pr.base.ref,
        state=pr.state,
        merged=False if listed_open else bool(pr.merged),
        labels=tuple(sorted(label.name for label in pr.labels)),
        url=pr.html_url,
        requested=requested,
    )


def _issue_info(issue: GithubIssue) -> Issue:
    return Issue(
        number=issue.number,
        title=issue.title,
        body=issue.body or "",
        state=issue.state,
        labels=tuple(sorted(label.name for label in issue.labels)),
        url=issue.html_url,
        author=issue.user.login if issue.user is not None else None,
    )


def _status(status: GithubStatus) -> CommitStatus:
    return CommitStatus(
        context=status.context,
        state=StatusState(status.state),
        description=status.description or "",
        target_url=status.target_url or None,
        created_at=status.created_at,
        id=status.id,
        creator=status.creator.login if status.creator is not None else None,
    )


_WORSE = {StatusState.SUCCESS: 0, StatusState.PENDING: 1, StatusState.ERROR: 2,
          StatusState.FAILURE: 3}  # fmt: skip


def _check_run_state(status: str, conclusion: str | None) -> StatusState:
    """A check run as a status: not completed is pending; success, neutral and skipped pass."""
    if status != "completed":
        return StatusState.PENDING
    if conclusion in ("success", "neutral", "skipped"):
        return StatusState.SUCCESS
    return StatusState.FAILURE


def _describe(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc)
    return f"HTTP {exc.status}: {message}"


class GitHubForge:
    """One GitHub repository (`owner/name`) through the REST API at `api_url`, authenticated
    by a token or by PyGithub's `auth` (a GitHub App: `bot.adapters.github_auth`)."""

    name = "GitHub"

    def __init__(
        self,
        api_url: str,
        token: str | Auth.Auth,
        repository: str,
        *,
        retries: int = 5,
        backoff_factor: float = 0.5,
        max_rate_limit_wait: float = 60.0,
        timeout: int = 15,
    ) -> None:
        retry = _NoBlindPostRetry(
            total=retries,
            backoff_factor=backoff_factor,
            status_forcelist=[429, *range(500, 600)],
            allowed_methods=None,  # GET, PUT, PATCH, DELETE are idempotent; POST: see the class
            secondary_rate_wait=min(5.0, max_rate_limit_wait),
            max_rate_limit_wait=max_rate_limit_wait,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._gh = Github(
            base_url=api_url.rstrip("/"),
            auth=Auth.Token(token) if isinstance(token, str) else token,
            retry=retry,
            timeout=timeout,
            seconds_between_requests=None,
            seconds_between_writes=None,
            per_page=100,
        )
        self._api_url = api_url.rstrip("/")
        self._auth = token
        self._identity: str | None = None
        self._date: datetime | None = None  # the forge's clock, `server_time`
        self.repository = repository
        self._owner = repository.split("/", 1)[0]
        self._repo_obj: Repository | None = None
        self._lazy_repo_obj: Repository | None = None

    @property
    def _repo(self) -> Repository:
        """The repository, fetched once on first use (one GET per run)."""
        if self._repo_obj is None:
            self._repo_obj = self._call("get repository", self._gh.get_repo, self.repository)
        return self._repo_obj

    @property
    def _lazy_repo(self) -> Repository:
        """The repository without reading it: objects from it cost no GET until used."""
        if self._lazy_repo_obj is None:
            self._lazy_repo_obj = self._gh.withLazy(True).get_repo(self.repository)
        return self._lazy_repo_obj

    def _issue(self, number: int) -> GithubIssue:
        """Issue `number` without reading it first: the write that follows is the only call."""
        return self._lazy_repo.get_issue(number)

    def _call(self, what: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except GithubException as exc:
            kind = ForgeConflictError if exc.status == 409 else ForgeError
            message = f"{what} on {self.repository} failed: {_describe(exc)}"
            raise kind(message, exc.status) from exc
        except requests.RequestException as exc:  # unreachable after the bounded retries
            raise ForgeUnreachableError(
                f"{what} on {self.repository} failed: GitHub unreachable ({type(exc).__name__})"
            ) from exc

    def find_open_pr(self, head_branch: str, base: str) -> PullRequest | None:
        def find() -> PullRequest | None:
            pulls = self._repo.get_pulls(
                state="open", head=f"{self._owner}:{head_branch}", base=base
            )
            for pr in pulls:
                return _info(pr, self._owner, listed_open=True)
            return None

        return self._call(f"list pulls for {head_branch}", find)

    def open_prs(self, base: str, head_prefix: str = "") -> dict[str, PullRequest]:
        """Open PRs into `base` by head branch, in one paged listing (not one call per env)."""

        def listing() -> dict[str, PullRequest]:
            found: dict[str, PullRequest] = {}
            for pr in self._repo.get_pulls(state="open", base=base):
                if pr.head.ref.startswith(head_prefix):
                    found.setdefault(pr.head.ref, _info(pr, self._owner, listed_open=True))
            return found

        return self._call(f"list open pulls into {base}", listing)

    def closed_prs(self, head_branch: str, base: str) -> list[PullRequest]:
        """PRs from `head_branch` into `base` closed without merging, newest first (one listing;
        `merged_at` in the listing tells merged from rejected without a GET per PR)."""

        def listing() -> list[PullRequest]:
            pulls = self._repo.get_pulls(
                state="closed", head=f"{self._owner}:{head_branch}", base=base,
                sort="created", direction="desc",
            )  # fmt: skip
            return [
                _info(pr, self._owner, listed_open=True) for pr in pulls if pr.merged_at is None
            ]

        return self._call(f"list closed pulls for {head_branch}", listing)

    def get_pr(self, number: int) -> PullRequest:
        return _info(self._call(f"get pull #{number}", self._repo.get_pull, number), self._owner)

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
        users_teams = self._review_request(reviewers)  # refuse another org's team before writing

        def create() -> GithubPull:
            return self._repo.create_pull(
                title=title, body=body, head=head, base=base, maintainer_can_modify=True
            )

        try:
            pr: GithubPull = self._call(f"create pull {head} -> {base}", create)
        except ForgeError as exc:
            if exc.status is None or exc.status < 500:
                raise
            # the create may have been applied before the 5xx: look before trying once more
            found = self.find_open_pr(head, base)
            if found is not None:
                pr = self._call(f"get pull #{found.number}", self._repo.get_pull, found.number)
            else:
                pr = self._call(f"create pull {head} -> {base}", create)
        if labels:
            self._call(f"label pull #{pr.number}", pr.add_to_labels, *labels)
        if reviewers:
            self._request(pr, *users_teams)
        return self.get_pr(pr.number)

    def _review_request(self, reviewers: Sequence[Reviewer]) -> tuple[list[str], list[str]]:
        """The request's `reviewers` (logins) and `team_reviewers` (slugs of the owner's teams)."""
        owner = self._owner.lower()
        foreign = [str(r) for r in reviewers if r.org is not None and r.org.lower() != owner]
        if foreign:
            raise ForgeError(
                f"request reviewers on {self.repository}: {', '.join(foreign)} not a team of "
                f"{self._owner} (GitHub asks only the repository owner's teams for reviews)"
            )
        users = [r.name for r in reviewers if not r.is_team]
        return users, [r.name for r in reviewers if r.is_team]

    def _request(self, pr: GithubPull, users: list[str], teams: list[str]) -> None:
        """One POST with both lists (an empty list is left out, as GitHub's own clients do)."""
        kwargs: dict[str, list[str]] = {}
        if users:
            kwargs["reviewers"] = users
        if teams:
            kwargs["team_reviewers"] = teams
        try:
            self._call(f"request reviewers on #{pr.number}", pr.create_review_request, **kwargs)
        except ForgeError as exc:
            if exc.status != 422 or not users:
                raise
            raise ForgeError(  # the usual cause: a team written as a bare name in the policy
                f"{exc} (promotion.yaml: a bare reviewer name is a user; write a team as "
                f"{self._owner}/<team>)",
                exc.status,
            ) from exc

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        """One POST to the issue's labels (existing labels stay: repeating it is harmless)."""
        self._call(f"label pull #{number}", self._issue(number).add_to_labels, *labels)

    def request_reviews(self, number: int, reviewers: Sequence[Reviewer]) -> None:
        users, teams = self._review_request(reviewers)
        pr: GithubPull = self._lazy_repo.get_pull(number)
        self._request(pr, users, teams)

    def reviewed(self, number: int) -> bool:
        def any_review() -> bool:
            return any(True for _ in self._lazy_repo.get_pull(number).get_reviews())

        return self._call(f"list reviews of #{number}", any_review)

    def update_pr(
        self, number: int, *, title: str, body: str, add_labels: Sequence[str] = ()
    ) -> None:
        pr: GithubPull = self._call(f"get pull #{number}", self._repo.get_pull, number)
        self._call(f"edit pull #{number}", pr.edit, title=title, body=body)
        if add_labels:
            self._call(f"label pull #{number}", pr.add_to_labels, *add_labels)

    def comment(self, number: int, body: str) -> None:
        pr: GithubPull = self._call(f"get pull #{number}", self._repo.get_pull, number)
        self._call(f"comment on #{number}", pr.create_issue_comment, body)

    def comments(self, number: int) -> list[Comment]:
        def listing() -> list[Comment]:
            found = self._lazy_repo.get_issue(number).get_comments()
            return [Comment(c.id, c.body, c.user.login if c.user else None) for c in found]

        return self._call(f"list comments on #{number}", listing)

    def close_pr(self, number: int, comment: str) -> None:
        pr: GithubPull = self._call(f"get pull #{number}", self._repo.get_pull, number)
        self._call(f"comment on #{number}", pr.create_issue_comment, comment)
        self._call(f"close pull #{number}", pr.edit, state="closed")

    def merge_pr(self, number: int, *, sha: str, method: str = "squash") -> str:
        pr: GithubPull = self._call(f"get pull #{number}", self._repo.get_pull, number)
        status = self._call(f"merge pull #{number}", pr.merge, merge_method=method, sha=sha)
        if not status.merged:
            raise ForgeError(f"merge of #{number} refused: {status.message}")
        return str(status.sha)

    def compare(self, base: str, head: str) -> CommitRange:
        cmp = self._call(f"compare {base}...{head}", self._repo.compare, base, head)
        commits = tuple(Commit(c.sha, c.commit.message.splitlines()[0]) for c in cmp.commits)
        return CommitRange(base, head, commits)

    # ------------------------------------------------------------------ issues

    def identity(self) -> str:
        """The login the bot writes as, read once: a GitHub App's bot user `<slug>[bot]`
        (`GET /app` with the app's JWT: an installation token cannot read `/user`), else the
        token's user (`GET /user`)."""
        if self._identity is None:
            auth = self._auth
            if isinstance(auth, RefreshingInstallationAuth):
                app = GithubIntegration(auth=auth.jwt_auth, base_url=self._api_url, retry=3)
                slug = self._call("read the app", lambda: app.get_app().slug)
                self._identity = f"{slug}[bot]"
            else:
                user = self._call("read the authenticated user", self._gh.get_user)
                self._identity = str(user.login)
        return self._identity

    def is_own_account(self, email: str) -> bool:
        """A squash merge of the bot's PR names the PR's author, by its noreply address."""
        login = noreply_login(email)
        return login is not None and login.casefold() == self.identity().casefold()

    def find_open_issue(
        self, *, label: str, marker: str = "", author: str | None = None
    ) -> Issue | None:
        """The oldest open issue (not PR) labelled `label` whose body holds `marker`, if any.

        One paged listing filtered by label on the server; GitHub's listing includes pull
        requests, which are skipped here."""

        def find() -> Issue | None:
            issues = self._repo.get_issues(
                state="open", labels=[label], sort="created", direction="asc"
            )
            for issue in issues:
                by = issue.user.login if issue.user is not None else None
                wanted = author is None or by == author
                if wanted and issue.pull_request is None and marker in (issue.body or ""):
                    return _issue_info(issue)
            return None

        return self._call(f"list open issues labelled {label}", find)

    def create_issue(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        issue: GithubIssue = self._call(
            "create issue", self._repo.create_issue, title=title, body=body, labels=list(labels)
        )
        return _issue_info(issue)

    def update_issue(self, number: int, body: str) -> None:
        issue = self._issue(number)
        self._call(f"edit issue #{number}", issue.edit, body=body)

    def close_issue(self, number: int, comment: str) -> None:
        """Comment (the why), then close as completed."""
        issue = self._issue(number)
        self._call(f"comment on issue #{number}", issue.create_comment, comment)
        self._call(f"close issue #{number}", issue.edit, state="closed", state_reason="completed")

    # ------------------------------------------------------------------ commit statuses

    def list_statuses(self, ref: str) -> list[CommitStatus]:
        """One paged listing of `ref`'s statuses (the lazy commit costs no GET of its own);
        the `Date` of its pages is kept as the forge's clock (`server_time`)."""

        def listing() -> list[CommitStatus]:
            found = []
            for status in self._lazy_repo.get_commit(ref).get_statuses():
                self._date = newer(self._date, http_date(status.raw_headers.get("date")))
                found.append(_status(status))
            return found

        return self._call(f"list statuses of {ref}", listing)

    def server_time(self) -> datetime | None:
        """The newest `Date` of the status pages read (each status keeps its page's headers,
        so a listing with no status tells nothing: there is then nothing to time either)."""
        return self._date

    def head_checks(self, sha: str) -> dict[str, StatusState]:
        """Two GETs: the combined status (newest per context) and the commit's check runs."""

        def read() -> dict[str, StatusState]:
            commit = self._lazy_repo.get_commit(sha)
            found = {s.context: StatusState(s.state) for s in commit.get_combined_status().statuses}
            for run in commit.get_check_runs():
                state = _check_run_state(run.status, run.conclusion)
                if run.name not in found or _WORSE[state] > _WORSE[found[run.name]]:
                    found[run.name] = state
            return found

        return self._call(f"read checks of {sha[:12]}", read)

    def create_status(self, sha: str, status: CommitStatus) -> CommitStatus:
        """Report `status` on commit `sha` (a POST: never repeated blindly after a 5xx)."""
        commit = self._lazy_repo.get_commit(sha)
        extra: dict[str, str] = {"description": status.description, "context": status.context}
        if status.target_url:
            extra["target_url"] = status.target_url
        created = self._call(
            f"create status {status.context} on {sha[:12]}",
            commit.create_status,
            status.state.value,
            **extra,
        )
        return _status(created)
