"""Review requests on a pull request: users (`reviewers`) and teams of the repository's owner
(`team_reviewers`, by slug), with GitHub's refusals."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response

from localworld.github import payloads
from localworld.github.routes.items import get_pull, pull_json, requested_teams
from localworld.github.web import (
    APIError,
    api_base,
    body,
    json_response,
    open_repo,
    server_state,
)

bp = Blueprint("reviewers", __name__)
REQUESTED = "/repos/<owner>/<repo>/pulls/<int:pull_number>/requested_reviewers"
DOC = "https://docs.github.com/rest/pulls/review-requests"
REQUEST_DOC = f"{DOC}#request-reviewers-for-a-pull-request"
REMOVE_DOC = f"{DOC}#remove-requested-reviewers-from-a-pull-request"


def _names(data: dict[str, Any], key: str, doc: str) -> list[str]:
    """A list of names in the body (GitHub's schema error for anything else)."""
    value = data.get(key, [])
    if not isinstance(value, list):
        raise APIError(
            422,
            f"Invalid request.\n\nFor 'properties/{key}', {json.dumps(value)} is not an array.",
            doc=doc,
        )
    for item in value:
        if not isinstance(item, str):
            raise APIError(
                422,
                f"Invalid request.\n\nFor 'items', {json.dumps(item)} is not a string.",
                doc=doc,
            )
    return value


@bp.post(REQUESTED, endpoint="pulls/request-reviewers")
def request_reviewers(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    data = body()
    reviewers = _names(data, "reviewers", REQUEST_DOC)
    slugs = _names(data, "team_reviewers", REQUEST_DOC)
    state = server_state()
    if pr.login.lower() in {login.lower() for login in reviewers}:
        raise APIError(422, "Review cannot be requested from pull request author.", doc=REQUEST_DOC)
    users = {login.lower() for login in state.users}
    unknown_users = [login for login in reviewers if login.lower() not in users]
    unknown_teams = [slug for slug in slugs if state.team(r.owner, slug) is None]
    if unknown_users or unknown_teams:
        who = "users or teams" if unknown_users else "teams"
        raise APIError(
            422,
            f"Reviews may only be requested from collaborators. One or more of the {who} you "
            f"specified is not a collaborator of the {r.full_name} repository.",
            doc=REQUEST_DOC,
        )
    canonical = [t.slug for t in (state.team(r.owner, slug) for slug in slugs) if t is not None]
    with state.lock:
        r.state.request_reviews(pr, reviewers, canonical)
    return json_response(pull_json(r, pr, detail=False), 201)


@bp.get(REQUESTED, endpoint="pulls/list-requested-reviewers")
def list_reviewers(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    users = [payloads.user(api_base(), login) for login in pr.reviewers]
    teams = [payloads.team(api_base(), t) for t in requested_teams(r, pr)]
    return json_response({"users": users, "teams": teams})


@bp.delete(REQUESTED, endpoint="pulls/remove-requested-reviewers")
def remove_reviewers(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    data = body()
    if "reviewers" not in data:  # the one field the description requires here
        raise APIError(422, 'Invalid request.\n\n"reviewers" wasn\'t supplied.', doc=REMOVE_DOC)
    reviewers = _names(data, "reviewers", REMOVE_DOC)
    slugs = _names(data, "team_reviewers", REMOVE_DOC)
    with server_state().lock:
        r.state.remove_review_requests(pr, reviewers, slugs)
    return json_response(pull_json(r, pr, detail=False))
