"""One commit, with its stats and files against its first parent (PyGithub's lazy
`repo.get_commit(sha)` fetches it as soon as anything but the URL is read)."""

from __future__ import annotations

from flask import Blueprint, Response

from localworld.github import payloads
from localworld.github.web import api_base, json_response, not_found, open_repo, page, resolve_ref

bp = Blueprint("commits", __name__)
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree


@bp.get("/repos/<owner>/<repo>/commits/<path:ref>", endpoint="repos/get-commit")
def get_commit(owner: str, repo: str, ref: str) -> Response:
    r = open_repo(owner, repo)
    sha = resolve_ref(r, ref)
    if sha is None:
        raise not_found("https://docs.github.com/rest/commits/commits#get-a-commit")
    info = r.git.commit(sha)
    parent = info.parents[0] if info.parents else EMPTY_TREE
    changes = r.git.diff_files(parent, sha)
    chunk, headers = page(changes, default_per_page=300, max_per_page=300)
    data = payloads.commit(api_base(), r.full_name, info)
    additions = sum(c.additions for c in changes)
    deletions = sum(c.deletions for c in changes)
    data["stats"] = {"additions": additions, "deletions": deletions, "total": additions + deletions}
    data["files"] = [payloads.diff_entry(api_base(), r.full_name, sha, c) for c in chunk]
    return json_response(data, 200, headers)
