"""GitHub Apps: the app (`GET /app`), its installation on a repository, and installation access
tokens. All three authenticate with the app's JWT (`app.py` verifies it and sets `g.app`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from localworld.github import payloads
from localworld.github.apps import App, Installation, check_permissions, narrow
from localworld.github.errors import BadAppSpecError
from localworld.github.git import BareRepo
from localworld.github.payloads import apps as app_payloads
from localworld.github.state import iso, stable_id
from localworld.github.web import APIError, api_base, body, ctx, json_response, not_found

bp = Blueprint("apps", __name__)

_DOCS = "https://docs.github.com/rest/apps/apps"
NOT_ACCESSIBLE_REPOS = (
    "There is at least one repository that does not exist or is not accessible to the parent "
    "installation."
)
NOT_GRANTED = "The permissions requested are not granted to this installation."


def _app() -> App:
    app: App = g.app
    return app


@bp.get("/app", endpoint="apps/get-authenticated")
def get_app() -> Response:
    app = _app()
    state = ctx().state
    with state.lock:
        count = sum(1 for i in state.apps.installations.values() if i.app_id == app.id)
    return json_response(app_payloads.app(api_base(), app, count))


def _served(full_name: str) -> BareRepo | None:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name or owner.startswith(".") or name.startswith("."):
        return None
    bare = BareRepo(ctx().root / owner / f"{name}.git")
    return bare if bare.exists() else None


@bp.get("/repos/<owner>/<repo>/installation", endpoint="apps/get-repo-installation")
def get_repo_installation(owner: str, repo: str) -> Response:
    app = _app()
    full_name = f"{owner}/{repo}"
    state = ctx().state
    with state.lock:
        installation = state.apps.installation_of(app, full_name)
    if installation is None or _served(full_name) is None:
        raise not_found(f"{_DOCS}#get-a-repository-installation-for-the-authenticated-app")
    return json_response(app_payloads.installation(api_base(), app, installation))


def _covered_repos(installation: Installation) -> dict[int, str]:
    """The served repositories the installation covers, by repository id."""
    owner_dir = ctx().root / installation.account
    found: dict[int, str] = {}
    for path in sorted(owner_dir.glob("*.git")) if owner_dir.is_dir() else []:
        full_name = f"{installation.account}/{path.name.removesuffix('.git')}"
        if installation.covers(full_name):
            found[stable_id("repo", full_name.lower())] = full_name
    return found


def _invalid() -> APIError:
    return APIError(422, "Invalid request.")


def _selected(installation: Installation, data: dict[str, Any]) -> list[str] | None:
    """The repositories a token is narrowed to (`repositories` names, `repository_ids`), or
    None for every repository of the installation."""
    names, ids = data.get("repositories"), data.get("repository_ids")
    if names is None and ids is None:
        return None
    if names is not None and (
        not isinstance(names, list) or not all(isinstance(n, str) for n in names)
    ):
        raise _invalid()
    if ids is not None and (
        not isinstance(ids, list)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise _invalid()
    covered = _covered_repos(installation)
    by_name = {full.split("/", 1)[1].lower(): full for full in covered.values()}
    chosen: list[str] = []
    account = installation.account.lower()
    for name in names or []:
        owner, _, short = name.rpartition("/")
        full = by_name.get(short.lower())
        if full is None or (owner and owner.lower() != account):
            raise APIError(422, NOT_ACCESSIBLE_REPOS)
        chosen.append(full)
    for rid in ids or []:
        if rid not in covered:
            raise APIError(422, NOT_ACCESSIBLE_REPOS)
        chosen.append(covered[rid])
    return list(dict.fromkeys(chosen))


@bp.post(
    "/app/installations/<int:installation_id>/access_tokens",
    endpoint="apps/create-installation-access-token",
)
def create_installation_access_token(installation_id: int) -> Response:
    app = _app()
    state = ctx().state
    with state.lock:
        installation = state.apps.installation(app, installation_id)
    if installation is None:
        raise not_found(f"{_DOCS}#create-an-installation-access-token-for-an-app")
    data = body()
    try:
        wanted = check_permissions(data.get("permissions") or {})
    except BadAppSpecError as exc:
        raise _invalid() from exc
    permissions = narrow(installation.permissions, wanted)
    if permissions is None:
        raise APIError(422, NOT_GRANTED)
    selected = _selected(installation, data)
    repos = tuple(selected) if selected is not None else installation.repos
    token = state.mint_installation_token(installation, repos, permissions)
    repositories = None
    if selected is not None:
        api = api_base()
        repositories = [payloads.repository(api, full, _default_branch(full)) for full in selected]
    selection = "selected" if selected is not None else installation.repository_selection
    expires_at = iso(token.expires_at or 0.0)
    doc = app_payloads.installation_token(
        token.value, expires_at, permissions, selection, repositories
    )
    return json_response(doc, 201)


def _default_branch(full_name: str) -> str:
    bare = _served(full_name)
    return bare.default_branch() if bare is not None else "main"
