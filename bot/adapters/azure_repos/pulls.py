"""Pull requests on Azure Repos: find, open, label, ask reviewers, update, complete (merge),
and the commits between two refs. A reviewer is an identity (a user by name or e-mail, a team
`org/team` as `[project]\\team` — the `org` of the policy names the project), added required or
optional in one request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from bot.adapters.azure_repos.transport import Transport, is_sha
from bot.core.policy import Reviewer
from bot.forge import Commit, CommitRange, ForgeConflictError, ForgeError, PullRequest

MERGE_STRATEGIES = {
    "squash": "squash",
    "merge": "noFastForward",
    "rebase": "rebase",
    "rebaseMerge": "rebaseMerge",
}
MAX_DESCRIPTION = 4000  # Azure DevOps refuses a longer PR description (HTTP 400)
LISTED_DESCRIPTION = 400  # PR listings cut descriptions at this length
SHORTENED = "\n\n*(shortened to the 4000 characters Azure Repos keeps of a PR description)*\n\n"


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


class PullRequests(Transport):
    """The pull-request part of `AzureReposForge`."""

    identity_api_url: str
    reviewers_required: bool
    completion_wait: float
    completion_poll: float
    _identities: dict[str, dict[str, Any]]

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
        if is_sha(ref):
            return {"versionType": "commit", "version": ref}
        return {"versionType": "branch", "version": ref.removeprefix("refs/heads/")}
