"""Organization teams the server knows: seeded (`--team ORG/SLUG:MEMBER,...`, or
`POST /_localworld/teams`), never created through GitHub's API."""

from __future__ import annotations

import re
from dataclasses import dataclass

from localworld.github.errors import BadTeamSpecError

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_SPEC = re.compile(rf"^(?P<org>{_NAME})/(?P<slug>{_NAME})(?::(?P<members>\S*))?$")
_LOGIN = re.compile(rf"^{_NAME}$")


@dataclass(frozen=True)
class Team:
    org: str
    slug: str
    name: str
    id: int
    members: tuple[str, ...]
    description: str | None = None
    created_at: str = "2024-01-01T00:00:00Z"

    @property
    def key(self) -> tuple[str, str]:
        return team_key(self.org, self.slug)


def team_key(org: str, slug: str) -> tuple[str, str]:
    """Teams are found by organization and slug, both case-insensitively (as on GitHub)."""
    return org.lower(), slug.lower()


def parse_team_spec(spec: str) -> tuple[str, str, tuple[str, ...]]:
    """`ORG/SLUG` or `ORG/SLUG:member,member` → (org, slug, members)."""
    match = _SPEC.match(spec)
    members = tuple(m for m in (match["members"] or "").split(",") if m) if match else ()
    if not match or not all(_LOGIN.match(m) for m in members):
        raise BadTeamSpecError(
            f"bad team spec {spec!r}: expected ORG/SLUG or ORG/SLUG:LOGIN[,LOGIN...]"
        )
    return match["org"], match["slug"], members


def check_team_fields(
    org: object, slug: object, members: object
) -> tuple[str, str, tuple[str, ...]]:
    """The same rules for a team given as JSON fields (the admin endpoint)."""
    if not isinstance(org, str) or not isinstance(slug, str) or not isinstance(members, list):
        raise BadTeamSpecError("expected {org: str, slug: str, members: [login, ...]}")
    if not all(isinstance(m, str) for m in members):
        raise BadTeamSpecError("team members must be logins")
    return parse_team_spec(f"{org}/{slug}:{','.join(members)}")
