"""Run settings of the bot, from the environment (12-factor) with CLI flags on top.

Secrets (`GITHUB_TOKEN`, `REGISTRY_PASSWORD`, storage keys) are kept out of `repr` and out of
every message; `Settings.secrets()` lists them so output can be checked for leaks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import BotError


class SettingsError(BotError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    gitops_remote: str
    github_repository: str
    github_api_url: str = "https://api.github.com"
    github_token: str | None = field(default=None, repr=False)
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
        values: dict[str, object] = {
            "gitops_remote": env.get("GITOPS_REMOTE", ""),
            "github_repository": env.get("GITHUB_REPOSITORY", ""),
            "github_api_url": env.get("GITHUB_API_URL", "https://api.github.com"),
            "github_token": env.get("GITHUB_TOKEN") or None,
            "base_branch": env.get("GITOPS_BASE_BRANCH", "main"),
            "registry_host": env.get("REGISTRY_HOST") or None,
            "registry_username": env.get("REGISTRY_USERNAME") or None,
            "registry_password": env.get("REGISTRY_PASSWORD") or None,
            "workdir": Path(env["BOT_WORKDIR"]) if env.get("BOT_WORKDIR") else None,
            "lock_container": env.get("BOT_LOCK_CONTAINER", "promotion-bot"),
            "environ": env,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not values["gitops_remote"] and values["github_repository"]:
            api = str(values["github_api_url"])
            if api.rstrip("/") == "https://api.github.com":
                values["gitops_remote"] = f"https://github.com/{values['github_repository']}.git"
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
        if self.github_repository.count("/") != 1:
            raise SettingsError(
                f"GITHUB_REPOSITORY must be owner/name, got {self.github_repository!r}"
            )

    def require_token(self) -> str:
        if not self.github_token:
            raise SettingsError("GITHUB_TOKEN is not set (needed to open pull requests)")
        return self.github_token

    def checkout_dir(self) -> Path:
        """Where the bot keeps its clone (one per remote)."""
        if self.workdir is not None:
            return self.workdir
        key = hashlib.sha256(self.gitops_remote.encode()).hexdigest()[:16]
        cache = Path(self.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "promotion-bot" / key

    def secrets(self) -> list[str]:
        found = [s for s in (self.github_token, self.registry_password) if s]
        conn = self.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
        found += [
            part.split("=", 1)[1]
            for part in conn.split(";")
            if part.lower().startswith(("accountkey=", "sharedaccesssignature="))
        ]
        return found
