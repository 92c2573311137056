"""Comment threads of pull requests (the `git` specification)."""

from __future__ import annotations

from typing import Any

from flask import Response, g

from localworld.azure_repos import payloads
from localworld.azure_repos.routes_pulls import _pr
from localworld.azure_repos.state import Thread, ThreadComment, now_iso
from localworld.azure_repos.web import (
    REPO,
    APIError,
    base,
    body_json,
    envelope,
    json_response,
    open_repo,
    route,
    state,
)

# ---------------------------------------------------------------------------- threads


@route("git", "POST", f"{REPO}/pullRequests/<int:number>/threads", "Pull Request Threads_Create")
def create_thread(org: str, project: str, repo: str, number: int) -> Response:
    r = open_repo(org, project, repo)
    data = body_json()
    comments = data.get("comments")
    if not isinstance(comments, list) or not comments:
        raise APIError(400, "A thread needs at least one comment.", "InvalidArgumentValueException")
    st = state()
    with st.lock:
        pr = _pr(r, number)
        stamp = now_iso()
        thread = Thread(
            id=st.take_id("thread"),
            status=str(data.get("status") or "active"),
            comments=[
                ThreadComment(
                    i + 1,
                    str(c.get("content") or ""),
                    g.identity,
                    stamp,
                    _comment_type(c.get("commentType")),
                )
                for i, c in enumerate(comments)
            ],
            published=stamp,
        )
        pr.threads.append(thread)
    return json_response(payloads.thread(base(org), thread))


def _comment_type(value: Any) -> str:
    """`commentType` by name or by the enum's number, as Azure DevOps accepts both."""
    names = ["unknown", "text", "codeChange", "system"]
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    return value if value in names else "text"


@route("git", "GET", f"{REPO}/pullRequests/<int:number>/threads", "Pull Request Threads_List")
def list_threads(org: str, project: str, repo: str, number: int) -> Response:
    r = open_repo(org, project, repo)
    return envelope([payloads.thread(base(org), t) for t in _pr(r, number).threads])
