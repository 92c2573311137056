"""Model discovery through the `modelstore` API: manifests -> planner candidates.

Costs O(environments) requests, never a listing of all versions: the latest pointer, the
alias list, and the manifests of the versions pinned now (whose metrics the gates compare to).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.model import ModelCandidate
from bot.errors import BotError
from modelstore import Manifest, ModelStore, ModelStoreError
from modelstore.errors import ModelNotFoundError, VersionNotFoundError


class ModelDiscoveryError(BotError):
    """The model store could not be read."""


def to_candidate(manifest: Manifest, aliases: dict[str, int]) -> ModelCandidate:
    return ModelCandidate(
        name=manifest.name,
        version=manifest.version,
        primary_sha256=manifest.primary_sha256,
        metrics=dict(manifest.metrics),
        signature_key=manifest.signature.input_key() if manifest.signature else None,
        aliases=frozenset(a for a, v in aliases.items() if v == manifest.version),
        archived=manifest.archived,
    )


def discover_models(
    store: ModelStore, name: str, pinned_versions: Iterable[int], alias: str | None = None
) -> tuple[ModelCandidate, ...]:
    """Latest, the selector's alias target, and every pinned version of model `name`."""
    return tuple(c for c, _ in discover_manifests(store, name, pinned_versions, alias))


def discover_manifests(
    store: ModelStore, name: str, pinned_versions: Iterable[int], alias: str | None = None
) -> tuple[tuple[ModelCandidate, Manifest], ...]:
    """`discover_models` with each candidate's manifest (what evaluation needs)."""
    try:
        try:
            latest = store.latest_version(name)
        except ModelNotFoundError:
            return ()
        aliases = store.get_aliases(name)
        wanted = {v for v in (latest, aliases.get(alias) if alias else None) if v is not None}
        wanted |= set(pinned_versions)
        found = []
        for version in sorted(wanted):
            try:
                manifest = store.get_manifest(name, version)
                found.append((to_candidate(manifest, aliases), manifest))
            except VersionNotFoundError:
                continue  # a pin that no longer exists: the planner reports it as unknown
        return tuple(found)
    except ModelStoreError as exc:
        raise ModelDiscoveryError(f"model store: {exc}") from exc
