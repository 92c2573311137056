"""What every view shares: GitHub's JSON error answer, the JSON response, request body and
pagination helpers, and opening a served repository. No view, hook or app lives here, so the
blueprints, the admin side and the app factory all import this module and nothing imports back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, request

from localworld.github import payloads
from localworld.github.git import BareRepo
from localworld.github.state import RepoState, ServerState

EXTENSION = "localworld_github"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_SHORT_SHA = re.compile(r"^[0-9a-f]{7,39}$")
_REF = re.compile(r"^[A-Za-z0-9._/-]+$")  # names only: no `~`, `^`, `:` or `@{` revision syntax


class APIError(Exception):
    """An answer GitHub gives as a JSON error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        doc: str = "https://docs.github.com/rest",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.doc = doc

    def to_dict(self) -> dict[str, Any]:
        return payloads.error(self.message, self.doc, self.status, self.errors)


def validation_failed(
    resource: str, code: str, *, field: str | None = None, message: str | None = None
) -> APIError:
    err: dict[str, Any] = {"resource": resource, "code": code}
    if field is not None:
        err["field"] = field
    if message is not None:
        err["message"] = message
    return APIError(422, "Validation Failed", errors=[err])


def not_found(doc: str) -> APIError:
    return APIError(404, "Not Found", doc=doc)


@dataclass
class Context:
    root: Path
    state: ServerState


def init_app(app: Flask, root: Path, state: ServerState) -> None:
    app.extensions[EXTENSION] = Context(root, state)


def ctx(app: Flask | None = None) -> Context:
    context: Context = (app or current_app).extensions[EXTENSION]
    return context


def server_state() -> ServerState:
    return ctx().state


def operation_id(endpoint: str | None) -> str | None:
    """GitHub's `operationId` of a Flask endpoint `<blueprint>.<operationId>` (None otherwise).

    Blueprint names cannot contain dots and operationIds never do, so the first dot splits them.
    """
    if not endpoint or "." not in endpoint:
        return None
    return endpoint.split(".", 1)[1]


def json_response(
    data: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    resp = Response(body, status=status, content_type="application/json; charset=utf-8")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def api_base() -> str:
    return request.host_url.rstrip("/")


def body() -> dict[str, Any]:
    """The request's JSON object ({} when empty); GitHub's 400 for anything else."""
    data = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(data, dict):
        raise APIError(400, "Problems parsing JSON")
    return data


def raw_body(default: object) -> object:
    """The request's JSON value of any type (`default` when empty); 400 when not JSON."""
    data = request.get_json(silent=True) if request.get_data() else default
    if data is None:
        raise APIError(400, "Problems parsing JSON")
    return data


def page(
    items: list[Any], default_per_page: int = 30, max_per_page: int = 100
) -> tuple[list[Any], dict[str, str]]:
    """One page of `items` and GitHub's `Link` header (next/last/first/prev)."""
    per_page = min(
        max(request.args.get("per_page", default_per_page, type=int) or 1, 1), max_per_page
    )
    number = max(request.args.get("page", 1, type=int) or 1, 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(number - 1) * per_page : number * per_page]

    def url(n: int) -> str:
        args = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
        args |= {"per_page": str(per_page), "page": str(n)}
        return f"{request.base_url}?{urlencode(args)}"

    links = []
    if number < last:
        links += [f'<{url(number + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if number > 1:
        links += [f'<{url(number - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
    return chunk, ({"Link": ", ".join(links)} if links else {})


@dataclass
class Repo:
    """A served repository: its bare Git repository and what the server keeps besides Git."""

    full_name: str
    git: BareRepo
    state: RepoState

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]


def open_repo(owner: str, name: str) -> Repo:
    """The repository if it exists on disk and the token may see it; else GitHub's 404."""
    context = ctx()
    full_name = f"{owner}/{name}"
    bare = BareRepo(context.root / owner / f"{name}.git")
    if "/" in name or owner.startswith(".") or not g.token.may_see(full_name) or not bare.exists():
        raise not_found("https://docs.github.com/rest/repos/repos#get-a-repository")
    return Repo(full_name, bare, context.state.repo(full_name))


def resolve_ref(r: Repo, ref: str) -> str | None:
    """The commit sha a ref names: a sha (or an unambiguous prefix), a branch or a tag name
    (`main`, `heads/main`, `v1`, `tags/v1`); None when it names nothing."""
    if _SHA.match(ref):
        return ref if r.git.object_type(ref) == "commit" else None
    if not _REF.match(ref) or ".." in ref:
        return None
    if ref.startswith(("heads/", "tags/")):
        candidates = [f"refs/{ref}"]
    else:
        candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    for refname in candidates:
        if r.git.ref_sha(refname) is not None:
            return r.git.resolve(refname)
    return r.git.resolve(ref) if _SHORT_SHA.match(ref) else None


def split_head(repo: Repo, head: str) -> str | None:
    """`owner:branch` or `branch` → branch, when the owner is this repository's owner."""
    owner, sep, branch = head.rpartition(":")
    if sep and owner.lower() != repo.owner.lower():
        return None
    return branch
