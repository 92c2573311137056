"""Plain data the planner works on: what the overlays pin now, and what could be promoted.

No I/O here. Adapters build these values (overlays via `bot.kustomize`, images via
`bot.adapters.registry`, models via the model store); the planner only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.confirm import Deployment
from bot.core.measured import Evaluated

if TYPE_CHECKING:
    from bot.core.rollback import Rollback

SIGNATURE_LABEL = "io.modelops.model.input-signature"
REVISION_LABEL = "org.opencontainers.image.revision"
VERSION_LABEL = "org.opencontainers.image.version"
SOURCE_LABEL = "org.opencontainers.image.source"
CREATED_LABEL = "org.opencontainers.image.created"


@dataclass(frozen=True)
class ImagePin:
    """An `images:` entry of an overlay: `name` is what manifests use, `new_name` the registry
    reference it is replaced with (`<host>/<repository>`), pinned by `tag` and `digest`."""

    name: str
    new_name: str | None = None
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What Kustomize renders: `new_name[:tag][@digest]`."""
        ref = self.new_name or self.name
        if self.tag:
            ref += f":{self.tag}"
        if self.digest:
            ref += f"@{self.digest}"
        return ref


@dataclass(frozen=True)
class ModelPin:
    """The model literals of an overlay (`MODEL_NAME`, `MODEL_VERSION`, `MODEL_SHA256`)."""

    name: str
    version: int
    sha256: str


@dataclass(frozen=True)
class EnvState:
    """What one environment's overlay pins now.

    `changed_at` is the commit time of the last change to the overlay's pins (from Git
    history; informational: soak never counts from it). `deployment`: what the forge says
    about this environment running these pins (the statuses on the commits of its release
    ref that pin them), which soak in the next environment counts from. `rolled_back`:
    the pins a person rolled this environment back from, never proposed again
    (`bot.core.rollback`).
    """

    env: str
    image: ImagePin | None = None
    model: ModelPin | None = None
    changed_at: datetime | None = None
    rolled_back: tuple[Rollback, ...] = ()
    deployment: Deployment | None = None


@dataclass(frozen=True)
class State:
    """Current pins of every environment, by environment name."""

    envs: Mapping[str, EnvState] = field(default_factory=dict)

    def get(self, env: str) -> EnvState:
        """The environment's state; an environment without an overlay state pins nothing."""
        return self.envs.get(env) or EnvState(env)


@dataclass(frozen=True)
class ImageCandidate:
    """A tag in the registry with its manifest digest and config labels.

    `name` is the full reference name (`<host>/<repository>`), as pinned in `newName`.
    """

    name: str
    tag: str
    digest: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def input_signature(self) -> str | None:
        """The model input signature the image can serve (its `io.modelops...` label)."""
        return self.labels.get(SIGNATURE_LABEL)

    @property
    def revision(self) -> str | None:
        return self.labels.get(REVISION_LABEL)

    def pin(self, image_name: str) -> ImagePin:
        return ImagePin(name=image_name, new_name=self.name, tag=self.tag, digest=self.digest)


@dataclass(frozen=True)
class ModelCandidate:
    """A registered model version, as far as planning needs it (from its manifest)."""

    name: str
    version: int
    primary_sha256: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    signature_key: str | None = None
    aliases: frozenset[str] = frozenset()
    archived: bool = False
    # what the bot measured, by evaluation spec key (`dataset@ref`): `bot.adapters.evaluation`
    evaluations: Mapping[str, Evaluated] = field(default_factory=dict)

    def pin(self) -> ModelPin:
        return ModelPin(name=self.name, version=self.version, sha256=self.primary_sha256)


@dataclass(frozen=True)
class Candidates:
    """What discovery found.

    `images` should hold at least the tag the first environment's tag policy picks among all
    tags of the repository, plus the image pinned by every environment (looked up by digest,
    to learn the signature it serves); `tags` may list every tag of the repository (when empty,
    the tags of `images` are used). `models` holds the versions of the source model (including
    the ones pinned now, whose metrics the gates compare against). `skipped` maps a tag the
    tag policy picked but discovery could not use (e.g. no linux/amd64 manifest) to why: the
    planner passes over it to the next candidate and says so.
    """

    images: tuple[ImageCandidate, ...] = ()
    models: tuple[ModelCandidate, ...] = ()
    tags: tuple[str, ...] = ()
    skipped: Mapping[str, str] = field(default_factory=dict)

    def image_by_tag(self, tag: str) -> ImageCandidate | None:
        for image in self.images:
            if image.tag == tag:
                return image
        return None

    def image_by_digest(self, digest: str) -> ImageCandidate | None:
        for image in self.images:
            if image.digest == digest:
                return image
        return None

    def model(self, name: str, version: int) -> ModelCandidate | None:
        for model in self.models:
            if model.name == name and model.version == version:
                return model
        return None

    def all_tags(self) -> tuple[str, ...]:
        """Every tag a tag policy may pick (the skipped ones excluded)."""
        tags = self.tags or tuple(image.tag for image in self.images)
        return tuple(tag for tag in tags if tag not in self.skipped)
