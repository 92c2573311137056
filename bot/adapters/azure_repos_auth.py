"""Git over https to Azure Repos with the bot's bearer token, as Azure Pipelines' own checkout
does: an `http.<origin>.extraHeader` (`Authorization: Bearer …`), never a token in the URL.

The header reaches git through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` in the
bot's own environment (nothing is written to a git config file), after an empty value that
resets headers set before for that origin (git: "an empty value resets the extra headers"). The
token is the job's `System.AccessToken` (or FORGE_TOKEN), or with `AZURE_REPOS_AUTH=entra` an
Entra token minted once per run (it lives about an hour, longer than a run).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from urllib.parse import urlsplit

from bot.adapters.azure_repos import entra_token_source
from bot.adapters.git import git_config_env
from bot.settings import Settings


def _https_origin(remote: str) -> str | None:
    parts = urlsplit(remote)
    if parts.scheme != "https" or not parts.hostname:
        return None
    return f"https://{parts.netloc}/"


def git_header_env(
    settings: Settings,
    environ: Mapping[str, str],
    entra: Callable[[], Callable[[], str]] = entra_token_source,
) -> dict[str, str]:
    """The entries that give git the bearer header for the GitOps remote's https origin (after
    the `GIT_CONFIG_COUNT` entries `environ` has). Empty for another forge, or a remote that is
    not https (ssh uses its key; a path needs nothing)."""
    origin = _https_origin(settings.gitops_remote)
    if settings.forge != "azure-repos" or origin is None:
        return {}
    if settings.environ.get("AZURE_REPOS_AUTH") == "entra":
        token = entra()()
    else:
        token = settings.require_token()
    key = f"http.{origin}.extraHeader"
    return git_config_env(environ, [(key, ""), (key, f"Authorization: Bearer {token}")])


def install_git_bearer_header(
    settings: Settings, environ: MutableMapping[str, str] | None = None
) -> bool:
    """Give git (every git this process runs) the header; True when installed."""
    target = os.environ if environ is None else environ
    entries = git_header_env(settings, target)
    target.update(entries)
    return bool(entries)
