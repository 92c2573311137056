"""Deployment confirmation and soak counted from it (issue 14): pure, stdlib only.

The clusters say what they run by posting commit statuses on the release commit they applied
(docs/deployment-confirmation.md): Flux's notification-controller with the context
`kustomization/modelops-<env>/<cluster>` (`success`, or `failure` when it failed), Argo CD
Notifications with `continuous-delivery/modelops-<env>` (`success`; `failure` / `error`;
`pending` says nothing). The shell (`bot.world.read_deployment`) lists the statuses of the
commits on `release/<env>` whose overlay pins exactly the candidate pins; this module decides.

The walk, per context, oldest first by the forge's `created_at` (ties by the forge's id): a
success starts the run unless one is running, a failure ends it. An environment is confirmed
when every context seen for it is, since the latest of their starts. No status, or only
`pending`, is not confirmed: a missing status never counts. The clock is the forge's only,
never a commit date nor the bot's: the statuses' `created_at`, and for "now" the forge's `Date`
when they were read (`Deployment.read_at`).

`confirm: release` (per environment, weaker) counts instead from when the previous
environment's release ref first contained the pins: the nightly release posts the status
`promotion/release/<env>` on each commit it moves `release/<env>` to, so that time is the
forge's too; it says the ref moved, not that anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

#: Every environment's release branch is `release/<env>` (docs/decisions.md): the name the
#: Flux GitRepository / Argo CD Application of the environment tracks.
RELEASE_REF_PREFIX = "release/"
#: The status the nightly release posts on each commit it moves `release/<env>` to.
RELEASE_CONTEXT_PREFIX = "promotion/release/"
#: The status a promotion PR for a frozen environment carries on its head.
FREEZE_CONTEXT = "promotion/freeze"

# The names shipped in deploy/gitops: Kustomization and Application `modelops-<env>`; the Flux
# context is the Provider's commitStatusExpr (or the default with the Provider UID prefix).
# On Azure Repos, Flux sends the context as genre `fluxcd` (or `fluxcd:<summary>`) + name: the
# forge adapter reads that back as `fluxcd/<name>` (docs/deployment-confirmation.md).
_FLUX = re.compile(r"(?:fluxcd(?::[^/]*)?/)?kustomization/modelops-(?P<env>[a-z0-9-]+)/[^/]+")
_ARGO = re.compile(r"continuous-delivery/modelops-(?P<env>[a-z0-9-]+)")
_RELEASE = re.compile(re.escape(RELEASE_CONTEXT_PREFIX) + r"(?P<env>[a-z0-9-]+)")
_SUCCESS = "success"
_FAILURES = frozenset({"failure", "error"})


def release_ref(env: str) -> str:
    """The branch the environment's controller applies: `release/dev` (the one definition)."""
    return f"{RELEASE_REF_PREFIX}{env}"


def release_context(env: str) -> str:
    """The context of the status the release posts when `release/<env>` moves to a commit."""
    return f"{RELEASE_CONTEXT_PREFIX}{env}"


class ConfirmMode(StrEnum):
    """Where soak in the previous environment counts from (`confirm:` in promotion.yaml)."""

    COMMIT_STATUS = "commit-status"  # the controller's first success status (the default)
    RELEASE = "release"  # the previous release ref first containing the pins (weaker)


@dataclass(frozen=True)
class DeployStatus:
    """One commit status as the forge stores it (`created_at`, `id`: the forge's)."""

    commit: str
    context: str
    state: str  # success, failure, error, pending
    created_at: datetime
    id: int = 0
    description: str = ""
    creator: str | None = None  # who posted it, as the forge stores it


def controller(context: str, env: str, mode: ConfirmMode) -> str | None:
    """`flux` / `argocd` (or `release` in that mode) when `context` reports on `env`."""
    if mode is ConfirmMode.RELEASE:
        found = _RELEASE.fullmatch(context)
        return "release" if found and found["env"] == env else None
    for name, pattern in (("flux", _FLUX), ("argocd", _ARGO)):
        found = pattern.fullmatch(context)
        if found and found["env"] == env:
            return name
    return None


@dataclass(frozen=True)
class Deployment:
    """What the shell read about an environment running some pins: the statuses of the commits
    on its release ref that pin them (`commits`, newest first), or why that is unknown."""

    statuses: tuple[DeployStatus, ...] = ()
    commits: tuple[str, ...] = ()
    unknown: str | None = None
    # whose statuses count (`DEPLOY_STATUS_CREATORS`); None: anyone's (the forge lets anyone
    # with write access post any context, docs/deployment-confirmation.md "Whom to believe")
    creators: frozenset[str] | None = None
    # the forge's clock when the statuses were read (`Forge.server_time`: its `Date`, a lower
    # bound): the soak's `now`, on the same clock as `created_at`. The shell always sets it or
    # says the deployment is `unknown`; None only in a Deployment built by hand (the tests')
    read_at: datetime | None = None
    # the bot's own forge identity (`Forge.identity()`), when known: the only creator whose
    # `promotion/release/<env>` counts (whatever `creators` says); None: unknown, and then
    # `creators` decides as for the controllers' statuses
    own: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """The verdict of the walk: confirmed since `since` (from `evidence`), or not (`reset_by`:
    the newest failure seen; `waiting`: contexts without a success since)."""

    env: str
    mode: ConfirmMode
    since: datetime | None = None
    evidence: DeployStatus | None = None
    reset_by: DeployStatus | None = None
    waiting: tuple[str, ...] = ()
    unknown: str | None = None
    ignored: tuple[DeployStatus, ...] = ()  # in a deployment context, from someone else

    @property
    def confirmed(self) -> bool:
        return self.since is not None


def _order(status: DeployStatus) -> tuple[datetime, int]:
    return status.created_at, status.id


def believed(status: DeployStatus, deployment: Deployment, mode: ConfirmMode) -> bool:
    """Whether `status` (in one of the mode's contexts) may count: the release's own status
    only from the bot itself when its identity is known (an allowlist of the controllers'
    logins says nothing about it, and nobody else may fake it); else the allowlist, if any."""
    own = deployment.own
    if mode is ConfirmMode.RELEASE and own is not None:
        return status.creator is not None and status.creator.casefold() == own.casefold()
    allowed = deployment.creators
    return allowed is None or status.creator in allowed


def confirmation(env: str, deployment: Deployment, mode: ConfirmMode) -> Confirmation:
    """Walk the statuses of `env`'s contexts oldest first (see the module docstring)."""
    if deployment.unknown is not None:
        return Confirmation(env, mode, unknown=deployment.unknown)
    matching = [s for s in deployment.statuses if controller(s.context, env, mode) is not None]
    relevant = [s for s in matching if believed(s, deployment, mode)]
    ignored = tuple(s for s in matching if s not in relevant)
    runs: dict[str, DeployStatus | None] = {}
    failures: list[DeployStatus] = []
    for status in sorted(relevant, key=_order):
        if status.state == _SUCCESS:
            runs[status.context] = runs.get(status.context) or status
        elif status.state in _FAILURES:
            runs[status.context] = None
            failures.append(status)
        else:
            runs.setdefault(status.context, None)
    reset_by = failures[-1] if failures else None
    waiting = tuple(sorted(context for context, start in runs.items() if start is None))
    starts = [start for start in runs.values() if start is not None]
    if waiting or not starts:
        return Confirmation(env, mode, reset_by=reset_by, waiting=waiting, ignored=ignored)
    latest = max(starts, key=_order)
    return Confirmation(env, mode, latest.created_at, latest, reset_by, ignored=ignored)


# --------------------------------------------------------------------------- soak


def human(delta: timedelta) -> str:
    """`1d2h3m4s` (`-1m30s` for a negative duration, `0s` for none)."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return f"-{human(-delta)}"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"


def zulu(when: datetime) -> str:
    """`2026-11-27T20:00:00Z`: a forge time as a reader compares it."""
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def cite(status: DeployStatus) -> str:
    return f"{status.context} {status.state} on {status.commit[:12]} at {zulu(status.created_at)}"


@dataclass(frozen=True)
class SoakVerdict:
    """Whether the previous environment's confirmation covers the soak at `now`."""

    soaked: bool
    detail: str
    eligible_at: datetime | None = None
    data: Mapping[str, Any] | None = None


#: A bot clock this far from the forge's is named in the soak's detail (a `Date` is truncated
#: to the second and the bot reads it after the response traveled: a few seconds are normal).
SKEW_SHOWN = timedelta(minutes=1)


def soak_verdict(
    previous: str,
    deployment: Deployment | None,
    *,
    soak: timedelta,
    mode: ConfirmMode,
    now: datetime,
    subject: str = "these pins",
) -> SoakVerdict:
    """Has `previous` run the pins (per `deployment`) confirmed for `soak`? (`subject`: what
    the deployment's commits carry, as the reasons name it: the pins, or a change outside
    them, `bot.core.release_gate`.) Elapsed time is the forge's clock when the statuses were
    read (`deployment.read_at`) minus the forge's `created_at`: one clock, so a bot runner
    whose clock runs ahead shortens nothing; `now` (the bot's) only counts for a deployment
    built without that reading, and is named when it is off."""
    if deployment is None:
        deployment = Deployment(unknown="not read")
    found = confirmation(previous, deployment, mode)
    data: dict[str, Any] = {"confirm": mode.value, "soak_seconds": soak.total_seconds()}
    weaker = mode is ConfirmMode.RELEASE
    if found.unknown is not None:
        detail = f"whether {previous} runs {subject} is unknown ({found.unknown})"
        return SoakVerdict(False, detail, data=data)
    if found.since is None or found.evidence is None:
        if found.reset_by is not None:
            detail = f"{previous} reported {cite(found.reset_by)} and no success since"
        elif not deployment.commits:
            detail = f"{release_ref(previous)} does not contain {subject} yet (not released)"
        elif weaker:
            detail = f"{release_ref(previous)} has no {release_context(previous)} status"
        elif found.waiting:
            detail = f"{previous} has no success status yet ({', '.join(found.waiting)})"
        else:
            detail = f"{previous} has not confirmed running {subject} (no deployment status)"
        if found.ignored:
            who = ", ".join(sorted({str(s.creator) for s in found.ignored}))
            what = "not the bot" if weaker and deployment.own is not None else "not a controller"
            detail += f"; ignored {len(found.ignored)} status(es) from {who} ({what})"
        return SoakVerdict(False, detail, data=data)
    since, evidence = found.since, found.evidence
    eligible = since + soak
    bot_now, now = now, deployment.read_at or now  # elapsed on the forge's clock only
    data |= {
        "since": since.isoformat(),
        "context": evidence.context,
        "commit": evidence.commit,
        "eligible_at": eligible.isoformat(),
    }
    what = (
        f"in {release_ref(previous)} (confirm: release, weaker: the ref moved, no cluster "
        "confirmed it)"
        if weaker
        else f"{previous} confirmed healthy"
    )
    detail = f"{what} for {human(now - since)} (needs {human(soak)}): {cite(evidence)}"
    if now >= eligible:
        return SoakVerdict(True, detail, eligible, data)
    skew = bot_now - now
    if abs(skew) > SKEW_SHOWN:  # whole minutes: the same text every run while the skew holds
        off = timedelta(minutes=round(skew.total_seconds() / 60))
        detail += f" (on the forge's clock: the bot's is {human(off)} off)"
    detail += f"; eligible at {zulu(eligible)}"
    return SoakVerdict(False, detail, eligible, data)


# --------------------------------------------------------------------------- freeze at merge


def freeze_status(frozen: tuple[str, datetime] | None) -> tuple[str, str]:
    """The `promotion/freeze` status a promotion PR's head should carry: (state, description)
    — `failure` while a window is open (so a branch protection requiring it blocks the merge),
    `success` otherwise. The caller writes it only when `current` (the newest such status's
    state on the head) differs: a run that changes nothing writes nothing."""
    if frozen is None:
        return "success", "no freeze window open"
    label, end = frozen
    return "failure", f"frozen: window {label!r} open until {zulu(end)}"[:140]
