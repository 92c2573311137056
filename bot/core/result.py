"""What the planner decides: per environment a promotion, a held one, or nothing, with reasons.

Plain data (`Plan.to_dict()` is the JSON of `promotion-bot plan --json`); `bot.core.plan` builds
it and re-exports these names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from bot.core.gates import Check, GateResult
from bot.core.model import ImagePin, ModelPin


@dataclass(frozen=True)
class ImageChange:
    before: ImagePin | None
    after: ImagePin
    revision_before: str | None = None
    revision_after: str | None = None


@dataclass(frozen=True)
class ModelChange:
    before: ModelPin | None
    after: ModelPin
    metrics_before: Mapping[str, float] = field(default_factory=dict)
    metrics_after: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Promotion:
    """Move one environment's overlay to new pins."""

    env: str
    overlay: str
    image: ImageChange | None
    model: ModelChange | None
    checks: tuple[Check, ...] = ()
    reasons: tuple[str, ...] = ()
    gates: tuple[GateResult, ...] = ()  # every gate's full result; `checks` are their rows

    @property
    def summary(self) -> str:
        """E.g. `dev: image 0.1.0-41-a → 0.1.0-42-b, model digits v3 → v4`."""
        return f"{self.env}: {self.headline}"

    @property
    def headline(self) -> str:
        """What moves, without the environment: `image 0.1.0-41-a → 0.1.0-42-b, ...`."""
        parts = []
        if self.image is not None:
            before = self.image.before.tag if self.image.before else None
            parts.append(f"image {before or '(none)'} → {self.image.after.tag}")
        if self.model is not None:
            after = self.model.after
            before_v = f"v{self.model.before.version}" if self.model.before else "(none)"
            parts.append(f"model {after.name} {before_v} → v{after.version}")
        return ", ".join(parts)


@dataclass(frozen=True)
class EnvPlan:
    """The outcome for one environment.

    `promotion` is set when the environment should move now. `held` is set when it would
    move but a time gate (soak, freeze window) says not yet. `reasons` always explains.
    """

    env: str
    overlay: str
    promotion: Promotion | None = None
    held: Promotion | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    now: datetime
    envs: tuple[EnvPlan, ...]

    @property
    def promotions(self) -> tuple[Promotion, ...]:
        return tuple(e.promotion for e in self.envs if e.promotion is not None)

    @property
    def is_empty(self) -> bool:
        return not self.promotions

    def env(self, name: str) -> EnvPlan:
        """The plan of environment `name` (the first, were a name planned twice)."""
        found = self._by_env.get(name)
        if found is None:
            raise KeyError(name)
        return found

    @cached_property
    def _by_env(self) -> dict[str, EnvPlan]:
        # one lookup per environment in a run: a scan each was quadratic (~20 ms at 1,000)
        index: dict[str, EnvPlan] = {}
        for env_plan in self.envs:
            index.setdefault(env_plan.env, env_plan)
        return index

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`promotion-bot plan --json`)."""
        result: dict[str, Any] = _jsonable(self)
        return result


def _jsonable(value: object) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list, frozenset, set)):
        items = [_jsonable(v) for v in value]
        return sorted(items) if isinstance(value, (frozenset, set)) else items
    return value
