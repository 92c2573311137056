"""Branches and Git references (`git/*` refs are real refs of the bare repository)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from localworld.github import payloads
from localworld.github.git import ZERO_OID
from localworld.github.web import (
    APIError,
    Repo,
    api_base,
    body,
    json_response,
    not_found,
    open_repo,
    page,
    validation_failed,
)

bp = Blueprint("refs", __name__)


@bp.get("/repos/<owner>/<repo>/branches", endpoint="repos/list-branches")
def list_branches(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    items = [payloads.short_branch(api_base(), r.full_name, n, s) for n, s in r.git.branches()]
    chunk, headers = page(items)
    return json_response(chunk, 200, headers)


@bp.get("/repos/<owner>/<repo>/branches/<path:branch>", endpoint="repos/get-branch")
def get_branch(owner: str, repo: str, branch: str) -> Response:
    r = open_repo(owner, repo)
    sha = r.git.ref_sha(f"refs/heads/{branch}")
    if sha is None:
        raise APIError(
            404,
            "Branch not found",
            doc="https://docs.github.com/rest/branches/branches#get-a-branch",
        )
    info = r.git.commit(sha)
    return json_response(payloads.branch_with_protection(api_base(), r.full_name, branch, info))


def ref_json(r: Repo, refname: str, sha: str, obj_type: str) -> dict[str, Any]:
    return payloads.git_ref(api_base(), r.full_name, refname, sha, obj_type)


@bp.get("/repos/<owner>/<repo>/git/ref/<path:ref>", endpoint="git/get-ref")
def get_ref(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    refname = f"refs/{ref}"
    for name, sha, obj_type in r.git.refs(refname):
        if name == refname:
            return json_response(ref_json(r, name, sha, obj_type))
    raise not_found("https://docs.github.com/rest/git/refs#get-a-reference")


@bp.get("/repos/<owner>/<repo>/git/matching-refs/<path:ref>", endpoint="git/list-matching-refs")
def matching_refs(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    prefix = f"refs/{ref}"
    rows = [ref_json(r, n, s, t) for n, s, t in r.git.refs("refs/") if n.startswith(prefix)]
    return json_response(rows)


@bp.post("/repos/<owner>/<repo>/git/refs", endpoint="git/create-ref")
def create_ref(owner: str, repo: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    refname, sha = data.get("ref"), data.get("sha")
    if not isinstance(refname, str) or not isinstance(sha, str):
        raise validation_failed("Reference", "missing_field", field="ref" if not refname else "sha")
    if refname.count("/") < 2 or not r.git.valid_refname(refname):
        raise APIError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    obj_type = r.git.object_type(sha)
    if obj_type is None or len(sha) != 40:
        raise APIError(422, "Object does not exist")
    if not r.git.update_ref(refname, sha, ZERO_OID):
        raise APIError(422, "Reference already exists")
    return json_response(
        ref_json(r, refname, sha, obj_type),
        201,
        {"Location": f"{api_base()}/repos/{r.full_name}/git/{refname}"},
    )


@bp.patch("/repos/<owner>/<repo>/git/refs/<path:ref>", endpoint="git/update-ref")
def update_ref(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    data = body()
    sha, force = data.get("sha"), bool(data.get("force", False))
    refname = f"refs/{ref}"
    if not isinstance(sha, str):
        raise validation_failed("Reference", "missing_field", field="sha")
    old = r.git.ref_sha(refname)
    if old is None:
        raise APIError(422, "Reference does not exist")
    obj_type = r.git.object_type(sha)
    if obj_type is None or len(sha) != 40:
        raise APIError(422, "Object does not exist")
    if not force and not r.git.is_ancestor(old, sha):
        raise APIError(422, "Update is not a fast forward")
    if not r.git.update_ref(refname, sha, old):
        raise APIError(422, "Reference cannot be updated")
    return json_response(ref_json(r, refname, sha, obj_type))


@bp.delete("/repos/<owner>/<repo>/git/refs/<path:ref>", endpoint="git/delete-ref")
def delete_ref(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    refname = f"refs/{ref}"
    old = r.git.ref_sha(refname)
    if old is None or not r.git.delete_ref(refname, old):
        raise APIError(422, "Reference does not exist")
    return Response(status=204)
