"""The parsed `promotion.yaml` kept on disk between runs, like the overlays' pins (decision 38).

The hourly pipeline is a new process each run; validating a 1,000-environment policy (ruamel's
pure-Python loader, then pydantic) costs seconds, and two commands read it per run (the
policy and its webhooks). `keep_on_disk` gives `POLICY_CACHE` and `NOTIFICATIONS_CACHE` a
`DiskEntries` directory: one JSON file per (blob id of the text, file name), and the entry's
version is a digest of the code that parses it (every module of `bot.core`, `bot/policy.py`,
this module) and of pydantic's and ruamel's versions, so an entry written by other code is
never read. What is stored is the result, not the YAML:

* a `PromotionPolicy` as its frozen dataclasses (the closed list `_CLASSES`), rebuilt through
  their constructors (each `__post_init__` check runs again), tuples as JSON lists, mappings
  with string keys, `timedelta`, `ConfirmMode`, and JSON's scalars; anything else is a
  TypeError when encoding (nothing is cached) and any entry that does not decode is a
  ValueError (the text is parsed and the entry written again);
* the webhooks as `WebhookSpec` dumps, validated again when read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import pydantic
import ruamel.yaml

import bot.core
from bot import contentcache, policy
from bot.contentcache import DiskEntries
from bot.core.confirm import ConfirmMode
from bot.core.policy import (
    EnvironmentPolicy,
    EvaluationSpec,
    FreezeWindow,
    Gates,
    ImageSource,
    MetricGate,
    ModelSelector,
    ModelSource,
    ModelStoreLocation,
    PromotionPolicy,
    Registry,
    Reviewer,
    Source,
)
from bot.core.tags import NumericalPolicy, SemverPolicy, TagFilter
from bot.policy import NOTIFICATIONS_CACHE, POLICY_CACHE, WebhookSpec

#: What a parsed policy is made of (`hold` is never set by `promotion.yaml`: not cached).
_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        PromotionPolicy,
        EnvironmentPolicy,
        Registry,
        ModelStoreLocation,
        Source,
        ImageSource,
        ModelSource,
        ModelSelector,
        Gates,
        MetricGate,
        EvaluationSpec,
        FreezeWindow,
        Reviewer,
        SemverPolicy,
        NumericalPolicy,
        TagFilter,
    )
}
_ENUMS: dict[str, type[Enum]] = {ConfirmMode.__name__: ConfirmMode}


def to_json(value: object) -> Any:
    """`value` (a policy or a part of one) as JSON; TypeError for what is not listed above."""
    if isinstance(value, Enum):
        if _ENUMS.get(type(value).__name__) is not type(value):
            raise TypeError(f"not in a cached policy: {type(value).__name__}")
        return {"$": type(value).__name__, "value": value.value}
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, timedelta):
        return {"$": "timedelta", "value": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, tuple):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("mapping keys must be strings")
        return {"$": "mapping", "value": {key: to_json(item) for key, item in value.items()}}
    name = type(value).__name__
    if is_dataclass(value) and _CLASSES.get(name) is type(value):
        encoded = {f.name: to_json(getattr(value, f.name)) for f in fields(value) if f.init}
        return {"$": name, **encoded}
    raise TypeError(f"not in a cached policy: {name}")


def _decode(data: Any) -> Any:
    if isinstance(data, list):
        return tuple(_decode(item) for item in data)
    if not isinstance(data, dict):
        return data  # a JSON scalar
    kind = data["$"]
    value: Any = data.get("value")
    if kind == "timedelta":
        days, seconds, microseconds = value
        return timedelta(days=days, seconds=seconds, microseconds=microseconds)
    if kind == "mapping":
        if not isinstance(value, dict):
            raise TypeError("not a mapping")
        return {key: _decode(item) for key, item in value.items()}
    if kind in _ENUMS:
        return _ENUMS[kind](value)
    cls = _CLASSES[kind]
    return cls(**{key: _decode(item) for key, item in data.items() if key != "$"})


def policy_to_json(parsed: PromotionPolicy) -> Any:
    return to_json(parsed)


def policy_from_json(data: Any) -> PromotionPolicy:
    """What `policy_to_json` wrote; ValueError or TypeError for anything else (a constructor's
    own check, a pattern that does not compile, a missing or unknown field, ...)."""
    try:
        parsed = _decode(data)
    except Exception as exc:  # any failure is a miss: parsed again
        raise ValueError(f"not a cached policy: {exc!r}") from None
    if not isinstance(parsed, PromotionPolicy):
        raise TypeError("not a cached policy")
    return parsed


def webhooks_to_json(webhooks: tuple[WebhookSpec, ...]) -> Any:
    return [hook.model_dump(mode="json") for hook in webhooks]


def webhooks_from_json(data: Any) -> tuple[WebhookSpec, ...]:
    if not isinstance(data, list):
        raise TypeError("not a list of webhooks")
    return tuple(WebhookSpec.model_validate(hook) for hook in data)


def code_version() -> str | None:
    """A digest of the code whose result is cached (None when it cannot be read: no disk)."""
    files = sorted(Path(bot.core.__file__).parent.glob("*.py"))
    files += [Path(policy.__file__), Path(__file__)]
    return contentcache.code_version(files, pydantic.VERSION, ruamel.yaml.__version__)


def keep_on_disk(root: Path | None) -> None:
    """Also keep parsed policies and their webhooks under `root` (None: memory only)."""
    version = None if root is None else code_version()
    if root is None or version is None:
        POLICY_CACHE.use_disk(None, policy_to_json, policy_from_json)
        NOTIFICATIONS_CACHE.use_disk(None, webhooks_to_json, webhooks_from_json)
        return
    POLICY_CACHE.use_disk(
        DiskEntries(root, version=f"policy {version}"), policy_to_json, policy_from_json
    )
    NOTIFICATIONS_CACHE.use_disk(
        DiskEntries(root, version=f"webhooks {version}"), webhooks_to_json, webhooks_from_json
    )
