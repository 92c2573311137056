"""Organizations and their teams by slug (teams are seeded, not created through the API). An
organization exists when it owns a served repository or a seeded team."""

from __future__ import annotations

from flask import Blueprint, Response, g

from localworld.github import payloads
from localworld.github.web import api_base, ctx, json_response, not_found, server_state

bp = Blueprint("teams", __name__)


@bp.get("/orgs/<org>/teams/<team_slug>", endpoint="teams/get-by-name")
def get_team(org: str, team_slug: str) -> Response:
    team = server_state().team(org, team_slug)
    if team is None or not g.token.may_see_owner(team.org):
        raise not_found("https://docs.github.com/rest/teams/teams#get-a-team-by-name")
    owner_dir = ctx().root / team.org
    repos = len(list(owner_dir.glob("*.git"))) if owner_dir.is_dir() else 0
    return json_response(payloads.full_team(api_base(), team, repos))


@bp.get("/orgs/<org>", endpoint="orgs/get")
def get_org(org: str) -> Response:
    state = server_state()
    with state.lock:
        team_orgs = {t.org for t in state.teams.values() if t.org.lower() == org.lower()}
    owner_dir = ctx().root / org
    owns_repos = not org.startswith(".") and owner_dir.is_dir() and any(owner_dir.glob("*.git"))
    if not (team_orgs or owns_repos) or not g.token.may_see_owner(org):
        raise not_found("https://docs.github.com/rest/orgs/orgs#get-an-organization")
    login = next(iter(team_orgs), org)
    return json_response(payloads.organization(api_base(), login))
