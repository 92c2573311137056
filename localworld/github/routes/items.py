"""Issues and pull requests as the views see them: lookup (GitHub's 404s), following pushes,
their JSON, and state changes with GitHub's refusals. The changes themselves are `RepoState`'s.
"""

from __future__ import annotations

from typing import Any

from flask import g

from localworld.github import payloads
from localworld.github.commit_status import combined_state, latest_per_context
from localworld.github.state import Issue, Pull
from localworld.github.teams import Team
from localworld.github.web import Repo, api_base, not_found, server_state, validation_failed

ISSUE_DOC = "https://docs.github.com/rest/issues/issues"
PULL_DOC = "https://docs.github.com/rest/pulls/pulls"


def get_pull(repo: Repo, number: int) -> Pull:
    pr = repo.state.pulls.get(number)
    if pr is None:
        raise not_found(f"{PULL_DOC}#get-a-pull-request")
    return pr


def get_issue(repo: Repo, number: int) -> Issue | Pull:
    """The issue or pull request `number` (GitHub's issue endpoints serve both)."""
    item: Issue | Pull | None = repo.state.issues.get(number) or repo.state.pulls.get(number)
    if item is None:
        raise not_found(f"{ISSUE_DOC}#get-an-issue")
    return item


def refresh(repo: Repo, pr: Pull) -> None:
    """Follow pushes: an open PR's head/base shas are those of its branches right now."""
    if pr.state != "open":
        return
    head = repo.git.resolve(f"refs/heads/{pr.head_ref}")
    base = repo.git.resolve(f"refs/heads/{pr.base_ref}")
    pr.head_sha = head or pr.head_sha
    pr.base_sha = base or pr.base_sha


def change_state(repo: Repo, item: Issue | Pull, new_state: str, reason: str | None) -> None:
    """Close or reopen an issue or pull request (caller holds the state lock)."""
    if new_state == item.state:
        return
    if new_state == "closed":
        if isinstance(item, Pull):
            refresh(repo, item)
        repo.state.close(item, g.login, reason)
        return
    if isinstance(item, Pull):
        _refuse_reopen(repo, item)
    repo.state.reopen(item)


def _refuse_reopen(repo: Repo, pr: Pull) -> None:
    def refused(message: str, field: str | None = "state") -> None:
        raise validation_failed("PullRequest", "custom", field=field, message=message)

    if pr.merged:
        refused("state cannot be changed. The pull request has been merged.")
    if repo.git.resolve(f"refs/heads/{pr.head_ref}") is None:
        refused("state cannot be changed. The head branch was deleted.")
    if repo.state.open_pull_for(pr.head_ref, pr.base_ref) is not None:
        refused(f"A pull request already exists for {repo.owner}:{pr.head_ref}.", None)


def requested_teams(repo: Repo, pr: Pull) -> list[Team]:
    """The teams (of the repository's owner) a review is requested from."""
    state = server_state()
    found = [state.team(repo.owner, slug) for slug in pr.team_reviewers]
    return [t for t in found if t is not None]


def pull_json(repo: Repo, pr: Pull, *, detail: bool = True) -> dict[str, Any]:
    refresh(repo, pr)
    labels = [repo.state.labels[name.lower()] for name in pr.labels]
    default = repo.git.default_branch()
    teams = requested_teams(repo, pr)
    if not detail:
        return payloads.pull(
            api_base(), repo.full_name, default, pr, labels, detail=False, teams=teams
        )
    mergeable: bool | None = None
    mergeable_state = "unknown"
    if pr.state == "open":
        tree, _conflicts = repo.git.merge_tree(pr.base_sha, pr.head_sha)
        mergeable = tree is not None
        mergeable_state = "draft" if pr.draft else ("clean" if mergeable else "dirty")
        if mergeable_state == "clean" and _head_checks(repo, pr) in ("failure", "pending"):
            mergeable_state = "unstable"  # GitHub: mergeable, but a status is failing or pending
    base = repo.git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
    commits = repo.git.rev_list(pr.head_sha, base)
    files = repo.git.diff_files(base, pr.head_sha, patches=False)
    stats = (
        len(commits),
        sum(f.additions for f in files),
        sum(f.deletions for f in files),
        len(files),
    )
    return payloads.pull(
        api_base(),
        repo.full_name,
        default,
        pr,
        labels,
        detail=True,
        mergeable=mergeable,
        mergeable_state=mergeable_state,
        stats=stats,
        teams=teams,
    )


def _head_checks(repo: Repo, pr: Pull) -> str | None:
    """The combined state of the statuses on the PR's head (None when it has none)."""
    with server_state().lock:
        latest = latest_per_context(list(repo.state.statuses.get(pr.head_sha, [])))
    return combined_state(latest) if latest else None


def issue_json(repo: Repo, item: Issue | Pull) -> dict[str, Any]:
    if isinstance(item, Pull):
        refresh(repo, item)
    labels = [repo.state.labels[name.lower()] for name in item.labels]
    return payloads.issue(api_base(), repo.full_name, item, labels)


def labels_json(repo: Repo, item: Issue | Pull) -> list[dict[str, Any]]:
    return [
        payloads.label(api_base(), repo.full_name, repo.state.labels[n.lower()])
        for n in item.labels
    ]


def label_names(data: object) -> list[str]:
    """GitHub accepts {"labels": [...]}, [...], [{"name": ...}] and {"labels": [{"name": ...}]}."""
    items = data.get("labels") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise validation_failed("Label", "invalid", field="labels")
    names = [i.get("name") if isinstance(i, dict) else i for i in items]
    if not all(isinstance(n, str) and n for n in names):
        raise validation_failed("Label", "invalid", field="labels")
    return [str(n) for n in names]
