"""Wiring: the adapters a command uses, built from `Settings` (the only place that builds them).

The forge comes from `bot.adapters.forges.make_forge` (picked by the `forge` setting), the run
lock's container from `bot.adapters.lockstore`; everything else is handed plain data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from bot.adapters.azure_repos_auth import install_git_bearer_header
from bot.adapters.forges import make_forge
from bot.adapters.git import GitRepo
from bot.adapters.github_auth import install_git_credential_helper
from bot.adapters.lockstore import lock_container
from bot.adapters.registry import RegistryClient
from bot.contentcache import DiskEntries
from bot.core.policy import ModelStoreLocation
from bot.deployments import with_deployments
from bot.forge import Forge
from bot.lock import run_lock
from bot.overlay.pins import PINS_CACHE, pins_from_json, pins_to_json
from bot.overlay.pins import code_version as pins_code_version
from bot.policycache import keep_on_disk
from bot.settings import Settings, SettingsError
from bot.world import BotAuthor, World, bot_author, read_world
from modelstore import ModelStore, ModelStoreError
from modelstore.api import DEFAULT_CONTAINER


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

    def bot_author(self) -> BotAuthor:
        """Who is the bot in git: its git identity, and its forge account when the forge can
        be asked (`bot.world.bot_author`, docs/decisions.md 24)."""
        return bot_author(self.forge if self.settings.forge_credentials_set() else None)

    def read_world(self) -> World:
        world = read_world(
            self.repo,
            self.registry,
            self.store,
            base=self.settings.base_branch,
            policy_file=self.settings.policy_file,
            registry_host=self.settings.registry_host,
            is_bot=self.bot_author(),
        )
        mismatch = store_mismatch(self.settings, world.policy.model_store)
        if mismatch is not None:  # candidates from a store no pod reads: refuse to run
            raise SettingsError(mismatch)
        readable = self.settings.forge_credentials_set()
        state = with_deployments(
            self.repo,
            self.forge if readable else None,
            world.policy,
            world.state,
            unknown=f"{self.settings.forge_variable('TOKEN')} is not set: statuses not read",
            creators=self.settings.deploy_status_creators(),
        )
        return replace(world, state=state)

    def pods_store(self, location: ModelStoreLocation) -> ModelStore:
        """The store the pods read (`promotion.yaml` `model_store`), where the release check
        verifies the pins. The local world overrides its endpoint explicitly, as REGISTRY_HOST
        overrides `registry.host`: with AZURE_STORAGE_CONNECTION_STRING or a loopback
        MODELSTORE_ACCOUNT_URL (Azurite), the bot's own store (that endpoint,
        MODELSTORE_CONTAINER) stands in for it."""
        if store_overridden(self.settings) or store_mismatch(self.settings, location) is None:
            return self.store
        return ModelStore.from_account_url(location.account_url, location.container)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def store_overridden(settings: Settings) -> bool:
    """The settings point the bot at the local world's model store (Azurite): a connection
    string, or an account URL on a loopback host (never a store any pod reads)."""
    env = settings.environ
    if env.get("AZURE_STORAGE_CONNECTION_STRING"):
        return True
    host = urlsplit(env.get("MODELSTORE_ACCOUNT_URL") or "").netloc.rsplit("@", 1)[-1]
    return (host.rsplit(":", 1)[0] if host.count(":") == 1 else host) in LOOPBACK_HOSTS


def store_mismatch(settings: Settings, location: ModelStoreLocation) -> str | None:
    """Why the bot's model store (MODELSTORE_ACCOUNT_URL / MODELSTORE_CONTAINER) is not the one
    `promotion.yaml` declares and every environment's pods read; None when it is, or when the
    local world's endpoint override (`store_overridden`) is in effect."""
    if store_overridden(settings):
        return None
    env = settings.environ
    url = (env.get("MODELSTORE_ACCOUNT_URL") or "").rstrip("/")
    container = env.get("MODELSTORE_CONTAINER") or DEFAULT_CONTAINER
    if (url, container) == (location.account_url, location.container):
        return None
    return (
        f"the bot's model store is {url or '(none)'}/{container} (MODELSTORE_ACCOUNT_URL, "
        f"MODELSTORE_CONTAINER) but promotion.yaml model_store, which every environment's pods "
        f"read, is {location}: point the bot at the store the registry writes to"
    )


# The release report is best effort next to the release itself: fewer, shorter retries.
REPORT_RETRIES = 2
REPORT_MAX_RATE_LIMIT_WAIT = 10.0


def report_forge(settings: Settings) -> Forge:
    """The forge for the nightly release's report (needs the token)."""
    return make_forge(
        settings, retries=REPORT_RETRIES, max_rate_limit_wait=REPORT_MAX_RATE_LIMIT_WAIT
    )


#: The parsed pins a process used, kept in one file for the next (`DiskEntries(pack=...)`):
#: a run uses 1,000 overlays' and some of their history's; `report` reads more history.
PINS_PACK = 8192


def prepare_checkout(remote: str, path: Path, cache: Path | None = None) -> GitRepo:
    """Clone once, then fetch on every run (the clone is a cache, never a source of truth).
    Parsed overlays and policy are kept under `cache` (default: in the clone's `.git/`)."""
    repo = GitRepo(path) if (path / ".git").exists() else GitRepo.clone(remote, path)
    repo.fetch()
    # parsed overlays and policy by blob id, kept between runs (each hourly run is a new process)
    if cache is None:
        cache = path / ".git" / "promotion-bot" / "cache"
    version = pins_code_version()  # what another bot version parsed is never read
    disk = (
        None
        if version is None
        else DiskEntries(cache / "pins-v1", version=f"pins {version}", pack=PINS_PACK)
    )
    PINS_CACHE.use_disk(disk, pins_to_json, pins_from_json)
    keep_on_disk(cache / "policy-v1")
    return repo


def connect(settings: Settings) -> Services:
    try:
        store = ModelStore.from_env(settings.environ)
    except ModelStoreError as exc:
        raise SettingsError(f"model store settings: {exc}") from exc
    install_git_credential_helper(settings)  # a GitHub App's tokens for an https remote
    install_git_bearer_header(settings)  # Azure Repos' bearer token for an https remote
    repo = prepare_checkout(
        settings.gitops_remote, settings.checkout_dir(), settings.parse_cache_dir()
    )
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
