"""The promotion policy (`promotion.yaml`): environments, sources, tag policies, gates, windows.

Loaded with pydantic and validated up front; every error names the file and the field, e.g.
`promotion.yaml: environments[1].tag_policy.semver.range: invalid range '>=1.x.'`.

Tag policies work like Flux's ImagePolicy: each is a small class with one method
`latest(tags) -> str | None`, validated at construction and picked by `policy_from_spec()`.
There is deliberately no "newest by push time" policy: the order comes from the tag itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import semantic_version
from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from bot.errors import PolicyError

DEFAULT_POLICY_FILE = "promotion.yaml"

# --------------------------------------------------------------------------- tag policies


class TagPolicy(Protocol):
    """Chooses the latest tag of a list; tags it cannot order are ignored."""

    def latest(self, tags: Iterable[str]) -> str | None:
        """The latest acceptable tag, or None when no tag is acceptable."""
        ...


_TEMPLATE_REF = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class TagFilter:
    """A regex a tag must match, and a template pulling the value to order by out of it.

    `extract` uses `$name`, `${name}` or `$1` (like Flux's `filterTags.extract`); empty means
    the whole tag. Example: pattern `^(?P<ver>\\d+\\.\\d+\\.\\d+)-(?P<build>\\d+)-[0-9a-f]+$`
    with extract `$build` orders `0.1.0-42-abc1234` by 42.
    """

    pattern: str
    extract: str = ""
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            regex = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex {self.pattern!r}: {exc}") from exc
        for named, numbered in _TEMPLATE_REF.findall(self.extract):
            ref = named or numbered
            known = ref in regex.groupindex or (ref.isdigit() and int(ref) <= regex.groups)
            if not known:
                raise ValueError(f"extract {self.extract!r} refers to unknown group {ref!r}")
        object.__setattr__(self, "_regex", regex)

    def apply(self, tag: str) -> str | None:
        """The extracted value for `tag`, or None when the tag does not match."""
        match = self._regex.search(tag)
        if match is None:
            return None
        if not self.extract:
            return tag

        def group(ref: re.Match[str]) -> str:
            name = ref.group(1) or ref.group(2)
            value = match.group(int(name) if name.isdigit() else name)
            return value or ""

        return _TEMPLATE_REF.sub(group, self.extract)


def _filtered(tags: Iterable[str], tag_filter: TagFilter | None) -> Iterable[tuple[str, str]]:
    for tag in tags:
        value = tag if tag_filter is None else tag_filter.apply(tag)
        if value is not None:
            yield tag, value


def _parse_range(text: str) -> Any:
    try:
        return semantic_version.NpmSpec(text)
    except ValueError:
        raise ValueError(f"invalid range {text!r}") from None


class SemverPolicy:
    """Highest semantic version inside a range (npm syntax: `>=1.0.0 <2.0.0`, `^1.2`, `1.x`).

    A leading `v` is accepted; pre-releases only match when the range names them (npm rule).
    Ties between spellings of one version (`1.0.0`, `v1.0.0`) go to the greater tag string.
    """

    def __init__(self, range_: str, tag_filter: TagFilter | None = None) -> None:
        self.range = range_
        self.tag_filter = tag_filter
        self._spec = _parse_range(range_)

    def latest(self, tags: Iterable[str]) -> str | None:
        best: tuple[Any, str] | None = None
        for tag, value in _filtered(tags, self.tag_filter):
            try:
                version = semantic_version.Version(value.removeprefix("v"))
            except ValueError:
                continue
            if not self._spec.match(version):
                continue
            if best is None or (version, tag) > best:
                best = (version, tag)
        return None if best is None else best[1]


_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


class NumericalPolicy:
    """Highest (or lowest, `order="desc"`) number, e.g. a CI build number pulled out by a filter."""

    def __init__(
        self, order: Literal["asc", "desc"] = "asc", tag_filter: TagFilter | None = None
    ) -> None:
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
        self.order = order
        self.tag_filter = tag_filter

    def latest(self, tags: Iterable[str]) -> str | None:
        sign = 1 if self.order == "asc" else -1
        best: tuple[Decimal, str] | None = None
        for tag, value in _filtered(tags, self.tag_filter):
            if not _NUMBER.match(value):
                continue
            key = (Decimal(value) * sign, tag)
            if best is None or key > best:
                best = key
        return None if best is None else best[1]


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
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagFilterSpec(_Strict):
    pattern: str
    extract: str = ""

    @model_validator(mode="after")
    def _compiles(self) -> TagFilterSpec:
        TagFilter(self.pattern, self.extract)
        return self

    def build(self) -> TagFilter:
        return TagFilter(self.pattern, self.extract)


class SemverSpec(_Strict):
    range: str

    @field_validator("range")
    @classmethod
    def _valid_range(cls, value: str) -> str:
        _parse_range(value)
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


def policy_from_spec(spec: TagPolicySpec) -> TagPolicy:
    """Build the tag policy a spec describes (already validated: this cannot fail)."""
    tag_filter = spec.filter.build() if spec.filter else None
    if spec.semver is not None:
        return SemverPolicy(spec.semver.range, tag_filter)
    assert spec.numerical is not None  # noqa: S101 (guaranteed by TagPolicySpec's validator)
    return NumericalPolicy(spec.numerical.order, tag_filter)


@functools.lru_cache(maxsize=64)
def _cached_policy_from_spec(spec: TagPolicySpec) -> TagPolicy:
    """`policy_from_spec` built once per spec (frozen, so hashable); tag policies keep no state."""
    return policy_from_spec(spec)


class ImageSource(_Strict):
    repository: str = Field(pattern=r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$")


class ModelSource(_Strict):
    name: str = Field(min_length=1)


class SourceSpec(_Strict):
    """Registry + model store (first environment) or `previous: <env>` (the others)."""

    image: ImageSource | None = None
    model: ModelSource | None = None
    previous: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        direct = self.image is not None or self.model is not None
        if self.previous is not None and direct:
            raise ValueError("give either 'previous' or 'image' + 'model', not both")
        if self.previous is None and (self.image is None or self.model is None):
            raise ValueError("give 'previous: <env>', or both 'image' and 'model'")
        return self


class ModelSelector(_Strict):
    """`alias: champion` follows an alias; no alias means the newest version passing the gates."""

    alias: str | None = Field(default=None, min_length=1)


class MetricGate(_Strict):
    """Bounds for one metric: absolute (`min`, `max`) and against what runs now (`max_drop`,
    `max_rise`, in the metric's own units)."""

    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)
    max_rise: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_bound(self) -> MetricGate:
        if all(v is None for v in (self.min, self.max, self.max_drop, self.max_rise)):
            raise ValueError("give at least one of min, max, max_drop, max_rise")
        return self


class Gates(_Strict):
    metrics: dict[str, MetricGate] = Field(default_factory=dict)


class FreezeWindow(_Strict):
    """No promotion while a window is open: from each cron fire time for `duration`."""

    schedule: str
    duration: Duration
    timezone: str = "UTC"
    name: str | None = None

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r}")
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
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def open_until(self, now: datetime) -> datetime | None:
        """End of the window open at `now` (timezone-aware), or None when it is closed."""
        local = now.astimezone(ZoneInfo(self.timezone))
        # Start just after `now` so a window opening exactly at `now` counts as open.
        start = croniter(self.schedule, local + timedelta(seconds=1)).get_prev(datetime)
        end: datetime = start + self.duration
        return end if start <= local < end else None

    @property
    def label(self) -> str:
        return self.name or f"{self.schedule} for {self.duration}"


_ENV_NAME = r"^[a-z][a-z0-9-]{0,30}$"


class EnvironmentPolicy(_Strict):
    name: str = Field(pattern=_ENV_NAME)
    overlay: str = ""
    source: SourceSpec
    tag_policy: TagPolicySpec | None = None
    model_selector: ModelSelector | None = None
    gates: Gates = Field(default_factory=Gates)
    soak: Duration = timedelta(0)
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    automerge: bool = False
    allow_downgrade: bool = False
    labels: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _default_overlay(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("overlay") and isinstance(data.get("name"), str):
            data = {**data, "overlay": f"deploy/overlays/{data['name']}/kustomization.yaml"}
        return data

    @field_validator("overlay")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"overlay must be a relative path inside the repo: {value!r}")
        return value

    @property
    def is_first(self) -> bool:
        return self.source.previous is None

    def frozen_until(self, now: datetime) -> tuple[FreezeWindow, datetime] | None:
        """The first open freeze window at `now` and when it closes, or None."""
        for window in self.freeze_windows:
            end = window.open_until(now)
            if end is not None:
                return window, end
        return None


class RegistrySpec(_Strict):
    host: str = Field(pattern=r"^[A-Za-z0-9.-]+(?::\d+)?$")


class PromotionPolicy(_Strict):
    version: Literal[1] = 1
    image_name: str = Field(default="modelops-app", min_length=1)
    model_pin: str = Field(default="model-pin", min_length=1)
    registry: RegistrySpec
    environments: list[EnvironmentPolicy] = Field(min_length=1)

    # name -> position in `environments`, derived once (the model is frozen). Equal policies
    # derive equal maps, so pydantic's equality, which compares private attributes, holds.
    _positions: dict[str, int] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._positions = {env.name: index for index, env in enumerate(self.environments)}

    @model_validator(mode="after")
    def _ordered_chain(self) -> PromotionPolicy:
        names = [env.name for env in self.environments]
        overlays = [env.overlay for env in self.environments]
        for label, values in (("name", names), ("overlay", overlays)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"environment {label}s must be unique: {', '.join(dupes)}")
        for index, env in enumerate(self.environments):
            where = f"environments[{index}] ({env.name})"
            if index == 0:
                if not env.is_first:
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

    # -- lookups used by the planner and the runner

    @property
    def first(self) -> EnvironmentPolicy:
        return self.environments[0]

    @property
    def names(self) -> list[str]:
        return [env.name for env in self.environments]

    def _position(self, name: str) -> int:
        index = self._positions.get(name)
        if index is None:
            raise PolicyError(f"unknown environment {name!r} (known: {', '.join(self.names)})")
        return index

    def environment(self, name: str) -> EnvironmentPolicy:
        return self.environments[self._position(name)]

    def previous(self, name: str) -> EnvironmentPolicy | None:
        """The environment `name` promotes from: the one before it (the chain is validated)."""
        index = self._position(name)
        return None if self.environments[index].is_first else self.environments[index - 1]

    def tag_policy(self, name: str) -> TagPolicy:
        """The environment's own tag policy, or the nearest one up the promotion chain."""
        index = self._position(name)
        spec = self.environments[index].tag_policy
        while spec is None:
            index -= 1  # the first environment has one (validated)
            spec = self.environments[index].tag_policy
        return _cached_policy_from_spec(spec)

    @property
    def image_repository(self) -> str:
        """Repository in the registry, e.g. `modelops-app`."""
        assert self.first.source.image is not None  # noqa: S101 (validated)
        return self.first.source.image.repository

    @property
    def image_reference_name(self) -> str:
        """`<registry host>/<repository>`: the `newName` the overlays pin."""
        return f"{self.registry.host}/{self.image_repository}"

    @property
    def model_name(self) -> str:
        assert self.first.source.model is not None  # noqa: S101 (validated)
        return self.first.source.model.name

    def with_registry_host(self, host: str) -> PromotionPolicy:
        """The same policy pointing at another registry (settings override the file)."""
        data = self.model_dump()
        data["registry"] = {"host": host}
        return parse_policy_data(data, "settings")


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
        return PromotionPolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_format_errors(source, exc)) from None


def parse_policy(text: str, source: str = DEFAULT_POLICY_FILE) -> PromotionPolicy:
    """Parse and validate policy YAML text."""
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
