"""Pull request reviews: list them, and submit one as the token's user.

As on GitHub, a submitted review answers the review request: the reviewer drops out of the
requested reviewers, and so does every requested team the reviewer is a member of. Only
submitted reviews (an `event`) are modelled; GitHub's pending drafts are not.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from localworld.github import payloads
from localworld.github.review import Review
from localworld.github.routes.items import get_pull
from localworld.github.web import (
    APIError,
    api_base,
    body,
    json_response,
    open_repo,
    page,
    server_state,
)

bp = Blueprint("reviews", __name__)
REVIEWS = "/repos/<owner>/<repo>/pulls/<int:pull_number>/reviews"
DOC = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


def review_json(api: str, full_name: str, number: int, review: Review) -> dict[str, Any]:
    html = f"{api}/{full_name}/pull/{number}#pullrequestreview-{review.id}"
    pull_url = f"{api}/repos/{full_name}/pulls/{number}"
    return {
        "id": review.id,
        "node_id": f"PRR_{review.id}",
        "user": payloads.user(api, review.login),
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": pull_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "submitted_at": review.submitted_at,
        "commit_id": review.commit_id,
        "author_association": "COLLABORATOR",
    }


@bp.get(REVIEWS, endpoint="pulls/list-reviews")
def list_reviews(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    items = [review_json(api_base(), r.full_name, pr.number, x) for x in pr.reviews]
    chunk, headers = page(items)
    return json_response(chunk, 200, headers)


@bp.post(REVIEWS, endpoint="pulls/create-review")
def create_review(owner: str, repo: str, pull_number: int) -> Response:
    r = open_repo(owner, repo)
    pr = get_pull(r, pull_number)
    data = body()
    event, text = data.get("event"), data.get("body", "")
    if event not in EVENTS or not isinstance(text, str):
        raise APIError(422, "Unprocessable Entity: give an event APPROVE, REQUEST_CHANGES or "
                       "COMMENT (pending reviews are not modelled)", doc=DOC)  # fmt: skip
    if event != "APPROVE" and not text:
        raise APIError(422, "Unprocessable Entity: a body is required for this event", doc=DOC)
    if pr.login.lower() == g.login.lower() and event != "COMMENT":
        verb = "approve" if event == "APPROVE" else "request changes on"
        raise APIError(422, f"Unprocessable Entity: Can not {verb} your own pull request", doc=DOC)
    state = server_state()
    review = Review(state.ids.next(), g.login, EVENTS[event], text, pr.head_sha, state.now())
    member_of = [
        slug
        for slug in pr.team_reviewers
        if (team := state.team(r.owner, slug)) is not None
        and g.login.lower() in {m.lower() for m in team.members}
    ]
    with state.lock:
        pr.reviews.append(review)
        r.state.remove_review_requests(pr, [g.login], member_of)
    return json_response(review_json(api_base(), r.full_name, pr.number, review))
