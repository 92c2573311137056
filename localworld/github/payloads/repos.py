"""Users, repositories, branches, refs, commits, comparisons, errors and the rate limit."""

from __future__ import annotations

from typing import Any

from localworld.github.git import CommitInfo, FileChange
from localworld.github.state import stable_id

JSON = dict[str, Any]
EPOCH = "2024-01-01T00:00:00Z"


def user(api: str, login: str) -> JSON:
    uid = stable_id("user", login)
    u = f"{api}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": f"U_{uid}",
        "avatar_url": f"{api}/avatars/{login}",
        "gravatar_id": "",
        "url": u,
        "html_url": f"{api}/{login}",
        "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}",
        "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs",
        "repos_url": f"{u}/repos",
        "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events",
        "type": "Bot" if login.endswith("[bot]") else "User",  # a GitHub App's installation
        "user_view_type": "public",
        "site_admin": False,
    }


def private_user(api: str, login: str) -> JSON:
    """GET /user: the authenticated user with the private fields."""
    return {
        **user(api, login),
        "name": login,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "notification_email": None,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": EPOCH,
        "updated_at": EPOCH,
        "private_gists": 0,
        "total_private_repos": 0,
        "owned_private_repos": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": True,
        "plan": {"collaborators": 0, "name": "free", "space": 976562499, "private_repos": 10000},
    }


def repository(api: str, full_name: str, default_branch: str, *, full: bool = False) -> JSON:
    owner, name = full_name.split("/", 1)
    rid = stable_id("repo", full_name.lower())
    r = f"{api}/repos/{full_name}"
    data: JSON = {
        "id": rid,
        "node_id": f"R_{rid}",
        "name": name,
        "full_name": full_name,
        "owner": user(api, owner),
        "private": True,
        "html_url": f"{api}/{full_name}",
        "description": None,
        "fork": False,
        "url": r,
        "archive_url": f"{r}/{{archive_format}}{{/ref}}",
        "assignees_url": f"{r}/assignees{{/user}}",
        "blobs_url": f"{r}/git/blobs{{/sha}}",
        "branches_url": f"{r}/branches{{/branch}}",
        "collaborators_url": f"{r}/collaborators{{/collaborator}}",
        "comments_url": f"{r}/comments{{/number}}",
        "commits_url": f"{r}/commits{{/sha}}",
        "compare_url": f"{r}/compare/{{base}}...{{head}}",
        "contents_url": f"{r}/contents/{{+path}}",
        "contributors_url": f"{r}/contributors",
        "deployments_url": f"{r}/deployments",
        "downloads_url": f"{r}/downloads",
        "events_url": f"{r}/events",
        "forks_url": f"{r}/forks",
        "git_commits_url": f"{r}/git/commits{{/sha}}",
        "git_refs_url": f"{r}/git/refs{{/sha}}",
        "git_tags_url": f"{r}/git/tags{{/sha}}",
        "git_url": f"git:{api}/{full_name}.git",
        "issue_comment_url": f"{r}/issues/comments{{/number}}",
        "issue_events_url": f"{r}/issues/events{{/number}}",
        "issues_url": f"{r}/issues{{/number}}",
        "keys_url": f"{r}/keys{{/key_id}}",
        "labels_url": f"{r}/labels{{/name}}",
        "languages_url": f"{r}/languages",
        "merges_url": f"{r}/merges",
        "milestones_url": f"{r}/milestones{{/number}}",
        "notifications_url": f"{r}/notifications{{?since,all,participating}}",
        "pulls_url": f"{r}/pulls{{/number}}",
        "releases_url": f"{r}/releases{{/id}}",
        "ssh_url": f"git@localhost:{full_name}.git",
        "stargazers_url": f"{r}/stargazers",
        "statuses_url": f"{r}/statuses/{{sha}}",
        "subscribers_url": f"{r}/subscribers",
        "subscription_url": f"{r}/subscription",
        "tags_url": f"{r}/tags",
        "teams_url": f"{r}/teams",
        "trees_url": f"{r}/git/trees{{/sha}}",
        "clone_url": f"{api}/{full_name}.git",
        "mirror_url": None,
        "hooks_url": f"{r}/hooks",
        "svn_url": f"{api}/{full_name}",
        "homepage": None,
        "language": None,
        "forks_count": 0,
        "forks": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 0,
        "default_branch": default_branch,
        "open_issues_count": 0,
        "open_issues": 0,
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": False,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "private",
        "pushed_at": EPOCH,
        "created_at": EPOCH,
        "updated_at": EPOCH,
        "permissions": {
            "admin": False,
            "maintain": False,
            "push": True,
            "triage": True,
            "pull": True,
        },
        "allow_rebase_merge": True,
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "allow_auto_merge": False,
        "delete_branch_on_merge": False,
        "allow_forking": False,
        "web_commit_signoff_required": False,
        "license": None,
    }
    if full:
        data |= {"network_count": 0, "subscribers_count": 0, "allow_update_branch": False}
    return data


def branch_commit(api: str, full_name: str, sha: str) -> JSON:
    return {"sha": sha, "url": f"{api}/repos/{full_name}/commits/{sha}"}


def short_branch(api: str, full_name: str, name: str, sha: str) -> JSON:
    return {"name": name, "commit": branch_commit(api, full_name, sha), "protected": False}


def branch_with_protection(api: str, full_name: str, name: str, info: CommitInfo) -> JSON:
    r = f"{api}/repos/{full_name}"
    return {
        "name": name,
        "commit": commit(api, full_name, info),
        "_links": {"html": f"{api}/{full_name}/tree/{name}", "self": f"{r}/branches/{name}"},
        "protected": False,
        "protection": {
            "enabled": False,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
        },
        "protection_url": f"{r}/branches/{name}/protection",
    }


def git_ref(api: str, full_name: str, refname: str, sha: str, obj_type: str) -> JSON:
    r = f"{api}/repos/{full_name}"
    return {
        "ref": refname,
        "node_id": f"REF_{stable_id(full_name, refname)}",
        "url": f"{r}/git/{refname}",
        "object": {"type": obj_type, "sha": sha, "url": f"{r}/git/{obj_type}s/{sha}"},
    }


def _git_person(p: Any) -> JSON:
    return {"name": p.name, "email": p.email, "date": _utc(p.date)}


def _utc(date: str) -> str:
    """git's ISO dates carry an offset; GitHub writes UTC with a Z."""
    from datetime import UTC, datetime

    return datetime.fromisoformat(date).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def commit(api: str, full_name: str, info: CommitInfo) -> JSON:
    r = f"{api}/repos/{full_name}"
    return {
        "url": f"{r}/commits/{info.sha}",
        "sha": info.sha,
        "node_id": f"C_{info.sha[:20]}",
        "html_url": f"{api}/{full_name}/commit/{info.sha}",
        "comments_url": f"{r}/commits/{info.sha}/comments",
        "commit": {
            "url": f"{r}/git/commits/{info.sha}",
            "author": _git_person(info.author),
            "committer": _git_person(info.committer),
            "message": info.message,
            "comment_count": 0,
            "tree": {"sha": info.tree, "url": f"{r}/git/trees/{info.tree}"},
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "author": None,
        "committer": None,
        "parents": [
            {
                "sha": p,
                "url": f"{r}/commits/{p}",
                "html_url": f"{api}/{full_name}/commit/{p}",
            }
            for p in info.parents
        ],
    }


def diff_entry(api: str, full_name: str, head_sha: str, change: FileChange) -> JSON:
    r = f"{api}/repos/{full_name}"
    data: JSON = {
        "sha": change.blob_sha,
        "filename": change.filename,
        "status": change.status,
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.additions + change.deletions,
        "blob_url": f"{api}/{full_name}/blob/{head_sha}/{change.filename}",
        "raw_url": f"{api}/{full_name}/raw/{head_sha}/{change.filename}",
        "contents_url": f"{r}/contents/{change.filename}?ref={head_sha}",
    }
    if change.patch is not None:
        data["patch"] = change.patch
    if change.previous_filename is not None:
        data["previous_filename"] = change.previous_filename
    return data


def comparison(
    api: str,
    full_name: str,
    basehead: str,
    *,
    base: CommitInfo,
    merge_base: CommitInfo,
    status: str,
    ahead_by: int,
    behind_by: int,
    commits: list[CommitInfo],
    total_commits: int,
    files: list[JSON],
) -> JSON:
    r = f"{api}/repos/{full_name}"
    return {
        "url": f"{r}/compare/{basehead}",
        "html_url": f"{api}/{full_name}/compare/{basehead}",
        "permalink_url": f"{api}/{full_name}/compare/{basehead}",
        "diff_url": f"{api}/{full_name}/compare/{basehead}.diff",
        "patch_url": f"{api}/{full_name}/compare/{basehead}.patch",
        "base_commit": commit(api, full_name, base),
        "merge_base_commit": commit(api, full_name, merge_base),
        "status": status,
        "ahead_by": ahead_by,
        "behind_by": behind_by,
        "total_commits": total_commits,
        "commits": [commit(api, full_name, c) for c in commits],
        "files": files,
    }


def error(
    message: str,
    doc: str = "https://docs.github.com/rest",
    status: int | None = None,
    errors: list[JSON] | None = None,
) -> JSON:
    data: JSON = {"message": message, "documentation_url": doc}
    if errors is not None:
        data["errors"] = errors
    if status is not None:
        data["status"] = str(status)
    return data


def rate_limit(core: JSON) -> JSON:
    def window(limit: int) -> JSON:
        return {"limit": limit, "used": 0, "remaining": limit, "reset": core["reset"]}

    resources = {
        "core": core,
        "search": window(30),
        "graphql": window(5000),
        "integration_manifest": window(5000),
        "code_search": window(10),
    }
    return {"resources": resources, "rate": core}
