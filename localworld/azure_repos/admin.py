"""`/_localworld/*`: the test-side controls, outside Azure DevOps' namespace (never logged).

GET    /health                      -> {"ok": true}
GET    /requests?since=N&bodies=1   -> {"requests": [...], "last": N}
GET    /faults, POST /faults {kind, method?, path?, times?, status?, retry_after?, delay?},
DELETE /faults                      -> pending faults; add one; remove every one
POST   /tokens   {token, name}      -> 201: a bearer token acting as the identity `name`
POST   /users    {name}             -> 201 the identity
POST   /teams    {project, name, members: [...]} -> 201 the team `[project]\\name`
POST   /votes    {pull_request_id, reviewer, vote}  -> 200: a reviewer votes (10 approve, 5
                                       approve with suggestions, 0 none, -5 wait, -10 reject)
POST   /clock    {offset_seconds}   -> 200 {offset_seconds, now}: every timestamp the server
                                       writes from now on is real time + offset (merges too)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, current_app, json, request

from localworld.adminroutes import add_log_and_fault_routes
from localworld.azure_repos.state import CLOCK, FAULT_KINDS, Fault, Reviewer, ServerState, now_iso

admin = Blueprint("localworld_admin", __name__)


def _state() -> ServerState:
    st: ServerState = current_app.config["STATE"]
    return st


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {}
    return data


add_log_and_fault_routes(admin, _state, _json)


@admin.post("/faults")
def add_fault() -> Response:
    data = _body()
    if data.get("kind") not in FAULT_KINDS:
        return _json({"message": f"kind must be one of {sorted(FAULT_KINDS)}"}, 400)
    names = {f.name for f in dataclasses.fields(Fault)} - {"id"}
    st = _state()
    fault = Fault(**{k: v for k, v in data.items() if k in names}, id=st.take_id("fault"))
    with st.lock:
        st.faults.append(fault)
    return _json(dataclasses.asdict(fault), 201)


@admin.post("/tokens")
def add_token() -> Response:
    data = _body()
    identity = _state().add_token(str(data["token"]), str(data["name"]))
    return _json({"id": identity.id, "name": identity.unique_name}, 201)


@admin.post("/users")
def add_user() -> Response:
    identity = _state().add_user(str(_body()["name"]))
    return _json({"id": identity.id, "name": identity.unique_name}, 201)


@admin.post("/teams")
def add_team() -> Response:
    data = _body()
    team = _state().add_team(str(data["project"]), str(data["name"]), list(data.get("members", [])))
    return _json({"id": team.id, "name": team.display_name}, 201)


@admin.post("/votes")
def vote() -> Response:
    data = _body()
    st = _state()
    found = st.search_identity(str(data["reviewer"]))
    with st.lock:
        pr = st.pulls.get(int(data["pull_request_id"]))
        if pr is None or not found:
            return _json({"message": "no such pull request or identity"}, 404)
        for entry in pr.reviewers:
            if entry.identity.id == found[0].id:
                entry.vote = int(data["vote"])
                break
        else:
            pr.reviewers.append(Reviewer(found[0], False, int(data["vote"])))
    return _json({"ok": True})


@admin.post("/clock")
def set_clock() -> Response:
    offset = _body().get("offset_seconds")
    if not isinstance(offset, int | float) or isinstance(offset, bool):
        return _json({"message": "offset_seconds: a number"}, 400)
    with _state().lock:
        CLOCK.offset = float(offset)
    return _json({"offset_seconds": CLOCK.offset, "now": now_iso()})
