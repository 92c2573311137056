"""`/_localworld/*`: the test-side controls, outside GitHub's namespace (never logged).

GET    /health                      -> {"ok": true}
GET    /requests?since=N&bodies=1   -> {"requests": [...], "last": N}
DELETE /requests                    -> forget the log (sequence numbers keep growing)
GET    /faults                      -> pending faults
POST   /faults   {kind, ...}        -> 201 the fault (see state.Fault for the fields)
DELETE /faults                      -> remove every pending fault
POST   /tokens   {token, login, repos: [...]}  -> 201
POST   /users    {login}            -> 201 (a collaborator that can be requested as reviewer)
POST   /teams    {org, slug, members: [login, ...]}  -> 201 the team (members replaced if it
                                       exists; members become collaborators)
POST   /apps     {app_id, slug, public_key (PEM), repos: [owner/name|owner/*, ...],
                  permissions?: {name: read|write}, installation_id?}
                                    -> 201 {app_id, slug, client_id, installation_id}: a GitHub
                                       App and its installation on those repositories
GET    /clock                       -> {"offset_seconds": S, "now": "...Z"}
POST   /clock    {offset_seconds}   -> 200: every timestamp the server writes from now on is
                                       real time + S seconds (a test seam; S may be negative)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, request

from localworld.adminroutes import add_log_and_fault_routes
from localworld.github.apps import check_app
from localworld.github.errors import BadAppSpecError, BadTeamSpecError
from localworld.github.state import FAULT_KINDS, Fault, Token
from localworld.github.teams import check_team_fields
from localworld.github.web import APIError, json_response, server_state

admin = Blueprint("localworld_admin", __name__)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise APIError(400, "expected a JSON object")
    return data


add_log_and_fault_routes(admin, server_state, json_response)


@admin.delete("/requests")
def clear_requests() -> Response:
    state = server_state()
    with state.lock:
        state.log.clear()
    return Response(status=204)


@admin.post("/faults")
def add_fault() -> Response:
    data = _body()
    names = {f.name for f in dataclasses.fields(Fault)} - {"id"}
    unknown = set(data) - names
    if unknown or data.get("kind") not in FAULT_KINDS:
        raise APIError(
            422, f"bad fault: kind must be one of {sorted(FAULT_KINDS)}; unknown keys {unknown}"
        )
    state = server_state()
    fault = Fault(**data, id=state.ids.next())
    with state.lock:
        state.faults.append(fault)
    return json_response(dataclasses.asdict(fault), 201)


@admin.post("/tokens")
def add_token() -> Response:
    data = _body()
    repos = data.get("repos")
    if not isinstance(data.get("token"), str) or not isinstance(repos, list) or not repos:
        raise APIError(422, "expected {token: str, login: str, repos: [owner/name, ...]}")
    token = Token(str(data["token"]), str(data.get("login") or "localworld-bot"), tuple(repos))
    server_state().add_token(token)
    return json_response({"token": token.value, "login": token.login, "repos": repos}, 201)


@admin.post("/users")
def add_user() -> Response:
    login = _body().get("login")
    if not isinstance(login, str) or not login:
        raise APIError(422, "expected {login: str}")
    state = server_state()
    with state.lock:
        state.users.add(login)
    return json_response({"login": login}, 201)


@admin.get("/clock")
def get_clock() -> Response:
    state = server_state()
    return json_response({"offset_seconds": state.clock.offset, "now": state.now()})


@admin.post("/clock")
def set_clock() -> Response:
    offset = _body().get("offset_seconds")
    if isinstance(offset, bool) or not isinstance(offset, int | float):
        raise APIError(422, "expected {offset_seconds: number}")
    state = server_state()
    with state.lock:
        state.clock.offset = float(offset)
    return json_response({"offset_seconds": state.clock.offset, "now": state.now()})


@admin.post("/teams")
def add_team() -> Response:
    data = _body()
    try:
        org, slug, members = check_team_fields(
            data.get("org"), data.get("slug"), data.get("members")
        )
    except BadTeamSpecError as exc:
        raise APIError(422, str(exc)) from exc
    team = server_state().seed_team(org, slug, members)
    return json_response(
        {"org": team.org, "slug": team.slug, "id": team.id, "members": list(team.members)}, 201
    )


@admin.post("/apps")
def add_app() -> Response:
    data = _body()
    installation_id = data.get("installation_id", 0)
    if isinstance(installation_id, bool) or not isinstance(installation_id, int):
        raise APIError(422, "installation_id must be an integer")
    try:
        app, repos = check_app(
            data.get("app_id"),
            data.get("slug"),
            data.get("public_key"),
            data.get("repos"),
            data.get("permissions"),
        )
    except BadAppSpecError as exc:
        raise APIError(422, str(exc)) from exc
    installation = server_state().register_app(app, repos, installation_id)
    return json_response(
        {
            "app_id": app.id,
            "slug": app.slug,
            "client_id": app.client_id,
            "installation_id": installation.id,
        },
        201,
    )
