"""Commit statuses and commit ranges (the `git` specification)."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, g, request

from localworld.azure_repos import payloads
from localworld.azure_repos.state import (
    Status,
    now_iso,
)
from localworld.azure_repos.web import (
    REPO,
    APIError,
    Repo,
    base,
    body_json,
    envelope,
    json_response,
    not_found,
    open_repo,
    route,
    state,
)

STATUS_STATES = {"notSet", "pending", "succeeded", "failed", "error", "notApplicable"}


# ---------------------------------------------------------------------------- commits


def _commit_or_404(r: Repo, sha: str) -> str:
    resolved = r.git.resolve(sha) if re.fullmatch(r"[0-9a-f]{40}", sha) else None
    if resolved != sha:
        raise not_found(f"The commit {sha}")
    return sha


@route("git", "POST", f"{REPO}/commits/<sha>/statuses", "Statuses_Create")
def create_status(org: str, project: str, repo: str, sha: str) -> Response:
    r = open_repo(org, project, repo)
    data = body_json()
    _commit_or_404(r, sha)
    context = data.get("context") or {}
    name, state_value = context.get("name"), data.get("state")
    if not isinstance(name, str) or not name:
        raise APIError(400, "The status context name is required.", "InvalidArgumentValueException")
    if state_value not in STATUS_STATES:
        raise APIError(
            400, f"Invalid status state {state_value!r}.", "InvalidArgumentValueException"
        )
    target_url = data.get("targetUrl") or None
    if target_url is not None and not re.match(r"https?://", str(target_url)):
        raise APIError(400, "targetUrl must be an http(s) URL.", "InvalidArgumentValueException")
    st = state()
    with st.lock:
        status = Status(
            id=st.take_id("status"),
            state=state_value,
            description=str(data.get("description") or ""),
            context_name=name,
            context_genre=context.get("genre") or None,
            target_url=target_url,
            created_by=g.identity,
            creation_date=now_iso(),
        )
        st.statuses.setdefault((r.key, sha), []).append(status)
    return json_response(payloads.status(base(org), status))


@route("git", "GET", f"{REPO}/commits/<sha>/statuses", "Statuses_List")
def list_statuses(org: str, project: str, repo: str, sha: str) -> Response:
    r = open_repo(org, project, repo)
    _commit_or_404(r, sha)
    latest_only = request.args.get("latestOnly", "false").lower() == "true"
    skip, top = int(request.args.get("skip", 0)), int(request.args.get("top", 1000))
    with state().lock:
        found = list(reversed(state().statuses.get((r.key, sha), [])))  # newest first
    if latest_only:
        latest: dict[tuple[str | None, str], Status] = {}
        for s in found:
            latest.setdefault((s.context_genre, s.context_name), s)
        found = list(latest.values())
    return envelope([payloads.status(base(org), s) for s in found[skip : skip + top]])


def _version(r: Repo, value: Any) -> str:
    if not isinstance(value, dict):
        raise APIError(400, "A version descriptor is required.", "InvalidArgumentValueException")
    kind, version = value.get("versionType", "branch"), str(value.get("version") or "")
    ref = {"branch": f"refs/heads/{version}", "tag": f"refs/tags/{version}"}.get(kind)
    sha = r.git.ref_sha(ref) if ref else r.git.resolve(version)
    if kind == "commit" and sha != version:
        sha = None
    if sha is None:
        raise APIError(
            404,
            f"TF401175: The version descriptor <{kind}: {version}> could not be "
            f"resolved to a version on the repository {r.name}",
            "GitUnresolvableToCommitException",
        )
    return r.git.resolve(sha) or sha


@route("git", "POST", f"{REPO}/commitsbatch", "Commits_Get Commits Batch")
def commits_batch(org: str, project: str, repo: str) -> Response:
    """`itemVersion` and `compareVersion`: the commits of the first not in the second, newest
    first (`showOldestCommitsFirst` reverses)."""
    r = open_repo(org, project, repo)
    data = body_json()
    item = _version(r, data.get("itemVersion"))
    compare = _version(r, data["compareVersion"]) if data.get("compareVersion") else None
    shas = list(reversed(r.git.rev_list(item, compare)))
    if data.get("showOldestCommitsFirst"):
        shas.reverse()
    skip, top = int(request.args.get("$skip", 0)), int(request.args.get("$top", 100))
    infos = r.git.commits(shas[skip : skip + top])
    return envelope(
        [
            payloads.git_commit(
                r.url,
                c.sha,
                c.message,
                {"name": c.author.name, "email": c.author.email, "date": c.author.date},
            )
            for c in infos
        ]
    )
