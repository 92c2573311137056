"""Wiring: the adapters a command uses, built from `Settings` (the only place that builds them).

The forge comes from `bot.adapters.forges.make_forge` (picked by the `forge` setting), the run
lock's container from `bot.adapters.lockstore`; everything else is handed plain data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.adapters.forges import make_forge
from bot.adapters.git import GitRepo
from bot.adapters.github_auth import install_git_credential_helper
from bot.adapters.lockstore import lock_container
from bot.adapters.registry import RegistryClient
from bot.forge import Forge
from bot.lock import run_lock
from bot.settings import Settings, SettingsError
from bot.world import World, read_world
from modelstore import ModelStore, ModelStoreError


@dataclass
class Services:
    settings: Settings
    repo: GitRepo
    store: ModelStore
    registries: dict[str, RegistryClient] = field(default_factory=dict)
    _forge: Forge | None = None

    def registry(self, host: str) -> RegistryClient:
        if host not in self.registries:
            self.registries[host] = RegistryClient.for_host(
                host,
                self.settings.registry_username,
                self.settings.registry_password,
                page_size=1000,
            )
        return self.registries[host]

    @property
    def forge(self) -> Forge:
        """Built on first use: reading commands work without a token."""
        if self._forge is None:
            self._forge = make_forge(self.settings)
        return self._forge

    def read_world(self) -> World:
        return read_world(
            self.repo,
            self.registry,
            self.store,
            base=self.settings.base_branch,
            policy_file=self.settings.policy_file,
            registry_host=self.settings.registry_host,
        )


# The release report is best effort next to the release itself: fewer, shorter retries.
REPORT_RETRIES = 2
REPORT_MAX_RATE_LIMIT_WAIT = 10.0


def report_forge(settings: Settings) -> Forge:
    """The forge for the nightly release's report (needs the token)."""
    return make_forge(
        settings, retries=REPORT_RETRIES, max_rate_limit_wait=REPORT_MAX_RATE_LIMIT_WAIT
    )


def prepare_checkout(remote: str, path: Path) -> GitRepo:
    """Clone once, then fetch on every run (the clone is a cache, never a source of truth)."""
    repo = GitRepo(path) if (path / ".git").exists() else GitRepo.clone(remote, path)
    repo.fetch()
    return repo


def connect(settings: Settings) -> Services:
    try:
        store = ModelStore.from_env(settings.environ)
    except ModelStoreError as exc:
        raise SettingsError(f"model store settings: {exc}") from exc
    install_git_credential_helper(settings)  # a GitHub App's tokens for an https remote
    repo = prepare_checkout(settings.gitops_remote, settings.checkout_dir())
    return Services(settings, repo, store)


@contextlib.contextmanager
def locked(settings: Settings, *, enabled: bool) -> Iterator[Callable[[], None]]:
    """Hold the run lock; yields `ensure_held`, to call before each remote write (a no-op
    when the lock is disabled, as for a dry run)."""
    if not enabled:
        yield lambda: None
        return
    with run_lock(lock_container(settings)) as handle:
        yield handle.ensure_held
