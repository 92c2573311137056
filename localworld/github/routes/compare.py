"""Comparing two commits (`base...head`), paginated over the commits as GitHub does."""

from __future__ import annotations

from flask import Blueprint, Response

from localworld.github import payloads
from localworld.github.web import api_base, json_response, not_found, open_repo, page, split_head

bp = Blueprint("compare", __name__)
COMPARE_DOC = "https://docs.github.com/rest/commits/commits#compare-two-commits"


@bp.get("/repos/<owner>/<repo>/compare/<path:basehead>", endpoint="repos/compare-commits")
def compare(owner: str, repo: str, basehead: str) -> Response:
    r = open_repo(owner, repo)
    base_rev, sep, head_rev = basehead.partition("...")
    if not sep:
        raise not_found(COMPARE_DOC)
    base_sha = r.git.resolve(split_head(r, base_rev) or "")
    head_sha = r.git.resolve(split_head(r, head_rev) or "")
    merge_base = r.git.merge_base(base_sha, head_sha) if base_sha and head_sha else None
    if base_sha is None or head_sha is None or merge_base is None:
        raise not_found(COMPARE_DOC)
    ahead = r.git.rev_list(head_sha, merge_base)
    behind = len(r.git.rev_list(base_sha, head_sha))
    status = (
        "identical"
        if not ahead and not behind
        else "ahead"
        if not behind
        else "behind"
        if not ahead
        else "diverged"
    )
    chunk, headers = page(ahead, default_per_page=250, max_per_page=1000)
    files = r.git.diff_files(merge_base, head_sha)[:300]
    infos = r.git.commits([base_sha, merge_base])
    data = payloads.comparison(
        api_base(),
        r.full_name,
        basehead,
        base=infos[0],
        merge_base=infos[1] if len(infos) > 1 else infos[0],
        status=status,
        ahead_by=len(ahead),
        behind_by=behind,
        commits=r.git.commits(chunk),
        total_commits=len(ahead),
        files=[payloads.diff_entry(api_base(), r.full_name, head_sha, f) for f in files],
    )
    return json_response(data, 200, headers)
