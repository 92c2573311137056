"""The one place that knows every forge adapter: build the `Forge` the `forge` setting names.

Like Flux notification-controller's provider factory: the kind is checked up front
(`check_kind`, called when the services are wired), so a typo in `BOT_FORGE` fails before any
read, not at the first write. A new forge is one adapter module plus one entry here.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.adapters.azure_repos import AzureReposForge, TokenSource, entra_token_source
from bot.adapters.github import GitHubForge
from bot.adapters.github_auth import forge_auth
from bot.forge import Forge
from bot.settings import Settings, SettingsError


def _github(settings: Settings, retries: int, max_rate_limit_wait: float) -> Forge:
    return GitHubForge(
        settings.forge_api_url,
        forge_auth(settings),  # the token, or a GitHub App's installation tokens
        settings.repository,
        retries=retries,
        max_rate_limit_wait=max_rate_limit_wait,
    )


def _azure_repos(settings: Settings, retries: int, max_rate_limit_wait: float) -> Forge:
    """A bearer token: the job's `System.AccessToken` (or FORGE_TOKEN), or with
    `AZURE_REPOS_AUTH=entra` an Entra token from azure-identity (workload identity)."""
    del max_rate_limit_wait  # Azure DevOps throttles with Retry-After, which the retry honours
    env = settings.environ
    token: str | TokenSource
    if env.get("AZURE_REPOS_AUTH") == "entra":
        token = entra_token_source()
    else:
        token = settings.require_token()
    return AzureReposForge(
        settings.forge_api_url,
        token,
        settings.repository,
        retries=retries,
        identity_api_url=env.get("AZURE_REPOS_IDENTITY_URL") or None,
        reviewers_required=env.get("AZURE_REPOS_REVIEWERS_REQUIRED", "true").lower() != "false",
        wiql_team=env.get("AZURE_REPOS_TEAM") or None,
        bot_identity=env.get("AZURE_REPOS_BOT_IDENTITY", "").strip() or None,
    )


_BUILDERS: dict[str, Callable[[Settings, int, float], Forge]] = {
    "github": _github,
    "azure-repos": _azure_repos,
}


def check_kind(kind: str) -> None:
    if kind not in _BUILDERS:
        known = ", ".join(sorted(_BUILDERS))
        raise SettingsError(f"BOT_FORGE: unknown forge {kind!r} (known: {known})")


def make_forge(settings: Settings, *, retries: int = 5, max_rate_limit_wait: float = 60.0) -> Forge:
    """The forge of `settings.repository`; needs the token or a GitHub App (`SettingsError`
    without either, or when GitHub refuses the app)."""
    check_kind(settings.forge)
    return _BUILDERS[settings.forge](settings, retries, max_rate_limit_wait)
