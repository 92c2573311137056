"""Whether `release/<env>` may move to main now (issue 14.2-3): pure, stdlib only.

The nightly release asks this per environment (`bot.nightly.ReleaseGate` gathers the facts).
It waits for a freeze window open now, an active hold covering what moves, and, for an
environment after the first, for the previous environment to have confirmed what is new for
it for the soak (`bot.core.confirm.soak_verdict`, the forge's clock):

- its pins, when they move: the statuses of the commits of `release/<previous>` that pin them;
- what it renders besides its pins (base, patches, anything its overlay pulls in), when that
  changes (`Outside`): the statuses of the commits of `release/<previous>` that contain every
  such change (each change commit is an ancestor of the confirmed one). Both must hold.

A first release (no `release/<env>` yet) has no earlier render to compare with, so everything
the environment renders is new, unless its own cluster already confirmed running the pins
before it had its own ref (`own`: its controller's statuses on the commit the single legacy
`release` branch was last released at, whose overlay for the environment has exactly these
pins): then shipping them changes nothing the cluster runs, the pins need no soak elsewhere,
and only the changes outside the pins since that commit do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.core.confirm import ConfirmMode, Deployment, cite, confirmation, release_ref, soak_verdict


@dataclass(frozen=True)
class Outside:
    """What moving `release/<env>` to main changes besides the pins: `changes`, the commits
    that changed a file the overlay pulls in other than by its pins (newest first; the shell
    may cut the list it cites); `since`, what they are counted from (`release/<env>`'s tip, or
    the commit the legacy `release` branch was at, or None: everything, a first release);
    `deployment`, the statuses of the commits of `release/<previous>` containing them all."""

    changes: tuple[str, ...]
    since: str | None = None
    deployment: Deployment | None = None

    def describe(self) -> str:
        if self.since is None or not self.changes:
            return "everything it renders (a first release)"
        count, newest = len(self.changes), self.changes[0][:12]
        return f"{count} change(s) outside the pins since {self.since[:12]}, newest {newest}"


def own_confirmation(env: str, own: Deployment | None) -> str | None:
    """The release note when `env`'s own cluster confirmed running the pins to ship (its
    controller's statuses, success with no failure since), or None when it did not."""
    if own is None:
        return None
    found = confirmation(env, own, ConfirmMode.COMMIT_STATUS)
    if not found.confirmed or found.evidence is None:
        return None
    return (
        f"first {release_ref(env)}: {env}'s own cluster already runs these pins "
        f"({cite(found.evidence)})"
    )


class Wait(StrEnum):
    """What a release ref waits for (`ReleaseWait.waits`), as `status --json` names it."""

    FREEZE = "freeze"  # a freeze window open now, in the environment's zone
    HOLD = "hold"  # an active hold covering what moves
    SOAK = "soak"  # the previous environment's confirmation of the pins, for the soak
    OUTSIDE = "outside"  # ... of the changes outside the pins (decision 40)
    FIRST_RELEASE = "first-release"  # ... of everything it renders: no release/<env> yet


@dataclass(frozen=True)
class ReleaseWait:
    """Why `release/<env>` may not move now (`reason`, the nightly's words), what it waits for
    (`waits`), and when it may: `eligible_at` once every named wait is over (None: not known
    yet, a confirmation has not arrived or a hold has no end); `earliest`: that time ends a
    freeze or hold only, after which the soaks are read (the gate reads nothing it need not)."""

    reason: str
    waits: tuple[Wait, ...]
    eligible_at: datetime | None = None
    earliest: bool = False


def release_blocker(**facts: Any) -> str | None:
    """`release_wait`'s reason, or None: what the nightly release says when a ref waits."""
    wait = release_wait(**facts)
    return wait.reason if wait is not None else None


def release_wait(
    *,
    env: str,
    previous: str | None,
    frozen: tuple[str, datetime] | None,
    hold: str | None,
    moves: bool,
    soak: timedelta,
    mode: ConfirmMode,
    deployment: Deployment | None,
    now: datetime,
    outside: Outside | None = None,
    own: Deployment | None = None,
    hold_until: datetime | None = None,
) -> ReleaseWait | None:
    """Why `release/<env>` may not move to main now, or None: a freeze window open now
    (`frozen`: its label and end, in the environment's zone), an active hold covering what
    moves (`hold`: its description; `hold_until`: its end, if any), pins that move (`moves`)
    without the previous environment having confirmed them for the soak (`deployment`: of the
    pins on main; not needed when `own` shows the environment's own cluster runs them,
    `own_confirmation`), or changes outside the pins (`outside`) it has not confirmed a commit
    containing for the soak. Every unmet soak is named, each with its time when it is eligible."""
    if frozen is not None:
        label, end = frozen
        reason = f"{env} is frozen: window {label!r} open until {end.isoformat()}"
        return ReleaseWait(reason, (Wait.FREEZE,), end, earliest=True)
    if hold is not None:
        return ReleaseWait(f"{env} is held: {hold}", (Wait.HOLD,), hold_until, earliest=True)
    if previous is None:
        return None
    waits: list[tuple[Wait, str, datetime | None]] = []
    if moves and own_confirmation(env, own) is None:
        verdict = soak_verdict(previous, deployment, soak=soak, mode=mode, now=now)
        if not verdict.soaked:
            waits.append((Wait.SOAK, f"soak in {previous}: {verdict.detail}", verdict.eligible_at))
    if outside is not None and (outside.changes or outside.since is None):
        verdict = soak_verdict(
            previous, outside.deployment, soak=soak, mode=mode, now=now, subject="them"
        )
        if not verdict.soaked:
            kind = Wait.FIRST_RELEASE if outside.since is None else Wait.OUTSIDE
            text = f"soak in {previous} of {outside.describe()}: {verdict.detail}"
            waits.append((kind, text, verdict.eligible_at))
    if not waits:
        return None
    times = [at for _, _, at in waits]
    eligible = None if None in times else max(at for at in times if at is not None)
    return ReleaseWait("; ".join(t for _, t, _ in waits), tuple(k for k, _, _ in waits), eligible)
