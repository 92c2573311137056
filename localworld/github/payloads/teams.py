"""Teams: as a PR's requested team (Team), and in full with their organization (Full Team)."""

from __future__ import annotations

from localworld.github.payloads.repos import EPOCH, JSON, user
from localworld.github.state import stable_id
from localworld.github.teams import Team


def _org_id(org: str) -> int:
    return stable_id("org", org.lower())


def team(api: str, t: Team) -> JSON:
    org_id = _org_id(t.org)
    url = f"{api}/organizations/{org_id}/team/{t.id}"
    return {
        "id": t.id,
        "node_id": f"T_{t.id}",
        "url": url,
        "html_url": f"{api}/orgs/{t.org}/teams/{t.slug}",
        "name": t.name,
        "slug": t.slug,
        "description": t.description,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": f"{url}/members{{/member}}",
        "repositories_url": f"{url}/repos",
        "type": "organization",
        "organization_id": org_id,
        "parent": None,
    }


def organization(api: str, org: str) -> JSON:
    o = f"{api}/orgs/{org}"
    return {
        "login": org,
        "id": _org_id(org),
        "node_id": f"O_{_org_id(org)}",
        "url": o,
        "repos_url": f"{o}/repos",
        "events_url": f"{o}/events",
        "hooks_url": f"{o}/hooks",
        "issues_url": f"{o}/issues",
        "members_url": f"{o}/members{{/member}}",
        "public_members_url": f"{o}/public_members{{/member}}",
        "avatar_url": user(api, org)["avatar_url"],
        "description": None,
        "html_url": f"{api}/{org}",
        "has_organization_projects": False,
        "has_repository_projects": False,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "type": "Organization",
        "created_at": EPOCH,
        "updated_at": EPOCH,
        "archived_at": None,
    }


def full_team(api: str, t: Team, repos_count: int) -> JSON:
    return team(api, t) | {
        "members_count": len(t.members),
        "repos_count": repos_count,
        "created_at": t.created_at,
        "updated_at": t.created_at,
        "organization": organization(api, t.org),
    }
