"""Commit statuses: one status, and the combined status of a commit."""

from __future__ import annotations

from localworld.github.commit_status import CommitStatus
from localworld.github.payloads.repos import JSON, repository, user


def _common(api: str, full_name: str, s: CommitStatus) -> JSON:
    return {
        "url": f"{api}/repos/{full_name}/statuses/{s.sha}",
        "avatar_url": user(api, s.login)["avatar_url"],
        "id": s.id,
        "node_id": f"SC_{s.id}",
        "state": s.state,
        "description": s.description,
        "target_url": s.target_url,
        "context": s.context,
        "created_at": s.created_at,
        "updated_at": s.created_at,
    }


def commit_status(api: str, full_name: str, s: CommitStatus) -> JSON:
    """A status as created and listed (with its `creator`)."""
    return {**_common(api, full_name, s), "creator": user(api, s.login)}


def combined_status(
    api: str,
    full_name: str,
    default_branch: str,
    *,
    sha: str,
    state: str,
    latest: list[CommitStatus],
    total_count: int,
) -> JSON:
    """`latest` is one page of the newest status per context; `total_count` counts them all."""
    r = f"{api}/repos/{full_name}"
    return {
        "state": state,
        "statuses": [{**_common(api, full_name, s), "required": None} for s in latest],
        "sha": sha,
        "total_count": total_count,
        "repository": repository(api, full_name, default_branch),
        "commit_url": f"{r}/commits/{sha}",
        "url": f"{r}/commits/{sha}/status",
    }
