"""Labels: a repository's labels, and the labels on an issue or pull request."""

from __future__ import annotations

from flask import Blueprint, Response

from localworld.github import payloads
from localworld.github.routes.items import get_issue, label_names, labels_json
from localworld.github.web import (
    APIError,
    api_base,
    body,
    json_response,
    not_found,
    open_repo,
    page,
    raw_body,
    server_state,
    validation_failed,
)

bp = Blueprint("labels", __name__)
ISSUE_LABELS = "/repos/<owner>/<repo>/issues/<int:issue_number>/labels"


@bp.get(ISSUE_LABELS, endpoint="issues/list-labels-on-issue")
def list_issue_labels(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    chunk, headers = page(labels_json(r, get_issue(r, issue_number)))
    return json_response(chunk, 200, headers)


@bp.post(ISSUE_LABELS, endpoint="issues/add-labels")
def add_labels(owner: str, repo: str, issue_number: int) -> Response:
    return _apply_labels(owner, repo, issue_number, replace=False)


@bp.put(ISSUE_LABELS, endpoint="issues/set-labels")
def set_labels(owner: str, repo: str, issue_number: int) -> Response:
    return _apply_labels(owner, repo, issue_number, replace=True)


def _apply_labels(owner: str, repo: str, issue_number: int, *, replace: bool) -> Response:
    r = open_repo(owner, repo)
    item = get_issue(r, issue_number)
    names = label_names(raw_body([]))
    if not names and not replace:
        # The description: add-labels' `labels` has minItems 1 (set-labels' text allows an empty
        # array, "to remove all labels"). The wording of this refusal is ours.
        raise APIError(
            422,
            "Invalid request.\n\nFor 'properties/labels', [] has fewer than the minimum of 1 item.",
            doc="https://docs.github.com/rest/issues/labels#add-labels-to-an-issue",
        )
    state = server_state()
    with state.lock:
        r.state.apply_labels(item, names, state.ids, replace=replace)
        item.updated_at = server_state().now()
    return json_response(labels_json(r, item))


@bp.delete(f"{ISSUE_LABELS}/<path:name>", endpoint="issues/remove-label")
def remove_label(owner: str, repo: str, issue_number: int, name: str) -> Response:
    r = open_repo(owner, repo)
    item = get_issue(r, issue_number)
    with server_state().lock:
        if not r.state.remove_label(item, name):
            raise APIError(
                404,
                "Label does not exist",
                doc="https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue",
            )
    return json_response(labels_json(r, item))


@bp.delete(ISSUE_LABELS, endpoint="issues/remove-all-labels")
def remove_all_labels(owner: str, repo: str, issue_number: int) -> Response:
    r = open_repo(owner, repo)
    item = get_issue(r, issue_number)
    state = server_state()
    with state.lock:
        r.state.apply_labels(item, [], state.ids, replace=True)
    return Response(status=204)


@bp.get("/repos/<owner>/<repo>/labels", endpoint="issues/list-labels-for-repo")
def list_repo_labels(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    with server_state().lock:
        labels = sorted(r.state.labels.values(), key=lambda lab: lab.name.lower())
    chunk, headers = page([payloads.label(api_base(), r.full_name, lab) for lab in labels])
    return json_response(chunk, 200, headers)


@bp.get("/repos/<owner>/<repo>/labels/<path:name>", endpoint="issues/get-label")
def get_label(owner: str, repo: str, name: str) -> Response:
    r = open_repo(owner, repo)
    lab = r.state.labels.get(name.lower())
    if lab is None:
        raise not_found("https://docs.github.com/rest/issues/labels#get-a-label")
    return json_response(payloads.label(api_base(), r.full_name, lab))


@bp.post("/repos/<owner>/<repo>/labels", endpoint="issues/create-label")
def create_label(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise validation_failed("Label", "missing_field", field="name")
    state = server_state()
    with state.lock:
        if name.lower() in r.state.labels:
            raise validation_failed("Label", "already_exists", field="name")
        lab = r.state.label(name, state.ids)
        lab.color = str(data.get("color") or "ededed").lstrip("#")
        lab.description = data.get("description")
    out = payloads.label(api_base(), r.full_name, lab)
    return json_response(out, 201, {"Location": out["url"]})
