"""Review requests on a pull request."""

from __future__ import annotations

from flask import Blueprint, Response

from localworld.github import payloads
from localworld.github.routes.items import get_pull, pull_json
from localworld.github.web import (
    api_base,
    body,
    json_response,
    open_repo,
    server_state,
    validation_failed,
)

bp = Blueprint("reviewers", __name__)
REQUESTED = "/repos/<owner>/<repo>/pulls/<int:pull_number>/requested_reviewers"


@bp.post(REQUESTED, endpoint="pulls/request-reviewers")
def request_reviewers(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    data = body()
    reviewers, teams = data.get("reviewers", []), data.get("team_reviewers", [])
    state = server_state()
    if pr.login in reviewers:
        raise validation_failed(
            "PullRequest", "custom", message="Review cannot be requested from pull request author."
        )
    if teams or any(login not in state.users for login in reviewers):
        raise validation_failed(
            "PullRequest",
            "custom",
            message="Reviews may only be requested from collaborators. One or more of the users "
            f"or teams you specified is not a collaborator of the {r.full_name} repository.",
        )
    with state.lock:
        r.state.request_reviews(pr, reviewers)
    return json_response(pull_json(r, pr, detail=False), 201)


@bp.get(REQUESTED, endpoint="pulls/list-requested-reviewers")
def list_reviewers(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    users = [payloads.user(api_base(), login) for login in pr.reviewers]
    return json_response({"users": users, "teams": []})


@bp.delete(REQUESTED, endpoint="pulls/remove-requested-reviewers")
def remove_reviewers(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    gone = list(body().get("reviewers", []))
    with server_state().lock:
        r.state.remove_review_requests(pr, gone)
    return json_response(pull_json(r, pr, detail=False))
