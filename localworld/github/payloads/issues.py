"""Labels, issue comments, issues and pull requests."""

from __future__ import annotations

from collections.abc import Sequence

from localworld.github.payloads.repos import JSON, repository, user
from localworld.github.payloads.teams import team
from localworld.github.state import Comment, Issue, Label, Pull
from localworld.github.teams import Team


def label(api: str, full_name: str, lab: Label) -> JSON:
    return {
        "id": lab.id,
        "node_id": f"LA_{lab.id}",
        "url": f"{api}/repos/{full_name}/labels/{lab.name}",
        "name": lab.name,
        "description": lab.description,
        "color": lab.color,
        "default": False,
    }


def _simple_label(data: JSON, detail: bool) -> JSON:
    """pull-request-simple's label items declare `description` a (non-null) string."""
    if not detail and data["description"] is None:
        data["description"] = ""
    return data


def issue_comment(
    api: str, full_name: str, number: int, c: Comment, *, on_pull: bool = True
) -> JSON:
    r = f"{api}/repos/{full_name}"
    page = "pull" if on_pull else "issues"
    return {
        "id": c.id,
        "node_id": f"IC_{c.id}",
        "url": f"{r}/issues/comments/{c.id}",
        "html_url": f"{api}/{full_name}/{page}/{number}#issuecomment-{c.id}",
        "body": c.body,
        "user": user(api, c.login),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "issue_url": f"{r}/issues/{number}",
        "author_association": "MEMBER",
        "reactions": reactions(f"{r}/issues/comments/{c.id}/reactions"),
    }


def reactions(url: str) -> JSON:
    keys = ["+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket"]
    return {"url": url, "total_count": 0, **dict.fromkeys(keys, 0)}


def issue(api: str, full_name: str, item: Issue | Pull, labels: list[Label]) -> JSON:
    """An issue; a pull request seen through the issues API carries `pull_request` (and
    `draft`), which is how GitHub's issue listing tells the two apart."""
    r = f"{api}/repos/{full_name}"
    url = f"{r}/issues/{item.number}"
    is_pull = isinstance(item, Pull)
    html = f"{api}/{full_name}/{'pull' if is_pull else 'issues'}/{item.number}"
    data: JSON = {
        "id": item.id,
        "node_id": f"{'PR' if is_pull else 'I'}_{item.id}",
        "url": url,
        "repository_url": r,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": html,
        "timeline_url": f"{url}/timeline",
        "number": item.number,
        "state": item.state,
        "state_reason": None,
        "title": item.title,
        "body": item.body,
        "user": user(api, item.login),
        "labels": [label(api, full_name, lab) for lab in labels],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": len(item.comments),
        "closed_at": item.closed_at,
        "closed_by": None,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "author_association": "MEMBER",
        "reactions": reactions(f"{url}/reactions"),
    }
    if isinstance(item, Pull):
        pr_url = f"{r}/pulls/{item.number}"
        data["draft"] = item.draft
        data["pull_request"] = {
            "url": pr_url,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": item.merged_at,
        }
    else:
        data["state_reason"] = item.state_reason
        data["closed_by"] = user(api, item.closed_by) if item.closed_by else None
    return data


def pull_ref(api: str, full_name: str, *, owner: str, ref: str, sha: str, default: str) -> JSON:
    return {
        "label": f"{owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user(api, owner),
        "repo": repository(api, full_name, default),
    }


def pull(
    api: str,
    full_name: str,
    default_branch: str,
    pr: Pull,
    labels: list[Label],
    *,
    detail: bool,
    mergeable: bool | None = None,
    mergeable_state: str = "unknown",
    stats: tuple[int, int, int, int] = (0, 0, 0, 0),
    teams: Sequence[Team] = (),
) -> JSON:
    """A pull request; `detail` adds the fields only GET/create/update return (not list)."""
    owner = full_name.split("/", 1)[0]
    r = f"{api}/repos/{full_name}"
    pr_url = f"{r}/pulls/{pr.number}"
    html = f"{api}/{full_name}/pull/{pr.number}"
    data: JSON = {
        "url": pr_url,
        "id": pr.id,
        "node_id": f"PR_{pr.id}",
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": f"{r}/issues/{pr.number}",
        "commits_url": f"{pr_url}/commits",
        "review_comments_url": f"{pr_url}/comments",
        "review_comment_url": f"{r}/pulls/comments{{/number}}",
        "comments_url": f"{r}/issues/{pr.number}/comments",
        "statuses_url": f"{r}/statuses/{pr.head_sha}",
        "number": pr.number,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "user": user(api, pr.login),
        "body": pr.body,
        "labels": [_simple_label(label(api, full_name, lab), detail) for lab in labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": pr.created_at,
        "updated_at": pr.updated_at,
        "closed_at": pr.closed_at,
        "merged_at": pr.merged_at,
        "merge_commit_sha": pr.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [user(api, login) for login in pr.reviewers],
        "requested_teams": [team(api, t) for t in teams],
        "head": pull_ref(
            api, full_name, owner=owner, ref=pr.head_ref, sha=pr.head_sha, default=default_branch
        ),
        "base": pull_ref(
            api, full_name, owner=owner, ref=pr.base_ref, sha=pr.base_sha, default=default_branch
        ),
        "_links": {
            "self": {"href": pr_url},
            "html": {"href": html},
            "issue": {"href": f"{r}/issues/{pr.number}"},
            "comments": {"href": f"{r}/issues/{pr.number}/comments"},
            "review_comments": {"href": f"{pr_url}/comments"},
            "review_comment": {"href": f"{r}/pulls/comments{{/number}}"},
            "commits": {"href": f"{pr_url}/commits"},
            "statuses": {"href": f"{r}/statuses/{pr.head_sha}"},
        },
        "author_association": "MEMBER",
        "auto_merge": None,
        "draft": pr.draft,
    }
    if detail:
        commits, additions, deletions, changed = stats
        data |= {
            "merged": pr.merged,
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": mergeable_state,
            "merged_by": user(api, pr.merged_by) if pr.merged_by else None,
            "comments": len(pr.comments),
            "review_comments": 0,
            "maintainer_can_modify": pr.maintainer_can_modify,
            "commits": commits,
            "additions": additions,
            "deletions": deletions,
            "changed_files": changed,
        }
    return data
