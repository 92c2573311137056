"""Issues and their comments. A pull request is an issue too (same numbers, seen here with a
`pull_request` key), so these endpoints serve both."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from localworld.github import payloads
from localworld.github.routes.items import change_state, get_issue, issue_json, label_names
from localworld.github.state import CLOSED_REASONS, Comment, Issue, Pull
from localworld.github.web import (
    api_base,
    body,
    json_response,
    open_repo,
    page,
    server_state,
    validation_failed,
)

bp = Blueprint("issues", __name__)


def _refuse_unmodelled(data: dict[str, Any]) -> None:
    """Nothing here has milestones or assignees: naming one is GitHub's 422, not a silent drop."""
    if data.get("milestone") not in (None, ""):
        raise validation_failed("Issue", "invalid", field="milestone")
    named = [a for a in data.get("assignees") or [] if a] + [data.get("assignee") or ""]
    if any(named):
        raise validation_failed(
            "Issue",
            "invalid",
            field="assignees",
            message="localworld.github does not model assignees",
        )


def _title(data: dict[str, Any], *, required: bool) -> str | None:
    title = data.get("title")
    if title is None and not required:
        return None
    if isinstance(title, int) and not isinstance(title, bool):
        title = str(title)
    if not isinstance(title, str) or not title.strip():
        raise validation_failed("Issue", "missing_field", field="title")
    return title


def _issue_text(data: dict[str, Any]) -> str | None:
    text = data.get("body")
    if text is not None and not isinstance(text, str):
        raise validation_failed("Issue", "invalid", field="body")
    return text


@bp.get("/repos/<owner>/<repo>/issues", endpoint="issues/list-for-repo")
def list_issues(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    args = request.args
    state = args.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed("Issue", "invalid", field="state")
    with server_state().lock:
        items: list[Issue | Pull] = [*r.state.issues.values(), *r.state.pulls.values()]
    if state != "all":
        items = [i for i in items if i.state == state]
    if args.get("labels"):
        wanted = {n.strip().lower() for n in args["labels"].split(",") if n.strip()}
        items = [i for i in items if wanted <= {n.lower() for n in i.labels}]
    if args.get("creator"):
        items = [i for i in items if i.login.lower() == args["creator"].lower()]
    if args.get("mentioned"):
        at = f"@{args['mentioned'].lower()}"
        items = [
            i
            for i in items
            if at in (i.body or "").lower() or any(at in c.body.lower() for c in i.comments)
        ]
    if args.get("since"):
        items = [i for i in items if i.updated_at >= args["since"]]
    # Nobody is assigned, nothing has a milestone or a type: only "none" matches anything.
    for unmodelled in ("assignee", "milestone", "type"):
        if args.get(unmodelled) not in (None, "none"):
            items = []
    sort = args.get("sort", "created")

    def key(i: Issue | Pull) -> tuple[object, int]:
        if sort == "comments":
            return (len(i.comments), i.number)
        return (i.updated_at if sort == "updated" else i.created_at, i.number)

    items.sort(key=key, reverse=args.get("direction", "desc") == "desc")
    chunk, headers = page(items)
    return json_response([issue_json(r, i) for i in chunk], 200, headers)


@bp.post("/repos/<owner>/<repo>/issues", endpoint="issues/create")
def create_issue(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    title = str(_title(data, required=True))
    text = _issue_text(data)
    _refuse_unmodelled(data)
    names = label_names({"labels": data.get("labels") or []})
    state = server_state()
    with state.lock:
        stamp = server_state().now()
        item = Issue(
            number=r.state.take_number(),
            id=state.ids.next(),
            title=title,
            body=text,
            login=g.login,
            created_at=stamp,
            updated_at=stamp,
        )
        r.state.apply_labels(item, names, state.ids, replace=False)
        r.state.add(item)
    out = issue_json(r, item)
    return json_response(out, 201, {"Location": out["url"]})


@bp.get("/repos/<owner>/<repo>/issues/<int:issue_number>", endpoint="issues/get")
def get_issue_view(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    return json_response(issue_json(r, get_issue(r, issue_number)))


@bp.patch("/repos/<owner>/<repo>/issues/<int:issue_number>", endpoint="issues/update")
def update_issue(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    data = body()
    item = get_issue(r, issue_number)
    title = _title(data, required=False)
    text = _issue_text(data)
    _refuse_unmodelled(data)
    names = label_names({"labels": data["labels"]}) if data.get("labels") is not None else None
    new_state = data.get("state")
    if new_state is not None and new_state not in ("open", "closed"):
        raise validation_failed("Issue", "invalid", field="state")
    reason = data.get("state_reason")
    if reason is not None and reason not in (*CLOSED_REASONS, "reopened"):
        raise validation_failed("Issue", "invalid", field="state_reason")
    state = server_state()
    with state.lock:
        if new_state is not None:
            change_state(r, item, new_state, reason)
        if title is not None:
            item.title = title
        if "body" in data:
            item.body = text
        if names is not None:
            r.state.apply_labels(item, names, state.ids, replace=True)
        item.updated_at = server_state().now()
    return json_response(issue_json(r, item))


@bp.get("/repos/<owner>/<repo>/issues/<int:issue_number>/comments", endpoint="issues/list-comments")
def list_comments(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    item = get_issue(r, issue_number)
    on_pull = isinstance(item, Pull)
    items = [
        payloads.issue_comment(api_base(), r.full_name, item.number, c, on_pull=on_pull)
        for c in item.comments
    ]
    chunk, headers = page(items)
    return json_response(chunk, 200, headers)


@bp.post(
    "/repos/<owner>/<repo>/issues/<int:issue_number>/comments", endpoint="issues/create-comment"
)
def create_comment(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    item = get_issue(r, issue_number)
    text = body().get("body")
    if not isinstance(text, str) or not text:
        raise validation_failed("IssueComment", "missing_field", field="body")
    state = server_state()
    stamp = server_state().now()
    comment = Comment(state.ids.next(), text, g.login, stamp, stamp)
    with state.lock:
        r.state.add_comment(item, comment)
    data = payloads.issue_comment(
        api_base(), r.full_name, item.number, comment, on_pull=isinstance(item, Pull)
    )
    return json_response(data, 201, {"Location": data["url"]})
