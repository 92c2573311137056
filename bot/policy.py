"""The promotion policy file (`promotion.yaml`): read, validate, convert to the core's classes.

Loaded with pydantic and validated up front; every error names the file and the field, e.g.
`promotion.yaml: environments[1].tag_policy.semver.range: invalid range '>=1.x.'`. What the
planner receives is `bot.core.policy.PromotionPolicy`, plain frozen dataclasses (the core imports
nothing outside the standard library); the tag policies (`SemverPolicy`, `NumericalPolicy`,
`TagFilter`, `policy_from_spec`) and the cron subset of freeze windows live in the core too and
are re-exported here, so callers keep importing them from `bot.policy`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.contentcache import ContentCache
from bot.core import policy as core
from bot.core.confirm import ConfirmMode
from bot.core.cron import CronSchedule
from bot.core.policy import (
    EnvironmentPolicy,
    FreezeWindow,
    MetricGate,
    PromotionPolicy,
)
from bot.core.tags import NumericalPolicy, SemverPolicy, TagFilter, TagPolicy, parse_range
from bot.core.tags import policy_from_spec as _core_policy_from_spec
from bot.errors import PolicyError

__all__ = [
    "DEFAULT_POLICY_FILE",
    "EnvironmentPolicy",
    "FreezeWindow",
    "MetricGate",
    "NumericalPolicy",
    "PolicySpec",
    "PromotionPolicy",
    "SemverPolicy",
    "TagFilter",
    "TagPolicy",
    "TagPolicySpec",
    "load_policy",
    "parse_duration",
    "parse_policy",
    "parse_policy_data",
    "policy_from_spec",
]

DEFAULT_POLICY_FILE = "promotion.yaml"

# --------------------------------------------------------------------------- durations


_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> timedelta:
    """`90`, `90s`, `30m`, `1h30m`, `2d`, `1w` (or a timedelta) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    text = str(value).strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"invalid duration {value!r} (examples: 90s, 30m, 1h30m, 2d)")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


# --------------------------------------------------------------------------- policy schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class TagFilterSpec(_Strict):
    pattern: str
    extract: str = ""

    @model_validator(mode="after")
    def _compiles(self) -> TagFilterSpec:
        TagFilter(self.pattern, self.extract)
        return self


class SemverSpec(_Strict):
    range: str

    @field_validator("range")
    @classmethod
    def _valid_range(cls, value: str) -> str:
        parse_range(value)
        return value


class NumericalSpec(_Strict):
    order: Literal["asc", "desc"] = "asc"


class TagPolicySpec(_Strict):
    """Exactly one of `semver` / `numerical`, with an optional `filter`."""

    semver: SemverSpec | None = None
    numerical: NumericalSpec | None = None
    filter: TagFilterSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TagPolicySpec:
        if (self.semver is None) == (self.numerical is None):
            raise ValueError("give exactly one of 'semver' or 'numerical'")
        return self

    def build(self) -> TagPolicy:
        return _core_policy_from_spec(self.model_dump(exclude_none=True))


def policy_from_spec(spec: TagPolicySpec) -> TagPolicy:
    """Build the tag policy a spec describes (already validated: this cannot fail)."""
    return spec.build()


class ImageSourceSpec(_Strict):
    repository: str = Field(pattern=r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$")


class ModelSourceSpec(_Strict):
    name: str = Field(min_length=1)


class SourceSpec(_Strict):
    """Registry + model store (first environment) or `previous: <env>` (the others)."""

    image: ImageSourceSpec | None = None
    model: ModelSourceSpec | None = None
    previous: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        direct = self.image is not None or self.model is not None
        if self.previous is not None and direct:
            raise ValueError("give either 'previous' or 'image' + 'model', not both")
        if self.previous is None and (self.image is None or self.model is None):
            raise ValueError("give 'previous: <env>', or both 'image' and 'model'")
        return self

    def to_core(self) -> core.Source:
        return core.Source(
            image=core.ImageSource(self.image.repository) if self.image else None,
            model=core.ModelSource(self.model.name) if self.model else None,
            previous=self.previous,
        )


class ModelSelectorSpec(_Strict):
    """`alias: champion` follows an alias; no alias means the newest version passing the gates."""

    alias: str | None = Field(default=None, min_length=1)


class MetricGateSpec(_Strict):
    """Bounds for one metric: absolute (`min`, `max`) and against what runs now (`max_drop`,
    `max_rise`, in the metric's own units)."""

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)
    max_rise: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_bound(self) -> MetricGateSpec:
        if all(v is None for v in (self.min, self.max, self.max_drop, self.max_rise)):
            raise ValueError("give at least one of min, max, max_drop, max_rise")
        return self


def _measured_metric(name: str) -> str:
    if name not in core.MEASURED_METRICS and not core.TOP_K_METRIC.fullmatch(name):
        known = ", ".join(core.MEASURED_METRICS)
        raise ValueError(f"unknown measured metric {name!r} (known: {known}, top_<k>_accuracy)")
    return name


MeasuredMetric = Annotated[str, AfterValidator(_measured_metric)]
# `digits-holdout@1` (a version: pinned) or `digits-holdout@golden` (an alias or `latest`,
# resolved on every run and named in the PR); names as the model store spells them.
_DATASET_REF = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9_-]{0,62})@(?P<ref>[1-9][0-9]{0,17}|[a-z0-9][a-z0-9-]{0,62})$"
)


class EvaluationSpecModel(_Strict):
    """`gates: evaluation:`, what the bot measures first (bot/core/evaluation.py)."""

    dataset: str
    metrics: list[MeasuredMetric] = Field(default_factory=lambda: ["accuracy"], min_length=1)
    bounds: dict[MeasuredMetric, MetricGateSpec] = Field(default_factory=dict)
    per_class_recall: MetricGateSpec | None = None
    claim_tolerance: float = Field(default=0.01, ge=0)

    @field_validator("dataset")
    @classmethod
    def _dataset_ref(cls, value: str) -> str:
        if not _DATASET_REF.fullmatch(value):
            raise ValueError(
                f"expected NAME@VERSION or NAME@ALIAS (e.g. digits-holdout@1), got {value!r}"
            )
        return value

    def to_core(self) -> core.EvaluationSpec:
        name, _, ref = self.dataset.partition("@")
        recall = self.per_class_recall
        return core.EvaluationSpec(
            dataset=name,
            ref=ref,
            metrics=tuple(dict.fromkeys(self.metrics)),
            gates={m: MetricGate(**gate.model_dump()) for m, gate in self.bounds.items()},
            per_class_recall=MetricGate(**recall.model_dump()) if recall else None,
            claim_tolerance=self.claim_tolerance,
        )


class GatesSpec(_Strict):
    """The gates' settings; a new gate (bot/core/gates.py) adds its field here and in
    `bot.core.policy.Gates`."""

    metrics: dict[str, MetricGateSpec] = Field(default_factory=dict)
    evaluation: EvaluationSpecModel | None = None

    def to_core(self) -> core.Gates:
        return core.Gates(
            metrics={name: MetricGate(**gate.model_dump()) for name, gate in self.metrics.items()},
            evaluation=self.evaluation.to_core() if self.evaluation else None,
        )


class FreezeWindowSpec(_Strict):
    """No promotion while a window is open: from each cron fire time for `duration`."""

    schedule: str
    duration: Duration
    timezone: str = "UTC"
    name: str | None = None

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            CronSchedule.parse(value)
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("duration must be positive")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        core.zone(value)
        return value

    def to_core(self) -> FreezeWindow:
        return FreezeWindow(self.schedule, self.duration, self.timezone, self.name)


_ENV_NAME = r"^[a-z][a-z0-9-]{0,30}$"


class RollbackSpec(_Strict):
    """`rollback: {direct: true}`: `promotion-bot rollback ENV --direct` may push the revert
    to main at once (an emergency path without review); default false: a PR is opened."""

    direct: bool = False


class EnvironmentSpec(_Strict):
    name: str = Field(pattern=_ENV_NAME)
    overlay: str = ""
    source: SourceSpec
    tag_policy: TagPolicySpec | None = None
    model_selector: ModelSelectorSpec | None = None
    gates: GatesSpec = Field(default_factory=GatesSpec)
    soak: Duration = timedelta(0)
    confirm: ConfirmMode = ConfirmMode.COMMIT_STATUS
    freeze_windows: list[FreezeWindowSpec] = Field(default_factory=list)
    automerge: bool = False
    allow_downgrade: bool = False
    rollback: RollbackSpec = Field(default_factory=RollbackSpec)
    labels: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)
    # absent: every check reported on the head counts and a head with none waits; `[]`: none
    required_checks: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_overlay(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("overlay") and isinstance(data.get("name"), str):
            data = {**data, "overlay": f"deploy/overlays/{data['name']}/kustomization.yaml"}
        return data

    @field_validator("reviewers")
    @classmethod
    def _reviewers(cls, value: list[str]) -> list[str]:
        keys = [core.Reviewer.parse(entry).key for entry in value]  # ValueError names the entry
        if len(set(keys)) != len(keys):
            raise ValueError(f"reviewers are listed twice: {value}")
        return value

    @model_validator(mode="after")
    def _checks_gate_automerge(self) -> EnvironmentSpec:
        if self.required_checks is None:
            return self
        if not self.automerge:
            raise ValueError(
                f"{self.name}: required_checks only applies with automerge: true (a person "
                "merges this environment; branch protection holds its checks)"
            )
        if len(set(self.required_checks)) != len(self.required_checks):
            raise ValueError(f"{self.name}: required_checks are listed twice")
        return self

    @field_validator("overlay")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"overlay must be a relative path inside the repo: {value!r}")
        return value

    def to_core(self) -> EnvironmentPolicy:
        selector = self.model_selector
        return EnvironmentPolicy(
            name=self.name,
            overlay=self.overlay,
            source=self.source.to_core(),
            tag_policy=self.tag_policy.build() if self.tag_policy else None,
            model_selector=core.ModelSelector(selector.alias) if selector else None,
            gates=self.gates.to_core(),
            soak=self.soak,
            confirm=self.confirm,
            freeze_windows=tuple(window.to_core() for window in self.freeze_windows),
            automerge=self.automerge,
            allow_downgrade=self.allow_downgrade,
            rollback_direct=self.rollback.direct,
            labels=tuple(self.labels),
            reviewers=tuple(core.Reviewer.parse(entry) for entry in self.reviewers),
            required_checks=None if self.required_checks is None else tuple(self.required_checks),
        )


class RegistrySpec(_Strict):
    host: str = Field(pattern=core.REGISTRY_HOST_PATTERN)


class ModelStoreSpec(_Strict):
    """The one registry account every environment reads (read-only) and registration writes."""

    account_url: str = Field(pattern=r"^https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/?$")
    container: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$")  # Azure's rule

    def to_core(self) -> core.ModelStoreLocation:
        return core.ModelStoreLocation(self.account_url.rstrip("/"), self.container)


_WEBHOOK_SETTING_RE = re.compile(r"^[A-Z][A-Z0-9_]*_WEBHOOK_URL$")
NOTIFY_EVENTS = ("pr_opened", "pr_merged", "release_shipped", "release_blocked", "rollback")


class WebhookSpec(_Strict):
    """A chat webhook (`bot.notify`). The URL is a secret: the policy names the setting (an
    environment variable, e.g. a pipeline secret) that holds it, never the URL itself."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    format: Literal["teams", "slack"]
    url_from: str = Field(max_length=128)
    events: list[Literal[NOTIFY_EVENTS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(NOTIFY_EVENTS), min_length=1
    )

    @field_validator("url_from")
    @classmethod
    def _webhook_setting(cls, value: str) -> str:
        # The bot POSTs to whatever this variable holds: a policy edit naming GITHUB_TOKEN
        # must not send the token to a chat service. Only *_WEBHOOK_URL settings qualify.
        if not _WEBHOOK_SETTING_RE.fullmatch(value):
            raise ValueError(f"must match {_WEBHOOK_SETTING_RE.pattern}, not {value!r}")
        return value


class NotificationsSpec(_Strict):
    webhooks: list[WebhookSpec] = Field(default_factory=list)


#: The webhooks by the policy text's blob id: every notifying command reads the same blob, and
#: validating a 1,000-environment file again costs seconds (`bot/contentcache.py`).
NOTIFICATIONS_CACHE: ContentCache[tuple[WebhookSpec, ...]] = ContentCache(maxsize=8)


def parse_notifications(text: str, source: str = DEFAULT_POLICY_FILE) -> list[WebhookSpec]:
    """The webhooks of a policy file's text (none when it has no `notifications`)."""

    def parse() -> tuple[WebhookSpec, ...]:
        spec = _load_spec(text, source)
        return tuple(spec.notifications.webhooks) if spec.notifications else ()

    return list(NOTIFICATIONS_CACHE.get_or_parse(text, (source,), parse))


class PolicySpec(_Strict):
    """The whole file; `to_core()` is what the planner receives."""

    version: Literal[1] = 1
    image_name: str = Field(default="modelops-app", min_length=1)
    model_pin: str = Field(default="model-pin", min_length=1)
    registry: RegistrySpec
    model_store: ModelStoreSpec
    environments: list[EnvironmentSpec] = Field(min_length=1)
    notifications: NotificationsSpec | None = None  # read by bot.notify, not the planner

    @model_validator(mode="after")
    def _ordered_chain(self) -> PolicySpec:
        names = [env.name for env in self.environments]
        overlays = [env.overlay for env in self.environments]
        for label, values in (("name", names), ("overlay", overlays)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"environment {label}s must be unique: {', '.join(dupes)}")
        for index, env in enumerate(self.environments):
            where = f"environments[{index}] ({env.name})"
            if index == 0:
                if env.source.previous is not None:
                    raise ValueError(f"{where}: the first environment needs image + model sources")
                if env.tag_policy is None:
                    raise ValueError(f"{where}: the first environment needs a tag_policy")
                if env.soak:
                    raise ValueError(f"{where}: soak needs a previous environment to soak in")
                continue
            if env.source.previous != names[index - 1]:
                raise ValueError(
                    f"{where}: source.previous must be {names[index - 1]!r} (the environment "
                    f"before it), not {env.source.previous or 'a registry'!r}"
                )
            if env.model_selector is not None:
                raise ValueError(
                    f"{where}: model_selector only applies to the first environment; the others "
                    "take the previous environment's pins"
                )
        return self

    def to_core(self) -> PromotionPolicy:
        return PromotionPolicy(
            registry=core.Registry(self.registry.host),
            environments=tuple(env.to_core() for env in self.environments),
            model_store=self.model_store.to_core(),
            image_name=self.image_name,
            model_pin=self.model_pin,
            version=self.version,
        )


# --------------------------------------------------------------------------- loading


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        lines.append(f"{source}: {_loc(tuple(error['loc']))}: {message}")
    return "\n".join(lines)


def parse_policy_data(data: object, source: str = DEFAULT_POLICY_FILE) -> PromotionPolicy:
    """Validate already-parsed data; errors name `source` and the field."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level")
    try:
        return PolicySpec.model_validate(data).to_core()
    except ValidationError as exc:
        raise PolicyError(_format_errors(source, exc)) from None


def _load_spec(text: str, source: str) -> PolicySpec:
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level")
    try:
        return PolicySpec.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_format_errors(source, exc)) from None


#: Validated policies by the text's blob id (and the name errors would quote): the hourly
#: run and the commands after it read the same `promotion.yaml` blob. `bot.policycache` keeps
#: this cache and `NOTIFICATIONS_CACHE` on disk too, for the next process (decision 38).
POLICY_CACHE: ContentCache[PromotionPolicy] = ContentCache(maxsize=8)


def parse_policy(text: str, source: str = DEFAULT_POLICY_FILE) -> PromotionPolicy:
    """Parse and validate policy YAML text (once per content: `POLICY_CACHE`)."""
    return POLICY_CACHE.get_or_parse(text, (source,), lambda: _parse_policy(text, source))


def _parse_policy(text: str, source: str) -> PromotionPolicy:
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}".replace("\n", " ")) from None
    return parse_policy_data(data, source)


def load_policy(path: Path) -> PromotionPolicy:
    """Read and validate a policy file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy: {exc.strerror or exc}") from None
    return parse_policy(text, str(path))
