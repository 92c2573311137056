"""The small mutable blobs beside immutable manifests, and the pure rules that change them.

- `<name>/index.json`: the pointer blob that makes `latest` O(1) (highest published version that
  is not archived, highest version ever published, archived versions). Updated with ETags.
- `<name>/aliases/<alias>.json`: the alias' current version plus its append-only history,
  in one blob so that moving an alias and recording the move are a single atomic write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# --- layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where one kind of artifact lives in the container: models at the top, datasets under
    `_datasets/` (a prefix no model name can take, so the two never collide)."""

    root: str = ""

    def index_path(self, name: str) -> str:
        return f"{self.root}{name}/index.json"

    def versions_prefix(self, name: str) -> str:
        return f"{self.root}{name}/versions/"

    def version_prefix(self, name: str, version: int) -> str:
        return f"{self.versions_prefix(name)}{version}/"

    def manifest_path(self, name: str, version: int) -> str:
        return f"{self.version_prefix(name, version)}manifest.json"

    def claim_path(self, name: str, version: int) -> str:
        return f"{self.version_prefix(name, version)}.claim"

    def file_path(self, name: str, version: int, path: str) -> str:
        return f"{self.version_prefix(name, version)}{path}"

    def aliases_prefix(self, name: str) -> str:
        return f"{self.root}{name}/aliases/"

    def alias_path(self, name: str, alias: str) -> str:
        return f"{self.aliases_prefix(name)}{alias}.json"

    def version_of_manifest_blob(self, name: str, blob_name: str) -> int | None:
        """`digits/versions/12/manifest.json` -> 12; anything else -> None."""
        prefix = self.versions_prefix(name)
        if not blob_name.startswith(prefix) or not blob_name.endswith("/manifest.json"):
            return None
        middle = blob_name[len(prefix) : -len("/manifest.json")]
        return int(middle) if middle.isdigit() and not middle.startswith("0") else None


MODELS = Layout()
# The models' paths as plain functions (tests and tools address model blobs directly).
index_path = MODELS.index_path
versions_prefix = MODELS.versions_prefix
version_prefix = MODELS.version_prefix
manifest_path = MODELS.manifest_path
claim_path = MODELS.claim_path
file_path = MODELS.file_path
aliases_prefix = MODELS.aliases_prefix
alias_path = MODELS.alias_path
version_of_manifest_blob = MODELS.version_of_manifest_blob


# --- index -------------------------------------------------------------------------------------


class Index(_Frozen):
    schema_version: Literal[1] = 1
    name: str
    latest: int | None = None
    max_version: int = Field(default=0, ge=0)
    archived: list[int] = Field(default_factory=list)


def with_published(index: Index | None, name: str, version: int) -> Index:
    """Record a newly published version (registrations may publish out of order)."""
    base = index or Index(name=name)
    latest = base.latest
    if version not in base.archived and (latest is None or version > latest):
        latest = version
    return base.model_copy(update={"latest": latest, "max_version": max(base.max_version, version)})


def with_archived(index: Index | None, name: str, version: int, next_latest: int | None) -> Index:
    """Record an archived version; `next_latest` replaces `latest` when it was the one archived."""
    base = index or Index(name=name, max_version=version)
    archived = sorted({*base.archived, version})
    latest = next_latest if base.latest == version else base.latest
    return base.model_copy(
        update={
            "archived": archived,
            "latest": latest,
            "max_version": max(base.max_version, version),
        }
    )


def rebuilt_index(name: str, published: dict[int, bool]) -> Index:
    """The index implied by a full listing: version -> archived?"""
    live = [v for v, archived in published.items() if not archived]
    return Index(
        name=name,
        latest=max(live) if live else None,
        max_version=max(published, default=0),
        archived=sorted(v for v, archived in published.items() if archived),
    )


# --- aliases -----------------------------------------------------------------------------------


class AliasEvent(_Frozen):
    """One move of an alias: who moved it when, from which version to which."""

    alias: str
    from_version: int | None
    to_version: int
    at: datetime
    by: str | None = None
    change_id: str


class AliasRecord(_Frozen):
    schema_version: Literal[1] = 1
    name: str
    alias: str
    version: int
    history: list[AliasEvent]

    def event(self, change_id: str) -> AliasEvent | None:
        return next((e for e in self.history if e.change_id == change_id), None)


def with_alias_move(record: AliasRecord | None, name: str, event: AliasEvent) -> AliasRecord:
    """Append-only: the new record keeps every earlier event and adds this one."""
    history = [*(record.history if record else []), event]
    return AliasRecord(name=name, alias=event.alias, version=event.to_version, history=history)
