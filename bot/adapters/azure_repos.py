"""The Azure Repos forge (`bot.forge.Forge`): Azure DevOps' REST API 7.1 over plain `requests`.

Why not the `azure-devops` package: its newest release (7.1.0b4, 2023) is a beta built on the
deprecated `msrest`, untyped, and brings its own retry and auth layers; the bot needs about
fifteen calls, and `requests` (already here, under PyGithub) with urllib3's `Retry` gives the
same bounded, `Retry-After`-honouring retries the GitHub adapter has (docs/decisions.md).

Mapping: a pull request's `active`/`abandoned`/`completed` is the forge's open/closed/merged;
labels are PR labels (tags); comments are threads; the release-blocked "issue" is a work item
(type `Issue`, tagged with the label, found by WIQL); reviewers are identities (a user by name
or e-mail, a team `org/team` as `[project]\\team` — the `org` of the policy names the project),
added required or optional in one request. A commit status's context is its `name`; the
`genre` names the tool (`fluxcd` for Flux, `promotion-bot` for the bot's own statuses).

Auth is a bearer token on every request (`System.AccessToken`, or an Entra token for Azure
DevOps from `azure-identity`), never a PAT and never in a URL.

Why one module over 450 lines: one class, as the GitHub adapter, whose parts (pull requests,
identities, work items, statuses) share the HTTP client and its error mapping; the work items
are the part to move out first if it grows.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.util.retry import Retry

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
)

API_VERSION = "7.1"
# Azure DevOps' resource id: what an Entra token must be issued for.
AZURE_DEVOPS_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"
MERGE_STRATEGIES = {
    "squash": "squash",
    "merge": "noFastForward",
    "rebase": "rebase",
    "rebaseMerge": "rebaseMerge",
}
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
MAX_DESCRIPTION = 4000  # Azure DevOps refuses a longer PR description (HTTP 400)
LISTED_DESCRIPTION = 400  # PR listings cut descriptions at this length
SHORTENED = "\n\n*(shortened to the 4000 characters Azure Repos keeps of a PR description)*\n\n"
DONE_STATE = "Done"  # the Basic process's Issue: To Do → Doing → Done
_PRE = re.compile(r"^<pre>(.*)</pre>$", re.DOTALL)
# What the web editor writes around lines and inline formatting (see `_markdown`).
_LINE_END = re.compile(r"<br\s*/?>|</(?:div|p|pre|li|h[1-6])\s*>", re.IGNORECASE)
_FORMATTING = re.compile(
    r"</?(?:div|p|pre|span|font|b|i|u|s|strong|em|ul|ol|li|h[1-6])(?:\s[^<>]*)?>", re.IGNORECASE
)

TokenSource = Callable[[], str]


class _NoBlindPostRetry(Retry):
    """Reads and idempotent writes are retried on 429/5xx; a POST only on 429 (not applied)."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST":
            return status_code == 429 and self.total is not None and self.total > 0
        return super().is_retry(method, status_code, has_retry_after)


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: TokenSource) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token()}"
        return r


def entra_token_source(credential: Any | None = None) -> TokenSource:
    """Entra tokens for Azure DevOps from `azure-identity` (workload identity, managed
    identity, `az login`), renewed five minutes before they expire."""
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    cached: list[Any] = []

    def token() -> str:
        if not cached or cached[0].expires_on - 300 < time.time():
            cached[:] = [credential.get_token(AZURE_DEVOPS_SCOPE)]
        return str(cached[0].token)

    return token


def identity_url(api_url: str) -> str:
    """Where identities are searched: `https://vssps.dev.azure.com/<org>` for
    `https://dev.azure.com/<org>`; `<org>.vssps.visualstudio.com` for `<org>.visualstudio.com`;
    the API URL itself elsewhere (the local stand-in serves both)."""
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if host == "dev.azure.com":
        return api_url.replace("://dev.azure.com", "://vssps.dev.azure.com", 1)
    if host.endswith(".visualstudio.com") and ".vssps." not in host:
        return api_url.replace(".visualstudio.com", ".vssps.visualstudio.com", 1)
    return api_url


def fit_description(body: str) -> str:
    """`body` within Azure Repos' limit: the prose is cut, a trailing hidden comment (the
    bot's state marker, which later runs compare) is kept whole."""
    if len(body) <= MAX_DESCRIPTION:
        return body
    start = body.rfind("<!--")
    tail = body[start:] if start >= 0 and body.rstrip().endswith("-->") else ""
    if len(tail) > MAX_DESCRIPTION // 2:
        tail = ""
    keep = MAX_DESCRIPTION - len(tail) - len(SHORTENED)
    return body[:keep].rstrip() + SHORTENED + tail


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


def _creator(identity: Any) -> str | None:
    """Who posted a status: the identity's unique name (its id when it has none)."""
    if not isinstance(identity, dict):
        return None
    return str(identity.get("uniqueName") or identity.get("id") or "") or None


def _description(markdown: str) -> str:
    """A work item's Description is HTML: the markdown, escaped, as preformatted text."""
    return f"<pre>{html.escape(markdown, quote=False)}</pre>"


def _markdown(description: str) -> str:
    """The markdown back from a Description: the bot's `<pre>`, or what Azure Boards' rich-text
    editor saved when a person edited it (a tick): lines as `<div>`/`<p>`/`<br>`, inline
    formatting tags, entities and `&nbsp;`. Other markup is kept as text."""
    text = (description or "").replace("\r\n", "\n")
    found = _PRE.match(text)
    if found and "<" not in found.group(1):
        return html.unescape(found.group(1))
    text = _LINE_END.sub("\n", text)
    text = _FORMATTING.sub("", text)
    return html.unescape(text).replace("\xa0", " ")


class AzureReposForge:
    """One repository `project/name` of the organization at `api_url`
    (`https://dev.azure.com/<org>`, the pipeline's `System.CollectionUri`)."""

    name = "Azure Repos"

    def __init__(
        self,
        api_url: str,
        token: str | TokenSource,
        repository: str,
        *,
        retries: int = 5,
        backoff_factor: float = 0.5,
        timeout: float = 15.0,
        identity_api_url: str | None = None,
        reviewers_required: bool = True,
        wiql_team: str | None = None,
        bot_identity: str | None = None,
        completion_wait: float = 60.0,
        completion_poll: float = 2.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.identity_api_url = (identity_api_url or identity_url(self.api_url)).rstrip("/")
        self.repository = repository
        self.project, _, self.repo_name = repository.partition("/")
        self.reviewers_required = reviewers_required
        self.wiql_team = wiql_team or f"{self.project} Team"  # a new project's default team
        self.bot_identity = bot_identity
        self.timeout = timeout
        self.completion_wait, self.completion_poll = completion_wait, completion_poll
        retry = _NoBlindPostRetry(
            total=retries,
            connect=retries,
            read=0,  # a read timeout may follow an applied write: not repeated blindly
            backoff_factor=backoff_factor,
            status_forcelist=[429, *range(500, 600)],
            allowed_methods=frozenset({"GET", "PUT", "PATCH", "DELETE", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(max_retries=retry)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self._http.auth = _Bearer(token if callable(token) else (lambda: token))
        self._http.headers["Accept"] = "application/json"
        self._identities: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ HTTP

    def _repo_url(self, path: str) -> str:
        project, repo = quote(self.project, safe=""), quote(self.repo_name, safe="")
        return f"{self.api_url}/{project}/_apis/git/repositories/{repo}{path}"

    def _call(
        self,
        what: str,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        version: str = API_VERSION,
        content_type: str = "application/json",
    ) -> Any:
        query = {**(params or {}), "api-version": version}
        headers = {"Content-Type": content_type} if json is not None else {}
        try:
            resp = self._http.request(
                method, url, params=query, json=json, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ForgeUnreachableError(
                f"{what} on {self.repository} failed: Azure DevOps unreachable "
                f"({type(exc).__name__})"
            ) from exc
        if resp.status_code >= 400:
            raise self._error(what, resp)
        return resp.json() if resp.content else None

    def _error(self, what: str, resp: requests.Response) -> ForgeError:
        try:
            message = str(resp.json().get("message") or resp.reason)
        except ValueError:
            message = resp.reason or ""
        if resp.status_code in (401, 403):
            message += (
                " (the token: System.AccessToken mapped into the bot's env, or an Entra "
                "identity with access to the project)"
            )
        kind = ForgeConflictError if resp.status_code == 409 else ForgeError
        text = f"{what} on {self.repository} failed: HTTP {resp.status_code}: {message}"
        return kind(text, resp.status_code)

    def _values(self, what: str, method: str, url: str, **kwargs: Any) -> list[Any]:
        body = self._call(what, method, url, **kwargs)
        return list(body.get("value") or []) if isinstance(body, dict) else []

    def _paged(self, what: str, url: str, params: dict[str, Any], size: int = 100) -> Iterator[Any]:
        skip = 0
        while True:
            page = self._values(what, "GET", url, params={**params, "$top": size, "$skip": skip})
            yield from page
            if len(page) < size:
                return
            skip += size

    # ------------------------------------------------------------------ pull requests

    def _info(self, pr: dict[str, Any]) -> PullRequest:
        status = pr.get("status")
        requested = tuple(
            self._reviewer(r) for r in pr.get("reviewers") or [] if int(r.get("vote") or 0) == 0
        )
        web = f"{self.api_url}/{quote(self.project)}/_git/{quote(self.repo_name)}/pullrequest/"
        return PullRequest(
            number=int(pr["pullRequestId"]),
            title=str(pr.get("title") or ""),
            body=str(pr.get("description") or ""),
            head_ref=str(pr.get("sourceRefName") or "").removeprefix("refs/heads/"),
            head_sha=str((pr.get("lastMergeSourceCommit") or {}).get("commitId") or ""),
            base_ref=str(pr.get("targetRefName") or "").removeprefix("refs/heads/"),
            state="open" if status == "active" else "closed",
            merged=status == "completed",
            labels=tuple(sorted(str(label["name"]) for label in pr.get("labels") or [])),
            url=f"{web}{pr['pullRequestId']}",
            requested=requested,
        )

    @staticmethod
    def _reviewer(entry: dict[str, Any]) -> Reviewer:
        name = str(entry.get("uniqueName") or entry.get("displayName") or "")
        team = re.fullmatch(r"\[(?P<project>[^\]]+)\]\\(?P<team>.+)", name)
        if entry.get("isContainer") and team:
            return Reviewer(team["team"], team["project"])
        return Reviewer(name)

    def _search(self, head_ref: str | None, base: str, status: str) -> Iterator[dict[str, Any]]:
        params = {
            "searchCriteria.status": status,
            "searchCriteria.targetRefName": f"refs/heads/{base}",
        }
        if head_ref is not None:
            params["searchCriteria.sourceRefName"] = f"refs/heads/{head_ref}"
        return self._paged(
            f"list pull requests into {base}", self._repo_url("/pullrequests"), params
        )

    def _whole(self, raw: dict[str, Any]) -> PullRequest:
        """A listed PR with all of its description: listings cut descriptions at 400
        characters, which would cut off the bot's marker at the end, so a long one is read
        again by id (one GET, only then)."""
        if len(str(raw.get("description") or "")) < LISTED_DESCRIPTION:
            return self._info(raw)
        return self.get_pr(int(raw["pullRequestId"]))

    def open_prs(self, base: str, head_prefix: str = "") -> dict[str, PullRequest]:
        found: dict[str, PullRequest] = {}
        for raw in self._search(None, base, "active"):
            head = str(raw.get("sourceRefName") or "").removeprefix("refs/heads/")
            if head.startswith(head_prefix) and head not in found:
                found[head] = self._whole(raw)
        return found

    def find_open_pr(self, head_branch: str, base: str) -> PullRequest | None:
        for raw in self._search(head_branch, base, "active"):
            return self._whole(raw)
        return None

    def closed_prs(self, head_branch: str, base: str) -> list[PullRequest]:
        """Abandoned PRs from `head_branch`, newest first (Azure DevOps lists newest first)."""
        return [self._whole(raw) for raw in self._search(head_branch, base, "abandoned")]

    def get_pr(self, number: int) -> PullRequest:
        url = self._repo_url(f"/pullrequests/{number}")
        return self._info(self._call(f"get pull request !{number}", "GET", url))

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
        """One POST carrying the labels and reviewers (resolved first, so a bad reviewer fails
        before anything is written); a 5xx is never repeated blindly: look first."""
        people = self._reviewer_refs(reviewers)
        payload: dict[str, Any] = {
            "sourceRefName": f"refs/heads/{head}",
            "targetRefName": f"refs/heads/{base}",
            "title": title,
            "description": fit_description(body),
        }
        if labels:
            payload["labels"] = [{"name": name} for name in labels]
        if people:
            payload["reviewers"] = people
        what = f"create pull request {head} -> {base}"
        try:
            created = self._call(what, "POST", self._repo_url("/pullrequests"), json=payload)
        except ForgeError as exc:
            if exc.status is None or exc.status < 500:
                raise
            found = self.find_open_pr(head, base)
            if found is None:
                created = self._call(what, "POST", self._repo_url("/pullrequests"), json=payload)
            else:
                if labels:
                    self.add_labels(found.number, labels)
                if reviewers:
                    self.request_reviews(found.number, reviewers)
                return self.get_pr(found.number)
        return self._info(created)

    def _reviewer_refs(self, reviewers: Sequence[Reviewer]) -> list[dict[str, Any]]:
        return [
            {"id": self._identity(r)["id"], "isRequired": self.reviewers_required}
            for r in reviewers
        ]

    def _identity(self, reviewer: Reviewer) -> dict[str, Any]:
        """A user by unique name (e-mail) or display name; a team `org/team` as
        `[org]\\team` (the team `team` of project `org`)."""
        value = f"[{reviewer.org}]\\{reviewer.name}" if reviewer.is_team else reviewer.name
        if value.lower() not in self._identities:
            found = self._values(
                f"find identity {value}",
                "GET",
                f"{self.identity_api_url}/_apis/identities",
                params={"searchFilter": "General", "filterValue": value, "queryMembership": "None"},
            )
            if len(found) != 1 or bool(found[0].get("isContainer")) != reviewer.is_team:
                kind = "team" if reviewer.is_team else "user"
                raise ForgeError(
                    f"request reviewers on {self.repository}: no single {kind} {value!r} in "
                    f"Azure DevOps (promotion.yaml: a user by name or e-mail, a team as "
                    f"<project>/<team>)"
                )
            self._identities[value.lower()] = found[0]
        return self._identities[value.lower()]

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        """One POST per label (adding a label the PR has is harmless)."""
        url = self._repo_url(f"/pullRequests/{number}/labels")
        for name in labels:
            self._call(
                f"label pull request !{number}",
                "POST",
                url,
                json={"name": name},
            )

    def request_reviews(self, number: int, reviewers: Sequence[Reviewer]) -> None:
        """Optional reviewers in one POST; required ones one PUT each (the only way to add a
        required reviewer to an open PR; a PUT is idempotent, so it is retried)."""
        people = self._reviewer_refs(reviewers)
        if not people:
            return
        if not self.reviewers_required:
            url = self._repo_url(f"/pullRequests/{number}/reviewers")
            body = [{"id": p["id"]} for p in people]
            self._call(f"add reviewers to !{number}", "POST", url, json=body)
            return
        for person in people:
            url = self._repo_url(f"/pullRequests/{number}/reviewers/{person['id']}")
            self._call(
                f"add reviewer to !{number}", "PUT", url, json={"vote": 0, "isRequired": True}
            )

    def reviewed(self, number: int) -> bool:
        """True once any reviewer voted (approved, suggested, waits or rejected)."""
        url = self._repo_url(f"/pullRequests/{number}/reviewers")
        votes = self._values(f"list reviewers of !{number}", "GET", url)
        return any(int(v.get("vote") or 0) != 0 for v in votes)

    def update_pr(
        self, number: int, *, title: str, body: str, add_labels: Sequence[str] = ()
    ) -> None:
        url = self._repo_url(f"/pullrequests/{number}")
        self._call(
            f"edit pull request !{number}",
            "PATCH",
            url,
            json={"title": title, "description": fit_description(body)},
        )
        if add_labels:
            self.add_labels(number, add_labels)

    def comment(self, number: int, body: str) -> None:
        """A new thread, active (it asks for attention)."""
        self._thread(number, body, "active")

    def _thread(self, number: int, body: str, status: str) -> None:
        url = self._repo_url(f"/pullRequests/{number}/threads")
        payload = {
            "comments": [{"parentCommentId": 0, "content": body, "commentType": "text"}],
            "status": status,
        }
        self._call(f"comment on !{number}", "POST", url, json=payload)

    def comments(self, number: int) -> list[Comment]:
        """The first comment of each thread a person or the bot wrote (system threads, such as
        Azure DevOps' own vote and push notes, are left out), oldest first."""
        url = self._repo_url(f"/pullRequests/{number}/threads")
        found: list[Comment] = []
        for thread in self._values(f"list threads of !{number}", "GET", url):
            first = next(iter(thread.get("comments") or []), None)
            if first is None or first.get("commentType") == "system" or first.get("isDeleted"):
                continue
            author = (first.get("author") or {}).get("uniqueName")
            found.append(Comment(int(thread["id"]), str(first.get("content") or ""), author))
        return found

    def close_pr(self, number: int, comment: str) -> None:
        """Comment (a closed thread: nothing left to resolve), then abandon."""
        self._thread(number, comment, "closed")
        url = self._repo_url(f"/pullrequests/{number}")
        self._call(f"abandon pull request !{number}", "PATCH", url, json={"status": "abandoned"})

    def merge_pr(self, number: int, *, sha: str, method: str = "squash") -> str:
        """Complete the PR only if its source is still `sha` (Azure DevOps checks
        `lastMergeSourceCommit`; a moved head is a 409 → `ForgeConflictError`). Azure DevOps
        may accept the completion and merge a moment later: the PR is read again every
        `completion_poll` s for up to `completion_wait` s; a conflict or a failed merge meanwhile
        is a `ForgeConflictError` (the run restarts from a fresh read)."""
        url = self._repo_url(f"/pullrequests/{number}")
        payload = {
            "status": "completed",
            "lastMergeSourceCommit": {"commitId": sha},
            "completionOptions": self._completion(method),
        }
        done = self._call(f"complete pull request !{number}", "PATCH", url, json=payload)
        deadline = time.monotonic() + self.completion_wait
        while done.get("status") != "completed":  # accepted and queued: Azure DevOps merges
            merge = done.get("mergeStatus")  # asynchronously, so look again, bounded
            if merge in ("conflicts", "failure", "rejectedByPolicy") or done.get("status") != (
                "active"
            ):
                kind = ForgeConflictError if merge in ("conflicts", "failure") else ForgeError
                why = done.get("mergeFailureMessage") or merge or done.get("status")
                raise kind(f"completing !{number} on {self.repository} failed: {why}", 409)
            if time.monotonic() >= deadline:
                raise ForgeError(
                    f"completing !{number} on {self.repository} is still {merge or 'queued'} "
                    f"after {self.completion_wait:.0f} s; the next run finds it merged or says why"
                )
            time.sleep(self.completion_poll)
            done = self._call(f"get pull request !{number}", "GET", url)
        return str((done.get("lastMergeCommit") or {}).get("commitId") or "")

    @staticmethod
    def _completion(method: str) -> dict[str, Any]:
        if method not in MERGE_STRATEGIES:
            raise ForgeError(f"merge method {method!r}: one of {', '.join(MERGE_STRATEGIES)}")
        return {
            "mergeStrategy": MERGE_STRATEGIES[method],
            "deleteSourceBranch": False,
            "transitionWorkItems": False,
        }

    def enable_auto_complete(self, number: int, *, method: str = "squash") -> PullRequest:
        """Let Azure DevOps complete the PR once its branch policies pass (auto-complete, set
        by the PR's creator: the bot, which opened it). Not part of the `Forge` protocol: the
        bot merges itself after reading the checks; this is for teams whose policies decide."""
        url = self._repo_url(f"/pullrequests/{number}")
        pr = self._call(f"get pull request !{number}", "GET", url)
        payload = {
            "autoCompleteSetBy": {"id": pr["createdBy"]["id"]},
            "completionOptions": self._completion(method),
        }
        return self._info(self._call(f"auto-complete !{number}", "PATCH", url, json=payload))

    def compare(self, base: str, head: str) -> CommitRange:
        """Commits of `head` not in `base`, oldest first (one `commitsbatch` query)."""
        body = {
            "itemVersion": self._version(head),
            "compareVersion": self._version(base),
            "showOldestCommitsFirst": True,
        }
        commits = self._values(
            f"compare {base}...{head}",
            "POST",
            self._repo_url("/commitsbatch"),
            json=body,
            params={"$top": 1000},
        )
        return CommitRange(
            base,
            head,
            tuple(
                Commit(
                    c["commitId"],
                    str(c.get("comment") or "").splitlines()[0] if c.get("comment") else "",
                )
                for c in commits
            ),
        )

    @staticmethod
    def _version(ref: str) -> dict[str, str]:
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            return {"versionType": "commit", "version": ref}
        return {"versionType": "branch", "version": ref.removeprefix("refs/heads/")}

    # ------------------------------------------------------------------ work items

    def _work_items_url(self, suffix: str = "") -> str:
        return f"{self.api_url}/{quote(self.project, safe='')}/_apis/wit/workitems{suffix}"

    def _issue_info(self, item: dict[str, Any]) -> Issue:
        fields = item.get("fields") or {}
        tags = [t.strip() for t in str(fields.get("System.Tags") or "").split(";") if t.strip()]
        web = f"{self.api_url}/{quote(self.project)}/_workitems/edit/{item['id']}"
        return Issue(
            number=int(item["id"]),
            title=str(fields.get("System.Title") or ""),
            body=_markdown(str(fields.get("System.Description") or "")),
            state="closed" if fields.get("System.State") == DONE_STATE else "open",
            labels=tuple(sorted(tags)),
            url=web,
            author=_creator(fields.get("System.CreatedBy")),
        )

    def identity(self) -> str | None:
        """The unique name the bot's writes carry (`System.CreatedBy`), as the operator tells
        it (`AZURE_REPOS_BOT_IDENTITY`; the job's token acts as the project's build service).
        Not learnt from the service: Azure DevOps names the caller only in
        `_apis/connectionData`, outside the published REST descriptions the local Azure Repos
        is held to. None when not told: the dashboard then says the author is not checked."""
        return self.bot_identity

    def is_own_account(self, email: str) -> bool:
        """A completion names whoever completes the PR (its email, which is a user's unique
        name): the bot only when it completes the PR itself, and only when told who it is."""
        me = self.bot_identity
        return me is not None and email.casefold() == me.casefold()

    def find_open_issue(
        self, *, label: str, marker: str = "", author: str | None = None
    ) -> Issue | None:
        """The oldest open work item of type Issue tagged `label` whose description holds
        `marker`: one WIQL query, then one read of the matches."""
        quoted = label.replace("'", "''")
        query = (  # WIQL, the label quoted as WIQL quotes ('')
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "  # noqa: S608
            f"AND [System.WorkItemType] = 'Issue' AND [System.Tags] CONTAINS '{quoted}' "
            f"AND [System.State] <> '{DONE_STATE}' ORDER BY [System.CreatedDate] ASC"
        )
        team = quote(self.wiql_team, safe="")
        url = f"{self.api_url}/{quote(self.project, safe='')}/{team}/_apis/wit/wiql"
        result = self._call(f"query work items tagged {label}", "POST", url, json={"query": query})
        ids = [int(ref["id"]) for ref in (result or {}).get("workItems") or []][:200]
        if not ids:
            return None
        items = self._values(
            "read work items",
            "GET",
            self._work_items_url(),
            params={"ids": ",".join(map(str, ids))},
        )
        by_id = {int(i["id"]): i for i in items}
        for number in ids:
            issue = self._issue_info(by_id[number]) if number in by_id else None
            mine = issue is not None and (author is None or issue.author == author)
            if issue is not None and mine and marker in issue.body:
                return issue
        return None

    def create_issue(self, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        ops = [
            {"op": "add", "path": "/fields/System.Title", "value": title},
            {"op": "add", "path": "/fields/System.Description", "value": _description(body)},
        ]
        if labels:
            ops.append({"op": "add", "path": "/fields/System.Tags", "value": "; ".join(labels)})
        item = self._call(
            "create work item",
            "POST",
            self._work_items_url("/$Issue"),
            json=ops,
            content_type="application/json-patch+json",
        )
        return self._issue_info(item)

    def update_issue(self, number: int, body: str) -> None:
        ops = [{"op": "add", "path": "/fields/System.Description", "value": _description(body)}]
        self._call(
            f"edit work item {number}",
            "PATCH",
            self._work_items_url(f"/{number}"),
            json=ops,
            content_type="application/json-patch+json",
        )

    def close_issue(self, number: int, comment: str) -> None:
        """The why as a discussion entry (System.History) and the state Done, in one PATCH."""
        ops = [
            {"op": "add", "path": "/fields/System.History", "value": _description(comment)},
            {"op": "add", "path": "/fields/System.State", "value": DONE_STATE},
        ]
        self._call(
            f"close work item {number}",
            "PATCH",
            self._work_items_url(f"/{number}"),
            json=ops,
            content_type="application/json-patch+json",
        )

    # ------------------------------------------------------------------ commit statuses

    def _statuses(self, sha: str) -> list[dict[str, Any]]:
        url = self._repo_url(f"/commits/{sha}/statuses")
        return self._values(f"list statuses of {sha[:12]}", "GET", url)

    def _resolve(self, ref: str) -> str:
        """A branch or tag name as the commit it names (statuses are kept per commit)."""
        if re.fullmatch(r"[0-9a-f]{40}", ref):
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
                creator=_creator(s.get("createdBy")),
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
