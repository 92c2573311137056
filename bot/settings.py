"""Run settings of the bot, from the environment (12-factor) with CLI flags on top.

Secrets (the forge token, `REGISTRY_PASSWORD`, storage keys) are kept out of `repr` and out of
every message; `Settings.secrets()` lists them so output can be checked for leaks.

The forge (where the GitOps repository's pull requests live) is named by `BOT_FORGE` (`github`,
the default, or `azure-repos`). Its settings have neutral names, `FORGE_REPOSITORY`,
`FORGE_API_URL` and `FORGE_TOKEN`; the forge's own names, which its CI sets
(`GITHUB_REPOSITORY`, `GITHUB_API_URL`, `GITHUB_TOKEN`), keep working. When both are set, the
neutral name wins (GitHub Actions sets `GITHUB_*` for every job). For Azure Repos, an Azure
Pipelines job's own variables fill what is unset: `SYSTEM_COLLECTIONURI` (the API URL),
`SYSTEM_TEAMPROJECT`/`BUILD_REPOSITORY_NAME` (the repository) and `SYSTEM_ACCESSTOKEN`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import BotError


class SettingsError(BotError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class ForgeKind:
    """How one forge's settings are named and defaulted (not how it is reached: see adapters)."""

    display: str  # how messages name it
    env_prefix: str  # its own variables: <PREFIX>_REPOSITORY, _API_URL, _TOKEN
    default_api_url: str | None = None


FORGES: dict[str, ForgeKind] = {
    "github": ForgeKind("GitHub", "GITHUB", "https://api.github.com"),
    "azure-repos": ForgeKind("Azure Repos", "AZURE_REPOS"),
}
# What an Azure Pipelines job already knows, used when the forge's own settings are unset:
# the organization URL, `project/repository`, and the job's token (mapped into `env:`).
_PIPELINE_FALLBACKS: dict[str, dict[str, Callable[[Mapping[str, str]], str]]] = {
    "azure-repos": {
        "API_URL": lambda env: env.get("SYSTEM_COLLECTIONURI", "").rstrip("/"),
        "REPOSITORY": lambda env: (
            f"{env['SYSTEM_TEAMPROJECT']}/{env['BUILD_REPOSITORY_NAME']}"
            if env.get("SYSTEM_TEAMPROJECT") and env.get("BUILD_REPOSITORY_NAME")
            else ""
        ),
        "TOKEN": lambda env: env.get("SYSTEM_ACCESSTOKEN", ""),
    },
}


def _forge_setting(env: Mapping[str, str], kind: ForgeKind | None, key: str) -> str | None:
    """`FORGE_<key>`, else the forge's own `<PREFIX>_<key>`, else None (empty counts as unset)."""
    if env.get(f"FORGE_{key}"):
        return env[f"FORGE_{key}"]
    if kind is None:
        return None
    own = env.get(f"{kind.env_prefix}_{key}")
    if own:
        return own
    for forge, fallbacks in _PIPELINE_FALLBACKS.items():
        if FORGES[forge] is kind and key in fallbacks:
            return fallbacks[key](env) or None
    return None


@dataclass(frozen=True)
class Settings:
    gitops_remote: str
    repository: str  # owner/name on the forge
    forge: str = "github"
    forge_api_url: str = "https://api.github.com"
    forge_token: str | None = field(default=None, repr=False)
    base_branch: str = "main"
    registry_host: str | None = None
    registry_username: str | None = None
    registry_password: str | None = field(default=None, repr=False)
    workdir: Path | None = None
    lock_container: str = "promotion-bot"
    policy_file: str = "promotion.yaml"
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if environ is None else environ)
        forge = str(overrides.get("forge") or env.get("BOT_FORGE") or "github")
        kind = FORGES.get(forge)
        if kind is None:
            known = ", ".join(sorted(FORGES))
            raise SettingsError(f"BOT_FORGE: unknown forge {forge!r} (known: {known})")
        values: dict[str, object] = {
            "gitops_remote": env.get("GITOPS_REMOTE", ""),
            "forge": forge,
            "repository": _forge_setting(env, kind, "REPOSITORY") or "",
            "forge_api_url": _forge_setting(env, kind, "API_URL") or kind.default_api_url or "",
            "forge_token": _forge_setting(env, kind, "TOKEN"),
            "base_branch": env.get("GITOPS_BASE_BRANCH", "main"),
            "registry_host": env.get("REGISTRY_HOST") or None,
            "registry_username": env.get("REGISTRY_USERNAME") or None,
            "registry_password": env.get("REGISTRY_PASSWORD") or None,
            "workdir": Path(env["BOT_WORKDIR"]) if env.get("BOT_WORKDIR") else None,
            "lock_container": env.get("BOT_LOCK_CONTAINER", "promotion-bot"),
            "environ": env,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not values["gitops_remote"] and values["repository"] and forge == "github":
            api = str(values["forge_api_url"])
            if api.rstrip("/") == "https://api.github.com":
                values["gitops_remote"] = f"https://github.com/{values['repository']}.git"
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        if not self.gitops_remote:
            raise SettingsError("GITOPS_REMOTE is not set (the git URL or path of the GitOps repo)")
        if "@" in self.gitops_remote.split("://", 1)[-1].split("/", 1)[0]:
            raise SettingsError(
                "GITOPS_REMOTE must not embed credentials; use a git credential helper"
            )
        if self.repository.count("/") != 1:
            raise SettingsError(
                f"{self.forge_variable('REPOSITORY')} (or FORGE_REPOSITORY) must be owner/name, "
                f"got {self.repository!r}"
            )
        if not self.forge_api_url:
            raise SettingsError("FORGE_API_URL is not set (the forge's API base URL)")

    @property
    def forge_name(self) -> str:
        """How messages name the forge (`GitHub`)."""
        return FORGES[self.forge].display

    def forge_variable(self, key: str) -> str:
        """The forge's own name of a setting (`GITHUB_TOKEN`), as messages name it."""
        return f"{FORGES[self.forge].env_prefix}_{key}"

    def require_token(self) -> str:
        if not self.forge_token:
            raise SettingsError(
                f"{self.forge_variable('TOKEN')} is not set (needed to open pull requests; "
                "FORGE_TOKEN works too, or a GitHub App: GITHUB_APP_ID)"
            )
        return self.forge_token

    def deploy_status_creators(self) -> frozenset[str] | None:
        """`DEPLOY_STATUS_CREATORS`: the logins whose statuses in a deployment context count
        (comma-separated: the controllers' GitHub App, `<slug>[bot]`); unset: anyone's."""
        raw = self.environ.get("DEPLOY_STATUS_CREATORS", "")
        logins = frozenset(login.strip() for login in raw.split(",") if login.strip())
        return logins or None

    def forge_credentials_set(self) -> bool:
        """Whether the forge can be written to: a token, or a GitHub App (`GITHUB_APP_ID`,
        see `bot.adapters.github_auth`)."""
        app = self.forge == "github" and bool(self.environ.get("GITHUB_APP_ID", "").strip())
        entra = self.forge == "azure-repos" and self.environ.get("AZURE_REPOS_AUTH") == "entra"
        return bool(self.forge_token) or app or entra

    def checkout_dir(self) -> Path:
        """Where the bot keeps its clone (one per remote)."""
        if self.workdir is not None:
            return self.workdir
        key = hashlib.sha256(self.gitops_remote.encode()).hexdigest()[:16]
        cache = Path(self.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "promotion-bot" / key

    def parse_cache_dir(self) -> Path | None:
        """`BOT_CACHE_DIR`: where the parsed pins and policy are kept between runs (decisions 37,
        38, 45); unset: under the checkout's `.git/`. Only results of parsing the repository's
        own text, keyed by its blob ids and by the parsing code: any old copy is safe."""
        value = self.environ.get("BOT_CACHE_DIR", "").strip()
        return Path(value) if value else None

    def secrets(self) -> list[str]:
        found = [s for s in (self.forge_token, self.registry_password) if s]
        # A GitHub App's private key, whole and line by line (a message may hold a part).
        pem = self.environ.get("GITHUB_APP_PRIVATE_KEY", "")
        found += [pem.strip()] if pem.strip() else []
        found += [line for line in pem.splitlines() if len(line) >= 32 and "-----" not in line]
        conn = self.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
        found += [
            part.split("=", 1)[1]
            for part in conn.split(";")
            if part.lower().startswith(("accountkey=", "sharedaccesssignature="))
        ]
        return found
