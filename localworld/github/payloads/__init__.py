"""GitHub's JSON shapes, built from plain data (no I/O). Field sets follow the OpenAPI schemas
the contract test checks; one module per resource family, every shape re-exported here."""

from localworld.github.payloads.issues import (
    issue,
    issue_comment,
    label,
    pull,
    pull_ref,
    reactions,
)
from localworld.github.payloads.repos import (
    EPOCH,
    JSON,
    branch_commit,
    branch_with_protection,
    commit,
    comparison,
    diff_entry,
    error,
    git_ref,
    private_user,
    rate_limit,
    repository,
    short_branch,
    user,
)
from localworld.github.payloads.statuses import combined_status, commit_status
from localworld.github.payloads.teams import full_team, organization, team

__all__ = [
    "EPOCH",
    "JSON",
    "branch_commit",
    "branch_with_protection",
    "combined_status",
    "commit",
    "commit_status",
    "comparison",
    "diff_entry",
    "error",
    "full_team",
    "git_ref",
    "issue",
    "issue_comment",
    "label",
    "organization",
    "private_user",
    "pull",
    "pull_ref",
    "rate_limit",
    "reactions",
    "repository",
    "short_branch",
    "team",
    "user",
]
