"""GitHub Apps: the app itself, an installation, an installation access token."""

from __future__ import annotations

from collections.abc import Sequence

from localworld.github.apps import App, Installation
from localworld.github.payloads.repos import EPOCH, JSON, user

EVENTS: list[str] = []  # the local GitHub sends no webhooks


def app(api: str, a: App, installations: int) -> JSON:
    return {
        "id": a.id,
        "slug": a.slug,
        "node_id": f"A_{a.id}",
        "client_id": a.client_id,
        "owner": user(api, a.owner),
        "name": a.name or a.slug,
        "description": None,
        "external_url": f"{api}/{a.owner}",
        "html_url": f"{api}/apps/{a.slug}",
        "created_at": EPOCH,
        "updated_at": EPOCH,
        "permissions": dict(a.permissions),
        "events": EVENTS,
        "installations_count": installations,
    }


def installation(api: str, a: App, i: Installation) -> JSON:
    account = user(api, i.account)
    return {
        "id": i.id,
        "account": account,
        "repository_selection": i.repository_selection,
        "access_tokens_url": f"{api}/app/installations/{i.id}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{api}/settings/installations/{i.id}",
        "app_id": a.id,
        "client_id": a.client_id,
        "target_id": account["id"],
        "target_type": "User",
        "permissions": dict(i.permissions),
        "events": EVENTS,
        "created_at": EPOCH,
        "updated_at": EPOCH,
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "app_slug": a.slug,
        "suspended_by": None,
        "suspended_at": None,
    }


def installation_token(
    token: str,
    expires_at: str,
    permissions: dict[str, str],
    selection: str,
    repositories: Sequence[JSON] | None,
) -> JSON:
    data: JSON = {
        "token": token,
        "expires_at": expires_at,
        "permissions": permissions,
        "repository_selection": selection,
    }
    if repositories is not None:
        data["repositories"] = list(repositories)
    return data
