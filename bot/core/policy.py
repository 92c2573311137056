"""The promotion policy as the planner receives it: plain frozen dataclasses, no I/O.

`bot.policy` reads `promotion.yaml`, validates it with pydantic (errors naming the field) and
converts it to these classes; the planner and the gates only read them. The chain rules (first
environment from the registry and the model store, every later one from the one before) are
validated there; lookups here raise `PolicyError` for an unknown environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.confirm import ConfirmMode, release_ref
from bot.core.cron import CronSchedule
from bot.core.errors import PolicyError
from bot.core.tags import TagPolicy

REGISTRY_HOST_PATTERN = r"^[A-Za-z0-9.-]+(?::\d+)?$"
_REGISTRY_HOST = re.compile(r"[A-Za-z0-9.-]+(?::\d+)?")
#: More than any daylight-saving shift (one hour almost everywhere; Troll station: two).
_DST_SLACK = timedelta(hours=3)


@dataclass(frozen=True)
class ImageSource:
    repository: str


@dataclass(frozen=True)
class ModelSource:
    name: str


@dataclass(frozen=True)
class Source:
    """Registry + model store (first environment) or `previous: <env>` (the others)."""

    image: ImageSource | None = None
    model: ModelSource | None = None
    previous: str | None = None


@dataclass(frozen=True)
class ModelSelector:
    """`alias: champion` follows an alias; no alias means the newest version passing the gates."""

    alias: str | None = None


@dataclass(frozen=True)
class MetricGate:
    """Bounds for one metric: absolute (`min`, `max`) and against what runs now (`max_drop`,
    `max_rise`, in the metric's own units)."""

    min: float | None = None
    max: float | None = None
    max_drop: float | None = None
    max_rise: float | None = None


#: The figures the model store's evaluation measures (`modelstore.metrics`), by the names an
#: evaluation spec uses; `top_3_accuracy` stands for each k the store reports.
MEASURED_METRICS = ("accuracy", "macro_f1", "log_loss", "ece")
TOP_K_METRIC = re.compile(r"top_(?P<k>[1-9][0-9]*)_accuracy")


@dataclass(frozen=True)
class EvaluationSpec:
    """What the bot measures before a model moves (`gates: evaluation:` in promotion.yaml):
    the evaluation set `dataset` at `ref` (a version number, or an alias the bot resolves and
    names in the PR), the figures shown (`metrics`), bounds on the measured figures (`gates`,
    the relative ones against the model the environment runs now), the same for each class's
    recall (`per_class_recall`), and how far a claimed metric (registration's `--metric`) may
    differ from its measurement (`claim_tolerance`)."""

    dataset: str
    ref: str
    metrics: tuple[str, ...] = ("accuracy",)
    gates: Mapping[str, MetricGate] = field(default_factory=dict)
    per_class_recall: MetricGate | None = None
    claim_tolerance: float = 0.01

    @property
    def key(self) -> str:
        """`digits-holdout@1`: what the shell keys this set's measurements by."""
        return f"{self.dataset}@{self.ref}"

    @property
    def pinned_version(self) -> int | None:
        """The version when `ref` is a number; None for an alias (resolved on each run)."""
        return int(self.ref) if self.ref.isdigit() else None


@dataclass(frozen=True)
class Gates:
    """The gates' own settings (`gates:` in promotion.yaml); a new gate adds its field here."""

    metrics: Mapping[str, MetricGate] = field(default_factory=dict)
    evaluation: EvaluationSpec | None = None


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError `unknown time zone '...'`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class FreezeWindow:
    """No promotion while a window is open: from each cron fire time for `duration`."""

    schedule: str
    duration: timedelta
    timezone: str = "UTC"
    name: str | None = None
    _cron: CronSchedule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cron", CronSchedule.parse(self.schedule))
        if self.duration <= timedelta(0):
            raise ValueError("duration must be positive")
        zone(self.timezone)

    def open_until(self, now: datetime) -> datetime | None:
        """End of the window open at `now` (timezone-aware), or None when it is closed.

        The schedule fires at wall-clock times in the window's zone (a time the clock repeats
        fires once, at its first occurrence; a skipped time fires when the clock jumps); the
        duration is elapsed time from there, so across a daylight-saving change a 2h window
        lasts two hours, and the end returned is never in the past.
        """
        tz = zone(self.timezone)
        now_utc = now.astimezone(UTC)
        wall = now_utc.astimezone(tz).replace(tzinfo=None)
        # the wall-clock span of an elapsed duration differs by at most one DST shift
        at, after = wall + _DST_SLACK, wall - self.duration - _DST_SLACK
        while (fire := self._cron.latest_fire(at, after)) is not None:
            start = fire.replace(tzinfo=tz).astimezone(UTC)
            if start <= now_utc:  # the latest fire that already happened
                end = start + self.duration
                return end.astimezone(tz) if now_utc < end else None
            at = fire - timedelta(minutes=1)  # on the wall clock, but not yet in time
        return None

    @property
    def label(self) -> str:
        return self.name or f"{self.schedule} for {self.duration}"


# GitHub's grammar: a login is alphanumerics and single inner hyphens (39 at most); an
# organization is a login; a team slug is lowercase alphanumerics, `-` and `_`.
_LOGIN = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
_TEAM_SLUG = r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}"
_USER_RE = re.compile(_LOGIN)
_TEAM_RE = re.compile(rf"(?P<org>{_LOGIN})/(?P<slug>{_TEAM_SLUG})")
REVIEWER_GRAMMAR = "a user login (`octocat`) or an organization's team (`modelops/sre`)"


@dataclass(frozen=True)
class Reviewer:
    """Whom a promotion PR asks for a review: a user (`login`) or a team (`org/slug`).

    A bare name is always a user: a team is written with its organization, as in CODEOWNERS
    and GitHub's own `@org/team` mentions. Names compare case-insensitively, as on GitHub."""

    name: str
    org: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reviewer:
        """`login` or `org/slug`; ValueError naming both forms for anything else."""
        if _USER_RE.fullmatch(text):
            return cls(text)
        team = _TEAM_RE.fullmatch(text)
        if team is None:
            raise ValueError(f"reviewer {text!r} is neither {REVIEWER_GRAMMAR}")
        return cls(team["slug"], team["org"])

    @property
    def is_team(self) -> bool:
        return self.org is not None

    @property
    def key(self) -> str:
        """What two spellings of the same reviewer share (`modelops/sre`, `sre`: lowercase)."""
        return str(self).lower()

    def __str__(self) -> str:
        return self.name if self.org is None else f"{self.org}/{self.name}"


class HoldScope(StrEnum):
    """What a hold stops: image moves, model moves, or every promotion of the environment."""

    IMAGE = "image"
    MODEL = "model"
    ALL = "all"


@dataclass(frozen=True)
class Hold:
    """An operator's hold on an environment, recorded in Git (`deploy/holds.yaml`, by PR).

    A promotion that moves what the hold covers waits (a HELD gate, `bot.core.gates.Holds`);
    the pins move together, so a hold on the image also holds a promotion moving both."""

    scope: HoldScope
    reason: str
    by: str
    until: datetime | None = None  # timezone-aware; None: until someone unholds it

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    def covers(self, *, image_moves: bool, model_moves: bool) -> bool:
        if self.scope is HoldScope.ALL:
            return True
        return image_moves if self.scope is HoldScope.IMAGE else model_moves

    def describe(self) -> str:
        """`image held by ann: incident 42 (until 2026-12-01T00:00:00+00:00)`."""
        what = "everything" if self.scope is HoldScope.ALL else self.scope.value
        until = f" (until {self.until.isoformat()})" if self.until else ""
        return f"{what} held by {self.by}: {self.reason}{until}"


@dataclass(frozen=True)
class EnvironmentPolicy:
    name: str
    overlay: str
    source: Source
    tag_policy: TagPolicy | None = None
    model_selector: ModelSelector | None = None
    gates: Gates = field(default_factory=Gates)
    soak: timedelta = timedelta(0)
    freeze_windows: tuple[FreezeWindow, ...] = ()
    automerge: bool = False
    allow_downgrade: bool = False
    rollback_direct: bool = False  # `rollback --direct` may push to main (`rollback.direct`)
    labels: tuple[str, ...] = ()
    reviewers: tuple[Reviewer, ...] = ()
    # contexts green on the PR head before an automerge; None: not named, every reported check
    # counts and a head with none waits; (): explicitly none needed (`bot.core.checks`)
    required_checks: tuple[str, ...] | None = None
    hold: Hold | None = None  # from deploy/holds.yaml, not promotion.yaml (`with_holds`)
    confirm: ConfirmMode = ConfirmMode.COMMIT_STATUS  # where soak in `previous` counts from

    @property
    def is_first(self) -> bool:
        return self.source.previous is None

    @property
    def release_ref(self) -> str:
        """The branch this environment's controller applies (`release/<env>`)."""
        return release_ref(self.name)

    def frozen_until(self, now: datetime) -> tuple[FreezeWindow, datetime] | None:
        """The first open freeze window at `now` and when it closes, or None."""
        for window in self.freeze_windows:
            end = window.open_until(now)
            if end is not None:
                return window, end
        return None


@dataclass(frozen=True)
class Registry:
    host: str


@dataclass(frozen=True)
class ModelStoreLocation:
    """The one model store every environment's pods read (`model_store:` in promotion.yaml):
    registration and the bot write there; each environment's identity only reads it."""

    account_url: str  # https://<account>.blob.core.windows.net
    container: str

    def __str__(self) -> str:
        return f"{self.account_url.rstrip('/')}/{self.container}"


@dataclass(frozen=True)
class PromotionPolicy:
    """Validated by `bot.policy` (ordered chain, unique names and overlays, a tag policy and
    sources on the first environment); lookups by name are O(1)."""

    registry: Registry
    environments: tuple[EnvironmentPolicy, ...]
    model_store: ModelStoreLocation
    image_name: str = "modelops-app"
    model_pin: str = "model-pin"
    version: int = 1
    # name -> position in `environments`, and the tag policy each one follows (derived once)
    _positions: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _tag_policies: tuple[TagPolicy, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.environments or self.environments[0].tag_policy is None:
            raise ValueError("the first environment needs a tag_policy")
        positions = {env.name: index for index, env in enumerate(self.environments)}
        resolved: list[TagPolicy] = []
        for env in self.environments:
            resolved.append(env.tag_policy or resolved[-1])
        object.__setattr__(self, "_positions", positions)
        object.__setattr__(self, "_tag_policies", tuple(resolved))

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
        return self._tag_policies[self._position(name)]

    @property
    def image_repository(self) -> str:
        """Repository in the registry, e.g. `modelops-app`."""
        image = self.first.source.image
        if image is None:
            raise PolicyError("the first environment has no image source")
        return image.repository

    @property
    def image_reference_name(self) -> str:
        """`<registry host>/<repository>`: the `newName` the overlays pin."""
        return f"{self.registry.host}/{self.image_repository}"

    @property
    def model_name(self) -> str:
        model = self.first.source.model
        if model is None:
            raise PolicyError("the first environment has no model source")
        return model.name

    def with_holds(self, holds: Mapping[str, Hold]) -> PromotionPolicy:
        """The same policy with each environment's hold (PolicyError for an unknown one)."""
        for name in holds:
            self._position(name)
        envs = tuple(
            env if env.hold == holds.get(env.name) else replace(env, hold=holds.get(env.name))
            for env in self.environments
        )
        if all(new is old for new, old in zip(envs, self.environments, strict=True)):
            return self  # frozen: no environment's hold changes (1,000 rebuilt were ~15 ms)
        return replace(self, environments=envs)

    def with_registry_host(self, host: str) -> PromotionPolicy:
        """The same policy pointing at another registry (settings override the file)."""
        if not _REGISTRY_HOST.fullmatch(host):
            raise PolicyError(
                f"settings: registry.host: String should match pattern '{REGISTRY_HOST_PATTERN}'"
            )
        return replace(self, registry=Registry(host))
