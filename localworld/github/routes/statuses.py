"""Commit statuses: create one on a commit, list a ref's statuses, a ref's combined status;
and a ref's check runs (always none here).

A ref is a commit sha, a branch or a tag name (`main`, `heads/main`, `v1`, `tags/v1`).
Listing an unknown ref answers an empty list (the description documents no 404 there);
the combined status of an unknown ref is a 404, as documented.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, g

from localworld.github import payloads
from localworld.github.commit_status import (
    DEFAULT_CONTEXT,
    MAX_DESCRIPTION,
    STATES,
    CommitStatus,
    combined_state,
    latest_per_context,
    newest_first,
)
from localworld.github.web import (
    APIError,
    api_base,
    body,
    json_response,
    open_repo,
    page,
    resolve_ref,
    server_state,
    validation_failed,
)

bp = Blueprint("statuses", __name__)
DOC = "https://docs.github.com/rest/commits/statuses"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def _invalid(field: str, message: str) -> APIError:
    error = validation_failed("Status", "custom", field=field, message=message)
    error.doc = f"{DOC}#create-a-commit-status"
    return error


def _fields(data: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    """state, context, description, target_url of a create request, or GitHub's 422."""
    state = data.get("state")
    if state not in STATES:
        raise _invalid("state", "state is not included in the list")
    context = data.get("context")
    if context is not None and not isinstance(context, str):
        raise _invalid("context", "context is invalid")
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise _invalid("description", "description is invalid")
    if description is not None and len(description) > MAX_DESCRIPTION:
        message = f"description is too long (maximum is {MAX_DESCRIPTION} characters)"
        raise _invalid("description", message)
    target_url = data.get("target_url")
    if target_url is not None and not isinstance(target_url, str):
        raise _invalid("target_url", "target_url must use http(s) scheme")
    if target_url and not target_url.lower().startswith(("http://", "https://")):
        raise _invalid("target_url", "target_url must use http(s) scheme")
    return str(state), context or DEFAULT_CONTEXT, description, target_url or None


@bp.post("/repos/<owner>/<repo>/statuses/<path:sha>", endpoint="repos/create-commit-status")
def create_status(owner: str, repo: str, sha: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    if not _SHA.match(sha) or r.git.object_type(sha) != "commit":
        raise APIError(422, f"No commit found for SHA: {sha}", doc=f"{DOC}#create-a-commit-status")
    state_name, context, description, target_url = _fields(data)
    state = server_state()
    status = CommitStatus(
        id=state.ids.next(),
        sha=sha,
        state=state_name,
        context=context,
        description=description,
        target_url=target_url,
        login=g.login,
        created_at=state.now(),
    )
    with state.lock:
        if not r.state.add_status(status):
            error = validation_failed(
                "Status",
                "custom",
                message="This SHA and context has reached the maximum number of statuses.",
            )
            error.doc = f"{DOC}#create-a-commit-status"
            raise error
    out = payloads.commit_status(api_base(), r.full_name, status)
    return json_response(out, 201, {"Location": out["url"]})


@bp.get(
    "/repos/<owner>/<repo>/commits/<path:ref>/statuses",
    endpoint="repos/list-commit-statuses-for-ref",
)
@bp.get(  # the legacy route, which PyGithub's Commit.get_statuses() calls
    "/repos/<owner>/<repo>/statuses/<path:ref>", endpoint="repos/list-commit-statuses-for-ref"
)
def list_statuses(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    sha = resolve_ref(r, ref)
    with server_state().lock:
        statuses = newest_first(list(r.state.statuses.get(sha or "", [])))
    chunk, headers = page(statuses)
    return json_response(
        [payloads.commit_status(api_base(), r.full_name, s) for s in chunk], 200, headers
    )


@bp.get(
    "/repos/<owner>/<repo>/commits/<path:ref>/status",
    endpoint="repos/get-combined-status-for-ref",
)
def combined_status(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    sha = resolve_ref(r, ref)
    if sha is None:
        doc = f"{DOC}#get-the-combined-status-for-a-specific-reference"
        raise APIError(404, f"No commit found for SHA: {ref}", doc=doc)
    with server_state().lock:
        latest = latest_per_context(list(r.state.statuses.get(sha, [])))
    chunk, headers = page(latest)
    data = payloads.combined_status(
        api_base(),
        r.full_name,
        r.git.default_branch(),
        sha=sha,
        state=combined_state(latest),
        latest=chunk,
        total_count=len(latest),
    )
    return json_response(data, 200, headers)


@bp.get("/repos/<owner>/<repo>/commits/<path:ref>/check-runs", endpoint="checks/list-for-ref")
def list_check_runs(owner: str, repo: str, ref: str) -> Response:
    """The local GitHub has no GitHub Apps, so no check runs: every ref has none (a reader of a
    commit's checks sees its commit statuses only)."""
    open_repo(owner, repo)
    return json_response({"total_count": 0, "check_runs": []})
