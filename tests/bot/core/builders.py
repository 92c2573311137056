"""Small builders for planner tests: images by build number, models by version, policies."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.confirm import Deployment, DeployStatus
from bot.core.model import (
    REVISION_LABEL,
    SIGNATURE_LABEL,
    Candidates,
    EnvState,
    ImageCandidate,
    ImagePin,
    ModelCandidate,
    ModelPin,
    State,
)
from bot.policy import PromotionPolicy, parse_policy_data

SIG = "input:float32[?,64]"
SIG2 = "input:float32[?,128]"
REF = "acr.example.io/modelops-app"
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
HOUR = timedelta(hours=1)


def digest(seed: object) -> str:
    return "sha256:" + hashlib.sha256(str(seed).encode()).hexdigest()


def tag(build: int) -> str:
    return f"0.1.0-{build}-abc{build:04d}"


def image(build: int, sig: str | None = SIG, *, repushed: bool = False) -> ImageCandidate:
    labels = {REVISION_LABEL: f"rev{build}"}
    if sig is not None:
        labels[SIGNATURE_LABEL] = sig
    return ImageCandidate(REF, tag(build), digest((build, repushed)), labels)


def ipin(build: int, *, repushed: bool = False) -> ImagePin:
    return image(build, repushed=repushed).pin("modelops-app")


def model(
    version: int,
    accuracy: float | None = 0.95,
    sig: str | None = SIG,
    *,
    aliases: tuple[str, ...] = (),
    archived: bool = False,
    name: str = "digits",
) -> ModelCandidate:
    metrics = {} if accuracy is None else {"accuracy": accuracy}
    return ModelCandidate(
        name=name,
        version=version,
        primary_sha256=digest(("model", name, version)).removeprefix("sha256:"),
        metrics=metrics,
        signature_key=sig,
        aliases=frozenset(aliases),
        archived=archived,
    )


def mpin(version: int, name: str = "digits") -> ModelPin:
    return model(version, name=name).pin()


RELEASE_COMMIT = "a" * 40


def flux(
    env_name: str, at: datetime, state: str = "success", *, id: int = 1, cluster: str = "aks-1"
) -> DeployStatus:
    """A status as Flux's notification-controller posts it on the release commit it applied."""
    return DeployStatus(
        RELEASE_COMMIT, f"kustomization/modelops-{env_name}/{cluster}", state, at, id
    )


def confirmed(env_name: str, at: datetime) -> Deployment:
    """The environment's controller reported its pins healthy (first success at `at`)."""
    return Deployment((flux(env_name, at),), (RELEASE_COMMIT,))


def env(
    name: str,
    build: int | None = None,
    version: int | None = None,
    changed_at: datetime | None = None,
) -> EnvState:
    """`changed_at`: when the overlay changed on main AND when its controller first confirmed
    running these pins (None: neither is known)."""
    return EnvState(
        name,
        image=None if build is None else ipin(build),
        model=None if version is None else mpin(version),
        changed_at=changed_at,
        deployment=None if changed_at is None else confirmed(name, changed_at),
    )


def state(*envs: EnvState) -> State:
    return State({e.env: e for e in envs})


def candidates(
    images: list[ImageCandidate], models: list[ModelCandidate], tags: tuple[str, ...] = ()
) -> Candidates:
    return Candidates(images=tuple(images), models=tuple(models), tags=tags)


BASE_POLICY: dict[str, Any] = {
    "version": 1,
    "registry": {"host": "acr.example.io"},
    "model_store": {"account_url": "https://models.blob.core.windows.net", "container": "models"},
    "environments": [
        {
            "name": "dev",
            "source": {"image": {"repository": "modelops-app"}, "model": {"name": "digits"}},
            "tag_policy": {
                "numerical": {},
                "filter": {"pattern": r"^\d+\.\d+\.\d+-(?P<build>\d+)-\w+$", "extract": "$build"},
            },
            "gates": {"metrics": {"accuracy": {"min": 0.9, "max_drop": 0.02}}},
            "automerge": True,
        },
        {"name": "staging", "source": {"previous": "dev"}, "soak": "1h"},
        {"name": "prod", "source": {"previous": "staging"}, "soak": "1d"},
    ],
}


def policy(**env_overrides: dict[str, Any]) -> PromotionPolicy:
    """BASE_POLICY with per-environment keys replaced: policy(dev={"model_selector": {...}})."""
    data = copy.deepcopy(BASE_POLICY)
    for env_data in data["environments"]:
        env_data.update(env_overrides.get(env_data["name"], {}))
    return parse_policy_data(data, "test")
