"""The authenticated user, the rate limit and the repository itself."""

from __future__ import annotations

from flask import Blueprint, Response, g

from localworld.github import payloads
from localworld.github.web import api_base, json_response, open_repo, server_state

bp = Blueprint("meta", __name__)


@bp.get("/user", endpoint="users/get-authenticated")
def get_user() -> Response:
    return json_response(payloads.private_user(api_base(), g.login))


@bp.get("/rate_limit", endpoint="rate-limit/get")
def rate_limit() -> Response:
    window = server_state().rate(g.login)
    core = {
        "limit": window.limit,
        "used": window.used,
        "remaining": window.remaining,
        "reset": window.reset,
    }
    return json_response(payloads.rate_limit(core))


@bp.get("/repos/<owner>/<repo>", endpoint="repos/get")
def get_repo(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    return json_response(
        payloads.repository(api_base(), r.full_name, r.git.default_branch(), full=True)
    )
