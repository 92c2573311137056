"""Shared request helpers of the local Azure Repos: errors, envelopes, the route registry.

`route` records each view under `<spec>:<operationId>` in `ROUTES`; `app.create_app` attaches
every recorded view (the route modules register on import).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Response, g, request

from localworld.azure_repos import payloads
from localworld.azure_repos.state import ServerState
from localworld.github.git import BareRepo

REPO = "/<org>/<project>/_apis/git/repositories/<repo>"
# operation -> (spec, method, Flask rule, api-version it declares)
ROUTES: dict[str, tuple[str, str, str, str]] = {}


class APIError(Exception):
    def __init__(self, status: int, message: str, type_key: str) -> None:
        super().__init__(message)
        self.status, self.message, self.type_key = status, message, type_key


def not_found(what: str) -> APIError:
    return APIError(
        404,
        f"TF401019: {what} does not exist or you do not have permissions.",
        "GitItemNotFoundException",
    )


def envelope(items: list[Any]) -> Response:
    return json_response({"count": len(items), "value": items})


def json_response(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def body_json() -> Any:
    data = request.get_json(silent=True, force=True)
    if data is None:
        raise APIError(
            400, "Value cannot be null.\r\nParameter name: body", "ArgumentNullException"
        )
    return data


def state() -> ServerState:
    return g.state  # type: ignore[no-any-return]


def base(org: str) -> str:
    return f"{request.host_url.rstrip('/')}/{org}"


class Repo:
    def __init__(self, root: Path, org: str, project: str, name: str) -> None:
        self.org, self.project, self.name = org, project, name
        self.key = (org.lower(), project.lower(), name.lower())
        self.git = BareRepo(Path(g.root) / org / project / f"{name}.git")

    @property
    def url(self) -> str:
        return str(payloads.repository(base(self.org), self.org, self.project, self.name)["url"])


def open_repo(org: str, project: str, repo: str) -> Repo:
    found = Repo(g.root, org, project, repo)
    if not found.git.exists():
        raise not_found(f"The Git repository with name or identifier {repo}")
    return found


def route(
    spec: str, method: str, rule: str, operation: str, version: str = "7.1"
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    def register(fn: Callable[..., Response]) -> Callable[..., Response]:
        endpoint = f"{spec}:{operation}"
        ROUTES[endpoint] = (spec, method, rule, version)
        _VIEWS[endpoint] = fn
        return fn

    return register


_VIEWS: dict[str, Callable[..., Response]] = {}
